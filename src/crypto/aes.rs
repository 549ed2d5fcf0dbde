//! AES as WeChat Pay uses it: AEAD_AES_256_GCM for APIv3 resources (notifications, platform
//! certificates) and AES-256-ECB with PKCS#7 padding for APIv2 refund notifications.
//!
//! 12-byte nonces (every APIv3 resource) go through ring's hardware-accelerated AES-GCM.
//! Other IV lengths, which PHP's `openssl_encrypt` also accepts, use the RustCrypto `aes-gcm`
//! crate with the matching nonce size (NIST SP 800-38D derives the initial counter block with
//! GHASH when the IV is not 96 bits). AES-ECB comes from the `aes` crate: ring has no ECB.

use std::fmt;

use aes::cipher::{
    generic_array::GenericArray, BlockDecrypt as _, BlockEncrypt as _, KeyInit as _,
};
use base64::Engine as _;

use crate::error::KeyError;

/// AES block size, and the GCM tag length WeChat Pay uses.
const BLOCK: usize = 16;
/// AES-256 key length.
const KEY_LEN: usize = 32;

/// The merchant's APIv3 key (32 bytes): the AES-256-GCM key of notifications and platform
/// certificates. `Debug` prints `<redacted>`.
///
/// # Examples
/// ```
/// use wechatpay::crypto::ApiV3Key;
/// let key = ApiV3Key::new("0123456789abcdef0123456789abcdef")?;
/// assert_eq!(format!("{key:?}"), "ApiV3Key(<redacted>)");
/// assert!(ApiV3Key::new("too short").is_err());
/// # Ok::<(), wechatpay::error::KeyError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiV3Key([u8; KEY_LEN]);

impl ApiV3Key {
    /// Wraps the APIv3 key as set in the merchant platform (32 ASCII characters).
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when the key is not exactly 32 bytes; the message gives the
    /// length, never the key.
    pub fn new(key: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let key = key.as_ref();
        <[u8; KEY_LEN]>::try_from(key)
            .map(Self)
            .map_err(|_| key_length_error("APIv3 key", key.len()))
    }

    /// The raw key bytes, for passing to [`AesGcm`].
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV3Key(<redacted>)")
    }
}

fn key_length_error(what: &str, len: usize) -> KeyError {
    KeyError::Malformed(format!("{what} must be 32 bytes for AES-256, got {len}"))
}

fn aes256(key: &[u8]) -> Result<aes::Aes256, KeyError> {
    if key.len() != KEY_LEN {
        return Err(key_length_error("AES-256 key", key.len()));
    }
    aes::Aes256::new_from_slice(key).map_err(|_| key_length_error("AES-256 key", key.len()))
}

fn decode_base64(text: &str, what: &str) -> Result<Vec<u8>, KeyError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| KeyError::Malformed(format!("{what} is not valid base64")))
}

/// AEAD_AES_256_GCM with a 16-byte tag appended to the ciphertext (wechatpay-php's `AesGcm`).
#[derive(Debug, Clone, Copy)]
pub struct AesGcm;

impl AesGcm {
    /// Encrypts `plaintext` and returns base64 of `ciphertext || tag`.
    ///
    /// `key` must be 32 bytes (the APIv3 key); `iv` is usually 12 bytes (WeChat Pay's
    /// `nonce`), but any length from 1 to 32 bytes is accepted, as openssl does; `aad` may be
    /// empty.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] for a key that is not 32 bytes or an unsupported IV length.
    ///
    /// # Examples
    /// ```
    /// use wechatpay::crypto::AesGcm;
    /// let key = b"0123456789abcdef0123456789abcdef";
    /// let sealed = AesGcm::encrypt(b"hello", key, b"0123456789ab", b"certificate")?;
    /// assert_eq!(sealed, "8cyLViwuyN4D6+jaX5Ea+OGy5PP9");
    /// assert_eq!(AesGcm::decrypt(&sealed, key, b"0123456789ab", b"certificate")?, b"hello");
    /// # Ok::<(), wechatpay::error::KeyError>(())
    /// ```
    pub fn encrypt(
        plaintext: &[u8],
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
    ) -> Result<String, KeyError> {
        let sealed = Self::seal(plaintext, key, iv, aad)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    /// Decrypts base64 `ciphertext || tag` and checks the tag.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] for bad base64, input shorter than the tag, a key that is not
    /// 32 bytes or an unsupported IV length; [`KeyError::Operation`] when the tag does not
    /// match (wrong key, nonce or AAD, or tampered ciphertext).
    pub fn decrypt(
        ciphertext_base64: &str,
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let sealed = decode_base64(ciphertext_base64, "AES-GCM ciphertext")?;
        Self::open(&sealed, key, iv, aad)
    }

    /// Encrypts raw bytes: returns `ciphertext || tag` without base64.
    ///
    /// # Errors
    /// As [`AesGcm::encrypt`].
    pub fn seal(plaintext: &[u8], key: &[u8], iv: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        if key.len() != KEY_LEN {
            return Err(key_length_error("AES-256-GCM key", key.len()));
        }
        if iv.len() == 12 {
            return ring_gcm::seal(plaintext, key, iv, aad);
        }
        rust_gcm::seal(plaintext, key, iv, aad)
    }

    /// Decrypts raw `ciphertext || tag` without base64.
    ///
    /// # Errors
    /// As [`AesGcm::decrypt`].
    pub fn open(sealed: &[u8], key: &[u8], iv: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        if key.len() != KEY_LEN {
            return Err(key_length_error("AES-256-GCM key", key.len()));
        }
        if sealed.len() < BLOCK {
            return Err(KeyError::Malformed(format!(
                "AES-GCM input is {} bytes, shorter than its 16-byte tag",
                sealed.len()
            )));
        }
        if iv.len() == 12 {
            return ring_gcm::open(sealed, key, iv, aad);
        }
        rust_gcm::open(sealed, key, iv, aad)
    }
}

fn tag_mismatch() -> KeyError {
    KeyError::Operation(
        "AES-GCM authentication failed: wrong key, nonce or AAD, or tampered data".into(),
    )
}

mod ring_gcm {
    use crate::crypto::backend::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

