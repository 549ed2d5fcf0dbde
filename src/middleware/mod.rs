//! The middleware stack: named layers around the transport, like wechatpay-php's Guzzle
//! `HandlerStack`, which a user can remove, replace or add to.
//!
//! The default APIv3 stack is, outermost first, `verifier` then `signer`, with `retry` outside
//! them when the client has a [`RetryPolicy`](crate::RetryPolicy); APIv2 calls (paths starting
//! with `v2/`) go through a stack of their own, `transform_response` then `transform_request`,
//! and never through the APIv3 one. A layer sees the
//! assembled `http::Request<Bytes>` and may change it, call [`Next::run`] zero or more times
//! (a retry layer placed outside `signer` gets a fresh signature on every attempt), and
//! inspect or change the `http::Response<Bytes>` that comes back.
//!
//! ```
//! use wechatpay::middleware::{BoxFuture, Middleware, Next};
//! use wechatpay::{HttpRequest, HttpResponse, Result};
//!
//! /// Adds a header to every request.
//! #[derive(Debug)]
//! struct Tag;
//!
//! impl Middleware for Tag {
//!     fn handle<'a>(&'a self, mut req: HttpRequest, next: Next<'a>) -> BoxFuture<'a, Result<HttpResponse>> {
//!         req.headers_mut().insert("x-tag", "1".parse().unwrap());
//!         next.run(req)
//!     }
//! }
//! ```

pub(crate) mod refetch;
pub(crate) mod retry;
mod signer;
mod stack;
mod transform_request;
mod transform_response;
pub(crate) mod unconfigured;
mod verifier;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use signer::{SignedBody, SignerLayer};
pub use stack::Stack;
pub use transform_request::TransformRequestLayer;
pub use transform_response::TransformResponseLayer;
pub use verifier::{UnsignedResponse, VerifierLayer};

use crate::error::Result;
use crate::transport::Transport;
use crate::{HttpRequest, HttpResponse};

/// A boxed, `Send` future, the return type of [`Middleware::handle`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One layer of the stack.
pub trait Middleware: Send + Sync + std::fmt::Debug + 'static {
    /// Handles `req`, usually by passing it (changed or not) to `next`.
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<HttpResponse>>;
}

/// The rest of the stack below a layer, ending at the transport.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    layers: &'a [(std::borrow::Cow<'static, str>, Arc<dyn Middleware>)],
    transport: &'a Transport,
}

impl<'a> Next<'a> {
    pub(crate) fn new(stack: &'a Stack, transport: &'a Transport) -> Self {
        Self {
            layers: stack.layers(),
            transport,
        }
    }

    /// Passes `req` to the next layer, or sends it when no layer is left.
    pub fn run(self, req: HttpRequest) -> BoxFuture<'a, Result<HttpResponse>> {
        match self.layers.split_first() {
            Some(((_, layer), rest)) => layer.handle(
                req,
                Next {
                    layers: rest,
                    transport: self.transport,
                },
            ),
            None => Box::pin(self.transport.send(req)),
        }
    }
}

impl std::fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.layers.iter().map(|(name, _)| name))
            .finish()
    }
}
