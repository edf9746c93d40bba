//! `[[variant]]`: a sweep of pipeline variants over one ingest. Each variant names itself and
//! overrides `[trigger]`, `[selection]` and `[training]` keys of the base config; its config is
//! the base with those tables merged in, validated like any config, its errors prefixed with
//! `variant[i] (name).`.
//!
//! Merging is key by key, recursively, except that a table whose `id` or `strategy` differs
//! from the base's (another trigger policy, another selection strategy) replaces the base's
//! table, and arrays replace arrays.

use std::path::Path;

use toml::{Table, Value};

use super::error::ConfigError;
use super::fields::err;
use super::spec::{PipelineSpec, Variant};

/// Sections a variant may override.
pub const VARIANT_SECTIONS: &[&str] = &["trigger", "selection", "training"];

/// Variants a sweep may have: lanes over one ingest, which the sample store tracks as one bit
/// each.
pub const MAX_LANES: usize = 64;

/// `[selection]` / `[training]` keys every variant shares (the dataflow holds one of each).
const SHARED_KEYS: &[(&str, &str, &str)] = &[(
    "selection",
    "maximum_keys_in_memory",
    "the variants share one sample store; set it in the base [selection]",
)];

/// `base` with `over` merged in (see the module docs).
pub fn merge(base: &mut Table, over: &Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o)) if same_kind(b, o) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Whether two tables configure the same policy (no `id`/`strategy`, or equal ones).
fn same_kind(base: &Table, over: &Table) -> bool {
    ["id", "strategy"]
        .iter()
        .all(|k| match (base.get(*k), over.get(*k)) {
            (Some(b), Some(o)) => b == o,
            _ => true,
        })
}

/// The variants of `root` (the config without its `variant` array), each validated by
/// `parse`; every problem goes to `errors` with its `variant[i] (name).` key path.
pub(super) fn variants(
    list: Value,
    root: &Table,
    path: &Path,
    parse: impl Fn(&str, &Path, &mut Vec<ConfigError>) -> Option<PipelineSpec>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Variant> {
    let Value::Array(list) = list else {
        err(
            errors,
            "variant",
            "expected an array of tables: write each variant as [[variant]]",
        );
        return Vec::new();
    };
    if list.len() > MAX_LANES {
        err(
            errors,
            "variant",
            format!(
                "{} variants; a sweep runs at most {}",
                list.len(),
                MAX_LANES
            ),
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, v) in list.into_iter().enumerate() {
        let Value::Table(mut v) = v else {
            err(errors, format!("variant[{i}]"), "expected a table");
            continue;
        };
        let Some(name) = variant_name(&mut v, i, &names, errors) else {
            continue;
        };
        let at = format!("variant[{i}] ({name})");
        names.push(name.clone());
        if !overrides_ok(&v, &at, errors) {
            continue;
        }
        let mut merged = root.clone();
        merge(&mut merged, &v);
        let text = toml::to_string(&merged).expect("a parsed table serialises");
        let mut inner = Vec::new();
        match parse(&text, path, &mut inner) {
            Some(spec) if inner.is_empty() => out.push(Variant { name, spec }),
            _ => errors.extend(inner.into_iter().map(|e| ConfigError {
                key: format!("{at}.{}", e.key),
                message: e.message,
            })),
        }
    }
    out
}

/// The `name` of variant `i` (removed from `v`): a string, usable as a directory name, not
/// in `names` (the names before it).
fn variant_name(
    v: &mut Table,
    i: usize,
    names: &[String],
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    let name = match v.remove("name") {
        Some(Value::String(n)) => n,
        Some(other) => {
            err(
                errors,
                format!("variant[{i}].name"),
                format!("expected a string, found {}", other.type_str()),
            );
            return None;
        }
        None => {
            err(
                errors,
                format!("variant[{i}].name"),
                "missing; every variant needs a name",
            );
            return None;
        }
    };
    let at = format!("variant[{i}] ({name})");
    if name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        err(
            errors,
            format!("{at}.name"),
            "use letters, digits, `-`, `_` and `.`, not first (it names a directory)",
        );
        return None;
    }
    if names.contains(&name) {
        err(
            errors,
            format!("{at}.name"),
            "another variant has this name",
        );
        return None;
    }
    Some(name)
}

/// Whether variant `v` (at key path `at`) overrides only [`VARIANT_SECTIONS`], each with a
/// table, and none of the [`SHARED_KEYS`]; every problem goes to `errors`.
fn overrides_ok(v: &Table, at: &str, errors: &mut Vec<ConfigError>) -> bool {
    let mut bad = false;
    for (k, value) in v {
        if !VARIANT_SECTIONS.contains(&k.as_str()) {
            err(
                errors,
                format!("{at}.{k}"),
                format!(
                    "a variant overrides only {}; everything else is the base config's",
                    VARIANT_SECTIONS.join(", ")
                ),
            );
            bad = true;
        } else if !value.is_table() {
            err(
                errors,
                format!("{at}.{k}"),
                format!("expected a table, found {}", value.type_str()),
            );
            bad = true;
        }
    }
    for (section, key, why) in SHARED_KEYS {
        if v.get(*section)
            .and_then(Value::as_table)
            .is_some_and(|t| t.contains_key(*key))
        {
            err(errors, format!("{at}.{section}.{key}"), *why);
            bad = true;
        }
    }
    !bad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        text.parse().unwrap()
    }

    #[test]
    fn variants_merge_key_by_key_and_replace_another_policy() {
        let mut base = table(
            "[trigger]\nid = \"amount\"\nevery = 500\n\
             [training]\nepochs_per_trigger = 3\nseed = 7\n[training.optimizer]\nalgorithm = \"adam\"\nlr = 0.01\n",
        );
        let over =
            table("[trigger]\nevery = 200\n[training]\nseed = 8\n[training.optimizer]\nlr = 0.1\n");
        merge(&mut base, &over);
        assert_eq!(base["trigger"]["id"].as_str(), Some("amount"));
        assert_eq!(base["trigger"]["every"].as_integer(), Some(200));
        assert_eq!(base["training"]["epochs_per_trigger"].as_integer(), Some(3));
        assert_eq!(base["training"]["seed"].as_integer(), Some(8));
        assert_eq!(
            base["training"]["optimizer"]["algorithm"].as_str(),
            Some("adam")
        );
        assert_eq!(base["training"]["optimizer"]["lr"].as_float(), Some(0.1));
        // Another trigger policy: the base's keys of the old one do not carry over.
        merge(
            &mut base,
            &table("[trigger]\nid = \"time\"\nevery = \"1h\"\n"),
        );
        assert_eq!(base["trigger"].as_table().unwrap().len(), 2);
        assert_eq!(base["trigger"]["every"].as_str(), Some("1h"));
    }
}
