//! Per-call options, from a JSON map in wechatpay-php's (Guzzle's) shape or a typed builder.
//!
//! The recognised keys are [`RequestOptions::KEYS`]. Every other top-level key is a path
//! variable and must fill a `{placeholder}` of the path: a key that does neither is refused
//! when the request is assembled, with the closest known name, so a typo (`jsom`, `card-id`
//! for `{card_id}`) never goes unnoticed.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::{Error, RequestError, Result};

/// Guzzle options wechatpay-php users may pass that this crate does not implement; they are
/// refused by name rather than mistaken for path variables.
const UNSUPPORTED_KEYS: &[&str] = &[
    "form_params",
    "multipart",
    "sink",
    "verify",
    "cert",
    "ssl_key",
    "proxy",
    "debug",
    "allow_redirects",
    "auth",
    "cookies",
    "handler",
    // The pool's connect limit is the client's; set it with ClientBuilder::connect_timeout.
    "connect_timeout",
];

/// The options of one call.
///
/// # Examples
/// ```
/// use wechatpay::{json, RequestOptions};
/// let typed = RequestOptions::new()
///     .var("card_id", "pbLatjvWOibDc5-TBnbUk1pD12o0")
///     .json(json!({"reason": "用户违反会员条例"}));
/// let from_map = RequestOptions::from_value(json!({
///     "card_id": "pbLatjvWOibDc5-TBnbUk1pD12o0",
///     "json": {"reason": "用户违反会员条例"},
/// })).unwrap();
/// assert_eq!(format!("{typed:?}"), format!("{from_map:?}"));
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RequestOptions {
    pub(crate) vars: Map<String, Value>,
    pub(crate) json: Option<Value>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) raw_query: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Bytes>,
    pub(crate) base_uri: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) response_timeout: Option<Duration>,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) http_errors: bool,
    /// The APIv2 fields (`xml`), a JSON object.
    pub(crate) xml: Option<Value>,
    /// APIv2: add no `nonce_str`.
    pub(crate) nonceless: bool,
    /// Send over mutual TLS with the merchant certificate (APIv2's `security`).
    pub(crate) security: bool,
    pub(crate) retry: Option<bool>,
    pub(crate) idempotent: Option<bool>,
    /// Values the assembled request carries in its extensions for the layers below, set by
    /// the crate's own builders (a media upload's `SignedBody`).
    pub(crate) extensions: http::Extensions,
}

