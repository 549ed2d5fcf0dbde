//! Key loading: `Rsa::from_private`, `from_private_with_passphrase`, `from_public` and
//! `PemUtil` on PEM text, pseudo-URLs and DER in every form they take. A key that loads must
//! work: a private key signs and its public half verifies that signature.

use base64::Engine as _;
use wechatpay::crypto::{CertificateInfo, PemBlock, PemUtil, Rsa, RsaPrivateKey, RsaPublicKey};

/// The passphrase of `tests/fixtures/merchant_encrypted.pem`, so that encrypted seeds open.
pub const PASSPHRASE: &str = "wechatpay";

const MESSAGE: &[u8] = b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n";

/// Text as a key source, in every loader. A `file://` prefix is dropped: the checks never
/// read files.
pub fn check_key_text(text: &str) {
    let text = without_file_urls(text);
    if let Ok(key) = Rsa::from_private(text) {
        check_private(&key);
    }
    if let Ok(key) = Rsa::from_private_with_passphrase(text, PASSPHRASE) {
        check_private(&key);
    }
    if let Ok(key) = Rsa::from_public(text) {
        check_public(&key);
    }
    if let Ok(blocks) = PemUtil::parse(text) {
        check_pem_round_trip(&blocks);
    }
    if let Ok(info) = PemUtil::certificate_info(text.as_bytes()) {
        check_certificate_info(&info);
    }
}

/// DER bytes under each label and pseudo-URL a key may come in.
pub fn check_key_der(der: &[u8]) {
    let base64 = base64::engine::general_purpose::STANDARD.encode(der);
    for prefix in ["private.pkcs1://", "private.pkcs8://"] {
        if let Ok(key) = Rsa::from_private(&format!("{prefix}{base64}")) {
            check_private(&key);
        }
    }
    for prefix in ["public.pkcs1://", "public.spki://"] {
        if let Ok(key) = Rsa::from_public(&format!("{prefix}{base64}")) {
            check_public(&key);
        }
    }
    if let Ok(key) =
        Rsa::from_private_with_passphrase(&pem("ENCRYPTED PRIVATE KEY", der), PASSPHRASE)
    {
        check_private(&key);
    }
    if let Ok(key) = Rsa::from_public(&pem("CERTIFICATE", der)) {
        check_public(&key);
    }
    if let Ok(info) = PemUtil::certificate_info(der) {
        check_certificate_info(&info);
    }
}

/// `text` without any leading `file://`, so that no loader opens a file.
pub fn without_file_urls(mut text: &str) -> &str {
    while let Some(rest) = text.trim().strip_prefix("file://") {
        text = rest;
    }
    text
}

/// A PEM block of `der` under `label`, with 64-character lines.
pub fn pem(label: &str, der: &[u8]) -> String {
    let base64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in base64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn check_private(key: &RsaPrivateKey) {
    let signature = Rsa::sign(MESSAGE, key).expect("a private key that loads can sign");
    assert!(
        Rsa::verify(MESSAGE, &signature, &key.public_key()),
        "a {}-bit key's own public half refuses its signature",
        key.bits()
    );
}

fn check_public(key: &RsaPublicKey) {
    assert!(key.bits() > 0);
    assert!(
        !Rsa::verify(MESSAGE, "AAAA", key),
        "a junk signature verified"
    );
}

/// Writing the blocks back as PEM and reading them again gives the same blocks.
fn check_pem_round_trip(blocks: &[PemBlock]) {
    let text: String = blocks.iter().map(|b| pem(&b.label, &b.der)).collect();
    let again = PemUtil::parse(&text).unwrap_or_else(|e| panic!("{blocks:?} written back: {e}"));
    assert_eq!(again, blocks);
}

/// WeChat Pay's serial form: upper-case hex without leading zeros.
fn check_certificate_info(info: &CertificateInfo) {
    let serial = &info.serial;
    assert!(
        !serial.is_empty()
            && serial
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
            && (serial == "0" || !serial.starts_with('0')),
        "serial {serial:?}"
    );
}
