//! The core client end to end against a loopback server: the call styles, the failure
//! matrix on both doors, signatures checked by the openssl command line, the blocking door in
//! awkward places, configuration errors and redacted Debug output.

mod common;

use std::time::Duration;

use common::{Fault, TestServer};
use wechatpay::error::{RequestError, TimeoutStage, VerifyError};
use wechatpay::http::Method;
use wechatpay::{json, Builder, Client, Error, PlatformKeys};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn string_and_index_styles_reach_the_server_signed_and_verified_blocking_and_async() {
    let server = TestServer::start();
    let wxpay = server.client();
    for status in [200u16, 202, 204] {
        let template = format!("v3/status/{{card_id}}/{status}");
        let opts = json!({"card_id": "pbLatjvWOibDc5-TBnbUk1pD12o0", "json": {"reason": "用户违反会员条例"}});
        let responses = vec![
            wxpay.chain(&template).post(&opts).unwrap(),
            wxpay[template.as_str()].post(&opts).unwrap(),
            block_on(wxpay.chain(&template).post_async(&opts)).unwrap(),
            block_on(wxpay[template.as_str()].post_async(&opts)).unwrap(),
        ];
        for r in responses {
            assert_eq!(r.status(), status);
        }
        let seen = server.seen();
        assert!(
            seen.iter().all(|s| s.signature_ok),
            "every request verified with the merchant key"
        );
        let last = server.last();
        assert_eq!(
            last.path_and_query,
            format!("/v3/status/pbLatjvWOibDc5-TBnbUk1pD12o0/{status}")
        );
        assert_eq!(last.body, json!({"reason": "用户违反会员条例"}).to_string());
        assert_eq!(last.headers["wechatpay-serial"], common::PUB_KEY_ID);
        assert!(last.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("wechatpay-chain/"));
    }
}

#[test]
fn the_echoed_body_is_the_verified_body() {
    let server = TestServer::start();
    let r = server
        .client()
        .chain("v3/pay/transactions/out-trade-no/{out_trade_no}")
        .get(json!({"out_trade_no": "1217752501201407033233368018", "query": {"mchid": "1230000109"}}))
        .unwrap();
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(
        body["path"],
        "/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1230000109"
    );
    assert_eq!(r.request_id(), Some("08F78BB5AF0610D302A5B7DA0C40F8F2"));
}

/// Runs one call both ways and returns both errors.
fn both_doors(server: &TestServer, fault: Fault) -> [Error; 2] {
    let wxpay = server.client();
    server.fault(fault.clone());
    let blocking = wxpay
        .chain("v3/x")
        .get(())
        .expect_err("blocking call must fail");
    server.fault(fault);
    let asynchronous =
        block_on(wxpay.chain("v3/x").get_async(())).expect_err("async call must fail");
    [blocking, asynchronous]
}

