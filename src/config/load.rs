//! Reading a config file into a [`PipelineSpec`], reporting every error with its key path.
//!
//! Each section is deserialised on its own, so an error in `[model]` does not hide one in
//! `[trigger]`; within a section a key that fails is removed and the section retried, so every
//! bad key is reported, not only the first.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use sluice_dataflows::downsampling::{DownsamplingPlan, target_size};
use toml::{Table, Value};

use super::error::{ConfigError, ConfigErrors};
use super::low;
use super::spec::*;

const SECTIONS: &[&str] = &[
    "pipeline",
    "source",
    "model",
    "training",
    "model_storage",
    "trigger",
    "selection",
    "evaluation",
    "output",
    "variant",
];

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<PipelineSpec, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        file: path.to_path_buf(),
        errors: vec![ConfigError {
            key: "(file)".into(),
            message: format!("cannot read config: {e}"),
        }],
    })?;
    parse(&text, path)
}

/// Validates config `text` as if read from `path` (relative paths resolve against its directory).
pub fn parse(text: &str, path: &Path) -> Result<PipelineSpec, ConfigErrors> {
    let mut errors = Vec::new();
    let spec = parse_inner(text, path, &mut errors);
    match spec {
        Some(spec) if errors.is_empty() => Ok(spec),
        _ => Err(ConfigErrors {
            file: path.to_path_buf(),
            errors,
        }),
    }
}

pub(super) fn err(
    errors: &mut Vec<ConfigError>,
    key: impl Into<String>,
    message: impl Into<String>,
) {
    errors.push(ConfigError {
        key: key.into(),
        message: message.into(),
    });
}

fn parse_inner(text: &str, path: &Path, errors: &mut Vec<ConfigError>) -> Option<PipelineSpec> {
    let mut root: Table = match text.parse::<Table>() {
        Ok(t) => t,
        Err(e) => {
            let key = match e.span() {
                Some(span) => {
                    let (line, col) = line_col(text, span.start);
                    format!("line {line}, column {col}")
                }
                None => "(syntax)".into(),
            };
            err(errors, key, e.message().trim().to_string());
            return None;
        }
    };
    for key in root.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            err(
                errors,
                key.clone(),
                format!("unknown section, expected one of {}", SECTIONS.join(", ")),
            );
        }
    }
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    // A sweep: the base is validated first, then each variant merged over it.
    let variants = root.remove("variant");
    let variant_base = variants.is_some().then(|| root.clone());

    let pipeline: Option<low::Pipeline> = required(&mut root, "pipeline", errors);
    let source: Option<low::Source> = required(&mut root, "source", errors);
    // RHO-Loss's irreducible-loss model is configured as changes to `[model]`/`[training]`.
    let il = IlBase {
        training: root.get("training").cloned(),
        model: root.get("model").cloned(),
        base: base.clone(),
    };
    let model = model(root.remove("model"), errors);
    let training: Option<low::Training> = required(&mut root, "training", errors);
    let trigger = trigger(root.remove("trigger"), errors);
    let selection = super::selection::selection(root.remove("selection"), &il, errors);
    let evaluation = root.remove("evaluation");
    let model_storage: Option<low::ModelStorage> = match root.remove("model_storage") {
        Some(v) => section(v, "model_storage", errors),
        None => Some(low::ModelStorage::default()),
    };
    let model_storage = model_storage.and_then(|m| check_model_storage(m, errors));
    let output: Option<low::Output> = match root.remove("output") {
        Some(v) => section(v, "output", errors),
        None => Some(low::Output::default()),
    };

    let pipeline = pipeline.and_then(|p| check_pipeline(p, errors));
    let source = source.and_then(|s| check_source(s, &base, model.as_ref(), errors));
    let training = training.and_then(|t| check_training(t, &base, errors));
    let evaluation = match evaluation {
        None => Some(None),
        Some(e) => {
            let classes = model.as_ref().map(|m| m.num_classes as usize);
            super::evaluation::evaluation(e, &base, source.as_ref(), classes, errors).map(Some)
        }
    };
    let output = output.and_then(|o| {
        let name = pipeline.as_ref().map_or("", |(n, _)| n.as_str());
        check_output(o, name, source.as_ref(), errors)
    });
    let training = match (training, &selection) {
        (Some(mut t), Some(sel)) if sel.downsampling.is_some() => {
            check_downsampling(&t, sel.downsampling.as_ref().expect("checked"), errors);
            t.downsampling = sel.downsampling.clone();
            t.irreducible = sel.irreducible.clone();
            Some(t)
        }
        (t, _) => t,
    };
    let (name, description) = pipeline?;
    let variants = match (variants, variant_base) {
        (Some(list), Some(root)) if errors.is_empty() => {
            super::variants::variants(list, &root, path, parse_inner, errors)
        }
        _ => Vec::new(),
    };
    Some(PipelineSpec {
        name,
        description,
        config_path: path.to_path_buf(),
        config_text: text.to_string(),
        source: source?,
        model: model?,
        training: training?,
        model_storage: model_storage?,
        trigger: trigger?,
        selection: selection?,
        evaluation: evaluation?,
        output: output?,
        variants,
    })
}

/// What RHO-Loss's irreducible-loss model inherits: the raw `[training]` and `[model]` tables.
pub(super) struct IlBase {
    pub training: Option<Value>,
    pub model: Option<Value>,
    pub base: PathBuf,
}

