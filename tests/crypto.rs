//! The crypto toolbox: fixed vectors (published NIST and GCM-specification vectors, and others
//! computed independently with Python's `hashlib`/`hmac`, `cryptography`, OpenSSL's libcrypto
//! and `openssl enc`/`pkeyutl`), interop with the openssl command line in both directions, and
//! key loading in every form the fixtures provide.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::openssl;
use wechatpay::crypto::{
    AesEcb, AesGcm, ApiV2Key, ApiV3Key, Formatter, Hash, HashAlgorithm, PemUtil, Rsa,
};
use wechatpay::error::KeyError;
use wechatpay::json;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

// -- fixed vectors ------------------------------------------------------------------------

#[test]
fn aes_ecb_vector() {
    assert_eq!(
        AesEcb::encrypt(b"hello", KEY).unwrap(),
        "pZwJZBLuy3mDACEQT4YTBw=="
    );
    assert_eq!(
        AesEcb::decrypt("pZwJZBLuy3mDACEQT4YTBw==", KEY).unwrap(),
        b"hello"
    );
}

#[test]
fn aes_ecb_sp800_38a_vector() {
    // NIST SP 800-38A, F.1.5 (ECB-AES256): four blocks, then the PKCS#7 block of sixteen
    // 0x10 bytes (its ciphertext from `openssl enc -aes-256-ecb`).
    let key = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
    let plaintext = hex(concat!(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
        "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
    ));
    let sealed = b64(&hex(concat!(
        "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870",
        "b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7",
        "4c45dfb3b3b484ec35b0512dc8c1c4d6",
    )));
    assert_eq!(AesEcb::encrypt(&plaintext, &key).unwrap(), sealed);
    assert_eq!(AesEcb::decrypt(&sealed, &key).unwrap(), plaintext);
}

#[test]
fn hash_sign_vectors() {
    // md5("a=1&b=2&key=key") and hmac_sha256("key", "a=1&b=2&key=key"), upper-cased: the
    // obvious reading of PHP's Hash::sign holds for both vectors.
    assert_eq!(
        Hash::sign(HashAlgorithm::Md5, "a=1&b=2", "key"),
        "735A0BAFC42420A9B223CE31415E043A"
    );
    assert_eq!(
        Hash::sign(HashAlgorithm::HmacSha256, "a=1&b=2", "key"),
        "38C84C553479D2D3B591ED2FEBA712A2E26BA00BAF02402A637BB59AF8A377BD"
    );
    assert_eq!(
        Hash::md5_with_key("a=1&b=2", "key"),
        "735a0bafc42420a9b223ce31415e043a"
    );
    assert_eq!(
        Hash::md5(b"a=1&b=2&key=key"),
        Hash::md5_with_key("a=1&b=2", "key")
    );
}

#[test]
fn aes_gcm_vectors() {
    let sealed = AesGcm::encrypt(b"hello", KEY, b"0123456789ab", b"certificate").unwrap();
    assert_eq!(sealed, "8cyLViwuyN4D6+jaX5Ea+OGy5PP9");
    assert_eq!(
        AesGcm::decrypt(&sealed, KEY, b"0123456789ab", b"certificate").unwrap(),
        b"hello"
    );

    // A 16-byte IV takes the SP 800-38D path (a GHASH-derived pre-counter block).
    let sealed = AesGcm::encrypt(b"hello", KEY, b"0123456789abcdef", b"").unwrap();
    assert_eq!(sealed, "APoZlYqWRRz+/rRoTiEaxlXUiZD8");
    assert_eq!(
        AesGcm::decrypt(&sealed, KEY, b"0123456789abcdef", b"").unwrap(),
        b"hello"
    );
}

#[test]
fn aes_gcm_test_case_17_of_the_gcm_specification() {
    // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test case 17: AES-256
    // with a 64-bit IV (the specification's test case 5 for a 256-bit key).
    let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    let plaintext = hex(concat!(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72",
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    ));
    let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let iv = hex("cafebabefacedbad");
    let sealed = hex(concat!(
        "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0",
        "feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f",
        "3a337dbf46a792c45e454913fe2ea8f2",
    ));
    assert_eq!(AesGcm::seal(&plaintext, &key, &iv, &aad).unwrap(), sealed);
    assert_eq!(AesGcm::open(&sealed, &key, &iv, &aad).unwrap(), plaintext);
}

