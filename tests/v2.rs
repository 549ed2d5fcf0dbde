//! APIv2 end to end: the six call styles against the simulator with both sign types, answer
//! checks, the v2 stack, mutual TLS over real TLS on loopback, and hostile answers.

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wechatpay::crypto::{ApiV2Key, Hash};
use wechatpay::error::{RequestError, VerifyError};
use wechatpay::middleware::{
    BoxFuture, Middleware, Next, TransformRequestLayer, TransformResponseLayer,
};
use wechatpay::mock::{demo, MockServer};
use wechatpay::v2::{RequestFields, Transformer};
use wechatpay::{json, Builder, Client, Error, HttpRequest, HttpResponse, RequestOptions};

const APPID: &str = "wxd678efh567hg6787";
const SAMPLE_ORDER: &str = "1217752501201407033233368018";

fn micropay_fields(out_trade_no: &str, sign_type: Option<&str>) -> serde_json::Value {
    let mut xml = json!({
        "appid": APPID,
        "mch_id": demo::MCHID,
        "body": "image形象店-深圳腾大- QQ公仔",
        "out_trade_no": out_trade_no,
        "total_fee": 1,
        "spbill_create_ip": "8.8.8.8",
        "auth_code": "120061098828009406",
    });
    if let Some(t) = sign_type {
        xml["sign_type"] = json!(t);
    }
    json!({ "xml": xml })
}

fn query_fields(out_trade_no: &str, sign_type: Option<&str>) -> serde_json::Value {
    let mut xml = json!({"appid": APPID, "mch_id": demo::MCHID, "out_trade_no": out_trade_no});
    if let Some(t) = sign_type {
        xml["sign_type"] = json!(t);
    }
    json!({ "xml": xml })
}

/// The answer a `pay/micropay` gives first: the simulator checked the `sign` (else it would
/// say SIGNERROR) and asks the payer for a password.
fn assert_userpaying(result: wechatpay::Result<wechatpay::Response>, style: &str) {
    match result {
        Err(Error::Api {
            status,
            code,
            message,
            body,
            ..
        }) => {
            assert_eq!(status, 200, "{style}");
            assert_eq!(code, "USERPAYING", "{style}: {message}");
            let fields = Transformer::to_map(&body).unwrap();
            assert_eq!(fields["result_code"], "FAIL", "{style}");
        }
        other => panic!("{style}: expected USERPAYING, got {other:?}"),
    }
}

fn assert_paid(response: wechatpay::Response, out_trade_no: &str, sign_len: usize, style: &str) {
    let fields = response.xml().unwrap();
    assert_eq!(fields["trade_state"], "SUCCESS", "{style}");
    assert_eq!(fields["out_trade_no"], out_trade_no, "{style}");
    // The simulator answers with the request's sign type, and the client checked it.
    assert_eq!(fields["sign"].len(), sign_len, "{style}");
}

/// One call style: `pay` picks `pay/micropay`, else `pay/orderquery`.
type Call<'a> = dyn Fn(&serde_json::Value, bool) -> wechatpay::Result<wechatpay::Response> + 'a;

// -- acceptance 1: six styles, both sign types ----------------------------------------------

#[test]
fn six_styles_blocking_with_md5_and_hmac_sha256() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    for (sign_type, sign_len) in [(None, 32), (Some("MD5"), 32), (Some("HMAC-SHA256"), 64)] {
        let tag = sign_type.unwrap_or("default");
        let styles: [(&str, &Call); 3] = [
            ("method chain", &|o, pay| {
                if pay {
                    wxpay.v2().pay().micropay().post(o)
                } else {
                    wxpay.v2().pay().orderquery().post(o)
                }
            }),
            ("string path", &|o, pay| {
                let path = if pay {
                    "v2/pay/micropay"
                } else {
                    "v2/pay/orderquery"
                };
                wxpay.chain(path).post(o)
            }),
            ("index", &|o, pay| {
                if pay {
                    wxpay["v2/pay/micropay"].post(o)
                } else {
                    wxpay["v2/pay/orderquery"].post(o)
                }
            }),
        ];
        for (style, call) in styles {
            let out_trade_no = format!("B-{tag}-{style}");
            assert_userpaying(
                call(&micropay_fields(&out_trade_no, sign_type), true),
                style,
            );
            let paid = call(&query_fields(&out_trade_no, sign_type), false).unwrap();
            assert_paid(paid, &out_trade_no, sign_len, &format!("{style} {tag}"));
        }
    }
}

#[tokio::test]
async fn six_styles_async_with_md5_and_hmac_sha256() {
    let mock = MockServer::start().await.unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    for (sign_type, sign_len) in [(Some("MD5"), 32), (Some("HMAC-SHA256"), 64)] {
        let tag = sign_type.unwrap_or_default();
        let n = |style: &str| format!("A-{tag}-{style}");

        let o = n("method chain");
        assert_userpaying(
            wxpay
                .v2()
                .pay()
                .micropay()
                .post_async(micropay_fields(&o, sign_type))
                .await,
            "method chain",
        );
        let r = wxpay
            .v2()
            .pay()
            .orderquery()
            .post_async(query_fields(&o, sign_type))
            .await
            .unwrap();
        assert_paid(r, &o, sign_len, "method chain async");

        let o = n("string path");
        assert_userpaying(
            wxpay
                .chain("v2/pay/micropay")
                .post_async(micropay_fields(&o, sign_type))
                .await,
            "string path",
        );
        let r = wxpay
            .chain("v2/pay/orderquery")
            .post_async(query_fields(&o, sign_type))
            .await
            .unwrap();
        assert_paid(r, &o, sign_len, "string path async");

        let o = n("index");
        assert_userpaying(
            wxpay["v2/pay/micropay"]
                .post_async(micropay_fields(&o, sign_type))
                .await,
            "index",
        );
        let r = wxpay["v2/pay/orderquery"]
            .post_async(query_fields(&o, sign_type))
            .await
            .unwrap();
        assert_paid(r, &o, sign_len, "index async");
    }
}

