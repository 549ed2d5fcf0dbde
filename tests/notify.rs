//! Notifications: APIv3 (verify the signature, then decrypt the resource) and APIv2 (XML
//! `sign`, refund `req_info`). Notifications are built here the way WeChat Pay builds them:
//! signed with the platform key (by this crate and, separately, by the openssl command line)
//! and encrypted with the APIv3 key.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use wechatpay::crypto::{AesEcb, AesGcm, ApiV2Key, ApiV3Key, Formatter, HashAlgorithm, Rsa};
use wechatpay::error::{NotifyError, VerifyError};
use wechatpay::notify::{self, V2Verifier, Verifier};
use wechatpay::v2::Transformer;
use wechatpay::{json, PlatformKeys};

const APIV3_KEY: &str = "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6";
const PUB_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000";
const CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const NOW: i64 = 1_700_000_000;
const NONCE: &str = "fdasflkja484w";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn platform_keys() -> PlatformKeys {
    let keys = PlatformKeys::new();
    keys.insert(
        PUB_KEY_ID,
        Rsa::from_public(&common::fixture_url("platform_public.pem")).unwrap(),
    );
    keys.insert(
        CERT_SERIAL,
        Rsa::from_public(&common::fixture_url("platform_cert.pem")).unwrap(),
    );
    keys
}

fn verifier() -> Verifier {
    Verifier::new(platform_keys(), ApiV3Key::new(APIV3_KEY).unwrap())
}

fn transaction() -> serde_json::Value {
    json!({
        "mchid": "1900000001",
        "appid": "wxd678efh567hg6787",
        "out_trade_no": "1217752501201407033233368018",
        "transaction_id": "1217752501201407033233368018",
        "trade_state": "SUCCESS",
        "amount": { "total": 100, "currency": "CNY" },
        "payer": { "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" }
    })
}

/// The JSON body WeChat Pay posts, with `plaintext` encrypted under `key`.
fn body_for(plaintext: &[u8], key: &str, algorithm: &str) -> Vec<u8> {
    let nonce = "0123456789ab";
    let aad = "transaction";
    let ciphertext =
        AesGcm::encrypt(plaintext, key.as_bytes(), nonce.as_bytes(), aad.as_bytes()).unwrap();
    json!({
        "id": "EV-2018022511223320873",
        "create_time": "2015-05-20T13:29:35+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            "algorithm": algorithm,
            "ciphertext": ciphertext,
            "associated_data": aad,
            "nonce": nonce
        }
    })
    .to_string()
    .into_bytes()
}

/// Headers in the letter case a proxy might pass on (HeaderMap matches any case).
fn headers(timestamp: &str, serial: &str, signature: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [
        ("WECHATPAY-TIMESTAMP", timestamp),
        ("Wechatpay-Nonce", NONCE),
        ("wechatpay-serial", serial),
        ("WeChatPay-Signature", signature),
    ] {
        h.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    h
}

/// Signs `TS\nNONCE\nBODY\n` with the platform key, as WeChat Pay does.
fn signed(body: &[u8], timestamp: i64, serial: &str) -> HeaderMap {
    let ts = timestamp.to_string();
    let key = Rsa::from_private(&common::fixture_url("platform_private.pem")).unwrap();
    let signature = Rsa::sign(&Formatter::response(&ts, NONCE, body), &key).unwrap();
    headers(&ts, serial, &signature)
}

fn notification() -> (HeaderMap, Vec<u8>) {
    let body = body_for(
        transaction().to_string().as_bytes(),
        APIV3_KEY,
        "AEAD_AES_256_GCM",
    );
    (signed(&body, NOW, PUB_KEY_ID), body)
}

#[test]
fn a_genuine_notification_verifies_and_decrypts() {
    let (headers, body) = notification();
    let n = verifier()
        .verify_and_decrypt(&headers, &body, NOW + 5)
        .unwrap();
    assert_eq!(n.event_type, "TRANSACTION.SUCCESS");
    assert_eq!(n.id, "EV-2018022511223320873");
    assert_eq!(n.summary, "支付成功");
    assert_eq!(n.original_type, "transaction");
    assert_eq!(n.resource, transaction());
}

#[test]
fn the_resource_decrypts_into_a_callers_type() {
    #[derive(Debug, Deserialize)]
    struct Amount {
        total: u64,
    }
    #[derive(Debug, Deserialize)]
    struct Transaction {
        out_trade_no: String,
        trade_state: String,
        amount: Amount,
    }
    let (headers, body) = notification();
    let n = verifier()
        .verify_and_decrypt_as::<Transaction>(&headers, &body, NOW)
        .unwrap();
    assert_eq!(n.resource.out_trade_no, "1217752501201407033233368018");
    assert_eq!(n.resource.trade_state, "SUCCESS");
    assert_eq!(n.resource.amount.total, 100);

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // only the failure matters
    struct Wrong {
        refund_id: String,
    }
    let err = verifier()
        .verify_and_decrypt_as::<Wrong>(&headers, &body, NOW)
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::BadPlaintext(ref why) if why.contains("refund_id")),
        "{err}"
    );
}

