//! Reading an answer's body: whole (under the size cap, for answers that are verified and
//! parsed) or as a stream (for downloads), each chunk within the read timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::error::{classify, TransportError};
use crate::error::{Error, Result, TimeoutStage};
use crate::sync::lock;

/// An answer body being received, chunk by chunk.
#[derive(Debug)]
pub(crate) struct BodyStream {
    body: Incoming,
    read_timeout: Option<Duration>,
    host: String,
}

impl BodyStream {
    pub(crate) fn new(body: Incoming, read_timeout: Option<Duration>, host: String) -> Self {
        Self {
            body,
            read_timeout,
            host,
        }
    }

    /// The next chunk of data, or `None` at the end of the body. Waiting longer than the read
    /// timeout for it is [`TimeoutStage::Read`].
    pub(crate) async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            let frame = match self.read_timeout {
                Some(limit) => tokio::time::timeout(limit, self.body.frame())
                    .await
                    .map_err(|_| Error::Timeout(TimeoutStage::Read))?,
                None => self.body.frame().await,
            };
            match frame {
                None => return Ok(None),
                Some(Err(e)) => return Err(classify(&self.host, e)),
                // Trailers carry no data.
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// Reads the whole body, refusing more than `cap` bytes. `declared` is the answer's
    /// `Content-Length`: one above the cap is refused before anything is read, and one within
    /// it sizes the buffer exactly.
    pub(crate) async fn read_to_end(mut self, declared: Option<u64>, cap: usize) -> Result<Bytes> {
        if let Some(length) = declared {
            if length > cap as u64 {
                return Err(self.too_large(&format!("declares {length} bytes, more"), cap));
            }
        }
        let first = match self.next_chunk().await? {
            None => return Ok(Bytes::new()),
            Some(chunk) => chunk,
        };
        let mut whole = match self.next_chunk().await? {
            // One chunk (most JSON answers): no copy.
            None if first.len() <= cap => return Ok(first),
            None => return Err(self.too_large("is larger", cap)),
            Some(second) => {
                let expected = declared.map_or(first.len() + second.len(), |n| n as usize);
                let mut whole = Vec::with_capacity(expected.min(cap));
                for chunk in [first, second] {
                    self.append(&mut whole, &chunk, cap)?;
                }
                whole
            }
        };
        while let Some(chunk) = self.next_chunk().await? {
            self.append(&mut whole, &chunk, cap)?;
        }
        Ok(Bytes::from(whole))
    }

    fn append(&self, whole: &mut Vec<u8>, chunk: &[u8], cap: usize) -> Result<()> {
        let needed = whole.len() + chunk.len();
        if needed > cap {
            return Err(self.too_large("is larger", cap));
        }
        if needed > whole.capacity() {
            // Doubling as `Vec` does, but never past the cap: left to itself a buffer holding
            // 2.1 MiB under a 4 MiB cap would grow to 4.2 MiB, so the cap would bound what the
            // answer says and not what the client holds.
            let target = whole.capacity().saturating_mul(2).clamp(needed, cap);
            whole.reserve_exact(target - whole.len());
        }
        whole.extend_from_slice(chunk);
        Ok(())
    }

    fn too_large(&self, how: &str, cap: usize) -> Error {
        TransportError::new(format!(
            "the answer from {} {how} than the {} limit (`max_body_bytes`); fetch files \
             with `Chain::download`, which streams them",
            self.host,
            human_bytes(cap),
        ))
        .into()
    }
}

/// Sizes such as `4 MiB` for messages.
fn human_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n % MIB == 0 {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n % 1024 == 0 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n}-byte")
    }
}

/// A streamed body handed up through the middleware stack in the answer's extensions (the
/// stack's answers carry `Bytes`, which a download must not be read into). Taken once, by
/// `Chain::download`.
#[derive(Debug, Clone)]
pub(crate) struct StreamedBody(Arc<Mutex<Option<BodyStream>>>);

impl StreamedBody {
    pub(crate) fn new(stream: BodyStream) -> Self {
        Self(Arc::new(Mutex::new(Some(stream))))
    }

    /// The stream, the first time it is asked for.
    pub(crate) fn take(&self) -> Option<BodyStream> {
        lock(&self.0).take()
    }
}

/// Marks a request whose answer body is to be streamed rather than read whole.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamResponse;