#[test]
fn the_typed_options_build_the_same_call() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let opts = RequestOptions::new().xml(json!({
        "appid": APPID, "mch_id": demo::MCHID, "out_trade_no": SAMPLE_ORDER, "sign_type": "HMAC-SHA256",
    }));
    let fields = wxpay
        .v2()
        .pay()
        .orderquery()
        .post(opts)
        .unwrap()
        .xml()
        .unwrap();
    assert_eq!(fields["transaction_id"], "4200000000202611300000000001");
    assert_eq!(fields["total_fee"], "100");
}

// -- answers --------------------------------------------------------------------------------

/// A layer that rewrites each answer body on its way up, as a man in the middle would.
#[derive(Debug)]
struct Rewrite(fn(BTreeMap<String, String>) -> BTreeMap<String, String>);

impl Middleware for Rewrite {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, wechatpay::Result<HttpResponse>> {
        Box::pin(async move {
            let mut response = next.run(req).await?;
            let fields = Transformer::to_map(response.body()).unwrap();
            *response.body_mut() = Transformer::to_xml((self.0)(fields)).into();
            Ok(response)
        })
    }
}

#[test]
fn a_tampered_or_missing_sign_is_a_verification_error() {
    let mock = MockServer::start_blocking().unwrap();
    for (rewrite, needle) in [
        (
            Rewrite(|mut f| {
                f.insert("total_fee".into(), "1".into());
                f
            }),
            "does not match",
        ),
        (
            Rewrite(|mut f| {
                let sign = f["sign"].to_ascii_lowercase();
                f.insert("sign".into(), sign);
                f
            }),
            "does not match",
        ),
        (
            Rewrite(|mut f| {
                f.remove("sign");
                f
            }),
            "no `sign`",
        ),
    ] {
        // Pushed at the inner end: it sees the answer before `transform_response` does.
        let wxpay = mock
            .client_builder()
            .v2_middleware(move |stack| stack.push("tamper", rewrite).map(|_| ()))
            .build()
            .unwrap();
        for sign_type in ["MD5", "HMAC-SHA256"] {
            let err = wxpay
                .v2()
                .pay()
                .orderquery()
                .post(query_fields(SAMPLE_ORDER, Some(sign_type)))
                .unwrap_err();
            assert!(
                matches!(&err, Error::Verify(VerifyError::V2Sign(why)) if why.contains(needle)),
                "{sign_type}: {err:?}"
            );
            assert!(err.is_verify());
            assert!(err.to_string().contains("APIv2 sign check failed"), "{err}");
        }
    }
}

#[test]
fn fail_answers_are_api_errors_with_wechat_pays_codes() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let code_of = |r: wechatpay::Result<wechatpay::Response>| match r {
        Err(e @ Error::Api { .. }) => {
            let Error::Api { message, body, .. } = &e else {
                unreachable!()
            };
            assert!(!message.is_empty(), "{e:?}");
            assert!(body.starts_with(b"<xml>"), "the raw XML is kept: {body:?}");
            e.api_code().unwrap().to_string()
        }
        other => panic!("expected Error::Api, got {other:?}"),
    };

    // ORDERPAID on a repeat.
    assert_eq!(
        code_of(
            wxpay
                .v2()
                .pay()
                .micropay()
                .post(micropay_fields("F1", None))
        ),
        "USERPAYING"
    );
    assert_eq!(
        code_of(
            wxpay
                .v2()
                .pay()
                .micropay()
                .post(micropay_fields("F1", None))
        ),
        "ORDERPAID"
    );
    // PARAM_ERROR names the field.
    let err = wxpay
        .v2()
        .pay()
        .micropay()
        .post(json!({"xml": {"appid": APPID, "mch_id": demo::MCHID}}))
        .unwrap_err();
    assert_eq!(err.api_code(), Some("PARAM_ERROR"));
    assert!(err.to_string().contains("`body`"), "{err}");
    // ORDERNOTEXIST.
    assert_eq!(
        code_of(
            wxpay
                .v2()
                .pay()
                .orderquery()
                .post(query_fields("NOPE", None))
        ),
        "ORDERNOTEXIST"
    );
    // SIGNERROR from a client with another APIv2 key: unsigned, and still an API error, not a
    // verification error.
    let wrong_key = mock
        .client_builder()
        .secret("AnotherAPIv2KeyAnotherAPIv2Key32")
        .build()
        .unwrap();
    for sign_type in ["MD5", "HMAC-SHA256"] {
        let err = wrong_key
            .v2()
            .pay()
            .orderquery()
            .post(query_fields(SAMPLE_ORDER, Some(sign_type)))
            .unwrap_err();
        assert_eq!(err.api_code(), Some("SIGNERROR"), "{err:?}");
        assert!(err.to_string().contains(sign_type), "{err}");
    }
    // NOTENOUGH from the red-packet balance; red packet answers are unsigned.
    let red_packet = |billno: &str| {
        json!({"xml": {
            "mch_billno": billno, "mch_id": demo::MCHID, "wxappid": APPID, "send_name": "demo",
            "re_openid": "oxTWIuGaIt6gTKsQRLau2M0yL16E", "total_amount": 1000, "total_num": 1,
            "wishing": "恭喜发财", "client_ip": "192.168.0.1", "act_name": "demo", "remark": "demo",
        }})
    };
    let sent = wxpay
        .v2()
        .mmpaymkttransfers()
        .sendredpack()
        .post(red_packet("RP1"))
        .unwrap();
    let fields = sent.xml().unwrap();
    assert_eq!(fields["result_code"], "SUCCESS");
    assert!(!fields.contains_key("sign"));
    assert_eq!(mock.state().redpack_balance(), 99_000);
    mock.state().set_redpack_balance(500);
    assert_eq!(
        code_of(
            wxpay
                .v2()
                .mmpaymkttransfers()
                .sendredpack()
                .post(red_packet("RP2"))
        ),
        "NOTENOUGH"
    );
    // The same mch_billno is the same red packet, not a second payment.
    assert!(wxpay
        .v2()
        .mmpaymkttransfers()
        .sendredpack()
        .post(red_packet("RP1"))
        .is_ok());
    assert_eq!(mock.state().redpack_balance(), 500);
}

