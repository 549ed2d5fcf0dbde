//! Bills and overseas statements: files of any size, generated while they are sent.
//!
//! `v3/bill/tradebill`, `v3/bill/fundflowbill` and `v3/bill/sub-merchant-fundflowbill` answer
//! with a `download_url` on the simulator (`v3/billdownload/file?token=...`) and the file's
//! SHA-1. The token describes the file (layout, date, merchant, size, gzip, corruption) and
//! carries a MAC, so serving it needs no stored state: the same deterministic bytes are
//! generated again, chunk by chunk, in constant memory. The `hash_value` comes from
//! generating those bytes once while answering the query (remembered for the next query).
//!
//! Overseas statements (`hk/v3/statements`, `v3/global/statements`) are served directly, with
//! `Wechatpay-Statement-Sha1` and a signature over `{"sha1":"<that value>"}`.
//!
//! Sub-merchant bills are encrypted as WeChat Pay describes (AES-256-GCM under a one-off key,
//! given RSA-OAEP encrypted to the merchant as `encrypt_key`, with `nonce`); encryption needs
//! the whole file, so they are limited to [`MAX_ENCRYPTED_BYTES`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use flate2::write::GzEncoder;
use flate2::Compression;
use http::StatusCode;
use hyper::body::{Body, Frame, SizeHint};
use serde_json::json;

use super::catalog::Input;
use super::reply::Reply;
use crate::crypto::backend::digest;
use crate::crypto::{AesGcm, Formatter, Hash, Rsa, RsaPublicKey};
use crate::sync::lock;

/// The size of the files issued when none was set: a few dozen rows.
pub(crate) const DEFAULT_SIZE: u64 = 4 * 1024;

/// The largest sub-merchant bill the simulator encrypts (in memory).
pub(crate) const MAX_ENCRYPTED_BYTES: u64 = 64 * 1024 * 1024;

/// The largest file the simulator issues: WeChat Pay splits sub-merchant bills at about
/// 16 GB, and nothing here needs more.
pub(crate) const MAX_SIZE: u64 = 64 * 1024 * 1024 * 1024;

/// How much one chunk of a generated body holds.
const CHUNK: usize = 64 * 1024;

/// How many file digests are remembered before the memory is cleared.
const REMEMBERED: usize = 256;

/// The kind of file, which decides its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Layout {
    Trade,
    FundFlow,
    Statement,
}

impl Layout {
    fn code(self) -> &'static str {
        match self {
            Layout::Trade => "T",
            Layout::FundFlow => "F",
            Layout::Statement => "S",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        match code {
            "T" => Some(Layout::Trade),
            "F" => Some(Layout::FundFlow),
            "S" => Some(Layout::Statement),
            _ => None,
        }
    }
}

/// Everything that decides a file's bytes, plus the byte to corrupt when it is served.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Spec {
    layout: Layout,
    date: String,
    mchid: String,
    size: u64,
    gzip: bool,
    encrypted: bool,
    /// The offset of a byte flipped on the way out; the digest stays the true file's.
    corrupt_at: Option<u64>,
}

impl Spec {
    /// The same file, uncorrupted: what the digest is computed over.
    fn pristine(&self) -> Self {
        Self {
            corrupt_at: None,
            ..self.clone()
        }
    }

    fn payload(&self) -> String {
        format!(
            "v1:{}:{}:{}:{}:{}:{}:{}",
            self.layout.code(),
            self.date,
            self.mchid,
            self.size,
            u8::from(self.gzip),
            u8::from(self.encrypted),
            self.corrupt_at.map_or("-".to_string(), |o| o.to_string()),
        )
    }

    fn parse(payload: &str) -> Option<Self> {
        let fields: Vec<&str> = payload.split(':').collect();
        let [version, layout, date, mchid, size, gzip, encrypted, corrupt] = fields.as_slice()
        else {
            return None;
        };
        if *version != "v1" {
            return None;
        }
        Some(Self {
            layout: Layout::from_code(layout)?,
            date: (*date).to_string(),
            mchid: (*mchid).to_string(),
            size: size.parse().ok()?,
            gzip: *gzip == "1",
            encrypted: *encrypted == "1",
            corrupt_at: match *corrupt {
                "-" => None,
                offset => Some(offset.parse().ok()?),
            },
        })
    }
}

