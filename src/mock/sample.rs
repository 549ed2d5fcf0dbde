//! A JSON value of a schema node's documented type, for the simulator's answers.
//!
//! Each scalar takes the first of these that fits the node: the caller's value of the same
//! name (see [`fill`]), the node's `example`, its first `enum` value, a value chosen by `format`,
//! then by name, then a plain value of the type. A value fits when it has the node's `type` or
//! converts to it without loss (the catalog writes `"100"` for some integers and `1234567890`
//! for some strings), is one of the node's `enum` values when these are of its type, and is a
//! real RFC 3339 time where the format is `rfc3339`. Objects get every documented property;
//! arrays get one item. A node the catalog cut short (`x-cut`) comes out as an empty object or
//! array. A name listed in `required` with no property has no type, so it gets no value.
//! The output depends on the node and the caller's values only, never on the clock.

use serde_json::{Map, Number, Value};

use super::schema::{Kind, Schema};
use super::time::is_rfc3339;

/// The time generated for an `rfc3339` field that has no usable example.
pub(crate) const TIMESTAMP: &str = "2026-11-30T10:34:56+08:00";

/// A value of `node`'s type, named `name` in its parent (array items take the array's name).
/// `given` is what the caller sent under the same name: it takes the place of a generated
/// scalar where it fits, and lends its properties and items to an object or array.
pub(crate) fn fill(node: &Schema, name: &str, given: Option<&Value>) -> Value {
    match node.kind() {
        Some(Kind::Object) => {
            let mut object = Map::new();
            if node.cut.is_none() {
                for (key, child) in &node.properties {
                    let value = fill(child, key, given.and_then(|g| g.get(key)));
                    object.insert(key.clone(), value);
                }
            }
            Value::Object(object)
        }
        Some(Kind::Array) => {
            let Some(items) = node.items.as_deref().filter(|_| node.cut.is_none()) else {
                return Value::Array(Vec::new());
            };
            match given.and_then(Value::as_array).filter(|g| !g.is_empty()) {
                Some(given) => given.iter().map(|g| fill(items, name, Some(g))).collect(),
                None => Value::Array(vec![fill(items, name, None)]),
            }
        }
        _ => given
            .into_iter()
            .chain(&node.example)
            .chain(&node.allowed)
            .find_map(|candidate| fit(node, candidate))
            .unwrap_or_else(|| invent(node, name)),
    }
}

/// `value` as a value of `node`, or `None` when it does not fit (see the module docs).
fn fit(node: &Schema, value: &Value) -> Option<Value> {
    let Some(kind) = node.kind() else {
        // No documented type: any value is of the right one.
        return (!value.is_null()).then(|| value.clone());
    };
    let value = convert(kind, value)?;
    let enum_applies = !node.allowed.is_empty() && node.allowed.iter().all(|a| has_kind(kind, a));
    if enum_applies && !node.allowed.contains(&value) {
        return None;
    }
    if node.format.as_deref() == Some("rfc3339") && !value.as_str().is_some_and(is_rfc3339) {
        return None;
    }
    Some(value)
}

fn has_kind(kind: Kind, value: &Value) -> bool {
    match kind {
        Kind::String => value.is_string(),
        Kind::Integer => value.is_i64() || value.is_u64(),
        Kind::Number => value.is_number(),
        Kind::Boolean => value.is_boolean(),
        Kind::Object => value.is_object(),
        Kind::Array => value.is_array(),
        Kind::Unknown => true,
    }
}