impl RequestOptions {
    /// The keys of a JSON options map that are options. Every other top-level key is a path
    /// variable; a key named here is always the option, even where the path has a
    /// placeholder of the same name.
    pub const KEYS: &'static [&'static str] = &[
        "json",
        "query",
        "headers",
        "body",
        "base_uri",
        "timeout",
        "response_timeout",
        "read_timeout",
        "http_errors",
        "xml",
        "nonceless",
        "security",
        "retry",
        "idempotent",
    ];

    /// Empty options: no body, no query, no path variables.
    pub fn new() -> Self {
        Self {
            http_errors: true,
            ..Self::default()
        }
    }

    /// Reads options from a JSON object in wechatpay-php's shape.
    ///
    /// # Errors
    /// [`RequestError::InvalidOption`] naming the key whose value has the wrong shape.
    pub fn from_value(value: Value) -> Result<Self> {
        let map = match value {
            Value::Object(map) => map,
            Value::Null => return Ok(Self::new()),
            other => {
                return Err(invalid(format!(
                    "options must be a JSON object, not {}",
                    kind_of(&other)
                )))
            }
        };
        let mut opts = Self::new();
        for (key, value) in map {
            match key.as_str() {
                "json" => opts.json = Some(json_body(value)?),
                "query" => opts.set_query(value)?,
                "headers" => opts.set_headers(value)?,
                "body" => match value {
                    Value::String(s) => opts.body = Some(Bytes::from(s)),
                    other => {
                        return Err(invalid(format!(
                            "`body` must be a string, not {}",
                            kind_of(&other)
                        )))
                    }
                },
                "base_uri" => match value {
                    Value::String(s) => opts.base_uri = Some(s),
                    other => {
                        return Err(invalid(format!(
                            "`base_uri` must be a string, not {}",
                            kind_of(&other)
                        )))
                    }
                },
                "timeout" => opts.timeout = Some(seconds("timeout", &value)?),
                "response_timeout" => {
                    opts.response_timeout = Some(seconds("response_timeout", &value)?)
                }
                "read_timeout" => opts.read_timeout = Some(seconds("read_timeout", &value)?),
                "http_errors" => match value {
                    Value::Bool(b) => opts.http_errors = b,
                    other => {
                        return Err(invalid(format!(
                            "`http_errors` must be a boolean, not {}",
                            kind_of(&other)
                        )))
                    }
                },
                "xml" => {
                    xml_shape(&value)?;
                    opts.xml = Some(value);
                }
                // wechatpay-php tests these with `isset` / `=== true`: a boolean is what it
                // documents, and anything else is more likely a mistake than a wish.
                k @ ("nonceless" | "security") => match value {
                    Value::Bool(b) if k == "nonceless" => opts.nonceless = b,
                    Value::Bool(b) => opts.security = b,
                    other => {
                        return Err(invalid(format!(
                            "`{k}` must be a boolean, not {}",
                            kind_of(&other)
                        )))
                    }
                },
                "retry" => opts.retry = Some(boolean("retry", value)?),
                "idempotent" => opts.idempotent = Some(boolean("idempotent", value)?),
                k if UNSUPPORTED_KEYS.contains(&k) => {
                    return Err(invalid(format!("the `{k}` option is not supported")));
                }
                _ => {
                    opts.vars.insert(key, value);
                }
            }
        }
        Ok(opts)
    }

    /// Sets a path variable, filling `{name}` / `{+name}`.
    pub fn var(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Sets the JSON body (sent as `application/json`): an object or an array; anything else
    /// is refused when the call is made.
    pub fn json(mut self, body: impl Into<Value>) -> Self {
        self.json = Some(body.into());
        self
    }

    /// Appends one query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Sets a request header, replacing the client's default of the same name.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a raw body, sent and signed as given.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Overrides the client's base URI for this call.
    pub fn base_uri(mut self, uri: impl Into<String>) -> Self {
        self.base_uri = Some(uri.into());
        self
    }

    /// Overrides the client's total time limit for this call. A zero limit is refused when
    /// the call is made.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Overrides the client's limit from sending the request to the answer's headers.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    /// Overrides the client's longest wait for the next chunk of the answer's body.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// With `false`, non-2xx responses are returned as [`Response`](crate::Response)s instead
    /// of [`Error::Api`] (Guzzle's `http_errors`).
    pub fn http_errors(mut self, enabled: bool) -> Self {
        self.http_errors = enabled;
        self
    }

    /// Sets the APIv2 fields (the `xml` option), a JSON object whose values are sent and
    /// signed as their text: strings as they are, numbers and booleans as their JSON text,
    /// arrays and objects as compact JSON; `null` leaves a field out. Only `v2/` paths take
    /// it; anything but an object is refused when the call is made.
    pub fn xml(mut self, fields: impl Into<Value>) -> Self {
        self.xml = Some(fields.into());
        self
    }

    /// APIv2's `nonceless`: with `true`, no `nonce_str` is added to the fields (for the few
    /// endpoints that do not take one). A `nonce_str` the caller gives is sent either way.
    pub fn nonceless(mut self, nonceless: bool) -> Self {
        self.nonceless = nonceless;
        self
    }

    /// APIv2's `security`: with `true`, the call goes over mutual TLS, presenting the
    /// merchant API certificate set with
    /// [`ClientBuilder::merchant_cert`](crate::ClientBuilder::merchant_cert), on connections
    /// kept apart from every other call's.
    pub fn security(mut self, security: bool) -> Self {
        self.security = security;
        self
    }

    /// With `false`, this call is never retried, whatever the client's
    /// [`RetryPolicy`](crate::RetryPolicy) says. A client without a policy never retries.
    pub fn retry(mut self, enabled: bool) -> Self {
        self.retry = Some(enabled);
        self
    }

    /// Says whether sending this call twice has the effect of sending it once, which lets a
    /// client's [`RetryPolicy`](crate::RetryPolicy) retry it after the server may have
    /// received it. By default GET, HEAD, OPTIONS, PUT and DELETE are idempotent (RFC 9110
    /// §9.2.2) and POST and PATCH are not; WeChat Pay's order creation is idempotent on its
    /// `out_trade_no`, so such a POST can say `true`.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    fn set_query(&mut self, value: Value) -> Result<()> {
        match value {
            Value::String(s) => self.raw_query = Some(s),
            Value::Object(map) => {
                for (name, value) in map {
                    match value {
                        Value::Null => {}
                        Value::Array(items) => {
                            for item in items {
                                let text = scalar_text(&item).ok_or_else(|| {
                                    invalid(format!("query `{name}` holds a nested value"))
                                })?;
                                self.query.push((name.clone(), text));
                            }
                        }
                        other => {
                            let text = scalar_text(&other).ok_or_else(|| {
                                invalid(format!("query `{name}` holds a nested value"))
                            })?;
                            self.query.push((name, text));
                        }
                    }
                }
            }
            other => {
                return Err(invalid(format!(
                    "`query` must be an object or a string, not {}",
                    kind_of(&other)
                )))
            }
        }
        Ok(())
    }

    fn set_headers(&mut self, value: Value) -> Result<()> {
        let Value::Object(map) = value else {
            return Err(invalid("`headers` must be an object".to_string()));
        };
        for (name, value) in map {
            match value {
                Value::Array(items) => {
                    for item in items {
                        let text = scalar_text(&item).ok_or_else(|| {
                            invalid(format!("header `{name}` holds a nested value"))
                        })?;
                        self.headers.push((name.clone(), text));
                    }
                }
                other => {
                    let text = scalar_text(&other)
                        .ok_or_else(|| invalid(format!("header `{name}` must be text")))?;
                    self.headers.push((name, text));
                }
            }
        }
        Ok(())
    }
}

