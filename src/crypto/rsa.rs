//! RSA keys in every form wechatpay-php's `Rsa::from` accepts, SHA256withRSA signatures, and
//! RSA-OAEP (SHA-1, MGF1-SHA1) encryption of sensitive fields.
//!
//! Signing and verification use the configured backend (ring); encryption and decryption use
//! the RustCrypto `rsa` crate, since ring has no RSA encryption. PKCS#1 v1.5 encryption is
//! available only through the explicitly named [`Rsa::encrypt_pkcs1v15`] and
//! [`Rsa::decrypt_pkcs1v15`].
//!
//! Accepted sources, for private and public keys alike:
//! - PEM text: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1), `ENCRYPTED PRIVATE KEY`
//!   (PKCS#8 with a passphrase), `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1) and
//!   `CERTIFICATE` (X.509, for its public key);
//! - `file:///absolute/path` or `file://relative/path`, whose contents are any of the above
//!   (PEM or DER);
//! - the pseudo-URLs `private.pkcs1://`, `private.pkcs8://`, `public.pkcs1://` and
//!   `public.spki://` followed by the base64 DER.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use x509_cert::der::{Decode as _, Reader as _};

use super::pem::{certificate_info_from_der, PemUtil, RSA_ENCRYPTION};
use crate::error::KeyError;

/// An RSA private key, ready to sign. Cloning is cheap; `Debug` shows no key material.
#[derive(Clone)]
pub struct RsaPrivateKey {
    pair: Arc<crate::crypto::backend::signature::RsaKeyPair>,
    /// The key as unencrypted PKCS#8 or PKCS#1 DER, kept for OAEP decryption.
    der: Arc<PrivateDer>,
}

/// Secret DER bytes with the form they are in; never printed.
pub(crate) enum PrivateDer {
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
        load_private(source, None)
    }

    /// Loads a private key that may be an encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`).
    ///
    /// # Errors
    /// [`KeyError::Passphrase`] when the passphrase is wrong, otherwise as [`Rsa::from_private`].
    pub fn from_private_with_passphrase(
        source: &str,
        passphrase: &str,
    ) -> Result<RsaPrivateKey, KeyError> {
        load_private(source, Some(passphrase))
    }

    /// Loads a public key, or the public key inside an X.509 certificate.
    ///
    /// # Errors
    /// [`KeyError`] naming the form that was expected or found.
    pub fn from_public(source: &str) -> Result<RsaPublicKey, KeyError> {
        load_public(source)
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
        let sealed = key
            .rust_crypto()?
            .encrypt(&mut SystemRng, rsa::Oaep::new::<sha1::Sha1>(), plaintext)
            .map_err(|e| KeyError::Operation(format!("RSA-OAEP encryption: {e}")))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    /// Decrypts a base64 RSA-OAEP (SHA-1, MGF1-SHA1) ciphertext with the merchant's key, as
    /// WeChat Pay encrypts sensitive fields in its responses.
    ///
    /// The RSA implementation here (the `rsa` crate) has a known timing side channel in
    /// private-key operations (RUSTSEC-2023-0071); blinding is on, but decrypt only fields of
    /// responses that already passed signature verification, never attacker-chosen input.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] for bad base64 or an unusable key; [`KeyError::Operation`] when
    /// the ciphertext does not decrypt under this key.
    pub fn decrypt(ciphertext_base64: &str, key: &RsaPrivateKey) -> Result<Vec<u8>, KeyError> {
        let sealed = decode_ciphertext(ciphertext_base64)?;
        key.rust_crypto()?
            .decrypt_blinded(&mut SystemRng, rsa::Oaep::new::<sha1::Sha1>(), &sealed)
            .map_err(|_| {
                KeyError::Operation(
                    "RSA-OAEP decryption failed: wrong key or corrupted data".into(),
                )
            })
    }

    /// Encrypts with the legacy RSAES-PKCS1-v1_5 padding, returning base64.
    ///
    /// Only for the few older APIs that still ask for it (PHP's `OPENSSL_PKCS1_PADDING`);
    /// [`Rsa::encrypt`] (OAEP) is what WeChat Pay APIv3 expects.
    ///
    /// # Errors
    /// As [`Rsa::encrypt`].
    pub fn encrypt_pkcs1v15(plaintext: &[u8], key: &RsaPublicKey) -> Result<String, KeyError> {
        let sealed = key
            .rust_crypto()?
            .encrypt(&mut SystemRng, rsa::Pkcs1v15Encrypt, plaintext)
            .map_err(|e| KeyError::Operation(format!("RSA PKCS#1 v1.5 encryption: {e}")))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
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
        let sealed = decode_ciphertext(ciphertext_base64)?;
        key.rust_crypto()?
            .decrypt_blinded(&mut SystemRng, rsa::Pkcs1v15Encrypt, &sealed)
            .map_err(|_| KeyError::Operation("RSA PKCS#1 v1.5 decryption failed".into()))
    }
}

