//! RSA keys in every form wechatpay-php's `Rsa::from` accepts, SHA256withRSA signatures, and
//! RSA-OAEP (SHA-1, MGF1-SHA1) encryption of sensitive fields.
//!
//! Signing and verification use the crypto backend. So do encryption and decryption under
//! aws-lc-rs; ring has no RSA encryption, so under ring they use the RustCrypto `rsa` crate.
//! PKCS#1 v1.5 encryption is available only through the explicitly named
//! [`Rsa::encrypt_pkcs1v15`] and [`Rsa::decrypt_pkcs1v15`].
//!
//! Accepted sources, for private and public keys alike:
//! - PEM text: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1), `ENCRYPTED PRIVATE KEY`
//!   (PKCS#8 with a passphrase), `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1) and
//!   `CERTIFICATE` (X.509, for its public key);
//! - `file:///absolute/path` or `file://relative/path`, whose contents are any of the above
//!   (PEM or DER);
//! - the pseudo-URLs `private.pkcs1://`, `private.pkcs8://`, `public.pkcs1://` and
//!   `public.spki://` followed by the base64 DER.

mod load;

// One file per backend for RSA encryption; each has `encrypt` and `decrypt` with the same
// signatures. aws-lc-rs wins when both features are on, as everywhere in the crate.
#[cfg(feature = "aws-lc-rs")]
mod aws_lc_encryption;
#[cfg(feature = "aws-lc-rs")]
use aws_lc_encryption as encryption;
#[cfg(not(feature = "aws-lc-rs"))]
mod rust_crypto_encryption;
#[cfg(not(feature = "aws-lc-rs"))]
use rust_crypto_encryption as encryption;

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use x509_cert::der::Decode as _;

use super::backend::signature::RsaKeyPair;
use super::pem::RSA_ENCRYPTION;
use crate::error::KeyError;

/// An RSA private key, ready to sign. Cloning is cheap; `Debug` shows no key material.
#[derive(Clone)]
pub struct RsaPrivateKey {
    pair: Arc<RsaKeyPair>,
    /// ring cannot hand its key back, and the `rsa` crate that decrypts under ring needs it:
    /// keep the DER it was loaded from. aws-lc-rs decrypts with `pair` itself.
    #[cfg(not(feature = "aws-lc-rs"))]
    der: Arc<PrivateDer>,
}

/// Unencrypted private-key DER with the form it is in; never printed.
enum PrivateDer {
    Pkcs8(Vec<u8>),
    Pkcs1(Vec<u8>),
}

/// An RSA public key (from a key file or a certificate), ready to verify.
#[derive(Clone)]
pub struct RsaPublicKey {
    /// PKCS#1 `RSAPublicKey` DER, the form ring verifies with.
    pkcs1: Arc<[u8]>,
    bits: usize,
    /// aws-lc-rs can keep a key parsed; parsing on every check cost as much as a fifth of
    /// the check. ring has no such form and parses each time.
    #[cfg(feature = "aws-lc-rs")]
    parsed: Arc<std::sync::OnceLock<Option<aws_lc_rs::signature::ParsedPublicKey>>>,
}

impl PartialEq for RsaPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.pkcs1 == other.pkcs1
    }
}

impl Eq for RsaPublicKey {}

/// Loading, signing and verifying (wechatpay-php's `Rsa`).
#[derive(Debug, Clone, Copy)]
pub struct Rsa;

impl Rsa {
    /// Loads a private key from any accepted source (see the module documentation).
    ///
    /// # Errors
    /// [`KeyError`] naming the form that was expected or found; never the key itself.
    ///
    /// # Examples
    /// ```no_run
    /// use wechatpay::crypto::Rsa;
    /// let key = Rsa::from_private("file:///path/to/apiclient_key.pem")?;
    /// # Ok::<(), wechatpay::error::KeyError>(())
    /// ```
    pub fn from_private(source: &str) -> Result<RsaPrivateKey, KeyError> {
        load::load_private(source, None)
    }

    /// Loads a private key that may be an encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`).
    ///
    /// # Errors
    /// [`KeyError::Passphrase`] when the passphrase is wrong, otherwise as [`Rsa::from_private`].
    pub fn from_private_with_passphrase(
        source: &str,
        passphrase: &str,
    ) -> Result<RsaPrivateKey, KeyError> {
        load::load_private(source, Some(passphrase))
    }

