//! Hostile servers: each way an answer can go wrong, over HTTP/1.1 (plain) and HTTP/2 (TLS,
//! negotiated by ALPN), on the blocking and the async door. Each case asserts the error's kind
//! and that the call ended within its limit plus [`SLACK`], measured.
//!
//! The servers are hyper's, misbehaving through a scripted body and service; a reset is a
//! socket closed with a zero linger (TCP RST) on HTTP/1.1, and `RST_STREAM` on HTTP/2.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::Notify;
use wechatpay::error::{TimeoutStage, VerifyError};
use wechatpay::{Client, Error, Response};

/// How much later than its limit a call may end: the bound, measured on every call.
const SLACK: Duration = Duration::from_millis(50);

/// The limits of the clients here: short, so that the suite takes seconds.
#[derive(Debug, Clone, Copy)]
struct Limits {
    response: Duration,
    read: Duration,
    total: Duration,
    cap: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            response: Duration::from_millis(300),
            read: Duration::from_millis(300),
            total: Duration::from_secs(3),
            cap: 64 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// HTTP/1.1 over plain TCP.
    Http1,
    /// HTTP/2 over TLS, the server offering only `h2` by ALPN.
    Http2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    Blocking,
    Async,
}

/// What the server does to a call on `/v3/fault`; other paths get a correct signed `{}`.
#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    ResetBeforeHeaders,
    ResetMidBody,
    StallBeforeHeaders,
    StallMidBody,
    /// One byte a second, for ten seconds.
    Drip,
    /// A chunked body whose connection closes (FIN, no last chunk) partway.
    TruncatedChunked,
    /// A correctly signed 200 whose body is not JSON.
    NotJson,
    /// A correctly signed 200 with an HTML page.
    Html,
    /// A body that never ends, arriving as fast as the client reads.
    Endless,
    /// A `Content-Length` far above the cap.
    HugeDeclared,
    /// A chunked body of this many bytes.
    HugeChunked(usize),
    /// A 502 HTML page from a gateway, unsigned.
    Html5xx,
    /// A signed answer replayed this many seconds after it was signed.
    Replay(i64),
}

// -- the scripted body ----------------------------------------------------------------------

/// One step of a scripted body.
enum Step {
    Data(Bytes),
    Wait(Duration),
    /// The body fails: hyper resets the stream (HTTP/2) or drops the connection (HTTP/1.1).
    Fail,
    /// Ends the whole connection, then waits forever.
    Kill(Arc<Notify>),
    /// Waits forever.
    Stall,
    /// This chunk, again and again.
    Repeat(Bytes),
}

struct Scripted {
    steps: VecDeque<Step>,
    sleeping: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Scripted {
    fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            steps: steps.into_iter().collect(),
            sleeping: None,
        }
    }

    fn full(body: impl Into<Bytes>) -> Self {
        Self::new([Step::Data(body.into())])
    }
}

impl Body for Scripted {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(sleep) = &mut this.sleeping {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleeping = None;
            }
            match this.steps.pop_front() {
                None => return Poll::Ready(None),
                Some(Step::Data(b)) => return Poll::Ready(Some(Ok(Frame::data(b)))),
                Some(Step::Wait(d)) => this.sleeping = Some(Box::pin(tokio::time::sleep(d))),
                Some(Step::Fail) => {
                    return Poll::Ready(Some(Err(std::io::Error::other("scripted failure"))))
                }
                Some(Step::Kill(kill)) => {
                    kill.notify_one();
                    this.steps.push_front(Step::Stall);
                }
                Some(Step::Stall) => {
                    this.steps.push_front(Step::Stall);
                    return Poll::Pending;
                }
                Some(Step::Repeat(chunk)) => {
                    this.steps.push_front(Step::Repeat(chunk.clone()));
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
            }
        }
    }
}

// -- the server -----------------------------------------------------------------------------

fn signed(
    status: u16,
    content_type: &str,
    body: &'static [u8],
    age: i64,
) -> hyper::Response<Scripted> {
    let mut response = hyper::Response::builder()
        .status(status)
        .header("content-type", content_type);
    for (name, value) in common::signature_headers(body, age) {
        response = response.header(name, value);
    }
    response.body(Scripted::full(body)).unwrap()
}

fn head(content_length: Option<u64>) -> http::response::Builder {
    let response = hyper::Response::builder()
        .status(200)
        .header("content-type", "application/json");
    match content_length {
        Some(n) => response.header("content-length", n),
        None => response,
    }
}