fn decode_ciphertext(text: &str) -> Result<Vec<u8>, KeyError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| KeyError::Malformed("RSA ciphertext is not valid base64".into()))
}

/// The operating system's RNG (through ring) in the shape the `rsa` crate wants.
struct SystemRng;

impl rsa::rand_core::RngCore for SystemRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        super::fill_random(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        super::fill_random(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        super::fill_random(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        super::fill_random(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for SystemRng {}

impl RsaPrivateKey {
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

    pub(crate) fn secret_der(&self) -> &PrivateDer {
        &self.der
    }

    /// The key in the `rsa` crate's form, for decryption (ring cannot decrypt).
    fn rust_crypto(&self) -> Result<rsa::RsaPrivateKey, KeyError> {
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;
        let malformed = |e: &dyn fmt::Display| {
            KeyError::Malformed(format!("RSA private key for decryption: {e}"))
        };
        match self.secret_der() {
            PrivateDer::Pkcs8(der) => {
                rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|e| malformed(&e))
            }
            PrivateDer::Pkcs1(der) => {
                rsa::RsaPrivateKey::from_pkcs1_der(der).map_err(|e| malformed(&e))
            }
        }
    }
}

impl RsaPublicKey {
    /// Builds a key from PKCS#1 `RSAPublicKey` DER.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when the DER is not an RSA public key.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let bits = pkcs1_modulus_bits(der)?;
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

    /// The key in the `rsa` crate's form, for encryption (ring cannot encrypt).
    fn rust_crypto(&self) -> Result<rsa::RsaPublicKey, KeyError> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        rsa::RsaPublicKey::from_pkcs1_der(&self.pkcs1)
            .map_err(|e| KeyError::Malformed(format!("RSA public key for encryption: {e}")))
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

/// What a source string turned out to hold.
enum Material {
    Pem(Vec<super::pem::PemBlock>),
    Der { label: &'static str, der: Vec<u8> },
}

fn read_source(source: &str) -> Result<Material, KeyError> {
    let source = source.trim();
    if let Some(path) = source.strip_prefix("file://") {
        let bytes = std::fs::read(path).map_err(|e| KeyError::Io {
            path: path.to_string(),
            reason: e.kind().to_string(),
        })?;
        return match std::str::from_utf8(&bytes) {
            Ok(text) if text.contains("-----BEGIN ") => Ok(Material::Pem(PemUtil::parse(text)?)),
            _ => Ok(Material::Der {
                label: "DER",
                der: bytes,
            }),
        };
    }
    for (prefix, label) in [
        ("private.pkcs1://", "RSA PRIVATE KEY"),
        ("private.pkcs8://", "PRIVATE KEY"),
        ("public.pkcs1://", "RSA PUBLIC KEY"),
        ("public.spki://", "PUBLIC KEY"),
    ] {
        if let Some(b64) = source.strip_prefix(prefix) {
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| KeyError::Malformed(format!("{prefix} value is not valid base64")))?;
            return Ok(Material::Der { label, der });
        }
    }
    if source.contains("-----BEGIN ") {
        return Ok(Material::Pem(PemUtil::parse(source)?));
    }
    Err(KeyError::UnknownForm(
        "expected PEM text, file://path, private.pkcs1://, private.pkcs8://, public.pkcs1:// or \
         public.spki://"
            .into(),
    ))
}

fn load_private(source: &str, passphrase: Option<&str>) -> Result<RsaPrivateKey, KeyError> {
    match read_source(source)? {
        Material::Pem(blocks) => {
            let block = blocks
                .iter()
                .find(|b| b.label.contains("PRIVATE KEY"))
                .ok_or_else(|| match blocks.first() {
                    Some(b) => KeyError::WrongKind(format!(
                        "expected a private key, found a `{}` block",
                        b.label
                    )),
                    None => KeyError::Malformed("no PEM block found".into()),
                })?;
            private_from_der(&block.label, &block.der, passphrase)
        }
        Material::Der { label, der } => {
            if label.contains("PUBLIC") {
                return Err(KeyError::WrongKind(format!(
                    "expected a private key, found {label}"
                )));
            }
            private_from_der(label, &der, passphrase)
        }
    }
}

fn private_from_der(
    label: &str,
    der: &[u8],
    passphrase: Option<&str>,
) -> Result<RsaPrivateKey, KeyError> {
    match label {
        "PRIVATE KEY" => pkcs8_key(der.to_vec()),
        "RSA PRIVATE KEY" => pkcs1_key(der.to_vec()),
        "ENCRYPTED PRIVATE KEY" => decrypt_pkcs8(der, passphrase),
        // DER read from a file: try each form in turn.
        "DER" => pkcs8_key(der.to_vec())
            .or_else(|_| pkcs1_key(der.to_vec()))
            .or_else(|_| decrypt_pkcs8(der, passphrase)),
        other => Err(KeyError::UnknownForm(format!(
            "`{other}` is not an RSA private key form"
        ))),
    }
}

fn pkcs8_key(der: Vec<u8>) -> Result<RsaPrivateKey, KeyError> {
    let pair = crate::crypto::backend::signature::RsaKeyPair::from_pkcs8(&der)
        .map_err(|e| KeyError::Malformed(format!("PKCS#8 RSA private key: {e}")))?;
    Ok(RsaPrivateKey {
        pair: Arc::new(pair),
        der: Arc::new(PrivateDer::Pkcs8(der)),
    })
}

fn pkcs1_key(der: Vec<u8>) -> Result<RsaPrivateKey, KeyError> {
    let pair = crate::crypto::backend::signature::RsaKeyPair::from_der(&der)
        .map_err(|e| KeyError::Malformed(format!("PKCS#1 RSA private key: {e}")))?;
    Ok(RsaPrivateKey {
        pair: Arc::new(pair),
        der: Arc::new(PrivateDer::Pkcs1(der)),
    })
}

fn decrypt_pkcs8(der: &[u8], passphrase: Option<&str>) -> Result<RsaPrivateKey, KeyError> {
    let passphrase = passphrase.ok_or_else(|| {
        KeyError::Passphrase("the private key is encrypted; give its passphrase".into())
    })?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|e| KeyError::Malformed(format!("encrypted PKCS#8: {e}")))?;
    let plain = info
        .decrypt(passphrase)
        .map_err(|_| KeyError::Passphrase("wrong passphrase or unsupported cipher".into()))?;
    pkcs8_key(plain.as_bytes().to_vec())
}

fn load_public(source: &str) -> Result<RsaPublicKey, KeyError> {
    match read_source(source)? {
        Material::Pem(blocks) => {
            let block = blocks
                .iter()
                .find(|b| !b.label.contains("PRIVATE"))
                .ok_or_else(|| match blocks.first() {
                    Some(_) => KeyError::WrongKind(
                        "expected a public key or certificate, found a private key".into(),
                    ),
                    None => KeyError::Malformed("no PEM block found".into()),
                })?;
            public_from_der(&block.label, &block.der)
        }
        Material::Der { label, der } => {
            if label.contains("PRIVATE") {
                return Err(KeyError::WrongKind(format!(
                    "expected a public key, found {label}"
                )));
            }
            public_from_der(label, &der)
        }
    }
}

fn public_from_der(label: &str, der: &[u8]) -> Result<RsaPublicKey, KeyError> {
    match label {
        "PUBLIC KEY" => RsaPublicKey::from_spki_der(der),
        "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_der(der),
        "CERTIFICATE" => public_from_certificate(der),
        "DER" => RsaPublicKey::from_spki_der(der)
            .or_else(|_| public_from_certificate(der))
            .or_else(|_| RsaPublicKey::from_pkcs1_der(der)),
        other => Err(KeyError::UnknownForm(format!(
            "`{other}` is not an RSA public key form"
        ))),
    }
}

fn public_from_certificate(der: &[u8]) -> Result<RsaPublicKey, KeyError> {
    let info = certificate_info_from_der(der)?;
    if info.rsa_public_key.is_empty() {
        return Err(KeyError::WrongKind(
            "the certificate's key is not RSA".into(),
        ));
    }
    RsaPublicKey::from_pkcs1_der(&info.rsa_public_key)
}

/// Validates PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`
/// and returns the modulus size in bits.
fn pkcs1_modulus_bits(der: &[u8]) -> Result<usize, KeyError> {
    use x509_cert::der::asn1::UintRef;
    let malformed =
        |e: x509_cert::der::Error| KeyError::Malformed(format!("PKCS#1 public key: {e}"));
    let mut reader = x509_cert::der::SliceReader::new(der).map_err(malformed)?;
    let modulus_len = reader
        .sequence(|r| {
            let n = UintRef::decode(r)?;
            let _e = UintRef::decode(r)?;
            Ok(n.as_bytes().len())
        })
        .map_err(malformed)?;
    reader.finish(()).map_err(malformed)?;
    Ok(modulus_len * 8)
}

/// The modulus size in bytes; the two backends name this accessor differently.
fn modulus_len(pair: &crate::crypto::backend::signature::RsaKeyPair) -> usize {
    #[cfg(feature = "aws-lc-rs")]
    return pair.public_modulus_len();
    #[cfg(not(feature = "aws-lc-rs"))]
    return pair.public().modulus_len();
}
