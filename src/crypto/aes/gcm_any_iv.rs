//! AES-256-GCM for IVs that are not 96 bits, as NIST SP 800-38D (section 7) defines it.
//!
//! Both backends' AEADs take 96-bit nonces only. For any other length the pre-counter block is
//! `J0 = GHASH_H(IV || 0^(s+64) || [len(IV)]_64)` instead of `IV || 0^31 || 1`; the rest is
//! ordinary GCM: the keystream is `E(K, inc32(J0))`, `E(K, inc32(inc32(J0)))`, ... and the
//! tag is `E(K, J0) XOR GHASH_H(A || 0^v || C || 0^u || [len(A)]_64 || [len(C)]_64)`. AES
//! comes from the backend's block primitive ([`super::block`]), GHASH from the `ghash` crate.

use ghash::universal_hash::{KeyInit as _, UniversalHash as _};
use ghash::GHash;
use subtle::ConstantTimeEq as _;

use super::block::BlockEncryptor;
use super::{tag_mismatch, BLOCK, KEY_LEN};
use crate::error::KeyError;

/// SP 800-38D caps the plaintext at 2^39 - 256 bits: the 32-bit counter must not come back
/// to the block that masks the tag.
const MAX_TEXT: u64 = (1 << 36) - 32;

/// Encrypts `plaintext` and returns `ciphertext || tag`.
///
/// # Errors
/// [`KeyError::Malformed`] for an empty IV or a plaintext beyond GCM's limit.
pub(super) fn seal(
    plaintext: &[u8],
    key: &[u8; KEY_LEN],
    iv: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let gcm = Gcm::new(key)?;
    let (tag_mask, keystream) = gcm.keystream(iv, plaintext.len())?;
    let mut sealed: Vec<u8> = plaintext
        .iter()
        .zip(&keystream)
        .map(|(p, k)| p ^ k)
        .collect();
    let tag = gcm.tag(&tag_mask, aad, &sealed);
    sealed.extend_from_slice(&tag);
    Ok(sealed)
}

/// Checks the tag of `ciphertext || tag` and returns the plaintext.
///
/// # Errors
/// [`KeyError::Malformed`] for input shorter than the tag or an empty IV;
/// [`KeyError::Operation`] when the tag does not match.
pub(super) fn open(
    sealed: &[u8],
    key: &[u8; KEY_LEN],
    iv: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let Some(split) = sealed.len().checked_sub(BLOCK) else {
        return Err(super::too_short_for_tag(sealed.len()));
    };
    let (ciphertext, received_tag) = sealed.split_at(split);
    let gcm = Gcm::new(key)?;
    let (tag_mask, keystream) = gcm.keystream(iv, ciphertext.len())?;
    let expected_tag = gcm.tag(&tag_mask, aad, ciphertext);
    // Nothing is decrypted before the tag is known to be right, and the comparison takes the
    // same time wherever the first wrong byte is.
    if !bool::from(expected_tag.ct_eq(received_tag)) {
        return Err(tag_mismatch());
    }
    Ok(ciphertext
        .iter()
        .zip(&keystream)
        .map(|(c, k)| c ^ k)
        .collect())
}

struct Gcm {
    aes: BlockEncryptor,
    /// The hash subkey `H = E(K, 0^128)`.
    hash_key: ghash::Key,
}

impl Gcm {
    fn new(key: &[u8; KEY_LEN]) -> Result<Self, KeyError> {
        let aes = BlockEncryptor::new(key)?;
        let mut hash_key = ghash::Key::default();
        aes.encrypt(&mut hash_key)?;
        Ok(Self { aes, hash_key })
    }

    /// `J0 = GHASH_H(IV || 0^(s+64) || [len(IV)]_64)` (SP 800-38D, algorithm 4, step 2).
    fn pre_counter_block(&self, iv: &[u8]) -> [u8; BLOCK] {
        let mut ghash = GHash::new(&self.hash_key);
        ghash.update_padded(iv);
        ghash.update(&[lengths_block(0, iv.len())]);
        ghash.finalize().into()
    }

    /// `E(K, J0)` (the tag mask) and `len` bytes of keystream from `E(K, inc32(J0))` on,
    /// encrypted in one call over a buffer of counter blocks.
    fn keystream(&self, iv: &[u8], len: usize) -> Result<([u8; BLOCK], Vec<u8>), KeyError> {
        if iv.is_empty() {
            return Err(super::unsupported_iv(0));
        }
        if u64::try_from(len).map_or(true, |len| len > MAX_TEXT) {
            return Err(KeyError::Malformed(format!(
                "AES-GCM input of {len} bytes is longer than GCM allows (2^36 - 32 bytes)"
            )));
        }
        let mut blocks = counter_blocks(&self.pre_counter_block(iv), 1 + len.div_ceil(BLOCK));
        self.aes.encrypt(&mut blocks)?;
        let mut tag_mask = [0; BLOCK];
        tag_mask.copy_from_slice(&blocks[..BLOCK]);
        blocks.drain(..BLOCK);
        blocks.truncate(len);
        Ok((tag_mask, blocks))
    }

    /// `E(K, J0) XOR GHASH_H(A || 0^v || C || 0^u || [len(A)]_64 || [len(C)]_64)`.
    fn tag(&self, tag_mask: &[u8; BLOCK], aad: &[u8], ciphertext: &[u8]) -> [u8; BLOCK] {
        let mut ghash = GHash::new(&self.hash_key);
        ghash.update_padded(aad);
        ghash.update_padded(ciphertext);
        ghash.update(&[lengths_block(aad.len(), ciphertext.len())]);
        let mut tag: [u8; BLOCK] = ghash.finalize().into();
        for (t, m) in tag.iter_mut().zip(tag_mask) {
            *t ^= m;
        }
        tag
    }
}

