//! Transport failures in plain words: what happened, and to which host.
//!
//! hyper's own errors say `client error (Connect)`; the cause that matters to a reader
//! ("connection refused", "dns error", a TLS certificate problem) sits several sources down.
//! [`classify`] walks that chain once and states it in the error's `Display`, keeping the
//! original error as its `source()`.
//!
//! Each failure also records how far the exchange had got ([`FailedAt`]), read from the
//! error's type and where it was raised, never from its text: a retry needs to know whether
//! the request can have reached the server.

use crate::error::{Error, TimeoutStage};

/// How far an exchange had got when it failed. A request that never left can be sent again
/// whatever it does; one the server may have received only if it is idempotent; and once an
/// answer has begun, the server has answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailedAt {
    /// Opening the connection (DNS, TCP or TLS): nothing of the request was sent.
    Connect,
    /// The request may have been sent, and the answer's headers had not arrived: a reset or
    /// close before them, or the response limit.
    BeforeAnswer,
    /// The answer's headers had arrived (the body broke, stalled or was too large), or the
    /// point of failure is not known.
    DuringAnswer,
}

/// A failed exchange with a host, described for a reader.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub(crate) struct TransportError {
    what: String,
    at: FailedAt,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// A failure after the answer's headers arrived (the body cap, for one).
    pub(crate) fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            at: FailedAt::DuringAnswer,
            source: None,
        }
    }

    fn caused_by(
        what: String,
        at: FailedAt,
        source: Box<dyn std::error::Error + Send + Sync>,
    ) -> Self {
        Self {
            what,
            at,
            source: Some(source),
        }
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
    /// The connection closed before it could carry the request (hyper's "canceled").
    canceled: bool,
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
                // hyper's chunked decoder, and rustls for a close without close_notify.
                std::io::ErrorKind::UnexpectedEof => self.incomplete = true,
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
            self.canceled |= hyper.is_canceled();
        }
        // hyper-util names a failed lookup only in its text.
        self.dns |= err.to_string() == "dns error";
        self.innermost = err.to_string();
    }
}

/// A TLS failure in plain words. The certificate alerts a server sends are about the
/// certificate the client presented (problems with the server's own certificate are found by
/// the client, and are not alerts): say so, since the fix is on the client's side.
pub(super) fn describe_tls(e: &rustls::Error) -> String {
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
///
/// A failure that is not a connect failure counts as [`FailedAt::DuringAnswer`]; the sending
/// of a request uses [`classify_unanswered`], which knows no answer had arrived.
pub(crate) fn classify(
    host: &str,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    classify_at(host, e.into(), FailedAt::DuringAnswer)
}

/// [`classify`] for a failure while waiting for an answer's headers: what is not a connect
/// failure is [`FailedAt::BeforeAnswer`]. `last_tls_alert` is what the server last said on
/// another of the pool's connections ([`super::connect::TlsAlerts`]): it names the cause of a
/// connection that died before it carried the request.
pub(crate) fn classify_unanswered(
    host: &str,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    last_tls_alert: Option<String>,
) -> Error {
    let e = e.into();
    let mut causes = read_causes(e.as_ref());
    if causes.canceled && causes.tls.is_none() {
        causes.tls = last_tls_alert;
    }
    describe(host, causes, e, FailedAt::BeforeAnswer)
}

fn classify_at(
    host: &str,
    e: Box<dyn std::error::Error + Send + Sync>,
    otherwise: FailedAt,
) -> Error {
    describe(host, read_causes(e.as_ref()), e, otherwise)
}

fn describe(
    host: &str,
    causes: Causes,
    e: Box<dyn std::error::Error + Send + Sync>,
    otherwise: FailedAt,
) -> Error {
    if causes.connect && causes.timed_out {
        return Error::Timeout(TimeoutStage::Connect);
    }
    // hyper-util marks every failure of its connector, and only those, as a connect error.
    let at = if causes.connect {
        FailedAt::Connect
    } else {
        otherwise
    };
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
    TransportError::caused_by(what, at, e).into()
}

/// How far the exchange of a failed call had got, when the failure came from the exchange.
pub(crate) fn failed_at(e: &Error) -> Option<FailedAt> {
    match e {
        Error::Timeout(TimeoutStage::Connect) => Some(FailedAt::Connect),
        Error::Timeout(TimeoutStage::Response) => Some(FailedAt::BeforeAnswer),
        Error::Transport(inner) => inner.downcast_ref::<TransportError>().map(|t| t.at),
        _ => None,
    }
}

/// The `host[:port]` of a request, for messages.
pub(crate) fn host_of(uri: &http::Uri) -> String {
    uri.authority()
        .map_or_else(|| "the server".to_string(), |a| a.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;

    /// What hyper says of a request whose connection died before carrying it: "connection
    /// was not ready", marked canceled.
    async fn request_on_a_dead_connection() -> hyper::Error {
        let (client, _server) = tokio::io::duplex(64);
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(client))
                .await
                .unwrap();
        drop(connection);
        sender
            .send_request(http::Request::new(Full::<Bytes>::default()))
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_connection_that_died_before_the_request_is_named_by_the_pools_last_alert() {
        let refused = describe_tls(&rustls::Error::AlertReceived(
            rustls::AlertDescription::CertificateRequired,
        ));

        let e = request_on_a_dead_connection().await;
        assert!(e.is_canceled(), "{e:?}");
        let err = classify_unanswered("api.mch.weixin.qq.com", e, Some(refused.clone()));
        assert_eq!(
            err.to_string(),
            format!("TLS with api.mch.weixin.qq.com failed: {refused}")
        );
        assert_eq!(failed_at(&err), Some(FailedAt::BeforeAnswer));

        // Without an alert noted, the plain words; an alert never stands in for another
        // failure.
        let err = classify_unanswered("h", request_on_a_dead_connection().await, None);
        assert!(!err.to_string().contains("TLS"), "{err}");
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let err = classify_unanswered("h", reset, Some(refused));
        assert_eq!(
            err.to_string(),
            "h reset the connection before the answer was complete"
        );
    }
}
