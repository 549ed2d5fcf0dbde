//! `GET /v3/certificates`: the platform certificate, encrypted as WeChat Pay does it
//! ("获取平台证书列表").
//!
//! The certificate PEM is sealed with AEAD_AES_256_GCM under the merchant's APIv3 key, with a
//! fresh 12-character nonce as the IV and `certificate` as the associated data; the answer is
//! `{"data":[{"serial_no","effective_time","expire_time","encrypt_certificate":{...}}]}`. The
//! simulator lists its certificate in both modes, as WeChat Pay keeps serving certificates to
//! merchants that migrated to the public key.

use http::StatusCode;
use serde_json::json;

use super::credentials::{demo, DemoKeys};
use super::reply::Reply;
use super::time::rfc3339_cst;
use crate::crypto::{AesGcm, Formatter};

/// The answer to `GET /v3/certificates`.
pub(crate) fn answer(keys: &DemoKeys, _now: i64) -> Reply {
    let nonce = Formatter::nonce(12);
    let associated_data = "certificate";
    let ciphertext = match AesGcm::encrypt(
        demo::PLATFORM_CERTIFICATE_PEM.as_bytes(),
        demo::APIV3_KEY.as_bytes(),
        nonce.as_bytes(),
        associated_data.as_bytes(),
    ) {
        Ok(c) => c,
        Err(e) => {
            return Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "SYSTEM_ERROR",
                format!("the simulator could not encrypt its certificate: {e}"),
            )
        }
    };
    Reply::json(
        StatusCode::OK,
        &json!({
            "data": [{
                "serial_no": demo::PLATFORM_CERTIFICATE_SERIAL,
                "effective_time": rfc3339_cst(keys.certificate_not_before),
                "expire_time": rfc3339_cst(keys.certificate_not_after),
                "encrypt_certificate": {
                    "algorithm": "AEAD_AES_256_GCM",
                    "nonce": nonce,
                    "associated_data": associated_data,
                    "ciphertext": ciphertext,
                },
            }]
        }),
    )
}
