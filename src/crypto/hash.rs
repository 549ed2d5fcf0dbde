//! Digests and the APIv2 `sign` (wechatpay-php's `Hash`): MD5 and HMAC-SHA256 over the
//! signing string with `&key=` appended, SHA-1/SHA-256 for download checks, and a
//! constant-time comparison.
//!
//! APIv2 signing rules: <https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3>.

use std::fmt;
use std::str::FromStr;

use md5::Digest as _;
use subtle::ConstantTimeEq as _;

/// The APIv2 signature algorithms (`sign_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// `MD5`: `md5(text + "&key=" + key)`, the APIv2 default.
    #[default]
    Md5,
    /// `HMAC-SHA256`: `hmac_sha256(key, text + "&key=" + key)`.
    HmacSha256,
}

impl HashAlgorithm {
    /// The name WeChat Pay uses in `sign_type`: `MD5` or `HMAC-SHA256`.
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::HmacSha256 => "HMAC-SHA256",
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `sign_type` text is neither `MD5` nor `HMAC-SHA256`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sign_type `{0}` (expected MD5 or HMAC-SHA256)")]
pub struct UnknownHashAlgorithm(pub String);

impl FromStr for HashAlgorithm {
    type Err = UnknownHashAlgorithm;

    /// Parses `MD5` or `HMAC-SHA256` (exact, as WeChat Pay sends them).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "MD5" => Ok(HashAlgorithm::Md5),
            "HMAC-SHA256" => Ok(HashAlgorithm::HmacSha256),
            other => Err(UnknownHashAlgorithm(other.chars().take(32).collect())),
        }
    }
}

/// The merchant's APIv2 key (the "API密钥" used for `sign` and refund `req_info`).
/// `Debug` prints `<redacted>`.
///
/// # Examples
/// ```
/// use wechatpay::crypto::ApiV2Key;
/// let key = ApiV2Key::new("0123456789abcdef0123456789abcdef");
/// assert_eq!(format!("{key:?}"), "ApiV2Key(<redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiV2Key(String);

impl ApiV2Key {
    /// Wraps the key text.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key text, for passing to [`Hash`](struct@Hash).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The AES-256-ECB key of refund notifications: the lower-case hex MD5 of this key.
    pub fn refund_key(&self) -> String {
        Hash::md5(self.0.as_bytes())
    }
}

impl fmt::Debug for ApiV2Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV2Key(<redacted>)")
    }
}

/// Digest helpers (wechatpay-php's `Hash`).
#[derive(Debug, Clone, Copy)]
pub struct Hash;

fn hex_lower(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

impl Hash {
    /// Lower-case hex MD5 of `data`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(wechatpay::crypto::Hash::md5(b""), "d41d8cd98f00b204e9800998ecf8427e");
    /// ```
    pub fn md5(data: &[u8]) -> String {
        hex_lower(&md5::Md5::digest(data))
    }

    /// Lower-case hex `md5(text + "&key=" + key)`, or plain `md5(text)` when `key` is empty
    /// (PHP's `Hash::md5($thing, $key)`).
    pub fn md5_with_key(text: &str, key: &str) -> String {
        Self::md5_suffixed(text, key, "&key=")
    }

    /// Lower-case hex `md5(text + "&secret=" + key)`, for WeCom (企业微信) agency payments
    /// (PHP's `Hash::md5($thing, $key, true)`); plain `md5(text)` when `key` is empty.
    pub fn md5_with_secret(text: &str, key: &str) -> String {
        Self::md5_suffixed(text, key, "&secret=")
    }

    fn md5_suffixed(text: &str, key: &str, joiner: &str) -> String {
        let mut ctx = md5::Md5::new();
        ctx.update(text.as_bytes());
        if !key.is_empty() {
            ctx.update(joiner.as_bytes());
            ctx.update(key.as_bytes());
        }
        hex_lower(&ctx.finalize())
    }

    /// Lower-case hex `HMAC-SHA256(key, text + "&key=" + key)` (PHP's `Hash::hmac`).
    pub fn hmac_sha256_with_key(text: &str, key: &str) -> String {
        let k = crate::crypto::backend::hmac::Key::new(
            crate::crypto::backend::hmac::HMAC_SHA256,
            key.as_bytes(),
        );
        let mut ctx = crate::crypto::backend::hmac::Context::with_key(&k);
        ctx.update(text.as_bytes());
        ctx.update(b"&key=");
        ctx.update(key.as_bytes());
        hex_lower(ctx.sign().as_ref())
    }

    /// Lower-case hex HMAC-SHA256 of `data` under `key`, with nothing appended.
    pub fn hmac_sha256(data: &[u8], key: &[u8]) -> String {
        let k =
            crate::crypto::backend::hmac::Key::new(crate::crypto::backend::hmac::HMAC_SHA256, key);
        hex_lower(crate::crypto::backend::hmac::sign(&k, data).as_ref())
    }

    /// Lower-case hex SHA-256 of `data` (the `hash_value` of downloaded bills).
    pub fn sha256(data: &[u8]) -> String {
        hex_lower(
            crate::crypto::backend::digest::digest(&crate::crypto::backend::digest::SHA256, data)
                .as_ref(),
        )
    }

    /// Lower-case hex SHA-1 of `data` (the `hash_value` of older bill downloads).
    pub fn sha1(data: &[u8]) -> String {
        hex_lower(
            crate::crypto::backend::digest::digest(
                &crate::crypto::backend::digest::SHA1_FOR_LEGACY_USE_ONLY,
                data,
            )
            .as_ref(),
        )
    }

    /// The APIv2 `sign`: upper-case hex of MD5 or HMAC-SHA256 over `text + "&key=" + key`
    /// (PHP's `Hash::sign`). `text` is the key-sorted `k=v&...` string, see
    /// [`Formatter::query_string_like`](super::Formatter::query_string_like).
    ///
    /// # Examples
    /// ```
    /// use wechatpay::crypto::{Hash, HashAlgorithm};
    /// assert_eq!(Hash::sign(HashAlgorithm::Md5, "a=1&b=2", "key"), "735A0BAFC42420A9B223CE31415E043A");
    /// ```
    pub fn sign(algorithm: HashAlgorithm, text: &str, key: &str) -> String {
        let hex = match algorithm {
            HashAlgorithm::Md5 => Self::md5_with_key(text, key),
            HashAlgorithm::HmacSha256 => Self::hmac_sha256_with_key(text, key),
        };
        hex.to_ascii_uppercase()
    }

    /// Compares two strings in time that depends only on their lengths (PHP's `hash_equals`).
    /// Use it to compare a received `sign` with the expected one.
    pub fn equals(known: &str, user: &str) -> bool {
        known.as_bytes().ct_eq(user.as_bytes()).into()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    #[test]
    fn md5_without_key_is_plain_md5() {
        assert_eq!(Hash::md5_with_key("abc", ""), Hash::md5(b"abc"));
        assert_eq!(Hash::md5_with_secret("a", "k"), Hash::md5(b"a&secret=k"));
    }

    #[test]
    fn algorithm_names_round_trip() {
        for alg in [HashAlgorithm::Md5, HashAlgorithm::HmacSha256] {
            assert_eq!(alg.as_str().parse::<HashAlgorithm>(), Ok(alg));
        }
        assert!("SHA1".parse::<HashAlgorithm>().is_err());
    }

    #[test]
    fn equals_is_exact() {
        assert!(Hash::equals("ABC", "ABC"));
        assert!(!Hash::equals("ABC", "ABD"));
        assert!(!Hash::equals("ABC", "ABCD"));
    }
}
