//! `RetryPolicy`: how many attempts, how long between them, how many retries a client may
//! spend, and which hosts to try.

use std::time::Duration;

use http::uri::{Authority, Scheme};

use crate::request::BaseUri;

/// When and where a client sends a call again after a failure worth retrying. Retries are
/// off until a policy is given to [`ClientBuilder::retry`](crate::ClientBuilder::retry).
///
/// What is retried:
/// - a failure to connect (DNS, TCP, TLS, the connect limit), for any call: nothing was sent;
/// - for idempotent calls only (GET, HEAD, OPTIONS, PUT and DELETE, and a call whose options
///   say `"idempotent": true`): a reset or close before the answer's headers, the response
///   limit, a 502, 503 or 504 answer, and a 500 whose code is `SYSTEM_ERROR`.
///
/// Never retried: a verification failure (the answer may be forged), any other answer, a
/// failure after the answer's headers arrived, a call whose options say `"retry": false`.
///
/// Each attempt goes through the whole middleware stack, so it is signed afresh (a new nonce
/// and timestamp) and its answer verified; the client's total time limit bounds all attempts
/// and the waits between them, and no wait is started that the limit would cut short.
///
/// # Examples
/// Failing over to WeChat Pay's backup host:
/// ```
/// use wechatpay::RetryPolicy;
/// # let mock = wechatpay::mock::MockServer::start_blocking()?;
/// # let builder = mock.client_builder();
/// let wxpay = builder
///     .retry(RetryPolicy::default().failover("https://api2.mch.weixin.qq.com/"))
///     .build()?;
/// assert_eq!(wxpay.stack().names(), ["retry", "verifier", "signer"]);
/// # Ok::<(), wechatpay::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RetryPolicy {
    pub(super) max_attempts: u32,
    pub(super) first_backoff: Duration,
    pub(super) max_backoff: Duration,
    pub(super) budget_ratio: f64,
    pub(super) failover: Vec<String>,
}

impl Default for RetryPolicy {
    /// 3 attempts, waits from 100 ms doubling up to 2 s with jitter, retries within 20% of
    /// calls, no failover host.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            budget_ratio: 0.2,
            failover: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// The most attempts a call makes, the first included (3 by default; 1 never retries).
    /// Must be at least 1.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The wait before the first retry, doubling for each one after it up to `max`. Each wait
    /// is drawn at random from its upper half (`[d/2, d]`), so that clients that failed
    /// together do not retry together. `first` must not exceed `max`.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max;
        self
    }

    /// The retry budget: retries may use at most `ratio` of calls (0.2 by default: one retry
    /// for every five calls), over a reserve of 10 retries that lets a client retry from its
    /// first call. A client and its clones share one budget, so an outage does not multiply
    /// the load on WeChat Pay by the number of attempts. Must be a number, 0 or more; it is
    /// counted in thousandths.
    pub fn budget(mut self, ratio: f64) -> Self {
        self.budget_ratio = ratio;
        self
    }

    /// Adds a host to try in turn after the client's own (`base_uri`): the second attempt goes
    /// to the first failover host, and so on round the list. Only the scheme and host change;
    /// the path and query, which the signature covers, stay as they are. Calls sent to
    /// another origin than the client's `base_uri` (a per-call `base_uri`, an absolute URL)
    /// are retried on their own origin only.
    ///
    /// WeChat Pay's backup host is `https://api2.mch.weixin.qq.com/`.
    pub fn failover(mut self, base_uri: impl Into<String>) -> Self {
        self.failover.push(base_uri.into());
        self
    }

    /// What is wrong with the policy, each problem as one sentence.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_attempts == 0 {
            problems.push("`max_attempts` must be at least 1".to_string());
        }
        if self.first_backoff > self.max_backoff {
            problems.push(format!(
                "the first backoff ({:?}) is longer than the longest ({:?})",
                self.first_backoff, self.max_backoff
            ));
        }
        if !(self.budget_ratio.is_finite() && self.budget_ratio >= 0.0) {
            problems.push(format!(
                "`budget` must be a number, 0 or more, not {}",
                self.budget_ratio
            ));
        }
        for uri in &self.failover {
            if let Err(e) = failover_origin(uri) {
                problems.push(format!("`failover`: {e}"));
            }
        }
        problems
    }

    /// The failover hosts, in order. Checked by [`problems`](Self::problems) first.
    pub(super) fn failover_origins(&self) -> Vec<Origin> {
        self.failover
            .iter()
            .filter_map(|uri| failover_origin(uri).ok())
            .collect()
    }

    /// The wait before attempt `attempt` (2 for the first retry): `first` doubled for each
    /// retry before it, capped at the longest, then drawn from its upper half.
    pub(super) fn delay_before(&self, attempt: u32, random: f64) -> Duration {
        let doublings = attempt.saturating_sub(2).min(31);
        let full = self
            .first_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        full.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
    }
}

/// A scheme and host (with port): where an attempt is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
}

impl Origin {
    pub(crate) fn of(uri: &http::Uri) -> Option<Self> {
        Some(Self {
            scheme: uri.scheme()?.clone(),
            authority: uri.authority()?.clone(),
        })
    }
}

/// A failover host: a base URI that is only an origin, since an attempt keeps its path.
fn failover_origin(text: &str) -> Result<Origin, String> {
    let base = BaseUri::parse(text).map_err(|e| e.to_string())?;
    let uri: http::Uri = base.as_str().parse().map_err(|e| format!("{e}"))?;
    if uri.path() != "/" {
        return Err(format!(
            "`{text}` has a path; a failover host is a scheme and host only, such as \
             `https://api2.mch.weixin.qq.com/`"
        ));
    }
    Origin::of(&uri).ok_or_else(|| format!("`{text}` has no host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_longest_and_keep_to_their_upper_half() {
        let policy =
            RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_millis(350));
        let full = [100, 200, 350, 350];
        for (attempt, full) in (2..).zip(full) {
            let full = Duration::from_millis(full);
            assert_eq!(policy.delay_before(attempt, 1.0), full);
            assert_eq!(policy.delay_before(attempt, 0.0), full / 2);
            let d = policy.delay_before(attempt, 0.3);
            assert!(d > full / 2 && d < full, "{d:?}");
        }
        // Far-off attempts do not overflow.
        assert_eq!(
            policy.delay_before(u32::MAX, 1.0),
            Duration::from_millis(350)
        );
    }

    #[test]
    fn a_bad_policy_names_each_problem() {
        let problems = RetryPolicy::default()
            .max_attempts(0)
            .backoff(Duration::from_secs(2), Duration::from_secs(1))
            .budget(f64::NAN)
            .failover("ftp://api2.mch.weixin.qq.com/")
            .failover("https://api2.mch.weixin.qq.com/v3/")
            .failover("https://user:secret@api2.mch.weixin.qq.com/")
            .problems();
        assert_eq!(problems.len(), 6, "{problems:?}");
        assert!(problems[0].contains("`max_attempts`"));
        assert!(problems[2].contains("`budget`"));
        assert!(problems[4].contains("has a path"));
        assert!(!problems[5].contains("secret"), "{}", problems[5]);
        assert!(RetryPolicy::default()
            .failover("https://api2.mch.weixin.qq.com")
            .problems()
            .is_empty());
    }
}
