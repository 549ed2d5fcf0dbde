//! Loading RSA keys from every source and form wechatpay-php's `Rsa::from` accepts: PEM text,
//! `file://` paths (PEM or DER), the `private.pkcs1://`-style pseudo-URLs, PKCS#1, PKCS#8 and
//! encrypted PKCS#8 private keys, SPKI and PKCS#1 public keys, and X.509 certificates.

use base64::Engine as _;
use x509_cert::der::{Decode as _, Reader as _};

use super::{PrivateDer, RsaPrivateKey, RsaPublicKey};
use crate::crypto::pem::{certificate_info_from_der, PemBlock, PemUtil};
use crate::error::KeyError;

/// What a source string turned out to hold.
enum Material {
    Pem(Vec<PemBlock>),
    Der { label: &'static str, der: Vec<u8> },
}

fn read_source(source: &str) -> Result<Material, KeyError> {
    let source = source.trim();
    if let Some(path) = source.strip_prefix("file://") {
        let bytes = std::fs::read(path).map_err(|e| KeyError::Io {
            path: path.to_string(),
            reason: e.kind().to_string(),
        })?;
        return match std::str::from_utf8(&bytes) {
            Ok(text) if text.contains("-----BEGIN ") => Ok(Material::Pem(PemUtil::parse(text)?)),
            _ => Ok(Material::Der {
                label: "DER",
                der: bytes,
            }),
        };
    }
    for (prefix, label) in [
        ("private.pkcs1://", "RSA PRIVATE KEY"),
        ("private.pkcs8://", "PRIVATE KEY"),
        ("public.pkcs1://", "RSA PUBLIC KEY"),
        ("public.spki://", "PUBLIC KEY"),
    ] {
        if let Some(b64) = source.strip_prefix(prefix) {
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| KeyError::Malformed(format!("{prefix} value is not valid base64")))?;
            return Ok(Material::Der { label, der });
        }
    }
    if source.contains("-----BEGIN ") {
        return Ok(Material::Pem(PemUtil::parse(source)?));
    }
    Err(KeyError::UnknownForm(
        "expected PEM text, file://path, private.pkcs1://, private.pkcs8://, public.pkcs1:// or \
         public.spki://"
            .into(),
    ))
}

pub(super) fn load_private(
    source: &str,
    passphrase: Option<&str>,
) -> Result<RsaPrivateKey, KeyError> {
    RsaPrivateKey::from_der(load_private_der(source, passphrase)?)
}

/// The unencrypted DER of a private key from any source [`load_private`] takes, in the form
/// it is in (checked to load as an RSA key).
pub(super) fn load_private_der(
    source: &str,
    passphrase: Option<&str>,
) -> Result<PrivateDer, KeyError> {
    match read_source(source)? {
        Material::Pem(blocks) => {
            let block = blocks
                .iter()
                .find(|b| b.label.contains("PRIVATE KEY"))
                .ok_or_else(|| match blocks.first() {
                    Some(b) => KeyError::WrongKind(format!(
                        "expected a private key, found a `{}` block",
                        b.label
                    )),
                    None => KeyError::Malformed("no PEM block found".into()),
                })?;
            private_from_der(&block.label, &block.der, passphrase)
        }
        Material::Der { label, der } => {
            if label.contains("PUBLIC") {
                return Err(KeyError::WrongKind(format!(
                    "expected a private key, found {label}"
                )));
            }
            private_from_der(label, &der, passphrase)
        }
    }
}

fn private_from_der(
    label: &str,
    der: &[u8],
    passphrase: Option<&str>,
) -> Result<PrivateDer, KeyError> {
    match label {
        "PRIVATE KEY" => Ok(PrivateDer::Pkcs8(der.to_vec())),
        "RSA PRIVATE KEY" => Ok(PrivateDer::Pkcs1(der.to_vec())),
        "ENCRYPTED PRIVATE KEY" => decrypt_pkcs8(der, passphrase),
        // DER read from a file: try each form in turn.
        "DER" => pkcs8_key(der.to_vec())
            .or_else(|_| pkcs1_key(der.to_vec()))
            .or_else(|_| decrypt_pkcs8(der, passphrase)),
        other => Err(KeyError::UnknownForm(format!(
            "`{other}` is not an RSA private key form"
        ))),
    }
}

/// `der` when it loads as a PKCS#8 RSA key.
fn pkcs8_key(der: Vec<u8>) -> Result<PrivateDer, KeyError> {
    RsaPrivateKey::from_der(PrivateDer::Pkcs8(der.clone()))?;
    Ok(PrivateDer::Pkcs8(der))
}

/// `der` when it loads as a PKCS#1 RSA key.
fn pkcs1_key(der: Vec<u8>) -> Result<PrivateDer, KeyError> {
    RsaPrivateKey::from_der(PrivateDer::Pkcs1(der.clone()))?;
    Ok(PrivateDer::Pkcs1(der))
}

