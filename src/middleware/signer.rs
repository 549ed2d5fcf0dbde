//! The `signer` layer: adds the APIv3 `Authorization` header and `Wechatpay-Serial`.

use std::sync::Arc;

use http::header::{HeaderValue, AUTHORIZATION};

use super::{BoxFuture, Middleware, Next};
use crate::crypto::Formatter;
use crate::error::{Error, KeyError, Result};
use crate::sign::{authorization, Signer, SigningParams};
use crate::trust::platform_keys::PlatformKeys;
use crate::{HttpRequest, HttpResponse};

/// Marks a request whose signature covers these bytes instead of the body (media uploads sign
/// only their `meta` JSON).
#[derive(Debug, Clone)]
pub struct SignedBody(pub bytes::Bytes);

/// Signs each request with the merchant key, a fresh nonce and the current time.
#[derive(Debug, Clone)]
pub struct SignerLayer {
    mchid: String,
    serial: String,
    signer: Arc<dyn Signer>,
    platform_keys: PlatformKeys,
}

impl SignerLayer {
    /// A signer for merchant `mchid` whose API certificate has serial `serial`.
    ///
    /// `platform_keys` supplies the `Wechatpay-Serial` header sent with each request (unless
    /// the caller set one), as WeChat Pay's own SDKs do.
    pub fn new(
        mchid: impl Into<String>,
        serial: impl Into<String>,
        signer: Arc<dyn Signer>,
        platform_keys: PlatformKeys,
    ) -> Self {
        Self {
            mchid: mchid.into(),
            serial: serial.into(),
            signer,
            platform_keys,
        }
    }

    fn sign(&self, req: &mut HttpRequest) -> Result<()> {
        let uri = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let body: &[u8] = match req.extensions().get::<SignedBody>() {
            Some(SignedBody(bytes)) => bytes,
            None => req.body(),
        };
        let nonce = Formatter::nonce(32);
        let params = SigningParams {
            mchid: &self.mchid,
            serial: &self.serial,
            timestamp: Formatter::timestamp(),
            nonce: &nonce,
        };
        let value = authorization(
            req.method().as_str(),
            uri,
            body,
            &params,
            self.signer.as_ref(),
        )?;
        let value = HeaderValue::try_from(value).map_err(|_| {
            Error::Key(KeyError::Operation(
                "mchid or serial holds characters a header cannot".into(),
            ))
        })?;
        req.headers_mut().insert(AUTHORIZATION, value);
        if !req.headers().contains_key(crate::verify::SERIAL) {
            if let Some(id) = self.platform_keys.preferred() {
                if let Ok(v) = HeaderValue::try_from(id) {
                    req.headers_mut().insert(crate::verify::SERIAL, v);
                }
            }
        }
        Ok(())
    }
}

impl Middleware for SignerLayer {
    fn handle<'a>(
        &'a self,
        mut req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<HttpResponse>> {
        match self.sign(&mut req) {
            Ok(()) => next.run(req),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}
