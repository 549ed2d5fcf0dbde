//! Path templates: RFC 6570 level-2 expansion of `{name}` and `{+name}`.
//!
//! A value can never change the shape of the path: in `{name}` every character outside
//! RFC 3986's unreserved set is percent-encoded (so `/`, `?`, `#` and `%` stay inside the
//! segment). `{+name}` keeps `/`, the other reserved characters and existing `%XX` triplets, as
//! RFC 6570 §3.2.3 says, except `?` and `#`, which would move the end of the path.
//!
//! In both forms a value that would put a `.` or `..` segment into the path, as sent or once
//! decoded, is refused. Encoding the dots is no defence: RFC 3986 (§2.3, §6.2.2.2) makes
//! `%2E` the same as `.`, so a hop that normalises the path (WHATWG URL parsers, nginx,
//! okhttp) resolves `%2E%2E` as `..` and routes a call signed for `a/%2E%2E/b` to `b`; and one
//! that decodes `%2F` turns `{name}`'s `..%2Fb` into `../b`.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::error::RequestError;

/// Characters a path may carry literally (RFC 3986 `pchar` minus `%`, plus `/`).
fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

fn is_hex_triplet(bytes: &[u8], i: usize) -> bool {
    bytes.get(i) == Some(&b'%')
        && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
        && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
}

fn push_encoded(out: &mut String, b: u8) {
    let _ = write!(out, "%{b:02X}");
}

/// Appends `text`, keeping bytes for which `keep` holds (and `%XX` triplets when
/// `keep_triplets`), percent-encoding the rest.
fn encode_into(out: &mut String, text: &str, keep: fn(u8) -> bool, keep_triplets: bool) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if keep_triplets && is_hex_triplet(bytes, i) {
            out.push_str(&text[i..i + 3]);
            i += 3;
            continue;
        }
        if keep(b) {
            out.push(char::from(b));
        } else {
            push_encoded(out, b);
        }
        i += 1;
    }
}

/// Whether an expanded value holds a `.` or `..` segment, as written or once its `%XX`
/// triplets are decoded (any case: `%2e` is `%2E`), as a normalising hop would read it.
fn has_dot_segment(expanded: &str) -> bool {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(expanded).collect();
    [expanded.as_bytes(), &decoded]
        .iter()
        .any(|path| path.split(|&b| b == b'/').any(|s| s == b"." || s == b".."))
}

/// The text of a path variable, or why it cannot be used.
fn variable_text<'v>(
    name: &str,
    vars: &'v Map<String, Value>,
) -> Result<std::borrow::Cow<'v, str>, RequestError> {
    let invalid = |reason: &str| RequestError::InvalidVariable {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    match vars.get(name) {
        None | Some(Value::Null) => Err(RequestError::MissingVariable(name.to_string())),
        Some(Value::String(s)) if s.is_empty() => Err(invalid("is empty")),
        Some(Value::String(s)) => Ok(std::borrow::Cow::Borrowed(s)),
        Some(Value::Number(n)) => Ok(std::borrow::Cow::Owned(n.to_string())),
        Some(Value::Bool(b)) => Ok(std::borrow::Cow::Owned(b.to_string())),
        Some(Value::Array(_) | Value::Object(_)) => Err(invalid("must be a string or a number")),
    }
}

/// Expands the path part of `template` (no leading `/`) with `vars`, appending to `out`.
///
/// Literal text is kept where it is a valid path character and percent-encoded otherwise, so a
/// template with a space or non-ASCII text still yields a valid URI.
///
/// # Errors
/// [`RequestError::MissingVariable`] for a placeholder without a value,
/// [`RequestError::InvalidVariable`] for an empty or structured value or one that makes a dot
/// segment, and
/// [`RequestError::InvalidTemplate`] for an unclosed brace or an unsupported operator.
pub(crate) fn expand_path(
    template: &str,
    vars: &Map<String, Value>,
    out: &mut String,
) -> Result<(), RequestError> {
    let mut rest = template;
    let mut expansions = Vec::new();
    while let Some(open) = rest.find('{') {
        encode_into(out, &rest[..open], is_path_char, true);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| {
            RequestError::InvalidTemplate(format!("unclosed `{{` in `{template}`"))
        })?;
        let expression = &after[..close];
        let (reserved, name) = match expression.strip_prefix('+') {
            Some(name) => (true, name),
            None => (false, expression),
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return Err(RequestError::InvalidTemplate(format!(
                "`{{{expression}}}` is not a supported expression (only {{name}} and {{+name}})"
            )));
        }
        let value = variable_text(name, vars)?;
        let mut expanded = String::with_capacity(value.len() + 8);
        if reserved {
            encode_into(
                &mut expanded,
                &value,
                |b| is_path_char(b) && b != b'?' && b != b'#',
                true,
            );
        } else {
            encode_into(&mut expanded, &value, is_unreserved, false);
        }
        if has_dot_segment(&expanded) {
            return Err(RequestError::InvalidVariable {
                name: name.to_string(),
                reason: format!(
                    "{:?} would be a `.` or `..` path segment (directly or as `%2E`), which a \
                     server may resolve to another path than the one signed",
                    value.chars().take(64).collect::<String>()
                ),
            });
        }
        let start = out.len();
        out.push_str(&expanded);
        expansions.push((start..out.len(), name));
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(RequestError::InvalidTemplate(format!(
            "unopened `}}` in `{template}`"
        )));
    }
    encode_into(out, rest, is_path_char, true);
    refuse_joined_dot_segments(out, &expansions)
}

