//! The simulator answers every JSON endpoint of the catalog with data of its documented types:
//! each answer is checked against the endpoint's `response.schema` by a validator written here
//! (types, required names, enum membership, RFC 3339 times), and a few answers are read into
//! typed structs, as a user's code would read them.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};
use wechatpay::crypto::{Formatter, Rsa, RsaPrivateKey};
use wechatpay::middleware::{BoxFuture, Middleware, Next};
use wechatpay::mock::{demo, MockServer};
use wechatpay::sign::{authorization, SigningParams};
use wechatpay::{json, Chain, Client, HttpRequest, HttpResponse};

// ---------------------------------------------------------------------------------------------
// The catalog, as far as this test needs it.

#[derive(Debug, Deserialize)]
struct Operation {
    method: String,
    path: String,
    path_param_details: Vec<PathParam>,
    #[serde(default)]
    query_params: Vec<Param>,
    body: Body,
    response: ResponseSpec,
}

#[derive(Debug, Deserialize)]
struct PathParam {
    name: String,
    example: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Param {
    name: String,
    required: bool,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "enum", default)]
    allowed: Vec<Value>,
    example: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Body {
    kind: String,
    #[serde(default)]
    fields: Vec<Param>,
    #[serde(default)]
    schema: Value,
}

#[derive(Debug, Deserialize)]
struct ResponseSpec {
    kind: String,
    status: u16,
    schema: Value,
}

/// The stateful seed endpoints answer from their own records, not from the schema.
const SEEDS: [&str; 5] = [
    "v3/brand/card/card-links/unbind-card-link",
    "v3/marketing/busifavor/coupons/disassociate",
    "v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable",
    "v3/brand/partner/store/brandstores/{store_id}/unbindrecipient",
    "v3/password-exempt-contract/contracts/service-id/{service_id}/out-contract-code/{out_contract_code}/terminate",
];

/// Every APIv3 operation whose documented answer is JSON, seeds left out.
fn json_operations() -> Vec<Operation> {
    let catalog = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/catalog/endpoints.jsonl"),
    )
    .unwrap();
    catalog
        .lines()
        .map(|l| serde_json::from_str::<Operation>(l).unwrap())
        .filter(|o| {
            !o.path.starts_with("v2/")
                && o.response.kind == "json"
                && !SEEDS.contains(&o.path.as_str())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The validator.

fn has_type(kind: &str, value: &Value) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        other => panic!("the catalog has a type this test does not know: {other}"),
    }
}

fn two_digits(s: &[u8], at: usize, max: u8) -> bool {
    match (s.get(at), s.get(at + 1)) {
        (Some(a @ b'0'..=b'9'), Some(b @ b'0'..=b'9')) => (a - b'0') * 10 + (b - b'0') <= max,
        _ => false,
    }
}

/// RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`.
fn is_rfc3339(text: &str) -> bool {
    let s = text.as_bytes();
    let date = s.len() >= 19
        && s[..4].iter().all(u8::is_ascii_digit)
        && s[4] == b'-'
        && two_digits(s, 5, 12)
        && s[7] == b'-'
        && two_digits(s, 8, 31)
        && matches!(s[10], b'T' | b't')
        && two_digits(s, 11, 23)
        && s[13] == b':'
        && two_digits(s, 14, 59)
        && s[16] == b':'
        && two_digits(s, 17, 60);
    if !date || &s[5..7] == b"00" || &s[8..10] == b"00" {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &fraction[digits..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', ..] => {
            rest.len() == 6 && two_digits(rest, 1, 23) && rest[3] == b':' && two_digits(rest, 4, 59)
        }
        _ => false,
    }
}

