//! APIv3 response verification as a pure function of headers, body, the time and the trusted
//! keys (WeChat Pay's "验证签名" rules). Notifications use the same check.

use http::HeaderMap;

use crate::crypto::{Formatter, Rsa};
use crate::error::VerifyError;
use crate::trust::platform_keys::PlatformKeys;

/// WeChat Pay's documented limit on the difference between its clock and ours.
pub const DEFAULT_MAX_SKEW_SECONDS: u64 = 300;

/// Header names, in the order they are checked.
pub const TIMESTAMP: &str = "Wechatpay-Timestamp";
/// The response nonce header.
pub const NONCE: &str = "Wechatpay-Nonce";
/// The key id header.
pub const SERIAL: &str = "Wechatpay-Serial";
/// The signature header.
pub const SIGNATURE: &str = "Wechatpay-Signature";

/// The one value of a `Wechatpay-*` header. A header sent twice is refused rather than read
/// first-wins: a hop that appends a header would otherwise decide which copy is checked.
fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(VerifyError::DuplicateHeader(name));
    }
    first
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(VerifyError::MissingHeader(name))
}

/// Checks a signed response or notification.
///
/// The checks run in WeChat Pay's order and the first failure is returned: the four
/// `Wechatpay-*` headers present, once each, the timestamp within `max_skew_seconds` of `now`,
/// the serial trusted, then the signature over `TIMESTAMP\nNONCE\nBODY\n`.
///
/// # Errors
/// The [`VerifyError`] naming the check that failed.
pub fn verify_response(
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    max_skew_seconds: u64,
    keys: &PlatformKeys,
) -> Result<(), VerifyError> {
    let timestamp = header(headers, TIMESTAMP)?;
    let nonce = header(headers, NONCE)?;
    let serial = header(headers, SERIAL)?;
    let signature = header(headers, SIGNATURE)?;

    let ts: i64 = timestamp
        .parse()
        .map_err(|_| VerifyError::BadTimestamp(timestamp.chars().take(32).collect()))?;
    let skew = ts.saturating_sub(now);
    if skew.unsigned_abs() > max_skew_seconds {
        return Err(VerifyError::ClockSkew {
            skew_seconds: skew,
            allowed_seconds: max_skew_seconds,
        });
    }
    let key = keys
        .get(serial)
        .ok_or_else(|| VerifyError::UnknownSerial(serial.chars().take(64).collect()))?;
    let message = Formatter::response(timestamp, nonce, body);
    if Rsa::verify(&message, signature, &key) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}
