//! End-to-end load bench: real calls through the client (sign, send over TLS, verify) against
//! a loopback server that answers with one pre-signed response, so the server costs almost
//! nothing and the client's own work is what is measured.
//!
//! Run with `cargo bench --bench load`. It prints a table and, as its last line, one JSON
//! object with every figure. `LOAD_SECONDS` (default 3) sets the length of each phase.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use wechatpay::crypto::{Formatter, Rsa};
use wechatpay::Client;

const PUB_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000";
const BODY: &[u8] =
    br#"{"mchid":"1900000001","service_id":12535,"out_contract_code":"wxwtdk20200910100000"}"#;

fn fixture(name: &str) -> String {
    format!(
        "file://{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn backend() -> &'static str {
    wechatpay::crypto::BACKEND
}

/// Resident memory now, and the peak since the last reset, in bytes (Linux only).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time this process has used (user + system), from /proc/self/stat (Linux only).
fn cpu_time() -> Duration {
    stat_cpu_time("/proc/self/stat")
}

/// CPU time one thread of this process has used.
fn thread_cpu_time(tid: u64) -> Duration {
    stat_cpu_time(&format!("/proc/self/task/{tid}/stat"))
}

/// The calling thread's id, from the /proc/thread-self link.
fn current_tid() -> u64 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn stat_cpu_time(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // State is field 3 and tpgid (field 8) may be -1, so index the raw fields: utime is
    // field 14 and stime field 15, i.e. the 12th and 13th after the name.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Clock ticks are 1/100 s on Linux unless the kernel was built otherwise.
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

fn reset_peak_rss() {
    // Writing 5 resets VmHWM to the current RSS (proc(5), clear_refs).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Server {
    port: u16,
    root_pem: String,
    delay: Arc<AtomicU64>,
    /// The server thread's id, to tell its CPU time from the client's.
    tid: Arc<AtomicU64>,
}

/// A TLS server (h2 and http/1.1 by ALPN) on its own thread that answers every request with
/// the same pre-signed body, after an optional delay in milliseconds.
fn start_server() -> Server {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let root_pem = cert.cert.pem();
    let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(
        cert.signing_key.serialize_der().into(),
    );
    let mut tls = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .expect("cert");
    // `LOAD_HTTP1=1` offers only HTTP/1.1, to compare the two protocols' cost per call.
    tls.alpn_protocols = if std::env::var_os("LOAD_HTTP1").is_some() {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    let platform = Rsa::from_private(&fixture("platform_private.pem")).expect("platform key");
    let timestamp = Formatter::timestamp().to_string();
    let nonce = Formatter::nonce(32);
    let signature =
        Rsa::sign(&Formatter::response(&timestamp, &nonce, BODY), &platform).expect("sign");
    let headers: Arc<[(&'static str, String)]> = Arc::from(vec![
        ("Wechatpay-Timestamp", timestamp),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Serial", PUB_KEY_ID.to_string()),
        ("Wechatpay-Signature", signature),
        ("Content-Type", "application/json".to_string()),
    ]);

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
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let headers = Arc::clone(&headers);
                        let delay = delay.load(Ordering::Relaxed);
                        async move {
                            // Read the request body as a real server would; an h2 server that
                            // answers without reading it resets the stream, and after enough
                            // resets it sends GOAWAY (ENHANCE_YOUR_CALM).
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
                    let mut builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    builder.http2().max_concurrent_streams(20_000);
                    if let Err(e) = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        eprintln!("server connection ended: {e:?}");
                    }
                });
            }
        });
    });
    Server {
        port,
        root_pem,
        delay,
        tid,
    }
}