#[test]
fn the_bill_is_unsigned_text_and_its_failure_is_an_api_error() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let bill = |date: &str| {
        wxpay.v2().pay().downloadbill().post(json!({"xml": {
            "appid": APPID, "mch_id": demo::MCHID, "bill_date": date, "bill_type": "ALL",
        }}))
    };
    let text = bill("20261130").unwrap();
    let text = text.text().unwrap();
    assert!(text.starts_with("交易时间,"), "{text}");
    assert!(text.contains(&format!("`{SAMPLE_ORDER}")), "{text}");
    let err = bill("2026-11-30").unwrap_err();
    assert!(
        matches!(&err, Error::Api { code, message, .. } if code == "FAIL" && message == "invalid bill_date"),
        "{err:?}"
    );
}

#[test]
fn a_merchant_id_of_another_merchant_is_refused_before_sending() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    for field in ["mch_id", "mchid", "combine_mch_id"] {
        let err = wxpay
            .v2()
            .pay()
            .orderquery()
            .post(json!({"xml": {"appid": APPID, field: "1900000002", "out_trade_no": "x"}}))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Request(RequestError::InvalidOption(why)) if why.contains(field) && why.contains("1900000002")),
            "{err:?}"
        );
    }
    assert_eq!(mock.request_count(), 0);
}

/// Records each request as it leaves the v2 stack, and answers it itself with a signed
/// SUCCESS, so that what was sent can be inspected.
#[derive(Debug, Default, Clone)]
struct Spy {
    sent: Arc<Mutex<Vec<(http::Method, String, String)>>>,
}

impl Middleware for Spy {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        _next: Next<'a>,
    ) -> BoxFuture<'a, wechatpay::Result<HttpResponse>> {
        let uri = req.uri().path_and_query().unwrap().to_string();
        let body = String::from_utf8(req.body().to_vec()).unwrap();
        self.sent
            .lock()
            .unwrap()
            .push((req.method().clone(), uri, body));
        let key = ApiV2Key::new(demo::APIV2_KEY);
        let fields = [("return_code", "SUCCESS"), ("result_code", "SUCCESS")];
        let sign = wechatpay::v2::sign(fields, &key, Default::default());
        let xml = Transformer::to_xml(fields.iter().copied().chain([("sign", sign.as_str())]));
        Box::pin(std::future::ready(Ok(http::Response::new(xml.into()))))
    }
}

impl Spy {
    fn client(&self, mock: &MockServer) -> Client {
        let spy = self.clone();
        mock.client_builder()
            .v2_middleware(move |stack| stack.push("spy", spy).map(|_| ()))
            .build()
            .unwrap()
    }

    fn last(&self) -> (http::Method, String, String) {
        self.sent.lock().unwrap().last().cloned().unwrap()
    }
}

/// WeChat Pay's rule, written out here: sorted fields but `sign` and empty ones, `&key=`.
fn expected_md5(fields: &BTreeMap<String, String>) -> String {
    let mut text: Vec<String> = fields
        .iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    text.push(format!("key={}", demo::APIV2_KEY));
    Hash::md5(text.join("&").as_bytes()).to_ascii_uppercase()
}

