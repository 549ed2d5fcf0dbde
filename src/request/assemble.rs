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
use crate::v2::RequestFields;

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
        // Checked first, so that no message below repeats the credentials.
        if has_userinfo(&uri) {
            return Err(RequestError::InvalidUri(
                "a base uri must not carry credentials (`user:password@`): WeChat Pay \
                 authenticates by signature, and a URL's credentials end up in logs"
                    .into(),
            ));
        }
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

/// Whether the authority holds `user[:password]@`.
fn has_userinfo(uri: &http::Uri) -> bool {
    uri.authority().is_some_and(|a| a.as_str().contains('@'))
}

/// Facts about the call that travel with the request through the middleware stack, in its
/// extensions. Layers read them; the crate sets them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CallInfo {
    /// The path template as the caller wrote it, e.g. `v3/pay/transactions/id/{transaction_id}`.
    pub template: Cow<'static, str>,
    /// The total time limit for this call, when it overrides the client's.
    pub timeout: Option<Duration>,
    /// The limit from sending the request to the answer's headers, when it overrides the
    /// client's.
    pub response_timeout: Option<Duration>,
    /// The longest wait for the next chunk of the answer's body, when it overrides the
    /// client's.
    pub read_timeout: Option<Duration>,
    /// False when non-2xx answers should be returned rather than raised.
    pub http_errors: bool,
    /// False when the call asked not to be retried (`"retry": false`).
    pub retry: bool,
    /// Whether the call may safely be sent more than once: `Some(true)` for a call marked
    /// `"idempotent": true` (a POST that creates an order is idempotent on its
    /// `out_trade_no`), `None` to go by the method.
    pub idempotent: Option<bool>,
}

impl CallInfo {
    /// A call to `template` with the client's limits, raising non-2xx answers.
    pub(crate) fn new(template: Cow<'static, str>) -> Self {
        Self {
            template,
            timeout: None,
            response_timeout: None,
            read_timeout: None,
            http_errors: true,
            retry: true,
            idempotent: None,
        }
    }
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
    let uri = match absolute_url(trimmed) {
        Some(url) => {
            opts.validate(&[], trimmed)?;
            follow(url, &base, &opts)?
        }
        None => {
            // APIv2 endpoints live at the host's root: `v2/pay/micropay` is sent as
            // `/pay/micropay`, as wechatpay-php does. The `v2/` prefix only selects the protocol.
            let trimmed = trimmed.strip_prefix("v2/").unwrap_or(trimmed);
            let (path_template, literal_query) = match trimmed.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (trimmed, None),
            };
            opts.validate(&template::placeholders(path_template), &template)?;
            let mut uri = String::with_capacity(base.as_str().len() + trimmed.len() + 32);
            uri.push_str(base.as_str());
            template::expand_path(path_template, &opts.vars, &mut uri)?;
            append_query(
                &mut uri,
                literal_query,
                opts.raw_query.as_deref(),
                &opts.query,
            );
            uri.parse()
                .map_err(|e| RequestError::InvalidUri(format!("assembled uri is invalid: {e}")))?
        }
    };

    let apiv2 = absolute_url(trimmed).is_none() && crate::v2::is_v2_path(trimmed);
    let fields = if apiv2 {
        v2_fields(&method, &uri, &opts)?
    } else {
        for (key, given) in [
            ("xml", opts.xml.is_some()),
            ("nonceless", opts.nonceless),
            ("security", opts.security),
        ] {
            if given {
                return Err(RequestError::InvalidOption(format!(
                    "`{key}` is an APIv2 option, and `{template}` is not a `v2/` path"
                ))
                .into());
            }
        }
        None
    };

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
        // wechatpay-php's APIv2 client accepts what the XML endpoints answer with: XML, and
        // plain or gzipped bills.
        let accept = if apiv2 {
            "text/xml, text/plain, application/x-gzip"
        } else {
            "application/json"
        };
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
    }
    apply_headers(&mut headers, &opts.headers)?;

    let mut request = http::Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    request.extensions_mut().insert(CallInfo {
        template,
        timeout: opts.timeout,
        response_timeout: opts.response_timeout,
        read_timeout: opts.read_timeout,
        http_errors: opts.http_errors,
        retry: opts.retry.unwrap_or(true),
        idempotent: opts.idempotent,
    });
    if let Some(fields) = fields {
        request.extensions_mut().insert(fields);
    }
    request.extensions_mut().extend(opts.extensions);
    Ok(request)
}

