//! WeChat Pay notifications (回调通知): check that WeChat Pay sent them, then decrypt them.
//!
//! **APIv3** ([`Verifier`]): the request carries the same `Wechatpay-Timestamp`, `-Nonce`,
//! `-Serial` and `-Signature` headers as a response, signed over `TIMESTAMP\nNONCE\nBODY\n`
//! with WeChat Pay's key. The JSON body's `resource` is AEAD_AES_256_GCM-encrypted with the
//! merchant's APIv3 key. Steps, each with its own [`NotifyError`]:
//!
//! 1. [`crate::verify::verify_response`]: headers present, timestamp within
//!    300 s of `now`, serial trusted, signature valid ([`NotifyError::Verify`]);
//! 2. parse the body ([`NotifyError::BadJson`]) and check the algorithm
//!    ([`NotifyError::UnsupportedAlgorithm`]);
//! 3. decrypt with the APIv3 key ([`NotifyError::Decrypt`]);
//! 4. parse the plaintext into JSON or the caller's type ([`NotifyError::BadPlaintext`]).
//!
//! Verify against the **raw body bytes** as received: re-serialising parsed JSON changes
//! them and breaks the signature.
//!
//! **APIv2** ([`V2Verifier`]): XML bodies carry a `sign` (MD5 or HMAC-SHA256 with the APIv2
//! key); refund notifications instead carry `req_info`, AES-256-ECB-encrypted with the MD5 of
//! the APIv2 key.
//!
//! Replies: [`v3_success`], [`v3_failure`], [`v2_success`], [`v2_failure`].
//!
//! ```
//! use wechatpay::crypto::ApiV3Key;
//! use wechatpay::notify::{self, Verifier};
//! use wechatpay::PlatformKeys;
//!
//! fn handle(keys: &PlatformKeys, headers: &http::HeaderMap, body: &[u8]) -> http::Response<String> {
//!     let Ok(apiv3_key) = ApiV3Key::new("0123456789abcdef0123456789abcdef") else {
//!         return notify::v3_failure("misconfigured");
//!     };
//!     let verifier = Verifier::new(keys.clone(), apiv3_key);
//!     match verifier.verify_and_decrypt_now(headers, body) {
//!         Ok(n) => {
//!             println!("{} {}", n.event_type, n.resource["out_trade_no"]);
//!             notify::v3_success()
//!         }
//!         Err(e) => notify::v3_failure(&e.to_string()),
//!     }
//! }
//! # let _ = handle;
//! ```

use std::collections::BTreeMap;

use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::crypto::{AesEcb, AesGcm, Formatter, HashAlgorithm};
pub use crate::crypto::{ApiV2Key, ApiV3Key};
pub use crate::error::NotifyError;
use crate::platform_keys::PlatformKeys;
use crate::v2::Transformer;
use crate::verify::{verify_response, DEFAULT_MAX_SKEW_SECONDS};

/// The only resource algorithm WeChat Pay uses.
pub const AEAD_AES_256_GCM: &str = "AEAD_AES_256_GCM";

/// The encrypted `resource` of an APIv3 notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Resource {
    /// Always `AEAD_AES_256_GCM` today.
    pub algorithm: String,
    /// Base64 of `ciphertext || tag`.
    pub ciphertext: String,
    /// The AES-GCM associated data (may be empty).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub associated_data: String,
    /// The AES-GCM nonce (12 characters).
    pub nonce: String,
    /// The kind of object encrypted, such as `transaction` or `refund`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub original_type: String,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

