//! The transport: TLS with HTTP/2 by ALPN, pooled connections shared by clones, HTTP/1.1 only
//! on request, each time limit with its stage, the body cap, and errors in plain words.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{Fault, TestServer};
use wechatpay::error::TimeoutStage;
use wechatpay::{json, Error};

#[test]
fn tls_negotiates_http2_and_calls_verify() {
    let server = TestServer::start_tls();
    let wxpay = server.client();
    let r = wxpay.chain("v3/tls").get(()).unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(server.last().version, http::Version::HTTP_2);
    assert!(server.last().signature_ok);
}

#[test]
fn an_untrusted_certificate_is_a_transport_error_that_says_so() {
    let server = TestServer::start_tls();
    let wxpay = common::builder(&server.base_uri()).build().unwrap();
    let err = wxpay.chain("v3/tls").get(()).unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "TLS with localhost:{} failed: invalid peer certificate: UnknownIssuer",
            server.addr.port()
        )
    );
    assert!(server.seen().is_empty());
}

/// hyper-util hands an HTTP/1.1 connection back to its pool from a task once the answer has
/// been read; a call made before that task ran opens a connection of its own. Tests of reuse
/// give it the moment a caller making calls one after another would normally leave it.
fn settle() {
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn clones_share_one_pooled_connection() {
    let server = TestServer::start();
    let wxpay = server.client();
    let clone = wxpay.clone();
    wxpay.chain("v3/a").get(()).unwrap();
    settle();
    clone.chain("v3/b").get(()).unwrap();
    settle();
    wxpay.chain("v3/c").post(json!({"json": {}})).unwrap();
    settle();
    let ports: Vec<u16> = server.seen().iter().map(|s| s.remote.port()).collect();
    assert_eq!(ports.len(), 3);
    assert!(
        ports.iter().all(|p| *p == ports[0]),
        "one connection reused: {ports:?}"
    );
    assert_eq!(server.last().headers.get("connection"), None);
}

#[test]
fn a_body_over_the_cap_is_refused_naming_the_cap() {
    let server = TestServer::start();
    let wxpay = common::builder(&server.base_uri())
        .max_body_bytes(16)
        .build()
        .unwrap();
    let err = wxpay.chain("v3/long-echo").get(()).unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("than the 16-byte limit (`max_body_bytes`)") && text.contains("download"),
        "{text}"
    );
}

#[test]
fn clients_of_different_merchants_can_share_one_pool() {
    let server = TestServer::start();
    let first = server.client();
    let second = common::builder(&server.base_uri())
        .share_pool(&first)
        .build()
        .unwrap();
    first.chain("v3/a").get(()).unwrap();
    settle();
    second.chain("v3/b").get(()).unwrap();
    settle();
    let ports: Vec<u16> = server.seen().iter().map(|s| s.remote.port()).collect();
    assert_eq!(
        ports[0], ports[1],
        "the second client reused the first one's connection"
    );
}

#[test]
fn http1_only_keeps_a_tls_server_on_http1() {
    let server = TestServer::start_tls();
    let wxpay = common::builder(&server.base_uri())
        .root_certificate(server.tls_root_pem.clone().unwrap().into_bytes())
        .http1_only()
        .build()
        .unwrap();
    wxpay.chain("v3/tls").get(()).unwrap();
    assert_eq!(server.last().version, http::Version::HTTP_11);
}

// -- HTTP/1.1 only (`http1_only`) ---------------------------------------------------------

fn http1_client(server: &TestServer) -> wechatpay::Client {
    let mut b = common::builder(&server.base_uri()).http1_only();
    if let Some(pem) = &server.tls_root_pem {
        b = b.root_certificate(pem.as_bytes().to_vec());
    }
    b.build().unwrap()
}

fn remote_ports(server: &TestServer) -> Vec<u16> {
    server.seen().iter().map(|s| s.remote.port()).collect()
}

#[test]
fn http1_only_calls_over_tls_reuse_one_connection_and_set_host() {
    let server = TestServer::start_tls();
    let wxpay = http1_client(&server);
    let clone = wxpay.clone();
    assert_eq!(wxpay.chain("v3/a").get(()).unwrap().status(), 200);
    settle();
    assert_eq!(clone.chain("v3/b/204").delete(()).unwrap().status(), 204);
    settle();
    let r = wxpay
        .chain("v3/c")
        .post(json!({"json": {"amount": 1}, "query": {"x": "1"}}))
        .unwrap();
    assert_eq!(r.json::<serde_json::Value>().unwrap()["path"], "/v3/c?x=1");
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.version == http::Version::HTTP_11));
    assert!(seen.iter().all(|s| s.signature_ok), "{seen:?}");
    assert_eq!(seen[2].body.as_ref(), br#"{"amount":1}"#);
    assert_eq!(
        seen[0].headers.get("host").unwrap(),
        &format!("localhost:{}", server.addr.port())
    );
    let ports = remote_ports(&server);
    assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
}

