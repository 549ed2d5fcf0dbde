//! The digests a download is checked against, computed as the bytes pass with the crypto
//! backend's streaming digest (ring's or aws-lc-rs's `digest::Context`).

use std::fmt;
use std::str::FromStr;

use crate::crypto::backend::digest;
use crate::crypto::Hash;
use crate::error::VerifyError;

/// The digest algorithms WeChat Pay gives for downloads (a bill's `hash_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashType {
    /// `SHA1`: bills and statements.
    Sha1,
    /// `SHA256`.
    Sha256,
}

impl HashType {
    /// The name WeChat Pay uses in `hash_type`: `SHA1` or `SHA256`.
    pub fn as_str(self) -> &'static str {
        match self {
            HashType::Sha1 => "SHA1",
            HashType::Sha256 => "SHA256",
        }
    }

    /// The name in messages: `SHA-1` or `SHA-256`.
    pub(crate) fn display_name(self) -> &'static str {
        match self {
            HashType::Sha1 => "SHA-1",
            HashType::Sha256 => "SHA-256",
        }
    }

    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            HashType::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashType::Sha256 => &digest::SHA256,
        }
    }
}

impl fmt::Display for HashType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `hash_type` names no digest this crate computes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hash_type `{0}` (expected SHA1 or SHA256)")]
pub struct UnknownHashType(pub String);

impl FromStr for HashType {
    type Err = UnknownHashType;

    /// Parses `SHA1` / `SHA256`, ignoring case and a `-` (`sha-256`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let folded: String = s
            .trim()
            .chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        match folded.as_str() {
            "SHA1" => Ok(HashType::Sha1),
            "SHA256" => Ok(HashType::Sha256),
            _ => Err(UnknownHashType(s.chars().take(32).collect())),
        }
    }
}

/// A download's digest: the algorithm and the lowercase hex value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Digest {
    /// The algorithm.
    pub hash_type: HashType,
    /// The value, lowercase hex.
    pub hex: String,
}

/// A digest the bytes must have, and whether it came from the caller or from a statement's
/// header (each is checked).
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub(crate) hash_type: HashType,
    /// Lowercase hex, trimmed.
    pub(crate) hex: String,
}

impl Expected {
    pub(crate) fn new(hash_type: HashType, hex: &str) -> Self {
        Self {
            hash_type,
            hex: hex.trim().to_ascii_lowercase(),
        }
    }
}

/// The running digests of the bytes received so far, one per algorithm asked for.
pub(crate) struct Hashers {
    running: Vec<(HashType, digest::Context)>,
}

impl Hashers {
    /// One running digest for each distinct algorithm of `expected`.
    pub(crate) fn for_expected<'a>(expected: impl IntoIterator<Item = &'a Expected>) -> Self {
        let mut running: Vec<(HashType, digest::Context)> = Vec::new();
        for e in expected {
            if !running.iter().any(|(t, _)| *t == e.hash_type) {
                running.push((e.hash_type, digest::Context::new(e.hash_type.algorithm())));
            }
        }
        Self { running }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for (_, context) in &mut self.running {
            context.update(bytes);
        }
    }

    /// The final digests, in the order their algorithms were first asked for.
    pub(crate) fn finish(self) -> Vec<Digest> {
        self.running
            .into_iter()
            .map(|(hash_type, context)| Digest {
                hash_type,
                hex: hex_lower(context.finish().as_ref()),
            })
            .collect()
    }
}

/// Checks each expectation against `digests` (in constant time), returning the first
/// mismatch.
pub(crate) fn check<'a>(
    expected: impl IntoIterator<Item = &'a Expected>,
    digests: &[Digest],
) -> Result<(), VerifyError> {
    for e in expected {
        let actual = digests
            .iter()
            .find(|d| d.hash_type == e.hash_type)
            .map_or("", |d| d.hex.as_str());
        if !Hash::equals(actual, &e.hex) {
            return Err(VerifyError::DigestMismatch {
                algorithm: e.hash_type.display_name(),
                expected: e.hex.chars().take(128).collect(),
                actual: actual.to_string(),
            });
        }
    }
    Ok(())
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

impl fmt::Debug for Hashers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.running.iter().map(|(t, _)| t))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_digests_equal_the_one_shot_ones() {
        let expected = [
            Expected::new(HashType::Sha256, &Hash::sha256(b"hello world")),
            Expected::new(HashType::Sha1, &Hash::sha1(b"hello world").to_uppercase()),
        ];
        let mut hashers = Hashers::for_expected(&expected);
        hashers.update(b"hello");
        hashers.update(b" world");
        let digests = hashers.finish();
        assert_eq!(digests[0].hex, Hash::sha256(b"hello world"));
        assert_eq!(digests[1].hex, Hash::sha1(b"hello world"));
        assert!(check(&expected, &digests).is_ok());
        let wrong = [Expected::new(HashType::Sha1, &Hash::sha1(b"hello"))];
        assert!(matches!(
            check(&wrong, &digests),
            Err(VerifyError::DigestMismatch {
                algorithm: "SHA-1",
                ..
            })
        ));
    }

    #[test]
    fn hash_type_names_parse_leniently() {
        assert_eq!("SHA1".parse::<HashType>(), Ok(HashType::Sha1));
        assert_eq!("sha-256".parse::<HashType>(), Ok(HashType::Sha256));
        assert!("MD5".parse::<HashType>().is_err());
        assert_eq!(HashType::Sha256.to_string(), "SHA256");
    }
}
