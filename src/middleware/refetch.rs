//! Downloading the platform certificates when an answer names a serial nobody trusts yet:
//! the hook the `verifier` layer calls, and its settings.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use http::header::{HeaderValue, ACCEPT, USER_AGENT};

use super::verifier::VerifierLayer;
use super::Next;
use crate::crypto::{ApiV3Key, Formatter};
use crate::error::{Error, RequestError, Result, VerifyError};
use crate::request::{BaseUri, CallInfo};
use crate::trust::platform_certificates::{self, ENDPOINT};
use crate::{HttpRequest, HttpResponse};

/// Download-on-demand settings for the `verifier` layer
/// ([`VerifierLayer::refetch_certificates`](crate::middleware::VerifierLayer::refetch_certificates)).
///
/// When a 2xx answer names a serial the store does not know, the layer downloads the
/// certificates once (through the layers below it, so the download is signed), checks them as
/// [`decode`](crate::certificates::decode) does, installs them, and verifies the same answer
/// again. Downloads start at most once per [`min_interval`](Self::min_interval) (60 s by default) however many unknown
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

/// The refetch settings and the one record all clones of the layer share: when the last
/// download started. The async lock also makes concurrent calls wait for one download.
#[derive(Debug)]
pub(super) struct RefetchState {
    config: Refetch,
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

/// What the refetch needs to know of the original request.
pub(super) struct Origin {
    uri: http::Uri,
    user_agent: Option<HeaderValue>,
}

impl Origin {
    pub(super) fn of(req: &HttpRequest) -> Self {
        Self {
            uri: req.uri().clone(),
            user_agent: req.headers().get(USER_AGENT).cloned(),
        }
    }
}

impl RefetchState {
    pub(super) fn new(config: Refetch) -> Self {
        Self {
            config,
            last_attempt: tokio::sync::Mutex::new(None),
        }
    }

    /// Downloads once (unless another call just did, or the interval has not passed), then
    /// lets `layer` verify the same answer again.
    pub(super) async fn recover(
        &self,
        layer: &VerifierLayer,
        origin: &Origin,
        response: &HttpResponse,
        next: Next<'_>,
    ) -> std::result::Result<(), VerifyError> {
        let mut last = self.last_attempt.lock().await;
        // Another call may have installed the key while this one waited for the lock.
        match layer.verify(response) {
            Err(VerifyError::UnknownSerial(_)) => {}
            other => return other,
        }
        if last.is_some_and(|at| at.elapsed() < self.config.min_interval) {
            return layer.verify(response);
        }
        *last = Some(Instant::now());
        match self.download(layer, origin, next).await {
            Ok(installed) => {
                tracing::debug!(
                    installed,
                    "platform certificates fetched for an unknown serial"
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "fetching platform certificates for an unknown serial failed")
            }
        }
        drop(last);
        layer.verify(response)
    }

    async fn download(
        &self,
        layer: &VerifierLayer,
        origin: &Origin,
        next: Next<'_>,
    ) -> Result<usize> {
        let base = match &self.config.base_uri {
            Some(text) => BaseUri::parse(text)?,
            None => {
                let scheme = origin.uri.scheme_str().unwrap_or("https");
                let authority = origin.uri.authority().map_or("", |a| a.as_str());
                BaseUri::parse(&format!("{scheme}://{authority}/"))?
            }
        };
        let uri: http::Uri = format!("{}{ENDPOINT}", base.as_str())
            .parse()
            .map_err(|e| {
                Error::Request(RequestError::InvalidUri(format!(
                    "certificate download uri: {e}"
                )))
            })?;
        let mut request = http::Request::new(bytes::Bytes::new());
        *request.uri_mut() = uri;
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(ua) = &origin.user_agent {
            request.headers_mut().insert(USER_AGENT, ua.clone());
        }
        request
            .extensions_mut()
            .insert(CallInfo::new(Cow::Borrowed(ENDPOINT)));
        let response = next.run(request).await?;
        if !response.status().is_success() {
            return Err(Error::Middleware(format!(
                "verifier: v3/certificates answered {}",
                response.status().as_u16()
            )));
        }
        let now = Formatter::timestamp();
        let downloaded = platform_certificates::decode(
            response.headers(),
            response.body(),
            &self.config.apiv3_key,
            now,
            layer.allowed_skew_seconds(),
            None,
        )?;
        Ok(platform_certificates::install(
            &downloaded,
            layer.keys(),
            now,
        ))
    }
}
