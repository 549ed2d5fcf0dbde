//! A large bill through each door, over TLS on loopback: MB/s, peak resident memory, and the
//! in-memory SHA-1 rate of the same bytes with the same crypto backend, in the same run.
//!
//! `cargo bench -p wechatpay-benches --bench download` (1 GiB); `DOWNLOAD_BENCH_MIB=64` for a
//! quicker look. The simulator generates the bill while it sends it and sits
//! behind a TLS front on `localhost`, all in this process, so the peak memory covers the
//! server side too. Each door saves to a file in a temporary directory (written through a
//! temporary name, fsynced, renamed); two more runs show the transfer without the disk.
//! `DOWNLOAD_BENCH_HTTP1=1` has the client offer only HTTP/1.1 (HTTP/2 by ALPN otherwise);
//! `DOWNLOAD_BENCH_DIR` chooses where the files go (the system's temporary directory).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wechatpay::download::BillKind;
use wechatpay::mock::MockServer;
use wechatpay::{json, Client};

#[cfg(feature = "aws-lc-rs")]
use aws_lc_rs::digest;
#[cfg(not(feature = "aws-lc-rs"))]
use ring::digest;

// What the load bench reads off the machine: memory, process and thread CPU time.
#[path = "load/machine.rs"]
#[allow(dead_code)]
mod machine;

use machine::{cpu_time, current_tid, reset_peak_rss, rss, thread_cpu_time};

const MIB: u64 = 1024 * 1024;

/// CPU time so far of the client's threads (the caller, the crate's runtime) and of the
/// server's (the simulator, the TLS front), from each thread's schedstat (proc(5)).
fn cpu_by_side() -> (Duration, Duration) {
    let (mut client, mut server) = (Duration::ZERO, Duration::ZERO);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (client, server);
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let Some(tid) = path.file_name().and_then(|n| n.to_str()?.parse().ok()) else {
            continue;
        };
        let used = thread_cpu_time(tid);
        if comm.starts_with("wechatpay-mock") || comm.starts_with("tls-front") {
            server += used;
        } else {
            client += used;
        }
    }
    (client, server)
}

/// A TLS front for the simulator on `localhost`: each connection is decrypted here and
/// relayed to the simulator's plain port. Returns its port and the certificate to trust.
fn tls_front(listener: std::net::TcpListener, upstream: std::net::SocketAddr) -> String {
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/");
    let read = |name: &str| std::fs::read_to_string(format!("{fixtures}{name}")).expect("fixture");
    let cert_pem = read("localhost_cert.pem");
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("fixture certificate");
    let key =
        PrivateKeyDer::from_pem_slice(read("localhost_key.pem").as_bytes()).expect("fixture key");
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("certificate");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::Builder::new()
        .name("tls-front".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else {
                            return;
                        };
                        let _ = plain.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional_with_sizes(
                            &mut tls,
                            &mut plain,
                            64 * 1024,
                            64 * 1024,
                        )
                        .await;
                    });
                }
            });
        })
        .expect("thread");
    cert_pem
}

struct Run {
    what: &'static str,
    elapsed: Duration,
    /// CPU time of the whole process (client, simulator, TLS front) during the run.
    cpu: Duration,
    /// CPU time of the client's threads alone during the run.
    client_cpu: Duration,
    peak_growth: u64,
    peak: u64,
    /// The in-memory SHA-1 rate measured just before and just after the run, MB/s.
    hash_rates: (f64, f64),
}

impl Run {
    fn hash_rate(&self) -> f64 {
        (self.hash_rates.0 + self.hash_rates.1) / 2.0
    }
}

