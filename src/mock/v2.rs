//! The simulator's APIv2 endpoints: XML in, XML out, checked and signed with the demo
//! merchant's APIv2 key.
//!
//! | endpoint | behaviour |
//! | --- | --- |
//! | `pay/micropay` | a new `out_trade_no` answers `USERPAYING` (the order is then paid: `pay/orderquery` says `SUCCESS`); a repeat answers `ORDERPAID` |
//! | `pay/orderquery` | the order's fields, `trade_state` `SUCCESS`; `ORDERNOTEXIST` for an unknown one |
//! | `secapi/pay/refund` | demands the merchant API certificate over TLS; a refund of at most the paid amount succeeds |
//! | `pay/downloadbill` | the day's bill as unsigned text; a malformed `bill_date` is a `FAIL` |
//! | `mmpaymkttransfers/sendredpack` | 1 to 200 yuan from the red-packet balance (1000 yuan at the start); over the balance is `NOTENOUGH`; the answer is unsigned, as WeChat Pay's is |
//!
//! Every request is checked in WeChat Pay's order: the XML, the client certificate
//! (`secapi/`), the merchant, the `sign` (MD5 or HMAC-SHA256, per `sign_type`), then the
//! parameters. Failures use WeChat Pay's shapes: a bad `sign` is an unsigned
//! `return_code` `FAIL` with `err_code` `SIGNERROR`; a business failure is `return_code`
//! `SUCCESS`, `result_code` `FAIL`, `err_code` (`PARAM_ERROR`, `ORDERPAID`, `NOTENOUGH`,
//! `USERPAYING`, `ORDERNOTEXIST`) and `err_code_des`, signed like a success.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use http::StatusCode;

use super::credentials::demo;
use super::reply::Reply;
use super::server::Shared;
use super::tls::Connection;
use super::v2_sign::{self, SignType};
use crate::crypto::Formatter;
use crate::sync::lock;
use crate::v2::Transformer;

/// The APIv2 paths the simulator serves, as sent (without `v2/`).
const ENDPOINTS: &[&str] = &[
    "pay/micropay",
    "pay/orderquery",
    "secapi/pay/refund",
    "pay/downloadbill",
    "mmpaymkttransfers/sendredpack",
];

/// The sample order the simulator starts with, already paid.
pub(crate) const SAMPLE_OUT_TRADE_NO: &str = "1217752501201407033233368018";
const SAMPLE_TRANSACTION_ID: &str = "4200000000202611300000000001";
/// The red-packet balance the simulator starts with, in fen (1000 yuan).
pub(crate) const INITIAL_REDPACK_BALANCE: u64 = 100_000;

/// A paid order.
#[derive(Debug, Clone)]
struct Order {
    appid: String,
    transaction_id: String,
    total_fee: u64,
    time_end: String,
}

/// The state behind the APIv2 endpoints.
#[derive(Debug)]
pub(crate) struct V2State {
    /// Orders by `out_trade_no`.
    orders: HashMap<String, Order>,
    /// Red packets sent, by `mch_billno`, with their `send_listid`.
    red_packets: HashMap<String, String>,
    pub(crate) redpack_balance: u64,
    sequence: u64,
}

impl V2State {
    /// The state the simulator starts with: one paid sample order and a full balance.
    pub(crate) fn samples() -> Self {
        let mut orders = HashMap::new();
        orders.insert(
            SAMPLE_OUT_TRADE_NO.to_string(),
            Order {
                appid: "wxd678efh567hg6787".into(),
                transaction_id: SAMPLE_TRANSACTION_ID.into(),
                total_fee: 100,
                time_end: "20261130120000".into(),
            },
        );
        Self {
            orders,
            red_packets: HashMap::new(),
            redpack_balance: INITIAL_REDPACK_BALANCE,
            sequence: 0,
        }
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.sequence += 1;
        format!("{prefix}{:010}", self.sequence)
    }
}