#[test]
fn aes_gcm_vectors_for_ivs_that_are_not_96_bits() {
    // OpenSSL's AES-256-GCM (libcrypto's EVP with EVP_CTRL_GCM_SET_IVLEN, and Python's
    // `cryptography` for 8 bytes and more) with the IV 01 02 .. n and the AAD "aad".
    let plaintext = b"The quick brown fox jumps over the lazy dog";
    for (len, sealed) in [
        (
            1,
            "iueT0D8zLgz0tiTui+rfa/ldvXAP3jNJIOkpcJSBqYnCJ39TGvWzhu8j3CU6PqnlgTTP9ytn+QMJYw8=",
        ),
        (
            7,
            "XOiS7DPZKDaNnwUf4l8Nw/6Z8CCG3MzqoYVirrqj79xxl2j5Bm7RpfxKsHhci7iR/UFgn3VBbn4yhYo=",
        ),
        (
            8,
            "dZOi3bSEkJ1qm24dOZ0IDuET/pZBQk+Qs2aqNDroWOkUV/SGqaUE/4w1A+fEXCB7OL4EseYY4Z97pPA=",
        ),
        (
            13,
            "sSiwGqegIWsWo3syaT4AUaRcL2Ta78/SIfBTI69b6Oe3Mk3W6wlhJMHYVV3Tlf5r/IFY1MRPyDMa5ew=",
        ),
        (
            16,
            "MV70Rvyl78fDB0q75DLDfmQvmNCdFkOnMfaiK1geBUbQQeamg8WZLwJG/AHY+bs8z3lNJetleNNMBw8=",
        ),
        (
            32,
            "WXnMaJe3bOqTUlfQsT95Z8jZyG2h5/30g/AKHyJ8KWY0/NhUuwuDDIEiy+q7GyskPHJjEEH5p6jKMT4=",
        ),
    ] {
        let iv: Vec<u8> = (1..=len).collect();
        assert_eq!(
            AesGcm::encrypt(plaintext, KEY, &iv, b"aad").unwrap(),
            sealed,
            "IV of {len} bytes"
        );
        assert_eq!(
            AesGcm::decrypt(sealed, KEY, &iv, b"aad").unwrap(),
            plaintext,
            "IV of {len} bytes"
        );
    }
    // An empty plaintext seals to the tag alone, which still covers the AAD.
    for (aad, tag) in [
        (&b""[..], "GvpmmdtYwexXIPhySs9Tlg=="),
        (b"certificate", "HoIBJlSHWMv1B+tqMfq3dA=="),
    ] {
        assert_eq!(
            AesGcm::encrypt(b"", KEY, b"0123456789abcdef", aad).unwrap(),
            tag
        );
        assert_eq!(
            AesGcm::decrypt(tag, KEY, b"0123456789abcdef", aad).unwrap(),
            b""
        );
    }
}

#[test]
fn aes_gcm_rejects_what_it_must() {
    let sealed = AesGcm::encrypt(b"hello", KEY, b"0123456789ab", b"certificate").unwrap();
    // Wrong AAD, wrong nonce, wrong key, flipped bit: all authentication failures.
    for (key, iv, aad) in [
        (KEY, &b"0123456789ab"[..], &b"transaction"[..]),
        (KEY, b"0123456789ac", b"certificate"),
        (
            &b"0123456789abcdef0123456789abcdeF"[..],
            b"0123456789ab",
            b"certificate",
        ),
    ] {
        assert!(matches!(
            AesGcm::decrypt(&sealed, key, iv, aad),
            Err(KeyError::Operation(_))
        ));
    }
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(&sealed)
        .unwrap();
    raw[0] ^= 1;
    assert!(matches!(
        AesGcm::decrypt(&b64(&raw), KEY, b"0123456789ab", b"certificate"),
        Err(KeyError::Operation(_))
    ));
    // A key of the wrong size says so.
    let err = AesGcm::encrypt(b"x", b"short", b"0123456789ab", b"").unwrap_err();
    assert!(err.to_string().contains("32 bytes"), "{err}");
    assert!(ApiV3Key::new("short").is_err());
}