#[test]
fn http1_only_over_plain_http_reuses_its_connection() {
    let server = TestServer::start();
    let wxpay = http1_client(&server);
    for _ in 0..3 {
        wxpay.chain("v3/a").get(()).unwrap();
        settle();
    }
    let ports = remote_ports(&server);
    assert_eq!(ports.len(), 3);
    assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
}

#[test]
fn http1_only_opens_a_new_connection_after_the_server_closes_one() {
    let server = TestServer::start();
    let wxpay = http1_client(&server);
    server.fault(Fault::Close);
    wxpay.chain("v3/a").get(()).unwrap();
    settle();
    wxpay.chain("v3/b").get(()).unwrap();
    settle();
    wxpay.chain("v3/c").get(()).unwrap();
    settle();
    let ports = remote_ports(&server);
    assert_ne!(ports[0], ports[1], "the closed connection was not reused");
    assert_eq!(ports[1], ports[2]);
}

#[test]
fn http1_only_errors_are_the_same_as_the_default_pools() {
    let server = TestServer::start();
    let wxpay = common::builder(&server.base_uri())
        .http1_only()
        .max_body_bytes(16)
        .build()
        .unwrap();
    let err = wxpay.chain("v3/long-echo").get(()).unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");

    let wxpay = common::builder(&server.base_uri())
        .http1_only()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    server.fault(Fault::Delay(Duration::from_millis(500)));
    let err = wxpay.chain("v3/slow").get(()).unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutStage::Total)),
        "{err:?}"
    );
    // The connection abandoned mid-call is not handed out again.
    assert_eq!(wxpay.chain("v3/after").get(()).unwrap().status(), 200);

    server.fault(Fault::Status(404, r#"{"code":"NOT_FOUND","message":"x"}"#));
    match wxpay.chain("v3/missing").get(()).unwrap_err() {
        Error::Api { status, code, .. } => {
            assert_eq!((status.as_u16(), code.as_str()), (404, "NOT_FOUND"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn http1_only_calls_from_many_threads_each_get_a_connection() {
    let server = TestServer::start();
    let wxpay = http1_client(&server);
    std::thread::scope(|s| {
        for t in 0..6 {
            let wxpay = wxpay.clone();
            s.spawn(move || {
                for i in 0..5 {
                    let r = wxpay
                        .chain("v3/t")
                        .post(json!({"json": {"t": t, "i": i}}))
                        .unwrap();
                    let echoed: serde_json::Value = r.json().unwrap();
                    assert_eq!(echoed["body"], format!(r#"{{"t":{t},"i":{i}}}"#));
                }
            });
        }
    });
    let mut ports = remote_ports(&server);
    assert_eq!(ports.len(), 30);
    ports.sort_unstable();
    ports.dedup();
    // Six threads never need more than six connections at once; hyper-util may open one
    // more while a finished call's connection is on its way back to the pool.
    assert!(ports.len() <= 12, "connections were not reused: {ports:?}");
}

#[test]
fn http1_only_async_calls_outlive_the_runtime_they_were_made_on() {
    let server = TestServer::start_tls();
    let wxpay = http1_client(&server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let statuses = rt.block_on(async {
        let mut statuses = Vec::new();
        for i in 0..4 {
            let path = format!("v3/async/{i}");
            statuses.push(wxpay.chain(&path).get_async(()).await.unwrap().status());
        }
        statuses
    });
    assert_eq!(statuses, [200; 4]);
    // A finished call's connection may still be on its way back to the pool when the next
    // call starts, so the four calls can use more than one connection; any of them will do.
    let before = remote_ports(&server);
    drop(rt);
    let again = tokio::runtime::Runtime::new().unwrap();
    let after = again.block_on(wxpay.chain("v3/after").get_async(()));
    assert_eq!(after.unwrap().status(), 200);
    let port = server.last().remote.port();
    assert!(
        before.contains(&port),
        "the call after the first runtime was dropped opened a new connection ({port}), \
         none of {before:?} survived"
    );
}

/// A raw HTTP/1.1 server that answers one request per connection with a signed `{}` and then
/// closes it without saying so (no `Connection: close`, no TLS close_notify), as a server does
/// with an idle connection it times out. Serves `connections` connections, then returns how
/// many it served.
fn serve_once_per_connection(
    listener: std::net::TcpListener,
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
    connections: usize,
) -> std::thread::JoinHandle<usize> {
    use std::io::{Read, Write};
    fn answer(stream: &mut (impl Read + Write)) {
        assert!(
            common::read_head(stream),
            "the client closed before a whole request"
        );
        let mut answer = String::from(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n",
        );
        for (name, value) in common::signature_headers(b"{}", 0) {
            answer.push_str(&format!("{name}: {value}\r\n"));
        }
        answer.push_str("\r\n{}");
        stream.write_all(answer.as_bytes()).unwrap();
        stream.flush().unwrap();
    }
    std::thread::spawn(move || {
        let mut served = 0;
        for stream in listener.incoming().take(connections) {
            let stream = stream.unwrap();
            match &tls {
                Some(config) => {
                    let session =
                        tokio_rustls::rustls::ServerConnection::new(config.clone()).unwrap();
                    answer(&mut tokio_rustls::rustls::StreamOwned::new(session, stream));
                }
                None => answer(&mut { stream }),
            }
            served += 1;
            // Dropping the stream closes the connection.
        }
        served
    })
}

#[test]
fn http1_only_replaces_a_pooled_connection_closed_while_idle() {
    for tls in [false, true] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (wxpay, server) = if tls {
            let (config, root) = common::localhost_tls(&[b"http/1.1"]);
            let wxpay = common::builder(&format!("https://localhost:{port}/"))
                .root_certificate(root.into_bytes())
                .http1_only()
                .build()
                .unwrap();
            (wxpay, serve_once_per_connection(listener, Some(config), 4))
        } else {
            let wxpay = common::builder(&format!("http://127.0.0.1:{port}/"))
                .http1_only()
                .build()
                .unwrap();
            (wxpay, serve_once_per_connection(listener, None, 4))
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        for path in ["v3/first", "v3/second"] {
            // Let the close reach the client before its next call, on either door.
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(
                wxpay.chain(path).get(()).unwrap().status(),
                200,
                "tls {tls}"
            );
            std::thread::sleep(Duration::from_millis(50));
            let status = rt
                .block_on(wxpay.chain(path).get_async(()))
                .unwrap()
                .status();
            assert_eq!(status, 200, "tls {tls}");
        }
        assert_eq!(server.join().unwrap(), 4, "tls {tls}");
    }
}

#[test]
fn http1_only_reaches_an_ipv6_literal() {
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let addr = listener.local_addr().unwrap();
    let server = serve_once_per_connection(listener, None, 2);
    let wxpay = common::builder(&format!("http://{addr}/"))
        .http1_only()
        .build()
        .unwrap();
    assert_eq!(wxpay.chain("v3/six").get(()).unwrap().status(), 200);
    // The server closes each connection after one answer; let the close arrive first.
    std::thread::sleep(Duration::from_millis(50));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt
        .block_on(wxpay.chain("v3/six").get_async(()))
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert_eq!(server.join().unwrap(), 2);
}

/// Bodies far larger than a socket buffer or a TLS record, so that writes and reads each wait
/// on the socket many times.
#[test]
fn http1_only_blocking_calls_carry_large_bodies_both_ways() {
    for server in [TestServer::start(), TestServer::start_tls()] {
        let mut builder = common::builder(&server.base_uri())
            .http1_only()
            .max_body_bytes(32 << 20);
        if let Some(pem) = &server.tls_root_pem {
            builder = builder.root_certificate(pem.as_bytes().to_vec());
        }
        let wxpay = builder.build().unwrap();
        for size in [1, 100_000, 12 << 20] {
            let blob: String = (0..size)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let r = wxpay
                .chain("v3/large")
                .post(json!({"json": {"blob": blob}}))
                .unwrap();
            let echoed: serde_json::Value = r.json().unwrap();
            let sent = format!(r#"{{"blob":"{blob}"}}"#);
            assert!(echoed["body"] == sent.as_str(), "size {size}");
        }
        assert!(server.seen().iter().all(|s| s.signature_ok));
    }
}

/// Calls each door and returns both errors.
fn both_doors(wxpay: &wechatpay::Client, path: &str) -> [Error; 2] {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let blocking = wxpay.chain(path).get(()).unwrap_err();
    let via_async = rt.block_on(wxpay.chain(path).get_async(())).unwrap_err();
    [blocking, via_async]
}

#[test]
fn connect_failures_are_typed_and_say_what_happened_on_both_doors() {
    // Nobody listens.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let wxpay = common::builder(&format!("http://127.0.0.1:{port}/"))
        .build()
        .unwrap();
    for err in both_doors(&wxpay, "v3/x") {
        assert!(matches!(err, Error::Transport(_)), "{err:?}");
        assert!(err.is_transport(), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("cannot connect to 127.0.0.1:{port}: connection refused")
        );
        // The cause underneath is still there for whoever walks the chain.
        assert!(std::error::Error::source(&err).is_some(), "{err:?}");
    }

    // A name that cannot resolve (RFC 6761 reserves `.invalid`).
    let wxpay = common::builder("https://wechatpay-test.invalid/")
        .build()
        .unwrap();
    for err in both_doors(&wxpay, "v3/x") {
        assert!(
            err.to_string()
                .starts_with("cannot resolve wechatpay-test.invalid: "),
            "{err}"
        );
    }

    // A certificate the client does not trust.
    let server = TestServer::start_tls();
    let wxpay = common::builder(&server.base_uri())
        .http1_only()
        .build()
        .unwrap();
    for err in both_doors(&wxpay, "v3/x") {
        assert!(matches!(err, Error::Transport(_)), "{err:?}");
        assert!(
            err.to_string().contains("invalid peer certificate"),
            "{err}"
        );
    }
    assert!(server.seen().is_empty());
}

/// The connect limit covers the whole of opening a connection: a server that accepts TCP and
/// never answers the TLS handshake is a connect timeout, well before the total limit.
#[test]
fn a_stalled_tls_handshake_is_a_connect_timeout() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let wxpay = common::builder(&format!("https://localhost:{port}/"))
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let started = Instant::now();
    for err in both_doors(&wxpay, "v3/x") {
        assert!(
            matches!(err, Error::Timeout(TimeoutStage::Connect)),
            "{err:?}"
        );
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(2 * 300 + 200),
        "{elapsed:?}"
    );
    drop(silent);
}

/// A raw server on loopback: each accepted connection is handed to `script` on a thread of
/// its own.
fn raw_server(script: fn(std::net::TcpStream)) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || script(stream));
        }
    });
    port
}

#[test]
fn headers_later_than_the_response_timeout_are_a_response_timeout() {
    let port = raw_server(|mut stream| {
        common::read_head(&mut stream);
        std::thread::sleep(Duration::from_secs(3));
    });
    let wxpay = common::builder(&format!("http://127.0.0.1:{port}/"))
        .response_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    for err in both_doors(&wxpay, "v3/x") {
        assert!(
            matches!(err, Error::Timeout(TimeoutStage::Response)),
            "{err:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_millis(2 * 200 + 250));
    // Per call, the option overrides the client's limit.
    let wxpay = common::builder(&format!("http://127.0.0.1:{port}/"))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = wxpay
        .chain("v3/x")
        .get(json!({"response_timeout": 0.2}))
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutStage::Response)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(450));
}

#[test]
fn a_body_that_stalls_is_a_read_timeout() {
    let port = raw_server(|mut stream| {
        common::read_head(&mut stream);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"a\":");
        std::thread::sleep(Duration::from_secs(3));
    });
    let wxpay = common::builder(&format!("http://127.0.0.1:{port}/"))
        .read_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    for err in both_doors(&wxpay, "v3/x") {
        assert!(matches!(err, Error::Timeout(TimeoutStage::Read)), "{err:?}");
    }
    assert!(started.elapsed() < Duration::from_millis(2 * 200 + 250));
}

/// An answer that declares more than the cap is refused at its headers, without waiting for
/// (or reading) the body.
#[test]
fn a_declared_length_over_the_cap_is_refused_at_the_headers() {
    let port = raw_server(|mut stream| {
        common::read_head(&mut stream);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 104857600\r\n\r\n");
        std::thread::sleep(Duration::from_secs(3));
    });
    let wxpay = common::builder(&format!("http://127.0.0.1:{port}/"))
        .build()
        .unwrap();
    let started = Instant::now();
    for err in both_doors(&wxpay, "v3/x") {
        let text = err.to_string();
        assert!(
            text.contains("declares 104857600 bytes, more than the 4 MiB limit"),
            "{text}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// A limit too long to add to the clock is no limit, not a panic, on either door.
#[test]
fn an_unbounded_timeout_is_accepted() {
    let server = TestServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for http1_only in [false, true] {
        let mut builder = common::builder(&server.base_uri())
            .timeout(Duration::MAX)
            .connect_timeout(Duration::MAX)
            .response_timeout(Duration::MAX)
            .read_timeout(Duration::MAX);
        if http1_only {
            builder = builder.http1_only();
        }
        let wxpay = builder.build().unwrap();
        assert_eq!(wxpay.chain("v3/a").get(()).unwrap().status(), 200);
        let status = rt
            .block_on(wxpay.chain("v3/b").get_async(()))
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
}
