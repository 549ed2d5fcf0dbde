//! The `verifier` layer: checks every 2xx APIv3 response's signature.

use super::{BoxFuture, Middleware, Next};
use crate::crypto::Formatter;
use crate::error::{Error, Result};
use crate::platform_keys::PlatformKeys;
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
}

impl VerifierLayer {
    /// A verifier trusting `keys`, allowing WeChat Pay's documented 300 s of clock skew.
    pub fn new(keys: PlatformKeys) -> Self {
        Self {
            keys,
            max_skew_seconds: DEFAULT_MAX_SKEW_SECONDS,
        }
    }

    /// Changes the allowed clock skew.
    pub fn max_skew_seconds(mut self, seconds: u64) -> Self {
        self.max_skew_seconds = seconds;
        self
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
        Box::pin(async move {
            let response = next.run(req).await?;
            if exempt || !response.status().is_success() {
                return Ok(response);
            }
            verify_response(
                response.headers(),
                response.body(),
                Formatter::timestamp(),
                self.max_skew_seconds,
                &self.keys,
            )
            .map_err(Error::Verify)?;
            Ok(response)
        })
    }
}