/// The settings tests change through [`State`](super::State), and what the simulator
/// remembers about the files it issued.
#[derive(Debug)]
pub(crate) struct Bills {
    public_base: String,
    /// Keys the tokens' MACs: a token the simulator did not issue cannot pass for one.
    secret: String,
    settings: Mutex<Settings>,
    summaries: Mutex<HashMap<Spec, Summary>>,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    size: u64,
    corrupt_at: Option<u64>,
}

/// A file's length and SHA-1 (lowercase hex), as sent.
#[derive(Debug, Clone)]
struct Summary {
    length: u64,
    sha1: String,
}

impl Bills {
    pub(crate) fn new(public_base: String) -> Self {
        Self {
            public_base,
            secret: Formatter::nonce(32),
            settings: Mutex::new(Settings {
                size: DEFAULT_SIZE,
                corrupt_at: None,
            }),
            summaries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn set_size(&self, bytes: u64) {
        lock(&self.settings).size = bytes.min(MAX_SIZE);
    }

    pub(crate) fn set_corruption(&self, offset: Option<u64>) {
        lock(&self.settings).corrupt_at = offset;
    }

    fn settings(&self) -> Settings {
        *lock(&self.settings)
    }

    /// The length and digest of `spec`'s file, generated once and remembered.
    fn summary(&self, spec: &Spec, merchant: &RsaPublicKey) -> Summary {
        let pristine = spec.pristine();
        if let Some(known) = lock(&self.summaries).get(&pristine) {
            return known.clone();
        }
        let mut context = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
        let mut length = 0u64;
        if pristine.encrypted {
            let file = encrypted_file(&pristine, &self.secret, merchant).0;
            context.update(&file);
            length = file.len() as u64;
        } else {
            let mut pipeline = Pipeline::new(&pristine);
            while let Some(chunk) = pipeline.next_chunk() {
                context.update(&chunk);
                length += chunk.len() as u64;
            }
        }
        let summary = Summary {
            length,
            sha1: hex(context.finish().as_ref()),
        };
        let mut summaries = lock(&self.summaries);
        if summaries.len() >= REMEMBERED {
            summaries.clear();
        }
        summaries.insert(pristine, summary.clone());
        summary
    }

    fn token(&self, spec: &Spec) -> String {
        let payload = base64::engine::general_purpose::STANDARD.encode(spec.payload());
        format!("{payload}/{}", self.mac(&payload))
    }

    fn mac(&self, payload: &str) -> String {
        Hash::hmac_sha256(payload.as_bytes(), self.secret.as_bytes())
            .chars()
            .take(16)
            .collect()
    }

    /// The spec of a token the simulator issued; `Ok(None)` for a token it never made (the
    /// sample file is served for those), `Err` for an issued token that was changed.
    fn redeem(&self, token: &str) -> Result<Option<Spec>, Reply> {
        let Some((payload, mac)) = token.rsplit_once('/') else {
            return Ok(None);
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(payload) else {
            return Ok(None);
        };
        let spec = String::from_utf8(decoded)
            .ok()
            .and_then(|text| Spec::parse(&text));
        match spec {
            None => Ok(None),
            Some(spec) if Hash::equals(&self.mac(payload), mac) => Ok(Some(spec)),
            Some(_) => Err(Reply::invalid_request(
                "the download token was changed after the simulator issued it (give \
                 `download_url` exactly as returned)",
            )),
        }
    }
}

/// The catalog paths answered here.
const PATHS: &[&str] = &[
    "v3/bill/tradebill",
    "v3/bill/fundflowbill",
    "v3/bill/sub-merchant-fundflowbill",
    "v3/billdownload/file",
    "hk/v3/statements",
    "v3/global/statements",
];

/// Whether [`answer`] answers the catalog path `path`.
pub(crate) fn serves(path: &str) -> bool {
    PATHS.contains(&path)
}

/// The answer for the bill endpoints, or `None` for any other path.
pub(crate) fn answer(
    bills: &Bills,
    merchant: &RsaPublicKey,
    path: &str,
    input: &Input,
) -> Option<Reply> {
    let query = |name: &str| {
        input
            .query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let gzip = query("tar_type").is_some_and(|t| t.eq_ignore_ascii_case("GZIP"));
    let issue = |layout: Layout, date: &str, encrypted: bool| {
        let settings = bills.settings();
        Spec {
            layout,
            date: date
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(32)
                .collect(),
            mchid: input.mchid.clone(),
            size: settings.size,
            gzip,
            encrypted,
            corrupt_at: settings.corrupt_at,
        }
    };
    let bill_date = query("bill_date").unwrap_or_default();
    Some(match path {
        "v3/bill/tradebill" => address(bills, merchant, &issue(Layout::Trade, bill_date, false)),
        "v3/bill/fundflowbill" => {
            address(bills, merchant, &issue(Layout::FundFlow, bill_date, false))
        }
        "v3/bill/sub-merchant-fundflowbill" => {
            let spec = issue(Layout::FundFlow, bill_date, true);
            encrypted_address(bills, merchant, &spec)
        }
        "v3/billdownload/file" => serve(bills, merchant, query("token").unwrap_or_default()),
        "hk/v3/statements" | "v3/global/statements" => {
            let spec = issue(Layout::Statement, query("date").unwrap_or_default(), false);
            statement(bills, merchant, &spec)
        }
        _ => return None,
    })
}

fn download_url(bills: &Bills, spec: &Spec) -> String {
    // The token holds `/` (and base64's `+` and `=`), percent-encoded as in WeChat Pay's own
    // tokens (`...%2FA`): a client must send such a URL on exactly as given.
    let token: String = bills
        .token(spec)
        .chars()
        .map(|c| match c {
            '+' => "%2B".to_string(),
            '/' => "%2F".to_string(),
            '=' => "%3D".to_string(),
            other => other.to_string(),
        })
        .collect();
    format!("{}v3/billdownload/file?token={token}", bills.public_base)
}

fn address(bills: &Bills, merchant: &RsaPublicKey, spec: &Spec) -> Reply {
    let summary = bills.summary(spec, merchant);
    Reply::json(
        StatusCode::OK,
        &json!({
            "hash_type": "SHA1",
            "hash_value": summary.sha1,
            "download_url": download_url(bills, spec),
        }),
    )
}

fn encrypted_address(bills: &Bills, merchant: &RsaPublicKey, spec: &Spec) -> Reply {
    if spec.size > MAX_ENCRYPTED_BYTES {
        return Reply::invalid_request(format!(
            "the simulator encrypts sub-merchant bills in memory: ask for at most {} MiB",
            MAX_ENCRYPTED_BYTES / (1024 * 1024)
        ));
    }
    let summary = bills.summary(spec, merchant);
    let (_, encrypt_key, nonce) = encrypted_file(&spec.pristine(), &bills.secret, merchant);
    Reply::json(
        StatusCode::OK,
        &json!({
            "download_bill_count": 1,
            "download_bill_list": [{
                "bill_sequence": 1,
                "download_url": download_url(bills, spec),
                "encrypt_key": encrypt_key,
                "hash_type": "SHA1",
                "hash_value": summary.sha1,
                "nonce": nonce,
            }],
        }),
    )
}

fn serve(bills: &Bills, merchant: &RsaPublicKey, token: &str) -> Reply {
    let spec = match bills.redeem(token) {
        Ok(Some(spec)) => spec,
        Ok(None) => Spec {
            layout: Layout::Trade,
            date: "2026-11-29".into(),
            mchid: super::demo::MCHID.into(),
            size: DEFAULT_SIZE,
            gzip: false,
            encrypted: false,
            corrupt_at: None,
        },
        Err(reply) => return reply,
    };
    let content_type = if spec.gzip {
        "application/gzip"
    } else {
        "text/plain; charset=utf-8"
    };
    if spec.encrypted {
        let mut file = encrypted_file(&spec.pristine(), &bills.secret, merchant).0;
        if let Some(byte) = spec
            .corrupt_at
            .and_then(|o| usize::try_from(o).ok())
            .and_then(|o| file.get_mut(o))
        {
            *byte ^= 0x01;
        }
        return Reply::download(Bytes::from(file), "application/octet-stream");
    }
    let summary = bills.summary(&spec, merchant);
    let mut reply = Reply::download(Bytes::new(), content_type);
    reply.extra_mut().generated = Some(Generated {
        spec,
        length: summary.length,
    });
    reply
}

fn statement(bills: &Bills, merchant: &RsaPublicKey, spec: &Spec) -> Reply {
    let summary = bills.summary(spec, merchant);
    let mut reply = Reply::download(Bytes::new(), "text/plain; charset=utf-8");
    reply.signed = true;
    let extra = reply.extra_mut();
    extra.signed_message = Some(Bytes::from(format!(r#"{{"sha1":"{}"}}"#, summary.sha1)));
    extra
        .headers
        .push(("Wechatpay-Statement-Sha1", summary.sha1));
    extra.generated = Some(Generated {
        spec: spec.clone(),
        length: summary.length,
    });
    reply
}

/// A sub-merchant bill: the file (gzip when asked) sealed with AES-256-GCM under a key and
/// nonce derived from the spec, and that key RSA-OAEP encrypted to the merchant (base64).
fn encrypted_file(spec: &Spec, secret: &str, merchant: &RsaPublicKey) -> (Vec<u8>, String, String) {
    let mut plain = Vec::new();
    let mut pipeline = Pipeline::new(spec);
    while let Some(chunk) = pipeline.next_chunk() {
        plain.extend_from_slice(&chunk);
    }
    let derived = Hash::hmac_sha256(spec.payload().as_bytes(), secret.as_bytes());
    // 64 hex digits: the first 32 are the key (32 bytes, as an APIv3 key is), the next 16 the
    // nonce, in the shape of WeChat Pay's examples.
    let key = derived.get(..32).unwrap_or_default().as_bytes();
    let nonce = derived.get(32..48).unwrap_or_default().to_string();
    let sealed = AesGcm::seal(&plain, key, nonce.as_bytes(), b"").unwrap_or_default();
    let encrypt_key = Rsa::encrypt(key, merchant).unwrap_or_default();
    (sealed, encrypt_key, nonce)
}

/// A generated body, described: [`GeneratedBody`] makes its bytes when it is sent.
#[derive(Debug, Clone)]
pub(crate) struct Generated {
    spec: Spec,
    length: u64,
}

impl Generated {
    pub(crate) fn into_body(self) -> GeneratedBody {
        GeneratedBody {
            pipeline: Box::new(Pipeline::new(&self.spec)),
            left: self.length,
        }
    }
}

/// The body of a generated file: each poll makes the next chunk.
pub(crate) struct GeneratedBody {
    pipeline: Box<Pipeline>,
    left: u64,
}

impl Body for GeneratedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let chunk = this.pipeline.next_chunk();
        if let Some(chunk) = &chunk {
            this.left = this.left.saturating_sub(chunk.len() as u64);
        }
        Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0 && self.pipeline.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// The file's bytes in order: rows, then gzip when asked, then the corrupted byte.
struct Pipeline {
    rows: Rows,
    gzip: Option<GzEncoder<Vec<u8>>>,
    corrupt_at: Option<u64>,
    sent: u64,
    done: bool,
}

impl Pipeline {
    fn new(spec: &Spec) -> Self {
        Self {
            rows: Rows::new(spec),
            gzip: spec
                .gzip
                .then(|| GzEncoder::new(Vec::with_capacity(CHUNK), Compression::fast())),
            corrupt_at: spec.corrupt_at,
            sent: 0,
            done: false,
        }
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if self.done {
                return None;
            }
            let mut chunk = match (self.rows.next_chunk(), &mut self.gzip) {
                (Some(plain), None) => plain,
                (Some(plain), Some(encoder)) => {
                    // Writing to a Vec cannot fail.
                    let _ = encoder.write_all(&plain);
                    if encoder.get_ref().len() < CHUNK {
                        continue;
                    }
                    BytesMut::from(&std::mem::take(encoder.get_mut())[..])
                }
                (None, Some(encoder)) => {
                    let _ = encoder.try_finish();
                    self.done = true;
                    let rest = std::mem::take(encoder.get_mut());
                    if rest.is_empty() {
                        return None;
                    }
                    BytesMut::from(&rest[..])
                }
                (None, None) => {
                    self.done = true;
                    return None;
                }
            };
            if let Some(offset) = self.corrupt_at {
                if let Some(at) = offset
                    .checked_sub(self.sent)
                    .and_then(|o| usize::try_from(o).ok())
                {
                    if let Some(byte) = chunk.get_mut(at) {
                        *byte ^= 0x01;
                    }
                }
            }
            self.sent += chunk.len() as u64;
            return Some(chunk.freeze());
        }
    }
}

/// A slot of a row template that changes from row to row.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// The row number, zero-padded to the width.
    Sequence(usize),
    /// `HH:MM:SS`, spread over the day.
    Clock,
    /// `d.dd` yuan.
    Amount,
    /// The running total, `000000000000000.00`.
    Total,
}

impl Slot {
    fn width(self) -> usize {
        match self {
            Slot::Sequence(width) => width,
            Slot::Clock => 8,
            Slot::Amount => 4,
            Slot::Total => 18,
        }
    }
}

/// The plain file, row by row: fixed-width rows, so the file can be made exactly `size`
/// bytes long (the last row's last field is padded with spaces).
struct Rows {
    header: Vec<u8>,
    template: Vec<u8>,
    slots: Vec<(usize, Slot)>,
    summary_header: &'static str,
    summary_row: fn(u64, u64) -> String,
    rows: u64,
    padding: usize,
    next: u64,
    total_cents: u64,
    stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Header,
    Rows,
    Summary,
    Done,
}

impl Rows {
    fn new(spec: &Spec) -> Self {
        let (header, parts, summary_header, summary_row) = layout(spec.layout);
        let mut template = Vec::new();
        let mut slots = Vec::new();
        for part in parts {
            match part {
                Part::Text(text) => template.extend_from_slice(text.as_bytes()),
                Part::Date => template.extend_from_slice(spec.date.as_bytes()),
                Part::Mchid => template.extend_from_slice(spec.mchid.as_bytes()),
                Part::Slot(slot) => {
                    slots.push((template.len(), slot));
                    template.resize(template.len() + slot.width(), b'0');
                }
            }
        }
        template.push(b'\n');
        let summary_len = (summary_header.len() + summary_row(0, 0).len()) as u64;
        let fixed = header.len() as u64 + summary_len;
        let row_len = template.len() as u64;
        let room = spec.size.saturating_sub(fixed);
        let rows = (room / row_len).max(1);
        let padding = if room >= row_len {
            usize::try_from(room - rows * row_len).unwrap_or(0)
        } else {
            0
        };
        Self {
            header: header.as_bytes().to_vec(),
            template,
            slots,
            summary_header,
            summary_row,
            rows,
            padding,
            next: 0,
            total_cents: 0,
            stage: Stage::Header,
        }
    }

    /// About [`CHUNK`] bytes of the file, or `None` at its end.
    fn next_chunk(&mut self) -> Option<BytesMut> {
        let mut out = BytesMut::with_capacity(CHUNK + self.template.len() + self.padding);
        loop {
            match self.stage {
                Stage::Header => {
                    out.extend_from_slice(&self.header);
                    self.stage = Stage::Rows;
                }
                Stage::Rows => {
                    while self.next < self.rows && out.len() + self.template.len() <= CHUNK {
                        self.push_row(&mut out);
                    }
                    if self.next < self.rows {
                        return Some(out);
                    }
                    self.stage = Stage::Summary;
                }
                Stage::Summary => {
                    out.extend_from_slice(self.summary_header.as_bytes());
                    out.extend_from_slice(
                        (self.summary_row)(self.rows, self.total_cents).as_bytes(),
                    );
                    self.stage = Stage::Done;
                    return Some(out);
                }
                Stage::Done => return None,
            }
        }
    }

    fn push_row(&mut self, out: &mut BytesMut) {
        let start = out.len();
        out.extend_from_slice(&self.template);
        let seq = self.next + 1;
        let cents = (seq.wrapping_mul(7919) + 13) % 1000;
        self.total_cents += cents;
        let row = &mut out[start..];
        for &(at, slot) in &self.slots {
            let field = &mut row[at..at + slot.width()];
            match slot {
                Slot::Sequence(_) => digits(field, seq),
                Slot::Clock => {
                    let second = seq * 86_399 / self.rows.max(1);
                    digits(&mut field[0..2], second / 3600);
                    field[2] = b':';
                    digits(&mut field[3..5], second / 60 % 60);
                    field[5] = b':';
                    digits(&mut field[6..8], second % 60);
                }
                Slot::Amount => {
                    digits(&mut field[0..1], cents / 100);
                    field[1] = b'.';
                    digits(&mut field[2..4], cents % 100);
                }
                Slot::Total => {
                    digits(&mut field[0..15], self.total_cents / 100);
                    field[15] = b'.';
                    digits(&mut field[16..18], self.total_cents % 100);
                }
            }
        }
        self.next += 1;
        if self.next == self.rows && self.padding > 0 {
            // Spaces before the line feed: the last field of the last row absorbs them.
            let newline = out.len() - 1;
            out.truncate(newline);
            out.resize(newline + self.padding, b' ');
            out.extend_from_slice(b"\n");
        }
    }
}

/// Writes `value` as decimal digits filling `field`, zero-padded (high digits dropped).
fn digits(field: &mut [u8], mut value: u64) {
    for byte in field.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

enum Part {
    Text(&'static str),
    Date,
    Mchid,
    Slot(Slot),
}

type LayoutParts = (
    &'static str,
    Vec<Part>,
    &'static str,
    fn(u64, u64) -> String,
);

/// A layout's header, row template, summary header and summary row (from the row count and
/// the total in cents). The columns follow WeChat Pay's bill formats.
fn layout(layout: Layout) -> LayoutParts {
    use Part::{Date, Mchid, Slot as S, Text};
    match layout {
        Layout::Trade => (
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n",
            vec![
                Text("`"),
                Date,
                Text(" "),
                S(Slot::Clock),
                Text(",`wxd678efh567hg6787,`"),
                Mchid,
                Text(",`0,`,`42000000"),
                S(Slot::Sequence(20)),
                Text(",`ORDER"),
                S(Slot::Sequence(12)),
                Text(",`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`"),
                S(Slot::Amount),
                Text(",`0.00,`0,`0,`0.00,`0.00,`,`,`simulated goods,`,`0.00000,`0.60%,`"),
                S(Slot::Amount),
                Text(",`0.00,`"),
            ],
            "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n",
            |rows, cents| {
                format!(
                    "`{rows:012},`{:015}.{:02},`0.00,`0.00,`0.00000,`{:015}.{:02},`0.00\n",
                    cents / 100,
                    cents % 100,
                    cents / 100,
                    cents % 100
                )
            },
        ),
        Layout::FundFlow => (
            "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号\n",
            vec![
                Text("`"),
                Date,
                Text(" "),
                S(Slot::Clock),
                Text(",`42000000"),
                S(Slot::Sequence(20)),
                Text(",`"),
                S(Slot::Sequence(16)),
                Text(",`交易,`交易,`收入,`"),
                S(Slot::Amount),
                Text(",`"),
                S(Slot::Total),
                Text(",`system,`simulated,`"),
            ],
            "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\n",
            |rows, cents| {
                format!(
                    "`{rows:012},`{rows:012},`{:015}.{:02},`000000000000,`0.00\n",
                    cents / 100,
                    cents % 100
                )
            },
        ),
        Layout::Statement => (
            "Transaction time,Official account ID,Merchant ID,Sub-merchant ID,Device ID,WeChat order number,Merchant order number,User ID,Transaction type,Transaction status,Payment bank,Currency,Total amount,Coupon amount,Refund number,Merchant refund number,Refund amount,Coupon refund amount,Refund type,Refund status,Product name,Merchant data,Fee,Rate,Remark\n",
            vec![
                Date,
                Text(" "),
                S(Slot::Clock),
                Text(",wxd678efh567hg6787,"),
                Mchid,
                Text(",,,42000000"),
                S(Slot::Sequence(20)),
                Text(",ORDER"),
                S(Slot::Sequence(12)),
                Text(",oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,MICROPAY,SUCCESS,OTHERS,HKD,"),
                S(Slot::Amount),
                Text(",0.00,0,0,0.00,0.00,,,simulated goods,,0.00000,0.60%,"),
            ],
            "Total transactions,Total amount,Total refund amount,Total coupon refund amount,Total fee\n",
            |rows, cents| {
                format!(
                    "{rows:012},{:015}.{:02},0.00,0.00,0.00000\n",
                    cents / 100,
                    cents % 100
                )
            },
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn spec(size: u64, gzip: bool) -> Spec {
        Spec {
            layout: Layout::Trade,
            date: "2026-11-29".into(),
            mchid: "1900000001".into(),
            size,
            gzip,
            encrypted: false,
            corrupt_at: None,
        }
    }

    fn whole(spec: &Spec) -> Vec<u8> {
        let mut pipeline = Pipeline::new(spec);
        let mut out = Vec::new();
        while let Some(chunk) = pipeline.next_chunk() {
            assert!(chunk.len() <= 2 * CHUNK);
            out.extend_from_slice(&chunk);
        }
        out
    }

    #[test]
    fn files_have_exactly_the_size_asked_and_whole_rows() {
        for size in [4096, 100_000, 1_000_003] {
            let file = whole(&spec(size, false));
            assert_eq!(file.len() as u64, size);
            let text = String::from_utf8(file).unwrap();
            assert!(text.starts_with("交易时间,"));
            assert!(text.ends_with("\n"));
            let lines: Vec<&str> = text.lines().collect();
            assert!(lines[lines.len() - 2].starts_with("总交易单数"));
        }
    }

    #[test]
    fn the_same_spec_gives_the_same_bytes_and_gzip_decompresses_to_them() {
        let plain = whole(&spec(300_000, false));
        assert_eq!(plain, whole(&spec(300_000, false)));
        let compressed = whole(&spec(300_000, true));
        assert!(compressed.len() < plain.len() / 3);
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&compressed[..]),
            &mut inflated,
        )
        .unwrap();
        assert_eq!(inflated, plain);
    }

    #[test]
    fn corruption_flips_one_byte_at_the_offset() {
        let plain = whole(&spec(200_000, false));
        let mut corrupt = spec(200_000, false);
        corrupt.corrupt_at = Some(70_000);
        let served = whole(&corrupt);
        let differing: Vec<usize> = (0..plain.len())
            .filter(|&i| plain[i] != served[i])
            .collect();
        assert_eq!(differing, vec![70_000]);
    }

    #[test]
    fn tokens_round_trip_and_refuse_changes() {
        let bills = Bills::new("http://127.0.0.1:1/".into());
        let mut s = spec(1234, true);
        s.corrupt_at = Some(5);
        let token = bills.token(&s);
        assert_eq!(bills.redeem(&token).unwrap(), Some(s));
        assert_eq!(bills.redeem("T1").unwrap(), None);
        let (payload, mac) = token.rsplit_once('/').unwrap();
        let last = if mac.ends_with('0') { '1' } else { '0' };
        let changed = format!("{payload}/{}{last}", &mac[..mac.len() - 1]);
        assert!(bills.redeem(&changed).is_err());
    }
}
