//! A response whose body has been read whole (and, for APIv3, verified).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A WeChat Pay response. The body is already in memory: verification needs all of it.
#[derive(Debug, Clone)]
pub struct Response {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
}

impl Response {
    /// The HTTP status (compares with integers: `assert_eq!(r.status(), 204)`).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version the server answered with.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The raw body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as UTF-8 text.
    ///
    /// # Errors
    /// [`Error::Decode`] when the body is not UTF-8.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.body)
            .map_err(|e| Error::Decode(format!("body is not UTF-8: {e}")))
    }

    /// The body parsed as JSON into `T` (use `serde_json::Value` for any shape).
    ///
    /// # Errors
    /// [`Error::Decode`] naming the position of the problem, and the answer's
    /// `Content-Type` when that is not JSON (a gateway's `text/html` page, say).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let content_type = self
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .filter(|t| !t.to_ascii_lowercase().contains("json"));
            match content_type {
                Some(t) => Error::Decode(format!("body is `{t}`, not the expected JSON: {e}")),
                None => Error::Decode(format!("body is not the expected JSON: {e}")),
            }
        })
    }

    /// The fields of an APIv2 answer (`<xml><return_code>..</return_code>..</xml>`), parsed
    /// by [`Transformer::to_map`](crate::v2::Transformer::to_map): no DTD or entity is ever
    /// resolved.
    ///
    /// # Errors
    /// [`Error::Decode`] when the body is not a flat XML document (a bill download is text:
    /// read it with [`text`](Self::text)).
    ///
    /// # Examples
    /// ```
    /// # let mock = wechatpay::mock::MockServer::start_blocking()?;
    /// # let wxpay = mock.client_builder().build()?;
    /// use wechatpay::json;
    /// let answer = wxpay.v2().pay().orderquery().post(json!({"xml": {
    ///     "appid": "wxd678efh567hg6787",
    ///     "mch_id": "1900000001",
    ///     "out_trade_no": "1217752501201407033233368018",
    /// }}))?;
    /// let fields = answer.xml()?;
    /// assert_eq!(fields["trade_state"], "SUCCESS");
    /// # Ok::<(), wechatpay::Error>(())
    /// ```
    pub fn xml(&self) -> Result<BTreeMap<String, String>> {
        Ok(crate::v2::Transformer::to_map(&self.body)?)
    }

    /// The `Request-ID` header WeChat Pay assigns to each call.
    pub fn request_id(&self) -> Option<&str> {
        self.headers.get("request-id").and_then(|v| v.to_str().ok())
    }

    /// Converts into a plain `http::Response`.
    pub fn into_http(self) -> http::Response<Bytes> {
        let mut r = http::Response::new(self.body);
        *r.status_mut() = self.status;
        *r.version_mut() = self.version;
        *r.headers_mut() = self.headers;
        r
    }
}

impl From<http::Response<Bytes>> for Response {
    fn from(r: http::Response<Bytes>) -> Self {
        let (parts, body) = r.into_parts();
        Self {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        }
    }
}
