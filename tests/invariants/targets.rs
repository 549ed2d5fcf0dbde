//! The fuzz targets' bodies: `fuzz/fuzz_targets/NAME.rs` calls `NAME` here, and
//! `tests/properties.rs` replays every input kept in `tests/fuzz_regressions/NAME/` through
//! the same function.
//!
//! Where a target has several modes, the first byte picks one (any other byte is the raw
//! mode) and the rest is its input; `fuzz/README.md` lists them.

/// A target's body: one input in, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: [(&str, Target); 6] = [
    ("template", template),
    ("options", options),
    ("xml", xml),
    ("notify", notify),
    ("keys", keys),
    ("response", response),
];

/// A path template line, then one value per line for its placeholders.
pub fn template(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        super::request::check_template_lines(text);
    }
}

/// A path template line, then JSON options.
pub fn options(data: &[u8]) {
    super::request::check_options_input(data);
}

/// Any bytes as an APIv2 XML body.
pub fn xml(data: &[u8]) {
    super::xml::check_xml(data);
}

/// `S` a signed APIv3 body; `E` nonce line, associated-data line, then a resource plaintext
/// sealed and signed; `X` an APIv2 body; `Y` an APIv2 body signed with the APIv2 key; `F` a
/// refund `req_info` plaintext, sealed; otherwise headers, an empty line and an APIv3 body.
pub fn notify(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        b'S' => super::notify::check_v3_signed_body(rest),
        b'E' => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let mut parts = text.splitn(3, '\n');
            let nonce = parts.next().unwrap_or_default();
            let associated_data = parts.next().unwrap_or_default();
            let plaintext = parts.next().unwrap_or_default();
            super::notify::check_v3_sealed(nonce, associated_data, plaintext.as_bytes());
        }
        b'X' => super::notify::check_v2_raw(rest),
        b'Y' => super::notify::check_v2_signed(rest),
        b'F' => super::notify::check_refund_sealed(rest),
        _ => super::notify::check_v3_raw(rest),
    }
}

/// `D` DER bytes; otherwise key text (bytes that are not UTF-8 count as DER).
pub fn keys(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match (mode, std::str::from_utf8(rest)) {
        (b'D', _) | (_, Err(_)) => super::keys::check_key_der(rest),
        (_, Ok(text)) => super::keys::check_key_text(text),
    }
}

/// `S` headers and a body, signed here over their timestamp and nonce; `C` a certificate
/// sealed into a signed `v3/certificates` listing; otherwise headers, an empty line and a body.
pub fn response(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        b'S' => super::response::check_response_signed(rest),
        b'C' => {
            if let Ok(text) = std::str::from_utf8(rest) {
                super::response::check_certificate_listing(text);
            }
        }
        _ => super::response::check_response_raw(rest),
    }
}
