//! Micro-benchmarks of each part of a call, to compare with the one unavoidable cost: the
//! RSA-2048 signature. Run with `cargo bench -p wechatpay-benches --bench client`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use wechatpay::crypto::{Formatter, Rsa};
use wechatpay::http::{HeaderMap, Method};
use wechatpay::{json, Client, PlatformKeys};

const PUB_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000";

fn fixture(name: &str) -> String {
    format!(
        "file://{}/../tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn client() -> Client {
    Client::builder()
        .mchid("1900000001")
        .serial("1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C")
        .private_key(fixture("merchant_pkcs8.pem"))
        .cert(PUB_KEY_ID, fixture("platform_public.pem"))
        .build()
        .expect("fixture client")
}

fn crypto(c: &mut Criterion) {
    let merchant = Rsa::from_private(&fixture("merchant_pkcs8.pem")).expect("key");
    let message = Formatter::request(
        "POST",
        "/v3/marketing/membercard-open/cards/pbLatjvWOibDc5-TBnbUk1pD12o0/codes/478515832665/unavailable",
        1_700_000_000,
        "593BEC0C930BF1AFEB40B4A08C8FB242",
        br#"{"reason":"\u7528\u6237\u8fdd\u53cd\u4f1a\u5458\u6761\u4f8b"}"#,
    );
    c.bench_function("sign/rsa2048", |b| {
        b.iter(|| merchant.sign(black_box(&message)))
    });

    let platform = Rsa::from_private(&fixture("platform_private.pem")).expect("key");
    let body =
        br#"{"mchid":"1900000001","service_id":12535,"out_contract_code":"wxwtdk20200910100000"}"#;
    let now = Formatter::timestamp();
    let nonce = Formatter::nonce(32);
    let signature = Rsa::sign(
        &Formatter::response(&now.to_string(), &nonce, body),
        &platform,
    )
    .expect("sign");
    let mut headers = HeaderMap::new();
    headers.insert(
        "Wechatpay-Timestamp",
        now.to_string().parse().expect("header"),
    );
    headers.insert("Wechatpay-Nonce", nonce.parse().expect("header"));
    headers.insert("Wechatpay-Serial", PUB_KEY_ID.parse().expect("header"));
    headers.insert("Wechatpay-Signature", signature.parse().expect("header"));
    let keys = PlatformKeys::new();
    keys.insert(PUB_KEY_ID, platform.public_key());
    c.bench_function("verify/response", |b| {
        b.iter(|| wechatpay::verify::verify_response(&headers, black_box(body), now, 300, &keys))
    });
    c.bench_function("formatter/nonce32", |b| b.iter(|| Formatter::nonce(32)));
}

fn chain_and_assembly(c: &mut Criterion) {
    let wxpay = client();
    const TEMPLATE: &str = "v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable";
    c.bench_function("chain/string", |b| {
        b.iter(|| wxpay.chain(black_box(TEMPLATE)))
    });
    c.bench_function("chain/index", |b| {
        b.iter(|| wxpay[black_box(TEMPLATE)].path().len())
    });
    c.bench_function("chain/method", |b| {
        b.iter(|| {
            black_box(&wxpay)
                .v3()
                .marketing()
                .membercard_open()
                .cards()
                ._card_id_()
                .codes()
                ._code_()
                .unavailable()
        })
    });

    let vars_only = json!({"card_id": "pbLatjvWOibDc5-TBnbUk1pD12o0", "code": "478515832665"});
    let chain = wxpay.chain(TEMPLATE);
    c.bench_function("template/expand", |b| {
        b.iter(|| {
            chain
                .build(Method::POST, black_box(&vars_only))
                .expect("builds")
        })
    });
    let full = json!({
        "card_id": "pbLatjvWOibDc5-TBnbUk1pD12o0",
        "code": "478515832665",
        "query": {"sub_mchid": "1900000109", "limit": 10},
        "headers": {"Idempotency-Key": "8f6d6f64-2a5c-4b5b-9a40-1e7b0c0b2f11"},
        "json": {"reason": "用户违反会员条例", "amount": {"total": 100, "currency": "CNY"}},
    });
    c.bench_function("request/assemble", |b| {
        b.iter(|| chain.build(Method::POST, black_box(&full)).expect("builds"))
    });
}

fn config() -> Criterion {
    // Two cores: short windows keep the whole run to about a minute.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! { name = benches; config = config(); targets = crypto, chain_and_assembly }
criterion_main!(benches);
