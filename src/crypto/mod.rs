//! The crypto toolbox beneath the client, usable on its own: the same tools wechatpay-php
//! exposes (`Rsa`, `AesGcm`, `AesEcb`, `Hash`, `Formatter`, `PemUtil`) for notifications,
//! sensitive fields, APIv2 signatures and JSAPI signatures.
//!
//! Every function here is pure: time and randomness are either parameters or clearly named
//! (`Formatter::nonce`, `Formatter::timestamp`), so fixed vectors can test them.
//!
//! | wechatpay-php | here |
//! | --- | --- |
//! | `Rsa::from`, `sign`, `verify` | [`Rsa::from_private`], [`Rsa::from_public`], [`Rsa::sign`], [`Rsa::verify`] |
//! | `Rsa::encrypt`, `Rsa::decrypt` (OAEP) | [`Rsa::encrypt`], [`Rsa::decrypt`] |
//! | `AesGcm::encrypt`, `decrypt` | [`AesGcm::encrypt`], [`AesGcm::decrypt`] |
//! | `AesEcb::encrypt`, `decrypt` | [`AesEcb::encrypt`], [`AesEcb::decrypt`] |
//! | `Hash::md5`, `hmac`, `sign` | [`Hash::md5_with_key`], [`Hash::hmac_sha256_with_key`], [`Hash::sign`] |
//! | `Formatter::ksort`, `queryStringLike` | [`Formatter::ksort`], [`Formatter::query_string_like`] |

mod aes;
mod formatter;
mod hash;
mod pem;
// `self::` because the `rsa` crate shares the name.
mod rsa;

pub use self::aes::{AesEcb, AesGcm, ApiV3Key};
pub use self::formatter::{Formatter, SignValue};
pub use self::hash::{ApiV2Key, Hash, HashAlgorithm, UnknownHashAlgorithm};
pub(crate) use self::pem::unix_seconds;
pub use self::pem::{CertificateInfo, PemBlock, PemUtil};
pub use self::rsa::{Rsa, RsaPrivateKey, RsaPublicKey};

// One crypto library backs everything: aws-lc-rs when its feature is on (it wins when both
// are, as with `--all-features`), ring otherwise. Both expose the same API, so the rest of the
// crate names only `backend`.
#[cfg(feature = "aws-lc-rs")]
pub(crate) use aws_lc_rs as backend;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
pub(crate) use ring as backend;
#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!(
    "wechatpay needs a crypto backend: enable the `ring` (default) or `aws-lc-rs` feature"
);

/// The name of the crypto library in use: `"aws-lc-rs"` or `"ring"`.
pub const BACKEND: &str = if cfg!(feature = "aws-lc-rs") {
    "aws-lc-rs"
} else {
    "ring"
};

/// Fills `buf` from the operating system's secure random source.
pub(crate) fn fill_random(buf: &mut [u8]) {
    use backend::rand::SecureRandom as _;
    // The system RNG fails only when the OS cannot provide entropy at all; there is no
    // safe fallback for key material, so that is treated as fatal.
    #[allow(clippy::expect_used)]
    backend::rand::SystemRandom::new()
        .fill(buf)
        .expect("the operating system's random source is unavailable");
}

/// Test vectors are written in hex.
#[cfg(test)]
pub(crate) fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("a hex test vector"))
        .collect()
}
