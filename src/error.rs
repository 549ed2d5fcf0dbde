//! The one error type of the crate, and the sub-enums that say precisely what went wrong.
//!
//! Errors are grouped by what the caller will do about them: fix the configuration
//! ([`Error::Config`], [`Error::Key`]), fix the call ([`Error::Request`]), retry
//! ([`Error::Transport`], [`Error::Timeout`]), act on WeChat Pay's answer ([`Error::Api`]) or
//! treat the answer as hostile ([`Error::Verify`]). Match on the variants to handle them; the
//! helpers (`is_timeout`, `status`, `api_code`, ...) cover the common questions.
//!
//! `Display` never includes key material, and each error prints its own words once: where a
//! variant wraps one of the sub-enums below, its text is part of the variant's `Display`, and
//! [`std::error::Error::source`] goes on from there (for [`Error::Transport`], to the I/O or
//! TLS error underneath), so a chain printer shows every cause exactly once.

use bytes::Bytes;
use http::StatusCode;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while configuring the client or making a call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// [`ClientBuilder::build`](crate::ClientBuilder::build) found problems with the
    /// configuration (every problem is listed, not only the first), or a call needs a setting
    /// the client was built without.
    #[error("invalid client configuration: {0}")]
    Config(ConfigError),
    /// A key or certificate could not be loaded or used.
    #[error("key error: {0}")]
    Key(KeyError),
    /// The call itself is malformed (path variable, option or header); nothing was sent.
    #[error("invalid request: {0}")]
    Request(RequestError),
    /// The connection failed or broke before a whole response arrived. `Display` says what
    /// happened and to which host; `source()` leads to the I/O or TLS error underneath.
    #[error(transparent)]
    Transport(Box<dyn std::error::Error + Send + Sync>),
    /// A time limit ran out.
    #[error("{0}")]
    Timeout(TimeoutStage),
    /// WeChat Pay answered with a non-2xx status.
    #[error("{}", api_summary(*status, code, message))]
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
    /// The answer was a redirect (3xx). WeChat Pay never redirects an API call, so the call
    /// reached something else (a proxy, a captive portal, a wrong `base_uri`); redirects are
    /// never followed, since the signed request would go where the redirect says.
    #[error(
        "the server answered {} with a redirect{}; WeChat Pay never redirects an API call, so \
         this answer is not WeChat Pay's (check `base_uri` and any proxy in between)",
        status.as_u16(),
        location.as_ref().map_or(String::new(), |l| format!(" to `{l}`"))
    )]
    Redirect {
        /// The 3xx status.
        status: StatusCode,
        /// The answer's `Location` header, when it had one (at most 256 characters of it).
        location: Option<String>,
    },
    /// A 2xx response failed verification: it may be forged, replayed or misrouted.
    #[error("response verification failed: {0}")]
    Verify(VerifyError),
    /// A response body could not be decoded as the caller asked.
    #[error("cannot decode the response: {0}")]
    Decode(String),
    /// A middleware layer refused the call; the text names the layer and the reason.
    #[error("middleware refused the call: {0}")]
    Middleware(String),
    /// The call needs a capability this build or this client does not offer.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// A notification (APIv3 or APIv2) failed a check or could not be decrypted.
    #[error("notification rejected: {0}")]
    Notify(NotifyError),
    /// Saving a download failed on this machine: the target (a file or the caller's writer)
    /// could not be created, written or moved into place. A file target is left untouched.
    #[error("cannot {action} {path}: {reason}")]
    Io {
        /// What was being done: `create`, `write`, `move the download to`, ...
        action: &'static str,
        /// The file, or `the writer` for a caller's writer.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
}

fn api_summary(status: StatusCode, code: &str, message: &str) -> String {
    let mut text = format!("wechat pay answered {}", status.as_u16());
    if !code.is_empty() {
        text.push(' ');
        text.push_str(code);
    }
    if !message.is_empty() {
        text.push_str(": ");
        text.push_str(message);
    }
    text
}

/// What is wrong with the configuration, one problem per entry, in the order found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct ConfigError {
    problems: Vec<String>,
}

impl ConfigError {
    pub(crate) fn new(problems: Vec<String>) -> Self {
        Self { problems }
    }

    pub(crate) fn one(problem: impl Into<String>) -> Self {
        Self {
            problems: vec![problem.into()],
        }
    }