/// Anything a verb accepts as its options: a JSON map, [`RequestOptions`], or `()` for none.
pub trait IntoRequestOptions {
    /// Converts into options, or says which option is malformed.
    ///
    /// # Errors
    /// [`Error::Request`] with [`RequestError::InvalidOption`].
    fn into_request_options(self) -> Result<RequestOptions>;
}

impl IntoRequestOptions for RequestOptions {
    fn into_request_options(self) -> Result<RequestOptions> {
        Ok(self)
    }
}
impl IntoRequestOptions for Value {
    fn into_request_options(self) -> Result<RequestOptions> {
        RequestOptions::from_value(self)
    }
}
impl IntoRequestOptions for &Value {
    fn into_request_options(self) -> Result<RequestOptions> {
        RequestOptions::from_value(self.clone())
    }
}
impl IntoRequestOptions for () {
    fn into_request_options(self) -> Result<RequestOptions> {
        Ok(RequestOptions::new())
    }
}

impl RequestOptions {
    /// Checks what the typed builder could not check when each value was set: the shape of
    /// the JSON body, that no limit is zero, and that every path variable fills a placeholder
    /// of `template` (named in `placeholders`).
    pub(crate) fn validate(&self, placeholders: &[&str], template: &str) -> Result<()> {
        if let Some(json) = &self.json {
            json_shape(json)?;
        }
        if let Some(xml) = &self.xml {
            xml_shape(xml)?;
        }
        for (key, limit) in [
            ("timeout", self.timeout),
            ("response_timeout", self.response_timeout),
            ("read_timeout", self.read_timeout),
        ] {
            if limit.is_some_and(|d| d.is_zero()) {
                return Err(invalid(format!("`{key}` must be more than zero")));
            }
        }
        match self
            .vars
            .keys()
            .find(|k| !placeholders.contains(&k.as_str()))
        {
            None => Ok(()),
            Some(key) => {
                let candidates = Self::KEYS.iter().chain(placeholders).copied();
                Err(Error::Request(RequestError::UnknownOption {
                    key: key.clone(),
                    template: template.to_string(),
                    suggestion: closest(key, candidates).map(str::to_string),
                }))
            }
        }
    }
}

/// The known name a mistyped `key` most likely meant: the same once case and `-`/`_` are
/// ignored, or within a small edit distance.
fn closest<'a>(key: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let fold = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let folded = fold(key);
    let allowed = (key.chars().count() / 3).clamp(1, 3);
    candidates
        .map(|c| {
            let distance = if fold(c) == folded {
                0
            } else {
                strsim::damerau_levenshtein(&folded, &fold(c))
            };
            (distance, c)
        })
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// A JSON body is an object or an array, as WeChat Pay's APIs take.
fn json_shape(value: &Value) -> Result<()> {
    match value {
        Value::Object(_) | Value::Array(_) => Ok(()),
        other => Err(invalid(format!(
            "`json` must be an object or an array, not {}",
            kind_of(other)
        ))),
    }
}

