//! `[evaluation]`: evaluation datasets (files or Kafka topics) and handlers (when, which
//! models, which intervals), every error with its key path.
//!
//! The short form — `path`, `metrics`, `batch_size`, `time_column` directly in `[evaluation]` —
//! is one dataset; without `[[evaluation.handlers]]` the default handlers run (see
//! [`default_handlers`]).

use std::path::Path;

use toml::Value;

use super::error::ConfigError;
use super::eval_spec::{Execution, Handler, Metric, ModelChoice, Offset, Strategy, Window};
use super::fields::{err, parse_span, positive_or, section, valid_topic};
use super::low::evaluation::{
    DatasetLow, EvaluationLow, HandlerLow, NoKeys, OWN_KEYS, OffsetLow, PeriodicLow, SlicingLow,
    StaticLow,
};
use super::spec::{
    ColumnSpec, EvalDatasetSpec, EvalInput, EvaluationSpec, FileFormat, InputSpec, KafkaCluster,
    SourceSpec, ValueFormat,
};

/// Strategy names: Sluice's and Modyn's.
const STRATEGIES: &[(&str, &str)] = &[
    ("slicing", "SlicingEvalStrategy"),
    ("periodic", "PeriodicEvalStrategy"),
    ("between_two_triggers", "BetweenTwoTriggersEvalStrategy"),
    ("offset", "OffsetEvalStrategy"),
    ("static", "StaticEvalStrategy"),
];

/// Parses `[evaluation]` (`value`), given the source (for columns and brokers) and the
/// number of classes (for metric checks).
pub(super) fn evaluation(
    value: Value,
    base: &Path,
    source: Option<&SourceSpec>,
    classes: Option<usize>,
    errors: &mut Vec<ConfigError>,
) -> Option<EvaluationSpec> {
    let before = errors.len();
    let Value::Table(mut rest) = value else {
        err(errors, "evaluation", "expected a table");
        return None;
    };
    let own: toml::Table = OWN_KEYS
        .iter()
        .filter_map(|k| rest.remove(*k).map(|v| (k.to_string(), v)))
        .collect();
    let e: EvaluationLow = section(Value::Table(own), "evaluation", errors)?;
    let short: DatasetLow = if rest.is_empty() {
        DatasetLow::default()
    } else {
        section(Value::Table(rest), "evaluation", errors)?
    };
    let short_used = short.path.is_some() || short.topic.is_some();
    let mut datasets = Vec::new();
    match (e.datasets, short_used) {
        (Some(_), true) => err(
            errors,
            "evaluation",
            "give either `path`/`topic` (one dataset) or [[evaluation.datasets]], not both",
        ),
        (None, false) => err(
            errors,
            "evaluation.datasets",
            "missing; name a dataset with `path` or `topic`, or give [[evaluation.datasets]]",
        ),
        (None, true) => {
            datasets.extend(dataset(short, "evaluation", base, source, classes, errors))
        }
        (Some(list), false) => {
            if list.is_empty() {
                err(
                    errors,
                    "evaluation.datasets",
                    "expected at least one dataset",
                );
            }
            for (i, v) in list.into_iter().enumerate() {
                let prefix = format!("evaluation.datasets[{i}]");
                if let Some(d) = section::<DatasetLow>(v, &prefix, errors) {
                    datasets.extend(dataset(d, &prefix, base, source, classes, errors));
                }
            }
        }
    }
    for (i, d) in datasets.iter().enumerate() {
        if datasets[..i].iter().any(|o| o.name == d.name) {
            err(
                errors,
                "evaluation.datasets",
                format!(
                    "two datasets are named `{}`; give each a distinct `name`",
                    d.name
                ),
            );
        }
    }
    let names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
    let handlers = match e.handlers {
        None => default_handlers(names.len()),
        Some(list) => {
            if list.is_empty() {
                err(
                    errors,
                    "evaluation.handlers",
                    "expected at least one handler",
                );
            }
            let mut out: Vec<Handler> = Vec::new();
            for (i, v) in list.into_iter().enumerate() {
                let prefix = format!("evaluation.handlers[{i}]");
                if let Some(h) = section::<HandlerLow>(v, &prefix, errors)
                    && let Some(h) = handler(h, &prefix, &names, errors)
                {
                    if out.iter().any(|o| o.name == h.name) {
                        err(
                            errors,
                            format!("{prefix}.name"),
                            format!("`{}` names another handler too", h.name),
                        );
                    }
                    out.push(h);
                }
            }
            out
        }
    };
    (errors.len() == before).then_some(EvaluationSpec {
        datasets,
        handlers,
        device: e.device,
    })
}

