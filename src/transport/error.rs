//! Transport failures in plain words: what happened, and to which host.
//!
//! hyper's own errors say `client error (Connect)`; the cause that matters to a reader
//! ("connection refused", "dns error", a TLS certificate problem) sits several sources down.
//! [`classify`] walks that chain once and states it in the error's `Display`, keeping the
//! original error as its `source()`.

use std::fmt;

use crate::error::{Error, TimeoutStage};

/// A failed exchange with a host, described for a reader.
#[derive(Debug)]
pub(crate) struct TransportError {
    what: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            source: None,
        }
    }

    fn caused_by(what: String, source: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Self {
            what,
            source: Some(source),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        Error::Transport(Box::new(e))
    }
}

/// What the chain of sources of a failed exchange says, read once.
#[derive(Default)]
struct Causes {
    timed_out: bool,
    refused: bool,
    reset: bool,
    dns: bool,
    connect: bool,
    incomplete: bool,
    tls: Option<String>,
    innermost: String,
}

fn read_causes(e: &(dyn std::error::Error + 'static)) -> Causes {
    let mut causes = Causes::default();
    let mut next = Some(e);
    while let Some(err) = next {
        causes.note(err);
        // `io::Error::source` skips the error it wraps (an `io::Error` around a rustls error,
        // as tokio-rustls makes them), so those are read through `get_ref`.
        let mut wrapped = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        while let Some(inner) = wrapped {
            causes.note(inner);
            wrapped = inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref());
        }
        next = err.source();
    }
    causes
}

impl Causes {
    fn note(&mut self, err: &(dyn std::error::Error + 'static)) {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::TimedOut => self.timed_out = true,
                std::io::ErrorKind::ConnectionRefused => self.refused = true,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe => self.reset = true,
                _ => {}
            }
        }
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            self.tls = Some(describe_tls(tls));
        }
        if let Some(client) = err.downcast_ref::<hyper_util::client::legacy::Error>() {
            self.connect |= client.is_connect();
        }
        if let Some(hyper) = err.downcast_ref::<hyper::Error>() {
            self.incomplete |= hyper.is_incomplete_message();
        }
        // hyper-util names a failed lookup only in its text.
        self.dns |= err.to_string() == "dns error";
        self.innermost = err.to_string();
    }
}

/// A TLS failure in plain words. The certificate alerts a server sends are about the
/// certificate the client presented (problems with the server's own certificate are found by
/// the client, and are not alerts): say so, since the fix is on the client's side.
fn describe_tls(e: &rustls::Error) -> String {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::AlertReceived(
            alert @ (A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::CertificateRequired),
        ) => format!(
            "the server refused the client certificate (the merchant API certificate) \
             (received fatal alert: {alert:?})"
        ),
        other => other.to_string(),
    }
}

/// Turns a failed exchange with `host` into the crate's error: a connect that timed out is
/// [`Error::Timeout`]`(`[`TimeoutStage::Connect`]`)`, anything else [`Error::Transport`]
/// whose text says what happened in plain words.
pub(crate) fn classify(
    host: &str,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    let e = e.into();
    let causes = read_causes(e.as_ref());
    if causes.connect && causes.timed_out {
        return Error::Timeout(TimeoutStage::Connect);
    }
    let what = if causes.dns {
        format!("cannot resolve {host}: {}", causes.innermost)
    } else if causes.refused {
        format!("cannot connect to {host}: connection refused")
    } else if let Some(tls) = &causes.tls {
        format!("TLS with {host} failed: {tls}")
    } else if causes.connect {
        format!("cannot connect to {host}: {}", causes.innermost)
    } else if causes.reset {
        format!("{host} reset the connection before the answer was complete")
    } else if causes.incomplete {
        format!("{host} closed the connection before the answer was complete")
    } else {
        format!("exchange with {host} failed: {}", causes.innermost)
    };
    TransportError::caused_by(what, e).into()
}

/// The `host[:port]` of a request, for messages.
pub(crate) fn host_of(uri: &http::Uri) -> String {
    uri.authority()
        .map_or_else(|| "the server".to_string(), |a| a.as_str().to_string())
}