/// Refuses a `.` or `..` segment that a value makes together with the text around it: `.{+x}`
/// with `/b` gives `./b`, and `{x}{y}` with `.` and `.` gives `%2E%2E`. The rule above sees
/// one value at a time; a segment made of one value alone is its business. Percent-encoded
/// dots count, since RFC 3986 (§2.3, §6.2.2.2) makes `%2E` the same as `.` and a hop that
/// normalises the path resolves it; so does a `%2F` a hop may decode.
fn refuse_joined_dot_segments(
    path: &str,
    expansions: &[(std::ops::Range<usize>, &str)],
) -> Result<(), RequestError> {
    let mut start = 0;
    for segment in path.split('/') {
        let end = start + segment.len();
        // The `/` on either side of a segment may be a value's own, so a value touching either
        // delimiter helps make the segment.
        let joined_by = expansions.iter().find(|(value, _)| {
            let touches = value.start <= end && start <= value.end;
            let alone = value.start <= start && end <= value.end;
            touches && !alone
        });
        if let Some((_, name)) = joined_by {
            let decoded = segment
                .to_ascii_lowercase()
                .replace("%2e", ".")
                .replace("%2f", "/");
            if decoded.split('/').any(|s| s == "." || s == "..") {
                return Err(RequestError::InvalidVariable {
                    name: (*name).to_string(),
                    reason: format!(
                        "would join the text around it into the path segment `{segment}`, \
                         which a server may resolve as `.` or `..`"
                    ),
                });
            }
        }
        start = end + 1;
    }
    Ok(())
}

/// Appends a query component (name or value) percent-encoded as RFC 3986 unreserved.
pub(crate) fn encode_query_component(out: &mut String, text: &str) {
    encode_into(out, text, is_unreserved, false);
}

/// Appends a literal query string, keeping characters valid in a query and `%XX` triplets.
pub(crate) fn encode_literal_query(out: &mut String, text: &str) {
    encode_into(out, text, |b| is_path_char(b) || b == b'?', true);
}

