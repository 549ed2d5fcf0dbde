//! What an attacker controls cannot move a call: path variables cannot change the path,
//! header text cannot add a header, a base URI cannot carry credentials or another scheme, an
//! answer with its signature headers duplicated or oversized is refused, a redirect is never
//! followed, and the clock window holds to the second on both sides.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::TestServer;
use http::{HeaderMap, HeaderValue, Method};
use wechatpay::crypto::{Formatter, Rsa};
use wechatpay::error::{RequestError, VerifyError};
use wechatpay::verify::verify_response;
use wechatpay::{json, Error, PlatformKeys, RequestOptions};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

// -- path variables ---------------------------------------------------------------------------

#[test]
fn a_path_variable_stays_inside_its_segment() {
    let server = TestServer::start();
    let wxpay = server.client();
    let path = |template: &str, value: &str| {
        wxpay
            .chain(template)
            .build(Method::GET, json!({ "x": value }))
            .map(|r| r.uri().path_and_query().unwrap().as_str().to_string())
    };
    for (value, simple, reserved) in [
        ("a/b", "/v3/a%2Fb/end", "/v3/a/b/end"),
        ("a?q=1", "/v3/a%3Fq%3D1/end", "/v3/a%3Fq=1/end"),
        ("a#f", "/v3/a%23f/end", "/v3/a%23f/end"),
        ("a%2Fb", "/v3/a%252Fb/end", "/v3/a%2Fb/end"),
        (
            "a\r\nX-Injected: 1",
            "/v3/a%0D%0AX-Injected%3A%201/end",
            "/v3/a%0D%0AX-Injected:%201/end",
        ),
        ("a\0b", "/v3/a%00b/end", "/v3/a%00b/end"),
        ("...", "/v3/.../end", "/v3/.../end"),
    ] {
        assert_eq!(
            path("v3/{x}/end", value).unwrap(),
            simple,
            "{{x}} <- {value:?}"
        );
        assert_eq!(
            path("v3/{+x}/end", value).unwrap(),
            reserved,
            "{{+x}} <- {value:?}"
        );
    }
    assert!(server.seen().is_empty());
}

/// RFC 3986 makes `%2E` equal to `.`, so a normalising hop would resolve any of these as a
/// dot segment and route the call elsewhere than the path it was signed for: each is refused
/// before anything is sent, on both doors.
#[test]
fn dot_segments_are_refused_in_every_spelling_before_sending() {
    let server = TestServer::start();
    let wxpay = server.client();
    let reserved = [
        ".",
        "..",
        "%2e",
        "%2E",
        "%2e%2e",
        "%2E%2E",
        "%2e%2E",
        ".%2e",
        "%2E.",
        "../ok",
        "a/../ok",
        "a/./b",
        "a/%2E%2E/ok",
        "..%2Fok",
        "%2e%2e%2fok",
    ];
    let simple = [".", "..", "../ok", "./", "a/.."];
    let cases = reserved
        .iter()
        .map(|v| ("v3/echo/{+x}/ok", *v))
        .chain(simple.iter().map(|v| ("v3/echo/{x}/ok", *v)));
    for (template, value) in cases {
        let opts = json!({ "x": value });
        for outcome in [
            wxpay.chain(template).get(&opts),
            block_on(wxpay.chain(template).get_async(&opts)),
        ] {
            match outcome {
                Err(Error::Request(RequestError::InvalidVariable { name, reason })) => {
                    assert_eq!(name, "x");
                    assert!(reason.contains("`.` or `..` path segment"), "{reason}");
                }
                other => panic!("{template} <- {value:?}: {other:?}"),
            }
        }
    }
    assert!(server.seen().is_empty(), "nothing was sent");
}

#[test]
fn chain_placeholders_lists_what_the_options_must_fill() {
    let wxpay = common::builder("https://api.mch.weixin.qq.com/")
        .build()
        .unwrap();
    let chain =
        wxpay.chain("v3/marketing/busifavor/users/{openid}/coupons/{+coupon_code}/appids/{appid}");
    assert_eq!(chain.placeholders(), ["openid", "coupon_code", "appid"]);
    assert!(wxpay.chain("v3/certificates").placeholders().is_empty());
    assert_eq!(
        wxpay
            .v3()
            .pay()
            .transactions()
            .id()
            ._transaction_id_()
            .placeholders(),
        ["transaction_id"]
    );
    // Filling exactly those is a call; one more key is refused with the closest name.
    let e = chain
        .build(
            Method::GET,
            json!({"openid": "o", "coupon_code": "c", "appid": "a", "app_id": "x"}),
        )
        .unwrap_err();
    assert!(e.to_string().contains("did you mean `appid`"), "{e}");
}

