//! Answers: `verify::verify_response` on headers and a body, and `certificates::decode` on a
//! `v3/certificates` listing.
//!
//! As with notifications, raw input cannot carry a valid signature, so the checks also sign
//! what they are given with WeChat Pay's (fixture) key and then know the verdict: a signed
//! answer verifies exactly when its timestamp is a number within the allowed skew and its
//! nonce is not empty; a listing sealed under the APIv3 key decodes exactly when its
//! certificate does, and under that certificate's own key.

use serde_json::json;
use wechatpay::certificates;
use wechatpay::crypto::{AesGcm, PemUtil, Rsa, RsaPublicKey};
use wechatpay::verify::verify_response;

use super::keys::{pem, without_file_urls};
use super::{keys, signed_headers, split_message, MAX_SKEW, NOW};

const TIMESTAMP: &str = "Wechatpay-Timestamp";
const NONCE: &str = "Wechatpay-Nonce";
const SERIAL: &str = "Wechatpay-Serial";
const SIGNATURE: &str = "Wechatpay-Signature";

/// Headers, an empty line and a body, through both entry points.
pub fn check_response_raw(input: &[u8]) {
    let (headers, body) = split_message(input);
    let keys = keys();
    let _ = verify_response(&headers, body, NOW, MAX_SKEW, &keys.trusted);
    let _ = certificates::decode(
        &headers,
        body,
        &keys.apiv3,
        NOW,
        MAX_SKEW,
        Some(&keys.trusted),
    );
}

/// Headers and a body, with `Wechatpay-Serial` and `-Signature` set here over the given
/// timestamp and nonce as WeChat Pay would sign them.
pub fn check_response_signed(input: &[u8]) {
    let (mut headers, body) = split_message(input);
    // What the checker reads: the first value, trimmed, when it is text.
    let text = |headers: &wechatpay::http::HeaderMap, name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
    };
    let timestamp = text(&headers, TIMESTAMP);
    let nonce = text(&headers, NONCE);
    if let (Some(timestamp), Some(nonce)) = (&timestamp, &nonce) {
        let signed = signed_headers(timestamp, nonce, body);
        for name in [SERIAL, SIGNATURE] {
            headers.insert(name, signed[name].clone());
        }
    }
    let verdict = verify_response(&headers, body, NOW, MAX_SKEW, &keys().trusted);
    // With a header given twice, which copy counts is the crate's choice (or a refusal).
    if [TIMESTAMP, NONCE]
        .iter()
        .any(|name| headers.get_all(*name).iter().count() > 1)
    {
        return;
    }
    let fresh = timestamp
        .as_deref()
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|t| t.saturating_sub(NOW).unsigned_abs() <= MAX_SKEW);
    let has_nonce = nonce.as_deref().is_some_and(|n| !n.is_empty());
    assert_eq!(
        verdict.is_ok(),
        fresh && has_nonce,
        "timestamp {timestamp:?}, nonce {nonce:?}: {verdict:?}"
    );
}

/// `certificate` (PEM text, ideally) sealed into a `v3/certificates` listing under its own
/// serial and signed: decoding succeeds exactly when the certificate loads, and installs the
/// certificate's own key.
pub fn check_certificate_listing(certificate: &str) {
    let certificate = without_file_urls(certificate);
    let keys = keys();
    let info = PemUtil::certificate_info(certificate.as_bytes());
    let serial_no = info.as_ref().map_or("00", |i| i.serial.as_str());
    let (nonce, associated_data) = ("0123456789ab", "certificate");
    let ciphertext = AesGcm::encrypt(
        certificate.as_bytes(),
        keys.apiv3.as_bytes(),
        nonce.as_bytes(),
        associated_data.as_bytes(),
    )
    .expect("a 12-byte nonce seals");
    let body = json!({"data": [{
        "serial_no": serial_no,
        "effective_time": "2023-11-14T22:13:20+08:00",
        "expire_time": "2043-11-14T22:13:20+08:00",
        "encrypt_certificate": {
            "algorithm": "AEAD_AES_256_GCM",
            "nonce": nonce,
            "associated_data": associated_data,
            "ciphertext": ciphertext,
        },
    }]})
    .to_string();
    let headers = signed_headers(&NOW.to_string(), "fuzz-nonce", body.as_bytes());
    let verdict = certificates::decode(
        &headers,
        body.as_bytes(),
        &keys.apiv3,
        NOW,
        MAX_SKEW,
        Some(&keys.trusted),
    );
    match (info, certificate_key(certificate), verdict) {
        (Ok(info), Some(key), Ok(listed)) => {
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].serial(), info.serial);
            assert!(
                listed[0].public_key() == &key,
                "certificate {} was installed with a key that is not its own",
                info.serial
            );
        }
        (Ok(info), Some(_), Err(e)) => {
            panic!(
                "certificate {} loads, yet its listing was refused: {e}",
                info.serial
            )
        }
        (info, _, Ok(listed)) => {
            panic!("a listing was accepted ({listed:?}) for a certificate that does not load: {info:?}")
        }
        (_, _, Err(_)) => {}
    }
}

/// The public key of the certificate `PemUtil::certificate_info` reads from `text`: its first
/// `CERTIFICATE` block, or the bytes as DER.
fn certificate_key(text: &str) -> Option<RsaPublicKey> {
    let der = if text.contains("-----BEGIN") {
        PemUtil::parse(text)
            .ok()?
            .into_iter()
            .find(|b| b.label == "CERTIFICATE")?
            .der
    } else {
        text.as_bytes().to_vec()
    };
    Rsa::from_public(&pem("CERTIFICATE", &der)).ok()
}
