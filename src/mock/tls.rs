//! The simulator's HTTPS side, on the same port as its plain HTTP: a connection whose first
//! byte opens a TLS handshake record (22) is served over TLS with the demo server certificate
//! (`demo::TLS_CA_PEM` issues it, for loopback names only).
//!
//! The server asks every TLS client for a certificate and accepts a connection without one,
//! as WeChat Pay's API host does: only the `secapi/` endpoints then demand it. A certificate
//! that does not chain to the demo merchant CA fails the handshake itself.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::credentials::demo;
use crate::crypto::PemUtil;

/// What the simulator knows about the connection a request came on; set in the request's
/// extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Connection {
    /// The request came over TLS.
    pub(crate) https: bool,
    /// The serial (upper-case hex) of the client certificate presented, which the handshake
    /// verified against the demo merchant CA.
    pub(crate) client_certificate: Option<String>,
}

impl Connection {
    /// The facts of an accepted TLS connection.
    pub(crate) fn of(stream: &TlsStream<TcpStream>) -> Self {
        let client_certificate = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| PemUtil::serial_number(leaf.as_ref()).ok());
        Self {
            https: true,
            client_certificate,
        }
    }
}

/// True when the peer's first byte starts a TLS handshake record. Waits for that byte.
pub(crate) async fn starts_with_handshake(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1)) && first[0] == 0x16
}

/// The acceptor of the simulator's TLS connections, built once.
pub(crate) fn acceptor() -> Result<&'static TlsAcceptor, String> {
    static ACCEPTOR: OnceLock<Result<TlsAcceptor, String>> = OnceLock::new();
    ACCEPTOR
        .get_or_init(|| server_config().map(|c| TlsAcceptor::from(Arc::new(c))))
        .as_ref()
        .map_err(Clone::clone)
}

fn server_config() -> Result<rustls::ServerConfig, String> {
    #[cfg(feature = "aws-lc-rs")]
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    #[cfg(not(feature = "aws-lc-rs"))]
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    let mut merchant_roots = rustls::RootCertStore::empty();
    for der in pem_blocks(demo::MERCHANT_CA_PEM, "CERTIFICATE")? {
        merchant_roots
            .add(CertificateDer::from(der))
            .map_err(|e| format!("merchant CA: {e}"))?;
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(merchant_roots), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| format!("client verifier: {e}"))?;
    let chain = pem_blocks(demo::TLS_SERVER_CERTIFICATE_PEM, "CERTIFICATE")?
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let key = pem_blocks(demo::TLS_SERVER_PRIVATE_KEY_PEM, "PRIVATE KEY")?
        .into_iter()
        .next()
        .map(|der| PrivateKeyDer::from(PrivatePkcs8KeyDer::from(der)))
        .ok_or("the demo server key is missing")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("server certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn pem_blocks(pem: &str, label: &str) -> Result<Vec<Vec<u8>>, String> {
    let blocks = PemUtil::parse(pem).map_err(|e| format!("demo TLS material: {e}"))?;
    Ok(blocks
        .into_iter()
        .filter(|b| b.label == label)
        .map(|b| b.der)
        .collect())
}
