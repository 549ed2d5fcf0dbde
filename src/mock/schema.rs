//! The catalog's typed schema trees (`response.schema` in `src/catalog/endpoints.jsonl`), read
//! as far as the simulator needs them: descriptions are skipped, property order is kept.
//!
//! The trees are self-contained (every `$ref` resolved, every `allOf` merged); the catalog's
//! README, section "Typed schemas", describes each key.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// A node's documented JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    /// A type this build does not know; treated as no type at all.
    #[serde(other)]
    Unknown,
}

/// One node of a schema tree.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Schema {
    /// `None` where the source gave no usable type.
    #[serde(rename = "type", default)]
    kind: Option<Kind>,
    #[serde(default)]
    pub(crate) format: Option<String>,
    /// The allowed values (`enum`), in source order.
    #[serde(rename = "enum", default)]
    pub(crate) allowed: Vec<Value>,
    /// The source's sample value, verbatim: its JSON type may differ from `kind`.
    #[serde(default)]
    pub(crate) example: Option<Value>,
    /// The properties of an object, in source order.
    #[serde(default, deserialize_with = "in_order")]
    pub(crate) properties: Vec<(String, Schema)>,
    #[serde(default)]
    pub(crate) items: Option<Box<Schema>>,
    /// Set where the catalog left out the node's `properties`/`items` (`depth` or `cycle`).
    #[serde(rename = "x-cut", default)]
    pub(crate) cut: Option<String>,
}

impl Schema {
    /// The documented type, `None` when there is none (or none this build knows).
    pub(crate) fn kind(&self) -> Option<Kind> {
        self.kind.filter(|k| *k != Kind::Unknown)
    }
}

/// Reads a JSON object into name/node pairs, keeping the order they were written in.
fn in_order<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<(String, Schema)>, D::Error> {
    struct Properties;

    impl<'de> Visitor<'de> for Properties {
        type Value = Vec<(String, Schema)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of schema nodes")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut properties = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(entry) = map.next_entry()? {
                properties.push(entry);
            }
            Ok(properties)
        }
    }

    deserializer.deserialize_map(Properties)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn properties_keep_their_order_and_unknown_types_read_as_none() {
        let node: Schema = serde_json::from_str(
            r#"{"type": "object", "description": "skipped", "required": ["z", "ghost"],
                "properties": {"z": {"type": "integer"}, "a": {"type": "stringde"},
                               "m": {"type": "array", "items": {"type": "object", "x-cut": "depth"}}}}"#,
        )
        .unwrap();
        assert_eq!(node.kind(), Some(Kind::Object));
        let names: Vec<&str> = node.properties.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["z", "a", "m"]);
        assert_eq!(node.properties[1].1.kind(), None);
        let items = node.properties[2].1.items.as_ref().unwrap();
        assert_eq!(items.cut.as_deref(), Some("depth"));
    }
}
