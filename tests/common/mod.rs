//! Shared test helpers: fixture keys, a client configured with them, and a loopback
//! WeChat-Pay-like server that checks each request's signature and signs its answers, with
//! switches for every way an answer can be wrong.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use wechatpay::crypto::{Formatter, Rsa, RsaPrivateKey, RsaPublicKey};
use wechatpay::{Client, ClientBuilder};

pub const MCHID: &str = "1900000001";
pub const MERCHANT_SERIAL: &str = "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C";
pub const PUB_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000";

pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_url(name: &str) -> String {
    format!("file://{}", fixture(name))
}

/// Whether the openssl command line, the independent peer of the interop tests, is installed;
/// on CI (`CI=true`) its absence fails the test instead (see [`present_or_skip`]).
pub fn openssl_available() -> bool {
    let installed = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    present_or_skip(installed, "the openssl command")
}

/// The stdout of the openssl command line run with `args`, which must succeed.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The base64 SHA256-with-RSA signature of `message` made by `openssl dgst -sign` with the
/// private key in the PEM file `key_pem`.
pub fn openssl_sign(key_pem: impl AsRef<Path>, message: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let message_path = dir.path().join("message");
    std::fs::write(&message_path, message).expect("write message");
    let signature = openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        key_pem.as_ref().to_str().expect("UTF-8 key path"),
        message_path.to_str().expect("UTF-8 temp path"),
    ]);
    base64::engine::general_purpose::STANDARD.encode(signature)
}