/// Checks `value` against the schema `node`, adding what is wrong to `problems`.
///
/// Where the catalog contradicts itself, the test trusts `type`: an `enum` whose values are not
/// of the node's type (a `number` with string values) is not checked, and a name in `required`
/// without a property has no type to check.
fn validate(node: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let kind = node.get("type").and_then(Value::as_str);
    if let Some(kind) = kind {
        if !has_type(kind, value) {
            problems.push(format!("{at}: {value} is not of type {kind}"));
            return;
        }
        if let Some(allowed) = node.get("enum").and_then(Value::as_array) {
            if allowed.iter().all(|a| has_type(kind, a)) && !allowed.contains(value) {
                problems.push(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
    }
    if node.get("format").and_then(Value::as_str) == Some("rfc3339") {
        if let Some(text) = value.as_str() {
            if !is_rfc3339(text) {
                problems.push(format!("{at}: `{text}` is not an RFC 3339 date-time"));
            }
        }
    }
    let properties = node.get("properties").and_then(Value::as_object);
    if let (Some(object), Some(properties)) = (value.as_object(), properties) {
        for name in node
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|name| properties.contains_key(*name))
        {
            if object.get(name).is_none_or(Value::is_null) {
                problems.push(format!("{at}: required `{name}` is missing"));
            }
        }
        for (name, field) in object {
            match properties.get(name) {
                Some(child) => validate(child, field, &format!("{at}.{name}"), problems),
                None => problems.push(format!("{at}: `{name}` is not documented")),
            }
        }
    }
    if let (Some(items), Some(array)) = (node.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(items, item, &format!("{at}[{i}]"), problems);
        }
    }
}

#[test]
fn the_validator_catches_wrong_types_missing_names_enums_and_times() {
    let node = json!({
        "type": "object",
        "required": ["id", "amount", "ghost"],
        "properties": {
            "id": {"type": "string"},
            "state": {"type": "string", "enum": ["A", "B"]},
            "amount": {"type": "object", "properties": {"total": {"type": "integer"}}},
            "at": {"type": "string", "format": "rfc3339"},
            "list": {"type": "array", "items": {"type": "number"}},
            "mode": {"type": "number", "enum": ["DIS_FLAG"]},
        },
    });
    let good = json!({"id": "1", "state": "B", "amount": {"total": 1},
                      "at": "2026-11-30T10:34:56.120+08:00", "list": [1, 1.5], "mode": 2.0});
    let mut problems = Vec::new();
    validate(&node, &good, "$", &mut problems);
    assert_eq!(problems, Vec::<String>::new());

    let bad = json!({"state": "C", "amount": "example_amount", "at": "2025-07-24T00:00+08:00",
                     "list": ["1"], "extra": 1});
    validate(&node, &bad, "$", &mut problems);
    assert_eq!(problems.len(), 6, "{problems:#?}");
    assert!(problems.iter().any(|p| p.contains("required `id`")));
    assert!(problems
        .iter()
        .any(|p| p.contains("`extra` is not documented")));

    for ok in [
        "2026-11-30T10:34:56+08:00",
        "2015-05-20T13:29:35.120+08:00",
        "2026-01-01T00:00:00Z",
    ] {
        assert!(is_rfc3339(ok), "{ok}");
    }
    for bad in [
        "2026-11-30 10:34:56+08:00",
        "2026-13-30T10:34:56+08:00",
        "2026-11-30T10:34:56",
        "2026-11-30T10:34:56.+08:00",
        "2026-11-30T10:34:56+0800",
        "20091225091010",
    ] {
        assert!(!is_rfc3339(bad), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Requests built from the catalog.

/// A value a request may carry for a parameter or body field: its example when that has the
/// documented type, else its first allowed value, else a plain value of the type.
fn request_value(kind: Option<&str>, example: Option<&Value>, allowed: &[Value]) -> Value {
    let fits = |v: &&Value| kind.is_none_or(|k| has_type(k, v));
    if let Some(v) = example.filter(fits).or_else(|| allowed.iter().find(fits)) {
        return v.clone();
    }
    match kind {
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        Some("object") => json!({}),
        _ => json!("example"),
    }
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The call options for `op`: its path variables, its required query parameters and body fields.
fn options(op: &Operation) -> Map<String, Value> {
    let mut opts = Map::new();
    for p in &op.path_param_details {
        let value = p
            .example
            .as_ref()
            .map(as_text)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("mock-{}", p.name));
        opts.insert(p.name.clone(), json!(value));
    }
    let query: Map<String, Value> = op
        .query_params
        .iter()
        .filter(|q| q.required)
        .map(|q| {
            let value = request_value(q.kind.as_deref(), q.example.as_ref(), &q.allowed);
            (q.name.clone(), json!(as_text(&value)))
        })
        .collect();
    if !query.is_empty() {
        opts.insert("query".into(), Value::Object(query));
    }
    if op.body.kind == "json" {
        let body: Map<String, Value> = op
            .body
            .fields
            .iter()
            .filter(|f| f.required)
            .map(|f| {
                let node = &op.body.schema["properties"][&f.name];
                let allowed = node["enum"].as_array().map_or(&[][..], Vec::as_slice);
                (
                    f.name.clone(),
                    request_value(f.kind.as_deref(), node.get("example"), allowed),
                )
            })
            .collect();
        opts.insert("json".into(), Value::Object(body));
    }
    opts
}

/// A `signer` that signs an upload's `meta` part, the only bytes WeChat Pay signs for one.
#[derive(Debug)]
struct MetaSigner {
    key: RsaPrivateKey,
    meta: Vec<u8>,
}

impl Middleware for MetaSigner {
    fn handle<'a>(
        &'a self,
        mut req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, wechatpay::Result<HttpResponse>> {
        let uri = req
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |pq| pq.as_str().to_string());
        let nonce = Formatter::nonce(32);
        let params = SigningParams {
            mchid: demo::MCHID,
            serial: demo::MERCHANT_SERIAL,
            timestamp: Formatter::timestamp(),
            nonce: &nonce,
        };
        let value =
            authorization(req.method().as_str(), &uri, &self.meta, &params, &self.key).unwrap();
        req.headers_mut()
            .insert("authorization", value.parse().unwrap());
        next.run(req)
    }
}

/// The chain to call `op` on, with the options an upload also needs.
fn upload(wxpay: &Client, op: &Operation, opts: &mut Map<String, Value>) -> Chain {
    let boundary = "wechatpay-mock-boundary";
    // The simulator checks the file's SHA-256 against the meta, as WeChat Pay does.
    let meta = serde_json::to_vec(
        &json!({"filename": "a.png", "sha256": wechatpay::crypto::Hash::sha256(b"PNG")}),
    )
    .unwrap();
    let mut body = String::new();
    for field in &op.body.fields {
        body.push_str(&format!("--{boundary}\r\n"));
        if field.name == "meta" {
            body.push_str("Content-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n");
            body.push_str(std::str::from_utf8(&meta).unwrap());
        } else {
            body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{}\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNG",
                field.name
            ));
        }
        body.push_str("\r\n");
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    opts.insert("body".into(), json!(body));
    opts.insert(
        "headers".into(),
        json!({"Content-Type": format!("multipart/form-data; boundary={boundary}")}),
    );
    let mut stack = wxpay.stack();
    let key = Rsa::from_private(demo::MERCHANT_PRIVATE_KEY_PEM).unwrap();
    stack.replace("signer", MetaSigner { key, meta }).unwrap();
    wxpay.with_stack(stack).chain(&op.path)
}

// ---------------------------------------------------------------------------------------------
// Every JSON endpoint.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_endpoint_answers_with_its_documented_types() {
    let operations = json_operations();
    let total = operations.len();
    let mock = MockServer::start().await.unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for op in operations {
        let mut opts = options(&op);
        let chain = if op.body.kind == "multipart" {
            upload(&wxpay, &op, &mut opts)
        } else {
            wxpay.chain(&op.path)
        };
        let method: wechatpay::http::Method = op.method.parse().unwrap();
        tasks.spawn(async move {
            let what = format!("{} {}", op.method, op.path);
            let r = chain
                .send_async(method, Value::Object(opts))
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(r.status().as_u16(), op.response.status, "{what}");
            let body: Value = r.json().unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
            let mut problems = Vec::new();
            validate(&op.response.schema, &body, "$", &mut problems);
            (what, problems)
        });
    }
    let mut flagged = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (what, problems) = done.unwrap();
        if !problems.is_empty() {
            flagged.push((what, problems));
        }
    }
    eprintln!(
        "{total} JSON endpoints called and checked in {:?}",
        started.elapsed()
    );
    flagged.sort();
    let report: Vec<String> = flagged
        .iter()
        .take(20)
        .map(|(what, problems)| format!("{what}: {}", problems[..problems.len().min(3)].join("; ")))
        .collect();
    assert!(
        flagged.is_empty(),
        "{} of {total} JSON endpoints answered outside their schema; the first:\n{}",
        flagged.len(),
        report.join("\n")
    );
    // Well over the 905 JSON answers the catalog documents, minus APIv2 and the seeds.
    assert!(total > 850, "{total}");
}