/// `[8 * first]_64 || [8 * second]_64`: two lengths in bits, big-endian.
fn lengths_block(first: usize, second: usize) -> ghash::Block {
    let bits = |bytes: usize| (bytes as u64).wrapping_mul(8).to_be_bytes();
    let mut block = ghash::Block::default();
    block[..8].copy_from_slice(&bits(first));
    block[8..].copy_from_slice(&bits(second));
    block
}

/// `count` counter blocks `J0, inc32(J0), inc32(inc32(J0)), ...`. `inc32` adds one to the low
/// 32 bits modulo 2^32 and never carries into the upper 96 (SP 800-38D, section 6.2).
fn counter_blocks(j0: &[u8; BLOCK], count: usize) -> Vec<u8> {
    let mut low = [0; 4];
    low.copy_from_slice(&j0[12..]);
    let low = u32::from_be_bytes(low);
    let mut blocks = Vec::with_capacity(count * BLOCK);
    // `count` stays below 2^32 (MAX_TEXT), so the truncating cast only wraps what inc32 wraps.
    for i in 0..count {
        blocks.extend_from_slice(&j0[..12]);
        blocks.extend_from_slice(&low.wrapping_add(i as u32).to_be_bytes());
    }
    blocks
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    use crate::crypto::hex;

    const KEY: &[u8; KEY_LEN] = b"0123456789abcdef0123456789abcdef";

    /// Test cases 17 and 18 (AES-256, 8-byte and 60-byte IVs) of McGrew & Viega, "The
    /// Galois/Counter Mode of Operation (GCM)": the GCM specification's test cases 5 and 6
    /// for a 256-bit key. The 60-byte IV is beyond what `AesGcm` accepts, so it is checked
    /// here, on the construction itself.
    #[test]
    fn mcgrew_viega_test_cases_17_and_18() {
        let key: [u8; KEY_LEN] =
            hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
                .try_into()
                .unwrap();
        let plaintext = hex(concat!(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72",
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        ));
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let cases = [
            (
                "cafebabefacedbad",
                concat!(
                    "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0",
                    "feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f",
                ),
                "3a337dbf46a792c45e454913fe2ea8f2",
            ),
            (
                concat!(
                    "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728",
                    "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
                ),
                concat!(
                    "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4",
                    "0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
                ),
                "a44a8266ee1c8eb0c8b5d4cf5ae9f19a",
            ),
        ];
        for (iv, ciphertext, tag) in cases {
            let iv = hex(iv);
            let sealed = seal(&plaintext, &key, &iv, &aad).unwrap();
            assert_eq!(
                sealed,
                hex(&format!("{ciphertext}{tag}")),
                "IV {}",
                iv.len()
            );
            assert_eq!(open(&sealed, &key, &iv, &aad).unwrap(), plaintext);
        }
    }

    #[test]
    fn inc32_wraps_the_low_word_without_carrying() {
        let mut j0 = [0xab; BLOCK];
        j0[12..].copy_from_slice(&[0xff; 4]);
        let blocks = counter_blocks(&j0, 3);
        assert_eq!(&blocks[..BLOCK], &j0);
        assert_eq!(&blocks[BLOCK..BLOCK + 12], &[0xab; 12]);
        assert_eq!(&blocks[BLOCK + 12..2 * BLOCK], &[0, 0, 0, 0]);
        assert_eq!(&blocks[2 * BLOCK + 12..], &[0, 0, 0, 1]);
    }

    /// This IV makes `J0 = 5eed0fc0ffee5eed0fc0ffee ffffffff` under `KEY` (solved for in
    /// GF(2^128)), so the second keystream block comes from a wrapped counter. The sealed
    /// text is OpenSSL's (`cryptography`'s `AESGCM`), which implements inc32 as specified.
    #[test]
    fn a_wrapping_counter_matches_openssl() {
        let iv = hex("2cdee16c9daaae5f1ea46d80e807ea4d");
        let gcm = Gcm::new(KEY).unwrap();
        assert_eq!(
            gcm.pre_counter_block(&iv).to_vec(),
            hex("5eed0fc0ffee5eed0fc0ffeeffffffff")
        );
        let plaintext = b"inc32 wraps the low 32 bits, never carrying on!";
        let sealed = seal(plaintext, KEY, &iv, b"certificate").unwrap();
        assert_eq!(
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &sealed),
            "ccov4vJGoUHzE77+GJ4bCC/JORJXgVhNjGar+Ha1H4B66qFFWq0WlYgyCfjA1vC+0HJzG96ecM6tzM5b41k0"
        );
        assert_eq!(open(&sealed, KEY, &iv, b"certificate").unwrap(), plaintext);
    }

    #[test]
    fn every_tag_byte_is_checked() {
        let sealed = seal(b"payload", KEY, b"0123456789abcdef", b"aad").unwrap();
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x80;
            assert!(
                matches!(
                    open(&tampered, KEY, b"0123456789abcdef", b"aad"),
                    Err(KeyError::Operation(_))
                ),
                "byte {i}"
            );
        }
        assert!(matches!(
            open(&sealed, KEY, b"0123456789abcdef", b"aaD"),
            Err(KeyError::Operation(_))
        ));
    }

    #[test]
    fn empty_plaintext_is_a_bare_tag() {
        let sealed = seal(b"", KEY, b"0123456789abcdef", b"").unwrap();
        assert_eq!(sealed.len(), BLOCK);
        assert_eq!(open(&sealed, KEY, b"0123456789abcdef", b"").unwrap(), b"");
    }
}
