//! HTTP/1.1 connections that the caller drives.
//!
//! A pooled connection is a hyper HTTP/1.1 connection whose I/O future is kept in the pool
//! with its sender, not spawned as a task. The call that checks it out polls it alongside its
//! own request, on the caller's thread, until the whole answer is read, and then puts it back.
//! Compared with a spawned connection task, this saves the wake-ups that pass each request to
//! the task and each answer back: about 20 us of a sequential call on the reference machine
//! (docs/performance.md). An HTTP/1.1 connection carries one call at a time anyway, so
//! nothing waits on a connection that nobody polls.
//!
//! Sockets and timers belong to the crate's runtime ([`crate::runtime::run`] enters it around
//! every poll), so a connection outlives the caller's runtime like any other.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::client::conn::http1;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tower_service::Service as _;

use crate::error::{Error, Result};
use crate::sync::lock;
use crate::{HttpRequest, HttpResponse};

/// A connection's byte stream.
type Io = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

/// Idle connections kept per origin; more than this many calls in flight to one origin at
/// once each open their own connection, and the extra ones are closed after use.
const MAX_IDLE_PER_ORIGIN: usize = 256;

/// The origin a connection is for.
pub(super) type Origin = (Scheme, Authority);

/// What a pooled connection is for.
type Key = Origin;

/// A pool of caller-driven HTTP/1.1 connections.
pub(crate) struct Http1Pool {
    connector: HttpsConnector<HttpConnector>,
    idle: Mutex<HashMap<Key, Vec<Connection>>>,
    idle_timeout: Duration,
}

impl Http1Pool {
    pub(crate) fn new(connector: HttpsConnector<HttpConnector>, idle_timeout: Duration) -> Self {
        Self {
            connector,
            idle: Mutex::new(HashMap::new()),
            idle_timeout,
        }
    }

    /// Sends `req` on a pooled or new connection and reads the whole answer, at most
    /// `max_body_bytes` of body.
    pub(crate) async fn exchange(
        &self,
        req: HttpRequest,
        max_body_bytes: usize,
    ) -> Result<HttpResponse> {
        let key = origin_of(req.uri())?;
        let mut req = origin_form(req, &key)?.map(Full::new);
        loop {
            let (mut conn, reused) = match self.checkout(&key) {
                Some(conn) => (conn, true),
                None => (self.connect(&key).await?, false),
            };
            let sent = conn.sender.try_send_request(req);
            let response = match conn.drive(pin!(sent)).await {
                Ok(Ok(response)) => response,
                Ok(Err(mut e)) => match e.take_message() {
                    // A pooled connection the server closed while it sat idle hands the
                    // request back unsent; it is safe to send it on another connection.
                    Some(unsent) if reused => {
                        req = unsent;
                        continue;
                    }
                    _ => return Err(Error::transport(e.into_error())),
                },
                Err(closed) => return Err(closed),
            };
            let (parts, body) = response.into_parts();
            let body = match conn
                .drive(pin!(Limited::new(body, max_body_bytes).collect()))
                .await
            {
                Ok(Ok(collected)) => collected.to_bytes(),
                Ok(Err(e)) => return Err(Error::Transport(e)),
                Err(closed) => return Err(closed),
            };
            self.checkin(key, conn);
            return Ok(http::Response::from_parts(parts, body));
        }
    }

    /// The most recently used idle connection to `origin` that is still open.
    fn checkout(&self, key: &Key) -> Option<Connection> {
        loop {
            let mut conn = lock(&self.idle).get_mut(key)?.pop()?;
            if conn.idle_since.elapsed() < self.idle_timeout && conn.is_ready() {
                return Some(conn);
            }
        }
    }

    fn checkin(&self, key: Key, mut conn: Connection) {
        if !conn.is_ready() {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = lock(&self.idle);
        let list = idle.entry(key).or_default();
        list.retain(|c| c.idle_since.elapsed() < self.idle_timeout);
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(conn);
        }
    }

    async fn connect(&self, (scheme, authority): &Key) -> Result<Connection> {
        let uri = http::Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(Error::transport)?;
        let mut connector = self.connector.clone();
        let io = connector.call(uri).await.map_err(super::classify)?;
        let (sender, driver) = http1::Builder::new()
            .handshake(Box::new(io))
            .await
            .map_err(Error::transport)?;
        Ok(Connection {
            sender,
            driver,
            closed: false,
            idle_since: Instant::now(),
        })
    }
}

/// One connection: the sender for requests and the future that does its I/O.
struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: http1::Connection<Box<Io>, Full<Bytes>>,
    /// The driver has finished: the connection is closed or failed.
    closed: bool,
    idle_since: Instant,
}

impl Connection {
    /// Polls `fut` to completion with the connection's I/O driven alongside it.
    async fn drive<F: Future>(&mut self, mut fut: Pin<&mut F>) -> Result<F::Output> {
        poll_fn(|cx| {
            // The driver goes first so that what it reads reaches `fut` in the same poll.
            self.poll_driver(cx);
            match fut.as_mut().poll(cx) {
                Poll::Ready(output) => Poll::Ready(Ok(output)),
                // hyper answers every pending request before its connection ends, so this is
                // a connection that ended with nothing owed.
                Poll::Pending if self.closed => Poll::Ready(Err(Error::transport(
                    "the connection closed before the answer was complete",
                ))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    fn poll_driver(&mut self, cx: &mut Context<'_>) {
        if !self.closed && self.driver.poll_without_shutdown(cx).is_ready() {
            self.closed = true;
        }
    }

    /// Whether a new request can go out now. Polls the driver once, without a waker to
    /// call, so that a close the server sent while the connection was idle is seen.
    fn is_ready(&mut self) -> bool {
        self.poll_driver(&mut Context::from_waker(noop_waker()));
        !self.closed && self.sender.is_ready()
    }
}

fn noop_waker() -> &'static Waker {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    static NOOP: OnceLock<Waker> = OnceLock::new();
    NOOP.get_or_init(|| Waker::from(Arc::new(Noop)))
}

fn origin_of(uri: &http::Uri) -> Result<Origin> {
    match (uri.scheme(), uri.authority()) {
        (Some(scheme), Some(authority)) => Ok((scheme.clone(), authority.clone())),
        _ => Err(Error::transport(format!(
            "request URI {uri} has no scheme or host"
        ))),
    }
}

/// The port `scheme` implies when the authority names none.
pub(super) fn default_port(scheme: &Scheme) -> u16 {
    if *scheme == Scheme::HTTPS {
        443
    } else {
        80
    }
}

/// Puts the request in the form an HTTP/1.1 server expects: `Host` set, and the target in
/// origin form (`/path?query`).
fn origin_form(mut req: HttpRequest, (scheme, authority): &Origin) -> Result<HttpRequest> {
    if !req.headers().contains_key(http::header::HOST) {
        let host = match authority.port_u16() {
            Some(port) if port == default_port(scheme) => authority.host(),
            _ => authority.as_str(),
        };
        let host = http::HeaderValue::from_str(host).map_err(Error::transport)?;
        req.headers_mut().insert(http::header::HOST, host);
    }
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str)
        .parse()
        .map_err(Error::transport)?;
    *req.uri_mut() = target;
    Ok(req)
}