/// APIv2 fields are an object of names and values.
fn xml_shape(value: &Value) -> Result<()> {
    match value {
        Value::Object(_) => Ok(()),
        other => Err(invalid(format!(
            "`xml` must be an object of APIv2 fields, not {}",
            kind_of(other)
        ))),
    }
}

fn json_body(value: Value) -> Result<Value> {
    json_shape(&value)?;
    Ok(value)
}

fn invalid(why: String) -> Error {
    Error::Request(RequestError::InvalidOption(why))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Text of a scalar: strings as-is, numbers in JSON form, booleans as `true` / `false`.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn boolean(key: &str, v: Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(b),
        other => Err(invalid(format!(
            "`{key}` must be a boolean, not {}",
            kind_of(&other)
        ))),
    }
}

fn seconds(key: &str, v: &Value) -> Result<Duration> {
    positive_seconds(v)
        .ok_or_else(|| invalid(format!("`{key}` must be a positive number of seconds")))
}

/// A time limit given as a JSON number of seconds (Guzzle's and wechatpay-php's form): finite,
/// positive and below a billion seconds.
pub(crate) fn positive_seconds(v: &Value) -> Option<Duration> {
    v.as_f64()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_suggestion_allows_one_edit_per_three_characters_from_one_to_three() {
        let near = |key| closest(key, RequestOptions::KEYS.iter().copied());
        // Three characters allow one edit: `query` is two away from `qry`.
        assert_eq!(near("qry"), None);
        assert_eq!(near("jsn"), Some("json"));
        // Six allow two.
        assert_eq!(near("hedaer"), Some("headers"));
        // Case and `-` / `_` cost nothing.
        assert_eq!(near("HTTP-ERRORS"), Some("http_errors"));
        // Never more than three, however long the key.
        assert_eq!(near("response_timeout_xxxx"), None);
    }

    #[test]
    fn each_typed_option_sets_what_its_json_key_sets() {
        // Every pair also sets a variable, so that an option that dropped what was set before
        // it (or came back as `Default`) shows.
        let base = || RequestOptions::new().var("card_id", "c");
        let pairs = [
            (json!({"json": {"a": 1}}), base().json(json!({"a": 1}))),
            (json!({"query": {"q": "1"}}), base().query("q", "1")),
            (json!({"headers": {"X-T": "t"}}), base().header("X-T", "t")),
            (json!({"body": "raw"}), base().body("raw")),
            (
                json!({"base_uri": "https://h/"}),
                base().base_uri("https://h/"),
            ),
            (
                json!({"timeout": 2.5}),
                base().timeout(Duration::from_millis(2500)),
            ),
            (
                json!({"response_timeout": 1}),
                base().response_timeout(Duration::from_secs(1)),
            ),
            (
                json!({"read_timeout": 3}),
                base().read_timeout(Duration::from_secs(3)),
            ),
            (json!({"http_errors": false}), base().http_errors(false)),
            (json!({"xml": {"a": "1"}}), base().xml(json!({"a": "1"}))),
            (json!({"nonceless": true}), base().nonceless(true)),
            (json!({"security": true}), base().security(true)),
            (json!({"retry": false}), base().retry(false)),
            (json!({"idempotent": true}), base().idempotent(true)),
        ];
        let untouched = format!("{:?}", base());
        assert_eq!(
            untouched,
            format!(
                "{:?}",
                RequestOptions::from_value(json!({"card_id": "c"})).unwrap()
            )
        );
        assert_ne!(untouched, format!("{:?}", RequestOptions::new()));
        for (mut value, typed) in pairs {
            value["card_id"] = json!("c");
            let from_json = format!("{:?}", RequestOptions::from_value(value.clone()).unwrap());
            assert_ne!(from_json, untouched, "{value} changed nothing");
            assert_eq!(format!("{typed:?}"), from_json, "{value}");
        }
    }

    #[test]
    fn keys_split_into_options_and_variables() {
        let o = RequestOptions::from_value(json!({
            "card_id": "c", "json": {"a": 1}, "query": {"limit": 10, "x": null, "t": true},
            "headers": {"Idempotency-Key": "k"}, "timeout": 2.5
        }))
        .unwrap();
        assert_eq!(o.vars.get("card_id"), Some(&json!("c")));
        assert_eq!(o.json, Some(json!({"a": 1})));
        assert_eq!(
            o.query,
            vec![("limit".into(), "10".into()), ("t".into(), "true".into())]
        );
        assert_eq!(o.headers, vec![("Idempotency-Key".into(), "k".into())]);
        assert_eq!(o.timeout, Some(Duration::from_millis(2500)));
    }

    #[test]
    fn a_typo_names_the_closest_known_key() {
        let opts = RequestOptions::from_value(json!({"jsom": {}, "card_id": "c"})).unwrap();
        let e = opts
            .validate(&["card_id"], "v3/cards/{card_id}")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid request: `jsom` is neither an option nor a placeholder of \
             `v3/cards/{card_id}`; did you mean `json`?"
        );
        let opts = RequestOptions::from_value(json!({"card-id": "c"})).unwrap();
        let e = opts
            .validate(&["card_id"], "v3/cards/{card_id}")
            .unwrap_err();
        assert!(
            matches!(&e, Error::Request(RequestError::UnknownOption { key, suggestion: Some(s), .. })
                if key == "card-id" && s == "card_id"),
            "{e}"
        );
        let opts = RequestOptions::from_value(json!({"zzzzzz": 1})).unwrap();
        let e = opts.validate(&[], "v3/x").unwrap_err();
        assert!(!e.to_string().contains("did you mean"), "{e}");
        assert!(RequestOptions::from_value(json!({"card_id": "c"}))
            .unwrap()
            .validate(&["card_id"], "v3/cards/{card_id}")
            .is_ok());
    }

    #[test]
    fn json_must_be_an_object_or_an_array() {
        for bad in [json!("text"), json!(1), json!(true), json!(null)] {
            let e = RequestOptions::from_value(json!({ "json": bad })).unwrap_err();
            assert!(
                e.to_string()
                    .contains("`json` must be an object or an array"),
                "{e}"
            );
            let e = RequestOptions::new()
                .json(bad)
                .validate(&[], "v3/x")
                .unwrap_err();
            assert!(e.to_string().contains("`json`"), "{e}");
        }
        assert!(RequestOptions::from_value(json!({"json": [1]})).is_ok());
    }

    #[test]
    fn zero_limits_are_refused_in_both_forms() {
        for key in ["timeout", "response_timeout", "read_timeout"] {
            let e = RequestOptions::from_value(json!({ key: 0 })).unwrap_err();
            assert!(e.to_string().contains(&format!("`{key}`")), "{e}");
        }
        let e = RequestOptions::new()
            .read_timeout(Duration::ZERO)
            .validate(&[], "v3/x")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("`read_timeout` must be more than zero"),
            "{e}"
        );
    }

    #[test]
    fn malformed_options_name_the_key() {
        let e = RequestOptions::from_value(json!({"timeout": "soon"})).unwrap_err();
        assert!(e.to_string().contains("`timeout`"), "{e}");
        let e = RequestOptions::from_value(json!({"proxy": "http://p"})).unwrap_err();
        assert!(e.to_string().contains("`proxy`"), "{e}");
        for bad in [json!({"xml": "<xml/>"}), json!({"xml": [1]})] {
            let e = RequestOptions::from_value(bad).unwrap_err();
            assert!(e.to_string().contains("`xml` must be an object"), "{e}");
        }
        let e = RequestOptions::from_value(json!({"security": "yes"})).unwrap_err();
        assert!(
            e.to_string().contains("`security` must be a boolean"),
            "{e}"
        );
        let e = RequestOptions::from_value(json!({"nonceless": 1})).unwrap_err();
        assert!(
            e.to_string().contains("`nonceless` must be a boolean"),
            "{e}"
        );
        for key in ["retry", "idempotent"] {
            let e = RequestOptions::from_value(json!({ key: "no" })).unwrap_err();
            assert!(
                e.to_string()
                    .contains(&format!("`{key}` must be a boolean, not a string")),
                "{e}"
            );
        }
        // A limit is under a billion seconds (about 31 years): beyond, it is a mistake.
        let e = RequestOptions::from_value(json!({"timeout": 1e9})).unwrap_err();
        assert!(
            e.to_string().contains("`timeout` must be a positive"),
            "{e}"
        );
        let o = RequestOptions::from_value(json!({"timeout": 999_999_999})).unwrap();
        assert_eq!(o.timeout, Some(Duration::from_secs(999_999_999)));
        assert!(RequestOptions::from_value(json!([1])).is_err());
    }
}
