//! Every public path users write, one `use` each: if a move in `src/` breaks one, this file
//! stops compiling. Paths that were public once and moved are listed in CHANGELOG.md with
//! their new place (`wechatpay::placeholders` became `Chain::placeholders`,
//! `wechatpay::platform_keys::PlatformKeys` is `wechatpay::PlatformKeys`,
//! `wechatpay::middleware::Refetch` is `wechatpay::certificates::Refetch`, and `notify` no
//! longer repeats `crypto`'s key types and `error::NotifyError`).

#![allow(unused_imports)]

use wechatpay::catalog;
use wechatpay::certificates::{
    self, decode, install, CertificateDownloader, PlatformCertificate, Refetch, RefreshHandle,
    ENDPOINT,
};
use wechatpay::crypto::{
    AesEcb, AesGcm, ApiV2Key, ApiV3Key, CertificateInfo, Formatter, Hash, HashAlgorithm, PemBlock,
    PemUtil, Rsa, RsaPrivateKey, RsaPublicKey, SignValue, UnknownHashAlgorithm, BACKEND,
};
use wechatpay::download::{is_unsigned_download, sha1_matches, UNSIGNED_DOWNLOADS};
use wechatpay::error::{
    ConfigError, KeyError, NotifyError, RequestError, TimeoutStage, VerifyError,
};
use wechatpay::jsapi::{send_coupon_sign, AppPayParams, PayParams};
use wechatpay::middleware::{
    BoxFuture, Middleware, Next, SignedBody, SignerLayer, Stack, UnsignedResponse, VerifierLayer,
};
use wechatpay::mock::{demo, MockServer, Mode};
use wechatpay::notify::{
    v2_failure, v2_success, v3_failure, v3_success, Notification, RefundNotification, Resource,
    V2Verifier, Verifier, AEAD_AES_256_GCM,
};
use wechatpay::sign::{authorization, Signer, SigningParams};
use wechatpay::v2::{Transformer, XmlError};
use wechatpay::verify::{
    verify_response, DEFAULT_MAX_SKEW_SECONDS, NONCE, SERIAL, SIGNATURE, TIMESTAMP,
};
use wechatpay::{
    chain, http, json, segment_from_php, Builder, CallInfo, Chain, Client, ClientBuilder, Error,
    HttpRequest, HttpResponse, IntoRequestOptions, PlatformKeys, RequestOptions, Response, Result,
    SensitiveEncryptor,
};

/// The paths resolve to the items users expect, not to look-alikes.
#[test]
fn the_public_paths_name_the_expected_items() {
    assert!(std::any::type_name::<Client>().ends_with("::Client"));
    assert!(std::any::type_name::<PlatformKeys>().ends_with("::PlatformKeys"));
    assert_eq!(ENDPOINT, "v3/certificates");
    assert_eq!(TIMESTAMP, "Wechatpay-Timestamp");
    assert_eq!(segment_from_php("membercardOpen"), "membercard-open");
    assert!(UNSIGNED_DOWNLOADS.contains(&("GET", "v3/billdownload/file")));
    assert_eq!(
        wechatpay::v2::sign([("a", "1")], &ApiV2Key::new("k"), HashAlgorithm::Md5).len(),
        32
    );
    let _ = wechatpay::v2::verify;
    let _ = RequestOptions::new().var("x", 1);
    let _: &[&str] = RequestOptions::KEYS;
    assert_eq!(DEFAULT_MAX_SKEW_SECONDS, 300);
}
