//! XML <-> map for APIv2 bodies (wechatpay-php's `Transformer`), safe against XXE.
//!
//! Parsing never loads anything: a `<!DOCTYPE` (and so any DTD, external entity or custom
//! entity) is refused outright, and only the five predefined entities and character
//! references are expanded, so nothing amplifies the input (the "billion laughs" attack).
//! The input itself is capped at [`Transformer::MAX_INPUT_BYTES`] before parsing starts.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::Reader;

/// Why an XML body was refused. The text names the problem, never the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct XmlError(String);

impl XmlError {
    fn new(why: impl Into<String>) -> Self {
        Self(why.into())
    }
}

impl From<XmlError> for crate::Error {
    fn from(e: XmlError) -> Self {
        crate::Error::Decode(format!("APIv2 XML: {e}"))
    }
}

impl From<XmlError> for crate::error::NotifyError {
    fn from(e: XmlError) -> Self {
        crate::error::NotifyError::BadXml(e.0)
    }
}

/// XML <-> flat map conversion for APIv2.
#[derive(Debug, Clone, Copy)]
pub struct Transformer;

/// Where the parser is in the `<root><field>text</field>...</root>` shape.
enum State {
    BeforeRoot,
    InRoot,
    InField { name: String, value: String },
    AfterRoot,
}

impl Transformer {
    /// The largest document [`to_map`](Self::to_map) parses, 1 MiB. APIv2 answers and
    /// notifications are a few KiB; anything near this is not one, and refusing it before
    /// parsing keeps the work and memory a hostile body can cause bounded.
    pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

    /// Parses a flat APIv2 document into its fields.
    ///
    /// The root element may have any name (`<xml>` for messages, `<root>` for a decrypted
    /// refund `req_info`). Each child element becomes one entry; text and CDATA are joined,
    /// and an empty element gives `""`. Attributes are ignored, as PHP's `Transformer` does.
    ///
    /// # Errors
    /// [`XmlError`] for input over [`MAX_INPUT_BYTES`](Self::MAX_INPUT_BYTES), malformed XML,
    /// a `<!DOCTYPE` (DTDs are refused, so XXE and entity expansion cannot happen), an
    /// unknown entity, nested elements, text directly inside the root, a repeated field, or
    /// non-UTF-8 input.
    ///
    /// # Examples
    /// ```
    /// use wechatpay::v2::Transformer;
    /// let map = Transformer::to_map("<xml><return_code><![CDATA[SUCCESS]]></return_code><total_fee>1</total_fee></xml>")?;
    /// assert_eq!(map["return_code"], "SUCCESS");
    /// assert_eq!(map["total_fee"], "1");
    /// assert!(Transformer::to_map("<!DOCTYPE xml [<!ENTITY x 'y'>]><xml><a>&x;</a></xml>").is_err());
    /// # Ok::<(), wechatpay::v2::XmlError>(())
    /// ```
    pub fn to_map(xml: impl AsRef<[u8]>) -> Result<BTreeMap<String, String>, XmlError> {
        let xml = xml.as_ref();
        if xml.len() > Self::MAX_INPUT_BYTES {
            return Err(XmlError::new(format!(
                "the document is {} bytes, over the {} an APIv2 body may have",
                xml.len(),
                Self::MAX_INPUT_BYTES
            )));
        }
        let text = std::str::from_utf8(xml)
            .map_err(|e| XmlError::new(format!("not UTF-8 (at byte {})", e.valid_up_to())))?;
        let mut reader = Reader::from_str(text);
        // Keep whitespace inside values exactly; `trim_text` also mangles text around
        // entity references (`a &amp; b` became `a&b`).
        reader.config_mut().trim_text(false);
        reader.config_mut().check_end_names = true;

        let mut map = BTreeMap::new();
        let mut state = State::BeforeRoot;
        loop {
            let event = reader.read_event().map_err(|e| {
                XmlError::new(format!(
                    "malformed at byte {}: {e}",
                    reader.error_position()
                ))
            })?;
            state = match (state, event) {
                (_, Event::DocType(_)) => {
                    return Err(XmlError::new("DOCTYPE declarations are not accepted"))
                }
                (state, Event::Decl(_) | Event::Comment(_) | Event::PI(_)) => state,
                (State::BeforeRoot, Event::Start(_)) => State::InRoot,
                (State::BeforeRoot, Event::Empty(_)) => State::AfterRoot,
                (State::InRoot, Event::Start(e)) => State::InField {
                    name: element_name(e.name().as_ref())?,
                    value: String::new(),
                },
                (State::InRoot, Event::Empty(e)) => {
                    insert(&mut map, element_name(e.name().as_ref())?, String::new())?;
                    State::InRoot
                }
                (State::InRoot, Event::End(_)) => State::AfterRoot,
                (State::InField { name, mut value }, Event::Text(t)) => {
                    // XML forbids a literal `]]>` in text. It appears when a writer did not
                    // split a value's `]]>` across CDATA sections: `<![CDATA[a]]>b]]>` would
                    // otherwise be read, silently, as `ab]]>`.
                    if t.windows(3).any(|w| w == b"]]>") {
                        return Err(XmlError::new(format!(
                            "`]]>` in the text of `{name}` (outside CDATA) is not well-formed \
                             XML; a CDATA section was probably not split around it"
                        )));
                    }
                    let piece = t
                        .xml10_content()
                        .map_err(|e| XmlError::new(format!("text: {e}")))?;
                    value.push_str(&piece);
                    State::InField { name, value }
                }
                (State::InField { name, mut value }, Event::CData(c)) => {
                    let piece = c
                        .decode()
                        .map_err(|e| XmlError::new(format!("CDATA: {e}")))?;
                    value.push_str(&piece);
                    State::InField { name, value }
                }
                (State::InField { name, mut value }, Event::GeneralRef(r)) => {
                    value.push(resolve_reference(&r)?);
                    State::InField { name, value }
                }
                (State::InField { name, value }, Event::End(_)) => {
                    insert(&mut map, name, value)?;
                    State::InRoot
                }
                (State::InField { name, .. }, Event::Start(_) | Event::Empty(_)) => {
                    return Err(XmlError::new(format!(
                        "element `{name}` has child elements; APIv2 bodies are flat"
                    )))
                }
                (
                    state @ (State::BeforeRoot | State::InRoot | State::AfterRoot),
                    Event::Text(t),
                ) => {
                    if !t.iter().all(u8::is_ascii_whitespace) {
                        return Err(XmlError::new("text outside a field element"));
                    }
                    state
                }
                (State::AfterRoot, Event::Eof) => return Ok(map),
                (_, Event::Eof) => {
                    return Err(XmlError::new("document ends before its root closes"))
                }
                (State::AfterRoot, Event::Start(_) | Event::Empty(_)) => {
                    return Err(XmlError::new("more than one root element"))
                }
                (_, Event::CData(_) | Event::GeneralRef(_)) => {
                    return Err(XmlError::new("text outside a field element"))
                }
                (_, Event::End(_)) => return Err(XmlError::new("unexpected closing tag")),
            };
        }
    }

