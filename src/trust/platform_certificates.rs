//! The answer of `GET v3/certificates` ("获取平台证书列表"), decrypted and checked against
//! itself, as pure functions: WeChat Pay lists its platform certificates encrypted with
//! AEAD_AES_256_GCM under the merchant's APIv3 key, and nothing can be trusted before the
//! certificates are, so the answer must be signed by the private key of one of the
//! certificates it carries. The public path of these items is [`crate::certificates`].

use std::time::SystemTime;

use http::HeaderMap;
use serde::Deserialize;

use crate::crypto::{unix_seconds, AesGcm, ApiV3Key, CertificateInfo, PemUtil, RsaPublicKey};
use crate::error::{Error, KeyError, Result, VerifyError};
use crate::trust::platform_keys::PlatformKeys;
use crate::trust::verify::verify_response;

/// The endpoint, as a path template: `v3/certificates`.
pub const ENDPOINT: &str = "v3/certificates";

/// The only algorithm WeChat Pay encrypts certificates with.
const AEAD_AES_256_GCM: &str = "AEAD_AES_256_GCM";

/// One platform certificate, decrypted and parsed.
#[derive(Clone)]
pub struct PlatformCertificate {
    info: CertificateInfo,
    public_key: RsaPublicKey,
    pem: String,
    effective_time: String,
    expire_time: String,
}

impl PlatformCertificate {
    /// The serial number, as WeChat Pay prints it (upper-case hex): the `Wechatpay-Serial` of
    /// answers signed with this certificate's key.
    pub fn serial(&self) -> &str {
        &self.info.serial
    }

    /// Serial and validity, read from the certificate itself.
    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }

    /// Start of validity (the certificate's `notBefore`).
    pub fn not_before(&self) -> SystemTime {
        self.info.not_before
    }

    /// End of validity (the certificate's `notAfter`).
    pub fn not_after(&self) -> SystemTime {
        self.info.not_after
    }

    /// True when `now` (Unix seconds) lies within the validity window, bounds included.
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.info.is_valid_at(now)
    }

    /// The certificate's public key, the one WeChat Pay signs with and sensitive fields are
    /// encrypted to.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }

    /// The certificate as PEM text, as WeChat Pay sent it (to save as a file, say).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// `effective_time` as the listing gave it (`2026-11-22T14:09:39+08:00`).
    pub fn effective_time(&self) -> &str {
        &self.effective_time
    }

    /// `expire_time` as the listing gave it.
    pub fn expire_time(&self) -> &str {
        &self.expire_time
    }
}

impl std::fmt::Debug for PlatformCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformCertificate")
            .field("serial", &self.info.serial)
            .field("effective_time", &self.effective_time)
            .field("expire_time", &self.expire_time)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Listing {
    data: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    serial_no: String,
    #[serde(default)]
    effective_time: Option<String>,
    #[serde(default)]
    expire_time: Option<String>,
    encrypt_certificate: Sealed,
}

#[derive(Deserialize)]
struct Sealed {
    algorithm: String,
    nonce: String,
    #[serde(default)]
    associated_data: Option<String>,
    ciphertext: String,
}

