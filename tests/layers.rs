//! The top-level modules of `src/` are layers: none may reach, directly or through others, a
//! module that reaches back to it. This test reads every `crate::...` path in the sources
//! (imports and inline paths alike, comments aside), maps names the crate root re-exports
//! (`crate::Client`) to the module that defines them, and fails on the first cycle, printing
//! it. Run it alone with `cargo test --test layers -- --nocapture` to see the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Each top-level module and the files it is made of.
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(SRC).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir() {
            modules.insert(name, rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
            modules.insert(name, vec![path]);
        }
    }
    modules
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The source without `//` comments (doc comments included): links in docs are not
/// dependencies.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.trim_start().starts_with("//") {
            true => "",
            false => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier_at(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first segment of every `crate::` path in `code`: `crate::a::b` gives `a`, and
/// `crate::{a::X, b}` gives `a` and `b`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 1 => {
                        found.push(identifier_at(group[item_start..i].trim_start()).to_string());
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 1 => {
                        found.push(identifier_at(group[item_start..i].trim_start()).to_string());
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(identifier_at(rest).to_string());
        }
    }
    found.retain(|name| !name.is_empty() && name != "self");
    found
}

/// Names re-exported at the crate root (`pub use client::{Client, ..}`), by the module
/// that defines them.
fn root_reexports() -> BTreeMap<String, String> {
    let lib = code_of(&std::fs::read_to_string(Path::new(SRC).join("lib.rs")).expect("lib.rs"));
    let mut owners = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = identifier_at(path).to_string();
        let names = match path.split_once('{') {
            Some((_, list)) => list
                .trim_end_matches('}')
                .split(',')
                .map(str::trim)
                .collect(),
            None => vec![path.rsplit("::").next().unwrap_or_default().trim()],
        };
        for name in names.into_iter().filter(|n| !n.is_empty()) {
            owners.insert(name.to_string(), module.clone());
        }
    }
    owners
}

fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let owners = root_reexports();
    let mut graph = BTreeMap::new();
    for (module, files) in &modules {
        let mut uses = BTreeSet::new();
        for file in files {
            let code = code_of(&std::fs::read_to_string(file).expect("a readable source file"));
            for name in crate_paths(&code) {
                let target = match owners.get(&name) {
                    Some(owner) => owner.clone(),
                    None => name,
                };
                if &target != module && modules.contains_key(&target) {
                    uses.insert(target);
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// A cycle through `start`, as the list of modules on it.
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    for next in &graph[path.last().expect("the path starts at `start`")] {
        if next == start {
            let mut cycle = path.clone();
            cycle.push(start.to_string());
            return Some(cycle);
        }
        if !path.contains(next) {
            path.push(next.clone());
            if let Some(cycle) = cycle_from(graph, start, path) {
                return Some(cycle);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn no_top_level_module_reaches_back_to_itself() {
    let graph = dependencies();
    for (module, uses) in &graph {
        println!(
            "{module} -> {}",
            uses.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module, &mut vec![module.clone()]) {
            panic!("import cycle between layers: {}", cycle.join(" -> "));
        }
    }
}

/// The scanner itself: grouped imports, inline paths and root re-exports are all seen.
#[test]
fn the_scanner_sees_every_kind_of_path() {
    let code = code_of(
        "use crate::{crypto::{Rsa, Hash}, error::Error};\n\
         // use crate::mock::MockServer;\n\
         let x = crate::transport::runtime::wait(f);\n\
         use crate::Client;",
    );
    assert_eq!(
        crate_paths(&code),
        ["crypto", "error", "transport", "Client"]
    );
    assert_eq!(
        root_reexports().get("Client").map(String::as_str),
        Some("client")
    );
    // The layers the crate is built on depend on nothing above them.
    let graph = dependencies();
    for low in ["error", "crypto", "trust", "request", "transport"] {
        assert!(!graph[low].contains("client"), "{low} -> client");
    }
}
