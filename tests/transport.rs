//! The transport: TLS with HTTP/2 by ALPN, pooled connections shared by clones, the body cap.

mod common;

use common::TestServer;
use wechatpay::{json, Error};

#[test]
fn tls_negotiates_http2_and_calls_verify() {
    let server = TestServer::start_tls();
    let wxpay = server.client();
    let r = wxpay.chain("v3/tls").get(()).unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(server.last().version, http::Version::HTTP_2);
    assert!(server.last().signature_ok);
}

#[test]
fn an_untrusted_certificate_is_a_transport_error() {
    let server = TestServer::start_tls();
    let wxpay = common::builder(&server.base_uri()).build().unwrap();
    let err = wxpay.chain("v3/tls").get(()).unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(server.seen().is_empty());
}

#[test]
fn clones_share_one_pooled_connection() {
    let server = TestServer::start();
    let wxpay = server.client();
    let clone = wxpay.clone();
    wxpay.chain("v3/a").get(()).unwrap();
    clone.chain("v3/b").get(()).unwrap();
    wxpay.chain("v3/c").post(json!({"json": {}})).unwrap();
    let ports: Vec<u16> = server.seen().iter().map(|s| s.remote.port()).collect();
    assert_eq!(ports.len(), 3);
    assert!(
        ports.iter().all(|p| *p == ports[0]),
        "one connection reused: {ports:?}"
    );
    assert_eq!(server.last().headers.get("connection"), None);
}

#[test]
fn a_body_over_the_cap_is_refused() {
    let server = TestServer::start();
    let wxpay = common::builder(&server.base_uri())
        .max_body_bytes(16)
        .build()
        .unwrap();
    let err = wxpay.chain("v3/long-echo").get(()).unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

#[test]
fn clients_of_different_merchants_can_share_one_pool() {
    let server = TestServer::start();
    let first = server.client();
    let second = common::builder(&server.base_uri())
        .share_pool(&first)
        .build()
        .unwrap();
    first.chain("v3/a").get(()).unwrap();
    second.chain("v3/b").get(()).unwrap();
    let ports: Vec<u16> = server.seen().iter().map(|s| s.remote.port()).collect();
    assert_eq!(
        ports[0], ports[1],
        "the second client reused the first one's connection"
    );
}

#[test]
fn http1_only_keeps_a_tls_server_on_http1() {
    let server = TestServer::start_tls();
    let wxpay = common::builder(&server.base_uri())
        .root_certificate(server.tls_root_pem.clone().unwrap().into_bytes())
        .http1_only()
        .build()
        .unwrap();
    wxpay.chain("v3/tls").get(()).unwrap();
    assert_eq!(server.last().version, http::Version::HTTP_11);
}
