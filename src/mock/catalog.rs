//! Routing by the vendored endpoint catalog (`src/catalog/endpoints.jsonl`), parameter checks,
//! and the answer of each endpoint's documented response kind: for JSON, data of the documented
//! types ([`sample`](super::sample)) that echoes what the request carried.
//!
//! A request matches an operation when the method is the same and the path has the same
//! segments, where a `{placeholder}` matches any one segment (an empty one too, so that a
//! missing path parameter can be reported by name). When several operations match, the one
//! with the most literal segments wins, then the first in the catalog. APIv2 operations
//! (`v2/...`) are not routed.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::reply::Reply;
use super::sample;
use super::schema::Schema;

/// The catalog, compiled in.
const CATALOG: &str = include_str!("../catalog/endpoints.jsonl");

/// One catalog line, as far as the simulator needs it.
#[derive(Debug, Deserialize)]
pub(crate) struct Operation {
    pub(crate) method: String,
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) query_params: Vec<Field>,
    pub(crate) body: Body,
    pub(crate) response: ResponseSpec,
    #[serde(skip)]
    segments: Vec<Segment>,
}

/// A request body or query parameter.
#[derive(Debug, Deserialize)]
pub(crate) struct Field {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) required: bool,
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
}

/// The documented request body.
#[derive(Debug, Deserialize)]
pub(crate) struct Body {
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) fields: Vec<Field>,
    #[serde(default)]
    pub(crate) required: bool,
}

/// The documented response.
#[derive(Debug, Deserialize)]
pub(crate) struct ResponseSpec {
    pub(crate) kind: String,
    pub(crate) status: u16,
    /// The typed tree of a JSON body (`{}` for other kinds).
    #[serde(default)]
    pub(crate) schema: Schema,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The parsed catalog, grouped by segment count.
#[derive(Debug)]
pub(crate) struct Catalog {
    operations: Vec<Operation>,
    by_len: HashMap<usize, Vec<usize>>,
}

/// The catalog, parsed on first use.
///
/// # Errors
/// A description of the first bad line; the catalog is compiled in, so this means the
/// vendored file was damaged.
pub(crate) fn catalog() -> Result<&'static Catalog, &'static str> {
    static PARSED: OnceLock<Result<Catalog, String>> = OnceLock::new();
    PARSED.get_or_init(parse).as_ref().map_err(String::as_str)
}

fn parse() -> Result<Catalog, String> {
    let mut operations = Vec::new();
    let mut by_len: HashMap<usize, Vec<usize>> = HashMap::new();
    for (n, line) in CATALOG
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let mut op: Operation = serde_json::from_str(line)
            .map_err(|e| format!("endpoints.jsonl line {}: {e}", n + 1))?;
        if op.path.starts_with("v2/") {
            continue;
        }
        op.segments = op
            .path
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.trim_start_matches('+').to_string()),
                    None => Segment::Literal(s.to_string()),
                },
            )
            .collect();
        by_len
            .entry(op.segments.len())
            .or_default()
            .push(operations.len());
        operations.push(op);
    }
    Ok(Catalog { operations, by_len })
}

/// The outcome of routing one request.
#[derive(Debug)]
pub(crate) enum Routed<'c> {
    /// The operation and its path parameters (percent-decoded).
    Found(&'c Operation, Vec<(String, String)>),
    /// The path exists with other methods.
    WrongMethod(Vec<&'c str>),
    /// No operation has this path.
    NotFound,
}

impl Catalog {
    /// Every operation the simulator routes (the catalog minus APIv2).
    #[cfg(test)]
    pub(crate) fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// Finds the operation for `method` on `path` (without the leading `/` and the query).
    pub(crate) fn route(&self, method: &str, path: &str) -> Routed<'_> {
        let segments: Vec<&str> = path.split('/').collect();
        let Some(candidates) = self.by_len.get(&segments.len()) else {
            return Routed::NotFound;
        };
        let mut best: Option<(usize, &Operation)> = None;
        let mut other_methods = Vec::new();
        for op in candidates.iter().filter_map(|&i| self.operations.get(i)) {
            let Some(score) = literal_score(&op.segments, &segments) else {
                continue;
            };
            if op.method != method {
                other_methods.push(op.method.as_str());
                continue;
            }
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, op));
            }
        }
        match best {
            Some((_, op)) => {
                let params = op
                    .segments
                    .iter()
                    .zip(&segments)
                    .filter_map(|(seg, value)| match seg {
                        Segment::Param(name) => Some((name.clone(), decode(value))),
                        Segment::Literal(_) => None,
                    })
                    .collect();
                Routed::Found(op, params)
            }
            None if !other_methods.is_empty() => {
                other_methods.sort_unstable();
                other_methods.dedup();
                Routed::WrongMethod(other_methods)
            }
            None => Routed::NotFound,
        }
    }
}

