//! WeChat Pay platform certificates: download `GET v3/certificates`, decrypt, self-verify and
//! install them into a client's [`PlatformKeys`] ("获取平台证书列表", "平台证书更新指引").
//!
//! WeChat Pay lists its platform certificates encrypted with AEAD_AES_256_GCM under the
//! merchant's APIv3 key. Nothing can be trusted before the certificates are, so the answer is
//! checked against itself: it must be signed by the private key of one of the certificates it
//! carries, and each certificate must decrypt under the APIv3 key (only WeChat Pay and the
//! merchant know it). [`decode`] does those checks as a pure function; [`CertificateDownloader`]
//! makes the call through a client, with its `verifier` layer removed so that the ordinary
//! check does not refuse an answer signed by a certificate the client does not know yet.
//!
//! Three ways to keep the store current:
//! - once, by hand: [`CertificateDownloader::refresh`];
//! - periodically: [`CertificateDownloader::refresh_every`] returns a [`RefreshHandle`] that
//!   refreshes in the background until it is dropped;
//! - on demand: [`Refetch`] on the `verifier` layer (or
//!   [`ClientBuilder::refetch_certificates`](crate::ClientBuilder::refetch_certificates))
//!   downloads once when a 2xx answer names an unknown serial, at most once per interval, and
//!   re-verifies that same answer.
//!
//! ```
//! use wechatpay::certificates::CertificateDownloader;
//! use wechatpay::mock::{demo, MockServer, Mode};
//!
//! let mock = MockServer::builder().mode(Mode::PlatformCertificate).start_blocking()?;
//! let wxpay = mock.client_builder().apiv3_key(demo::APIV3_KEY).build()?;
//! let certificates = CertificateDownloader::from_client(&wxpay)?.refresh()?;
//! assert_eq!(certificates[0].serial(), demo::PLATFORM_CERTIFICATE_SERIAL);
//! # Ok::<(), wechatpay::Error>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use serde::Deserialize;

use crate::client::Client;
use crate::crypto::{
    unix_seconds, AesGcm, ApiV3Key, CertificateInfo, Formatter, PemUtil, Rsa, RsaPublicKey,
};
use crate::error::{Error, KeyError, Result, VerifyError};
use crate::platform_keys::PlatformKeys;
use crate::sync::lock;
use crate::verify::verify_response;

/// The endpoint, as a path template: `v3/certificates`.
pub const ENDPOINT: &str = "v3/certificates";

/// The only algorithm WeChat Pay encrypts certificates with.
const AEAD_AES_256_GCM: &str = "AEAD_AES_256_GCM";

/// One platform certificate, decrypted and parsed.
#[derive(Clone)]
pub struct PlatformCertificate {
    info: CertificateInfo,
    public_key: RsaPublicKey,
    pem: String,
    effective_time: String,
    expire_time: String,
}

impl PlatformCertificate {
    /// The serial number, as WeChat Pay prints it (upper-case hex): the `Wechatpay-Serial` of
    /// answers signed with this certificate's key.
    pub fn serial(&self) -> &str {
        &self.info.serial
    }

    /// Serial and validity, read from the certificate itself.
    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }

    /// Start of validity (the certificate's `notBefore`).
    pub fn not_before(&self) -> SystemTime {
        self.info.not_before
    }

    /// End of validity (the certificate's `notAfter`).
    pub fn not_after(&self) -> SystemTime {
        self.info.not_after
    }

    /// True when `now` (Unix seconds) lies within the validity window, bounds included.
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.info.is_valid_at(now)
    }

    /// The certificate's public key, the one WeChat Pay signs with and sensitive fields are
    /// encrypted to.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }

    /// The certificate as PEM text, as WeChat Pay sent it (to save as a file, say).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// `effective_time` as the listing gave it (`2026-11-22T14:09:39+08:00`).
    pub fn effective_time(&self) -> &str {
        &self.effective_time
    }

    /// `expire_time` as the listing gave it.
    pub fn expire_time(&self) -> &str {
        &self.expire_time
    }
}

impl std::fmt::Debug for PlatformCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformCertificate")
            .field("serial", &self.info.serial)
            .field("effective_time", &self.effective_time)
            .field("expire_time", &self.expire_time)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Listing {
    data: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    serial_no: String,
    #[serde(default)]
    effective_time: Option<String>,
    #[serde(default)]
    expire_time: Option<String>,
    encrypt_certificate: Sealed,
}

#[derive(Deserialize)]
struct Sealed {
    algorithm: String,
    nonce: String,
    #[serde(default)]
    associated_data: Option<String>,
    ciphertext: String,
}

