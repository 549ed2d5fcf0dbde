//! The named middleware stack: editing operations, order, and the default layers' jobs.

mod common;

use std::sync::{Arc, Mutex};

use common::{Fault, TestServer};
use wechatpay::middleware::{BoxFuture, Middleware, Next, Stack};
use wechatpay::{json, Error, HttpRequest, HttpResponse, Result};

/// Records its name into a shared log on the way in.
#[derive(Debug, Clone)]
struct Mark(&'static str, Arc<Mutex<Vec<&'static str>>>);

impl Middleware for Mark {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<HttpResponse>> {
        self.1.lock().unwrap().push(self.0);
        next.run(req)
    }
}

/// Retries once on a 5xx answer.
#[derive(Debug)]
struct RetryOnce;

impl Middleware for RetryOnce {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<HttpResponse>> {
        Box::pin(async move {
            let again = clone_request(&req);
            let first = next.run(req).await?;
            if first.status().is_server_error() {
                return next.run(again).await;
            }
            Ok(first)
        })
    }
}

fn clone_request(req: &HttpRequest) -> HttpRequest {
    let mut copy = http::Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    copy
}

#[test]
fn the_default_stack_is_verifier_then_signer() {
    let wxpay = common::builder("https://api.mch.weixin.qq.com/")
        .build()
        .unwrap();
    assert_eq!(wxpay.stack().names(), ["verifier", "signer"]);
}

#[test]
fn push_unshift_before_after_replace_and_remove_keep_their_places() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let m = |name| Mark(name, Arc::clone(&log));
    let mut stack = Stack::new();
    stack.push("b", m("b")).unwrap();
    stack.unshift("a", m("a")).unwrap();
    stack.push("d", m("d")).unwrap();
    stack.before("d", "c", m("c")).unwrap();
    stack.after("d", "e", m("e")).unwrap();
    assert_eq!(stack.names(), ["a", "b", "c", "d", "e"]);

    assert!(
        matches!(stack.push("a", m("a")), Err(Error::Middleware(_))),
        "duplicate names are refused"
    );
    assert!(matches!(
        stack.before("nope", "x", m("x")),
        Err(Error::Middleware(_))
    ));
    assert!(matches!(
        stack.replace("nope", m("x")),
        Err(Error::Middleware(_))
    ));
    stack.replace("c", m("C")).unwrap();
    assert!(stack.remove("e").is_some());
    assert!(stack.remove("e").is_none());
    assert_eq!(stack.names(), ["a", "b", "c", "d"]);

    let server = TestServer::start();
    let base = server.client();
    let mut full = base.stack();
    for (name, layer) in [("a", m("a")), ("b", m("b")), ("C", m("C")), ("d", m("d"))] {
        full.push(name, layer).unwrap();
    }
    base.with_stack(full).chain("v3/x").get(()).unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        ["a", "b", "C", "d"],
        "layers run outermost first"
    );
}

#[test]
fn a_retry_outside_signer_signs_each_attempt_afresh() {
    let server = TestServer::start();
    let base = server.client();
    let mut stack = base.stack();
    stack.unshift("retry", RetryOnce).unwrap();
    let wxpay = base.with_stack(stack);
    server.fault(Fault::Status(
        500,
        r#"{"code":"SYSTEM_ERROR","message":"busy"}"#,
    ));
    let r = wxpay.chain("v3/x").post(json!({"json": {"a": 1}})).unwrap();
    assert_eq!(r.status(), 200);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.signature_ok));
    assert_ne!(
        seen[0].headers["authorization"], seen[1].headers["authorization"],
        "fresh nonce per attempt"
    );
}

#[test]
fn removing_the_signer_sends_unsigned_and_the_server_refuses() {
    let server = TestServer::start();
    let base = server.client();
    let mut stack = base.stack();
    stack.remove("signer").unwrap();
    let err = base.with_stack(stack).chain("v3/x").get(()).unwrap_err();
    assert_eq!(err.api_code(), Some("SIGN_ERROR"));
    assert!(server.last().headers.get("authorization").is_none());
}

#[test]
fn removing_the_verifier_accepts_unsigned_answers() {
    let server = TestServer::start();
    let wxpay = common::builder(&server.base_uri())
        .middleware(|stack| {
            stack.remove("verifier");
            Ok(())
        })
        .build()
        .unwrap();
    server.fault(Fault::DropHeader("Wechatpay-Signature"));
    assert_eq!(wxpay.chain("v3/x").get(()).unwrap().status(), 200);
}

#[test]
fn a_caller_set_wechatpay_serial_is_kept() {
    let server = TestServer::start();
    server
        .client()
        .chain("v3/x")
        .get(json!({"headers": {"Wechatpay-Serial": "PUB_KEY_ID_CALLER"}}))
        .unwrap();
    assert_eq!(
        server.last().headers["wechatpay-serial"],
        "PUB_KEY_ID_CALLER"
    );
}