/// Whether `openssl dgst -verify` with the public key in the PEM file `public_pem` says
/// `Verified OK` to the base64 SHA256-with-RSA `signature` of `message`.
pub fn openssl_verifies(public_pem: impl AsRef<Path>, message: &[u8], signature: &str) -> bool {
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(signature) else {
        eprintln!("signature is not base64: {signature}");
        return false;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let message_path = dir.path().join("message");
    let signature_path = dir.path().join("signature");
    std::fs::write(&message_path, message).expect("write message");
    std::fs::write(&signature_path, raw).expect("write signature");
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public_pem.as_ref())
        .arg("-signature")
        .arg(&signature_path)
        .arg(&message_path)
        .output()
        .expect("run openssl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let verified = out.status.success() && stdout.trim() == "Verified OK";
    if !verified {
        eprintln!(
            "openssl dgst -verify: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    verified
}

pub fn merchant_key() -> RsaPrivateKey {
    Rsa::from_private(&fixture_url("merchant_pkcs8.pem")).expect("merchant fixture loads")
}

pub fn platform_key() -> RsaPrivateKey {
    Rsa::from_private(&fixture_url("platform_private.pem")).expect("platform fixture loads")
}

/// Reads one HTTP request head from `stream`: true once its blank line has arrived, false if
/// the peer closed or the read failed first. The body, if any, is left unread.
pub fn read_head(stream: &mut impl std::io::Read) -> bool {
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

/// The four `Wechatpay-*` headers of an answer with `body`, signed by the fixture platform
/// key (`PUB_KEY_ID`) as if `age` seconds ago.
pub fn signature_headers(body: &[u8], age: i64) -> Vec<(&'static str, String)> {
    let timestamp = (Formatter::timestamp() - age).to_string();
    let nonce = Formatter::nonce(32);
    let signature = Rsa::sign(
        &Formatter::response(&timestamp, &nonce, body),
        &platform_key(),
    )
    .unwrap();
    vec![
        ("Wechatpay-Timestamp", timestamp),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Serial", PUB_KEY_ID.to_string()),
        ("Wechatpay-Signature", signature),
    ]
}

/// A builder for the fixture merchant, trusting the fixture platform key, aimed at `base`.
pub fn builder(base: &str) -> ClientBuilder {
    Client::builder()
        .mchid(MCHID)
        .serial(MERCHANT_SERIAL)
        .private_key(fixture_url("merchant_pkcs8.pem"))
        .cert(PUB_KEY_ID, fixture_url("platform_public.pem"))
        .base_uri(base)
}

/// How the server's next answers should go wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer correctly.
    None,
    /// Leave out one `Wechatpay-*` header.
    DropHeader(&'static str),
    /// Shift the signed timestamp by this many seconds.
    Skew(i64),
    /// Name a key id the client does not trust (still signed correctly).
    UnknownSerial,
    /// Send a signature that is not a signature.
    GarbageSignature,
    /// Answer with this status and body, signed.
    Status(u16, &'static str),
    /// Wait this long before answering.
    Delay(Duration),
    /// Answer with `Connection: close`, and close the connection after the answer.
    Close,
    /// Answer nothing: end the exchange before any header (HTTP/1.1 closes the connection,
    /// HTTP/2 resets the stream).
    Reset,
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub version: http::Version,
    /// Whether the Authorization header verified with the merchant public key.
    pub signature_ok: bool,
    /// The exact message the server checked the signature against.
    pub message: Vec<u8>,
    pub remote: SocketAddr,
    /// When the request had arrived whole.
    pub at: std::time::Instant,
}

struct State {
    merchant_public: RsaPublicKey,
    platform: RsaPrivateKey,
    faults: Mutex<VecDeque<Fault>>,
    seen: Mutex<Vec<Seen>>,
}

/// A TLS server configuration with the fixture certificate for `localhost`, `127.0.0.1` and
/// `::1` (self-signed, `tests/fixtures/make.sh`), offering `alpn`, and that certificate in PEM
/// for the client to trust.
pub fn localhost_tls(alpn: &[&[u8]]) -> (Arc<tokio_rustls::rustls::ServerConfig>, String) {
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |name| std::fs::read_to_string(fixture(name)).expect("a readable fixture");
    let cert_pem = read("localhost_cert.pem");
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("fixture certificate");
    let key =
        PrivateKeyDer::from_pem_slice(read("localhost_key.pem").as_bytes()).expect("fixture key");
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server cert");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    (Arc::new(config), cert_pem)
}

/// A tokio accept loop on a thread and runtime of its own: each connection `listener` accepts
/// goes to `on_accept`, called on that runtime (so it may `tokio::spawn`). Stopped and joined
/// when dropped.
pub struct AcceptLoop {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AcceptLoop {
    pub fn start(
        listener: std::net::TcpListener,
        on_accept: impl FnMut(tokio::net::TcpStream, SocketAddr) + Send + 'static,
    ) -> Self {
        Self::start_after(|| {}, listener, on_accept)
    }

    /// [`start`](Self::start), running `first` on the loop's thread before anything else.
    pub fn start_after(
        first: impl FnOnce() + Send + 'static,
        listener: std::net::TcpListener,
        mut on_accept: impl FnMut(tokio::net::TcpStream, SocketAddr) + Send + 'static,
    ) -> Self {
        listener.set_nonblocking(true).expect("nonblocking");
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            first();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            if let Ok((stream, remote)) = accepted {
                                on_accept(stream, remote);
                            }
                        }
                    }
                }
            });
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for AcceptLoop {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A loopback server on its own thread and runtime; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    _accepting: AcceptLoop,
    pub tls_root_pem: Option<String>,
}

impl TestServer {
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// Serves HTTPS with a fresh certificate for `localhost`, offering h2 and http/1.1.
    pub fn start_tls() -> Self {
        let (config, cert_pem) = localhost_tls(&[b"h2", b"http/1.1"]);
        let mut server = Self::launch(Some(tokio_rustls::TlsAcceptor::from(config)));
        server.tls_root_pem = Some(cert_pem);
        server
    }

    fn launch(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            merchant_public: merchant_key().public_key(),
            platform: platform_key(),
            faults: Mutex::new(VecDeque::new()),
            seen: Mutex::new(Vec::new()),
        });
        let served = Arc::clone(&state);
        let accepting = AcceptLoop::start(listener, move |stream, remote| {
            let _ = stream.set_nodelay(true);
            let state = Arc::clone(&served);
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(Arc::clone(&state), remote, req));
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            });
        });
        Self {
            addr,
            state,
            _accepting: accepting,
            tls_root_pem: None,
        }
    }

    pub fn base_uri(&self) -> String {
        match self.tls_root_pem {
            Some(_) => format!("https://localhost:{}/", self.addr.port()),
            None => format!("http://{}/", self.addr),
        }
    }

    pub fn client(&self) -> Client {
        let mut b = builder(&self.base_uri());
        if let Some(pem) = &self.tls_root_pem {
            b = b.root_certificate(pem.as_bytes().to_vec());
        }
        b.build().expect("fixture client builds")
    }

    /// Queues a fault for the next answer (faults are used once each, in order).
    pub fn fault(&self, fault: Fault) {
        self.state.faults.lock().unwrap().push_back(fault);
    }

    /// Drops the faults queued and not yet used.
    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the server saw a request")
    }
}