/// Decrypts and checks the answer of `GET v3/certificates`; a pure function of its inputs.
///
/// In order: the body is the documented JSON with at least one certificate; each
/// `encrypt_certificate` uses `AEAD_AES_256_GCM` and decrypts under `apiv3_key` (with its
/// `nonce` and `associated_data`); each plaintext is an X.509 certificate whose serial is the
/// listed `serial_no`; then the answer's signature is checked ([`verify_response`]) against
/// the certificates just decrypted. `also_trusted`, when given, is consulted only if the
/// answer is signed by a key the listing does not hold (a merchant in public-key mode gets
/// the listing signed with its `PUB_KEY_ID_...` key).
///
/// # Errors
/// - [`Error::Decode`]: the body is not the documented JSON, lists no certificate, names an
///   unknown algorithm, or a certificate's serial differs from its `serial_no`;
/// - [`Error::Key`] with [`KeyError::Operation`]: a certificate did not decrypt (a wrong
///   APIv3 key, or altered ciphertext, nonce or associated data); other [`KeyError`]s when
///   the plaintext is not a usable RSA certificate;
/// - [`Error::Verify`]: the answer's signature failed, for example
///   [`VerifyError::UnknownSerial`] when it was signed by none of the listed certificates,
///   [`VerifyError::BadSignature`] when it names one but was not signed by its key.
pub fn decode(
    headers: &HeaderMap,
    body: &[u8],
    apiv3_key: &ApiV3Key,
    now: i64,
    max_skew_seconds: u64,
    also_trusted: Option<&PlatformKeys>,
) -> Result<Vec<PlatformCertificate>> {
    let listing: Listing = serde_json::from_slice(body)
        .map_err(|e| Error::Decode(format!("v3/certificates: not the documented JSON: {e}")))?;
    if listing.data.is_empty() {
        return Err(Error::Decode(
            "v3/certificates: the listing holds no certificate".into(),
        ));
    }
    let mut certificates = Vec::with_capacity(listing.data.len());
    for entry in listing.data {
        certificates.push(open_entry(entry, apiv3_key)?);
    }

    // Self-check: the answer must be signed by one of the certificates it carries.
    let listed = PlatformKeys::new();
    for c in &certificates {
        listed.insert(c.serial(), c.public_key.clone());
    }
    match verify_response(headers, body, now, max_skew_seconds, &listed) {
        Ok(()) => Ok(certificates),
        Err(VerifyError::UnknownSerial(serial)) => match also_trusted {
            Some(trusted) => verify_response(headers, body, now, max_skew_seconds, trusted)
                .map(|()| certificates)
                .map_err(Error::Verify),
            None => Err(Error::Verify(VerifyError::UnknownSerial(serial))),
        },
        Err(e) => Err(Error::Verify(e)),
    }
}

fn open_entry(entry: Entry, apiv3_key: &ApiV3Key) -> Result<PlatformCertificate> {
    let listed: String = entry.serial_no.chars().take(64).collect();
    let sealed = entry.encrypt_certificate;
    if sealed.algorithm != AEAD_AES_256_GCM {
        return Err(Error::Decode(format!(
            "v3/certificates: certificate `{listed}` uses algorithm `{}`, not {AEAD_AES_256_GCM}",
            sealed.algorithm.chars().take(64).collect::<String>()
        )));
    }
    let plaintext = AesGcm::decrypt(
        &sealed.ciphertext,
        apiv3_key.as_bytes(),
        sealed.nonce.as_bytes(),
        sealed.associated_data.unwrap_or_default().as_bytes(),
    )
    .map_err(|e| match e {
        KeyError::Operation(_) => Error::Key(KeyError::Operation(format!(
            "platform certificate `{listed}` did not decrypt: the APIv3 key is wrong, or the \
             ciphertext, nonce or associated data were altered"
        ))),
        other => Error::Key(other),
    })?;
    let pem = String::from_utf8(plaintext).map_err(|_| {
        Error::Key(KeyError::Malformed(format!(
            "platform certificate `{listed}` decrypted to text that is not UTF-8 PEM"
        )))
    })?;
    let info = PemUtil::certificate_info(pem.as_bytes())?;
    if !info.serial.eq_ignore_ascii_case(listed.trim()) {
        return Err(Error::Decode(format!(
            "v3/certificates: the certificate listed as `{listed}` has serial `{}`",
            info.serial
        )));
    }
    let public_key = Rsa::from_public(&pem)?;
    Ok(PlatformCertificate {
        info,
        public_key,
        pem,
        effective_time: entry.effective_time.unwrap_or_default(),
        expire_time: entry.expire_time.unwrap_or_default(),
    })
}

