//! The two loopback servers the bench calls. Both answer every request with one response the
//! platform key signed at start-up, so neither signs anything per call.
//!
//! - [`HyperServer`]: HTTP/2 and HTTP/1.1 by ALPN, one tokio thread; it can hold answers back,
//!   for the 10,000-in-flight phase.
//! - [`LeanServer`]: HTTP/1.1 only, a blocking thread per connection writing pre-built bytes.
//!   It costs a few microseconds per call, so the sequential phases measure the client.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use wechatpay::crypto::{Formatter, Rsa};

use crate::machine::{current_tid, thread_cpu_time};

pub const PUB_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000";
pub const BODY: &[u8] =
    br#"{"mchid":"1900000001","service_id":12535,"out_contract_code":"wxwtdk20200910100000"}"#;

pub fn fixture(name: &str) -> String {
    format!(
        "file://{}/../tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The servers' self-signed certificate for `localhost`, and the one signed answer.
pub struct Identity {
    pub root_pem: String,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
    /// `Wechatpay-*` and content headers of the answer, signed over [`BODY`].
    headers: Vec<(&'static str, String)>,
    /// The answer's signature input and base64 signature, for timing verification alone.
    pub signed_message: Vec<u8>,
    pub signature: String,
}

impl Identity {
    pub fn new() -> Self {
        use tokio_rustls::rustls::pki_types::pem::PemObject as _;
        let read = |name: &str| {
            std::fs::read_to_string(fixture(name).trim_start_matches("file://")).expect("fixture")
        };
        let root_pem = read("localhost_cert.pem");
        let cert =
            CertificateDer::from_pem_slice(root_pem.as_bytes()).expect("fixture certificate");
        let key = tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(
            read("localhost_key.pem").as_bytes(),
        )
        .expect("fixture key")
        .secret_pkcs8_der()
        .to_vec();
        let platform = Rsa::from_private(&fixture("platform_private.pem")).expect("platform key");
        let timestamp = Formatter::timestamp().to_string();
        let nonce = Formatter::nonce(32);
        let signed_message = Formatter::response(&timestamp, &nonce, BODY);
        let signature = Rsa::sign(&signed_message, &platform).expect("sign");
        Self {
            root_pem,
            cert,
            key,
            headers: vec![
                ("Wechatpay-Timestamp", timestamp),
                ("Wechatpay-Nonce", nonce),
                ("Wechatpay-Serial", PUB_KEY_ID.to_string()),
                ("Wechatpay-Signature", signature.clone()),
                ("Content-Type", "application/json".to_string()),
            ],
            signed_message,
            signature,
        }
    }

    fn tls(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![self.cert.clone()],
            PrivateKeyDer::Pkcs8(self.key.clone().into()),
        )
        .expect("cert");
        tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(tls)
    }

    /// The whole HTTP/1.1 answer, head and body, as it goes on the wire.
    fn http1_answer(&self) -> Vec<u8> {
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", BODY.len()));
        let mut answer = head.into_bytes();
        answer.extend_from_slice(BODY);
        answer
    }
}

pub struct HyperServer {
    pub port: u16,
    /// How long the server holds each answer, in milliseconds.
    pub delay: Arc<AtomicU64>,
    /// The server thread's id, to tell its CPU time from the client's.
    tid: Arc<AtomicU64>,
}

impl HyperServer {
    /// Starts the server on its own thread. `LOAD_HTTP1=1` makes it offer only HTTP/1.1.
    pub fn start(identity: &Identity) -> Self {
        let alpn: &[&[u8]] = if std::env::var_os("LOAD_HTTP1").is_some() {
            &[b"http/1.1"]
        } else {
            &[b"h2", b"http/1.1"]
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(identity.tls(alpn));
        let headers: Arc<[(&'static str, String)]> = Arc::from(identity.headers.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let delay = Arc::new(AtomicU64::new(0));
        let server_delay = Arc::clone(&delay);
        let tid = Arc::new(AtomicU64::new(0));
        let server_tid = Arc::clone(&tid);
        std::thread::spawn(move || {
            server_tid.store(current_tid(), Ordering::Relaxed);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    let headers = Arc::clone(&headers);
                    let delay = Arc::clone(&server_delay);
                    tokio::spawn(async move {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        serve_hyper(TokioIo::new(stream), headers, delay).await;
                    });
                }
            });
        });
        Self { port, delay, tid }
    }

    /// CPU time the server thread has used.
    pub fn cpu(&self) -> Duration {
        thread_cpu_time(self.tid.load(Ordering::Relaxed))
    }
}

async fn serve_hyper<S>(
    stream: TokioIo<S>,
    headers: Arc<[(&'static str, String)]>,
    delay: Arc<AtomicU64>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let headers = Arc::clone(&headers);
        let delay = delay.load(Ordering::Relaxed);
        async move {
            // Read the request body as a real server would; an h2 server that answers without
            // reading it resets the stream, and after enough resets it sends GOAWAY
            // (ENHANCE_YOUR_CALM).
            let _ = http_body_util::BodyExt::collect(req.into_body()).await;
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let mut r = hyper::Response::builder();
            for (k, v) in headers.iter() {
                r = r.header(*k, v);
            }
            Ok::<_, Infallible>(
                r.body(Full::new(Bytes::from_static(BODY)))
                    .expect("response"),
            )
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(20_000);
    if let Err(e) = builder.serve_connection(stream, service).await {
        eprintln!("server connection ended: {e:?}");
    }
}

pub struct LeanServer {
    pub port: u16,
    /// Ids of the accepting thread and of every connection thread.
    tids: Arc<Mutex<Vec<u64>>>,
}

impl LeanServer {
    pub fn start(identity: &Identity) -> Self {
        let tls = identity.tls(&[b"http/1.1"]);
        let answer: Arc<[u8]> = Arc::from(identity.http1_answer());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let tids = Arc::new(Mutex::new(Vec::new()));
        let server_tids = Arc::clone(&tids);
        std::thread::spawn(move || {
            server_tids.lock().expect("tids").push(current_tid());
            for stream in listener.incoming().flatten() {
                let (tls, answer, tids) = (
                    Arc::clone(&tls),
                    Arc::clone(&answer),
                    Arc::clone(&server_tids),
                );
                std::thread::spawn(move || {
                    tids.lock().expect("tids").push(current_tid());
                    // A connection ends when the client closes it; that is not an error here.
                    let _ = serve_lean(stream, tls, &answer);
                });
            }
        });
        Self { port, tids }
    }

    /// CPU time all the server's threads have used.
    pub fn cpu(&self) -> Duration {
        let tids = self.tids.lock().expect("tids").clone();
        tids.into_iter().map(thread_cpu_time).sum()
    }
}

fn serve_lean(
    stream: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    answer: &[u8],
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let conn = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, stream);
    let mut buffer = Vec::with_capacity(16 * 1024);
    loop {
        read_http1_message(&mut stream, &mut buffer)?;
        stream.write_all(answer)?;
        stream.flush()?;
    }
}

/// Reads one HTTP/1.1 message framed by `Content-Length` (or without a body) from `from`, and
/// removes it from the front of `buffer`, which keeps whatever followed it.
pub fn read_http1_message(from: &mut impl Read, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let mut fill = |buffer: &mut Vec<u8>| -> std::io::Result<()> {
        let n = from.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    };
    let head_len = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        fill(buffer)?;
    };
    let body_len = std::str::from_utf8(&buffer[..head_len])
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buffer.len() < head_len + body_len {
        fill(buffer)?;
    }
    buffer.drain(..head_len + body_len);
    Ok(())
}
