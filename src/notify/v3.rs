//! APIv3 notifications: signed like an answer, with an AES-GCM-encrypted `resource`.

use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::crypto::{AesGcm, ApiV3Key, Formatter};
use crate::error::NotifyError;
use crate::trust::platform_keys::PlatformKeys;
use crate::trust::verify::{verify_response, DEFAULT_MAX_SKEW_SECONDS};

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
    }

    #[test]
    fn json_errors_do_not_quote_values() {
        let e = serde_json::from_str::<u32>("\"secret-openid\"").unwrap_err();
        assert!(!json_error_summary(&e).contains("secret"));
    }
}