// -- headers ----------------------------------------------------------------------------------

#[test]
fn headers_with_cr_lf_or_nul_are_refused_before_sending() {
    let server = TestServer::start();
    let wxpay = server.client();
    for (name, value) in [
        ("X-A", "a\r\nInjected: 1"),
        ("X-A", "a\nb"),
        ("X-A", "a\rb"),
        ("X-A", "a\0b"),
        ("X-A\r\nInjected", "1"),
        ("X-A\0", "1"),
        ("X A", "1"),
        ("", "1"),
    ] {
        for outcome in [
            wxpay.chain("v3/x").get(json!({"headers": { name: value }})),
            block_on(
                wxpay
                    .chain("v3/x")
                    .get_async(RequestOptions::new().header(name, value)),
            ),
        ] {
            assert!(
                matches!(outcome, Err(Error::Request(RequestError::InvalidHeader(_)))),
                "{name:?}: {value:?}: {outcome:?}"
            );
        }
        // The client's own defaults are checked when it is built.
        let e = common::builder(&server.base_uri())
            .header(name, value)
            .build()
            .unwrap_err();
        assert!(
            matches!(&e, Error::Config(c) if c.problems().iter().any(|p| p.starts_with("`header`"))),
            "{name:?}: {value:?}: {e:?}"
        );
    }
    assert!(server.seen().is_empty());
}

// -- base URIs --------------------------------------------------------------------------------

#[test]
fn a_base_uri_with_a_query_or_a_fragment_is_refused_at_build_and_per_call() {
    let server = TestServer::start();
    let wxpay = server.client();
    // Each on its own: a query would be sent with every call, and `http::Uri` drops a fragment
    // without a word.
    for base in [
        format!("{}?sub_mchid=1", server.base_uri()),
        format!("{}#v3", server.base_uri()),
    ] {
        let e = common::builder(&base).build().unwrap_err();
        assert!(
            matches!(&e, Error::Config(c) if c.problems()[0].contains("must not have a query or fragment")),
            "{base}: {e:?}"
        );
        let e = wxpay
            .chain("v3/x")
            .get(json!({ "base_uri": base }))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Request(RequestError::InvalidUri(m)) if m.contains(&base)),
            "{base}: {e:?}"
        );
    }
    assert!(server.seen().is_empty());
}

#[test]
fn a_base_uri_with_credentials_or_another_scheme_is_refused_at_build_and_per_call() {
    let server = TestServer::start();
    let wxpay = server.client();
    let credentials = [
        "https://merchant:s3cret@api.mch.weixin.qq.com/",
        "https://merchant@api.mch.weixin.qq.com/",
        "http://:s3cret@127.0.0.1:1/",
    ];
    let schemes = [
        "ftp://api.mch.weixin.qq.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ws://api.mch.weixin.qq.com/",
        "api.mch.weixin.qq.com",
    ];
    for base in credentials.iter().chain(&schemes) {
        let e = common::builder(base).build().unwrap_err();
        let Error::Config(config) = &e else {
            panic!("{base}: {e:?}")
        };
        assert!(
            config.problems()[0].starts_with("`base_uri`: "),
            "{base}: {e}"
        );
        assert!(!e.to_string().contains("s3cret"), "{e}");

        let e = wxpay
            .chain("v3/x")
            .get(json!({ "base_uri": base }))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Request(RequestError::InvalidUri(_))),
            "{base}: {e:?}"
        );
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
    // An absolute URL with credentials, even on a WeChat Pay host, is refused too.
    let e = wxpay
        .chain("https://merchant:s3cret@api.mch.weixin.qq.com/v3/billdownload/file?token=t")
        .get(())
        .unwrap_err();
    assert!(
        matches!(&e, Error::Request(RequestError::InvalidUri(_))),
        "{e:?}"
    );
    assert!(!e.to_string().contains("s3cret"), "{e}");
    // A failover host is held to the same rules.
    let e = common::builder(&server.base_uri())
        .retry(
            wechatpay::RetryPolicy::default().failover("https://m:s3cret@api2.mch.weixin.qq.com/"),
        )
        .build()
        .unwrap_err();
    assert!(
        e.to_string().contains("credentials") && !e.to_string().contains("s3cret"),
        "{e}"
    );
    assert!(server.seen().is_empty());
}