    /// Writes fields as `<xml><key><![CDATA[value]]></key>...</xml>`, in the order given.
    ///
    /// Every value is wrapped in CDATA (a `]]>` inside a value is split across two CDATA
    /// sections, so any text survives). A key that is not a valid element name is written
    /// as `<item>`, as wechatpay-php does.
    ///
    /// # Examples
    /// ```
    /// use wechatpay::v2::Transformer;
    /// let xml = Transformer::to_xml([("return_code", "SUCCESS"), ("return_msg", "OK")]);
    /// assert_eq!(xml, "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>");
    /// ```
    pub fn to_xml<K: AsRef<str>, V: AsRef<str>>(
        fields: impl IntoIterator<Item = (K, V)>,
    ) -> String {
        let mut out = String::from("<xml>");
        for (key, value) in fields {
            write_element(&mut out, key.as_ref(), value.as_ref());
        }
        out.push_str("</xml>");
        out
    }

    /// Writes a JSON object's fields as APIv2 XML: strings as they are, numbers and booleans
    /// as their JSON text, `null` fields left out, arrays and objects as compact JSON text
    /// (fields such as `detail` and `scene_info` carry JSON inside the XML).
    ///
    /// # Errors
    /// [`XmlError`] when `value` is not a JSON object.
    pub fn to_xml_from_json(value: &serde_json::Value) -> Result<String, XmlError> {
        let object = value
            .as_object()
            .ok_or_else(|| XmlError::new("APIv2 bodies are built from a JSON object"))?;
        let mut out = String::from("<xml>");
        for (key, value) in object {
            let text = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
                other => std::borrow::Cow::Owned(other.to_string()),
            };
            write_element(&mut out, key, &text);
        }
        out.push_str("</xml>");
        Ok(out)
    }
}

fn element_name(raw: &[u8]) -> Result<String, XmlError> {
    std::str::from_utf8(raw)
        .map(str::to_string)
        .map_err(|_| XmlError::new("element name is not UTF-8"))
}

fn insert(map: &mut BTreeMap<String, String>, name: String, value: String) -> Result<(), XmlError> {
    match map.entry(name) {
        std::collections::btree_map::Entry::Occupied(e) => {
            // A repeated field would make "which value was signed" ambiguous.
            Err(XmlError::new(format!(
                "field `{}` appears more than once",
                e.key()
            )))
        }
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(value);
            Ok(())
        }
    }
}