/// Decrypts and checks the answer of `GET v3/certificates`; a pure function of its inputs.
///
/// In order: the body is the documented JSON with at least one certificate; each
/// `encrypt_certificate` uses `AEAD_AES_256_GCM` and decrypts under `apiv3_key` (with its
/// `nonce` and `associated_data`); each plaintext is an X.509 certificate whose serial is the
/// listed `serial_no`; then the answer's signature is checked ([`verify_response`]) against
/// the certificates just decrypted. `also_trusted`, when given, is consulted only if the
/// answer is signed by a key the listing does not hold (a merchant in public-key mode gets
/// the listing signed with its `PUB_KEY_ID_...` key).
///
/// # Errors
/// - [`Error::Decode`]: the body is not the documented JSON, lists no certificate, names an
///   unknown algorithm, or a certificate's serial differs from its `serial_no`;
/// - [`Error::Key`] with [`KeyError::Operation`]: a certificate did not decrypt (a wrong
///   APIv3 key, or altered ciphertext, nonce or associated data); other [`KeyError`]s when
///   the plaintext is not a usable RSA certificate;
/// - [`Error::Verify`]: the answer's signature failed, for example
///   [`VerifyError::UnknownSerial`] when it was signed by none of the listed certificates,
///   [`VerifyError::BadSignature`] when it names one but was not signed by its key.
pub fn decode(
    headers: &HeaderMap,
    body: &[u8],
    apiv3_key: &ApiV3Key,
    now: i64,
    max_skew_seconds: u64,
    also_trusted: Option<&PlatformKeys>,
) -> Result<Vec<PlatformCertificate>> {
    let listing: Listing = serde_json::from_slice(body)
        .map_err(|e| Error::Decode(format!("v3/certificates: not the documented JSON: {e}")))?;
    if listing.data.is_empty() {
        return Err(Error::Decode(
            "v3/certificates: the listing holds no certificate".into(),
        ));
    }
    let mut certificates = Vec::with_capacity(listing.data.len());
    for entry in listing.data {
        certificates.push(open_entry(entry, apiv3_key)?);
    }

    // Self-check: the answer must be signed by one of the certificates it carries.
    let listed = PlatformKeys::new();
    for c in &certificates {
        listed.insert(c.serial(), c.public_key.clone());
    }
    match verify_response(headers, body, now, max_skew_seconds, &listed) {
        Ok(()) => Ok(certificates),
        Err(VerifyError::UnknownSerial(serial)) => match also_trusted {
            Some(trusted) => verify_response(headers, body, now, max_skew_seconds, trusted)
                .map(|()| certificates)
                .map_err(Error::Verify),
            None => Err(Error::Verify(VerifyError::UnknownSerial(serial))),
        },
        Err(e) => Err(Error::Verify(e)),
    }
}

fn open_entry(entry: Entry, apiv3_key: &ApiV3Key) -> Result<PlatformCertificate> {
    let listed: String = entry.serial_no.chars().take(64).collect();
    let sealed = entry.encrypt_certificate;
    if sealed.algorithm != AEAD_AES_256_GCM {
        return Err(Error::Decode(format!(
            "v3/certificates: certificate `{listed}` uses algorithm `{}`, not {AEAD_AES_256_GCM}",
            sealed.algorithm.chars().take(64).collect::<String>()
        )));
    }
    let plaintext = AesGcm::decrypt(
        &sealed.ciphertext,
        apiv3_key.as_bytes(),
        sealed.nonce.as_bytes(),
        sealed.associated_data.unwrap_or_default().as_bytes(),
    )
    .map_err(|e| match e {
        KeyError::Operation(_) => Error::Key(KeyError::Operation(format!(
            "platform certificate `{listed}` did not decrypt: the APIv3 key is wrong, or the \
             ciphertext, nonce or associated data were altered"
        ))),
        other => Error::Key(other),
    })?;
    let pem = String::from_utf8(plaintext).map_err(|_| {
        Error::Key(KeyError::Malformed(format!(
            "platform certificate `{listed}` decrypted to text that is not UTF-8 PEM"
        )))
    })?;
    let info = PemUtil::certificate_info(pem.as_bytes())?;
    if !info.serial.eq_ignore_ascii_case(listed.trim()) {
        return Err(Error::Decode(format!(
            "v3/certificates: the certificate listed as `{listed}` has serial `{}`",
            info.serial
        )));
    }
    // The key is the one inside the certificate just checked. The decrypted text is not read
    // again as a key source: another PEM block before the certificate (a `PUBLIC KEY`) would
    // otherwise be installed under the certificate's serial, and a `file://` prefix would be
    // followed to a local file.
    if info.rsa_public_key.is_empty() {
        return Err(Error::Key(KeyError::WrongKind(format!(
            "platform certificate `{listed}` does not hold an RSA key"
        ))));
    }
    let public_key = RsaPublicKey::from_pkcs1_der(&info.rsa_public_key)?;
    Ok(PlatformCertificate {
        info,
        public_key,
        pem,
        effective_time: entry.effective_time.unwrap_or_default(),
        expire_time: entry.expire_time.unwrap_or_default(),
    })
}

/// Adds (or replaces) each certificate that has not expired at `now` (Unix seconds) to `keys`,
/// under its serial, and returns how many were added. Keys already in the store, such as a
/// `PUB_KEY_ID_...`, stay. Certificates that are not yet valid are added too: WeChat Pay
/// publishes a new certificate before it starts signing with it.
pub fn install(certificates: &[PlatformCertificate], keys: &PlatformKeys, now: i64) -> usize {
    let mut added = 0;
    for c in certificates {
        if now <= unix_seconds(c.not_after()) {
            keys.insert(c.serial(), c.public_key.clone());
            added += 1;
        }
    }
    added
}