    /// A private key from any accepted source, with its unencrypted DER for a TLS client
    /// identity (the merchant API certificate's key in mutual TLS).
    pub(crate) fn private_key_for_tls(
        source: &str,
        passphrase: Option<&str>,
    ) -> Result<(RsaPrivateKey, rustls::pki_types::PrivateKeyDer<'static>), KeyError> {
        use rustls::pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};
        let der = load::load_private_der(source, passphrase)?;
        let tls = match &der {
            PrivateDer::Pkcs8(bytes) => PrivatePkcs8KeyDer::from(bytes.clone()).into(),
            PrivateDer::Pkcs1(bytes) => PrivatePkcs1KeyDer::from(bytes.clone()).into(),
        };
        Ok((RsaPrivateKey::from_der(der)?, tls))
    }

    /// Loads a public key, or the public key inside an X.509 certificate.
    ///
    /// # Errors
    /// [`KeyError`] naming the form that was expected or found.
    pub fn from_public(source: &str) -> Result<RsaPublicKey, KeyError> {
        load::load_public(source)
    }

    /// Signs `message` with SHA256withRSA (PKCS#1 v1.5) and returns base64.
    ///
    /// # Errors
    /// [`KeyError::Operation`] if the signature cannot be made.
    pub fn sign(message: &[u8], key: &RsaPrivateKey) -> Result<String, KeyError> {
        key.sign(message)
            .map(|sig| base64::engine::general_purpose::STANDARD.encode(sig))
    }

    /// Checks a base64 SHA256withRSA signature over `message`. Any failure, including
    /// malformed base64, is `false`.
    pub fn verify(message: &[u8], signature_base64: &str, key: &RsaPublicKey) -> bool {
        match base64::engine::general_purpose::STANDARD.decode(signature_base64.trim()) {
            Ok(sig) => key.verify(message, &sig),
            Err(_) => false,
        }
    }

    /// Encrypts a sensitive field (a name, an id number, a phone number) for WeChat Pay with
    /// RSA-OAEP, SHA-1 and MGF1-SHA1 (PHP's `OPENSSL_PKCS1_OAEP_PADDING`), returning base64.
    ///
    /// Use WeChat Pay's key (platform certificate or `PUB_KEY_ID_...` key) and send its id
    /// as the `Wechatpay-Serial` header. A 2048-bit key takes at most 214 bytes.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when the key cannot be used for encryption;
    /// [`KeyError::Operation`] when the plaintext is too long for the key.
    ///
    /// # Examples
    /// ```no_run
    /// use wechatpay::crypto::Rsa;
    /// let platform = Rsa::from_public("file:///path/to/pub_key.pem")?;
    /// let name = Rsa::encrypt("张三".as_bytes(), &platform)?;
    /// # Ok::<(), wechatpay::error::KeyError>(())
    /// ```
    pub fn encrypt(plaintext: &[u8], key: &RsaPublicKey) -> Result<String, KeyError> {
        encrypt(Padding::Oaep, plaintext, key)
    }

    /// Decrypts a base64 RSA-OAEP (SHA-1, MGF1-SHA1) ciphertext with the merchant's key, as
    /// WeChat Pay encrypts sensitive fields in its responses.
    ///
    /// Under the `ring` backend this runs on the `rsa` crate, which has a known timing side
    /// channel in private-key operations (RUSTSEC-2023-0071); blinding is on, but decrypt only
    /// fields of responses that already passed signature verification, never attacker-chosen
    /// input. Under `aws-lc-rs` it runs on aws-lc, in constant time.
    ///
    /// # Debug builds
    /// Under `ring`, the `rsa` crate's big-number arithmetic is slow unoptimised: one 2048-bit
    /// decryption takes a tenth to a third of a second in an application's debug build,
    /// against a few milliseconds optimised. Cargo ignores the profiles a dependency declares,
    /// so an application that decrypts in debug builds optimises that one crate in its own
    /// `Cargo.toml`:
    ///
    /// ```toml
    /// [profile.dev.package.num-bigint-dig]
    /// opt-level = 3
    /// ```
    ///
    /// Under `aws-lc-rs` decryption is fast in every profile.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] for bad base64 or an unusable key; [`KeyError::Operation`] when
    /// the ciphertext does not decrypt under this key.
    pub fn decrypt(ciphertext_base64: &str, key: &RsaPrivateKey) -> Result<Vec<u8>, KeyError> {
        decrypt(Padding::Oaep, ciphertext_base64, key)
    }

    /// Encrypts with the legacy RSAES-PKCS1-v1_5 padding, returning base64.
    ///
    /// Only for the few older APIs that still ask for it (PHP's `OPENSSL_PKCS1_PADDING`);
    /// [`Rsa::encrypt`] (OAEP) is what WeChat Pay APIv3 expects. A 2048-bit key takes at most
    /// 245 bytes.
    ///
    /// # Errors
    /// As [`Rsa::encrypt`].
    pub fn encrypt_pkcs1v15(plaintext: &[u8], key: &RsaPublicKey) -> Result<String, KeyError> {
        encrypt(Padding::Pkcs1v15, plaintext, key)
    }

    /// Decrypts a base64 RSAES-PKCS1-v1_5 ciphertext.
    ///
    /// PKCS#1 v1.5 decryption is open to padding-oracle attacks (Bleichenbacher): never tell
    /// a remote party whether it failed. Prefer [`Rsa::decrypt`] (OAEP).
    ///
    /// # Errors
    /// As [`Rsa::decrypt`].
    pub fn decrypt_pkcs1v15(
        ciphertext_base64: &str,
        key: &RsaPrivateKey,
    ) -> Result<Vec<u8>, KeyError> {
        decrypt(Padding::Pkcs1v15, ciphertext_base64, key)
    }
}