#[test]
fn non_2xx_answers_become_api_errors_with_code_and_message() {
    let server = TestServer::start();
    for (status, body) in [
        (
            400,
            r#"{"code":"PARAM_ERROR","message":"brand_id is required"}"#,
        ),
        (
            404,
            r#"{"code":"RESOURCE_NOT_EXISTS","message":"no such card"}"#,
        ),
        (500, r#"{"code":"SYSTEM_ERROR","message":"try again"}"#),
        (503, "not json at all"),
    ] {
        for err in both_doors(&server, Fault::Status(status, body)) {
            match err {
                Error::Api {
                    status: s,
                    code,
                    message,
                    body: raw,
                    request_id,
                } => {
                    assert_eq!(s, status);
                    assert_eq!(raw, body.as_bytes(), "raw body kept");
                    assert_eq!(
                        request_id.as_deref(),
                        Some("08F78BB5AF0610D302A5B7DA0C40F8F2")
                    );
                    if status == 503 {
                        assert_eq!((code.as_str(), message.as_str()), ("", ""));
                    } else {
                        let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
                        assert_eq!(code, parsed["code"]);
                        assert_eq!(message, parsed["message"]);
                    }
                }
                other => panic!("expected Error::Api, got {other:?}"),
            }
        }
    }
}

#[test]
fn http_errors_false_returns_the_response_instead() {
    let server = TestServer::start();
    server.fault(Fault::Status(404, r#"{"code":"NOT_FOUND","message":"x"}"#));
    let r = server
        .client()
        .chain("v3/x")
        .get(json!({"http_errors": false}))
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn each_missing_header_is_named() {
    let server = TestServer::start();
    for header in [
        "Wechatpay-Timestamp",
        "Wechatpay-Nonce",
        "Wechatpay-Serial",
        "Wechatpay-Signature",
    ] {
        for err in both_doors(&server, Fault::DropHeader(header)) {
            assert!(
                matches!(err, Error::Verify(VerifyError::MissingHeader(h)) if h == header),
                "{err:?}"
            );
            assert!(err.to_string().contains(header), "{err}");
        }
    }
}

#[test]
fn a_timestamp_360_seconds_off_either_way_is_clock_skew() {
    let server = TestServer::start();
    for skew in [360, -360] {
        for err in both_doors(&server, Fault::Skew(skew)) {
            match err {
                Error::Verify(VerifyError::ClockSkew {
                    skew_seconds,
                    allowed_seconds,
                }) => {
                    assert!((skew_seconds - skew).abs() <= 2, "{skew_seconds} vs {skew}");
                    assert_eq!(allowed_seconds, 300);
                }
                other => panic!("expected ClockSkew, got {other:?}"),
            }
        }
    }
    // Within the window is fine.
    server.fault(Fault::Skew(-200));
    server.client().chain("v3/x").get(()).unwrap();
}

#[test]
fn an_unknown_serial_and_a_garbage_signature_are_named() {
    let server = TestServer::start();
    for err in both_doors(&server, Fault::UnknownSerial) {
        assert_eq!(
            err.to_string(),
            "response verification failed: Wechatpay-Serial `PUB_KEY_ID_9999` is not a trusted key"
        );
        assert!(matches!(err, Error::Verify(VerifyError::UnknownSerial(_))));
    }
    for err in both_doors(&server, Fault::GarbageSignature) {
        assert!(
            matches!(err, Error::Verify(VerifyError::BadSignature)),
            "{err:?}"
        );
    }
}

#[test]
fn a_key_added_at_runtime_is_trusted_by_every_clone() {
    let server = TestServer::start();
    let wxpay = common::builder(&server.base_uri())
        .cert(
            "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            common::fixture_url("platform_cert.pem"),
        )
        .build()
        .unwrap();
    let wxpay = wxpay.with_stack(wxpay.stack());
    wxpay.platform_keys().remove(common::PUB_KEY_ID);
    let clone = wxpay.clone();
    assert!(matches!(
        clone.chain("v3/x").get(()),
        Err(Error::Verify(VerifyError::UnknownSerial(_)))
    ));
    let key =
        wechatpay::crypto::Rsa::from_public(&common::fixture_url("platform_public.pem")).unwrap();
    wxpay.platform_keys().insert(common::PUB_KEY_ID, key);
    clone.chain("v3/x").get(()).unwrap();
}

// -- openssl interop ---------------------------------------------------------------------

#[test]
fn openssl_verifies_the_signature_the_client_sent() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let server = TestServer::start();
    server
        .client()
        .chain("v3/certificates?x=1")
        .post(json!({"json": {"a": "中文"}}))
        .unwrap();
    let seen = server.last();
    let auth = seen.headers["authorization"].to_str().unwrap();
    let fields = common::authorization_fields(auth).unwrap();
    // Rebuild the message from the wire, independently of the crate's Formatter.
    let expected = format!(
        "POST\n/v3/certificates?x=1\n{}\n{}\n{}\n",
        common::field(&fields, "timestamp"),
        common::field(&fields, "nonce_str"),
        String::from_utf8_lossy(&seen.body)
    );
    assert_eq!(seen.message, expected.as_bytes());
    let nonce = common::field(&fields, "nonce_str");
    assert_eq!(nonce.len(), 32);
    assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric()));

    assert!(common::openssl_verifies(
        common::fixture("merchant_spki.pem"),
        expected.as_bytes(),
        common::field(&fields, "signature"),
    ));
}

#[test]
fn a_response_signed_by_openssl_verifies_in_the_client() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let body = br#"{"signed":"by openssl"}"#;
    let ts = wechatpay::crypto::Formatter::timestamp().to_string();
    let nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
    let signature = common::openssl_sign(
        common::fixture("platform_private.pem"),
        &[ts.as_bytes(), b"\n", nonce.as_bytes(), b"\n", body, b"\n"].concat(),
    );

    let mut headers = wechatpay::http::HeaderMap::new();
    headers.insert("Wechatpay-Timestamp", ts.parse().unwrap());
    headers.insert("Wechatpay-Nonce", nonce.parse().unwrap());
    headers.insert("Wechatpay-Serial", common::PUB_KEY_ID.parse().unwrap());
    headers.insert("Wechatpay-Signature", signature.parse().unwrap());
    let keys = server_keys();
    let now = wechatpay::crypto::Formatter::timestamp();
    wechatpay::verify::verify_response(&headers, body, now, 300, &keys)
        .expect("openssl signature verifies");
    assert_eq!(
        wechatpay::verify::verify_response(
            &headers,
            b"{\"signed\":\"by someone else\"}",
            now,
            300,
            &keys
        ),
        Err(VerifyError::BadSignature)
    );
}

