//! Platform certificates: keys added at runtime, the downloader (decrypt, self-verify,
//! install), the background refresh and the verifier's refetch on an unknown serial.
//!
//! The simulator (`wechatpay::mock`) is the WeChat Pay side where it suffices; the failure
//! cases it cannot produce (a listing signed by the wrong key, a serial no listing explains)
//! come from `ListingServer` below, a loopback hyper server that checks each request's
//! signature with the demo merchant key and signs its answers as told.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use wechatpay::certificates::{self, CertificateDownloader, Refetch};
use wechatpay::crypto::{AesGcm, ApiV3Key, Formatter, PemUtil, Rsa, RsaPrivateKey};
use wechatpay::error::{KeyError, VerifyError};
use wechatpay::middleware::VerifierLayer;
use wechatpay::mock::{demo, MockServer, Mode};
use wechatpay::{json, Client, ClientBuilder, Error, PlatformKeys};

// ---------------------------------------------------------------------------------------------
// Helpers

const WRONG_APIV3_KEY: &str = "ThisIsNotTheAPIv3KeyOfTheMock!!!";
/// The fixture platform certificate (tests/fixtures/platform_cert.pem).
const FIXTURE_CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

fn manifest(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(manifest(path)).unwrap()
}

/// The private key behind the simulator's platform certificate.
fn demo_certificate_key() -> RsaPrivateKey {
    Rsa::from_private(&read("src/mock/demo/platform_certificate_private.pem")).unwrap()
}

fn fixture_platform_key() -> RsaPrivateKey {
    Rsa::from_private(&read("tests/fixtures/platform_private.pem")).unwrap()
}

fn stranger_key() -> RsaPrivateKey {
    Rsa::from_private(&read("tests/fixtures/stranger_private.pem")).unwrap()
}

fn apiv3() -> ApiV3Key {
    ApiV3Key::new(demo::APIV3_KEY).unwrap()
}

/// A GET every simulator answers with a signed 200: a placeholder endpoint of the catalog.
const QUERY: &str = "v3/pay/transactions/id/{transaction_id}";

fn query_opts() -> serde_json::Value {
    json!({"transaction_id": "4200000000000000", "query": {"mchid": demo::MCHID}})
}

/// The demo merchant, aimed at `base`, trusting nothing yet.
fn demo_merchant(base: &str) -> ClientBuilder {
    Client::builder()
        .mchid(demo::MCHID)
        .serial(demo::MERCHANT_SERIAL)
        .private_key(demo::MERCHANT_PRIVATE_KEY_PEM)
        .base_uri(base)
}

/// A simulator in public-key mode, a client that trusts only its public key, and then the
/// simulator switched to certificate mode: the client does not know the certificate yet.
fn certificate_mode_with_public_key_client(
    builder: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> (MockServer, Client) {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = builder(mock.client_builder()).build().unwrap();
    mock.set_mode(Mode::PlatformCertificate);
    (mock, wxpay)
}

fn unknown_serial(result: wechatpay::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::Verify(VerifyError::UnknownSerial(serial))) => serial,
        other => panic!("expected an unknown serial, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// A loopback WeChat Pay whose signatures the test controls.

/// Who signs an answer: the serial named in `Wechatpay-Serial` and the key that signs.
#[derive(Clone)]
struct SignedBy {
    serial: String,
    key: RsaPrivateKey,
}

impl SignedBy {
    fn new(serial: &str, key: RsaPrivateKey) -> Self {
        Self {
            serial: serial.into(),
            key,
        }
    }
}

#[derive(Clone)]
struct Script {
    /// Certificates listed by `GET /v3/certificates` (PEM), encrypted under `apiv3_key`.
    listed: Vec<String>,
    apiv3_key: String,
    listing: SignedBy,
    /// Signs every other answer.
    answers: SignedBy,
    /// Sign the listing over other bytes than those sent.
    tamper_listing: bool,
    /// How many seconds before now the listing's `Wechatpay-Timestamp` says it was signed.
    listing_age_seconds: i64,
}

#[derive(Default)]
struct Log {
    listing_requests: usize,
    other_requests: usize,
    /// Requests whose Authorization did not verify with the demo merchant key.
    unsigned: usize,
    /// The `algorithm_type` query of the last listing request.
    last_listing_query: Option<String>,
}

struct ListingServer {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    log: Arc<Mutex<Log>>,
    _accepting: common::AcceptLoop,
}

impl ListingServer {
    fn start(script: Script) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(script));
        let log = Arc::new(Mutex::new(Log::default()));
        let (s, l) = (Arc::clone(&script), Arc::clone(&log));
        let accepting = common::AcceptLoop::start(listener, move |stream, _| {
            let (s, l) = (Arc::clone(&s), Arc::clone(&l));
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(Arc::clone(&s), Arc::clone(&l), req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        });
        Self {
            addr,
            script,
            log,
            _accepting: accepting,
        }
    }

    fn base_uri(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn script(&self, edit: impl FnOnce(&mut Script)) {
        edit(&mut self.script.lock().unwrap());
    }

    fn listing_requests(&self) -> usize {
        self.log.lock().unwrap().listing_requests
    }

    fn other_requests(&self) -> usize {
        self.log.lock().unwrap().other_requests
    }
}

/// The `k="v"` fields of an APIv3 Authorization header.
fn auth_field<'a>(auth: &'a str, name: &str) -> &'a str {
    auth.trim_start_matches("WECHATPAY2-SHA256-RSA2048 ")
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map_or("", |(_, v)| v.trim().trim_matches('"'))
}

