//! Request assembly: template, options and client defaults in, an unsigned `http::Request`
//! out. Pure: no I/O, no clock, no randomness.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, Method};

use super::options::RequestOptions;
use super::template;
use crate::error::{Error, RequestError, Result};

/// A validated base URI: scheme and authority, and a path prefix ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseUri {
    prefix: String,
}

impl BaseUri {
    /// The default WeChat Pay host.
    pub(crate) const DEFAULT: &'static str = "https://api.mch.weixin.qq.com/";

    pub(crate) fn parse(text: &str) -> Result<Self, RequestError> {
        let uri: http::Uri = text
            .parse()
            .map_err(|e| RequestError::InvalidUri(format!("`{text}`: {e}")))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => {
                return Err(RequestError::InvalidUri(format!(
                    "`{text}` must start with https:// or http://"
                )))
            }
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(RequestError::InvalidUri(format!("`{text}` has no host")));
        }
        if uri.query().is_some() || text.contains('#') {
            return Err(RequestError::InvalidUri(format!(
                "`{text}` must not have a query or fragment"
            )));
        }
        let mut prefix = text.trim_end_matches('/').to_string();
        prefix.push('/');
        Ok(Self { prefix })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.prefix
    }
}

/// Facts about the call that travel with the request through the middleware stack.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The path template as the caller wrote it, e.g. `v3/pay/transactions/id/{transaction_id}`.
    pub template: Cow<'static, str>,
    /// The total time limit for this call, when it overrides the client's.
    pub timeout: Option<Duration>,
    /// False when non-2xx answers should be returned rather than raised.
    pub http_errors: bool,
}

/// Builds the unsigned request for `method` on `template`.
pub(crate) fn assemble(
    base: &BaseUri,
    default_headers: &HeaderMap,
    method: Method,
    template: Cow<'static, str>,
    opts: RequestOptions,
) -> Result<http::Request<Bytes>> {
    let base = match &opts.base_uri {
        Some(text) => Cow::Owned(BaseUri::parse(text)?),
        None => Cow::Borrowed(base),
    };
    let trimmed = template.trim_start_matches('/');
    // APIv2 endpoints live at the host's root: `v2/pay/micropay` is sent as `/pay/micropay`,
    // as wechatpay-php does. The `v2/` prefix only selects the protocol.
    let trimmed = trimmed.strip_prefix("v2/").unwrap_or(trimmed);
    let (path_template, literal_query) = match trimmed.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (trimmed, None),
    };

    let mut uri = String::with_capacity(base.as_str().len() + trimmed.len() + 32);
    uri.push_str(base.as_str());
    template::expand_path(path_template, &opts.vars, &mut uri)?;
    append_query(
        &mut uri,
        literal_query,
        opts.raw_query.as_deref(),
        &opts.query,
    );
    let uri: http::Uri = uri
        .parse()
        .map_err(|e| RequestError::InvalidUri(format!("assembled uri is invalid: {e}")))?;

    let mut headers = default_headers.clone();
    let body = match (opts.json, opts.body) {
        (Some(_), Some(_)) => {
            return Err(RequestError::InvalidOption(
                "give either `json` or `body`, not both".into(),
            )
            .into())
        }
        (Some(json), None) => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Bytes::from(
                serde_json::to_vec(&json)
                    .map_err(|e| RequestError::InvalidOption(format!("`json`: {e}")))?,
            )
        }
        (None, Some(body)) => body,
        (None, None) => Bytes::new(),
    };
    if !headers.contains_key(ACCEPT) {
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    }
    apply_headers(&mut headers, &opts.headers)?;

    let mut request = http::Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    request.extensions_mut().insert(CallInfo {
        template,
        timeout: opts.timeout,
        http_errors: opts.http_errors,
    });
    Ok(request)
}

fn append_query(
    uri: &mut String,
    literal: Option<&str>,
    raw: Option<&str>,
    pairs: &[(String, String)],
) {
    let mut first = true;
    let mut separator = |uri: &mut String| {
        uri.push(if first { '?' } else { '&' });
        first = false;
    };
    for text in [literal, raw]
        .into_iter()
        .flatten()
        .filter(|t| !t.is_empty())
    {
        separator(uri);
        template::encode_literal_query(uri, text);
    }
    for (name, value) in pairs {
        separator(uri);
        template::encode_query_component(uri, name);
        uri.push('=');
        template::encode_query_component(uri, value);
    }
}

/// Applies caller headers: the first value of a name replaces the default, later ones add.
pub(crate) fn apply_headers(headers: &mut HeaderMap, extra: &[(String, String)]) -> Result<()> {
    let mut replaced: Vec<HeaderName> = Vec::new();
    for (name, value) in extra {
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::Request(RequestError::InvalidHeader(format!(
                "`{name}` is not a valid header name"
            )))
        })?;
        let header_value = HeaderValue::from_str(value).map_err(|_| {
            Error::Request(RequestError::InvalidHeader(format!(
                "the value of `{name}` contains a control character or non-ASCII text"
            )))
        })?;
        if replaced.contains(&header_name) {
            headers.append(header_name, header_value);
        } else {
            headers.insert(header_name.clone(), header_value);
            replaced.push(header_name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(template: &'static str, opts: serde_json::Value) -> Result<http::Request<Bytes>> {
        let base = BaseUri::parse("https://api.mch.weixin.qq.com").unwrap();
        assemble(
            &base,
            &HeaderMap::new(),
            Method::GET,
            Cow::Borrowed(template),
            RequestOptions::from_value(opts)?,
        )
    }

    #[test]
    fn query_pairs_follow_a_literal_query() {
        let r = build("v3/x?a=1", json!({"query": {"b": "x y", "c": 2}})).unwrap();
        assert_eq!(
            r.uri().path_and_query().unwrap().as_str(),
            "/v3/x?a=1&b=x%20y&c=2"
        );
    }

    #[test]
    fn crlf_in_a_header_is_refused() {
        let e = build("v3/x", json!({"headers": {"X-A": "a\r\nInjected: 1"}})).unwrap_err();
        assert!(
            matches!(e, Error::Request(RequestError::InvalidHeader(_))),
            "{e}"
        );
    }

    #[test]
    fn json_sets_content_type_and_accept_defaults() {
        let r = build("v3/x", json!({"json": {"k": "v"}})).unwrap();
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(r.headers()[ACCEPT], "application/json");
        assert_eq!(&r.body()[..], br#"{"k":"v"}"#);
    }

    #[test]
    fn apiv2_paths_lose_their_prefix_on_the_wire() {
        let r = build("v2/pay/micropay", json!({})).unwrap();
        assert_eq!(r.uri().path(), "/pay/micropay");
        let info = r.extensions().get::<CallInfo>().unwrap();
        assert_eq!(info.template, "v2/pay/micropay");
    }

    #[test]
    fn base_uri_must_be_absolute_http() {
        assert!(BaseUri::parse("ftp://x/").is_err());
        assert!(BaseUri::parse("/relative").is_err());
        assert_eq!(
            BaseUri::parse("https://h/hk").unwrap().as_str(),
            "https://h/hk/"
        );
    }
}
