//! `wxpay request PATH`: one signed call, its answer verified, the JSON on stdout and what was
//! verified on stderr. APIv2 paths (`v2/...`) take their fields from `-d` and print the
//! answer's fields as JSON.

use std::path::{Path, PathBuf};

use wechatpay::download::{self, Download};
use wechatpay::http::{HeaderMap, Method, StatusCode};
use wechatpay::{segment_from_php, RequestOptions, Response};

use crate::credentials::CredentialArgs;
use crate::{input, output, Failure};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  wxpay request v3/certificates
  wxpay req v3.pay.transactions.native -d @order.json
  wxpay req 'v3/pay/transactions/id/{transaction_id}' -v transaction_id=4200000000 -q mchid=1900000001
  wxpay req v3/billdownload/file -q token=XYZ --raw bill.csv --sha1 0123abcd...
  wxpay req v2/pay/orderquery -d '{\"appid\":\"wx..\",\"mch_id\":\"1900000001\",\"out_trade_no\":\"1217752501\"}'
  wxpay req v2/secapi/pay/refund --security -d @refund.json")]
pub(crate) struct Args {
    /// The endpoint: `v3/pay/transactions/native`, the dotted form
    /// `v3.pay.transactions.native` (`_name_` is `{name}`), or a full URL
    path: String,
    /// HTTP method; GET by default, POST when -d is given
    #[arg(short = 'X', long, ignore_case = true, value_parser = ["GET", "POST", "PUT", "PATCH", "DELETE"])]
    method: Option<String>,
    /// JSON body; `@FILE` reads it from a file, `@-` from stdin. For a v2/ path, the JSON
    /// object of APIv2 fields (sent as signed XML)
    #[arg(short = 'd', long, value_name = "JSON")]
    data: Option<String>,
    /// APIv2: send over mutual TLS, presenting the merchant API certificate (`merchant` in
    /// the config file; the simulator's credentials.json names its own, and its HTTPS address)
    #[arg(long)]
    security: bool,
    /// A query parameter; repeat for more
    #[arg(short = 'q', long = "query", value_name = "KEY=VALUE")]
    query: Vec<String>,
    /// A request header; repeat for more
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A path variable filling `{name}`; repeat for more
    #[arg(short = 'v', long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Write the answer's bytes to FILE (a bill, an image) instead of printing them
    #[arg(long, value_name = "FILE")]
    raw: Option<PathBuf>,
    /// With --raw: the SHA-1 the file must have (hex); no file is left on a mismatch
    #[arg(long, requires = "raw", value_name = "HEX")]
    sha1: Option<String>,
    /// With --raw: the SHA-256 the file must have (hex); no file is left on a mismatch
    #[arg(long, requires = "raw", conflicts_with = "sha1", value_name = "HEX")]
    sha256: Option<String>,
    #[command(flatten)]
    credentials: CredentialArgs,
}

pub(crate) fn run(args: Args) -> Result<(), Failure> {
    let target = Target::parse(&args.path)?;
    let apiv2 = wechatpay::v2::is_v2_path(&target.path);
    if args.security && !apiv2 {
        return Err(Failure::usage(
            "--security (mutual TLS) is for APIv2 paths, which start with v2/",
        ));
    }
    let mut opts = RequestOptions::new().security(args.security);
    if let Some(base) = &target.base_uri {
        opts = opts.base_uri(base.clone());
    }
    if let Some(data) = &args.data {
        let data = read_json(data)?;
        opts = if apiv2 {
            opts.xml(data)
        } else {
            opts.json(data)
        };
    }
    for pair in &args.query {
        let (name, value) = split_pair(pair, '=', "-q", "KEY=VALUE")?;
        opts = opts.query(name, value);
    }
    for pair in &args.headers {
        let (name, value) = split_pair(pair, ':', "-H", "'NAME: VALUE'")?;
        opts = opts.header(name, value);
    }
    for pair in &args.vars {
        let (name, value) = split_pair(pair, '=', "-v", "NAME=VALUE")?;
        opts = opts.var(name, value);
    }
    let method = match &args.method {
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| Failure::usage(format!("-X `{m}` is not an HTTP method")))?,
        None if args.data.is_some() => Method::POST,
        None => Method::GET,
    };

    if args.raw.is_some() && method != Method::GET {
        return Err(Failure::usage(format!(
            "--raw saves downloads, which are GET requests, not {method}"
        )));
    }
    let credentials = args.credentials.resolve()?;
    let client = if apiv2 {
        credentials.v2_client(args.security)?
    } else {
        credentials.client()?
    };
    let chain = client.chain(&target.path);
    let path = target.path.split('?').next().unwrap_or_default();
    let unsigned = download::is_unsigned_download(&method, path);
    match &args.raw {
        Some(file) => {
            // Streamed to the file as it arrives: a bill of any size never sits in memory.
            let download = chain.download(opts)?;
            let described = describe(download.status(), download.headers(), unsigned);
            let expected = match (&args.sha1, &args.sha256) {
                (Some(hex), _) => Some(Digest::Sha1(hex.clone())),
                (_, Some(hex)) => Some(Digest::Sha256(hex.clone())),
                _ => None,
            };
            // Said only once the file is in place: a failure is one line.
            let saved = save_download(download, file, expected)?;
            output::note(&described);
            output::note(&saved);
            Ok(())
        }
        None => {
            let response = chain.send(method, opts)?;
            if apiv2 {
                output::note(&describe_v2(&response, path));
            } else {
                output::note(&describe(response.status(), response.headers(), unsigned));
            }
            match response.xml() {
                // An APIv2 answer's fields, as JSON; a bill is text and printed as it is.
                Ok(fields) if apiv2 => output::json(&serde_json::json!(fields)),
                _ => print_body(&response),
            }
        }
    }
}

