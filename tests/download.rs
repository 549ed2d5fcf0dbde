//! Streaming downloads: bills through both doors with their digest checked, gzip, a
//! corrupted byte leaving no file, overseas statements (signature over the SHA-1 header),
//! the time limits of a body, and bounded memory for files of tens of megabytes.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wechatpay::crypto::{Formatter, Hash, Rsa};
use wechatpay::download::{BillKind, Download, HashType, STATEMENT_SHA1};
use wechatpay::error::{TimeoutStage, VerifyError};
use wechatpay::middleware::{BoxFuture, Middleware, Next};
use wechatpay::mock::{demo, MockServer};
use wechatpay::{json, Client, Error, HttpRequest, HttpResponse};

/// The tests of this file run one at a time, so that the memory test measures only itself.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The files in `dir`, to show nothing (not even a partial file) was left behind.
fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Records the URI of each request as the transport receives it.
#[derive(Debug, Clone, Default)]
struct Uris(Arc<Mutex<Vec<String>>>);

impl Middleware for Uris {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, wechatpay::Result<HttpResponse>> {
        self.0.lock().unwrap().push(req.uri().to_string());
        next.run(req)
    }
}

fn trade_bill_address(wxpay: &Client, query: serde_json::Value) -> (String, String) {
    let r: serde_json::Value = wxpay
        .v3()
        .bill()
        .tradebill()
        .get(json!({ "query": query }))
        .unwrap()
        .json()
        .unwrap();
    (
        r["download_url"].as_str().unwrap().to_string(),
        r["hash_value"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_bill_downloads_through_both_doors_following_its_url_exactly() {
    let _serial = serial();
    let mock = MockServer::start_blocking().unwrap();
    mock.state().set_bill_size(300_000);
    let wxpay = mock.client_builder().build().unwrap();
    let uris = Uris::default();
    let mut stack = wxpay.stack();
    stack.push("uris", uris.clone()).unwrap();
    let recorded = wxpay.with_stack(stack);
    let dir = tempfile::tempdir().unwrap();
    let query = json!({"bill_date": "2026-11-29", "bill_type": "ALL"});

    let blocking = recorded
        .download_bill(
            BillKind::Trade,
            json!({ "query": query }),
            dir.path().join("a.csv"),
        )
        .unwrap();
    let asynchronous = runtime()
        .block_on(recorded.download_bill_async(
            BillKind::Trade,
            json!({ "query": query }),
            dir.path().join("b.csv"),
        ))
        .unwrap();

    let a = std::fs::read(dir.path().join("a.csv")).unwrap();
    assert_eq!(a, std::fs::read(dir.path().join("b.csv")).unwrap());
    assert_eq!(a.len(), 300_000);
    assert!(String::from_utf8(a.clone())
        .unwrap()
        .starts_with("交易时间,"));
    for saved in [&blocking, &asynchronous] {
        assert_eq!((saved.bytes, saved.received), (300_000, 300_000));
        assert_eq!(saved.digest.hash_type, HashType::Sha1);
        assert_eq!(saved.digest.hex, Hash::sha1(&a));
        assert!(saved.encryption.is_none());
    }

    // The file was asked for at download_url exactly: token, percent-encoding and case.
    let (url, hash) = trade_bill_address(&wxpay, query);
    assert_eq!(hash, Hash::sha1(&a));
    assert!(
        url.contains("%2F") || url.contains("%2B") || url.contains("%3D"),
        "{url}"
    );
    let uris = uris.0.lock().unwrap();
    assert_eq!(uris.len(), 4, "{uris:?}");
    assert_eq!(uris[1], url);
    assert_eq!(uris[3], url);
    assert!(uris[0].contains("/v3/bill/tradebill?bill_date=2026-11-29&bill_type=ALL"));
}

#[test]
fn a_gzip_bill_is_hashed_as_sent_and_saved_decompressed() {
    let _serial = serial();
    let mock = MockServer::start_blocking().unwrap();
    mock.state().set_bill_size(200_000);
    let wxpay = mock.client_builder().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts =
        json!({"query": {"bill_date": "2026-11-29", "account_type": "BASIC", "tar_type": "GZIP"}});
    let saved = wxpay
        .download_bill(BillKind::FundFlow, &opts, dir.path().join("fund.csv"))
        .unwrap();
    let file = std::fs::read(dir.path().join("fund.csv")).unwrap();
    assert_eq!(saved.bytes, 200_000);
    assert_eq!(file.len(), 200_000);
    assert!(String::from_utf8(file).unwrap().starts_with("记账时间,"));
    assert!(saved.received < saved.bytes / 3, "{saved:?}");

    // The same gzip file through Chain::download, kept compressed in memory then inflated
    // into an async writer: the digest covers the compressed bytes in both.
    let r: serde_json::Value = wxpay
        .v3()
        .bill()
        .fundflowbill()
        .get(&opts)
        .unwrap()
        .json()
        .unwrap();
    let url = r["download_url"].as_str().unwrap();
    let mut compressed = Vec::new();
    let raw = wxpay
        .chain(url)
        .download(())
        .unwrap()
        .expect_sha1(r["hash_value"].as_str().unwrap())
        .copy_to(&mut compressed)
        .unwrap();
    assert_eq!(raw.received, compressed.len() as u64);
    // A writer by value does as well as one by reference.
    let sunk = wxpay
        .chain(url)
        .download(())
        .unwrap()
        .copy_to(std::io::sink())
        .unwrap();
    assert_eq!(sunk.bytes, raw.bytes);
    assert_eq!(Hash::sha1(&compressed), saved.digest.hex);
    let mut inflated = Vec::new();
    let done = runtime()
        .block_on(async {
            wxpay
                .chain(url)
                .download_async(())
                .await?
                .expect_sha1(r["hash_value"].as_str().unwrap())
                .gunzip(true)
                .copy_to_async(&mut inflated)
                .await
        })
        .unwrap();
    assert_eq!(done.bytes, 200_000);
    assert_eq!(
        inflated,
        std::fs::read(dir.path().join("fund.csv")).unwrap()
    );
}

#[test]
fn a_corrupted_byte_is_a_digest_error_and_leaves_no_file() {
    let _serial = serial();
    let mock = MockServer::start_blocking().unwrap();
    mock.state().set_bill_size(150_000);
    mock.state().set_bill_corruption(Some(5_000));
    let wxpay = mock.client_builder().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("trade.csv");
    std::fs::write(dir.path().join("other.txt"), b"kept").unwrap();

    for tar_type in ["NONE", "GZIP"] {
        let opts = json!({"query": {"bill_date": "2026-11-29", "tar_type": tar_type}});
        let blocking = wxpay.download_bill(BillKind::Trade, &opts, &target);
        let asynchronous =
            runtime().block_on(wxpay.download_bill_async(BillKind::Trade, &opts, &target));
        for outcome in [blocking, asynchronous] {
            match outcome {
                Err(Error::Verify(VerifyError::DigestMismatch {
                    algorithm,
                    expected,
                    actual,
                })) => {
                    assert_eq!(algorithm, "SHA-1");
                    assert_ne!(expected, actual);
                }
                other => panic!("{tar_type}: expected a digest mismatch, got {other:?}"),
            }
            assert_eq!(files_in(dir.path()), ["other.txt"], "{tar_type}");
        }
    }

    // An existing file at the target stays as it was.
    std::fs::write(&target, b"yesterday's bill").unwrap();
    let opts = json!({"query": {"bill_date": "2026-11-29"}});
    assert!(wxpay
        .download_bill(BillKind::Trade, &opts, &target)
        .is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"yesterday's bill");

    // Without corruption the same call replaces it.
    mock.state().set_bill_corruption(None);
    wxpay
        .download_bill(BillKind::Trade, &opts, &target)
        .unwrap();
    assert_eq!(std::fs::metadata(&target).unwrap().len(), 150_000);
}

#[test]
fn a_changed_token_is_refused_as_an_api_error() {
    let _serial = serial();
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let (url, _) = trade_bill_address(&wxpay, json!({"bill_date": "2026-11-29"}));
    let last = url.chars().last().unwrap();
    let changed = format!(
        "{}{}",
        &url[..url.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    match wxpay.chain(&changed).download(()) {
        Err(Error::Api {
            status,
            code,
            message,
            ..
        }) => {
            assert_eq!((status.as_u16(), code.as_str()), (400, "INVALID_REQUEST"));
            assert!(message.contains("download_url"), "{message}");
        }
        other => panic!("expected the simulator's 400, got {other:?}"),
    }
}

#[test]
fn a_sub_merchant_bill_is_saved_as_sent_with_what_decrypts_it() {
    let _serial = serial();
    let mock = MockServer::start_blocking().unwrap();
    mock.state().set_bill_size(20_000);
    let wxpay = mock.client_builder().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = json!({"query": {
        "sub_mchid": "1900000109", "bill_date": "2026-11-29",
        "account_type": "BASIC", "algorithm": "AEAD_AES_256_GCM",
    }});
    let saved = wxpay
        .download_bill(
            BillKind::SubMerchantFundFlow,
            &opts,
            dir.path().join("sub.bin"),
        )
        .unwrap();
    let sealed = std::fs::read(dir.path().join("sub.bin")).unwrap();
    assert_eq!(saved.digest.hex, Hash::sha1(&sealed));
    let encryption = saved.encryption.expect("the file's key and nonce");
    assert_eq!(encryption.algorithm.as_deref(), Some("AEAD_AES_256_GCM"));
    // The simulator's encryption, undone with the merchant's key.
    let merchant = Rsa::from_private(demo::MERCHANT_PRIVATE_KEY_PEM).unwrap();
    let key = Rsa::decrypt(&encryption.encrypt_key, &merchant).unwrap();
    let plain =
        wechatpay::crypto::AesGcm::open(&sealed, &key, encryption.nonce.as_bytes(), b"").unwrap();
    assert_eq!(plain.len(), 20_000);
    assert!(String::from_utf8(plain).unwrap().starts_with("记账时间,"));
}

#[test]
fn overseas_statements_from_the_simulator_pass_and_a_changed_byte_fails() {
    let _serial = serial();
    let mock = MockServer::start_blocking().unwrap();
    mock.state().set_bill_size(100_000);
    let wxpay = mock.client_builder().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = json!({"query": {"date": "20261129", "mchid": demo::MCHID}});
    for path in ["hk/v3/statements", "v3/global/statements"] {
        let saved = wxpay
            .chain(path)
            .download(&opts)
            .unwrap()
            .save(dir.path().join("statement.csv"))
            .unwrap();
        let file = std::fs::read(dir.path().join("statement.csv")).unwrap();
        assert_eq!(file.len(), 100_000);
        let digest = saved.digest.unwrap();
        assert_eq!(
            (digest.hash_type, digest.hex),
            (HashType::Sha1, Hash::sha1(&file))
        );
    }

    mock.state().set_bill_corruption(Some(99_999));
    std::fs::remove_file(dir.path().join("statement.csv")).unwrap();
    let e = runtime()
        .block_on(async {
            wxpay
                .chain("v3/global/statements")
                .download_async(&opts)
                .await?
                .save_async(dir.path().join("statement.csv"))
                .await
        })
        .unwrap_err();
    assert!(
        matches!(e, Error::Verify(VerifyError::DigestMismatch { .. })),
        "{e}"
    );
    assert!(files_in(dir.path()).is_empty());
}

/// A loopback server that answers every connection with the HTTP/1.1 response `answer`
/// makes from the request head, written in pieces with a pause before each.
struct ScriptedServer {
    base: String,
}

type Script = Vec<(Duration, Vec<u8>)>;

impl ScriptedServer {
    fn start(answer: impl Fn(&str) -> Script + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let answer = Arc::clone(&answer);
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if stream.read(&mut byte).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    for (pause, bytes) in answer(&String::from_utf8_lossy(&head)) {
                        std::thread::sleep(pause);
                        if stream.write_all(&bytes).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { base }
    }
}

/// A statement answer: headers signed with the fixture platform key over `{"sha1":..}`.
/// openssl makes the SHA-1 and the signature when it is installed, so the check does not
/// rest on this crate's own crypto.
fn statement_answer(body: &[u8], announced_sha1: Option<&str>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let body_path = dir.path().join("body");
    std::fs::write(&body_path, body).unwrap();
    let openssl = common::openssl_available();
    let sha1 = if openssl {
        let out = common::openssl(&["sha1", "-r", body_path.to_str().unwrap()]);
        String::from_utf8(out).unwrap()[..40].to_string()
    } else {
        Hash::sha1(body)
    };
    let timestamp = Formatter::timestamp().to_string();
    let nonce = Formatter::nonce(32);
    let message = Formatter::response(
        &timestamp,
        &nonce,
        format!(r#"{{"sha1":"{sha1}"}}"#).as_bytes(),
    );
    let signature = if openssl {
        common::openssl_sign(common::fixture("platform_private.pem"), &message)
    } else {
        Rsa::sign(&message, &common::platform_key()).unwrap()
    };
    let mut head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\
         Wechatpay-Timestamp: {timestamp}\r\nWechatpay-Nonce: {nonce}\r\n\
         Wechatpay-Serial: {}\r\nWechatpay-Signature: {signature}\r\n{STATEMENT_SHA1}: {}\r\n\r\n",
        body.len(),
        common::PUB_KEY_ID,
        announced_sha1.unwrap_or(&sha1),
    )
    .into_bytes();
    head.extend_from_slice(body);
    head
}

#[test]
fn a_statement_passes_and_fails_for_a_changed_byte_or_header() {
    let _serial = serial();
    let statement =
        b"Transaction time,Merchant ID,Total amount\n20261129 10:00:00,1900000001,1.00\n".to_vec();
    let good = statement_answer(&statement, None);
    let mut changed_byte = good.clone();
    let last = changed_byte.len() - 3;
    changed_byte[last] ^= 0x01;
    let changed_header = statement_answer(&statement, Some(&Hash::sha1(b"another statement")));
    let answers = Arc::new(Mutex::new(vec![changed_header, changed_byte, good]));
    let server = ScriptedServer::start(move |_| {
        vec![(
            Duration::ZERO,
            answers.lock().unwrap().pop().unwrap_or_default(),
        )]
    });
    let wxpay = common::builder(&server.base).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("statement.csv");
    let download = || {
        wxpay
            .chain("v3/global/statements")
            .download(json!({"query": {"date": "20261129"}}))
    };

    let saved = download().unwrap().save(&target).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), statement);
    assert_eq!(saved.digest.unwrap().hex, Hash::sha1(&statement));
    std::fs::remove_file(&target).unwrap();

    let e = download().unwrap().save(&target).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Verify(VerifyError::DigestMismatch {
                algorithm: "SHA-1",
                ..
            })
        ),
        "{e}"
    );
    assert!(!target.exists());

    // A changed header no longer matches the signature: refused before any byte is saved.
    let e = download().unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::BadSignature)), "{e}");
}