#[test]
fn ksort_is_byte_order() {
    let sorted = Formatter::ksort([
        ("remark", "a"),
        ("RE_OPENID", "b"),
        ("re_openid", "c"),
        ("REMARK", "d"),
    ]);
    let keys: Vec<&str> = sorted.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["REMARK", "RE_OPENID", "re_openid", "remark"]);
}

#[test]
fn query_string_like_vector() {
    let thing =
        json!({"b": 2, "a": 1, "sign": "x", "e": "", "n": null, "z": "0", "A": "u", "a_b": "w"});
    let thing = thing.as_object().unwrap();
    assert_eq!(
        Formatter::query_string_like(Formatter::ksort(thing)),
        "A=u&a=1&a_b=w&b=2&z=0"
    );

    // The same with plain string maps and Options.
    let map: BTreeMap<&str, Option<&str>> = [
        ("b", Some("2")),
        ("a", Some("1")),
        ("sign", Some("x")),
        ("n", None),
        ("e", Some("")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        Formatter::query_string_like(Formatter::ksort(map)),
        "a=1&b=2"
    );
}

#[test]
fn v2_sign_uses_sorted_fields() {
    let key = ApiV2Key::new("key");
    let fields = [("b", "2"), ("a", "1"), ("sign", "whatever"), ("empty", "")];
    assert_eq!(
        wechatpay::v2::sign(fields, &key, HashAlgorithm::Md5),
        "735A0BAFC42420A9B223CE31415E043A"
    );
    assert_eq!(
        wechatpay::v2::sign(fields, &key, HashAlgorithm::HmacSha256),
        "38C84C553479D2D3B591ED2FEBA712A2E26BA00BAF02402A637BB59AF8A377BD"
    );
}

#[test]
fn constant_time_equals() {
    assert!(Hash::equals("735A0BAF", "735A0BAF"));
    assert!(!Hash::equals("735A0BAF", "735A0BAE"));
    assert!(!Hash::equals("735A0BAF", "735a0baf"));
    assert!(!Hash::equals("", "x"));
}

#[test]
fn digests() {
    assert_eq!(
        Hash::sha256(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        Hash::sha1(b"abc"),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(ApiV2Key::new("key").refund_key(), Hash::md5(b"key"));
}

// -- key loading --------------------------------------------------------------------------

fn pem_der(name: &str) -> String {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    b64(&PemUtil::parse(&text).unwrap()[0].der)
}

#[test]
fn every_private_key_form_loads() {
    let reference = Rsa::from_private(&common::fixture_url("merchant_pkcs8.pem"))
        .unwrap()
        .public_key();
    let text = |n: &str| std::fs::read_to_string(fixture(n)).unwrap();
    let forms = [
        Rsa::from_private(&common::fixture_url("merchant_pkcs1.pem")),
        Rsa::from_private(&common::fixture_url("merchant_pkcs8.pem")),
        Rsa::from_private(&text("merchant_pkcs1.pem")),
        Rsa::from_private(&text("merchant_pkcs8.pem")),
        Rsa::from_private_with_passphrase(
            &common::fixture_url("merchant_encrypted.pem"),
            "wechatpay",
        ),
        Rsa::from_private(&format!(
            "private.pkcs1://{}",
            pem_der("merchant_pkcs1.pem")
        )),
        Rsa::from_private(&format!(
            "private.pkcs8://{}",
            pem_der("merchant_pkcs8.pem")
        )),
    ];
    for (i, key) in forms.into_iter().enumerate() {
        let key = key.unwrap_or_else(|e| panic!("form {i}: {e}"));
        assert_eq!(key.public_key(), reference, "form {i}");
        assert_eq!(key.bits(), 2048);
    }
    Rsa::from_private(&common::fixture_url("genpkey_private.pem")).unwrap();
}

#[test]
fn encrypted_key_needs_the_right_passphrase() {
    let url = common::fixture_url("merchant_encrypted.pem");
    assert!(matches!(
        Rsa::from_private_with_passphrase(&url, "wrong"),
        Err(KeyError::Passphrase(_))
    ));
    assert!(matches!(
        Rsa::from_private(&url),
        Err(KeyError::Passphrase(_))
    ));
}

#[test]
fn every_public_key_form_loads() {
    let reference = Rsa::from_private(&common::fixture_url("merchant_pkcs1.pem"))
        .unwrap()
        .public_key();
    let forms = [
        Rsa::from_public(&common::fixture_url("merchant_spki.pem")),
        Rsa::from_public(&common::fixture_url("merchant_pkcs1_public.pem")),
        Rsa::from_public(&common::fixture_url("merchant_cert.pem")),
        Rsa::from_public(&format!("public.spki://{}", pem_der("merchant_spki.pem"))),
        Rsa::from_public(&format!(
            "public.pkcs1://{}",
            pem_der("merchant_pkcs1_public.pem")
        )),
    ];
    for (i, key) in forms.into_iter().enumerate() {
        assert_eq!(
            key.unwrap_or_else(|e| panic!("form {i}: {e}")),
            reference,
            "form {i}"
        );
    }
    assert_eq!(
        PemUtil::serial_number(&std::fs::read(fixture("merchant_cert.pem")).unwrap()).unwrap(),
        "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"
    );
}

#[test]
fn debug_shows_no_key_material() {
    let private = Rsa::from_private(&common::fixture_url("merchant_pkcs8.pem")).unwrap();
    let public = private.public_key();
    let der_b64 = pem_der("merchant_pkcs8.pem");
    let public_b64 = b64(public.pkcs1_der());
    for shown in [
        format!("{private:?}"),
        format!("{public:?}"),
        format!("{:?}", ApiV3Key::new(KEY).unwrap()),
        format!("{:?}", ApiV2Key::new("super-secret-apiv2-key")),
    ] {
        assert!(!shown.contains(&der_b64[..16]), "{shown}");
        assert!(!shown.contains(&public_b64[..16]), "{shown}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(shown.len() < 64, "{shown}");
    }
}

// -- RSA-OAEP and signatures against the openssl command line ------------------------------

const OAEP_SHA1: [&str; 6] = [
    "-pkeyopt",
    "rsa_padding_mode:oaep",
    "-pkeyopt",
    "rsa_oaep_md:sha1",
    "-pkeyopt",
    "rsa_mgf1_md:sha1",
];

#[test]
fn oaep_encrypted_here_decrypts_in_openssl() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let public = Rsa::from_public(&common::fixture_url("merchant_cert.pem")).unwrap();
    let secret = "张三 13800138000".as_bytes();
    let sealed = Rsa::encrypt(secret, &public).unwrap();
    let sealed_path = dir.path().join("sealed.bin");
    std::fs::write(
        &sealed_path,
        base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap(),
    )
    .unwrap();
    let key = fixture("merchant_pkcs1.pem");
    let mut args = vec![
        "pkeyutl",
        "-decrypt",
        "-inkey",
        key.to_str().unwrap(),
        "-in",
        sealed_path.to_str().unwrap(),
    ];
    args.extend(OAEP_SHA1);
    assert_eq!(openssl(&args), secret);
}

#[test]
fn oaep_encrypted_by_openssl_decrypts_here() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plain_path = dir.path().join("plain.txt");
    std::fs::write(&plain_path, "110101199003078888").unwrap();
    let spki = fixture("merchant_spki.pem");
    let mut args = vec![
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        spki.to_str().unwrap(),
        "-in",
        plain_path.to_str().unwrap(),
    ];
    args.extend(OAEP_SHA1);
    let sealed = b64(&openssl(&args));
    // Both private-key forms (PKCS#8 and PKCS#1 DER kept inside the key) decrypt.
    for name in ["merchant_pkcs8.pem", "merchant_pkcs1.pem"] {
        let key = Rsa::from_private(&common::fixture_url(name)).unwrap();
        assert_eq!(
            Rsa::decrypt(&sealed, &key).unwrap(),
            b"110101199003078888",
            "{name}"
        );
    }
    // Someone else's key fails cleanly, and OAEP is not PKCS#1 v1.5.
    let stranger = Rsa::from_private(&common::fixture_url("stranger_private.pem")).unwrap();
    assert!(matches!(
        Rsa::decrypt(&sealed, &stranger),
        Err(KeyError::Operation(_))
    ));
    let merchant = Rsa::from_private(&common::fixture_url("merchant_pkcs8.pem")).unwrap();
    // (Read as PKCS#1 v1.5 it fails, or about once in 256 tries "succeeds" with garbage:
    // the reason that padding is only available by name.)
    assert!(Rsa::decrypt_pkcs1v15(&sealed, &merchant)
        .map_or(true, |garbage| garbage != b"110101199003078888"));
}

#[test]
fn pkcs1v15_encryption_only_by_name_and_interoperable() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let public = Rsa::from_public(&common::fixture_url("merchant_spki.pem")).unwrap();
    let sealed = Rsa::encrypt_pkcs1v15(b"legacy", &public).unwrap();
    let sealed_path = dir.path().join("sealed.bin");
    std::fs::write(
        &sealed_path,
        base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap(),
    )
    .unwrap();
    let key = fixture("merchant_pkcs8.pem");
    let plain = openssl(&[
        "pkeyutl",
        "-decrypt",
        "-inkey",
        key.to_str().unwrap(),
        "-in",
        sealed_path.to_str().unwrap(),
        "-pkeyopt",
        "rsa_padding_mode:pkcs1",
    ]);
    assert_eq!(plain, b"legacy");
    let private = Rsa::from_private(&common::fixture_url("merchant_pkcs8.pem")).unwrap();
    assert_eq!(Rsa::decrypt_pkcs1v15(&sealed, &private).unwrap(), b"legacy");
    // The default decrypt is OAEP and refuses a PKCS#1 v1.5 ciphertext.
    assert!(Rsa::decrypt(&sealed, &private).is_err());
}

#[test]
fn oaep_round_trip_and_length_limit() {
    let private = Rsa::from_private(&common::fixture_url("platform_private.pem")).unwrap();
    let public = Rsa::from_public(&common::fixture_url("platform_public.pem")).unwrap();
    let sealed = Rsa::encrypt(&[0x5a; 214], &public).unwrap();
    assert_eq!(Rsa::decrypt(&sealed, &private).unwrap(), vec![0x5a; 214]);
    // OAEP-SHA1 on 2048 bits holds at most 256 - 2*20 - 2 = 214 bytes, PKCS#1 v1.5 at most
    // 256 - 11 = 245.
    let sealed = Rsa::encrypt_pkcs1v15(&[0xa5; 245], &public).unwrap();
    assert_eq!(
        Rsa::decrypt_pkcs1v15(&sealed, &private).unwrap(),
        vec![0xa5; 245]
    );
    for (err, limit) in [
        (Rsa::encrypt(&[0; 215], &public).unwrap_err(), "at most 214"),
        (
            Rsa::encrypt_pkcs1v15(&[0; 246], &public).unwrap_err(),
            "at most 245",
        ),
    ] {
        assert!(
            matches!(&err, KeyError::Operation(m) if m.contains(limit)),
            "{err}"
        );
    }
    // Randomised: two encryptions differ.
    assert_ne!(
        Rsa::encrypt(b"x", &public).unwrap(),
        Rsa::encrypt(b"x", &public).unwrap()
    );
    assert!(matches!(
        Rsa::decrypt("not base64!", &private),
        Err(KeyError::Malformed(_))
    ));
}

/// Made once with `openssl pkeyutl -encrypt -pubin -inkey merchant_spki.pem` (OAEP with
/// SHA-1 and MGF1-SHA1, then `-pkeyopt rsa_padding_mode:pkcs1`), so they decrypt here even
/// where no openssl command is installed.
const OPENSSL_OAEP_CIPHERTEXT: &str = "i5NKFu10g2cbeutMRWFdQS4n+2gMphmCBSoih+Hyyag5dTgzvQ39NRHIJTf9xqtLorsPa4njXHbMXkSTiRWB4qbANdlyX/GtaHdFAQYS4O9MMJu/uRMJIvthjiuaMObyIkMKgG//z8hrdAhd72muS1uqgddKULvCgwGnvDGDrBN4WLqT9OW4q5BGTb5tdhKq/FOF7xJqj7vKtLYBgBZz5UYnmkyNifE2FjJfckZC1h2h8/coAMPEBr4R2x6KmqekGAYbN6JOQx/Oe4TaxYM+KStVKeOvpleIvLcvrL4sOHsi1hriuDIo/qZd9J6rcMUUQgycEHEp/zBcTjwkvwSX9w==";
const OPENSSL_PKCS1V15_CIPHERTEXT: &str = "i9cVKUhvQxiF8YQjoyqjx3/Jmjm//9ndZ5seRAX3W3PThCo6B/q3NhrY/phWCbTVwz6KG6qng+rQoIAJglsFGLL5coz0iAQVW218nAsLCDp3u0QBHYPpOmL1MUtnD56qhsREqJcJM9mcRqlaZjDYPJulz1hxy/do7U6DJwLdsKMKpxS+AMV9mBKDH8+7+4ryppLISbKIXmsP8VFZh5YaasjCGTNjPs40IvPX2wycwcFl9HMgp4saIBQ/Pu+/bOs2mKoaQoIAqo4JSKBVNoxsmi07b8n+AEpkApmSZNSIFQKT9cr9piIb0ItxpgxESTNC10B2JhWJReG0v8rn2Ee7Lg==";

#[test]
fn rsa_decrypts_fixed_openssl_ciphertexts_with_every_key_form() {
    let keys = [
        Rsa::from_private(&common::fixture_url("merchant_pkcs8.pem")),
        Rsa::from_private(&common::fixture_url("merchant_pkcs1.pem")),
        Rsa::from_private_with_passphrase(
            &common::fixture_url("merchant_encrypted.pem"),
            "wechatpay",
        ),
    ];
    for (i, key) in keys.into_iter().enumerate() {
        let key = key.unwrap();
        assert_eq!(
            Rsa::decrypt(OPENSSL_OAEP_CIPHERTEXT, &key).unwrap(),
            b"110101199003078888",
            "key form {i}"
        );
        assert_eq!(
            Rsa::decrypt_pkcs1v15(OPENSSL_PKCS1V15_CIPHERTEXT, &key).unwrap(),
            b"legacy",
            "key form {i}"
        );
    }
    let key = Rsa::from_private(&common::fixture_url("merchant_pkcs8.pem")).unwrap();
    // One flipped byte, a truncated ciphertext, the other padding: all refused.
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(OPENSSL_OAEP_CIPHERTEXT)
        .unwrap();
    raw[100] ^= 1;
    for sealed in [
        b64(&raw),
        b64(&raw[1..]),
        OPENSSL_PKCS1V15_CIPHERTEXT.into(),
    ] {
        let err = Rsa::decrypt(&sealed, &key).unwrap_err();
        assert_eq!(
            err,
            KeyError::Operation("RSA-OAEP decryption failed: wrong key or corrupted data".into())
        );
    }
    assert!(Rsa::decrypt_pkcs1v15(&b64(&raw[1..]), &key).is_err());
}

#[test]
fn signature_made_here_verifies_in_openssl() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let message = Formatter::response(
        "1554208460",
        "593BEC0C930BF1AFEB40B4A08C8FB242",
        b"{\"a\":1}",
    );
    let key = Rsa::from_private(&common::fixture_url("merchant_pkcs1.pem")).unwrap();
    let signature = Rsa::sign(&message, &key).unwrap();
    assert!(common::openssl_verifies(
        fixture("merchant_spki.pem"),
        &message,
        &signature
    ));
}