fn decrypt_pkcs8(der: &[u8], passphrase: Option<&str>) -> Result<PrivateDer, KeyError> {
    let passphrase = passphrase.ok_or_else(|| {
        KeyError::Passphrase("the private key is encrypted; give its passphrase".into())
    })?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|e| KeyError::Malformed(format!("encrypted PKCS#8: {e}")))?;
    refuse_costly_key_derivation(&info)?;
    let plain = info
        .decrypt(passphrase)
        .map_err(|_| KeyError::Passphrase("wrong passphrase or unsupported cipher".into()))?;
    pkcs8_key(plain.as_bytes().to_vec())
}

/// RFC 8018 §4.2: "an iteration count of 10,000,000 may be appropriate" for especially critical
/// keys. openssl writes 2048.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// OpenSSL's own limit on scrypt's memory (`SCRYPT_MAX_MEM`, 32 MiB), which openssl's
/// `-scrypt` default (N = 16384, r = 8, p = 1: 16 MiB) fits.
const MAX_SCRYPT_BYTES: u64 = 32 * 1024 * 1024;
/// scrypt's work grows with N·r·p; this is 32 times openssl's default.
const MAX_SCRYPT_WORK: u64 = 1 << 22;

/// Refuses key-derivation parameters that would take minutes or gigabytes before the
/// passphrase is even tried: the encrypted key's own DER says how costly its derivation is,
/// so a damaged or hostile file could otherwise hang the process (2^31 PBKDF2 iterations) or
/// abort it on an allocation it cannot make (scrypt with N = 2^40).
fn refuse_costly_key_derivation(info: &pkcs8::EncryptedPrivateKeyInfo<'_>) -> Result<(), KeyError> {
    use pkcs8::pkcs5::{pbes2::Kdf, EncryptionScheme};
    let EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
        return Ok(());
    };
    match &params.kdf {
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(KeyError::Malformed(format!(
                "encrypted PKCS#8 asks for {} PBKDF2 iterations, over the {MAX_PBKDF2_ITERATIONS} \
                 accepted",
                p.iteration_count
            )))
        }
        Kdf::Scrypt(p) => {
            let (n, r, parallel) = (
                p.cost_parameter,
                u64::from(p.block_size),
                u64::from(p.parallelization),
            );
            let bytes = n
                .saturating_add(parallel)
                .saturating_mul(r)
                .saturating_mul(128);
            let work = n.saturating_mul(r).saturating_mul(parallel);
            if bytes > MAX_SCRYPT_BYTES || work > MAX_SCRYPT_WORK {
                return Err(KeyError::Malformed(format!(
                    "encrypted PKCS#8 asks for scrypt with N = {n}, r = {r}, p = {parallel}, over \
                     the {} MiB and N·r·p of {MAX_SCRYPT_WORK} accepted",
                    MAX_SCRYPT_BYTES >> 20
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

pub(super) fn load_public(source: &str) -> Result<RsaPublicKey, KeyError> {
    match read_source(source)? {
        Material::Pem(blocks) => {
            let block = blocks
                .iter()
                .find(|b| !b.label.contains("PRIVATE"))
                .ok_or_else(|| match blocks.first() {
                    Some(_) => KeyError::WrongKind(
                        "expected a public key or certificate, found a private key".into(),
                    ),
                    None => KeyError::Malformed("no PEM block found".into()),
                })?;
            public_from_der(&block.label, &block.der)
        }
        Material::Der { label, der } => {
            if label.contains("PRIVATE") {
                return Err(KeyError::WrongKind(format!(
                    "expected a public key, found {label}"
                )));
            }
            public_from_der(label, &der)
        }
    }
}

fn public_from_der(label: &str, der: &[u8]) -> Result<RsaPublicKey, KeyError> {
    match label {
        "PUBLIC KEY" => RsaPublicKey::from_spki_der(der),
        "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_der(der),
        "CERTIFICATE" => public_from_certificate(der),
        "DER" => RsaPublicKey::from_spki_der(der)
            .or_else(|_| public_from_certificate(der))
            .or_else(|_| RsaPublicKey::from_pkcs1_der(der)),
        other => Err(KeyError::UnknownForm(format!(
            "`{other}` is not an RSA public key form"
        ))),
    }
}

fn public_from_certificate(der: &[u8]) -> Result<RsaPublicKey, KeyError> {
    let info = certificate_info_from_der(der)?;
    if info.rsa_public_key.is_empty() {
        return Err(KeyError::WrongKind(
            "the certificate's key is not RSA".into(),
        ));
    }
    RsaPublicKey::from_pkcs1_der(&info.rsa_public_key)
}

/// Validates PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`
/// and returns the modulus size in bits.
pub(super) fn pkcs1_modulus_bits(der: &[u8]) -> Result<usize, KeyError> {
    use x509_cert::der::asn1::UintRef;
    let malformed =
        |e: x509_cert::der::Error| KeyError::Malformed(format!("PKCS#1 public key: {e}"));
    let mut reader = x509_cert::der::SliceReader::new(der).map_err(malformed)?;
    let modulus_len = reader
        .sequence(|r| {
            let n = UintRef::decode(r)?;
            let _e = UintRef::decode(r)?;
            Ok(n.as_bytes().len())
        })
        .map_err(malformed)?;
    reader.finish(()).map_err(malformed)?;
    Ok(modulus_len * 8)
}
