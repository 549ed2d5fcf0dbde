//! # wechatpay
//!
//! A client for the WeChat Pay (微信支付) merchant APIs that mirrors wechatpay-php: one
//! chainable path builder that reaches every endpoint (all 1154 in WeChat Pay's catalog, and
//! any future one), with request signing and response verification underneath, blocking or
//! async.
//!
//! ```no_run
//! use wechatpay::{json, Client};
//!
//! # async fn demo() -> wechatpay::Result<()> {
//! let wxpay = Client::builder()
//!     .mchid("1900000001")
//!     .serial("1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C")
//!     .private_key("file:///path/to/apiclient_key.pem")
//!     .cert("PUB_KEY_ID_0114232134912410000", "file:///path/to/pub_key.pem")
//!     .build()?;
//!
//! let opts = json!({
//!     "card_id": "pbLatjvWOibDc5-TBnbUk1pD12o0",
//!     "code": "478515832665",
//!     "json": { "reason": "用户违反会员条例" },
//! });
//! // 1. method chain
//! let r = wxpay.v3().marketing().membercard_open().cards()._card_id_().codes()._code_().unavailable().post(&opts)?;
//! let r = wxpay.v3().marketing().membercard_open().cards()._card_id_().codes()._code_().unavailable().post_async(&opts).await?;
//! // 2. string path
//! let r = wxpay.chain("v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable").post(&opts)?;
//! // 3. index
//! let r = wxpay["v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable"].post_async(&opts).await?;
//! assert_eq!(r.status(), 204);
//! # Ok(()) }
//! ```
//!
//! ## Try it without an account
//!
//! The `mock` feature adds a local WeChat Pay simulator that checks signatures as WeChat Pay
//! does and signs its answers; its client builder comes preconfigured with a demo merchant.
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use wechatpay::{json, mock::MockServer, Error};
//!
//! let mock = MockServer::start_blocking()?;
//! let wxpay = mock.client_builder().build()?;
//! let chain = wxpay.chain("v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable");
//! let opts = json!({"card_id": "pbLatjvWOibDc5-TBnbUk1pD12o0", "code": "478515832665", "json": {"reason": "r"}});
//! assert_eq!(chain.post(&opts)?.status(), 204);
//! // The code is unavailable now: WeChat Pay's error JSON becomes `Error::Api`.
//! match chain.post(&opts) {
//!     Err(Error::Api { status, code, .. }) => assert_eq!((status.as_u16(), code.as_str()), (400, "INVALID_REQUEST")),
//!     other => panic!("expected an API error, got {other:?}"),
//! }
//! // A missing placeholder never reaches the wire.
//! assert!(matches!(chain.post(json!({"card_id": "x"})), Err(Error::Request(_))));
//! # }
//! # Ok::<(), wechatpay::Error>(())
//! ```
//!
//! ## Layers
//!
//! | layer | where |
//! | --- | --- |
//! | the chain: method tree, string paths, index, [`chain!`] | [`Chain`], [`catalog`] |
//! | request assembly: `{x}` / `{+x}` templates, query, JSON, headers | [`RequestOptions`] |
//! | middleware: `verifier`, `signer` (APIv3), `transform_response`, `transform_request` (APIv2), and yours | [`middleware`] |
//! | transport: one pooled hyper client over rustls | [`ClientBuilder`] settings |
//! | signing and verification as pure functions | [`sign`], [`verify`] |
//! | the crypto toolbox (`Rsa`, `AesGcm`, `AesEcb`, `Hash`, `Formatter`, `PemUtil`) | [`crypto`] |
//! | WeChat Pay's keys: serials and `PUB_KEY_ID_...`, the certificate downloader | [`PlatformKeys`], [`certificates`] |
//! | notifications, sensitive fields, JSAPI signatures | [`notify`], [`Client::sensitive`], [`jsapi`] |
//! | media uploads; streaming, digest-checked downloads and bills | [`media`], [`download`] |
//! | APIv2: XML, `sign`, the fields of a call, unsigned endpoints (`docs/apiv2.md`) | [`v2`] |
//! | the simulator | `mock` (feature `mock`) |
//!
//! ## Cargo features
//!
//! | feature | default | what |
//! | --- | --- | --- |
//! | `ring` | yes | ring for RSA, AES-GCM, HMAC and digests, and as the rustls provider |
//! | `aws-lc-rs` | no | aws-lc-rs instead (about twice as fast at RSA signing); wins when both are on |
//! | `mock` | no | [`mock`](https://docs.rs/wechatpay-chain/latest/wechatpay/mock/), the local simulator |
//! | `cli` | no | the `wxpay` binary (`cargo install wechatpay-chain --features cli`); implies `mock` |
//!
//! The guides in `docs/` (getting started, coming from wechatpay-php, APIv2, performance, the
//! design decisions) are tested with the crate.
#![forbid(unsafe_code)]
// docs.rs builds on nightly with `--cfg docsrs`: the `doc(cfg)` badges (e.g. on `mock`) need the
// unstable feature there.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, clippy::unwrap_used)]
// Unit tests may unwrap: a panic there is a failed test with its message.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod catalog;
pub mod certificates;
mod client;
pub mod crypto;
pub mod download;
pub mod error;
pub mod jsapi;
pub mod media;
pub mod middleware;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;
pub mod notify;
mod request;
mod sensitive;
mod sync;
mod transport;
mod trust;
pub mod v2;