#[test]
fn certificate_serials_work_too() {
    let body = body_for(b"{\"ok\":true}", APIV3_KEY, "AEAD_AES_256_GCM");
    let headers = signed(&body, NOW, &CERT_SERIAL.to_ascii_lowercase());
    let n = verifier().verify_and_decrypt(&headers, &body, NOW).unwrap();
    assert_eq!(n.resource, json!({"ok": true}));
}

#[test]
fn a_notification_signed_by_openssl_verifies() {
    if !common::openssl_available() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let (_, body) = notification();
    let ts = NOW.to_string();
    let signature = common::openssl_sign(
        fixture("platform_private.pem"),
        &Formatter::response(&ts, NONCE, &body),
    );
    let headers = headers(&ts, PUB_KEY_ID, &signature);
    let n = verifier().verify_and_decrypt(&headers, &body, NOW).unwrap();
    assert_eq!(
        n.resource["payer"]["openid"],
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    );
}

/// Each kind of bad notification fails at its own step, with its own error.
#[test]
fn each_failure_names_its_step() {
    let v = verifier();
    let (headers, body) = notification();

    // Tampered body: the signature no longer matches.
    let mut tampered = body.clone();
    let at = tampered.iter().position(|&b| b == b'2').unwrap();
    tampered[at] = b'3';
    let body_err = v.verify_and_decrypt(&headers, &tampered, NOW).unwrap_err();
    assert_eq!(body_err, NotifyError::Verify(VerifyError::BadSignature));

    // Tampered header: a timestamp that is not a number.
    let mut bad_header = headers.clone();
    bad_header.insert(
        "wechatpay-timestamp",
        HeaderValue::from_static("17OOOOOOOO"),
    );
    let header_err = v.verify_and_decrypt(&bad_header, &body, NOW).unwrap_err();
    assert!(
        matches!(
            header_err,
            NotifyError::Verify(VerifyError::BadTimestamp(_))
        ),
        "{header_err}"
    );

    // Stale timestamp: signed 301 s before "now".
    let stale_err = v
        .verify_and_decrypt(&headers, &body, NOW + 301)
        .unwrap_err();
    assert!(
        matches!(
            stale_err,
            NotifyError::Verify(VerifyError::ClockSkew {
                skew_seconds: -301,
                allowed_seconds: 300
            })
        ),
        "{stale_err}"
    );

    // Unknown serial: signed by the right key but naming a key nobody trusts.
    let unknown = signed(&body, NOW, "PUB_KEY_ID_0000000000000000000");
    let serial_err = v.verify_and_decrypt(&unknown, &body, NOW).unwrap_err();
    assert!(
        matches!(
            serial_err,
            NotifyError::Verify(VerifyError::UnknownSerial(_))
        ),
        "{serial_err}"
    );

    // Wrong APIv3 key: genuine, verified, but not decryptable with our key.
    let other_key = Verifier::new(
        platform_keys(),
        ApiV3Key::new("ffffffffffffffffffffffffffffffff").unwrap(),
    );
    let key_err = other_key
        .verify_and_decrypt(&headers, &body, NOW)
        .unwrap_err();
    assert_eq!(key_err, NotifyError::Decrypt);

    let all = [&body_err, &header_err, &stale_err, &serial_err, &key_err];
    let messages: std::collections::BTreeSet<String> = all.iter().map(|e| e.to_string()).collect();
    assert_eq!(messages.len(), all.len(), "{messages:?}");
}