    /// Each problem, as one lowercase sentence naming the setting.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// Why a key or certificate could not be loaded or used. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A `file://` source could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The path that was read.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The text is not in any form this crate can load (PEM, pseudo-URL or `file://`).
    #[error("unrecognised key form: {0}")]
    UnknownForm(String),
    /// The input was recognised but its contents do not parse.
    #[error("malformed key: {0}")]
    Malformed(String),
    /// The key is encrypted and no passphrase, or a wrong one, was given.
    #[error("encrypted key: {0}")]
    Passphrase(String),
    /// A private key was needed and a public key or certificate was given, or the reverse.
    #[error("wrong kind of key: {0}")]
    WrongKind(String),
    /// The key parsed, but the operation failed with it.
    #[error("key operation failed: {0}")]
    Operation(String),
}

/// Why a call was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The path template names `{name}` but the options give no value for it.
    #[error("path variable `{0}` has no value")]
    MissingVariable(String),
    /// A path variable's value cannot be used (empty, or not a string or number).
    #[error("path variable `{name}` {reason}")]
    InvalidVariable {
        /// The variable's name.
        name: String,
        /// Why its value was refused.
        reason: String,
    },
    /// The path template itself is malformed (for example an unclosed `{`).
    #[error("bad path template: {0}")]
    InvalidTemplate(String),
    /// A top-level option key is neither a known option nor a placeholder of the path.
    #[error(
        "`{key}` is neither an option nor a placeholder of `{template}`{}",
        suggestion.as_ref().map_or(String::new(), |s| format!("; did you mean `{s}`?"))
    )]
    UnknownOption {
        /// The key as given.
        key: String,
        /// The path template of the call.
        template: String,
        /// The known option or placeholder it most likely meant.
        suggestion: Option<String>,
    },
    /// A request option has the wrong shape; the text names the option.
    #[error("bad option: {0}")]
    InvalidOption(String),
    /// A header name or value cannot be sent (for example it contains CR or LF).
    #[error("bad header: {0}")]
    InvalidHeader(String),
    /// The base URI or the assembled URI is not valid.
    #[error("bad uri: {0}")]
    InvalidUri(String),
    /// The chain came from `client["..."]` and its client has been dropped since; keep the
    /// client alive while its chains are used.
    #[error("the client this chain belongs to has been dropped")]
    ClientDropped,
    /// A media upload cannot be prepared: its file cannot be read, or is larger than
    /// [`MediaUtil::MAX_FILE_BYTES`](crate::media::MediaUtil::MAX_FILE_BYTES).
    #[error("bad upload: {0}")]
    Upload(String),
}

/// Which time limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeoutStage {
    /// Opening the connection (DNS, TCP and TLS) took longer than the connect timeout.
    #[error("timed out connecting (connect timeout)")]
    Connect,
    /// The answer's headers did not arrive within the response timeout after the request
    /// was sent.
    #[error("timed out waiting for the answer's headers (response timeout)")]
    Response,
    /// The answer's body stopped arriving for longer than the read timeout.
    #[error("timed out reading the answer: no data within the read timeout")]
    Read,
    /// The whole call (connect, send, wait, read, and any retries) took longer than the
    /// total timeout.
    #[error("timed out: the call did not finish within its total timeout")]
    Total,
}

/// Which check a response failed. Each variant names the check, as WeChat Pay documents it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required `Wechatpay-*` header is absent (or not valid text).
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A `Wechatpay-*` header appears more than once. WeChat Pay sends each once; which copy
    /// a check would read is a choice an attacker could exploit, so none is read.
    #[error("header {0} appears more than once")]
    DuplicateHeader(&'static str),
    /// `Wechatpay-Timestamp` is not a whole number of seconds.
    #[error("Wechatpay-Timestamp `{0}` is not a number")]
    BadTimestamp(String),
    /// The response's timestamp is further from the local clock than allowed.
    #[error(
        "timestamp is {skew_seconds} s from the local clock (at most {allowed_seconds} s allowed)"
    )]
    ClockSkew {
        /// Response time minus local time, in seconds.
        skew_seconds: i64,
        /// The largest accepted difference, in seconds.
        allowed_seconds: u64,
    },
    /// `Wechatpay-Serial` names no key this client trusts.
    #[error("Wechatpay-Serial `{0}` is not a trusted key")]
    UnknownSerial(String),
    /// `Wechatpay-Signature` is not valid base64 or does not match the message.
    #[error("signature does not match")]
    BadSignature,
    /// An APIv2 answer's `sign` field is missing or does not match its fields under the
    /// APIv2 key (MD5, or HMAC-SHA256 when the `sign` is 64 hex characters); the text says
    /// which.
    #[error("APIv2 sign check failed: {0}")]
    V2Sign(String),
    /// A download's digest is not the one WeChat Pay gave for it (a bill's `hash_value`, a
    /// statement's `Wechatpay-Statement-Sha1`, or the caller's `expect_sha1` /
    /// `expect_sha256`): the file was changed or cut short on the way.
    #[error("the download's {algorithm} is {actual}, not the expected {expected}")]
    DigestMismatch {
        /// `SHA-1` or `SHA-256`.
        algorithm: &'static str,
        /// The digest expected, lowercase hex.
        expected: String,
        /// The digest of the bytes received, lowercase hex.
        actual: String,
    },
}

