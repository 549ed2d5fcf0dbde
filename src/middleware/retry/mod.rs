//! The `retry` layer: sends a call again after a failure its [`RetryPolicy`] says is worth
//! retrying, waiting between attempts, within a budget, moving to the next failover host.
//!
//! It sits outermost in the stack, so each attempt passes `verifier` and `signer` again: a
//! fresh nonce and timestamp for every attempt (WeChat Pay refuses a replayed nonce), and every
//! answer checked. Which failures count is read from their types ([`failed_at`]) and from the
//! answer's status, never from an error's text.

mod budget;
mod policy;

use std::sync::Arc;

use http::{Method, StatusCode};

pub use policy::RetryPolicy;

use self::budget::Budget;
use self::policy::Origin;
use super::{BoxFuture, Middleware, Next};
use crate::error::Result;
use crate::request::CallInfo;
use crate::transport::{failed_at, FailedAt};
use crate::{HttpRequest, HttpResponse};

/// When the call must be over (its total time limit), set by the client in the request's
/// extensions, so that no wait is started that the limit would cut short.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(pub(crate) tokio::time::Instant);

/// Retries calls as its policy says.
#[derive(Debug)]
pub(crate) struct RetryLayer {
    policy: RetryPolicy,
    /// The client's own origin (its `base_uri`), then the failover hosts.
    origins: Vec<Origin>,
    budget: Arc<Budget>,
}

impl RetryLayer {
    /// A layer for a client whose `base_uri` is `base`. The policy must have no
    /// [`problems`](RetryPolicy::problems).
    pub(crate) fn new(policy: RetryPolicy, base: &http::Uri) -> Self {
        let origins = Origin::of(base)
            .into_iter()
            .chain(policy.failover_origins())
            .collect();
        Self {
            budget: Arc::new(Budget::new(policy.budget_ratio)),
            policy,
            origins,
        }
    }

    /// Where attempt `attempt` (from 1) of a call first sent to `uri` goes.
    fn origin_for(&self, uri: &http::Uri, attempt: u32) -> Option<&Origin> {
        let own = Origin::of(uri)?;
        if self.origins.first() != Some(&own) {
            return None;
        }
        let turn = (attempt - 1) as usize % self.origins.len();
        self.origins.get(turn)
    }

