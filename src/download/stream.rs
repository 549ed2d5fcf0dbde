//! [`Download`]: an answer whose body is still arriving, and the one loop that moves it to a
//! file or a writer, hashing (and optionally inflating) each chunk on the way.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use super::digest::{self, Digest, Expected, HashType, Hashers};
use super::gunzip::Gunzip;
use super::target::{io_error, FileTarget};
use crate::error::{Error, Result, TimeoutStage};
use crate::transport::{runtime, BodyStream};

/// Where the body comes from: the connection, or memory for an answer that had to be read
/// whole to be verified (a signed answer fetched with `download`).
enum Source {
    Stream(BodyStream),
    Memory(Option<Bytes>),
}

impl Source {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        match self {
            Source::Stream(stream) => stream.next_chunk().await,
            Source::Memory(body) => Ok(body.take().filter(|b| !b.is_empty())),
        }
    }
}

/// An answer whose body streams to a file or a writer, checked against a digest as it
/// passes: WeChat Pay's bill files, statements, complaint images and other downloads.
///
/// Get one from [`Chain::download`](crate::Chain::download) (or
/// [`download_async`](crate::Chain::download_async)), say what digest the bytes must have,
/// and send them on with [`save`](Self::save) or [`copy_to`](Self::copy_to) (or their async
/// twins). The body is never held whole in memory, whatever its size, through either door.
///
/// A digest that does not match is [`Error::Verify`] with
/// [`VerifyError::DigestMismatch`](crate::error::VerifyError::DigestMismatch); `save` then
/// leaves nothing at the target path (it writes to a temporary file beside it and renames it
/// into place only once every check passed). `copy_to` cannot take back what it wrote: the
/// caller discards it on an error.
///
/// # Time limits
/// The call's total limit ([`ClientBuilder::timeout`](crate::ClientBuilder::timeout), or the
/// call's `timeout` option) covers the exchange up to the answer's headers. The body is then
/// bounded by the read timeout for each chunk and, when the call gave its own `timeout`
/// option, by that limit counted from the start of the call over the whole transfer
/// ([`TimeoutStage::Total`]).
///
/// # Examples
/// ```
/// # #[cfg(feature = "mock")] {
/// use wechatpay::{json, mock::MockServer};
///
/// let mock = MockServer::start_blocking()?;
/// let wxpay = mock.client_builder().build()?;
/// // The bill's address and digest come from `v3/bill/tradebill`.
/// let bill = wxpay.v3().bill().tradebill().get(json!({"query": {"bill_date": "2026-11-29"}}))?;
/// let bill: serde_json::Value = bill.json()?;
/// let dir = tempfile::tempdir().unwrap();
/// let saved = wxpay
///     .chain(bill["download_url"].as_str().unwrap())
///     .download(())?
///     .expect_sha1(bill["hash_value"].as_str().unwrap())
///     .save(dir.path().join("trade.csv"))?;
/// assert_eq!(saved.bytes, std::fs::metadata(dir.path().join("trade.csv")).unwrap().len());
/// # }
/// # Ok::<(), wechatpay::Error>(())
/// ```
pub struct Download {
    status: StatusCode,
    headers: HeaderMap,
    source: Source,
    expected: Option<Expected>,
    /// An overseas statement's `Wechatpay-Statement-Sha1`, already verified as signed.
    statement: Option<Expected>,
    gunzip: bool,
    deadline: Option<Instant>,
    progress: Option<Box<dyn FnMut(u64) + Send>>,
}

/// What a finished download moved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// Bytes written to the target (decompressed ones with [`gunzip`](Download::gunzip)).
    pub bytes: u64,
    /// Bytes received: the file as WeChat Pay sent it, which the digest covers.
    pub received: u64,
    /// The digest that was checked, when one was expected.
    pub digest: Option<Digest>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("status", &self.status)
            .field("content_length", &self.content_length())
            .field("expected", &self.expected)
            .field("statement", &self.statement)
            .field("gunzip", &self.gunzip)
            .finish_non_exhaustive()
    }
}

impl Download {
    pub(crate) fn streaming(
        status: StatusCode,
        headers: HeaderMap,
        body: BodyStream,
        deadline: Option<Instant>,
    ) -> Self {
        Self::new(status, headers, Source::Stream(body), deadline)
    }

