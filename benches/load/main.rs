//! End-to-end load bench: real calls through the client (sign, send over TLS, verify) against
//! loopback servers that answer with one pre-signed response, so the server costs almost
//! nothing and the client's own work is what is measured.
//!
//! Run with `cargo bench -p wechatpay-benches --bench load`. It prints a table and, as its last line, one JSON
//! object with every figure. `LOAD_SECONDS` (default 3) sets the length of each phase.
//! docs/performance.md explains the method.

mod calls;
mod floors;
mod machine;
mod servers;
mod tally;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use wechatpay::Client;

use crate::calls::{async_rate, blocking_rate, builder_for, client_for, opts, Presigned, PATH};
use crate::floors::{sign_rate, tls_round_trip_rate, verify_rate};
use crate::machine::{reset_peak_rss, rss, Placement};
use crate::servers::{fixture, HyperServer, Identity, LeanServer, PUB_KEY_ID};
use crate::tally::{interleave, Rate, Tally};

/// Where the bare TLS round trip sits in the measured works: the calls come before it and the
/// presigned calls after it, in the same order.
const TLS: usize = 5;

/// How many slices each sequential measurement is cut into.
const ROUNDS: u32 = 12;

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes every bench binary
    }
    let window = Duration::from_secs_f64(
        std::env::var("LOAD_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3.0),
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let placement = Placement::current();
    let identity = Identity::new();
    let hyper = HyperServer::start(&identity);
    let lean = LeanServer::start(&identity);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("rt");

    // Build a client from PEM and make its first call; time the TLS setup on its own.
    let started = Instant::now();
    let wxpay = client_for(&identity, hyper.port);
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    wxpay.chain(PATH).post(opts()).expect("first call");
    let first_call_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    wxpay.chain(PATH).post(opts()).expect("second call");
    let warm_call_ms = started.elapsed().as_secs_f64() * 1e3;
    let connect_ms = (first_call_ms - warm_call_ms).max(0.0);

    // Sequential calls go to the lean server through both pools: connections the calls drive
    // themselves (`http1_only`), and the default pool's connection tasks.
    let lean_h1 = builder_for(&identity, lean.port)
        .http1_only()
        .build()
        .expect("client");
    let lean_tasks = client_for(&identity, lean.port);
    // The same two, signing with a signature made in advance: the rest of a call, measured
    // directly rather than as the difference of two rates.
    let presigned_h1 = builder_for(&identity, lean.port)
        .signer(Presigned::new())
        .http1_only()
        .build()
        .expect("client");
    let presigned_tasks = builder_for(&identity, lean.port)
        .signer(Presigned::new())
        .build()
        .expect("client");
    for client in [&lean_h1, &lean_tasks, &presigned_h1, &presigned_tasks] {
        client.chain(PATH).post(opts()).expect("lean server call");
    }

    if std::env::var_os("LOAD_PROFILE").is_some() {
        // Only the sequential calls of target 1, for a profiler to look at.
        placement.one_cpu();
        let rate = blocking_rate(&lean_h1, 1, window).per_s();
        println!("profile run: {rate:.0} sequential blocking calls/s on one CPU");
        return;
    }

    // Target 1. Signing and sequential calls are measured in slices taken in turn, so that
    // the machine's drift touches both alike; first with every thread on one CPU, then on all.
    let lean_cpu = || lean.cpu();
    let hyper_cpu = || hyper.cpu();
    let sign = |w| sign_rate(w);
    let h1_async = |w| async_rate(&rt, &lean_h1, 1, w);
    let h1_blocking = |w| blocking_rate(&lean_h1, 1, w);
    let tasks_async = |w| async_rate(&rt, &lean_tasks, 1, w);
    let tasks_blocking = |w| blocking_rate(&lean_tasks, 1, w);
    let tls = |w| tls_round_trip_rate(&identity, lean.port, w);
    let rest_h1_async = |w| async_rate(&rt, &presigned_h1, 1, w);
    let rest_h1_blocking = |w| blocking_rate(&presigned_h1, 1, w);
    let rest_tasks_async = |w| async_rate(&rt, &presigned_tasks, 1, w);
    let rest_tasks_blocking = |w| blocking_rate(&presigned_tasks, 1, w);
    let works: [&dyn Fn(Duration) -> Rate; 10] = [
        &sign,
        &h1_async,
        &h1_blocking,
        &tasks_async,
        &tasks_blocking,
        &tls,
        &rest_h1_async,
        &rest_h1_blocking,
        &rest_tasks_async,
        &rest_tasks_blocking,
    ];
    let cpu = placement.one_cpu();
    let one = interleave(window, ROUNDS, &lean_cpu, &works);
    placement.spread();
    let all = interleave(window, ROUNDS, &lean_cpu, &works);
    let verifies = verify_rate(&identity, window).per_s();

    // Throughput over HTTP/2 (the hyper server), every CPU.
    let mut h2_c1 = Tally::default();
    h2_c1.add(&hyper_cpu, &|| async_rate(&rt, &wxpay, 1, window));
    let h2_c4 = async_rate(&rt, &wxpay, 4, window).per_s();
    let h2_c64 = async_rate(&rt, &wxpay, 64, window).per_s();
    let h2_t4 = blocking_rate(&wxpay, 4, window).per_s();

    let (sign_one, sign_all) = (one[0], all[0]);
    let signs = sign_one.per_s();
    let (sign_us, verify_us, tls_us) = (sign_one.us(), 1e6 / verifies, one[TLS].us());
    let ceiling = sign_us / (sign_us + verify_us + tls_us);
    // The client's CPU beyond the signature, the check and a bare TLS round trip.
    let own_us = one[2].client_us() - sign_one.client_us() - verify_us - one[TLS].client_us();
    println!(
        "backend {} on {cores} cores; RSA-2048 signs/s on one thread: {signs:.0} on one CPU, {:.0} on all; \
         checks of a signed answer/s: {verifies:.0}",
        wechatpay::crypto::BACKEND,
        sign_all.per_s(),
    );
    const DOORS: [&str; 4] = [
        "async,    http1_only  ",
        "blocking, http1_only  ",
        "async,    default pool",
        "blocking, default pool",
    ];
    println!(
        "sequential calls, every thread on CPU {cpu}, HTTP/1.1 to the lean server (target 1):"
    );
    for ((door, t), rest) in DOORS.iter().zip(&one[1..TLS]).zip(&one[TLS + 1..]) {
        println!(
            "  {door}: {:>6.0} calls/s = {:.3} of the sign rate; the rest of a call {:>3.0} us = {:.3} of a signature \
             (measured alone: {:>3.0} us, {:.3})",
            t.per_s(),
            t.per_s() / signs,
            t.us() - sign_us,
            (t.us() - sign_us) / sign_us,
            rest.us(),
            rest.us() / sign_us,
        );
    }
    println!(
        "  floor: one signature {sign_us:.0} us + one check {verify_us:.0} us + a bare TLS round trip \
         {tls_us:.0} us; no verified client can exceed {ceiling:.3} of the sign rate here"
    );
    println!(
        "  CPU per blocking http1_only call: client {:.0} us = signature {:.0} + check {verify_us:.0} \
         + bare TLS round trip {:.0} + the rest {own_us:.0} ({:.3} of a signature); server {:.0} us",
        one[2].client_us(),
        sign_one.client_us(),
        one[TLS].client_us(),
        own_us / sign_one.client_us(),
        one[2].server_us()
    );
    println!(
        "the same on all {cores} CPUs, where each round trip also wakes an idle vCPU \
         (bare TLS round trip {:.0} us):",
        all[TLS].us()
    );
    for ((door, t), rest) in DOORS.iter().zip(&all[1..TLS]).zip(&all[TLS + 1..]) {
        println!(
            "  {door}: {:>6.0} calls/s = {:.3} of the sign rate; client CPU {:.0} us, server {:.0} us \
             (the rest of a call measured alone: {:.0} us)",
            t.per_s(),
            t.per_s() / sign_all.per_s(),
            t.client_us(),
            t.server_us(),
            rest.us(),
        );
    }
    println!("HTTP/2 to the hyper server, all CPUs:");
    for (label, rate) in [
        ("async    concurrency  1", h2_c1.per_s()),
        ("async    concurrency  4", h2_c4),
        ("async    concurrency 64", h2_c64),
        ("blocking threads      4", h2_t4),
    ] {
        println!(
            "  {label}: {rate:>8.0} calls/s  ({:.2} of one thread's sign rate)",
            rate / sign_all.per_s()
        );
    }

    // 10,000 requests in flight at once: the server holds each answer for a second.
    hyper.delay.store(1000, Ordering::Relaxed);
    let in_flight = 10_000usize;
    let (rss_before, _) = rss();
    reset_peak_rss();
    let started = Instant::now();
    let (ok, failed) = rt.block_on(async {
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| tokio::spawn(wxpay.chain(PATH).post_async(opts())))
            .collect();
        let (mut ok, mut failed) = (0usize, 0usize);
        for t in tasks {
            match t.await {
                Ok(Ok(_)) => ok += 1,
                _ => failed += 1,
            }
        }
        (ok, failed)
    });
    let in_flight_secs = started.elapsed().as_secs_f64();
    let (_, rss_peak) = rss();
    let bytes_per_request = rss_peak.saturating_sub(rss_before) as f64 / in_flight as f64;
    hyper.delay.store(0, Ordering::Relaxed);
    println!(
        "{in_flight} in flight: {ok} ok, {failed} failed in {in_flight_secs:.1} s; ~{:.1} KiB per in-flight request",
        bytes_per_request / 1024.0
    );

    // Many merchants in one process, one pool.
    let merchants = 10_000usize;
    let pem = std::fs::read_to_string(fixture("merchant_pkcs8.pem").trim_start_matches("file://"))
        .expect("pem");
    let platform_pem =
        std::fs::read_to_string(fixture("platform_public.pem").trim_start_matches("file://"))
            .expect("pem");
    let (rss_before, _) = rss();
    let started = Instant::now();
    let clients: Vec<Client> = (0..merchants)
        .map(|i| {
            Client::builder()
                .mchid(format!("19{i:08}"))
                .serial("1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C")
                .private_key(pem.clone())
                .cert(PUB_KEY_ID, platform_pem.clone())
                .base_uri(format!("https://localhost:{}/", hyper.port))
                .share_pool(&wxpay)
                .build()
                .expect("merchant client")
        })
        .collect();
    let merchants_build_secs = started.elapsed().as_secs_f64();
    let (rss_after, _) = rss();
    let bytes_per_merchant = rss_after.saturating_sub(rss_before) as f64 / merchants as f64;
    for c in clients.iter().step_by(1000) {
        c.chain(PATH)
            .post(opts())
            .expect("merchant call over the shared pool");
    }
    println!(
        "{merchants} merchants: built in {merchants_build_secs:.2} s, ~{:.1} KiB each, one shared pool",
        bytes_per_merchant / 1024.0
    );
    println!(
        "client from PEM: build {build_ms:.2} ms, first call {first_call_ms:.2} ms (of which TLS+TCP setup ~{connect_ms:.2} ms), warm call {warm_call_ms:.2} ms"
    );
    drop(clients);

    let sequential = |t: &Tally, sign: &Tally| {
        json!({
            "rest_of_call_us": (t.us() - sign.us()).round(),
            "calls_per_s": t.per_s().round(),
            "ratio_to_sign": round3(t.per_s() / sign.per_s()),
            "rest_of_call_in_signatures": round3((t.us() - sign.us()) / sign.us()),
            "client_cpu_us": t.client_us().round(),
            "server_cpu_us": t.server_us().round(),
        })
    };
    // The presigned calls, in the order of `works`.
    let measured_alone = |t: &[Tally]| {
        json!({
            "async_http1_only": t[TLS + 1].us().round(),
            "blocking_http1_only": t[TLS + 2].us().round(),
            "async_default_pool": t[TLS + 3].us().round(),
            "blocking_default_pool": t[TLS + 4].us().round(),
        })
    };
    let summary = json!({
        "backend": wechatpay::crypto::BACKEND,
        "cores": cores,
        "sign_per_s": signs.round(),
        "sign_cpu_us": sign_one.client_us().round(),
        "verify_per_s": verifies.round(),
        "ratio_sequential_to_sign": round3(one[1].per_s() / signs),
        "ratio_blocking_sequential_to_sign": round3(one[2].per_s() / signs),
        "sequential_one_cpu": {
            "async_http1_only": sequential(&one[1], &sign_one),
            "blocking_http1_only": sequential(&one[2], &sign_one),
            "async_default_pool": sequential(&one[3], &sign_one),
            "blocking_default_pool": sequential(&one[4], &sign_one),
            "rest_of_call_measured_alone_us": measured_alone(&one),
            "tls_round_trip_us": tls_us.round(),
            "ceiling_ratio": round3(ceiling),
            "rest_of_client_cpu_us": own_us.round(),
        },
        "sequential_all_cpus": {
            "sign_per_s": sign_all.per_s().round(),
            "async_http1_only": sequential(&all[1], &sign_all),
            "blocking_http1_only": sequential(&all[2], &sign_all),
            "async_default_pool": sequential(&all[3], &sign_all),
            "blocking_default_pool": sequential(&all[4], &sign_all),
            "rest_of_call_measured_alone_us": measured_alone(&all),
            "tls_round_trip_us": all[4].us().round(),
        },
        "http2_calls_per_s": {
            "async": {"c1": h2_c1.per_s().round(), "c4": h2_c4.round(), "c64": h2_c64.round()},
            "blocking": {"t4": h2_t4.round()},
            "c1_cpu_us": {"client": h2_c1.client_us().round(), "server": h2_c1.server_us().round()},
        },
        "in_flight": {"requests": in_flight, "ok": ok, "failed": failed, "bytes_per_request": bytes_per_request.round()},
        "merchants": {"clients": merchants, "bytes_per_merchant": bytes_per_merchant.round(), "build_seconds": merchants_build_secs},
        "first_call": {"build_ms": build_ms, "first_call_ms": first_call_ms, "connect_ms": connect_ms, "warm_call_ms": warm_call_ms,
                        "beyond_connection_ms": build_ms + first_call_ms - connect_ms},
    });
    println!("{summary}");
}
