//! A property-test smoke of the entry points the fuzzers drive (`fuzz/`), with the same
//! invariants (`tests/invariants/`): path variables never change the path, options never
//! panic, APIv2 XML survives a round trip, key loading never panics and a loaded key works,
//! answers and notifications get exactly the verdict their content calls for. Few cases
//! each, so the file runs in seconds in a debug build; the fuzzers run the long campaigns.
//! Every input kept in `tests/fuzz_regressions/` is replayed here too.

mod invariants;

use std::collections::BTreeMap;
use std::path::Path;

use invariants::{keys, notify, request, response, targets, xml};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Concatenations of `tokens`, up to `max` of them.
fn tokens(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(tokens), 0..max).prop_map(|t| t.concat())
}

/// Path-variable values an attacker would try, and ordinary text.
fn hostile_value() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        ".", "..", "/", "%2e", "%2E", "%2F", "%2f", "%", "?", "#", "\r", "\0", "a", "1", "中", " ",
        "+", "%41", "%G1", "~", "@", ":", "&", "=",
    ];
    prop_oneof![tokens(PIECES, 6), "[^\n]{0,6}"]
}

fn template() -> impl Strategy<Value = String> {
    const SEGMENTS: &[&str] = &[
        "v3", "pay", "{x}", "{+x}", "{y}", "{+y}", "a{x}b", ".{+x}", "..{+y}", "{x}.", "%2e", ".",
        "..", "a b", "中", "{x}{y}", "{+x}{+y}", "v2",
    ];
    (
        prop::collection::vec(prop::sample::select(SEGMENTS), 1..5),
        prop::option::of(prop::sample::select(
            &["a=1", "q={x}", "a=b?c", "t=%2F"][..],
        )),
    )
        .prop_map(|(segments, query)| {
            let path = segments.join("/");
            match query {
                Some(q) => format!("{path}?{q}"),
                None => path,
            }
        })
}