#[test]
fn what_is_sent_nonces_numbers_and_booleans() {
    let mock = MockServer::start_blocking().unwrap();
    let spy = Spy::default();
    let wxpay = spy.client(&mock);

    wxpay
        .v2()
        .pay()
        .micropay()
        .post(json!({"xml": {"mch_id": 1900000001, "total_fee": 1, "profit_sharing": true, "empty": "", "gone": null, "detail": {"a": [1]}}}))
        .unwrap();
    let (method, uri, body) = spy.last();
    assert_eq!(
        (method, uri.as_str()),
        (http::Method::POST, "/pay/micropay")
    );
    let sent = Transformer::to_map(&body).unwrap();
    assert_eq!(sent["mch_id"], "1900000001");
    assert_eq!(sent["total_fee"], "1");
    assert_eq!(sent["profit_sharing"], "true");
    assert_eq!(sent["detail"], r#"{"a":[1]}"#);
    assert_eq!(sent["empty"], "");
    assert!(!sent.contains_key("gone"));
    assert_eq!(sent["nonce_str"].len(), 32);
    assert_eq!(sent["sign"], expected_md5(&sent));
    assert!(
        body.contains("<total_fee><![CDATA[1]]></total_fee>"),
        "{body}"
    );

    // A caller's nonce_str is kept; `nonceless` adds none.
    wxpay
        .v2()
        .pay()
        .micropay()
        .post(json!({"xml": {"nonce_str": "MINE"}}))
        .unwrap();
    assert_eq!(
        Transformer::to_map(spy.last().2).unwrap()["nonce_str"],
        "MINE"
    );
    wxpay
        .v2()
        .pay()
        .micropay()
        .post(json!({"xml": {"a": "1"}, "nonceless": true}))
        .unwrap();
    let sent = Transformer::to_map(spy.last().2).unwrap();
    assert!(!sent.contains_key("nonce_str"));
    assert_eq!(sent["sign"], expected_md5(&sent));

    // A GET signs its query, and sends it signed.
    wxpay
        .chain("v2/papay/entrustweb")
        .get(json!({"query": {"mch_id": "1900000001", "contract_code": "a b&c", "plan_id": 12}}))
        .unwrap();
    let (method, uri, body) = spy.last();
    assert_eq!(method, http::Method::GET);
    assert!(body.is_empty());
    let query = uri.split_once('?').unwrap().1;
    let pairs: BTreeMap<String, String> = query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            let decode = |s: &str| percent_encoding_decode(s);
            (decode(k), decode(v))
        })
        .collect();
    assert_eq!(pairs["contract_code"], "a b&c");
    assert_eq!(pairs["plan_id"], "12");
    assert_eq!(pairs["sign"], expected_md5(&pairs));
}

fn percent_encoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

// -- the v2 stack ---------------------------------------------------------------------------

/// Counts the calls that pass through it.
#[derive(Debug, Clone, Default)]
struct Count(Arc<AtomicUsize>);

impl Middleware for Count {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, wechatpay::Result<HttpResponse>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        next.run(req)
    }
}

#[test]
fn each_protocol_runs_only_its_own_layers() {
    let mock = MockServer::start_blocking().unwrap();
    let (v3, v2) = (Count::default(), Count::default());
    let (v3_layer, v2_layer) = (v3.clone(), v2.clone());
    let wxpay = mock
        .client_builder()
        .middleware(move |s| s.unshift("count", v3_layer).map(|_| ()))
        .v2_middleware(move |s| s.unshift("count", v2_layer).map(|_| ()))
        .build()
        .unwrap();
    assert_eq!(wxpay.stack().names(), ["count", "verifier", "signer"]);
    assert_eq!(
        wxpay.v2_stack().names(),
        ["count", "transform_response", "transform_request"]
    );

    wxpay
        .v2()
        .pay()
        .orderquery()
        .post(query_fields(SAMPLE_ORDER, None))
        .unwrap();
    assert_eq!(
        (v3.0.load(Ordering::SeqCst), v2.0.load(Ordering::SeqCst)),
        (0, 1)
    );

    wxpay.v3().certificates().get(()).unwrap();
    assert_eq!(
        (v3.0.load(Ordering::SeqCst), v2.0.load(Ordering::SeqCst)),
        (1, 1)
    );
}

/// A v2 call's request never carries an APIv3 signature.
#[derive(Debug)]
struct NoAuthorization;

impl Middleware for NoAuthorization {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, wechatpay::Result<HttpResponse>> {
        assert!(req.headers().get("authorization").is_none());
        assert_eq!(req.headers()["content-type"], "text/xml; charset=utf-8");
        next.run(req)
    }
}

