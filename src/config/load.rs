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
use super::fields::{err, parse_span, positive_or, section, valid_topic};
use super::low;
use super::models::model;
use super::spec::*;
use super::training::{IlBase, check_training};

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
    let model = model(root.remove("model"), &base, errors);
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

fn trigger(value: Option<Value>, errors: &mut Vec<ConfigError>) -> Option<TriggerSpec> {
    let Some(value) = value else {
        err(errors, "trigger", "missing section");
        return None;
    };
    super::triggers::trigger(value, "trigger", errors)
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

/// `[source] max_future` of a Kafka source by default: 5 minutes, room for producers' clocks
/// running ahead.
pub const DEFAULT_MAX_FUTURE_MS: u64 = 5 * 60 * 1000;

fn check_source(
    s: low::Source,
    base: &Path,
    model: Option<&ModelSpec>,
    errors: &mut Vec<ConfigError>,
) -> Option<SourceSpec> {
    let before = errors.len();
    let replay_batch = positive_or(s.replay_batch, 1024, "source.replay_batch", errors);
    let max_future_ms = match s.max_future.as_deref() {
        // A file is sorted by event time before it is replayed: no sample can make later ones
        // late, and prepared datasets shift history to timelines that may pass today.
        None if s.kind == low::SourceKind::File => None,
        None => Some(DEFAULT_MAX_FUTURE_MS),
        Some("off") => None,
        Some(text) => parse_span(text)
            .map_err(|e| err(errors, "source.max_future", format!("{e}, or \"off\"")))
            .ok(),
    };
    let max_dead_letter_ratio = match s.max_dead_letter_ratio {
        None => Some(0.5),
        Some(r) if (0.0..=1.0).contains(&r) => Some(r),
        Some(_) => {
            err(
                errors,
                "source.max_dead_letter_ratio",
                "expected a number in 0..=1",
            );
            None
        }
    };
    let input = match s.kind {
        low::SourceKind::File => file_input(&s, base, errors),
        low::SourceKind::Kafka => kafka_input(&s, errors),
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
            max_future_ms,
            repeated_fields_last_wins: s.repeated_fields == Some(low::RepeatedFields::LastWins),
            delete_column: s.delete_column.clone(),
        },
        replay_batch: replay_batch? as usize,
        duplicates: s.duplicates,
        max_dead_letter_ratio: max_dead_letter_ratio?,
    })
}

/// An error at `source.{key}` when `set`: the key is only for sources of `kind`.
fn source_only(errors: &mut Vec<ConfigError>, key: &str, set: bool, kind: &str) {
    if set {
        err(
            errors,
            format!("source.{key}"),
            format!("only for kind = \"{kind}\""),
        );
    }
}

/// `[source]` of `kind = "file"`: the dataset file and its format.
fn file_input(s: &low::Source, base: &Path, errors: &mut Vec<ConfigError>) -> Option<InputSpec> {
    for (key, set) in [
        ("brokers", s.brokers.is_some()),
        ("kafka", s.kafka.is_some()),
        ("topic", s.topic.is_some()),
        ("partitions", s.partitions.is_some()),
        ("create_topic", s.create_topic.is_some()),
        ("until", s.until.is_some()),
        ("idle_timeout_ms", s.idle_timeout_ms.is_some()),
        ("late", s.late.is_some()),
        ("repeated_fields", s.repeated_fields.is_some()),
    ] {
        source_only(errors, key, set, "kafka");
    }
    if s.time_column.is_none() {
        err(
            errors,
            "source.time_column",
            "missing; a file source needs a time column",
        );
    }
    let Some(p) = &s.path else {
        err(errors, "source.path", "missing; a file source needs a path");
        return None;
    };
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

/// `[source]` of `kind = "kafka"`: the cluster, topic and message format.
fn kafka_input(s: &low::Source, errors: &mut Vec<ConfigError>) -> Option<InputSpec> {
    source_only(errors, "path", s.path.is_some(), "file");
    source_only(errors, "delete_column", s.delete_column.is_some(), "file");
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
            if o.publish_artifacts {
                err(errors, "output.publish_artifacts", "needs output.brokers");
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
                    publish_artifacts: o.publish_artifacts,
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

#[cfg(test)]
mod tests {
    use super::super::fields::parse_span;
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
                arch: Architecture::Mlp(MlpConfig { hidden: vec![64] }),
                normalize: Default::default(),
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
