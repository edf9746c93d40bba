//! Trigger policies end to end with the real binary and libtorch: drift on raw features and on
//! model embeddings, performance, cost and ensembles on the blobs stream (abrupt covariate
//! drift at known rows), identical on 1 and 4 workers, with their decisions in the events.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// Rows of the generated stream (test rows included) where the blobs move: 25%, 50%, 75% of
/// 25,000. Keys are row numbers.
const DRIFT_KEYS: [u64; 3] = [6_250, 12_500, 18_750];

fn prepare_blobs(dir: &Path) {
    prepare_dataset("blobs", dir, &["--format", "csv"]);
}

fn blobs_config(trigger: &str) -> String {
    format!(
        r#"
[pipeline]
name = "it"

[source]
path = "blobs.csv"
key_column = "key"
time_column = "time"
label_column = "label"

[model]
id = "mlp"
hidden = [16]
num_classes = 4

[training]
batch_size = 64
epochs_per_trigger = 1
seed = 7
use_previous_model = true

[training.optimizer]
algorithm = "adam"
lr = 0.005

{trigger}
"#
    )
}

const DRIFT: &str = r#"
[trigger]
id = "drift"
evaluation_interval_data_points = 500
sample_size = 500
windows = { id = "amount", amount_ref = 500, amount_cur = 500 }

[trigger.metrics.mmd]
id = "mmd"
criterion = { id = "threshold", threshold = 0.01 }

[trigger.metrics.ks]
id = "ks"
correction = "fdr"
criterion = { id = "p_value", p_val = 0.01 }
"#;

/// Runs `trigger` on the blobs in `dir` with `workers`; returns the run directory.
fn run(dir: &Path, name: &str, trigger: &str, workers: &str) -> PathBuf {
    let cfg = write_config(dir, &format!("{name}.toml"), &blobs_config(trigger));
    let out = dir.join(format!("{name}-w{workers}"));
    run_ok(&cfg, &out, workers);
    out
}

/// The triggers without wall-clock fields.
fn triggers(out: &Path) -> Vec<Value> {
    jsonl(&out.join("triggers.jsonl"))
        .into_iter()
        .map(|mut t| {
            t.as_object_mut().unwrap().remove("wall_time_ms");
            t
        })
        .collect()
}

fn boundary_keys(triggers: &[Value]) -> Vec<u64> {
    triggers
        .iter()
        .map(|t| t["boundary"]["key"].as_u64().unwrap())
        .collect()
}

fn decisions(out: &Path) -> Vec<Value> {
    jsonl(&out.join("metrics.jsonl"))
        .into_iter()
        .filter(|e| e["kind"] == "decision")
        .collect()
}

