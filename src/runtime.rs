//! The crate's own runtime, where every call runs, and the two doors into it.
//!
//! hyper's pooled connections belong to the runtime that opened them, so all I/O happens on
//! one runtime the crate owns and never drops. The async door spawns a call there and awaits
//! its handle (from any executor); the blocking door spawns it and parks the calling thread
//! until it is done. Neither calls `block_on` on the caller's thread, so both work on plain
//! threads, inside `spawn_blocking`, and after the caller's own runtime is gone.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use crate::error::{Error, Result};

static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();

fn handle() -> Result<&'static tokio::runtime::Runtime> {
    RUNTIME
        .get_or_init(|| {
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .thread_name("wechatpay-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::transport(format!("cannot start the I/O runtime: {e}")))
}

/// Runs `fut` on the crate's runtime and resolves with its output, from any executor.
pub(crate) async fn run<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let joined = handle()?.spawn(fut).await;
    match joined {
        Ok(output) => Ok(output),
        // A panic inside a layer is a bug in that layer; surface it where the call was made.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::transport("the call was cancelled")),
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `fut` to completion on the calling thread by polling and parking.
///
/// `fut` must not need a reactor of its own: the futures passed here only wait on work that
/// [`run`] placed on the crate's runtime.
pub(crate) fn wait<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            // Spurious unparks only cause another poll.
            Poll::Pending => std::thread::park(),
        }
    }
}