/// The stderr line of an APIv2 answer: status, and what was checked.
fn describe_v2(response: &Response, path: &str) -> String {
    let status = response.status();
    let mut line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    match response.xml() {
        Ok(fields) if !wechatpay::v2::is_unsigned_answer(path) => {
            let sign = fields.get("sign").map_or("", String::as_str);
            line.push_str(&format!(
                "; APIv2 sign verified ({})",
                wechatpay::v2::algorithm_of(sign)
            ));
        }
        _ => line.push_str("; unsigned answer (WeChat Pay does not sign this endpoint's answers)"),
    }
    line
}

/// The endpoint as the client takes it: a path template, and a base URI when a full URL
/// was given.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    base_uri: Option<String>,
    path: String,
}

impl Target {
    fn parse(text: &str) -> Result<Self, Failure> {
        let text = text.trim();
        if text.starts_with("https://") || text.starts_with("http://") {
            let uri: wechatpay::http::Uri = text
                .parse()
                .map_err(|e| Failure::usage(format!("`{text}` is not a valid URL: {e}")))?;
            let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
                return Err(Failure::usage(format!("`{text}` is not a valid URL")));
            };
            let path_and_query = uri.path_and_query().map_or("", |pq| pq.as_str());
            return Ok(Self {
                base_uri: Some(format!("{scheme}://{authority}/")),
                path: path_and_query.trim_start_matches('/').to_string(),
            });
        }
        // The Node CLI's form: `v3.pay.transactions.native`, PHP's identifier rules.
        let path = if !text.contains('/') && text.contains('.') {
            text.split('.')
                .filter(|s| !s.is_empty())
                .map(segment_from_php)
                .collect::<Vec<_>>()
                .join("/")
        } else {
            text.trim_start_matches('/').to_string()
        };
        if path.is_empty() {
            return Err(Failure::usage("the endpoint path is empty"));
        }
        Ok(Self {
            base_uri: None,
            path,
        })
    }
}

/// `-d` text, `@FILE` or `@-`, parsed as JSON.
fn read_json(data: &str) -> Result<serde_json::Value, Failure> {
    let (text, source) = match data.strip_prefix('@') {
        Some("-") => (input::stdin_text()?, "stdin".to_string()),
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Failure::usage(format!("-d @{file}: {e}")))?;
            (text, file.to_string())
        }
        None => (data.to_string(), "-d".to_string()),
    };
    // serde_json's message gives the position, never the input.
    serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("{source} is not valid JSON: {e}")))
}

/// `name<sep>value`, trimmed around the separator.
fn split_pair(
    pair: &str,
    separator: char,
    flag: &str,
    shape: &str,
) -> Result<(String, String), Failure> {
    match pair.split_once(separator) {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(Failure::usage(format!(
            "{flag} `{}` is not {shape}",
            pair.chars().take(64).collect::<String>()
        ))),
    }
}

/// The stderr line: status, what was verified, the Request-ID.
fn describe(status: StatusCode, headers: &HeaderMap, unsigned: bool) -> String {
    let mut line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let header = |name: &str| -> Option<String> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if unsigned {
        line.push_str("; unsigned download (WeChat Pay does not sign files; check its hash with --raw FILE --sha1/--sha256)");
    } else if let Some(serial) = header("Wechatpay-Serial") {
        line.push_str(&format!(
            "; signature verified: Wechatpay-Serial {serial}, Wechatpay-Timestamp {}",
            header("Wechatpay-Timestamp").unwrap_or_default()
        ));
    }
    if let Some(id) = header("Request-ID") {
        line.push_str(&format!("; Request-ID {id}"));
    }
    line
}

