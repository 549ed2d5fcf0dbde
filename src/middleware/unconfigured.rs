//! A stand-in for a layer the client could not build, failing each call with what is missing.

use super::{BoxFuture, Middleware, Next};
use crate::error::{ConfigError, Error, Result};
use crate::{HttpRequest, HttpResponse};

/// Takes the place of `signer` and `verifier` on a client built for APIv2 only (or of
/// `transform_request` and `transform_response` on one without an APIv2 key), so that the
/// stack keeps its names and a call of the missing protocol fails before anything is sent,
/// with an [`Error::Config`] naming the settings it needs.
#[derive(Debug, Clone)]
pub(crate) struct Unconfigured {
    problems: Vec<String>,
}

impl Unconfigured {
    pub(crate) fn new(problems: Vec<String>) -> Self {
        Self { problems }
    }
}

impl Middleware for Unconfigured {
    fn handle<'a>(
        &'a self,
        _req: HttpRequest,
        _next: Next<'a>,
    ) -> BoxFuture<'a, Result<HttpResponse>> {
        Box::pin(std::future::ready(Err(Error::Config(ConfigError::new(
            self.problems.clone(),
        )))))
    }
}