#[test]
fn signature_made_by_openssl_verifies_here() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let message = b"wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n";
    let signature = common::openssl_sign(fixture("platform_private.pem"), message);
    let public = Rsa::from_public(&common::fixture_url("platform_public.pem")).unwrap();
    assert!(Rsa::verify(message, &signature, &public));
    assert!(!Rsa::verify(b"other message", &signature, &public));
    let merchant = Rsa::from_public(&common::fixture_url("merchant_spki.pem")).unwrap();
    assert!(!Rsa::verify(message, &signature, &merchant));
}

// -- front-end signatures -----------------------------------------------------------------

#[test]
fn jsapi_pay_sign_is_rsa_over_four_lines() {
    let key = Rsa::from_private(&common::fixture_url("merchant_pkcs8.pem")).unwrap();
    let params = wechatpay::jsapi::PayParams::with(
        "wx8888888888888888",
        "wx201410272009395522657a690389285100",
        1414561699,
        "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        &key,
    )
    .unwrap();
    assert_eq!(
        params.package,
        "prepay_id=wx201410272009395522657a690389285100"
    );
    assert_eq!(params.sign_type, "RSA");
    let message = b"wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n";
    assert!(Rsa::verify(message, &params.pay_sign, &key.public_key()));
    let front_end = serde_json::to_value(&params).unwrap();
    for field in [
        "appId",
        "timeStamp",
        "nonceStr",
        "package",
        "signType",
        "paySign",
    ] {
        assert!(front_end.get(field).is_some(), "{field}");
    }
    assert_eq!(front_end["timeStamp"], "1414561699");
}

