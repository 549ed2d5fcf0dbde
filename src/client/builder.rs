//! `ClientBuilder`: setters record, `build()` checks everything and reports every problem.

use std::sync::Arc;
use std::time::Duration;

use elsa::sync::FrozenMap;
use http::header::{HeaderValue, USER_AGENT};
use http::HeaderMap;

use super::{Client, ClientInner};
use crate::crypto::{ApiV2Key, ApiV3Key, Rsa, RsaPrivateKey, RsaPublicKey};
use crate::error::{ConfigError, Error, KeyError, Result};
use crate::middleware::refetch::Refetch;
use crate::middleware::retry::{RetryLayer, RetryPolicy};
use crate::middleware::unconfigured::Unconfigured;
use crate::middleware::{
    SignerLayer, Stack, TransformRequestLayer, TransformResponseLayer, VerifierLayer,
};
use crate::request::{self, BaseUri};
use crate::transport::{Transport, TransportConfig};
use crate::trust::platform_keys::PlatformKeys;
use crate::trust::sign::Signer;
use crate::trust::verify::DEFAULT_MAX_SKEW_SECONDS;

enum PrivateKeySource {
    Text {
        source: String,
        passphrase: Option<String>,
    },
    Signer(Arc<dyn Signer>),
    Loaded(RsaPrivateKey),
}

enum PublicKeySource {
    Text(String),
    Key(RsaPublicKey),
}

/// Configures a [`Client`]. Setters only record; [`ClientBuilder::build`] checks everything
/// and reports every problem at once.
///
/// # Examples
/// ```no_run
/// let wxpay = wechatpay::Client::builder()
///     .mchid("1900000001")
///     .serial("1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C")
///     .private_key("file:///path/to/apiclient_key.pem")
///     .cert("PUB_KEY_ID_0114232134912410000", "file:///path/to/pub_key.pem")
///     .build()?;
/// # Ok::<(), wechatpay::Error>(())
/// ```
#[must_use]
pub struct ClientBuilder {
    mchid: Option<String>,
    serial: Option<String>,
    private_key: Option<PrivateKeySource>,
    certs: Vec<(String, PublicKeySource)>,
    platform_keys: Option<PlatformKeys>,
    base_uri: Option<String>,
    headers: Vec<(String, String)>,
    transport: TransportConfig,
    max_skew_seconds: u64,
    stack_edits: Vec<StackEdit>,
    shared_transport: Option<Arc<Transport>>,
    problems: Vec<String>,
    apiv3_key: Option<std::result::Result<ApiV3Key, KeyError>>,
    refetch_certificates: bool,
    retry: Option<RetryPolicy>,
    /// Whether problems name the builder's methods or wechatpay-php's configuration keys.
    naming: Naming,
    /// The APIv2 key.
    secret: Option<String>,
    /// The merchant API certificate and its private key, for mutual TLS.
    merchant_cert: Option<(String, String)>,
    v2_stack_edits: Vec<StackEdit>,
}

/// Whose names the builder's messages use for a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// The builder's method names (`private_key`).
    Rust,
    /// wechatpay-php's configuration keys, for `Builder::factory` (`privateKey`).
    Php,
}

