//! The APIv2 `sign` field: MD5 or HMAC-SHA256 over `k=v&...&key=APIV2KEY`, upper-case hex.

use std::collections::BTreeMap;

use crate::crypto::{ApiV2Key, Formatter, Hash, HashAlgorithm, SignValue};

/// The `sign` of APIv2 fields: the fields sorted by key (byte order), joined as `k=v&...`
/// without `sign`, empty values and nulls, then [`Hash::sign`] with the APIv2 key.
///
/// # Examples
/// ```
/// use wechatpay::crypto::{ApiV2Key, HashAlgorithm};
/// let key = ApiV2Key::new("key");
/// let sign = wechatpay::v2::sign([("b", "2"), ("a", "1"), ("sign", "ignored")], &key, HashAlgorithm::Md5);
/// assert_eq!(sign, "735A0BAFC42420A9B223CE31415E043A");
/// ```
pub fn sign<K: AsRef<str>, V: SignValue>(
    fields: impl IntoIterator<Item = (K, V)>,
    key: &ApiV2Key,
    algorithm: HashAlgorithm,
) -> String {
    let text = Formatter::query_string_like(Formatter::ksort(fields));
    Hash::sign(algorithm, &text, key.expose())
}

/// True when `fields["sign"]` is the [`sign`] of the other fields, compared in constant time.
/// A missing `sign` is `false`.
pub fn verify(fields: &BTreeMap<String, String>, key: &ApiV2Key, algorithm: HashAlgorithm) -> bool {
    match fields.get("sign") {
        Some(received) => Hash::equals(&sign(fields, key, algorithm), received.trim()),
        None => false,
    }
}

/// The algorithm an answer's `sign` was made with, judged by its length as WeChat Pay's
/// answers do not always say: 64 hex characters are HMAC-SHA256, anything else MD5.
///
/// # Examples
/// ```
/// use wechatpay::crypto::HashAlgorithm;
/// assert_eq!(wechatpay::v2::algorithm_of(&"A".repeat(64)), HashAlgorithm::HmacSha256);
/// assert_eq!(wechatpay::v2::algorithm_of(&"A".repeat(32)), HashAlgorithm::Md5);
/// ```
pub fn algorithm_of(sign: &str) -> HashAlgorithm {
    if sign.trim().len() == 64 {
        HashAlgorithm::HmacSha256
    } else {
        HashAlgorithm::Md5
    }
}