#[test]
fn replacing_or_wrapping_transform_request_changes_the_signing() {
    let mock = MockServer::start_blocking().unwrap();
    let checked = mock
        .client_builder()
        .v2_middleware(|s| s.push("check", NoAuthorization).map(|_| ()))
        .build()
        .unwrap();
    checked
        .v2()
        .pay()
        .orderquery()
        .post(query_fields(SAMPLE_ORDER, None))
        .unwrap();
    let wxpay = mock.client_builder().build().unwrap();

    // Replaced by a layer signing with another key: the simulator refuses the sign.
    let mut stack = wxpay.v2_stack();
    stack
        .replace(
            "transform_request",
            TransformRequestLayer::new(
                demo::MCHID,
                ApiV2Key::new("AnotherAPIv2KeyAnotherAPIv2Key32"),
            ),
        )
        .unwrap();
    let replaced = wxpay.with_v2_stack(stack);
    let err = replaced
        .v2()
        .pay()
        .orderquery()
        .post(query_fields(SAMPLE_ORDER, None))
        .unwrap_err();
    assert_eq!(err.api_code(), Some("SIGNERROR"), "{err:?}");

    // Wrapped by a layer that edits the fields before they are signed: the change is signed.
    #[derive(Debug)]
    struct Hmac;
    impl Middleware for Hmac {
        fn handle<'a>(
            &'a self,
            mut req: HttpRequest,
            next: Next<'a>,
        ) -> BoxFuture<'a, wechatpay::Result<HttpResponse>> {
            if let Some(fields) = req.extensions_mut().get_mut::<RequestFields>() {
                fields
                    .fields
                    .push(("sign_type".into(), "HMAC-SHA256".into()));
            }
            next.run(req)
        }
    }
    let mut stack = wxpay.v2_stack();
    stack.before("transform_request", "hmac", Hmac).unwrap();
    let wrapped = wxpay.with_v2_stack(stack);
    let fields = wrapped
        .v2()
        .pay()
        .orderquery()
        .post(query_fields(SAMPLE_ORDER, None))
        .unwrap()
        .xml()
        .unwrap();
    assert_eq!(
        fields["sign"].len(),
        64,
        "answered with HMAC-SHA256, as asked"
    );

    // Removed: the fields are not written, and WeChat Pay (here the simulator) refuses the
    // empty body.
    let mut stack = wxpay.v2_stack();
    assert!(stack.remove("transform_request").is_some());
    let err = wxpay
        .with_v2_stack(stack)
        .v2()
        .pay()
        .orderquery()
        .post(query_fields(SAMPLE_ORDER, None))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api { code, message, .. } if code == "FAIL" && message.contains("XML")),
        "{err:?}"
    );

    // A `transform_response` with another key refuses the simulator's sign.
    let mut stack = wxpay.v2_stack();
    stack
        .replace(
            "transform_response",
            TransformResponseLayer::new(ApiV2Key::new("x")),
        )
        .unwrap();
    let err = wxpay
        .with_v2_stack(stack)
        .v2()
        .pay()
        .orderquery()
        .post(query_fields(SAMPLE_ORDER, None))
        .unwrap_err();
    assert!(
        matches!(err, Error::Verify(VerifyError::V2Sign(_))),
        "{err:?}"
    );
}

// -- configuration --------------------------------------------------------------------------

#[test]
fn a_client_with_only_mchid_and_secret_serves_apiv2() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = Client::builder()
        .mchid(demo::MCHID)
        .secret(demo::APIV2_KEY)
        .base_uri(mock.base_uri())
        .build()
        .unwrap();
    let fields = wxpay
        .v2()
        .pay()
        .orderquery()
        .post(query_fields(SAMPLE_ORDER, None))
        .unwrap()
        .xml()
        .unwrap();
    assert_eq!(fields["trade_state"], "SUCCESS");
    assert_eq!(wxpay.stack().names(), ["verifier", "signer"]);

    let before = mock.request_count();
    let err = wxpay.v3().certificates().get(()).unwrap_err();
    let Error::Config(config) = &err else {
        panic!("expected Config, got {err:?}")
    };
    let all = config.problems().join("\n");
    for needle in ["APIv3", "`serial`", "`private_key`", "`cert`"] {
        assert!(all.contains(needle), "missing {needle} in {all}");
    }
    assert_eq!(mock.request_count(), before, "nothing was sent");

    // The same from wechatpay-php's keys.
    let wxpay = Builder::factory(
        json!({"mchid": demo::MCHID, "secret": demo::APIV2_KEY, "base_uri": mock.base_uri()}),
    )
    .unwrap();
    assert!(wxpay
        .v2()
        .pay()
        .orderquery()
        .post(query_fields(SAMPLE_ORDER, None))
        .is_ok());
    let err = wxpay.v3().certificates().get(()).unwrap_err();
    assert!(err.to_string().contains("`privateKey`"), "{err}");
}

#[test]
fn without_a_secret_apiv2_calls_name_it_and_without_anything_the_build_fails() {
    let mock = MockServer::start_blocking().unwrap();
    let v3_only = Client::builder()
        .mchid(demo::MCHID)
        .serial(demo::MERCHANT_SERIAL)
        .private_key(demo::MERCHANT_PRIVATE_KEY_PEM)
        .cert(demo::PLATFORM_PUBLIC_KEY_ID, demo::PLATFORM_PUBLIC_KEY_PEM)
        .base_uri(mock.base_uri())
        .build()
        .unwrap();
    let err = v3_only
        .v2()
        .pay()
        .orderquery()
        .post(query_fields(SAMPLE_ORDER, None))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(c) if c.to_string().contains("`secret`")),
        "{err:?}"
    );
    assert_eq!(mock.request_count(), 0);

    let err = Client::builder().mchid(demo::MCHID).build().unwrap_err();
    let text = err.to_string();
    for needle in ["`serial`", "`private_key`", "`cert`", "`secret`"] {
        assert!(text.contains(needle), "missing {needle} in {text}");
    }
    let err = Client::builder()
        .mchid(demo::MCHID)
        .secret("short")
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`secret` (the APIv2 key) must be 32 bytes, not 5"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("short"),
        "the key is not quoted: {err}"
    );
}

