//! Media uploads: the `multipart/form-data` form parsed by hand (RFC 7578), the checks WeChat
//! Pay makes on it, and the images it keeps for `GET v3/merchant-service/images/{media_id}`.
//!
//! An upload's signature covers its `meta` part only (checked in `auth.rs` with the bytes
//! found here). Then the `file` part's SHA-256 must be the meta's `sha256`, and the answer's
//! `media_id` (or `media_url`) names the stored file.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use serde_json::Value;

use super::catalog::Input;
use super::reply::Reply;
use crate::crypto::{Formatter, Hash};

/// How many bytes of uploads the simulator keeps; the oldest go first beyond it.
const KEPT_BYTES: usize = 64 * 1024 * 1024;

/// A parsed `multipart/form-data` upload.
#[derive(Debug)]
pub(crate) struct Upload {
    /// The part names, in order.
    pub(crate) names: Vec<String>,
    /// The `meta` part's bytes: what the signature covers.
    pub(crate) meta: Bytes,
    /// The `file` part, when there is one.
    pub(crate) file: Option<FilePart>,
}

/// The `file` part of an upload.
#[derive(Debug)]
pub(crate) struct FilePart {
    pub(crate) content_type: String,
    pub(crate) bytes: Bytes,
}

/// Parses the body of a request whose `Content-Type` is `multipart/form-data`; `None` for any
/// other request or a form that does not parse.
pub(crate) fn parse(parts: &http::request::Parts, body: &Bytes) -> Option<Upload> {
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })?;
    let delimiter = format!("--{boundary}");
    let mut names = Vec::new();
    let mut meta = Bytes::new();
    let mut file = None;
    let mut rest: &[u8] = body;
    let mut offset = 0usize;
    // Skip the preamble up to the first delimiter.
    let first = find(rest, delimiter.as_bytes())?;
    rest = rest.get(first + delimiter.len()..)?;
    offset += first + delimiter.len();
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        let after_crlf = rest.strip_prefix(b"\r\n")?;
        offset += 2;
        let end = find(after_crlf, format!("\r\n{delimiter}").as_bytes())?;
        let part = after_crlf.get(..end)?;
        let header_end = find(part, b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(part.get(..header_end)?);
        let header = |name: &str| {
            headers
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with(name))
                .map(|l| l[name.len()..].trim().to_string())
        };
        let name = header("content-disposition:")
            .and_then(|l| {
                l.split(';')
                    .find_map(|p| p.trim().strip_prefix("name=").map(str::to_string))
            })
            .map(|n| n.trim_matches('"').to_string())
            .unwrap_or_default();
        let content = body.slice(offset + header_end + 4..offset + end);
        match name.as_str() {
            "meta" => meta = content,
            "file" => {
                file = Some(FilePart {
                    content_type: header("content-type:").unwrap_or_default(),
                    bytes: content,
                })
            }
            _ => {}
        }
        names.push(name);
        let skip = end + 2 + delimiter.len();
        rest = after_crlf.get(skip..)?;
        offset += skip;
    }
    Some(Upload { names, meta, file })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The uploads the simulator keeps, by `media_id`.
#[derive(Debug, Default)]
pub(crate) struct MediaStore {
    files: HashMap<String, (String, Bytes)>,
    order: VecDeque<String>,
    bytes: usize,
}

impl MediaStore {
    fn keep(&mut self, media_id: String, content_type: String, bytes: Bytes) {
        self.bytes += bytes.len();
        self.files.insert(media_id.clone(), (content_type, bytes));
        self.order.push_back(media_id);
        while self.bytes > KEPT_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, gone)) = self.files.remove(&oldest) {
                self.bytes -= gone.len();
            }
        }
    }

    /// The stored file's `Content-Type` and bytes.
    pub(crate) fn get(&self, media_id: &str) -> Option<(String, Bytes)> {
        self.files.get(media_id).cloned()
    }
}

/// Checks an upload's file against its meta and stores it; the answer names it by the
/// `media_id` (and `media_url`) put into `input` for the catalog answer to echo. `None` when
/// the request is not an upload.
pub(crate) fn accept(
    store: &std::sync::Mutex<MediaStore>,
    public_base: &str,
    upload: Option<&Upload>,
    input: &mut Input,
) -> Option<Reply> {
    let upload = upload?;
    let file = upload.file.as_ref()?;
    let claimed = input
        .json
        .get("sha256")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let actual = Hash::sha256(&file.bytes);
    if claimed != actual {
        return Some(Reply::param_error(
            "sha256",
            "body",
            format!(
                "the file's SHA-256 is {actual}, but the meta's sha256 is `{}`",
                claimed.chars().take(64).collect::<String>()
            ),
        ));
    }
    let media_id = Formatter::nonce(64);
    let media_url = format!("{public_base}v3/merchant-service/images/{media_id}");
    if let Value::Object(meta) = &mut input.json {
        meta.insert("media_id".into(), Value::String(media_id.clone()));
        meta.insert("media_url".into(), Value::String(media_url));
    }
    crate::sync::lock(store).keep(media_id, file.content_type.clone(), file.bytes.clone());
    None
}

/// A stored upload served back, for the image download paths; `None` for an id the
/// simulator did not issue (the catalog's placeholder image answers those).
pub(crate) fn serve(
    store: &std::sync::Mutex<MediaStore>,
    path: &str,
    input: &Input,
) -> Option<Reply> {
    if !path.ends_with("merchant-service/images/{media_id}") {
        return None;
    }
    let (content_type, bytes) = crate::sync::lock(store).get(input.path("media_id"))?;
    let mut reply = Reply::download(bytes, "application/octet-stream");
    reply.content_type = None;
    reply
        .extra_mut()
        .headers
        .push(("Content-Type", content_type));
    Some(reply)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_meta_and_file_parts_are_found_exactly() {
        let body = Bytes::from_static(
            b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XYZ\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"filename\":\"a.png\",\"sha256\":\"00\"}\r\n--XYZ--\r\n",
        );
        let (parts, ()) = http::Request::builder()
            .header("content-type", "multipart/form-data; boundary=XYZ")
            .body(())
            .unwrap()
            .into_parts();
        let upload = parse(&parts, &body).unwrap();
        assert_eq!(upload.names, vec!["file", "meta"]);
        assert_eq!(&upload.meta[..], br#"{"filename":"a.png","sha256":"00"}"#);
        let file = upload.file.unwrap();
        assert_eq!(&file.bytes[..], b"\x89PNG");
        assert_eq!(file.content_type, "image/png");
    }

    #[test]
    fn the_store_forgets_the_oldest_beyond_its_size() {
        let mut store = MediaStore::default();
        let big = Bytes::from(vec![0u8; KEPT_BYTES / 2 + 1]);
        store.keep("a".into(), "image/png".into(), big.clone());
        store.keep("b".into(), "image/png".into(), big);
        assert!(store.get("a").is_none());
        assert!(store.get("b").is_some());
    }
}
