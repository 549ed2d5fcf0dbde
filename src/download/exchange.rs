//! `Chain::download`: a GET sent through the client's middleware stack like any call, whose
//! answer body is handed over as a [`Download`] instead of being read.

use std::borrow::Cow;
use std::future::Future;
use std::time::Instant;

use http::Method;
use tracing::Instrument as _;

use super::statement;
use super::stream::Download;
use crate::client::api_error;
use crate::error::{Error, Result, TimeoutStage};
use crate::middleware::{Next, UnsignedResponse};
use crate::request::options::IntoRequestOptions;
use crate::request::CallInfo;
use crate::transport::{runtime, StreamResponse, StreamedBody};
use crate::trust::unsigned::is_unsigned_download;
use crate::{Chain, Client, HttpRequest};

impl Chain {
    /// Sends a `GET` and returns the answer as a [`Download`], whose body streams to a file or
    /// a writer with its digest checked on the way.
    ///
    /// WeChat Pay's download endpoints ([`UNSIGNED_DOWNLOADS`](super::UNSIGNED_DOWNLOADS):
    /// bills, statements, images, vouchers; or a request a layer marked
    /// [`UnsignedResponse`]) are not signed, and their body is never read into memory. Overseas
    /// statements are checked as WeChat Pay documents: the signature over the
    /// `Wechatpay-Statement-Sha1` header is verified before this returns, and the file's SHA-1
    /// while it streams. Any other answer is signed over its whole body, so it is read whole
    /// (under `max_body_bytes`) and verified as usual before it is served from memory.
    ///
    /// A non-2xx answer is [`Error::Api`] as with the verbs (unless `http_errors` is off).
    /// Works from any thread, including inside `tokio::task::spawn_blocking`; see
    /// [`Download`] for the time limits of the body.
    ///
    /// # Errors
    /// As the verbs: see [`Error`]. A statement whose signature fails is [`Error::Verify`].
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use wechatpay::{json, mock::MockServer};
    ///
    /// let mock = MockServer::start_blocking()?;
    /// let wxpay = mock.client_builder().build()?;
    /// let dir = tempfile::tempdir().unwrap();
    /// // An overseas statement: its signed SHA-1 is checked as the file streams.
    /// let saved = wxpay
    ///     .chain("v3/global/statements")
    ///     .download(json!({"query": {"date": "20261129", "mchid": "1900000001"}}))?
    ///     .save(dir.path().join("statement.csv"))?;
    /// assert_eq!(saved.digest.unwrap().hash_type, wechatpay::download::HashType::Sha1);
    /// # }
    /// # Ok::<(), wechatpay::Error>(())
    /// ```
    pub fn download(&self, opts: impl IntoRequestOptions) -> Result<Download> {
        runtime::wait(self.download_async(opts))
    }

    /// [`download`](Self::download) for async code; the future is `Send + 'static` and runs
    /// on any executor.
    ///
    /// # Errors
    /// As [`download`](Self::download).
    pub fn download_async(
        &self,
        opts: impl IntoRequestOptions,
    ) -> impl Future<Output = Result<Download>> + Send + 'static {
        let prepared = self.client().and_then(|client| {
            let request = client.prepare(
                Method::GET,
                Cow::Owned(self.path().to_string()),
                opts.into_request_options()?,
            )?;
            Ok((client, request))
        });
        async move {
            let (client, request) = prepared?;
            runtime::run(fetch(client, request)).await?
        }
    }
}

/// Runs `request` through the stack under the call's total limit (up to the answer's
/// headers) and wraps the answer.
pub(crate) async fn fetch(client: Client, mut request: HttpRequest) -> Result<Download> {
    let started = Instant::now();
    let info = request.extensions().get::<CallInfo>().cloned();
    if info
        .as_ref()
        .is_some_and(|i| i.template.trim_start_matches('/').starts_with("v2/"))
    {
        return Err(Error::Unsupported(
            "streaming downloads are for APIv3 paths; APIv2 answers are read whole",
        ));
    }
    let own_limit = info.as_ref().and_then(|i| i.timeout);
    let total = own_limit.unwrap_or(client.transport().config().timeout);
    let http_errors = info.as_ref().is_none_or(|i| i.http_errors);
    let path = request.uri().path().to_string();
    let unsigned = request.extensions().get::<UnsignedResponse>().is_some()
        || is_unsigned_download(request.method(), &path);
    if unsigned {
        request.extensions_mut().insert(StreamResponse);
    }
    let span = tracing::debug_span!(
        "wechatpay.download",
        template = info.as_ref().map_or("", |i| i.template.as_ref()),
        status = tracing::field::Empty,
        streamed = unsigned,
    );
    let stack = client.stack();
    let answered = tokio::time::timeout(total, Next::new(&stack, client.transport()).run(request))
        .instrument(span.clone())
        .await
        .unwrap_or(Err(Error::Timeout(TimeoutStage::Total)))?;
    span.record("status", answered.status().as_u16());
    let (parts, body) = answered.into_parts();
    let stream = parts
        .extensions
        .get::<StreamedBody>()
        .and_then(StreamedBody::take);
    let deadline = own_limit.map(|limit| started + limit);

    if http_errors && !parts.status.is_success() {
        // WeChat Pay's error JSON is small; read it whole, under the usual cap.
        let body = match stream {
            None => body,
            Some(stream) => {
                let declared = parts
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                stream
                    .read_to_end(declared, client.transport().config().max_body_bytes)
                    .await?
            }
        };
        return Err(api_error(http::Response::from_parts(parts, body)));
    }

    let statement_sha1 = if parts.status.is_success() && statement::is_statement(&path) {
        Some(
            statement::verify(
                &parts.headers,
                client.platform_keys(),
                client.max_skew_seconds(),
            )
            .map_err(Error::Verify)?,
        )
    } else {
        None
    };
    let download = match stream {
        Some(stream) => Download::streaming(parts.status, parts.headers, stream, deadline),
        None => Download::in_memory(parts.status, parts.headers, body, deadline),
    };
    Ok(match statement_sha1 {
        Some(sha1) => download.statement_sha1(&sha1),
        None => download,
    })
}