async fn respond(
    fault: Misbehaviour,
    kill: Arc<Notify>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Scripted>, std::io::Error> {
    if req.uri().path() != "/v3/fault" {
        return Ok(signed(200, "application/json", b"{}", 0));
    }
    let ms = Duration::from_millis;
    let response = match fault {
        Misbehaviour::ResetBeforeHeaders => {
            return Err(std::io::Error::other("reset before the headers"))
        }
        Misbehaviour::ResetMidBody => head(Some(1000)).body(Scripted::new([
            Step::Data(Bytes::from_static(&[b' '; 100])),
            Step::Wait(ms(50)),
            Step::Fail,
        ])),
        Misbehaviour::StallBeforeHeaders => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            head(None).body(Scripted::full("{}"))
        }
        Misbehaviour::StallMidBody => head(Some(100)).body(Scripted::new([
            Step::Data(Bytes::from_static(b"{\"a\":")),
            Step::Stall,
        ])),
        Misbehaviour::Drip => head(Some(10)).body(Scripted::new((0..10).flat_map(|_| {
            [
                Step::Data(Bytes::from_static(b" ")),
                Step::Wait(Duration::from_secs(1)),
            ]
        }))),
        Misbehaviour::TruncatedChunked => head(None).body(Scripted::new([
            Step::Data(Bytes::from_static(b"{\"data\": [1, 2, 3")),
            Step::Wait(ms(50)),
            Step::Kill(kill),
        ])),
        Misbehaviour::NotJson => return Ok(signed(200, "application/json", b"{not json", 0)),
        Misbehaviour::Html => {
            return Ok(signed(
                200,
                "text/html; charset=utf-8",
                "<html><body>系统维护中</body></html>".as_bytes(),
                0,
            ))
        }
        Misbehaviour::Endless => head(None).body(Scripted::new([Step::Repeat(
            Bytes::from_static(&[b' '; 16 * 1024]),
        )])),
        Misbehaviour::HugeDeclared => head(Some(100 << 20)).body(Scripted::new([Step::Stall])),
        Misbehaviour::HugeChunked(size) => {
            static CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];
            let chunk = Bytes::from_static(&CHUNK);
            let whole = size / CHUNK.len();
            let rest = size % CHUNK.len();
            let steps = std::iter::repeat_n(chunk.clone(), whole)
                .chain((rest > 0).then(|| chunk.slice(..rest)))
                .map(Step::Data);
            head(None).body(Scripted::new(steps))
        }
        Misbehaviour::Html5xx => hyper::Response::builder()
            .status(502)
            .header("content-type", "text/html")
            .body(Scripted::full(
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )),
        Misbehaviour::Replay(age) => {
            return Ok(signed(200, "application/json", b"{\"ok\":1}", age))
        }
    };
    Ok(response.unwrap())
}

/// A misbehaving server on loopback, on its own thread and runtime; stops when dropped.
struct HostileServer {
    addr: SocketAddr,
    protocol: Protocol,
    root_pem: Option<String>,
    _accepting: common::AcceptLoop,
}