    pub(crate) fn in_memory(
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        deadline: Option<Instant>,
    ) -> Self {
        Self::new(status, headers, Source::Memory(Some(body)), deadline)
    }

    fn new(
        status: StatusCode,
        headers: HeaderMap,
        source: Source,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            status,
            headers,
            source,
            expected: None,
            statement: None,
            gunzip: false,
            deadline,
            progress: None,
        }
    }

    /// Requires the SHA-1 an overseas statement's signed header announced.
    pub(crate) fn statement_sha1(mut self, hex: &str) -> Self {
        self.statement = Some(Expected::new(HashType::Sha1, hex));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The answer's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body's size as the answer declared it (`Content-Length`), when it did.
    pub fn content_length(&self) -> Option<u64> {
        match &self.source {
            Source::Memory(body) => body.as_ref().map(|b| b.len() as u64),
            Source::Stream(_) => self
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
        }
    }

    /// Requires the bytes received to have this SHA-1 (hex, any case): a bill's `hash_value`
    /// when its `hash_type` is `SHA1`. Replaces an earlier expectation.
    #[must_use]
    pub fn expect_sha1(self, hex: impl AsRef<str>) -> Self {
        self.expect(HashType::Sha1, hex.as_ref())
    }

    /// Requires the bytes received to have this SHA-256 (hex, any case). Replaces an earlier
    /// expectation.
    #[must_use]
    pub fn expect_sha256(self, hex: impl AsRef<str>) -> Self {
        self.expect(HashType::Sha256, hex.as_ref())
    }

    /// Requires the bytes received to have the digest `hex` by `hash_type` (a bill's
    /// `hash_type` parses into a [`HashType`]). Replaces an earlier expectation.
    #[must_use]
    pub fn expect(mut self, hash_type: HashType, hex: &str) -> Self {
        self.expected = Some(Expected::new(hash_type, hex));
        self
    }

    /// With `true`, the body is gzip (a bill asked with `tar_type=GZIP`) and what is written
    /// is the decompressed file. The digest still covers the bytes as sent.
    #[must_use]
    pub fn gunzip(mut self, enabled: bool) -> Self {
        self.gunzip = enabled;
        self
    }

    /// Calls `progress` with the number of bytes received so far after each chunk (to drive a
    /// progress bar; [`content_length`](Self::content_length) is the total when known).
    #[must_use]
    pub fn on_progress(mut self, progress: impl FnMut(u64) + Send + 'static) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    /// Streams the body into the file at `path`, through a temporary file in the same
    /// directory that is renamed into place (replacing any file there) once the body is
    /// complete, every digest matched and the data reached the disk.
    ///
    /// Works from any thread; the body moves chunk by chunk, never whole in memory.
    ///
    /// # Errors
    /// [`Error::Verify`] for a digest mismatch; [`Error::Decode`] for a broken gzip body;
    /// [`Error::Transport`] / [`Error::Timeout`] when the connection fails or stalls;
    /// [`Error::Io`] when the file cannot be written. In every case nothing is left at `path`
    /// (an existing file there is left as it was).
    pub fn save(self, path: impl AsRef<Path>) -> Result<Downloaded> {
        runtime::wait(self.save_async(path))
    }

    /// [`save`](Self::save) for async code. The future is `Send + 'static` and runs on any
    /// executor.
    ///
    /// # Errors
    /// As [`save`](Self::save).
    pub fn save_async(
        self,
        path: impl AsRef<Path>,
    ) -> impl Future<Output = Result<Downloaded>> + Send + 'static {
        let target = path.as_ref().to_path_buf();
        async move { runtime::run(self.save_to(target)).await? }
    }

    /// Streams the body into `writer` (a `&mut` to one works too), returning once it is all
    /// written and checked.
    ///
    /// # Errors
    /// As [`save`](Self::save), except that what was written before the error stays written.
    pub fn copy_to<W: std::io::Write>(self, mut writer: W) -> Result<Downloaded> {
        let mut writer = BlockingWriter(&mut writer);
        runtime::wait(runtime::run(self.pump(&mut writer, "the writer")))?
    }

    /// [`copy_to`](Self::copy_to) for async code, into a tokio `AsyncWrite` (or a `&mut` to
    /// one).
    ///
    /// # Errors
    /// As [`copy_to`](Self::copy_to).
    pub async fn copy_to_async<W>(self, mut writer: W) -> Result<Downloaded>
    where
        W: AsyncWrite + Unpin + Send,
    {
        runtime::run(self.pump(&mut writer, "the writer")).await?
    }

    async fn save_to(self, target: PathBuf) -> Result<Downloaded> {
        let mut file = FileTarget::create(target)?;
        let shown = file.shown().to_string();
        let done = self.pump(file.writer(), &shown).await?;
        file.commit().await?;
        Ok(done)
    }

    /// Moves the body into `out`: each chunk is hashed as received, inflated when asked,
    /// written, and the digests are checked at the end.
    async fn pump<W>(mut self, out: &mut W, label: &str) -> Result<Downloaded>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let expected: Vec<Expected> = self
            .statement
            .iter()
            .chain(self.expected.iter())
            .cloned()
            .collect();
        let mut hashers = Hashers::for_expected(&expected);
        let mut gunzip = self.gunzip.then(Gunzip::new);
        // A broken gzip body is usually a changed or missing byte: the rest is still hashed,
        // so that a digest mismatch, the real cause, is what gets reported.
        let mut broken: Option<Error> = None;
        let mut received = 0u64;
        let mut written = 0u64;
        while let Some(chunk) = self.next_chunk().await? {
            received += chunk.len() as u64;
            hashers.update(&chunk);
            if broken.is_none() {
                let step = match &mut gunzip {
                    None => write_out(out, &chunk, label).await,
                    Some(gunzip) => inflate_out(gunzip, out, &chunk, label).await,
                };
                match step {
                    Ok(n) => written += n,
                    Err(e @ Error::Decode(_)) if !expected.is_empty() => broken = Some(e),
                    Err(e) => return Err(e),
                }
            }
            if let Some(progress) = &mut self.progress {
                progress(received);
            }
        }
        if let (Some(gunzip), None) = (&mut gunzip, &broken) {
            match gunzip.finish() {
                Ok(()) => {
                    let rest = std::mem::take(gunzip.output());
                    written += write_out(out, &rest, label).await?;
                }
                Err(e) => broken = Some(e),
            }
        }
        let digests = hashers.finish();
        digest::check(&expected, &digests).map_err(Error::Verify)?;
        if let Some(e) = broken {
            return Err(e);
        }
        out.flush().await.map_err(|e| io_error("write", label, e))?;
        let checked = self.expected.as_ref().or(self.statement.as_ref());
        Ok(Downloaded {
            bytes: written,
            received,
            digest: checked.and_then(|e| digests.into_iter().find(|d| d.hash_type == e.hash_type)),
        })
    }

    /// The next chunk, within what is left of the call's own time limit.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        let Some(deadline) = self.deadline else {
            return self.source.next_chunk().await;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout(TimeoutStage::Total));
        }
        tokio::time::timeout(left, self.source.next_chunk())
            .await
            .map_err(|_| Error::Timeout(TimeoutStage::Total))?
    }
}

async fn write_out<W>(out: &mut W, bytes: &[u8], label: &str) -> Result<u64>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    out.write_all(bytes)
        .await
        .map_err(|e| io_error("write", label, e))?;
    Ok(bytes.len() as u64)
}

async fn inflate_out<W>(gunzip: &mut Gunzip, out: &mut W, chunk: &[u8], label: &str) -> Result<u64>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut written = 0;
    let mut rest = chunk;
    while !rest.is_empty() {
        let used = gunzip.feed(rest)?;
        rest = rest.get(used..).unwrap_or_default();
        let output = gunzip.output();
        written += write_out(out, output, label).await?;
        output.clear();
    }
    Ok(written)
}

/// A `std::io::Write` driven from the blocking door: the loop that feeds it runs on the
/// caller's own thread ([`runtime::wait`]), so writing synchronously there blocks nobody else.
struct BlockingWriter<'a, W: std::io::Write + ?Sized>(&'a mut W);

impl<W: std::io::Write + ?Sized> AsyncWrite for BlockingWriter<'_, W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.0.write(buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.0.flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}
