//! The crypto toolbox beneath the client, usable on its own: the same tools wechatpay-php
//! exposes (`Rsa`, `Formatter`, `PemUtil`) for callbacks, sensitive fields and JSAPI signatures.
//!
//! Every function here is pure: time and randomness are either parameters or clearly named
//! (`Formatter::nonce`, `Formatter::timestamp`), so fixed vectors can test them.

mod formatter;
mod pem;
mod rsa;

pub use formatter::Formatter;
pub use pem::{CertificateInfo, PemBlock, PemUtil};
pub use rsa::{Rsa, RsaPrivateKey, RsaPublicKey};

/// Fills `buf` from the operating system's secure random source.
pub(crate) fn fill_random(buf: &mut [u8]) {
    use ring::rand::SecureRandom as _;
    // The system RNG fails only when the OS cannot provide entropy at all; there is no
    // safe fallback for key material, so that is treated as fatal.
    #[allow(clippy::expect_used)]
    ring::rand::SystemRandom::new()
        .fill(buf)
        .expect("the operating system's random source is unavailable");
}
