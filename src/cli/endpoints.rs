//! `wxpay endpoints [WORDS]`: search the vendored endpoint catalog, and show the
//! `wxpay request` line that calls each hit.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{output, Failure};

/// The catalog the crate vendors (MIT; see `src/catalog/NOTICE`), compiled in.
const CATALOG: &str = include_str!("../catalog/endpoints.jsonl");

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Every word must appear (case-insensitive) in the method, the path, the title, a tag or a
parameter name. With no word, every endpoint is listed, one per line.

Examples:
  wxpay endpoints 退款
  wxpay endpoints refunds post
  wxpay endpoints --json v3/certificates")]
pub(crate) struct Args {
    /// Words to search for
    words: Vec<String>,
    /// Print the matching catalog lines as they are (JSON Lines), for scripts
    #[arg(long)]
    json: bool,
}

/// One catalog line, as far as the search and the example call need it.
#[derive(Debug, Deserialize)]
struct Operation {
    method: String,
    path: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    query_params: Vec<Param>,
    #[serde(default)]
    header_params: Vec<Param>,
    #[serde(default)]
    path_param_details: Vec<Param>,
    body: Body,
    #[serde(default)]
    deprecated: bool,
}

#[derive(Debug, Deserialize)]
struct Param {
    name: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    example: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Body {
    kind: String,
    #[serde(default)]
    fields: Vec<Param>,
    #[serde(default)]
    schema: Value,
}

pub(crate) fn run(args: Args) -> Result<(), Failure> {
    let words: Vec<String> = args.words.iter().map(|w| w.to_lowercase()).collect();
    let mut hits = Vec::new();
    for (number, line) in CATALOG.lines().enumerate() {
        let op: Operation = serde_json::from_str(line).map_err(|e| {
            Failure::failed(format!("the built-in catalog, line {}: {e}", number + 1))
        })?;
        if words.iter().all(|w| op.haystack().contains(w.as_str())) {
            hits.push((op.rank(&words), line, op));
        }
    }
    // A word that is the path, or begins it, puts that endpoint first (`v3/certificates`
    // before `hk/v3/certificates`); otherwise the catalog's order.
    hits.sort_by_key(|(rank, _, _)| *rank);
    for (index, (_, line, op)) in hits.iter().enumerate() {
        if args.json {
            output::line(line)?;
        } else if words.is_empty() {
            output::line(&format!("{:<6} {}  {}", op.method, op.path, op.title))?;
        } else {
            if index > 0 {
                output::line("")?;
            }
            describe(op)?;
        }
    }
    output::note(&format!("{} endpoint(s)", hits.len()));
    Ok(())
}

impl Operation {
    /// 0 when a word is the path, 1 when a word begins it, 2 otherwise.
    fn rank(&self, words: &[String]) -> u8 {
        let path = self.path.to_lowercase();
        if words.contains(&path) {
            0
        } else if words.iter().any(|w| path.starts_with(w.as_str())) {
            1
        } else {
            2
        }
    }