pub use client::{segment_from_php, Builder, Chain, Client, ClientBuilder};
pub use error::{Error, Result};
pub use middleware::retry::RetryPolicy;
pub use request::options::{IntoRequestOptions, RequestOptions};
pub use request::response::Response;
pub use request::CallInfo;
pub use sensitive::SensitiveEncryptor;
pub use serde_json::json;
pub use trust::platform_keys::PlatformKeys;
pub use trust::{sign, verify};

/// The request type middleware layers see: the body is fully assembled.
pub type HttpRequest = http::Request<bytes::Bytes>;
/// The response type middleware layers see: the body is fully read.
pub type HttpResponse = http::Response<bytes::Bytes>;

/// Re-exported so callers can name methods and build headers without adding `http` themselves.
pub use http;

/// The Markdown pages whose Rust blocks `cargo test --doc` compiles and runs (most against the
/// simulator), so the documentation cannot drift from the crate.
#[cfg(all(doctest, feature = "mock"))]
mod doc_pages {
    #[doc = include_str!("../README.md")]
    struct Readme;
    #[doc = include_str!("../docs/getting-started.md")]
    struct GettingStarted;
    #[doc = include_str!("../docs/from-php.md")]
    struct FromPhp;
    #[doc = include_str!("../docs/apiv2.md")]
    struct ApiV2;
    #[doc = include_str!("../docs/reliability.md")]
    struct Reliability;
    #[doc = include_str!("../docs/media-and-downloads.md")]
    struct MediaAndDownloads;
    #[doc = include_str!("../docs/endpoints/unbind-card-link.md")]
    struct UnbindCardLink;
    #[doc = include_str!("../docs/endpoints/busifavor-coupons-disassociate.md")]
    struct BusifavorCouponsDisassociate;
    #[doc = include_str!("../docs/endpoints/membercard-code-unavailable.md")]
    struct MembercardCodeUnavailable;
    #[doc = include_str!("../docs/endpoints/brandstores-unbindrecipient.md")]
    struct BrandstoresUnbindrecipient;
    #[doc = include_str!("../docs/endpoints/password-exempt-contract-terminate.md")]
    struct PasswordExemptContractTerminate;
}

#[allow(dead_code)]
fn assert_thread_safety() {
    fn is<T: Send + Sync + 'static>() {}
    is::<Client>();
    is::<Chain>();
    is::<Response>();
    is::<Error>();
    is::<media::MediaUtil>();
    fn send<T: Send + 'static>() {}
    send::<download::Download>();
}