/// How many literal segments match, or `None` when one differs.
fn literal_score(template: &[Segment], actual: &[&str]) -> Option<usize> {
    let mut score = 0;
    for (seg, value) in template.iter().zip(actual) {
        match seg {
            Segment::Literal(l) if l == value => score += 1,
            Segment::Literal(_) => return None,
            Segment::Param(_) => {}
        }
    }
    Some(score)
}

/// Percent-decodes a path segment or query component (invalid UTF-8 is replaced).
pub(crate) fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Splits a query string into decoded pairs.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// What a request carried, checked against its operation.
#[derive(Debug)]
pub(crate) struct Input {
    pub(crate) mchid: String,
    pub(crate) path_params: Vec<(String, String)>,
    pub(crate) query: Vec<(String, String)>,
    /// The JSON body (or the `meta` of an upload), `Null` when there is none.
    pub(crate) json: Value,
}

impl Input {
    /// A path parameter's value.
    pub(crate) fn path(&self, name: &str) -> &str {
        self.path_params
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A string field of the JSON body (empty when absent or not a string).
    pub(crate) fn body_str(&self, name: &str) -> &str {
        self.json.get(name).and_then(Value::as_str).unwrap_or("")
    }
}

fn is_missing(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        // Anything else is a type the catalog could not parse: accept any value.
        _ => true,
    }
}

fn type_name(kind: &str) -> &str {
    match kind {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean",
        "array" => "an array",
        "object" => "an object",
        other => other,
    }
}

/// Checks path parameters, required query parameters and the body against `op`, and parses
/// the body. `json` is the body (or an upload's `meta`); `upload_parts` lists the part names
/// of a multipart upload.
pub(crate) fn check_input(
    op: &Operation,
    mchid: String,
    path_params: Vec<(String, String)>,
    query: &str,
    json: &[u8],
    upload_parts: &[String],
) -> Result<Input, Reply> {
    if let Some((name, _)) = path_params.iter().find(|(_, v)| v.is_empty()) {
        return Err(Reply::param_error(
            name,
            "path",
            format!("path parameter `{name}` is required but the segment is empty"),
        ));
    }
    let query = query_pairs(query);
    for field in op.query_params.iter().filter(|f| f.required) {
        if !query.iter().any(|(k, v)| *k == field.name && !v.is_empty()) {
            return Err(Reply::param_error(
                &field.name,
                "query",
                format!("query parameter `{}` is required", field.name),
            ));
        }
    }
    let json = match op.body.kind.as_str() {
        "json" => parse_json_body(op, json)?,
        "multipart" => {
            for field in op.body.fields.iter().filter(|f| f.required) {
                if !upload_parts.contains(&field.name) {
                    return Err(Reply::param_error(
                        &field.name,
                        "body",
                        format!("the multipart form has no `{}` part", field.name),
                    ));
                }
            }
            serde_json::from_slice(json).unwrap_or(Value::Null)
        }
        _ => Value::Null,
    };
    Ok(Input {
        mchid,
        path_params,
        query,
        json,
    })
}

