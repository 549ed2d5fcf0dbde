//! Path templates: RFC 6570 level-2 expansion of `{name}` and `{+name}`.
//!
//! A value can never change the shape of the path: in `{name}` every character outside
//! RFC 3986's unreserved set is percent-encoded (so `/`, `?`, `#` and `%` stay inside the
//! segment), and in both forms a segment that would be `.` or `..` has its dots encoded.
//! `{+name}` keeps `/`, the other reserved characters and existing `%XX` triplets, as
//! RFC 6570 §3.2.3 says, except `?` and `#`, which would move the end of the path.

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

/// Rewrites any `.` or `..` segment of an expanded value as `%2E` / `%2E%2E`, so that a value
/// cannot climb out of its place in the path.
fn neutralise_dot_segments(expanded: String) -> String {
    if !expanded.split('/').any(|s| s == "." || s == "..") {
        return expanded;
    }
    expanded
        .split('/')
        .map(|s| match s {
            "." => "%2E",
            ".." => "%2E%2E",
            other => other,
        })
        .collect::<Vec<_>>()
        .join("/")
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
/// [`RequestError::InvalidVariable`] for an empty or structured value, and
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
        let start = out.len();
        out.push_str(&neutralise_dot_segments(expanded));
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
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let expr = &after[..close];
        names.push(expr.strip_prefix('+').unwrap_or(expr));
        rest = &after[close + 1..];
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
    fn dot_segments_and_delimiters_cannot_escape() {
        assert_eq!(expand("a/{x}", json!({"x": ".."})).unwrap(), "a/%2E%2E");
        assert_eq!(
            expand("a/{+x}", json!({"x": "../../b"})).unwrap(),
            "a/%2E%2E/%2E%2E/b"
        );
        assert_eq!(
            expand("a/{+x}", json!({"x": "b?c#d"})).unwrap(),
            "a/b%3Fc%23d"
        );
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
    fn numbers_expand_as_text() {
        assert_eq!(expand("s/{id}", json!({"id": 12535})).unwrap(), "s/12535");
    }
}