/// The fields an APIv2 call signs, for `transform_request`: the `xml` option, after the
/// query's pairs for a `GET` (whose fields travel in the query). A `POST` with a raw `body`
/// and no `xml` carries none: its body is sent as the caller made it.
fn v2_fields(
    method: &Method,
    uri: &http::Uri,
    opts: &RequestOptions,
) -> Result<Option<RequestFields>> {
    if opts.json.is_some() {
        return Err(RequestError::InvalidOption(
            "APIv2 bodies are XML: give the fields as `xml`, not `json`".into(),
        )
        .into());
    }
    if opts.xml.is_some() && opts.body.is_some() {
        return Err(RequestError::InvalidOption(
            "give either `xml` (fields to sign) or `body` (a finished XML body), not both".into(),
        )
        .into());
    }
    let get = method == Method::GET;
    if opts.body.is_some() && !get {
        return Ok(None);
    }
    let mut fields = if get {
        RequestFields::new(query_pairs(uri.query().unwrap_or_default()))
    } else {
        RequestFields::default()
    };
    if let Some(xml) = &opts.xml {
        let given = RequestFields::from_json(xml)
            .map_err(|e| RequestError::InvalidOption(format!("`xml`: {e}")))?;
        fields.fields.extend(given.fields);
    }
    fields.nonceless = opts.nonceless;
    Ok(Some(fields))
}

/// The decoded `name=value` pairs of a query string, in order.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// The hosts of WeChat Pay's merchant API: the main one, the backup WeChat Pay's docs name
/// for failover, and the Hong Kong one.
const WECHATPAY_HOSTS: &[&str] = &[
    "api.mch.weixin.qq.com",
    "api2.mch.weixin.qq.com",
    "apihk.mch.weixin.qq.com",
];

/// `text` when it is an absolute http(s) URL rather than a path template.
fn absolute_url(text: &str) -> Option<&str> {
    let scheme = text.get(..8)?.to_ascii_lowercase();
    (scheme.starts_with("http://") || scheme == "https://").then_some(text)
}

