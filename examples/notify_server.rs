//! A small hyper 1 server that receives WeChat Pay APIv3 notifications: it reads the raw body,
//! verifies the `Wechatpay-*` headers against it, decrypts the resource with the APIv3 key and
//! answers with the reply WeChat Pay expects.
//!
//! ```text
//! # against your own configuration (POST notifications to http://ADDR/notify):
//! WECHATPAY_APIV3_KEY=... \
//! WECHATPAY_PLATFORM_KEY=file:///path/to/pub_key.pem \
//! WECHATPAY_PLATFORM_KEY_ID=PUB_KEY_ID_0114232134912410000 \
//!   cargo run --example notify_server -- --listen 127.0.0.1:8080 [--once]
//!
//! # self-contained: the test keys sign one notification, post it here, and the server exits
//! cargo run --example notify_server -- --self-test
//! ```
//!
//! `--once` stops after the first notification, letting its reply finish (graceful shutdown).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use wechatpay::crypto::{AesGcm, ApiV3Key, Formatter, Rsa};
use wechatpay::notify::{self, Verifier};
use wechatpay::PlatformKeys;

/// WeChat Pay notifications are small; refuse anything larger before reading it all.
const MAX_BODY: usize = 64 * 1024;
const NOTIFY_PATH: &str = "/notify";

type Reply = Response<Full<Bytes>>;

struct Options {
    listen: SocketAddr,
    once: bool,
    self_test: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        once: false,
        self_test: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--once" => options.once = true,
            "--self-test" => options.self_test = true,
            "--listen" => {
                let value = args.next().ok_or("--listen needs an address")?;
                options.listen = value
                    .parse()
                    .map_err(|e| format!("--listen {value}: {e}"))?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.self_test {
        options.once = true;
        options.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    }
    Ok(options)
}

fn fixture(name: &str) -> String {
    format!(
        "file://{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

const SELF_TEST_APIV3_KEY: &str = "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6";
const SELF_TEST_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000";

/// The verifier: from the environment, or from the test fixtures in `--self-test`.
fn verifier(self_test: bool) -> Result<Verifier, Box<dyn std::error::Error>> {
    let (apiv3_key, key_source, key_id) = if self_test {
        (
            SELF_TEST_APIV3_KEY.to_string(),
            fixture("platform_public.pem"),
            SELF_TEST_KEY_ID.to_string(),
        )
    } else {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
        (
            var("WECHATPAY_APIV3_KEY")?,
            var("WECHATPAY_PLATFORM_KEY")?,
            var("WECHATPAY_PLATFORM_KEY_ID")?,
        )
    };
    let keys = PlatformKeys::new();
    keys.insert(&key_id, Rsa::from_public(&key_source)?);
    Ok(Verifier::new(keys, ApiV3Key::new(apiv3_key)?))
}

fn into_reply(response: Response<String>) -> Reply {
    response.map(|body| Full::new(Bytes::from(body)))
}

/// One request: read the raw body (bounded), verify and decrypt, reply.
async fn handle(
    request: Request<Incoming>,
    verifier: Verifier,
    done: watch::Sender<bool>,
) -> Result<Reply, std::convert::Infallible> {
    if request.method() != Method::POST || request.uri().path() != NOTIFY_PATH {
        let mut reply = into_reply(notify::v3_failure("not found"));
        *reply.status_mut() = StatusCode::NOT_FOUND;
        return Ok(reply);
    }
    let (parts, body) = request.into_parts();
    // Verify the bytes exactly as received: parsing and re-serialising would change them.
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            eprintln!("could not read the body: {e}");
            let mut reply = into_reply(notify::v3_failure("body unreadable or too large"));
            *reply.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(reply);
        }
    };
    let reply = match verifier.verify_and_decrypt_now(&parts.headers, &body) {
        Ok(notification) => {
            // Act on the notification here (idempotently: WeChat Pay retries until it gets a
            // success, so the same `id` can arrive more than once).
            println!(
                "{} {} ({}): {}",
                notification.id,
                notification.event_type,
                notification.summary,
                notification.resource
            );
            notify::v3_success()
        }
        Err(e) => {
            // The error names the failed step; log it, and tell WeChat Pay only that it failed.
            eprintln!("rejected notification: {e}");
            notify::v3_failure("verification failed")
        }
    };
    let _ = done.send(true);
    Ok(into_reply(reply))
}

/// What `--self-test` posts: a notification signed with the test platform key, as WeChat Pay
/// would send it.
fn self_test_request(addr: SocketAddr) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let resource = r#"{"out_trade_no":"1217752501201407033233368018","trade_state":"SUCCESS","amount":{"total":100}}"#;
    let nonce = Formatter::nonce(12);
    let ciphertext = AesGcm::encrypt(
        resource.as_bytes(),
        SELF_TEST_APIV3_KEY.as_bytes(),
        nonce.as_bytes(),
        b"transaction",
    )?;
    let body = serde_json::json!({
        "id": "EV-2018022511223320873",
        "create_time": "2015-05-20T13:29:35+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": ciphertext,
            "associated_data": "transaction",
            "nonce": nonce,
        }
    })
    .to_string();
    let timestamp = Formatter::timestamp().to_string();
    let request_nonce = Formatter::nonce(32);
    let platform = Rsa::from_private(&fixture("platform_private.pem"))?;
    let signature = Rsa::sign(
        &Formatter::response(&timestamp, &request_nonce, body.as_bytes()),
        &platform,
    )?;
    let head = format!(
        "POST {NOTIFY_PATH} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nWechatpay-Timestamp: {timestamp}\r\nWechatpay-Nonce: {request_nonce}\r\n\
         Wechatpay-Serial: {SELF_TEST_KEY_ID}\r\nWechatpay-Signature: {signature}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    Ok([head.into_bytes(), body.into_bytes()].concat())
}

async fn send_self_test(addr: SocketAddr) -> Result<String, Box<dyn std::error::Error>> {
    let request = self_test_request(addr)?;
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(&request).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_args()?;
    let verifier = verifier(options.self_test)?;
    let listener = TcpListener::bind(options.listen).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}{NOTIFY_PATH}");

    let (done_tx, mut done_rx) = watch::channel(false);
    let self_test = options.self_test.then(|| {
        tokio::spawn(async move { send_self_test(addr).await.map_err(|e| e.to_string()) })
    });

    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = done_rx.changed(), if options.once => break,
        };
        stream.set_nodelay(true)?;
        let verifier = verifier.clone();
        let done = done_tx.clone();
        let mut shutdown = done_tx.subscribe();
        let once = options.once;
        connections.spawn(async move {
            let service = service_fn(move |req| handle(req, verifier.clone(), done.clone()));
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        eprintln!("connection error: {e}");
                    }
                    return;
                }
                _ = shutdown.changed(), if once => connection.as_mut().graceful_shutdown(),
            }
            // Let the reply in flight finish, then close.
            let _ = connection.await;
        });
    }

    // --once: wait (briefly) for open connections to finish their replies.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    })
    .await;

    if let Some(task) = self_test {
        let response = task.await?.map_err(|e| format!("self-test request: {e}"))?;
        let status_line = response.lines().next().unwrap_or_default().to_string();
        println!("WeChat Pay would receive: {status_line}");
        if !status_line.contains(" 200 ") {
            return Err(format!("self-test failed: {response}").into());
        }
    }
    Ok(())
}