impl Naming {
    /// The name of a setting, given by its builder method.
    fn of(self, method: &'static str) -> &'static str {
        match (self, method) {
            (Naming::Php, "private_key") => "privateKey",
            (Naming::Php, "cert") => "certs",
            (Naming::Php, "header") => "headers",
            (Naming::Php, "apiv3_key") => "apiv3Key",
            (Naming::Php, "merchant_cert") => "merchant",
            (_, method) => method,
        }
    }
}

type StackEdit = Box<dyn FnOnce(&mut Stack) -> Result<()> + Send>;

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            mchid: None,
            serial: None,
            private_key: None,
            certs: Vec::new(),
            platform_keys: None,
            base_uri: None,
            headers: Vec::new(),
            transport: TransportConfig::default(),
            max_skew_seconds: DEFAULT_MAX_SKEW_SECONDS,
            stack_edits: Vec::new(),
            shared_transport: None,
            problems: Vec::new(),
            apiv3_key: None,
            refetch_certificates: false,
            retry: None,
            naming: Naming::Rust,
            secret: None,
            merchant_cert: None,
            v2_stack_edits: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("mchid", &self.mchid)
            .field("serial", &self.serial)
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "certs",
                &self.certs.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .field("base_uri", &self.base_uri)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field(
                "merchant_cert",
                &self.merchant_cert.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The merchant id (商户号), `mchid`.
    pub fn mchid(mut self, mchid: impl Into<String>) -> Self {
        self.mchid = Some(mchid.into());
        self
    }

    /// The merchant API certificate serial (商户API证书序列号), `serial`.
    pub fn serial(mut self, serial: impl Into<String>) -> Self {
        self.serial = Some(serial.into());
        self
    }

    /// The merchant private key, `privateKey`: PEM text, `file://path`, or a
    /// `private.pkcs1://` / `private.pkcs8://` pseudo-URL (see [`Rsa`]).
    pub fn private_key(mut self, source: impl Into<String>) -> Self {
        self.private_key = Some(PrivateKeySource::Text {
            source: source.into(),
            passphrase: None,
        });
        self
    }

    /// An encrypted PKCS#8 private key and its passphrase.
    pub fn private_key_with_passphrase(
        mut self,
        source: impl Into<String>,
        passphrase: impl Into<String>,
    ) -> Self {
        self.private_key = Some(PrivateKeySource::Text {
            source: source.into(),
            passphrase: Some(passphrase.into()),
        });
        self
    }

    /// A loaded private key.
    pub fn private_key_loaded(mut self, key: RsaPrivateKey) -> Self {
        self.private_key = Some(PrivateKeySource::Loaded(key));
        self
    }

    /// Signs with `signer` (an HSM or KMS, say) instead of a local key.
    pub fn signer(mut self, signer: impl Signer) -> Self {
        self.private_key = Some(PrivateKeySource::Signer(Arc::new(signer)));
        self
    }

    /// Trusts a WeChat Pay key: a platform-certificate serial with its certificate, or a
    /// `PUB_KEY_ID_...` with its public key (one entry of PHP's `certs`). Call once per key.
    pub fn cert(mut self, id: impl Into<String>, source: impl Into<String>) -> Self {
        self.certs
            .push((id.into(), PublicKeySource::Text(source.into())));
        self
    }

    /// Trusts an already loaded WeChat Pay key.
    pub fn cert_key(mut self, id: impl Into<String>, key: RsaPublicKey) -> Self {
        self.certs.push((id.into(), PublicKeySource::Key(key)));
        self
    }

    /// Uses (and shares) an existing key store; `cert` entries are added to it.
    pub fn platform_keys(mut self, keys: PlatformKeys) -> Self {
        self.platform_keys = Some(keys);
        self
    }

    /// The base URI, `https://api.mch.weixin.qq.com/` by default: `https://` or `http://`,
    /// without credentials (`user:password@`), a query or a fragment.
    pub fn base_uri(mut self, uri: impl Into<String>) -> Self {
        self.base_uri = Some(uri.into());
        self
    }

    /// A header sent with every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The total time limit of a call (connect, send, wait and read, every retry included),
    /// 30 s by default. A download's body, which streams, is bounded by
    /// [`read_timeout`](Self::read_timeout) instead. Must be more than zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.transport.timeout = timeout;
        self
    }

