//! Sensitive fields: encrypt with the trusted WeChat Pay key and name it in `Wechatpay-Serial`;
//! decrypt answers' fields with the merchant key. The openssl command line is the independent
//! peer on both sides.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::TestServer;
use wechatpay::crypto::{Rsa, RsaPrivateKey};
use wechatpay::error::{KeyError, RequestError};
use wechatpay::mock::{demo, MockServer, Mode};
use wechatpay::sign::Signer;
use wechatpay::{json, Client, Error, RequestOptions, SensitiveEncryptor};

fn run(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Decrypts base64 RSA-OAEP (SHA-1, MGF1-SHA1) with `openssl pkeyutl` and the private key in
/// `key_file`; `None` when openssl refuses.
fn openssl_decrypt(ciphertext_b64: &str, key_file: &str) -> Option<Vec<u8>> {
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(ciphertext_b64)
        .unwrap();
    let out = run(
        &[
            "pkeyutl",
            "-decrypt",
            "-inkey",
            key_file,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha1",
            "-pkeyopt",
            "rsa_mgf1_md:sha1",
        ],
        &sealed,
    );
    out.status.success().then_some(out.stdout)
}

/// Encrypts to the public key in `key_file` with `openssl pkeyutl`, returning base64.
fn openssl_encrypt(plaintext: &[u8], key_file: &str) -> String {
    let out = run(
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            key_file,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha1",
            "-pkeyopt",
            "rsa_mgf1_md:sha1",
        ],
        plaintext,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    base64::engine::general_purpose::STANDARD.encode(out.stdout)
}

fn manifest(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

const NAME: &str = "张三";
const ID_NUMBER: &str = "110101199003070000";

#[test]
fn fields_encrypted_by_the_client_decrypt_with_openssl_and_the_request_names_the_key() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let server = TestServer::start();
    let wxpay = server.client();
    let encryptor = wxpay.sensitive().unwrap();
    assert_eq!(encryptor.key_id(), common::PUB_KEY_ID);
    assert_eq!(encryptor.header(), ("Wechatpay-Serial", common::PUB_KEY_ID));

    let name = encryptor.encrypt(NAME).unwrap();
    let id_number = encryptor.encrypt(ID_NUMBER).unwrap();
    assert_ne!(name, encryptor.encrypt(NAME).unwrap(), "OAEP is randomised");
    let opts = encryptor
        .options(json!({"json": {"name": name, "id_card_number": id_number}}))
        .unwrap();
    wxpay
        .chain("v3/applyment4sub/applyment/")
        .post(opts)
        .unwrap();

    let seen = server.last();
    assert!(seen.signature_ok);
    assert_eq!(seen.headers["wechatpay-serial"], encryptor.key_id());
    assert_eq!(seen.headers.get_all("wechatpay-serial").iter().count(), 1);
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    let key_file = manifest("tests/fixtures/platform_private.pem");
    assert_eq!(
        openssl_decrypt(body["name"].as_str().unwrap(), &key_file).unwrap(),
        NAME.as_bytes()
    );
    assert_eq!(
        openssl_decrypt(body["id_card_number"].as_str().unwrap(), &key_file).unwrap(),
        ID_NUMBER.as_bytes()
    );
}

#[test]
fn the_simulator_accepts_the_header_and_openssl_decrypts_with_its_key_in_both_modes() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    for (mode, id, key_file) in [
        (
            Mode::PublicKey,
            demo::PLATFORM_PUBLIC_KEY_ID,
            "src/mock/demo/platform_public_key_private.pem",
        ),
        (
            Mode::PlatformCertificate,
            demo::PLATFORM_CERTIFICATE_SERIAL,
            "src/mock/demo/platform_certificate_private.pem",
        ),
    ] {
        let mock = MockServer::builder().mode(mode).start_blocking().unwrap();
        let wxpay = mock.client_builder().build().unwrap();
        let encryptor = wxpay.sensitive().unwrap();
        assert_eq!(encryptor.key_id(), id);
        let encrypted_name = encryptor.encrypt("示例商户全称").unwrap();
        let r = wxpay["v3/ecommerce/profitsharing/receivers/add"]
            .post(
                encryptor
                    .options(json!({"json": {
                        "appid": "wx8888888888888888",
                        "type": "MERCHANT_ID",
                        "account": "190001001",
                        "encrypted_name": encrypted_name,
                        "relation_type": "STORE",
                    }}))
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            openssl_decrypt(&encrypted_name, &manifest(key_file)).unwrap(),
            "示例商户全称".as_bytes()
        );
    }
}

