//! Media uploads (wechatpay-php's `MediaUtil`): images, videos and documents sent as
//! `multipart/form-data`, of which WeChat Pay signs only the `meta` JSON.
//!
//! WeChat Pay's upload endpoints (`v3/merchant/media/upload`, `v3/merchant/media/video_upload`,
//! `v3/marketing/favor/media/image-upload`, `v3/merchant-service/images/upload`, ...) take a
//! form with two parts: `meta`, a JSON object `{"filename": .., "sha256": ..}`, and `file`.
//! The request signature covers the `meta` JSON instead of the body ("图片上传" 签名), a rule
//! SDKs often get wrong. A [`MediaUtil`] is a whole set of request options, so it goes
//! wherever options go, in every call style:
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use wechatpay::media::MediaUtil;
//! use wechatpay::mock::MockServer;
//!
//! let mock = MockServer::start_blocking()?;
//! let wxpay = mock.client_builder().build()?;
//! let image = MediaUtil::from_bytes("logo.png", &b"\x89PNG\r\n\x1a\n...the image..."[..]);
//! assert_eq!(image.meta()["filename"], "logo.png");
//!
//! let r = wxpay.v3().merchant().media().upload().post(&image)?;
//! let media_id = r.json::<serde_json::Value>()?["media_id"].as_str().unwrap_or_default().to_string();
//! assert!(!media_id.is_empty());
//! let r = wxpay["v3/merchant/media/upload"].post(image)?; // by value, or typed:
//! # let _ = r;
//! let opts = wechatpay::RequestOptions::new()
//!     .media(MediaUtil::from_bytes("clip.mp4", &b"....ftypmp42"[..]))
//!     .header("Idempotency-Key", "upload-1");
//! wxpay.chain("v3/merchant/media/video_upload").post(opts)?;
//! # }
//! # Ok::<(), wechatpay::Error>(())
//! ```
//!
//! Uploads are held in memory (WeChat Pay takes a few MB at most); a file larger than
//! [`MediaUtil::MAX_FILE_BYTES`] is refused before anything is read into memory or sent.

mod mime;
mod multipart;

use std::io::Read;
use std::path::Path;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::crypto::Hash;
use crate::error::{Error, RequestError, Result};
use crate::middleware::SignedBody;
use crate::request::options::{IntoRequestOptions, RequestOptions};

/// A file to upload, with the `meta` JSON WeChat Pay signs in its place.
///
/// The default meta is `{"filename": <file name>, "sha256": <lowercase hex SHA-256 of the
/// file>}`, what every upload endpoint asks for; [`set_meta`](Self::set_meta) replaces it for
/// the few that take more fields. The `file` part's `Content-Type` comes from the file
/// name's extension (`jpg`, `png`, `bmp`, `gif`, `mp4`, `avi`, `mov`, `wmv`, `mkv`, `pdf`,
/// `csv`, ...; `application/octet-stream` for others).
///
/// # Examples
/// ```
/// use wechatpay::media::MediaUtil;
/// use wechatpay::json;
///
/// let mut video = MediaUtil::from_bytes("demo.mov", &b"...."[..]);
/// assert_eq!(video.content_type(), "video/quicktime");
/// assert_eq!(
///     video.meta(),
///     &json!({"filename": "demo.mov", "sha256": "dfa3476846ce31adf8b1496b34595fb3f5ca2adf22b6df8ca2264c718b985cd9"})
/// );
/// video.set_meta(json!({"filename": "demo.mov", "sha256": "dfa3476846ce31adf8b1496b34595fb3f5ca2adf22b6df8ca2264c718b985cd9", "bank_type": "x"}));
/// assert_eq!(video.meta()["bank_type"], "x");
/// ```
#[derive(Clone)]
pub struct MediaUtil {
    file_name: String,
    content_type: &'static str,
    file: Bytes,
    meta: Value,
}

impl std::fmt::Debug for MediaUtil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaUtil")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("bytes", &self.file.len())
            .field("meta", &self.meta)
            .finish()
    }
}

impl MediaUtil {
    /// The largest file an upload reads into memory: 5 MiB, the largest upload WeChat Pay
    /// documents (videos; images are limited to 2 MB or less).
    pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;

