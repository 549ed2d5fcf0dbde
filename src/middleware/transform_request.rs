//! The `transform_request` layer: turns an APIv2 call's fields into the signed XML body (or,
//! for a `GET`, the signed query), as wechatpay-php's `transformRequest` does.

use http::header::{HeaderValue, CONTENT_TYPE};

use super::{BoxFuture, Middleware, Next};
use crate::crypto::{ApiV2Key, Formatter};
use crate::error::{Error, RequestError, Result};
use crate::v2::{RequestFields, Transformer};
use crate::{HttpRequest, HttpResponse};

/// The fields that name the merchant in APIv2 requests; whichever a call carries must be the
/// client's own merchant id (wechatpay-php checks the same three).
const MERCHANT_ID_FIELDS: [&str; 3] = ["mch_id", "mchid", "combine_mch_id"];

/// Signs an APIv2 call: reads its [`RequestFields`], checks that any `mch_id` / `mchid` /
/// `combine_mch_id` is the client's, adds `nonce_str` (unless `nonceless`), appends `sign`
/// (MD5, or HMAC-SHA256 when `sign_type` says so) under the APIv2 key, and writes the fields
/// as the XML body (`Content-Type: text/xml`), or as the query of a `GET`.
///
/// A request without [`RequestFields`] (a `POST` given a finished `body`) passes unchanged.
#[derive(Debug, Clone)]
pub struct TransformRequestLayer {
    mchid: String,
    secret: ApiV2Key,
}

impl TransformRequestLayer {
    /// A layer signing as merchant `mchid` with the APIv2 key `secret`.
    pub fn new(mchid: impl Into<String>, secret: ApiV2Key) -> Self {
        Self {
            mchid: mchid.into(),
            secret,
        }
    }

    fn transform(&self, req: &mut HttpRequest) -> Result<()> {
        let Some(fields) = req.extensions().get::<RequestFields>() else {
            return Ok(());
        };
        for name in MERCHANT_ID_FIELDS {
            if let Some(given) = fields.get(name) {
                if given != self.mchid {
                    return Err(RequestError::InvalidOption(format!(
                        "`{name}` is `{}`, but this client is merchant `{}`; APIv2 calls are \
                         signed with that merchant's key",
                        given.chars().take(32).collect::<String>(),
                        self.mchid
                    ))
                    .into());
                }
            }
        }
        let signed = fields
            .signed(&self.secret, &Formatter::nonce(32))
            .map_err(|e| RequestError::InvalidOption(format!("`sign_type`: {e}")))?;
        if req.method() == http::Method::GET {
            let mut uri = String::from(req.uri().path());
            for (i, (name, value)) in signed.iter().enumerate() {
                uri.push(if i == 0 { '?' } else { '&' });
                crate::request::template::encode_query_component(&mut uri, name);
                uri.push('=');
                crate::request::template::encode_query_component(&mut uri, value);
            }
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = Some(uri.parse().map_err(|e| {
                Error::Request(RequestError::InvalidUri(format!(
                    "the signed APIv2 query is invalid: {e}"
                )))
            })?);
            *req.uri_mut() = http::Uri::from_parts(parts).map_err(|e| {
                Error::Request(RequestError::InvalidUri(format!(
                    "the signed APIv2 query is invalid: {e}"
                )))
            })?;
        } else {
            *req.body_mut() = Transformer::to_xml(signed).into();
            if !req.headers().contains_key(CONTENT_TYPE) {
                req.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/xml; charset=utf-8"),
                );
            }
        }
        Ok(())
    }
}

impl Middleware for TransformRequestLayer {
    fn handle<'a>(
        &'a self,
        mut req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<HttpResponse>> {
        match self.transform(&mut req) {
            Ok(()) => next.run(req),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}