impl HostileServer {
    fn start(protocol: Protocol, fault: Misbehaviour) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tls, root_pem) = match protocol {
            Protocol::Http1 => (None, None),
            Protocol::Http2 => {
                let (config, pem) = common::localhost_tls(&[b"h2"]);
                (Some(tokio_rustls::TlsAcceptor::from(config)), Some(pem))
            }
        };
        // Resets are abortive closes on HTTP/1.1 (HTTP/2 resets a stream with RST_STREAM).
        let abortive = matches!(
            fault,
            Misbehaviour::ResetBeforeHeaders | Misbehaviour::ResetMidBody
        );
        let accepting = common::AcceptLoop::start_after(
            || UNCOUNTED.with(|u| u.set(true)),
            listener,
            move |stream, _| {
                let _ = stream.set_nodelay(true);
                if abortive {
                    // A zero linger makes the close an RST, at once: the close does not
                    // block, which is what the deprecation warns of.
                    #[allow(deprecated)]
                    let _ = stream.set_linger(Some(Duration::ZERO));
                }
                tokio::spawn(serve(stream, tls.clone(), fault));
            },
        );
        Self {
            addr,
            protocol,
            root_pem,
            _accepting: accepting,
        }
    }

    fn client(&self, limits: Limits) -> Client {
        let base = match self.protocol {
            Protocol::Http1 => format!("http://{}/", self.addr),
            Protocol::Http2 => format!("https://localhost:{}/", self.addr.port()),
        };
        let mut builder = common::builder(&base)
            .connect_timeout(Duration::from_secs(2))
            .response_timeout(limits.response)
            .read_timeout(limits.read)
            .timeout(limits.total)
            .max_body_bytes(limits.cap);
        if let Some(pem) = &self.root_pem {
            builder = builder.root_certificate(pem.as_bytes().to_vec());
        }
        builder.build().unwrap()
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    fault: Misbehaviour,
) {
    let kill = Arc::new(Notify::new());
    let killed = Arc::clone(&kill);
    let service = service_fn(move |req| respond(fault, Arc::clone(&kill), req));
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let serving: Pin<Box<dyn Future<Output = ()> + Send>> = match tls {
        None => Box::pin(async move {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }),
        Some(acceptor) => Box::pin(async move {
            if let Ok(stream) = acceptor.accept(stream).await {
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        }),
    };
    // Dropping the connection mid-answer is how a body is cut short without a last chunk.
    tokio::select! {
        () = serving => {}
        () = killed.notified() => {}
    }
}

// -- running a case on every protocol and door ----------------------------------------------

/// One call on `/v3/fault` through one door, timed.
struct Outcome {
    protocol: Protocol,
    door: Door,
    result: Result<Response, Error>,
    elapsed: Duration,
    host: String,
}

impl Outcome {
    fn err(&self) -> &Error {
        match &self.result {
            Err(e) => e,
            Ok(r) => panic!(
                "{:?}/{:?}: expected an error, got {}",
                self.protocol,
                self.door,
                r.status()
            ),
        }
    }

    fn ok(&self) -> &Response {
        match &self.result {
            Ok(r) => r,
            Err(e) => panic!(
                "{:?}/{:?}: expected an answer, got {e:?}",
                self.protocol, self.door
            ),
        }
    }

    fn within(&self, limit: Duration) {
        eprintln!(
            "{:?}/{:?}: ended after {:?} (bound {limit:?} + {SLACK:?})",
            self.protocol, self.door, self.elapsed
        );
        assert!(
            self.elapsed <= limit + SLACK,
            "{:?}/{:?}: took {:?}, more than {limit:?} + {SLACK:?}",
            self.protocol,
            self.door,
            self.elapsed
        );
    }

    /// Ended by the limit `limit`: not before it, and within the slack after it.
    fn timed_out(&self, stage: TimeoutStage, limit: Duration) {
        assert!(
            matches!(self.err(), Error::Timeout(s) if *s == stage),
            "{:?}/{:?}: expected a {stage:?} timeout, got {:?}",
            self.protocol,
            self.door,
            self.err()
        );
        assert!(
            self.elapsed >= limit,
            "{:?}/{:?}: a {limit:?} limit ended the call after {:?}",
            self.protocol,
            self.door,
            self.elapsed
        );
        self.within(limit);
    }

    fn transport_error_saying(&self, words: &str) {
        let e = self.err();
        assert!(
            matches!(e, Error::Transport(_)),
            "{:?}/{:?}: {e:?}",
            self.protocol,
            self.door
        );
        let text = e.to_string();
        assert!(
            text.contains(&self.host) && text.contains(words),
            "{:?}/{:?}: `{text}` should name {} and say `{words}`",
            self.protocol,
            self.door,
            self.host
        );
    }
}

/// Every other test here shares this lock; the memory test takes it alone, so that no other
/// test's allocations are counted as its own.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

/// Runs `fault` against each protocol and door, each with its own server and client, all at
/// once, and hands each outcome to `check`.
fn each_protocol_and_door(fault: Misbehaviour, limits: Limits, check: impl Fn(&Outcome) + Sync) {
    let _shared = EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner());
    run_each(fault, limits, &check);
}

fn run_each(fault: Misbehaviour, limits: Limits, check: &(impl Fn(&Outcome) + Sync)) {
    std::thread::scope(|scope| {
        for protocol in [Protocol::Http1, Protocol::Http2] {
            for door in [Door::Blocking, Door::Async] {
                scope.spawn(move || check(&call(protocol, door, fault, limits)));
            }
        }
    });
}

fn call(protocol: Protocol, door: Door, fault: Misbehaviour, limits: Limits) -> Outcome {
    let server = HostileServer::start(protocol, fault);
    let wxpay = server.client(limits);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let send = |path: &str| match door {
        Door::Blocking => wxpay.chain(path).get(()),
        Door::Async => rt.block_on(wxpay.chain(path).get_async(())),
    };
    // A warm connection first, so that the time measured is the fault's, not a handshake's.
    let warm = send("v3/warm").unwrap();
    let version = match protocol {
        Protocol::Http1 => http::Version::HTTP_11,
        Protocol::Http2 => http::Version::HTTP_2,
    };
    assert_eq!(warm.version(), version);
    let started = Instant::now();
    let result = send("v3/fault");
    let elapsed = started.elapsed();
    let host = match protocol {
        Protocol::Http1 => server.addr.to_string(),
        Protocol::Http2 => format!("localhost:{}", server.addr.port()),
    };
    Outcome {
        protocol,
        door,
        result,
        elapsed,
        host,
    }
}