/// Answers `path` when it is one of the APIv2 endpoints, `None` otherwise.
pub(crate) fn dispatch(
    shared: &Shared,
    parts: &http::request::Parts,
    body: &Bytes,
) -> Option<Reply> {
    let path = parts.uri.path().trim_start_matches('/');
    let endpoint = *ENDPOINTS.iter().find(|e| **e == path)?;
    if parts.method != http::Method::POST {
        return Some(fail(format!("{endpoint} takes POST, not {}", parts.method)));
    }
    let fields = match Transformer::to_map(body) {
        Ok(fields) => fields,
        Err(e) => {
            return Some(fail(format!(
                "XML格式错误 (the body is not APIv2 XML: {e})"
            )))
        }
    };
    if endpoint.starts_with("secapi/") {
        let connection = parts
            .extensions
            .get::<Connection>()
            .cloned()
            .unwrap_or_default();
        if let Some(refused) = certificate_problem(&connection) {
            return Some(fail(refused));
        }
    }
    let mch_id = fields.get("mch_id").map(String::as_str).unwrap_or_default();
    if mch_id != demo::MCHID {
        return Some(fail(format!(
            "mch_id参数错误: `{}` is not a merchant the simulator knows (its APIv2 merchant is {})",
            mch_id.chars().take(32).collect::<String>(),
            demo::MCHID
        )));
    }
    let Some(sign_type) = SignType::of(&fields) else {
        return Some(sign_error("sign_type must be MD5 or HMAC-SHA256"));
    };
    if !fields.contains_key("sign") {
        return Some(sign_error("the request has no sign"));
    }
    if !v2_sign::is_signed(&fields, demo::APIV2_KEY, sign_type) {
        return Some(sign_error(format!(
            "the sign does not match the fields under the APIv2 key ({})",
            match sign_type {
                SignType::Md5 => "MD5",
                SignType::HmacSha256 => "HMAC-SHA256",
            }
        )));
    }
    let request = Request {
        fields,
        sign_type,
        // WeChat Pay does not sign red packet answers (`v2::UNSIGNED_ANSWERS`).
        signs: !crate::v2::is_unsigned_answer(endpoint),
    };
    let mut state = lock(&shared.v2);
    Some(match endpoint {
        "pay/micropay" => micropay(&mut state, &request),
        "pay/orderquery" => orderquery(&state, &request),
        "secapi/pay/refund" => refund(&mut state, &request),
        "pay/downloadbill" => downloadbill(&state, &request),
        _ => sendredpack(&mut state, &request),
    })
}

/// Why a `secapi/` call is refused, if it is.
fn certificate_problem(connection: &Connection) -> Option<String> {
    match (&connection.client_certificate, connection.https) {
        (_, false) => Some(
            "证书错误: this API takes only HTTPS with the merchant API certificate (mutual TLS); \
             call the simulator's https_base_uri with \"security\": true"
                .into(),
        ),
        (None, true) => Some(
            "证书错误: no client certificate was presented; this API needs the merchant API \
             certificate (\"security\": true, ClientBuilder::merchant_cert)"
                .into(),
        ),
        (Some(serial), true) if !serial.eq_ignore_ascii_case(demo::MERCHANT_SERIAL) => {
            Some(format!(
                "证书错误: the client certificate (serial {serial}) is not the API certificate \
                 of merchant {}",
                demo::MCHID
            ))
        }
        (Some(_), true) => None,
    }
}

/// A checked request.
struct Request {
    fields: BTreeMap<String, String>,
    sign_type: SignType,
    /// Whether answers carry a `sign`.
    signs: bool,
}

impl Request {
    fn get(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", |v| v.trim())
    }

    /// The first of `names` that is missing or empty, as a `PARAM_ERROR`.
    fn require(&self, names: &[&str]) -> Result<(), Reply> {
        match names.iter().find(|n| self.get(n).is_empty()) {
            Some(name) => {
                Err(self.result_fail("PARAM_ERROR", format!("参数错误: `{name}` is required")))
            }
            None => Ok(()),
        }
    }

