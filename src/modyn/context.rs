//! The translation's shared state: the notes and problems collected ([`Cx`], with its typed
//! readers of YAML items), what later sections need from earlier ones ([`ModelInfo`],
//! [`TrainingInfo`]), and helpers more than one section uses (data code notes, names, spans).

use super::notes::{Note, NoteKind, Problem};
use super::yaml::{Item, Table, Value};

/// Notes and problems collected while translating.
#[derive(Default)]
pub(super) struct Cx {
    pub(super) notes: Vec<Note>,
    pub(super) problems: Vec<Problem>,
}

/// Reads a typed value from an item, recording a problem when the type is wrong.
pub(super) type Reader<T> = fn(&mut Cx, &Item) -> Option<T>;

impl Cx {
    pub(super) fn note(&mut self, it: &Item, kind: NoteKind, message: impl Into<String>) {
        self.notes.push(Note {
            key: it.path.clone(),
            line: it.line,
            kind,
            message: message.into(),
        });
    }

    /// A note on a key that is not in the file (`key` of the table at `line`).
    pub(super) fn note_at(
        &mut self,
        key: String,
        line: usize,
        kind: NoteKind,
        message: impl Into<String>,
    ) {
        self.notes.push(Note {
            key,
            line,
            kind,
            message: message.into(),
        });
    }

    pub(super) fn untranslated(&mut self, it: &Item, message: impl Into<String>) {
        self.note(it, NoteKind::Untranslated, message);
    }

    pub(super) fn approx(&mut self, it: &Item, message: impl Into<String>) {
        self.note(it, NoteKind::Approximated, message);
    }

    pub(super) fn problem(&mut self, key: &str, line: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.to_string(),
            line,
            column: None,
            message: message.into(),
        });
    }

    pub(super) fn missing(&mut self, t: &Table, key: &str, why: &str) {
        self.problem(
            &t.key(key),
            t.line,
            format!("missing; Modyn requires it and {why}"),
        );
    }

    pub(super) fn wrong(&mut self, it: &Item, expected: &str) {
        self.problem(
            &it.path,
            it.line,
            format!("expected {expected}, found {}", it.kind()),
        );
    }

    pub(super) fn str(&mut self, it: &Item) -> Option<String> {
        match &it.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.wrong(it, "a string");
                None
            }
        }
    }

    pub(super) fn int(&mut self, it: &Item) -> Option<i64> {
        match &it.value {
            Value::Int(i) => Some(*i),
            _ => {
                self.wrong(it, "an integer");
                None
            }
        }
    }

    pub(super) fn num(&mut self, it: &Item) -> Option<f64> {
        match &it.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => {
                self.wrong(it, "a number");
                None
            }
        }
    }

    pub(super) fn bool(&mut self, it: &Item) -> Option<bool> {
        match &it.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.wrong(it, "true or false");
                None
            }
        }
    }

    pub(super) fn table(&mut self, it: &Item) -> Option<Table> {
        let t = it.table();
        if t.is_none() {
            self.wrong(it, "a mapping");
        }
        t
    }

    pub(super) fn list(&mut self, it: &Item) -> Option<Vec<Item>> {
        let l = it.elements();
        if l.is_none() {
            self.wrong(it, "a list");
        }
        l
    }

    /// `key` of `t`, read with `read`; the item comes along for notes.
    pub(super) fn get<T>(
        &mut self,
        t: &mut Table,
        key: &str,
        read: Reader<T>,
    ) -> Option<(Item, T)> {
        let it = t.take(key)?;
        let v = read(self, &it)?;
        Some((it, v))
    }

    /// Like [`Cx::get`], for the value only.
    pub(super) fn val<T>(&mut self, t: &mut Table, key: &str, read: Reader<T>) -> Option<T> {
        self.get(t, key, read).map(|(_, v)| v)
    }

    /// A required key: a problem when missing.
    pub(super) fn need<T>(
        &mut self,
        t: &mut Table,
        key: &str,
        read: Reader<T>,
        why: &str,
    ) -> Option<T> {
        if !t.has(key) {
            self.missing(t, key, why);
            return None;
        }
        self.val(t, key, read)
    }

    /// Notes every key left in `t` as unknown to Modyn's schema.
    pub(super) fn rest(&mut self, t: Table) {
        for it in t.rest() {
            self.untranslated(
                &it,
                format!(
                    "unknown key (value {}), not in Modyn's pipeline schema; not translated",
                    it.show()
                ),
            );
        }
    }

    /// Notes every key left in `t` with the same message.
    pub(super) fn rest_with(&mut self, t: Table, message: &str) {
        for it in t.rest() {
            self.untranslated(&it, format!("{} ({message})", it.show()));
        }
    }
}

