//! The merchant API certificate and key, loaded for mutual TLS (`ClientBuilder::merchant_cert`).

use rustls::pki_types::CertificateDer;

use crate::crypto::{PemUtil, Rsa};
use crate::error::KeyError;
use crate::transport::ClientIdentity;

/// Loads the certificate chain from `cert_source` (PEM text or `file://path`, PEM or DER) and
/// the private key from `key_source` (any form `Rsa::from_private` takes), and checks that the
/// key belongs to the first certificate.
pub(crate) fn load(cert_source: &str, key_source: &str) -> Result<ClientIdentity, KeyError> {
    let certs = certificates(cert_source)?;
    let leaf = certs
        .first()
        .ok_or_else(|| KeyError::Malformed("no certificate found".into()))?;
    let info = PemUtil::certificate_info(leaf)?;
    let (key, der) = Rsa::private_key_for_tls(key_source, None)?;
    if info.rsa_public_key != key.public_key().pkcs1_der() {
        return Err(KeyError::WrongKind(format!(
            "the private key does not belong to the certificate (serial {})",
            info.serial
        )));
    }
    Ok(ClientIdentity {
        certs: certs.into_iter().map(CertificateDer::from).collect(),
        key: der,
    })
}

/// Every certificate in `source`, in order, each checked to parse.
fn certificates(source: &str) -> Result<Vec<Vec<u8>>, KeyError> {
    let source = source.trim();
    let (text, der) = match source.strip_prefix("file://") {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| KeyError::Io {
                path: path.to_string(),
                reason: e.kind().to_string(),
            })?;
            match String::from_utf8(bytes) {
                Ok(text) if text.contains("-----BEGIN ") => (text, None),
                Ok(text) => (String::new(), Some(text.into_bytes())),
                Err(e) => (String::new(), Some(e.into_bytes())),
            }
        }
        None if source.contains("-----BEGIN ") => (source.to_string(), None),
        None => {
            return Err(KeyError::UnknownForm(
                "expected the certificate as PEM text or file://path".into(),
            ))
        }
    };
    let ders = match der {
        Some(der) => vec![der],
        None => {
            let blocks = PemUtil::parse(&text)?;
            let found: Vec<Vec<u8>> = blocks
                .iter()
                .filter(|b| b.label == "CERTIFICATE")
                .map(|b| b.der.clone())
                .collect();
            if found.is_empty() {
                return Err(match blocks.first() {
                    Some(b) => KeyError::WrongKind(format!(
                        "expected a certificate, found a `{}` block",
                        b.label
                    )),
                    None => KeyError::Malformed("no PEM block found".into()),
                });
            }
            found
        }
    };
    for der in &ders {
        PemUtil::certificate_info(der)?;
    }
    Ok(ders)
}
