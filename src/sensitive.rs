//! Sensitive fields (敏感信息加解密): names, id numbers, phone numbers and bank accounts travel
//! encrypted with RSA-OAEP (SHA-1, MGF1-SHA1), base64.
//!
//! - **Requests**: encrypt with WeChat Pay's key and send that key's id as `Wechatpay-Serial`.
//!   [`Client::sensitive`] returns a [`SensitiveEncryptor`] bound to one trusted key: the id it
//!   reports and the key it encrypts with are read together, once, so they always agree even
//!   if the client's [`PlatformKeys`] change in between (a refresh, a migration).
//!   [`SensitiveEncryptor::options`] puts the matching header into a call's options.
//! - **Responses**: [`Client::decrypt_sensitive`] decrypts a field with the merchant's private
//!   key.
//!
//! ```
//! use wechatpay::{json, mock::MockServer};
//!
//! let mock = MockServer::start_blocking()?;
//! let wxpay = mock.client_builder().build()?;
//! let encryptor = wxpay.sensitive()?;
//! let body = json!({
//!     "appid": "wx8888888888888888",
//!     "type": "MERCHANT_ID",
//!     "account": "190001001",
//!     "encrypted_name": encryptor.encrypt("示例商户全称")?,
//!     "relation_type": "STORE",
//! });
//! // `options` adds `Wechatpay-Serial: <encryptor.key_id()>` to the call.
//! let r = wxpay["v3/ecommerce/profitsharing/receivers/add"]
//!     .post(encryptor.options(json!({"json": body}))?)?;
//! assert_eq!(r.status(), 200);
//!
//! // A field of a (verified) answer, encrypted to the merchant key:
//! # let merchant = wechatpay::crypto::Rsa::from_private(wechatpay::mock::demo::MERCHANT_PRIVATE_KEY_PEM)?;
//! # let field = wechatpay::crypto::Rsa::encrypt("张三".as_bytes(), &merchant.public_key())?;
//! assert_eq!(wxpay.decrypt_sensitive(&field)?, "张三");
//! # Ok::<(), wechatpay::Error>(())
//! ```

use crate::client::Client;
use crate::crypto::{Rsa, RsaPublicKey};
use crate::error::{ConfigError, Error, RequestError, Result};
use crate::request::options::{IntoRequestOptions, RequestOptions};
use crate::trust::platform_keys::PlatformKeys;
use crate::trust::verify::SERIAL;

/// Encrypts sensitive fields for WeChat Pay with one key, and names that key.
///
/// Cheap to clone; `Debug` shows the key id only.
#[derive(Clone)]
pub struct SensitiveEncryptor {
    key_id: String,
    key: RsaPublicKey,
}

impl SensitiveEncryptor {
    /// An encryptor for `key`, whose id (`PUB_KEY_ID_...` or certificate serial) is `key_id`.
    pub fn new(key_id: impl Into<String>, key: RsaPublicKey) -> Self {
        Self {
            key_id: key_id.into(),
            key,
        }
    }

    /// Binds to the preferred key of `keys` ([`PlatformKeys::preferred`]: the first
    /// `PUB_KEY_ID_...`, else the first key added), reading id and key together.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when `keys` is empty.
    pub fn preferred(keys: &PlatformKeys) -> Result<Self> {
        // `preferred()` and `get()` take the lock separately: if the id vanished in between,
        // look again rather than pair an id with a key that is not its own.
        for _ in 0..8 {
            let Some(id) = keys.preferred() else { break };
            if let Some(key) = keys.get(&id) {
                return Ok(Self::new(id, key));
            }
        }
        Err(Error::Unsupported(
            "no WeChat Pay key is trusted, so there is nothing to encrypt sensitive fields with",
        ))
    }

    /// Binds to the key `key_id` of `keys`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when `keys` does not hold `key_id`.
    pub fn from_keys(keys: &PlatformKeys, key_id: &str) -> Result<Self> {
        let key = keys.get(key_id).ok_or(Error::Unsupported(
            "the requested WeChat Pay key is not trusted by this client",
        ))?;
        Ok(Self::new(key_id.trim().to_ascii_uppercase(), key))
    }