fn signed_by_demo_merchant(parts: &http::request::Parts, body: &[u8]) -> bool {
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let uri = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let message = Formatter::request(
        parts.method.as_str(),
        uri,
        auth_field(auth, "timestamp").parse().unwrap_or(0),
        auth_field(auth, "nonce_str"),
        body,
    );
    let merchant = Rsa::from_private(demo::MERCHANT_PRIVATE_KEY_PEM).unwrap();
    auth_field(auth, "mchid") == demo::MCHID
        && Rsa::verify(
            &message,
            auth_field(auth, "signature"),
            &merchant.public_key(),
        )
}

fn listing_body(script: &Script) -> Bytes {
    let data: Vec<_> = script
        .listed
        .iter()
        .map(|pem| {
            let nonce = Formatter::nonce(12);
            let ciphertext = AesGcm::encrypt(
                pem.as_bytes(),
                script.apiv3_key.as_bytes(),
                nonce.as_bytes(),
                b"certificate",
            )
            .unwrap();
            json!({
                "serial_no": PemUtil::serial_number(pem.as_bytes()).unwrap(),
                "effective_time": "2026-11-22T14:09:39+08:00",
                "expire_time": "2046-11-22T14:09:39+08:00",
                "encrypt_certificate": {
                    "algorithm": "AEAD_AES_256_GCM",
                    "nonce": nonce,
                    "associated_data": "certificate",
                    "ciphertext": ciphertext,
                },
            })
        })
        .collect();
    Bytes::from(json!({ "data": data }).to_string())
}