fn parse_json_body(op: &Operation, body: &[u8]) -> Result<Value, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        if op.body.required {
            return Err(Reply::param_error(
                "body",
                "body",
                "the JSON request body is required",
            ));
        }
        return Ok(Value::Null);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Reply::param_error(
            "body",
            "body",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(map) = &value else {
        return Err(Reply::param_error(
            "body",
            "body",
            "the request body must be a JSON object",
        ));
    };
    for field in &op.body.fields {
        let present = map.get(&field.name);
        if field.required && is_missing(present) {
            return Err(Reply::param_error(
                &field.name,
                "body",
                format!("body field `{}` is required", field.name),
            ));
        }
        if let (Some(v), Some(kind)) = (present.filter(|v| !v.is_null()), field.kind.as_deref()) {
            if !type_matches(kind, v) {
                return Err(Reply::param_error(
                    &field.name,
                    "body",
                    format!("body field `{}` must be {}", field.name, type_name(kind)),
                ));
            }
        }
    }
    Ok(value)
}

/// The answer of the documented kind. A JSON answer has every documented field with a value
/// of its documented type (see [`sample`]); where the request carried a value under the same
/// name and it fits the field, the answer echoes it.
pub(crate) fn answer(op: &Operation, input: &Input) -> Reply {
    let status = StatusCode::from_u16(op.response.status).unwrap_or(StatusCode::OK);
    match op.response.kind.as_str() {
        "empty" => Reply::empty(status),
        "binary" => download(op),
        _ => Reply::json(
            status,
            &sample::fill(&op.response.schema, "", Some(&echoed(input))),
        ),
    }
}

/// What an answer may echo, by name: path variables over body fields over query parameters;
/// `mchid` and `sp_mchid` are the caller's unless the request names another.
fn echoed(input: &Input) -> Value {
    let mut given = Map::new();
    for name in ["mchid", "sp_mchid"] {
        given.insert(name.to_string(), Value::String(input.mchid.clone()));
    }
    for (name, value) in &input.query {
        given.insert(name.clone(), Value::String(value.clone()));
    }
    if let Value::Object(body) = &input.json {
        for (name, value) in body.iter().filter(|(_, v)| !v.is_null()) {
            given.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &input.path_params {
        given.insert(name.clone(), Value::String(value.clone()));
    }
    Value::Object(given)
}

/// A small placeholder file for each download: a bill is text, an image is a PNG.
fn download(op: &Operation) -> Reply {
    if op.path.contains("images") {
        // A 1x1 transparent PNG.
        const PNG: &[u8] = &[
            0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48,
            0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
            0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78,
            0x9C, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0xE9, 0xFA, 0xDC, 0xD8,
            0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
        ];
        return Reply::download(Bytes::from_static(PNG), "image/png");
    }
    if op.path.contains("signfile") || op.path.contains("elecvoucherfile") {
        return Reply::download(
            Bytes::from_static(b"%PDF-1.4\n% wechatpay-chain mock placeholder\n%%EOF\n"),
            "application/pdf",
        );
    }
    Reply::download(
        Bytes::from_static(
            "交易时间,公众账号ID,商户号,微信订单号,商户订单号,交易状态,应结订单金额\n\
             `2026-01-01 12:00:00,`wxd678efh567hg6787,`1900000001,`4200000000000000000000000000,`example_out_trade_no,`SUCCESS,`0.01\n\
             总交易单数,应结订单总金额\n`1,`0.01\n"
                .as_bytes(),
        ),
        "text/plain; charset=utf-8",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn catalog_parses_without_v2() {
        let c = catalog().unwrap();
        assert_eq!(c.operations().len(), 1018);
        assert!(c.operations().iter().all(|o| !o.path.starts_with("v2/")));
    }

    #[test]
    fn literal_segments_beat_placeholders() {
        let c = catalog().unwrap();
        match c.route("GET", "v3/pay/transactions/out-trade-no/abc") {
            Routed::Found(op, params) => {
                assert_eq!(op.path, "v3/pay/transactions/out-trade-no/{out_trade_no}");
                assert_eq!(
                    params,
                    vec![("out_trade_no".to_string(), "abc".to_string())]
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(c.route("DELETE", "v3/certificates"), Routed::WrongMethod(m) if m == ["GET"])
        );
        assert!(matches!(
            c.route("GET", "v3/nothing/here"),
            Routed::NotFound
        ));
    }

    #[test]
    fn trailing_slash_paths_route() {
        let c = catalog().unwrap();
        assert!(
            matches!(c.route("POST", "v3/applyment4sub/applyment/"), Routed::Found(op, _) if op.path == "v3/applyment4sub/applyment/")
        );
    }
}