/// `value` converted to `kind` without loss: numbers and booleans to their text, numeric text
/// to a number, `"true"`/`"false"` to a boolean, a whole float to an integer.
fn convert(kind: Kind, value: &Value) -> Option<Value> {
    if has_kind(kind, value) {
        return Some(value.clone());
    }
    match (kind, value) {
        (Kind::String, Value::Number(n)) => Some(Value::String(n.to_string())),
        (Kind::String, Value::Bool(b)) => Some(Value::String(b.to_string())),
        (Kind::Integer, Value::String(s)) => integer(s),
        (Kind::Integer, Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.fract() == 0.0)
            .and_then(|f| integer(&format!("{f:.0}"))),
        (Kind::Number, Value::String(s)) => integer(s).or_else(|| {
            s.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
        }),
        (Kind::Boolean, Value::String(s)) => match s.as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
}

fn integer(text: &str) -> Option<Value> {
    text.parse::<i64>()
        .map(Value::from)
        .or_else(|_| text.parse::<u64>().map(Value::from))
        .ok()
}

/// A plausible value of `node`'s type when neither the caller nor the catalog gave one.
fn invent(node: &Schema, name: &str) -> Value {
    let format = node.format.as_deref().unwrap_or("");
    match node.kind() {
        Some(Kind::Integer) => Value::from(whole(name)),
        // Some numbers are documented as whole (`int32`, `uint64`, `integer`): keep them whole.
        Some(Kind::Number) if format.starts_with("int") || format.starts_with("uint") => {
            Value::from(whole(name))
        }
        Some(Kind::Number) => Value::from(f64::from(whole(name))),
        Some(Kind::Boolean) => Value::Bool(true),
        Some(Kind::Object) => Value::Object(Map::new()),
        Some(Kind::Array) => Value::Array(Vec::new()),
        Some(Kind::String | Kind::Unknown) | None => Value::String(text(format, name)),
    }
}

/// A whole number for a field called `name`: a page is the first (`offset` 0, `limit` 10),
/// a count matches the one item of a generated array, an amount is 1 yuan in fen.
fn whole(name: &str) -> i32 {
    match name {
        "offset" => 0,
        "limit" => 10,
        n if n.contains("count") || n.ends_with("_num") => 1,
        n if ["amount", "fee", "total", "price"]
            .iter()
            .any(|w| n.contains(w)) =>
        {
            100
        }
        _ => 1,
    }
}

/// Text for a string field, by its format, then by its name.
fn text(format: &str, name: &str) -> String {
    let by_format = match format {
        "rfc3339" => Some(TIMESTAMP),
        "base64" => Some("ZXhhbXBsZQ=="),
        "url" | "MediaUrl" => Some("https://example.com/"),
        "jsonObjectLike" => Some("{}"),
        "jsonArrayLike" => Some("[]"),
        "rfc2397" => Some("data:,example"),
        _ => None,
    };
    let by_name = || match name {
        n if n == "time" || n.ends_with("_time") => Some(TIMESTAMP),
        n if n == "date" || n.ends_with("_date") => Some("2026-11-30"),
        n if n.ends_with("appid") => Some("wxd678efh567hg6787"),
        n if n.ends_with("openid") => Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        n if n == "mchid" || n == "mch_id" || n.ends_with("_mchid") => Some("1900000109"),
        n if n == "currency" || n.ends_with("_currency") => Some("CNY"),
        _ => None,
    };
    match by_format.or_else(by_name) {
        Some(text) => text.to_string(),
        None if name.is_empty() => "example".to_string(),
        None => format!("example_{name}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;

    fn node(schema: Value) -> Schema {
        serde_json::from_value(schema).unwrap()
    }

    fn sample(schema: Value, name: &str) -> Value {
        fill(&node(schema), name, None)
    }

    #[test]
    fn examples_are_used_when_they_fit_and_converted_without_loss() {
        assert_eq!(sample(json!({"type": "integer", "example": 100}), "n"), 100);
        assert_eq!(
            sample(json!({"type": "integer", "example": "888"}), "n"),
            888
        );
        assert_eq!(sample(json!({"type": "integer", "example": "1.5"}), "n"), 1);
        assert_eq!(sample(json!({"type": "integer", "example": 2.0}), "n"), 2);
        assert_eq!(
            sample(json!({"type": "number", "example": "1.5"}), "n"),
            1.5
        );
        assert_eq!(
            sample(json!({"type": "number", "example": "100"}), "n"),
            100
        );
        assert_eq!(
            sample(
                json!({"type": "string", "example": 190001351110000_u64}),
                "code"
            ),
            "190001351110000"
        );
        assert_eq!(
            sample(json!({"type": "boolean", "example": "true"}), "b"),
            true
        );
        assert_eq!(
            sample(json!({"type": "boolean", "example": "yes"}), "b"),
            true
        );
        assert_eq!(
            sample(json!({"type": "boolean", "example": "false"}), "b"),
            false
        );
        // An example on an object or array node is not a value of it.
        assert_eq!(
            sample(json!({"type": "object", "example": "x"}), "o"),
            json!({})
        );
        assert_eq!(
            sample(
                json!({"type": "array", "example": "APP", "items": {"type": "string", "example": "APP"}}),
                "a"
            ),
            json!(["APP"])
        );
        // No type: the example as written.
        assert_eq!(sample(json!({"example": "1142"}), "brand_id"), "1142");
    }

    #[test]
    fn enums_win_over_examples_outside_them_unless_they_contradict_the_type() {
        let state = json!({"type": "string", "enum": ["SUCCESS", "REFUND"], "example": "DONE"});
        assert_eq!(sample(state.clone(), "trade_state"), "SUCCESS");
        let mut inside = state;
        inside["example"] = json!("REFUND");
        assert_eq!(sample(inside, "trade_state"), "REFUND");
        // A number with string values: the type is trusted.
        assert_eq!(
            sample(
                json!({"type": "number", "enum": ["DIS_FLAG", "DIS_CALC"]}),
                "discount_mode"
            ),
            1.0
        );
        assert_eq!(
            sample(json!({"type": "string", "enum": [true, false]}), "flag"),
            "true"
        );
    }

    #[test]
    fn times_are_real_rfc3339() {
        let broken =
            json!({"type": "string", "format": "rfc3339", "example": "2025-07-24T00:00+08:00"});
        assert_eq!(sample(broken, "begin_time"), TIMESTAMP);
        let good = json!({"type": "string", "format": "rfc3339", "example": "2015-05-20T13:29:35.120+08:00"});
        assert_eq!(sample(good, "t"), "2015-05-20T13:29:35.120+08:00");
        assert!(is_rfc3339(TIMESTAMP));
        assert_eq!(sample(json!({"type": "string"}), "create_time"), TIMESTAMP);
    }

    #[test]
    fn plain_values_by_format_then_name_then_type() {
        assert_eq!(sample(json!({"type": "integer"}), "total_count"), 1);
        assert_eq!(sample(json!({"type": "integer"}), "limit"), 10);
        assert_eq!(sample(json!({"type": "integer"}), "refund_amount"), 100);
        assert_eq!(
            sample(json!({"type": "integer", "format": "int64"}), "n"),
            1
        );
        assert_eq!(sample(json!({"type": "number"}), "rate"), 1.0);
        assert_eq!(
            sample(json!({"type": "number", "format": "uint64"}), "id"),
            1
        );
        assert_eq!(sample(json!({"type": "boolean"}), "support_fapiao"), true);
        assert_eq!(
            sample(json!({"type": "string", "format": "base64"}), "x"),
            "ZXhhbXBsZQ=="
        );
        assert_eq!(
            sample(json!({"type": "string"}), "sub_appid"),
            "wxd678efh567hg6787"
        );
        assert_eq!(
            sample(json!({"type": "string"}), "remark"),
            "example_remark"
        );
        assert_eq!(sample(json!({}), ""), "example");
    }

    #[test]
    fn objects_get_every_property_arrays_one_item_and_cut_nodes_stay_empty() {
        let schema = json!({
            "type": "object",
            "required": ["amount", "ghost"],
            "properties": {
                "amount": {"type": "object", "required": ["total"],
                           "properties": {"total": {"type": "integer", "example": 100},
                                          "currency": {"type": "string", "example": "CNY"}}},
                "goods": {"type": "array", "items": {"type": "object",
                          "properties": {"quantity": {"type": "integer", "example": 1}}}},
                "tags": {"type": "array"},
                "deep": {"type": "object", "required": ["name"], "x-cut": "depth"},
                "deeper": {"type": "array", "x-cut": "depth"},
            },
        });
        let value = sample(schema, "");
        assert_eq!(
            value,
            json!({
                "amount": {"total": 100, "currency": "CNY"},
                "goods": [{"quantity": 1}],
                "tags": [],
                "deep": {},
                "deeper": [],
            })
        );
        // Property order is the catalog's.
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["amount", "goods", "tags", "deep", "deeper"]);
    }

    #[test]
    fn the_callers_values_are_echoed_where_they_fit() {
        let schema = node(json!({
            "type": "object",
            "properties": {
                "out_trade_no": {"type": "string", "example": "1217752501201407033233368018"},
                "limit": {"type": "integer", "example": 5},
                "state": {"type": "string", "enum": ["A", "B"]},
                "amount": {"type": "object", "properties": {
                    "refund": {"type": "integer", "example": 888},
                    "payer_refund": {"type": "integer", "example": 90}}},
                "receivers": {"type": "array", "items": {"type": "object", "properties": {
                    "account": {"type": "string"}, "result": {"type": "string", "example": "SUCCESS"}}}},
                "success_time": {"type": "string", "format": "rfc3339"},
            },
        }));
        let given = json!({
            "out_trade_no": "T1",
            "limit": "20",
            "state": "C",
            "amount": {"refund": 1},
            "receivers": [{"account": "a"}, {"account": "b"}],
            "success_time": "yesterday",
        });
        assert_eq!(
            fill(&schema, "", Some(&given)),
            json!({
                "out_trade_no": "T1",
                "limit": 20,
                "state": "A",
                "amount": {"refund": 1, "payer_refund": 90},
                "receivers": [{"account": "a", "result": "SUCCESS"},
                              {"account": "b", "result": "SUCCESS"}],
                "success_time": TIMESTAMP,
            })
        );
        // A value of the wrong shape is not echoed.
        let wrong = json!({"limit": "many", "amount": "lots", "receivers": "none"});
        let value = fill(&schema, "", Some(&wrong));
        assert_eq!(value["limit"], 5);
        assert_eq!(value["amount"], json!({"refund": 888, "payer_refund": 90}));
        assert_eq!(
            value["receivers"],
            json!([{"account": "example_account", "result": "SUCCESS"}])
        );
    }

    #[test]
    fn output_is_deterministic() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "string", "format": "rfc3339"},
            "b": {"type": "array", "items": {"type": "number"}}}});
        assert_eq!(sample(schema.clone(), ""), sample(schema, ""));
    }
}