#[test]
fn app_pay_sign_is_rsa_over_four_lines() {
    let key = Rsa::from_private(&common::fixture_url("merchant_pkcs8.pem")).unwrap();
    let params = wechatpay::jsapi::AppPayParams::with(
        "wxd678efh567hg6787",
        "1900000001",
        "WX1217752501201407033233368018",
        1414561699,
        "NONCE",
        &key,
    )
    .unwrap();
    assert_eq!(params.package, "Sign=WXPay");
    let message = b"wxd678efh567hg6787\n1414561699\nNONCE\nWX1217752501201407033233368018\n";
    assert!(Rsa::verify(message, &params.sign, &key.public_key()));
}

#[test]
fn coupon_plugin_sign_flattens_with_indexes() {
    let key = ApiV2Key::new("apiv2key");
    let sign = wechatpay::jsapi::send_coupon_sign(
        "10016226",
        [
            vec![("out_request_no", "1234567"), ("stock_id", "abc123")],
            vec![("out_request_no", "7654321"), ("stock_id", "321cba")],
        ],
        &key,
    );
    // Python: hmac.new(b"apiv2key", b"out_request_no0=1234567&out_request_no1=7654321&
    // send_coupon_merchant=10016226&stock_id0=abc123&stock_id1=321cba&key=apiv2key", sha256)
    assert_eq!(
        sign,
        "58C8ACB2ED7B37CD57747746A8140AB95792EA173D59644D4382A06CD195E521"
    );
}

