//! APIv2 XML: whatever `Transformer::to_map` accepts, `to_xml` writes back so that `to_map`
//! reads the same fields (a `]]>` in a value must not end its CDATA section early), and the
//! JSON writer agrees with the map writer.

use std::collections::BTreeMap;

use serde_json::Value;
use wechatpay::v2::Transformer;

/// Arbitrary bytes through `to_map`, then the round trip when they parse.
pub fn check_xml(input: &[u8]) {
    if let Ok(fields) = Transformer::to_map(input) {
        check_round_trip(&fields);
    }
}

/// `to_xml` then `to_map` gives `fields` back, when every key is an element name (others are
/// written as `<item>`, as wechatpay-php does, and cannot come back under their own name).
pub fn check_round_trip(fields: &BTreeMap<String, String>) {
    let xml = Transformer::to_xml(fields);
    if !fields.keys().all(|k| is_element_name(k)) {
        let _ = Transformer::to_map(&xml);
        return;
    }
    let again = Transformer::to_map(&xml)
        .unwrap_or_else(|e| panic!("{fields:?} was written as {xml:?}, which reads as {e}"));
    assert_eq!(&again, fields, "written as {xml:?}");
    let object: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let from_json = Transformer::to_xml_from_json(&Value::Object(object))
        .unwrap_or_else(|e| panic!("{fields:?} as a JSON object was refused: {e}"));
    assert_eq!(from_json, xml, "the JSON writer disagrees for {fields:?}");
}

/// `^[\pL_][\pL0-9._:-]*$`, the element-name rule `Transformer::to_xml` documents (after
/// wechatpay-php and Symfony), with Rust's `char::is_alphabetic` for `\pL`.
pub fn is_element_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphabetic() || c.is_ascii_digit() || matches!(c, '.' | '_' | ':' | '-'))
}