#[test]
fn the_secret_and_merchant_key_never_show_in_debug_output() {
    let builder = Client::builder()
        .mchid(demo::MCHID)
        .secret(demo::APIV2_KEY)
        .merchant_cert(
            demo::MERCHANT_CERTIFICATE_PEM,
            demo::MERCHANT_PRIVATE_KEY_PEM,
        );
    let text = format!("{builder:?}");
    assert!(
        !text.contains(demo::APIV2_KEY) && !text.contains("PRIVATE KEY"),
        "{text}"
    );
    let client = builder.build().unwrap();
    let text = format!(
        "{client:?} {:?} {:?}",
        client.v2_stack(),
        TransformRequestLayer::new("1", ApiV2Key::new(demo::APIV2_KEY))
    );
    assert!(!text.contains(demo::APIV2_KEY), "{text}");
}

#[test]
fn merchant_cert_takes_every_key_form_and_checks_the_pair() {
    let dir = tempfile::tempdir().unwrap();
    let cert_file = dir.path().join("apiclient_cert.pem");
    std::fs::write(&cert_file, demo::MERCHANT_CERTIFICATE_PEM).unwrap();
    let key_file = dir.path().join("apiclient_key.pem");
    std::fs::write(&key_file, demo::MERCHANT_PRIVATE_KEY_PEM).unwrap();
    let der = wechatpay::crypto::PemUtil::parse(demo::MERCHANT_PRIVATE_KEY_PEM)
        .unwrap()
        .remove(0)
        .der;
    let pkcs8_url = format!("private.pkcs8://{}", base64_encode(&der));
    for (cert, key) in [
        (
            demo::MERCHANT_CERTIFICATE_PEM.to_string(),
            demo::MERCHANT_PRIVATE_KEY_PEM.to_string(),
        ),
        (
            format!("file://{}", cert_file.display()),
            format!("file://{}", key_file.display()),
        ),
        (demo::MERCHANT_CERTIFICATE_PEM.to_string(), pkcs8_url),
    ] {
        Client::builder()
            .mchid(demo::MCHID)
            .secret(demo::APIV2_KEY)
            .merchant_cert(cert, key)
            .build()
            .unwrap();
    }
    // A PKCS#1 key with its own certificate.
    Client::builder()
        .mchid(demo::MCHID)
        .secret(demo::APIV2_KEY)
        .merchant_cert(
            common::fixture_url("merchant_cert.pem"),
            common::fixture_url("merchant_pkcs1.pem"),
        )
        .build()
        .unwrap();
    for (cert, key, needle) in [
        (
            demo::MERCHANT_CERTIFICATE_PEM.to_string(),
            common::fixture_url("stranger_private.pem"),
            "does not belong",
        ),
        (
            demo::MERCHANT_PRIVATE_KEY_PEM.to_string(),
            demo::MERCHANT_PRIVATE_KEY_PEM.to_string(),
            "expected a certificate",
        ),
        (
            "file:///nowhere/cert.pem".to_string(),
            demo::MERCHANT_PRIVATE_KEY_PEM.to_string(),
            "/nowhere/cert.pem",
        ),
    ] {
        let err = Client::builder()
            .mchid(demo::MCHID)
            .secret(demo::APIV2_KEY)
            .merchant_cert(cert, key)
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("`merchant_cert`") && err.to_string().contains(needle),
            "{err}"
        );
    }
    let err = Builder::factory(json!({"mchid": demo::MCHID, "secret": demo::APIV2_KEY, "merchant": {"cert": demo::MERCHANT_CERTIFICATE_PEM}})).unwrap_err();
    assert!(
        err.to_string()
            .contains("`merchant` must hold `cert` and `key`"),
        "{err}"
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// -- acceptance 2: mutual TLS on loopback -----------------------------------------------------

fn refund(out_refund_no: &str) -> serde_json::Value {
    json!({
        "appid": APPID, "mch_id": demo::MCHID, "out_trade_no": SAMPLE_ORDER,
        "out_refund_no": out_refund_no, "total_fee": 100, "refund_fee": 40,
    })
}

#[test]
fn refunds_go_over_mutual_tls_and_only_those_present_the_certificate() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock
        .client_builder()
        .base_uri(mock.https_base_uri())
        .build()
        .unwrap();

    let without = |n: &str| {
        wxpay
            .v2()
            .secapi()
            .pay()
            .refund()
            .post(json!({"xml": refund(n)}))
    };
    let with = |n: &str| {
        wxpay
            .v2()
            .secapi()
            .pay()
            .refund()
            .post(json!({"security": true, "xml": refund(n)}))
    };
    // Without `security` the TLS connection presents no certificate: the simulator answers.
    let refused = |r: wechatpay::Result<wechatpay::Response>| match r {
        Err(Error::Api { code, message, .. }) => {
            assert_eq!(code, "FAIL");
            assert!(message.contains("no client certificate"), "{message}");
        }
        other => panic!("expected the simulator's answer, got {other:?}"),
    };
    refused(without("R1"));
    let fields = with("R2").unwrap().xml().unwrap();
    assert_eq!(fields["result_code"], "SUCCESS");
    assert_eq!(fields["refund_fee"], "40");
    // The certificate's connection is not reused for a call that did not ask for it.
    refused(without("R3"));
    let fields = with("R4").unwrap().xml().unwrap();
    assert_eq!(fields["out_refund_no"], "R4");
    // Other calls over HTTPS work without a certificate.
    assert!(wxpay
        .v2()
        .pay()
        .orderquery()
        .post(query_fields(SAMPLE_ORDER, None))
        .is_ok());
    assert!(wxpay.v3().certificates().get(()).is_ok());
}

