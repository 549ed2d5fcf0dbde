//! The chain layer: [`Client`] and its builder, wechatpay-php's `Builder::factory`, the
//! [`Chain`] of path segments with its verbs, and PHP's identifier rules. It collects a path
//! and options and hands the assembled request to the middleware stack; nothing here is
//! specific to a protocol.

mod builder;
mod chain;
mod factory;
mod php_names;

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use elsa::sync::FrozenMap;
use http::{HeaderMap, Method};
use tracing::Instrument as _;

pub use builder::ClientBuilder;
pub use chain::Chain;
pub use factory::Builder;
pub use php_names::segment_from_php;

use crate::crypto::{ApiV3Key, RsaPrivateKey};
use crate::error::{Error, Result, TimeoutStage};
use crate::middleware::{Next, Stack};
use crate::request::options::RequestOptions;
use crate::request::response::Response;
use crate::request::{self, BaseUri, CallInfo};
use crate::transport::Transport;
use crate::trust::platform_keys::PlatformKeys;
use crate::HttpRequest;

/// A WeChat Pay client. Cheap to clone: clones share the connection pool, the trusted
/// platform keys and the middleware stack.
///
/// Build one with [`Client::builder`] or [`Builder::factory`](crate::Builder::factory).
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    mchid: String,
    base: BaseUri,
    default_headers: HeaderMap,
    stack: Stack,
    transport: Arc<Transport>,
    platform_keys: PlatformKeys,
    /// Chains handed out by `client["..."]`, which must outlive the call that made them.
    index: FrozenMap<String, Box<Chain>>,
    /// The merchant key when it was loaded here (not an external `Signer`), for decrypting
    /// sensitive fields.
    merchant_key: Option<RsaPrivateKey>,
    /// The APIv3 key, when configured (certificate downloads).
    apiv3_key: Option<ApiV3Key>,
    /// The allowed clock skew of response checks.
    max_skew_seconds: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("mchid", &self.inner.mchid)
            .field("base_uri", &self.inner.base.as_str())
            .field("stack", &self.inner.stack)
            .field("platform_keys", &self.inner.platform_keys)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with WeChat Pay's defaults: base URI `https://api.mch.weixin.qq.com/`,
    /// 10 s to connect, 30 s per call, 300 s of allowed clock skew.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The merchant id this client signs as.
    pub fn mchid(&self) -> &str {
        &self.inner.mchid
    }

    /// The trusted WeChat Pay keys. Adding a key here takes effect for this client and all
    /// its clones at once, without rebuilding.
    pub fn platform_keys(&self) -> &PlatformKeys {
        &self.inner.platform_keys
    }

    /// A copy of the middleware stack, to edit and install with [`Client::with_stack`].
    pub fn stack(&self) -> Stack {
        self.inner.stack.clone()
    }

    /// A client that uses `stack` and shares everything else (pool, keys) with this one.
    pub fn with_stack(&self, stack: Stack) -> Client {
        let inner = &self.inner;
        Client {
            inner: Arc::new(ClientInner {
                mchid: inner.mchid.clone(),
                base: inner.base.clone(),
                default_headers: inner.default_headers.clone(),
                stack,
                transport: Arc::clone(&inner.transport),
                platform_keys: inner.platform_keys.clone(),
                index: FrozenMap::new(),
                merchant_key: inner.merchant_key.clone(),
                apiv3_key: inner.apiv3_key.clone(),
                max_skew_seconds: inner.max_skew_seconds,
            }),
        }
    }

    /// The merchant private key, when it was loaded by the builder (not an external signer).
    pub(crate) fn merchant_key(&self) -> Option<&RsaPrivateKey> {
        self.inner.merchant_key.as_ref()
    }

    /// The APIv3 key given to the builder.
    pub(crate) fn apiv3_key(&self) -> Option<&ApiV3Key> {
        self.inner.apiv3_key.as_ref()
    }

    /// The clock skew allowed when answers are checked.
    pub(crate) fn max_skew_seconds(&self) -> u64 {
        self.inner.max_skew_seconds
    }

    /// The pool this client sends through, to share with another client.
    pub(crate) fn transport(&self) -> &Arc<Transport> {
        &self.inner.transport
    }

    /// Assembles the unsigned request. APIv2 paths lose their `v2/` prefix on the wire, as in
    /// wechatpay-php.
    pub(crate) fn prepare(
        &self,
        method: Method,
        template: Cow<'static, str>,
        opts: RequestOptions,
    ) -> Result<HttpRequest> {
        request::assemble(
            &self.inner.base,
            &self.inner.default_headers,
            method,
            template,
            opts,
        )
    }

    /// Runs the stack and turns a non-2xx answer into [`Error::Api`].
    pub(crate) async fn execute(self, request: HttpRequest) -> Result<Response> {
        if is_v2(&request) {
            return Err(Error::Unsupported(
                "APIv2 calls (paths starting with v2/) are not available in this release",
            ));
        }
        let info = request.extensions().get::<CallInfo>();
        let http_errors = info.is_none_or(|i| i.http_errors);
        let total = info
            .and_then(|i| i.timeout)
            .unwrap_or(self.inner.transport.config().timeout);
        // One span per call, with what identifies it and never a header value or body.
        let span = tracing::debug_span!(
            "wechatpay.call",
            method = %request.method(),
            template = info.map_or("", |i| i.template.as_ref()),
            status = tracing::field::Empty,
            request_id = tracing::field::Empty,
            elapsed_us = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let inner = &self.inner;
        // The total limit covers the whole stack: every attempt a retry layer makes, and the
        // certificate download the verifier may make.
        let outcome = tokio::time::timeout(
            total,
            Next::new(&inner.stack, &inner.transport).run(request),
        )
        .instrument(span.clone())
        .await
        .unwrap_or(Err(Error::Timeout(TimeoutStage::Total)));
        span.record("elapsed_us", started.elapsed().as_micros());
        let response = match outcome {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(parent: &span, error = %e, "call failed");
                return Err(e);
            }
        };
        span.record("status", response.status().as_u16());
        if let Some(id) = response
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
        {
            span.record("request_id", id);
        }
        tracing::debug!(parent: &span, "call finished");
        if http_errors && !response.status().is_success() {
            return Err(api_error(response));
        }
        Ok(Response::from(response))
    }
}

fn is_v2(request: &HttpRequest) -> bool {
    request
        .extensions()
        .get::<CallInfo>()
        .is_some_and(|i| i.template.trim_start_matches('/').starts_with("v2/"))
}

/// WeChat Pay's error body: `{"code": "PARAM_ERROR", "message": "..."}`.
pub(crate) fn api_error(response: http::Response<Bytes>) -> Error {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let (parts, body) = response.into_parts();
    let parsed = serde_json::from_slice::<Body>(&body).unwrap_or(Body {
        code: String::new(),
        message: String::new(),
    });
    Error::Api {
        status: parts.status,
        code: parsed.code,
        message: parsed.message,
        request_id: parts
            .headers
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
    }
}
