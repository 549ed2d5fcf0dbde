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

/// Drives `fut` to completion on the calling thread.
///
/// Between polls the thread waits for whatever the last poll was left waiting on: the sockets
/// it registered with [`wait_on`] (in `poll(2)`, so that the answer wakes this thread
/// directly), or otherwise a wake from the crate's runtime (parked).
///
/// `fut` must not need a reactor of the caller's: the futures passed here come from [`run`],
/// whose sockets and timers belong to the crate's runtime or to this loop.
pub(crate) fn wait<F: Future>(fut: F) -> F::Output {
    let signal = Arc::new(CallerWaker {
        thread: std::thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    let _door = sockets::Door::open();
    loop {
        sockets::forget();
        if let Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
            return output;
        }
        // A wake during the poll (hyper's own channels, or a timer) means there is more to do.
        if signal.woken.swap(false, Ordering::AcqRel) {
            continue;
        }
        // Spurious unparks and readiness only cause another poll.
        if !sockets::wait_for_any() {
            std::thread::park();
        }
    }
}

/// What a socket waited on by the blocking door's caller must become.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) enum Interest {
    Readable,
    Writable,
}

/// Records that the poll in progress waits for `socket` to become readable or writable.
/// Returns false when the thread is not in the blocking door's loop, where nobody would wait.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn wait_on(socket: &Arc<std::net::TcpStream>, interest: Interest) -> bool {
    sockets::record(socket, interest)
}

/// Whether the current thread is polling a call for the blocking door.
pub(crate) fn caller_waits() -> bool {
    sockets::door_open()
}

#[cfg(unix)]
mod sockets {
    //! The sockets a blocking-door poll is waiting on, kept per thread until the next poll.

    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use std::cell::RefCell;
    use std::net::TcpStream;
    use std::sync::Arc;

    use super::Interest;

    /// The longest one wait in `poll(2)` lasts. Wakes from the crate's runtime (the call's
    /// timer) only unpark the thread, so this bounds how late the loop sees them.
    const LONGEST_WAIT: Timespec = Timespec {
        tv_sec: 0,
        tv_nsec: 10_000_000,
    };

    /// The sockets the last poll left the caller waiting on.
    type Waiting = Vec<(Arc<TcpStream>, Interest)>;

    thread_local! {
        /// `Some` while the blocking door polls a call on this thread.
        static WAITING: RefCell<Option<Waiting>> = const { RefCell::new(None) };
    }

    /// The blocking door's loop is running on this thread until this is dropped.
    pub(super) struct Door(Option<Waiting>);

    impl Door {
        pub(super) fn open() -> Self {
            Door(WAITING.with(|w| w.replace(Some(Vec::new()))))
        }
    }

    impl Drop for Door {
        fn drop(&mut self) {
            let outer = self.0.take();
            WAITING.with(|w| *w.borrow_mut() = outer);
        }
    }

    pub(super) fn door_open() -> bool {
        WAITING.with(|w| w.borrow().is_some())
    }

    pub(super) fn record(socket: &Arc<TcpStream>, interest: Interest) -> bool {
        WAITING.with(|w| match w.borrow_mut().as_mut() {
            Some(list) => {
                list.push((Arc::clone(socket), interest));
                true
            }
            None => false,
        })
    }

    pub(super) fn forget() {
        WAITING.with(|w| {
            if let Some(list) = w.borrow_mut().as_mut() {
                list.clear();
            }
        });
    }

    /// Waits until one of the recorded sockets is ready (or [`LONGEST_WAIT`]); false when
    /// none was recorded.
    pub(super) fn wait_for_any() -> bool {
        WAITING.with(|w| {
            let waiting = w.borrow();
            let Some(list) = waiting.as_ref().filter(|list| !list.is_empty()) else {
                return false;
            };
            let mut fds: Vec<PollFd<'_>> = list
                .iter()
                .map(|(socket, interest)| {
                    let flags = match interest {
                        Interest::Readable => PollFlags::IN,
                        Interest::Writable => PollFlags::OUT,
                    };
                    PollFd::new(socket.as_ref(), flags)
                })
                .collect();
            // An error (EINTR) is one more poll of the call, which looks again.
            let _ = poll(&mut fds, Some(&LONGEST_WAIT));
            true
        })
    }
}

#[cfg(not(unix))]
mod sockets {
    //! Without `poll(2)` every socket belongs to the crate's runtime.

    use std::net::TcpStream;
    use std::sync::Arc;

    use super::Interest;

    pub(super) struct Door;

    impl Door {
        pub(super) fn open() -> Self {
            Door
        }
    }

    pub(super) fn door_open() -> bool {
        false
    }

    pub(super) fn record(_: &Arc<TcpStream>, _: Interest) -> bool {
        false
    }

    pub(super) fn forget() {}

    pub(super) fn wait_for_any() -> bool {
        false
    }
}
