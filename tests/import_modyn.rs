//! `sluice import-modyn` on Modyn pipelines (tests/data/modyn/): Modyn's own example pipeline,
//! its DLRM/Criteo pipeline in the old schema, and pipelines written out from the Python
//! configs of its SIGMOD experiments. Each must import with exit code 0, translate specific
//! values, note the keys Sluice cannot take, and load with Sluice's config loader (and
//! `sluice validate`) once the placeholder datasets exist.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use sluice::config::{PipelineSpec, TriggerSpec};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/modyn");

struct Imported {
    dir: tempfile::TempDir,
    cfg: PathBuf,
    text: String,
    toml: toml::Table,
    /// `note: ...` lines the command printed.
    notes: Vec<String>,
}

impl Imported {
    /// Whether a note names `key` and says `what`.
    fn noted(&self, key: &str, what: &str) -> bool {
        self.notes
            .iter()
            .any(|n| n.contains(&format!(": {key}: ")) && n.contains(what))
    }

    #[track_caller]
    fn assert_noted(&self, key: &str, what: &str) {
        assert!(
            self.noted(key, what),
            "no note on {key} saying `{what}` in:\n{}",
            self.notes.join("\n")
        );
    }
}

/// `sluice import-modyn tests/data/modyn/<name> --out <tmp>/<name>.toml`, which must succeed.
fn import(name: &str) -> Imported {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join(format!("{name}.toml"));
    let yaml = Path::new(DATA).join(name);
    let o = sluice(&[
        "import-modyn",
        yaml.to_str().unwrap(),
        "--out",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("-> {}", cfg.display())),
        "{}",
        stdout(&o)
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    let toml: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
    let notes: Vec<String> = stderr(&o)
        .lines()
        .filter(|l| l.starts_with("note: "))
        .map(String::from)
        .collect();
    // Every note is also a comment at the top of the file.
    let comments = text.lines().filter(|l| l.starts_with("# - ")).count();
    assert_eq!(comments, notes.len(), "{text}");
    assert!(
        notes
            .iter()
            .all(|n| n.contains(&format!("{}:", yaml.display())))
    );
    Imported {
        dir,
        cfg,
        text,
        toml,
        notes,
    }
}

/// Writes the placeholder dataset `file` next to the config: a header `time,label,f0,...` and
/// a few rows of `features` features.
fn placeholder(imp: &Imported, file: &str, features: usize) {
    let mut text = String::from("time,label");
    for f in 0..features {
        text.push_str(&format!(",f{f}"));
    }
    text.push('\n');
    for row in 0..4 {
        text.push_str(&format!("{},{}", row * 86_400, row % 2));
        for _ in 0..features {
            text.push_str(",1");
        }
        text.push('\n');
    }
    std::fs::write(imp.dir.path().join(file), text).unwrap();
}

/// The imported config as Sluice's loader reads it (the loader does not look for CUDA devices).
fn load(imp: &Imported) -> PipelineSpec {
    sluice::config::parse(&imp.text, &imp.cfg).unwrap_or_else(|e| panic!("{e}\n{}", imp.text))
}

/// `sluice validate` on the imported config, which also checks the datasets' columns against
/// the model. The machine running the tests may have no GPU: a pipeline for `cuda:0` is
/// validated as a copy with `device = "cpu"` (and without `amp`, which needs CUDA); nothing
/// else changes.
fn validate(imp: &Imported) -> String {
    let text = imp
        .text
        .replace("device = \"cuda:0\"", "device = \"cpu\"")
        .replace("amp = true\n", "");
    let cfg = imp.dir.path().join("cpu.toml");
    std::fs::write(&cfg, text).unwrap();
    let o = sluice(&["validate", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stdout(&o)
}

fn s<'a>(v: &'a toml::Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn i(v: &toml::Value, key: &str) -> i64 {
    v[key]
        .as_integer()
        .unwrap_or_else(|| panic!("{key} is not an integer in {v}"))
}

fn f(v: &toml::Value, key: &str) -> f64 {
    v[key]
        .as_float()
        .unwrap_or_else(|| panic!("{key} is not a float in {v}"))
}

fn strings(v: &toml::Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

#[test]
fn modyn_example_pipeline_imports_and_validates() {
    let imp = import("example-pipeline.yaml");
    let t = &imp.toml;
    assert_eq!(s(&t["pipeline"], "name"), "Example_Pipeline");
    assert_eq!(s(&t["pipeline"], "description"), "Example pipeline");
    assert_eq!(s(&t["source"], "path"), "mnist.csv");
    assert_eq!(s(&t["source"], "time_unit"), "s");
    assert_eq!(s(&t["model"], "id"), "resnet18");
    assert_eq!(i(&t["model"], "num_classes"), 10);
    let tr = &t["training"];
    assert_eq!(s(tr, "device"), "cpu");
    assert_eq!(i(tr, "batch_size"), 64);
    assert_eq!(tr["shuffle"].as_bool(), Some(false));
    assert_eq!(tr["use_previous_model"].as_bool(), Some(true));
    // Modyn drops an incomplete last batch by default, Sluice does not: written out.
    assert_eq!(tr["drop_last_batch"].as_bool(), Some(true));
    assert_eq!(i(tr, "checkpoint_every_steps"), 10);
    assert_eq!(s(&tr["optimizer"], "algorithm"), "sgd");
    assert_eq!(f(&tr["optimizer"], "lr"), 0.1);
    assert_eq!(f(&tr["optimizer"], "momentum"), 0.001);
    assert_eq!(s(&tr["lr_scheduler"], "kind"), "step");
    assert_eq!(s(&tr["lr_scheduler"], "step_every"), "batch");
    assert_eq!(i(&tr["lr_scheduler"], "step_size"), 10);
    assert_eq!(f(&tr["lr_scheduler"], "gamma"), 0.1);
    let ms = &t["model_storage"];
    assert_eq!(ms["incremental"].as_bool(), Some(true));
    assert_eq!(s(ms, "operator"), "xor");
    assert_eq!(i(ms, "full_model_interval"), 10);
    assert_eq!(i(ms, "zstd_level"), 3);
    assert_eq!(s(&t["trigger"], "id"), "amount");
    assert_eq!(i(&t["trigger"], "every"), 100);
    assert_eq!(s(&t["selection"], "strategy"), "new_data");
    assert_eq!(i(&t["selection"], "tail_triggers"), 0);
    assert_eq!(i(&t["selection"], "maximum_keys_in_memory"), 500_000);
    let ds = &t["evaluation"]["datasets"][0];
    assert_eq!(s(ds, "name"), "mnist");
    assert_eq!(s(ds, "path"), "mnist.csv");
    assert_eq!(strings(&ds["metrics"]), ["accuracy", "f1_macro"]);
    assert_eq!(i(ds, "batch_size"), 64);
    let h = &t["evaluation"]["handlers"][0];
    assert_eq!(s(h, "execution_time"), "after_training");
    assert_eq!(s(h, "models"), "matrix");
    assert_eq!(strings(&h["datasets"]), ["mnist"]);
    assert_eq!(s(&h["strategy"], "type"), "slicing");
    assert_eq!(s(&h["strategy"], "eval_every"), "1d");
    assert_eq!(i(&h["strategy"], "eval_end_at"), 1_715_094_374);

    imp.assert_noted(
        "data.dataset_id",
        "placeholder: Modyn reads dataset `mnist`",
    );
    imp.assert_noted(
        "data.bytes_parser_function",
        "not translated: Python code is not run",
    );
    imp.assert_noted("data.transformations", "transforms.Normalize");
    imp.assert_noted(
        "pipeline.name",
        "`Example Pipeline` became `Example_Pipeline`",
    );
    imp.assert_noted("pipeline.version", "not translated");
    imp.assert_noted("model.id", "ImageNet stem");
    imp.assert_noted("training.dataloader_workers", "not translated");
    imp.assert_noted("training.checkpointing.path", "approximated");
    imp.assert_noted("selection_strategy.storage_backend", "not translated");
    imp.assert_noted("selection_strategy.processor_type", "not translated");
    imp.assert_noted(
        "evaluation.datasets[0].metrics[1].evaluation_transformer_function",
        "arg-max",
    );
    imp.assert_noted("evaluation.datasets[0].dataset_id", "same placeholder file");
    // Notes carry the YAML line of their key.
    assert!(
        imp.notes
            .iter()
            .any(|n| n.contains("example-pipeline.yaml:55: data.dataset_id:")),
        "{:#?}",
        imp.notes
    );

    placeholder(&imp, "mnist.csv", 3 * 32 * 32);
    let spec = load(&imp);
    assert_eq!(spec.trigger, TriggerSpec::Amount { every: 100 });
    assert_eq!(spec.training.optimizer.momentum, 0.001);
    assert_eq!(spec.evaluation.as_ref().unwrap().handlers.len(), 1);
    assert!(validate(&imp).contains("ok (pipeline `Example_Pipeline`, 3072 features"));

    // Without --out the TOML goes to stdout, the notes to stderr.
    let yaml = Path::new(DATA).join("example-pipeline.yaml");
    let o = sluice(&["import-modyn", yaml.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), imp.text);
    assert_eq!(
        stderr(&o)
            .lines()
            .filter(|l| l.starts_with("note: "))
            .count(),
        imp.notes.len()
    );
}

#[test]
fn yearbook_drift_trigger_keeps_windows_metric_and_warm_up() {
    let imp = import("yearbook-drift.yaml");
    let t = &imp.toml;
    assert_eq!(s(&t["model"], "id"), "cnn");
    assert_eq!(
        t["model"]["input_shape"].as_array().unwrap(),
        &vec![toml::Value::from(3), 32.into(), 32.into()]
    );
    assert_eq!(t["model"]["channels"].as_array().unwrap().len(), 4);
    let tr = &t["trigger"];
    assert_eq!(s(tr, "id"), "drift");
    assert_eq!(i(tr, "evaluation_interval_data_points"), 250);
    assert_eq!(i(tr, "warmup_intervals"), 14);
    assert_eq!(s(&tr["warmup_policy"], "id"), "time");
    assert_eq!(s(&tr["warmup_policy"], "every"), "3d");
    assert_eq!(s(&tr["windows"], "id"), "time");
    assert_eq!(s(&tr["windows"], "limit_ref"), "2d");
    assert_eq!(s(&tr["windows"], "limit_cur"), "2d");
    assert_eq!(tr["windows"]["allow_overlap"].as_bool(), Some(true));
    assert_eq!(s(tr, "features"), "embeddings");
    // Modyn's `null` (all samples) with time windows: Sluice's bound.
    assert_eq!(i(tr, "sample_size"), 20_000);
    let mmd = &tr["metrics"]["mmd_alibi"];
    assert_eq!(s(mmd, "id"), "mmd");
    assert_eq!(s(&mmd["criterion"], "id"), "threshold");
    assert_eq!(f(&mmd["criterion"], "threshold"), 0.05);
    imp.assert_noted("trigger.sample_size", "became 20000");
    imp.assert_noted("trigger.metrics.mmd_alibi.device", "not translated");
    imp.assert_noted("trigger.metrics", "embeddings");
    // Two evaluation datasets (aliases expanded); the first is the training data.
    let ds = t["evaluation"]["datasets"].as_array().unwrap();
    assert_eq!(s(&ds[0], "path"), "yearbook_train.csv");
    assert_eq!(s(&ds[1], "path"), "yearbook_test.csv");
    for d in ds {
        assert_eq!(
            strings(&d["metrics"]),
            ["accuracy", "f1_weighted", "f1_macro", "f1_micro"]
        );
        assert_eq!(i(d, "batch_size"), 512);
    }
    let h = &t["evaluation"]["handlers"][0];
    assert_eq!(s(h, "name"), "slidingmatrix");
    assert_eq!(s(h, "execution_time"), "after_pipeline");
    assert_eq!(s(&h["strategy"], "type"), "periodic");
    assert_eq!(s(&h["strategy"], "interval"), "[-25h; +25h]");
    assert_eq!(i(&h["strategy"], "end_timestamp"), 7_258_000);
    imp.assert_noted(
        "evaluation.after_pipeline_evaluation_workers",
        "not translated",
    );

    placeholder(&imp, "yearbook_train.csv", 3072);
    placeholder(&imp, "yearbook_test.csv", 3072);
    let spec = load(&imp);
    let TriggerSpec::Drift { batched, drift } = &spec.trigger else {
        panic!("{:?}", spec.trigger)
    };
    assert_eq!(batched.every, 250);
    let (intervals, policy) = batched.warmup.as_ref().unwrap();
    assert_eq!(*intervals, 14);
    assert!(matches!(
        **policy,
        TriggerSpec::Time {
            every_ms: 259_200_000,
            ..
        }
    ));
    assert!(drift.embeddings);
    assert_eq!(drift.sample_size, Some(20_000));
    assert_eq!(spec.training.epochs_per_trigger, 5);
    assert_eq!(spec.training.seed, 42);
    validate(&imp);
}

#[test]
fn yearbook_performance_trigger_with_a_calibrated_criterion() {
    let imp = import("yearbook-performance.yaml");
    let tr = &imp.toml["trigger"];
    assert_eq!(s(tr, "id"), "performance");
    assert_eq!(i(tr, "evaluation_interval_data_points"), 500);
    assert_eq!(i(tr, "performance_triggers_window_size"), 15);
    assert_eq!(i(tr, "warmup_intervals"), 7);
    assert_eq!(strings(&tr["evaluation"]["metrics"]), ["accuracy"]);
    assert_eq!(i(&tr["evaluation"], "batch_size"), 512);
    let c = &tr["criteria"]["dynamic-15_qt_0.05"];
    assert_eq!(s(c, "id"), "dynamic_quantile");
    assert_eq!(i(c, "window_size"), 15);
    assert_eq!(f(c, "quantile"), 0.05);
    imp.assert_noted(
        "trigger.evaluation.dataset.metrics[1]",
        "scores accuracy only",
    );
    imp.assert_noted("trigger.evaluation.device", "training.device");
    imp.assert_noted(
        "trigger.evaluation.dataset.bytes_parser_function",
        "Python code is not run",
    );
    placeholder(&imp, "yearbook_train.csv", 3072);
    placeholder(&imp, "yearbook_test.csv", 3072);
    let spec = load(&imp);
    let TriggerSpec::Performance { batched, .. } = &spec.trigger else {
        panic!("{:?}", spec.trigger)
    };
    assert_eq!(batched.warmup.as_ref().map(|w| w.0), Some(7));
    validate(&imp);
}

#[test]
fn yearbook_rs2_selection_with_cosine_schedule_and_two_handlers() {
    let imp = import("yearbook-rs2-cosine.yaml");
    let t = &imp.toml;
    let sel = &t["selection"];
    assert_eq!(s(sel, "strategy"), "coreset");
    assert_eq!(i(sel, "warmup_triggers"), 2);
    assert_eq!(i(sel, "seed"), 42);
    let d = &sel["downsampling"];
    assert_eq!(s(d, "strategy"), "rs2");
    assert_eq!(i(d, "ratio"), 125);
    assert_eq!(i(d, "ratio_max"), 1000);
    assert_eq!(d["sample_then_batch"].as_bool(), Some(true));
    assert_eq!(d["with_replacement"].as_bool(), Some(false));
    let sch = &t["training"]["lr_scheduler"];
    assert_eq!(s(sch, "kind"), "cosine");
    assert_eq!(s(sch, "step_every"), "batch");
    assert_eq!(f(sch, "min_lr"), 0.0001);
    // T_max = MODYN_NUM_BATCHES is Sluice's default, the trigger's total steps.
    assert!(sch.get("t_max").is_none());
    assert_eq!(s(&t["trigger"], "id"), "time");
    assert_eq!(s(&t["trigger"], "every"), "1d");
    let hs = t["evaluation"]["handlers"].as_array().unwrap();
    assert_eq!(s(&hs[0], "name"), "exactmatrix");
    assert_eq!(s(&hs[0]["strategy"], "type"), "slicing");
    assert_eq!(s(&hs[1], "name"), "slidingmatrix");
    assert_eq!(s(&hs[1]["strategy"], "type"), "periodic");
    assert_eq!(strings(&hs[1]["datasets"]), ["yearbook-test"]);
    assert_eq!(
        s(&t["evaluation"]["datasets"][0], "path"),
        "yearbook-test.csv"
    );
    placeholder(&imp, "yearbook.csv", 3072);
    placeholder(&imp, "yearbook-test.csv", 3072);
    let spec = load(&imp);
    let plan = spec.selection.downsampling.as_ref().unwrap();
    assert_eq!(plan.from, 2);
    assert_eq!(plan.list[0].ratio, 125);
    assert!(plan.list[0].sample_then_batch);
    validate(&imp);
}

#[test]
fn cglm_rho_loss_brings_its_irreducible_loss_model() {
    let imp = import("cglm-rholoss-bts.yaml");
    let t = &imp.toml;
    assert_eq!(s(&t["model"], "id"), "resnet18");
    assert_eq!(i(&t["model"], "num_classes"), 6404);
    imp.assert_noted("model.id", "Sluice has no ResNet50");
    imp.assert_noted("model.config.use_pretrained", "no pretrained weights");
    imp.assert_noted("data.transformations", "RandomResizedCrop");
    let d = &t["selection"]["downsampling"];
    assert_eq!(s(d, "strategy"), "rho_loss");
    assert_eq!(i(d, "ratio"), 125);
    assert_eq!(i(d, "ratio_max"), 1000);
    assert!(d.get("sample_then_batch").is_none());
    assert!(d.get("period").is_none());
    assert_eq!(s(d, "holdout_set_strategy"), "simple");
    assert_eq!(i(d, "holdout_set_ratio"), 10);
    assert_eq!(s(&d["il_model"], "id"), "resnet18");
    assert_eq!(i(&d["il_model"], "num_classes"), 6404);
    // Only what differs from [training]: Modyn's irreducible-loss training keeps the last
    // batch; use_previous_model = false is Sluice's default there.
    let il = d["il_training"].as_table().unwrap();
    assert_eq!(il.len(), 1, "{il:?}");
    assert_eq!(il["drop_last_batch"].as_bool(), Some(false));
    assert_eq!(s(&t["trigger"], "every"), "1y");
    assert_eq!(i(&t["trigger"], "start"), 0);
    let ds = t["evaluation"]["datasets"].as_array().unwrap();
    assert_eq!(
        strings(&ds[1]["metrics"]),
        [
            "accuracy",
            "top2_accuracy",
            "top5_accuracy",
            "f1_weighted",
            "f1_macro",
            "f1_micro"
        ]
    );
    // An empty evaluation_transformer_function is no code: no note.
    assert!(!imp.noted(
        "evaluation.datasets[0].metrics[1].evaluation_transformer_function",
        ""
    ));
    placeholder(&imp, "cglm_landmark_min25.csv", 3072);
    placeholder(&imp, "cglm_landmark_min25-test.csv", 3072);
    let spec = load(&imp);
    let il = spec.selection.irreducible[0].as_ref().unwrap();
    assert_eq!(il.model.num_classes, 6404);
    assert!(!il.training.drop_last_batch);
    assert!(!il.training.use_previous_model);
    assert!(spec.training.drop_last_batch);
    validate(&imp);
}

#[test]
fn criteo_old_schema_pipeline_imports_dlrm_and_its_optimizers() {
    let imp = import("criteo-loss-bts-old-schema.yml");
    let t = &imp.toml;
    let m = &t["model"];
    assert_eq!(s(m, "id"), "dlrm");
    assert_eq!(i(m, "num_classes"), 2);
    assert_eq!(i(m, "dense_features"), 13);
    let sizes = m["embedding_sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 26);
    assert_eq!(sizes[0].as_integer(), Some(7_912_889));
    assert_eq!(i(m, "embedding_dim"), 128);
    assert_eq!(
        m["top_mlp"].as_array().unwrap().len(),
        4,
        "the last width (1 logit) is the output layer"
    );
    let tr = &t["training"];
    assert_eq!(tr["amp"].as_bool(), Some(true));
    assert_eq!(i(tr, "batch_size"), 65_536);
    assert_eq!(s(tr, "criterion"), "cross_entropy");
    assert_eq!(s(&tr["optimizer"], "algorithm"), "sgd");
    assert_eq!(f(&tr["optimizer"], "lr"), 24.0);
    assert!(tr["optimizer"].get("param_groups").is_none());
    assert_eq!(s(&tr["lr_scheduler"], "kind"), "constant");
    assert_eq!(i(&tr["lr_scheduler"], "warmup_steps"), 8000);
    imp.assert_noted(
        "training.optimizers[0].algorithm",
        "FusedSGD became libtorch's sgd",
    );
    imp.assert_noted("training.optimizers[1]", "one optimizer");
    imp.assert_noted("training.lr_scheduler.name", "polynomial decay");
    imp.assert_noted("training.optimization_criterion.name", "two logits");
    imp.assert_noted("training.grad_scaler_config", "not translated");
    imp.assert_noted("training.initial_pass", "old Modyn schema");
    imp.assert_noted("model.config.interaction_op", "not translated");
    imp.assert_noted("data.label_transformer_function", "label column");
    // The old schema's trigger_config and training.selection_strategy.
    assert_eq!(s(&t["trigger"], "id"), "time");
    assert_eq!(s(&t["trigger"], "every"), "1d");
    imp.assert_noted("trigger.trigger_config", "old Modyn schema");
    imp.assert_noted("training.selection_strategy", "old Modyn schema");
    let sel = &t["selection"];
    assert_eq!(s(sel, "strategy"), "coreset");
    assert_eq!(i(sel, "tail_triggers"), 0);
    assert_eq!(s(&sel["downsampling"], "strategy"), "loss");
    assert_eq!(i(&sel["downsampling"], "ratio"), 25);
    let ds = &t["evaluation"]["datasets"][0];
    assert_eq!(strings(&ds["metrics"]), ["accuracy", "roc_auc"]);
    assert!(t["evaluation"].get("handlers").is_none());
    imp.assert_noted("evaluation.handlers", "default handlers");
    placeholder(&imp, "criteo.csv", 13 + 26);
    let spec = load(&imp);
    assert!(spec.training.amp);
    assert_eq!(spec.evaluation.as_ref().unwrap().handlers.len(), 3);
    assert!(validate(&imp).contains("39 features"));
}

#[test]
fn a_broken_or_incomplete_modyn_file_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "pipeline:\n  name: x\nmodel: [ResNet18\n").unwrap();
    let o = sluice(&["import-modyn", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("{}:4:", bad.display())),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());

    let incomplete = dir.path().join("incomplete.yaml");
    let text = std::fs::read_to_string(Path::new(DATA).join("example-pipeline.yaml"))
        .unwrap()
        .replace("  batch_size: 64\n  shuffle: False\n", "  shuffle: False\n")
        .replace(
            "trigger:\n  id: DataAmountTrigger\n  num_samples: 100\n",
            "",
        );
    std::fs::write(&incomplete, text).unwrap();
    let out = dir.path().join("never.toml");
    let o = sluice(&[
        "import-modyn",
        incomplete.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(": training.batch_size: missing"), "{err}");
    assert!(err.contains(": trigger: missing"), "{err}");
    assert!(!out.exists());

    let o = sluice(&[
        "import-modyn",
        dir.path().join("absent.yaml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
}
