//! Downloads: bill files, statements, complaint images and transfer vouchers, streamed to
//! disk (or any writer) and checked by digest as they pass.
//!
//! WeChat Pay does not sign these answers ([`UNSIGNED_DOWNLOADS`]; the verifier lets them
//! through): the caller checks the file against the digest an earlier, signed answer gave
//! (a bill's `hash_type` / `hash_value`). A bill can be hundreds of megabytes, so the body is
//! never read into memory:
//!
//! - [`Chain::download`](crate::Chain::download) / `download_async` return a [`Download`];
//!   say the digest with [`expect_sha1`](Download::expect_sha1) /
//!   [`expect_sha256`](Download::expect_sha256), then [`save`](Download::save) or
//!   [`copy_to`](Download::copy_to) (or their async twins). A mismatch is
//!   [`Error::Verify`](crate::Error::Verify) and leaves no file.
//! - [`Client::download_bill`](crate::Client::download_bill) does the whole job for a
//!   [`BillKind`]: query, follow `download_url`, check, save.
//! - Overseas statements (`hk/v3/statements`, `v3/global/statements`) are checked the way
//!   WeChat Pay documents: the signature over their [`STATEMENT_SHA1`] header, then the file's
//!   SHA-1.
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use wechatpay::download::BillKind;
//! use wechatpay::{json, mock::MockServer};
//!
//! # async fn demo() -> wechatpay::Result<()> {
//! let mock = MockServer::start().await?;
//! let wxpay = mock.client_builder().build()?;
//! let dir = tempfile::tempdir().unwrap();
//! let opts = json!({"query": {"bill_date": "2026-11-29", "account_type": "BASIC"}});
//! let saved = wxpay
//!     .download_bill_async(BillKind::FundFlow, &opts, dir.path().join("fund.csv"))
//!     .await?;
//! assert_eq!(saved.bytes, std::fs::metadata(dir.path().join("fund.csv")).unwrap().len());
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo())?;
//! # }
//! # Ok::<(), wechatpay::Error>(())
//! ```

mod bill;
mod digest;
mod exchange;
mod gunzip;
mod statement;
mod stream;
mod target;

pub use crate::trust::unsigned::{is_unsigned_download, UNSIGNED_DOWNLOADS};
pub use bill::{BillEncryption, BillKind, SavedBill};
pub use digest::{Digest, HashType, UnknownHashType};
pub use statement::STATEMENT_SHA1;
pub use stream::{Download, Downloaded};

/// Checks a downloaded file against the hex SHA-1 digest (`hash_value` with `hash_type`
/// `SHA1`) that WeChat Pay returned with the download URL, in constant time.
///
/// # Examples
/// ```
/// use wechatpay::download::sha1_matches;
/// assert!(sha1_matches(b"abc", "A9993E364706816ABA3E25717850C26C9CD0D89D"));
/// assert!(!sha1_matches(b"abd", "a9993e364706816aba3e25717850c26c9cd0d89d"));
/// ```
pub fn sha1_matches(body: &[u8], expected_hex: &str) -> bool {
    let expected = expected_hex.trim().to_ascii_lowercase();
    crate::crypto::Hash::equals(&crate::crypto::Hash::sha1(body), &expected)
}
