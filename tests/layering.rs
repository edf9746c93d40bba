//! The shape of `src/`: no file imports a module that imports it back, the top-level modules
//! are layered (config at the bottom, the pipeline at the top), and no function outside tests
//! is over 120 lines. A change that breaks one fails here, naming the imports or the function.
//!
//! Imports are read from the source text: every `crate::a::b` and `super::a` path outside
//! comments and `#[cfg(test)]` modules. A path into a folder's `mod.rs` from inside the folder
//! (its own facade) does not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Every `.rs` file under `src/`.
fn rust_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new(SRC), &mut out);
    out
}

/// Module path (`["source", "kafka", "reader"]`) → the file's text without tests and comments.
fn modules() -> BTreeMap<Vec<String>, String> {
    let mut out = BTreeMap::new();
    for p in rust_files() {
        let rel = p.strip_prefix(SRC).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_str().unwrap().to_string())
            .collect();
        if parts.last().is_some_and(|l| l == "mod") {
            parts.pop();
        }
        if parts == ["lib"] || parts == ["main"] {
            parts.clear();
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let code: Vec<&str> = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        out.insert(parts, code.join("\n"));
    }
    out
}

/// The `a::b::c` after each occurrence of `prefix` (`crate::` or `super::`).
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices(prefix) {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[i + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let segs: Vec<&str> = rest[..end]
            .split("::")
            .take_while(|s| s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_'))
            .collect();
        out.push(segs);
    }
    out
}

/// Module → the modules it imports (the longest known prefix of each path).
fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules = modules();
    let mut g = BTreeMap::new();
    for (m, code) in &modules {
        let mut deps = BTreeSet::new();
        let parent: Vec<String> = m[..m.len().saturating_sub(1)].to_vec();
        let targets = paths_after(code, "crate::")
            .into_iter()
            .map(|p| p.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .chain(paths_after(code, "super::").into_iter().map(|p| {
                // `super::super::x`: one level up per `super`.
                let ups = p.iter().take_while(|s| **s == "super").count();
                let mut full = parent[..parent.len().saturating_sub(ups)].to_vec();
                full.extend(p[ups..].iter().map(|s| s.to_string()));
                full
            }));
        for full in targets {
            if let Some(k) = (1..=full.len())
                .rev()
                .find(|k| modules.contains_key(&full[..*k]))
            {
                let dep = full[..k].to_vec();
                // Its own folder's facade (`mod.rs`) or itself: not an import.
                if dep != *m && !(dep.len() < m.len() && m[..dep.len()] == dep[..]) {
                    deps.insert(dep);
                }
            }
        }
        g.insert(m.clone(), deps);
    }
    g
}

/// Strongly connected components with more than one member.
fn cycles<N: Ord + Clone>(g: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    // Two nodes share a component when each reaches the other.
    let reach = |from: &N| -> BTreeSet<N> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for d in g.get(&n).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<N, BTreeSet<N>> = g.keys().map(|n| (n.clone(), reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in g.keys() {
        if done.contains(n) || !reached[n].contains(n) {
            continue;
        }
        let comp: Vec<N> = g
            .keys()
            .filter(|o| reached[n].contains(*o) && reached[*o].contains(n))
            .cloned()
            .collect();
        done.extend(comp.iter().cloned());
        out.push(comp);
    }
    out
}

#[test]
fn no_file_imports_a_module_that_imports_it_back() {
    let g = graph();
    assert!(g.len() > 100, "only {} modules found", g.len());
    let found: Vec<String> = cycles(&g)
        .iter()
        .map(|c| {
            c.iter()
                .map(|m| m.join("::"))
                .collect::<Vec<_>>()
                .join(" → ")
        })
        .collect();
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn top_level_modules_are_layered() {
    // config needs librdkafka's own check of a client setting when it loads, and rdkafka
    // lives only in source/kafka and sink/kafka: that one leaf (it imports nothing from
    // Sluice) is the only edge from config upwards.
    let leaf = vec!["source".to_string(), "kafka".into(), "setting".into()];
    let g = graph();
    assert!(g[&leaf].is_empty(), "{leaf:?} imports {:?}", g[&leaf]);
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in &g {
        let Some(from) = m.first() else { continue };
        for d in deps {
            if m[0] == "config" && *d == leaf {
                continue;
            }
            if d[0] != *from {
                top.entry(from.clone()).or_default().insert(d[0].clone());
            }
        }
        top.entry(from.clone()).or_default();
    }
    assert!(top["source"].contains("config"), "the check sees imports");
    let found: Vec<String> = cycles(&top).iter().map(|c| c.join(" ↔ ")).collect();
    assert!(found.is_empty(), "top-level cycles: {found:?}\n{top:#?}");
}

#[test]
fn no_function_outside_tests_is_over_120_lines() {
    // From a `fn` line to the `}` at its indentation, in every file before its tests.
    let fn_line = |l: &str| {
        let t = l.trim_start();
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let t = if t.starts_with("pub(") {
            t.split_once(") ").map_or(t, |(_, r)| r)
        } else {
            t
        };
        let t = t.strip_prefix("const ").unwrap_or(t);
        t.starts_with("fn ")
    };
    let mut long = Vec::new();
    let mut functions = 0;
    for path in rust_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let end = lines
            .iter()
            .position(|l| l.trim_start().starts_with("#[cfg(test)]"))
            .unwrap_or(lines.len());
        for i in 0..end {
            let l = lines[i];
            if !fn_line(l) || l.trim_end().ends_with(';') {
                continue;
            }
            functions += 1;
            let indent = &l[..l.len() - l.trim_start().len()];
            let close = format!("{indent}}}");
            let Some(last) = (i..end).find(|&j| lines[j] == close || (j == i && l.ends_with('}')))
            else {
                continue;
            };
            if last + 1 - i > 120 {
                long.push(format!(
                    "{}:{}: {} lines",
                    path.display(),
                    i + 1,
                    last + 1 - i
                ));
            }
        }
    }
    assert!(functions > 500, "only {functions} functions found");
    assert!(
        long.is_empty(),
        "functions over 120 lines:\n{}",
        long.join("\n")
    );
}