#[tokio::test]
async fn mutual_tls_works_from_the_async_door_and_from_factory_keys() {
    let mock = MockServer::start().await.unwrap();
    // wechatpay-php's keys set the certificate: the call gets as far as TLS, where this
    // client (with no key for extra roots) does not trust the simulator's demo CA.
    let from_php = Builder::factory(json!({
        "mchid": demo::MCHID,
        "secret": demo::APIV2_KEY,
        "merchant": {"cert": demo::MERCHANT_CERTIFICATE_PEM, "key": demo::MERCHANT_PRIVATE_KEY_PEM},
        "base_uri": mock.https_base_uri(),
    }))
    .unwrap();
    let err = from_php["v2/secapi/pay/refund"]
        .post_async(json!({"security": true, "xml": refund("RF")}))
        .await
        .unwrap_err();
    assert!(
        err.is_transport() && err.to_string().contains("TLS"),
        "{err:?}"
    );
    let wxpay = Client::builder()
        .mchid(demo::MCHID)
        .secret(demo::APIV2_KEY)
        .merchant_cert(
            demo::MERCHANT_CERTIFICATE_PEM,
            demo::MERCHANT_PRIVATE_KEY_PEM,
        )
        .root_certificate(demo::TLS_CA_PEM)
        .base_uri(mock.https_base_uri())
        .build()
        .unwrap();
    let r = wxpay["v2/secapi/pay/refund"]
        .post_async(json!({"security": true, "xml": refund("RA")}))
        .await
        .unwrap();
    assert_eq!(r.xml().unwrap()["result_code"], "SUCCESS");
}

#[test]
fn a_certificate_the_simulator_does_not_trust_fails_the_handshake() {
    let mock = MockServer::start_blocking().unwrap();
    // A self-signed certificate (CN 1900000001) that no merchant CA issued.
    let stranger = Client::builder()
        .mchid(demo::MCHID)
        .secret(demo::APIV2_KEY)
        .merchant_cert(
            common::fixture_url("merchant_cert.pem"),
            common::fixture_url("merchant_pkcs8.pem"),
        )
        .root_certificate(demo::TLS_CA_PEM)
        .base_uri(mock.https_base_uri())
        .build()
        .unwrap();
    // Under TLS 1.3 the refusal is an alert after the handshake, which reaches the call either
    // while it waits for its answer or, when the connection dies of it before carrying the
    // request, through the pool's note of it. Several calls give both orders a chance; each
    // must name the refusal.
    for attempt in 0..8 {
        let err = stranger
            .v2()
            .secapi()
            .pay()
            .refund()
            .post(json!({"security": true, "xml": refund("RX")}))
            .unwrap_err();
        assert!(
            err.is_transport(),
            "the handshake is refused, not answered: {err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("TLS with 127.0.0.1"),
            "call {attempt}: {text}"
        );
        assert!(
            text.contains("the server refused the client certificate"),
            "call {attempt}: the server's refusal is named: {text}"
        );
    }
}

#[test]
fn security_without_a_certificate_or_over_plain_http_says_so() {
    let mock = MockServer::start_blocking().unwrap();
    let no_cert = Client::builder()
        .mchid(demo::MCHID)
        .secret(demo::APIV2_KEY)
        .base_uri(mock.https_base_uri())
        .root_certificate(demo::TLS_CA_PEM)
        .build()
        .unwrap();
    let err = no_cert
        .v2()
        .secapi()
        .pay()
        .refund()
        .post(json!({"security": true, "xml": refund("RN")}))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(c) if c.to_string().contains("merchant_cert")),
        "{err:?}"
    );
    assert_eq!(mock.request_count(), 0);

    // Over plain HTTP there is no TLS to present a certificate in.
    let plain = mock.client_builder().build().unwrap();
    let err = plain
        .v2()
        .secapi()
        .pay()
        .refund()
        .post(json!({"security": true, "xml": refund("RP")}))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api { message, .. } if message.contains("HTTPS")),
        "{err:?}"
    );

    // A client sharing another's pool cannot present its own certificate.
    let err = Client::builder()
        .mchid(demo::MCHID)
        .secret(demo::APIV2_KEY)
        .merchant_cert(
            demo::MERCHANT_CERTIFICATE_PEM,
            demo::MERCHANT_PRIVATE_KEY_PEM,
        )
        .share_pool(&plain)
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot be combined with `share_pool`"),
        "{err}"
    );
    let sharing = Client::builder()
        .mchid(demo::MCHID)
        .secret(demo::APIV2_KEY)
        .share_pool(&plain)
        .build()
        .unwrap();
    let err = sharing
        .v2()
        .secapi()
        .pay()
        .refund()
        .post(json!({"security": true, "xml": refund("RS")}))
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

// -- acceptance 3: hostile answers ---------------------------------------------------------------

/// A loopback server that answers every request with `head` and then `body`, and counts the
/// bytes of body it managed to write before the client went away.
struct Hostile {
    addr: std::net::SocketAddr,
    written: Arc<AtomicU64>,
}