/// What later sections need to know about the model.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ModelInfo {
    /// Sluice architecture id.
    pub(super) arch: &'static str,
    pub(super) num_classes: i64,
    /// The Modyn model has one output (DLRM's click logit), trained with BCE.
    pub(super) single_logit: bool,
}

/// What later sections need to know about the training.
#[derive(Clone, Debug, Default)]
pub(super) struct TrainingInfo {
    pub(super) batch_size: Option<i64>,
    pub(super) device: Option<String>,
}

/// A name of letters, digits, `-`, `_` and `.`; other characters become `_`.
pub(super) fn sanitize(name: &str) -> String {
    let s: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "imported".into() } else { s }
}

/// The placeholder file of a Modyn dataset: `<dataset_id>.csv`.
pub(super) fn dataset_file(id: &str) -> String {
    format!("{}.csv", sanitize(id))
}

/// The notes on a Modyn data config's Python code and preprocessing (training data, evaluation
/// datasets, the performance trigger's dataset): Sluice runs none of it.
pub(super) fn data_code(cx: &mut Cx, t: &mut Table) {
    if let Some(it) = t.take("bytes_parser_function") {
        cx.untranslated(
            &it,
            "Python code is not run: Sluice decodes declared columns. Write the dataset as CSV or \
             Arrow with a `time` column (Unix seconds, Modyn's sample timestamp), a `label` column \
             (integer class) and one numeric column per value this function produced (e.g. \
             3x32x32 = 3072 for an RGB image), or publish it to Kafka as JSON objects with those \
             fields; `[source]` time_column, label_column and feature_columns name them",
        );
    }
    if let Some(it) = t.take("transformations") {
        let empty = matches!(&it.value, Value::Seq(v) if v.is_empty());
        if !empty {
            cx.untranslated(
                &it,
                format!(
                    "{}: Sluice runs no transforms: apply them when writing the dataset, or set `[model] normalize` (fixed per-feature `mean` and `std`, or `\"running\"`) for a normalisation (random augmentations have no equivalent)",
                    it.show()
                ),
            );
        }
    }
    if let Some(it) = t.take("label_transformer_function") {
        let empty = matches!(&it.value, Value::Str(s) if s.trim().is_empty())
            || matches!(it.value, Value::Null);
        if !empty {
            cx.untranslated(
                &it,
                "Python code is not run: write the transformed labels into the dataset's label \
                 column (integers 0..model.num_classes)",
            );
        }
    }
    if let Some(it) = t.take("tokenizer")
        && !matches!(it.value, Value::Null)
    {
        cx.untranslated(
            &it,
            format!(
                "Sluice has no tokenizer ({}): tokenise when writing the dataset; the `text` model reads the features as token ids (0 = padding)",
                it.show()
            ),
        );
    }
}

/// A Modyn time string (`<n><s|m|h|d|w|y>`) Sluice also reads, or a problem.
pub(super) fn span(cx: &mut Cx, it: &Item) -> Option<String> {
    let s = cx.str(it)?;
    match crate::config::parse_span(&s) {
        Ok(_) => Some(s),
        Err(e) => {
            cx.problem(&it.path, it.line, e);
            None
        }
    }
}
