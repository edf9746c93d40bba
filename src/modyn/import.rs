//! The import: the YAML parsed, each Modyn section handed to its translator in output order,
//! then the notes as a comment block above the rendered TOML; `pipeline` → `[pipeline]` and
//! `data` → `[source]` are translated here.

use std::path::Path;

use super::context::{Cx, TrainingInfo, data_code, dataset_file, sanitize};
use super::emit::{self, OTable, Out};
use super::evaluation::evaluation;
use super::model::{model, model_storage};
use super::notes::{Import, ImportError, Note, NoteKind, Problem};
use super::selection::selection;
use super::training::training;
use super::trigger::trigger;
use super::yaml::{self, Item, Table};

/// Translates the Modyn pipeline `yaml_text` (read from `path`, which only names it in
/// messages) into a Sluice config.
pub fn import_modyn(yaml_text: &str, path: &Path) -> Result<Import, ImportError> {
    let fail = |problems: Vec<Problem>| ImportError {
        file: path.to_path_buf(),
        problems,
    };
    let root = yaml::parse(yaml_text).map_err(|e| {
        fail(vec![Problem {
            key: "(yaml)".into(),
            line: e.line,
            column: Some(e.column),
            message: e.message,
        }])
    })?;
    let mut cx = Cx::default();
    let out = translate(&mut cx, Item::root(root));
    if !cx.problems.is_empty() {
        cx.problems.sort_by_key(|p| p.line);
        return Err(fail(cx.problems));
    }
    let mut notes = cx.notes;
    notes.sort_by_key(|n| n.line);
    let toml = header(path, &notes) + &emit::render(&out);
    Ok(Import { toml, notes })
}

/// The comment block at the top of the TOML: where it came from and every note.
fn header(path: &Path, notes: &[Note]) -> String {
    let mut h = format!(
        "# Imported from the Modyn pipeline {} by `sluice import-modyn`.\n\
         # Fill in the placeholders and review the notes, then run `sluice validate` on this file.\n",
        path.display()
    );
    if !notes.is_empty() {
        h.push_str(&format!("#\n# Notes ({}):\n", notes.len()));
        for n in notes {
            h.push_str(&wrap(&format!("- {n}"), "# ", "#   "));
        }
    }
    h.push('\n');
    h
}

