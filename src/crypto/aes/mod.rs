//! AES as WeChat Pay uses it: AEAD_AES_256_GCM for APIv3 resources (notifications, platform
//! certificates) and AES-256-ECB with PKCS#7 padding for APIv2 refund notifications.
//!
//! 12-byte nonces (every APIv3 resource) go through the backend's hardware-accelerated AEAD
//! ([`gcm_aead`]). Other IV lengths, which PHP's `openssl_encrypt` also accepts, follow NIST
//! SP 800-38D over the backend's AES block primitive and GHASH ([`gcm_any_iv`]). AES-ECB uses
//! that same block primitive ([`block`]).

mod block;
mod gcm_aead;
mod gcm_any_iv;

use std::fmt;

use base64::Engine as _;

use self::block::{BlockDecryptor, BlockEncryptor};

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

/// `key` as an AES-256 key; `what` names it in the error.
fn aes256_key<'k>(key: &'k [u8], what: &str) -> Result<&'k [u8; KEY_LEN], KeyError> {
    key.try_into()
        .map_err(|_| key_length_error(what, key.len()))
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
        let key = aes256_key(key, "AES-256-GCM key")?;
        match iv.len() {
            12 => gcm_aead::seal(plaintext, key, iv, aad),
            1..=32 => gcm_any_iv::seal(plaintext, key, iv, aad),
            other => Err(unsupported_iv(other)),
        }
    }

    /// Decrypts raw `ciphertext || tag` without base64.
    ///
    /// # Errors
    /// As [`AesGcm::decrypt`].
    pub fn open(sealed: &[u8], key: &[u8], iv: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        let key = aes256_key(key, "AES-256-GCM key")?;
        if sealed.len() < BLOCK {
            return Err(too_short_for_tag(sealed.len()));
        }
        match iv.len() {
            12 => gcm_aead::open(sealed, key, iv, aad),
            1..=32 => gcm_any_iv::open(sealed, key, iv, aad),
            other => Err(unsupported_iv(other)),
        }
    }
}

fn tag_mismatch() -> KeyError {
    KeyError::Operation(
        "AES-GCM authentication failed: wrong key, nonce or AAD, or tampered data".into(),
    )
}

fn too_short_for_tag(len: usize) -> KeyError {
    KeyError::Malformed(format!(
        "AES-GCM input is {len} bytes, shorter than its 16-byte tag"
    ))
}

fn unsupported_iv(len: usize) -> KeyError {
    KeyError::Malformed(format!(
        "AES-GCM IV of {len} bytes; 1 to 32 bytes are supported"
    ))
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
        let cipher = BlockEncryptor::new(aes256_key(key, "AES-256 key")?)?;
        let pad = BLOCK - plaintext.len() % BLOCK;
        let mut buf = Vec::with_capacity(plaintext.len() + pad);
        buf.extend_from_slice(plaintext);
        // `pad` is 1..=16, so the cast cannot truncate.
        buf.resize(plaintext.len() + pad, pad as u8);
        cipher.encrypt(&mut buf)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(buf))
    }

    /// Decrypts base64 input and removes the PKCS#7 padding.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] for a key that is not 32 bytes, bad base64 or a length that is
    /// not a whole number of blocks; [`KeyError::Operation`] when the padding is invalid, which
    /// almost always means the wrong key.
    pub fn decrypt(ciphertext_base64: &str, key: &[u8]) -> Result<Vec<u8>, KeyError> {
        let cipher = BlockDecryptor::new(aes256_key(key, "AES-256 key")?)?;
        let mut buf = decode_base64(ciphertext_base64, "AES-ECB ciphertext")?;
        if buf.is_empty() || buf.len() % BLOCK != 0 {
            return Err(KeyError::Malformed(format!(
                "AES-ECB input is {} bytes, not a positive multiple of 16",
                buf.len()
            )));
        }
        cipher.decrypt(&mut buf)?;
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
        for len in [0, 33] {
            let iv = vec![0; len];
            let expected = format!("AES-GCM IV of {len} bytes; 1 to 32 bytes are supported");
            for err in [
                AesGcm::encrypt(b"x", KEY, &iv, b"").unwrap_err(),
                AesGcm::open(&[0; 16], KEY, &iv, b"").unwrap_err(),
            ] {
                assert!(
                    matches!(&err, KeyError::Malformed(m) if *m == expected),
                    "{err}"
                );
            }
        }
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