    /// The time limit for opening a connection (DNS lookup, TCP connect and TLS handshake),
    /// 10 s by default. Must be more than zero.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport.connect_timeout = timeout;
        self
    }

    /// The time limit from the moment a connection carries the request until the answer's
    /// headers arrive. Unset by default (the total limit applies). Must be more than zero.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.transport.response_timeout = Some(timeout);
        self
    }

    /// The longest wait for the next chunk of an answer's body, 30 s by default: it catches a
    /// server that stalls or drips mid-body without cutting a long download short. Must be
    /// more than zero.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.transport.read_timeout = Some(timeout);
        self
    }

    /// Trusts an extra TLS root certificate (PEM), for a private gateway or a test server.
    pub fn root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.transport.extra_roots.push(pem.into());
        self
    }

    /// Offers only HTTP/1.1 (by default HTTP/2 is offered too and the server chooses, so that
    /// concurrent calls can share one connection). For a gateway that mishandles HTTP/2.
    ///
    /// ```
    /// # fn main() -> Result<(), wechatpay::Error> {
    /// # let pem = include_str!("../../tests/fixtures/merchant_pkcs8.pem");
    /// # let platform = include_str!("../../tests/fixtures/platform_public.pem");
    /// let wxpay = wechatpay::Client::builder()
    ///     .mchid("1900000001")
    ///     .serial("1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C")
    ///     .private_key(pem)
    ///     .cert("PUB_KEY_ID_0114232134912410000", platform)
    ///     .http1_only()
    ///     .build()?;
    /// # let _ = wxpay;
    /// # Ok(())
    /// # }
    /// ```
    pub fn http1_only(mut self) -> Self {
        self.transport.http2 = false;
        self
    }

    /// The largest answer read whole, 4 MiB by default (WeChat Pay's JSON and XML answers are
    /// a few KiB). An answer that declares or reaches more is refused; files are fetched with
    /// `Chain::download`, which streams them. Must be more than zero.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.transport.max_body_bytes = bytes;
        self
    }

    /// The allowed difference between WeChat Pay's clock and ours, 300 s by default.
    pub fn max_clock_skew(mut self, seconds: u64) -> Self {
        self.max_skew_seconds = seconds;
        self
    }

    /// Edits the middleware stack after the default layers are in place.
    ///
    /// ```no_run
    /// # let builder = wechatpay::Client::builder();
    /// let builder = builder.middleware(|stack| {
    ///     stack.remove("verifier");
    ///     Ok(())
    /// });
    /// ```
    pub fn middleware(
        mut self,
        edit: impl FnOnce(&mut Stack) -> Result<()> + Send + 'static,
    ) -> Self {
        self.stack_edits.push(Box::new(edit));
        self
    }

    /// Sends through `other`'s connection pool instead of opening a new one: a platform that
    /// serves many merchants keeps one pool for all their clients. The transport settings
    /// (time limits, roots, body cap) are then `other`'s.
    pub fn share_pool(mut self, other: &Client) -> Self {
        self.shared_transport = Some(Arc::clone(other.transport()));
        self
    }

    /// The APIv3 key (APIv3密钥, 32 characters), which decrypts the platform certificates
    /// ([`CertificateDownloader::from_client`](crate::certificates::CertificateDownloader::from_client))
    /// and is needed by [`refetch_certificates`](Self::refetch_certificates). Its length is
    /// checked in `build()`; it never appears in `Debug` output.
    pub fn apiv3_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.apiv3_key = Some(ApiV3Key::new(key));
        self
    }

    /// When a 2xx answer names a serial the client does not trust, downloads the platform
    /// certificates (at most once a minute), installs them after they verify themselves, and
    /// checks the same answer again; see [`Refetch`]. Needs [`apiv3_key`](Self::apiv3_key).
    ///
    /// With this on, `certs` may be empty: the first answer bootstraps the trusted
    /// certificates, authenticated by the APIv3 key and their own signature.
    pub fn refetch_certificates(mut self, enabled: bool) -> Self {
        self.refetch_certificates = enabled;
        self
    }

    /// The APIv2 key (API密钥, 32 characters), `secret`: signs APIv2 calls (paths starting
    /// with `v2/`) and checks the `sign` of their answers. Its length is checked in
    /// `build()`; it never appears in `Debug` output.
    ///
    /// With a secret, the APIv3 settings (`serial`, `private_key`, `cert`) are optional: a
    /// client built without them serves `v2/` paths, and an APIv3 call on it fails with an
    /// [`Error::Config`] naming what is missing, before anything is sent.
    ///
    /// ```
    /// # let mock = wechatpay::mock::MockServer::start_blocking()?;
    /// use wechatpay::{json, Client, Error};
    /// let wxpay = Client::builder()
    ///     .mchid("1900000001")
    ///     .secret(wechatpay::mock::demo::APIV2_KEY)
    ///     .base_uri(mock.base_uri())
    ///     .build()?;
    /// let fields = wxpay.v2().pay().orderquery().post(json!({"xml": {
    ///     "appid": "wxd678efh567hg6787",
    ///     "mch_id": "1900000001",
    ///     "out_trade_no": "1217752501201407033233368018",
    /// }}))?.xml()?;
    /// assert_eq!(fields["trade_state"], "SUCCESS");
    /// // An APIv3 call needs what this client was built without.
    /// let err = wxpay.v3().certificates().get(()).unwrap_err();
    /// assert!(matches!(&err, Error::Config(c) if c.to_string().contains("`serial`")), "{err}");
    /// # Ok::<(), wechatpay::Error>(())
    /// ```
    pub fn secret(mut self, key: impl Into<String>) -> Self {
        self.secret = Some(key.into());
        self
    }

    /// The merchant API certificate (`apiclient_cert.pem`) and its private key
    /// (`apiclient_key.pem`), `merchant: {cert, key}`, presented in mutual TLS by APIv2 calls
    /// that ask for it (`"security": true`: refunds, red packets, transfers). Calls without
    /// `security` go through other connections and never present it.
    ///
    /// `cert_source` is PEM text (the certificate, optionally followed by its chain) or
    /// `file://path` (PEM or DER); `key_source` takes every form
    /// [`private_key`](Self::private_key) does. `build()` checks that the key belongs to the
    /// certificate.
    pub fn merchant_cert(
        mut self,
        cert_source: impl Into<String>,
        key_source: impl Into<String>,
    ) -> Self {
        self.merchant_cert = Some((cert_source.into(), key_source.into()));
        self
    }

    /// Edits the APIv2 middleware stack (`transform_response`, `transform_request`) after the
    /// default layers are in place, as [`middleware`](Self::middleware) does for the APIv3
    /// one. APIv2 calls go through this stack only.
    ///
    /// ```no_run
    /// # let builder = wechatpay::Client::builder();
    /// let builder = builder.v2_middleware(|stack| {
    ///     stack.remove("transform_response");
    ///     Ok(())
    /// });
    /// ```
    pub fn v2_middleware(
        mut self,
        edit: impl FnOnce(&mut Stack) -> Result<()> + Send + 'static,
    ) -> Self {
        self.v2_stack_edits.push(Box::new(edit));
        self
    }

    /// Retries calls that fail in a way worth retrying, as `policy` says, through a `retry`
    /// layer outermost in the stack (each attempt signed afresh and its answer verified).
    /// Off by default. A call can opt out with `"retry": false`, and a POST that is safe to
    /// repeat opts in with `"idempotent": true`; see [`RetryPolicy`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechatpay::RetryPolicy;
    /// # let mock = wechatpay::mock::MockServer::start_blocking()?;
    /// let wxpay = mock
    ///     .client_builder()
    ///     .retry(
    ///         RetryPolicy::default()
    ///             .max_attempts(2)
    ///             .backoff(Duration::from_millis(50), Duration::from_millis(500))
    ///             .failover("https://api2.mch.weixin.qq.com/"),
    ///     )
    ///     .build()?;
    /// let r = wxpay.v3().certificates().get(())?;
    /// assert_eq!(r.status(), 200);
    /// # Ok::<(), wechatpay::Error>(())
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    pub(crate) fn problem(mut self, problem: String) -> Self {
        self.problems.push(problem);
        self
    }

    /// Names settings in problems by wechatpay-php's configuration keys (`Builder::factory`).
    pub(crate) fn php_names(mut self) -> Self {
        self.naming = Naming::Php;
        self
    }

    /// Checks the configuration and builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] listing every problem found: each missing setting, an unloadable
    /// key, an empty `certs` (allowed with [`refetch_certificates`](Self::refetch_certificates)),
    /// a `certs` entry with the merchant's own serial, a bad base URI or header, an APIv3 key
    /// that is not 32 bytes, `refetch_certificates` without an APIv3 key, a zero time limit
    /// or body cap, a [`retry`](Self::retry) policy that cannot work (no attempts, a failover
    /// host that is not an http(s) origin), a middleware edit that names an unknown layer.
    /// Problems name the builder's methods (`private_key`), or wechatpay-php's keys
    /// (`privateKey`) for a builder from [`Builder::factory`](crate::Builder::factory). A
    /// shared [`PlatformKeys`] is changed only when the client is built.
    pub fn build(self) -> Result<Client> {
        let naming = self.naming;
        let name = |method| naming.of(method);
        let mut problems = self.problems;
        let mchid = required_id(&mut problems, self.mchid, name("mchid"), "the merchant id");
        // With an APIv2 key, a missing APIv3 setting is a problem of APIv3 calls, not of the
        // client: it is reported by them (see `Unconfigured`).
        let apiv2_only = self.secret.is_some();
        let mut v3_missing = Vec::new();
        let nothing_for_v3 = self.serial.is_none()
            && self.private_key.is_none()
            && self.certs.is_empty()
            && self.platform_keys.is_none();
        let serial = match self.serial {
            None if apiv2_only => {
                v3_missing.push(format!(
                    "`{}` (the merchant API certificate serial) is required",
                    name("serial")
                ));
                None
            }
            serial => required_id(
                &mut problems,
                serial,
                name("serial"),
                "the merchant API certificate serial",
            ),
        };

        let mut merchant_key = None;
        let signer: Option<Arc<dyn Signer>> = match self.private_key {
            None if apiv2_only => {
                v3_missing.push(format!(
                    "`{}` (the merchant private key) is required",
                    name("private_key")
                ));
                None
            }
            None if nothing_for_v3 => {
                problems.push(format!(
                    "`{}` (the merchant private key) is required (or, for a client that makes \
                     only APIv2 calls, `secret`, the APIv2 key)",
                    name("private_key")
                ));
                None
            }
            None => {
                problems.push(format!(
                    "`{}` (the merchant private key) is required",
                    name("private_key")
                ));
                None
            }
            Some(PrivateKeySource::Signer(s)) => Some(s),
            Some(PrivateKeySource::Loaded(key)) => {
                merchant_key = Some(key.clone());
                Some(Arc::new(key))
            }
            Some(PrivateKeySource::Text { source, passphrase }) => {
                let loaded = match passphrase {
                    Some(p) => Rsa::from_private_with_passphrase(&source, &p),
                    None => Rsa::from_private(&source),
                };
                match loaded {
                    Ok(key) => {
                        merchant_key = Some(key.clone());
                        Some(Arc::new(key))
                    }
                    Err(e) => {
                        problems.push(format!("`{}`: {e}", name("private_key")));
                        None
                    }
                }
            }
        };

        // Loaded now, installed only once every check has passed: the store may be shared.
        let mut trusted = Vec::with_capacity(self.certs.len());
        for (id, source) in self.certs {
            let certs = name("cert");
            if id.trim().is_empty() {
                problems.push(format!("`{certs}`: an entry has an empty serial or key id"));
                continue;
            }
            if serial
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(id.trim()))
            {
                problems.push(format!(
                    "`{certs}` contains `{id}`, the merchant's own serial; it must hold WeChat \
                     Pay's platform certificates or public key (PUB_KEY_ID_...)"
                ));
                continue;
            }
            let key = match source {
                PublicKeySource::Key(key) => Ok(key),
                PublicKeySource::Text(text) => Rsa::from_public(&text),
            };
            match key {
                Ok(key) => trusted.push((id, key)),
                Err(e) => problems.push(format!("`{certs}[{id}]`: {e}")),
            }
        }
        let apiv3_key = match self.apiv3_key {
            None => None,
            Some(Ok(key)) => Some(key),
            Some(Err(e)) => {
                problems.push(format!("`{}`: {e}", name("apiv3_key")));
                None
            }
        };
        let refetch = match (self.refetch_certificates, &apiv3_key) {
            (false, _) => false,
            (true, Some(_)) => true,
            (true, None) => {
                problems.push(format!(
                    "`refetch_certificates` needs `{}` to decrypt the certificates",
                    name("apiv3_key")
                ));
                false
            }
        };
        let keys = self.platform_keys.unwrap_or_default();
        if keys.is_empty() && trusted.is_empty() && !refetch {
            let problem = format!(
                "`{}`: at least one WeChat Pay platform certificate or public key \
                 (PUB_KEY_ID_...) is needed to verify responses with",
                name("cert")
            );
            if apiv2_only {
                v3_missing.push(problem);
            } else {
                problems.push(problem);
            }
        }
        let secret = match self.secret {
            None => None,
            Some(key) if key.len() == 32 => Some(ApiV2Key::new(key)),
            Some(key) => {
                problems.push(format!(
                    "`secret` (the APIv2 key) must be 32 bytes, not {}",
                    key.len()
                ));
                None
            }
        };

        let base = match BaseUri::parse(self.base_uri.as_deref().unwrap_or(BaseUri::DEFAULT)) {
            Ok(b) => Some(b),
            Err(e) => {
                problems.push(format!("`base_uri`: {e}"));
                None
            }
        };

        let mut default_headers = HeaderMap::new();
        default_headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("wechatpay-chain/", env!("CARGO_PKG_VERSION"))),
        );
        if let Err(e) = request::apply_headers(&mut default_headers, &self.headers) {
            problems.push(format!("`{}`: {e}", name("header")));
        }

        let config = &self.transport;
        let mut limits = vec![
            ("timeout", Some(config.timeout)),
            ("connect_timeout", Some(config.connect_timeout)),
            ("response_timeout", config.response_timeout),
            ("read_timeout", config.read_timeout),
        ];
        limits.retain(|(_, limit)| limit.is_some_and(|d| d.is_zero()));
        for (setting, _) in limits {
            problems.push(format!("`{setting}` must be more than zero"));
        }
        if config.max_body_bytes == 0 {
            problems.push("`max_body_bytes` must be more than zero".into());
        }
        let retry = self.retry.filter(|policy| {
            let found = policy.problems();
            problems.extend(found.iter().map(|p| format!("`retry`: {p}")));
            found.is_empty()
        });

        // Edits are tried on a stack of the default layers' names, so that a bad edit (an
        // unknown layer name, a duplicate) is reported with the rest.
        let mut stack = Stack::new();
        let mut v2_stack = Stack::new();
        let mut edited = None;
        if let (Some(mchid), Some(base)) = (&mchid, &base) {
            let defaults = match (&serial, &signer, v3_missing.is_empty()) {
                (Some(serial), Some(signer), true) => {
                    let mut verifier =
                        VerifierLayer::new(keys.clone()).max_skew_seconds(self.max_skew_seconds);
                    if let (true, Some(key)) = (refetch, &apiv3_key) {
                        verifier = verifier.refetch_certificates(
                            Refetch::new(key.clone()).base_uri(base.as_str()),
                        );
                    }
                    let signer = SignerLayer::new(
                        mchid.clone(),
                        serial.clone(),
                        signer.clone(),
                        keys.clone(),
                    );
                    stack
                        .push("verifier", verifier)
                        .and_then(|s| s.push("signer", signer).map(|_| ()))
                        .and_then(|()| match (retry, base.as_str().parse::<http::Uri>()) {
                            (Some(policy), Ok(base)) => stack
                                .unshift("retry", RetryLayer::new(policy, &base))
                                .map(|_| ()),
                            _ => Ok(()),
                        })
                }
                // Without an APIv2 key the client is not built at all; with one, the
                // stand-ins keep the layer names and fail APIv3 calls with what they need.
                _ => {
                    let mut needed = vec![
                        "this client was built for APIv2 calls only; APIv3 calls need the \
                         settings below"
                            .to_string(),
                    ];
                    needed.extend(v3_missing.iter().cloned());
                    let missing = Unconfigured::new(needed);
                    stack
                        .push("verifier", missing.clone())
                        .and_then(|s| s.push("signer", missing).map(|_| ()))
                }
            };
            let v2_defaults = match &secret {
                Some(secret) => v2_stack
                    .push(
                        "transform_response",
                        TransformResponseLayer::new(secret.clone()),
                    )
                    .and_then(|s| {
                        s.push(
                            "transform_request",
                            TransformRequestLayer::new(mchid.clone(), secret.clone()),
                        )
                        .map(|_| ())
                    }),
                None => {
                    let missing = Unconfigured::new(vec![
                        "`secret` (the APIv2 key) is required for APIv2 calls (paths starting \
                         with `v2/`)"
                            .to_string(),
                    ]);
                    v2_stack
                        .push("transform_response", missing.clone())
                        .and_then(|s| s.push("transform_request", missing).map(|_| ()))
                }
            };
            let v3_edited = defaults.and_then(|()| {
                self.stack_edits
                    .into_iter()
                    .try_for_each(|edit| edit(&mut stack))
            });
            let v2_edited = v2_defaults.and_then(|()| {
                self.v2_stack_edits
                    .into_iter()
                    .try_for_each(|edit| edit(&mut v2_stack))
            });
            match (v3_edited, v2_edited) {
                (Ok(()), Ok(())) => edited = Some(()),
                (v3, v2) => {
                    if let Err(e) = v3 {
                        problems.push(format!("`middleware`: {e}"));
                    }
                    if let Err(e) = v2 {
                        problems.push(format!("`v2_middleware`: {e}"));
                    }
                }
            }
        }

        let mut transport_config = self.transport;
        if let Some((cert_source, key_source)) = &self.merchant_cert {
            match super::identity::load(cert_source, key_source) {
                Ok(identity) => transport_config.identity = Some(identity),
                Err(e) => problems.push(format!("`{}`: {e}", name("merchant_cert"))),
            }
            if self.shared_transport.is_some() {
                // The shared pool's mutual-TLS connections present the other client's
                // certificate: this merchant's calls must not go out under another's identity.
                problems.push(format!(
                    "`{}` cannot be combined with `share_pool`: a shared pool presents the \
                     certificate of the client it came from",
                    name("merchant_cert")
                ));
            }
        }
        let mutual_tls = transport_config.identity.is_some();

        let transport = match &self.shared_transport {
            Some(shared) => Some(Arc::clone(shared)),
            None => match Transport::new(transport_config) {
                Ok(t) => Some(t),
                Err(e) => {
                    problems.push(format!("transport: {e}"));
                    None
                }
            },
        };

        let (Some(mchid), Some(base), Some(transport), Some(()), true) =
            (mchid, base, transport, edited, problems.is_empty())
        else {
            return Err(Error::Config(ConfigError::new(problems)));
        };
        for (id, key) in trusted {
            keys.insert(&id, key);
        }

        Ok(Client {
            inner: Arc::new(ClientInner {
                mchid,
                base,
                default_headers,
                stack,
                v2_stack,
                mutual_tls,
                transport,
                platform_keys: keys,
                index: FrozenMap::new(),
                merchant_key,
                apiv3_key,
                max_skew_seconds: self.max_skew_seconds,
            }),
        })
    }
}

/// A required identifier: present, non-empty, and safe inside a quoted header parameter.
fn required_id(
    problems: &mut Vec<String>,
    value: Option<String>,
    key: &str,
    what: &str,
) -> Option<String> {
    match value.map(|v| v.trim().to_string()) {
        None => {
            problems.push(format!("`{key}` ({what}) is required"));
            None
        }
        Some(v) if v.is_empty() => {
            problems.push(format!("`{key}` ({what}) is empty"));
            None
        }
        Some(v)
            if !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            problems.push(format!(
                "`{key}` ({what}) may hold only letters, digits, `_` and `-`"
            ));
            None
        }
        Some(v) => Some(v),
    }
}