    /// A whole number of fen in `name`, at least 1.
    fn fee(&self, name: &str) -> Result<u64, Reply> {
        self.get(name)
            .parse::<u64>()
            .ok()
            .filter(|fee| *fee > 0)
            .ok_or_else(|| {
                self.result_fail(
                    "PARAM_ERROR",
                    format!("参数错误: `{name}` must be a positive whole number of fen"),
                )
            })
    }

    /// A signed success answer: the common fields, then `extra`.
    fn success(&self, extra: Vec<(&str, String)>) -> Reply {
        let mut fields = self.common("SUCCESS");
        fields.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        self.answer(fields)
    }

    /// A signed business failure: `return_code` SUCCESS, `result_code` FAIL.
    fn result_fail(&self, err_code: &str, description: impl Into<String>) -> Reply {
        let mut fields = self.common("FAIL");
        fields.push(("err_code".into(), err_code.into()));
        fields.push(("err_code_des".into(), description.into()));
        self.answer(fields)
    }

    fn answer(&self, fields: Vec<(String, String)>) -> Reply {
        if self.signs {
            signed_xml(fields, self.sign_type)
        } else {
            xml(fields)
        }
    }

    fn common(&self, result_code: &str) -> Vec<(String, String)> {
        let mut fields = vec![
            ("return_code".to_string(), "SUCCESS".to_string()),
            ("return_msg".into(), "OK".into()),
        ];
        for name in ["appid", "mch_id", "sub_mch_id", "device_info"] {
            let value = self.get(name);
            if !value.is_empty() {
                fields.push((name.into(), value.into()));
            }
        }
        fields.push(("nonce_str".into(), Formatter::nonce(16)));
        fields.push(("result_code".into(), result_code.into()));
        fields
    }
}

fn micropay(state: &mut V2State, request: &Request) -> Reply {
    let checked = request
        .require(&[
            "appid",
            "body",
            "out_trade_no",
            "total_fee",
            "spbill_create_ip",
            "auth_code",
        ])
        .and_then(|()| request.fee("total_fee"));
    let total_fee = match checked {
        Ok(fee) => fee,
        Err(reply) => return reply,
    };
    // 付款码: 18 digits starting with 10 to 15.
    let auth_code = request.get("auth_code");
    let valid_code = auth_code.len() == 18
        && auth_code.bytes().all(|b| b.is_ascii_digit())
        && matches!(
            auth_code.get(..2),
            Some("10" | "11" | "12" | "13" | "14" | "15")
        );
    if !valid_code {
        return request.result_fail(
            "PARAM_ERROR",
            "参数错误: `auth_code` must be the 18 digits of a payment code, starting 10 to 15",
        );
    }
    let out_trade_no = request.get("out_trade_no");
    if state.orders.contains_key(out_trade_no) {
        return request.result_fail("ORDERPAID", "订单已支付 (this out_trade_no is paid)");
    }
    let transaction_id = state.next_id("420000000020261130");
    state.orders.insert(
        out_trade_no.to_string(),
        Order {
            appid: request.get("appid").into(),
            transaction_id,
            total_fee,
            time_end: now_compact(),
        },
    );
    // The simulated payer enters the password at once: the order is paid, as
    // `pay/orderquery` shows, but this answer is the one a password prompt gives.
    request.result_fail(
        "USERPAYING",
        "需要用户输入支付密码 (query the order with pay/orderquery)",
    )
}

fn orderquery(state: &V2State, request: &Request) -> Reply {
    if let Err(reply) = request.require(&["appid"]) {
        return reply;
    }
    let found = match (request.get("transaction_id"), request.get("out_trade_no")) {
        ("", "") => {
            return request.result_fail(
                "PARAM_ERROR",
                "参数错误: `transaction_id` or `out_trade_no` is required",
            )
        }
        ("", out_trade_no) => state
            .orders
            .get(out_trade_no)
            .map(|o| (out_trade_no.to_string(), o)),
        (transaction_id, _) => state
            .orders
            .iter()
            .find(|(_, o)| o.transaction_id == transaction_id)
            .map(|(no, o)| (no.clone(), o)),
    };
    let Some((out_trade_no, order)) = found else {
        return request.result_fail("ORDERNOTEXIST", "此交易订单号不存在");
    };
    request.success(vec![
        ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()),
        ("is_subscribe", "N".into()),
        ("trade_type", "MICROPAY".into()),
        ("bank_type", "OTHERS".into()),
        ("total_fee", order.total_fee.to_string()),
        ("fee_type", "CNY".into()),
        ("cash_fee", order.total_fee.to_string()),
        ("transaction_id", order.transaction_id.clone()),
        ("out_trade_no", out_trade_no),
        ("time_end", order.time_end.clone()),
        ("trade_state", "SUCCESS".into()),
        ("trade_state_desc", "支付成功".into()),
    ])
}

