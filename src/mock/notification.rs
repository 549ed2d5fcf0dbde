//! Notifications as WeChat Pay sends them to a merchant's `notify_url`: the resource encrypted
//! with AES-256-GCM under the APIv3 key, the whole body signed with the current mode's key.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

use super::credentials::demo;
use super::server::Shared;
use super::time;
use crate::crypto::{AesGcm, Formatter, Rsa};
use crate::error::{Error, KeyError, Result};

/// Builds the headers and raw body of a v3 notification of `event_type` (for example
/// `TRANSACTION.SUCCESS`) carrying `resource`, whose `original_type` is `original_type`.
pub(crate) fn build(
    shared: &Shared,
    event_type: &str,
    original_type: &str,
    resource: &Value,
) -> Result<(HeaderMap, Bytes)> {
    let nonce = Formatter::nonce(12);
    let plaintext = serde_json::to_vec(resource).map_err(|e| Error::Decode(e.to_string()))?;
    let ciphertext = AesGcm::encrypt(
        &plaintext,
        demo::APIV3_KEY.as_bytes(),
        nonce.as_bytes(),
        original_type.as_bytes(),
    )?;
    let now = Formatter::timestamp();
    let body = json!({
        "id": format!("EV-{}", Formatter::nonce(20)),
        "create_time": time::rfc3339_cst(now),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": event_type,
        "resource": {
            "original_type": original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": ciphertext,
            "associated_data": original_type,
            "nonce": nonce,
        },
    });
    let body = Bytes::from(body.to_string());

    let (key, key_id) = shared.signing_key();
    let timestamp = now.to_string();
    let header_nonce = Formatter::nonce(32);
    let signature = Rsa::sign(&Formatter::response(&timestamp, &header_nonce, &body), key)?;
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("Wechatpay-Timestamp", timestamp.as_str()),
        ("Wechatpay-Nonce", header_nonce.as_str()),
        ("Wechatpay-Serial", key_id),
        ("Wechatpay-Signature", signature.as_str()),
        ("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048"),
        ("Content-Type", "application/json"),
    ] {
        let value = HeaderValue::from_str(value)
            .map_err(|_| KeyError::Operation(format!("`{name}` is not a valid header value")))?;
        headers.insert(name, value);
    }
    Ok((headers, body))
}
