//! The WeChat Pay endpoints whose answers carry no signature (bill files, statements,
//! complaint images, transfer vouchers): the verifier lets them through, and the caller checks
//! the file against a digest instead. The public path of these items is [`crate::download`].

use http::Method;

/// The documented download endpoints, as `(method, path template)`. WeChat Pay does not sign
/// their answers; the catalog marks them as binary responses (a test keeps this list equal to
/// the catalog's).
pub const UNSIGNED_DOWNLOADS: &[(&str, &str)] = &[
    ("GET", "hk/v3/statements"),
    ("GET", "v3/billdownload/file"),
    ("GET", "v3/global/merchant-service/images/{media_id}"),
    ("GET", "v3/global/statements"),
    ("GET", "v3/merchant-service/images/{media_id}"),
    ("GET", "v3/transferdownload/elecvoucherfile"),
    ("GET", "v3/transferdownload/signfile"),
];

/// True when `method` on the URI path `path` is one of [`UNSIGNED_DOWNLOADS`]. The template
/// is matched against the end of the path, segment by segment (`{x}` matches one non-empty
/// segment), so a base URI with a path prefix still matches.
pub fn is_unsigned_download(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    UNSIGNED_DOWNLOADS.iter().any(|(m, template)| {
        if method.as_str() != *m {
            return false;
        }
        let pattern: Vec<&str> = template.split('/').collect();
        segments.len() >= pattern.len()
            && segments[segments.len() - pattern.len()..]
                .iter()
                .zip(&pattern)
                .all(|(seg, pat)| {
                    if pat.starts_with('{') {
                        !seg.is_empty()
                    } else {
                        seg == pat
                    }
                })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_match_by_path_suffix_and_method() {
        assert!(is_unsigned_download(&Method::GET, "/v3/billdownload/file"));
        assert!(is_unsigned_download(&Method::GET, "/hk/v3/statements"));
        assert!(is_unsigned_download(
            &Method::GET,
            "/v3/merchant-service/images/abc%3D"
        ));
        assert!(!is_unsigned_download(
            &Method::GET,
            "/v3/merchant-service/images/"
        ));
        assert!(!is_unsigned_download(
            &Method::POST,
            "/v3/billdownload/file"
        ));
        assert!(!is_unsigned_download(&Method::GET, "/v3/bill/tradebill"));
        assert!(!is_unsigned_download(
            &Method::GET,
            "/v3/billdownload/file/extra"
        ));
    }
}
