//! Request assembly: path templates, their variables, and options, through
//! `Client::chain(path).build(..)` and `Client::chain_from_php`.
//!
//! The path-shape check compares each request with its twin, the same call with every path
//! variable set to `v`: whatever the variables hold, the request must go to the same place,
//! with as many segments as the twin (plus the `/`s a `{+x}` value carries, which RFC 6570's
//! reserved expansion keeps), no dot segment the twin lacks, and the same query.

use std::time::Duration;

use serde_json::{Map, Value};
use wechatpay::http::{Method, Uri};
use wechatpay::{segment_from_php, CallInfo, Chain, Error, HttpRequest, RequestOptions};

use super::{client, BASE_URI};

/// WeChat Pay's API hosts, where an absolute URL (a bill's `download_url`) may lead.
const WECHATPAY_HOSTS: [&str; 3] = [
    "api.mch.weixin.qq.com",
    "api2.mch.weixin.qq.com",
    "apihk.mch.weixin.qq.com",
];

/// A template and one value per line for its placeholders, in order: the template target's
/// input.
pub fn check_template_lines(input: &str) {
    let mut lines = input.split('\n');
    let template = lines.next().unwrap_or_default();
    let values: Vec<&str> = lines.collect();
    check_template(template, &values);
}

/// `template` as a string path and as PHP property names (split at `.`), its placeholders
/// filled with `values` in order.
pub fn check_template(template: &str, values: &[&str]) {
    let string_path = client().chain(template);
    check_chain(&string_path, &Method::GET, &variables(&string_path, values));

    let identifiers: Vec<&str> = template.split('.').collect();
    let php_path = client().chain_from_php(&identifiers);
    check_php_names(&identifiers, php_path.path());
    check_chain(&php_path, &Method::POST, &variables(&php_path, values));
}

/// A template line, then JSON options: the options target's input.
pub fn check_options_input(input: &[u8]) {
    let (template, json) = match input.iter().position(|&b| b == b'\n') {
        Some(end) => (&input[..end], &input[end + 1..]),
        None => (&b""[..], input),
    };
    let (Ok(template), Ok(opts)) = (
        std::str::from_utf8(template),
        serde_json::from_slice::<Value>(json),
    ) else {
        return;
    };
    check_options(template, &opts);
}

/// Arbitrary JSON as the options of a call to `template`.
pub fn check_options(template: &str, opts: &Value) {
    match RequestOptions::from_value(opts.clone()) {
        Ok(_) => {}
        Err(Error::Request(_)) => return,
        Err(other) => panic!("options {opts} were refused with {other:?}, not Error::Request"),
    }
    for method in [Method::GET, Method::POST] {
        check_chain(&client().chain(template), &method, opts);
    }
}

/// Each placeholder of the chain, in order, gets the next value.
fn variables(chain: &Chain, values: &[&str]) -> Value {
    let map: Map<String, Value> = chain
        .placeholders()
        .into_iter()
        .zip(values)
        .map(|(name, value)| (name.to_string(), Value::String((*value).to_string())))
        .collect();
    Value::Object(map)
}

/// wechatpay-php's identifier rules: no capital survives, and a name that has none (and is
/// not `_name_`) is its own segment.
fn check_php_names(identifiers: &[&str], path: &str) {
    for id in identifiers {
        let segment = segment_from_php(id);
        assert!(
            !segment.bytes().any(|b| b.is_ascii_uppercase()),
            "{id:?} became {segment:?}, which keeps a capital"
        );
        let bare = id.strip_prefix("r#").unwrap_or(id);
        let placeholder = bare.len() > 2 && bare.starts_with('_') && bare.ends_with('_');
        if !bare.bytes().any(|b| b.is_ascii_uppercase()) && !placeholder {
            assert_eq!(segment, bare, "{id:?} has no capital, yet it changed");
        }
    }
    assert!(
        !path.starts_with('/'),
        "the chain's path {path:?} starts with `/`"
    );
}

/// Builds `opts` on the chain and checks the request; a refusal must be `Error::Request`.
fn check_chain(chain: &Chain, method: &Method, opts: &Value) {
    let request = match chain.build(method.clone(), opts) {
        Ok(request) => request,
        Err(Error::Request(_)) => return,
        Err(other) => panic!(
            "building {:?} with {opts} failed with {other:?}, not Error::Request",
            chain.path()
        ),
    };
    let story = format!(
        "{method} {:?} with {opts} -> {}",
        chain.path(),
        request.uri()
    );
    assert_eq!(request.method(), method, "{story}");
    let reparsed: Uri = request
        .uri()
        .to_string()
        .parse()
        .unwrap_or_else(|e| panic!("{story}: the URI does not parse back: {e}"));
    assert_eq!(&reparsed, request.uri(), "{story}");
    check_destination(chain, opts, &request, &story);
    check_call_info(chain, opts, &request, &story);
    check_query(opts, &request, &story);
    check_body_and_headers(opts, &request, &story);
    check_path_shape(chain, method, opts, &request, &story);
}