/// Prints the body: JSON reformatted, other text as it is; binary only to a pipe.
fn print_body(response: &Response) -> Result<(), Failure> {
    let body = response.bytes();
    if body.is_empty() {
        return Ok(());
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        return output::json(&value);
    }
    if std::str::from_utf8(body).is_err() && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        output::note(&format!(
            "the answer is {} bytes of binary ({}); save it with --raw FILE",
            body.len(),
            content_type(response.headers())
        ));
        return Ok(());
    }
    output::stdout(body)
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(wechatpay::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no Content-Type")
}

/// The digest a download must have.
#[derive(Debug)]
enum Digest {
    Sha1(String),
    Sha256(String),
}

/// Streams a download into `file` with a progress bar over the bytes as they arrive, its
/// digest checked on the way. The library writes through a temporary name in the same
/// folder and renames it into place only once every check passed: a mismatch or an error
/// leaves no file. Returns the line saying what was saved.
fn save_download(
    download: Download,
    file: &Path,
    expected: Option<Digest>,
) -> Result<String, Failure> {
    let bar = match download.content_length() {
        Some(total) => indicatif::ProgressBar::new(total),
        None => indicatif::ProgressBar::no_length(),
    };
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bytes}/{total_bytes} [{bar:30}] {bytes_per_sec}")
    {
        bar.set_style(style);
    }
    let download = match &expected {
        None => download,
        Some(Digest::Sha1(hex)) => download.expect_sha1(hex),
        Some(Digest::Sha256(hex)) => download.expect_sha256(hex),
    };
    let progress = bar.clone();
    let saved = download
        .on_progress(move |received| progress.set_position(received))
        .save(file);
    bar.finish_and_clear();
    let saved = saved.map_err(|e| match e {
        wechatpay::Error::Verify(_) | wechatpay::Error::Decode(_) | wechatpay::Error::Io { .. } => {
            Failure::failed(format!("{e}; {} was not written", file.display()))
        }
        other => Failure::from(other),
    })?;
    let checked = match saved.digest {
        None => String::new(),
        Some(digest) => {
            let name = match digest.hash_type {
                download::HashType::Sha1 => "SHA-1",
                _ => "SHA-256",
            };
            format!(", {name} {} matches", digest.hex)
        }
    };
    Ok(format!(
        "saved {} bytes to {}{checked}",
        saved.bytes,
        file.display()
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn paths_in_every_form() {
        let t = |s: &str| Target::parse(s).unwrap();
        assert_eq!(
            t("v3/pay/transactions/native").path,
            "v3/pay/transactions/native"
        );
        assert_eq!(t("/v3/certificates").path, "v3/certificates");
        assert_eq!(
            t("v3.pay.transactions.native").path,
            "v3/pay/transactions/native"
        );
        assert_eq!(
            t("v3.marketing.membercardOpen.cards._card_id_").path,
            "v3/marketing/membercard-open/cards/{card_id}"
        );
        let url = t("https://api.mch.weixin.qq.com/v3/billdownload/file?token=a%2Bb");
        assert_eq!(
            url.base_uri.as_deref(),
            Some("https://api.mch.weixin.qq.com/")
        );
        assert_eq!(url.path, "v3/billdownload/file?token=a%2Bb");
        assert!(Target::parse(" ").is_err());
    }

    #[test]
    fn a_digest_mismatch_leaves_no_file() {
        let mock = wechatpay::mock::MockServer::start_blocking().unwrap();
        let wxpay = mock.client_builder().build().unwrap();
        let bill = || {
            wxpay
                .chain("v3/billdownload/file?token=T1")
                .download(())
                .unwrap()
        };
        let mut whole = Vec::new();
        bill().copy_to(&mut whole).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bill.csv");
        let wrong = Digest::Sha1("0000000000000000000000000000000000000000".into());
        let e = save_download(bill(), &file, Some(wrong)).unwrap_err();
        assert!(
            e.message.contains("SHA-1") && e.message.contains("was not written"),
            "{}",
            e.message
        );
        assert!(!file.exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no partial file left"
        );
        let right = Digest::Sha1(wechatpay::crypto::Hash::sha1(&whole).to_uppercase());
        let line = save_download(bill(), &file, Some(right)).unwrap();
        assert!(
            line.contains(&format!("SHA-1 {}", wechatpay::crypto::Hash::sha1(&whole))),
            "{line}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), whole);
    }
}
