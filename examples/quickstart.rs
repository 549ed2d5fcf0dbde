//! Quickstart: call WeChat Pay without an account, against the embedded simulator.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! It starts `wechatpay::mock::MockServer` (a local WeChat Pay on 127.0.0.1 with a demo
//! merchant), then calls the five seed endpoints in each of the six styles wechatpay-php
//! documents: method chain, string path and index, each blocking and async. Every answer is
//! signed by the simulator and verified by the client before it is printed.
//!
//! The seed endpoints change state (a member card code becomes unavailable once), so each
//! style runs against a fresh simulator that starts with the seed documents' sample values.

use std::future::Future;
use std::pin::Pin;

use wechatpay::mock::MockServer;
use wechatpay::{json, Client, Response, Result};

const UNBIND_CARD_LINK: &str = "v3/brand/card/card-links/unbind-card-link";
const DISASSOCIATE: &str = "v3/marketing/busifavor/coupons/disassociate";
const UNAVAILABLE: &str = "v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable";
const UNBIND_RECIPIENT: &str = "v3/brand/partner/store/brandstores/{store_id}/unbindrecipient";
const TERMINATE: &str =
    "v3/password-exempt-contract/contracts/service-id/{service_id}/out-contract-code/{out_contract_code}/terminate";

/// The options of each seed document's example, in wechatpay-php's shape.
fn sample(endpoint: &str) -> serde_json::Value {
    match endpoint {
        UNBIND_CARD_LINK => json!({"json": {
            "brand_id": "1004",
            "payment_scene": "MINI_PROGRAM",
            "appid": "wxea9c30890f48d5ae",
            "card_link_mchid": "111222333",
            "service_id": "00005000000000548218251086296300",
        }}),
        // The seed document leaves these empty; the simulator's sample coupon has these values.
        DISASSOCIATE => json!({"json": {
            "stock_id": "100088",
            "coupon_code": "sxxe34343434",
            "out_trade_no": "MCH_102233445",
            "out_request_no": "1002600620019090123143254435",
        }}),
        UNAVAILABLE => json!({
            "card_id": "pbLatjvWOibDc5-TBnbUk1pD12o0",
            "code": "478515832665",
            "json": {"reason": "用户违反会员条例"},
        }),
        UNBIND_RECIPIENT => json!({
            "store_id": "1234567890123456",
            "json": {"brand_id": "123456789", "mchid": "1230000109"},
        }),
        _ => json!({
            "service_id": "12535",
            "out_contract_code": "wxwtdk20200910100000",
            "json": {"contract_termination_remark": "用户解约"},
        }),
    }
}

const ENDPOINTS: [&str; 5] = [
    UNBIND_CARD_LINK,
    DISASSOCIATE,
    UNAVAILABLE,
    UNBIND_RECIPIENT,
    TERMINATE,
];

/// One line: style, endpoint, status, the key that verified the answer, and the body.
fn report(style: &str, endpoint: &str, response: &Response) {
    let body = match response.text() {
        Ok("") => "(no body)".to_string(),
        Ok(text) => text.to_string(),
        Err(_) => format!("({} bytes)", response.bytes().len()),
    };
    // The client has already checked the signature with the key this header names; an
    // answer that failed that check would have been an error instead.
    let key_id = response
        .headers()
        .get("wechatpay-serial")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?");
    println!(
        "{style:<22} POST {endpoint} -> {} verified ({key_id}) {body}",
        response.status().as_u16()
    );
}

/// 同步纯链式: the generated method chain, blocking.
fn chain_blocking(wxpay: &Client) -> Result<()> {
    let style = "method chain, blocking";
    let v3 = || wxpay.v3();
    let r = v3()
        .brand()
        .card()
        .card_links()
        .unbind_card_link()
        .post(sample(UNBIND_CARD_LINK))?;
    report(style, UNBIND_CARD_LINK, &r);
    let r = v3()
        .marketing()
        .busifavor()
        .coupons()
        .disassociate()
        .post(sample(DISASSOCIATE))?;
    report(style, DISASSOCIATE, &r);
    let r = v3()
        .marketing()
        .membercard_open()
        .cards()
        ._card_id_()
        .codes()
        ._code_()
        .unavailable()
        .post(sample(UNAVAILABLE))?;
    report(style, UNAVAILABLE, &r);
    let r = v3()
        .brand()
        .partner()
        .store()
        .brandstores()
        ._store_id_()
        .unbindrecipient()
        .post(sample(UNBIND_RECIPIENT))?;
    report(style, UNBIND_RECIPIENT, &r);
    let r = v3()
        .password_exempt_contract()
        .contracts()
        .service_id()
        ._service_id_()
        .out_contract_code()
        ._out_contract_code_()
        .terminate()
        .post(sample(TERMINATE))?;
    report(style, TERMINATE, &r);
    Ok(())
}