#[test]
fn the_id_and_the_key_stay_together_when_the_store_changes() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let server = TestServer::start();
    let wxpay = server.client();
    let encryptor = wxpay.sensitive().unwrap();
    let name = encryptor.encrypt(NAME).unwrap();

    // The store moves on between encrypting and sending: another key becomes preferred.
    wxpay.platform_keys().remove(common::PUB_KEY_ID);
    wxpay.platform_keys().insert(
        demo::PLATFORM_PUBLIC_KEY_ID,
        Rsa::from_public(demo::PLATFORM_PUBLIC_KEY_PEM).unwrap(),
    );
    assert_eq!(
        wxpay.sensitive().unwrap().key_id(),
        demo::PLATFORM_PUBLIC_KEY_ID
    );

    // The request still names the key the field was encrypted to, not the new preferred one.
    // (The answer is signed with the removed key, so it is refused; what was sent is what counts.)
    let sent = wxpay
        .chain("v3/x")
        .post(encryptor.options(json!({"json": {"name": name}})).unwrap());
    assert!(matches!(sent, Err(Error::Verify(_))));
    let seen = server.last();
    assert_eq!(seen.headers["wechatpay-serial"], common::PUB_KEY_ID);
    assert_eq!(
        openssl_decrypt(&name, &manifest("tests/fixtures/platform_private.pem")).unwrap(),
        NAME.as_bytes()
    );
    assert!(
        openssl_decrypt(
            &name,
            &manifest("src/mock/demo/platform_public_key_private.pem")
        )
        .is_none(),
        "the field is bound to the old key only"
    );

    // Without the encryptor's options the signer sends the new preferred id.
    let _ = wxpay.chain("v3/x").get(());
    assert_eq!(
        server.last().headers["wechatpay-serial"],
        demo::PLATFORM_PUBLIC_KEY_ID
    );
}