/// `[training]` keys the irreducible-loss model cannot change: whether it keeps `[training]`'s
/// value (otherwise the key's default: off), and why.
const IL_FIXED: &[(&str, bool, &str)] = &[
    (
        "device",
        true,
        "the irreducible-loss model trains on training.device",
    ),
    (
        "num_threads",
        true,
        "the irreducible-loss model trains in the trainer, with training.num_threads",
    ),
    (
        "queue_capacity",
        true,
        "not used by the irreducible-loss model",
    ),
    (
        "per_sample_feedback",
        false,
        "not used by the irreducible-loss model",
    ),
    (
        "initial_model",
        false,
        "the irreducible-loss model starts from random weights (Modyn's rule)",
    ),
    (
        "checkpoint_every_steps",
        false,
        "not used by the irreducible-loss model",
    ),
    (
        "record_loss_every",
        false,
        "not used by the irreducible-loss model",
    ),
    (
        "num_samples_to_pass",
        false,
        "the irreducible-loss model trains on its whole holdout split",
    ),
];

impl IlBase {
    /// The irreducible-loss model of the RHO-Loss downsampler at `at`: `[model]` unless
    /// `il_model` gives another, trained as `[training]` with `il_training`'s keys changed
    /// (`optimizer` merged key by key), from random weights every trigger unless
    /// `il_training.use_previous_model`. Errors name `at.il_training.*` / `at.il_model.*`;
    /// errors of inherited keys are `[training]`'s own, reported there.
    pub(super) fn spec(
        &self,
        training: Option<Value>,
        model: Option<Value>,
        at: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<IlSpec> {
        let before = errors.len();
        let own = match training {
            None => Table::new(),
            Some(Value::Table(t)) => t,
            Some(other) => {
                err(
                    errors,
                    format!("{at}.il_training"),
                    format!("expected a table, found {}", other.type_str()),
                );
                Table::new()
            }
        };
        let mut merged = match &self.training {
            Some(Value::Table(t)) => t.clone(),
            _ => Table::new(),
        };
        for (k, inherit, why) in IL_FIXED {
            if own.contains_key(*k) {
                err(errors, format!("{at}.il_training.{k}"), *why);
            }
            if !inherit {
                merged.remove(*k);
            }
        }
        merged.insert("use_previous_model".into(), Value::Boolean(false));
        for (k, v) in own.iter() {
            match (merged.get_mut(k), v) {
                (Some(Value::Table(base)), Value::Table(over)) if k == "optimizer" => {
                    base.extend(over.clone());
                }
                _ => {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        let mut inner = Vec::new();
        let t = section::<low::Training>(Value::Table(merged), "training", &mut inner)
            .and_then(|t| check_training(t, &self.base, &mut inner));
        let rename = |inner: Vec<ConfigError>,
                      from: &str,
                      to: &str,
                      own: &dyn Fn(&str) -> bool,
                      errors: &mut Vec<ConfigError>| {
            for e in inner {
                let Some(rest) = e.key.strip_prefix(from) else {
                    continue;
                };
                let first = rest.trim_start_matches('.').split('.').next().unwrap_or("");
                if own(first) {
                    errors.push(ConfigError {
                        key: format!("{at}.{to}{rest}"),
                        message: e.message,
                    });
                }
            }
        };
        rename(
            inner,
            "training",
            "il_training",
            &|k| own.contains_key(k),
            errors,
        );
        let (model, model_own) = match model {
            Some(m) => (Some(m), true),
            None => (self.model.clone(), false),
        };
        let mut inner = Vec::new();
        let model = self::model(model, &mut inner);
        rename(inner, "model", "il_model", &|_| model_own, errors);
        if errors.len() > before {
            return None;
        }
        Some(IlSpec {
            model: model?,
            training: t?,
        })
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

fn required<T: DeserializeOwned>(
    root: &mut Table,
    name: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match root.remove(name) {
        Some(v) => section(v, name, errors),
        None => {
            err(errors, name, "missing section");
            None
        }
    }
}

/// Deserialises one section; on error records it, removes the offending key and retries, so
/// every bad key of the section is reported.
pub(super) fn section<T: DeserializeOwned>(
    mut value: Value,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    if !value.is_table() {
        err(errors, prefix, "expected a table");
        return None;
    }
    let mut failed = false;
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(v) => return (!failed).then_some(v),
            Err(e) => {
                let message = e.inner().to_string();
                // A key removed after an earlier error may now be reported missing: stop.
                if failed && message.starts_with("missing field") {
                    return None;
                }
                failed = true;
                let mut segments: Vec<String> = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                        serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                        _ => None,
                    })
                    .collect();
                if let Some(field) = unknown_field(&message)
                    && segments.last().map(String::as_str) != Some(field)
                {
                    segments.push(field.to_string());
                }
                let key = std::iter::once(prefix.to_string())
                    .chain(segments.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(".");
                err(errors, key, message);
                if segments.is_empty() || !remove(&mut value, &segments) {
                    return None;
                }
            }
        }
    }
    None
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn remove(value: &mut Value, path: &[String]) -> bool {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cur = value;
    for seg in parents {
        cur = match cur {
            Value::Table(t) => match t.get_mut(seg) {
                Some(v) => v,
                None => return false,
            },
            Value::Array(a) => match seg.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match cur {
        Value::Table(t) => t.remove(last).is_some(),
        // Removing an element would renumber the rest; replace it with a neutral value
        // of the wrong type is worse, so stop reporting inside arrays.
        _ => false,
    }
}

fn trigger(value: Option<Value>, errors: &mut Vec<ConfigError>) -> Option<TriggerSpec> {
    let Some(value) = value else {
        err(errors, "trigger", "missing section");
        return None;
    };
    super::triggers::trigger(value, "trigger", errors)
}

/// `<n><s|m|h|d|w|y>` (Modyn's time grammar; a year is 365 days) in milliseconds.
pub fn parse_span(text: &str) -> Result<u64, String> {
    let bad = || format!("expected <n><s|m|h|d|w|y> with n > 0 (e.g. \"1h\"), found `{text}`");
    let t = text.trim();
    let unit = t.chars().last().ok_or_else(bad)?;
    let secs: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'y' => 365 * 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = t[..t.len() - 1].parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    n.checked_mul(secs * 1000).ok_or_else(bad)
}

/// A count, or the word `"all"` (`tail_triggers`, drift `sample_size`).
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub(super) enum CountOrAll {
    Count(i64),
    All(AllWord),
}

/// The word `"all"`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum AllWord {
    All,
}

pub(super) fn positive(v: i64) -> Option<u64> {
    (v > 0).then_some(v as u64)
}

/// Checks that an optional integer is > 0, applying `default` when absent.
pub(super) fn positive_or(
    v: Option<i64>,
    default: u64,
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<u64> {
    match v {
        None => Some(default),
        Some(v) => {
            let p = positive(v);
            if p.is_none() {
                err(errors, key, "expected an integer > 0");
            }
            p
        }
    }
}

fn check_pipeline(
    p: low::Pipeline,
    errors: &mut Vec<ConfigError>,
) -> Option<(String, Option<String>)> {
    let ok = !p.name.is_empty()
        && p.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        err(
            errors,
            "pipeline.name",
            "expected a non-empty name of letters, digits, '-', '_' or '.'",
        );
        return None;
    }
    Some((p.name, p.description))
}

fn model(value: Option<Value>, errors: &mut Vec<ConfigError>) -> Option<ModelSpec> {
    let Some(mut value) = value else {
        err(errors, "model", "missing section");
        return None;
    };
    let Some(table) = value.as_table_mut() else {
        err(errors, "model", "expected a table");
        return None;
    };
    let before = errors.len();
    let id = match table.remove("id") {
        Some(Value::String(s)) if MODEL_IDS.contains(&s.as_str()) => Some(s),
        Some(Value::String(s)) => {
            err(
                errors,
                "model.id",
                format!(
                    "unknown model `{s}`, expected one of {}",
                    MODEL_IDS.join(", ")
                ),
            );
            None
        }
        Some(other) => {
            err(
                errors,
                "model.id",
                format!("expected a string, found {}", other.type_str()),
            );
            None
        }
        None => {
            err(
                errors,
                "model.id",
                format!("missing, expected one of {}", MODEL_IDS.join(", ")),
            );
            None
        }
    };
    let num_classes = match table.remove("num_classes") {
        Some(Value::Integer(n)) if n >= 2 => Some(n),
        Some(_) => {
            err(errors, "model.num_classes", "expected an integer >= 2");
            None
        }
        None => {
            err(errors, "model.num_classes", "missing");
            None
        }
    };
    // The remaining keys are the architecture's own.
    let arch = match id?.as_str() {
        "mlp" => section(value, "model", errors).map(Architecture::Mlp),
        "cnn" => section(value, "model", errors).map(Architecture::Cnn),
        "resnet18" => section(value, "model", errors).map(Architecture::Resnet18),
        "dlrm" => section(value, "model", errors).map(Architecture::Dlrm),
        "text" => section(value, "model", errors).map(Architecture::Text),
        _ => unreachable!("checked against MODEL_IDS"),
    }?;
    for (key, message) in arch.validate() {
        err(errors, format!("model.{key}"), message);
    }
    (errors.len() == before).then_some(ModelSpec {
        num_classes: num_classes?,
        arch,
    })
}

fn check_source(
    s: low::Source,
    base: &Path,
    model: Option<&ModelSpec>,
    errors: &mut Vec<ConfigError>,
) -> Option<SourceSpec> {
    let before = errors.len();
    let replay_batch = positive_or(s.replay_batch, 1024, "source.replay_batch", errors);
    let only = |errors: &mut Vec<ConfigError>, key: &str, set: bool, kind: &str| {
        if set {
            err(
                errors,
                format!("source.{key}"),
                format!("only for kind = \"{kind}\""),
            );
        }
    };
    let input = match s.kind {
        low::SourceKind::File => {
            for (key, set) in [
                ("brokers", s.brokers.is_some()),
                ("kafka", s.kafka.is_some()),
                ("topic", s.topic.is_some()),
                ("partitions", s.partitions.is_some()),
                ("create_topic", s.create_topic.is_some()),
                ("until", s.until.is_some()),
                ("idle_timeout_ms", s.idle_timeout_ms.is_some()),
                ("late", s.late.is_some()),
            ] {
                only(errors, key, set, "kafka");
            }
            if s.time_column.is_none() {
                err(
                    errors,
                    "source.time_column",
                    "missing; a file source needs a time column",
                );
            }
            match &s.path {
                None => {
                    err(errors, "source.path", "missing; a file source needs a path");
                    None
                }
                Some(p) => {
                    let path = base.join(p);
                    if !path.is_file() {
                        err(
                            errors,
                            "source.path",
                            format!("file not found: {}", path.display()),
                        );
                    }
                    let format = match s.format {
                        Some(FileFormat::Json) => {
                            err(
                                errors,
                                "source.format",
                                "expected `csv` or `arrow` for a file",
                            );
                            None
                        }
                        Some(f) => Some(f),
                        None => {
                            let f = FileFormat::infer(&path);
                            if f.is_none() {
                                err(
                                    errors,
                                    "source.format",
                                    "cannot infer the format from the file extension; expected `csv` or `arrow`",
                                );
                            }
                            f
                        }
                    };
                    format.map(|format| InputSpec::File { path, format })
                }
            }
        }
        low::SourceKind::Kafka => {
            only(errors, "path", s.path.is_some(), "file");
            let format = match s.format {
                None | Some(FileFormat::Json) => ValueFormat::Json,
                Some(FileFormat::Arrow) => {
                    if s.key_column.is_none() {
                        err(
                            errors,
                            "source.key_column",
                            "missing; Arrow messages hold many rows, so each row needs a key column",
                        );
                    }
                    ValueFormat::Arrow
                }
                Some(FileFormat::Csv) => {
                    err(
                        errors,
                        "source.format",
                        "expected `json` or `arrow` for a Kafka source",
                    );
                    ValueFormat::Json
                }
            };
            if s.feature_columns.is_none() {
                err(
                    errors,
                    "source.feature_columns",
                    "missing; a Kafka source names its feature fields",
                );
            }
            let topic = s.topic.clone().unwrap_or_default();
            if !valid_topic(&topic) {
                err(
                    errors,
                    "source.topic",
                    "expected a topic name of letters, digits, '.', '_' or '-' (at most 249)",
                );
            }
            let partitions = positive_or(s.partitions, 1, "source.partitions", errors);
            let idle = match s.idle_timeout_ms {
                Some(v) if v < 0 => {
                    err(errors, "source.idle_timeout_ms", "expected an integer >= 0");
                    None
                }
                Some(v) => Some(v as u64),
                None => Some(5_000),
            };
            Some(InputSpec::Kafka(KafkaSourceSpec {
                cluster: KafkaCluster {
                    brokers: s.brokers.clone().unwrap_or_else(|| "127.0.0.1:9092".into()),
                    properties: super::kafka::properties(s.kafka.clone(), "source.kafka", errors),
                },
                topic,
                format,
                partitions: partitions.unwrap_or(1).min(i32::MAX as u64) as i32,
                create_topic: s.create_topic.unwrap_or(true),
                until: s.until,
                idle_timeout_ms: idle.unwrap_or(0),
                late: s.late.unwrap_or_default(),
            }))
        }
    };
    let mut named: Vec<&str> = vec![&s.label_column];
    named.extend(s.time_column.as_deref());
    named.extend(s.key_column.as_deref());
    if let Some(features) = &s.feature_columns {
        if features.is_empty() {
            err(
                errors,
                "source.feature_columns",
                "expected at least one column",
            );
        }
        for f in features {
            if named.contains(&f.as_str()) {
                err(
                    errors,
                    "source.feature_columns",
                    format!("`{f}` is also the key, time or label column"),
                );
            }
        }
    }
    if errors.len() != before {
        return None;
    }
    Some(SourceSpec {
        input: input?,
        columns: ColumnSpec {
            key_column: s.key_column,
            time_column: s.time_column,
            time_unit: s.time_unit,
            label_column: s.label_column,
            feature_columns: s.feature_columns,
            num_classes: model?.num_classes(),
        },
        replay_batch: replay_batch? as usize,
    })
}

pub(super) fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 249
        && t != "."
        && t != ".."
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `[output]`; `[output.kafka]` defaults to `[source.kafka]` when both use the same brokers.
fn check_output(
    o: low::Output,
    pipeline: &str,
    source: Option<&SourceSpec>,
    errors: &mut Vec<ConfigError>,
) -> Option<OutputSpec> {
    match (o.brokers, o.topic_prefix) {
        (None, None) => {
            if o.kafka.is_some() {
                err(errors, "output.kafka", "needs output.brokers");
                return None;
            }
            Some(OutputSpec::default())
        }
        (None, Some(_)) => {
            err(errors, "output.topic_prefix", "needs output.brokers");
            None
        }
        (Some(brokers), prefix) => {
            let properties = match (o.kafka, source.map(|s| &s.input)) {
                (Some(table), _) => super::kafka::properties(Some(table), "output.kafka", errors),
                (None, Some(InputSpec::Kafka(k))) if k.cluster.brokers == brokers => {
                    k.cluster.properties.clone()
                }
                (None, _) => Default::default(),
            };
            let topic_prefix = prefix.unwrap_or_else(|| pipeline.to_string());
            if !valid_topic(&format!("{topic_prefix}.dead-letter")) {
                err(
                    errors,
                    "output.topic_prefix",
                    "expected letters, digits, '.', '_' or '-'",
                );
                return None;
            }
            Some(OutputSpec {
                kafka: Some(KafkaOutputSpec {
                    cluster: KafkaCluster {
                        brokers,
                        properties,
                    },
                    topic_prefix,
                }),
            })
        }
    }
}

/// Batch-then-sample keeps `ratio` of each batch and accumulates the kept parts back to
/// `batch_size`: the kept part must divide it (Modyn's rule).
fn check_downsampling(t: &TrainingSpec, plan: &DownsamplingPlan, errors: &mut Vec<ConfigError>) {
    for (i, d) in plan.list.iter().enumerate() {
        if d.sample_then_batch {
            continue;
        }
        let kept = target_size(t.batch_size, d.ratio, d.ratio_max);
        if kept < t.batch_size && t.batch_size.is_multiple_of(kept) {
            continue;
        }
        let key = if plan.thresholds.is_empty() {
            "selection.downsampling.ratio".to_string()
        } else {
            format!("selection.downsampling.schedule[{i}].ratio")
        };
        err(
            errors,
            key,
            format!(
                "batch-then-sample keeps {kept} of each batch of {} (training.batch_size): that must be smaller than it and divide it",
                t.batch_size
            ),
        );
    }
}

fn check_training(
    t: low::Training,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<TrainingSpec> {
    let before = errors.len();
    let device = t.device.unwrap_or_else(|| "cpu".into());
    let device_ok = device == "cpu"
        || device
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<u32>().is_ok());
    if !device_ok {
        err(errors, "training.device", "expected `cpu` or `cuda:N`");
    }
    let batch_size = positive_or(Some(t.batch_size), 1, "training.batch_size", errors);
    let epochs = positive_or(
        t.epochs_per_trigger,
        1,
        "training.epochs_per_trigger",
        errors,
    );
    let threads = positive_or(t.num_threads, 1, "training.num_threads", errors);
    let queue = positive_or(t.queue_capacity, 2, "training.queue_capacity", errors);
    let seed = match t.seed {
        Some(s) if s < 0 => {
            err(errors, "training.seed", "expected an integer >= 0");
            None
        }
        Some(s) => Some(s as u64),
        None => Some(0),
    };
    let o = t.optimizer;
    if !(o.lr.is_finite() && o.lr > 0.0) {
        err(errors, "training.optimizer.lr", "expected a number > 0");
    }
    let momentum = o.momentum.unwrap_or(0.0);
    let weight_decay = o.weight_decay.unwrap_or(0.0);
    let nesterov = o.nesterov.unwrap_or(false);
    if !(0.0..1.0).contains(&momentum) {
        err(
            errors,
            "training.optimizer.momentum",
            "expected a number in [0, 1)",
        );
    }
    if !(weight_decay.is_finite() && weight_decay >= 0.0) {
        err(
            errors,
            "training.optimizer.weight_decay",
            "expected a number >= 0",
        );
    }
    if o.algorithm != OptimizerAlgorithm::Sgd && (o.momentum.is_some() || o.nesterov.is_some()) {
        err(
            errors,
            "training.optimizer",
            "momentum and nesterov apply to algorithm = \"sgd\" only",
        );
    }
    if nesterov && momentum == 0.0 {
        err(
            errors,
            "training.optimizer.nesterov",
            "nesterov needs momentum > 0",
        );
    }
    let betas = o.betas.unwrap_or([0.9, 0.999]);
    let eps = o.eps.unwrap_or(1e-8);
    if o.algorithm == OptimizerAlgorithm::Sgd && (o.betas.is_some() || o.eps.is_some()) {
        err(
            errors,
            "training.optimizer",
            "betas and eps apply to algorithm = \"adam\" or \"adamw\" only",
        );
    }
    if !betas.iter().all(|b| (0.0..1.0).contains(b)) {
        err(
            errors,
            "training.optimizer.betas",
            "expected two numbers in [0, 1)",
        );
    }
    if !(eps.is_finite() && eps > 0.0) {
        err(errors, "training.optimizer.eps", "expected a number > 0");
    }
    let mut param_groups = Vec::new();
    for (i, g) in o.param_groups.unwrap_or_default().into_iter().enumerate() {
        if !(g.lr.is_finite() && g.lr > 0.0) {
            err(
                errors,
                format!("training.optimizer.param_groups.{i}.lr"),
                "expected a number > 0",
            );
        }
        param_groups.push((g.prefix, g.lr));
    }
    let schedule = check_schedule(t.lr_scheduler, errors);
    let label_smoothing = t.label_smoothing.unwrap_or(0.0);
    if !(0.0..1.0).contains(&label_smoothing) {
        err(
            errors,
            "training.label_smoothing",
            "expected a number in [0, 1)",
        );
    }
    let criterion = t.criterion.unwrap_or_default();
    if t.label_smoothing.is_some() && criterion != Criterion::CrossEntropy {
        err(
            errors,
            "training.label_smoothing",
            "applies to criterion = \"cross_entropy\" only",
        );
    }
    if let Some(c) = t.grad_clip_norm
        && !(c.is_finite() && c > 0.0)
    {
        err(errors, "training.grad_clip_norm", "expected a number > 0");
    }
    let num_samples_to_pass = t
        .num_samples_to_pass
        .map(|n| positive_or(Some(n), 1, "training.num_samples_to_pass", errors));
    let record_loss_every = t
        .record_loss_every
        .map(|n| positive_or(Some(n), 1, "training.record_loss_every", errors));
    let checkpoint_every_steps = t
        .checkpoint_every_steps
        .map(|n| positive_or(Some(n), 1, "training.checkpoint_every_steps", errors));
    let initial_model = t.initial_model.map(|p| base.join(p));
    if let Some(p) = &initial_model
        && !p.is_file()
    {
        err(
            errors,
            "training.initial_model",
            format!("file not found: {}", p.display()),
        );
    }
    let amp = t.amp.unwrap_or(false);
    if amp && device == "cpu" {
        err(
            errors,
            "training.amp",
            "mixed precision needs a CUDA device",
        );
    }
    if errors.len() != before {
        return None;
    }
    Some(TrainingSpec {
        schedule: schedule?,
        criterion,
        label_smoothing,
        grad_clip_norm: t.grad_clip_norm,
        num_samples_to_pass: num_samples_to_pass.map(|n| n.expect("checked")),
        initial_model,
        record_loss_every: record_loss_every.map(|n| n.expect("checked")),
        checkpoint_every_steps: checkpoint_every_steps.map(|n| n.expect("checked")),
        amp,
        per_sample_feedback: t.per_sample_feedback.unwrap_or(false),
        // From `[selection.downsampling]`, once both are parsed.
        downsampling: None,
        irreducible: Vec::new(),
        device,
        batch_size: batch_size? as usize,
        epochs_per_trigger: epochs? as usize,
        shuffle: t.shuffle.unwrap_or(true),
        seed: seed?,
        use_previous_model: t.use_previous_model.unwrap_or(true),
        drop_last_batch: t.drop_last_batch.unwrap_or(false),
        num_threads: threads? as usize,
        queue_capacity: queue? as usize,
        optimizer: OptimizerSpec {
            algorithm: o.algorithm,
            lr: o.lr,
            momentum,
            nesterov,
            weight_decay,
            betas,
            eps,
            param_groups,
        },
    })
}

fn check_model_storage(
    m: low::ModelStorage,
    errors: &mut Vec<ConfigError>,
) -> Option<ModelStorageSpec> {
    let before = errors.len();
    let incremental = m.incremental.unwrap_or(false);
    let interval = positive_or(
        m.full_model_interval,
        10,
        "model_storage.full_model_interval",
        errors,
    );
    if !incremental && (m.operator.is_some() || m.full_model_interval.is_some()) {
        err(
            errors,
            "model_storage",
            "operator and full_model_interval apply to incremental = true only",
        );
    }
    let zstd_level = match m.zstd_level {
        Some(l) if !(1..=22).contains(&l) => {
            err(
                errors,
                "model_storage.zstd_level",
                "expected an integer in 1..=22",
            );
            None
        }
        l => l.map(|l| l as i32),
    };
    (errors.len() == before).then(|| ModelStorageSpec {
        incremental: incremental
            .then(|| (m.operator.unwrap_or_default(), interval.expect("checked"))),
        zstd_level,
    })
}

fn check_schedule(
    s: Option<low::LrScheduler>,
    errors: &mut Vec<ConfigError>,
) -> Option<ScheduleSpec> {
    let Some(s) = s else {
        return Some(ScheduleSpec::default());
    };
    let before = errors.len();
    let d = ScheduleSpec::default();
    let count = |v: Option<i64>, default: u64, key: &str, errors: &mut Vec<ConfigError>| match v {
        Some(n) if n < 0 => {
            err(
                errors,
                format!("training.lr_scheduler.{key}"),
                "expected an integer >= 0",
            );
            default
        }
        Some(n) => n as u64,
        None => default,
    };
    let step_size = count(s.step_size, d.step_size, "step_size", errors);
    if s.kind == ScheduleKind::Step && step_size == 0 {
        err(
            errors,
            "training.lr_scheduler.step_size",
            "expected an integer > 0",
        );
    }
    let gamma = s.gamma.unwrap_or(d.gamma);
    if !(gamma.is_finite() && gamma > 0.0) {
        err(
            errors,
            "training.lr_scheduler.gamma",
            "expected a number > 0",
        );
    }
    let min_lr = s.min_lr.unwrap_or(d.min_lr);
    if !(min_lr.is_finite() && min_lr >= 0.0) {
        err(
            errors,
            "training.lr_scheduler.min_lr",
            "expected a number >= 0",
        );
    }
    let t_max = s.t_max.map(|_| count(s.t_max, 1, "t_max", errors));
    if t_max == Some(0) {
        err(
            errors,
            "training.lr_scheduler.t_max",
            "expected an integer > 0",
        );
    }
    for (key, set, applies) in [
        (
            "step_size",
            s.step_size.is_some(),
            s.kind == ScheduleKind::Step,
        ),
        ("gamma", s.gamma.is_some(), s.kind == ScheduleKind::Step),
        ("t_max", s.t_max.is_some(), s.kind == ScheduleKind::Cosine),
        ("min_lr", s.min_lr.is_some(), s.kind == ScheduleKind::Cosine),
    ] {
        if set && !applies {
            err(
                errors,
                format!("training.lr_scheduler.{key}"),
                "does not apply to this kind",
            );
        }
    }
    let warmup_steps = count(s.warmup_steps, 0, "warmup_steps", errors);
    (errors.len() == before).then_some(ScheduleSpec {
        kind: s.kind,
        step_every: s.step_every,
        step_size,
        gamma,
        t_max,
        min_lr,
        warmup_steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[pipeline]
name = "t"
[source]
path = "Cargo.toml.csv"
time_column = "time"
label_column = "label"
[model]
id = "mlp"
num_classes = 2
[training]
batch_size = 8
[training.optimizer]
algorithm = "sgd"
lr = 0.1
[trigger]
id = "amount"
every = 10
"#;

    fn check(text: &str) -> Result<PipelineSpec, ConfigErrors> {
        // Relative paths resolve against the config's directory: make the source file exist.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml.csv"), "time,label\n").unwrap();
        parse(text, &dir.path().join("x.toml"))
    }

    fn keys(e: &ConfigErrors) -> Vec<String> {
        e.errors.iter().map(|e| e.key.clone()).collect()
    }

    #[test]
    fn good_config_gets_defaults() {
        let spec = check(GOOD).unwrap();
        assert_eq!(spec.trigger, TriggerSpec::Amount { every: 10 });
        assert_eq!(spec.selection, SelectionSpec::default());
        assert_eq!(spec.training.epochs_per_trigger, 1);
        assert!(spec.training.use_previous_model);
        assert!(matches!(
            spec.source.input,
            InputSpec::File {
                format: FileFormat::Csv,
                ..
            }
        ));
        assert_eq!(spec.source.columns.num_classes, 2);
        assert_eq!(spec.output, OutputSpec::default());
        assert_eq!(
            spec.model,
            ModelSpec {
                num_classes: 2,
                arch: Architecture::Mlp(MlpConfig { hidden: vec![64] })
            }
        );
    }

    #[test]
    fn every_zero_names_file_and_key() {
        let e = check(&GOOD.replace("every = 10", "every = 0")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.ends_with("x.toml: trigger.every: expected an integer > 0"),
            "{text}"
        );
    }

    #[test]
    fn reports_every_error_across_and_within_sections() {
        let bad = GOOD
            .replace("every = 10", "every = 10\nevry = 3")
            .replace("batch_size = 8", "batch_size = \"eight\"\nbogus = 1")
            .replace("num_classes = 2", "num_classes = 1");
        let e = check(&bad).unwrap_err();
        let k = keys(&e);
        assert!(k.contains(&"trigger.evry".to_string()), "{k:?}");
        assert!(k.contains(&"training.batch_size".to_string()), "{k:?}");
        assert!(k.contains(&"training.bogus".to_string()), "{k:?}");
        assert!(k.contains(&"model.num_classes".to_string()), "{k:?}");
        assert_eq!(k.len(), 4, "{e}");
    }

    #[test]
    fn unknown_section_and_trigger_and_missing_file() {
        let bad = GOOD
            .replace("id = \"amount\"", "id = \"amont\"")
            .replace("Cargo.toml.csv", "nope.csv")
            + "\n[extra]\na = 1\n";
        let e = check(&bad).unwrap_err();
        let k = keys(&e);
        assert!(k.contains(&"extra".to_string()), "{k:?}");
        assert!(k.contains(&"trigger.id".to_string()), "{k:?}");
        assert!(k.contains(&"source.path".to_string()), "{k:?}");
        assert!(e.to_string().contains("file not found"), "{e}");
    }

    #[test]
    fn syntax_error_names_line() {
        let e = check("[pipeline]\nname = \n").unwrap_err();
        assert!(e.errors[0].key.starts_with("line 2"), "{e}");
    }

    #[test]
    fn missing_required_key_and_section() {
        let bad = GOOD
            .replace("lr = 0.1", "")
            .replace("[trigger]\nid = \"amount\"\nevery = 10", "");
        let e = check(&bad).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("training.optimizer: missing field `lr`"),
            "{text}"
        );
        assert!(text.contains("trigger: missing section"), "{text}");
    }

    #[test]
    fn kafka_value_formats() {
        let kafka = GOOD.replace(
            "path = \"Cargo.toml.csv\"",
            "kind = \"kafka\"\ntopic = \"t\"\nfeature_columns = [\"a\"]\nformat = \"arrow\"",
        );
        // Arrow messages hold many rows: each needs its key column.
        let e = check(&kafka).unwrap_err();
        assert_eq!(keys(&e), ["source.key_column"], "{e}");
        let spec = check(&kafka.replace("[source]", "[source]\nkey_column = \"k\"")).unwrap();
        let InputSpec::Kafka(k) = &spec.source.input else {
            panic!("{:?}", spec.source.input)
        };
        assert_eq!(k.format, ValueFormat::Arrow);
        let e = check(&kafka.replace("\"arrow\"", "\"csv\"")).unwrap_err();
        assert!(
            e.to_string()
                .contains("source.format: expected `json` or `arrow` for a Kafka source"),
            "{e}"
        );
    }

    #[test]
    fn training_options_are_validated_with_their_keys() {
        let good = GOOD
            .replace(
                "[training.optimizer]",
                "criterion = \"cross_entropy\"\nlabel_smoothing = 0.1\ngrad_clip_norm = 1.0\n\
             num_samples_to_pass = 100\nrecord_loss_every = 5\n\
             [training.lr_scheduler]\nkind = \"cosine\"\nwarmup_steps = 3\nmin_lr = 0.001\n\
             [training.optimizer]",
            )
            .replace(
                "algorithm = \"sgd\"",
                "algorithm = \"adamw\"\nbetas = [0.9, 0.95]\n\
             param_groups = [{ prefix = \"2.\", lr = 0.01 }]",
            );
        let spec = check(&good).unwrap();
        let t = &spec.training;
        assert_eq!(t.optimizer.algorithm, OptimizerAlgorithm::Adamw);
        assert_eq!(t.optimizer.param_groups, vec![("2.".to_string(), 0.01)]);
        assert_eq!(t.optimizer.betas, [0.9, 0.95]);
        assert_eq!(t.schedule.kind, ScheduleKind::Cosine);
        assert_eq!((t.schedule.warmup_steps, t.schedule.min_lr), (3, 0.001));
        assert_eq!((t.label_smoothing, t.grad_clip_norm), (0.1, Some(1.0)));
        assert_eq!(
            (t.num_samples_to_pass, t.record_loss_every),
            (Some(100), Some(5))
        );

        let bad = good
            .replace("label_smoothing = 0.1", "label_smoothing = 1.5\namp = true")
            .replace("min_lr = 0.001", "min_lr = 0.001\ngamma = 0.5")
            .replace("lr = 0.01 }", "lr = -1.0 }")
            .replace("num_samples_to_pass = 100", "num_samples_to_pass = 0");
        let e = check(&bad).unwrap_err();
        let mut k = keys(&e);
        k.sort();
        assert_eq!(
            k,
            [
                "training.amp",
                "training.label_smoothing",
                "training.lr_scheduler.gamma",
                "training.num_samples_to_pass",
                "training.optimizer.param_groups.0.lr",
            ],
            "{e}"
        );
    }

    #[test]
    fn model_ids_and_their_own_keys() {
        let e = check(&GOOD.replace("id = \"mlp\"", "id = \"vgg\"")).unwrap_err();
        assert!(
            e.to_string().contains(
                "model.id: unknown model `vgg`, expected one of mlp, cnn, resnet18, dlrm, text"
            ),
            "{e}"
        );
        let cnn = GOOD.replace(
            "id = \"mlp\"",
            "id = \"cnn\"\ninput_shape = [1, 28, 28]\nchannels = [8, 0]\nkernel = 5",
        );
        let e = check(&cnn).unwrap_err();
        assert_eq!(keys(&e), ["model.kernel"], "{e}");
        let e = check(&cnn.replace("\nkernel = 5", "")).unwrap_err();
        assert_eq!(keys(&e), ["model.channels.1"], "{e}");
        let spec = check(&cnn.replace("channels = [8, 0]\nkernel = 5", "")).unwrap();
        let Architecture::Cnn(c) = &spec.model.arch else {
            panic!("{:?}", spec.model)
        };
        assert_eq!(
            (c.input_shape, c.channels.clone()),
            ([1, 28, 28], vec![32, 64])
        );
        // The input layout is checked against the features once they are known.
        assert_eq!(spec.model.arch.check_input(784), Ok(()),);
        assert!(
            spec.model
                .arch
                .check_input(8)
                .unwrap_err()
                .1
                .contains("holds 784 values")
        );
    }

    #[test]
    fn model_storage_keys() {
        let spec =
            check(&(GOOD.to_string() + "[model_storage]\nincremental = true\nzstd_level = 3\n"))
                .unwrap();
        assert_eq!(
            spec.model_storage.incremental,
            Some((DiffOperator::Xor, 10))
        );
        assert_eq!(spec.model_storage.zstd_level, Some(3));
        assert_eq!(
            check(GOOD).unwrap().model_storage,
            ModelStorageSpec::default()
        );
        let e =
            check(&(GOOD.to_string() + "[model_storage]\noperator = \"sub\"\nzstd_level = 30\n"))
                .unwrap_err();
        let mut k = keys(&e);
        k.sort();
        assert_eq!(k, ["model_storage", "model_storage.zstd_level"], "{e}");
    }

    #[test]
    fn rho_loss_il_model_inherits_training_and_rescore_always_is_modyn() {
        let t = format!(
            "{GOOD}[selection]\nstrategy = \"coreset\"\ndownsampling = {{ strategy = \"rho_loss\", \
             ratio = 50, holdout_set_ratio = 30, sample_then_batch = true, rescore_after = \"always\", \
             il_training = {{ epochs_per_trigger = 4, optimizer = {{ lr = 0.5 }} }} }}\n"
        );
        let spec = check(&t).unwrap();
        let d = &spec.training.downsampling.as_ref().unwrap().list[0];
        assert_eq!(d.rescore_after, None);
        let il = spec.training.irreducible[0].as_deref().unwrap();
        assert_eq!(il.training.epochs_per_trigger, 4);
        assert_eq!(il.training.optimizer.lr, 0.5);
        // The rest is [training]'s; the IL model starts afresh each trigger unless asked.
        assert_eq!(
            il.training.optimizer.algorithm,
            spec.training.optimizer.algorithm
        );
        assert_eq!(il.training.batch_size, 8);
        assert!(spec.training.use_previous_model && !il.training.use_previous_model);
        assert!(il.training.downsampling.is_none());
        assert_eq!(il.model, spec.model);
    }

    #[test]
    fn time_trigger_spans() {
        assert_eq!(parse_span("90s"), Ok(90_000));
        assert_eq!(parse_span("2h"), Ok(7_200_000));
        assert_eq!(parse_span("1y"), Ok(365 * 86_400_000));
        for bad in ["0h", "h", "5", "1.5h", "-1d", "3x", ""] {
            assert!(parse_span(bad).is_err(), "{bad}");
        }
        let t = GOOD.replace(
            "id = \"amount\"\nevery = 10",
            "id = \"time\"\nevery = \"1d\"\nstart = 1704067200",
        );
        assert_eq!(
            check(&t).unwrap().trigger,
            TriggerSpec::Time {
                every_ms: 86_400_000,
                every: "1d".into(),
                start_ms: Some(1_704_067_200_000)
            }
        );
        let e = check(&t.replace("\"1d\"", "\"1 day\"")).unwrap_err();
        assert_eq!(keys(&e), ["trigger.every"], "{e}");
    }
}
