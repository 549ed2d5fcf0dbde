//! The simulator, `wechatpay::mock`: its seed endpoints in all six call styles, its checks on
//! requests, independent peers (the openssl command line, Node's `crypto`), and the documented
//! response kind of the catalog's endpoints.

mod common;

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use wechatpay::crypto::{AesGcm, Formatter, PemUtil, Rsa, RsaPrivateKey};
use wechatpay::middleware::{BoxFuture, Middleware, Next};
use wechatpay::mock::{demo, CardLink, MockServer, Mode};
use wechatpay::sign::{authorization, SigningParams};
use wechatpay::{json, Chain, Client, Error, HttpRequest, HttpResponse, Response};

// ---------------------------------------------------------------------------------------------
// Helpers

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn client(mock: &MockServer) -> Client {
    mock.client_builder().build().unwrap()
}

/// The `code` and `message` of an [`Error::Api`], or a panic naming what came instead.
fn api_error(result: wechatpay::Result<Response>) -> (u16, String, String) {
    match result {
        Err(Error::Api {
            status,
            code,
            message,
            ..
        }) => (status.as_u16(), code, message),
        Err(other) => panic!("expected an API error, got {other:?}"),
        Ok(r) => panic!("expected an API error, got {} {:?}", r.status(), r.text()),
    }
}

/// The six call styles of the seed documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    ChainBlocking,
    ChainAsync,
    PathBlocking,
    PathAsync,
    IndexBlocking,
    IndexAsync,
}

const STYLES: [Style; 6] = [
    Style::ChainBlocking,
    Style::ChainAsync,
    Style::PathBlocking,
    Style::PathAsync,
    Style::IndexBlocking,
    Style::IndexAsync,
];

impl Style {
    fn is_async(self) -> bool {
        matches!(
            self,
            Style::ChainAsync | Style::PathAsync | Style::IndexAsync
        )
    }
}

/// The five seed endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seed {
    CardLink,
    Busifavor,
    MemberCard,
    StoreRecipient,
    Contract,
}

const SEEDS: [Seed; 5] = [
    Seed::CardLink,
    Seed::Busifavor,
    Seed::MemberCard,
    Seed::StoreRecipient,
    Seed::Contract,
];

impl Seed {
    fn path(self) -> &'static str {
        match self {
            Seed::CardLink => "v3/brand/card/card-links/unbind-card-link",
            Seed::Busifavor => "v3/marketing/busifavor/coupons/disassociate",
            Seed::MemberCard => "v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable",
            Seed::StoreRecipient => "v3/brand/partner/store/brandstores/{store_id}/unbindrecipient",
            Seed::Contract => {
                "v3/password-exempt-contract/contracts/service-id/{service_id}/out-contract-code/{out_contract_code}/terminate"
            }
        }
    }

    /// The options of the seed document's example (busifavor's are empty there; these are the
    /// simulator's sample coupon).
    fn sample(self) -> serde_json::Value {
        match self {
            Seed::CardLink => json!({"json": {
                "brand_id": "1004",
                "payment_scene": "MINI_PROGRAM",
                "appid": "wxea9c30890f48d5ae",
                "card_link_mchid": "111222333",
                "service_id": "00005000000000548218251086296300",
            }}),
            Seed::Busifavor => json!({"json": {
                "stock_id": "100088",
                "coupon_code": "sxxe34343434",
                "out_trade_no": "MCH_102233445",
                "out_request_no": "1002600620019090123143254435",
            }}),
            Seed::MemberCard => json!({
                "card_id": "pbLatjvWOibDc5-TBnbUk1pD12o0",
                "code": "478515832665",
                "json": {"reason": "用户违反会员条例"},
            }),
            Seed::StoreRecipient => json!({
                "store_id": "1234567890123456",
                "json": {"brand_id": "123456789", "mchid": "1230000109"},
            }),
            Seed::Contract => json!({
                "service_id": "12535",
                "out_contract_code": "wxwtdk20200910100000",
                "json": {"contract_termination_remark": "用户解约"},
            }),
        }
    }

    /// The sample without one required part, and the name the error must mention.
    fn missing_field(self) -> (serde_json::Value, &'static str) {
        let mut opts = self.sample();
        let (field, name) = match self {
            Seed::CardLink => ("payment_scene", "payment_scene"),
            Seed::Busifavor => ("out_trade_no", "out_trade_no"),
            Seed::MemberCard => {
                // reason is optional: the required part is the JSON body itself.
                opts.as_object_mut().unwrap().remove("json");
                return (opts, "body");
            }
            Seed::StoreRecipient => ("mchid", "mchid"),
            Seed::Contract => ("contract_termination_remark", "contract_termination_remark"),
        };
        opts["json"].as_object_mut().unwrap().remove(field);
        (opts, name)
    }

    /// The same request again, which the state now forbids (busifavor needs a new request
    /// number: a retry with the same one is answered idempotently).
    fn repeat(self) -> serde_json::Value {
        let mut opts = self.sample();
        if self == Seed::Busifavor {
            opts["json"]["out_request_no"] = json!("1002600620019090123143254436");
        }
        opts
    }
}

