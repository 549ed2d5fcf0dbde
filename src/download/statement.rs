//! Overseas statements (`hk/v3/statements`, `v3/global/statements`): WeChat Pay signs a
//! statement's SHA-1 rather than the file. The answer's `Wechatpay-Signature` covers
//! `TIMESTAMP\nNONCE\n{"sha1":"<Wechatpay-Statement-Sha1>"}\n`, and the file must then have
//! that SHA-1 ("下载对账单": 账单完整性校验).

use http::HeaderMap;

use crate::crypto::Formatter;
use crate::error::VerifyError;
use crate::trust::platform_keys::PlatformKeys;
use crate::verify::verify_response;

/// The header carrying a statement's SHA-1 (hex).
pub const STATEMENT_SHA1: &str = "Wechatpay-Statement-Sha1";

/// The statement endpoints, matched against the end of the request's path.
const STATEMENTS: &[&str] = &["/hk/v3/statements", "/v3/global/statements"];

/// True when the URI path `path` is a statement download.
pub(crate) fn is_statement(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    STATEMENTS.iter().any(|s| path.ends_with(s))
}

/// The message a statement's signature covers, after the timestamp and nonce.
pub(crate) fn signed_body(sha1: &str) -> String {
    format!(r#"{{"sha1":"{sha1}"}}"#)
}

/// Verifies a statement answer's headers: the four `Wechatpay-*` headers, the clock skew, the
/// serial and the signature over the statement's SHA-1, which is returned (as given).
///
/// # Errors
/// The [`VerifyError`] naming the failed check; [`VerifyError::MissingHeader`] when the
/// answer has no `Wechatpay-Statement-Sha1`.
pub(crate) fn verify(
    headers: &HeaderMap,
    keys: &PlatformKeys,
    max_skew_seconds: u64,
) -> Result<String, VerifyError> {
    let sha1 = headers
        .get(STATEMENT_SHA1)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(VerifyError::MissingHeader(STATEMENT_SHA1))?;
    verify_response(
        headers,
        signed_body(sha1).as_bytes(),
        Formatter::timestamp(),
        max_skew_seconds,
        keys,
    )?;
    Ok(sha1.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_paths_match_by_suffix() {
        assert!(is_statement("/hk/v3/statements"));
        assert!(is_statement("/prefix/v3/global/statements/"));
        assert!(!is_statement("/v3/statements"));
        assert!(!is_statement("/v3/global/statements/x"));
    }

    #[test]
    fn the_signed_body_is_the_sha1_json() {
        assert_eq!(signed_body("ab12"), r#"{"sha1":"ab12"}"#);
    }
}
