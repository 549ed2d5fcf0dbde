//! One-call bill downloads: ask for the bill, follow its `download_url` exactly as given, and
//! stream the file to disk with its `hash_type` / `hash_value` checked.

use std::borrow::Cow;
use std::future::Future;
use std::path::{Path, PathBuf};

use http::Method;
use serde::Deserialize;

use super::digest::{Digest, HashType};
use super::exchange::fetch;
use super::stream::Downloaded;
use crate::error::{Error, Result};
use crate::middleware::UnsignedResponse;
use crate::request::options::{IntoRequestOptions, RequestOptions};
use crate::request::CallInfo;
use crate::transport::runtime;
use crate::Client;

/// The bills [`Client::download_bill`] fetches, each by its query endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BillKind {
    /// The trade bill (交易账单), `GET v3/bill/tradebill`.
    Trade,
    /// The fund flow bill (资金账单), `GET v3/bill/fundflowbill`.
    FundFlow,
    /// One sub-merchant's fund flow bill (单个子商户资金账单),
    /// `GET v3/bill/sub-merchant-fundflowbill`, for service providers. WeChat Pay encrypts
    /// this file; it is saved as sent, and [`SavedBill::encryption`] holds what decrypts it.
    SubMerchantFundFlow,
}

impl BillKind {
    /// The path of the endpoint that returns the bill's address and digest.
    pub fn path(self) -> &'static str {
        match self {
            BillKind::Trade => "v3/bill/tradebill",
            BillKind::FundFlow => "v3/bill/fundflowbill",
            BillKind::SubMerchantFundFlow => "v3/bill/sub-merchant-fundflowbill",
        }
    }
}

/// A bill saved by [`Client::download_bill`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SavedBill {
    /// Bytes written to the file (the decompressed bill when it was asked with
    /// `tar_type=GZIP`).
    pub bytes: u64,
    /// Bytes received, as WeChat Pay sent them: what `hash_value` covers.
    pub received: u64,
    /// The digest, checked against the bill's `hash_type` / `hash_value`.
    pub digest: Digest,
    /// For [`BillKind::SubMerchantFundFlow`]: how the saved file is encrypted.
    pub encryption: Option<BillEncryption>,
}

/// What decrypts a sub-merchant fund flow bill: WeChat Pay encrypts the file with a one-off
/// AES-256-GCM key and gives that key encrypted to the merchant's API certificate (RSA-OAEP),
/// base64, with the nonce.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BillEncryption {
    /// The `algorithm` the bill was asked with (`AEAD_AES_256_GCM` or `SM4_GCM`), when the
    /// query named it.
    pub algorithm: Option<String>,
    /// `encrypt_key`: the file key, RSA-OAEP encrypted to the merchant, base64
    /// ([`Rsa::decrypt`](crate::crypto::Rsa::decrypt) with the merchant's private key).
    pub encrypt_key: String,
    /// `nonce`: the AES-GCM nonce of the file.
    pub nonce: String,
}

impl std::fmt::Debug for BillEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is encrypted, but it is the only way into the file: it stays out of logs.
        f.debug_struct("BillEncryption")
            .field("algorithm", &self.algorithm)
            .field("encrypt_key", &"<redacted>")
            .field("nonce", &self.nonce)
            .finish()
    }
}

/// `v3/bill/tradebill` and `v3/bill/fundflowbill`.
#[derive(Deserialize)]
struct BillAddress {
    hash_type: String,
    hash_value: String,
    download_url: String,
}

/// `v3/bill/sub-merchant-fundflowbill`.
#[derive(Deserialize)]
struct EncryptedBills {
    #[serde(default)]
    download_bill_list: Vec<EncryptedBill>,
}

#[derive(Deserialize)]
struct EncryptedBill {
    #[serde(default)]
    bill_sequence: u64,
    hash_type: String,
    hash_value: String,
    download_url: String,
    encrypt_key: String,
    nonce: String,
}

impl Client {
    /// Downloads a bill to `path` in one call: asks `kind`'s endpoint with `opts` (its query:
    /// `bill_date`, and `bill_type`, `account_type`, `tar_type`, `sub_mchid`, ... as the
    /// endpoint takes them), follows the returned `download_url` exactly as given (query and
    /// token intact, no case change), and streams the file to `path` while checking it
    /// against `hash_type` / `hash_value`. A bill asked with `tar_type=GZIP` is saved
    /// decompressed; the digest covers the gzip file as sent.
    ///
    /// The call's time limits (`timeout`, `read_timeout`, ...) apply to both requests.
    /// Works from any thread; the file never sits whole in memory.
    ///
    /// # Errors
    /// As [`Chain::download`](crate::Chain::download) and [`Download::save`](super::Download::save):
    /// a digest mismatch is [`Error::Verify`] and leaves no file at `path`. An answer without
    /// a usable `download_url` or `hash_type` is [`Error::Decode`]; a sub-merchant bill split
    /// into several files (over about 16 GB) is [`Error::Decode`] too, naming the parts
    /// (download each with `Chain::download`).
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use wechatpay::download::BillKind;
    /// use wechatpay::{json, mock::MockServer};
    ///
    /// let mock = MockServer::start_blocking()?;
    /// let wxpay = mock.client_builder().build()?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let opts = json!({"query": {"bill_date": "2026-11-29", "tar_type": "GZIP"}});
    /// let saved = wxpay.download_bill(BillKind::Trade, &opts, dir.path().join("trade.csv"))?;
    /// assert!(saved.received < saved.bytes, "sent compressed, saved decompressed");
    /// assert_eq!(saved.digest.hash_type.as_str(), "SHA1");
    /// # }
    /// # Ok::<(), wechatpay::Error>(())
    /// ```
    pub fn download_bill(
        &self,
        kind: BillKind,
        opts: impl IntoRequestOptions,
        path: impl AsRef<Path>,
    ) -> Result<SavedBill> {
        runtime::wait(self.download_bill_async(kind, opts, path))
    }

