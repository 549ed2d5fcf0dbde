//! Notifications: APIv3 (`notify::Verifier`) and APIv2 (`notify::V2Verifier`).
//!
//! Raw input only reaches the first failing check, since nothing here can forge WeChat Pay's
//! signature or the APIv3 key's GCM tag. So besides raw input the checks also sign (and, for
//! the resource, encrypt) what they are given, as WeChat Pay would, and then know exactly what
//! the verifier must answer: the signed body parses or is reported as bad JSON, the sealed
//! plaintext comes back as it went in or is reported as bad plaintext.

use serde_json::{json, Value};
use wechatpay::crypto::{AesEcb, AesGcm, HashAlgorithm};
use wechatpay::error::NotifyError;
use wechatpay::notify::{V2Verifier, Verifier};
use wechatpay::v2::Transformer;

use super::{keys, signed_headers, split_message, xml, NOW};

fn verifier() -> Verifier {
    Verifier::new(keys().trusted.clone(), keys().apiv3.clone())
}

fn v2_verifier() -> V2Verifier {
    V2Verifier::new(keys().apiv2.clone())
}

/// Headers, an empty line, and a body, as a merchant's `notify_url` receives them.
pub fn check_v3_raw(input: &[u8]) {
    let (headers, body) = split_message(input);
    if let Ok(notification) = verifier().verify_and_decrypt(&headers, body, NOW) {
        // Only a genuine notification gets here: its body is the envelope it claims.
        let envelope: Value = serde_json::from_slice(body).expect("a verified body is JSON");
        assert_eq!(
            envelope["resource"]["original_type"]
                .as_str()
                .unwrap_or_default(),
            notification.original_type
        );
    }
}

/// A body signed by WeChat Pay's key: the signature holds, so the verdict is the body's.
pub fn check_v3_signed_body(body: &[u8]) {
    let headers = signed_headers(&NOW.to_string(), "fuzz-nonce", body);
    match verifier().verify_and_decrypt(&headers, body, NOW) {
        Ok(_) => {}
        Err(
            NotifyError::BadJson(_)
            | NotifyError::UnsupportedAlgorithm(_)
            | NotifyError::Decrypt
            | NotifyError::BadPlaintext(_),
        ) => {}
        Err(other) => panic!("a correctly signed body was refused with {other:?}"),
    }
}

/// `nonce`, `associated_data` and a plaintext sealed under the APIv3 key and signed: the
/// verifier must give the plaintext back, or say it is not JSON.
pub fn check_v3_sealed(nonce: &str, associated_data: &str, plaintext: &[u8]) {
    let Ok(ciphertext) = AesGcm::encrypt(
        plaintext,
        keys().apiv3.as_bytes(),
        nonce.as_bytes(),
        associated_data.as_bytes(),
    ) else {
        return; // an IV length AES-GCM does not take: nothing to send
    };
    let body = json!({
        "id": "EV-2018022511223320873",
        "create_time": "2015-05-20T13:29:35+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": ciphertext,
            "associated_data": associated_data,
            "nonce": nonce,
        },
    })
    .to_string();
    let headers = signed_headers(&NOW.to_string(), "fuzz-nonce", body.as_bytes());
    let verdict = verifier().verify_and_decrypt(&headers, body.as_bytes(), NOW);
    match (serde_json::from_slice::<Value>(plaintext), verdict) {
        (Ok(expected), Ok(notification)) => {
            assert_eq!(notification.resource, expected);
            assert_eq!(notification.original_type, "transaction");
        }
        (Err(_), Err(NotifyError::BadPlaintext(_))) => {}
        (expected, verdict) => {
            panic!("plaintext {expected:?} (nonce {nonce:?}) gave {verdict:?}")
        }
    }
}

/// An APIv2 body through `verify` and `decrypt_refund`.
pub fn check_v2_raw(input: &[u8]) {
    let verifier = v2_verifier();
    if let Ok(fields) = verifier.verify(input) {
        assert_eq!(Transformer::to_map(input).ok(), Some(fields.clone()));
        assert!(fields.contains_key("sign"));
    }
    if let Ok(refund) = verifier.decrypt_refund(input) {
        assert_eq!(Transformer::to_map(input).ok(), Some(refund.fields));
    }
}

/// An APIv2 body whose fields are signed here with the APIv2 key: the verdict follows from
/// its `sign_type` alone.
pub fn check_v2_signed(input: &[u8]) {
    let Ok(mut fields) = Transformer::to_map(input) else {
        return;
    };
    let algorithm = match fields.get("sign_type").map(String::as_str) {
        None | Some("") => Ok(HashAlgorithm::Md5),
        Some(name) => name.parse::<HashAlgorithm>(),
    };
    let sign = wechatpay::v2::sign(
        &fields,
        &keys().apiv2,
        *algorithm.as_ref().unwrap_or(&HashAlgorithm::Md5),
    );
    fields.insert("sign".into(), sign);
    let verdict = v2_verifier().verify_fields(&fields);
    match (&algorithm, &verdict) {
        (Ok(_), Ok(())) | (Err(_), Err(NotifyError::UnsupportedSignType(_))) => {}
        _ => panic!("fields {fields:?} (sign type {algorithm:?}) gave {verdict:?}"),
    }
    if verdict.is_ok() && fields.keys().all(|k| xml::is_element_name(k)) {
        let written = Transformer::to_xml(&fields);
        assert_eq!(v2_verifier().verify(&written), Ok(fields));
    }
}

/// A refund notification whose `req_info` is `plaintext` sealed with the key WeChat Pay
/// derives from the APIv2 key: the verifier must decrypt it to what `to_map` makes of it.
pub fn check_refund_sealed(plaintext: &[u8]) {
    let req_info = AesEcb::encrypt(plaintext, keys().apiv2.refund_key().as_bytes())
        .expect("the refund key is 32 bytes");
    let body = Transformer::to_xml([("return_code", "SUCCESS"), ("req_info", req_info.as_str())]);
    let verdict = v2_verifier().decrypt_refund(&body);
    match (Transformer::to_map(plaintext), verdict) {
        (Ok(expected), Ok(refund)) => {
            assert_eq!(refund.req_info, expected);
            assert_eq!(refund.fields["req_info"], req_info);
        }
        (Err(_), Err(NotifyError::BadPlaintext(_))) => {}
        (expected, verdict) => panic!("req_info {expected:?} gave {verdict:?}"),
    }
}
