//! Real calls through the crate: signed, sent over TLS, answered, verified.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wechatpay::{Client, ClientBuilder};

use crate::servers::{fixture, Identity, PUB_KEY_ID};
use crate::tally::Rate;

pub const PATH: &str = "v3/password-exempt-contract/contracts/service-id/{service_id}/out-contract-code/{out_contract_code}/terminate";

pub fn opts() -> serde_json::Value {
    json!({
        "service_id": 12535,
        "out_contract_code": "wxwtdk20200910100000",
        "json": {"contract_termination_remark": "用户解约"},
    })
}

/// A merchant's client for the server on `port`, trusting the bench's certificate.
pub fn client_for(identity: &Identity, port: u16) -> Client {
    builder_for(identity, port).build().expect("client")
}

pub fn builder_for(identity: &Identity, port: u16) -> ClientBuilder {
    Client::builder()
        .mchid("1900000001")
        .serial("1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C")
        .private_key(fixture("merchant_pkcs8.pem"))
        .cert(PUB_KEY_ID, fixture("platform_public.pem"))
        .base_uri(format!("https://localhost:{port}/"))
        .root_certificate(identity.root_pem.as_bytes().to_vec())
        .timeout(Duration::from_secs(120))
}

/// Hands back one signature made in advance. A client signing with it does everything a call
/// does except the RSA signature, so its calls measure the rest of a call directly (the lean
/// server does not check signatures).
#[derive(Debug)]
pub struct Presigned(Vec<u8>);

impl Presigned {
    pub fn new() -> Self {
        let key = wechatpay::crypto::Rsa::from_private(&fixture("merchant_pkcs8.pem"))
            .expect("merchant key");
        Presigned(key.sign(b"any message").expect("signature"))
    }
}

impl wechatpay::sign::Signer for Presigned {
    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, wechatpay::error::KeyError> {
        Ok(self.0.clone())
    }
}

/// Calls per second with `concurrency` async calls in flight, each task calling back to back.
pub fn async_rate(
    rt: &tokio::runtime::Runtime,
    wxpay: &Client,
    concurrency: usize,
    window: Duration,
) -> Rate {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let chain = wxpay.chain(PATH);
                let done = Arc::clone(&done);
                tokio::spawn(async move {
                    let opts = opts();
                    while started.elapsed() < window {
                        chain.post_async(&opts).await.expect("call succeeds");
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    Rate {
        n: done.load(Ordering::Relaxed),
        secs: started.elapsed().as_secs_f64(),
    }
}

/// Calls per second from `threads` threads making blocking calls back to back.
pub fn blocking_rate(wxpay: &Client, threads: usize, window: Duration) -> Rate {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let chain = wxpay.chain(PATH);
            let done = Arc::clone(&done);
            s.spawn(move || {
                let opts = opts();
                while started.elapsed() < window {
                    chain.post(&opts).expect("call succeeds");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    Rate {
        n: done.load(Ordering::Relaxed),
        secs: started.elapsed().as_secs_f64(),
    }
}