fn php_identifiers() -> impl Strategy<Value = String> {
    prop::collection::vec("(r#)?_?[a-zA-Z0-9]{0,6}_?", 1..5).prop_map(|ids| ids.join("."))
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        prop_oneof![Just(0.0), Just(-1.0), Just(1e9), Just(0.001), any::<f64>()]
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        hostile_value().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_scalar().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((option_key(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Option names, placeholders, near misses and unsupported Guzzle options.
fn option_key() -> impl Strategy<Value = String> {
    const KEYS: &[&str] = &[
        "json",
        "query",
        "headers",
        "body",
        "base_uri",
        "timeout",
        "response_timeout",
        "read_timeout",
        "http_errors",
        "retry",
        "idempotent",
        "x",
        "y",
        "jsom",
        "card-id",
        "xml",
        "form_params",
        "Content-Type",
        "X-A",
    ];
    prop_oneof![
        prop::sample::select(KEYS).prop_map(String::from),
        "[a-z_]{1,6}"
    ]
}

fn options_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((option_key(), json_value()), 0..5)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>()))
}

/// Text made of protocol tokens, for the parsers.
fn protocol_text(pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![tokens(pieces, 12), ".{0,40}"]
}

const XML_PIECES: &[&str] = &[
    "<xml>",
    "</xml>",
    "<a>",
    "</a>",
    "<b/>",
    "<sign>",
    "</sign>",
    "<![CDATA[",
    "]]>",
    "]]]]>",
    "<![CDATA[>",
    "&amp;",
    "&lt;",
    "&#13;",
    "&#x597D;",
    "&x;",
    "<!DOCTYPE xml>",
    "<!-- c -->",
    "<?xml version=\"1.0\"?>",
    "x",
    " ",
    "\r\n",
    "中",
    "<req_info>",
    "</req_info>",
    "<sign_type>",
    "</sign_type>",
    "HMAC-SHA256",
    "MD5",
];

const HEADER_PIECES: &[&str] = &[
    "Wechatpay-Timestamp: ",
    "Wechatpay-Nonce: ",
    "Wechatpay-Serial: ",
    "Wechatpay-Signature: ",
    "1700000000",
    "1700000300",
    "1699999699",
    "-9223372036854775808",
    "PUB_KEY_ID_0114232134912410000",
    "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
    "AAAA",
    "nonce",
    " ",
    "\n",
    "\n\n",
    "{\"data\":[]}",
];

const FIXTURES: &[&str] = &[
    include_str!("fixtures/merchant_pkcs1.pem"),
    include_str!("fixtures/merchant_pkcs8.pem"),
    include_str!("fixtures/merchant_encrypted.pem"),
    include_str!("fixtures/merchant_spki.pem"),
    include_str!("fixtures/merchant_pkcs1_public.pem"),
    include_str!("fixtures/merchant_cert.pem"),
    include_str!("fixtures/platform_cert.pem"),
];

/// A fixture key or certificate, cut short or with one character replaced.
fn damaged_fixture() -> impl Strategy<Value = String> {
    (
        prop::sample::select(FIXTURES),
        any::<prop::sample::Index>(),
        prop::option::of(any::<char>()),
    )
        .prop_map(|(text, at, replacement)| {
            let mut chars: Vec<char> = text.chars().collect();
            let at = at.index(chars.len());
            match replacement {
                Some(c) => chars[at] = c,
                None => chars.truncate(at),
            }
            chars.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn path_variables_never_change_the_path(
        template in template(),
        x in hostile_value(),
        y in hostile_value(),
    ) {
        request::check_template(&template, &[&x, &y]);
    }

    #[test]
    fn php_identifiers_follow_the_rules(ids in php_identifiers(), x in hostile_value()) {
        request::check_template(&ids, &[&x, &x, &x]);
    }

    #[test]
    fn options_never_panic(
        template in prop::sample::select(&[
            "v3/pay/transactions/id/{x}",
            "v3/a/{+x}/b?c=1",
            "v2/pay/micropay",
            "https://api.mch.weixin.qq.com/v3/billdownload/file?token=t",
            "v3/{x}/{y}",
        ][..]),
        opts in options_object(),
    ) {
        request::check_options(template, &opts);
    }

    #[test]
    fn xml_fields_survive_a_round_trip(
        fields in prop::collection::btree_map(
            "[a-zA-Z_\u{4e00}-\u{4e0f}][a-zA-Z0-9._:-]{0,6}",
            prop_oneof![tokens(&["]]>", "]", ">", "<", "&", "\r", "\n", "x", "中", "<![CDATA["], 8), ".*"],
            0..5,
        ),
    ) {
        xml::check_round_trip(&fields);
    }

    #[test]
    fn xml_parsing_never_panics_and_round_trips(text in protocol_text(XML_PIECES)) {
        xml::check_xml(text.as_bytes());
    }

    #[test]
    fn headers_and_bodies_never_panic(text in protocol_text(HEADER_PIECES), body in ".{0,20}") {
        response::check_response_raw(format!("{text}\n\n{body}").as_bytes());
        notify::check_v3_raw(format!("{text}\n\n{body}").as_bytes());
    }
}

proptest! {
    // Each case signs with RSA at least once.
    #![proptest_config(config(128))]

    #[test]
    fn a_signed_answer_verifies_exactly_when_fresh(
        skew in -400i64..400,
        junk in prop::option::of(" |x|1e3|\u{1}|0x10"),
        nonce in "[ a-z]{0,4}",
        body in ".{0,20}",
    ) {
        let timestamp = format!("{}{}", invariants::NOW + skew, junk.unwrap_or_default());
        let input = format!("Wechatpay-Timestamp: {timestamp}\nWechatpay-Nonce: {nonce}\n\n{body}");
        response::check_response_signed(input.as_bytes());
    }

    #[test]
    fn a_signed_notification_gets_the_verdict_of_its_plaintext(
        nonce in "[a-zA-Z0-9]{0,34}",
        associated_data in "[a-z]{0,12}",
        plaintext in prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            ".{0,30}",
        ],
    ) {
        notify::check_v3_sealed(&nonce, &associated_data, plaintext.as_bytes());
        notify::check_v3_signed_body(plaintext.as_bytes());
    }

    #[test]
    fn apiv2_notifications_get_the_verdict_of_their_fields(
        fields in prop::collection::btree_map(
            prop_oneof![Just("sign_type".to_string()), "[a-z_]{1,8}"],
            prop_oneof![Just("HMAC-SHA256".to_string()), Just("MD5".to_string()), ".{0,12}"],
            0..5,
        ),
        text in protocol_text(XML_PIECES),
    ) {
        let body = wechatpay::v2::Transformer::to_xml(&fields);
        notify::check_v2_signed(body.as_bytes());
        notify::check_v2_raw(body.as_bytes());
        notify::check_refund_sealed(body.replace("xml>", "root>").as_bytes());
        notify::check_refund_sealed(text.as_bytes());
    }

    #[test]
    fn key_loading_never_panics(text in prop_oneof![damaged_fixture(), protocol_text(&[
        "-----BEGIN PRIVATE KEY-----\n", "-----END PRIVATE KEY-----\n",
        "-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n", "Proc-Type: 4,ENCRYPTED\n",
        "private.pkcs8://", "public.spki://", "file://", "MIIB", "AAAA", "====", "\n",
    ])]) {
        keys::check_key_text(&text);
        keys::check_key_der(text.as_bytes());
    }

    #[test]
    fn a_sealed_certificate_listing_decodes_exactly_when_its_certificate_loads(
        text in prop_oneof![
            damaged_fixture(),
            (prop::sample::select(FIXTURES), prop::sample::select(FIXTURES))
                .prop_map(|(a, b)| format!("{a}{b}")),
        ],
    ) {
        response::check_certificate_listing(&text);
    }
}

/// The fixtures in every form, unharmed: each loads and works.
#[test]
fn every_fixture_loads_and_works() {
    for text in FIXTURES {
        keys::check_key_text(text);
    }
    let certificates = [FIXTURES[5], FIXTURES[6]];
    for certificate in certificates {
        response::check_certificate_listing(certificate);
        response::check_certificate_listing(&format!("{}{certificate}", FIXTURES[3]));
    }
}

/// Every input the fuzzers found and kept, through its target again.
#[test]
fn kept_fuzz_inputs_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut replayed = BTreeMap::new();
    for (name, target) in targets::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable directory entry").path();
            let data = std::fs::read(&path).expect("a readable kept input");
            target(&data);
            *replayed.entry(name).or_insert(0) += 1;
        }
    }
    assert!(
        !replayed.is_empty(),
        "no kept input under {}",
        root.display()
    );
}