    use super::{key_length_error, tag_mismatch};
    use crate::error::KeyError;

    fn key(key: &[u8]) -> Result<LessSafeKey, KeyError> {
        UnboundKey::new(&AES_256_GCM, key)
            .map(LessSafeKey::new)
            .map_err(|_| key_length_error("AES-256-GCM key", key.len()))
    }

    fn nonce(iv: &[u8]) -> Result<Nonce, KeyError> {
        Nonce::try_assume_unique_for_key(iv)
            .map_err(|_| KeyError::Malformed(format!("AES-GCM nonce of {} bytes", iv.len())))
    }

    pub(super) fn seal(
        plaintext: &[u8],
        k: &[u8],
        iv: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let mut buf = plaintext.to_vec();
        key(k)?
            .seal_in_place_append_tag(nonce(iv)?, Aad::from(aad), &mut buf)
            .map_err(|_| KeyError::Operation("AES-GCM encryption failed".into()))?;
        Ok(buf)
    }

    pub(super) fn open(
        sealed: &[u8],
        k: &[u8],
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
}

mod rust_gcm {
    use aes_gcm::aead::consts::{
        U1, U10, U11, U13, U14, U15, U16, U17, U18, U19, U2, U20, U21, U22, U23, U24, U25, U26,
        U27, U28, U29, U3, U30, U31, U32, U4, U5, U6, U7, U8, U9,
    };
    use aes_gcm::aead::generic_array::{ArrayLength, GenericArray};
    use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};

    use super::{key_length_error, tag_mismatch};
    use crate::error::KeyError;

    type Gcm<N> = aes_gcm::AesGcm<aes_gcm::aes::Aes256, N>;

    fn cipher<N: ArrayLength<u8>>(key: &[u8]) -> Result<Gcm<N>, KeyError> {
        Gcm::<N>::new_from_slice(key).map_err(|_| key_length_error("AES-256-GCM key", key.len()))
    }

    fn seal_n<N: ArrayLength<u8>>(
        msg: &[u8],
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        // The caller matched `iv.len()` against `N`, so the conversion cannot fail.
        let nonce = GenericArray::<u8, N>::from_exact_iter(iv.iter().copied())
            .ok_or_else(|| unsupported_iv(iv.len()))?;
        cipher::<N>(key)?
            .encrypt(&nonce, Payload { msg, aad })
            .map_err(|_| KeyError::Operation("AES-GCM encryption failed".into()))
    }

    fn open_n<N: ArrayLength<u8>>(
        msg: &[u8],
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let nonce = GenericArray::<u8, N>::from_exact_iter(iv.iter().copied())
            .ok_or_else(|| unsupported_iv(iv.len()))?;
        cipher::<N>(key)?
            .decrypt(&nonce, Payload { msg, aad })
            .map_err(|_| tag_mismatch())
    }

    fn unsupported_iv(len: usize) -> KeyError {
        KeyError::Malformed(format!(
            "AES-GCM IV of {len} bytes; 1 to 32 bytes are supported"
        ))
    }

    /// Picks the `aes-gcm` instantiation whose nonce size is the IV's length.
    macro_rules! by_iv_len {
        ($f:ident, $msg:expr, $key:expr, $iv:expr, $aad:expr; $($n:literal => $t:ty),* $(,)?) => {
            match $iv.len() {
                $($n => $f::<$t>($msg, $key, $iv, $aad),)*
                other => Err(unsupported_iv(other)),
            }
        };
    }

    macro_rules! dispatch {
        ($f:ident, $msg:expr, $key:expr, $iv:expr, $aad:expr) => {
            by_iv_len!($f, $msg, $key, $iv, $aad;
                1 => U1, 2 => U2, 3 => U3, 4 => U4, 5 => U5, 6 => U6, 7 => U7, 8 => U8,
                9 => U9, 10 => U10, 11 => U11, 13 => U13, 14 => U14, 15 => U15, 16 => U16,
                17 => U17, 18 => U18, 19 => U19, 20 => U20, 21 => U21, 22 => U22, 23 => U23,
                24 => U24, 25 => U25, 26 => U26, 27 => U27, 28 => U28, 29 => U29, 30 => U30,
                31 => U31, 32 => U32,
            )
        };
    }

