//! The `Content-Type` of an upload's `file` part, from its file name's extension.

/// The media types of the extensions WeChat Pay's upload endpoints take: images (merchant
/// media, complaint and marketing images), videos (`video_upload`) and the few documents some
/// endpoints accept. Anything else is `application/octet-stream`.
const TYPES: &[(&str, &str)] = &[
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("bmp", "image/bmp"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avi", "video/x-msvideo"),
    ("wmv", "video/x-ms-wmv"),
    ("mpeg", "video/mpeg"),
    ("mpg", "video/mpeg"),
    ("mp4", "video/mp4"),
    ("mov", "video/quicktime"),
    ("mkv", "video/x-matroska"),
    ("flv", "video/x-flv"),
    ("f4v", "video/x-f4v"),
    ("m4v", "video/x-m4v"),
    ("rmvb", "application/vnd.rn-realmedia-vbr"),
    ("pdf", "application/pdf"),
    ("csv", "text/csv"),
    ("txt", "text/plain"),
];

/// The media type for `file_name`, by its extension, ignoring case.
pub(super) fn content_type_for(file_name: &str) -> &'static str {
    let extension = match file_name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => extension,
        _ => return "application/octet-stream",
    };
    TYPES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(extension))
        .map_or("application/octet-stream", |(_, media_type)| media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_map_to_types_ignoring_case() {
        assert_eq!(content_type_for("a.JPG"), "image/jpeg");
        assert_eq!(content_type_for("photo.jpeg"), "image/jpeg");
        assert_eq!(content_type_for("x.png"), "image/png");
        assert_eq!(content_type_for("clip.MOV"), "video/quicktime");
        assert_eq!(content_type_for("clip.mp4"), "video/mp4");
        assert_eq!(content_type_for("bill.csv"), "text/csv");
        assert_eq!(
            content_type_for("archive.tar.gz"),
            "application/octet-stream"
        );
        assert_eq!(content_type_for("png"), "application/octet-stream");
        assert_eq!(content_type_for(".png"), "application/octet-stream");
        assert_eq!(content_type_for(""), "application/octet-stream");
    }
}