#[test]
fn other_header_changes_break_the_signature_or_are_missing() {
    let v = verifier();
    let (headers, body) = notification();

    // A changed nonce is signed data, so it reads as a bad signature (as a changed body
    // does: the signature cannot tell which part changed).
    let mut nonce = headers.clone();
    nonce.insert("wechatpay-nonce", HeaderValue::from_static("another-nonce"));
    assert_eq!(
        v.verify_and_decrypt(&nonce, &body, NOW).unwrap_err(),
        NotifyError::Verify(VerifyError::BadSignature)
    );
    // A timestamp moved within the allowed window, likewise.
    let mut moved = headers.clone();
    moved.insert(
        "wechatpay-timestamp",
        HeaderValue::from_str(&(NOW + 1).to_string()).unwrap(),
    );
    assert_eq!(
        v.verify_and_decrypt(&moved, &body, NOW).unwrap_err(),
        NotifyError::Verify(VerifyError::BadSignature)
    );
    // A signature from a key nobody trusts.
    let stranger = Rsa::from_private(&common::fixture_url("stranger_private.pem")).unwrap();
    let forged = Rsa::sign(
        &Formatter::response(&NOW.to_string(), NONCE, &body),
        &stranger,
    )
    .unwrap();
    let forged = headers_with(&headers, "wechatpay-signature", &forged);
    assert_eq!(
        v.verify_and_decrypt(&forged, &body, NOW).unwrap_err(),
        NotifyError::Verify(VerifyError::BadSignature)
    );
    // Each header is required.
    for name in [
        "Wechatpay-Timestamp",
        "Wechatpay-Nonce",
        "Wechatpay-Serial",
        "Wechatpay-Signature",
    ] {
        let mut missing = headers.clone();
        missing.remove(name);
        assert_eq!(
            v.verify_and_decrypt(&missing, &body, NOW).unwrap_err(),
            NotifyError::Verify(VerifyError::MissingHeader(name))
        );
    }
}

fn headers_with(base: &HeaderMap, name: &'static str, value: &str) -> HeaderMap {
    let mut h = base.clone();
    h.insert(name, HeaderValue::from_str(value).unwrap());
    h
}

#[test]
fn signed_but_malformed_bodies_are_reported_as_such() {
    let v = verifier();

    let not_json = b"certainly not json".to_vec();
    let err = v
        .verify_and_decrypt(&signed(&not_json, NOW, PUB_KEY_ID), &not_json, NOW)
        .unwrap_err();
    assert!(matches!(err, NotifyError::BadJson(_)), "{err}");

    let no_resource = br#"{"id":"x","event_type":"TRANSACTION.SUCCESS"}"#.to_vec();
    let err = v
        .verify_and_decrypt(&signed(&no_resource, NOW, PUB_KEY_ID), &no_resource, NOW)
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::BadJson(ref why) if why.contains("resource")),
        "{err}"
    );

    let other_algorithm = body_for(b"{}", APIV3_KEY, "AEAD_SM4_GCM");
    let err = v
        .verify_and_decrypt(
            &signed(&other_algorithm, NOW, PUB_KEY_ID),
            &other_algorithm,
            NOW,
        )
        .unwrap_err();
    assert_eq!(
        err,
        NotifyError::UnsupportedAlgorithm("AEAD_SM4_GCM".into())
    );

    let not_json_inside = body_for(b"<xml/>", APIV3_KEY, "AEAD_AES_256_GCM");
    let err = v
        .verify_and_decrypt(
            &signed(&not_json_inside, NOW, PUB_KEY_ID),
            &not_json_inside,
            NOW,
        )
        .unwrap_err();
    assert!(matches!(err, NotifyError::BadPlaintext(_)), "{err}");
}

#[test]
fn notify_errors_fit_the_crate_error() {
    let e: wechatpay::Error = NotifyError::Decrypt.into();
    assert_eq!(
        e.to_string(),
        "notification rejected: resource did not decrypt (wrong key or tampered ciphertext)"
    );
    // The detail is in the text already; a chain printer must not repeat it as a cause.
    assert!(std::error::Error::source(&e).is_none());
    assert!(std::mem::size_of::<wechatpay::Error>() <= 128);
}

#[test]
fn verify_and_decrypt_now_reads_the_clock() {
    let body = body_for(b"{\"n\":1}", APIV3_KEY, "AEAD_AES_256_GCM");
    let headers = signed(&body, Formatter::timestamp(), PUB_KEY_ID);
    assert_eq!(
        verifier()
            .verify_and_decrypt_now(&headers, &body)
            .unwrap()
            .resource["n"],
        1
    );
    // The fixed-time notification from 2023 is long stale now.
    let (old_headers, old_body) = notification();
    assert!(matches!(
        verifier().verify_and_decrypt_now(&old_headers, &old_body),
        Err(NotifyError::Verify(VerifyError::ClockSkew { .. }))
    ));
}