fn server_keys() -> wechatpay::PlatformKeys {
    let keys = wechatpay::PlatformKeys::new();
    keys.insert(
        common::PUB_KEY_ID,
        wechatpay::crypto::Rsa::from_public(&common::fixture_url("platform_public.pem")).unwrap(),
    );
    keys
}

// -- the blocking door -------------------------------------------------------------------

#[test]
fn blocking_calls_work_inside_spawn_blocking_and_after_a_runtime_is_dropped() {
    let server = TestServer::start();
    let wxpay = server.client();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let inside = wxpay.clone();
    let status = rt
        .block_on(async move {
            tokio::task::spawn_blocking(move || inside.chain("v3/a/204").post(())).await
        })
        .unwrap()
        .unwrap()
        .status();
    assert_eq!(status, 204);
    // An async call made on that runtime, then the runtime is dropped.
    let r = rt.block_on(wxpay.chain("v3/b").get_async(())).unwrap();
    assert_eq!(r.status(), 200);
    // The two calls may have used two connections (the first one's can still be on its way
    // back to the pool when the second starts); either may serve the next call.
    let ports_before_drop: Vec<u16> = server.seen().iter().map(|s| s.remote.port()).collect();
    drop(rt);

    assert_eq!(wxpay.chain("v3/c/204").delete(()).unwrap().status(), 204);
    let port = server.last().remote.port();
    assert!(
        ports_before_drop.contains(&port),
        "no pooled connection outlived the runtime the calls were made from: \
         {port} is not one of {ports_before_drop:?}"
    );
    let from_thread = wxpay.clone();
    std::thread::spawn(move || from_thread.chain("v3/d/202").patch(()).unwrap().status())
        .join()
        .map(|s| assert_eq!(s, 202))
        .unwrap();
}

#[test]
fn async_calls_work_on_a_current_thread_runtime_and_futures_are_send() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let server = TestServer::start();
    let wxpay = server.client();
    let fut = wxpay.chain("v3/x").get_async(());
    assert_send(&fut);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(fut).unwrap().status(), 200);
    let spawned = rt.block_on(async move { tokio::spawn(wxpay.chain("v3/y").put_async(())).await });
    assert_eq!(spawned.unwrap().unwrap().status(), 200);
}

// -- bad input never sends ---------------------------------------------------------------

#[test]
fn a_missing_path_variable_fails_before_anything_is_sent() {
    let server = TestServer::start();
    let err = server
        .client()
        .chain("v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable")
        .post(json!({"card_id": "c"}))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Request(RequestError::MissingVariable(v)) if v == "code"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "invalid request: path variable `code` has no value"
    );
    assert!(server.seen().is_empty(), "nothing reached the server");
}

#[test]
fn path_values_cannot_change_the_path_shape_on_the_wire() {
    let server = TestServer::start();
    let wxpay = server.client();
    wxpay
        .chain("v3/a/{x}/b")
        .get(json!({"x": "c/v2/pay?x=1#f%2F"}))
        .unwrap();
    assert_eq!(
        server.last().path_and_query,
        "/v3/a/c%2Fv2%2Fpay%3Fx%3D1%23f%252F/b"
    );
    // Dot segments, plain or encoded, are refused rather than sent (tests/security.rs).
    let sent = server.seen().len();
    for value in ["..", "../../v2/pay"] {
        let err = wxpay
            .chain("v3/a/{x}/b")
            .get(json!({ "x": value }))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Request(RequestError::InvalidVariable { .. })),
            "{err:?}"
        );
    }
    assert_eq!(server.seen().len(), sent);
    wxpay
        .chain("v3/a/{+x}")
        .get(json!({"x": "4200/00 A+b%2F"}))
        .unwrap();
    assert_eq!(server.last().path_and_query, "/v3/a/4200/00%20A+b%2F");
}