/// Adds (or replaces) each certificate that has not expired at `now` (Unix seconds) to `keys`,
/// under its serial, and returns how many were added. Keys already in the store, such as a
/// `PUB_KEY_ID_...`, stay. Certificates that are not yet valid are added too: WeChat Pay
/// publishes a new certificate before it starts signing with it.
pub fn install(certificates: &[PlatformCertificate], keys: &PlatformKeys, now: i64) -> usize {
    let mut added = 0;
    for c in certificates {
        if now <= unix_seconds(c.not_after()) {
            keys.insert(c.serial(), c.public_key.clone());
            added += 1;
        }
    }
    added
}

/// Downloads platform certificates through a client: signed with its merchant key, sent
/// through its stack without the `verifier` layer, then checked by [`decode`].
///
/// # Examples
/// ```
/// use wechatpay::certificates::CertificateDownloader;
/// use wechatpay::crypto::ApiV3Key;
/// use wechatpay::mock::{demo, MockServer, Mode};
///
/// let mock = MockServer::builder().mode(Mode::PlatformCertificate).start_blocking()?;
/// let wxpay = mock.client_builder().build()?;
/// let downloader = CertificateDownloader::new(&wxpay, ApiV3Key::new(demo::APIV3_KEY)?);
/// for c in downloader.download()? {
///     println!("{} valid until {}", c.serial(), c.expire_time());
/// }
/// # Ok::<(), wechatpay::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CertificateDownloader {
    /// The caller's client with the `verifier` layer removed.
    unverified: Client,
    keys: PlatformKeys,
    apiv3_key: ApiV3Key,
    max_skew_seconds: u64,
    algorithm_type: Option<String>,
    trust_known_keys: bool,
}

impl CertificateDownloader {
    /// A downloader that calls through `client` and decrypts with `apiv3_key`. Certificates
    /// are installed into the client's [`Client::platform_keys`], shared by all its clones.
    pub fn new(client: &Client, apiv3_key: ApiV3Key) -> Self {
        let mut stack = client.stack();
        // The ordinary check would refuse an answer signed by a certificate not yet trusted;
        // `decode` checks the answer against the certificates it carries instead.
        stack.remove("verifier");
        Self {
            unverified: client.with_stack(stack),
            keys: client.platform_keys().clone(),
            apiv3_key,
            max_skew_seconds: client.inner.max_skew_seconds,
            algorithm_type: None,
            trust_known_keys: false,
        }
    }

    /// A downloader using the APIv3 key given to
    /// [`ClientBuilder::apiv3_key`](crate::ClientBuilder::apiv3_key).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the client was built without an APIv3 key.
    pub fn from_client(client: &Client) -> Result<Self> {
        let key = client.inner.apiv3_key.clone().ok_or(Error::Unsupported(
            "downloading platform certificates needs the APIv3 key: set ClientBuilder::apiv3_key",
        ))?;
        Ok(Self::new(client, key))
    }

    /// Asks for certificates of one algorithm (the `algorithm_type` query parameter, such as
    /// `RSA` or `SM2`); WeChat Pay lists RSA certificates when it is absent.
    pub fn algorithm_type(mut self, algorithm: impl Into<String>) -> Self {
        self.algorithm_type = Some(algorithm.into());
        self
    }

    /// Also accepts a listing signed by a key the client already trusts, when the listing does
    /// not hold the signing certificate. Off by default (the listing must sign itself). Turn
    /// it on for a merchant in public-key mode, whose listing WeChat Pay signs with the
    /// `PUB_KEY_ID_...` key.
    pub fn trust_known_keys(mut self, enabled: bool) -> Self {
        self.trust_known_keys = enabled;
        self
    }

    /// Downloads, decrypts and self-verifies the certificates without installing them.
    ///
    /// # Errors
    /// Any error of the call (transport, [`Error::Api`]) or of [`decode`].
    pub fn download(&self) -> Result<Vec<PlatformCertificate>> {
        crate::runtime::wait(self.download_async())
    }

    /// [`download`](Self::download) for async code; the future is `Send + 'static`.
    ///
    /// # Errors
    /// As [`download`](Self::download).
    pub fn download_async(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<PlatformCertificate>>> + Send + 'static {
        let this = self.clone();
        let mut opts = crate::RequestOptions::new();
        if let Some(algorithm) = &self.algorithm_type {
            opts = opts.query("algorithm_type", algorithm.clone());
        }
        let call = self.unverified.chain(ENDPOINT).get_async(opts);
        async move {
            let response = call.await?;
            let trusted = this.trust_known_keys.then_some(&this.keys);
            decode(
                response.headers(),
                response.bytes(),
                &this.apiv3_key,
                Formatter::timestamp(),
                this.max_skew_seconds,
                trusted,
            )
        }
    }

