//! The YAML side of the Modyn import: a pipeline file parsed into a small tree whose nodes know
//! their key path and line, and a [`Table`] that hands out a mapping's keys one at a time, so
//! the keys nobody asked for can be reported instead of dropped.
//!
//! Only this file knows the YAML crate (`saphyr`, chosen because it loads into a generic tree
//! with source positions, resolves aliases with a size limit and rejects duplicate keys).

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

/// A YAML value.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order: key, the key's line, value.
    Map(Vec<(String, usize, Node)>),
}

/// A value with the line (1-based) where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Node {
    pub line: usize,
    pub value: Value,
}

/// A syntax error: line, column (1-based) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses `text`, which must hold exactly one YAML document.
pub(super) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| SyntaxError {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    let mut docs = docs.into_iter();
    let Some(doc) = docs.next() else {
        return Err(SyntaxError {
            line: 1,
            column: 1,
            message:
                "empty file: expected a Modyn pipeline (a mapping with `pipeline`, `model`, ...)"
                    .into(),
        });
    };
    if let Some(next) = docs.next() {
        return Err(SyntaxError {
            line: next.span.start.line(),
            column: next.span.start.col() + 1,
            message: "a second YAML document: a pipeline file holds one".into(),
        });
    }
    convert(&doc)
}

fn convert(node: &MarkedYaml<'_>) -> Result<Node, SyntaxError> {
    let line = node.span.start.line();
    let bad = |message: String| SyntaxError {
        line,
        column: node.span.start.col() + 1,
        message,
    };
    let value = match &node.data {
        YamlData::Value(Scalar::Null) => Value::Null,
        YamlData::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        YamlData::Value(Scalar::Integer(i)) => Value::Int(*i),
        YamlData::Value(Scalar::FloatingPoint(f)) => Value::Float(f.into_inner()),
        YamlData::Value(Scalar::String(s)) => Value::Str(s.to_string()),
        YamlData::Representation(s, _, _) => Value::Str(s.to_string()),
        YamlData::Sequence(items) => {
            Value::Seq(items.iter().map(convert).collect::<Result<_, _>>()?)
        }
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map.iter() {
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                    YamlData::Value(Scalar::FloatingPoint(f)) => f.to_string(),
                    YamlData::Value(Scalar::Null) => "null".into(),
                    _ => return Err(bad("a mapping key that is not a plain value".into())),
                };
                entries.push((key, k.span.start.line(), convert(v)?));
            }
            Value::Map(entries)
        }
        // Tags (`!!python/...`, `!custom`) do not change what a value means to Modyn's schema.
        YamlData::Tagged(_, inner) => return convert(inner),
        YamlData::Alias(_) | YamlData::BadValue => {
            return Err(bad(
                "an invalid value (an unknown alias, or aliases expanding past the size limit)"
                    .into(),
            ));
        }
    };
    Ok(Node { line, value })
}

/// A value at a key path (`training.optimizers[0].param_groups[0].config.lr`).
#[derive(Clone, Debug)]
pub(super) struct Item {
    pub path: String,
    pub line: usize,
    pub value: Value,
}

impl Item {
    pub fn root(node: Node) -> Item {
        Item {
            path: String::new(),
            line: node.line,
            value: node.value,
        }
    }