fn refund(state: &mut V2State, request: &Request) -> Reply {
    let checked = request
        .require(&["appid", "out_refund_no", "total_fee", "refund_fee"])
        .and_then(|()| Ok((request.fee("total_fee")?, request.fee("refund_fee")?)));
    let (total_fee, refund_fee) = match checked {
        Ok(fees) => fees,
        Err(reply) => return reply,
    };
    let (transaction_id, out_trade_no) =
        (request.get("transaction_id"), request.get("out_trade_no"));
    if transaction_id.is_empty() && out_trade_no.is_empty() {
        return request.result_fail(
            "PARAM_ERROR",
            "参数错误: `transaction_id` or `out_trade_no` is required",
        );
    }
    if refund_fee > total_fee {
        return request.result_fail(
            "PARAM_ERROR",
            "参数错误: `refund_fee` is more than `total_fee`",
        );
    }
    let order = state
        .orders
        .iter()
        .find(|(no, o)| {
            (!out_trade_no.is_empty() && no.as_str() == out_trade_no)
                || (!transaction_id.is_empty() && o.transaction_id == transaction_id)
        })
        .map(|(no, o)| (no.clone(), o.clone()));
    let Some((out_trade_no, order)) = order else {
        return request.result_fail("ORDERNOTEXIST", "订单不存在");
    };
    if total_fee != order.total_fee {
        return request.result_fail(
            "PARAM_ERROR",
            format!(
                "参数错误: `total_fee` {total_fee} is not the order's {}",
                order.total_fee
            ),
        );
    }
    let out_refund_no = request.get("out_refund_no").to_string();
    let refund_id = state.next_id("500000000020261130");
    request.success(vec![
        ("transaction_id", order.transaction_id),
        ("out_trade_no", out_trade_no),
        ("out_refund_no", out_refund_no),
        ("refund_id", refund_id),
        ("refund_fee", refund_fee.to_string()),
        ("total_fee", total_fee.to_string()),
        ("cash_fee", total_fee.to_string()),
    ])
}

fn downloadbill(state: &V2State, request: &Request) -> Reply {
    let bill_date = request.get("bill_date");
    if bill_date.len() != 8 || !bill_date.bytes().all(|b| b.is_ascii_digit()) {
        // The bill endpoint's own failure shape: unsigned, with `error_code`.
        return xml(vec![
            ("return_code".into(), "FAIL".into()),
            ("return_msg".into(), "invalid bill_date".into()),
            ("error_code".into(), "20001".into()),
        ]);
    }
    let bill_type = match request.get("bill_type") {
        "" => "ALL",
        t @ ("ALL" | "SUCCESS" | "REFUND" | "RECHARGE_REFUND") => t,
        _ => {
            return xml(vec![
                ("return_code".into(), "FAIL".into()),
                ("return_msg".into(), "invalid bill_type".into()),
                ("error_code".into(), "20001".into()),
            ])
        }
    };
    let mut bill = String::from(
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率\r\n",
    );
    let mut orders: Vec<(&String, &Order)> = state.orders.iter().collect();
    orders.sort_by(|a, b| a.0.cmp(b.0));
    let mut total = 0u64;
    let listed = if bill_type == "REFUND" {
        &[][..]
    } else {
        &orders[..]
    };
    for (out_trade_no, order) in listed {
        total += order.total_fee;
        bill.push_str(&format!(
            "`{},`{},`{},`0,`,`{},`{},`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`MICROPAY,`SUCCESS,`OTHERS,`CNY,`{}.{:02},`0.00,`demo,`,`0.00,`0.60%\r\n",
            bill_date,
            order.appid,
            demo::MCHID,
            order.transaction_id,
            out_trade_no,
            order.total_fee / 100,
            order.total_fee % 100,
        ));
    }
    bill.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n");
    bill.push_str(&format!(
        "`{},`{}.{:02},`0.00,`0.00,`0.00,`{}.{:02},`0.00\r\n",
        listed.len(),
        total / 100,
        total % 100,
        total / 100,
        total % 100
    ));
    Reply {
        status: StatusCode::OK,
        body: Bytes::from(bill),
        content_type: Some("text/plain; charset=utf-8"),
        signed: false,
        extra: None,
    }
}

