//! The `multipart/form-data` body of an upload (RFC 7578): a `meta` part holding the JSON
//! WeChat Pay signs, then the `file` part.

use bytes::{BufMut as _, Bytes, BytesMut};

use crate::crypto::Formatter;

/// A boundary that occurs in neither part, so the body parses back into exactly these two
/// parts. It is random (the crate RNG), so a collision is astronomically unlikely; the loop
/// only makes it impossible.
pub(super) fn boundary_for(meta: &[u8], file: &[u8]) -> String {
    loop {
        let boundary = format!("wechatpay-{}", Formatter::nonce(32));
        if !contains(meta, boundary.as_bytes()) && !contains(file, boundary.as_bytes()) {
            return boundary;
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The whole body, with `meta` first as WeChat Pay's examples send it.
pub(super) fn encode(
    boundary: &str,
    meta: &[u8],
    file_name: &str,
    content_type: &str,
    file: &[u8],
) -> Bytes {
    let quoted_name = quote_file_name(file_name);
    let mut body = BytesMut::with_capacity(meta.len() + file.len() + quoted_name.len() + 256);
    body.put_slice(b"--");
    body.put_slice(boundary.as_bytes());
    body.put_slice(b"\r\nContent-Disposition: form-data; name=\"meta\"\r\n");
    body.put_slice(b"Content-Type: application/json\r\n\r\n");
    body.put_slice(meta);
    body.put_slice(b"\r\n--");
    body.put_slice(boundary.as_bytes());
    body.put_slice(b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"");
    body.put_slice(quoted_name.as_bytes());
    body.put_slice(b"\"\r\nContent-Type: ");
    body.put_slice(content_type.as_bytes());
    body.put_slice(b"\r\n\r\n");
    body.put_slice(file);
    body.put_slice(b"\r\n--");
    body.put_slice(boundary.as_bytes());
    body.put_slice(b"--\r\n");
    body.freeze()
}

/// The file name as it may stand between the quotes of `filename="..."`: `"`, CR and LF
/// become `%22`, `%0D` and `%0A`, as browsers send them (the WHATWG HTML standard's
/// multipart/form-data encoding), so a name cannot end the header or inject another one.
fn quote_file_name(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' => quoted.push_str("%22"),
            '\r' => quoted.push_str("%0D"),
            '\n' => quoted.push_str("%0A"),
            other => quoted.push(other),
        }
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_meta_part_then_the_file_part() {
        let body = encode("XYZ", br#"{"a":1}"#, "a.png", "image/png", b"\x89PNG");
        assert_eq!(
            &body[..],
            &b"--XYZ\r\nContent-Disposition: form-data; name=\"meta\"\r\n\
               Content-Type: application/json\r\n\r\n{\"a\":1}\r\n\
               --XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
               Content-Type: image/png\r\n\r\n\x89PNG\r\n--XYZ--\r\n"[..]
        );
    }

    #[test]
    fn quotes_and_line_breaks_in_a_file_name_are_escaped() {
        assert_eq!(
            quote_file_name("a\"b\r\nX-Injected: 1.png"),
            "a%22b%0D%0AX-Injected: 1.png"
        );
        assert_eq!(quote_file_name("商户图片.jpg"), "商户图片.jpg");
    }

    #[test]
    fn the_boundary_is_random_and_absent_from_the_parts() {
        let a = boundary_for(b"{}", b"file");
        let b = boundary_for(b"{}", b"file");
        assert_ne!(a, b);
        assert!(a.starts_with("wechatpay-") && a.len() == 42, "{a}");
    }
}
