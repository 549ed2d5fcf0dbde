//! Each call is one `tracing` span naming the method, template, status, Request-ID and
//! elapsed time, and no header value, key or body reaches the subscriber.

mod common;

use std::sync::{Arc, Mutex};

use common::{Fault, TestServer};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use wechatpay::json;

/// Writes every span field and event field it is shown into one shared text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Writer<'a>(&'a mut String);

impl Visit for Writer<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?}\n", field.name(), value));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut text = self.0.lock().unwrap();
        text.push_str(&format!("span {}\n", span.metadata().name()));
        span.record(&mut Writer(&mut text));
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Writer(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        event.record(&mut Writer(&mut self.0.lock().unwrap()));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_call_is_one_span_with_its_facts_and_no_secrets() {
    let server = TestServer::start();
    let wxpay = server.client();
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        wxpay
            .chain("v3/pay/transactions/out-trade-no/{out_trade_no}")
            .post(json!({"out_trade_no": "T1", "json": {"secret_field": "S3CRET"}}))
            .unwrap();
        server.fault(Fault::Status(
            400,
            r#"{"code":"PARAM_ERROR","message":"m"}"#,
        ));
        wxpay.chain("v3/x").get(()).unwrap_err();
    });
    let text = capture.0.lock().unwrap().clone();
    for expected in [
        "span wechatpay.call",
        "method=POST",
        "template=\"v3/pay/transactions/out-trade-no/{out_trade_no}\"",
        "status=200",
        "status=400",
        "request_id=\"08F78BB5AF0610D302A5B7DA0C40F8F2\"",
        "elapsed_us=",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    let auth = server.seen()[0].headers["authorization"]
        .to_str()
        .unwrap()
        .to_string();
    let signature =
        common::field(&common::authorization_fields(&auth).unwrap(), "signature").to_string();
    for secret in [
        signature.as_str(),
        "S3CRET",
        "WECHATPAY2-SHA256-RSA2048",
        "BEGIN",
    ] {
        assert!(
            !text.contains(secret),
            "{secret} reached the subscriber:\n{text}"
        );
    }
}
