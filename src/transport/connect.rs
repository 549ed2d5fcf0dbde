//! Opening connections: DNS, TCP (Happy Eyeballs, TCP_NODELAY) and TLS, all under one connect
//! time limit.
//!
//! hyper-util's `HttpConnector` bounds only the TCP connect with its own timeout; the lookup
//! before it and the TLS handshake after it would otherwise be bounded by nothing but the
//! call's total limit. This wrapper puts the whole of opening a connection under the connect
//! limit.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An HTTPS-or-HTTP connector whose every connection attempt ends within `limit`.
#[derive(Clone)]
pub(crate) struct Connector {
    inner: HttpsConnector<HttpConnector>,
    limit: Duration,
}

impl Connector {
    pub(crate) fn new(tls: rustls::ClientConfig, http2: bool, limit: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        // Without it each request on a reused HTTP/2 connection waited ~40 ms for Nagle.
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1();
        let inner = if http2 {
            https.enable_http2().wrap_connector(http)
        } else {
            https.wrap_connector(http)
        };
        Self { inner, limit }
    }
}

impl Service<http::Uri> for Connector {
    type Response = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timeout",
                )) as BoxError),
            }
        })
    }
}