enum Body {
    Fixed(String),
    /// `n` bytes of XML-ish filler, chunked or with a Content-Length.
    Huge {
        bytes: u64,
        declared: bool,
    },
}

impl Hostile {
    fn start(body: Body) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let written = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&written);
        let body = Arc::new(body);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let count = Arc::clone(&count);
                let body = Arc::clone(&body);
                std::thread::spawn(move || {
                    // Read the whole request: closing with unread bytes would reset the
                    // connection before the client reads the answer.
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    let head_end = loop {
                        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while request.len() < head_end + length {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    match &*body {
                        Body::Fixed(text) => {
                            let _ = write!(
                                stream,
                                "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                                text.len()
                            );
                        }
                        Body::Huge { bytes, declared } => {
                            let head = if *declared {
                                format!("HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {bytes}\r\n\r\n<xml><a>")
                            } else {
                                "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ntransfer-encoding: chunked\r\n\r\n".to_string()
                            };
                            if stream.write_all(head.as_bytes()).is_err() {
                                return;
                            }
                            let chunk = vec![b'a'; 64 * 1024];
                            let mut sent = 0u64;
                            while sent < *bytes {
                                let result = if *declared {
                                    stream.write_all(&chunk)
                                } else {
                                    write!(stream, "{:x}\r\n", chunk.len())
                                        .and_then(|()| stream.write_all(&chunk))
                                        .and_then(|()| stream.write_all(b"\r\n"))
                                };
                                if result.is_err() {
                                    return;
                                }
                                sent += chunk.len() as u64;
                                count.store(sent, Ordering::SeqCst);
                            }
                        }
                    }
                });
            }
        });
        Self { addr, written }
    }

    fn call(&self) -> (wechatpay::Result<wechatpay::Response>, Duration) {
        let wxpay = Client::builder()
            .mchid(demo::MCHID)
            .secret(demo::APIV2_KEY)
            .base_uri(format!("http://{}/", self.addr))
            .build()
            .unwrap();
        let started = Instant::now();
        let result = wxpay
            .v2()
            .pay()
            .orderquery()
            .post(query_fields(SAMPLE_ORDER, None));
        (result, started.elapsed())
    }
}

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><return_code>SUCCESS</return_code><a>&lol9;</a></xml>"#;

#[test]
fn entity_bombs_external_entities_and_doctypes_are_refused_quickly() {
    for (body, needle) in [
        (BILLION_LAUGHS, "DOCTYPE"),
        (
            r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><return_code>&xxe;</return_code></xml>"#,
            "DOCTYPE",
        ),
        (
            r#"<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd"><xml><a>1</a></xml>"#,
            "DOCTYPE",
        ),
        (
            "<xml><return_code>&xxe;</return_code></xml>",
            "unknown entity",
        ),
        (
            "<xml><return_code>SUCCESS</return_code><a><![CDATA[x]]>y]]></a></xml>",
            "]]>",
        ),
    ] {
        let server = Hostile::start(Body::Fixed(body.to_string()));
        let (result, elapsed) = server.call();
        let err = result.unwrap_err();
        assert!(
            matches!(&err, Error::Decode(why) if why.contains(needle)),
            "{needle}: {err:?}"
        );
        assert!(!err.to_string().contains("/etc/passwd"), "{err}");
        assert!(
            elapsed < Duration::from_secs(2),
            "{needle}: took {elapsed:?}"
        );
    }
}

/// A 100 MB answer, its length `declared` or not, is a transport error saying `why` within
/// `bound`. The server could push only what the cap and the socket buffers took: memory stays
/// bounded by the cap, not by the answer.
fn a_100_mb_answer_is_refused(declared: bool, why: &str, bound: Duration) {
    let server = Hostile::start(Body::Huge {
        bytes: 100 * 1024 * 1024,
        declared,
    });
    let (result, elapsed) = server.call();
    let err = result.unwrap_err();
    assert!(err.is_transport(), "{err:?}");
    assert!(err.to_string().contains(why), "{err}");
    assert!(elapsed < bound, "took {elapsed:?}");
    std::thread::sleep(Duration::from_millis(200));
    let written = server.written.load(Ordering::SeqCst);
    assert!(
        written < 32 * 1024 * 1024,
        "the server wrote {written} bytes before the client hung up"
    );
}

#[test]
fn a_100_mb_answer_is_refused_at_its_headers() {
    a_100_mb_answer_is_refused(true, "declares 104857600 bytes", Duration::from_secs(5));
}

#[test]
fn a_100_mb_answer_without_a_length_stops_at_the_cap() {
    a_100_mb_answer_is_refused(
        false,
        "is larger than the 4 MiB limit",
        Duration::from_secs(10),
    );
}

#[test]
fn an_answer_over_the_xml_cap_is_refused_before_parsing() {
    // 2 MiB: under the transport's 4 MiB, over the 1 MiB an APIv2 document may have.
    let body = format!("<xml><a>{}</a></xml>", "a".repeat(2 * 1024 * 1024));
    let server = Hostile::start(Body::Fixed(body));
    let (result, _) = server.call();
    let err = result.unwrap_err();
    assert!(
        matches!(&err, Error::Decode(why) if why.contains("over the 1048576")),
        "{err:?}"
    );
}