// -- timeouts ----------------------------------------------------------------------------

#[test]
fn a_slow_server_times_out_with_the_total_limit() {
    let server = TestServer::start();
    server.fault(Fault::Delay(Duration::from_secs(3)));
    let wxpay = common::builder(&server.base_uri())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = wxpay.chain("v3/slow").get(()).unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutStage::Total)),
        "{err:?}"
    );
    assert!(err.is_timeout());
    assert!(started.elapsed() < Duration::from_secs(2));
    // A per-call option overrides the client's limit.
    server.fault(Fault::Delay(Duration::from_millis(500)));
    wxpay.chain("v3/slow").get(json!({"timeout": 5})).unwrap();
}

#[test]
fn a_refused_connection_is_a_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let wxpay = common::builder(&format!("http://127.0.0.1:{port}/"))
        .build()
        .unwrap();
    let err = wxpay.chain("v3/x").get(()).unwrap_err();
    assert!(err.is_transport(), "{err:?}");
}

// -- configuration -----------------------------------------------------------------------

#[test]
fn build_reports_every_problem_at_once() {
    let err = Client::builder()
        .cert("", "nonsense")
        .base_uri("ftp://x")
        .build()
        .unwrap_err();
    let Error::Config(config) = err else {
        panic!("expected Config")
    };
    let all = config.problems().join("\n");
    for needle in [
        "`mchid`",
        "`serial`",
        "`private_key` (the merchant private key) is required",
        "`cert`: an entry has an empty serial",
        "`cert`: at least one WeChat Pay platform certificate",
        "`base_uri`",
    ] {
        assert!(all.contains(needle), "missing {needle} in:\n{all}");
    }
}

/// Problems name what the caller wrote: the builder's methods, or wechatpay-php's keys when
/// the configuration came through `Builder::factory`.
#[test]
fn problems_name_the_setting_as_the_caller_wrote_it() {
    let err = Builder::factory(json!({"certs": {}, "timeout": 0})).unwrap_err();
    let text = err.to_string();
    for needle in [
        "`privateKey` (the merchant private key) is required",
        "`certs`: at least one",
        "`timeout` must be a positive number of seconds",
    ] {
        assert!(text.contains(needle), "missing {needle} in: {text}");
    }
    assert!(!text.contains("`private_key`"), "{text}");
}

#[test]
fn zero_limits_and_caps_are_refused_by_the_builder() {
    let err = common::builder("https://api.mch.weixin.qq.com/")
        .timeout(Duration::ZERO)
        .connect_timeout(Duration::ZERO)
        .response_timeout(Duration::ZERO)
        .read_timeout(Duration::ZERO)
        .max_body_bytes(0)
        .build()
        .unwrap_err();
    let Error::Config(config) = err else {
        panic!("expected Config")
    };
    for setting in [
        "timeout",
        "connect_timeout",
        "response_timeout",
        "read_timeout",
        "max_body_bytes",
    ] {
        let needle = format!("`{setting}` must be more than zero");
        assert!(
            config.problems().iter().any(|p| p == &needle),
            "missing {needle} in {:?}",
            config.problems()
        );
    }
    // The same limit per call is refused as clearly, before anything is sent.
    let wxpay = common::builder("http://127.0.0.1:9/").build().unwrap();
    let err = wxpay.chain("v3/x").get(json!({"timeout": 0})).unwrap_err();
    assert!(
        matches!(&err, Error::Request(RequestError::InvalidOption(why)) if why.contains("`timeout`")),
        "{err}"
    );
}

