//! Connections whose socket the blocking door's caller waits on itself.
//!
//! On the blocking door, an `http1_only` connection is a non-blocking std socket (with rustls
//! on top for HTTPS) that the crate's runtime never sees. When the socket is not ready, the
//! read or write here records it with [`runtime::wait_on`] and returns `Pending`; the caller's
//! thread then waits for it in `poll(2)` ([`runtime::wait`]). The answer thus wakes the caller
//! directly, where a socket of the runtime's would wake an I/O thread that then wakes the
//! caller: one context switch and two system calls less per call (docs/performance.md).
//!
//! Connecting blocks the caller as well: DNS, then TCP within the connect limit, then the TLS
//! handshake, all within the call's total limit.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use http::uri::Scheme;
use hyper::rt::ReadBufCursor;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use super::http1::{default_port, Origin};
use crate::error::{Error, Result, TimeoutStage};
use crate::runtime::{self, Interest};

/// The most plaintext one read hands to hyper.
const READ_CHUNK: usize = 16 * 1024;

/// A connected socket, with TLS over it for HTTPS.
pub(crate) struct CallerStream {
    /// Shared with the list of sockets the caller's loop waits on.
    socket: Arc<TcpStream>,
    tls: Option<Box<ClientConnection>>,
    scratch: Box<[u8; READ_CHUNK]>,
}

/// Limits on connecting: the builder's connect limit (TCP) and the call's deadline (all of it),
/// if the call's limit is not too far off to have one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectLimits {
    pub connect_timeout: Duration,
    pub deadline: Option<Instant>,
}

impl ConnectLimits {
    /// What is left of the call's time; `None` when it has no end.
    fn left(&self) -> Result<Option<Duration>> {
        let Some(deadline) = self.deadline else {
            return Ok(None);
        };
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .map(Some)
            .ok_or(Error::Timeout(TimeoutStage::Total))
    }

    /// The time a TCP connect may take, and what running out of it means.
    fn tcp(&self) -> Result<(Duration, TimeoutStage)> {
        Ok(match self.left()? {
            Some(left) if left < self.connect_timeout => (left, TimeoutStage::Total),
            _ => (self.connect_timeout, TimeoutStage::Connect),
        })
    }
}

impl CallerStream {
    /// Opens a connection to `origin`, blocking the calling thread until it is ready for a
    /// request (TCP, and the TLS handshake for HTTPS).
    pub(crate) fn connect(
        (scheme, authority): &Origin,
        tls: &Arc<ClientConfig>,
        limits: ConnectLimits,
    ) -> Result<Self> {
        let https = *scheme == Scheme::HTTPS;
        // An IPv6 literal keeps its brackets in the authority.
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or_else(|| default_port(scheme));
        let addresses: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| Error::transport(format!("cannot resolve {host}: {e}")))?
            .collect();
        let socket = open_tcp(&addresses, host, limits)?;
        socket.set_nodelay(true).map_err(Error::transport)?;
        let tls = if https {
            let name = ServerName::try_from(host.to_owned())
                .map_err(|e| Error::transport(format!("{host} is not a TLS server name: {e}")))?;
            let mut session = ClientConnection::new(Arc::clone(tls), name)
                .map_err(|e| Error::transport(format!("TLS setup: {e}")))?;
            handshake(&mut session, &socket, limits)?;
            Some(Box::new(session))
        } else {
            None
        };
        socket.set_nonblocking(true).map_err(Error::transport)?;
        Ok(Self {
            socket: Arc::new(socket),
            tls,
            scratch: Box::new([0; READ_CHUNK]),
        })
    }
}

/// `Pending` once the caller's loop knows to wait for `socket`.
fn not_ready<T>(socket: &Arc<TcpStream>, interest: Interest) -> Poll<io::Result<T>> {
    if runtime::wait_on(socket, interest) {
        Poll::Pending
    } else {
        // Nobody would ever poll again: fail rather than hang.
        Poll::Ready(Err(io::Error::other(
            "a connection of the blocking door was polled outside it",
        )))
    }
}