/// `text` as comment lines of at most 100 characters.
fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > 100 {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

fn translate(cx: &mut Cx, root: Item) -> OTable {
    let mut out = OTable::default();
    let Some(mut root) = cx.table(&root) else {
        return out;
    };
    let mut model_out = None;
    let mut info = None;
    match root.take("model") {
        None => cx.missing(&root, "model", "Sluice needs [model]"),
        Some(it) => {
            if let Some(mut m) = cx.table(&it) {
                match m.take("id") {
                    None => cx.missing(&m, "id", "it picks the Sluice architecture"),
                    Some(id) => {
                        if let Some((t, i)) = model(cx, &id, m.take("config"), "model.config") {
                            model_out = Some(t);
                            info = Some(i);
                        }
                    }
                }
                cx.rest(m);
            }
        }
    }

    pipeline(cx, &mut root, &mut out);
    let dataset = data(cx, &mut root, &mut out);
    if let Some(m) = model_out {
        out.put("model", Out::Table(m));
    }
    let (training_out, tinfo) = match root.take("training") {
        None => {
            cx.missing(&root, "training", "Sluice needs [training]");
            (None, TrainingInfo::default())
        }
        Some(it) => match cx.table(&it) {
            Some(t) => {
                let (o, ti, legacy) = training(cx, t, info.as_ref(), None);
                if let Some(sel) = legacy {
                    if root.has("selection_strategy") {
                        cx.untranslated(
                            &sel,
                            "the old schema's place of selection_strategy; the top-level one is used",
                        );
                    } else {
                        cx.approx(
                            &sel,
                            "old Modyn schema (selection_strategy under training): translated as the top-level selection_strategy",
                        );
                        root.insert("selection_strategy", sel);
                    }
                }
                (Some(o), ti)
            }
            None => (None, TrainingInfo::default()),
        },
    };
    if let Some(t) = &training_out {
        out.put("training", Out::Table(t.clone()));
    }
    model_storage(cx, &mut root, &mut out);
    match root.take("trigger") {
        None => cx.missing(&root, "trigger", "Sluice needs [trigger]"),
        Some(it) => {
            if let Some(t) = trigger(cx, &it) {
                out.put("trigger", Out::Table(t));
            }
        }
    }
    match root.take("selection_strategy") {
        None => cx.missing(
            &root,
            "selection_strategy",
            "it says what each trigger trains on",
        ),
        Some(it) => {
            if let Some(s) = selection(cx, &it, &tinfo, training_out.as_ref(), info.as_ref()) {
                out.put("selection", Out::Table(s));
            }
        }
    }
    if let Some(it) = root.take("evaluation") {
        let classes = info.as_ref().map(|i| i.num_classes);
        if let Some(e) = evaluation(cx, &it, dataset.as_ref(), classes, &tinfo) {
            out.put("evaluation", Out::Table(e));
        }
    }
    cx.rest(root);
    out
}
/// `[pipeline]`.
fn pipeline(cx: &mut Cx, root: &mut Table, out: &mut OTable) {
    let Some(it) = root.take("pipeline") else {
        cx.missing(root, "pipeline", "Sluice needs pipeline.name");
        return;
    };
    let Some(mut t) = cx.table(&it) else {
        return;
    };
    let p = out.table("pipeline");
    match t.take("name") {
        None => cx.missing(&t, "name", "Sluice names runs, models and events after it"),
        Some(it) => {
            if let Some(name) = cx.str(&it) {
                let clean = sanitize(&name);
                if clean != name {
                    cx.approx(
                        &it,
                        format!(
                            "Sluice names hold only letters, digits, '-', '_' and '.' (they name files and topics): `{name}` became `{clean}`"
                        ),
                    );
                }
                p.set("name", clean);
            }
        }
    }
    if let Some(d) = cx.val(&mut t, "description", Cx::str) {
        p.set("description", d);
    }
    if let Some(it) = t.take("version") {
        cx.untranslated(
            &it,
            format!(
                "Sluice configs have no version (Modyn's was {}); keep it in the description if you need it",
                it.show()
            ),
        );
    }
    cx.rest(t);
}

/// `data` → `[source]`: a placeholder file named after the dataset. Returns the dataset id.
fn data(cx: &mut Cx, root: &mut Table, out: &mut OTable) -> Option<String> {
    let Some(it) = root.take("data") else {
        cx.missing(root, "data", "Sluice needs a [source]");
        return None;
    };
    let mut t = cx.table(&it)?;
    let id = match t.take("dataset_id") {
        None => {
            cx.missing(&t, "dataset_id", "it names the [source] placeholder");
            None
        }
        Some(it) => cx.str(&it).map(|id| (it, id)),
    };
    data_code(cx, &mut t);
    cx.rest(t);
    let (it, id) = id?;
    let file = dataset_file(&id);
    let s = out.table("source");
    s.set("kind", "file");
    s.set("path", file.as_str());
    s.set("time_column", "time");
    s.set("time_unit", "s");
    s.set("label_column", "label");
    cx.note(
        &it,
        NoteKind::Placeholder,
        format!(
            "Modyn reads dataset `{id}` from its storage service; Sluice reads a file or a Kafka \
             topic. [source] path = \"{file}\" is a placeholder (relative to this file): export \
             the dataset there with columns time (Unix seconds), label and the features (every \
             other column), or use kind = \"kafka\", topic = \"{}\", feature_columns = [...] \
             and drop path",
            sanitize(&id)
        ),
    );
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PipelineSpec, TriggerSpec};

    /// A complete Modyn pipeline; `extra` replaces or adds top-level sections.
    fn pipeline_yaml(extra: &str) -> String {
        let base = r#"
pipeline:
  name: t
model:
  id: Dummy
model_storage:
  full_model_strategy:
    name: PyTorchFullModel
training:
  gpus: 1
  device: cpu
  dataloader_workers: 1
  use_previous_model: true
  initial_model: random
  batch_size: 32
  shuffle: true
  optimizers:
    - name: default
      algorithm: SGD
      source: PyTorch
      param_groups:
        - module: model
          config: { lr: 0.1 }
  optimization_criterion:
    name: CrossEntropyLoss
  checkpointing:
    activated: false
data:
  dataset_id: stream
  bytes_parser_function: |
    def bytes_parser_function(data):
      return data
trigger:
  id: DataAmountTrigger
  num_samples: 100
selection_strategy:
  name: NewDataStrategy
  maximum_keys_in_memory: 1000
  tail_triggers: 0
"#;
        // Replace whole top-level sections named in `extra`.
        let replaced: Vec<&str> = extra
            .lines()
            .filter(|l| !l.starts_with(' ') && l.ends_with(':'))
            .map(|l| l.trim_end_matches(':'))
            .collect();
        let mut out = String::new();
        let mut skip = false;
        for line in base.lines() {
            if !line.starts_with(' ') && line.ends_with(':') {
                skip = replaced.contains(&line.trim_end_matches(':'));
            }
            if !skip {
                out.push_str(line);
                out.push('\n');
            }
        }
        out + extra
    }

    fn import(yaml: &str) -> Import {
        import_modyn(yaml, Path::new("p.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    fn problems(yaml: &str) -> Vec<Problem> {
        import_modyn(yaml, Path::new("p.yaml"))
            .expect_err("the import should fail")
            .problems
    }

    fn toml_of(i: &Import) -> toml::Table {
        i.toml.parse().unwrap_or_else(|e| panic!("{e}\n{}", i.toml))
    }

    fn note<'a>(i: &'a Import, key: &str) -> &'a Note {
        i.notes
            .iter()
            .find(|n| n.key == key)
            .unwrap_or_else(|| panic!("no note on {key}: {:#?}", i.notes))
    }

    /// Loads the TOML with Sluice's own loader, after writing the placeholder datasets it names
    /// (with as many features as the model reads).
    fn valid(i: &Import) -> PipelineSpec {
        let t = toml_of(i);
        let model = t["model"].as_table().unwrap();
        let features = match model["id"].as_str().unwrap() {
            "cnn" | "resnet18" => model["input_shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_integer().unwrap())
                .product::<i64>() as usize,
            "dlrm" => {
                model["dense_features"].as_integer().unwrap() as usize
                    + model["embedding_sizes"].as_array().unwrap().len()
            }
            _ => 2,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut files = vec![t["source"]["path"].as_str().unwrap().to_string()];
        if let Some(ds) = t
            .get("evaluation")
            .and_then(|e| e.get("datasets"))
            .and_then(|d| d.as_array())
        {
            files.extend(ds.iter().map(|d| d["path"].as_str().unwrap().to_string()));
        }
        let header: Vec<String> = ["time".to_string(), "label".to_string()]
            .into_iter()
            .chain((0..features).map(|f| format!("f{f}")))
            .collect();
        let row = |i: usize| {
            let mut r = vec![(i * 86_400).to_string(), (i % 2).to_string()];
            r.extend((0..features).map(|_| "1".to_string()));
            r.join(",")
        };
        for f in files {
            let text = format!("{}\n{}\n{}\n", header.join(","), row(0), row(1));
            std::fs::write(dir.path().join(f), text).unwrap();
        }
        crate::config::parse(&i.toml, &dir.path().join("p.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{}", i.toml))
    }

    #[test]
    fn a_minimal_pipeline_becomes_this_config() {
        let i = import(&pipeline_yaml(""));
        let body = i
            .toml
            .split("\n\n")
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n\n");
        assert_eq!(
            body,
            r#"[pipeline]
name = "t"

[source]
kind = "file"
path = "stream.csv"
time_column = "time"
time_unit = "s"
label_column = "label"

[model]
id = "mlp"
num_classes = 2
hidden = []

[training]
device = "cpu"
batch_size = 32
shuffle = true
use_previous_model = true
drop_last_batch = true
criterion = "cross_entropy"
optimizer = { algorithm = "sgd", lr = 0.1 }

[trigger]
id = "amount"
every = 100

[selection]
strategy = "new_data"
tail_triggers = 0
maximum_keys_in_memory = 1000
"#
        );
        let keys: Vec<&str> = i.notes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "model.id",
                "training.dataloader_workers",
                "data.dataset_id",
                "data.bytes_parser_function"
            ]
        );
        assert_eq!(note(&i, "data.dataset_id").kind, NoteKind::Placeholder);
        assert_eq!(
            note(&i, "data.bytes_parser_function").kind,
            NoteKind::Untranslated
        );
        // The notes open the file as comments.
        assert!(
            i.toml
                .starts_with("# Imported from the Modyn pipeline p.yaml")
        );
        assert!(
            i.toml.contains(
                "# - data.dataset_id (line 29): placeholder: Modyn reads dataset `stream`"
            ),
            "{}",
            i.toml
        );
        let spec = valid(&i);
        assert_eq!(spec.trigger, TriggerSpec::Amount { every: 100 });
        assert!(spec.training.drop_last_batch);
    }

    #[test]
    fn unknown_keys_are_notes_with_their_paths() {
        let i = import(&pipeline_yaml(
            r#"
trigger:
  id: TimeTrigger
  every: 2h
  start_timestamp: 3600
  colour: blue
extra_section:
  a: 1
"#,
        ));
        let n = note(&i, "trigger.colour");
        assert_eq!(n.kind, NoteKind::Untranslated);
        assert!(n.message.contains("\"blue\""), "{}", n.message);
        assert!(n.message.contains("not in Modyn's pipeline schema"));
        note(&i, "extra_section");
        let t = toml_of(&i);
        assert_eq!(t["trigger"]["id"].as_str(), Some("time"));
        assert_eq!(t["trigger"]["every"].as_str(), Some("2h"));
        assert_eq!(t["trigger"]["start"].as_integer(), Some(3600));
        let spec = valid(&i);
        assert!(matches!(
            spec.trigger,
            TriggerSpec::Time {
                every_ms: 7_200_000,
                start_ms: Some(3_600_000),
                ..
            }
        ));
    }

    #[test]
    fn missing_required_keys_and_wrong_types_are_problems_naming_the_key() {
        let p = problems(
            "pipeline:\n  description: x\nmodel:\n  id: Dummy\ntraining:\n  batch_size: \"64\"\n",
        );
        let keys: Vec<(&str, usize)> = p.iter().map(|p| (p.key.as_str(), p.line)).collect();
        // A missing key is reported at its parent's line.
        assert!(keys.contains(&("pipeline.name", 1)), "{keys:?}");
        assert!(keys.contains(&("training.batch_size", 6)), "{keys:?}");
        assert!(keys.contains(&("trigger", 1)), "{keys:?}");
        assert!(keys.contains(&("data", 1)), "{keys:?}");
        assert!(keys.contains(&("selection_strategy", 1)), "{keys:?}");
        assert!(keys.contains(&("training.optimizers", 5)), "{keys:?}");
        let bs = p.iter().find(|p| p.key == "training.batch_size").unwrap();
        assert_eq!(bs.message, "expected an integer, found a string");
        let e = ImportError {
            file: "p.yaml".into(),
            problems: vec![bs.clone()],
        };
        assert_eq!(
            e.to_string(),
            "p.yaml:6: training.batch_size: expected an integer, found a string"
        );
    }

    #[test]
    fn yaml_syntax_errors_have_line_and_column() {
        let e = import_modyn("pipeline:\n  name: [a\n", Path::new("p.yaml")).unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert_eq!(e.problems[0].key, "(yaml)");
        assert!(e.to_string().starts_with("p.yaml:"), "{e}");
        assert!(e.problems[0].column.is_some());
        let e = import_modyn("pipeline: {}\npipeline: {}\n", Path::new("p.yaml")).unwrap_err();
        assert_eq!(e.problems[0].line, 2, "{e}");
        assert!(e.to_string().contains("duplicated key"), "{e}");
    }

    #[test]
    fn drift_with_amount_windows_ks_and_a_dynamic_criterion() {
        let i = import(&pipeline_yaml(
            r#"
trigger:
  id: DataDriftTrigger
  evaluation_interval_data_points: 100
  warmup_intervals: 3
  warmup_policy: { id: DataAmountTrigger, num_samples: 50 }
  windowing_strategy: { id: AmountWindowingStrategy, amount_ref: 500, amount_cur: 200 }
  sample_size: null
  metrics:
    ks:
      id: AlibiDetectKSDriftMetric
      correction: fdr
      alternative_hypothesis: less
      decision_criterion: { id: DynamicRollingAverageThresholdCriterion, window_size: 5, deviation: 0.2, absolute: true }
    hell:
      id: EvidentlyHellingerDistanceDriftMetric
      decision_criterion: { id: ThresholdDecisionCriterion, threshold: 0.3 }
  aggregation_strategy: { id: AtLeastN, n: 1 }
"#,
        ));
        let t = toml_of(&i);
        let tr = &t["trigger"];
        assert_eq!(tr["id"].as_str(), Some("drift"));
        assert_eq!(tr["sample_size"].as_str(), Some("all"));
        assert_eq!(tr["warmup_policy"]["id"].as_str(), Some("amount"));
        assert_eq!(tr["warmup_policy"]["every"].as_integer(), Some(50));
        assert_eq!(tr["windows"]["amount_ref"].as_integer(), Some(500));
        assert_eq!(tr["metrics"]["ks"]["correction"].as_str(), Some("fdr"));
        assert_eq!(
            tr["metrics"]["ks"]["criterion"]["id"].as_str(),
            Some("dynamic_rolling_average")
        );
        assert_eq!(tr["metrics"]["hell"]["id"].as_str(), Some("hellinger"));
        assert_eq!(tr["aggregation"]["id"].as_str(), Some("at_least"));
        assert_eq!(
            note(&i, "trigger.metrics.ks.alternative_hypothesis").kind,
            NoteKind::Untranslated
        );
        let spec = valid(&i);
        let TriggerSpec::Drift { batched, drift } = spec.trigger else {
            panic!("{:?}", spec.trigger)
        };
        assert_eq!(batched.every, 100);
        assert_eq!(batched.warmup.as_ref().map(|w| w.0), Some(3));
        assert!(drift.embeddings);
        assert_eq!(drift.sample_size, None);
        assert_eq!(drift.metrics.len(), 2);
    }

    #[test]
    fn a_dynamic_criterion_without_warm_up_is_a_problem_and_a_lone_warmup_key_a_note() {
        let p = problems(&pipeline_yaml(
            r#"
trigger:
  id: DataDriftTrigger
  evaluation_interval_data_points: 100
  metrics:
    m:
      id: AlibiDetectMmdDriftMetric
      decision_criterion: { id: DynamicQuantileThresholdCriterion }
"#,
        ));
        assert_eq!(p[0].key, "trigger.metrics.m.decision_criterion");
        let i = import(&pipeline_yaml(
            r#"
trigger:
  id: DataDriftTrigger
  evaluation_interval_data_points: 100
  warmup_intervals: 4
  metrics:
    m:
      id: EvidentlyModelDriftMetric
      threshold: 0.55
      decision_criterion: { id: ThresholdDecisionCriterion, threshold: 0.1 }
"#,
        ));
        assert!(
            note(&i, "trigger.warmup_intervals")
                .message
                .contains("ignores")
        );
        assert_eq!(
            note(&i, "trigger.metrics.m.id").kind,
            NoteKind::Approximated
        );
        assert_eq!(
            note(&i, "trigger.metrics.m.threshold").kind,
            NoteKind::Untranslated
        );
        valid(&i);
    }

    #[test]
    fn performance_cost_and_ensemble_triggers() {
        let perf = r#"
        id: PerformanceTrigger
        evaluation_interval_data_points: 200
        data_density_window_size: 7
        forecasting_method: rolling_average
        evaluation:
          device: cpu
          dataset:
            dataset_id: stream
            bytes_parser_function: "x"
            batch_size: 64
            dataloader_workers: 1
            metrics: [{ name: Accuracy }]
        decision_criteria:
          low: { id: StaticPerformanceThresholdCriterion, metric: Accuracy, metric_threshold: 0.8 }
          mis: { id: StaticNumberMisclassificationCriterion, avoidable_misclassification_threshold: 20, allow_reduction: true }
"#;
        let i = import(&pipeline_yaml(&format!(
            r#"
trigger:
  id: EnsembleTrigger
  ensemble_strategy: {{ id: AtLeastN, n: 2 }}
  subtriggers:
    perf:
{perf}
    cost:
      id: DataIncorporationLatencyCostTrigger
      evaluation_interval_data_points: 300
      incorporation_delay_per_training_second: 5.0
      cost_tracking_window_size: 20
    amis:
      id: AvoidableMisclassificationCostTrigger
      evaluation_interval_data_points: 300
      warmup_intervals: 2
      warmup_policy: {{ id: TimeTrigger, every: 1d }}
      avoidable_misclassification_latency_per_training_second: 2.5
      evaluation:
        device: cpu
        dataset: {{ dataset_id: stream, bytes_parser_function: "x", batch_size: 8, dataloader_workers: 1, metrics: [{{ name: Accuracy }}] }}
"#
        )));
        let t = toml_of(&i);
        let tr = &t["trigger"];
        assert_eq!(tr["strategy"].as_str(), Some("at_least"));
        assert_eq!(tr["n"].as_integer(), Some(2));
        let p = &tr["subtriggers"]["perf"];
        assert_eq!(
            p["criteria"]["low"]["id"].as_str(),
            Some("static_threshold")
        );
        assert_eq!(
            p["criteria"]["low"]["metric_threshold"].as_float(),
            Some(0.8)
        );
        assert_eq!(
            p["criteria"]["mis"]["id"].as_str(),
            Some("avoidable_misclassifications")
        );
        assert_eq!(p["evaluation"]["batch_size"].as_integer(), Some(64));
        assert_eq!(p["forecasting_method"].as_str(), Some("rolling_average"));
        let c = &tr["subtriggers"]["cost"];
        assert_eq!(c["regret"].as_str(), Some("incorporation_latency"));
        assert_eq!(c["cost_tracking_window_size"].as_integer(), Some(20));
        let a = &tr["subtriggers"]["amis"];
        assert_eq!(
            a["regret"].as_str(),
            Some("avoidable_misclassification_latency")
        );
        assert_eq!(a["warmup_policy"]["every"].as_str(), Some("1d"));
        assert_eq!(
            note(&i, "trigger.subtriggers.perf.evaluation.device").kind,
            NoteKind::Untranslated
        );
        let spec = valid(&i);
        let TriggerSpec::Ensemble { subtriggers, .. } = spec.trigger else {
            panic!()
        };
        assert_eq!(subtriggers.len(), 3);
    }

    #[test]
    fn a_custom_ensemble_strategy_becomes_majority_vote_with_a_note() {
        let i = import(&pipeline_yaml(
            r#"
trigger:
  id: EnsembleTrigger
  ensemble_strategy: { id: Custom, aggregation_function: "lambda d: True" }
  subtriggers:
    a: { id: DataAmountTrigger, num_samples: 10 }
"#,
        ));
        assert_eq!(
            toml_of(&i)["trigger"]["strategy"].as_str(),
            Some("majority_vote")
        );
        assert_eq!(
            note(&i, "trigger.ensemble_strategy.aggregation_function").kind,
            NoteKind::Untranslated
        );
        valid(&i);
    }

    #[test]
    fn selection_strategies_presampling_and_downsampling_schedules() {
        let i = import(&pipeline_yaml(
            r#"
selection_strategy:
  name: FreshnessSamplingStrategy
  maximum_keys_in_memory: 1000
  unused_data_ratio: 30
  limit: 500
  tail_triggers: null
"#,
        ));
        let t = toml_of(&i);
        assert_eq!(t["selection"]["strategy"].as_str(), Some("freshness"));
        assert_eq!(t["selection"]["unused_data_ratio"].as_integer(), Some(30));
        assert_eq!(t["selection"]["limit"].as_integer(), Some(500));
        valid(&i);

        let i = import(&pipeline_yaml(
            r#"
selection_strategy:
  name: NewDataStrategy
  maximum_keys_in_memory: 1000
  tail_triggers: null
  limit: 500
"#,
        ));
        let t = toml_of(&i);
        assert_eq!(t["selection"]["tail_triggers"].as_str(), Some("all"));
        // Modyn's default with all data.
        assert_eq!(t["selection"]["limit_reset"].as_str(), Some("lastX"));
        valid(&i);

        let i = import(&pipeline_yaml(
            r#"
selection_strategy:
  name: CoresetStrategy
  maximum_keys_in_memory: 1000
  tail_triggers: 2
  limit: 400
  warmup_triggers: 1
  uses_weights: true
  presampling_config: { strategy: LabelBalanced, ratio: 50, force_column_balancing: true }
  downsampling_config:
    downsampling_list:
      - { strategy: Loss, ratio: 50 }
      - { strategy: Uncertainty, ratio: 25, score_metric: LeastConfidence, balance: true, sample_then_batch: true, period: 0 }
      - { strategy: Submodular, ratio: 10, submodular_function: GraphCut, submodular_optimizer: LazyGreedy, selection_batch: 128, full_grad_approximation: LastLayerWithEmbedding, sample_then_batch: true }
    downsampling_thresholds: [3, 6]
"#,
        ));
        let t = toml_of(&i);
        let s = &t["selection"];
        assert_eq!(s["strategy"].as_str(), Some("coreset"));
        assert_eq!(
            s["presampling"]["strategy"].as_str(),
            Some("label_balanced")
        );
        assert_eq!(s["presampling"]["limit"].as_integer(), Some(400));
        assert_eq!(
            s["presampling"]["force_column_balancing"].as_bool(),
            Some(true)
        );
        let sched = s["downsampling"]["schedule"].as_array().unwrap();
        assert_eq!(sched[1]["score_metric"].as_str(), Some("least_confidence"));
        assert_eq!(sched[1]["period"].as_integer(), Some(0));
        assert_eq!(sched[2]["submodular_function"].as_str(), Some("graph_cut"));
        assert_eq!(
            sched[2]["submodular_optimizer"].as_str(),
            Some("lazy_greedy")
        );
        assert_eq!(
            sched[2]["full_grad_approximation"].as_str(),
            Some("last_layer_with_embedding")
        );
        assert_eq!(
            note(
                &i,
                "selection_strategy.downsampling_config.downsampling_list[2].selection_batch"
            )
            .kind,
            NoteKind::Approximated
        );
        assert_eq!(
            note(&i, "selection_strategy.uses_weights").kind,
            NoteKind::Untranslated
        );
        let spec = valid(&i);
        assert_eq!(spec.selection.downsampling.unwrap().list.len(), 3);
    }

    #[test]
    fn a_batch_then_sample_ratio_that_cannot_accumulate_is_a_problem() {
        // 32 · 30 / 100 = 9 does not divide 32 (Modyn's own check).
        let p = problems(&pipeline_yaml(
            r#"
selection_strategy:
  name: CoresetStrategy
  maximum_keys_in_memory: 1000
  tail_triggers: 0
  downsampling_config: { strategy: GradNorm, ratio: 30 }
"#,
        ));
        assert_eq!(p[0].key, "selection_strategy.downsampling_config.ratio");
        assert!(
            p[0].message.contains("keeps 9 of each batch of 32"),
            "{}",
            p[0].message
        );
        let i = import(&pipeline_yaml(
            r#"
selection_strategy:
  name: CoresetStrategy
  maximum_keys_in_memory: 1000
  tail_triggers: 0
  downsampling_config: { strategy: No, ratio: 100 }
"#,
        ));
        assert!(toml_of(&i)["selection"].get("downsampling").is_none());
        valid(&i);
    }

    #[test]
    fn optimizers_param_groups_schedules_and_criteria() {
        let i = import(&pipeline_yaml(
            r#"
model:
  id: ResNet18
  config: { num_classes: 10, use_pretrained: true, zero_init_residual: true }
training:
  gpus: 1
  device: cuda:1
  amp: true
  dataloader_workers: 1
  use_previous_model: false
  initial_model: pretrained
  initial_model_id: 7
  batch_size: 32
  drop_last_batch: false
  shuffle: false
  seed: 3
  record_loss_every: 10
  epochs_per_trigger: 2
  num_samples_to_pass: [500, 500]
  optimizers:
    - name: default
      algorithm: AdamW
      source: PyTorch
      param_groups:
        - module: model
          config: { lr: 0.01, weight_decay: 0.05, betas: [0.8, 0.9], momentum: 0.9, amsgrad: true }
        - module: model.fc
          config: { lr: 0.1 }
  optimization_criterion:
    name: CrossEntropyLoss
    config: { label_smoothing: 0.1, reduction: sum }
  lr_scheduler:
    name: ExponentialLR
    source: PyTorch
    step_every: epoch
    optimizers: [default]
    config: { gamma: 0.9 }
  checkpointing: { activated: true, interval: 50, path: /tmp/ckpt }
"#,
        ));
        let t = toml_of(&i);
        let tr = &t["training"];
        assert_eq!(tr["device"].as_str(), Some("cuda:1"));
        assert_eq!(tr["amp"].as_bool(), Some(true));
        assert_eq!(tr["seed"].as_integer(), Some(3));
        assert_eq!(tr["epochs_per_trigger"].as_integer(), Some(2));
        assert_eq!(tr["num_samples_to_pass"].as_integer(), Some(500));
        assert_eq!(tr["drop_last_batch"].as_bool(), Some(false));
        assert_eq!(tr["record_loss_every"].as_integer(), Some(10));
        assert_eq!(tr["checkpoint_every_steps"].as_integer(), Some(50));
        assert_eq!(tr["label_smoothing"].as_float(), Some(0.1));
        let o = &tr["optimizer"];
        assert_eq!(o["algorithm"].as_str(), Some("adamw"));
        assert_eq!(o["lr"].as_float(), Some(0.01));
        assert_eq!(o["weight_decay"].as_float(), Some(0.05));
        assert_eq!(o["betas"].as_array().unwrap().len(), 2);
        assert_eq!(o["param_groups"][0]["prefix"].as_str(), Some("fc."));
        assert_eq!(o["param_groups"][0]["lr"].as_float(), Some(0.1));
        assert_eq!(tr["lr_scheduler"]["kind"].as_str(), Some("constant"));
        for (key, kind) in [
            (
                "training.optimizers[0].param_groups[0].config.momentum",
                NoteKind::Untranslated,
            ),
            (
                "training.optimizers[0].param_groups[0].config.amsgrad",
                NoteKind::Untranslated,
            ),
            (
                "training.optimization_criterion.config.reduction",
                NoteKind::Untranslated,
            ),
            ("training.lr_scheduler.name", NoteKind::Untranslated),
            ("training.lr_scheduler.config.gamma", NoteKind::Untranslated),
            ("training.initial_model_id", NoteKind::Placeholder),
            ("training.num_samples_to_pass", NoteKind::Approximated),
            ("training.checkpointing.path", NoteKind::Approximated),
            ("model.config.use_pretrained", NoteKind::Untranslated),
            ("model.config.zero_init_residual", NoteKind::Untranslated),
        ] {
            assert_eq!(note(&i, key).kind, kind, "{key}");
        }
        // The loader accepts it (it does not look for the CUDA device).
        let spec = valid(&i);
        assert_eq!(
            spec.training.optimizer.param_groups,
            vec![("fc.".to_string(), 0.1)]
        );
    }

    #[test]
    fn differing_per_trigger_sample_budgets_are_not_translated() {
        let i = import(&pipeline_yaml(
            r#"
training:
  gpus: 1
  device: cpu
  dataloader_workers: 1
  use_previous_model: true
  initial_model: random
  batch_size: 32
  shuffle: true
  num_samples_to_pass: [100, 200]
  amp: true
  optimizers:
    - { name: a, algorithm: SGD, source: PyTorch, param_groups: [{ module: model, config: { lr: 0.1 } }] }
  optimization_criterion: { name: HuberLoss }
  checkpointing: { activated: false }
"#,
        ));
        let t = toml_of(&i);
        assert!(t["training"].get("num_samples_to_pass").is_none());
        assert!(t["training"].get("amp").is_none());
        assert_eq!(t["training"]["criterion"].as_str(), Some("cross_entropy"));
        assert_eq!(
            note(&i, "training.num_samples_to_pass").kind,
            NoteKind::Untranslated
        );
        assert_eq!(note(&i, "training.amp").kind, NoteKind::Untranslated);
        assert_eq!(
            note(&i, "training.optimization_criterion.name").kind,
            NoteKind::Approximated
        );
        valid(&i);
    }

    #[test]
    fn model_storage_strategies() {
        let i = import(&pipeline_yaml(
            r#"
model_storage:
  full_model_strategy: { name: BinaryFullModel, zip: true, zip_algorithm: ZIP_LZMA }
  incremental_model_strategy:
    name: WeightsDifference
    config: { operator: sub }
    full_model_interval: 4
"#,
        ));
        let m = &toml_of(&i)["model_storage"];
        assert_eq!(m["incremental"].as_bool(), Some(true));
        assert_eq!(m["operator"].as_str(), Some("sub"));
        assert_eq!(m["full_model_interval"].as_integer(), Some(4));
        assert_eq!(m["zstd_level"].as_integer(), Some(3));
        assert_eq!(
            note(&i, "model_storage.full_model_strategy.name").kind,
            NoteKind::Approximated
        );
        note(&i, "model_storage.full_model_strategy.zip_algorithm");
        valid(&i);
    }

    #[test]
    fn evaluation_datasets_metrics_and_every_strategy() {
        let i = import(&pipeline_yaml(
            r#"
evaluation:
  device: cpu
  after_training_evaluation_workers: 2
  datasets:
    - dataset_id: stream
      bytes_parser_function: "x"
      batch_size: 16
      dataloader_workers: 1
      metrics:
        - { name: Accuracy, topn: 1 }
        - { name: Accuracy, topn: 1 }
        - { name: F1Score, num_classes: 2, average: binary, pos_label: 0 }
        - { name: RocAuc }
    - dataset_id: held out
      bytes_parser_function: "x"
      batch_size: 16
      dataloader_workers: 1
      metrics: [{ name: Accuracy }]
  handlers:
    - name: slices
      execution_time: after_training
      models: matrix
      datasets: [stream]
      strategy: { type: SlicingEvalStrategy, eval_every: 1d, eval_start_from: 0, eval_end_at: 864000 }
    - name: around
      execution_time: after_pipeline
      models: active
      datasets: [stream, held out]
      strategy: { type: PeriodicEvalStrategy, every: 1d, interval: "(-inf, +0]", start_timestamp: 0, end_timestamp: 864000 }
    - execution_time: after_pipeline
      datasets: [held out]
      strategy: { type: BetweenTwoTriggersEvalStrategy }
    - execution_time: manual
      models: matrix
      datasets: [held out]
      strategy: { type: StaticEvalStrategy, intervals: [[0, 100], [100, null]] }
    - name: off
      execution_time: after_training
      models: matrix
      datasets: [held out]
      strategy: { type: OffsetEvalStrategy, offsets: ["-inf", "0", "1d"] }
"#,
        ));
        let t = toml_of(&i);
        let e = &t["evaluation"];
        let ds = e["datasets"].as_array().unwrap();
        assert_eq!(ds[0]["path"].as_str(), Some("stream.csv"));
        assert_eq!(
            ds[0]["metrics"].as_array().unwrap(),
            &vec![
                toml::Value::from("accuracy"),
                toml::Value::from("f1_binary"),
                toml::Value::from("roc_auc")
            ]
        );
        assert_eq!(ds[1]["name"].as_str(), Some("held out"));
        assert_eq!(ds[1]["path"].as_str(), Some("held_out.csv"));
        let h = e["handlers"].as_array().unwrap();
        assert_eq!(h[1]["models"].as_str(), Some("active"));
        assert_eq!(h[1]["strategy"]["interval"].as_str(), Some("(-inf, +0]"));
        // Modyn's default name and models.
        assert_eq!(h[2]["name"].as_str(), Some("Modyn EvalHandler"));
        assert_eq!(h[2]["models"].as_str(), Some("active"));
        assert_eq!(h[3]["name"].as_str(), Some("Modyn EvalHandler 3"));
        assert_eq!(
            h[3]["strategy"]["intervals"][1].as_array().unwrap().len(),
            1
        );
        assert_eq!(h[4]["strategy"]["type"].as_str(), Some("offset"));
        assert_eq!(
            note(&i, "evaluation.datasets[0].metrics[2].pos_label").kind,
            NoteKind::Untranslated
        );
        assert!(
            note(&i, "evaluation.datasets[0].metrics[1]")
                .message
                .contains("listed twice")
        );
        let spec = valid(&i);
        let ev = spec.evaluation.unwrap();
        assert_eq!(ev.handlers.len(), 5);
        assert_eq!(ev.datasets.len(), 2);
    }

    #[test]
    fn old_schema_selection_and_trigger_are_read_with_notes() {
        let mut yaml = pipeline_yaml(
            r#"
trigger:
  id: DataAmountTrigger
  trigger_config:
    data_points_for_trigger: 42
"#,
        );
        yaml = yaml.replace(
            "selection_strategy:\n  name: NewDataStrategy\n  maximum_keys_in_memory: 1000\n  tail_triggers: 0\n",
            "",
        );
        yaml = yaml.replace(
            "  checkpointing:\n    activated: false\n",
            "  checkpointing:\n    activated: false\n  selection_strategy:\n    name: NewDataStrategy\n    maximum_keys_in_memory: 10\n    config:\n      limit: -1\n      reset_after_trigger: false\n",
        );
        let i = import(&yaml);
        let t = toml_of(&i);
        assert_eq!(t["trigger"]["every"].as_integer(), Some(42));
        assert_eq!(t["selection"]["tail_triggers"].as_str(), Some("all"));
        assert_eq!(
            t["selection"]["maximum_keys_in_memory"].as_integer(),
            Some(10)
        );
        assert_eq!(
            note(&i, "training.selection_strategy").kind,
            NoteKind::Approximated
        );
        note(&i, "training.selection_strategy.config");
        valid(&i);
    }

    #[test]
    fn model_zoo_mapping() {
        for (modyn, config, arch, classes) in [
            ("ResNet152", "{ num_classes: 100 }", "resnet18", 100),
            ("ResNet50", "{}", "resnet18", 1000),
            (
                "YearbookNet",
                "{ num_input_channels: 1, num_classes: 2 }",
                "cnn",
                2,
            ),
            (
                "SmallYearbookNet",
                "{ num_input_channels: 3, num_classes: 2 }",
                "cnn",
                2,
            ),
            ("FmowNet", "{ num_classes: 62 }", "resnet18", 62),
            ("ArticleNet", "{ num_classes: 11 }", "text", 11),
            ("SomethingElse", "{ num_classes: 5 }", "mlp", 5),
        ] {
            let i = import(&pipeline_yaml(&format!(
                "model:\n  id: {modyn}\n  config: {config}\n"
            )));
            let t = toml_of(&i);
            assert_eq!(t["model"]["id"].as_str(), Some(arch), "{modyn}");
            assert_eq!(
                t["model"]["num_classes"].as_integer(),
                Some(classes),
                "{modyn}"
            );
            assert_eq!(note(&i, "model.id").kind, NoteKind::Approximated, "{modyn}");
            valid(&i);
        }
        let t = toml_of(&import(&pipeline_yaml(
            "model:\n  id: SmallYearbookNet\n  config: { num_input_channels: 1, num_classes: 2 }\n",
        )));
        assert_eq!(
            t["model"]["input_shape"].as_array().unwrap()[0].as_integer(),
            Some(1)
        );
        assert_eq!(t["model"]["channels"].as_array().unwrap().len(), 3);
        let p = problems(&pipeline_yaml(
            "model:\n  id: YearbookNet\n  config: { num_classes: 2 }\n",
        ));
        assert_eq!(p[0].key, "model.config.num_input_channels");
    }

    #[test]
    fn the_pipeline_name_is_made_safe() {
        let i = import(&pipeline_yaml(
            "pipeline:\n  name: My Pipeline/v2\n  version: 3\n",
        ));
        assert_eq!(
            toml_of(&i)["pipeline"]["name"].as_str(),
            Some("My_Pipeline_v2")
        );
        assert_eq!(note(&i, "pipeline.name").kind, NoteKind::Approximated);
        assert_eq!(note(&i, "pipeline.version").kind, NoteKind::Untranslated);
    }

    #[test]
    fn long_notes_wrap_as_comments() {
        let w = wrap(&"word ".repeat(60), "# ", "#   ");
        assert!(w.lines().count() > 2);
        assert!(w.lines().all(|l| l.len() <= 100 && l.starts_with('#')));
    }
}