/// The handlers of an `[evaluation]` without `[[evaluation.handlers]]`, on every dataset:
/// `trigger_interval` (each model on its own trigger's interval, after training), `all` (each
/// model on the whole dataset, after training) and `serving` (the matrix of every model on
/// every model's serving interval, between two triggers, after the pipeline: the composite
/// models show how good the model in service was over time).
pub fn default_handlers(datasets: usize) -> Vec<Handler> {
    let all: Vec<usize> = (0..datasets).collect();
    vec![
        Handler {
            name: "trigger_interval".into(),
            execution: Execution::AfterTraining,
            models: ModelChoice::Matrix,
            strategy: Strategy::Offset(vec![Offset::Same]),
            datasets: all.clone(),
        },
        Handler {
            name: "all".into(),
            execution: Execution::AfterTraining,
            models: ModelChoice::Matrix,
            strategy: Strategy::Static(vec![(0, None)]),
            datasets: all.clone(),
        },
        Handler {
            name: "serving".into(),
            execution: Execution::AfterPipeline,
            models: ModelChoice::Matrix,
            strategy: Strategy::BetweenTwoTriggers,
            datasets: all,
        },
    ]
}

fn dataset(
    d: DatasetLow,
    prefix: &str,
    base: &Path,
    source: Option<&SourceSpec>,
    classes: Option<usize>,
    errors: &mut Vec<ConfigError>,
) -> Option<EvalDatasetSpec> {
    let before = errors.len();
    let key = |k: &str| format!("{prefix}.{k}");
    let input = match (&d.path, &d.topic) {
        (Some(_), Some(_)) => {
            err(
                errors,
                key("topic"),
                "give either `path` or `topic`, not both",
            );
            None
        }
        (None, None) => {
            err(
                errors,
                key("path"),
                "missing; give a file `path` or a Kafka `topic`",
            );
            None
        }
        (Some(p), None) => file_dataset(&d, p, prefix, base, errors),
        (None, Some(topic)) => topic_dataset(&d, topic, prefix, source, errors),
    };
    let batch_size = positive_or(d.batch_size, 1024, &key("batch_size"), errors);
    let metrics = metrics(d.metrics, prefix, classes, errors);
    let columns = source.map(|s| ColumnSpec {
        time_column: d.time_column.or_else(|| s.columns.time_column.clone()),
        delete_column: None,
        ..s.columns.clone()
    });
    let from_topic = matches!(input, Some(EvalInput::Kafka { .. }));
    if from_topic
        && columns
            .as_ref()
            .is_some_and(|c| c.feature_columns.is_none())
    {
        err(
            errors,
            key("topic"),
            "messages name their fields, so a topic dataset needs `[source] feature_columns`",
        );
    }
    let from_file = matches!(input, Some(EvalInput::File { .. }));
    if from_file && columns.as_ref().is_some_and(|c| c.time_column.is_none()) {
        err(
            errors,
            key("time_column"),
            "missing; the source takes event time from Kafka timestamps, so name the file's time column",
        );
    }
    let name = d.name.unwrap_or_else(|| match (&d.path, &d.topic) {
        (Some(p), _) => p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        (_, Some(t)) => t.clone(),
        _ => String::new(),
    });
    if errors.len() != before {
        return None;
    }
    Some(EvalDatasetSpec {
        name,
        input: input?,
        columns: columns?,
        metrics,
        batch_size: batch_size? as usize,
    })
}

