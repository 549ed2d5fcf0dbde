//! Opening connections: DNS, TCP (Happy Eyeballs, TCP_NODELAY) and TLS, all under one connect
//! time limit.
//!
//! hyper-util's `HttpConnector` bounds only the TCP connect with its own timeout; the lookup
//! before it and the TLS handshake after it would otherwise be bounded by nothing but the
//! call's total limit. This wrapper puts the whole of opening a connection under the connect
//! limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An HTTPS-or-HTTP connector whose every connection attempt ends within `limit`.
#[derive(Clone)]
pub(crate) struct Connector {
    inner: HttpsConnector<HttpConnector>,
    limit: Duration,
    tls_alerts: TlsAlerts,
}

/// The last TLS alert read on any of one connector's connections, in plain words.
///
/// Under TLS 1.3 a server refuses a client certificate with an alert sent after the handshake.
/// When the alert arrives before the connection carries the call's request, the connection's
/// task dies of it and the call is told only that the connection "was not ready"; this note
/// lets the call say what the server said. A refused certificate is a property of the client,
/// not of one connection, so the last failure of any of its connections is the right one.
#[derive(Clone, Default)]
pub(crate) struct TlsAlerts(Arc<Mutex<Option<String>>>);

impl TlsAlerts {
    pub(crate) fn last(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn note(&self, e: &std::io::Error) {
        let alert = e
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .filter(|e| matches!(e, rustls::Error::AlertReceived(_)));
        if let Some(alert) = alert {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(super::error::describe_tls(alert));
        }
    }
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
        Self {
            inner,
            limit,
            tls_alerts: TlsAlerts::default(),
        }
    }

    /// Where this connector's connections note the TLS alerts they read.
    pub(crate) fn tls_alerts(&self) -> TlsAlerts {
        self.tls_alerts.clone()
    }
}

impl Service<http::Uri> for Connector {
    type Response = NotingStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        let tls_alerts = self.tls_alerts.clone();
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected.map(|inner| NotingStream { inner, tls_alerts }),
                Err(_) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timeout",
                )) as BoxError),
            }
        })
    }
}

/// A connection that notes the TLS alerts it reads in its connector's [`TlsAlerts`].
pub(crate) struct NotingStream {
    inner: MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>,
    tls_alerts: TlsAlerts,
}

impl hyper::rt::Read for NotingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Err(e)) = &read {
            self.tls_alerts.note(e);
        }
        read
    }
}

impl hyper::rt::Write for NotingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
}

impl Connection for NotingStream {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}
