//! Answers, and the signature WeChat Pay puts on each of them.
//!
//! Every answer, errors included, carries `Request-ID`. Every answer except a download also
//! carries `Wechatpay-Timestamp`, `Wechatpay-Nonce`, `Wechatpay-Serial` and
//! `Wechatpay-Signature`, the platform key's SHA256withRSA signature over
//! `TIMESTAMP\nNONCE\nBODY\n` (WeChat Pay "应答签名"). Downloads (bills, images) are unsigned,
//! as WeChat Pay's are: their integrity comes from the digest returned by an earlier call.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use serde_json::{json, Value};

use crate::crypto::{Formatter, Rsa};

/// One answer, before it is signed.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) signed: bool,
    /// What a few answers add (bills, statements, kept uploads); boxed, as most have none.
    pub(crate) extra: Option<Box<Extra>>,
}

/// The parts of an answer only downloads have.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extra {
    /// A body generated while it is sent (a bill of any size), in place of `body`.
    pub(crate) generated: Option<super::bills::Generated>,
    /// What the signature covers in place of `body` (a statement signs `{"sha1":..}`).
    pub(crate) signed_message: Option<Bytes>,
    /// Headers besides the standard ones (a statement's `Wechatpay-Statement-Sha1`).
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// A signed JSON answer.
    pub(crate) fn json(status: StatusCode, value: &Value) -> Self {
        Self {
            status,
            body: Bytes::from(value.to_string()),
            content_type: Some("application/json; charset=utf-8"),
            signed: true,
            extra: None,
        }
    }

    /// A signed answer with no body (204, or 202).
    pub(crate) fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: Bytes::new(),
            content_type: None,
            signed: true,
            extra: None,
        }
    }

    /// An unsigned download.
    pub(crate) fn download(body: Bytes, content_type: &'static str) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            content_type: Some(content_type),
            signed: false,
            extra: None,
        }
    }

    /// The download-only parts, created on first use.
    pub(crate) fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Takes the generated body out, leaving the rest to be signed and sent.
    pub(crate) fn take_generated(&mut self) -> Option<super::bills::Generated> {
        self.extra.as_mut().and_then(|e| e.generated.take())
    }

    /// WeChat Pay's error body: `{"code": "...", "message": "..."}`.
    pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self::json(status, &json!({ "code": code, "message": message.into() }))
    }

    /// 401 `SIGN_ERROR`, naming the check that failed.
    pub(crate) fn sign_error(message: impl Into<String>) -> Self {
        Self::error(StatusCode::UNAUTHORIZED, "SIGN_ERROR", message)
    }

    /// 400 `PARAM_ERROR` with WeChat Pay's `detail` object naming the field and where it is
    /// (`body`, `query`, `path` or `header`).
    pub(crate) fn param_error(field: &str, location: &str, message: impl Into<String>) -> Self {
        Self::json(
            StatusCode::BAD_REQUEST,
            &json!({
                "code": "PARAM_ERROR",
                "message": message.into(),
                "detail": { "field": field, "location": location },
            }),
        )
    }

    /// 404 `RESOURCE_NOT_EXISTS`: the path is right but the thing it names does not exist.
    pub(crate) fn not_exists(message: impl Into<String>) -> Self {
        Self::error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", message)
    }

    /// 400 `INVALID_REQUEST`: the thing exists but its state forbids the operation.
    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    /// Turns the answer into an HTTP response, signed with `key` under `key_id`.
    pub(crate) fn into_http(
        mut self,
        key: &crate::crypto::RsaPrivateKey,
        key_id: &str,
        request_id: &str,
    ) -> http::Response<Bytes> {
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("Request-ID", v);
        }
        if let Some(ct) = self.content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        let extra = self.extra.take().unwrap_or_default();
        for (name, value) in &extra.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(*name, v);
            }
        }
        if self.signed {
            let timestamp = Formatter::timestamp().to_string();
            let nonce = Formatter::nonce(32);
            let signed = extra.signed_message.as_ref().unwrap_or(&self.body);
            let message = Formatter::response(&timestamp, &nonce, signed);
            let signature = match Rsa::sign(&message, key) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "mock: cannot sign a response");
                    return system_error(request_id);
                }
            };
            for (name, value) in [
                ("Wechatpay-Timestamp", timestamp.as_str()),
                ("Wechatpay-Nonce", nonce.as_str()),
                ("Wechatpay-Serial", key_id),
                ("Wechatpay-Signature", signature.as_str()),
            ] {
                if let Ok(v) = HeaderValue::from_str(value) {
                    headers.insert(name, v);
                }
            }
        }
        let mut response = http::Response::new(self.body);
        *response.status_mut() = self.status;
        *response.headers_mut() = headers;
        response
    }
}

/// An unsigned 500 `SYSTEM_ERROR`, for when the simulator itself is broken.
pub(crate) fn system_error(request_id: &str) -> http::Response<Bytes> {
    let body =
        json!({"code": "SYSTEM_ERROR", "message": "the simulator could not sign its answer"});
    let mut response = http::Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("Request-ID", v);
    }
    response
}