#[test]
fn options_refuse_a_different_serial_and_keep_the_same_one() {
    let server = TestServer::start();
    let wxpay = server.client();
    let encryptor = wxpay.sensitive().unwrap();
    match encryptor.options(json!({"headers": {"Wechatpay-Serial": "PUB_KEY_ID_0000"}})) {
        Err(Error::Request(RequestError::InvalidHeader(message))) => {
            assert!(message.contains(common::PUB_KEY_ID), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // The same id (any case, any header spelling) is fine and not duplicated.
    let opts = encryptor
        .options(
            RequestOptions::new().header("wechatpay-serial", common::PUB_KEY_ID.to_lowercase()),
        )
        .unwrap();
    wxpay.chain("v3/x").get(opts).unwrap();
    assert_eq!(
        server
            .last()
            .headers
            .get_all("wechatpay-serial")
            .iter()
            .count(),
        1
    );
    // Malformed options are reported as such.
    assert!(matches!(
        encryptor.options(json!({"headers": 1})),
        Err(Error::Request(_))
    ));
}

#[test]
fn a_chosen_key_and_the_limits_of_encryption() {
    let mock = MockServer::builder()
        .mode(Mode::PlatformCertificate)
        .start_blocking()
        .unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    wxpay.platform_keys().insert(
        demo::PLATFORM_PUBLIC_KEY_ID,
        Rsa::from_public(demo::PLATFORM_PUBLIC_KEY_PEM).unwrap(),
    );
    // Preferred: the PUB_KEY_ID_ key, even though the certificate was added first.
    assert_eq!(
        wxpay.sensitive().unwrap().key_id(),
        demo::PLATFORM_PUBLIC_KEY_ID
    );
    let chosen = wxpay
        .sensitive_with(&demo::PLATFORM_CERTIFICATE_SERIAL.to_lowercase())
        .unwrap();
    assert_eq!(chosen.key_id(), demo::PLATFORM_CERTIFICATE_SERIAL);
    assert_eq!(
        chosen.public_key(),
        &Rsa::from_public(demo::PLATFORM_CERTIFICATE_PEM).unwrap()
    );
    assert!(matches!(
        wxpay.sensitive_with("PUB_KEY_ID_0000"),
        Err(Error::Unsupported(_))
    ));

    // A 2048-bit key takes at most 214 bytes with OAEP-SHA1.
    assert!(chosen.encrypt(&"a".repeat(214)).is_ok());
    assert!(matches!(
        chosen.encrypt(&"a".repeat(215)),
        Err(Error::Key(KeyError::Operation(_)))
    ));

    // Debug names the key id and nothing else.
    let text = format!("{chosen:?}");
    assert!(text.contains(demo::PLATFORM_CERTIFICATE_SERIAL), "{text}");

    // Stand-alone, without a client.
    let standalone = SensitiveEncryptor::new("PUB_KEY_ID_1", chosen.public_key().clone());
    assert_eq!(standalone.key_id(), "PUB_KEY_ID_1");
}

#[test]
fn a_client_that_trusts_no_key_yet_cannot_encrypt() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = Client::builder()
        .mchid(demo::MCHID)
        .serial(demo::MERCHANT_SERIAL)
        .private_key(demo::MERCHANT_PRIVATE_KEY_PEM)
        .base_uri(mock.base_uri())
        .apiv3_key(demo::APIV3_KEY)
        .refetch_certificates(true)
        .build()
        .unwrap();
    assert!(matches!(wxpay.sensitive(), Err(Error::Unsupported(_))));
}

#[test]
fn fields_openssl_encrypted_to_the_merchant_key_decrypt_with_the_client() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let server = TestServer::start();
    let wxpay = server.client();
    let field = openssl_encrypt(
        NAME.as_bytes(),
        &manifest("tests/fixtures/merchant_spki.pem"),
    );
    assert_eq!(wxpay.decrypt_sensitive(&field).unwrap(), NAME);
    assert_eq!(
        wxpay.decrypt_sensitive_bytes(&field).unwrap(),
        NAME.as_bytes()
    );

    // The same through every way of giving the key: loaded, PKCS#1, encrypted PKCS#8.
    let loaded = common::builder(&server.base_uri())
        .private_key_loaded(common::merchant_key())
        .build()
        .unwrap();
    assert_eq!(loaded.decrypt_sensitive(&field).unwrap(), NAME);
    loaded.chain("v3/x").get(()).unwrap(); // and it still signs
    let pkcs1 = common::builder(&server.base_uri())
        .private_key(common::fixture_url("merchant_pkcs1.pem"))
        .build()
        .unwrap();
    assert_eq!(pkcs1.decrypt_sensitive(&field).unwrap(), NAME);
    let encrypted = common::builder(&server.base_uri())
        .private_key_with_passphrase(common::fixture_url("merchant_encrypted.pem"), "wechatpay")
        .build()
        .unwrap();
    assert_eq!(encrypted.decrypt_sensitive(&field).unwrap(), NAME);

    // Garbage and other keys' ciphertexts are key errors; non-UTF-8 plaintext a decode error.
    assert!(matches!(
        wxpay.decrypt_sensitive("not base64!"),
        Err(Error::Key(KeyError::Malformed(_)))
    ));
    let foreign = openssl_encrypt(
        NAME.as_bytes(),
        &manifest("tests/fixtures/platform_public.pem"),
    );
    assert!(matches!(
        wxpay.decrypt_sensitive(&foreign),
        Err(Error::Key(KeyError::Operation(_)))
    ));
    let binary = openssl_encrypt(
        &[0xff, 0xfe, 0x00],
        &manifest("tests/fixtures/merchant_spki.pem"),
    );
    assert!(matches!(
        wxpay.decrypt_sensitive(&binary),
        Err(Error::Decode(_))
    ));
    assert_eq!(
        wxpay.decrypt_sensitive_bytes(&binary).unwrap(),
        [0xff, 0xfe, 0x00]
    );
}

/// A signer that keeps its key elsewhere (an HSM, say).
#[derive(Debug)]
struct External(RsaPrivateKey);

impl Signer for External {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.0.sign(message)
    }
}

#[test]
fn a_client_with_an_external_signer_cannot_decrypt() {
    let server = TestServer::start();
    let wxpay = common::builder(&server.base_uri())
        .signer(External(common::merchant_key()))
        .build()
        .unwrap();
    wxpay.chain("v3/x").get(()).unwrap();
    let field = Rsa::encrypt(NAME.as_bytes(), &common::merchant_key().public_key()).unwrap();
    match wxpay.decrypt_sensitive(&field) {
        Err(Error::Config(why)) => assert!(why.to_string().contains("external `Signer`"), "{why}"),
        other => panic!("{other:?}"),
    }
    // The client's Debug output never holds the private key.
    let text = format!("{wxpay:?} {:?}", server.client());
    assert!(!text.contains("PRIVATE"), "{text}");
}
