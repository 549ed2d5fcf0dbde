//! The `verifier` layer: checks every 2xx APIv3 response's signature, and optionally downloads
//! the platform certificates once when a response names a serial nobody trusts yet.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderValue, ACCEPT, USER_AGENT};

use super::{BoxFuture, Middleware, Next};
use crate::certificates::{self, Refetch};
use crate::crypto::Formatter;
use crate::error::{Error, Result, VerifyError};
use crate::platform_keys::PlatformKeys;
use crate::request::{BaseUri, CallInfo};
use crate::verify::{verify_response, DEFAULT_MAX_SKEW_SECONDS};
use crate::{HttpRequest, HttpResponse};

/// Marks a request whose response WeChat Pay does not sign, so the verifier lets it through.
///
/// The documented download endpoints ([`UNSIGNED_DOWNLOADS`](crate::download::UNSIGNED_DOWNLOADS))
/// are recognised without it; set it in a request's extensions (from a layer of your own) for a
/// download URL the catalog does not know. Check such files by digest instead
/// ([`sha1_matches`](crate::download::sha1_matches)).
#[derive(Debug, Clone, Copy)]
pub struct UnsignedResponse;

/// Verifies 2xx responses against the trusted platform keys.
#[derive(Debug, Clone)]
pub struct VerifierLayer {
    keys: PlatformKeys,
    max_skew_seconds: u64,
    refetch: Option<Arc<RefetchState>>,
}

/// The refetch settings and the one record all clones of the layer share: when the last
/// download started. The async lock also makes concurrent calls wait for one download.
#[derive(Debug)]
struct RefetchState {
    config: Refetch,
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl VerifierLayer {
    /// A verifier trusting `keys`, allowing WeChat Pay's documented 300 s of clock skew.
    pub fn new(keys: PlatformKeys) -> Self {
        Self {
            keys,
            max_skew_seconds: DEFAULT_MAX_SKEW_SECONDS,
            refetch: None,
        }
    }

    /// Changes the allowed clock skew.
    pub fn max_skew_seconds(mut self, seconds: u64) -> Self {
        self.max_skew_seconds = seconds;
        self
    }

    /// Downloads the platform certificates when a 2xx answer names a serial `keys` does not
    /// hold, then verifies that same answer again (see [`Refetch`]).
    ///
    /// The download goes through the layers below this one (so `signer` signs it) and is
    /// checked against itself ([`certificates::decode`]) before anything is installed into
    /// `keys`. If it fails, or the last download started less than
    /// [`Refetch::min_interval`] ago, the answer is refused with
    /// [`VerifyError::UnknownSerial`] as without this option.
    pub fn refetch_certificates(mut self, refetch: Refetch) -> Self {
        self.refetch = Some(Arc::new(RefetchState {
            config: refetch,
            last_attempt: tokio::sync::Mutex::new(None),
        }));
        self
    }

    fn verify(&self, response: &HttpResponse) -> std::result::Result<(), VerifyError> {
        verify_response(
            response.headers(),
            response.body(),
            Formatter::timestamp(),
            self.max_skew_seconds,
            &self.keys,
        )
    }
}

/// What the refetch needs to know of the original request.
struct Origin {
    uri: http::Uri,
    user_agent: Option<HeaderValue>,
}

impl RefetchState {
    /// Downloads once (unless another call just did, or the interval has not passed), then
    /// lets `verify` decide again.
    async fn recover(
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
        let uri: http::Uri = format!("{}{}", base.as_str(), certificates::ENDPOINT)
            .parse()
            .map_err(|e| {
                Error::Request(crate::error::RequestError::InvalidUri(format!(
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
        request.extensions_mut().insert(CallInfo {
            template: Cow::Borrowed(certificates::ENDPOINT),
            timeout: None,
            http_errors: true,
        });
        let response = next.run(request).await?;
        if !response.status().is_success() {
            return Err(Error::Middleware(format!(
                "verifier: v3/certificates answered {}",
                response.status().as_u16()
            )));
        }
        let now = Formatter::timestamp();
        let downloaded = certificates::decode(
            response.headers(),
            response.body(),
            &self.config.apiv3_key,
            now,
            layer.max_skew_seconds,
            None,
        )?;
        Ok(certificates::install(&downloaded, &layer.keys, now))
    }
}

impl Middleware for VerifierLayer {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<HttpResponse>> {
        let exempt = req.extensions().get::<UnsignedResponse>().is_some()
            || crate::download::is_unsigned_download(req.method(), req.uri().path());
        let origin = self.refetch.as_ref().map(|_| Origin {
            uri: req.uri().clone(),
            user_agent: req.headers().get(USER_AGENT).cloned(),
        });
        Box::pin(async move {
            let response = next.run(req).await?;
            if exempt || !response.status().is_success() {
                return Ok(response);
            }
            let checked = match (self.verify(&response), &self.refetch, &origin) {
                (Err(VerifyError::UnknownSerial(_)), Some(refetch), Some(origin)) => {
                    refetch.recover(self, origin, &response, next).await
                }
                (checked, _, _) => checked,
            };
            checked.map_err(Error::Verify)?;
            Ok(response)
        })
    }
}
