//! APIv2 notifications: XML with a `sign`, and refund notifications whose `req_info` is
//! AES-256-ECB-encrypted.

use std::collections::BTreeMap;

use crate::crypto::{AesEcb, ApiV2Key, HashAlgorithm};
use crate::error::NotifyError;
use crate::v2::Transformer;

/// Verifies APIv2 (XML) notifications and decrypts refund notifications.
#[derive(Debug, Clone)]
pub struct V2Verifier {
    key: ApiV2Key,
    algorithm: Option<HashAlgorithm>,
}

/// A decrypted APIv2 refund notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefundNotification {
    /// The outer fields (`return_code`, `appid`, `mch_id`, `nonce_str`, `req_info`).
    pub fields: BTreeMap<String, String>,
    /// The decrypted `req_info` fields (`out_refund_no`, `refund_status`, ...).
    pub req_info: BTreeMap<String, String>,
}

impl V2Verifier {
    /// A verifier using the APIv2 key. The algorithm is taken from the notification's
    /// `sign_type` field (MD5 when absent) unless pinned with [`V2Verifier::algorithm`].
    pub fn new(key: ApiV2Key) -> Self {
        Self {
            key,
            algorithm: None,
        }
    }

    /// Always uses `algorithm`, whatever `sign_type` says.
    #[must_use]
    pub fn algorithm(mut self, algorithm: HashAlgorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// Parses an XML notification and checks its `sign`, returning its fields.
    ///
    /// # Errors
    /// [`NotifyError::BadXml`] for malformed or unsafe XML (DTDs and custom entities are
    /// refused), [`NotifyError::MissingSign`], [`NotifyError::UnsupportedSignType`] or
    /// [`NotifyError::BadSign`].
    pub fn verify(&self, xml: impl AsRef<[u8]>) -> Result<BTreeMap<String, String>, NotifyError> {
        let fields = Transformer::to_map(xml)?;
        self.verify_fields(&fields)?;
        Ok(fields)
    }

    /// Checks the `sign` of already-parsed fields.
    ///
    /// # Errors
    /// As [`V2Verifier::verify`], without the XML errors.
    pub fn verify_fields(&self, fields: &BTreeMap<String, String>) -> Result<(), NotifyError> {
        if !fields.contains_key("sign") {
            return Err(NotifyError::MissingSign);
        }
        let algorithm = match (self.algorithm, fields.get("sign_type")) {
            (Some(pinned), _) => pinned,
            (None, None) => HashAlgorithm::Md5,
            (None, Some(name)) if name.is_empty() => HashAlgorithm::Md5,
            (None, Some(name)) => name
                .parse()
                .map_err(|_| NotifyError::UnsupportedSignType(name.chars().take(32).collect()))?,
        };
        if crate::v2::verify(fields, &self.key, algorithm) {
            Ok(())
        } else {
            Err(NotifyError::BadSign)
        }
    }

    /// Parses a refund notification and decrypts its `req_info`.
    ///
    /// Refund notifications carry no `sign`: decrypting `req_info` with the key derived from
    /// the APIv2 key is what shows WeChat Pay sent it.
    ///
    /// # Errors
    /// [`NotifyError::BadXml`] for malformed XML or a missing `req_info` (a `FAIL`
    /// notification has none); otherwise as [`V2Verifier::decrypt_req_info`].
    pub fn decrypt_refund(&self, xml: impl AsRef<[u8]>) -> Result<RefundNotification, NotifyError> {
        let fields = Transformer::to_map(xml)?;
        let req_info = fields
            .get("req_info")
            .ok_or_else(|| NotifyError::BadXml("the refund notification has no req_info".into()))?;
        let req_info = self.decrypt_req_info(req_info)?;
        Ok(RefundNotification { fields, req_info })
    }

    /// Decrypts a refund notification's `req_info`: base64, AES-256-ECB under the lower-case
    /// hex MD5 of the APIv2 key, then `<root>` XML.
    ///
    /// # Errors
    /// [`NotifyError::Decrypt`] when it does not decrypt (wrong key, corrupted data);
    /// [`NotifyError::BadPlaintext`] when the plaintext is not UTF-8 XML of the expected shape.
    pub fn decrypt_req_info(
        &self,
        req_info: &str,
    ) -> Result<BTreeMap<String, String>, NotifyError> {
        let plaintext = AesEcb::decrypt(req_info, self.key.refund_key().as_bytes())
            .map_err(|_| NotifyError::Decrypt)?;
        Transformer::to_map(plaintext)
            .map_err(|e| NotifyError::BadPlaintext(format!("req_info: {e}")))
    }
}

/// The APIv2 reply that acknowledges a notification:
/// `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>`.
pub fn v2_success() -> String {
    Transformer::to_xml([("return_code", "SUCCESS"), ("return_msg", "OK")])
}

/// The APIv2 reply that makes WeChat Pay retry: `return_code` `FAIL` with `message`.
pub fn v2_failure(message: &str) -> String {
    Transformer::to_xml([("return_code", "FAIL"), ("return_msg", message)])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    #[test]
    fn replies_have_the_documented_shape() {
        assert_eq!(
            v2_success(),
            "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
        );
        assert_eq!(
            Transformer::to_map(v2_failure("bad]]>sign")).unwrap()["return_msg"],
            "bad]]>sign"
        );
    }
}