/// The placeholder names in a template, in order (`+` dropped).
pub(crate) fn placeholders(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some((_, after)) = rest.split_once('{') {
        let Some((expr, tail)) = after.split_once('}') else {
            break;
        };
        names.push(expr.strip_prefix('+').unwrap_or(expr));
        rest = tail;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expand(template: &str, vars: Value) -> Result<String, RequestError> {
        let mut out = String::new();
        let Value::Object(map) = vars else {
            panic!("vars must be an object")
        };
        expand_path(template, &map, &mut out).map(|()| out)
    }

    #[test]
    fn simple_and_reserved_expansion_differ_only_where_rfc_6570_says() {
        let v = json!({"x": "4200/00 A+b%2F"});
        assert_eq!(
            expand("a/{x}/b", v.clone()).unwrap(),
            "a/4200%2F00%20A%2Bb%252F/b"
        );
        assert_eq!(expand("a/{+x}/b", v).unwrap(), "a/4200/00%20A+b%2F/b");
    }

    #[test]
    fn delimiters_cannot_escape() {
        assert_eq!(
            expand("a/{+x}", json!({"x": "b?c#d"})).unwrap(),
            "a/b%3Fc%23d"
        );
        assert_eq!(expand("a/{x}", json!({"x": "b/c"})).unwrap(), "a/b%2Fc");
    }

    fn refused_as_dot_segment(template: &str, value: &str) -> bool {
        matches!(
            expand(template, json!({ "x": value })),
            Err(RequestError::InvalidVariable { name, reason })
                if name == "x" && reason.contains("`.` or `..` path segment")
        )
    }

    /// RFC 3986 §6.2.2.2 makes `%2E` equal to `.`: every spelling of a dot segment is
    /// refused, in both forms, as is one that a hop decoding `%2F` would see.
    #[test]
    fn dot_segments_are_refused_in_every_spelling() {
        for value in [
            ".",
            "..",
            "%2e",
            "%2E",
            "%2e%2E",
            ".%2e",
            "%2E.",
            "../b",
            "a/..",
            "a/./b",
            "a/%2e%2e/b",
            "..%2Fb",
            "..%2fb",
        ] {
            assert!(refused_as_dot_segment("a/{+x}", value), "{{+x}} <- {value}");
        }
        for value in [".", "..", "../b", "a/..", "./"] {
            assert!(refused_as_dot_segment("a/{x}", value), "{{x}} <- {value}");
        }
        // Dots inside a segment are ordinary text, and `{x}` encodes a `%` it is given, so
        // its `%2E` is text too.
        for (template, value, expected) in [
            ("a/{x}", "...", "a/..."),
            ("a/{x}", "v1.2", "a/v1.2"),
            ("a/{+x}", ".a/b.", "a/.a/b."),
            ("a/{+x}", "%2E%2E%2E", "a/%2E%2E%2E"),
            ("a/{x}", "%2E%2E", "a/%252E%252E"),
            ("a.{x}", "b", "a.b"),
        ] {
            assert_eq!(expand(template, json!({ "x": value })).unwrap(), expected);
        }
    }

    #[test]
    fn missing_empty_and_structured_values_are_errors() {
        assert_eq!(
            expand("a/{x}", json!({})),
            Err(RequestError::MissingVariable("x".into()))
        );
        assert!(matches!(
            expand("a/{x}", json!({"x": ""})),
            Err(RequestError::InvalidVariable { .. })
        ));
        assert!(matches!(
            expand("a/{x}", json!({"x": [1]})),
            Err(RequestError::InvalidVariable { .. })
        ));
        assert!(matches!(
            expand("a/{x", json!({})),
            Err(RequestError::InvalidTemplate(_))
        ));
        assert!(matches!(
            expand("a/{#x}", json!({})),
            Err(RequestError::InvalidTemplate(_))
        ));
    }

    #[test]
    fn reserved_expansion_keeps_only_whole_triplets_wherever_they_are() {
        for (value, expected) in [
            // A triplet at the very start, in the middle and at the end of a value.
            ("%2Fa", "a/%2Fa"),
            ("a%2Fb", "a/a%2Fb"),
            ("ab%2F", "a/ab%2F"),
            // Text right after a kept triplet is encoded on its own terms.
            ("%41bc", "a/%41bc"),
            ("%41 c", "a/%41%20c"),
            ("%41%42", "a/%41%42"),
            // Not triplets: a non-hex digit in either place, or too short.
            ("%G1", "a/%25G1"),
            ("%1G", "a/%251G"),
            ("x%4", "a/x%254"),
            ("%", "a/%25"),
        ] {
            assert_eq!(
                expand("a/{+x}", json!({ "x": value })).unwrap(),
                expected,
                "{value}"
            );
        }
        // Simple expansion keeps no triplet at all.
        assert_eq!(expand("a/{x}", json!({"x": "%2Fa"})).unwrap(), "a/%252Fa");
    }

    #[test]
    fn literal_template_text_is_kept_or_encoded_with_its_triplets() {
        assert_eq!(
            expand("v3/a b/%41c/{x}", json!({"x": 1})).unwrap(),
            "v3/a%20b/%41c/1"
        );
        assert_eq!(expand("v3/%G1", json!({})).unwrap(), "v3/%25G1");
    }

    #[test]
    fn a_literal_query_keeps_query_characters_and_encodes_the_rest() {
        let literal = |text: &str| {
            let mut out = String::new();
            encode_literal_query(&mut out, text);
            out
        };
        assert_eq!(literal("a=1&b=2"), "a=1&b=2");
        assert_eq!(literal("a=b?c"), "a=b?c");
        assert_eq!(literal("q=a b#c"), "q=a%20b%23c");
        assert_eq!(literal("t=%2F%G1"), "t=%2F%25G1");
        assert_eq!(literal("n=中"), "n=%E4%B8%AD");
        let component = |text: &str| {
            let mut out = String::new();
            encode_query_component(&mut out, text);
            out
        };
        assert_eq!(component("a b&c=d?%2F"), "a%20b%26c%3Dd%3F%252F");
    }

    #[test]
    fn placeholders_lists_every_name_in_order_without_the_plus() {
        assert_eq!(
            placeholders("v3/{a}/b/{+c_d}/{e.f}?q={g}"),
            ["a", "c_d", "e.f", "g"]
        );
        assert!(placeholders("v3/pay/transactions").is_empty());
        // An unclosed brace ends the list; expansion reports it.
        assert_eq!(placeholders("v3/{a}/{b"), ["a"]);
        assert_eq!(placeholders("{a}{b}"), ["a", "b"]);
    }

    #[test]
    fn numbers_expand_as_text() {
        assert_eq!(expand("s/{id}", json!({"id": 12535})).unwrap(), "s/12535");
    }
}