macro_rules! send {
    ($rt:expr, $style:expr, $target:expr, $opts:expr) => {
        if $style.is_async() {
            $rt.block_on($target.post_async($opts))
        } else {
            $target.post($opts)
        }
    };
}

/// Calls `seed` in `style`. The method-chain styles use the generated tree.
fn call(
    rt: &tokio::runtime::Runtime,
    wxpay: &Client,
    seed: Seed,
    style: Style,
    opts: serde_json::Value,
) -> wechatpay::Result<Response> {
    match style {
        Style::ChainBlocking | Style::ChainAsync => match seed {
            Seed::CardLink => send!(
                rt,
                style,
                wxpay.v3().brand().card().card_links().unbind_card_link(),
                opts
            ),
            Seed::Busifavor => send!(
                rt,
                style,
                wxpay.v3().marketing().busifavor().coupons().disassociate(),
                opts
            ),
            Seed::MemberCard => send!(
                rt,
                style,
                wxpay
                    .v3()
                    .marketing()
                    .membercard_open()
                    .cards()
                    ._card_id_()
                    .codes()
                    ._code_()
                    .unavailable(),
                opts
            ),
            Seed::StoreRecipient => send!(
                rt,
                style,
                wxpay
                    .v3()
                    .brand()
                    .partner()
                    .store()
                    .brandstores()
                    ._store_id_()
                    .unbindrecipient(),
                opts
            ),
            Seed::Contract => send!(
                rt,
                style,
                wxpay
                    .v3()
                    .password_exempt_contract()
                    .contracts()
                    .service_id()
                    ._service_id_()
                    .out_contract_code()
                    ._out_contract_code_()
                    .terminate(),
                opts
            ),
        },
        Style::PathBlocking | Style::PathAsync => send!(rt, style, wxpay.chain(seed.path()), opts),
        Style::IndexBlocking | Style::IndexAsync => send!(rt, style, wxpay[seed.path()], opts),
    }
}

/// Checks a seed's successful answer and the state it left behind.
fn check_success(mock: &MockServer, seed: Seed, r: &Response) {
    let state = mock.state();
    match seed {
        Seed::CardLink => {
            assert_eq!(r.status(), 200);
            let body: serde_json::Value = r.json().unwrap();
            assert_eq!(
                body,
                json!({
                    "brand_id": "1004",
                    "payment_scene": "MINI_PROGRAM",
                    "appid": "wxea9c30890f48d5ae",
                    "card_link_mchid": "111222333",
                    "service_id": "00005000000000548218251086296300",
                })
            );
            assert_eq!(
                state.card_link_effective("1004", "MINI_PROGRAM"),
                Some(false)
            );
        }
        Seed::Busifavor => {
            assert_eq!(r.status(), 200);
            let body: serde_json::Value = r.json().unwrap();
            let time = body["wechatpay_disassociate_time"].as_str().unwrap();
            assert!(time.len() == 25 && time.ends_with("+08:00"), "{time}");
            assert_eq!(
                state.busifavor_coupon_order("100088", "sxxe34343434"),
                Some(None)
            );
        }
        Seed::MemberCard => {
            assert_eq!(r.status(), 204);
            assert!(r.bytes().is_empty());
            assert_eq!(
                state.member_card_code_available("pbLatjvWOibDc5-TBnbUk1pD12o0", "478515832665"),
                Some(false)
            );
        }
        Seed::StoreRecipient => {
            assert_eq!(r.status(), 200);
            assert_eq!(r.json::<serde_json::Value>().unwrap(), json!({}));
            assert_eq!(
                state.store_recipient_bound("1234567890123456", "1230000109"),
                Some(false)
            );
        }
        Seed::Contract => {
            assert_eq!(r.status(), 200);
            assert_eq!(
                r.json::<serde_json::Value>().unwrap(),
                json!({"mchid": demo::MCHID, "service_id": 12535, "out_contract_code": "wxwtdk20200910100000"})
            );
            assert_eq!(
                state.password_exempt_contract_terminated("12535", "wxwtdk20200910100000"),
                Some(true)
            );
        }
    }
    assert!(r.request_id().is_some());
}

/// A `signer` replacement that signs exactly as told, to forge what the real one never would.
#[derive(Debug, Clone)]
struct ManualSigner {
    mchid: String,
    serial: String,
    key: RsaPrivateKey,
    /// Added to the current time.
    clock_offset: i64,
    /// A fixed nonce instead of a fresh one.
    nonce: Option<String>,
    /// Signs these bytes instead of the body (an upload's `meta`, or a forgery).
    signed_body: Option<Vec<u8>>,
}

impl ManualSigner {
    fn demo() -> Self {
        Self {
            mchid: demo::MCHID.into(),
            serial: demo::MERCHANT_SERIAL.into(),
            key: Rsa::from_private(demo::MERCHANT_PRIVATE_KEY_PEM).unwrap(),
            clock_offset: 0,
            nonce: None,
            signed_body: None,
        }
    }

