//! RSA encryption under ring, which has none: the RustCrypto `rsa` crate with `sha1` for
//! OAEP's SHA-1 and MGF1-SHA1, and the operating system's randomness through ring.

use ::rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _};
use ::rsa::pkcs8::DecodePrivateKey as _;
use ::rsa::{Oaep, Pkcs1v15Encrypt};

use super::{Padding, PrivateDer, RsaPrivateKey, RsaPublicKey};
use crate::error::KeyError;

/// Encrypts `plaintext`, which the caller has checked fits the key.
pub(super) fn encrypt(
    padding: Padding,
    plaintext: &[u8],
    key: &RsaPublicKey,
) -> Result<Vec<u8>, KeyError> {
    let public = ::rsa::RsaPublicKey::from_pkcs1_der(key.pkcs1_der())
        .map_err(|e| KeyError::Malformed(format!("RSA public key for encryption: {e}")))?;
    match padding {
        Padding::Oaep => public.encrypt(&mut SystemRng, Oaep::new::<sha1::Sha1>(), plaintext),
        Padding::Pkcs1v15 => public.encrypt(&mut SystemRng, Pkcs1v15Encrypt, plaintext),
    }
    .map_err(|_| padding.encryption_failed())
}

/// Decrypts `sealed` (with blinding) using the DER the private key was loaded from.
pub(super) fn decrypt(
    padding: Padding,
    sealed: &[u8],
    key: &RsaPrivateKey,
) -> Result<Vec<u8>, KeyError> {
    let private = match &*key.der {
        PrivateDer::Pkcs8(der) => {
            ::rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|e| e.to_string())
        }
        PrivateDer::Pkcs1(der) => {
            ::rsa::RsaPrivateKey::from_pkcs1_der(der).map_err(|e| e.to_string())
        }
    }
    .map_err(|e| KeyError::Malformed(format!("RSA private key for decryption: {e}")))?;
    match padding {
        Padding::Oaep => private.decrypt_blinded(&mut SystemRng, Oaep::new::<sha1::Sha1>(), sealed),
        Padding::Pkcs1v15 => private.decrypt_blinded(&mut SystemRng, Pkcs1v15Encrypt, sealed),
    }
    .map_err(|_| padding.decryption_failed())
}

/// The operating system's RNG (through ring) in the shape the `rsa` crate wants.
struct SystemRng;

impl ::rsa::rand_core::RngCore for SystemRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        crate::crypto::fill_random(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        crate::crypto::fill_random(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        crate::crypto::fill_random(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), ::rsa::rand_core::Error> {
        crate::crypto::fill_random(dest);
        Ok(())
    }
}

impl ::rsa::rand_core::CryptoRng for SystemRng {}
