//! A download's file target: a temporary file beside the target path, written through a large
//! buffer and flushed to disk while the transfer goes on, then renamed into place.
//!
//! The name must mean "complete and checked": a file renamed while its data is still only in
//! the page cache can turn up empty or short under that name after a crash, so the data is
//! synced before the rename. Syncing a gigabyte only at the end would add the whole disk
//! write to the download's time, so the file is synced behind the writes as they go: each
//! time another [`SYNC_EVERY`] bytes were written, a background `fdatasync` (on the runtime's
//! blocking pool, through a second handle) starts if none is running, and the final sync
//! finds little left to do.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tempfile::TempPath;
use tokio::io::{AsyncWrite, AsyncWriteExt as _, BufWriter};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// How much a file target gathers before each write: large writes keep the file system's
/// per-call cost out of the transfer, and one of them is written in the background (tokio's
/// blocking pool) while the next fills.
const FILE_BUFFER: usize = 1024 * 1024;

/// How many bytes are written between two background syncs.
const SYNC_EVERY: u64 = 32 * 1024 * 1024;

/// An open temporary file that becomes `target` on [`commit`](Self::commit), and disappears
/// if it is dropped first (an error, or a cancelled future).
pub(super) struct FileTarget {
    writer: BufWriter<SyncBehind>,
    partial: TempPath,
    target: PathBuf,
    shown: String,
}

impl FileTarget {
    /// Creates the temporary file in `target`'s directory.
    ///
    /// # Errors
    /// [`Error::Io`] when `target` names no file or the directory cannot take a new file.
    pub(super) fn create(target: PathBuf) -> Result<Self> {
        let shown = target.display().to_string();
        let folder = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .ok_or_else(|| io_error("write to", &shown, "it does not name a file"))?;
        // Dot-prefixed, so that directory listings and globs skip it.
        let partial = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".part")
            .tempfile_in(&folder)
            .map_err(|e| io_error("create a temporary file for", &shown, e))?;
        let (file, partial) = partial.into_parts();
        let syncer = file
            .try_clone()
            .map_err(|e| io_error("create a temporary file for", &shown, e))?;
        let writer = BufWriter::with_capacity(
            FILE_BUFFER,
            SyncBehind {
                file: tokio::fs::File::from_std(file),
                syncer: Arc::new(syncer),
                unsynced: 0,
                running: None,
                failed: None,
            },
        );
        Ok(Self {
            writer,
            partial,
            target,
            shown,
        })
    }

    /// What the body is written to.
    pub(super) fn writer(&mut self) -> &mut (impl AsyncWrite + Unpin + Send) {
        &mut self.writer
    }

    /// The target's path as messages show it.
    pub(super) fn shown(&self) -> &str {
        &self.shown
    }

    /// Writes out what is buffered, syncs the file to disk and renames it to the target,
    /// replacing any file there.
    ///
    /// # Errors
    /// [`Error::Io`]; the temporary file is then removed and the target left as it was.
    pub(super) async fn commit(mut self) -> Result<()> {
        let shown = self.shown.clone();
        let failed = |e: io::Error| io_error("write", &shown, e);
        self.writer.flush().await.map_err(failed)?;
        let mut behind = self.writer.into_inner();
        if let Some(running) = behind.running.take() {
            running
                .await
                .map_err(|e| failed(io::Error::other(e)))?
                .map_err(failed)?;
        }
        if let Some(e) = behind.failed.take() {
            return Err(failed(e));
        }
        behind.file.sync_all().await.map_err(failed)?;
        drop(behind);
        persist(self.partial, &self.target).map_err(|e| io_error("move the download to", &shown, e))
    }
}

fn persist(partial: TempPath, target: &Path) -> io::Result<()> {
    partial.persist(target).map_err(|e| e.error)
}

/// The file, with background syncs started as the writes go by.
struct SyncBehind {
    file: tokio::fs::File,
    /// A second handle to the same file, for syncing off the writer's path.
    syncer: Arc<std::fs::File>,
    /// Bytes written since the last background sync started.
    unsynced: u64,
    running: Option<JoinHandle<io::Result<()>>>,
    /// The first background sync error, reported at commit.
    failed: Option<io::Error>,
}

impl SyncBehind {
    /// Collects a finished background sync, and starts another when enough was written.
    fn sync_behind(&mut self, cx: &mut Context<'_>) {
        if let Some(running) = &mut self.running {
            match Pin::new(running).poll(cx) {
                Poll::Pending => return,
                Poll::Ready(outcome) => {
                    self.running = None;
                    let outcome = outcome.unwrap_or_else(|e| Err(io::Error::other(e)));
                    if let (Err(e), None) = (outcome, &self.failed) {
                        self.failed = Some(e);
                    }
                }
            }
        }
        if self.unsynced >= SYNC_EVERY {
            self.unsynced = 0;
            let syncer = Arc::clone(&self.syncer);
            self.running = Some(tokio::task::spawn_blocking(move || syncer.sync_data()));
        }
    }
}

impl AsyncWrite for SyncBehind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.file).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            self.unsynced += n as u64;
            self.sync_behind(cx);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_shutdown(cx)
    }
}

pub(super) fn io_error(action: &'static str, path: &str, reason: impl std::fmt::Display) -> Error {
    Error::Io {
        action,
        path: path.to_string(),
        reason: reason.to_string(),
    }
}