// -- answers: duplicated and oversized signature headers, redirects --------------------------

/// A raw HTTP/1.1 server that answers every request with `head` (status line and headers,
/// without the blank line) and `body`, one per connection, and counts the requests it got.
fn raw_server(head: String, body: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counted = Arc::clone(&counted);
            let head = head.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                if !common::read_head(&mut stream) {
                    return;
                }
                counted.fetch_add(1, Ordering::SeqCst);
                // One answer per connection, said so, so that no call reuses a connection
                // this thread is about to close.
                let mut answer = format!(
                    "{head}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                answer.extend_from_slice(body);
                let _ = stream.write_all(&answer);
                let _ = stream.flush();
            });
        }
    });
    (base, count)
}

fn answer_head(headers: &[(&str, String)]) -> String {
    let mut head = "HTTP/1.1 200 OK\r\ncontent-type: application/json".to_string();
    for (name, value) in headers {
        head.push_str(&format!("\r\n{name}: {value}"));
    }
    head
}

fn call(base: &str) -> [Result<wechatpay::Response, Error>; 2] {
    let wxpay = common::builder(base).build().unwrap();
    [
        wxpay.chain("v3/x").get(()),
        block_on(wxpay.chain("v3/x").get_async(())),
    ]
}

/// A duplicated `Wechatpay-*` header is refused whichever copy is genuine: a check that read
/// the first (or the last) would let a hop that adds a header choose what is verified.
#[test]
fn a_duplicated_signature_header_is_refused_never_first_wins() {
    let body = b"{\"ok\":1}";
    let genuine = common::signature_headers(body, 0);
    // The genuine answer verifies over the same raw server.
    let (base, _) = raw_server(answer_head(&genuine), body);
    for outcome in call(&base) {
        assert_eq!(outcome.unwrap().bytes().as_ref(), body);
    }
    let forged = "bm90IGEgc2lnbmF0dXJl".to_string();
    for (name, extra) in [
        ("Wechatpay-Signature", forged.clone()),
        (
            "Wechatpay-Timestamp",
            (Formatter::timestamp() - 1).to_string(),
        ),
        ("Wechatpay-Nonce", Formatter::nonce(32)),
        ("Wechatpay-Serial", "PUB_KEY_ID_9999".to_string()),
    ] {
        for genuine_first in [true, false] {
            let mut headers = genuine.clone();
            let at = headers.iter().position(|(n, _)| *n == name).unwrap();
            headers.insert(
                if genuine_first { at + 1 } else { at },
                (name, extra.clone()),
            );
            let (base, _) = raw_server(answer_head(&headers), body);
            for outcome in call(&base) {
                match outcome {
                    Err(Error::Verify(VerifyError::DuplicateHeader(h))) => assert_eq!(h, name),
                    other => panic!("{name} twice (genuine first: {genuine_first}): {other:?}"),
                }
            }
        }
    }
}

#[test]
fn oversized_signature_headers_are_refused_cleanly() {
    let body = b"{}";
    let genuine = common::signature_headers(body, 0);
    let with = |name: &str, value: String| {
        let headers: Vec<(&str, String)> = genuine
            .iter()
            .map(|(n, v)| (*n, if *n == name { value.clone() } else { v.clone() }))
            .collect();
        raw_server(answer_head(&headers), body).0
    };
    // A signature far longer than any RSA signature does not match.
    let base = with("Wechatpay-Signature", "A".repeat(64 * 1024));
    for outcome in call(&base) {
        assert!(
            matches!(outcome, Err(Error::Verify(VerifyError::BadSignature))),
            "{outcome:?}"
        );
    }
    // Long values are not echoed whole into errors.
    let base = with("Wechatpay-Timestamp", "9".repeat(64 * 1024));
    for outcome in call(&base) {
        match outcome {
            Err(Error::Verify(VerifyError::BadTimestamp(shown))) => assert_eq!(shown.len(), 32),
            other => panic!("{other:?}"),
        }
    }
    let base = with("Wechatpay-Serial", "S".repeat(64 * 1024));
    for outcome in call(&base) {
        match outcome {
            Err(Error::Verify(VerifyError::UnknownSerial(shown))) => assert_eq!(shown.len(), 64),
            other => panic!("{other:?}"),
        }
    }
    // Headers larger than the transport reads at all are a transport error, not a panic.
    let base = with("Wechatpay-Signature", "A".repeat(1024 * 1024));
    for outcome in call(&base) {
        assert!(matches!(outcome, Err(Error::Transport(_))), "{outcome:?}");
    }
}

