//! The `verifier` layer: checks every 2xx APIv3 response's signature, and optionally downloads
//! the platform certificates once when a response names a serial nobody trusts yet.

use std::sync::Arc;

use super::refetch::{Origin, Refetch, RefetchState};
use super::{BoxFuture, Middleware, Next};
use crate::crypto::Formatter;
use crate::error::{Error, Result, VerifyError};
use crate::trust::platform_keys::PlatformKeys;
use crate::trust::unsigned::is_unsigned_download;
use crate::trust::verify::{verify_response, DEFAULT_MAX_SKEW_SECONDS};
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
    /// checked against itself ([`decode`](crate::certificates::decode)) before anything is installed into
    /// `keys`. If it fails, or the last download started less than
    /// [`Refetch::min_interval`] ago, the answer is refused with
    /// [`VerifyError::UnknownSerial`] as without this option.
    pub fn refetch_certificates(mut self, refetch: Refetch) -> Self {
        self.refetch = Some(Arc::new(RefetchState::new(refetch)));
        self
    }

    pub(super) fn keys(&self) -> &PlatformKeys {
        &self.keys
    }

    pub(super) fn allowed_skew_seconds(&self) -> u64 {
        self.max_skew_seconds
    }

    pub(super) fn verify(&self, response: &HttpResponse) -> std::result::Result<(), VerifyError> {
        verify_response(
            response.headers(),
            response.body(),
            Formatter::timestamp(),
            self.max_skew_seconds,
            &self.keys,
        )
    }
}

impl Middleware for VerifierLayer {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<HttpResponse>> {
        let exempt = req.extensions().get::<UnsignedResponse>().is_some()
            || is_unsigned_download(req.method(), req.uri().path());
        let origin = self.refetch.as_ref().map(|_| Origin::of(&req));
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
