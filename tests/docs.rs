//! docs/architecture.md and each folder's `mod.rs` name every file of the tree: a newcomer
//! who opens a folder finds each of its files in a file-to-responsibility table, and a file
//! added, renamed or removed without its row fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The source roots; each folder under them with a `mod.rs` is a module with a table.
const ROOTS: [&str; 2] = ["src", "dataflows/src"];

/// Every folder of a source root (the root too), relative to the repository, with `/` at the end.
fn folders() -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        out.push(format!("{rel}/"));
        let mut subs: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        for sub in subs {
            let name = sub.file_name().unwrap().to_str().unwrap().to_string();
            walk(&sub, &format!("{rel}/{name}"), out);
        }
    }
    let mut out = Vec::new();
    for root in ROOTS {
        walk(&Path::new(ROOT).join(root), root, &mut out);
    }
    out
}

/// What a folder's table must name: its `.rs` files (not `mod.rs`) and subfolders (`name/`).
fn entries(folder: &str) -> BTreeSet<String> {
    std::fs::read_dir(Path::new(ROOT).join(folder))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p: PathBuf| {
            let name = p.file_name()?.to_str()?.to_string();
            if p.is_dir() {
                Some(format!("{name}/"))
            } else if name.ends_with(".rs") && name != "mod.rs" {
                Some(name)
            } else {
                None
            }
        })
        .collect()
}

/// The first cell of each table row: `` | `name` | ... | `` gives `name`.
fn row_name(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("| `")?;
    Some(rest[..rest.find('`')?].to_string())
}

/// architecture.md's tables: under each heading `` ### `folder/` ``, the names of its rows.
fn architecture_tables() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("docs/architecture.md")).unwrap();
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with('#') {
            current = line
                .strip_prefix("### `")
                .and_then(|h| h.split_once('`'))
                .map(|(folder, _)| folder.to_string())
                .filter(|f| f.ends_with('/'));
            if let Some(f) = &current {
                tables.entry(f.clone()).or_default();
            }
        } else if let (Some(f), Some(name)) = (&current, row_name(line)) {
            tables.get_mut(f).unwrap().insert(name);
        }
    }
    tables
}

fn differences(what: &str, named: &BTreeSet<String>, present: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for missing in present.difference(named) {
        out.push(format!("{what}: no row for `{missing}`"));
    }
    for stale in named.difference(present) {
        out.push(format!("{what}: a row for `{stale}`, which does not exist"));
    }
    out
}

#[test]
fn architecture_md_has_a_table_per_folder_naming_each_file() {
    let tables = architecture_tables();
    let mut problems = Vec::new();
    for folder in folders() {
        match tables.get(&folder) {
            None => problems.push(format!("docs/architecture.md: no table `### `{folder}``")),
            Some(named) => problems.extend(differences(
                &format!("docs/architecture.md, {folder}"),
                named,
                &entries(&folder),
            )),
        }
    }
    for folder in tables.keys() {
        if !Path::new(ROOT).join(folder).is_dir() {
            problems.push(format!(
                "docs/architecture.md: a table for `{folder}`, not a folder"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn each_mod_rs_table_names_the_files_of_its_folder() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for folder in folders() {
        let head = Path::new(ROOT).join(&folder).join("mod.rs");
        let Ok(text) = std::fs::read_to_string(&head) else {
            continue; // a source root: its modules are listed in lib.rs and architecture.md
        };
        let named: BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .filter_map(row_name)
            .collect();
        problems.extend(differences(
            &format!("{folder}mod.rs"),
            &named,
            &entries(&folder),
        ));
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} folders with a mod.rs found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
