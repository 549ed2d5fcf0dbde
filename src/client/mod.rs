//! The chain layer: [`Client`] and its builder, wechatpay-php's `Builder::factory`, the
//! [`Chain`] of path segments with its verbs, and PHP's identifier rules. It collects a path
//! and options and hands the assembled request to the middleware stack; nothing here is
//! specific to a protocol.

mod builder;
mod chain;
mod factory;
mod identity;
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
use crate::error::{ConfigError, Error, Result, TimeoutStage};
use crate::middleware::retry::Deadline;
use crate::middleware::{Next, Stack};
use crate::request::options::RequestOptions;
use crate::request::response::Response;
use crate::request::{self, BaseUri, CallInfo};
use crate::transport::{MutualTls, Transport};
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
    /// The stack APIv2 calls go through (`transform_response`, `transform_request`).
    v2_stack: Stack,
    /// Whether this client's pool presents its own merchant certificate to calls that ask
    /// for mutual TLS (not a pool shared from another client).
    mutual_tls: bool,
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
            .field("v2_stack", &self.inner.v2_stack)
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

    /// A copy of the APIv3 middleware stack, to edit and install with [`Client::with_stack`].
    pub fn stack(&self) -> Stack {
        self.inner.stack.clone()
    }

    /// A copy of the APIv2 middleware stack (`transform_response`, `transform_request`), to
    /// edit and install with [`Client::with_v2_stack`].
    ///
    /// ```
    /// # let mock = wechatpay::mock::MockServer::start_blocking()?;
    /// # let wxpay = mock.client_builder().build()?;
    /// assert_eq!(wxpay.v2_stack().names(), ["transform_response", "transform_request"]);
    /// # Ok::<(), wechatpay::Error>(())
    /// ```
    pub fn v2_stack(&self) -> Stack {
        self.inner.v2_stack.clone()
    }

    /// A client that uses `stack` for APIv3 calls and shares everything else (pool, keys,
    /// the APIv2 stack) with this one.
    pub fn with_stack(&self, stack: Stack) -> Client {
        self.rebuilt(stack, self.inner.v2_stack.clone())
    }

    /// A client that uses `stack` for APIv2 calls and shares everything else (pool, keys,
    /// the APIv3 stack) with this one.
    pub fn with_v2_stack(&self, stack: Stack) -> Client {
        self.rebuilt(self.inner.stack.clone(), stack)
    }

    fn rebuilt(&self, stack: Stack, v2_stack: Stack) -> Client {
        let inner = &self.inner;
        Client {
            inner: Arc::new(ClientInner {
                mchid: inner.mchid.clone(),
                base: inner.base.clone(),
                default_headers: inner.default_headers.clone(),
                stack,
                v2_stack,
                mutual_tls: inner.mutual_tls,
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
        let security = opts.security;
        let mut request = request::assemble(
            &self.inner.base,
            &self.inner.default_headers,
            method,
            template,
            opts,
        )?;
        if security {
            if !self.inner.mutual_tls {
                return Err(Error::Config(ConfigError::one(
                    "this call asks for mutual TLS (`security`), which needs the merchant API \
                     certificate: set `ClientBuilder::merchant_cert` (a client sharing another's \
                     pool must have its own)",
                )));
            }
            request.extensions_mut().insert(MutualTls);
        }
        Ok(request)
    }

    /// Runs the stack the call's protocol selects (APIv2 for `v2/` paths, APIv3 otherwise)
    /// and turns a non-2xx answer into [`Error::Api`].
    pub(crate) async fn execute(self, mut request: HttpRequest) -> Result<Response> {
        let v2 = is_v2(&request);
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
        if let Some(deadline) = tokio::time::Instant::now().checked_add(total) {
            request.extensions_mut().insert(Deadline(deadline));
        }
        let inner = &self.inner;
        // The total limit covers the whole stack: every attempt a retry layer makes, and the
        // certificate download the verifier may make.
        let stack = if v2 { &inner.v2_stack } else { &inner.stack };
        let outcome = tokio::time::timeout(total, Next::new(stack, &inner.transport).run(request))
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
        if response.status().is_redirection() {
            return Err(redirect_error(&response));
        }
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
        .is_some_and(|i| crate::v2::is_v2_path(&i.template))
}

/// A 3xx answer as an error naming where it pointed. hyper-util's client follows no
/// redirect, and neither does this crate: the signed request would go wherever `Location`
/// says.
fn redirect_error(response: &http::Response<Bytes>) -> Error {
    let location = response.headers().get(http::header::LOCATION).map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .chars()
            .take(256)
            .collect()
    });
    Error::Redirect {
        status: response.status(),
        location,
    }
}

/// WeChat Pay's error body: `{"code": "PARAM_ERROR", "message": "..."}`, or for APIv2,
/// `<xml><return_code>FAIL</return_code><return_msg>...</return_msg></xml>`.
pub(crate) fn api_error(response: http::Response<Bytes>) -> Error {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let (parts, body) = response.into_parts();
    let parsed = serde_json::from_slice::<Body>(&body)
        .ok()
        .or_else(|| {
            let fields = crate::v2::Transformer::to_map(&body).ok()?;
            let pick = |names: [&str; 2]| {
                names
                    .iter()
                    .filter_map(|n| fields.get(*n))
                    .find(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_default()
            };
            Some(Body {
                code: pick(["err_code", "return_code"]),
                message: pick(["err_code_des", "return_msg"]),
            })
        })
        .unwrap_or(Body {
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
