//! The generated files are what the generator makes of the vendored catalog.
//!
//! `UPDATE_GENERATED=1 cargo test --test generated` rewrites `src/catalog/nodes.rs`,
//! `src/catalog/index.md` and `tests/catalog_chains.rs`; without it, a difference fails the test.

mod codegen;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use codegen::{method_name, php_identifier, type_segment, Tree};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn read(relative: &str) -> String {
    let path = Path::new(MANIFEST_DIR).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn catalog() -> String {
    read("src/catalog/endpoints.jsonl")
}

/// The first line where `a` and `b` differ, 1-based, with both texts of that line.
fn first_difference(a: &str, b: &str) -> (usize, String, String) {
    let mut left = a.lines();
    let mut right = b.lines();
    let mut number = 1;
    loop {
        match (left.next(), right.next()) {
            (Some(l), Some(r)) if l == r => number += 1,
            (l, r) => {
                let show =
                    |s: Option<&str>| s.map_or_else(|| "<end of file>".to_string(), str::to_string);
                return (number, show(l), show(r));
            }
        }
    }
}

#[test]
fn generated_files_are_up_to_date() {
    let update = std::env::var("UPDATE_GENERATED").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (relative, text) in codegen::generate(&catalog()) {
        let path = Path::new(MANIFEST_DIR).join(relative);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed == text {
            continue;
        }
        if update {
            std::fs::write(&path, &text)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            eprintln!("rewrote {relative}");
        } else {
            let (line, have, want) = first_difference(&committed, &text);
            stale.push(format!(
                "{relative} is out of date (first difference at line {line}):\n  committed: {have}\n  generated: {want}"
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nrun `UPDATE_GENERATED=1 cargo test --test generated` to regenerate",
        stale.join("\n")
    );
}

#[test]
fn vendored_catalog_matches_the_shared_one() {
    let shared = Path::new(MANIFEST_DIR).join("../shared/catalog/endpoints.jsonl");
    let what = format!("the shared catalog {}", shared.display());
    let Ok(shared_bytes) = std::fs::read(&shared) else {
        // The shared catalog lives beside the repository, not in it. `.ci/run` says out loud
        // when a clone has none beside it and sets this variable; anywhere else its absence
        // fails on CI like a missing tool.
        if std::env::var_os("WECHATPAY_NO_SHARED_CATALOG").is_some() {
            eprintln!("skipped: {what} is not beside this checkout (declared by the environment)");
            return;
        }
        common::present_or_skip(false, &what);
        return;
    };
    let vendored = std::fs::read(Path::new(MANIFEST_DIR).join("src/catalog/endpoints.jsonl"))
        .expect("src/catalog/endpoints.jsonl is readable");
    assert!(
        vendored == shared_bytes,
        "src/catalog/endpoints.jsonl differs from {}: copy it over and regenerate",
        shared.display()
    );
}

#[test]
fn literal_segments_fold_hyphens_and_keep_case() {
    assert_eq!(method_name("membercard-open", &[]), "membercard_open");
    assert_eq!(method_name("out_trade_no", &[]), "out_trade_no");
    assert_eq!(method_name("addInstitutionsub", &[]), "addInstitutionsub");
    assert_eq!(method_name("applyment4sub", &[]), "applyment4sub");
}

#[test]
fn placeholders_become_underscored_names() {
    assert_eq!(method_name("{card_id}", &[]), "_card_id_");
    assert_eq!(
        method_name("{refund_id}", &["{refund_id}", "{out_refund_no}"]),
        "_refund_id_"
    );
}

#[test]
fn keywords_become_raw_identifiers() {
    assert_eq!(method_name("return", &[]), "r#return");
    assert_eq!(method_name("use", &[]), "r#use");
    assert_eq!(method_name("try", &[]), "r#try");
    assert_eq!(method_name("async", &[]), "r#async");
}

#[test]
#[should_panic(expected = "cannot be a raw identifier")]
fn self_cannot_be_a_method() {
    method_name("self", &[]);
}

#[test]
fn chain_methods_get_an_underscore() {
    assert_eq!(method_name("delete", &[]), "delete_");
    assert_eq!(method_name("send", &[]), "send_");
    assert_eq!(method_name("build", &[]), "build_");
    for name in codegen::CHAIN_METHODS {
        assert_eq!(method_name(name, &[]), format!("{name}_"));
    }
}

#[test]
fn a_sibling_spelled_as_the_identifier_keeps_it() {
    let siblings = ["policy-periods", "policy_periods"];
    assert_eq!(method_name("policy-periods", &siblings), "policy_periods_");
    assert_eq!(method_name("policy_periods", &siblings), "policy_periods");
    // Without the sibling, the folded name is free.
    assert_eq!(
        method_name("policy-periods", &["policy-periods"]),
        "policy_periods"
    );
}

#[test]
fn type_names_are_camel_case_of_the_segments() {
    assert_eq!(type_segment("membercard-open"), "MembercardOpen");
    assert_eq!(type_segment("{card_id}"), "CardId");
    assert_eq!(type_segment("addInstitutionsub"), "AddInstitutionsub");
    assert_eq!(type_segment("v3"), "V3");
}

#[test]
fn php_identifiers_are_camel_case() {
    assert_eq!(
        php_identifier("membercard-open").as_deref(),
        Some("membercardOpen")
    );
    assert_eq!(
        php_identifier("complaints-v2").as_deref(),
        Some("complaintsV2")
    );
    assert_eq!(php_identifier("{card_id}").as_deref(), Some("_card_id_"));
    assert_eq!(php_identifier(""), None);
}

#[test]
fn the_tree_covers_the_catalog_with_unique_names() {
    let tree = Tree::build(codegen::parse_catalog(&catalog()));
    assert_eq!(tree.endpoints.len(), 1154);
    let types: BTreeSet<&str> = tree.nodes.values().map(|n| n.type_name.as_str()).collect();
    assert_eq!(types.len(), tree.nodes.len(), "type names are unique");
    for endpoint in &tree.endpoints {
        assert_eq!(tree.node_of(&endpoint.path).path, endpoint.path);
    }
    // The one pair of siblings that fold to the same name, and their types.
    let dash = &tree.nodes["v3/papay/insurance-sign/policy-periods"];
    let underscore = &tree.nodes["v3/papay/insurance-sign/policy_periods"];
    assert_eq!(dash.method, "policy_periods_");
    assert_eq!(underscore.method, "policy_periods");
    assert_eq!(dash.type_name, "V3PapayInsuranceSignPolicyPeriods");
    assert_eq!(underscore.type_name, "V3PapayInsuranceSignPolicyPeriods2");
    assert_eq!(
        tree.method_chain(
            "c",
            "v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable"
        ),
        "c.v3().marketing().membercard_open().cards()._card_id_().codes()._code_().unavailable()"
    );
    // Trailing `/`: the node for the path without it carries the catalog path.
    let applyment = tree.node_of("v3/applyment4sub/applyment/");
    assert_eq!(applyment.key, "v3/applyment4sub/applyment");
    assert_eq!(applyment.path, "v3/applyment4sub/applyment/");
}

#[test]
fn the_index_lists_every_node_once_with_its_operations() {
    let tree = Tree::build(codegen::parse_catalog(&catalog()));
    let by_path: BTreeMap<&str, &codegen::Node> =
        tree.nodes.values().map(|n| (n.path.as_str(), n)).collect();
    let mut listed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut operations = BTreeSet::new();
    let mut current = None;
    let index = codegen::index_md(&tree);
    for line in index.lines() {
        if let Some(rest) = line.strip_prefix("- `") {
            let (path, rest) = rest.split_once("`: ").expect("a node line names its path");
            let node = by_path
                .get(path)
                .unwrap_or_else(|| panic!("the index lists `{path}`, which is no node"));
            let reached_by = format!("{}()` → `{}`", node.method, node.type_name);
            assert!(rest.contains(&reached_by), "`{path}`: {rest}");
            *listed.entry(path).or_default() += 1;
            current = Some(path);
        } else if let Some(rest) = line.strip_prefix("  - `") {
            let (method, title) = rest.split_once("` ").expect("an operation line has a verb");
            let path = current.expect("operations follow their node");
            operations.insert((path.to_string(), method.to_string(), title.to_string()));
        }
    }
    assert_eq!(listed.len(), tree.nodes.len(), "every node is listed");
    assert!(listed.values().all(|&n| n == 1), "no node is listed twice");
    // Each operation sits under the node of its own path, with its title and deprecation.
    let expected: BTreeSet<(String, String, String)> = tree
        .endpoints
        .iter()
        .map(|e| {
            let deprecated = if e.deprecated { " (deprecated)" } else { "" };
            let title = format!("{}{deprecated}", codegen::doc_text(&e.title));
            (e.path.clone(), e.method.clone(), title)
        })
        .collect();
    assert_eq!(expected.len(), tree.endpoints.len());
    assert_eq!(operations, expected);
    assert!(operations.contains(&(
        "global/v3/customs/orders".to_string(),
        "PATCH".to_string(),
        "报关信息修改API".to_string()
    )));
}
