//! RSA encryption under aws-lc-rs: OAEP (SHA-1, MGF1-SHA1) and PKCS#1 v1.5, both in aws-lc,
//! constant-time and fast in any build profile.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1,
};

use super::{Padding, RsaPrivateKey, RsaPublicKey};
use crate::error::KeyError;

/// Encrypts `plaintext`, which the caller has checked fits the key.
pub(super) fn encrypt(
    padding: Padding,
    plaintext: &[u8],
    key: &RsaPublicKey,
) -> Result<Vec<u8>, KeyError> {
    let public = encrypting_key(key)?;
    let mut sealed = vec![0; public.key_size_bytes()];
    let len = match padding {
        Padding::Oaep => OaepPublicEncryptingKey::new(public).and_then(|key| {
            key.encrypt(&OAEP_SHA1_MGF1SHA1, plaintext, &mut sealed, None)
                .map(|out| out.len())
        }),
        Padding::Pkcs1v15 => Pkcs1PublicEncryptingKey::new(public)
            .and_then(|key| key.encrypt(plaintext, &mut sealed).map(|out| out.len())),
    }
    .map_err(|_| padding.encryption_failed())?;
    sealed.truncate(len);
    Ok(sealed)
}

/// Decrypts `sealed` with the key pair the private key signs with.
pub(super) fn decrypt(
    padding: Padding,
    sealed: &[u8],
    key: &RsaPrivateKey,
) -> Result<Vec<u8>, KeyError> {
    let private = decrypting_key(key)?;
    let mut plain = vec![0; private.key_size_bytes()];
    let len = match padding {
        Padding::Oaep => OaepPrivateDecryptingKey::new(private).and_then(|key| {
            key.decrypt(&OAEP_SHA1_MGF1SHA1, sealed, &mut plain, None)
                .map(|out| out.len())
        }),
        Padding::Pkcs1v15 => Pkcs1PrivateDecryptingKey::new(private)
            .and_then(|key| key.decrypt(sealed, &mut plain).map(|out| out.len())),
    }
    .map_err(|_| padding.decryption_failed())?;
    plain.truncate(len);
    Ok(plain)
}

/// aws-lc-rs encrypts with a SubjectPublicKeyInfo; the key is kept as PKCS#1.
fn encrypting_key(key: &RsaPublicKey) -> Result<PublicEncryptingKey, KeyError> {
    let refused = |e: &dyn std::fmt::Display| {
        KeyError::Malformed(format!("RSA public key for encryption: {e}"))
    };
    let spki = aws_lc_rs::rsa::PublicKey::from_der(key.pkcs1_der())
        .map_err(|e| refused(&e))?
        .as_der()
        .map_err(|e| refused(&e))?;
    PublicEncryptingKey::from_der(spki.as_ref()).map_err(|e| refused(&e))
}

/// The signing key pair as a decrypting key, through its PKCS#8 form (a buffer aws-lc-rs
/// zeroes when dropped).
fn decrypting_key(key: &RsaPrivateKey) -> Result<PrivateDecryptingKey, KeyError> {
    let refused = |e: &dyn std::fmt::Display| {
        KeyError::Malformed(format!("RSA private key for decryption: {e}"))
    };
    let pkcs8 = key.pair.as_der().map_err(|e| refused(&e))?;
    PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref()).map_err(|e| refused(&e))
}
