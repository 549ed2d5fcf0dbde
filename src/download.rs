//! Unsigned downloads: the WeChat Pay endpoints whose answers carry no signature (bill files,
//! statements, complaint images, transfer vouchers). The verifier lets these through, and the
//! caller checks the file against the digest the preceding API call returned.

pub use crate::trust::unsigned::{is_unsigned_download, UNSIGNED_DOWNLOADS};

/// Checks a downloaded file against the hex SHA-1 digest (`hash_value` with `hash_type`
/// `SHA1`) that WeChat Pay returned with the download URL, in constant time.
///
/// # Examples
/// ```
/// use wechatpay::download::sha1_matches;
/// assert!(sha1_matches(b"abc", "A9993E364706816ABA3E25717850C26C9CD0D89D"));
/// assert!(!sha1_matches(b"abd", "a9993e364706816aba3e25717850c26c9cd0d89d"));
/// ```
pub fn sha1_matches(body: &[u8], expected_hex: &str) -> bool {
    let expected = expected_hex.trim().to_ascii_lowercase();
    crate::crypto::Hash::equals(&crate::crypto::Hash::sha1(body), &expected)
}