/// 异步纯链式: the generated method chain, async.
async fn chain_async(wxpay: Client) -> Result<()> {
    let style = "method chain, async";
    let v3 = || wxpay.v3();
    let r = v3()
        .brand()
        .card()
        .card_links()
        .unbind_card_link()
        .post_async(sample(UNBIND_CARD_LINK))
        .await?;
    report(style, UNBIND_CARD_LINK, &r);
    let r = v3()
        .marketing()
        .busifavor()
        .coupons()
        .disassociate()
        .post_async(sample(DISASSOCIATE))
        .await?;
    report(style, DISASSOCIATE, &r);
    let r = v3()
        .marketing()
        .membercard_open()
        .cards()
        ._card_id_()
        .codes()
        ._code_()
        .unavailable()
        .post_async(sample(UNAVAILABLE))
        .await?;
    report(style, UNAVAILABLE, &r);
    let r = v3()
        .brand()
        .partner()
        .store()
        .brandstores()
        ._store_id_()
        .unbindrecipient()
        .post_async(sample(UNBIND_RECIPIENT))
        .await?;
    report(style, UNBIND_RECIPIENT, &r);
    let r = v3()
        .password_exempt_contract()
        .contracts()
        .service_id()
        ._service_id_()
        .out_contract_code()
        ._out_contract_code_()
        .terminate()
        .post_async(sample(TERMINATE))
        .await?;
    report(style, TERMINATE, &r);
    Ok(())
}

/// 同步声明式: `wxpay.chain("v3/...")`, blocking.
fn path_blocking(wxpay: &Client) -> Result<()> {
    for endpoint in ENDPOINTS {
        let r = wxpay.chain(endpoint).post(sample(endpoint))?;
        report("string path, blocking", endpoint, &r);
    }
    Ok(())
}

/// 异步声明式: `wxpay.chain("v3/...")`, async.
async fn path_async(wxpay: Client) -> Result<()> {
    for endpoint in ENDPOINTS {
        let r = wxpay.chain(endpoint).post_async(sample(endpoint)).await?;
        report("string path, async", endpoint, &r);
    }
    Ok(())
}

/// 同步属性式: `wxpay["v3/..."]`, blocking.
fn index_blocking(wxpay: &Client) -> Result<()> {
    for endpoint in ENDPOINTS {
        let r = wxpay[endpoint].post(sample(endpoint))?;
        report("index, blocking", endpoint, &r);
    }
    Ok(())
}

/// 异步属性式: `wxpay["v3/..."]`, async.
async fn index_async(wxpay: Client) -> Result<()> {
    for endpoint in ENDPOINTS {
        let r = wxpay[endpoint].post_async(sample(endpoint)).await?;
        report("index, async", endpoint, &r);
    }
    Ok(())
}

type AsyncStyle = fn(Client) -> Pin<Box<dyn Future<Output = Result<()>>>>;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    // Blocking styles need no runtime at all.
    let blocking_styles: [fn(&Client) -> Result<()>; 3] =
        [chain_blocking, path_blocking, index_blocking];
    for style in blocking_styles {
        let mock = MockServer::start_blocking()?; // fresh state for each style
        let wxpay = mock.client_builder().build()?; // the demo merchant, trusting the simulator's key
        style(&wxpay)?;
    }

    // Async styles run on any executor; here, a small tokio runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let async_styles: [AsyncStyle; 3] = [
        |c| Box::pin(chain_async(c)),
        |c| Box::pin(path_async(c)),
        |c| Box::pin(index_async(c)),
    ];
    for style in async_styles {
        runtime.block_on(async {
            let mock = MockServer::start().await?;
            let wxpay = mock.client_builder().build()?;
            style(wxpay).await
        })?;
    }
    Ok(())
}