/// The value ranges of the INTEGERs in a DER `SEQUENCE` of INTEGERs (a PKCS#1
/// `RSAPrivateKey`: version, n, e, d, p, q, dP, dQ, qInv).
fn der_integers(der: &[u8]) -> Vec<std::ops::Range<usize>> {
    // A tag, then a short length or 0x8N and N length bytes.
    let header = |at: usize| -> (usize, usize) {
        let first = usize::from(der[at + 1]);
        if first < 0x80 {
            (2, first)
        } else {
            let n = first - 0x80;
            let len = der[at + 2..at + 2 + n]
                .iter()
                .fold(0, |acc, &b| acc << 8 | usize::from(b));
            (2 + n, len)
        }
    };
    let (sequence_header, _) = header(0);
    let mut at = sequence_header;
    let mut integers = Vec::new();
    while at < der.len() {
        assert_eq!(der[at], 0x02, "an INTEGER");
        let (h, len) = header(at);
        integers.push(at + h..at + h + len);
        at += h + len;
    }
    integers
}

/// Found by the property tests (tests/properties.rs): ring checks `dP` and `dQ` only when it
/// signs, so a key damaged there loaded and then failed every call with "RSA signing failed".
/// It is refused when it is loaded now.
#[test]
fn a_private_key_that_cannot_sign_is_refused_when_loaded() {
    let pem = std::fs::read_to_string(fixture("merchant_pkcs1.pem")).unwrap();
    let good = PemUtil::parse(&pem).unwrap().remove(0).der;
    let integers = der_integers(&good);
    assert_eq!(integers.len(), 9, "version, n, e, d, p, q, dP, dQ, qInv");
    for damaged in [6, 7] {
        let mut der = good.clone();
        der[integers[damaged].end - 1] ^= 0x02;
        // aws-lc-rs checks the whole key when it loads it; under ring the test signature does.
        let e = Rsa::from_private(&format!("private.pkcs1://{}", b64(&der))).unwrap_err();
        assert!(
            matches!(&e, KeyError::Malformed(why)
                if why.contains("cannot sign") || wechatpay::crypto::BACKEND == "aws-lc-rs"),
            "integer {damaged}: {e}"
        );
    }
    Rsa::from_private(&format!("private.pkcs1://{}", b64(&good))).unwrap();
}