    pub(super) fn seal(msg: &[u8], key: &[u8], iv: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        dispatch!(seal_n, msg, key, iv, aad)
    }

    pub(super) fn open(msg: &[u8], key: &[u8], iv: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        dispatch!(open_n, msg, key, iv, aad)
    }
}

/// AES-256-ECB with PKCS#7 padding, base64 in and out (wechatpay-php's `AesEcb`).
///
/// Only for APIv2 refund notifications, whose `req_info` WeChat Pay encrypts this way with the
/// lower-case hex MD5 of the APIv2 key. ECB leaks equal blocks and is unauthenticated: never
/// use it for anything new.
#[derive(Debug, Clone, Copy)]
pub struct AesEcb;

impl AesEcb {
    /// Encrypts `plaintext` (PKCS#7 padded) and returns base64.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when `key` is not 32 bytes.
    ///
    /// # Examples
    /// ```
    /// use wechatpay::crypto::AesEcb;
    /// let key = b"0123456789abcdef0123456789abcdef";
    /// assert_eq!(AesEcb::encrypt(b"hello", key)?, "pZwJZBLuy3mDACEQT4YTBw==");
    /// assert_eq!(AesEcb::decrypt("pZwJZBLuy3mDACEQT4YTBw==", key)?, b"hello");
    /// # Ok::<(), wechatpay::error::KeyError>(())
    /// ```
    pub fn encrypt(plaintext: &[u8], key: &[u8]) -> Result<String, KeyError> {
        let cipher = aes256(key)?;
        let pad = BLOCK - plaintext.len() % BLOCK;
        let mut buf = Vec::with_capacity(plaintext.len() + pad);
        buf.extend_from_slice(plaintext);
        // `pad` is 1..=16, so the cast cannot truncate.
        buf.resize(plaintext.len() + pad, pad as u8);
        for block in buf.chunks_exact_mut(BLOCK) {
            cipher.encrypt_block(GenericArray::from_mut_slice(block));
        }
        Ok(base64::engine::general_purpose::STANDARD.encode(buf))
    }

    /// Decrypts base64 input and removes the PKCS#7 padding.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] for a key that is not 32 bytes, bad base64 or a length that is
    /// not a whole number of blocks; [`KeyError::Operation`] when the padding is invalid, which
    /// almost always means the wrong key.
    pub fn decrypt(ciphertext_base64: &str, key: &[u8]) -> Result<Vec<u8>, KeyError> {
        let cipher = aes256(key)?;
        let mut buf = decode_base64(ciphertext_base64, "AES-ECB ciphertext")?;
        if buf.is_empty() || buf.len() % BLOCK != 0 {
            return Err(KeyError::Malformed(format!(
                "AES-ECB input is {} bytes, not a positive multiple of 16",
                buf.len()
            )));
        }
        for block in buf.chunks_exact_mut(BLOCK) {
            cipher.decrypt_block(GenericArray::from_mut_slice(block));
        }
        let bad_padding = || {
            KeyError::Operation("AES-ECB padding is invalid: wrong key or corrupted data".into())
        };
        let pad = usize::from(*buf.last().ok_or_else(bad_padding)?);
        if pad == 0
            || pad > BLOCK
            || !buf[buf.len() - pad..]
                .iter()
                .all(|&b| usize::from(b) == pad)
        {
            return Err(bad_padding());
        }
        buf.truncate(buf.len() - pad);
        Ok(buf)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    const KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn gcm_round_trips_every_supported_iv_length() {
        for len in 1..=32usize {
            let iv: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let sealed = AesGcm::encrypt(b"payload", KEY, &iv, b"aad").unwrap();
            assert_eq!(
                AesGcm::decrypt(&sealed, KEY, &iv, b"aad").unwrap(),
                b"payload",
                "{len}"
            );
        }
        assert!(AesGcm::encrypt(b"x", KEY, &[0; 33], b"").is_err());
        assert!(AesGcm::encrypt(b"x", KEY, &[], b"").is_err());
    }

    #[test]
    fn gcm_rejects_wrong_key_length_and_short_input() {
        assert!(matches!(
            AesGcm::encrypt(b"x", b"short", b"0123456789ab", b""),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            AesGcm::open(&[0; 15], KEY, b"0123456789ab", b""),
            Err(KeyError::Malformed(_))
        ));
    }

    #[test]
    fn ecb_pads_whole_blocks() {
        let sealed = AesEcb::encrypt(&[7; 16], KEY).unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&sealed)
                .unwrap()
                .len(),
            32
        );
        assert_eq!(AesEcb::decrypt(&sealed, KEY).unwrap(), vec![7; 16]);
        assert_eq!(
            AesEcb::decrypt(&AesEcb::encrypt(b"", KEY).unwrap(), KEY).unwrap(),
            b""
        );
    }
}
