//! WeChat Pay notifications (回调通知): check that WeChat Pay sent them, then decrypt them.
//!
//! **APIv3** ([`Verifier`]): the request carries the same `Wechatpay-Timestamp`, `-Nonce`,
//! `-Serial` and `-Signature` headers as a response, signed over `TIMESTAMP\nNONCE\nBODY\n`
//! with WeChat Pay's key. The JSON body's `resource` is AEAD_AES_256_GCM-encrypted with the
//! merchant's APIv3 key. Steps, each with its own [`NotifyError`](crate::error::NotifyError):
//!
//! 1. [`crate::verify::verify_response`]: headers present, timestamp within
//!    300 s of `now`, serial trusted, signature valid ([`NotifyError::Verify`](crate::error::NotifyError::Verify));
//! 2. parse the body ([`NotifyError::BadJson`](crate::error::NotifyError::BadJson)) and check the algorithm
//!    ([`NotifyError::UnsupportedAlgorithm`](crate::error::NotifyError::UnsupportedAlgorithm));
//! 3. decrypt with the APIv3 key ([`NotifyError::Decrypt`](crate::error::NotifyError::Decrypt));
//! 4. parse the plaintext into JSON or the caller's type ([`NotifyError::BadPlaintext`](crate::error::NotifyError::BadPlaintext)).
//!
//! Verify against the **raw body bytes** as received: re-serialising parsed JSON changes
//! them and breaks the signature.
//!
//! **APIv2** ([`V2Verifier`]): XML bodies carry a `sign` (MD5 or HMAC-SHA256 with the APIv2
//! key); refund notifications instead carry `req_info`, AES-256-ECB-encrypted with the MD5 of
//! the APIv2 key.
//!
//! Replies: [`v3_success`], [`v3_failure`], [`v2_success`], [`v2_failure`].
//!
//! ```
//! use wechatpay::crypto::ApiV3Key;
//! use wechatpay::notify::{self, Verifier};
//! use wechatpay::PlatformKeys;
//!
//! fn handle(keys: &PlatformKeys, headers: &http::HeaderMap, body: &[u8]) -> http::Response<String> {
//!     let Ok(apiv3_key) = ApiV3Key::new("0123456789abcdef0123456789abcdef") else {
//!         return notify::v3_failure("misconfigured");
//!     };
//!     let verifier = Verifier::new(keys.clone(), apiv3_key);
//!     match verifier.verify_and_decrypt_now(headers, body) {
//!         Ok(n) => {
//!             println!("{} {}", n.event_type, n.resource["out_trade_no"]);
//!             notify::v3_success()
//!         }
//!         Err(e) => notify::v3_failure(&e.to_string()),
//!     }
//! }
//! # let _ = handle;
//! ```

mod v2;
mod v3;

pub use v2::{v2_failure, v2_success, RefundNotification, V2Verifier};
pub use v3::{v3_failure, v3_success, Notification, Resource, Verifier, AEAD_AES_256_GCM};
