//! The server: a thread with its own current-thread runtime serving hyper 1 connections,
//! and the dispatch of each request (checks, routing, seeds, catalog answers).
//!
//! As in wiremock, the listener is bound before the thread starts, so the port accepts
//! connections as soon as `start` returns, and the server does not depend on the caller's
//! runtime (or on the caller having one). Dropping the `oneshot::Sender` held by the
//! `MockServer` ends the accept loop; the thread then drops its runtime, which closes every
//! open connection.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt as _, Either, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::oneshot;

use super::auth::{self, Merchant, NonceCache, SignedParts};
use super::bills::{self, Bills, GeneratedBody};
use super::catalog::{self, Routed};
use super::credentials::{demo, DemoKeys};
use super::media::{self, MediaStore};
use super::reply::Reply;
use super::seeds::SeedData;
use super::tls::{self, Connection};
use super::v2::{self, V2State};
use super::{certificates, Mode};
use crate::sync::lock;

/// The largest request body the simulator reads (WeChat Pay's uploads are at most 5 MB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// State shared by the server thread and the `MockServer` handle.
pub(crate) struct Shared {
    pub(crate) mode: RwLock<Mode>,
    pub(crate) merchants: RwLock<Vec<Merchant>>,
    pub(crate) nonces: Mutex<NonceCache>,
    pub(crate) seeds: Mutex<SeedData>,
    pub(crate) requests: AtomicU64,
    pub(crate) keys: &'static DemoKeys,
    /// The state behind the APIv2 endpoints.
    pub(crate) v2: Mutex<V2State>,
    /// Uploaded files, served back by `media_id`.
    pub(crate) media: Mutex<MediaStore>,
    /// The bill and statement files it issues.
    pub(crate) bills: Bills,
    /// The base URI clients reach the simulator at (for `download_url` and `media_url`).
    pub(crate) public_base: String,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("mode", &self.mode())
            .field("requests", &self.requests.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(keys: &'static DemoKeys, mode: Mode, public_base: String) -> Self {
        Self {
            mode: RwLock::new(mode),
            merchants: RwLock::new(vec![Merchant {
                mchid: demo::MCHID.into(),
                serial: demo::MERCHANT_SERIAL.into(),
                public_key: keys.merchant_public.clone(),
            }]),
            nonces: Mutex::new(NonceCache::default()),
            seeds: Mutex::new(SeedData::samples(demo::MCHID)),
            requests: AtomicU64::new(0),
            keys,
            v2: Mutex::new(V2State::samples()),
            media: Mutex::new(MediaStore::default()),
            bills: Bills::new(public_base.clone()),
            public_base,
        }
    }

    pub(crate) fn mode(&self) -> Mode {
        *self
            .mode
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        *self
            .mode
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mode;
    }

    /// The key that signs answers in the current mode, and its id.
    pub(crate) fn signing_key(&self) -> (&crate::crypto::RsaPrivateKey, &'static str) {
        match self.mode() {
            Mode::PublicKey => (
                &self.keys.public_key_mode_private,
                demo::PLATFORM_PUBLIC_KEY_ID,
            ),
            Mode::PlatformCertificate => (
                &self.keys.certificate_mode_private,
                demo::PLATFORM_CERTIFICATE_SERIAL,
            ),
        }
    }
}

/// The running server: dropping it stops the loop and waits for the thread.
#[derive(Debug)]
pub(crate) struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.shutdown.take());
        if let Some(thread) = self.thread.take() {
            // The thread only drops its runtime after the loop ends; a panic there has already
            // been reported by the panic hook, and there is nothing more to do with it.
            let _ = thread.join();
        }
    }
}

/// Starts serving `listener` on a new thread.
pub(crate) fn spawn(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
) -> std::io::Result<Running> {
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("wechatpay-mock-{port}"))
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "mock: cannot register the listener");
                        return;
                    }
                };
                let accept = tokio::spawn(accept_loop(listener, shared));
                // Resolves when the MockServer drops the sender.
                let _ = stopped.await;
                accept.abort();
            });
            // Dropping the runtime here, on its own thread, closes open connections.
            drop(runtime);
        })?;
    Ok(Running {
        shutdown: Some(shutdown),
        thread: Some(thread),
    })
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, or a connection reset before accept: wait a moment.
                tracing::warn!(error = %e, "mock: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        // Without TCP_NODELAY each answer on a reused connection waits ~40 ms for delayed ACKs.
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            // One port serves both: HTTPS (for mutual TLS) when the peer opens with a TLS
            // handshake, plain HTTP otherwise.
            if !tls::starts_with_handshake(&stream).await {
                return serve_connection(TokioIo::new(stream), shared, Connection::default()).await;
            }
            let acceptor = match tls::acceptor() {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "mock: the demo TLS material is unusable");
                    return;
                }
            };
            match acceptor.accept(stream).await {
                Ok(stream) => {
                    let connection = Connection::of(&stream);
                    serve_connection(TokioIo::new(stream), shared, connection).await;
                }
                Err(e) => tracing::debug!(error = %e, "mock: TLS handshake failed"),
            }
        });
    }
}

/// Serves the requests of one connection, each carrying what is known of the connection.
async fn serve_connection<I>(io: I, shared: Arc<Shared>, connection: Connection)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: http::Request<_>| {
        let shared = Arc::clone(&shared);
        req.extensions_mut().insert(connection.clone());
        async move { Ok::<_, Infallible>(serve(&shared, req).await) }
    });
    let result = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, service)
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "mock: connection ended with an error");
    }
}
/// An answer's body: in memory, or generated while it is sent (bills).
type AnswerBody = Either<Full<Bytes>, GeneratedBody>;

