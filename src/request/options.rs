//! Per-call options, from a JSON map in wechatpay-php's (Guzzle's) shape or a typed builder.
//!
//! Recognised keys: `json`, `query`, `headers`, `body`, `base_uri`, `timeout` and
//! `http_errors`. Every other top-level key is a path variable that
//! fills a `{placeholder}`.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::{Error, RequestError, Result};

/// Guzzle options wechatpay-php users may pass that this crate does not implement; they are
/// refused by name rather than mistaken for path variables.
const UNSUPPORTED_KEYS: &[&str] = &[
    "form_params",
    "multipart",
    "xml",
    "security",
    "nonceless",
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
    pub(crate) http_errors: bool,
}

impl RequestOptions {
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
                "json" => opts.json = Some(value),
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
                "http_errors" => match value {
                    Value::Bool(b) => opts.http_errors = b,
                    other => {
                        return Err(invalid(format!(
                            "`http_errors` must be a boolean, not {}",
                            kind_of(&other)
                        )))
                    }
                },
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

    /// Sets the JSON body (sent as `application/json`).
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

    /// Overrides the client's total time limit for this call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// With `false`, non-2xx responses are returned as [`Response`](crate::Response)s instead
    /// of [`Error::Api`] (Guzzle's `http_errors`).
    pub fn http_errors(mut self, enabled: bool) -> Self {
        self.http_errors = enabled;
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
    fn malformed_options_name_the_key() {
        let e = RequestOptions::from_value(json!({"timeout": "soon"})).unwrap_err();
        assert!(e.to_string().contains("`timeout`"), "{e}");
        let e = RequestOptions::from_value(json!({"xml": {}})).unwrap_err();
        assert!(e.to_string().contains("`xml`"), "{e}");
        assert!(RequestOptions::from_value(json!([1])).is_err());
    }
}