    async fn send<'a>(&'a self, req: HttpRequest, next: Next<'a>) -> Result<HttpResponse> {
        self.budget.deposit();
        let info = req.extensions().get::<CallInfo>();
        if info.is_some_and(|i| !i.retry) || self.policy.max_attempts <= 1 {
            return next.run(req).await;
        }
        let idempotent = info
            .and_then(|i| i.idempotent)
            .unwrap_or_else(|| is_idempotent(req.method()));
        let deadline = req.extensions().get::<Deadline>().map(|d| d.0);
        let original = copy_of(&req);
        let mut request = req;
        let mut attempt = 1;
        tracing::debug!(attempt, host = %host(&request), reason = "first attempt", "sending");
        loop {
            let outcome = next.run(request).await;
            let Some(reason) = retry_reason(&outcome, idempotent) else {
                return outcome;
            };
            if attempt >= self.policy.max_attempts {
                tracing::debug!(attempt, reason = %reason, "not retried: no attempts left");
                return outcome;
            }
            let delay = self.policy.delay_before(attempt + 1, random_fraction());
            if deadline.is_some_and(|d| tokio::time::Instant::now() + delay >= d) {
                tracing::debug!(attempt, reason = %reason, "not retried: the total limit would pass");
                return outcome;
            }
            if !self.budget.withdraw() {
                tracing::debug!(attempt, reason = %reason, "not retried: the retry budget is spent");
                return outcome;
            }
            // Let go of the failed answer (and any connection it holds) before waiting.
            drop(outcome);
            attempt += 1;
            request = copy_of(&original);
            if let Some(origin) = self.origin_for(original.uri(), attempt) {
                *request.uri_mut() = on_origin(original.uri(), origin);
            }
            tracing::debug!(
                attempt,
                host = %host(&request),
                reason = %reason,
                delay_ms = delay.as_millis() as u64,
                "retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

impl Middleware for RetryLayer {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<HttpResponse>> {
        Box::pin(self.send(req, next))
    }
}

/// RFC 9110 §9.2.2: sending one of these twice has the effect of sending it once.
fn is_idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// Why `outcome` is worth another attempt, or `None` when it is not.
fn retry_reason(outcome: &Result<HttpResponse>, idempotent: bool) -> Option<String> {
    match outcome {
        Ok(response) => {
            let status = response.status();
            let retryable = match status {
                StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT => true,
                StatusCode::INTERNAL_SERVER_ERROR => is_system_error(response.body()),
                _ => false,
            };
            (idempotent && retryable).then(|| format!("answered {}", status.as_u16()))
        }
        Err(e) => match failed_at(e)? {
            // Nothing was sent, so even a call that must not be repeated can go again.
            FailedAt::Connect => Some(e.to_string()),
            FailedAt::BeforeAnswer if idempotent => Some(e.to_string()),
            FailedAt::BeforeAnswer | FailedAt::DuringAnswer => None,
        },
    }
}

/// WeChat Pay's 500 `{"code": "SYSTEM_ERROR", ...}`: a fault on its side, which its docs say
/// to retry (other 500 codes are not documented as transient).
fn is_system_error(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Body {
        code: String,
    }
    serde_json::from_slice::<Body>(body).is_ok_and(|b| b.code == "SYSTEM_ERROR")
}

/// A copy of a request as it was before any layer below changed it.
fn copy_of(req: &HttpRequest) -> HttpRequest {
    let mut copy = http::Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    copy
}

/// `uri` with the scheme and host of `origin`; its path and query, which are signed, stay.
fn on_origin(uri: &http::Uri, origin: &Origin) -> http::Uri {
    let mut parts = uri.clone().into_parts();
    parts.scheme = Some(origin.scheme.clone());
    parts.authority = Some(origin.authority.clone());
    // A URI that has a scheme and host always has a path, so this cannot fail; if it did,
    // the attempt would go to the call's own host, which is never wrong.
    http::Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

fn host(req: &HttpRequest) -> &str {
    req.uri().authority().map_or("", |a| a.as_str())
}

/// A number in `[0, 1]` for the jitter of a wait.
fn random_fraction() -> f64 {
    let mut bytes = [0u8; 8];
    crate::crypto::fill_random(&mut bytes);
    u64::from_le_bytes(bytes) as f64 / u64::MAX as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_answers_are_retried_and_only_when_idempotent() {
        let answer = |status: u16, body: &'static str| -> Result<HttpResponse> {
            let mut r = http::Response::new(bytes::Bytes::from_static(body.as_bytes()));
            *r.status_mut() = StatusCode::from_u16(status).unwrap();
            Ok(r)
        };
        for status in [502, 503, 504] {
            assert!(
                retry_reason(&answer(status, ""), true).is_some(),
                "{status}"
            );
            assert!(
                retry_reason(&answer(status, ""), false).is_none(),
                "{status}"
            );
        }
        let system_error = r#"{"code":"SYSTEM_ERROR","message":"系统错误"}"#;
        assert!(retry_reason(&answer(500, system_error), true).is_some());
        assert!(retry_reason(&answer(500, system_error), false).is_none());
        for (status, body) in [
            (500, r#"{"code":"PARAM_ERROR"}"#),
            (500, "<html>"),
            (429, r#"{"code":"FREQUENCY_LIMITED"}"#),
            (400, ""),
            (200, ""),
            (301, ""),
        ] {
            assert!(
                retry_reason(&answer(status, body), true).is_none(),
                "{status}"
            );
        }
    }

    #[test]
    fn idempotent_methods_follow_rfc_9110() {
        for m in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"] {
            assert!(is_idempotent(&m.parse().unwrap()), "{m}");
        }
        for m in ["POST", "PATCH"] {
            assert!(!is_idempotent(&m.parse().unwrap()), "{m}");
        }
    }

    #[test]
    fn failover_changes_only_scheme_and_host() {
        let uri: http::Uri = "https://api.mch.weixin.qq.com/v3/pay/x?mchid=1&b=%2F"
            .parse()
            .unwrap();
        let backup = Origin::of(&"http://127.0.0.1:8080/".parse().unwrap()).unwrap();
        assert_eq!(
            on_origin(&uri, &backup).to_string(),
            "http://127.0.0.1:8080/v3/pay/x?mchid=1&b=%2F"
        );
    }

    #[test]
    fn hosts_are_tried_in_turn_for_calls_on_the_clients_own_origin() {
        let base: http::Uri = "https://api.mch.weixin.qq.com/".parse().unwrap();
        let layer = RetryLayer::new(
            RetryPolicy::default()
                .failover("https://api2.mch.weixin.qq.com/")
                .failover("http://127.0.0.1:1/"),
            &base,
        );
        let own: http::Uri = "https://api.mch.weixin.qq.com/v3/x".parse().unwrap();
        let hosts: Vec<String> = (1..=4)
            .map(|n| layer.origin_for(&own, n).unwrap().authority.to_string())
            .collect();
        assert_eq!(
            hosts,
            [
                "api.mch.weixin.qq.com",
                "api2.mch.weixin.qq.com",
                "127.0.0.1:1",
                "api.mch.weixin.qq.com"
            ]
        );
        let elsewhere: http::Uri = "https://apihk.mch.weixin.qq.com/v3/x".parse().unwrap();
        assert!(layer.origin_for(&elsewhere, 2).is_none());
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..1000 {
            let r = random_fraction();
            assert!((0.0..=1.0).contains(&r), "{r}");
        }
    }
}
