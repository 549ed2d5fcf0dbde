//! The pooled HTTP client: hyper over rustls (the backend's provider, passed explicitly),
//! TCP_NODELAY, a connect limit, a total limit and a body cap.
//!
//! Two pools, chosen on the builder:
//! - by default, HTTP/2 and HTTP/1.1 offered by ALPN, each connection driven by its own task
//!   on the crate's runtime (hyper-util's pool), so that many calls share one HTTP/2
//!   connection;
//! - with [`ClientBuilder::http1_only`](crate::ClientBuilder::http1_only), HTTP/1.1
//!   connections the calls drive themselves ([`http1`]), the cheapest per sequential call.

mod http1;
pub(crate) mod runtime;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioTimer;

use crate::error::{Error, KeyError, Result, TimeoutStage};
use crate::request::CallInfo;
use crate::{HttpRequest, HttpResponse};

/// Transport settings chosen on the builder.
#[derive(Debug, Clone)]
pub(crate) struct TransportConfig {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_body_bytes: usize,
    pub extra_roots: Vec<Vec<u8>>,
    pub pool_idle_timeout: Duration,
    /// Offer HTTP/2 by ALPN (HTTP/1.1 is always offered).
    pub http2: bool,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            // Bills can be large; anything beyond this is not a WeChat Pay answer.
            max_body_bytes: 256 * 1024 * 1024,
            extra_roots: Vec::new(),
            pool_idle_timeout: Duration::from_secs(90),
            http2: true,
        }
    }
}

/// Sends requests over a shared connection pool.
pub(crate) struct Transport {
    pool: Pool,
    config: TransportConfig,
}

// One per pool, behind the transport's Arc: boxing the larger variant would save nothing.
#[allow(clippy::large_enum_variant)]
enum Pool {
    /// hyper-util's pool: connection tasks on the crate's runtime, HTTP/2 by ALPN.
    Tasks(hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
    /// HTTP/1.1 connections driven by the calls that use them.
    CallerDriven(http1::Http1Pool),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("config", &self.config)
            .finish()
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
                        .add(rustls::pki_types::CertificateDer::from(block.der))
                        .map_err(|e| KeyError::Malformed(format!("root certificate: {e}")))?;
                }
            }
        }
        // The provider is passed explicitly: a process-wide default would panic when an
        // application also enables another rustls backend.
        #[cfg(feature = "aws-lc-rs")]
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        #[cfg(not(feature = "aws-lc-rs"))]
        let provider = rustls::crypto::ring::default_provider();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::transport(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1();
        let pool = if config.http2 {
            let executor =
                crate::transport::runtime::Executor(crate::transport::runtime::handle()?);
            Pool::Tasks(
                hyper_util::client::legacy::Client::builder(executor)
                    .pool_timer(TokioTimer::new())
                    .timer(TokioTimer::new())
                    .pool_idle_timeout(config.pool_idle_timeout)
                    .build(https.enable_http2().wrap_connector(http)),
            )
        } else {
            Pool::CallerDriven(http1::Http1Pool::new(
                https.wrap_connector(http),
                config.pool_idle_timeout,
            ))
        };
        Ok(Arc::new(Self { pool, config }))
    }

    /// Sends `req` and reads the whole response, within the call's total time limit.
    pub(crate) async fn send(&self, req: HttpRequest) -> Result<HttpResponse> {
        let limit = req
            .extensions()
            .get::<CallInfo>()
            .and_then(|info| info.timeout)
            .unwrap_or(self.config.timeout);
        match tokio::time::timeout(limit, self.exchange(req)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout(TimeoutStage::Total)),
        }
    }

    async fn exchange(&self, req: HttpRequest) -> Result<HttpResponse> {
        let client = match &self.pool {
            Pool::Tasks(client) => client,
            Pool::CallerDriven(pool) => {
                return pool.exchange(req, self.config.max_body_bytes).await;
            }
        };
        let response = client.request(req.map(Full::new)).await.map_err(classify)?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, self.config.max_body_bytes)
            .collect()
            .await
            .map_err(Error::Transport)?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body))
    }
}

/// Whether a connect timeout is anywhere in `e`'s chain of sources.
fn is_connect_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        source = err.source();
    }
    false
}

/// A transport failure, with a connect timeout told apart.
fn classify(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    let e = e.into();
    if is_connect_timeout(e.as_ref()) {
        Error::Timeout(TimeoutStage::Connect)
    } else {
        Error::Transport(e)
    }
}