/// An absolute URL, as WeChat Pay returns them (a bill's `download_url`), is sent exactly as
/// given, with the call's `query` appended, when it is on the client's base origin or on a
/// WeChat Pay host over https. Anything else is refused: the call's signature would go to a
/// host the caller did not configure.
fn follow(url: &str, base: &BaseUri, opts: &RequestOptions) -> Result<http::Uri, RequestError> {
    // `http::Uri` drops a fragment without a word, and whatever follows the `#` with it (a
    // query, the rest of the path): the call would go somewhere other than the URL given.
    if url.contains('#') {
        return Err(RequestError::InvalidUri(format!(
            "`{url}` has a `#`, which would cut the URL short (a fragment is never sent); \
             percent-encode it as %23 if it belongs to the path"
        )));
    }
    let parsed: http::Uri = url
        .parse()
        .map_err(|e| RequestError::InvalidUri(format!("`{url}`: {e}")))?;
    if has_userinfo(&parsed) {
        return Err(RequestError::InvalidUri(
            "a URL must not carry credentials (`user:password@`)".into(),
        ));
    }
    let base: http::Uri = base
        .as_str()
        .parse()
        .map_err(|e| RequestError::InvalidUri(format!("base uri: {e}")))?;
    let same_origin = parsed.scheme() == base.scheme() && parsed.authority() == base.authority();
    let wechatpay = parsed.scheme_str() == Some("https")
        && parsed.port().is_none()
        && parsed
            .host()
            .is_some_and(|h| WECHATPAY_HOSTS.iter().any(|w| h.eq_ignore_ascii_case(w)));
    if !same_origin && !wechatpay {
        return Err(RequestError::InvalidUri(format!(
            "`{url}` is neither on the client's base uri `{}` nor on a WeChat Pay host \
             ({}); give a path instead, or set `base_uri`",
            base,
            WECHATPAY_HOSTS.join(", ")
        )));
    }
    if opts.query.is_empty() && opts.raw_query.is_none() {
        return Ok(parsed);
    }
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (url, None),
    };
    let mut text = path.to_string();
    append_query(&mut text, query, opts.raw_query.as_deref(), &opts.query);
    text.parse()
        .map_err(|e| RequestError::InvalidUri(format!("`{text}`: {e}")))
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

    fn assemble_as(
        method: Method,
        template: &'static str,
        opts: serde_json::Value,
    ) -> Result<http::Request<Bytes>> {
        let base = BaseUri::parse("https://api.mch.weixin.qq.com").unwrap();
        assemble(
            &base,
            &HeaderMap::new(),
            method,
            Cow::Borrowed(template),
            RequestOptions::from_value(opts)?,
        )
    }

    fn build(template: &'static str, opts: serde_json::Value) -> Result<http::Request<Bytes>> {
        assemble_as(Method::GET, template, opts)
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
        assert_eq!(
            r.headers()[ACCEPT],
            "text/xml, text/plain, application/x-gzip"
        );
    }

    fn post(template: &'static str, opts: serde_json::Value) -> Result<http::Request<Bytes>> {
        assemble_as(Method::POST, template, opts)
    }

    #[test]
    fn apiv2_fields_travel_in_an_extension() {
        let r = post(
            "v2/pay/micropay",
            json!({"xml": {"mch_id": 1900000001, "b": "x y"}, "nonceless": true}),
        )
        .unwrap();
        let fields = r.extensions().get::<RequestFields>().unwrap();
        assert_eq!(
            fields.fields,
            vec![
                ("mch_id".to_string(), "1900000001".to_string()),
                ("b".into(), "x y".into())
            ]
        );
        assert!(fields.nonceless);
        // Signing and writing the body is `transform_request`'s work.
        assert!(r.body().is_empty());

        // A GET's fields are its query's.
        let r = build(
            "v2/papay/entrustweb?plan_id=1",
            json!({"query": {"contract_code": "a b", "mch_id": "1900000001"}}),
        )
        .unwrap();
        let fields = r.extensions().get::<RequestFields>().unwrap();
        assert_eq!(fields.get("plan_id"), Some("1"));
        assert_eq!(fields.get("contract_code"), Some("a b"));

        // A finished body is sent as it is.
        let r = post("v2/pay/micropay", json!({"body": "<xml/>"})).unwrap();
        assert!(r.extensions().get::<RequestFields>().is_none());
    }

    #[test]
    fn apiv2_options_are_refused_elsewhere_and_json_on_apiv2() {
        for opts in [
            json!({"xml": {}}),
            json!({"nonceless": true}),
            json!({"security": true}),
        ] {
            let e = post("v3/x", opts).unwrap_err();
            assert!(e.to_string().contains("is an APIv2 option"), "{e}");
        }
        let e = post("v2/pay/micropay", json!({"json": {"a": 1}})).unwrap_err();
        assert!(e.to_string().contains("not `json`"), "{e}");
        let e = post("v2/pay/micropay", json!({"xml": {}, "body": "<xml/>"})).unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
    }

    #[test]
    fn an_absolute_url_on_the_base_or_a_wechatpay_host_is_sent_as_given() {
        let url =
            "https://api.mch.weixin.qq.com/v3/billdownload/file?token=6XIv5TUPto7pByrTZKsB%2FA";
        let r = build(url, json!({})).unwrap();
        assert_eq!(r.uri().to_string(), url);
        let r = build(
            "https://API2.mch.weixin.qq.com/v3/billdownload/file?token=AbC",
            json!({"query": {"tar_type": "GZIP"}}),
        )
        .unwrap();
        assert_eq!(
            r.uri().path_and_query().unwrap().as_str(),
            "/v3/billdownload/file?token=AbC&tar_type=GZIP"
        );
    }

    #[test]
    fn an_absolute_url_elsewhere_is_refused_before_sending() {
        for url in [
            "https://evil.example/v3/billdownload/file",
            "http://api.mch.weixin.qq.com/v3/x",
            "https://api.mch.weixin.qq.com:8443/v3/x",
            "https://api.mch.weixin.qq.com.evil.example/v3/x",
        ] {
            let e = build(url, json!({})).unwrap_err();
            assert!(
                matches!(&e, Error::Request(RequestError::InvalidUri(why)) if why.contains(url)),
                "{url}: {e}"
            );
        }
        let e = build("https://api.mch.weixin.qq.com/v3/x", json!({"id": "1"})).unwrap_err();
        assert!(
            matches!(e, Error::Request(RequestError::UnknownOption { .. })),
            "{e}"
        );
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