#[test]
fn a_statement_without_its_sha1_header_is_refused() {
    let _serial = serial();
    let server = ScriptedServer::start(|_| {
        vec![(
            Duration::ZERO,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_vec(),
        )]
    });
    let wxpay = common::builder(&server.base).build().unwrap();
    let e = wxpay.chain("hk/v3/statements").download(()).unwrap_err();
    assert!(
        matches!(e, Error::Verify(VerifyError::MissingHeader(STATEMENT_SHA1))),
        "{e}"
    );
}

/// A body of `chunks` chunks of `size` bytes, one every `every`.
fn dripping(chunks: usize, size: usize, every: Duration) -> Script {
    let mut script = vec![(
        Duration::ZERO,
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            chunks * size
        )
        .into_bytes(),
    )];
    script.extend((0..chunks).map(|_| (every, vec![b'x'; size])));
    script
}

#[test]
fn the_total_limit_stops_at_the_headers_and_the_calls_own_limit_covers_the_body() {
    let _serial = serial();
    let server = ScriptedServer::start(|_| dripping(8, 1000, Duration::from_millis(100)));
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("bill.csv");

    // The client's 300 ms total limit covers the exchange up to the headers; the 800 ms
    // body then streams, each chunk well within the read timeout.
    let wxpay = common::builder(&server.base)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let saved = wxpay
        .chain("v3/billdownload/file")
        .download(json!({"query": {"token": "t"}}))
        .unwrap()
        .save(&target)
        .unwrap();
    assert_eq!(saved.bytes, 8000);
    assert!(started.elapsed() >= Duration::from_millis(700));

    // A `timeout` option of the call's own bounds the whole transfer.
    std::fs::remove_file(&target).unwrap();
    let e = wxpay
        .chain("v3/billdownload/file")
        .download(json!({"query": {"token": "t"}, "timeout": 0.4}))
        .unwrap()
        .save(&target)
        .unwrap_err();
    assert!(matches!(e, Error::Timeout(TimeoutStage::Total)), "{e}");
    assert!(files_in(dir.path()).is_empty());

    // And a body that stalls longer than the read timeout stops at the stall.
    let e = runtime()
        .block_on(async {
            wxpay
                .chain("v3/billdownload/file")
                .download_async(json!({"query": {"token": "t"}, "read_timeout": 0.05}))
                .await?
                .save_async(&target)
                .await
        })
        .unwrap_err();
    assert!(matches!(e, Error::Timeout(TimeoutStage::Read)), "{e}");
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn a_signed_answer_fetched_with_download_is_verified_whole() {
    let _serial = serial();
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let mut body = Vec::new();
    let done = wxpay
        .chain("v3/certificates")
        .download(())
        .unwrap()
        .copy_to(&mut body)
        .unwrap();
    assert_eq!(done.bytes, body.len() as u64);
    let certificates: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(certificates["data"].is_array());

    // The same answer from a server whose signature is garbage is refused.
    let server = common::TestServer::start();
    server.fault(common::Fault::GarbageSignature);
    let e = server
        .client()
        .chain("v3/anything")
        .download(())
        .unwrap_err();
    assert!(matches!(e, Error::Verify(VerifyError::BadSignature)), "{e}");
}

/// Resident memory now and its peak since the last reset, in bytes (Linux), or `None`.
fn rss() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[test]
fn tens_of_megabytes_stream_through_each_door_in_bounded_memory() {
    let _serial = serial();
    if rss().is_none() || std::fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!("no /proc/self/status or clear_refs here; skipping");
        return;
    }
    const SIZE: u64 = 40 << 20;
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = json!({"query": {"bill_date": "2026-11-29"}});
    // Warm up pools and buffers with a small bill first.
    wxpay
        .download_bill(BillKind::Trade, &opts, dir.path().join("warm.csv"))
        .unwrap();
    mock.state().set_bill_size(SIZE);
    // The simulator generates the file once to answer the query: done here, outside the
    // measurement, so the figure is the download's alone.
    wxpay.v3().bill().tradebill().get(&opts).unwrap();

    let rt = runtime();
    for door in ["blocking", "async"] {
        let target = dir.path().join(format!("{door}.csv"));
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        let (before, _) = rss().unwrap();
        let saved = match door {
            "blocking" => wxpay.download_bill(BillKind::Trade, &opts, &target),
            _ => rt.block_on(wxpay.download_bill_async(BillKind::Trade, &opts, &target)),
        }
        .unwrap();
        let (_, peak) = rss().unwrap();
        assert_eq!(saved.bytes, SIZE);
        assert_eq!(std::fs::metadata(&target).unwrap().len(), SIZE);
        let grew = peak.saturating_sub(before);
        eprintln!(
            "{door}: {} MiB streamed, peak RSS grew {} KiB",
            SIZE >> 20,
            grew >> 10
        );
        assert!(
            grew < 16 << 20,
            "{door}: peak RSS grew by {grew} bytes for a {SIZE}-byte bill"
        );
        std::fs::remove_file(&target).unwrap();
    }
}

/// Compile-time: the async doors' futures are `Send` (and `'static` where they own their
/// arguments), so they can be spawned on a multi-thread runtime.
#[allow(dead_code)]
fn async_doors_are_send(wxpay: Client, saved: Download, copied: Download) {
    fn send_static<T: Send + 'static>(_: T) {}
    fn send<T: Send>(_: T) {}
    send_static(wxpay.chain("v3/billdownload/file").download_async(()));
    send_static(wxpay.download_bill_async(BillKind::Trade, (), "bill.csv"));
    send_static(saved.save_async("bill.csv"));
    send(copied.copy_to_async(&mut tokio::io::sink()));
}
