//! The `transform_response` layer: checks an APIv2 answer's codes and `sign`, as
//! wechatpay-php's `transformResponse` does.

use std::collections::BTreeMap;

use super::{BoxFuture, Middleware, Next, UnsignedResponse};
use crate::crypto::ApiV2Key;
use crate::error::{Error, Result, VerifyError};
use crate::request::CallInfo;
use crate::transport::StreamedBody;
use crate::v2::{algorithm_of, is_unsigned_answer, Transformer};
use crate::{HttpRequest, HttpResponse};

/// WeChat Pay's word for success in `return_code` and `result_code`.
const SUCCESS: &str = "SUCCESS";

/// Checks each 2xx APIv2 answer, in this order:
///
/// 1. the body parses as flat XML ([`Transformer::to_map`]: no DTD, no entity, at most
///    [`Transformer::MAX_INPUT_BYTES`]), else [`Error::Decode`];
/// 2. `return_code` is `SUCCESS`, and `result_code`, when present, is too; else
///    [`Error::Api`] with `code` = `err_code` (or `return_code`), `message` = `err_code_des`
///    (or `return_msg`) and the raw XML in `body`. WeChat Pay answers a failure unsigned, so
///    this comes before the `sign`;
/// 3. `sign` matches the fields under the APIv2 key (HMAC-SHA256 when it is 64 hex
///    characters, MD5 otherwise), else [`Error::Verify`] with [`VerifyError::V2Sign`].
///
/// For the endpoints WeChat Pay does not sign ([`UNSIGNED_ANSWERS`](crate::v2::UNSIGNED_ANSWERS),
/// or a request marked [`UnsignedResponse`]) step 3 is skipped, and a body that is not XML (a
/// bill) passes untouched.
#[derive(Debug, Clone)]
pub struct TransformResponseLayer {
    secret: ApiV2Key,
}

impl TransformResponseLayer {
    /// A layer checking answers with the APIv2 key `secret`.
    pub fn new(secret: ApiV2Key) -> Self {
        Self { secret }
    }

    fn check(&self, response: &HttpResponse, unsigned: bool) -> Result<()> {
        if !response.status().is_success() || response.extensions().get::<StreamedBody>().is_some()
        {
            return Ok(());
        }
        let fields = match Transformer::to_map(response.body()) {
            Ok(fields) => fields,
            // A bill, a CSV or an HTML page: not an APIv2 document, and nothing to check.
            Err(_) if unsigned => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if let Some(e) = failure(response, &fields) {
            return Err(e);
        }
        if unsigned {
            return Ok(());
        }
        let Some(sign) = fields.get("sign") else {
            return Err(VerifyError::V2Sign("the answer has no `sign` field".into()).into());
        };
        let algorithm = algorithm_of(sign);
        if crate::v2::verify(&fields, &self.secret, algorithm) {
            Ok(())
        } else {
            Err(VerifyError::V2Sign(format!(
                "the `sign` does not match the answer's fields under the APIv2 key ({algorithm})"
            ))
            .into())
        }
    }
}

/// The [`Error::Api`] of an answer whose `return_code` or `result_code` is not `SUCCESS`.
fn failure(response: &HttpResponse, fields: &BTreeMap<String, String>) -> Option<Error> {
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let return_code = field("return_code");
    let failed = return_code != SUCCESS
        || fields
            .get("result_code")
            .is_some_and(|code| code != SUCCESS);
    if !failed {
        return None;
    }
    let first = |names: [&str; 2]| {
        names
            .iter()
            .map(|n| field(n))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
            .to_string()
    };
    let mut message = first(["err_code_des", "return_msg"]);
    if message.is_empty() && !fields.contains_key("return_code") {
        message = "the answer has no return_code".into();
    }
    Some(Error::Api {
        status: response.status(),
        code: first(["err_code", "return_code"]),
        message,
        request_id: response
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: response.body().clone(),
    })
}

impl Middleware for TransformResponseLayer {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<HttpResponse>> {
        let path = req
            .extensions()
            .get::<CallInfo>()
            .map_or_else(|| req.uri().path().to_string(), |i| i.template.to_string());
        let unsigned =
            req.extensions().get::<UnsignedResponse>().is_some() || is_unsigned_answer(&path);
        Box::pin(async move {
            let response = next.run(req).await?;
            self.check(&response, unsigned)?;
            Ok(response)
        })
    }
}