// ---------------------------------------------------------------------------------------------
// Typed reads, as a user's code does them.

/// `GET v3/pay/transactions/id/{transaction_id}`, as far as a shop reads it.
#[derive(Debug, Deserialize)]
struct Transaction {
    transaction_id: String,
    appid: String,
    mchid: String,
    out_trade_no: String,
    trade_type: String,
    trade_state: String,
    success_time: String,
    amount: TransactionAmount,
    limit_pay: Vec<String>,
    support_fapiao: bool,
    detail: Detail,
}

#[derive(Debug, Deserialize)]
struct TransactionAmount {
    total: i64,
    currency: String,
}

#[derive(Debug, Deserialize)]
struct Detail {
    cost_price: i64,
    goods_detail: Vec<Goods>,
}

#[derive(Debug, Deserialize)]
struct Goods {
    merchant_goods_id: String,
    quantity: i64,
    unit_price: i64,
}

#[test]
fn a_transaction_reads_into_a_typed_struct_and_echoes_the_callers_ids() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let r = wxpay
        .v3()
        .pay()
        .transactions()
        .id()
        ._transaction_id_()
        .get(json!({
            "transaction_id": "4200000000202611300000000001",
            "query": {"mchid": demo::MCHID},
        }))
        .unwrap();
    let t: Transaction = r.json().unwrap();
    // Echoed: the path variable and the query parameter of the same name.
    assert_eq!(t.transaction_id, "4200000000202611300000000001");
    assert_eq!(t.mchid, demo::MCHID);
    // The catalog's examples, with their documented types.
    assert_eq!(t.amount.total, 100);
    assert_eq!(t.amount.currency, "CNY");
    assert_eq!(t.appid, "wxd678efh567hg6787");
    assert_eq!(t.out_trade_no, "1217752501201407033233368018");
    assert_eq!(t.success_time, "2018-06-08T10:34:56+08:00");
    assert!(is_rfc3339(&t.success_time));
    // No example: the first documented value of the enum.
    assert_eq!(t.trade_state, "SUCCESS");
    assert_eq!(t.trade_type, "JSAPI");
    assert_eq!(t.limit_pay, ["no_balance"]);
    assert!(t.support_fapiao);
    assert_eq!(t.detail.cost_price, 608800);
    assert_eq!(t.detail.goods_detail.len(), 1);
    let goods = &t.detail.goods_detail[0];
    assert_eq!(
        (
            goods.merchant_goods_id.as_str(),
            goods.quantity,
            goods.unit_price
        ),
        ("商品编码", 1, 828800)
    );

    // The same request answers the same bytes: the data does not depend on the clock.
    let again = wxpay["v3/pay/transactions/id/{transaction_id}"]
        .get(json!({
            "transaction_id": "4200000000202611300000000001",
            "query": {"mchid": demo::MCHID},
        }))
        .unwrap();
    assert_eq!(again.bytes(), r.bytes());
}