    /// Reads the file at `path`; its name (the last component of `path`) becomes the meta's
    /// `filename` and chooses the `Content-Type`.
    ///
    /// # Errors
    /// [`RequestError::Upload`] naming the path when it cannot be read, is not a file, or is
    /// larger than [`MAX_FILE_BYTES`](Self::MAX_FILE_BYTES) (checked before reading).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display();
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| upload_error(format!("`{shown}` does not name a file")))?;
        let file = std::fs::File::open(path)
            .map_err(|e| upload_error(format!("cannot read `{shown}`: {e}")))?;
        let length = file
            .metadata()
            .map_err(|e| upload_error(format!("cannot read `{shown}`: {e}")))?
            .len();
        if length > Self::MAX_FILE_BYTES {
            return Err(too_large(&format!("`{shown}` has {length} bytes, more")));
        }
        // The file may grow between the check and the read: the read is capped as well.
        let file = read_capped(file).map_err(|why| upload_error(format!("`{shown}`: {why}")))?;
        Ok(Self::from_bytes(file_name, file))
    }

    /// Uploads `bytes` under the name `file_name`.
    pub fn from_bytes(file_name: impl Into<String>, bytes: impl Into<Bytes>) -> Self {
        let file_name = file_name.into();
        let file = bytes.into();
        let meta = json!({ "filename": file_name, "sha256": Hash::sha256(&file) });
        Self {
            content_type: mime::content_type_for(&file_name),
            file_name,
            file,
            meta,
        }
    }

    /// Reads `reader` to its end and uploads what it gave under the name `file_name`.
    ///
    /// # Errors
    /// [`RequestError::Upload`] when reading fails, or when the reader has more than
    /// [`MAX_FILE_BYTES`](Self::MAX_FILE_BYTES) to give (it is read no further than that).
    pub fn from_reader(file_name: impl Into<String>, reader: impl Read) -> Result<Self> {
        let file = read_capped(reader).map_err(upload_error)?;
        Ok(Self::from_bytes(file_name, file))
    }

    /// The meta JSON, exactly what is sent in the `meta` part and signed.
    pub fn meta(&self) -> &Value {
        &self.meta
    }

    /// Replaces the meta JSON (sent and signed as given, keys in the order written).
    pub fn set_meta(&mut self, meta: Value) -> &mut Self {
        self.meta = meta;
        self
    }

    /// [`set_meta`](Self::set_meta) for a chain of calls.
    #[must_use]
    pub fn with_meta(mut self, meta: Value) -> Self {
        self.meta = meta;
        self
    }

    /// The file name sent in the `file` part.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The `file` part's `Content-Type`, from the file name's extension.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.file
    }
}

impl RequestOptions {
    /// Makes the call a media upload: the body is a `multipart/form-data` form with `media`'s
    /// `meta` and `file` parts (under a fresh random boundary), and the signature covers the
    /// meta JSON only. Other options (headers, query, time limits) still apply; a `json` or
    /// `body` option alongside is refused when the call is made.
    ///
    /// # Examples
    /// ```
    /// use wechatpay::{media::MediaUtil, RequestOptions};
    /// let opts = RequestOptions::new().media(MediaUtil::from_bytes("a.png", &b"\x89PNG"[..]));
    /// # let _ = opts;
    /// ```
    pub fn media(mut self, media: MediaUtil) -> Self {
        // A `Value` always serializes; an empty meta would only be refused by WeChat Pay.
        let meta = Bytes::from(serde_json::to_vec(&media.meta).unwrap_or_default());
        let boundary = multipart::boundary_for(&meta, &media.file);
        self.body = Some(multipart::encode(
            &boundary,
            &meta,
            &media.file_name,
            media.content_type,
            &media.file,
        ));
        self.headers.push((
            http::header::CONTENT_TYPE.as_str().to_string(),
            format!("multipart/form-data; boundary={boundary}"),
        ));
        self.extensions.insert(SignedBody(meta));
        self
    }
}

impl IntoRequestOptions for MediaUtil {
    fn into_request_options(self) -> Result<RequestOptions> {
        Ok(RequestOptions::new().media(self))
    }
}

impl IntoRequestOptions for &MediaUtil {
    fn into_request_options(self) -> Result<RequestOptions> {
        Ok(RequestOptions::new().media(self.clone()))
    }
}

fn upload_error(why: String) -> Error {
    Error::Request(RequestError::Upload(why))
}

/// Everything `reader` gives, reading no more than one byte past the limit.
fn read_capped(reader: impl Read) -> std::result::Result<Vec<u8>, String> {
    let mut file = Vec::new();
    reader
        .take(MediaUtil::MAX_FILE_BYTES + 1)
        .read_to_end(&mut file)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if file.len() as u64 > MediaUtil::MAX_FILE_BYTES {
        return Err(too_large_text("the file has more"));
    }
    Ok(file)
}

fn too_large(what: &str) -> Error {
    upload_error(too_large_text(what))
}

fn too_large_text(what: &str) -> String {
    format!(
        "{what} than the {} MiB an upload may have (`MediaUtil::MAX_FILE_BYTES`)",
        MediaUtil::MAX_FILE_BYTES / (1024 * 1024)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_meta_names_the_file_and_its_sha256() {
        let m = MediaUtil::from_bytes("a.png", &b"abc"[..]);
        assert_eq!(
            serde_json::to_string(m.meta()).unwrap(),
            r#"{"filename":"a.png","sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}"#
        );
        assert_eq!(m.content_type(), "image/png");
    }

    #[test]
    fn a_reader_beyond_the_limit_is_refused_without_reading_it_all() {
        let endless = std::io::repeat(7);
        let e = MediaUtil::from_reader("big.mp4", endless).unwrap_err();
        assert!(e.to_string().contains("5 MiB"), "{e}");
        assert!(matches!(e, Error::Request(RequestError::Upload(_))));
    }

    #[test]
    fn options_carry_the_form_and_the_signed_meta() {
        let opts = RequestOptions::new().media(MediaUtil::from_bytes("a.png", &b"img"[..]));
        let signed = opts.extensions.get::<SignedBody>().unwrap();
        let meta =
            serde_json::to_vec(&json!({"filename": "a.png", "sha256": Hash::sha256(b"img")}))
                .unwrap();
        assert_eq!(signed.0, meta);
        let (name, value) = &opts.headers[0];
        assert_eq!(name, "content-type");
        let boundary = value
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        let body = opts.body.unwrap();
        assert!(body.starts_with(format!("--{boundary}\r\n").as_bytes()));
        assert!(body.ends_with(format!("--{boundary}--\r\n").as_bytes()));
    }
}