/// The two RSA encryption paddings; OAEP is always SHA-1 with MGF1-SHA1, as WeChat Pay uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Padding {
    Oaep,
    Pkcs1v15,
}

impl Padding {
    fn name(self) -> &'static str {
        match self {
            Self::Oaep => "RSA-OAEP",
            Self::Pkcs1v15 => "RSA PKCS#1 v1.5",
        }
    }

    /// The bytes the padding adds: OAEP-SHA1 two 20-byte hashes and two bytes (RFC 8017,
    /// 7.1.1), PKCS#1 v1.5 at least 11 (7.2.1).
    fn overhead(self) -> usize {
        match self {
            Self::Oaep => 2 * 20 + 2,
            Self::Pkcs1v15 => 11,
        }
    }

    fn encryption_failed(self) -> KeyError {
        KeyError::Operation(format!("{} encryption failed", self.name()))
    }

    fn decryption_failed(self) -> KeyError {
        KeyError::Operation(match self {
            Self::Oaep => "RSA-OAEP decryption failed: wrong key or corrupted data".into(),
            // Deliberately no detail: a PKCS#1 v1.5 failure reason is a padding oracle.
            Self::Pkcs1v15 => "RSA PKCS#1 v1.5 decryption failed".into(),
        })
    }
}

fn encrypt(padding: Padding, plaintext: &[u8], key: &RsaPublicKey) -> Result<String, KeyError> {
    // Checked here so that both backends refuse an oversized field with the same words.
    let room = (key.bits / 8).saturating_sub(padding.overhead());
    if plaintext.len() > room {
        return Err(KeyError::Operation(format!(
            "{} encryption: {} bytes do not fit a {}-bit key, which takes at most {room}",
            padding.name(),
            plaintext.len(),
            key.bits
        )));
    }
    let sealed = encryption::encrypt(padding, plaintext, key)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

fn decrypt(
    padding: Padding,
    ciphertext_base64: &str,
    key: &RsaPrivateKey,
) -> Result<Vec<u8>, KeyError> {
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(ciphertext_base64.trim())
        .map_err(|_| KeyError::Malformed("RSA ciphertext is not valid base64".into()))?;
    encryption::decrypt(padding, &sealed, key)
}

impl RsaPrivateKey {
    fn from_der(der: PrivateDer) -> Result<Self, KeyError> {
        let pair = match &der {
            PrivateDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der)
                .map_err(|e| KeyError::Malformed(format!("PKCS#8 RSA private key: {e}")))?,
            PrivateDer::Pkcs1(der) => RsaKeyPair::from_der(der)
                .map_err(|e| KeyError::Malformed(format!("PKCS#1 RSA private key: {e}")))?,
        };
        let key = Self {
            pair: Arc::new(pair),
            #[cfg(not(feature = "aws-lc-rs"))]
            der: Arc::new(der),
        };
        // ring checks `dP`, `dQ` against `d`, `e` and `n` only when it signs (its
        // `RsaKeyPair::from_components` docs suggest a signature as the preemptive check): a key
        // damaged there would load and then fail every call. Sign once, so such a key is
        // refused where it is configured. aws-lc checks the whole key as it parses it
        // (`RSA_check_key`), so the signature would only cost time and the memory it leaves
        // in the key (10,000 merchants' clients: 1.2 s and 3.9 KiB each without, 5.4 s and
        // 6.3 KiB with).
        #[cfg(not(feature = "aws-lc-rs"))]
        key.sign(b"wechatpay private key check").map_err(|_| {
            KeyError::Malformed(
                "the RSA private key cannot sign: its CRT values do not match the rest of the \
                 key; export it again"
                    .into(),
            )
        })?;
        Ok(key)
    }

    /// Signs `message` with SHA256withRSA (PKCS#1 v1.5); returns the raw signature bytes.
    ///
    /// # Errors
    /// [`KeyError::Operation`] if the signature cannot be made.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut sig = vec![0u8; modulus_len(&self.pair)];
        self.pair
            .sign(
                &crate::crypto::backend::signature::RSA_PKCS1_SHA256,
                &crate::crypto::backend::rand::SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|_| KeyError::Operation("RSA signing failed".into()))?;
        Ok(sig)
    }

    /// The matching public key.
    pub fn public_key(&self) -> RsaPublicKey {
        use crate::crypto::backend::signature::KeyPair as _;
        RsaPublicKey::new(
            Arc::from(self.pair.public_key().as_ref()),
            modulus_len(&self.pair) * 8,
        )
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        modulus_len(&self.pair) * 8
    }
}

