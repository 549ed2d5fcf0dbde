//! The transport: one pooled hyper-util client over rustls, shared by clones of a client.
//!
//! HTTP/2 and HTTP/1.1 are offered by ALPN (HTTP/1.1 only with
//! [`ClientBuilder::http1_only`](crate::ClientBuilder::http1_only)), and every connection is
//! driven by a task on the crate's runtime ([`runtime`]). The backend's rustls provider is
//! passed explicitly: a process-wide default would panic in an application that also enables
//! another backend.
//!
//! Each call's time limits, from the outside in: the total limit (applied around the whole
//! middleware stack by the client, so it covers retries too), the connect limit (DNS, TCP and
//! TLS, [`connect`]), the response limit (from the moment a connection carries the request
//! until the answer's headers) and the read limit (the longest wait for the next chunk of the
//! body). Bodies are read whole under a size cap, or streamed for downloads ([`body`]).
//!
//! Calls marked [`MutualTls`] go through a second pool whose connections present the
//! merchant's API certificate, so that no other call ever does.

mod body;
mod connect;
mod error;
pub(crate) mod runtime;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::capture_connection;
use hyper_util::rt::TokioTimer;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub(crate) use body::{BodyStream, StreamResponse, StreamedBody};
use connect::TlsAlerts;
use error::classify_unanswered;
pub(crate) use error::{failed_at, host_of, FailedAt};

use crate::error::{ConfigError, Error, KeyError, Result, TimeoutStage};
use crate::request::CallInfo;
use crate::{HttpRequest, HttpResponse};

/// Transport settings chosen on the builder.
#[derive(Debug, Clone)]
pub(crate) struct TransportConfig {
    /// The total limit of a call that does not set its own.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub max_body_bytes: usize,
    pub extra_roots: Vec<Vec<u8>>,
    pub pool_idle_timeout: Duration,
    /// Offer HTTP/2 by ALPN (HTTP/1.1 is always offered).
    pub http2: bool,
    /// The merchant's API certificate and key, for calls marked [`MutualTls`].
    pub identity: Option<ClientIdentity>,
}

impl TransportConfig {
    /// The default cap of an answer read whole: JSON and XML answers are a few KiB, and files
    /// are streamed (`Chain::download`), so anything near this is not a WeChat Pay answer.
    pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            response_timeout: None,
            read_timeout: Some(Duration::from_secs(30)),
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            extra_roots: Vec::new(),
            pool_idle_timeout: Duration::from_secs(90),
            http2: true,
            identity: None,
        }
    }
}