/// A store shared with other clients is not touched by a build that fails, and a bad
/// middleware edit is reported with the other problems.
#[test]
fn a_failed_build_leaves_a_shared_key_store_alone() {
    let shared = PlatformKeys::new();
    let err = Client::builder()
        .platform_keys(shared.clone())
        .cert(
            common::PUB_KEY_ID,
            common::fixture_url("platform_public.pem"),
        )
        .middleware(|stack| {
            stack.before(
                "no-such-layer",
                "x",
                wechatpay::middleware::VerifierLayer::new(PlatformKeys::new()),
            )?;
            Ok(())
        })
        .build()
        .unwrap_err();
    assert!(shared.is_empty(), "{:?}", shared.ids());
    let text = err.to_string();
    assert!(text.contains("`mchid`"), "{text}");

    let err = common::builder("https://api.mch.weixin.qq.com/")
        .platform_keys(shared.clone())
        .middleware(|stack| {
            stack.before(
                "no-such-layer",
                "x",
                wechatpay::middleware::VerifierLayer::new(PlatformKeys::new()),
            )?;
            Ok(())
        })
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`middleware`: middleware refused the call: no layer named `no-such-layer`"),
        "{text}"
    );
    assert!(shared.is_empty(), "{:?}", shared.ids());
}

#[test]
fn certs_holding_the_merchant_serial_or_an_unparsable_key_are_refused() {
    let err = common::builder("https://api.mch.weixin.qq.com/")
        .cert(
            common::MERCHANT_SERIAL.to_lowercase(),
            common::fixture_url("merchant_cert.pem"),
        )
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("the merchant's own serial"),
        "{err}"
    );

    let err = common::builder("https://api.mch.weixin.qq.com/")
        .private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        .cert("PUB_KEY_ID_2", "file:///nonexistent/pub.pem")
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`private_key`: malformed key"), "{text}");
    assert!(
        text.contains("`cert[PUB_KEY_ID_2]`: cannot read /nonexistent/pub.pem"),
        "{text}"
    );
}

#[test]
fn factory_takes_wechatpay_php_keys() {
    let server = TestServer::start();
    let wxpay = Builder::factory(json!({
        "mchid": common::MCHID,
        "serial": common::MERCHANT_SERIAL,
        "privateKey": common::fixture_url("merchant_pkcs1.pem"),
        "certs": {common::PUB_KEY_ID: common::fixture_url("platform_public.pem")},
        "base_uri": server.base_uri(),
        "headers": {"X-Merchant": "demo"},
        "timeout": 5,
    }))
    .unwrap();
    wxpay.chain("v3/x").get(()).unwrap();
    assert_eq!(server.last().headers["x-merchant"], "demo");

    let err = Builder::factory(json!({"mchid": 1, "privateKey": 2, "certs": {}, "handler": "x"}))
        .unwrap_err();
    let text = err.to_string();
    for needle in [
        "`serial`",
        "`privateKey` must be a string",
        "`certs`: at least one",
        "`handler` is not a configuration key",
    ] {
        assert!(text.contains(needle), "missing {needle} in {text}");
    }
}

#[test]
fn debug_output_holds_no_key_material() {
    let pem = std::fs::read_to_string(common::fixture("merchant_pkcs8.pem")).unwrap();
    let body_line = pem.lines().nth(1).unwrap().to_string();
    let builder = common::builder("https://api.mch.weixin.qq.com/").private_key(pem.clone());
    let client = common::builder("https://api.mch.weixin.qq.com/")
        .private_key(pem)
        .build()
        .unwrap();
    let outputs = [
        format!("{builder:?}"),
        format!("{client:?}"),
        format!("{:?}", common::merchant_key()),
        format!("{:?}", client.stack()),
        format!("{:?}", client.chain("v3/x")),
    ];
    for out in outputs {
        assert!(!out.contains(&body_line), "key material leaked: {out}");
        assert!(!out.contains("BEGIN"), "PEM leaked: {out}");
    }
    assert!(format!("{:?}", common::merchant_key()).contains("redacted"));
}

#[test]
fn build_assembles_without_sending() {
    let wxpay = common::builder("https://api.mch.weixin.qq.com/")
        .build()
        .unwrap();
    let req = wxpay
        .chain("v3/refund/domestic/refunds/{out_refund_no}")
        .build(Method::GET, json!({"out_refund_no": "1217752501201407033233368018", "query": {"sub_mchid": "1900000109"}}))
        .unwrap();
    assert_eq!(
        req.uri().to_string(),
        "https://api.mch.weixin.qq.com/v3/refund/domestic/refunds/1217752501201407033233368018?sub_mchid=1900000109"
    );
    assert!(
        req.headers().get("authorization").is_none(),
        "build() does not sign"
    );
}

