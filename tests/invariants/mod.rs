//! What must hold for any input at the crate's public entry points, written once and used by
//! both the property tests (`tests/properties.rs`) and the cargo-fuzz targets (`fuzz/`, which
//! include this folder by path), so the two cannot drift apart.
//!
//! Each `check_*` function takes raw input, drives one entry point, and panics (with the
//! input's story, never a key) when an invariant breaks. Errors are fine as long as they are
//! the typed errors the entry point documents; a panic inside the crate is always a failure.
//! Nothing here opens a socket or a file: building a request sends nothing.
#![allow(dead_code)] // each user of this module calls a different part of it

pub mod keys;
pub mod notify;
pub mod request;
pub mod response;
pub mod targets;
pub mod xml;

use std::sync::OnceLock;

use wechatpay::crypto::{ApiV2Key, ApiV3Key, Formatter, Rsa, RsaPrivateKey};
use wechatpay::http::{HeaderMap, HeaderName, HeaderValue};
use wechatpay::mock::demo;
use wechatpay::{Client, PlatformKeys};

/// The client requests are built with: the simulator's demo merchant, on WeChat Pay's host.
pub const BASE_URI: &str = "https://api.mch.weixin.qq.com/";

/// The clock of every signature check, and the `Wechatpay-Timestamp` of the seeds.
pub const NOW: i64 = 1_700_000_000;

/// WeChat Pay's documented clock-skew allowance.
pub const MAX_SKEW: u64 = 300;

/// The id WeChat Pay's public key is trusted under (public-key mode), with
/// `tests/fixtures/platform_private.pem` as its private half, so answers and notifications can
/// be signed here as WeChat Pay signs them.
pub const PUB_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000";

/// The serial of `tests/fixtures/platform_cert.pem` (certificate mode), trusted as well.
pub const CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

/// The keys the checks sign and verify with, parsed once.
pub struct Keys {
    /// Signs answers and notifications as WeChat Pay would, under [`PUB_KEY_ID`].
    pub platform_signing: RsaPrivateKey,
    /// Trusts [`PUB_KEY_ID`] and [`CERT_SERIAL`].
    pub trusted: PlatformKeys,
    pub apiv3: ApiV3Key,
    pub apiv2: ApiV2Key,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let public = |pem: &str| Rsa::from_public(pem).expect("a fixture public key loads");
        let trusted = PlatformKeys::new();
        trusted.insert(
            PUB_KEY_ID,
            public(include_str!("../fixtures/platform_public.pem")),
        );
        trusted.insert(
            CERT_SERIAL,
            public(include_str!("../fixtures/platform_cert.pem")),
        );
        Keys {
            platform_signing: Rsa::from_private(include_str!("../fixtures/platform_private.pem"))
                .expect("the fixture platform key loads"),
            trusted,
            apiv3: ApiV3Key::new(demo::APIV3_KEY).expect("the demo APIv3 key is 32 bytes"),
            apiv2: ApiV2Key::new(demo::APIV2_KEY),
        }
    })
}

/// One client for every build: the demo merchant on [`BASE_URI`].
pub fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder()
            .mchid(demo::MCHID)
            .serial(demo::MERCHANT_SERIAL)
            .private_key(demo::MERCHANT_PRIVATE_KEY_PEM)
            .cert(demo::PLATFORM_PUBLIC_KEY_ID, demo::PLATFORM_PUBLIC_KEY_PEM)
            .base_uri(BASE_URI)
            .build()
            .expect("the demo merchant makes a client")
    })
}

/// Headers from `Name: value` lines, as a proxy would pass them on. Lines that are not a
/// valid header are skipped; a repeated name keeps every value, in order.
pub fn headers_from_text(text: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    headers
}

/// `(headers, body)` from `Name: value` lines, an empty line, then the body, like an HTTP
/// message. Without an empty line everything is the body.
pub fn split_message(input: &[u8]) -> (HeaderMap, &[u8]) {
    let Some(end) = input.windows(2).position(|w| w == b"\n\n") else {
        return (HeaderMap::new(), input);
    };
    let head = String::from_utf8_lossy(&input[..end]);
    (headers_from_text(&head), &input[end + 2..])
}

/// The four `Wechatpay-*` headers WeChat Pay signs `body` with, at `timestamp`, under
/// [`PUB_KEY_ID`].
pub fn signed_headers(timestamp: &str, nonce: &str, body: &[u8]) -> HeaderMap {
    let signature = Rsa::sign(
        &Formatter::response(timestamp, nonce, body),
        &keys().platform_signing,
    )
    .expect("the fixture platform key signs");
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("Wechatpay-Timestamp", timestamp),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Serial", PUB_KEY_ID),
        ("Wechatpay-Signature", signature.as_str()),
    ] {
        headers.insert(
            name,
            HeaderValue::from_str(value).expect("a signed header is valid text"),
        );
    }
    headers
}
