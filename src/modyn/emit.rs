//! The TOML side of the Modyn import: an ordered table tree written as a Sluice config.
//!
//! Keys keep the order they were set in (`id` first, as docs/config.md lists them). A table
//! whose values are all plain is written inline (`windows = { id = "time", ... }`); any other
//! table gets its own `[section]`, and a list of tables becomes `[[section]]` blocks.

use toml::Value;

/// One entry of an output table.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Out {
    /// A scalar or a list of scalars.
    Value(Value),
    /// A sub-table.
    Table(OTable),
    /// A list of inline tables (`schedule = [{ ... }, { ... }]`).
    Inline(Vec<OTable>),
    /// A list of tables written as `[[section]]` blocks.
    Blocks(Vec<OTable>),
}

/// An ordered table.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct OTable(pub Vec<(String, Out)>);

impl OTable {
    /// Sets `key` (replacing an earlier value in place).
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.put(key, Out::Value(value.into()));
    }

    /// Sets `key` to any entry.
    pub fn put(&mut self, key: &str, out: Out) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = out,
            None => self.0.push((key.to_string(), out)),
        }
    }

    /// The sub-table at `key`, created empty when missing.
    pub fn table(&mut self, key: &str) -> &mut OTable {
        if !matches!(self.get(key), Some(Out::Table(_))) {
            self.put(key, Out::Table(OTable::default()));
        }
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, Out::Table(t))) => t,
            _ => unreachable!("just inserted"),
        }
    }

    /// The entry at `key`.
    pub fn get(&self, key: &str) -> Option<&Out> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The plain value at `key`.
    pub fn value(&self, key: &str) -> Option<&Value> {
        match self.get(key) {
            Some(Out::Value(v)) => Some(v),
            _ => None,
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) -> Option<Out> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// Whether every entry is a plain value (so the table can be written inline).
    fn flat(&self) -> bool {
        self.0.iter().all(|(_, v)| matches!(v, Out::Value(_)))
    }
}

/// `key` as a TOML key: bare when it can be, else quoted.
fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        k.to_string()
    } else {
        Value::String(k.to_string()).to_string()
    }
}

fn inline(t: &OTable) -> String {
    let parts: Vec<String> =
        t.0.iter()
            .map(|(k, v)| format!("{} = {}", key(k), scalar(v)))
            .collect();
    if parts.is_empty() {
        "{}".into()
    } else {
        format!("{{ {} }}", parts.join(", "))
    }
}

fn scalar(v: &Out) -> String {
    match v {
        Out::Value(v) => v.to_string(),
        Out::Table(t) => inline(t),
        Out::Inline(ts) => format!("[{}]", ts.iter().map(inline).collect::<Vec<_>>().join(", ")),
        Out::Blocks(_) => unreachable!("blocks are sections"),
    }
}

/// Writes `root`'s tables as TOML sections (top-level values are not expected).
pub(super) fn render(root: &OTable) -> String {
    let mut out = String::new();
    for (k, v) in &root.0 {
        match v {
            Out::Table(t) => section(&mut out, &key(k), t, false, true),
            Out::Blocks(ts) => {
                for t in ts {
                    section(&mut out, &key(k), t, true, true);
                }
            }
            Out::Value(_) | Out::Inline(_) => {
                unreachable!("a Sluice config has only sections at the top")
            }
        }
    }
    out
}

fn section(out: &mut String, header: &str, t: &OTable, block: bool, top: bool) {
    let lines: Vec<String> =
        t.0.iter()
            .filter(|(_, v)| match v {
                Out::Table(sub) => sub.flat(),
                Out::Blocks(_) => false,
                _ => true,
            })
            .map(|(k, v)| format!("{} = {}", key(k), scalar(v)))
            .collect();
    if block || top || !lines.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        if block {
            out.push_str(&format!("[[{header}]]\n"));
        } else {
            out.push_str(&format!("[{header}]\n"));
        }
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    for (k, v) in &t.0 {
        let h = format!("{header}.{}", key(k));
        match v {
            Out::Table(sub) if !sub.flat() => section(out, &h, sub, false, false),
            Out::Blocks(ts) => {
                for sub in ts {
                    section(out, &h, sub, true, false);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_tables_are_inline_and_nested_ones_are_sections() {
        let mut root = OTable::default();
        let t = root.table("trigger");
        t.set("id", "drift");
        t.set("evaluation_interval_data_points", 250);
        let w = t.table("windows");
        w.set("id", "time");
        w.set("limit_ref", "2d");
        let m = t.table("metrics").table("mmd alibi");
        m.set("id", "mmd");
        m.table("criterion").set("threshold", 0.05);
        let mut d = OTable::default();
        d.set("name", "test");
        let mut s = OTable::default();
        s.set("strategy", "loss");
        root.table("selection")
            .put("schedule", Out::Inline(vec![s.clone(), s]));
        root.table("evaluation")
            .put("datasets", Out::Blocks(vec![d.clone(), d]));
        let text = render(&root);
        assert_eq!(
            text,
            r#"[trigger]
id = "drift"
evaluation_interval_data_points = 250
windows = { id = "time", limit_ref = "2d" }

[trigger.metrics."mmd alibi"]
id = "mmd"
criterion = { threshold = 0.05 }

[selection]
schedule = [{ strategy = "loss" }, { strategy = "loss" }]

[evaluation]

[[evaluation.datasets]]
name = "test"

[[evaluation.datasets]]
name = "test"
"#
        );
        // What is written is what the TOML parser reads back.
        let parsed: toml::Table = text.parse().unwrap();
        assert_eq!(
            parsed["trigger"]["metrics"]["mmd alibi"]["criterion"]["threshold"].as_float(),
            Some(0.05)
        );
    }
}