/// A dataset read from the file at `p` (relative to `base`).
fn file_dataset(
    d: &DatasetLow,
    p: &Path,
    prefix: &str,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<EvalInput> {
    let key = |k: &str| format!("{prefix}.{k}");
    let path = base.join(p);
    if !path.is_file() {
        err(
            errors,
            key("path"),
            format!("file not found: {}", path.display()),
        );
    }
    if d.brokers.is_some() {
        err(errors, key("brokers"), "only with `topic`");
    }
    if d.kafka.is_some() {
        err(errors, key("kafka"), "only with `topic`");
    }
    let format = match d.format {
        Some(FileFormat::Json) => {
            err(
                errors,
                key("format"),
                "expected `csv` or `arrow` for a file",
            );
            None
        }
        Some(f) => Some(f),
        None => {
            let f = FileFormat::infer(&path);
            if f.is_none() {
                err(errors, key("path"), "expected a `.csv` or `.arrow` file");
            }
            f
        }
    };
    format.map(|format| EvalInput::File { path, format })
}

/// A dataset read from the Kafka `topic`: the source's cluster unless `brokers` names
/// another; `kafka` defaults to the source's settings on the same brokers.
fn topic_dataset(
    d: &DatasetLow,
    topic: &str,
    prefix: &str,
    source: Option<&SourceSpec>,
    errors: &mut Vec<ConfigError>,
) -> Option<EvalInput> {
    let key = |k: &str| format!("{prefix}.{k}");
    if !valid_topic(topic) {
        err(
            errors,
            key("topic"),
            "expected a topic name of letters, digits, '.', '_' or '-' (at most 249)",
        );
    }
    let format = match d.format {
        None | Some(FileFormat::Json) => Some(ValueFormat::Json),
        Some(FileFormat::Arrow) => Some(ValueFormat::Arrow),
        Some(FileFormat::Csv) => {
            err(
                errors,
                key("format"),
                "expected `json` or `arrow` for a topic",
            );
            None
        }
    };
    let from_source = match source.map(|s| &s.input) {
        Some(InputSpec::Kafka(k)) => Some(&k.cluster),
        _ => None,
    };
    let brokers = d
        .brokers
        .clone()
        .or_else(|| from_source.map(|c| c.brokers.clone()))
        .unwrap_or_else(|| "127.0.0.1:9092".into());
    let properties = match (d.kafka.clone(), from_source) {
        (Some(table), _) => super::kafka::properties(Some(table), &key("kafka"), errors),
        (None, Some(c)) if c.brokers == brokers => c.properties.clone(),
        (None, _) => Default::default(),
    };
    format.map(|format| EvalInput::Kafka {
        cluster: KafkaCluster {
            brokers,
            properties,
        },
        topic: topic.to_string(),
        format,
    })
}

/// A dataset's `metrics` (default: accuracy), each checked against the number of classes.
fn metrics(
    names: Option<Vec<String>>,
    prefix: &str,
    classes: Option<usize>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Metric> {
    let names = names.unwrap_or_else(|| vec!["accuracy".into()]);
    if names.is_empty() {
        err(
            errors,
            format!("{prefix}.metrics"),
            "expected at least one metric",
        );
    }
    let mut metrics = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let key = format!("{prefix}.metrics[{i}]");
        match Metric::parse(name) {
            Ok(m) if metrics.contains(&m) => err(errors, key, format!("`{name}` is listed twice")),
            Ok(m) => {
                if let Some(Err(why)) = classes.map(|c| m.check(c)) {
                    err(errors, key, why);
                }
                metrics.push(m);
            }
            Err(why) => err(errors, key, why),
        }
    }
    metrics
}

fn handler(
    h: HandlerLow,
    prefix: &str,
    datasets: &[&str],
    errors: &mut Vec<ConfigError>,
) -> Option<Handler> {
    let before = errors.len();
    let key = |k: &str| format!("{prefix}.{k}");
    let execution = match h.execution_time.as_deref().unwrap_or("after_training") {
        "after_training" => Some(Execution::AfterTraining),
        "after_pipeline" => Some(Execution::AfterPipeline),
        "manual" => Some(Execution::Manual),
        other => {
            err(
                errors,
                key("execution_time"),
                format!("unknown `{other}`, expected after_training, after_pipeline or manual"),
            );
            None
        }
    };
    let models = match h.models.as_deref().unwrap_or("matrix") {
        "matrix" => Some(ModelChoice::Matrix),
        "active" => Some(ModelChoice::Active),
        "training" => Some(ModelChoice::Training),
        other => {
            err(
                errors,
                key("models"),
                format!("unknown `{other}`, expected matrix, active or training"),
            );
            None
        }
    };
    if execution == Some(Execution::AfterTraining)
        && models.is_some_and(|m| m != ModelChoice::Matrix)
    {
        err(
            errors,
            key("models"),
            "after_training handlers evaluate each new model (`matrix`); the composite models \
             are known only after the pipeline: use execution_time = \"after_pipeline\"",
        );
    }
    let mut chosen = Vec::new();
    match h.datasets {
        None => chosen.extend(0..datasets.len()),
        Some(list) => {
            if list.is_empty() {
                err(
                    errors,
                    key("datasets"),
                    "expected at least one dataset name",
                );
            }
            for (i, name) in list.iter().enumerate() {
                match datasets.iter().position(|d| d == name) {
                    Some(d) => chosen.push(d),
                    None => err(
                        errors,
                        format!("{prefix}.datasets[{i}]"),
                        format!(
                            "unknown dataset `{name}`, expected one of {}",
                            datasets.join(", ")
                        ),
                    ),
                }
            }
        }
    }
    let strategy = strategy(h.strategy, &key("strategy"), errors);
    if errors.len() != before {
        return None;
    }
    Some(Handler {
        name: h.name,
        execution: execution?,
        models: models?,
        strategy: strategy?,
        datasets: chosen,
    })
}

/// Unix seconds ≥ 0 as ms.
fn seconds(v: Option<i64>, key: String, errors: &mut Vec<ConfigError>) -> Option<Option<u64>> {
    match v {
        Some(s) if s < 0 => {
            err(errors, key, "expected Unix seconds >= 0");
            None
        }
        s => Some(s.map(|s| s as u64 * 1000)),
    }
}

fn span(text: &str, key: String, errors: &mut Vec<ConfigError>) -> Option<u64> {
    parse_span(text).map_err(|e| err(errors, key, e)).ok()
}

fn strategy(value: Value, prefix: &str, errors: &mut Vec<ConfigError>) -> Option<Strategy> {
    let key = |k: &str| format!("{prefix}.{k}");
    let Value::Table(mut t) = value else {
        err(errors, prefix, "expected a table with a `type`");
        return None;
    };
    let kind = match t.remove("type") {
        Some(Value::String(s)) => s,
        Some(_) => {
            err(errors, key("type"), "expected a string");
            return None;
        }
        None => {
            err(errors, key("type"), "missing strategy type");
            return None;
        }
    };
    let Some(&(kind, _)) = STRATEGIES.iter().find(|(a, b)| *a == kind || *b == kind) else {
        let names: Vec<&str> = STRATEGIES.iter().map(|s| s.0).collect();
        err(
            errors,
            key("type"),
            format!(
                "unknown strategy `{kind}`, expected one of {}",
                names.join(", ")
            ),
        );
        return None;
    };
    let rest = Value::Table(t);
    match kind {
        "slicing" => slicing(section(rest, prefix, errors)?, prefix, errors),
        "periodic" => periodic(section(rest, prefix, errors)?, prefix, errors),
        "between_two_triggers" => {
            section::<NoKeys>(rest, prefix, errors)?;
            Some(Strategy::BetweenTwoTriggers)
        }
        "offset" => offset(section(rest, prefix, errors)?, prefix, errors),
        "static" => fixed(section(rest, prefix, errors)?, prefix, errors),
        _ => unreachable!("listed in STRATEGIES"),
    }
}

/// `type = "slicing"`.
fn slicing(s: SlicingLow, prefix: &str, errors: &mut Vec<ConfigError>) -> Option<Strategy> {
    let key = |k: &str| format!("{prefix}.{k}");
    let every_ms = span(&s.eval_every, key("eval_every"), errors);
    let start_ms = seconds(s.eval_start_from, key("eval_start_from"), errors)?;
    let end_ms = seconds(s.eval_end_at, key("eval_end_at"), errors)?;
    if let (Some(a), Some(b)) = (start_ms, end_ms)
        && a >= b
    {
        err(errors, key("eval_end_at"), "must be after eval_start_from");
        return None;
    }
    Some(Strategy::Slicing {
        every_ms: every_ms?,
        start_ms,
        end_ms,
    })
}

/// `type = "periodic"`.
fn periodic(s: PeriodicLow, prefix: &str, errors: &mut Vec<ConfigError>) -> Option<Strategy> {
    let key = |k: &str| format!("{prefix}.{k}");
    let every_ms = span(&s.every, key("every"), errors);
    let window = Window::parse(&s.interval)
        .map_err(|e| err(errors, key("interval"), e))
        .ok();
    let start_ms = seconds(s.start_timestamp, key("start_timestamp"), errors)?;
    let end_ms = seconds(s.end_timestamp, key("end_timestamp"), errors)?;
    if let (Some(a), Some(b)) = (start_ms, end_ms)
        && a > b
    {
        err(
            errors,
            key("end_timestamp"),
            "must not be before start_timestamp",
        );
        return None;
    }
    Some(Strategy::Periodic {
        every_ms: every_ms?,
        start_ms,
        end_ms,
        window: window?,
    })
}

/// `type = "offset"`.
fn offset(s: OffsetLow, prefix: &str, errors: &mut Vec<ConfigError>) -> Option<Strategy> {
    if s.offsets.is_empty() {
        err(
            errors,
            format!("{prefix}.offsets"),
            "expected at least one offset",
        );
    }
    let mut out = Vec::new();
    for (i, o) in s.offsets.iter().enumerate() {
        match Offset::parse(o) {
            Ok(o) => out.push(o),
            Err(e) => err(
                errors,
                format!("{prefix}.offsets[{i}]"),
                format!("expected -inf, inf, 0 or ±<n><unit>: {e}"),
            ),
        }
    }
    (out.len() == s.offsets.len() && !out.is_empty()).then_some(Strategy::Offset(out))
}

/// `type = "static"`.
fn fixed(s: StaticLow, prefix: &str, errors: &mut Vec<ConfigError>) -> Option<Strategy> {
    if s.intervals.is_empty() {
        err(
            errors,
            format!("{prefix}.intervals"),
            "expected at least one interval",
        );
    }
    let mut out = Vec::new();
    for (i, iv) in s.intervals.iter().enumerate() {
        let k = format!("{prefix}.intervals[{i}]");
        match iv.as_slice() {
            [a] if *a >= 0 => out.push((*a as u64 * 1000, None)),
            [a, b] if *a >= 0 && a < b => out.push((*a as u64 * 1000, Some(*b as u64 * 1000))),
            [a, b] if *a >= 0 => err(
                errors,
                k,
                format!("start {a} is not before end {b}: an interval needs start < end"),
            ),
            _ => err(
                errors,
                k,
                "expected [start] or [start, end] in Unix seconds >= 0",
            ),
        }
    }
    (out.len() == s.intervals.len() && !out.is_empty()).then_some(Strategy::Static(out))
}

#[cfg(test)]
mod tests {
    use super::super::{ConfigErrors, PipelineSpec, parse};
    use super::*;

    const BASE: &str = r#"
[pipeline]
name = "t"
[source]
path = "s.csv"
time_column = "time"
label_column = "label"
feature_columns = ["x0"]
[model]
id = "mlp"
num_classes = 3
[training]
batch_size = 8
[training.optimizer]
algorithm = "sgd"
lr = 0.1
[trigger]
id = "amount"
every = 10
"#;

    fn check(evaluation: &str) -> Result<PipelineSpec, ConfigErrors> {
        let dir = tempfile::tempdir().unwrap();
        for f in ["s.csv", "a.csv", "b.arrow"] {
            std::fs::write(dir.path().join(f), "time,label\n").unwrap();
        }
        parse(&format!("{BASE}{evaluation}"), &dir.path().join("x.toml"))
    }

    fn keys(evaluation: &str) -> Vec<String> {
        let e = check(evaluation).expect_err("invalid");
        e.errors.iter().map(|e| e.key.clone()).collect()
    }

    #[test]
    fn the_short_form_is_one_dataset_with_the_default_handlers() {
        let spec =
            check("[evaluation]\npath = \"a.csv\"\nmetrics = [\"accuracy\", \"f1_macro\"]\n")
                .unwrap();
        let e = spec.evaluation.unwrap();
        assert_eq!(e.datasets.len(), 1);
        assert_eq!(e.datasets[0].name, "a.csv");
        assert_eq!(e.datasets[0].batch_size, 1024);
        assert_eq!(e.datasets[0].columns.time_column.as_deref(), Some("time"));
        assert_eq!(e.handlers, default_handlers(1));
        assert_eq!(
            e.handlers
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>(),
            ["trigger_interval", "all", "serving"]
        );
    }

    #[test]
    fn datasets_and_handlers_of_every_strategy_parse_with_modyn_names_too() {
        let spec = check(
            r#"
[evaluation]
device = "cpu"
[[evaluation.datasets]]
name = "test"
path = "a.csv"
metrics = ["accuracy", "top2_accuracy"]
batch_size = 64
[[evaluation.datasets]]
path = "b.arrow"
time_column = "t"
[[evaluation.datasets]]
name = "live"
topic = "eval-topic"
brokers = "127.0.0.1:9093"
[[evaluation.handlers]]
name = "slices"
execution_time = "after_pipeline"
models = "active"
datasets = ["test", "b.arrow"]
strategy = { type = "SlicingEvalStrategy", eval_every = "1d", eval_start_from = 100, eval_end_at = 200000 }
[[evaluation.handlers]]
name = "periodic"
strategy = { type = "periodic", every = "1h", interval = "[-25h; +0]" }
[[evaluation.handlers]]
name = "btt"
execution_time = "manual"
models = "training"
strategy = { type = "between_two_triggers" }
[[evaluation.handlers]]
name = "offsets"
strategy = { type = "OffsetEvalStrategy", offsets = ["-inf", "0", "inf", "-1d", "2h"] }
[[evaluation.handlers]]
name = "fixed"
strategy = { type = "static", intervals = [[0, 10], [20]] }
"#,
        )
        .unwrap();
        let e = spec.evaluation.unwrap();
        assert_eq!(e.device.as_deref(), Some("cpu"));
        let names: Vec<&str> = e.datasets.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["test", "b.arrow", "live"]);
        assert_eq!(e.datasets[1].columns.time_column.as_deref(), Some("t"));
        assert!(matches!(
            &e.datasets[2].input,
            EvalInput::Kafka { cluster, topic, format: ValueFormat::Json }
                if cluster.brokers == "127.0.0.1:9093" && topic == "eval-topic"
        ));
        let h = &e.handlers;
        assert_eq!(h[0].execution, Execution::AfterPipeline);
        assert_eq!(h[0].models, ModelChoice::Active);
        assert_eq!(h[0].datasets, [0, 1]);
        assert_eq!(
            h[0].strategy,
            Strategy::Slicing {
                every_ms: 86_400_000,
                start_ms: Some(100_000),
                end_ms: Some(200_000_000)
            }
        );
        assert_eq!(h[1].execution, Execution::AfterTraining);
        assert_eq!(h[1].datasets, [0, 1, 2]);
        assert!(matches!(
            h[1].strategy,
            Strategy::Periodic {
                every_ms: 3_600_000,
                ..
            }
        ));
        assert_eq!(
            (h[2].execution, h[2].models),
            (Execution::Manual, ModelChoice::Training)
        );
        assert_eq!(
            h[3].strategy,
            Strategy::Offset(vec![
                Offset::Before,
                Offset::Same,
                Offset::After,
                Offset::Preceding(86_400_000),
                Offset::Following(7_200_000)
            ])
        );
        assert_eq!(
            h[4].strategy,
            Strategy::Static(vec![(0, Some(10_000)), (20_000, None)])
        );
    }

    #[test]
    fn bad_evaluation_configs_are_rejected_at_their_key_paths() {
        let handler = |strategy: &str| {
            format!(
                "[evaluation]\npath = \"a.csv\"\n[[evaluation.handlers]]\nname = \"h\"\nexecution_time = \"after_pipeline\"\nstrategy = {strategy}\n"
            )
        };
        for (strategy, key) in [
            (
                "{ type = \"static\", intervals = [[5, 3]] }",
                "evaluation.handlers[0].strategy.intervals[0]",
            ),
            (
                "{ type = \"static\", intervals = [[5, 5], [1]] }",
                "evaluation.handlers[0].strategy.intervals[0]",
            ),
            (
                "{ type = \"slicing\", eval_every = \"1d\", eval_start_from = 10, eval_end_at = 10 }",
                "evaluation.handlers[0].strategy.eval_end_at",
            ),
            (
                "{ type = \"slicing\", eval_every = \"0d\" }",
                "evaluation.handlers[0].strategy.eval_every",
            ),
            (
                "{ type = \"periodic\", every = \"1d\", interval = \"[+1d; -1d]\" }",
                "evaluation.handlers[0].strategy.interval",
            ),
            (
                "{ type = \"periodic\", every = \"1d\", interval = \"[-1d; +1d]\", start_timestamp = 9, end_timestamp = 8 }",
                "evaluation.handlers[0].strategy.end_timestamp",
            ),
            (
                "{ type = \"offset\", offsets = [\"0\", \"soon\"] }",
                "evaluation.handlers[0].strategy.offsets[1]",
            ),
            (
                "{ type = \"between_two_triggers\", every = \"1d\" }",
                "evaluation.handlers[0].strategy.every",
            ),
            (
                "{ type = \"sliding\" }",
                "evaluation.handlers[0].strategy.type",
            ),
        ] {
            assert_eq!(keys(&handler(strategy)), [key], "{strategy}");
        }
        for (text, want) in [
            (
                // A metric that does not fit the classes (3), an unknown one.
                "[evaluation]\npath = \"a.csv\"\nmetrics = [\"f1_binary\", \"recall\"]\n",
                vec!["evaluation.metrics[0]", "evaluation.metrics[1]"],
            ),
            (
                "[evaluation]\n[[evaluation.datasets]]\npath = \"a.csv\"\n[[evaluation.datasets]]\npath = \"b.arrow\"\nmetrics = [\"roc_auc\", \"mse\"]\n",
                vec!["evaluation.datasets[1].metrics[1]"],
            ),
            (
                "[evaluation]\n[[evaluation.datasets]]\npath = \"a.csv\"\n[[evaluation.datasets]]\npath = \"a.csv\"\n",
                vec!["evaluation.datasets"],
            ),
            (
                "[evaluation]\npath = \"a.csv\"\n[[evaluation.datasets]]\npath = \"a.csv\"\n",
                vec!["evaluation"],
            ),
            (
                "[evaluation]\nmetrics = [\"accuracy\"]\n",
                vec!["evaluation.datasets"],
            ),
            (
                "[evaluation]\npath = \"missing.csv\"\n",
                vec!["evaluation.path"],
            ),
            (
                "[evaluation]\npath = \"a.csv\"\ntopic = \"t\"\n",
                vec!["evaluation.topic"],
            ),
            (
                "[evaluation]\npath = \"a.csv\"\n[[evaluation.handlers]]\nname = \"h\"\nmodels = \"active\"\ndatasets = [\"nope\"]\nstrategy = { type = \"between_two_triggers\" }\n[[evaluation.handlers]]\nname = \"h\"\nexecution_time = \"later\"\nstrategy = { type = \"between_two_triggers\" }\n",
                vec![
                    "evaluation.handlers[0].models",
                    "evaluation.handlers[0].datasets[0]",
                    "evaluation.handlers[1].execution_time",
                ],
            ),
        ] {
            assert_eq!(keys(text), want, "{text}");
        }
    }
}
