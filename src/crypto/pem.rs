//! PEM text and X.509 certificates: decoding blocks, reading serial numbers, validity and
//! the public key a certificate carries.

use std::time::SystemTime;

use base64::Engine as _;
use x509_cert::der::Decode as _;

use crate::error::KeyError;

/// One `-----BEGIN LABEL-----` ... `-----END LABEL-----` block, decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label, such as `PRIVATE KEY` or `CERTIFICATE`.
    pub label: String,
    /// The decoded DER bytes.
    pub der: Vec<u8>,
}

impl std::fmt::Debug for PemBlock {
    // The DER of a private key is secret; show only its label and size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemBlock")
            .field("label", &self.label)
            .field("der_len", &self.der.len())
            .finish()
    }
}

/// Certificate facts WeChat Pay merchants need: the serial as WeChat Pay prints it and the
/// validity window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Serial number as upper-case hex without leading zeros (WeChat Pay's `serial_no`).
    pub serial: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// The subject public key as PKCS#1 `RSAPublicKey` DER (empty when not RSA).
    pub(crate) rsa_public_key: Vec<u8>,
}

impl CertificateInfo {
    /// True when `now` (seconds since the Unix epoch) lies within the validity window,
    /// bounds included.
    pub fn is_valid_at(&self, now: i64) -> bool {
        unix_seconds(self.not_before) <= now && now <= unix_seconds(self.not_after)
    }
}

/// PEM and certificate helpers (wechatpay-php's `PemUtil`).
#[derive(Debug, Clone, Copy)]
pub struct PemUtil;

impl PemUtil {
    /// Decodes every PEM block in `text`, in order.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when a block is unterminated or its base64 is invalid, and
    /// [`KeyError::Passphrase`] for legacy `Proc-Type: 4,ENCRYPTED` blocks, which cannot be read.
    ///
    /// # Examples
    /// ```
    /// use wechatpay::crypto::PemUtil;
    /// let blocks = PemUtil::parse("-----BEGIN X-----\nAQID\n-----END X-----\n").unwrap();
    /// assert_eq!(blocks[0].label, "X");
    /// assert_eq!(blocks[0].der, vec![1, 2, 3]);
    /// ```
    pub fn parse(text: &str) -> Result<Vec<PemBlock>, KeyError> {
        let mut blocks = Vec::new();
        let mut lines = text.lines().map(str::trim);
        while let Some(line) = lines.next() {
            let Some(label) = line
                .strip_prefix("-----BEGIN ")
                .and_then(|rest| rest.strip_suffix("-----"))
            else {
                continue;
            };
            let end = format!("-----END {label}-----");
            let mut body = String::new();
            let mut closed = false;
            for line in lines.by_ref() {
                if line == end {
                    closed = true;
                    break;
                }
                if line.starts_with("Proc-Type:") {
                    return Err(KeyError::Passphrase(
                        "legacy encrypted PEM (Proc-Type) is not supported; convert it with \
                         `openssl pkcs8 -topk8`"
                            .into(),
                    ));
                }
                if line.contains(':') {
                    continue; // RFC 1421 header lines carry no key data
                }
                body.push_str(line);
            }
            if !closed {
                return Err(KeyError::Malformed(format!(
                    "PEM block `{label}` has no END line"
                )));
            }
            let der = base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|_| {
                    KeyError::Malformed(format!("PEM block `{label}` is not valid base64"))
                })?;
            blocks.push(PemBlock {
                label: label.to_string(),
                der,
            });
        }
        Ok(blocks)
    }

    /// Reads a certificate (PEM text or DER bytes) and returns its serial and validity.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when no certificate can be parsed.
    pub fn certificate_info(pem_or_der: &[u8]) -> Result<CertificateInfo, KeyError> {
        let der = match std::str::from_utf8(pem_or_der) {
            Ok(text) if text.contains("-----BEGIN") => {
                Self::parse(text)?
                    .into_iter()
                    .find(|b| b.label == "CERTIFICATE")
                    .ok_or_else(|| KeyError::Malformed("no CERTIFICATE block".into()))?
                    .der
            }
            _ => pem_or_der.to_vec(),
        };
        certificate_info_from_der(&der)
    }

    /// The serial number of a certificate as WeChat Pay prints it: upper-case hex, no leading zeros.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when no certificate can be parsed.
    pub fn serial_number(pem_or_der: &[u8]) -> Result<String, KeyError> {
        Self::certificate_info(pem_or_der).map(|info| info.serial)
    }
}

pub(crate) fn certificate_info_from_der(der: &[u8]) -> Result<CertificateInfo, KeyError> {
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|e| KeyError::Malformed(format!("certificate: {e}")))?;
    let tbs = &cert.tbs_certificate;
    let serial = serial_hex(tbs.serial_number.as_bytes());
    let not_before = tbs.validity.not_before.to_system_time();
    let not_after = tbs.validity.not_after.to_system_time();
    let rsa_public_key = if tbs.subject_public_key_info.algorithm.oid == RSA_ENCRYPTION {
        tbs.subject_public_key_info
            .subject_public_key
            .as_bytes()
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(CertificateInfo {
        serial,
        not_before,
        not_after,
        rsa_public_key,
    })
}

/// rsaEncryption, RFC 8017 appendix A.1.
pub(crate) const RSA_ENCRYPTION: x509_cert::der::asn1::ObjectIdentifier =
    x509_cert::der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Upper-case hex without leading zero digits; DER integers may carry a `00` sign byte.
pub(crate) fn serial_hex(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Seconds since the Unix epoch of a `SystemTime` (negative before 1970).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    #[test]
    fn serial_drops_sign_byte_and_leading_zeros() {
        assert_eq!(serial_hex(&[0x00, 0x1D, 0xDE]), "1DDE");
        assert_eq!(serial_hex(&[0x0A]), "A");
        assert_eq!(serial_hex(&[0x00]), "0");
    }

    #[test]
    fn unterminated_block_is_malformed() {
        let err = PemUtil::parse("-----BEGIN X-----\nAQID\n").unwrap_err();
        assert!(matches!(err, KeyError::Malformed(_)));
    }
}