/// hyper-util follows no redirect and neither does the client: a 3xx is an error naming its
/// `Location`, whatever `http_errors` says, and the request is never sent on.
#[test]
fn a_redirect_is_an_error_and_is_not_followed() {
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let listener_for_target = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = format!(
            "http://{}/v3/elsewhere",
            listener_for_target.local_addr().unwrap()
        );
        let (base, count) = raw_server(format!("HTTP/1.1 {status}\r\nlocation: {target}"), b"");
        let wxpay = common::builder(&base).build().unwrap();
        for outcome in [
            wxpay.chain("v3/x").get(()),
            block_on(wxpay.chain("v3/x").get_async(json!({"http_errors": false}))),
        ] {
            let e = outcome.unwrap_err();
            match &e {
                Error::Redirect {
                    status: s,
                    location,
                } => {
                    assert_eq!(s.as_u16().to_string(), status[..3]);
                    assert_eq!(location.as_deref(), Some(target.as_str()));
                }
                other => panic!("{status}: {other:?}"),
            }
            assert_eq!(
                e.status().map(|s| s.as_u16().to_string()),
                Some(status[..3].to_string())
            );
            let text = e.to_string();
            assert!(
                text.contains("WeChat Pay never redirects an API call") && text.contains(&target),
                "{text}"
            );
        }
        assert_eq!(
            count.load(Ordering::SeqCst),
            2,
            "one request per call, none followed"
        );
        listener_for_target.set_nonblocking(true).unwrap();
        assert!(
            listener_for_target.accept().is_err(),
            "the redirect target was contacted"
        );
    }
}

// -- the clock window -------------------------------------------------------------------------

/// WeChat Pay allows 300 s between its clock and ours: exactly 300 s either way is accepted,
/// 301 s either way is refused.
#[test]
fn the_skew_window_is_300_seconds_inclusive_on_both_sides() {
    let keys = PlatformKeys::new();
    keys.insert(common::PUB_KEY_ID, common::platform_key().public_key());
    let body = b"{\"ok\":1}";
    let signed_at = 1_700_000_000_i64;
    let nonce = "nonce";
    let signature = Rsa::sign(
        &Formatter::response(&signed_at.to_string(), nonce, body),
        &common::platform_key(),
    )
    .unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("Wechatpay-Timestamp", signed_at.to_string()),
        ("Wechatpay-Nonce", nonce.to_string()),
        ("Wechatpay-Serial", common::PUB_KEY_ID.to_string()),
        ("Wechatpay-Signature", signature),
    ] {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    }
    let at = |now: i64| verify_response(&headers, body, now, 300, &keys);
    for skew in [0, 1, 299, 300, -1, -299, -300] {
        assert_eq!(at(signed_at - skew), Ok(()), "skew {skew}");
    }
    for skew in [301, -301, 100_000, -100_000] {
        assert_eq!(
            at(signed_at - skew),
            Err(VerifyError::ClockSkew {
                skew_seconds: skew,
                allowed_seconds: 300
            }),
            "skew {skew}"
        );
    }
    // Far-off clocks do not overflow.
    assert!(matches!(at(i64::MIN), Err(VerifyError::ClockSkew { .. })));
    assert!(matches!(at(i64::MAX), Err(VerifyError::ClockSkew { .. })));
    // The window is a parameter: 0 allows only the same second.
    assert_eq!(verify_response(&headers, body, signed_at, 0, &keys), Ok(()));
    assert!(verify_response(&headers, body, signed_at + 1, 0, &keys).is_err());
}
