//! The costs a verified call cannot go below: the merchant's signature, the platform's
//! signature check, and one TLS round trip to the server.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use wechatpay::crypto::{Formatter, Rsa};

use crate::servers::{fixture, read_http1_message, Identity, BODY};
use crate::tally::{run_for, Rate};

/// RSA-2048 signatures on one thread with the merchant key, through the crate's backend.
pub fn sign_rate(window: Duration) -> Rate {
    let key = Rsa::from_private(&fixture("merchant_pkcs8.pem")).expect("key");
    let message = Formatter::request("POST", "/v3/x", 1_700_000_000, "N", BODY);
    run_for(window, || {
        key.sign(&message).expect("sign");
    })
}

/// Checks per second of the server's signed answer with the platform key (base64 decoding
/// included), as every call makes one.
pub fn verify_rate(identity: &Identity, window: Duration) -> Rate {
    let key = Rsa::from_public(&fixture("platform_public.pem")).expect("key");
    run_for(window, || {
        assert!(Rsa::verify(
            &identity.signed_message,
            &identity.signature,
            &key
        ));
    })
}

/// A client TLS configuration trusting the bench's certificate, with the crate's backend.
fn client_tls(identity: &Identity) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(identity.root_pem.as_bytes()) {
        roots.add(cert.expect("root pem")).expect("root");
    }
    #[cfg(feature = "aws-lc-rs")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(not(feature = "aws-lc-rs"))]
    let provider = rustls::crypto::ring::default_provider();
    rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Round trips per second of pre-built request bytes, about the size of a signed call, over
/// one blocking TLS connection to the lean server: no HTTP library, no signing, no checking.
/// No HTTPS client can do a call in less.
pub fn tls_round_trip_rate(identity: &Identity, port: u16, window: Duration) -> Rate {
    let mut request = format!(
        "POST /v3/password-exempt-contract/contracts/service-id/12535/out-contract-code/wxwtdk20200910100000/terminate HTTP/1.1\r\n\
         host: localhost:{port}\r\ncontent-type: application/json\r\naccept: application/json\r\n\
         user-agent: wechatpay-chain\r\n\
         authorization: WECHATPAY2-SHA256-RSA2048 mchid=\"1900000001\",nonce_str=\"{}\",signature=\"{}\",timestamp=\"1700000000\",serial_no=\"1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C\"\r\n\
         content-length: {}\r\n\r\n",
        "N".repeat(32),
        "S".repeat(344),
        BODY.len()
    )
    .into_bytes();
    request.extend_from_slice(BODY);
    let socket = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    let conn = rustls::ClientConnection::new(
        Arc::new(client_tls(identity)),
        "localhost".try_into().expect("name"),
    )
    .expect("tls");
    let mut stream = rustls::StreamOwned::new(conn, socket);
    let mut buffer = Vec::with_capacity(16 * 1024);
    let mut round_trip = || {
        stream.write_all(&request).expect("write");
        stream.flush().expect("flush");
        read_http1_message(&mut stream, &mut buffer).expect("answer");
    };
    round_trip(); // the handshake
    run_for(window, round_trip)
}