/// Found by the `options` fuzz target: `http::Uri` parses `https://host/a#b?token=t` as `/a`,
/// dropping the fragment and the query after it, so an absolute URL with a `#` was sent to a
/// shorter path without its query (and the call's own `query` was lost the same way).
#[test]
fn an_absolute_url_with_a_fragment_is_refused() {
    let wxpay = common::builder("https://api.mch.weixin.qq.com/")
        .build()
        .unwrap();
    for (url, opts) in [
        (
            "https://api.mch.weixin.qq.com/&#x0;le?token=t",
            json!({"query": {"tar_type": "GZIP"}}),
        ),
        (
            "https://api.mch.weixin.qq.com/v3/billdownload/file#x",
            json!({}),
        ),
    ] {
        let err = wxpay.chain(url).build(Method::GET, &opts).unwrap_err();
        assert!(
            matches!(&err, Error::Request(RequestError::InvalidUri(why)) if why.contains("`#`")),
            "{url}: {err:?}"
        );
    }
    // Percent-encoded, it is part of the path.
    let req = wxpay
        .chain("https://api.mch.weixin.qq.com/v3/billdownload/a%23b?token=t")
        .build(Method::GET, json!({"query": {"tar_type": "GZIP"}}))
        .unwrap();
    assert_eq!(
        req.uri().path_and_query().unwrap().as_str(),
        "/v3/billdownload/a%23b?token=t&tar_type=GZIP"
    );
}

// -- unsigned downloads ------------------------------------------------------------------

#[test]
fn documented_downloads_pass_unsigned_and_nothing_else_does() {
    let server = TestServer::start();
    let wxpay = server.client();
    server.fault(Fault::DropHeader("Wechatpay-Signature"));
    let r = wxpay
        .chain("v3/billdownload/file")
        .get(json!({"query": {"token": "t"}}))
        .unwrap();
    assert_eq!(r.status(), 200);
    server.fault(Fault::DropHeader("Wechatpay-Signature"));
    let err = wxpay.chain("v3/bill/tradebill").get(()).unwrap_err();
    assert!(matches!(
        err,
        Error::Verify(VerifyError::MissingHeader("Wechatpay-Signature"))
    ));
    // A POST to a download path is not a download.
    server.fault(Fault::DropHeader("Wechatpay-Signature"));
    assert!(wxpay.chain("v3/billdownload/file").post(()).is_err());
}

#[test]
fn the_unsigned_download_list_is_the_catalogs_binary_endpoints() {
    let catalog = include_str!("../src/catalog/endpoints.jsonl");
    let mut binary: Vec<(String, String)> = catalog
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["response"]["kind"] == "binary")
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_string(),
                e["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    binary.sort();
    let mut listed: Vec<(String, String)> = wechatpay::download::UNSIGNED_DOWNLOADS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    listed.sort();
    assert_eq!(listed, binary);
}

#[test]
fn a_method_chain_node_is_a_chain_in_every_way() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let server = TestServer::start();
    let wxpay = server.client();
    let cards = wxpay.v3().marketing().membercard_open().cards();
    assert_eq!(
        format!("{cards:?}"),
        r#"V3MarketingMembercardOpenCards(Chain("v3/marketing/membercard-open/cards"))"#
    );
    let copy = cards.clone();
    assert_eq!(copy.path(), "v3/marketing/membercard-open/cards");
    assert_eq!(
        cards.chain("{card_id}/codes").path(),
        "v3/marketing/membercard-open/cards/{card_id}/codes"
    );
    assert_eq!(
        cards["{card_id}"].path(),
        "v3/marketing/membercard-open/cards/{card_id}"
    );
    let opts = json!({"card_id": "c", "code": "1", "json": {"reason": "r"}});
    // The future owns what it needs, so it outlives the node it came from.
    let future = copy
        ._card_id_()
        .codes()
        ._code_()
        .unavailable()
        .post_async(&opts);
    assert_send(&future);
    assert_eq!(block_on(future).unwrap().status(), 200);
    assert_eq!(
        server.last().path_and_query,
        "/v3/marketing/membercard-open/cards/c/codes/1/unavailable"
    );
}

