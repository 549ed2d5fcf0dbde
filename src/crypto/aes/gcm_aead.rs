//! AES-256-GCM with a 96-bit nonce (every APIv3 resource) through the backend's AEAD, which is
//! hardware-accelerated on both ring and aws-lc-rs.

use super::{tag_mismatch, KEY_LEN};
use crate::crypto::backend::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use crate::error::KeyError;

fn key(key: &[u8; KEY_LEN]) -> Result<LessSafeKey, KeyError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| KeyError::Operation("the AES-GCM key was refused".into()))
}

fn nonce(iv: &[u8]) -> Result<Nonce, KeyError> {
    Nonce::try_assume_unique_for_key(iv)
        .map_err(|_| KeyError::Malformed(format!("AES-GCM nonce of {} bytes", iv.len())))
}

/// Encrypts `plaintext` and returns `ciphertext || tag`.
pub(super) fn seal(
    plaintext: &[u8],
    k: &[u8; KEY_LEN],
    iv: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let mut buf = plaintext.to_vec();
    key(k)?
        .seal_in_place_append_tag(nonce(iv)?, Aad::from(aad), &mut buf)
        .map_err(|_| KeyError::Operation("AES-GCM encryption failed".into()))?;
    Ok(buf)
}

/// Checks the tag of `ciphertext || tag` and returns the plaintext.
pub(super) fn open(
    sealed: &[u8],
    k: &[u8; KEY_LEN],
    iv: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let mut buf = sealed.to_vec();
    let len = key(k)?
        .open_in_place(nonce(iv)?, Aad::from(aad), &mut buf)
        .map_err(|_| tag_mismatch())?
        .len();
    buf.truncate(len);
    Ok(buf)
}