    /// What the value is, for messages ("a string", "a mapping").
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The elements of a list, each with its path (`key[i]`); `None` if not a list.
    pub fn elements(&self) -> Option<Vec<Item>> {
        match &self.value {
            Value::Seq(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| Item {
                        path: format!("{}[{i}]", self.path),
                        line: n.line,
                        value: n.value.clone(),
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The mapping as a [`Table`]; `None` if not a mapping.
    pub fn table(&self) -> Option<Table> {
        match &self.value {
            Value::Map(entries) => Some(Table::of(&self.path, self.line, entries)),
            _ => None,
        }
    }

    /// The value as short YAML-like text, for notes (long strings are cut).
    pub fn show(&self) -> String {
        fn show(v: &Value, out: &mut String) {
            match v {
                Value::Null => out.push_str("null"),
                Value::Bool(b) => out.push_str(&b.to_string()),
                Value::Int(i) => out.push_str(&i.to_string()),
                Value::Float(f) => out.push_str(&f.to_string()),
                Value::Str(s) => {
                    let first = s.lines().next().unwrap_or("");
                    if first.len() > 40 || s.lines().count() > 1 {
                        let cut: String = first.chars().take(40).collect();
                        out.push_str(&format!("\"{cut}…\""));
                    } else {
                        out.push_str(&format!("\"{s}\""));
                    }
                }
                Value::Seq(items) => {
                    out.push('[');
                    for (i, n) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        show(&n.value, out);
                    }
                    out.push(']');
                }
                Value::Map(entries) => {
                    out.push('{');
                    for (i, (k, _, n)) in entries.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(k);
                        out.push_str(": ");
                        show(&n.value, out);
                    }
                    out.push('}');
                }
            }
        }
        let mut out = String::new();
        show(&self.value, &mut out);
        if out.chars().count() > 120 {
            out = out.chars().take(117).collect::<String>() + "...";
        }
        out
    }
}

/// A mapping whose keys are taken one by one; what is left was not understood.
#[derive(Clone, Debug)]
pub(super) struct Table {
    pub path: String,
    pub line: usize,
    /// Key and value; the value's path is usually `path.key`, but keeps its own when it was
    /// moved here from elsewhere (an old schema's nesting).
    entries: Vec<(String, Item)>,
}

impl Table {
    /// An empty table at `path` (for an absent optional mapping).
    pub fn new(path: &str, line: usize) -> Table {
        Table {
            path: path.to_string(),
            line,
            entries: Vec::new(),
        }
    }

    /// An empty table with no path.
    pub fn empty() -> Table {
        Table::new("", 0)
    }

    fn of(path: &str, line: usize, entries: &[(String, usize, Node)]) -> Table {
        let mut t = Table::new(path, line);
        t.entries = entries
            .iter()
            .map(|(k, line, node)| {
                let item = Item {
                    path: t.key(k),
                    line: *line,
                    value: node.value.clone(),
                };
                (k.clone(), item)
            })
            .collect();
        t
    }

    /// Adds `it` as `key`, keeping the item's own path for messages.
    pub fn insert(&mut self, key: &str, it: Item) {
        self.entries.retain(|(k, _)| k != key);
        self.entries.push((key.to_string(), it));
    }

    /// The path of `key` in this table.
    pub fn key(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Removes and returns `key`'s value (at the key's line).
    pub fn take(&mut self, key: &str) -> Option<Item> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// Whether `key` is still there.
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// The entries not taken, in file order, with their keys.
    pub fn entries(self) -> Vec<(String, Item)> {
        self.entries
    }

    /// The values not taken, in file order.
    pub fn rest(self) -> Vec<Item> {
        self.entries.into_iter().map(|(_, it)| it).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_types_lines_and_order() {
        let root = Item::root(
            parse("a: 1\nb:\n  c: True\n  d: [0.5, x, null]\ne: |\n  two\n  lines\n").unwrap(),
        );
        let mut t = root.table().unwrap();
        assert!(t.has("a") && t.has("b") && t.has("e") && !t.has("c"));
        let b = t.take("b").unwrap();
        assert_eq!((b.path.as_str(), b.line), ("b", 2));
        let mut bt = b.table().unwrap();
        let c = bt.take("c").unwrap();
        assert_eq!(
            (c.path.as_str(), c.line, &c.value),
            ("b.c", 3, &Value::Bool(true))
        );
        let d = bt.take("d").unwrap().elements().unwrap();
        assert_eq!(d[1].path, "b.d[1]");
        assert_eq!(d[0].value, Value::Float(0.5));
        assert_eq!(d[2].value, Value::Null);
        assert_eq!(
            t.take("e").unwrap().value,
            Value::Str("two\nlines\n".into())
        );
        let rest: Vec<String> = t.rest().into_iter().map(|i| i.path).collect();
        assert_eq!(rest, ["a"]);
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_have_a_line() {
        let e = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.line, 3, "{e:?}");
        assert!(e.message.contains("duplicated key"), "{e:?}");
        assert!(parse("").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn aliases_are_expanded() {
        let root = Item::root(parse("x: &v {lr: 0.1}\ny: *v\n").unwrap());
        let mut t = root.table().unwrap();
        let y = t.take("y").unwrap();
        assert_eq!(y.show(), "{lr: 0.1}");
    }
}
