//! The identifier-rule table (wechatpay-php's property names to path segments) and the
//! encoding table (RFC 6570 simple and reserved expansion), through the public API.

use wechatpay::http::Method;
use wechatpay::{json, segment_from_php, Client};

fn client() -> Client {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    Client::builder()
        .mchid("1900000001")
        .serial("1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C")
        .private_key(format!("file://{fixtures}/merchant_pkcs8.pem"))
        .cert(
            "PUB_KEY_ID_0114232134912410000",
            format!("file://{fixtures}/platform_public.pem"),
        )
        .build()
        .unwrap()
}

#[test]
fn php_identifier_rules() {
    let table = [
        ("v3", "v3"),
        ("V3", "v3"),
        ("membercardOpen", "membercard-open"),
        ("complaintsV2", "complaints-v2"),
        ("_transaction_id_", "{transaction_id}"),
        ("_card_id_", "{card_id}"),
        ("outTradeNo", "out-trade-no"),
        ("OutTradeNo", "out-trade-no"),
        ("r#return", "return"),
        ("applyment4sub", "applyment4sub"),
        ("mch_operate", "mch_operate"),
        ("_", "_"),
        ("__", "__"),
    ];
    for (php, segment) in table {
        assert_eq!(segment_from_php(php), segment, "{php}");
    }
}