async fn serve(
    shared: &Shared,
    req: http::Request<hyper::body::Incoming>,
) -> http::Response<AnswerBody> {
    let (parts, body) = req.into_parts();
    let number = shared.requests.fetch_add(1, Ordering::Relaxed);
    let request_id = request_id(number);
    let mut reply = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => dispatch(shared, &parts, &collected.to_bytes()),
        Err(e) => Reply::param_error(
            "body",
            "body",
            format!("the request body could not be read: {e}"),
        ),
    };
    tracing::debug!(
        method = %parts.method,
        uri = %parts.uri,
        status = reply.status.as_u16(),
        request_id = %request_id,
        "mock"
    );
    let (key, key_id) = shared.signing_key();
    let generated = reply.take_generated();
    let response = reply.into_http(key, key_id, &request_id);
    match generated {
        None => response.map(|body| Either::Left(Full::new(body))),
        Some(generated) => response.map(|_| Either::Right(generated.into_body())),
    }
}

fn request_id(number: u64) -> String {
    let mut random = [0u8; 8];
    crate::crypto::fill_random(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02X}")).collect();
    format!("08{hex}{number:010}")
}

/// Answers one request whose body has been read.
pub(crate) fn dispatch(shared: &Shared, parts: &http::request::Parts, body: &Bytes) -> Reply {
    let path = parts.uri.path();
    let uri = parts.uri.path_and_query().map_or(path, |pq| pq.as_str());
    let relative = path.strip_prefix('/').unwrap_or(path);
    if let Some(reply) = v2::dispatch(shared, parts, body) {
        return reply;
    }
    if !["v3/", "hk/v3/", "global/v3/"]
        .iter()
        .any(|p| relative.starts_with(p))
    {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!(
                "no API at {path}: the simulator serves APIv3 paths (v3/, hk/v3/, global/v3/) \
                 and the APIv2 endpoints listed in docs/simulator.md"
            ),
        );
    }

    let upload = media::parse(parts, body);
    let signed_body: &[u8] = upload.as_ref().map_or(body, |u| u.meta.as_ref());
    let now = crate::crypto::Formatter::timestamp();
    let mchid = {
        let merchants = shared
            .merchants
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let signed = SignedParts {
            method: parts.method.as_str(),
            uri,
            authorization: parts
                .headers
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
            body: signed_body,
        };
        match auth::check(&signed, &merchants, &shared.nonces, now) {
            Ok(mchid) => mchid,
            Err(reply) => return reply,
        }
    };

    if let Some(serial) = parts.headers.get(crate::verify::SERIAL) {
        let serial = String::from_utf8_lossy(serial.as_bytes());
        let known = [
            demo::PLATFORM_PUBLIC_KEY_ID,
            demo::PLATFORM_CERTIFICATE_SERIAL,
        ];
        if !known.iter().any(|k| k.eq_ignore_ascii_case(serial.trim())) {
            return Reply::param_error(
                "Wechatpay-Serial",
                "header",
                format!(
                    "Wechatpay-Serial `{}` is neither the simulator's public key id ({}) nor its \
                     platform certificate serial ({})",
                    serial.chars().take(64).collect::<String>(),
                    demo::PLATFORM_PUBLIC_KEY_ID,
                    demo::PLATFORM_CERTIFICATE_SERIAL
                ),
            );
        }
    }

    let catalog = match catalog::catalog() {
        Ok(c) => c,
        Err(e) => return Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", e),
    };
    let (op, path_params) = match catalog.route(parts.method.as_str(), relative) {
        Routed::Found(op, params) => (op, params),
        Routed::WrongMethod(methods) => {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!(
                    "no API at {} {path}; this path accepts {}",
                    parts.method,
                    methods.join(", ")
                ),
            )
        }
        Routed::NotFound => {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!(
                    "no API at {} {path} in the WeChat Pay catalog",
                    parts.method
                ),
            )
        }
    };
    let part_names = upload.as_ref().map_or(&[][..], |u| u.names.as_slice());
    let mut input = match catalog::check_input(
        op,
        mchid,
        path_params,
        parts.uri.query().unwrap_or(""),
        signed_body,
        part_names,
    ) {
        Ok(input) => input,
        Err(reply) => return reply,
    };
    if op.method == "GET" && op.path == "v3/certificates" {
        return certificates::answer(shared.keys, now);
    }
    if let Some(reply) = media::accept(
        &shared.media,
        &shared.public_base,
        upload.as_ref(),
        &mut input,
    ) {
        return reply;
    }
    if op.method == "GET" {
        if let Some(reply) = media::serve(&shared.media, &op.path, &input) {
            return reply;
        }
        if bills::serves(&op.path) {
            // A sub-merchant bill's key is encrypted to the merchant asking for it.
            let merchant = shared
                .merchants
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .find(|m| m.mchid == input.mchid)
                .map_or_else(
                    || shared.keys.merchant_public.clone(),
                    |m| m.public_key.clone(),
                );
            if let Some(reply) = bills::answer(&shared.bills, &merchant, &op.path, &input) {
                return reply;
            }
        }
    }
    if let Some(reply) = reply_from_seeds(shared, &op.path, &input, now) {
        return reply;
    }
    catalog::answer(op, &input)
}

fn reply_from_seeds(
    shared: &Shared,
    path: &str,
    input: &catalog::Input,
    now: i64,
) -> Option<Reply> {
    lock(&shared.seeds).handle(path, input, now)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_and_numbered() {
        assert_ne!(request_id(1), request_id(1));
        assert!(request_id(7).ends_with("0000000007"));
    }
}