    /// Downloads the certificates and installs the unexpired ones into the client's key
    /// store (see [`install`]); returns every certificate downloaded.
    ///
    /// # Errors
    /// As [`download`](Self::download); nothing is installed on error.
    pub fn refresh(&self) -> Result<Vec<PlatformCertificate>> {
        crate::runtime::wait(self.refresh_async())
    }

    /// [`refresh`](Self::refresh) for async code; the future is `Send + 'static`.
    ///
    /// # Errors
    /// As [`refresh`](Self::refresh).
    pub fn refresh_async(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<PlatformCertificate>>> + Send + 'static {
        let keys = self.keys.clone();
        let download = self.download_async();
        async move {
            let certificates = download.await?;
            let added = install(&certificates, &keys, Formatter::timestamp());
            tracing::debug!(
                downloaded = certificates.len(),
                installed = added,
                "platform certificates refreshed"
            );
            Ok(certificates)
        }
    }

    /// Refreshes now and then every `interval` (WeChat Pay suggests about every 12 hours) on
    /// a background thread, until the returned handle is dropped. A failed refresh is logged
    /// (`tracing`), kept in [`RefreshHandle::last_error`], and retried at the next interval.
    pub fn refresh_every(&self, interval: Duration) -> RefreshHandle {
        let (stop, stopped) = mpsc::channel::<()>();
        let status = Arc::new(RefreshStatus::default());
        let shared = Arc::clone(&status);
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("wechatpay-certificates".into())
            .spawn(move || loop {
                match this.refresh() {
                    Ok(_) => {
                        shared.successes.fetch_add(1, Ordering::Relaxed);
                        *lock(&shared.last_error) = None;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "platform certificate refresh failed");
                        shared.failures.fetch_add(1, Ordering::Relaxed);
                        *lock(&shared.last_error) = Some(e.to_string());
                    }
                }
                match stopped.recv_timeout(interval) {
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    // The handle was dropped (or said stop).
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            });
        if let Err(e) = &spawned {
            *lock(&status.last_error) = Some(format!("cannot start the refresh thread: {e}"));
        }
        RefreshHandle {
            stop: Some(stop),
            status,
        }
    }
}

#[derive(Debug, Default)]
struct RefreshStatus {
    successes: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A background refresh started by [`CertificateDownloader::refresh_every`]. Dropping it
/// stops the refresh (a download in flight finishes first; nothing waits for it).
#[derive(Debug)]
#[must_use = "the background refresh stops when the handle is dropped"]
pub struct RefreshHandle {
    stop: Option<mpsc::Sender<()>>,
    status: Arc<RefreshStatus>,
}

impl RefreshHandle {
    /// How many refreshes succeeded so far.
    pub fn successes(&self) -> u64 {
        self.status.successes.load(Ordering::Relaxed)
    }

    /// How many refreshes failed so far.
    pub fn failures(&self) -> u64 {
        self.status.failures.load(Ordering::Relaxed)
    }

    /// Why the latest refresh failed, or `None` if it succeeded (or none has finished yet).
    pub fn last_error(&self) -> Option<String> {
        lock(&self.status.last_error).clone()
    }
}

impl Drop for RefreshHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The thread may have ended already; then there is nobody to tell.
            let _ = stop.send(());
        }
    }
}

/// Download-on-demand settings for the `verifier` layer
/// ([`VerifierLayer::refetch_certificates`](crate::middleware::VerifierLayer::refetch_certificates)).
///
/// When a 2xx answer names a serial the store does not know, the layer downloads the
/// certificates once (through the layers below it, so the download is signed), checks them as
/// [`decode`] does, installs them, and verifies the same answer again. Downloads start at most
/// once per [`min_interval`](Self::min_interval) (60 s by default) however many unknown
/// serials arrive; concurrent calls wait for one download instead of starting their own.
#[derive(Debug, Clone)]
pub struct Refetch {
    pub(crate) apiv3_key: ApiV3Key,
    pub(crate) base_uri: Option<String>,
    pub(crate) min_interval: Duration,
}

impl Refetch {
    /// The default least time between two downloads.
    pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(60);

    /// Refetch with `apiv3_key`, from the host that sent the unknown serial.
    pub fn new(apiv3_key: ApiV3Key) -> Self {
        Self {
            apiv3_key,
            base_uri: None,
            min_interval: Self::DEFAULT_MIN_INTERVAL,
        }
    }

    /// The least time between two downloads (60 s by default). An unknown serial within it
    /// of the last download fails at once with [`VerifyError::UnknownSerial`].
    pub fn min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
        self
    }

    /// Where `v3/certificates` lives (the client's base URI, which may carry a path prefix).
    /// By default it is the scheme and host of the request that got the unknown serial.
    pub fn base_uri(mut self, uri: impl Into<String>) -> Self {
        self.base_uri = Some(uri.into());
        self
    }
}
