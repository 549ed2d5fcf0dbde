//! The one error type of the crate, and the sub-enums that say precisely what went wrong.
//!
//! Errors are grouped by what the caller will do about them: fix the configuration
//! ([`Error::Config`], [`Error::Key`]), fix the call ([`Error::Request`]), retry
//! ([`Error::Transport`], [`Error::Timeout`]), act on WeChat Pay's answer ([`Error::Api`]) or
//! treat the answer as hostile ([`Error::Verify`]). `Display` never includes key material.

use std::fmt;

use bytes::Bytes;
use http::StatusCode;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while configuring the client or making a call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// [`ClientBuilder::build`](crate::ClientBuilder::build) found problems with the
    /// configuration; every problem is listed, not only the first.
    Config(ConfigError),
    /// A key or certificate could not be loaded or used.
    Key(KeyError),
    /// The call itself is malformed (path variable, option or header); nothing was sent.
    Request(RequestError),
    /// The connection failed or broke before a whole response arrived.
    Transport(Box<dyn std::error::Error + Send + Sync>),
    /// A time limit ran out.
    Timeout(TimeoutStage),
    /// WeChat Pay answered with a non-2xx status.
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// WeChat Pay's error code, such as `PARAM_ERROR` (empty when the body had none).
        code: String,
        /// WeChat Pay's human-readable message (empty when the body had none).
        message: String,
        /// The `Request-ID` response header, to quote to WeChat Pay support.
        request_id: Option<String>,
        /// The raw response body, as received.
        body: Bytes,
    },
    /// A 2xx response failed verification: it may be forged, replayed or misrouted.
    Verify(VerifyError),
    /// A response body could not be decoded as the caller asked.
    Decode(String),
    /// A middleware layer refused the call; the text names the layer and the reason.
    Middleware(String),
    /// The call needs a capability this build or this client does not offer.
    Unsupported(&'static str),
    /// A notification (APIv3 or APIv2) failed a check or could not be decrypted.
    Notify(NotifyError),
}

/// The problems [`ClientBuilder::build`](crate::ClientBuilder::build) found, in the order it found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<String>,
}

impl ConfigError {
    pub(crate) fn new(problems: Vec<String>) -> Self {
        Self { problems }
    }

    /// Each problem, as one lowercase sentence naming the setting.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// Why a key or certificate could not be loaded or used. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// A `file://` source could not be read.
    Io {
        /// The path that was read.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The text is not in any form this crate can load (PEM, pseudo-URL or `file://`).
    UnknownForm(String),
    /// The input was recognised but its contents do not parse.
    Malformed(String),
    /// The key is encrypted and no passphrase, or a wrong one, was given.
    Passphrase(String),
    /// A private key was needed and a public key or certificate was given, or the reverse.
    WrongKind(String),
    /// The key parsed, but the operation failed with it.
    Operation(String),
}

/// Why a call was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The path template names `{name}` but the options give no value for it.
    MissingVariable(String),
    /// A path variable's value cannot be used (empty, or not a string or number).
    InvalidVariable {
        /// The variable's name.
        name: String,
        /// Why its value was refused.
        reason: String,
    },
    /// The path template itself is malformed (for example an unclosed `{`).
    InvalidTemplate(String),
    /// A request option has the wrong shape; the text names the option.
    InvalidOption(String),
    /// A header name or value cannot be sent (for example it contains CR or LF).
    InvalidHeader(String),
    /// The base URI or the assembled URI is not valid.
    InvalidUri(String),
}

/// Which time limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutStage {
    /// Opening the connection (TCP and TLS) took too long.
    Connect,
    /// The whole call (connect, send, wait, read) took too long.
    Total,
}

/// Which check a response failed. Each variant names the check, as WeChat Pay documents it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required `Wechatpay-*` header is absent (or not valid text).
    MissingHeader(&'static str),
    /// `Wechatpay-Timestamp` is not a whole number of seconds.
    BadTimestamp(String),
    /// The response's timestamp is further from the local clock than allowed.
    ClockSkew {
        /// Response time minus local time, in seconds.
        skew_seconds: i64,
        /// The largest accepted difference, in seconds.
        allowed_seconds: u64,
    },
    /// `Wechatpay-Serial` names no key this client trusts.
    UnknownSerial(String),
    /// `Wechatpay-Signature` is not valid base64 or does not match the message.
    BadSignature,
}

/// Which step of handling a WeChat Pay notification failed (see [`crate::notify`]).
///
/// The variants follow the order of the steps: verify the signature, parse the body, then
/// decrypt the resource and read its plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyError {
    /// The APIv3 signature check failed: a header is missing, the timestamp is stale, the
    /// serial is unknown or the signature does not match. Answer with a failure; never
    /// decrypt or act on such a notification.
    Verify(VerifyError),
    /// An APIv3 body is not the JSON WeChat Pay sends, or lacks a field; the text says what
    /// is wrong.
    BadJson(String),
    /// An APIv2 body (or decrypted refund `req_info`) is not the flat XML WeChat Pay sends,
    /// or uses a DTD or entity; the text says what is wrong.
    BadXml(String),
    /// The resource names an algorithm other than `AEAD_AES_256_GCM`.
    UnsupportedAlgorithm(String),
    /// The resource did not decrypt: the APIv3 (or APIv2) key is wrong or the ciphertext,
    /// nonce or associated data were altered.
    Decrypt,
    /// The decrypted plaintext is not valid UTF-8 / JSON, or does not match the requested
    /// type; the text says what is wrong.
    BadPlaintext(String),
    /// An APIv2 notification has no `sign` field.
    MissingSign,
    /// An APIv2 notification's `sign` does not match its fields under the APIv2 key.
    BadSign,
    /// An APIv2 notification's `sign_type` is neither `MD5` nor `HMAC-SHA256`.
    UnsupportedSignType(String),
}