    /// The id to send as `Wechatpay-Serial` with the fields this encryptor made.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public key fields are encrypted to.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.key
    }

    /// Encrypts one field (UTF-8 text), returning base64 RSA-OAEP ciphertext. Each call gives
    /// a different ciphertext.
    ///
    /// # Errors
    /// [`Error::Key`] when the text is too long for the key (a 2048-bit key takes 214 bytes)
    /// or the key cannot encrypt.
    pub fn encrypt(&self, plaintext: &str) -> Result<String> {
        self.encrypt_bytes(plaintext.as_bytes())
    }

    /// Encrypts raw bytes, returning base64 RSA-OAEP ciphertext.
    ///
    /// # Errors
    /// As [`encrypt`](Self::encrypt).
    pub fn encrypt_bytes(&self, plaintext: &[u8]) -> Result<String> {
        Ok(Rsa::encrypt(plaintext, &self.key)?)
    }

    /// The header to send with the encrypted fields: `("Wechatpay-Serial", key_id)`.
    pub fn header(&self) -> (&'static str, &str) {
        (SERIAL, &self.key_id)
    }

    /// `opts` plus `Wechatpay-Serial: <key_id>`, so the call names the key the fields were
    /// encrypted to (the `signer` layer then leaves the header alone).
    ///
    /// # Errors
    /// [`Error::Request`] when `opts` is malformed, or already sets a different
    /// `Wechatpay-Serial`: WeChat Pay could not decrypt fields sent under another key's id.
    pub fn options(&self, opts: impl IntoRequestOptions) -> Result<RequestOptions> {
        let mut opts = opts.into_request_options()?;
        let mut present = false;
        for (name, value) in &opts.headers {
            if name.eq_ignore_ascii_case(SERIAL) {
                if !value.trim().eq_ignore_ascii_case(&self.key_id) {
                    return Err(Error::Request(RequestError::InvalidHeader(format!(
                        "`{SERIAL}` is `{}` but the sensitive fields were encrypted to `{}`",
                        value.chars().take(64).collect::<String>(),
                        self.key_id
                    ))));
                }
                present = true;
            }
        }
        if !present {
            opts = opts.header(SERIAL, self.key_id.clone());
        }
        Ok(opts)
    }
}

impl std::fmt::Debug for SensitiveEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SensitiveEncryptor")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// An encryptor for sensitive fields, bound to the preferred trusted WeChat Pay key
    /// (the first `PUB_KEY_ID_...`, else the first key added). Take one per request: it keeps
    /// using the key it was bound to even if the client's keys change afterwards.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the client trusts no key (possible only with
    /// [`ClientBuilder::refetch_certificates`](crate::ClientBuilder::refetch_certificates)
    /// before the first download).
    ///
    /// # Examples
    /// ```
    /// # let mock = wechatpay::mock::MockServer::start_blocking()?;
    /// # let wxpay = mock.client_builder().build()?;
    /// let encryptor = wxpay.sensitive()?;
    /// let name = encryptor.encrypt("张三")?;
    /// assert_eq!(encryptor.key_id(), wechatpay::mock::demo::PLATFORM_PUBLIC_KEY_ID);
    /// # Ok::<(), wechatpay::Error>(())
    /// ```
    pub fn sensitive(&self) -> Result<SensitiveEncryptor> {
        SensitiveEncryptor::preferred(self.platform_keys())
    }

    /// An encryptor bound to the trusted key `key_id` (a `PUB_KEY_ID_...` or a certificate
    /// serial), for an API that asks for a particular one.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the client does not trust `key_id`.
    pub fn sensitive_with(&self, key_id: &str) -> Result<SensitiveEncryptor> {
        SensitiveEncryptor::from_keys(self.platform_keys(), key_id)
    }

    /// Decrypts a sensitive field of a (verified) response with the merchant private key:
    /// base64 RSA-OAEP (SHA-1, MGF1-SHA1) in, UTF-8 text out.
    ///
    /// Feed it only fields of answers that passed verification: the RSA implementation has
    /// a timing side channel (RUSTSEC-2023-0071; blinding is on), see [`Rsa::decrypt`].
    ///
    /// # Errors
    /// [`Error::Config`] when the client signs with an external
    /// [`Signer`](crate::sign::Signer) (its private key is not available here);
    /// [`Error::Key`] when the ciphertext is not base64 or does not decrypt under the
    /// merchant key; [`Error::Decode`] when the plaintext is not UTF-8.
    pub fn decrypt_sensitive(&self, ciphertext: &str) -> Result<String> {
        String::from_utf8(self.decrypt_sensitive_bytes(ciphertext)?)
            .map_err(|_| Error::Decode("the decrypted sensitive field is not UTF-8 text".into()))
    }

    /// [`decrypt_sensitive`](Self::decrypt_sensitive) returning raw bytes.
    ///
    /// # Errors
    /// As [`decrypt_sensitive`](Self::decrypt_sensitive), without the UTF-8 check.
    pub fn decrypt_sensitive_bytes(&self, ciphertext: &str) -> Result<Vec<u8>> {
        let key = self.merchant_key().ok_or_else(|| {
            Error::Config(ConfigError::one(
                "decrypting sensitive fields needs the merchant private key, and this client \
                 signs with an external `Signer`; decrypt with `wechatpay::crypto::Rsa::decrypt` \
                 where the key lives",
            ))
        })?;
        Ok(Rsa::decrypt(ciphertext, key)?)
    }
}
