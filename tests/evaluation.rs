//! Evaluation end to end (real binary, real libtorch): every configured metric on both intervals
//! of every model, and bad metric lists rejected with their key paths. The metrics' definitions
//! are checked against scikit-learn in tests/golden_metrics.rs.

mod common;

use common::*;

#[test]
fn every_configured_metric_is_evaluated_for_every_model_and_interval() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_500, "csv"); // 2,000 stream rows, 500 held out
    let metrics = ["accuracy", "f1_macro", "f1_binary", "roc_auc", "log_loss"];
    let cfg = config("csv", 500).replace(
        "path = \"hyperplane_test.csv\"",
        &format!(
            "path = \"hyperplane_test.csv\"\nmetrics = [{}]",
            metrics.map(|m| format!("\"{m}\"")).join(", ")
        ),
    );
    let cfg = write_config(dir.path(), "e.toml", &cfg);
    let out = dir.path().join("e");
    run_ok(&cfg, &out, "1");
    let evals = jsonl(&out.join("evaluations.jsonl"));
    // 4 models x 2 intervals x 5 metrics, each once.
    assert_eq!(evals.len(), 4 * 2 * metrics.len());
    let mut ids: Vec<&str> = evals.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), evals.len());
    for e in &evals {
        let v = e["value"].as_f64().unwrap();
        match e["metric"].as_str().unwrap() {
            "log_loss" => assert!(v > 0.0 && v.is_finite(), "{e}"),
            // A trained model beats chance on this stream.
            "roc_auc" => assert!(v > 0.5 && v <= 1.0, "{e}"),
            _ => assert!((0.0..=1.0).contains(&v), "{e}"),
        }
    }
    // The summary's accuracy is the last model's accuracy event on all held-out data.
    let summary = summary(&out);
    let last = evals
        .iter()
        .rfind(|e| e["metric"] == "accuracy" && e["interval"] == "all")
        .unwrap();
    assert_eq!(summary["last_accuracy_all"], last["value"]);
}

#[test]
fn bad_metric_lists_fail_validation_with_their_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_000, "csv");
    for (metrics, key) in [
        ("[\"accuracy\", \"precision\"]", "evaluation.metrics[1]"),
        ("[\"mse\"]", "evaluation.metrics[0]"),
        ("[\"top3_accuracy\"]", "evaluation.metrics[0]"),
        ("[\"accuracy\", \"accuracy\"]", "evaluation.metrics[1]"),
        ("[]", "evaluation.metrics"),
    ] {
        let text = config("csv", 100).replace(
            "path = \"hyperplane_test.csv\"",
            &format!("path = \"hyperplane_test.csv\"\nmetrics = {metrics}"),
        );
        let cfg = write_config(dir.path(), "bad.toml", &text);
        assert_invalid_at(&cfg, key);
    }
}