/// Times `job`, which must move `bytes`, and the in-memory SHA-1 rate of `reference` just
/// before and after it: on a shared machine the CPU a run gets changes from minute to minute,
/// so each run is compared with the hash rate of its own moment.
fn measure(
    what: &'static str,
    bytes: u64,
    reference: &std::path::Path,
    job: impl FnOnce() -> u64,
) -> Run {
    let before_rate = in_memory_sha1(reference, HASH_SAMPLE).0;
    reset_peak_rss();
    let (before, _) = rss();
    let cpu_before = cpu_time();
    let (client_before, _) = cpu_by_side();
    let started = Instant::now();
    let moved = job();
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let client_cpu = cpu_by_side().0.saturating_sub(client_before);
    let (_, peak) = rss();
    assert_eq!(moved, bytes, "{what}: moved {moved} bytes");
    let after_rate = in_memory_sha1(reference, HASH_SAMPLE).0;
    Run {
        what,
        elapsed,
        cpu,
        client_cpu,
        peak_growth: peak.saturating_sub(before),
        peak,
        hash_rates: (before_rate, after_rate),
    }
}

/// How much of the file the in-memory rate is measured over, around each run.
const HASH_SAMPLE: u64 = 256 * MIB;

fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

/// The SHA-1 rate over the first `limit` bytes of the file at `path`, timing only the
/// digest over 4 MiB blocks already in memory (reads from the page cache are not counted),
/// and the digest of those bytes.
fn in_memory_sha1(path: &std::path::Path, limit: u64) -> (f64, String) {
    let (rate, _, hex) = in_memory_sha1_timed(path, limit);
    (rate, hex)
}

/// As [`in_memory_sha1`], with the rate by the thread's CPU time as well (MB/s per CPU
/// second: what the digest costs, whatever else the machine is doing).
fn in_memory_sha1_timed(path: &std::path::Path, limit: u64) -> (f64, f64, String) {
    use std::io::Read as _;
    let file = std::fs::File::open(path).expect("saved bill");
    let mut file = file.take(limit);
    let mut block = vec![0u8; 4 * MIB as usize];
    let mut context = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    let mut hashing = Duration::ZERO;
    let mut hashing_cpu = Duration::ZERO;
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        while filled < block.len() {
            let n = file.read(&mut block[filled..]).expect("read");
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        let (started, started_cpu) = (Instant::now(), thread_cpu_time(current_tid()));
        context.update(&block[..filled]);
        hashing += started.elapsed();
        hashing_cpu += thread_cpu_time(current_tid()).saturating_sub(started_cpu);
        total += filled as u64;
    }
    let hex: String = context
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (mb_per_s(total, hashing), mb_per_s(total, hashing_cpu), hex)
}