    fn install(self, wxpay: &Client) -> Client {
        let mut stack = wxpay.stack();
        stack.replace("signer", self).unwrap();
        wxpay.with_stack(stack)
    }
}

impl Middleware for ManualSigner {
    fn handle<'a>(
        &'a self,
        mut req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, wechatpay::Result<HttpResponse>> {
        let uri = req
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |pq| pq.as_str().to_string());
        let nonce = self.nonce.clone().unwrap_or_else(|| Formatter::nonce(32));
        let params = SigningParams {
            mchid: &self.mchid,
            serial: &self.serial,
            timestamp: Formatter::timestamp() + self.clock_offset,
            nonce: &nonce,
        };
        let body = self
            .signed_body
            .clone()
            .unwrap_or_else(|| req.body().to_vec());
        let value = authorization(req.method().as_str(), &uri, &body, &params, &self.key).unwrap();
        req.headers_mut()
            .insert("authorization", value.parse().unwrap());
        next.run(req)
    }
}

/// A response read off a raw socket.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Sends one HTTP/1.1 request over a plain `TcpStream`: no client library involved.
fn raw_http(
    mock: &MockServer,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut stream = TcpStream::connect(mock.address()).unwrap();
    let mut head = format!(
        "{method} {uri} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        mock.address(),
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if let Some((_, len)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        body.truncate(len.parse().unwrap());
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

/// The demo merchant's `Authorization` for a raw request.
fn demo_authorization(method: &str, uri: &str, body: &[u8]) -> String {
    let key = Rsa::from_private(demo::MERCHANT_PRIVATE_KEY_PEM).unwrap();
    let nonce = Formatter::nonce(32);
    let params = SigningParams {
        mchid: demo::MCHID,
        serial: demo::MERCHANT_SERIAL,
        timestamp: Formatter::timestamp(),
        nonce: &nonce,
    };
    authorization(method, uri, body, &params, &key).unwrap()
}

/// Checks a raw answer's signature with the simulator's public key (errors are signed too).
fn assert_signed(r: &RawResponse) {
    let mut headers = wechatpay::http::HeaderMap::new();
    for (k, v) in &r.headers {
        headers.append(
            wechatpay::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let keys = wechatpay::PlatformKeys::new();
    keys.insert(
        demo::PLATFORM_PUBLIC_KEY_ID,
        Rsa::from_public(demo::PLATFORM_PUBLIC_KEY_PEM).unwrap(),
    );
    wechatpay::verify::verify_response(&headers, &r.body, Formatter::timestamp(), 300, &keys)
        .unwrap();
    assert!(!r.header("Request-ID").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Seed endpoints: success, wrong state and a missing field, in every style.

#[test]
fn seeds_succeed_then_refuse_wrong_state_and_missing_fields_in_every_style() {
    let rt = runtime();
    for seed in SEEDS {
        for style in STYLES {
            let mock = MockServer::start_blocking().unwrap();
            let wxpay = client(&mock);
            let what = format!("{seed:?} {style:?}");

            let r = call(&rt, &wxpay, seed, style, seed.sample())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            check_success(&mock, seed, &r);

            let (status, code, message) = api_error(call(&rt, &wxpay, seed, style, seed.repeat()));
            assert_eq!(
                (status, code.as_str()),
                (400, "INVALID_REQUEST"),
                "{what}: {message}"
            );

            let (opts, field) = seed.missing_field();
            let (status, code, message) = api_error(call(&rt, &wxpay, seed, style, opts));
            assert_eq!(
                (status, code.as_str()),
                (400, "PARAM_ERROR"),
                "{what}: {message}"
            );
            assert!(
                message.contains(field),
                "{what}: `{message}` should name `{field}`"
            );
        }
    }
}

#[test]
fn seeds_answer_not_exists_and_no_auth_for_unknown_or_foreign_records() {
    let rt = runtime();
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = client(&mock);
    let style = Style::PathBlocking;

    let mut opts = Seed::MemberCard.sample();
    opts["code"] = json!("000000000000");
    assert_eq!(
        api_error(call(&rt, &wxpay, Seed::MemberCard, style, opts)).1,
        "RESOURCE_NOT_EXISTS"
    );

    let mut opts = Seed::CardLink.sample();
    opts["json"]["payment_scene"] = json!("APP");
    assert_eq!(
        api_error(call(&rt, &wxpay, Seed::CardLink, style, opts)).1,
        "RESOURCE_NOT_EXISTS"
    );

    let mut opts = Seed::CardLink.sample();
    opts["json"]["payment_scene"] = json!("SHOP");
    let (status, code, message) = api_error(call(&rt, &wxpay, Seed::CardLink, style, opts));
    assert_eq!((status, code.as_str()), (400, "PARAM_ERROR"), "{message}");

    let mut opts = Seed::StoreRecipient.sample();
    opts["json"]["brand_id"] = json!("999");
    assert_eq!(
        api_error(call(&rt, &wxpay, Seed::StoreRecipient, style, opts)).0,
        403
    );

    let mut opts = Seed::StoreRecipient.sample();
    opts["json"]["mchid"] = json!("1230000110");
    assert_eq!(
        api_error(call(&rt, &wxpay, Seed::StoreRecipient, style, opts)).1,
        "INVALID_REQUEST"
    );

    let mut opts = Seed::Busifavor.sample();
    opts["json"]["out_trade_no"] = json!("ANOTHER_ORDER");
    assert_eq!(
        api_error(call(&rt, &wxpay, Seed::Busifavor, style, opts)).1,
        "INVALID_REQUEST"
    );

    let mut opts = Seed::Contract.sample();
    opts["out_contract_code"] = json!("nope");
    let (status, code, _) = api_error(call(&rt, &wxpay, Seed::Contract, style, opts));
    assert_eq!((status, code.as_str()), (404, "RESOURCE_NOT_EXISTS"));

    // A required field given as an empty string counts as missing, as on WeChat Pay.
    let mut opts = Seed::Busifavor.sample();
    opts["json"]["stock_id"] = json!("");
    assert_eq!(
        api_error(call(&rt, &wxpay, Seed::Busifavor, style, opts)).1,
        "PARAM_ERROR"
    );
    // A field of the wrong type is refused by name.
    let mut opts = Seed::Contract.sample();
    opts["json"]["contract_termination_remark"] = json!(42);
    let (_, code, message) = api_error(call(&rt, &wxpay, Seed::Contract, style, opts));
    assert_eq!(code, "PARAM_ERROR");
    assert!(message.contains("contract_termination_remark"), "{message}");
}

#[test]
fn busifavor_retry_with_the_same_request_number_gets_the_same_answer() {
    let rt = runtime();
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = client(&mock);
    let first = call(
        &rt,
        &wxpay,
        Seed::Busifavor,
        Style::PathBlocking,
        Seed::Busifavor.sample(),
    )
    .unwrap();
    let again = call(
        &rt,
        &wxpay,
        Seed::Busifavor,
        Style::PathBlocking,
        Seed::Busifavor.sample(),
    )
    .unwrap();
    assert_eq!(first.bytes(), again.bytes());
}

#[test]
fn tests_add_their_own_state_and_reset_it() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = client(&mock);
    let state = mock.state();
    state.add_member_card_code("card-A", "code-1");
    state.add_busifavor_coupon("stock-1", "coupon-1", "order-1");
    state.add_store_recipient("store-1", "brand-1", "1230000001");
    state.add_password_exempt_contract("100", "contract-1");
    state.add_card_link(CardLink {
        brand_id: "brand-1".into(),
        payment_scene: "APP".into(),
        ..CardLink::default()
    });

    let path = Seed::MemberCard.path();
    assert_eq!(
        wxpay[path]
            .post(json!({"card_id": "card-A", "code": "code-1", "json": {}}))
            .unwrap()
            .status(),
        204
    );
    let r = wxpay[Seed::Busifavor.path()]
        .post(json!({"json": {"stock_id": "stock-1", "coupon_code": "coupon-1", "out_trade_no": "order-1", "out_request_no": "r1"}}))
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = wxpay[Seed::StoreRecipient.path()]
        .post(
            json!({"store_id": "store-1", "json": {"brand_id": "brand-1", "mchid": "1230000001"}}),
        )
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = wxpay[Seed::Contract.path()]
        .post(json!({"service_id": "100", "out_contract_code": "contract-1", "json": {"contract_termination_remark": "x"}}))
        .unwrap();
    assert_eq!(r.json::<serde_json::Value>().unwrap()["service_id"], 100);
    let r = wxpay[Seed::CardLink.path()]
        .post(json!({"json": {"brand_id": "brand-1", "payment_scene": "APP"}}))
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().unwrap(),
        json!({"brand_id": "brand-1", "payment_scene": "APP"})
    );

    state.clear();
    assert_eq!(
        state.member_card_code_available("pbLatjvWOibDc5-TBnbUk1pD12o0", "478515832665"),
        None
    );
    state.reset();
    assert_eq!(
        state.member_card_code_available("pbLatjvWOibDc5-TBnbUk1pD12o0", "478515832665"),
        Some(true)
    );
    assert_eq!(state.member_card_code_available("card-A", "code-1"), None);
}

// ---------------------------------------------------------------------------------------------
// The checks on requests.

fn sign_error(wxpay: &Client) -> String {
    let (status, code, message) = api_error(wxpay["v3/certificates"].get(()));
    assert_eq!((status, code.as_str()), (401, "SIGN_ERROR"), "{message}");
    message
}

#[test]
fn a_bad_signature_is_refused() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = client(&mock);
    let forged = ManualSigner {
        signed_body: Some(b"{\"amount\":1}".to_vec()),
        ..ManualSigner::demo()
    };
    assert!(sign_error(&forged.install(&wxpay)).contains("signature does not verify"));
    let stranger = ManualSigner {
        key: Rsa::from_private(&common::fixture_url("stranger_private.pem")).unwrap(),
        ..ManualSigner::demo()
    };
    assert!(sign_error(&stranger.install(&wxpay)).contains("signature does not verify"));
}

#[test]
fn a_stale_or_future_timestamp_is_refused() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = client(&mock);
    for offset in [-301, 360, -3600] {
        let signer = ManualSigner {
            clock_offset: offset,
            ..ManualSigner::demo()
        };
        let message = sign_error(&signer.install(&wxpay));
        assert!(
            message.contains("timestamp") && message.contains("300 s"),
            "{message}"
        );
    }
    // Within the window is fine.
    let signer = ManualSigner {
        clock_offset: -250,
        ..ManualSigner::demo()
    };
    assert_eq!(
        signer.install(&wxpay)["v3/certificates"]
            .get(())
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn a_replayed_nonce_is_refused() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = client(&mock);
    let signer = ManualSigner {
        nonce: Some(Formatter::nonce(32)),
        ..ManualSigner::demo()
    };
    let replaying = signer.install(&wxpay);
    assert_eq!(replaying["v3/certificates"].get(()).unwrap().status(), 200);
    let message = sign_error(&replaying);
    assert!(
        message.contains("nonce_str") && message.contains("replay"),
        "{message}"
    );
    // A fresh nonce passes again.
    assert_eq!(wxpay["v3/certificates"].get(()).unwrap().status(), 200);
}

#[test]
fn an_unknown_merchant_or_serial_is_refused() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = client(&mock);
    let unknown = ManualSigner {
        mchid: "1999999999".into(),
        ..ManualSigner::demo()
    };
    let message = sign_error(&unknown.install(&wxpay));
    assert!(
        message.contains("mchid") && message.contains("1999999999"),
        "{message}"
    );
    let wrong_serial = ManualSigner {
        serial: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C".into(),
        ..ManualSigner::demo()
    };
    assert!(sign_error(&wrong_serial.install(&wxpay)).contains("serial_no"));
}

#[test]
fn another_merchant_can_be_added() {
    let mock = MockServer::start_blocking().unwrap();
    mock.state()
        .add_merchant(
            "1900000002",
            "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
            &common::fixture_url("merchant_spki.pem"),
        )
        .unwrap();
    let other = Client::builder()
        .mchid("1900000002")
        .serial("1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C")
        .private_key(common::fixture_url("merchant_pkcs8.pem"))
        .cert(demo::PLATFORM_PUBLIC_KEY_ID, demo::PLATFORM_PUBLIC_KEY_PEM)
        .base_uri(mock.base_uri())
        .build()
        .unwrap();
    // The sample contract belongs to the demo merchant, so another merchant cannot see it.
    let (status, code, _) = api_error(other[Seed::Contract.path()].post(Seed::Contract.sample()));
    assert_eq!((status, code.as_str()), (404, "RESOURCE_NOT_EXISTS"));
    mock.state()
        .add_password_exempt_contract_for("1900000002", "12535", "mine");
    let mut opts = Seed::Contract.sample();
    opts["out_contract_code"] = json!("mine");
    let r = other[Seed::Contract.path()].post(opts).unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().unwrap()["mchid"],
        "1900000002"
    );
}

#[test]
fn malformed_authorization_headers_are_refused_by_name() {
    let mock = MockServer::start_blocking().unwrap();
    let cases: [(Option<String>, &str); 4] = [
        (None, "Authorization header is missing"),
        (Some("Bearer abc".into()), "scheme"),
        (
            Some(format!(
                "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",serial_no=\"{}\"",
                demo::MCHID,
                demo::MERCHANT_SERIAL
            )),
            "timestamp",
        ),
        (
            Some(demo_authorization("GET", "/v3/certificates", b"").replace("nonce_str", "nonce")),
            "nonce_str",
        ),
    ];
    for (header, expected) in cases {
        let headers: Vec<(&str, &str)> = header
            .iter()
            .map(|h| ("Authorization", h.as_str()))
            .collect();
        let r = raw_http(&mock, "GET", "/v3/certificates", &headers, b"");
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["code"], "SIGN_ERROR");
        let message = r.json()["message"].as_str().unwrap().to_string();
        assert!(
            message.contains(expected),
            "`{message}` should mention `{expected}`"
        );
        assert_signed(&r);
    }
}

#[test]
fn unknown_paths_v2_paths_and_wrong_methods_answer_404() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = client(&mock);
    let (status, code, _) = api_error(wxpay["v3/no/such/api"].get(()));
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));
    let (status, _, message) = api_error(wxpay["v3/certificates"].delete(()));
    assert_eq!(status, 404);
    assert!(message.contains("GET"), "{message}");
    // An APIv2 path the simulator does not serve answers 404 too (the ones it serves answer
    // in XML: tests/v2.rs).
    let r = raw_http(&mock, "POST", "/pay/closeorder", &[], b"<xml></xml>");
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].as_str().unwrap().contains("APIv2"));
    assert_signed(&r);
}