/// `POST v3/refund/domestic/refunds`.
#[derive(Debug, Deserialize)]
struct Refund {
    refund_id: String,
    out_refund_no: String,
    out_trade_no: String,
    status: String,
    create_time: String,
    amount: RefundAmount,
    promotion_detail: Vec<Promotion>,
}

#[derive(Debug, Deserialize)]
struct RefundAmount {
    total: i64,
    refund: i64,
    payer_total: i64,
    payer_refund: i64,
    settlement_refund: i64,
    settlement_total: i64,
    discount_refund: i64,
    currency: String,
    from: Vec<FundSource>,
    refund_fee: f64,
}

#[derive(Debug, Deserialize)]
struct FundSource {
    account: String,
    amount: i64,
}

#[derive(Debug, Deserialize)]
struct Promotion {
    promotion_id: String,
    amount: i64,
    refund_amount: i64,
}

#[test]
fn a_refund_echoes_nested_body_fields_and_fills_the_rest_with_typed_values() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let r = wxpay
        .v3()
        .refund()
        .domestic()
        .refunds()
        .post(json!({"json": {
            "out_trade_no": "ORDER-7",
            "out_refund_no": "REFUND-7",
            "amount": {"refund": 30, "total": 250, "currency": "CNY"},
        }}))
        .unwrap();
    assert_eq!(r.status(), 200);
    let refund: Refund = r.json().unwrap();
    assert_eq!(refund.out_trade_no, "ORDER-7");
    assert_eq!(refund.out_refund_no, "REFUND-7");
    assert_eq!((refund.amount.refund, refund.amount.total), (30, 250));
    assert_eq!(refund.amount.currency, "CNY");
    // Not in the request: the documented examples.
    assert_eq!(refund.refund_id, "50000000382019052709732678859");
    assert_eq!(
        (refund.amount.payer_total, refund.amount.payer_refund),
        (90, 90)
    );
    assert_eq!(refund.amount.settlement_refund, 100);
    assert_eq!(refund.amount.settlement_total, 100);
    assert_eq!(refund.amount.discount_refund, 10);
    assert_eq!(refund.amount.refund_fee, 100.0);
    assert_eq!(refund.status, "SUCCESS");
    assert!(is_rfc3339(&refund.create_time));
    assert_eq!(refund.amount.from.len(), 1);
    assert_eq!(refund.amount.from[0].account, "AVAILABLE");
    assert_eq!(refund.amount.from[0].amount, 444);
    assert_eq!(refund.promotion_detail.len(), 1);
    assert_eq!(refund.promotion_detail[0].promotion_id, "109519");
    assert_eq!(
        (
            refund.promotion_detail[0].amount,
            refund.promotion_detail[0].refund_amount
        ),
        (5, 100)
    );
}