impl Error {
    /// True when a time limit ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// True when the connection could not be made or broke.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Error::Transport(_) | Error::Timeout(TimeoutStage::Connect)
        )
    }

    /// True when a 2xx response failed verification.
    pub fn is_verify(&self) -> bool {
        matches!(self, Error::Verify(_))
    }

    /// The HTTP status of an [`Error::Api`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// WeChat Pay's error code of an [`Error::Api`], such as `SIGN_ERROR`.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The `Request-ID` of an [`Error::Api`].
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn transport(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Transport(e.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "invalid client configuration: {e}"),
            Error::Key(e) => write!(f, "key error: {e}"),
            Error::Request(e) => write!(f, "invalid request: {e}"),
            Error::Transport(e) => write!(f, "transport error: {e}"),
            Error::Timeout(TimeoutStage::Connect) => f.write_str("timed out connecting"),
            Error::Timeout(TimeoutStage::Total) => {
                f.write_str("timed out waiting for the response")
            }
            Error::Api {
                status,
                code,
                message,
                ..
            } => {
                write!(f, "wechat pay answered {}", status.as_u16())?;
                if !code.is_empty() {
                    write!(f, " {code}")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Error::Verify(e) => write!(f, "response verification failed: {e}"),
            Error::Decode(e) => write!(f, "cannot decode the response: {e}"),
            Error::Middleware(e) => write!(f, "middleware refused the call: {e}"),
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
            Error::Notify(e) => write!(f, "notification rejected: {e}"),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("; "))
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Io { path, reason } => write!(f, "cannot read {path}: {reason}"),
            KeyError::UnknownForm(what) => write!(f, "unrecognised key form: {what}"),
            KeyError::Malformed(what) => write!(f, "malformed key: {what}"),
            KeyError::Passphrase(what) => write!(f, "encrypted key: {what}"),
            KeyError::WrongKind(what) => write!(f, "wrong kind of key: {what}"),
            KeyError::Operation(what) => write!(f, "key operation failed: {what}"),
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::MissingVariable(name) => {
                write!(f, "path variable `{name}` has no value")
            }
            RequestError::InvalidVariable { name, reason } => {
                write!(f, "path variable `{name}` {reason}")
            }
            RequestError::InvalidTemplate(why) => write!(f, "bad path template: {why}"),
            RequestError::InvalidOption(why) => write!(f, "bad option: {why}"),
            RequestError::InvalidHeader(why) => write!(f, "bad header: {why}"),
            RequestError::InvalidUri(why) => write!(f, "bad uri: {why}"),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingHeader(name) => write!(f, "missing header {name}"),
            VerifyError::BadTimestamp(value) => {
                write!(f, "Wechatpay-Timestamp `{value}` is not a number")
            }
            VerifyError::ClockSkew {
                skew_seconds,
                allowed_seconds,
            } => write!(
                f,
                "timestamp is {skew_seconds} s from the local clock (at most {allowed_seconds} s allowed)"
            ),
            VerifyError::UnknownSerial(serial) => {
                write!(f, "Wechatpay-Serial `{serial}` is not a trusted key")
            }
            VerifyError::BadSignature => f.write_str("signature does not match"),
        }
    }
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::Verify(e) => write!(f, "verification failed: {e}"),
            NotifyError::BadJson(why) => write!(f, "malformed notification JSON: {why}"),
            NotifyError::BadXml(why) => write!(f, "malformed notification XML: {why}"),
            NotifyError::UnsupportedAlgorithm(name) => {
                write!(f, "unsupported resource algorithm `{name}`")
            }
            NotifyError::Decrypt => {
                f.write_str("resource did not decrypt (wrong key or tampered ciphertext)")
            }
            NotifyError::BadPlaintext(why) => write!(f, "decrypted resource is unusable: {why}"),
            NotifyError::MissingSign => f.write_str("the notification has no sign field"),
            NotifyError::BadSign => f.write_str("sign does not match"),
            NotifyError::UnsupportedSignType(name) => write!(f, "unsupported sign_type `{name}`"),
        }
    }
}

impl std::error::Error for NotifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NotifyError::Verify(e) => Some(e),
            _ => None,
        }
    }
}

impl From<VerifyError> for NotifyError {
    fn from(e: VerifyError) -> Self {
        NotifyError::Verify(e)
    }
}

impl From<NotifyError> for Error {
    fn from(e: NotifyError) -> Self {
        Error::Notify(e)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(e) => Some(e.as_ref()),
            Error::Config(e) => Some(e),
            Error::Key(e) => Some(e),
            Error::Request(e) => Some(e),
            Error::Verify(e) => Some(e),
            Error::Notify(e) => Some(e),
            _ => None,
        }
    }
}
impl std::error::Error for ConfigError {}
impl std::error::Error for KeyError {}
impl std::error::Error for RequestError {}
impl std::error::Error for VerifyError {}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::Key(e)
    }
}
impl From<RequestError> for Error {
    fn from(e: RequestError) -> Self {
        Error::Request(e)
    }
}
impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        Error::Verify(e)
    }
}
impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert!(
            std::mem::size_of::<Error>() <= 128,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn api_display_names_status_code_and_message() {
        let e = Error::Api {
            status: StatusCode::BAD_REQUEST,
            code: "PARAM_ERROR".into(),
            message: "brand_id is required".into(),
            request_id: None,
            body: Bytes::new(),
        };
        assert_eq!(
            e.to_string(),
            "wechat pay answered 400 PARAM_ERROR: brand_id is required"
        );
        assert_eq!(e.api_code(), Some("PARAM_ERROR"));
    }
}