#[test]
fn missing_path_parameters_and_query_parameters_are_named() {
    let mock = MockServer::start_blocking().unwrap();
    // The client refuses an empty path variable before sending, so craft the request.
    let uri = "/v3/marketing/membercard-open/cards//codes/478515832665/unavailable";
    let body = br#"{"reason":"x"}"#;
    let auth = demo_authorization("POST", uri, body);
    let r = raw_http(
        &mock,
        "POST",
        uri,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "PARAM_ERROR");
    assert!(r.json()["message"].as_str().unwrap().contains("card_id"));
    assert_eq!(r.json()["detail"]["location"], "path");
    assert_signed(&r);

    let wxpay = client(&mock);
    let (status, code, message) = api_error(wxpay["v3/bill/tradebill"].get(()));
    assert_eq!((status, code.as_str()), (400, "PARAM_ERROR"));
    assert!(message.contains("bill_date"), "{message}");
}

#[test]
fn an_unknown_wechatpay_serial_header_is_refused() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = client(&mock);
    let (status, code, message) = api_error(
        wxpay["v3/certificates"].get(json!({"headers": {"Wechatpay-Serial": "PUB_KEY_ID_0000"}})),
    );
    assert_eq!((status, code.as_str()), (400, "PARAM_ERROR"), "{message}");
}

