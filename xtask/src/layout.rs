//! Checks of the code's shape that the compiler does not make: no import circle among a
//! crate's top-level modules (rooms), so each room can be read knowing only the rooms below it.
//!
//! A room depends on another when any of its files names `crate::<other>` (in a `use` tree or
//! a path). Comments and test code (items under `#[cfg(test)]`, `tests.rs` files) do not
//! count: a test may exercise rooms together. The host tests run it on the userspace and
//! common crates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The rooms (top-level modules) of the crate whose `src/` is `src`, each with the rooms it
/// names.
pub fn room_graph(src: &Path) -> std::io::Result<BTreeMap<String, BTreeSet<String>>> {
    let mut files = Vec::new();
    collect_rs(src, &mut files)?;
    let mut rooms: BTreeMap<String, String> = BTreeMap::new(); // file -> room
    for file in &files {
        let rel = file.strip_prefix(src).expect("under src");
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default();
        let room = first.strip_suffix(".rs").unwrap_or(first);
        let room = if matches!(room, "lib" | "main") {
            ""
        } else {
            room
        };
        rooms.insert(file.display().to_string(), room.to_string());
    }
    let known: BTreeSet<String> = rooms.values().cloned().collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let room = rooms[&file.display().to_string()].clone();
        if room.is_empty() {
            continue; // the crate root declares every room
        }
        let deps = graph.entry(room.clone()).or_default();
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file)?;
        for dep in crate_paths(&strip_test_items(&strip_comments(&text))) {
            if dep != room && known.contains(&dep) {
                deps.insert(dep);
            }
        }
    }
    Ok(graph)
}

/// The circles in `graph` (strongly connected groups of more than one room), each sorted.
pub fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Two rooms are in one circle when each reaches the other.
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(r) = todo.pop() {
            for d in graph.get(&r).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|r| (r, reach(r))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for room in graph.keys() {
        let group: Vec<String> = graph
            .keys()
            .filter(|o| *o == room || (reaches[room].contains(*o) && reaches[*o].contains(room)))
            .cloned()
            .collect();
        if group.len() > 1 && !out.contains(&group) {
            out.push(group);
        }
    }
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

/// `text` without `//` comments (doc comments' intra-doc links are not dependencies). String
/// literals holding `//` are rare enough in this code base to ignore.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `code` without the items marked `#[cfg(test)]` or `#[cfg(any(test, ...))]`.
fn strip_test_items(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    loop {
        let next = ["#[cfg(test)]", "#[cfg(any(test"]
            .iter()
            .filter_map(|m| rest.find(m))
            .min();
        let Some(i) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // The item ends at its `;` or at the brace closing its first `{`.
        let end = match (rest.find(';'), rest.find('{')) {
            (Some(semi), Some(brace)) if semi < brace => semi + 1,
            (_, Some(brace)) => {
                let mut depth = 0;
                let mut end = rest.len();
                for (j, c) in rest[brace..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = brace + j + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (Some(semi), None) => semi + 1,
            (None, None) => rest.len(),
        };
        rest = &rest[end..];
    }
}

/// The first segment of every `crate::` path in `code`, including each branch of a
/// `crate::{a::X, b}` use tree.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(i) = code[at..].find("crate::") {
        let start = at + i;
        at = start + "crate::".len();
        // `bondxdp_common::` ends in "crate::"? No: but `xcrate::` would; require a boundary.
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        if code[at..].starts_with('{') {
            // A use tree: take the first identifier of each top-level branch.
            let mut depth = 0;
            let mut branch_start = true;
            for (j, c) in code[at..].char_indices() {
                match c {
                    '{' => {
                        depth += 1;
                        if depth == 1 {
                            branch_start = true;
                        }
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            at += j;
                            break;
                        }
                    }
                    ',' if depth == 1 => branch_start = true,
                    c if depth == 1 && branch_start && (c.is_ascii_alphabetic() || c == '_') => {
                        branch_start = false;
                        out.insert(ident(&code[at + j..]));
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(&code[at..]));
        }
    }
    out.remove("");
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn paths_and_use_trees() {
        let code = "use crate::{\n    config::{A, B},\n    forward,\n    modes::xor::Xor,\n};\n\
                    fn f() { crate::hash::h(); bondxdp_common::crate_like(); }";
        let found: Vec<String> = crate_paths(code).into_iter().collect();
        assert_eq!(found, ["config", "forward", "hash", "modes"]);
        assert!(crate_paths("// see crate::modes").contains("modes"));
        assert!(!crate_paths(&strip_comments("// see crate::modes")).contains("modes"));
        let tested = "use crate::a::X;\n#[cfg(test)]\nmod tests {\n use crate::b; fn f() { {} }\n}\n\
                      #[cfg(test)]\nuse crate::c;\nfn g() { crate::d::h() }";
        let found: Vec<String> = crate_paths(&strip_test_items(tested)).into_iter().collect();
        assert_eq!(found, ["a", "d"]);
    }

    #[test]
    fn circles_are_found() {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut edge = |a: &str, b: &str| {
            g.entry(a.into()).or_default().insert(b.into());
            g.entry(b.into()).or_default();
        };
        edge("a", "b");
        edge("b", "c");
        edge("c", "a");
        edge("c", "d");
        assert_eq!(circles(&g), vec![vec!["a", "b", "c"]]);
    }

    fn assert_no_circles(krate: &str) {
        let graph = room_graph(&workspace().join(krate).join("src")).unwrap();
        assert!(graph.len() > 3, "{krate}: read its rooms");
        let found = circles(&graph);
        assert!(
            found.is_empty(),
            "{krate}: import circles among its rooms: {found:?}\n{graph:#?}"
        );
    }

    #[test]
    fn common_crate_has_no_import_circle() {
        assert_no_circles("bondxdp-common");
    }

    #[test]
    fn userspace_crate_has_no_import_circle() {
        assert_no_circles("bondxdp");
    }
}