/// Parses `WECHATPAY2-SHA256-RSA2048 k="v",...` into its fields.
pub fn authorization_fields(value: &str) -> Option<Vec<(String, String)>> {
    let params = value.strip_prefix("WECHATPAY2-SHA256-RSA2048 ")?;
    params
        .split(',')
        .map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect()
}

pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

async fn handle(
    state: Arc<State>,
    remote: SocketAddr,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();

    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (signature_ok, message) = match authorization_fields(auth) {
        Some(fields) => {
            let ts: i64 = field(&fields, "timestamp").parse().unwrap_or(0);
            let message = Formatter::request(
                parts.method.as_str(),
                &path_and_query,
                ts,
                field(&fields, "nonce_str"),
                &body,
            );
            let ok = field(&fields, "mchid") == MCHID
                && field(&fields, "serial_no") == MERCHANT_SERIAL
                && Rsa::verify(
                    &message,
                    field(&fields, "signature"),
                    &state.merchant_public,
                );
            (ok, message)
        }
        None => (false, Vec::new()),
    };
    state.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path_and_query: path_and_query.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
        version: parts.version,
        signature_ok,
        message,
        remote,
        at: std::time::Instant::now(),
    });

    let fault = state
        .faults
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Fault::None);
    if let Fault::Delay(d) = fault {
        tokio::time::sleep(d).await;
    }
    if fault == Fault::Reset {
        return Err(std::io::Error::other("reset before the headers"));
    }
    let (status, reply): (u16, Bytes) = if !signature_ok {
        (
            401,
            Bytes::from_static(br#"{"code":"SIGN_ERROR","message":"signature did not verify"}"#),
        )
    } else if let Fault::Status(code, text) = fault {
        (code, Bytes::from_static(text.as_bytes()))
    } else if path_and_query.ends_with("/204") {
        (204, Bytes::new())
    } else if path_and_query.ends_with("/202") {
        (202, Bytes::new())
    } else {
        let echo = serde_json::json!({
            "method": parts.method.as_str(),
            "path": path_and_query,
            "body": String::from_utf8_lossy(&body),
        });
        (200, Bytes::from(echo.to_string()))
    };

    let now = Formatter::timestamp() + if let Fault::Skew(s) = fault { s } else { 0 };
    let nonce = Formatter::nonce(32);
    let signature = Rsa::sign(
        &Formatter::response(&now.to_string(), &nonce, &reply),
        &state.platform,
    )
    .expect("platform key signs");
    let mut response = hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("request-id", "08F78BB5AF0610D302A5B7DA0C40F8F2");
    let serial = if fault == Fault::UnknownSerial {
        "PUB_KEY_ID_9999"
    } else {
        PUB_KEY_ID
    };
    let signature = if fault == Fault::GarbageSignature {
        "bm90IGEgc2lnbmF0dXJl".to_string()
    } else {
        signature
    };
    if fault == Fault::Close {
        response = response.header("connection", "close");
    }
    for (name, value) in [
        ("Wechatpay-Timestamp", now.to_string()),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Serial", serial.to_string()),
        ("Wechatpay-Signature", signature),
    ] {
        if fault != Fault::DropHeader(name) {
            response = response.header(name, value);
        }
    }
    Ok(response.body(Full::new(reply)).expect("response builds"))
}

/// Whether a test that needs `what` (a tool, or a file from outside the repository) can run:
/// true when `present`. A missing piece skips the test with a note, except on CI (`CI=true`),
/// where it fails the test, so that nothing is skipped there unnoticed.
pub fn present_or_skip(present: bool, what: &str) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is required on CI (CI=true), and it is missing"
    );
    eprintln!("skipped: {what} is missing");
    false
}

/// Whether the `node` command runs, for the cross-language tests.
pub fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