// -- the cases ------------------------------------------------------------------------------

#[test]
fn a_reset_before_the_headers_is_a_transport_error_at_once() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::ResetBeforeHeaders, limits, |o| {
        let text = o.err().to_string();
        assert!(
            o.err().is_transport(),
            "{:?}/{:?}: {text}",
            o.protocol,
            o.door
        );
        assert!(text.contains(&o.host), "{text}");
        // Before any limit could have ended it.
        o.within(limits.response - SLACK);
    });
}

#[test]
fn a_reset_mid_body_is_a_transport_error_at_once() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::ResetMidBody, limits, |o| {
        assert!(
            o.err().is_transport(),
            "{:?}/{:?}: {:?}",
            o.protocol,
            o.door,
            o.err()
        );
        assert!(o.err().to_string().contains(&o.host), "{}", o.err());
        o.within(limits.read - SLACK);
    });
}

#[test]
fn a_stall_before_the_headers_is_a_response_timeout() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::StallBeforeHeaders, limits, |o| {
        o.timed_out(TimeoutStage::Response, limits.response);
    });
}

#[test]
fn a_stall_mid_body_is_a_read_timeout() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::StallMidBody, limits, |o| {
        o.timed_out(TimeoutStage::Read, limits.read);
    });
}

/// A drip of one byte a second is caught by a read limit under a second, and otherwise by
/// the total limit, never waited out.
#[test]
fn a_drip_of_one_byte_a_second_is_a_read_or_total_timeout() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::Drip, limits, |o| {
        o.timed_out(TimeoutStage::Read, limits.read);
    });
    let limits = Limits {
        read: Duration::from_millis(1500),
        total: Duration::from_millis(1200),
        ..Limits::default()
    };
    each_protocol_and_door(Misbehaviour::Drip, limits, |o| {
        o.timed_out(TimeoutStage::Total, limits.total);
    });
}

#[test]
fn a_truncated_chunked_body_is_a_transport_error_at_once() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::TruncatedChunked, limits, |o| {
        match o.protocol {
            Protocol::Http1 => {
                o.transport_error_saying("closed the connection before the answer was complete")
            }
            // HTTP/2 has no chunks: the connection closing mid-stream (without TLS's
            // close_notify) is the same fault.
            Protocol::Http2 => o.transport_error_saying("close_notify"),
        }
        o.within(limits.read - SLACK);
    });
}

#[test]
fn a_signed_answer_that_is_not_json_fails_in_json_but_not_in_bytes() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::NotJson, limits, |o| {
        let r = o.ok();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().as_ref(), b"{not json");
        assert_eq!(r.text().unwrap(), "{not json");
        let e = r.json::<serde_json::Value>().unwrap_err();
        assert!(matches!(e, Error::Decode(_)), "{e:?}");
        assert!(e.to_string().contains("line 1 column 2"), "{e}");
        o.within(limits.response);
    });
}

#[test]
fn a_signed_html_answer_is_returned_and_json_names_its_type() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::Html, limits, |o| {
        let r = o.ok();
        assert_eq!(r.text().unwrap(), "<html><body>系统维护中</body></html>");
        let e = r.json::<serde_json::Value>().unwrap_err();
        assert!(matches!(e, Error::Decode(_)), "{e:?}");
        assert!(e.to_string().contains("text/html"), "{e}");
        o.within(limits.response);
    });
}

#[test]
fn an_endless_body_stops_at_the_cap() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::Endless, limits, |o| {
        o.transport_error_saying("is larger than the 64 KiB limit (`max_body_bytes`)");
        o.within(limits.read);
    });
}

#[test]
fn a_huge_declared_body_is_refused_at_the_headers() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::HugeDeclared, limits, |o| {
        o.transport_error_saying("declares 104857600 bytes, more than the 64 KiB limit");
        // The body never comes: waiting for it would be a read timeout.
        o.within(limits.read - SLACK);
    });
}

#[test]
fn a_huge_chunked_body_is_refused_one_byte_over_the_cap() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::HugeChunked(limits.cap + 1), limits, |o| {
        o.transport_error_saying("is larger than the 64 KiB limit");
        o.within(limits.read);
    });
    // Exactly the cap is an answer (its signature fails: the server does not sign these).
    each_protocol_and_door(Misbehaviour::HugeChunked(limits.cap), limits, |o| {
        assert!(
            matches!(o.err(), Error::Verify(VerifyError::MissingHeader(_))),
            "{:?}",
            o.err()
        );
    });
}

