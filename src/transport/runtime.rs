//! The crate's own runtime, which owns every socket and timer, and the two doors into it.
//!
//! hyper's pooled connections belong to the runtime that opened them, so every connection task
//! runs on one multi-thread runtime the crate starts on first use and never drops
//! ([`Executor`]). A call itself is polled wherever the caller is (the async door: any
//! executor; the blocking door: the calling thread, parked between polls), with the crate's
//! runtime *entered* for each poll, so the timers and sockets it creates register there.
//! Neither door calls `block_on` on the caller's thread, so both work on plain threads, inside
//! `spawn_blocking`, and after the caller's own runtime is gone; and a call costs no hand-off
//! to another thread and back (measured at 24-32 us per call on two cores; see
//! docs/performance.md).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use crate::error::{Error, Result};

static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();

pub(crate) fn handle() -> Result<&'static tokio::runtime::Handle> {
    RUNTIME
        .get_or_init(|| {
            // Signing runs on the callers' threads; these threads only drive connections, and
            // fewer of them means fewer wake-ups per call (measured in docs/performance.md).
            let workers = std::thread::available_parallelism().map_or(1, |n| (n.get() / 4).max(1));
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .thread_name("wechatpay-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map(tokio::runtime::Runtime::handle)
        .map_err(|e| Error::transport(format!("cannot start the I/O runtime: {e}")))
}

/// Spawns hyper's background tasks (connections, pool maintenance) on the crate's runtime,
/// whoever happens to be polling the call that starts them.
#[derive(Debug, Clone)]
pub(crate) struct Executor(pub(crate) &'static tokio::runtime::Handle);

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        self.0.spawn(fut);
    }
}

/// Polls the inner future with the crate's runtime entered.
struct Entered<F> {
    handle: &'static tokio::runtime::Handle,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for Entered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Entering only sets the thread's current runtime for the duration of this poll; it
        // does not block, so it is allowed inside any other executor, tokio's included.
        let _entered = self.handle.enter();
        self.inner.as_mut().poll(cx)
    }
}

/// Runs `fut` from any executor with the crate's runtime as its context.
pub(crate) async fn run<F: Future>(fut: F) -> Result<F::Output> {
    let handle = handle()?;
    Ok(Entered {
        handle,
        inner: Box::pin(fut),
    }
    .await)
}

/// Wakes the blocking door's caller: notes the wake, then unparks the thread.
struct CallerWaker {
    thread: std::thread::Thread,
    woken: AtomicBool,
}

impl Wake for CallerWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Drives `fut` to completion on the calling thread, parked between polls until a wake from
/// the crate's runtime (a socket or timer of the call) says there is more to do.
///
/// `fut` must not need a reactor of the caller's: the futures passed here come from [`run`],
/// whose sockets and timers belong to the crate's runtime.
pub(crate) fn wait<F: Future>(fut: F) -> F::Output {
    let signal = Arc::new(CallerWaker {
        thread: std::thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
            return output;
        }
        // A wake during the poll means there is more to do; otherwise park until one comes.
        // Spurious unparks only cause another poll.
        if !signal.woken.swap(false, Ordering::AcqRel) {
            std::thread::park();
            signal.woken.store(false, Ordering::Release);
        }
    }
}
