//! The retry budget: a token bucket shared by a client and its clones.
//!
//! Every call puts `ratio` of a token in, every retry takes a whole one out, and a retry that
//! finds less than one token is not made. The bucket starts full and holds at most
//! [`RESERVE`] tokens, so over any stretch of time retries number at most `ratio` times the
//! calls plus the reserve. Without a budget, an outage of WeChat Pay would meet every client
//! multiplying its load by the number of attempts (the "retry storm" of the SRE book, ch. 22).

use std::sync::Mutex;

use crate::sync::lock;

/// Tokens are counted in thousandths, so that ten deposits of 0.1 make exactly one token.
const MILLI: u64 = 1000;

/// The most tokens the bucket holds, and what it starts with.
pub(crate) const RESERVE: u64 = 10;

#[derive(Debug)]
pub(crate) struct Budget {
    per_call: u64,
    milli_tokens: Mutex<u64>,
}

impl Budget {
    pub(crate) fn new(ratio: f64) -> Self {
        // `RetryPolicy::problems` has refused a negative or non-finite ratio; the cast
        // saturates above the reserve, which the bucket cannot exceed anyway.
        let per_call = (ratio.max(0.0) * MILLI as f64).round() as u64;
        Self {
            per_call: per_call.min(RESERVE * MILLI),
            milli_tokens: Mutex::new(RESERVE * MILLI),
        }
    }

    /// Credits one call.
    pub(crate) fn deposit(&self) {
        let mut tokens = lock(&self.milli_tokens);
        *tokens = (*tokens + self.per_call).min(RESERVE * MILLI);
    }

    /// Takes the token one retry costs, when there is one.
    pub(crate) fn withdraw(&self) -> bool {
        let mut tokens = lock(&self.milli_tokens);
        match tokens.checked_sub(MILLI) {
            Some(left) => {
                *tokens = left;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_then_the_ratio_bounds_retries() {
        let budget = Budget::new(0.1);
        let retries = (0..RESERVE + 5).filter(|_| budget.withdraw()).count() as u64;
        assert_eq!(retries, RESERVE);
        for _ in 0..9 {
            budget.deposit();
        }
        assert!(
            !budget.withdraw(),
            "nine calls at 0.1 earn less than a retry"
        );
        budget.deposit();
        assert!(budget.withdraw(), "ten calls at 0.1 earn exactly one");
        assert!(!budget.withdraw());
    }

    #[test]
    fn the_bucket_never_holds_more_than_the_reserve() {
        let budget = Budget::new(5.0);
        for _ in 0..100 {
            budget.deposit();
        }
        let retries = (0..100).filter(|_| budget.withdraw()).count() as u64;
        assert_eq!(retries, RESERVE);
        assert_eq!(Budget::new(0.0).per_call, 0);
        assert_eq!(Budget::new(1e300).per_call, RESERVE * MILLI);
    }
}