impl RsaPublicKey {
    /// Builds a key from PKCS#1 `RSAPublicKey` DER.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when the DER is not an RSA public key.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let bits = load::pkcs1_modulus_bits(der)?;
        Ok(Self::new(Arc::from(der), bits))
    }

    fn new(pkcs1: Arc<[u8]>, bits: usize) -> Self {
        Self {
            pkcs1,
            bits,
            #[cfg(feature = "aws-lc-rs")]
            parsed: Arc::default(),
        }
    }

    /// Builds a key from SubjectPublicKeyInfo DER (`BEGIN PUBLIC KEY`).
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when the DER is not an RSA SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::Malformed(format!("SubjectPublicKeyInfo: {e}")))?;
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(KeyError::WrongKind(format!(
                "public key algorithm {} is not RSA",
                spki.algorithm.oid
            )));
        }
        let bits = spki.subject_public_key.as_bytes().ok_or_else(|| {
            KeyError::Malformed("public key bit string is not byte-aligned".into())
        })?;
        Self::from_pkcs1_der(bits)
    }

    /// Checks a raw SHA256withRSA signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use crate::crypto::backend::signature::RSA_PKCS1_2048_8192_SHA256;
        #[cfg(feature = "aws-lc-rs")]
        {
            // A key the backend refuses (too short, say) verifies nothing, as unparsed.
            self.parsed
                .get_or_init(|| {
                    aws_lc_rs::signature::ParsedPublicKey::new(
                        &RSA_PKCS1_2048_8192_SHA256,
                        &self.pkcs1[..],
                    )
                    .ok()
                })
                .as_ref()
                .is_some_and(|key| key.verify_sig(message, signature).is_ok())
        }
        #[cfg(not(feature = "aws-lc-rs"))]
        crate::crypto::backend::signature::UnparsedPublicKey::new(
            &RSA_PKCS1_2048_8192_SHA256,
            &self.pkcs1[..],
        )
        .verify(message, signature)
        .is_ok()
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The key as PKCS#1 `RSAPublicKey` DER.
    pub fn pkcs1_der(&self) -> &[u8] {
        &self.pkcs1
    }
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPrivateKey({} bits, redacted)", self.bits())
    }
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits)
    }
}

/// The modulus size in bytes; the two backends name this accessor differently.
fn modulus_len(pair: &RsaKeyPair) -> usize {
    #[cfg(feature = "aws-lc-rs")]
    return pair.public_modulus_len();
    #[cfg(not(feature = "aws-lc-rs"))]
    return pair.public().modulus_len();
}