/// `GET v3/merchant-service/complaints-v2`: a page of a list.
#[derive(Debug, Deserialize)]
struct ComplaintPage {
    data: Vec<Complaint>,
    limit: i64,
    offset: i64,
    total_count: i64,
}

#[derive(Debug, Deserialize)]
struct Complaint {
    complaint_id: String,
    complaint_time: String,
    complaint_state: String,
    complaint_full_refunded: bool,
    user_complaint_times: i64,
    complaint_order_info: Vec<ComplaintOrder>,
}

#[derive(Debug, Deserialize)]
struct ComplaintOrder {
    transaction_id: String,
    amount: i64,
}

#[test]
fn a_list_reads_into_a_typed_page_with_query_numbers_echoed_as_integers() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let r = wxpay["v3/merchant-service/complaints-v2"]
        .get(json!({"query": {
            "begin_date": "2026-11-01",
            "end_date": "2026-11-30",
            "limit": 20,
            "offset": 40,
        }}))
        .unwrap();
    let page: ComplaintPage = r.json().unwrap();
    // The query string carries "20" and "40"; the answer has them as the documented integers.
    assert_eq!((page.limit, page.offset), (20, 40));
    assert_eq!(page.total_count, 1000);
    assert_eq!(page.data.len(), 1);
    let complaint = &page.data[0];
    assert_eq!(complaint.complaint_id, "200201820200101080076610000");
    assert!(is_rfc3339(&complaint.complaint_time));
    assert_eq!(complaint.complaint_state, "PENDING");
    assert!(complaint.complaint_full_refunded);
    assert_eq!(complaint.user_complaint_times, 1);
    assert_eq!(complaint.complaint_order_info.len(), 1);
    assert_eq!(
        complaint.complaint_order_info[0].transaction_id,
        "4200000404201909069117582536"
    );
    assert_eq!(complaint.complaint_order_info[0].amount, 3);
}

#[test]
fn nodes_the_catalog_cut_short_come_out_empty_of_their_type() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let r = wxpay["v3/merchant-service/complaints-v2/{complaint_id}/negotiation-historys"]
        .get(json!({"complaint_id": "200201820200101080076610000", "query": {"limit": 1, "offset": 0}}))
        .unwrap();
    let body: Value = r.json().unwrap();
    // The cut nodes are these arrays' items and this object, eight levels down.
    let block = &body["data"][0]["normal_message"]["blocks"][0];
    assert_eq!(block["button_group"]["buttons"], json!([{}]));
    assert_eq!(block["faq_list"]["faqs"], json!([{}]));
    assert_eq!(block["link"]["action"]["mini_program_jump_info"], json!({}));
}
