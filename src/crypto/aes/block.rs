//! AES-256 applied to whole 16-byte blocks in place (ECB): the one block-cipher primitive that
//! AES-ECB and GCM with IVs that are not 96 bits are built from.
//!
//! aws-lc-rs has it (`cipher`, `OperatingMode::ECB`); ring exposes no bare AES, so the
//! RustCrypto `aes` crate provides it under ring.

use super::{BLOCK, KEY_LEN};
use crate::error::KeyError;

/// Encrypts blocks under one AES-256 key.
pub(super) struct BlockEncryptor(Encryptor);

/// Decrypts blocks under one AES-256 key.
pub(super) struct BlockDecryptor(Decryptor);

impl BlockEncryptor {
    /// Expands `key` for encryption.
    pub(super) fn new(key: &[u8; KEY_LEN]) -> Result<Self, KeyError> {
        Encryptor::new(key).map(Self)
    }

    /// Encrypts each 16-byte block of `blocks` in place, in one call to the backend.
    ///
    /// # Errors
    /// [`KeyError::Operation`] if the backend fails, which a whole number of blocks never
    /// makes it do.
    pub(super) fn encrypt(&self, blocks: &mut [u8]) -> Result<(), KeyError> {
        debug_assert_eq!(blocks.len() % BLOCK, 0);
        self.0.encrypt(blocks)
    }
}

impl BlockDecryptor {
    /// Expands `key` for decryption.
    pub(super) fn new(key: &[u8; KEY_LEN]) -> Result<Self, KeyError> {
        Decryptor::new(key).map(Self)
    }

    /// Decrypts each 16-byte block of `blocks` in place.
    ///
    /// # Errors
    /// As [`BlockEncryptor::encrypt`].
    pub(super) fn decrypt(&self, blocks: &mut [u8]) -> Result<(), KeyError> {
        debug_assert_eq!(blocks.len() % BLOCK, 0);
        self.0.decrypt(blocks)
    }
}

#[cfg(feature = "aws-lc-rs")]
use aws_lc::{Decryptor, Encryptor};

#[cfg(feature = "aws-lc-rs")]
mod aws_lc {
    use aws_lc_rs::cipher::{DecryptingKey, EncryptingKey, UnboundCipherKey, AES_256};

    use crate::crypto::aes::KEY_LEN;
    use crate::error::KeyError;

    fn backend_failure() -> KeyError {
        KeyError::Operation("the AES block cipher failed".into())
    }

    pub(super) struct Encryptor(EncryptingKey);
    pub(super) struct Decryptor(DecryptingKey);

    impl Encryptor {
        pub(super) fn new(key: &[u8; KEY_LEN]) -> Result<Self, KeyError> {
            UnboundCipherKey::new(&AES_256, key)
                .and_then(EncryptingKey::ecb)
                .map(Self)
                .map_err(|_| backend_failure())
        }

        pub(super) fn encrypt(&self, blocks: &mut [u8]) -> Result<(), KeyError> {
            self.0
                .encrypt(blocks)
                .map(|_| ())
                .map_err(|_| backend_failure())
        }
    }

    impl Decryptor {
        pub(super) fn new(key: &[u8; KEY_LEN]) -> Result<Self, KeyError> {
            UnboundCipherKey::new(&AES_256, key)
                .and_then(DecryptingKey::ecb)
                .map(Self)
                .map_err(|_| backend_failure())
        }

        pub(super) fn decrypt(&self, blocks: &mut [u8]) -> Result<(), KeyError> {
            self.0
                .decrypt(blocks, aws_lc_rs::cipher::DecryptionContext::None)
                .map(|_| ())
                .map_err(|_| backend_failure())
        }
    }
}

#[cfg(not(feature = "aws-lc-rs"))]
use rust_crypto::{Decryptor, Encryptor};

#[cfg(not(feature = "aws-lc-rs"))]
mod rust_crypto {
    use ::aes::cipher::{
        generic_array::GenericArray, BlockDecrypt as _, BlockEncrypt as _, KeyInit as _,
    };
    use ::aes::Aes256;

    use crate::crypto::aes::{BLOCK, KEY_LEN};
    use crate::error::KeyError;

    pub(super) struct Encryptor(Aes256);
    pub(super) struct Decryptor(Aes256);

    impl Encryptor {
        pub(super) fn new(key: &[u8; KEY_LEN]) -> Result<Self, KeyError> {
            Ok(Self(Aes256::new(key.into())))
        }

        pub(super) fn encrypt(&self, blocks: &mut [u8]) -> Result<(), KeyError> {
            for block in blocks.chunks_exact_mut(BLOCK) {
                self.0.encrypt_block(GenericArray::from_mut_slice(block));
            }
            Ok(())
        }
    }

    impl Decryptor {
        pub(super) fn new(key: &[u8; KEY_LEN]) -> Result<Self, KeyError> {
            Ok(Self(Aes256::new(key.into())))
        }

        pub(super) fn decrypt(&self, blocks: &mut [u8]) -> Result<(), KeyError> {
            for block in blocks.chunks_exact_mut(BLOCK) {
                self.0.decrypt_block(GenericArray::from_mut_slice(block));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    use crate::crypto::hex;

    /// NIST SP 800-38A, F.1.5 and F.1.6 (ECB-AES256), all four blocks in one call.
    #[test]
    fn sp800_38a_ecb_aes256_vectors() {
        let key: [u8; KEY_LEN] =
            hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
                .try_into()
                .unwrap();
        let plaintext = hex(concat!(
            "6bc1bee22e409f96e93d7e117393172a",
            "ae2d8a571e03ac9c9eb76fac45af8e51",
            "30c81c46a35ce411e5fbc1191a0a52ef",
            "f69f2445df4f9b17ad2b417be66c3710",
        ));
        let ciphertext = hex(concat!(
            "f3eed1bdb5d2a03c064b5a7e3db181f8",
            "591ccb10d410ed26dc5ba74a31362870",
            "b6ed21b99ca6f4f9f153e7b1beafed1d",
            "23304b7a39f9f3ff067d8d8f9e24ecc7",
        ));
        let mut buf = plaintext.clone();
        BlockEncryptor::new(&key)
            .unwrap()
            .encrypt(&mut buf)
            .unwrap();
        assert_eq!(buf, ciphertext);
        BlockDecryptor::new(&key)
            .unwrap()
            .decrypt(&mut buf)
            .unwrap();
        assert_eq!(buf, plaintext);
    }
}
