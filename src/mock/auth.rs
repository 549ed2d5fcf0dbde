//! WeChat Pay's checks on a request's `Authorization` header ("签名验证"), in its order.
//!
//! 1. the header is present and its scheme is `WECHATPAY2-SHA256-RSA2048`;
//! 2. it has `mchid`, `serial_no`, `timestamp`, `nonce_str` and `signature`, once each;
//! 3. `mchid` is a merchant the simulator knows;
//! 4. `serial_no` is that merchant's API certificate serial (case-insensitive);
//! 5. `timestamp` is a whole number of seconds within 300 s of the simulator's clock;
//! 6. `nonce_str` is 1 to 64 characters;
//! 7. `signature` verifies with the merchant's public key over
//!    `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n` (for a media upload, BODY is the `meta`
//!    part only);
//! 8. the nonce was not used by the same merchant within the skew window.
//!
//! The nonce is remembered only after the signature verifies, so unsigned junk cannot use up
//! a merchant's nonces. Each failure is a 401 `SIGN_ERROR` whose message names the check.

use std::collections::{HashMap, VecDeque};

use crate::crypto::{Formatter, Rsa, RsaPublicKey};

use super::reply::Reply;

/// The scheme WeChat Pay accepts.
pub(crate) const SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// The largest accepted difference between a request's timestamp and the simulator's clock.
pub(crate) const MAX_SKEW_SECONDS: i64 = 300;

/// How many nonces the simulator remembers at most; beyond that it answers 429 until old
/// ones expire. At roughly 100 bytes each this bounds the memory to about 10 MB.
pub(crate) const NONCE_CAPACITY: usize = 100_000;

/// A merchant the simulator accepts requests from.
#[derive(Debug, Clone)]
pub(crate) struct Merchant {
    pub(crate) mchid: String,
    pub(crate) serial: String,
    pub(crate) public_key: RsaPublicKey,
}

/// The parts of the request that the signature covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignedParts<'a> {
    pub(crate) method: &'a str,
    /// Path and query exactly as received.
    pub(crate) uri: &'a str,
    pub(crate) authorization: Option<&'a [u8]>,
    /// The body, or the `meta` part of a multipart upload.
    pub(crate) body: &'a [u8],
}

/// Nonces seen recently, per merchant, with a bounded size.
#[derive(Debug, Default)]
pub(crate) struct NonceCache {
    seen: HashMap<(String, String), ()>,
    /// Insertion order with each entry's expiry; expiries grow with insertion order.
    order: VecDeque<(i64, (String, String))>,
}

/// Why a nonce was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NonceRefusal {
    Replayed,
    Full,
}

impl NonceCache {
    /// Records `nonce` for `mchid`, or refuses it.
    ///
    /// A request with timestamp `ts` is acceptable while `|now - ts| <= 300`, and `ts` was at
    /// most `now + 300` when it was first seen, so forgetting a nonce `2 * 300` seconds after
    /// it was recorded cannot let its request be replayed.
    pub(crate) fn record(
        &mut self,
        mchid: &str,
        nonce: &str,
        now: i64,
    ) -> Result<(), NonceRefusal> {
        while let Some((expiry, _)) = self.order.front() {
            if *expiry > now {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.seen.remove(&key);
            }
        }
        let key = (mchid.to_string(), nonce.to_string());
        if self.seen.contains_key(&key) {
            return Err(NonceRefusal::Replayed);
        }
        if self.seen.len() >= NONCE_CAPACITY {
            return Err(NonceRefusal::Full);
        }
        self.seen.insert(key.clone(), ());
        self.order
            .push_back((now.saturating_add(2 * MAX_SKEW_SECONDS), key));
        Ok(())
    }

    /// How many nonces are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

/// The fields of an `Authorization` header.
#[derive(Debug, Default)]
struct Fields<'a> {
    mchid: Option<&'a str>,
    serial_no: Option<&'a str>,
    timestamp: Option<&'a str>,
    nonce_str: Option<&'a str>,
    signature: Option<&'a str>,
}

/// Parses `k="v",k="v",...`; unquoted values run to the next comma.
fn parse_fields(text: &str) -> Result<Fields<'_>, String> {
    let mut fields = Fields::default();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("Authorization parameter `{}` has no `=`", shorten(rest)))?;
        let key = key.trim();
        let after = after.trim_start();
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let (value, after) = quoted.split_once('"').ok_or_else(|| {
                    format!("Authorization parameter `{key}` has no closing quote")
                })?;
                (value, after.trim_start())
            }
            None => match after.find(',') {
                Some(at) => (
                    after.get(..at).unwrap_or("").trim(),
                    after.get(at..).unwrap_or(""),
                ),
                None => (after.trim(), ""),
            },
        };
        rest = match after.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if after.trim().is_empty() => "",
            None => {
                return Err(format!(
                    "Authorization parameter `{key}` is followed by junk, not `,`"
                ))
            }
        };
        let slot = match key {
            "mchid" => &mut fields.mchid,
            "serial_no" => &mut fields.serial_no,
            "timestamp" => &mut fields.timestamp,
            "nonce_str" => &mut fields.nonce_str,
            "signature" => &mut fields.signature,
            // WeChat Pay ignores parameters it does not know.
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(format!("Authorization has `{key}` twice"));
        }
    }
    Ok(fields)
}

fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// Runs the checks and returns the caller's mchid, or the 401 (or 429) to answer with.
pub(crate) fn check(
    parts: &SignedParts<'_>,
    merchants: &[Merchant],
    nonces: &std::sync::Mutex<NonceCache>,
    now: i64,
) -> Result<String, Reply> {
    let header = parts
        .authorization
        .ok_or_else(|| Reply::sign_error("the Authorization header is missing"))?;
    let header = std::str::from_utf8(header)
        .map_err(|_| Reply::sign_error("the Authorization header is not valid text"))?
        .trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if scheme != SCHEME {
        return Err(Reply::sign_error(format!(
            "the Authorization scheme `{}` is not {SCHEME}",
            shorten(scheme)
        )));
    }
    let fields = parse_fields(params).map_err(Reply::sign_error)?;
    let missing =
        |name: &str| Reply::sign_error(format!("the Authorization header has no `{name}`"));
    let mchid = fields.mchid.ok_or_else(|| missing("mchid"))?;
    let serial = fields.serial_no.ok_or_else(|| missing("serial_no"))?;
    let timestamp = fields.timestamp.ok_or_else(|| missing("timestamp"))?;
    let nonce = fields.nonce_str.ok_or_else(|| missing("nonce_str"))?;
    let signature = fields.signature.ok_or_else(|| missing("signature"))?;

    let merchant = merchants.iter().find(|m| m.mchid == mchid).ok_or_else(|| {
        Reply::sign_error(format!(
            "mchid `{}` is not a merchant this simulator knows",
            shorten(mchid)
        ))
    })?;
    if !merchant.serial.eq_ignore_ascii_case(serial.trim()) {
        return Err(Reply::sign_error(format!(
            "serial_no `{}` is not the API certificate serial of merchant {mchid}",
            shorten(serial)
        )));
    }
    let ts: i64 = match timestamp.parse() {
        Ok(ts) if timestamp.bytes().all(|b| b.is_ascii_digit()) => ts,
        _ => {
            return Err(Reply::sign_error(format!(
                "timestamp `{}` is not a whole number of seconds",
                shorten(timestamp)
            )))
        }
    };
    let skew = ts.saturating_sub(now);
    if skew.unsigned_abs() > MAX_SKEW_SECONDS.unsigned_abs() {
        return Err(Reply::sign_error(format!(
            "timestamp {ts} is {skew} s from the simulator's clock ({now}); at most {MAX_SKEW_SECONDS} s is allowed"
        )));
    }
    if nonce.is_empty() || nonce.chars().count() > 64 {
        return Err(Reply::sign_error("nonce_str must be 1 to 64 characters"));
    }
    // The timestamp as written, not as parsed: `0170...` must not verify as `170...`.
    let message = Formatter::joined_by_line_feed(&[
        parts.method.as_bytes(),
        parts.uri.as_bytes(),
        timestamp.as_bytes(),
        nonce.as_bytes(),
        parts.body,
    ]);
    if !Rsa::verify(&message, signature, &merchant.public_key) {
        return Err(Reply::sign_error(format!(
            "signature does not verify with the public key of merchant {mchid} (serial {}) over \
             `{}\\n{}\\n{ts}\\n{nonce}\\n<{} body bytes>\\n`",
            merchant.serial,
            parts.method,
            parts.uri,
            parts.body.len()
        )));
    }
    let mut cache = nonces
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match cache.record(mchid, nonce, now) {
        Ok(()) => Ok(mchid.to_string()),
        Err(NonceRefusal::Replayed) => Err(Reply::sign_error(format!(
            "nonce_str `{}` was already used by merchant {mchid} within the last {} s: the request is a replay",
            shorten(nonce),
            MAX_SKEW_SECONDS
        ))),
        Err(NonceRefusal::Full) => Err(Reply::error(
            http::StatusCode::TOO_MANY_REQUESTS,
            "FREQUENCY_LIMITED",
            format!("the simulator already remembers {NONCE_CAPACITY} nonces from the last 600 s; slow down"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_fields_in_any_order() {
        let f =
            parse_fields(r#"signature="a,b=", mchid="1",serial_no=S,timestamp="2",nonce_str="n""#)
                .unwrap();
        assert_eq!(f.signature, Some("a,b="));
        assert_eq!(f.mchid, Some("1"));
        assert_eq!(f.serial_no, Some("S"));
        assert_eq!(f.nonce_str, Some("n"));
    }

    #[test]
    fn refuses_duplicates_and_junk() {
        assert!(parse_fields(r#"mchid="1",mchid="2""#).is_err());
        assert!(parse_fields(r#"mchid="1" x"#).is_err());
        assert!(parse_fields(r#"mchid="1"#).is_err());
    }

    #[test]
    fn nonces_expire_after_twice_the_window_and_replays_are_refused() {
        let mut cache = NonceCache::default();
        assert_eq!(cache.record("m", "n", 1000), Ok(()));
        assert_eq!(cache.record("m", "n", 1599), Err(NonceRefusal::Replayed));
        assert_eq!(cache.record("other", "n", 1599), Ok(()));
        assert_eq!(cache.record("x", "y", 1600), Ok(()));
        assert_eq!(cache.len(), 2, "the first nonce expired at 1600");
        assert_eq!(cache.record("m", "n", 1600), Ok(()));
    }
}