#[test]
fn all_six_styles_get_verified_200_202_and_204() {
    const TEMPLATE: &str = "v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable";
    let server = TestServer::start();
    let wxpay = server.client();
    let opts = json!({"card_id": "pbLatjvWOibDc5-TBnbUk1pD12o0", "code": "478515832665", "json": {"reason": "r"}});
    let method = || {
        wxpay
            .v3()
            .marketing()
            .membercard_open()
            .cards()
            ._card_id_()
            .codes()
            ._code_()
            .unavailable()
    };
    for (status, body) in [(200u16, "{\"ok\":true}"), (202, ""), (204, "")] {
        let mut statuses = Vec::new();
        for style in 0..6 {
            server.fault(Fault::Status(status, body));
            let r = match style {
                0 => method().post(&opts),
                1 => block_on(method().post_async(&opts)),
                2 => wxpay.chain(TEMPLATE).post(&opts),
                3 => block_on(wxpay.chain(TEMPLATE).post_async(&opts)),
                4 => wxpay[TEMPLATE].post(&opts),
                _ => block_on(wxpay[TEMPLATE].post_async(&opts)),
            };
            let r = r.unwrap_or_else(|e| panic!("style {style}, status {status}: {e}"));
            assert_eq!(r.bytes(), body.as_bytes());
            statuses.push(r.status().as_u16());
        }
        assert_eq!(statuses, [status; 6]);
        let seen = server.seen();
        assert!(seen.iter().all(|s| s.signature_ok));
        assert!(seen.iter().all(|s| s.path_and_query
            == "/v3/marketing/membercard-open/cards/pbLatjvWOibDc5-TBnbUk1pD12o0/codes/478515832665/unavailable"));
    }
}

// -- a new user's mistakes, caught before anything is sent -----------------------------------

/// An option key that is neither an option nor a placeholder of the path is refused by name,
/// with the closest known name, on both doors; the server sees nothing.
#[test]
fn a_mistyped_option_key_is_refused_naming_it_and_nothing_is_sent() {
    let server = TestServer::start();
    let wxpay = server.client();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let template = "v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable";
    for (opts, key, suggestion) in [
        (
            json!({"card_id": "c", "code": "1", "jsom": {"reason": "r"}}),
            "jsom",
            Some("json"),
        ),
        (
            json!({"card-id": "c", "code": "1"}),
            "card-id",
            Some("card_id"),
        ),
        (
            json!({"card_id": "c", "code": "1", "zzzzzz": 1}),
            "zzzzzz",
            None,
        ),
    ] {
        let chain = wxpay.chain(template);
        let blocking = chain.post(&opts).unwrap_err();
        let via_async = rt.block_on(chain.post_async(&opts)).unwrap_err();
        for err in [blocking, via_async] {
            match &err {
                Error::Request(RequestError::UnknownOption {
                    key: k,
                    suggestion: s,
                    ..
                }) => {
                    assert_eq!(k, key);
                    assert_eq!(s.as_deref(), suggestion);
                }
                other => panic!("expected UnknownOption for {key}, got {other:?}"),
            }
            let text = err.to_string();
            assert!(text.contains(&format!("`{key}`")), "{text}");
            if let Some(s) = suggestion {
                assert!(text.ends_with(&format!("did you mean `{s}`?")), "{text}");
            }
        }
    }
    // `json` that is neither an object nor an array is refused too.
    let err = wxpay
        .chain("v3/x")
        .post(json!({"json": "reason=r"}))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Request(RequestError::InvalidOption(why)) if why.contains("`json` must be an object or an array, not a string")),
        "{err}"
    );
    assert!(server.seen().is_empty(), "{:?}", server.seen());
}

/// An absolute URL (a bill's `download_url`) on the client's own origin is sent exactly as
/// given; one on another host is refused before anything is sent, never glued onto the base.
#[test]
fn an_absolute_url_is_followed_on_the_base_origin_and_refused_elsewhere() {
    let server = TestServer::start();
    let wxpay = server.client();
    let url = format!(
        "{}v3/billdownload/file?token=6XIv5TUPto7pByrTZKsB%2FA&tartype=gzip",
        server.base_uri()
    );
    wxpay.chain(&url).get(()).unwrap();
    assert_eq!(
        server.last().path_and_query,
        "/v3/billdownload/file?token=6XIv5TUPto7pByrTZKsB%2FA&tartype=gzip"
    );
    assert!(server.last().signature_ok);

    let elsewhere = "https://evil.example/v3/billdownload/file?token=t";
    let before = server.seen().len();
    let err = wxpay.chain(elsewhere).get(()).unwrap_err();
    assert!(
        matches!(&err, Error::Request(RequestError::InvalidUri(why)) if why.contains(elsewhere)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("neither on the client's base uri"),
        "{err}"
    );
    assert_eq!(server.seen().len(), before, "nothing was sent");
}