fn models(out: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(out.join("models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn drift_on_raw_features_fires_after_each_drift_point_on_1_and_4_workers() {
    let dir = tempfile::tempdir().unwrap();
    prepare_blobs(dir.path());
    let one = run(dir.path(), "drift", DRIFT, "1");
    let four = run(dir.path(), "drift", DRIFT, "4");
    let (t1, t4) = (triggers(&one), triggers(&four));
    assert_eq!(
        t1, t4,
        "same triggers, reasons and numbers on 1 and 4 workers"
    );
    let keys = boundary_keys(&t1);
    // The first interval (500 of the 20,000 stream samples: ~625 rows), then each drift within
    // two intervals (~1,250 rows), and nothing else.
    assert_eq!(t1[0]["reason"], "DataDrift: first interval");
    assert!(keys[0] < 700, "{keys:?}");
    for d in DRIFT_KEYS {
        assert!(
            keys.iter().any(|k| (d..d + 1_250).contains(k)),
            "drift at row {d} not found: {keys:?}"
        );
    }
    assert_eq!(keys.len(), 1 + DRIFT_KEYS.len(), "false alarms: {keys:?}");
    // Each fire says why, with its numbers.
    let t = &t1[1];
    assert!(t["reason"].as_str().unwrap().contains("mmd"), "{t}");
    let d = &t["details"];
    assert!(d["mmd.distance"].as_f64().unwrap() >= d["mmd.threshold"].as_f64().unwrap());
    assert_eq!(d["reference_window"], 500.0);
    // Every decision, fired or not, is a metrics event: 20,000 / 500 intervals.
    let ds = decisions(&one);
    assert_eq!(ds.len(), 40);
    assert_eq!(
        ds.iter().filter(|d| d["triggered"] == true).count(),
        keys.len()
    );
    let quiet = ds.iter().find(|d| d["triggered"] == false).unwrap();
    assert!(quiet["details"]["mmd.distance"].as_f64().unwrap() < 0.01);
}

#[test]
fn drift_on_embeddings_waits_for_each_model_and_is_the_same_on_1_and_4_workers() {
    let dir = tempfile::tempdir().unwrap();
    prepare_blobs(dir.path());
    let trigger = DRIFT.replace(
        "sample_size = 500",
        "sample_size = 500\nfeatures = \"embeddings\"",
    );
    let one = run(dir.path(), "emb", &trigger, "1");
    let four = run(dir.path(), "emb", &trigger, "4");
    let t1 = triggers(&one);
    assert_eq!(t1, triggers(&four));
    assert!(t1.len() >= 3, "{t1:?}");
    // Embeddings are 16-wide (the MLP's hidden layer) and models bitwise identical.
    let m1 = models(&one);
    assert_eq!(m1.len(), t1.len());
    assert!(m1 == models(&four), "models differ between 1 and 4 workers");
}

#[test]
fn performance_cost_and_ensemble_triggers_run_and_agree_across_workers() {
    let dir = tempfile::tempdir().unwrap();
    prepare_blobs(dir.path());
    let performance = r#"
[trigger]
id = "performance"
evaluation_interval_data_points = 500
evaluation = { metrics = ["accuracy"] }
warmup_intervals = 3
warmup_policy = { id = "amount", every = 1000 }

[trigger.criteria.acc]
id = "dynamic_rolling_average"
deviation = 0.1
absolute = true

[trigger.criteria.avoidable]
id = "avoidable_misclassifications"
avoidable_misclassification_threshold = 150
expected_accuracy = 0.8
"#;
    let ensemble = format!(
        r#"
[trigger]
id = "ensemble"
strategy = "any"

[trigger.subtriggers.amount]
id = "amount"
every = 6000

[trigger.subtriggers.inner]
id = "ensemble"
strategy = "all"

[trigger.subtriggers.inner.subtriggers.hourly]
id = "time"
every = "1h"

[trigger.subtriggers.inner.subtriggers.drift]
{}"#,
        DRIFT.replace("[trigger]\n", "").replace(
            "[trigger.metrics.",
            "[trigger.subtriggers.inner.subtriggers.drift.metrics."
        )
    );
    for (name, trigger) in [("perf", performance.to_string()), ("ens", ensemble)] {
        let one = run(dir.path(), name, &trigger, "1");
        let four = run(dir.path(), name, &trigger, "4");
        let t1 = triggers(&one);
        assert_eq!(t1, triggers(&four), "{name}");
        assert!(t1.len() >= 3, "{name}: {t1:?}");
        assert!(models(&one) == models(&four), "{name}: models differ");
    }
    // The performance trigger scores each interval: accuracy in every later decision.
    let ds = decisions(&dir.path().join("perf-w1"));
    assert!(
        ds[1..].iter().all(|d| d["details"]["accuracy"].is_number()),
        "{:?}",
        ds[1]
    );
    // Cost: measured training times, so only the shape is checked: it runs, fires and says why.
    let cost = r#"
[trigger]
id = "cost"
evaluation_interval_data_points = 1000
regret = "incorporation_latency"
incorporation_delay_per_training_second = 1e-7
"#;
    let out = run(dir.path(), "cost", cost, "2");
    let t = triggers(&out);
    assert!(t.len() >= 2, "{t:?}");
    assert!(
        t[1]["reason"]
            .as_str()
            .unwrap()
            .contains("forecast training time")
    );
    assert!(t[1]["details"]["training_s_forecast"].is_number());
}

#[test]
fn bad_trigger_configs_fail_validation_with_their_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    prepare_blobs(dir.path());
    let cases = [
        ("[trigger]\nid = \"sometimes\"\n", "trigger.id"),
        (
            "[trigger]\nid = \"time\"\nevery = \"3x\"\n",
            "trigger.every",
        ),
        (
            &DRIFT
                .replace("sample_size = 500", "sample_size = \"all\"")
                .replace(
                    "amount_ref = 500, amount_cur = 500",
                    "amount_ref = 50000, amount_cur = 500",
                ),
            "trigger.windows.amount_ref",
        ),
        (
            "[trigger]\nid = \"performance\"\nevaluation_interval_data_points = 100\n\
             [trigger.criteria.a]\nid = \"static_threshold\"\nmetric_threshold = 0.8\n",
            "trigger.evaluation",
        ),
        (
            &DRIFT.replace(
                "criterion = { id = \"threshold\", threshold = 0.01 }",
                "criterion = { id = \"dynamic_quantile\" }",
            ),
            "trigger.metrics.mmd.criterion.id",
        ),
        (
            "[trigger]\nid = \"ensemble\"\nstrategy = \"any\"\n\
             [trigger.subtriggers.t]\nid = \"time\"\nevery = \"0s\"\n",
            "trigger.subtriggers.t.every",
        ),
    ];
    for (i, (trigger, key)) in cases.iter().enumerate() {
        let cfg = write_config(dir.path(), &format!("bad{i}.toml"), &blobs_config(trigger));
        assert_invalid_at(&cfg, key);
    }
}