#[test]
fn a_5xx_html_page_is_an_api_error_that_keeps_the_body() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::Html5xx, limits, |o| match o.err() {
        Error::Api {
            status,
            code,
            message,
            body,
            ..
        } => {
            assert_eq!(status.as_u16(), 502);
            assert_eq!((code.as_str(), message.as_str()), ("", ""));
            assert_eq!(
                body.as_ref(),
                b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            );
            o.within(limits.response);
        }
        other => panic!("{:?}/{:?}: {other:?}", o.protocol, o.door),
    });
}

/// A replayed answer carries its original, signed timestamp: once that is outside the
/// 300 s window the answer is refused; within it the signature still holds.
#[test]
fn an_old_signed_answer_replayed_is_refused_outside_the_skew_window() {
    let limits = Limits::default();
    each_protocol_and_door(Misbehaviour::Replay(600), limits, |o| {
        match o.err() {
            Error::Verify(VerifyError::ClockSkew {
                skew_seconds,
                allowed_seconds: 300,
            }) => assert!((-602..=-599).contains(skew_seconds), "{skew_seconds}"),
            other => panic!("{:?}/{:?}: {other:?}", o.protocol, o.door),
        }
        o.within(limits.response);
    });
    each_protocol_and_door(Misbehaviour::Replay(60), limits, |o| {
        assert_eq!(o.ok().bytes().as_ref(), b"{\"ok\":1}");
    });
}

// -- memory ---------------------------------------------------------------------------------

/// Counts the bytes allocated by the whole test process, and the peak since a reset.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the servers' threads: their buffers are not the client's.
    static UNCOUNTED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    !UNCOUNTED.try_with(Cell::get).unwrap_or(true)
}

fn grew(by: usize) {
    if counted() {
        let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

fn shrank(by: usize) {
    if counted() {
        CURRENT.fetch_sub(by, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator with the arguments it was given; the
// counters are only arithmetic beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        shrank(layout.size());
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a change of size even when the block moved: large blocks move by
        // remapping pages (glibc's mremap), not by copying them.
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What the transport holds besides the answer's own buffer. On HTTP/1.1, hyper's read
/// buffer: reads of up to 408 KiB into a buffer that grows by doubling (so up to 816 KiB), and
/// while a chunk handed up from the last one is being copied, a new one is reserved beside
/// it. On HTTP/2, the stream's flow-control window (2 MiB the server may send ahead of the
/// reader) and the TLS and frame buffers.
fn transport_buffers(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Http1 => 3 << 19,
        Protocol::Http2 => 5 << 19,
    }
}

/// A chunked answer one byte over the cap (the default 4 MiB, and 3 MiB, where a buffer that
/// doubles would pass the cap) is refused, and the client never held more than the cap plus
/// the transport's own buffers while receiving it.
#[test]
fn a_body_one_byte_over_the_cap_takes_at_most_the_cap_in_memory() {
    let _alone = EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner());
    for cap in [4 << 20, 3 << 20] {
        let limits = Limits {
            cap,
            read: Duration::from_secs(2),
            ..Limits::default()
        };
        for protocol in [Protocol::Http1, Protocol::Http2] {
            for door in [Door::Blocking, Door::Async] {
                let server = HostileServer::start(protocol, Misbehaviour::HugeChunked(cap + 1));
                let wxpay = server.client(limits);
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let send = |path: &str| match door {
                    Door::Blocking => wxpay.chain(path).get(()),
                    Door::Async => rt.block_on(wxpay.chain(path).get_async(())),
                };
                send("v3/warm").unwrap();
                let before = CURRENT.load(Ordering::Relaxed);
                PEAK.store(before, Ordering::Relaxed);
                let e = send("v3/fault").unwrap_err();
                let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
                let limit = format!("is larger than the {} MiB limit", cap >> 20);
                assert!(e.to_string().contains(&limit), "{protocol:?}/{door:?}: {e}");
                eprintln!(
                    "{protocol:?}/{door:?}: peak {:.2} MiB above the start for a {} MiB cap",
                    peak as f64 / f64::from(1 << 20),
                    cap >> 20
                );
                assert!(
                    peak <= cap + transport_buffers(protocol),
                    "{protocol:?}/{door:?}: {peak} bytes at the peak for a {cap}-byte cap"
                );
            }
        }
    }
}