/// A client certificate chain and its private key, presented in mutual TLS.
pub(crate) struct ClientIdentity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        Self {
            certs: self.certs.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certs", &self.certs.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Marks a request to be sent over mutual TLS with the merchant's API certificate (APIv2's
/// `security` option).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MutualTls;

type Pool = hyper_util::client::legacy::Client<connect::Connector, Full<Bytes>>;

/// Sends requests over a shared connection pool.
pub(crate) struct Transport {
    plain: Pool,
    /// The pool of connections that present the merchant certificate, when one is configured,
    /// and the alerts its servers sent.
    mutual: Option<(Pool, TlsAlerts)>,
    config: TransportConfig,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(config: TransportConfig) -> Result<Arc<Self>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for pem in &config.extra_roots {
            for block in crate::crypto::PemUtil::parse(&String::from_utf8_lossy(pem))? {
                if block.label == "CERTIFICATE" {
                    roots
                        .add(CertificateDer::from(block.der))
                        .map_err(|e| KeyError::Malformed(format!("root certificate: {e}")))?;
                }
            }
        }
        #[cfg(feature = "aws-lc-rs")]
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        #[cfg(not(feature = "aws-lc-rs"))]
        let provider = rustls::crypto::ring::default_provider();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::transport(format!("TLS setup: {e}")))?
            .with_root_certificates(roots);
        let mutual = match &config.identity {
            None => None,
            Some(identity) => {
                let tls = tls
                    .clone()
                    .with_client_auth_cert(identity.certs.clone(), identity.key.clone_key())
                    .map_err(|e| {
                        Error::Config(ConfigError::one(format!(
                            "`merchant_cert`: the certificate and key cannot be used for TLS: {e}"
                        )))
                    })?;
                // HTTP/1.1 only: under TLS 1.3 a server refuses a client certificate with an
                // alert sent after the handshake, which an HTTP/2 connection's task swallows
                // (the call sees only "channel closed"); over HTTP/1.1 the alert reaches the
                // call, whose error can then say the certificate was refused. When it arrives
                // before the request is written, the connection's task dies of it, and the
                // call reads it from the pool's `TlsAlerts`.
                let connector = connect::Connector::new(tls, false, config.connect_timeout);
                let alerts = connector.tls_alerts();
                Some((Self::pool(connector, &config)?, alerts))
            }
        };
        let plain = Self::pool(
            connect::Connector::new(
                tls.with_no_client_auth(),
                config.http2,
                config.connect_timeout,
            ),
            &config,
        )?;
        Ok(Arc::new(Self {
            plain,
            mutual,
            config,
        }))
    }

    fn pool(connector: connect::Connector, config: &TransportConfig) -> Result<Pool> {
        let executor = runtime::Executor(runtime::handle()?);
        Ok(hyper_util::client::legacy::Client::builder(executor)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .build(connector))
    }

    pub(crate) fn config(&self) -> &TransportConfig {
        &self.config
    }

    /// Sends `req` and reads the answer: whole under the size cap, or, for a request marked
    /// [`StreamResponse`], with the body left in the answer's [`StreamedBody`] extension.
    pub(crate) async fn send(&self, req: HttpRequest) -> Result<HttpResponse> {
        let info = req.extensions().get::<CallInfo>();
        let response_timeout = info
            .and_then(|i| i.response_timeout)
            .or(self.config.response_timeout);
        let read_timeout = info
            .and_then(|i| i.read_timeout)
            .or(self.config.read_timeout);
        let stream = req.extensions().get::<StreamResponse>().is_some();
        let (pool, tls_alerts) = match (req.extensions().get::<MutualTls>(), &self.mutual) {
            (None, _) => (&self.plain, None),
            (Some(_), Some((mutual, tls_alerts))) => (mutual, Some(tls_alerts)),
            (Some(_), None) => {
                return Err(Error::Config(ConfigError::one(
                    "this call asks for mutual TLS (`security`), which needs the merchant API \
                     certificate: set `ClientBuilder::merchant_cert`",
                )))
            }
        };
        let host = host_of(req.uri());
        let mut req = req.map(Full::new);
        let response = match response_timeout {
            None => pool.request(req).await,
            Some(limit) => {
                // The limit starts once a connection carries the request: opening one is the
                // connect limit's business.
                let mut connected = capture_connection(&mut req);
                let responding = pool.request(req);
                tokio::pin!(responding);
                tokio::select! {
                    biased;
                    answered = &mut responding => answered,
                    // Only the wake matters; its read guard must not live across the wait below.
                    () = async { drop(connected.wait_for_connection_metadata().await) } => {
                        tokio::time::timeout(limit, responding)
                            .await
                            .map_err(|_| Error::Timeout(TimeoutStage::Response))?
                    }
                }
            }
        }
        .map_err(|e| classify_unanswered(&host, e, tls_alerts.and_then(TlsAlerts::last)))?;
        let (parts, body) = response.into_parts();
        let body = BodyStream::new(body, read_timeout, host);
        if stream {
            let mut response = http::Response::from_parts(parts, Bytes::new());
            response.extensions_mut().insert(StreamedBody::new(body));
            return Ok(response);
        }
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = body
            .read_to_end(declared, self.config.max_body_bytes)
            .await?;
        Ok(http::Response::from_parts(parts, body))
    }
}