/// The request goes to the base URI (the call's `base_uri` when it has one), under its path,
/// or, for an absolute URL, over https to a WeChat Pay host.
fn check_destination(chain: &Chain, opts: &Value, request: &HttpRequest, story: &str) {
    let base_text = opts
        .get("base_uri")
        .and_then(Value::as_str)
        .unwrap_or(BASE_URI);
    let base: Uri = format!("{}/", base_text.trim_end_matches('/'))
        .parse()
        .unwrap_or_else(|e| panic!("{story}: built on a base URI that does not parse: {e}"));
    let uri = request.uri();
    let same_origin = uri.scheme() == base.scheme() && uri.authority() == base.authority();
    let wechatpay_host = uri.scheme_str() == Some("https")
        && uri.port().is_none()
        && uri
            .host()
            .is_some_and(|h| WECHATPAY_HOSTS.iter().any(|w| h.eq_ignore_ascii_case(w)));
    assert!(
        same_origin || wechatpay_host,
        "{story}: sent away from the base {base}"
    );
    let template = chain.path().trim_start_matches('/').to_ascii_lowercase();
    if !(template.starts_with("http://") || template.starts_with("https://")) {
        assert!(
            same_origin && uri.path().starts_with(base.path()),
            "{story}: a path template left the base {base}"
        );
    }
}

/// The call's facts travel with it: its template, limits and `http_errors`.
fn check_call_info(chain: &Chain, opts: &Value, request: &HttpRequest, story: &str) {
    let info = request
        .extensions()
        .get::<CallInfo>()
        .unwrap_or_else(|| panic!("{story}: no CallInfo"));
    assert_eq!(info.template, chain.path(), "{story}");
    for (key, limit) in [
        ("timeout", info.timeout),
        ("response_timeout", info.response_timeout),
        ("read_timeout", info.read_timeout),
    ] {
        let given = opts.get(key).and_then(Value::as_f64);
        assert_eq!(
            limit,
            given.map(Duration::from_secs_f64),
            "{story}: `{key}`"
        );
    }
    let http_errors = opts.get("http_errors").and_then(Value::as_bool);
    assert_eq!(info.http_errors, http_errors.unwrap_or(true), "{story}");
}

/// Every `query` pair given is in the query, percent-decoded.
fn check_query(opts: &Value, request: &HttpRequest, story: &str) {
    let Some(Value::Object(given)) = opts.get("query") else {
        return;
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let sent: Vec<(String, String)> = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect();
    for (name, value) in given {
        let values: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for value in values.into_iter().filter_map(scalar_text) {
            assert!(
                sent.contains(&(name.clone(), value.clone())),
                "{story}: query `{name}={value}` is missing"
            );
        }
    }
}

/// A `json` body is sent as its JSON, a `body` as given, and every header value given is there.
fn check_body_and_headers(opts: &Value, request: &HttpRequest, story: &str) {
    if let Some(json) = opts.get("json") {
        // The bytes, not a parse of them: serde_json's default float parsing is not exact, so
        // a number such as 4.5220221405006996e30 would not read back as itself.
        let expected = serde_json::to_vec(json).expect("a JSON value serialises");
        assert_eq!(request.body().as_ref(), expected, "{story}");
        let overridden = opts
            .get("headers")
            .and_then(Value::as_object)
            .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("content-type")));
        if !overridden {
            assert_eq!(
                request.headers().get("content-type").map(|v| v.as_bytes()),
                Some(&b"application/json"[..]),
                "{story}"
            );
        }
    }
    if let Some(body) = opts.get("body").and_then(Value::as_str) {
        assert_eq!(request.body().as_ref(), body.as_bytes(), "{story}");
    }
    let Some(Value::Object(headers)) = opts.get("headers") else {
        return;
    };
    for (name, given) in headers {
        let values: Vec<&[u8]> = request
            .headers()
            .get_all(name.as_str())
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let expected: Vec<&Value> = match given {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for value in expected {
            let text = scalar_text(value).unwrap_or_default();
            assert!(
                values.contains(&text.as_bytes()),
                "{story}: header `{name}` lost {text:?}"
            );
        }
    }
}

/// Path variables cannot change where the request goes: see the module documentation.
fn check_path_shape(
    chain: &Chain,
    method: &Method,
    opts: &Value,
    request: &HttpRequest,
    story: &str,
) {
    let Value::Object(given) = opts else {
        return;
    };
    let placeholders = chain.placeholders();
    let mut plain = given.clone();
    let mut added_segments = 0;
    let path_part = chain.path().split('?').next().unwrap_or_default();
    for name in &placeholders {
        // A key that names an option is that option, even where the template has a
        // placeholder of the same name (found by the `template` target with `{base_uri}`).
        if RequestOptions::KEYS.contains(name) {
            continue;
        }
        if let Some(value) = plain.get_mut(*name) {
            let slashes = scalar_text(value).map_or(0, |t| t.matches('/').count());
            added_segments += slashes * path_part.matches(&format!("{{+{name}}}")).count();
            *value = Value::String("v".into());
        }
    }
    let twin = chain
        .build(method.clone(), Value::Object(plain))
        .unwrap_or_else(|e| panic!("{story}: the same call with plain values fails: {e}"));
    let (path, twin_path) = (request.uri().path(), twin.uri().path());
    assert_eq!(
        segments(path),
        segments(twin_path) + added_segments,
        "{story}: a variable changed the number of path segments (plain values give {twin_path})"
    );
    assert!(
        dot_segments(path) <= dot_segments(twin_path),
        "{story}: a variable made a dot segment (plain values give {twin_path})"
    );
    assert_eq!(
        request.uri().query(),
        twin.uri().query(),
        "{story}: a variable changed the query"
    );
}

fn segments(path: &str) -> usize {
    path.split('/').count()
}

/// The `.` and `..` segments a hop could resolve: as written, and once percent-decoded
/// (RFC 3986 §6.2.2.2), including a `%2F` a hop may decode.
fn dot_segments(path: &str) -> usize {
    let is_dot = |s: &[u8]| s == b"." || s == b"..";
    path.split('/')
        .map(|segment| {
            let decoded: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
            decoded.split(|&b| b == b'/').filter(|s| is_dot(s)).count()
        })
        .sum()
}

/// The text a scalar option or variable stands for.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