async fn answer(
    script: Arc<Mutex<Script>>,
    log: Arc<Mutex<Log>>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let script = script.lock().unwrap().clone();
    let listing = parts.uri.path() == "/v3/certificates";
    {
        let mut log = log.lock().unwrap();
        if !signed_by_demo_merchant(&parts, &body) {
            log.unsigned += 1;
        }
        if listing {
            log.listing_requests += 1;
            log.last_listing_query = parts.uri.query().map(str::to_string);
        } else {
            log.other_requests += 1;
        }
    }
    let (reply, signer) = if listing {
        (listing_body(&script), &script.listing)
    } else {
        (Bytes::from_static(br#"{"ok":true}"#), &script.answers)
    };
    let age = if listing {
        script.listing_age_seconds
    } else {
        0
    };
    let timestamp = (Formatter::timestamp() - age).to_string();
    let nonce = Formatter::nonce(32);
    let signed: &[u8] = if listing && script.tamper_listing {
        b"{\"data\":[]}"
    } else {
        &reply
    };
    let signature = Rsa::sign(
        &Formatter::response(&timestamp, &nonce, signed),
        &signer.key,
    )
    .unwrap();
    Ok(hyper::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("Wechatpay-Timestamp", timestamp)
        .header("Wechatpay-Nonce", nonce)
        .header("Wechatpay-Serial", signer.serial.as_str())
        .header("Wechatpay-Signature", signature)
        .body(Full::new(reply))
        .unwrap())
}

/// A server listing the simulator's demo certificate, self-signed correctly, answering
/// other calls under that certificate.
fn honest_script() -> Script {
    Script {
        listed: vec![demo::PLATFORM_CERTIFICATE_PEM.to_string()],
        apiv3_key: demo::APIV3_KEY.to_string(),
        listing: SignedBy::new(demo::PLATFORM_CERTIFICATE_SERIAL, demo_certificate_key()),
        answers: SignedBy::new(demo::PLATFORM_CERTIFICATE_SERIAL, demo_certificate_key()),
        tamper_listing: false,
        listing_age_seconds: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Keys added at runtime.

#[test]
fn a_certificate_client_trusts_a_public_key_added_at_runtime_without_rebuilding() {
    let mock = MockServer::builder()
        .mode(Mode::PlatformCertificate)
        .start_blocking()
        .unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let clone = wxpay.clone();
    assert_eq!(
        wxpay.platform_keys().ids(),
        [demo::PLATFORM_CERTIFICATE_SERIAL]
    );
    wxpay[QUERY].get(query_opts()).unwrap();

    // WeChat Pay moves the merchant to its public key: answers name PUB_KEY_ID_...
    mock.set_mode(Mode::PublicKey);
    assert_eq!(
        unknown_serial(wxpay[QUERY].get(query_opts())),
        demo::PLATFORM_PUBLIC_KEY_ID
    );

    // Add the key to the running client; the client and the clone made earlier trust it.
    let key = Rsa::from_public(demo::PLATFORM_PUBLIC_KEY_PEM).unwrap();
    wxpay
        .platform_keys()
        .insert(demo::PLATFORM_PUBLIC_KEY_ID, key);
    let r = wxpay[QUERY].get(query_opts()).unwrap();
    assert_eq!(
        r.headers()["wechatpay-serial"],
        demo::PLATFORM_PUBLIC_KEY_ID
    );
    clone.chain(QUERY).get(query_opts()).unwrap();

    // Both keys are trusted during the migration: switching back still verifies.
    mock.set_mode(Mode::PlatformCertificate);
    wxpay[QUERY].get(query_opts()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// 2. The downloader.

#[test]
fn the_downloader_fetches_decrypts_and_self_verifies_then_installs() {
    let (mock, wxpay) = certificate_mode_with_public_key_client(|b| b);
    // The ordinary verifier does not know the certificate that signs the listing.
    assert_eq!(
        unknown_serial(wxpay["v3/certificates"].get(())),
        demo::PLATFORM_CERTIFICATE_SERIAL
    );

    let downloader = CertificateDownloader::new(&wxpay, apiv3());
    let certificates = downloader.download().unwrap();
    assert_eq!(certificates.len(), 1);
    let c = &certificates[0];
    let expected = PemUtil::certificate_info(demo::PLATFORM_CERTIFICATE_PEM.as_bytes()).unwrap();
    assert_eq!(c.serial(), demo::PLATFORM_CERTIFICATE_SERIAL);
    assert_eq!(c.info(), &expected);
    assert_eq!(c.not_before(), expected.not_before);
    assert_eq!(c.not_after(), expected.not_after);
    assert!(c.is_valid_at(Formatter::timestamp()));
    assert_eq!(c.pem(), demo::PLATFORM_CERTIFICATE_PEM);
    assert!(c.effective_time().ends_with("+08:00"));
    assert!(c.expire_time().starts_with("2046"));
    assert_eq!(
        c.public_key(),
        &Rsa::from_public(demo::PLATFORM_CERTIFICATE_PEM).unwrap()
    );
    // `download` does not install.
    assert!(wxpay
        .platform_keys()
        .get(demo::PLATFORM_CERTIFICATE_SERIAL)
        .is_none());

    let refreshed = downloader.refresh().unwrap();
    assert_eq!(refreshed[0].serial(), demo::PLATFORM_CERTIFICATE_SERIAL);
    assert_eq!(
        wxpay.platform_keys().ids(),
        [
            demo::PLATFORM_PUBLIC_KEY_ID,
            demo::PLATFORM_CERTIFICATE_SERIAL
        ]
    );
    // The client (and anything sharing its keys) now verifies certificate-mode answers.
    wxpay[QUERY].get(query_opts()).unwrap();
    drop(mock);
}

#[tokio::test]
async fn the_downloader_works_async_and_from_the_builder_key() {
    let (_mock, wxpay) = certificate_mode_with_public_key_client(|b| b.apiv3_key(demo::APIV3_KEY));
    let downloader = CertificateDownloader::from_client(&wxpay)
        .unwrap()
        .algorithm_type("RSA");
    let certificates = downloader.refresh_async().await.unwrap();
    assert_eq!(certificates[0].serial(), demo::PLATFORM_CERTIFICATE_SERIAL);
    wxpay[QUERY].get_async(query_opts()).await.unwrap();
}

#[test]
fn a_wrong_apiv3_key_is_a_clear_decrypt_error_and_installs_nothing() {
    let (_mock, wxpay) = certificate_mode_with_public_key_client(|b| b);
    let wrong = ApiV3Key::new(WRONG_APIV3_KEY).unwrap();
    let err = CertificateDownloader::new(&wxpay, wrong)
        .refresh()
        .unwrap_err();
    match &err {
        Error::Key(KeyError::Operation(message)) => {
            assert!(
                message.contains(demo::PLATFORM_CERTIFICATE_SERIAL),
                "{message}"
            );
            assert!(message.contains("APIv3 key is wrong"), "{message}");
        }
        other => panic!("expected a decrypt error, got {other:?}"),
    }
    assert!(err.to_string().contains("did not decrypt"), "{err}");
    assert_eq!(wxpay.platform_keys().ids(), [demo::PLATFORM_PUBLIC_KEY_ID]);
}

#[test]
fn the_builder_checks_the_apiv3_key_and_the_refetch_needs_it() {
    let mock = MockServer::start_blocking().unwrap();
    let problems = match mock.client_builder().apiv3_key("short").build() {
        Err(Error::Config(e)) => e.problems().to_vec(),
        other => panic!("{other:?}"),
    };
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`apiv3_key`") && p.contains("32 bytes")),
        "{problems:?}"
    );

    let problems = match mock.client_builder().refetch_certificates(true).build() {
        Err(Error::Config(e)) => e.problems().to_vec(),
        other => panic!("{other:?}"),
    };
    assert!(
        problems.iter().any(|p| p.contains("needs `apiv3_key`")),
        "{problems:?}"
    );

    // Without refetch, `certs` may not be empty; with it, the first answer bootstraps them.
    assert!(demo_merchant(&mock.base_uri()).build().is_err());
    demo_merchant(&mock.base_uri())
        .apiv3_key(demo::APIV3_KEY)
        .refetch_certificates(true)
        .build()
        .unwrap();

    let wxpay = mock.client_builder().build().unwrap();
    match CertificateDownloader::from_client(&wxpay) {
        Err(Error::Config(e)) => assert!(e.to_string().contains("apiv3_key"), "{e}"),
        other => panic!("expected a config error naming apiv3_key, got {other:?}"),
    }
}

#[test]
fn the_download_is_signed_and_asks_for_the_algorithm() {
    let server = ListingServer::start(honest_script());
    let wxpay = demo_merchant(&server.base_uri())
        .cert(demo::PLATFORM_PUBLIC_KEY_ID, demo::PLATFORM_PUBLIC_KEY_PEM)
        .build()
        .unwrap();
    let certificates = CertificateDownloader::new(&wxpay, apiv3())
        .algorithm_type("RSA")
        .download()
        .unwrap();
    assert_eq!(certificates[0].serial(), demo::PLATFORM_CERTIFICATE_SERIAL);
    let log = server.log.lock().unwrap();
    assert_eq!(log.listing_requests, 1);
    assert_eq!(log.unsigned, 0, "the download must carry a valid signature");
    assert_eq!(
        log.last_listing_query.as_deref(),
        Some("algorithm_type=RSA")
    );
}

#[test]
fn a_listing_not_signed_by_a_listed_certificate_is_rejected() {
    let server = ListingServer::start(honest_script());
    let wxpay = demo_merchant(&server.base_uri())
        .cert(
            FIXTURE_CERT_SERIAL,
            manifest_url("tests/fixtures/platform_cert.pem"),
        )
        .build()
        .unwrap();
    let downloader = CertificateDownloader::new(&wxpay, apiv3());
    let before = wxpay.platform_keys().ids();

    // Names the listed certificate but is signed by another key.
    server.script(|s| s.listing = SignedBy::new(demo::PLATFORM_CERTIFICATE_SERIAL, stranger_key()));
    assert!(matches!(
        downloader.refresh(),
        Err(Error::Verify(VerifyError::BadSignature))
    ));

    // Signed by a key the client trusts, but not by the listing: refused by default.
    server.script(|s| s.listing = SignedBy::new(FIXTURE_CERT_SERIAL, fixture_platform_key()));
    assert_eq!(unknown_serial(downloader.refresh()), FIXTURE_CERT_SERIAL);
    // Accepted when asked to (a merchant in public-key mode).
    let lenient = downloader.clone().trust_known_keys(true);
    lenient.download().unwrap();

    // Signed by the listed certificate over other bytes.
    server.script(|s| {
        s.listing = SignedBy::new(demo::PLATFORM_CERTIFICATE_SERIAL, demo_certificate_key());
        s.tamper_listing = true;
    });
    assert!(matches!(
        downloader.refresh(),
        Err(Error::Verify(VerifyError::BadSignature))
    ));
    assert_eq!(
        wxpay.platform_keys().ids(),
        before,
        "nothing installed on failure"
    );

    // The honest listing passes: the test server itself is sound.
    server.script(|s| s.tamper_listing = false);
    downloader.refresh().unwrap();
    assert!(wxpay
        .platform_keys()
        .get(demo::PLATFORM_CERTIFICATE_SERIAL)
        .is_some());
}

fn manifest_url(path: &str) -> String {
    format!("file://{}", manifest(path))
}

#[test]
fn decode_is_pure_and_checks_each_step() {
    let server = ListingServer::start(honest_script());
    server.script(|s| s.listed.push(read("tests/fixtures/platform_cert.pem")));
    let wxpay = demo_merchant(&server.base_uri())
        .cert(demo::PLATFORM_PUBLIC_KEY_ID, demo::PLATFORM_PUBLIC_KEY_PEM)
        .build()
        .unwrap();
    let mut stack = wxpay.stack();
    stack.remove("verifier");
    let raw = wxpay.with_stack(stack)["v3/certificates"].get(()).unwrap();
    let now = Formatter::timestamp();
    let decode =
        |body: &[u8], now: i64| certificates::decode(raw.headers(), body, &apiv3(), now, 300, None);

    let both = decode(raw.bytes(), now).unwrap();
    let serials: Vec<_> = both.iter().map(|c| c.serial().to_string()).collect();
    assert_eq!(
        serials,
        [demo::PLATFORM_CERTIFICATE_SERIAL, FIXTURE_CERT_SERIAL]
    );

    // Stale: the clock check runs on the listing too.
    assert!(matches!(
        decode(raw.bytes(), now + 3600),
        Err(Error::Verify(VerifyError::ClockSkew { .. }))
    ));
    // Not the documented JSON, or empty.
    assert!(matches!(decode(b"[]", now), Err(Error::Decode(_))));
    assert!(matches!(
        decode(br#"{"data":[]}"#, now),
        Err(Error::Decode(_))
    ));
    // A listed serial that is not the certificate's own.
    let mut body: serde_json::Value = serde_json::from_slice(raw.bytes()).unwrap();
    body["data"][0]["serial_no"] = json!(FIXTURE_CERT_SERIAL);
    let err = decode(body.to_string().as_bytes(), now).unwrap_err();
    assert!(
        matches!(&err, Error::Decode(m) if m.contains("has serial")),
        "{err:?}"
    );
    // Another algorithm.
    let mut body: serde_json::Value = serde_json::from_slice(raw.bytes()).unwrap();
    body["data"][0]["encrypt_certificate"]["algorithm"] = json!("AEAD_SM4_GCM");
    assert!(matches!(
        decode(body.to_string().as_bytes(), now),
        Err(Error::Decode(_))
    ));
    // Altered associated data does not decrypt.
    let mut body: serde_json::Value = serde_json::from_slice(raw.bytes()).unwrap();
    body["data"][0]["encrypt_certificate"]["associated_data"] = json!("certificatf");
    assert!(matches!(
        decode(body.to_string().as_bytes(), now),
        Err(Error::Key(KeyError::Operation(_)))
    ));

    // `install` keeps existing keys and skips expired certificates.
    let keys = PlatformKeys::new();
    keys.insert("PUB_KEY_ID_0000", both[0].public_key().clone());
    assert_eq!(certificates::install(&both, &keys, now), 2);
    assert_eq!(keys.ids().len(), 3);
    let after_expiry = 4_000_000_000; // 2096
    assert_eq!(
        certificates::install(&both, &PlatformKeys::new(), after_expiry),
        0
    );
}

#[test]
fn debug_output_holds_no_secrets() {
    let (_mock, wxpay) = certificate_mode_with_public_key_client(|b| {
        b.apiv3_key(demo::APIV3_KEY).refetch_certificates(true)
    });
    let downloader = CertificateDownloader::from_client(&wxpay).unwrap();
    let builder = Client::builder().apiv3_key(demo::APIV3_KEY);
    let layer = VerifierLayer::new(PlatformKeys::new()).refetch_certificates(Refetch::new(apiv3()));
    for text in [
        format!("{wxpay:?}"),
        format!("{downloader:?}"),
        format!("{builder:?}"),
        format!("{layer:?}"),
        format!("{:?}", Refetch::new(apiv3())),
        format!("{:?}", downloader.download().unwrap()),
    ] {
        assert!(!text.contains(demo::APIV3_KEY), "{text}");
        assert!(!text.contains("PRIVATE"), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Background refresh.

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

#[test]
fn background_refresh_installs_repeats_and_stops_when_dropped() {
    let (mock, wxpay) = certificate_mode_with_public_key_client(|b| b);
    let handle =
        CertificateDownloader::new(&wxpay, apiv3()).refresh_every(Duration::from_millis(50));
    assert!(
        wait_until(Duration::from_secs(20), || handle.successes() >= 3),
        "{:?}",
        handle.last_error()
    );
    assert_eq!(handle.failures(), 0);
    assert_eq!(handle.last_error(), None);
    assert!(wxpay
        .platform_keys()
        .get(demo::PLATFORM_CERTIFICATE_SERIAL)
        .is_some());

    drop(handle);
    // A refresh in flight when the handle dropped may still finish; then nothing more.
    std::thread::sleep(Duration::from_millis(300));
    let settled = mock.request_count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        mock.request_count(),
        settled,
        "the refresh kept running after drop"
    );
}

#[test]
fn background_refresh_reports_failures() {
    let (_mock, wxpay) = certificate_mode_with_public_key_client(|b| b);
    let wrong = ApiV3Key::new(WRONG_APIV3_KEY).unwrap();
    let handle = CertificateDownloader::new(&wxpay, wrong).refresh_every(Duration::from_secs(3600));
    assert!(wait_until(Duration::from_secs(20), || handle.failures() >= 1));
    assert_eq!(handle.successes(), 0);
    assert!(handle.last_error().unwrap().contains("did not decrypt"));
    assert_eq!(wxpay.platform_keys().ids(), [demo::PLATFORM_PUBLIC_KEY_ID]);
}

// ---------------------------------------------------------------------------------------------
// 3. Refetch on an unknown serial.

fn refetching(builder: ClientBuilder) -> ClientBuilder {
    builder
        .apiv3_key(demo::APIV3_KEY)
        .refetch_certificates(true)
}

#[test]
fn an_unknown_serial_is_fetched_once_and_the_same_answer_verifies() {
    let (mock, wxpay) = certificate_mode_with_public_key_client(refetching);
    let start = mock.request_count();

    // The answer names the certificate, which the client does not trust: one download (a
    // second request), then the same answer verifies; the call is not repeated.
    let r = wxpay[QUERY].get(query_opts()).unwrap();
    assert_eq!(
        r.headers()["wechatpay-serial"],
        demo::PLATFORM_CERTIFICATE_SERIAL
    );
    assert_eq!(mock.request_count(), start + 2);
    assert!(wxpay
        .platform_keys()
        .get(demo::PLATFORM_CERTIFICATE_SERIAL)
        .is_some());

    // Known now: no more downloads.
    wxpay[QUERY].get(query_opts()).unwrap();
    assert_eq!(mock.request_count(), start + 3);

    // Another unknown serial within the minute: refused without a second download.
    wxpay
        .platform_keys()
        .remove(demo::PLATFORM_CERTIFICATE_SERIAL);
    assert_eq!(
        unknown_serial(wxpay[QUERY].get(query_opts())),
        demo::PLATFORM_CERTIFICATE_SERIAL
    );
    assert_eq!(mock.request_count(), start + 4);
}

#[test]
fn a_client_with_no_keys_bootstraps_from_the_first_answer() {
    let mock = MockServer::builder()
        .mode(Mode::PlatformCertificate)
        .start_blocking()
        .unwrap();
    let wxpay = refetching(demo_merchant(&mock.base_uri())).build().unwrap();
    assert!(wxpay.platform_keys().is_empty());
    let start = mock.request_count();
    wxpay[QUERY].get(query_opts()).unwrap();
    assert_eq!(mock.request_count(), start + 2);
    assert_eq!(
        wxpay.platform_keys().ids(),
        [demo::PLATFORM_CERTIFICATE_SERIAL]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unknown_serials_share_one_download() {
    let (mock, wxpay) = certificate_mode_with_public_key_client(refetching);
    let start = mock.request_count();
    let calls: Vec<_> = (0..6)
        .map(|_| tokio::spawn(wxpay[QUERY].get_async(query_opts())))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(mock.request_count(), start + 6 + 1);
}

#[test]
fn a_download_that_does_not_explain_the_serial_gives_up_and_is_rate_limited() {
    let server = ListingServer::start(honest_script());
    // Answers name a serial no listing holds; the listing itself is honest.
    server.script(|s| s.answers = SignedBy::new("7E57AB1E", stranger_key()));
    let wxpay = refetching(demo_merchant(&server.base_uri()))
        .cert(demo::PLATFORM_PUBLIC_KEY_ID, demo::PLATFORM_PUBLIC_KEY_PEM)
        .build()
        .unwrap();
    assert_eq!(
        unknown_serial(wxpay.chain("v3/anything").get(())),
        "7E57AB1E"
    );
    assert_eq!(server.listing_requests(), 1);
    assert_eq!(server.log.lock().unwrap().unsigned, 0);
    // The download still installed what it verified.
    assert!(wxpay
        .platform_keys()
        .get(demo::PLATFORM_CERTIFICATE_SERIAL)
        .is_some());
    assert_eq!(
        unknown_serial(wxpay.chain("v3/anything").get(())),
        "7E57AB1E"
    );
    assert_eq!(server.listing_requests(), 1, "rate limited");
    assert_eq!(server.other_requests(), 2);
}

#[test]
fn a_refetched_listing_is_held_to_the_clock_skew_allowed_for_answers() {
    let signed_ago = |seconds: i64| {
        let server = ListingServer::start(honest_script());
        server.script(|s| s.listing_age_seconds = seconds);
        let wxpay = refetching(demo_merchant(&server.base_uri()))
            .cert(demo::PLATFORM_PUBLIC_KEY_ID, demo::PLATFORM_PUBLIC_KEY_PEM)
            .build()
            .unwrap();
        let outcome = wxpay.chain("v3/anything").get(());
        (server, wxpay, outcome)
    };

    // Signed a minute ago: within WeChat Pay's 300 s, installed.
    let (_server, wxpay, outcome) = signed_ago(60);
    outcome.unwrap();
    assert!(wxpay
        .platform_keys()
        .get(demo::PLATFORM_CERTIFICATE_SERIAL)
        .is_some());

    // Signed over five minutes ago: refused, nothing installed.
    let (server, wxpay, outcome) = signed_ago(301 + 5);
    assert_eq!(unknown_serial(outcome), demo::PLATFORM_CERTIFICATE_SERIAL);
    assert_eq!(server.listing_requests(), 1);
    assert_eq!(wxpay.platform_keys().ids(), [demo::PLATFORM_PUBLIC_KEY_ID]);
}

#[test]
fn a_forged_listing_during_refetch_installs_nothing() {
    let server = ListingServer::start(honest_script());
    server.script(|s| s.listing = SignedBy::new(demo::PLATFORM_CERTIFICATE_SERIAL, stranger_key()));
    let wxpay = refetching(demo_merchant(&server.base_uri()))
        .cert(demo::PLATFORM_PUBLIC_KEY_ID, demo::PLATFORM_PUBLIC_KEY_PEM)
        .build()
        .unwrap();
    assert_eq!(
        unknown_serial(wxpay.chain("v3/anything").get(())),
        demo::PLATFORM_CERTIFICATE_SERIAL
    );
    assert_eq!(server.listing_requests(), 1);
    assert_eq!(wxpay.platform_keys().ids(), [demo::PLATFORM_PUBLIC_KEY_ID]);
}

#[test]
fn a_layer_built_by_hand_refetches_again_after_its_interval() {
    let server = ListingServer::start(honest_script());
    let keys = PlatformKeys::new();
    keys.insert(
        demo::PLATFORM_PUBLIC_KEY_ID,
        Rsa::from_public(demo::PLATFORM_PUBLIC_KEY_PEM).unwrap(),
    );
    let layer_keys = keys.clone();
    let base = server.base_uri();
    let wxpay = demo_merchant(&base)
        .platform_keys(keys)
        .middleware(move |stack| {
            stack.replace(
                "verifier",
                VerifierLayer::new(layer_keys).refetch_certificates(
                    Refetch::new(apiv3())
                        .min_interval(Duration::ZERO)
                        .base_uri(base),
                ),
            )?;
            Ok(())
        })
        .build()
        .unwrap();
    wxpay.chain("v3/anything").get(()).unwrap();
    assert_eq!(server.listing_requests(), 1);
    wxpay
        .platform_keys()
        .remove(demo::PLATFORM_CERTIFICATE_SERIAL);
    wxpay.chain("v3/anything").get(()).unwrap();
    assert_eq!(
        server.listing_requests(),
        2,
        "no interval: a second download"
    );
}

/// Caught by the certificate-listing invariant (tests/invariants/response.rs, shared with the
/// `response` fuzz target): a decrypted certificate was read again as a key source, so a
/// `PUBLIC KEY` block in front of the certificate became the key installed under the
/// certificate's serial, and a listing signed with that other key passed the self-check.
#[test]
fn a_listed_certificate_is_installed_with_its_own_key() {
    let certificate = read("tests/fixtures/platform_cert.pem");
    let plaintext = format!("{}{certificate}", read("tests/fixtures/merchant_spki.pem"));
    let now = 1_700_000_000;
    let listing = |signer: &RsaPrivateKey| {
        let (nonce, aad) = ("0123456789ab", "certificate");
        let ciphertext = AesGcm::encrypt(
            plaintext.as_bytes(),
            demo::APIV3_KEY.as_bytes(),
            nonce.as_bytes(),
            aad.as_bytes(),
        )
        .unwrap();
        let body = json!({"data": [{
            "serial_no": FIXTURE_CERT_SERIAL,
            "encrypt_certificate": {
                "algorithm": "AEAD_AES_256_GCM",
                "nonce": nonce,
                "associated_data": aad,
                "ciphertext": ciphertext,
            },
        }]})
        .to_string();
        let timestamp = now.to_string();
        let signature = Rsa::sign(
            &Formatter::response(&timestamp, "nonce", body.as_bytes()),
            signer,
        )
        .unwrap();
        let mut headers = http::HeaderMap::new();
        for (name, value) in [
            ("Wechatpay-Timestamp", timestamp.as_str()),
            ("Wechatpay-Nonce", "nonce"),
            ("Wechatpay-Serial", FIXTURE_CERT_SERIAL),
            ("Wechatpay-Signature", signature.as_str()),
        ] {
            headers.insert(name, value.parse().unwrap());
        }
        (headers, body)
    };

    // Signed with the key of the block in front: not the certificate's, so refused.
    let merchant = Rsa::from_private(&read("tests/fixtures/merchant_pkcs1.pem")).unwrap();
    let (headers, body) = listing(&merchant);
    let err =
        certificates::decode(&headers, body.as_bytes(), &apiv3(), now, 300, None).unwrap_err();
    assert!(
        matches!(err, Error::Verify(VerifyError::BadSignature)),
        "{err:?}"
    );

    // Signed with the certificate's key: accepted, and installed with that key.
    let (headers, body) = listing(&fixture_platform_key());
    let decoded =
        certificates::decode(&headers, body.as_bytes(), &apiv3(), now, 300, None).unwrap();
    assert_eq!(
        decoded[0].public_key(),
        &Rsa::from_public(&certificate).unwrap()
    );
}