#[test]
fn verifier_debug_hides_the_apiv3_key() {
    let shown = format!("{:?}", verifier());
    assert!(!shown.contains(APIV3_KEY), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

// -- APIv2 --------------------------------------------------------------------------------

/// WeChat Pay's published APIv2 signing example (安全规范, 签名算法).
const V2_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

fn v2_fields() -> BTreeMap<String, String> {
    [
        ("appid", "wxd930ea5d5a258f4f"),
        ("mch_id", "10000100"),
        ("device_info", "1000"),
        ("body", "test"),
        ("nonce_str", "ibuaiVcKdpRxkhJA"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn v2_sign_matches_the_published_example() {
    let key = ApiV2Key::new(V2_KEY);
    assert_eq!(
        wechatpay::v2::sign(&v2_fields(), &key, HashAlgorithm::Md5),
        "9A0A8659F005D6984697E2CA0A9CF3B7"
    );
    assert_eq!(
        wechatpay::v2::sign(&v2_fields(), &key, HashAlgorithm::HmacSha256),
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    );
}

#[test]
fn v2_md5_notification_verifies() {
    let mut fields = v2_fields();
    fields.insert("sign".into(), "9A0A8659F005D6984697E2CA0A9CF3B7".into());
    let xml = Transformer::to_xml(&fields);
    let verified = V2Verifier::new(ApiV2Key::new(V2_KEY)).verify(&xml).unwrap();
    assert_eq!(verified, fields);

    // A changed field, the wrong key, or no sign at all.
    let tampered = xml.replace("10000100", "10000101");
    assert_eq!(
        V2Verifier::new(ApiV2Key::new(V2_KEY))
            .verify(&tampered)
            .unwrap_err(),
        NotifyError::BadSign
    );
    assert_eq!(
        V2Verifier::new(ApiV2Key::new("wrong"))
            .verify(&xml)
            .unwrap_err(),
        NotifyError::BadSign
    );
    fields.remove("sign");
    assert_eq!(
        V2Verifier::new(ApiV2Key::new(V2_KEY))
            .verify(Transformer::to_xml(&fields))
            .unwrap_err(),
        NotifyError::MissingSign
    );
}

#[test]
fn v2_hmac_notification_verifies_by_sign_type_or_pinned() {
    let mut fields = v2_fields();
    fields.insert("sign_type".into(), "HMAC-SHA256".into());
    let key = ApiV2Key::new(V2_KEY);
    let sign = wechatpay::v2::sign(&fields, &key, HashAlgorithm::HmacSha256);
    fields.insert("sign".into(), sign);
    let xml = Transformer::to_xml(&fields);
    V2Verifier::new(key.clone()).verify(&xml).unwrap();
    V2Verifier::new(key.clone())
        .algorithm(HashAlgorithm::HmacSha256)
        .verify(&xml)
        .unwrap();
    // Pinned to MD5, the HMAC sign does not match.
    assert_eq!(
        V2Verifier::new(key.clone())
            .algorithm(HashAlgorithm::Md5)
            .verify(&xml)
            .unwrap_err(),
        NotifyError::BadSign
    );
    // Without sign_type the published HMAC vector still verifies when pinned.
    let mut plain = v2_fields();
    plain.insert(
        "sign".into(),
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6".into(),
    );
    V2Verifier::new(key.clone())
        .algorithm(HashAlgorithm::HmacSha256)
        .verify_fields(&plain)
        .unwrap();

    fields.insert("sign_type".into(), "SHA1".into());
    assert_eq!(
        V2Verifier::new(key).verify_fields(&fields).unwrap_err(),
        NotifyError::UnsupportedSignType("SHA1".into())
    );
}

#[test]
fn v2_refund_req_info_round_trip() {
    let key = ApiV2Key::new(V2_KEY);
    let inner = "<root><out_refund_no><![CDATA[131811191610442717309]]></out_refund_no>\
                 <refund_status><![CDATA[SUCCESS]]></refund_status><refund_fee><![CDATA[3960]]></refund_fee>\
                 <success_time><![CDATA[2017-12-15 10:55:34]]></success_time></root>";
    // WeChat Pay's key derivation: AES-256-ECB under md5(APIv2 key) as lower-case hex.
    let req_info = AesEcb::encrypt(inner.as_bytes(), key.refund_key().as_bytes()).unwrap();
    let xml = format!(
        "<xml><return_code>SUCCESS</return_code><appid><![CDATA[wxd930ea5d5a258f4f]]></appid>\
         <mch_id><![CDATA[10000100]]></mch_id><nonce_str><![CDATA[TeqClE3i0mvn3DrK]]></nonce_str>\
         <req_info><![CDATA[{req_info}]]></req_info></xml>"
    );
    let refund = V2Verifier::new(key).decrypt_refund(&xml).unwrap();
    assert_eq!(refund.fields["mch_id"], "10000100");
    assert_eq!(refund.req_info["out_refund_no"], "131811191610442717309");
    assert_eq!(refund.req_info["refund_status"], "SUCCESS");
    assert_eq!(refund.req_info["success_time"], "2017-12-15 10:55:34");

    assert_eq!(
        V2Verifier::new(ApiV2Key::new("another key"))
            .decrypt_refund(&xml)
            .unwrap_err(),
        NotifyError::Decrypt
    );
    let fail = "<xml><return_code>FAIL</return_code><return_msg>x</return_msg></xml>";
    assert!(matches!(
        V2Verifier::new(ApiV2Key::new(V2_KEY)).decrypt_refund(fail),
        Err(NotifyError::BadXml(_))
    ));
}

#[test]
fn v2_xml_with_a_doctype_or_entity_is_rejected() {
    let v = V2Verifier::new(ApiV2Key::new(V2_KEY));
    for xml in [
        // XXE: an external entity reading a local file.
        "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
         <xml><appid>&xxe;</appid><sign>x</sign></xml>",
        // Billion laughs.
        "<!DOCTYPE xml [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;\">]>\
         <xml><appid>&b;</appid><sign>x</sign></xml>",
        // An entity without a DTD.
        "<xml><appid>&xxe;</appid><sign>x</sign></xml>",
    ] {
        assert!(
            matches!(v.verify(xml), Err(NotifyError::BadXml(_))),
            "{xml}"
        );
    }
}

#[test]
fn replies() {
    let ok = notify::v3_success();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "application/json");
    let fail = notify::v3_failure("verification failed");
    assert!(fail.status().is_server_error());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(fail.body()).unwrap(),
        json!({"code": "FAIL", "message": "verification failed"})
    );
    assert_eq!(
        Transformer::to_map(notify::v2_success()).unwrap()["return_code"],
        "SUCCESS"
    );
    let v2_fail = Transformer::to_map(notify::v2_failure("签名失败")).unwrap();
    assert_eq!(v2_fail["return_code"], "FAIL");
    assert_eq!(v2_fail["return_msg"], "签名失败");
}

/// The simulator builds notifications as WeChat Pay sends them; a handler's verifier accepts
/// them in both signing modes and refuses each kind of tampering with its own error.
#[test]
fn notifications_built_by_the_simulator_verify_and_decrypt() {
    use wechatpay::mock::{demo, MockServer, Mode};
    for mode in [Mode::PublicKey, Mode::PlatformCertificate] {
        let mock = MockServer::builder().mode(mode).start_blocking().unwrap();
        let client = mock.client_builder().build().unwrap();
        let resource =
            json!({"out_trade_no": "1217752501201407033233368018", "trade_state": "SUCCESS"});
        let (headers, body) = mock
            .notification("TRANSACTION.SUCCESS", "transaction", &resource)
            .unwrap();
        let key = ApiV3Key::new(demo::APIV3_KEY).unwrap();
        let verifier = notify::Verifier::new(client.platform_keys().clone(), key);
        let now = wechatpay::crypto::Formatter::timestamp();
        let n = verifier.verify_and_decrypt(&headers, &body, now).unwrap();
        assert_eq!(n.event_type, "TRANSACTION.SUCCESS");
        assert_eq!(n.resource, resource);

        let mut tampered = body.to_vec();
        let at = tampered.iter().position(|&b| b == b'T').unwrap();
        tampered[at] = b'X';
        assert!(matches!(
            verifier.verify_and_decrypt(&headers, &tampered, now),
            Err(NotifyError::Verify(VerifyError::BadSignature))
        ));
        assert!(matches!(
            verifier.verify_and_decrypt(&headers, &body, now + 301),
            Err(NotifyError::Verify(VerifyError::ClockSkew { .. }))
        ));
        let wrong_key = notify::Verifier::new(
            client.platform_keys().clone(),
            ApiV3Key::new("0123456789abcdef0123456789abcdef").unwrap(),
        );
        assert!(matches!(
            wrong_key.verify_and_decrypt(&headers, &body, now),
            Err(NotifyError::Decrypt)
        ));
    }
}