#[test]
fn the_chain_macro_applies_the_rules_to_any_identifiers() {
    let wxpay = client();
    let c = wechatpay::chain!(
        wxpay
            .v3
            .marketing
            .membercardOpen
            .cards
            ._card_id_
            .codes
            ._code_
            .unavailable
    );
    assert_eq!(
        c.path(),
        "v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable"
    );
    let c = wechatpay::chain!(wxpay.V3.ecommerce.subsidies.r#return);
    assert_eq!(c.path(), "v3/ecommerce/subsidies/return");
    let c = wechatpay::chain!(
        wxpay
            .v3
            .merchantService
            .complaintsV2
            ._complaint_id_
            .notAnEndpoint
    );
    assert_eq!(
        c.path(),
        "v3/merchant-service/complaints-v2/{complaint_id}/not-an-endpoint"
    );
    let holder = (0, wxpay.clone());
    let c = wechatpay::chain!(holder.1 => v3.pay.transactions.native);
    assert_eq!(c.path(), "v3/pay/transactions/native");
}

#[test]
fn encoding_table() {
    let wxpay = client();
    let path = |template: &str, value: &str| {
        wxpay
            .chain(template)
            .build(Method::GET, json!({ "x": value }))
            .unwrap()
            .uri()
            .path()
            .to_string()
    };
    let table = [
        ("{x}", "4200/00 A+b%2F", "/4200%2F00%20A%2Bb%252F"),
        ("{+x}", "4200/00 A+b%2F", "/4200/00%20A+b%2F"),
        ("{x}", "a-b.c_d~e", "/a-b.c_d~e"),
        ("{x}", "中文", "/%E4%B8%AD%E6%96%87"),
        ("{+x}", "中文", "/%E4%B8%AD%E6%96%87"),
        ("{x}", "..x", "/..x"),
        ("{+x}", "x/..x", "/x/..x"),
        ("{x}", "a?b#c", "/a%3Fb%23c"),
        ("{+x}", "a?b#c", "/a%3Fb%23c"),
        ("{+x}", "100%", "/100%25"),
        ("{x}", "a\r\nb", "/a%0D%0Ab"),
    ];
    for (template, value, expected) in table {
        assert_eq!(path(template, value), expected, "{template} <- {value:?}");
    }
    // A value that would be a dot segment, as sent or once decoded, is refused.
    for (template, value) in [
        ("{x}", "../x"),
        ("{+x}", "../x"),
        ("{x}", "."),
        ("{+x}", "%2E%2e"),
    ] {
        let e = wxpay
            .chain(template)
            .build(Method::GET, json!({ "x": value }))
            .unwrap_err();
        assert!(
            matches!(
                e,
                wechatpay::Error::Request(wechatpay::error::RequestError::InvalidVariable { .. })
            ),
            "{template} <- {value:?}: {e:?}"
        );
    }
}

#[test]
fn literal_paths_are_not_case_converted() {
    let wxpay = client();
    let req = wxpay
        .chain("v3/pay/transactions/out-trade-no/{out_trade_no}")
        .build(Method::GET, json!({"out_trade_no": "OUT_trade_NO_1"}))
        .unwrap();
    assert_eq!(
        req.uri().path(),
        "/v3/pay/transactions/out-trade-no/OUT_trade_NO_1"
    );
    let req = wxpay
        .chain("v2/secapi/mch/addInstitutionsub")
        .build(Method::POST, ())
        .unwrap();
    assert!(req.uri().path().ends_with("/addInstitutionsub"));
}

#[test]
fn index_returns_the_same_cached_chain_and_nests() {
    let wxpay = client();
    let a: *const wechatpay::Chain = &wxpay["v3/pay"];
    let b: *const wechatpay::Chain = &wxpay["v3/pay"];
    assert_eq!(a, b);
    assert_eq!(
        wxpay["v3"]["pay"]["transactions/native"].path(),
        "v3/pay/transactions/native"
    );
    assert_eq!(wxpay.chain("v3/").chain("/pay").path(), "v3/pay");
}

#[test]
fn a_chain_cloned_out_of_the_index_outlives_the_client() {
    let wxpay = client();
    let owned = wxpay["v3/pay"].clone();
    drop(wxpay);
    assert_eq!(
        owned.build(Method::GET, ()).unwrap().uri().path(),
        "/v3/pay"
    );
}

/// Found by the property tests (tests/properties.rs): a value can make a dot segment out of the
/// template's own text, which the per-value rule does not see. A hop that normalises the path
/// would route a call signed for `/v3/files/./b` to `/v3/files/b`.
#[test]
fn a_value_cannot_join_the_text_around_it_into_a_dot_segment() {
    let wxpay = client();
    for (template, vars) in [
        ("v3/files/.{+x}", json!({"x": "/b"})),
        ("v3/files/..{+x}", json!({"x": "/b"})),
        ("v3/files/{+x}.", json!({"x": "b/"})),
        ("v3/files/{+x}..", json!({"x": "b/"})),
        ("v3/files/%2E{+x}", json!({"x": "/b"})),
        ("v3/files/.{+x}", json!({"x": "%2Fb"})),
    ] {
        let e = wxpay.chain(template).build(Method::GET, &vars).unwrap_err();
        assert!(
            matches!(&e, wechatpay::Error::Request(wechatpay::error::RequestError::InvalidVariable { reason, .. })
                if reason.contains("the text around it")),
            "{template} <- {vars}: {e}"
        );
    }
    // Values that are dots themselves are refused too, whichever rule sees them first.
    for (template, vars) in [
        ("v3/files/{x}{y}", json!({"x": ".", "y": "."})),
        ("v3/files/.{x}", json!({"x": "."})),
    ] {
        let e = wxpay.chain(template).build(Method::GET, &vars).unwrap_err();
        assert!(
            matches!(
                &e,
                wechatpay::Error::Request(wechatpay::error::RequestError::InvalidVariable { .. })
            ),
            "{template} <- {vars}: {e}"
        );
    }
    // Dots that stay inside a segment, and the template's own dot segments, are left alone.
    for (template, vars, path) in [
        ("v3/files/.{+x}", json!({"x": "b"}), "/v3/files/.b"),
        ("v3/files/{x}.", json!({"x": "a"}), "/v3/files/a."),
        ("v3/files/./{x}", json!({"x": "b"}), "/v3/files/./b"),
        ("v3/files/{+x}/..", json!({"x": "a"}), "/v3/files/a/.."),
    ] {
        let request = wxpay.chain(template).build(Method::GET, &vars).unwrap();
        assert_eq!(request.uri().path(), path, "{template} <- {vars}");
    }
}