fn resolve_reference(r: &quick_xml::events::BytesRef<'_>) -> Result<char, XmlError> {
    if let Some(c) = r
        .resolve_char_ref()
        .map_err(|e| XmlError::new(format!("bad character reference: {e}")))?
    {
        return Ok(c);
    }
    let name = r
        .decode()
        .map_err(|e| XmlError::new(format!("entity name: {e}")))?;
    quick_xml::escape::resolve_xml_entity(&name)
        .and_then(|s| s.chars().next())
        .ok_or_else(|| {
            XmlError::new(format!(
                "unknown entity `&{};` (only the five predefined XML entities are accepted)",
                name.chars().take(32).collect::<String>()
            ))
        })
}

/// `^[\pL_][\pL0-9._:-]*$`, the element-name rule wechatpay-php (after Symfony) applies.
fn is_element_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphabetic() || c.is_ascii_digit() || matches!(c, '.' | '_' | ':' | '-'))
}

fn write_element(out: &mut String, key: &str, value: &str) {
    let tag = if is_element_name(key) { key } else { "item" };
    out.push('<');
    out.push_str(tag);
    out.push_str("><![CDATA[");
    out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]></");
    out.push_str(tag);
    out.push('>');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    #[test]
    fn round_trips_awkward_text() {
        let value = "a & b <c> \"d\" ]]> e\n";
        let xml = Transformer::to_xml([("k", value)]);
        assert_eq!(Transformer::to_map(&xml).unwrap()["k"], value);
    }

    #[test]
    fn predefined_entities_and_char_refs_expand() {
        let map = Transformer::to_map("<xml><a>x &amp; y &#20320;&#x597D;</a><b/></xml>").unwrap();
        assert_eq!(map["a"], "x & y 你好");
        assert_eq!(map["b"], "");
    }

    #[test]
    fn refuses_dangerous_and_odd_shapes() {
        for bad in [
            "<!DOCTYPE xml SYSTEM \"file:///etc/passwd\"><xml><a>1</a></xml>",
            "<xml><a>&custom;</a></xml>",
            "<xml><a><b>1</b></a></xml>",
            "<xml><a>1</a><a>2</a></xml>",
            "<xml>loose<a>1</a></xml>",
            "<xml><a>1</a>",
            "<xml><a>1</b></xml>",
            "<xml/><xml/>",
            "",
        ] {
            assert!(Transformer::to_map(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn input_over_the_cap_is_refused_before_parsing() {
        let filler = "a".repeat(Transformer::MAX_INPUT_BYTES);
        let big = format!("<xml><a>{filler}</a></xml>");
        let e = Transformer::to_map(&big).unwrap_err();
        assert!(e.to_string().contains("bytes, over the"), "{e}");
        // Exactly at the cap is still parsed.
        let at_cap = format!(
            "<xml><a>{}</a></xml>",
            "a".repeat(Transformer::MAX_INPUT_BYTES - "<xml><a></a></xml>".len())
        );
        assert_eq!(at_cap.len(), Transformer::MAX_INPUT_BYTES);
        assert!(Transformer::to_map(&at_cap).is_ok());
    }

    #[test]
    fn cdata_terminators_inside_values_survive_both_ways() {
        for value in ["]]>", "a]]>b]]>c", "]]]]>", "x]]", "]>", "<![CDATA[y]]>"] {
            let xml = Transformer::to_xml([("k", value)]);
            // The written form never closes its CDATA early: every `]]>` is a section end.
            assert_eq!(
                Transformer::to_map(&xml).unwrap()["k"],
                value,
                "{value} as {xml}"
            );
            let from_json =
                Transformer::to_xml_from_json(&serde_json::json!({ "k": value })).unwrap();
            assert_eq!(from_json, xml);
        }
        // What WeChat Pay (or PHP's SimpleXML) writes for `a]]>b`: two adjacent sections.
        let map = Transformer::to_map("<xml><k><![CDATA[a]]]]><![CDATA[>b]]></k></xml>").unwrap();
        assert_eq!(map["k"], "a]]>b");
        // A bare `]]>` in text is not well-formed XML; an unsplit CDATA section is refused
        // rather than read as the wrong value.
        assert!(Transformer::to_map("<xml><k>a]]>b</k></xml>").is_err());
        let e = Transformer::to_map("<xml><k><![CDATA[a]]>b]]></k></xml>").unwrap_err();
        assert!(e.to_string().contains("not split"), "{e}");
        // An escaped `>` after `]]` is fine.
        assert_eq!(
            Transformer::to_map("<xml><k>a]]&gt;b</k></xml>").unwrap()["k"],
            "a]]>b"
        );
    }

    #[test]
    fn invalid_names_become_item() {
        assert_eq!(
            Transformer::to_xml([("1a", "x")]),
            "<xml><item><![CDATA[x]]></item></xml>"
        );
    }
}