fn main() {
    let mib: u64 = std::env::var("DOWNLOAD_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let size = mib * MIB;

    let front = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let front_port = front.local_addr().expect("address").port();
    let base = format!("https://localhost:{front_port}/");
    let mock = MockServer::builder()
        .public_base_uri(&base)
        .start_blocking()
        .expect("simulator");
    let root = tls_front(front, mock.address());
    let mut builder = mock
        .client_builder()
        .base_uri(&base)
        .root_certificate(root.into_bytes())
        .timeout(Duration::from_secs(120));
    let http1 = std::env::var_os("DOWNLOAD_BENCH_HTTP1").is_some();
    if http1 {
        builder = builder.http1_only();
    }
    let wxpay: Client = builder.build().expect("client");
    mock.state().set_bill_size(size);
    let opts = json!({"query": {"bill_date": "2026-11-29"}});

    // The simulator computes hash_value by generating the bill once; that happens here,
    // outside the timed runs.
    let started = Instant::now();
    let address: serde_json::Value = wxpay
        .v3()
        .bill()
        .tradebill()
        .get(&opts)
        .expect("bill address")
        .json()
        .expect("JSON");
    let url = address["download_url"].as_str().expect("url").to_string();
    let hash = address["hash_value"].as_str().expect("hash").to_string();
    eprintln!(
        "simulator: {mib} MiB bill generated and hashed for its address in {:.2?}",
        started.elapsed()
    );

    let parent = std::env::var_os("DOWNLOAD_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(parent).expect("temporary directory");
    let saved = dir.path().join("trade.csv");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // A first, untimed transfer warms the connection and leaves the reference copy whose
    // bytes the in-memory rate is measured on; its digest is the bill's.
    let reference = dir.path().join("reference.csv");
    {
        let mut file = std::fs::File::create(&reference).expect("file");
        wxpay
            .chain(&url)
            .download(())
            .expect("download")
            .expect_sha1(&hash)
            .copy_to(&mut file)
            .expect("reference copy");
    }
    assert_eq!(in_memory_sha1(&reference, u64::MAX).1, hash);

    let mut runs = Vec::new();
    runs.push(measure(
        "download_bill (blocking) to a file",
        size,
        &reference,
        || {
            let _ = std::fs::remove_file(&saved);
            wxpay
                .download_bill(BillKind::Trade, &opts, &saved)
                .expect("blocking door")
                .bytes
        },
    ));
    runs.push(measure(
        "download_bill_async to a file",
        size,
        &reference,
        || {
            let _ = std::fs::remove_file(&saved);
            rt.block_on(wxpay.download_bill_async(BillKind::Trade, &opts, &saved))
                .expect("async door")
                .bytes
        },
    ));
    let unsynced = dir.path().join("copy.csv");
    runs.push(measure(
        "download + copy_to(File), no fsync",
        size,
        &reference,
        || {
            let mut file = std::fs::File::create(&unsynced).expect("file");
            wxpay
                .chain(&url)
                .download(())
                .expect("download")
                .expect_sha1(&hash)
                .copy_to(&mut file)
                .expect("copy_to")
                .bytes
        },
    ));
    let _ = std::fs::remove_file(&unsynced);
    runs.push(measure(
        "download_async + copy_to_async(sink), no disk",
        size,
        &reference,
        || {
            rt.block_on(async {
                let mut sink = tokio::io::sink();
                wxpay
                    .chain(&url)
                    .download_async(())
                    .await?
                    .expect_sha1(&hash)
                    .copy_to_async(&mut sink)
                    .await
            })
            .expect("sink")
            .bytes
        },
    ));
    assert_eq!(
        in_memory_sha1(&saved, u64::MAX).1,
        hash,
        "the saved bill has its digest"
    );

    println!(
        "{mib} MiB trade bill over TLS ({}) on loopback, crypto backend {}, hash SHA-1",
        if http1 { "HTTP/1.1" } else { "HTTP/2" },
        wechatpay::crypto::BACKEND
    );
    println!(
        "{:<48} {:>8} {:>7} {:>8} {:>9} {:>10} {:>9} {:>11} {:>6}",
        "run",
        "seconds",
        "CPU s",
        "client s",
        "MB/s",
        "SHA-1 MB/s",
        "peak MiB",
        "growth MiB",
        "ratio"
    );
    for run in &runs {
        let rate = mb_per_s(size, run.elapsed);
        println!(
            "{:<48} {:>8.2} {:>7.2} {:>8.2} {:>9.0} {:>10.0} {:>9.1} {:>11.1} {:>6.2}",
            run.what,
            run.elapsed.as_secs_f64(),
            run.cpu.as_secs_f64(),
            run.client_cpu.as_secs_f64(),
            rate,
            run.hash_rate(),
            run.peak as f64 / MIB as f64,
            run.peak_growth as f64 / MIB as f64,
            rate / run.hash_rate()
        );
    }
    println!(
        "SHA-1 MB/s: the in-memory rate of the same bytes, same backend, just before and after \
         each run (mean); ratio = MB/s / SHA-1 MB/s; CPU s: the whole process, simulator and \
         TLS front included; client s: the caller's and the crate runtime's threads"
    );
    let (_, cpu_rate, _) = in_memory_sha1_timed(&reference, u64::MAX);
    println!(
        "SHA-1 alone over the {mib} MiB, by thread CPU time: {:.2} CPU s ({cpu_rate:.0} MB/s per \
         CPU second); compare with client s",
        size as f64 / 1e6 / cpu_rate
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average when done: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
