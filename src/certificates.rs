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
use std::time::Duration;

use crate::client::Client;
use crate::crypto::{ApiV3Key, Formatter};
use crate::error::{ConfigError, Error, Result};
use crate::sync::lock;
use crate::PlatformKeys;

pub use crate::middleware::refetch::Refetch;
pub use crate::trust::platform_certificates::{decode, install, PlatformCertificate, ENDPOINT};

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
            max_skew_seconds: client.max_skew_seconds(),
            algorithm_type: None,
            trust_known_keys: false,
        }
    }

    /// A downloader using the APIv3 key given to
    /// [`ClientBuilder::apiv3_key`](crate::ClientBuilder::apiv3_key).
    ///
    /// # Errors
    /// [`Error::Config`] when the client was built without an APIv3 key.
    pub fn from_client(client: &Client) -> Result<Self> {
        let key = client.apiv3_key().cloned().ok_or_else(|| {
            Error::Config(ConfigError::one(
                "downloading platform certificates needs the APIv3 key: set \
                 `ClientBuilder::apiv3_key` (`apiv3Key` in `Builder::factory`)",
            ))
        })?;
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
        crate::transport::runtime::wait(self.download_async())
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
        crate::transport::runtime::wait(self.refresh_async())
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