    /// [`download_bill`](Self::download_bill) for async code; the future is `Send + 'static`.
    ///
    /// # Errors
    /// As [`download_bill`](Self::download_bill).
    pub fn download_bill_async(
        &self,
        kind: BillKind,
        opts: impl IntoRequestOptions,
        path: impl AsRef<Path>,
    ) -> impl Future<Output = Result<SavedBill>> + Send + 'static {
        let client = self.clone();
        let opts = opts.into_request_options();
        let target = path.as_ref().to_path_buf();
        async move { runtime::run(bill(client, kind, opts?, target)).await? }
    }
}

async fn bill(
    client: Client,
    kind: BillKind,
    opts: RequestOptions,
    target: PathBuf,
) -> Result<SavedBill> {
    let query = client.prepare(Method::GET, Cow::Borrowed(kind.path()), opts)?;
    let gzip = asks_gzip(query.uri().query().unwrap_or(""));
    let algorithm = query_value(query.uri().query().unwrap_or(""), "algorithm");
    let limits = query.extensions().get::<CallInfo>().cloned();
    let answer = client.clone().execute(query).await?;
    let (address, encryption) = match kind {
        BillKind::Trade | BillKind::FundFlow => {
            let a: BillAddress = answer.json()?;
            ((a.hash_type, a.hash_value, a.download_url), None)
        }
        BillKind::SubMerchantFundFlow => {
            let mut bills: EncryptedBills = answer.json()?;
            if bills.download_bill_list.len() != 1 {
                let parts: Vec<String> = bills
                    .download_bill_list
                    .iter()
                    .map(|b| format!("#{} {}", b.bill_sequence, b.download_url))
                    .collect();
                return Err(Error::Decode(format!(
                    "the sub-merchant bill came as {} files, not one: download each with \
                     `Chain::download` in bill_sequence order ({})",
                    bills.download_bill_list.len(),
                    parts.join(", ")
                )));
            }
            let b = bills.download_bill_list.remove(0);
            let encryption = BillEncryption {
                algorithm,
                encrypt_key: b.encrypt_key,
                nonce: b.nonce,
            };
            (
                (b.hash_type, b.hash_value, b.download_url),
                Some(encryption),
            )
        }
    };
    let (hash_type, hash_value, download_url) = address;
    let hash_type: HashType = hash_type
        .parse()
        .map_err(|e| Error::Decode(format!("the bill's {e}")))?;
    if download_url.trim().is_empty() {
        return Err(Error::Decode("the bill's download_url is empty".into()));
    }

    // The file request carries the call's time limits, nothing else of its options: the
    // query belongs to the bill endpoint, and the URL brings its own.
    let mut file_opts = RequestOptions::new();
    if let Some(limits) = &limits {
        file_opts.timeout = limits.timeout;
        file_opts.response_timeout = limits.response_timeout;
        file_opts.read_timeout = limits.read_timeout;
    }
    let mut request = client.prepare(Method::GET, Cow::Owned(download_url), file_opts)?;
    // The address came in a verified answer and the file is checked by its digest; some bill
    // hosts (`v3/bill/downloadurl`) are not in the documented download list.
    request.extensions_mut().insert(UnsignedResponse);
    let saved = fetch(client, request)
        .await?
        .expect(hash_type, &hash_value)
        .gunzip(gzip && encryption.is_none())
        .save_async(target)
        .await?;
    let Downloaded {
        bytes,
        received,
        digest,
    } = saved;
    let digest =
        digest.ok_or_else(|| Error::Decode("the bill's digest was not computed".into()))?;
    Ok(SavedBill {
        bytes,
        received,
        digest,
        encryption,
    })
}

/// Whether the query asks for a gzip file (`tar_type=GZIP`).
fn asks_gzip(query: &str) -> bool {
    query_value(query, "tar_type").is_some_and(|v| v.eq_ignore_ascii_case("GZIP"))
}

/// The value of `name` in a query string, as written: the values read here (`GZIP`,
/// `AEAD_AES_256_GCM`) are plain identifiers, which query encoding leaves alone.
fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_read_from_the_query() {
        assert!(asks_gzip("bill_date=2026-01-01&tar_type=GZIP"));
        assert!(asks_gzip("tar_type=gzip"));
        assert!(!asks_gzip("bill_date=2026-01-01"));
        assert!(!asks_gzip("xtar_type=GZIP"));
        assert_eq!(
            query_value("x=1&algorithm=AEAD_AES_256_GCM", "algorithm").as_deref(),
            Some("AEAD_AES_256_GCM")
        );
    }

    #[test]
    fn the_encryption_key_stays_out_of_debug() {
        let e = BillEncryption {
            algorithm: None,
            encrypt_key: "c2VjcmV0".into(),
            nonce: "n".into(),
        };
        assert!(!format!("{e:?}").contains("c2VjcmV0"));
    }
}