#[test]
fn error_answers_are_signed_too() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = client(&mock);
    let r = wxpay["v3/no/such/api"]
        .get(json!({"http_errors": false}))
        .unwrap();
    assert_eq!(r.status(), 404);
    let keys = wxpay.platform_keys();
    wechatpay::verify::verify_response(r.headers(), r.bytes(), Formatter::timestamp(), 300, keys)
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Modes, certificates, lifecycle.

#[test]
fn platform_certificate_mode_signs_with_the_certificate() {
    let mock = MockServer::builder()
        .mode(Mode::PlatformCertificate)
        .start_blocking()
        .unwrap();
    let wxpay = client(&mock);
    let r = wxpay[Seed::Contract.path()]
        .post(Seed::Contract.sample())
        .unwrap();
    assert_eq!(
        r.headers()["wechatpay-serial"],
        demo::PLATFORM_CERTIFICATE_SERIAL
    );

    // After a switch, a client that trusts only the certificate refuses the new key.
    mock.set_mode(Mode::PublicKey);
    match wxpay["v3/certificates"].get(()) {
        Err(Error::Verify(wechatpay::error::VerifyError::UnknownSerial(s))) => {
            assert_eq!(s, demo::PLATFORM_PUBLIC_KEY_ID)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        client(&mock)["v3/certificates"].get(()).unwrap().status(),
        200
    );
}

#[test]
fn certificates_are_encrypted_under_the_apiv3_key() {
    let mock = MockServer::start_blocking().unwrap();
    let r = client(&mock)["v3/certificates"].get(()).unwrap();
    let body: serde_json::Value = r.json().unwrap();
    let entry = &body["data"][0];
    assert_eq!(entry["serial_no"], demo::PLATFORM_CERTIFICATE_SERIAL);
    assert!(entry["effective_time"]
        .as_str()
        .unwrap()
        .ends_with("+08:00"));
    assert!(entry["expire_time"].as_str().unwrap().starts_with("204"));
    let sealed = &entry["encrypt_certificate"];
    assert_eq!(sealed["algorithm"], "AEAD_AES_256_GCM");
    assert_eq!(sealed["associated_data"], "certificate");
    let pem = AesGcm::decrypt(
        sealed["ciphertext"].as_str().unwrap(),
        demo::APIV3_KEY.as_bytes(),
        sealed["nonce"].as_str().unwrap().as_bytes(),
        b"certificate",
    )
    .unwrap();
    assert_eq!(pem, demo::PLATFORM_CERTIFICATE_PEM.as_bytes());
    assert_eq!(
        PemUtil::serial_number(&pem).unwrap(),
        demo::PLATFORM_CERTIFICATE_SERIAL
    );
}

#[tokio::test]
async fn start_is_async_and_the_server_stops_when_dropped() {
    let mock = MockServer::start().await.unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let r = wxpay["v3/certificates"].get_async(()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(mock.request_count() >= 1);
    let address = mock.address();
    drop(mock);
    assert!(
        TcpStream::connect(address).is_err(),
        "the port should be closed after drop"
    );
    assert!(wxpay["v3/certificates"].get_async(()).await.is_err());
}

#[test]
fn a_server_outlives_the_runtime_that_started_it() {
    let mock = runtime().block_on(MockServer::start()).unwrap();
    assert_eq!(
        client(&mock)["v3/certificates"].get(()).unwrap().status(),
        200
    );
}

// ---------------------------------------------------------------------------------------------
// Independent peers.

#[test]
fn a_request_signed_by_openssl_is_accepted_and_answers_verify_with_openssl() {
    if !common::openssl_available() {
        eprintln!("skipped: the openssl command line is not installed");
        return;
    }
    let mock = MockServer::start_blocking().unwrap();
    let dir = tempfile::tempdir().unwrap();
    mock.write_credentials(dir.path()).unwrap();
    let d = dir.path();

    let uri = "/v3/password-exempt-contract/contracts/service-id/12535/out-contract-code/wxwtdk20200910100000/terminate";
    let body = r#"{"contract_termination_remark":"用户解约"}"#;
    let timestamp = Formatter::timestamp();
    let nonce = "OPENSSL0000000000000000000000001";
    let signature = common::openssl_sign(
        d.join("apiclient_key.pem"),
        format!("POST\n{uri}\n{timestamp}\n{nonce}\n{body}\n").as_bytes(),
    );
    let auth = format!(
        "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
        demo::MCHID,
        demo::MERCHANT_SERIAL
    );
    let r = raw_http(
        &mock,
        "POST",
        uri,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["out_contract_code"], "wxwtdk20200910100000");

    let verify = |r: &RawResponse, public_key: &Path| {
        let mut message = format!(
            "{}\n{}\n",
            r.header("Wechatpay-Timestamp"),
            r.header("Wechatpay-Nonce")
        )
        .into_bytes();
        message.extend_from_slice(&r.body);
        message.push(b'\n');
        assert!(common::openssl_verifies(
            public_key,
            &message,
            r.header("Wechatpay-Signature")
        ));
    };
    assert_eq!(r.header("Wechatpay-Serial"), demo::PLATFORM_PUBLIC_KEY_ID);
    verify(&r, &d.join("pub_key.pem"));

    // The same request again is a replay: refused, and the refusal verifies too.
    let again = raw_http(
        &mock,
        "POST",
        uri,
        &[("Authorization", &auth)],
        body.as_bytes(),
    );
    assert_eq!(again.status, 401);
    verify(&again, &d.join("pub_key.pem"));

    // Certificate mode: the answer verifies with the key openssl takes out of the certificate.
    mock.set_mode(Mode::PlatformCertificate);
    let out = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(d.join("wechatpay_platform_cert.pem"))
        .output()
        .unwrap();
    std::fs::write(d.join("cert_pub.pem"), out.stdout).unwrap();
    let auth = demo_authorization("GET", "/v3/certificates", b"");
    let r = raw_http(
        &mock,
        "GET",
        "/v3/certificates",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Wechatpay-Serial"),
        demo::PLATFORM_CERTIFICATE_SERIAL
    );
    verify(&r, &d.join("cert_pub.pem"));
}

#[test]
fn credentials_json_describes_the_files() {
    let mock = MockServer::start_blocking().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = mock.write_credentials(dir.path()).unwrap();
    let creds: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(creds["mchid"], demo::MCHID);
    assert_eq!(creds["merchant_serial"], demo::MERCHANT_SERIAL);
    assert_eq!(
        creds["platform_public_key_id"],
        demo::PLATFORM_PUBLIC_KEY_ID
    );
    assert_eq!(
        creds["platform_certificate_serial"],
        demo::PLATFORM_CERTIFICATE_SERIAL
    );
    assert_eq!(creds["apiv3_key"].as_str().unwrap().len(), 32);
    assert_eq!(creds["apiv2_key"].as_str().unwrap().len(), 32);
    assert_eq!(creds["base_uri"], mock.base_uri());
    assert_eq!(creds["mode"], "public_key");
    for key in [
        "merchant_private_key_file",
        "platform_public_key_file",
        "platform_certificate_file",
    ] {
        let file = dir.path().join(creds[key].as_str().unwrap());
        assert!(
            std::fs::read_to_string(file)
                .unwrap()
                .starts_with("-----BEGIN "),
            "{key}"
        );
    }
    // Debug output leaves the symmetric keys out.
    let debug = format!("{:?}", mock.credentials());
    assert!(
        !debug.contains(demo::APIV3_KEY) && !debug.contains(demo::APIV2_KEY),
        "{debug}"
    );
}

#[test]
fn a_node_client_given_only_credentials_json_calls_the_simulator() {
    if !common::present_or_skip(common::node_available(), "`node` (the cross-language test)") {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/client.js");
    for mode in [Mode::PublicKey, Mode::PlatformCertificate] {
        let mock = MockServer::builder().mode(mode).start_blocking().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let credentials = mock.write_credentials(dir.path()).unwrap();
        let out = Command::new("node")
            .arg(&script)
            .arg(&credentials)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{mode:?}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with("ok ")).count(),
            5,
            "{stdout}"
        );
        // The Node client really changed the simulator's state.
        assert_eq!(
            mock.state()
                .password_exempt_contract_terminated("12535", "wxwtdk20200910100000"),
            Some(true)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The catalog: every APIv3 endpoint answers with its documented kind.

#[derive(Debug, serde::Deserialize)]
struct Operation {
    method: String,
    path: String,
    path_params: Vec<String>,
    query_params: Vec<Param>,
    body: Body,
    response: ResponseSpec,
}

#[derive(Debug, serde::Deserialize)]
struct Param {
    name: String,
    required: bool,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Body {
    kind: String,
    #[serde(default)]
    fields: Vec<Param>,
}

#[derive(Debug, serde::Deserialize)]
struct ResponseSpec {
    kind: String,
    status: u16,
    fields: Vec<String>,
}

fn sample_value(kind: Option<&str>) -> serde_json::Value {
    match kind {
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        Some("object") => json!({}),
        _ => json!("example"),
    }
}

/// A multipart upload whose `meta` is what gets signed (WeChat Pay's media upload rules).
fn upload_body(op: &Operation) -> (String, Vec<u8>, Vec<u8>) {
    let boundary = "wechatpay-mock-boundary";
    // The simulator checks the file's SHA-256 against the meta, as WeChat Pay does.
    // ASCII, because the form travels as the `body` option, a JSON string.
    let file: &[u8] = b"PNG image";
    let meta = format!(
        r#"{{"filename":"a.png","sha256":"{}"}}"#,
        wechatpay::crypto::Hash::sha256(file)
    )
    .into_bytes();
    let mut body = Vec::new();
    for field in &op.body.fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        if field.name == "meta" {
            body.extend_from_slice(b"Content-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n");
            body.extend_from_slice(&meta);
        } else {
            body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{}\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n", field.name)
                    .as_bytes(),
            );
            body.extend_from_slice(file);
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={boundary}"),
        body,
        meta,
    )
}

fn area(path: &str) -> String {
    path.split('/').take(2).collect::<Vec<_>>().join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_apiv3_catalog_endpoint_answers_with_its_documented_kind() {
    let catalog = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/catalog/endpoints.jsonl"),
    )
    .unwrap();
    let seeds: Vec<&str> = SEEDS.iter().map(|s| s.path()).collect();
    let operations: Vec<Operation> = catalog
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|o: &Operation| !o.path.starts_with("v2/") && !seeds.contains(&o.path.as_str()))
        .collect();
    let all_areas: BTreeSet<String> = operations.iter().map(|o| area(&o.path)).collect();

    let mock = MockServer::start().await.unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let mut tested_areas = BTreeSet::new();
    let mut tested = 0;
    let mut tasks = tokio::task::JoinSet::new();
    for op in operations {
        let mut opts = serde_json::Map::new();
        for name in &op.path_params {
            opts.insert(name.clone(), json!(format!("mock-{name}")));
        }
        let query: serde_json::Map<_, _> = op
            .query_params
            .iter()
            .filter(|q| q.required)
            .map(|q| {
                (
                    q.name.clone(),
                    json!(sample_value(q.kind.as_deref())
                        .to_string()
                        .trim_matches('"')),
                )
            })
            .collect();
        if !query.is_empty() {
            opts.insert("query".into(), json!(query));
        }
        let mut chain: Chain = wxpay.chain(&op.path);
        match op.body.kind.as_str() {
            "json" => {
                let body: serde_json::Map<_, _> = op
                    .body
                    .fields
                    .iter()
                    .filter(|f| f.required)
                    .map(|f| (f.name.clone(), sample_value(f.kind.as_deref())))
                    .collect();
                opts.insert("json".into(), json!(body));
            }
            "multipart" => {
                let (content_type, body, meta) = upload_body(&op);
                opts.insert("body".into(), json!(String::from_utf8_lossy(&body)));
                opts.insert("headers".into(), json!({"Content-Type": content_type}));
                let signer = ManualSigner {
                    signed_body: Some(meta),
                    ..ManualSigner::demo()
                };
                chain = signer.install(&wxpay).chain(&op.path);
            }
            _ => {}
        }
        tested += 1;
        tested_areas.insert(area(&op.path));
        let method: wechatpay::http::Method = op.method.parse().unwrap();
        tasks.spawn(async move {
            let result = chain
                .send_async(method.clone(), serde_json::Value::Object(opts.clone()))
                .await;
            let what = format!("{} {}", op.method, op.path);
            let r = result.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(r.status().as_u16(), op.response.status, "{what}");
            match op.response.kind.as_str() {
                "json" => {
                    let body: serde_json::Map<String, serde_json::Value> = r.json().unwrap();
                    for field in &op.response.fields {
                        assert!(body.contains_key(field), "{what}: no `{field}` in {body:?}");
                    }
                }
                "empty" => assert!(r.bytes().is_empty(), "{what}"),
                "binary" => {
                    assert!(!r.bytes().is_empty(), "{what}");
                    // Statements are signed over their SHA-1 header instead of the body.
                    assert_eq!(
                        r.headers().get("wechatpay-signature").is_none(),
                        r.headers().get("wechatpay-statement-sha1").is_none(),
                        "{what}: downloads are unsigned"
                    );
                    // The default verifier knows the documented downloads are unsigned; the
                    // same unsigned answer on an ordinary endpoint is refused.
                    assert!(
                        wechatpay::download::is_unsigned_download(
                            &method,
                            &format!("/{}", op.path.replace("{media_id}", "m"))
                        ),
                        "{what}"
                    );
                }
                other => panic!("{what}: unexpected kind {other}"),
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    eprintln!(
        "{tested} catalog endpoints in {} areas answered with their documented kind",
        tested_areas.len()
    );
    assert!(tested >= 200, "{tested}");
    assert_eq!(tested_areas, all_areas);
}