impl Resource {
    /// Decrypts the resource with the APIv3 key, returning the plaintext bytes (JSON).
    ///
    /// Use this directly only for a resource whose signature was checked by other means;
    /// [`Verifier`] does both.
    ///
    /// # Errors
    /// [`NotifyError::UnsupportedAlgorithm`] when `algorithm` is not `AEAD_AES_256_GCM`;
    /// [`NotifyError::Decrypt`] when the tag does not match (wrong key, tampered fields);
    /// [`NotifyError::BadJson`] when the ciphertext is not base64 or the nonce is empty or
    /// too long.
    pub fn decrypt(&self, key: &ApiV3Key) -> Result<Vec<u8>, NotifyError> {
        if self.algorithm != AEAD_AES_256_GCM {
            return Err(NotifyError::UnsupportedAlgorithm(
                self.algorithm.chars().take(64).collect(),
            ));
        }
        AesGcm::decrypt(
            &self.ciphertext,
            key.as_bytes(),
            self.nonce.as_bytes(),
            self.associated_data.as_bytes(),
        )
        .map_err(|e| match e {
            crate::error::KeyError::Operation(_) => NotifyError::Decrypt,
            other => NotifyError::BadJson(format!("resource: {other}")),
        })
    }
}

/// The JSON body WeChat Pay posts (before decryption).
#[derive(Deserialize)]
struct Envelope {
    #[serde(default, deserialize_with = "null_as_empty")]
    id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    create_time: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    event_type: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    resource_type: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    summary: String,
    resource: Resource,
}

/// A verified, decrypted APIv3 notification.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Notification<T = serde_json::Value> {
    /// The notification id (the same id on every retry of one event).
    pub id: String,
    /// When WeChat Pay created the notification (RFC 3339).
    pub create_time: String,
    /// Such as `TRANSACTION.SUCCESS` or `REFUND.SUCCESS`.
    pub event_type: String,
    /// Such as `encrypt-resource`.
    pub resource_type: String,
    /// WeChat Pay's short description, such as `支付成功`.
    pub summary: String,
    /// The resource's `original_type`, such as `transaction`.
    pub original_type: String,
    /// The decrypted resource.
    pub resource: T,
}

/// Verifies and decrypts APIv3 notifications.
///
/// Holds the trusted WeChat Pay keys (share the client's [`PlatformKeys`] so refreshed keys
/// apply here too) and the APIv3 key. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: PlatformKeys,
    apiv3_key: ApiV3Key,
    max_skew_seconds: u64,
}

impl Verifier {
    /// A verifier trusting `platform_keys`, decrypting with `apiv3_key`, and allowing the
    /// documented 300 s of clock skew.
    pub fn new(platform_keys: PlatformKeys, apiv3_key: ApiV3Key) -> Self {
        Self {
            keys: platform_keys,
            apiv3_key,
            max_skew_seconds: DEFAULT_MAX_SKEW_SECONDS,
        }
    }

    /// Changes the largest accepted difference between `Wechatpay-Timestamp` and `now`.
    #[must_use]
    pub fn max_skew_seconds(mut self, seconds: u64) -> Self {
        self.max_skew_seconds = seconds;
        self
    }