/// Which step of handling a WeChat Pay notification failed (see [`crate::notify`]).
///
/// The variants follow the order of the steps: verify the signature, parse the body, then
/// decrypt the resource and read its plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The APIv3 signature check failed: a header is missing, the timestamp is stale, the
    /// serial is unknown or the signature does not match. Answer with a failure; never
    /// decrypt or act on such a notification.
    #[error("verification failed: {0}")]
    Verify(VerifyError),
    /// An APIv3 body is not the JSON WeChat Pay sends, or lacks a field; the text says what
    /// is wrong.
    #[error("malformed notification JSON: {0}")]
    BadJson(String),
    /// An APIv2 body (or decrypted refund `req_info`) is not the flat XML WeChat Pay sends,
    /// or uses a DTD or entity; the text says what is wrong.
    #[error("malformed notification XML: {0}")]
    BadXml(String),
    /// The resource names an algorithm other than `AEAD_AES_256_GCM`.
    #[error("unsupported resource algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// The resource did not decrypt: the APIv3 (or APIv2) key is wrong or the ciphertext,
    /// nonce or associated data were altered.
    #[error("resource did not decrypt (wrong key or tampered ciphertext)")]
    Decrypt,
    /// The decrypted plaintext is not valid UTF-8 / JSON, or does not match the requested
    /// type; the text says what is wrong.
    #[error("decrypted resource is unusable: {0}")]
    BadPlaintext(String),
    /// An APIv2 notification has no `sign` field.
    #[error("the notification has no sign field")]
    MissingSign,
    /// An APIv2 notification's `sign` does not match its fields under the APIv2 key.
    #[error("sign does not match")]
    BadSign,
    /// An APIv2 notification's `sign_type` is neither `MD5` nor `HMAC-SHA256`.
    #[error("unsupported sign_type `{0}`")]
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

    /// The HTTP status of an [`Error::Api`] or an [`Error::Redirect`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } | Error::Redirect { status, .. } => Some(*status),
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

// `From` by hand rather than thiserror's `#[from]`, which would also make each of these the
// variant's `source()` and so print its text twice in a chain.
macro_rules! from_detail {
    ($($detail:ty => $variant:ident),* $(,)?) => {$(
        impl From<$detail> for Error {
            fn from(e: $detail) -> Self {
                Error::$variant(e)
            }
        }
    )*};
}

from_detail! {
    ConfigError => Config,
    KeyError => Key,
    RequestError => Request,
    VerifyError => Verify,
    NotifyError => Notify,
}

impl From<VerifyError> for NotifyError {
    fn from(e: VerifyError) -> Self {
        NotifyError::Verify(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn error_stays_small_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        // `Api`'s five fields are what users match on; they set the size (112 bytes on 64-bit
        // targets), under clippy's `result_large_err` limit of 128.
        let size = std::mem::size_of::<Error>();
        assert!(size <= 128, "Error is {size} bytes");
        #[cfg(target_pointer_width = "64")]
        assert_eq!(size, 112);
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
        let bare = Error::Api {
            status: StatusCode::BAD_GATEWAY,
            code: String::new(),
            message: String::new(),
            request_id: None,
            body: Bytes::new(),
        };
        assert_eq!(bare.to_string(), "wechat pay answered 502");
    }

    /// Every variant that carries a detail prints it once: in its own text, never again as
    /// a source.
    #[test]
    fn no_cause_is_printed_twice() {
        let cases = [
            Error::from(ConfigError::one("`mchid` is required")),
            Error::from(KeyError::Malformed("PKCS#8".into())),
            Error::from(RequestError::MissingVariable("card_id".into())),
            Error::from(VerifyError::BadSignature),
            Error::from(NotifyError::Verify(VerifyError::BadSignature)),
            Error::Timeout(TimeoutStage::Read),
        ];
        for e in cases {
            let mut seen = vec![e.to_string()];
            let mut source = e.source();
            while let Some(s) = source {
                let text = s.to_string();
                assert!(
                    !seen.iter().any(|t| t.contains(&text)),
                    "`{text}` printed twice in the chain of `{e}`"
                );
                seen.push(text);
                source = s.source();
            }
        }
        let nested = Error::from(NotifyError::Verify(VerifyError::BadSignature));
        assert_eq!(
            nested.to_string(),
            "notification rejected: verification failed: signature does not match"
        );
        assert!(nested.source().is_none());
    }
}