fn sendredpack(state: &mut V2State, request: &Request) -> Reply {
    let checked = request
        .require(&[
            "mch_billno",
            "wxappid",
            "send_name",
            "re_openid",
            "total_amount",
            "total_num",
            "wishing",
            "client_ip",
            "act_name",
            "remark",
        ])
        .and_then(|()| request.fee("total_amount"));
    let amount = match checked {
        Ok(amount) => amount,
        Err(reply) => return reply,
    };
    if request.get("total_num") != "1" {
        return request.result_fail(
            "PARAM_ERROR",
            "参数错误: `total_num` of a single red packet is 1",
        );
    }
    if !(100..=20_000).contains(&amount) {
        return request.result_fail(
            "PARAM_ERROR",
            "每个红包的平均金额必须在1.00元到200.00元之间 (`total_amount` is 100 to 20000 fen)",
        );
    }
    let billno = request.get("mch_billno").to_string();
    let send_listid = match state.red_packets.get(&billno) {
        // A repeated mch_billno is the same red packet: answered again, not paid twice.
        Some(id) => id.clone(),
        None => {
            if amount > state.redpack_balance {
                return request.result_fail("NOTENOUGH", "帐号余额不足，请到商户平台充值后再重试");
            }
            state.redpack_balance -= amount;
            let id = state.next_id("100000000020261130");
            state.red_packets.insert(billno.clone(), id.clone());
            id
        }
    };
    request.success(vec![
        ("mch_billno", billno),
        ("wxappid", request.get("wxappid").into()),
        ("re_openid", request.get("re_openid").into()),
        ("total_amount", amount.to_string()),
        ("send_listid", send_listid),
    ])
}

/// `return_code` FAIL: the request did not get as far as the business checks. Unsigned,
/// as WeChat Pay's are.
fn fail(message: impl Into<String>) -> Reply {
    xml(vec![
        ("return_code".into(), "FAIL".into()),
        ("return_msg".into(), message.into()),
    ])
}

/// The `sign` check failed: unsigned, since the caller's key is in doubt.
fn sign_error(why: impl Into<String>) -> Reply {
    xml(vec![
        ("return_code".into(), "FAIL".into()),
        ("return_msg".into(), "签名错误".into()),
        ("err_code".into(), "SIGNERROR".into()),
        ("err_code_des".into(), why.into()),
    ])
}

/// The fields, `sign` appended.
fn signed_xml(mut fields: Vec<(String, String)>, sign_type: SignType) -> Reply {
    let map: BTreeMap<String, String> = fields.iter().cloned().collect();
    fields.push((
        "sign".into(),
        v2_sign::sign(&map, demo::APIV2_KEY, sign_type),
    ));
    xml(fields)
}

fn xml(fields: Vec<(String, String)>) -> Reply {
    Reply {
        status: StatusCode::OK,
        body: Bytes::from(Transformer::to_xml(fields)),
        content_type: Some("text/xml; charset=utf-8"),
        signed: false,
        extra: None,
    }
}

/// Now in China Standard Time as `yyyyMMddHHmmss`, APIv2's time format.
fn now_compact() -> String {
    super::time::rfc3339_cst(Formatter::timestamp())
        .chars()
        .take(19)
        .filter(char::is_ascii_digit)
        .collect()
}