/// An encrypted key's DER says how costly its key derivation is. The `keys` fuzz target timed
/// out on a key asking for 2^31 - 1 PBKDF2 iterations (tests/fuzz_regressions/keys/; about half
/// an hour of work before the passphrase is even tried), and scrypt parameters could ask for
/// more memory than exists, which aborts the process. Both are refused at once now.
#[test]
fn an_encrypted_key_asking_for_a_costly_derivation_is_refused_at_once() {
    use pkcs8::der::Encode as _;
    use pkcs8::pkcs5::pbes2::{self, Kdf, Pbkdf2Params, Pbkdf2Prf, ScryptParams};

    let salt = [7u8; 8];
    let iv = [9u8; 16];
    let encrypted_key = |kdf: Kdf<'_>| {
        let info = pkcs8::EncryptedPrivateKeyInfo {
            encryption_algorithm: pkcs8::pkcs5::EncryptionScheme::Pbes2(pbes2::Parameters {
                kdf,
                encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: &iv },
            }),
            encrypted_data: &[0u8; 32],
        };
        let der = info.to_der().unwrap();
        format!(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{}\n-----END ENCRYPTED PRIVATE KEY-----\n",
            b64(&der)
        )
    };
    let pbkdf2 = |iteration_count| {
        Kdf::Pbkdf2(Pbkdf2Params {
            salt: &salt,
            iteration_count,
            key_length: None,
            prf: Pbkdf2Prf::HmacWithSha256,
        })
    };
    let scrypt = |cost_parameter, block_size, parallelization| {
        Kdf::Scrypt(ScryptParams {
            salt: &salt,
            cost_parameter,
            block_size,
            parallelization,
            key_length: None,
        })
    };
    for (kdf, why) in [
        (pbkdf2(i32::MAX as u32), "PBKDF2 iterations"),
        (pbkdf2(10_000_001), "PBKDF2 iterations"),
        (scrypt(1 << 40, 8, 1), "scrypt"),
        (scrypt(1 << 16, 8, 1), "scrypt"),
        (scrypt(1 << 14, 8, 64), "scrypt"),
    ] {
        let started = std::time::Instant::now();
        let e = Rsa::from_private_with_passphrase(&encrypted_key(kdf), "wechatpay").unwrap_err();
        assert!(
            matches!(&e, KeyError::Malformed(m) if m.contains(why)),
            "{why}: {e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
    // Within the limits the passphrase is tried: these junk bytes do not decrypt.
    for kdf in [pbkdf2(2048), scrypt(1 << 14, 8, 1)] {
        let e = Rsa::from_private_with_passphrase(&encrypted_key(kdf), "wechatpay").unwrap_err();
        assert!(matches!(e, KeyError::Passphrase(_)), "{e}");
    }
}
