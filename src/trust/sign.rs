//! APIv3 request signing as a pure function of the request's parts, the key, the time and
//! the nonce (WeChat Pay's "签名生成" rules).

use std::fmt::Debug;

use base64::Engine as _;

use crate::crypto::{Formatter, RsaPrivateKey};
use crate::error::KeyError;

/// Something that makes SHA256withRSA (PKCS#1 v1.5) signatures with the merchant's key.
///
/// [`RsaPrivateKey`] implements it; implement it yourself to sign with an HSM or a KMS so the
/// key never enters the process.
pub trait Signer: Send + Sync + Debug + 'static {
    /// Signs `message`, returning the raw signature bytes.
    ///
    /// # Errors
    /// [`KeyError::Operation`] when the signature cannot be made.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

impl Signer for RsaPrivateKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        RsaPrivateKey::sign(self, message)
    }
}

/// Everything besides the request that goes into a signature.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    /// The merchant id (`mchid`).
    pub mchid: &'a str,
    /// The merchant API certificate serial (`serial_no`).
    pub serial: &'a str,
    /// Seconds since the Unix epoch.
    pub timestamp: i64,
    /// A fresh 32-character nonce.
    pub nonce: &'a str,
}

/// The `Authorization` header value for a request.
///
/// `uri` is the path and query exactly as sent (`/v3/x?a=1`); `body` is the exact body bytes
/// (for media uploads, the `meta` JSON only).
///
/// # Errors
/// [`KeyError::Operation`] when the signer fails.
pub fn authorization(
    method: &str,
    uri: &str,
    body: &[u8],
    params: &SigningParams<'_>,
    signer: &dyn Signer,
) -> Result<String, KeyError> {
    let message = Formatter::request(method, uri, params.timestamp, params.nonce, body);
    let signature = base64::engine::general_purpose::STANDARD.encode(signer.sign(&message)?);
    Ok(Formatter::authorization(
        params.mchid,
        params.nonce,
        &signature,
        params.timestamp,
        params.serial,
    ))
}