    /// Checks the signature headers against the raw body, without decrypting.
    ///
    /// # Errors
    /// [`NotifyError::Verify`] naming the failed check.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), NotifyError> {
        verify_response(headers, body, now, self.max_skew_seconds, &self.keys)
            .map_err(NotifyError::Verify)
    }

    /// Verifies the notification, then decrypts its resource into JSON.
    ///
    /// `now` is seconds since the Unix epoch; [`Verifier::verify_and_decrypt_now`] reads the
    /// clock for you.
    ///
    /// # Errors
    /// The [`NotifyError`] of the step that failed (see the module documentation).
    pub fn verify_and_decrypt(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Notification<serde_json::Value>, NotifyError> {
        self.verify_and_decrypt_as(headers, body, now)
    }

    /// Verifies the notification, then decrypts its resource into `T` (your struct for a
    /// transaction, a refund, ...).
    ///
    /// # Errors
    /// The [`NotifyError`] of the step that failed; [`NotifyError::BadPlaintext`] when the
    /// plaintext does not fit `T`.
    pub fn verify_and_decrypt_as<T: DeserializeOwned>(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Notification<T>, NotifyError> {
        self.verify(headers, body, now)?;
        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|e| NotifyError::BadJson(json_error_summary(&e)))?;
        let plaintext = envelope.resource.decrypt(&self.apiv3_key)?;
        let resource = serde_json::from_slice(&plaintext)
            .map_err(|e| NotifyError::BadPlaintext(json_error_summary(&e)))?;
        Ok(Notification {
            id: envelope.id,
            create_time: envelope.create_time,
            event_type: envelope.event_type,
            resource_type: envelope.resource_type,
            summary: envelope.summary,
            original_type: envelope.resource.original_type,
            resource,
        })
    }

    /// [`Verifier::verify_and_decrypt`] at the current time.
    ///
    /// # Errors
    /// As [`Verifier::verify_and_decrypt`].
    pub fn verify_and_decrypt_now(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Notification<serde_json::Value>, NotifyError> {
        self.verify_and_decrypt(headers, body, Formatter::timestamp())
    }

    /// [`Verifier::verify_and_decrypt_as`] at the current time.
    ///
    /// # Errors
    /// As [`Verifier::verify_and_decrypt_as`].
    pub fn verify_and_decrypt_now_as<T: DeserializeOwned>(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Notification<T>, NotifyError> {
        self.verify_and_decrypt_as(headers, body, Formatter::timestamp())
    }
}

/// Describes a JSON error without quoting the input: serde_json's messages can contain
/// decrypted values (payer details), which must not end up in logs.
fn json_error_summary(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = e.to_string();
    let kind = match e.classify() {
        Category::Io => "cannot be read",
        Category::Syntax => "is not valid JSON",
        Category::Eof => "ends early",
        // Field names are safe to show and say what is missing or unexpected.
        Category::Data
            if text.starts_with("missing field") || text.starts_with("unknown field") =>
        {
            return text;
        }
        Category::Data => "does not fit the expected type",
    };
    format!("{kind} (line {}, column {})", e.line(), e.column())
}

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

fn json_response(status: StatusCode, body: String) -> http::Response<String> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The APIv3 reply that acknowledges a notification: `200` with
/// `{"code":"SUCCESS","message":"成功"}` (WeChat Pay accepts any 2xx; the body keeps older
/// integrations that read it happy).
pub fn v3_success() -> http::Response<String> {
    json_response(
        StatusCode::OK,
        r#"{"code":"SUCCESS","message":"成功"}"#.to_string(),
    )
}

/// The APIv3 reply that makes WeChat Pay retry: `500` with `{"code":"FAIL","message":..}`.
///
/// Change the status with `*reply.status_mut() = ...` if you prefer a 4xx; any 4xx or 5xx
/// counts as a failure. Keep `message` short and free of secrets: it goes back to WeChat Pay.
pub fn v3_failure(message: &str) -> http::Response<String> {
    let body = serde_json::json!({ "code": "FAIL", "message": message }).to_string();
    json_response(StatusCode::INTERNAL_SERVER_ERROR, body)
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
        let ok = v3_success();
        assert_eq!(ok.status(), 200);
        let fail = v3_failure("签名错误 \"x\"");
        assert_eq!(fail.status(), 500);
        let body: serde_json::Value = serde_json::from_str(fail.body()).unwrap();
        assert_eq!(body["code"], "FAIL");
        assert_eq!(body["message"], "签名错误 \"x\"");
        assert_eq!(
            v2_success(),
            "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
        );
        assert_eq!(
            Transformer::to_map(v2_failure("bad]]>sign")).unwrap()["return_msg"],
            "bad]]>sign"
        );
    }

    #[test]
    fn json_errors_do_not_quote_values() {
        let e = serde_json::from_str::<u32>("\"secret-openid\"").unwrap_err();
        assert!(!json_error_summary(&e).contains("secret"));
    }
}