fn client_for(server: &Server) -> Client {
    Client::builder()
        .mchid("1900000001")
        .serial("1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C")
        .private_key(fixture("merchant_pkcs8.pem"))
        .cert(PUB_KEY_ID, fixture("platform_public.pem"))
        .base_uri(format!("https://localhost:{}/", server.port))
        .root_certificate(server.root_pem.as_bytes().to_vec())
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

const PATH: &str = "v3/password-exempt-contract/contracts/service-id/{service_id}/out-contract-code/{out_contract_code}/terminate";

fn opts() -> serde_json::Value {
    json!({
        "service_id": 12535,
        "out_contract_code": "wxwtdk20200910100000",
        "json": {"contract_termination_remark": "用户解约"},
    })
}

/// Signs per second on one thread with the merchant key, through the crate's backend.
fn sign_rate(window: Duration) -> f64 {
    let key = Rsa::from_private(&fixture("merchant_pkcs8.pem")).expect("key");
    let message = Formatter::request("POST", "/v3/x", 1_700_000_000, "N", BODY);
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < window {
        let _ = key.sign(&message).expect("sign");
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn async_rate(
    rt: &tokio::runtime::Runtime,
    wxpay: &Client,
    concurrency: usize,
    window: Duration,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let chain = wxpay.chain(PATH);
                let done = Arc::clone(&done);
                tokio::spawn(async move {
                    let opts = opts();
                    while started.elapsed() < window {
                        chain.post_async(&opts).await.expect("call succeeds");
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The transport floor: the same POST sent sequentially by a bare hyper client over TLS to
/// the same server, with no signing, verification, templates or middleware. What the client
/// costs above this and the signature is the crate's own work.
fn transport_floor_rate(rt: &tokio::runtime::Runtime, server: &Server, window: Duration) -> f64 {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(server.root_pem.as_bytes()) {
        roots.add(cert.expect("root pem")).expect("root");
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .wrap_connector({
            // As in the crate: without TCP_NODELAY a reused connection waits ~40 ms per call.
            let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            http
        });
    let body = serde_json::to_vec(&opts()["json"]).expect("json");
    let uri: hyper::Uri = format!(
        "https://localhost:{}/v3/password-exempt-contract/contracts/service-id/12535/out-contract-code/wxwtdk20200910100000/terminate",
        server.port
    )
    .parse()
    .expect("uri");
    rt.block_on(async move {
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build::<_, Full<Bytes>>(https);
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < window {
            let req = hyper::Request::post(uri.clone())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.clone())))
                .expect("request");
            let response = client.request(req).await.expect("floor call");
            let _ = http_body_util::BodyExt::collect(response.into_body())
                .await
                .expect("body");
            n += 1;
        }
        n as f64 / started.elapsed().as_secs_f64()
    })
}

fn blocking_rate(wxpay: &Client, threads: usize, window: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let chain = wxpay.chain(PATH);
            let done = Arc::clone(&done);
            s.spawn(move || {
                let opts = opts();
                while started.elapsed() < window {
                    chain.post(&opts).expect("call succeeds");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes every bench binary
    }
    let window = Duration::from_secs_f64(
        std::env::var("LOAD_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3.0),
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server = start_server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("rt");

    // Build a client from PEM and make its first call; time the TLS setup on its own.
    let started = Instant::now();
    let wxpay = client_for(&server);
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    wxpay.chain(PATH).post(opts()).expect("first call");
    let first_call_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    wxpay.chain(PATH).post(opts()).expect("second call");
    let warm_call_ms = started.elapsed().as_secs_f64() * 1e3;
    let connect_ms = (first_call_ms - warm_call_ms).max(0.0);

    if std::env::var_os("LOAD_PROFILE").is_some() {
        // Only sequential calls, for a profiler to look at.
        let rate = blocking_rate(&wxpay, 1, window);
        println!("profile run: {rate:.0} sequential blocking calls/s");
        return;
    }
    // The sign rate drifts with the machine (frequency, neighbours), so it is measured three
    // times, between the phases, and the median is the reference.
    let mut sign_samples = vec![sign_rate(window)];
    let server_tid = server.tid.load(Ordering::Relaxed);
    // CPU per sequential call, split into the client's share and the server thread's.
    let measure = |run: &dyn Fn() -> f64| {
        let (process, server_cpu) = (cpu_time(), thread_cpu_time(server_tid));
        let rate = run();
        let calls = rate * window.as_secs_f64();
        let process = (cpu_time() - process).as_secs_f64() * 1e6 / calls;
        let server_us = (thread_cpu_time(server_tid) - server_cpu).as_secs_f64() * 1e6 / calls;
        (rate, process - server_us, server_us)
    };
    let (c1, async_client_us, async_server_us) = measure(&|| async_rate(&rt, &wxpay, 1, window));
    let c4 = async_rate(&rt, &wxpay, 4, window);
    let c64 = async_rate(&rt, &wxpay, 64, window);
    sign_samples.push(sign_rate(window));
    let (t1, blocking_client_us, blocking_server_us) =
        measure(&|| blocking_rate(&wxpay, 1, window));
    let t4 = blocking_rate(&wxpay, 4, window);
    let (floor_rate, floor_client_us, _) = measure(&|| transport_floor_rate(&rt, &server, window));
    sign_samples.push(sign_rate(window));
    sign_samples.sort_by(f64::total_cmp);
    let signs = sign_samples[1];
    let sign_us = 1e6 / signs;
    let async_rates = [c1, c4, c64];
    let blocking_rates = [t1, t4];

    println!(
        "backend {} on {cores} cores; RSA-2048 signs/s on one thread: {:.0} (median of {:.0}, {:.0}, {:.0})",
        backend(),
        signs,
        sign_samples[0],
        sign_samples[1],
        sign_samples[2]
    );
    for (c, rate) in [1, 4, 64].iter().zip(async_rates) {
        println!(
            "async    concurrency {c:>2}: {rate:>8.0} calls/s  ({:.2} of one thread's sign rate)",
            rate / signs
        );
    }
    for (t, rate) in [1, 4].iter().zip(blocking_rates) {
        println!(
            "blocking threads     {t:>2}: {rate:>8.0} calls/s  ({:.2} of one thread's sign rate)",
            rate / signs
        );
    }
    println!(
        "CPU per sequential call: client {async_client_us:.0} us async / {blocking_client_us:.0} us blocking, \
         loopback server {async_server_us:.0} / {blocking_server_us:.0} us; one signature {sign_us:.0} us"
    );
    println!(
        "the client's work besides the signature: {:.2} (async) / {:.2} (blocking) of a signature",
        (async_client_us - sign_us) / sign_us,
        (blocking_client_us - sign_us) / sign_us
    );
    let own_us = blocking_client_us - sign_us - floor_client_us;
    println!(
        "transport floor (bare hyper + rustls, same request, unsigned): {floor_rate:.0} calls/s, \
         {floor_client_us:.0} us CPU per call; the crate's own work per call: ~{own_us:.0} us \
         ({:.2} of a signature)",
        own_us / sign_us
    );

    // 10,000 requests in flight at once: the server holds each answer for a second.
    server.delay.store(1000, Ordering::Relaxed);
    let in_flight = 10_000usize;
    let (rss_before, _) = rss();
    reset_peak_rss();
    let started = Instant::now();
    let (ok, failed) = rt.block_on(async {
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| tokio::spawn(wxpay.chain(PATH).post_async(opts())))
            .collect();
        let (mut ok, mut failed) = (0usize, 0usize);
        for t in tasks {
            match t.await {
                Ok(Ok(_)) => ok += 1,
                _ => failed += 1,
            }
        }
        (ok, failed)
    });
    let in_flight_secs = started.elapsed().as_secs_f64();
    let (_, rss_peak) = rss();
    let bytes_per_request = rss_peak.saturating_sub(rss_before) as f64 / in_flight as f64;
    server.delay.store(0, Ordering::Relaxed);
    println!(
        "{in_flight} in flight: {ok} ok, {failed} failed in {in_flight_secs:.1} s; ~{:.1} KiB per in-flight request",
        bytes_per_request / 1024.0
    );

    // Many merchants in one process, one pool.
    let merchants = 10_000usize;
    let pem = std::fs::read_to_string(fixture("merchant_pkcs8.pem").trim_start_matches("file://"))
        .expect("pem");
    let platform_pem =
        std::fs::read_to_string(fixture("platform_public.pem").trim_start_matches("file://"))
            .expect("pem");
    let (rss_before, _) = rss();
    let started = Instant::now();
    let clients: Vec<Client> = (0..merchants)
        .map(|i| {
            Client::builder()
                .mchid(format!("19{i:08}"))
                .serial("1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C")
                .private_key(pem.clone())
                .cert(PUB_KEY_ID, platform_pem.clone())
                .base_uri(format!("https://localhost:{}/", server.port))
                .share_pool(&wxpay)
                .build()
                .expect("merchant client")
        })
        .collect();
    let merchants_build_secs = started.elapsed().as_secs_f64();
    let (rss_after, _) = rss();
    let bytes_per_merchant = rss_after.saturating_sub(rss_before) as f64 / merchants as f64;
    for c in clients.iter().step_by(1000) {
        c.chain(PATH)
            .post(opts())
            .expect("merchant call over the shared pool");
    }
    println!(
        "{merchants} merchants: built in {merchants_build_secs:.2} s, ~{:.1} KiB each, one shared pool",
        bytes_per_merchant / 1024.0
    );
    println!(
        "client from PEM: build {build_ms:.2} ms, first call {first_call_ms:.2} ms (of which TLS+TCP setup ~{connect_ms:.2} ms), warm call {warm_call_ms:.2} ms"
    );
    drop(clients);

    let summary = json!({
        "backend": backend(),
        "cores": cores,
        "sign_per_s": signs.round(),
        "async_calls_per_s": {"c1": async_rates[0].round(), "c4": async_rates[1].round(), "c64": async_rates[2].round()},
        "blocking_calls_per_s": {"t1": blocking_rates[0].round(), "t4": blocking_rates[1].round()},
        "ratio_sequential_to_sign": (async_rates[0] / signs * 1000.0).round() / 1000.0,
        "ratio_blocking_sequential_to_sign": (blocking_rates[0] / signs * 1000.0).round() / 1000.0,
        "sign_per_s_samples": sign_samples.iter().map(|s| s.round()).collect::<Vec<_>>(),
        "cpu_us_per_sequential_call": {
            "sign": sign_us.round(),
            "async_client": async_client_us.round(), "async_server": async_server_us.round(),
            "blocking_client": blocking_client_us.round(), "blocking_server": blocking_server_us.round(),
        },
        "transport_floor": {"calls_per_s": floor_rate.round(), "client_cpu_us": floor_client_us.round()},
        "own_work_us_per_call": own_us.round(),
        "own_work_in_signatures": (own_us / sign_us * 1000.0).round() / 1000.0,
        "client_overhead_in_signatures": {
            "async": ((async_client_us - sign_us) / sign_us * 1000.0).round() / 1000.0,
            "blocking": ((blocking_client_us - sign_us) / sign_us * 1000.0).round() / 1000.0,
        },
        "in_flight": {"requests": in_flight, "ok": ok, "failed": failed, "bytes_per_request": bytes_per_request.round()},
        "merchants": {"clients": merchants, "bytes_per_merchant": bytes_per_merchant.round(), "build_seconds": merchants_build_secs},
        "first_call": {"build_ms": build_ms, "first_call_ms": first_call_ms, "connect_ms": connect_ms, "warm_call_ms": warm_call_ms,
                        "beyond_connection_ms": build_ms + first_call_ms - connect_ms},
    });
    println!("{summary}");
}