    /// Everything a word may match, lower-cased.
    fn haystack(&self) -> String {
        let mut text = format!(
            "{} {} {} {}",
            self.method,
            self.path,
            self.title,
            self.tags.join(" ")
        );
        for p in self
            .path_param_details
            .iter()
            .chain(&self.query_params)
            .chain(&self.header_params)
            .chain(&self.body.fields)
        {
            text.push(' ');
            text.push_str(&p.name);
        }
        text.to_lowercase()
    }
}

fn describe(op: &Operation) -> Result<(), Failure> {
    let deprecated = if op.deprecated { " (deprecated)" } else { "" };
    output::line(&format!(
        "{} {}  {}{deprecated}",
        op.method, op.path, op.title
    ))?;
    let names = |params: &[Param]| -> String {
        params
            .iter()
            .map(|p| format!("{}{}", p.name, if p.required { "*" } else { "" }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (label, params) in [
        ("path", &op.path_param_details),
        ("query", &op.query_params),
        ("headers", &op.header_params),
    ] {
        if !params.is_empty() {
            output::line(&format!("  {label}: {}", names(params)))?;
        }
    }
    if op.body.kind != "none" {
        output::line(&format!(
            "  body ({}): {}",
            op.body.kind,
            names(&op.body.fields)
        ))?;
    }
    output::line(&format!("  {}", example_call(op)))
}

/// The `wxpay request` line for `op`: required parameters filled with the catalog's examples
/// (or `<name>`), and a JSON body of the required fields.
fn example_call(op: &Operation) -> String {
    let mut words = vec![
        "wxpay".to_string(),
        "request".to_string(),
        output::shell_quote(&op.path),
    ];
    let with_body = op.body.kind == "json";
    let default_method = if with_body { "POST" } else { "GET" };
    if op.method != default_method {
        words.push(format!("-X {}", op.method));
    }
    for p in &op.path_param_details {
        words.push(format!(
            "-v {}",
            output::shell_quote(&format!("{}={}", p.name, sample(p)))
        ));
    }
    for p in op.query_params.iter().filter(|p| p.required) {
        words.push(format!(
            "-q {}",
            output::shell_quote(&format!("{}={}", p.name, sample(p)))
        ));
    }
    for p in op.header_params.iter().filter(|p| p.required) {
        words.push(format!(
            "-H {}",
            output::shell_quote(&format!("{}: <{}>", p.name, p.name))
        ));
    }
    if with_body {
        let body = skeleton(&op.body.schema);
        words.push(format!("-d {}", output::shell_quote(&body.to_string())));
    }
    words.join(" ")
}

fn sample(p: &Param) -> String {
    match &p.example {
        Some(Value::String(s)) => s.clone(),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
        _ => format!("<{}>", p.name),
    }
}

/// The required part of a schema tree, filled with examples or typed placeholders.
fn skeleton(schema: &Value) -> Value {
    let kind = schema.get("type").and_then(Value::as_str).unwrap_or("");
    if kind == "object" || schema.get("properties").is_some() {
        let mut object = Map::new();
        let properties = schema.get("properties").and_then(Value::as_object);
        let required = schema.get("required").and_then(Value::as_array);
        for name in required.into_iter().flatten().filter_map(Value::as_str) {
            let value = properties
                .and_then(|p| p.get(name))
                .map_or(Value::String(format!("<{name}>")), |node| leaf(name, node));
            object.insert(name.to_string(), value);
        }
        return Value::Object(object);
    }
    leaf("value", schema)
}

fn leaf(name: &str, node: &Value) -> Value {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
    let example = node.get("example").filter(|e| match kind {
        "string" => e.is_string(),
        "integer" => e.is_i64() || e.is_u64(),
        "number" => e.is_number(),
        "boolean" => e.is_boolean(),
        _ => false,
    });
    match (example, kind) {
        (Some(e), _) => e.clone(),
        (None, "object") => skeleton(node),
        (None, "array") => Value::Array(Vec::new()),
        (None, "integer" | "number") => Value::from(0),
        (None, "boolean") => Value::Bool(false),
        _ => Value::String(format!("<{name}>")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn operation(method: &str, path: &str) -> Operation {
        CATALOG
            .lines()
            .map(|l| serde_json::from_str::<Operation>(l).unwrap())
            .find(|op| op.method == method && op.path == path)
            .unwrap()
    }

    #[test]
    fn the_example_call_fills_required_parts_from_the_catalog() {
        let refund = operation("POST", "v3/refund/domestic/refunds");
        let call = example_call(&refund);
        assert!(
            call.starts_with("wxpay request v3/refund/domestic/refunds -d '"),
            "{call}"
        );
        assert!(
            call.contains(r#""amount":{"refund":888,"total":888,"currency":"CNY"}"#),
            "{call}"
        );
        assert!(
            !call.contains("goods_detail"),
            "optional fields stay out: {call}"
        );

        let query = operation("GET", "v3/pay/transactions/id/{transaction_id}");
        let call = example_call(&query);
        assert_eq!(
            call,
            "wxpay request 'v3/pay/transactions/id/{transaction_id}' \
             -v transaction_id=1217752501201407033233368018 -q mchid=1230000109"
        );
    }

    #[test]
    fn every_catalog_line_parses() {
        assert_eq!(
            CATALOG
                .lines()
                .filter(|l| serde_json::from_str::<Operation>(l).is_ok())
                .count(),
            1154
        );
    }
}
