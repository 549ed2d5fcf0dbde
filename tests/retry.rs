//! Retries: which failures are retried and for which calls, a fresh signature per attempt,
//! the backoff between attempts, the budget shared by clones, failover to a second loopback
//! server standing in for WeChat Pay's backup host, the total limit over every attempt, and
//! each attempt in the call's tracing span.

mod common;

use std::time::{Duration, Instant};

use common::{Fault, TestServer};
use wechatpay::error::TimeoutStage;
use wechatpay::{json, Client, Error, RequestOptions, RetryPolicy};

const MS: Duration = Duration::from_millis(1);

/// A policy that waits only a millisecond between attempts, for the tests that are not
/// about the waits.
fn quick() -> RetryPolicy {
    RetryPolicy::default().backoff(MS, MS)
}

fn client(server: &TestServer, policy: RetryPolicy) -> Client {
    let mut builder = common::builder(&server.base_uri()).retry(policy);
    if let Some(pem) = &server.tls_root_pem {
        builder = builder.root_certificate(pem.as_bytes().to_vec());
    }
    builder.build().unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn nonce(seen: &common::Seen) -> String {
    let auth = seen.headers["authorization"].to_str().unwrap();
    common::field(&common::authorization_fields(auth).unwrap(), "nonce_str").to_string()
}

fn api_status(e: &Error) -> u16 {
    match e {
        Error::Api { status, .. } => status.as_u16(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn the_retry_layer_is_outermost_and_only_there_when_asked_for() {
    let server = TestServer::start();
    assert_eq!(server.client().stack().names(), ["verifier", "signer"]);
    let wxpay = client(&server, RetryPolicy::default());
    assert_eq!(wxpay.stack().names(), ["retry", "verifier", "signer"]);
}

#[test]
fn each_attempt_is_signed_afresh_on_both_doors() {
    let server = TestServer::start();
    let wxpay = client(&server, quick());
    for door in 0..2 {
        let before = server.seen().len();
        server.fault(Fault::Status(
            503,
            r#"{"code":"SYSTEM_ERROR","message":"busy"}"#,
        ));
        server.fault(Fault::Status(502, "<html>bad gateway</html>"));
        let path = format!("v3/pay/transactions/id/4200{door}");
        let r = if door == 0 {
            wxpay
                .chain(&path)
                .get(json!({"query": {"mchid": "1900000001"}}))
        } else {
            block_on(
                wxpay
                    .chain(&path)
                    .get_async(json!({"query": {"mchid": "1900000001"}})),
            )
        };
        assert_eq!(r.unwrap().status(), 200);
        let attempts = &server.seen()[before..];
        assert_eq!(attempts.len(), 3, "door {door}");
        assert!(
            attempts.iter().all(|s| s.signature_ok),
            "every attempt verifies"
        );
        assert!(attempts
            .iter()
            .all(|s| s.path_and_query == format!("/{path}?mchid=1900000001")));
        let mut nonces: Vec<String> = attempts.iter().map(nonce).collect();
        nonces.sort();
        nonces.dedup();
        assert_eq!(
            nonces.len(),
            3,
            "a fresh nonce for each attempt: {nonces:?}"
        );
        let signatures: Vec<_> = attempts
            .iter()
            .map(|s| s.headers["authorization"].clone())
            .collect();
        assert!(signatures[0] != signatures[1] && signatures[1] != signatures[2]);
    }
}

#[test]
fn waits_grow_from_the_first_backoff_with_jitter() {
    let server = TestServer::start();
    let first = Duration::from_millis(80);
    let wxpay = client(
        &server,
        RetryPolicy::default()
            .max_attempts(4)
            .backoff(first, Duration::from_millis(200)),
    );
    for _ in 0..4 {
        server.fault(Fault::Status(503, ""));
    }
    let started = Instant::now();
    let e = wxpay.chain("v3/x").get(()).unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(api_status(&e), 503, "the last answer is returned");
    let seen = server.seen();
    assert_eq!(seen.len(), 4);
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1].at - w[0].at).collect();
    // Each wait is drawn from the upper half of 80 ms, 160 ms, then 200 ms (the longest).
    let slack = Duration::from_millis(40);
    for (gap, full) in gaps.iter().zip([80, 160, 200]) {
        let full = Duration::from_millis(full);
        assert!(
            *gap >= full / 2 && *gap <= full + slack,
            "{gap:?} is not within [{:?}, {full:?}] (+{slack:?}): {gaps:?}",
            full / 2
        );
    }
    assert!(
        elapsed >= Duration::from_millis(40 + 80 + 100),
        "{elapsed:?}"
    );
}

#[test]
fn retried_failures_are_the_documented_ones() {
    let server = TestServer::start();
    let wxpay = client(&server, quick().max_attempts(2));
    let attempts = |fault: Fault, opts: serde_json::Value| {
        let before = server.seen().len();
        server.fault(fault);
        let outcome = wxpay.chain("v3/x").get(opts);
        (server.seen().len() - before, outcome)
    };
    // Retried (a GET is idempotent).
    for fault in [
        Fault::Status(500, r#"{"code":"SYSTEM_ERROR","message":"系统错误"}"#),
        Fault::Status(502, ""),
        Fault::Status(503, ""),
        Fault::Status(504, ""),
        Fault::Reset,
    ] {
        let (n, outcome) = attempts(fault.clone(), json!({}));
        assert_eq!(n, 2, "{fault:?}");
        assert_eq!(outcome.unwrap().status(), 200, "{fault:?}");
    }
    // Not retried: other answers, and answers that fail verification.
    for fault in [
        Fault::Status(500, r#"{"code":"PARAM_ERROR","message":"x"}"#),
        Fault::Status(429, r#"{"code":"FREQUENCY_LIMITED","message":"x"}"#),
        Fault::Status(400, r#"{"code":"INVALID_REQUEST","message":"x"}"#),
        Fault::GarbageSignature,
        Fault::Skew(-600),
    ] {
        let (n, outcome) = attempts(fault.clone(), json!({}));
        assert_eq!(n, 1, "{fault:?}");
        assert!(outcome.is_err(), "{fault:?}");
    }
    // Not retried when the call says so.
    let (n, outcome) = attempts(Fault::Status(503, ""), json!({"retry": false}));
    assert_eq!((n, api_status(&outcome.unwrap_err())), (1, 503));
    let (n, _) = attempts(Fault::Status(503, ""), json!({"idempotent": false}));
    assert_eq!(n, 1, "a GET the call says is not idempotent");
}

#[test]
fn a_reset_before_the_headers_is_retried_over_http2_too() {
    let server = TestServer::start_tls();
    let wxpay = client(&server, quick());
    server.fault(Fault::Reset);
    server.fault(Fault::Reset);
    assert_eq!(wxpay.chain("v3/x").get(()).unwrap().status(), 200);
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.version == http::Version::HTTP_2));
}

#[test]
fn a_response_timeout_is_retried_for_an_idempotent_call() {
    let server = TestServer::start();
    let wxpay = common::builder(&server.base_uri())
        .response_timeout(Duration::from_millis(150))
        .retry(quick())
        .build()
        .unwrap();
    server.fault(Fault::Delay(Duration::from_millis(600)));
    let started = Instant::now();
    assert_eq!(wxpay.chain("v3/x").get(()).unwrap().status(), 200);
    assert!(started.elapsed() < Duration::from_millis(400));
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn a_post_is_retried_only_when_marked_idempotent() {
    let server = TestServer::start();
    let wxpay = client(&server, quick());
    let order = json!({"out_trade_no": "1217752501201407033233368018", "amount": {"total": 1}});
    for fault in [Fault::Status(503, ""), Fault::Reset] {
        let before = server.seen().len();
        server.fault(fault.clone());
        let e = wxpay
            .chain("v3/pay/transactions/native")
            .post(json!({ "json": order }))
            .unwrap_err();
        assert_eq!(server.seen().len() - before, 1, "{fault:?}: {e:?}");

        let before = server.seen().len();
        server.fault(fault.clone());
        let r = wxpay
            .chain("v3/pay/transactions/native")
            .post(json!({ "json": order, "idempotent": true }))
            .unwrap();
        assert_eq!(r.status(), 200);
        let attempts = &server.seen()[before..];
        assert_eq!(attempts.len(), 2, "{fault:?}");
        assert!(attempts
            .iter()
            .all(|s| s.signature_ok && s.body == order.to_string()));
    }
    // The typed options say the same.
    server.fault(Fault::Status(503, ""));
    let before = server.seen().len();
    let r = block_on(
        wxpay
            .chain("v3/pay/transactions/native")
            .post_async(RequestOptions::new().json(order.clone()).idempotent(true)),
    );
    assert_eq!(r.unwrap().status(), 200);
    assert_eq!(server.seen().len() - before, 2);
    server.fault(Fault::Status(503, ""));
    let e = wxpay
        .chain("v3/x")
        .get(RequestOptions::new().retry(false))
        .unwrap_err();
    assert_eq!(api_status(&e), 503);
}

#[test]
fn a_failed_attempt_fails_over_to_the_backup_host() {
    let main = TestServer::start();
    let backup = TestServer::start();
    let wxpay = common::builder(&main.base_uri())
        .retry(quick().failover(backup.base_uri()))
        .build()
        .unwrap();
    main.fault(Fault::Status(503, ""));
    let r = wxpay
        .chain("v3/pay/transactions/out-trade-no/{out_trade_no}")
        .get(json!({"out_trade_no": "T1", "query": {"mchid": "1900000001"}}))
        .unwrap();
    assert_eq!(r.status(), 200);
    let (first, second) = (main.last(), backup.last());
    assert_eq!(main.seen().len(), 1);
    assert_eq!(backup.seen().len(), 1);
    // The same path and query, signed afresh, on the second host.
    assert_eq!(first.path_and_query, second.path_and_query);
    assert!(second.signature_ok);
    assert_ne!(nonce(&first), nonce(&second));
    assert_eq!(
        second.headers["host"],
        backup
            .base_uri()
            .trim_start_matches("http://")
            .trim_end_matches('/')
    );

    // Hosts are tried in turn: main, backup, main.
    main.fault(Fault::Status(503, ""));
    backup.fault(Fault::Status(503, ""));
    block_on(wxpay.chain("v3/again").get_async(())).unwrap();
    assert_eq!((main.seen().len(), backup.seen().len()), (3, 2));
}

/// When the main host cannot be reached, nothing was sent, so even an order creation that is
/// not marked idempotent goes to the backup host.
#[test]
fn an_unreachable_host_fails_over_for_any_call() {
    let backup = TestServer::start();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let wxpay = common::builder(&format!("http://{closed}/"))
        .retry(quick().failover(backup.base_uri()))
        .build()
        .unwrap();
    let r = wxpay
        .chain("v3/pay/transactions/native")
        .post(json!({"json": {"out_trade_no": "T2"}}))
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(backup.seen().len(), 1);
    assert!(backup.last().signature_ok);
    // Without a failover host the connect error is retried on the same host, then returned.
    let wxpay = common::builder(&format!("http://{closed}/"))
        .retry(quick())
        .build()
        .unwrap();
    let e = wxpay.chain("v3/x").get(()).unwrap_err();
    assert!(e.to_string().contains("connection refused"), "{e}");
}

/// A call sent elsewhere than the client's `base_uri` is retried where it was sent.
#[test]
fn a_call_to_another_origin_does_not_fail_over() {
    let main = TestServer::start();
    let other = TestServer::start();
    let backup = TestServer::start();
    let wxpay = common::builder(&main.base_uri())
        .retry(quick().failover(backup.base_uri()))
        .build()
        .unwrap();
    other.fault(Fault::Status(503, ""));
    wxpay
        .chain("v3/x")
        .get(json!({"base_uri": other.base_uri()}))
        .unwrap();
    assert_eq!(other.seen().len(), 2);
    assert!(backup.seen().is_empty() && main.seen().is_empty());
}

#[test]
fn the_budget_is_shared_by_clones_and_refills_with_calls() {
    let server = TestServer::start();
    let wxpay = client(&server, quick().budget(0.5));
    let clone = wxpay.clone();
    let attempts_of_a_failing_call = |caller: &Client| {
        let before = server.seen().len();
        for _ in 0..3 {
            server.fault(Fault::Status(503, ""));
        }
        caller.chain("v3/x").get(()).unwrap_err();
        server.clear_faults();
        server.seen().len() - before
    };
    // The bucket starts with 10 tokens; each call adds 0.5 and each retry takes 1. The calls
    // alternate between the client and its clone: one bucket serves both.
    let made: Vec<usize> = (0..8)
        .map(|n| attempts_of_a_failing_call(if n % 2 == 0 { &wxpay } else { &clone }))
        .collect();
    assert_eq!(made, [3, 3, 3, 3, 3, 3, 2, 1]);
    // Half a token is left. A call that succeeds pays in too; from then on the calls earn
    // the ratio's share: one retry for every two calls.
    wxpay.chain("v3/ok").get(()).unwrap();
    let made: Vec<usize> = (0..4)
        .map(|n| attempts_of_a_failing_call(if n % 2 == 0 { &clone } else { &wxpay }))
        .collect();
    assert_eq!(made, [2, 2, 1, 2]);
    // A client built separately has a budget of its own.
    let other = client(&server, quick().budget(0.5));
    assert_eq!(attempts_of_a_failing_call(&other), 3);
}

#[test]
fn the_total_limit_bounds_every_attempt_and_wait() {
    let server = TestServer::start();
    let total = Duration::from_millis(400);
    let wxpay = common::builder(&server.base_uri())
        .timeout(total)
        .retry(
            RetryPolicy::default()
                .max_attempts(10)
                .backoff(Duration::from_millis(300), Duration::from_millis(300)),
        )
        .build()
        .unwrap();
    // Waits of 150 to 300 ms: no wait starts that would end past the limit, so the call
    // ends before it, with the last answer rather than a timeout.
    for _ in 0..10 {
        server.fault(Fault::Status(503, ""));
    }
    let started = Instant::now();
    let e = wxpay.chain("v3/x").get(()).unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(api_status(&e), 503, "{e:?}");
    assert!(
        (2..=3).contains(&server.seen().len()),
        "{}",
        server.seen().len()
    );
    assert!(elapsed < total, "{elapsed:?}");
    server.clear_faults();

    // An attempt that is still waiting for its answer when the limit runs out is cut short.
    server.fault(Fault::Delay(Duration::from_secs(2)));
    let started = Instant::now();
    let e = block_on(wxpay.chain("v3/y").get_async(())).unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(e, Error::Timeout(TimeoutStage::Total)), "{e:?}");
    assert!(
        elapsed >= total && elapsed < total + Duration::from_millis(50),
        "{elapsed:?}"
    );
}

#[test]
fn a_policy_that_cannot_work_is_refused_at_build() {
    let e = common::builder("https://api.mch.weixin.qq.com/")
        .retry(
            RetryPolicy::default()
                .max_attempts(0)
                .budget(-1.0)
                .failover("ftp://api2.mch.weixin.qq.com/")
                .failover("https://api2.mch.weixin.qq.com/v3/"),
        )
        .build()
        .unwrap_err();
    let Error::Config(config) = e else {
        panic!("{e:?}")
    };
    let problems = config.problems();
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(
        problems.iter().all(|p| p.starts_with("`retry`: ")),
        "{problems:?}"
    );
    assert!(problems[2].contains("https:// or http://"), "{problems:?}");
}

// -- tracing ------------------------------------------------------------------------------

mod capture {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Every event's fields, one event per line, and whether it came inside a span.
    #[derive(Clone, Default)]
    pub struct Capture(pub Arc<Mutex<Vec<String>>>, pub Arc<Mutex<usize>>);

    struct Line<'a>(&'a mut String);

    impl Visit for Line<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={:?} ", field.name(), value));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut line = String::new();
            event.record(&mut Line(&mut line));
            if *self.1.lock().unwrap() > 0 {
                line.push_str("in_span");
            }
            self.0.lock().unwrap().push(line);
        }
        fn enter(&self, _: &Id) {
            *self.1.lock().unwrap() += 1;
        }
        fn exit(&self, _: &Id) {
            *self.1.lock().unwrap() -= 1;
        }
    }
}

#[test]
fn each_attempt_is_an_event_in_the_calls_span() {
    let main = TestServer::start();
    let backup = TestServer::start();
    let wxpay = common::builder(&main.base_uri())
        .retry(quick().failover(backup.base_uri()))
        .build()
        .unwrap();
    main.fault(Fault::Reset);
    let capture = capture::Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        wxpay.chain("v3/traced").get(()).unwrap();
    });
    let lines = capture.0.lock().unwrap().clone();
    let attempts: Vec<&String> = lines.iter().filter(|l| l.contains("attempt=")).collect();
    assert_eq!(attempts.len(), 2, "{lines:#?}");
    assert!(
        attempts.iter().all(|l| l.ends_with("in_span")),
        "{lines:#?}"
    );
    let main_host = main.base_uri();
    let main_host = main_host
        .trim_start_matches("http://")
        .trim_end_matches('/');
    assert!(
        attempts[0].contains("attempt=1") && attempts[0].contains(main_host),
        "{}",
        attempts[0]
    );
    let backup_host = backup.base_uri();
    let backup_host = backup_host
        .trim_start_matches("http://")
        .trim_end_matches('/');
    assert!(
        attempts[1].contains("attempt=2")
            && attempts[1].contains(backup_host)
            && attempts[1].contains("before the answer was complete"),
        "{}",
        attempts[1]
    );
}