/// Reads plaintext into `out`; `Ok(0)` is the end of the stream.
fn read_plaintext(
    socket: &TcpStream,
    tls: Option<&mut ClientConnection>,
    out: &mut [u8],
) -> io::Result<usize> {
    let Some(session) = tls else {
        return (&*socket).read(out);
    };
    loop {
        match session.reader().read(out) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // `Ok(0)` after the peer's close_notify, `UnexpectedEof` after a bare close.
            done => return done,
        }
        // Nothing decrypted is waiting: take more records from the socket. At its end, the
        // reader above reports how the stream ended.
        session.read_tls(&mut &*socket)?;
        if let Err(e) = session.process_new_packets() {
            // Tell the server why, if the socket takes it.
            let _ = session.write_tls(&mut &*socket);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
}

/// Writes out every TLS record `session` holds.
fn send_records(session: &mut ClientConnection, socket: &TcpStream) -> io::Result<()> {
    while session.wants_write() {
        match session.write_tls(&mut &*socket) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn open_tcp(addresses: &[SocketAddr], host: &str, limits: ConnectLimits) -> Result<TcpStream> {
    let mut last = None;
    for address in addresses {
        let (budget, stage) = limits.tcp()?;
        match TcpStream::connect_timeout(address, budget) {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => last = Some(Error::Timeout(stage)),
            Err(e) => {
                last = Some(Error::transport(format!(
                    "cannot connect to {address}: {e}"
                )))
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::transport(format!("{host} resolved to no address"))))
}

/// Runs the TLS handshake on the still-blocking socket, within the call's total limit (as the
/// default pool does: the connect limit is the TCP connect's).
fn handshake(
    session: &mut ClientConnection,
    socket: &TcpStream,
    limits: ConnectLimits,
) -> Result<()> {
    while session.is_handshaking() {
        let budget = limits.left()?;
        socket
            .set_read_timeout(budget)
            .and_then(|()| socket.set_write_timeout(budget))
            .map_err(Error::transport)?;
        match session.complete_io(&mut &*socket) {
            Ok(_) => {}
            // A blocking socket's timeout reads as `WouldBlock` on Unix.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Error::Timeout(TimeoutStage::Total))
            }
            Err(e) => return Err(Error::transport(format!("TLS handshake: {e}"))),
        }
    }
    socket
        .set_read_timeout(None)
        .and_then(|()| socket.set_write_timeout(None))
        .map_err(Error::transport)
}

/// Sends every TLS record `session` holds, or waits until the socket takes more.
fn flush_records(session: &mut ClientConnection, socket: &Arc<TcpStream>) -> Poll<io::Result<()>> {
    match send_records(session, socket) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => not_ready(socket, Interest::Writable),
        done => Poll::Ready(done),
    }
}

impl hyper::rt::Read for CallerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let CallerStream {
            socket,
            tls,
            scratch,
        } = self.get_mut();
        let out = &mut scratch[..buf.remaining().min(READ_CHUNK)];
        loop {
            match read_plaintext(socket, tls.as_deref_mut(), out) {
                Ok(n) => {
                    buf.put_slice(&out[..n]);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return not_ready(socket, Interest::Readable)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl hyper::rt::Write for CallerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let CallerStream { socket, tls, .. } = self.get_mut();
        let Some(session) = tls.as_deref_mut() else {
            return loop {
                match (&**socket).write(data) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        break not_ready(socket, Interest::Writable)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    done => break Poll::Ready(done),
                }
            };
        };
        // Take new plaintext only once the records before it have gone out, so that at most
        // one write's worth waits in memory.
        ready!(flush_records(session, socket))?;
        let taken = session.writer().write(data)?;
        // Start sending at once; what the socket cannot take yet goes with the next flush.
        match send_records(session, socket) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(taken)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let CallerStream { socket, tls, .. } = self.get_mut();
        match tls.as_deref_mut() {
            Some(session) => flush_records(session, socket),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(session) = self.tls.as_deref_mut() {
            session.send_close_notify();
        }
        ready!(self.as_mut().poll_flush(cx))?;
        match self.socket.shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}
