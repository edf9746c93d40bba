//! Evaluation end to end (real binary, real libtorch): every configured metric for every model
//! and handler; the evaluation matrix with its composite models and their time-weighted
//! aggregates; `sluice evaluate` from the model store; bad configs rejected with their key
//! paths. The metrics' definitions are checked against scikit-learn in tests/golden_metrics.rs,
//! the interval arithmetic in the unit tests of `eval::strategy`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::Value;

/// Events of `handler` and `metric`.
fn of<'a>(evals: &'a [Value], handler: &str, metric: &str) -> Vec<&'a Value> {
    evals
        .iter()
        .filter(|e| e["handler"] == handler && e["metric"] == metric)
        .collect()
}

#[test]
fn every_configured_metric_is_evaluated_for_every_model_and_handler() {
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
    let mut ids: Vec<&str> = evals.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), evals.len(), "each event once");
    for m in metrics {
        // The default handlers: each model on its trigger's interval and on all held-out data
        // after training, and the serving matrix after the pipeline.
        assert_eq!(of(&evals, "trigger_interval", m).len(), 4, "{m}");
        assert_eq!(of(&evals, "all", m).len(), 4, "{m}");
        assert!(of(&evals, "serving", m).len() >= 4 * 4, "{m}");
    }
    for e in &evals {
        let v = e["value"].as_f64().unwrap();
        match e["metric"].as_str().unwrap() {
            "log_loss" => assert!(v > 0.0 && v.is_finite(), "{e}"),
            "roc_auc" => assert!((0.0..=1.0).contains(&v), "{e}"),
            _ => assert!((0.0..=1.0).contains(&v), "{e}"),
        }
    }
    // A trained model beats chance on all held-out data.
    for e in of(&evals, "all", "roc_auc").iter().skip(1) {
        assert!(e["value"].as_f64().unwrap() > 0.5, "{e}");
    }
    // The after-training trigger interval is the trigger's span, and equal to the serving
    // matrix's cell for that model and interval (evaluated once, reported twice) where they
    // coincide: a serving interval starts after the previous trigger's last millisecond.
    let models = jsonl(&out.join("models.jsonl"));
    let triggers = jsonl(&out.join("triggers.jsonl"));
    let mut coinciding = 0;
    for (e, t) in of(&evals, "trigger_interval", "accuracy")
        .iter()
        .zip(&triggers)
    {
        assert_eq!(e["start_time"], t["first"]["time"]);
        assert_eq!(
            e["end_time"].as_u64().unwrap(),
            t["boundary"]["time"].as_u64().unwrap() + 1
        );
        let cell = evals.iter().find(|s| {
            s["handler"] == "serving"
                && s["metric"] == "accuracy"
                && s["model_id"] == e["model_id"]
                && s["interval"] == e["interval"]
        });
        if let Some(cell) = cell {
            assert_eq!(cell["value"], e["value"]);
            coinciding += 1;
        }
    }
    assert!(
        coinciding >= 1,
        "the first trigger's interval is a serving interval"
    );
    assert_eq!(models.len(), 4);
    // Evaluation on its own thread does not change training: the same models without it.
    let plain = config("csv", 500).replace("[evaluation]\npath = \"hyperplane_test.csv\"\n", "");
    assert!(!plain.contains("[evaluation]"));
    let plain = write_config(dir.path(), "plain.toml", &plain);
    run_ok(&plain, &dir.path().join("plain"), "1");
    for m in &models {
        let file = format!("models/{}.safetensors", m["model_id"].as_str().unwrap());
        assert_eq!(
            std::fs::read(out.join(&file)).unwrap(),
            std::fs::read(dir.path().join("plain").join(&file)).unwrap(),
            "{file}"
        );
    }
    let report = &summary(&out)["evaluation"];
    assert!(report["inferences"].as_u64().unwrap() < report["evaluations"].as_u64().unwrap() / 5);
}

/// Checks the serving matrix of a run: every model on every interval, one currently-active
/// model per interval after the first (the newest trained before it), its successor as the
/// currently-trained one, and the summary's time-weighted aggregate recomputed from the events.
fn check_matrix(out: &std::path::Path, summary: &Value) {
    let evals = jsonl(&out.join("evaluations.jsonl"));
    let models = jsonl(&out.join("models.jsonl"));
    let triggers = jsonl(&out.join("triggers.jsonl"));
    let serving = of(&evals, "serving", "accuracy");
    let intervals: BTreeSet<u64> = serving
        .iter()
        .map(|e| e["start_time"].as_u64().unwrap())
        .collect();
    assert!(intervals.len() >= models.len());
    assert_eq!(serving.len(), intervals.len() * models.len(), "full matrix");
    let last_times: Vec<u64> = triggers
        .iter()
        .map(|t| t["boundary"]["time"].as_u64().unwrap())
        .collect();
    let mut active_cells: Vec<&Value> = Vec::new();
    for &start in &intervals {
        let cells: Vec<&&Value> = serving
            .iter()
            .filter(|e| e["start_time"] == start)
            .collect();
        let active: Vec<u64> = cells
            .iter()
            .filter(|e| e["currently_active"] == true)
            .map(|e| e["trigger_id"].as_u64().unwrap())
            .collect();
        let trained: Vec<u64> = cells
            .iter()
            .filter(|e| e["currently_trained"] == true)
            .map(|e| e["trigger_id"].as_u64().unwrap())
            .collect();
        let want = last_times.iter().rposition(|&l| l < start);
        assert_eq!(
            active,
            want.map(|i| i as u64).into_iter().collect::<Vec<_>>()
        );
        let want_trained = want.map_or(0, |i| (i + 1).min(models.len() - 1));
        assert_eq!(trained, [want_trained as u64]);
        active_cells.extend(
            cells
                .into_iter()
                .filter(|e| e["currently_active"] == true)
                .copied(),
        );
    }
    assert_eq!(
        active_cells.len(),
        intervals.len() - 1,
        "none before the first model"
    );
    let (mut sum, mut weight) = (0.0, 0.0);
    for e in &active_cells {
        let d = (e["end_time"].as_u64().unwrap() - e["start_time"].as_u64().unwrap()) as f64;
        sum += e["value"].as_f64().unwrap() * d;
        weight += d;
    }
    let agg = aggregate(summary, "serving", "currently_active", "accuracy");
    assert_eq!(
        agg["intervals"].as_u64().unwrap() as usize,
        active_cells.len()
    );
    assert!((agg["time_weighted_avg"].as_f64().unwrap() - sum / weight).abs() < 1e-12);
}

/// Every trigger has a cost per stage; the per-trigger shares add up to the run's totals
/// (the dataflow's work after the last training set is in the totals only).
fn check_cost(out: &std::path::Path, summary: &Value) {
    let triggers = summary["triggers"].as_u64().unwrap() as usize;
    let cost = &summary["cost"];
    for (metric, total) in [
        ("ingest_ms", "ingest_s"),
        ("trigger_policy_ms", "trigger_policy_s"),
        ("selection_ms", "selection_s"),
        ("training_ms", "training_s"),
        ("model_store_ms", "model_store_s"),
        ("evaluation_ms", "evaluation_s"),
    ] {
        let values = metric_values(out, metric);
        assert_eq!(values.len(), triggers, "{metric}");
        let sum: f64 = values.iter().sum();
        let total = cost[total].as_f64().unwrap() * 1000.0;
        assert!(sum <= total + 1e-6, "{metric}: {sum} > {total}");
        match metric {
            // Rounded to whole ms per trigger.
            "training_ms" | "model_store_ms" => assert!((sum - total).abs() < 1e-6, "{metric}"),
            // After-pipeline handlers run after the last trigger.
            "evaluation_ms" => assert!(sum > 0.0 && total > sum, "{metric}: {sum} {total}"),
            "ingest_ms" | "selection_ms" => assert!(sum > 0.0, "{metric}"),
            _ => {}
        }
    }
}

#[test]
fn the_serving_matrix_flags_composite_models_and_evaluate_reproduces_it_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv");
    let cfg = write_config(dir.path(), "m.toml", &config("csv", 600));
    let out = dir.path().join("m");
    let o = run_ok(&cfg, &out, "2");
    assert!(
        stdout(&o).contains("accuracy of the model in service"),
        "{}",
        stdout(&o)
    );
    let run_summary = summary(&out);
    check_matrix(&out, &run_summary);
    check_cost(&out, &run_summary);

    // Re-evaluation from the model store gives the same events and aggregates.
    let o = sluice(&["evaluate", out.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again = out.join("evaluate");
    let key = |e: &Value| {
        (
            e["id"].as_str().unwrap().to_string(),
            e["value"].to_string(),
        )
    };
    let first: BTreeMap<_, _> = jsonl(&out.join("evaluations.jsonl"))
        .iter()
        .map(key)
        .collect();
    let second: BTreeMap<_, _> = jsonl(&again.join("evaluations.jsonl"))
        .iter()
        .map(key)
        .collect();
    assert_eq!(first, second);
    assert_eq!(
        summary(&again)["evaluation"]["aggregates"],
        run_summary["evaluation"]["aggregates"]
    );

    // Another [evaluation]: a manual slicing handler (only `evaluate` runs it) whose
    // after-the-fact matrix gives composites too.
    let eval = write_config(
        dir.path(),
        "eval.toml",
        r#"
[evaluation]
path = "hyperplane_test.csv"
metrics = ["accuracy", "f1_macro"]
[[evaluation.handlers]]
name = "hourly"
execution_time = "manual"
models = "active"
strategy = { type = "slicing", eval_every = "30m" }
"#,
    );
    let o = sluice(&[
        "evaluate",
        out.to_str().unwrap(),
        "--config",
        eval.to_str().unwrap(),
        "--out",
        dir.path().join("hourly").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("of `hourly`"), "{}", stdout(&o));
    let hourly = jsonl(&dir.path().join("hourly/evaluations.jsonl"));
    let f1 = of(&hourly, "hourly", "f1_macro");
    assert!(!f1.is_empty());
    assert!(f1.iter().all(|e| e["currently_active"] == true));
    let starts: Vec<u64> = f1
        .iter()
        .map(|e| e["start_time"].as_u64().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[1] - w[0] == 30 * 60 * 1000),
        "{starts:?}"
    );

    // A run directory without its models says which file is missing.
    std::fs::remove_file(out.join("models.jsonl")).unwrap();
    let o = sluice(&["evaluate", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("models.jsonl"), "{}", stderr(&o));
}

#[test]
fn bad_evaluation_configs_fail_validation_with_their_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_000, "csv");
    let with = |extra: &str| {
        config("csv", 100).replace(
            "path = \"hyperplane_test.csv\"",
            &format!("path = \"hyperplane_test.csv\"\n{extra}"),
        )
    };
    for (extra, key) in [
        (
            "metrics = [\"accuracy\", \"precision\"]",
            "evaluation.metrics[1]",
        ),
        ("metrics = [\"mse\"]", "evaluation.metrics[0]"),
        ("metrics = [\"top3_accuracy\"]", "evaluation.metrics[0]"),
        (
            "metrics = [\"accuracy\", \"accuracy\"]",
            "evaluation.metrics[1]",
        ),
        ("metrics = []", "evaluation.metrics"),
        (
            "[[evaluation.handlers]]\nname = \"s\"\nstrategy = { type = \"static\", intervals = [[100, 100]] }",
            "evaluation.handlers[0].strategy.intervals[0]",
        ),
        (
            "[[evaluation.handlers]]\nname = \"p\"\nstrategy = { type = \"periodic\", every = \"1h\", interval = \"[+1h; -1h]\" }",
            "evaluation.handlers[0].strategy.interval",
        ),
    ] {
        let cfg = write_config(dir.path(), "bad.toml", &with(extra));
        assert_invalid_at(&cfg, key);
    }
    // An evaluation dataset whose columns differ from the source's.
    let text = std::fs::read_to_string(dir.path().join("hyperplane_test.csv")).unwrap();
    let narrow: String = text
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    std::fs::write(dir.path().join("narrow.csv"), narrow).unwrap();
    let cfg = write_config(
        dir.path(),
        "narrow.toml",
        &config("csv", 100).replace("hyperplane_test.csv", "narrow.csv"),
    );
    let o = sluice(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        dir.path().join("n").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("evaluation.datasets[0] (`narrow.csv`): feature columns"),
        "{}",
        stderr(&o)
    );
    assert_invalid_at(&cfg, "evaluation.datasets[0] (`narrow.csv`)");
}

/// Regression (#24): `sluice evaluate <run> --config cfg/eval.toml`, a relative path, joined
/// the eval file's paths to `cfg/` and the run's config directory again (`cfg/cfg/../x.csv`),
/// failing on a file that exists.
#[test]
fn evaluate_with_a_relative_config_path_resolves_its_files_once() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_500, "csv");
    let cfg_dir = dir.path().join("cfg");
    std::fs::create_dir(&cfg_dir).unwrap();
    // The run's config lives in cfg/ too, so a double join would land in cfg/cfg/.
    let run_cfg = write_config(
        &cfg_dir,
        "run.toml",
        &config("csv", 500).replace("hyperplane", "../hyperplane"),
    );
    let out = dir.path().join("run");
    run_ok(&run_cfg, &out, "1");
    write_config(
        &cfg_dir,
        "eval.toml",
        "[evaluation]\npath = \"../hyperplane_test.csv\"\nmetrics = [\"accuracy\"]\n",
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir.path())
        .args(["evaluate", "run", "--config", "cfg/eval.toml", "-q"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let evaluations = jsonl(&out.join("evaluate/evaluations.jsonl"));
    assert!(!evaluations.is_empty());
    assert!(
        evaluations
            .iter()
            .all(|e| e["dataset"] == "hyperplane_test.csv"),
        "{:?}",
        evaluations[0]
    );
}

/// Regression (#24): a mistake in `sluice evaluate --config`'s `[evaluation]` was reported as
/// one of the run's own `config.toml`, the file the user did not write.
#[test]
fn an_error_in_the_evaluate_config_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_500, "csv");
    let cfg = write_config(dir.path(), "run.toml", &config("csv", 500));
    let out = dir.path().join("run");
    run_ok(&cfg, &out, "1");
    let eval = write_config(
        dir.path(),
        "eval.toml",
        "[evaluation]\npath = \"hyperplane_test.csv\"\nmetrics = [\"accuracy\", \"nope\"]\n",
    );
    let o = sluice(&[
        "evaluate",
        out.to_str().unwrap(),
        "--config",
        eval.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}: evaluation.metrics[1]:", eval.display())),
        "{err}"
    );
    assert!(
        !err.contains("config.toml") && !err.contains("run.toml"),
        "{err}"
    );
}

/// The `prequential` aggregate recomputed outside Sluice: each stream sample scored by the
/// model in service in its slice (its TorchScript file, tch alone), the samples before the first
/// model as a coin flip.
#[test]
fn the_prequential_aggregate_pools_the_model_in_service_over_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_500, "csv"); // 2,000 stream rows
    let slice_ms = 60_000u64;
    let cfg = config("csv", 500).replace(
        "[evaluation]\npath = \"hyperplane_test.csv\"\n",
        "[[evaluation.datasets]]\npath = \"hyperplane.csv\"\nmetrics = [\"accuracy\", \"roc_auc\", \"f1_macro\"]\n\n\
         [[evaluation.handlers]]\nname = \"prequential\"\nexecution_time = \"after_pipeline\"\n\
         models = \"active\"\nstrategy = { type = \"slicing\", eval_every = \"60s\" }\n",
    );
    let cfg = write_config(dir.path(), "p.toml", &cfg);
    let out = dir.path().join("p");
    run_ok(&cfg, &out, "1");
    let summary = summary(&out);
    let aggregates = summary["evaluation"]["aggregates"].as_array().unwrap();
    let find = |metric: &str, composite: &str| {
        aggregates
            .iter()
            .find(|a| a["metric"] == metric && a["composite"] == composite)
            .unwrap_or_else(|| panic!("no {metric} {composite} aggregate"))
    };
    let got = find("accuracy", "currently_active")["prequential"]
        .as_f64()
        .expect("a prequential accuracy");
    let auc = find("roc_auc", "currently_active")["prequential"]
        .as_f64()
        .unwrap();
    assert!((0.5..1.0).contains(&auc), "{auc}");
    assert!(
        find("f1_macro", "currently_active")
            .get("prequential")
            .is_none()
    );

    // The stream, and each model's last training sample's time.
    let text = std::fs::read_to_string(dir.path().join("hyperplane.csv")).unwrap();
    let rows: Vec<(u64, i64, Vec<f32>)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            let features = v[3..].iter().map(|x| x.parse().unwrap()).collect();
            (v[1].parse().unwrap(), v[2].parse().unwrap(), features)
        })
        .collect();
    let models: Vec<(String, u64)> = (0..4)
        .map(|i| {
            let id = format!("it-{i:04}");
            let meta: Value = serde_json::from_slice(
                &std::fs::read(out.join(format!("models/{id}.json"))).unwrap(),
            )
            .unwrap();
            (id, meta["boundary"]["time"].as_u64().unwrap())
        })
        .collect();
    let first = rows.iter().map(|r| r.0).min().unwrap();
    let mut credit = 0.0;
    let mut before_first = 0;
    for (id, _) in &models {
        // The samples whose slice this model serves.
        let serves: Vec<&(u64, i64, Vec<f32>)> = rows
            .iter()
            .filter(|r| {
                let start = first + (r.0 - first) / slice_ms * slice_ms;
                models.iter().rposition(|(_, last)| *last < start)
                    == models.iter().position(|(m, _)| m == id)
            })
            .collect();
        if serves.is_empty() {
            continue;
        }
        let xs: Vec<f32> = serves.iter().flat_map(|r| r.2.clone()).collect();
        let xs = tch::Tensor::from_slice(&xs).view([serves.len() as i64, 8]);
        let predicted = served_predictions(&out.join(format!("models/{id}.pt")), &xs);
        credit += predicted
            .iter()
            .zip(&serves)
            .filter(|(p, r)| **p == r.1)
            .count() as f64;
    }
    for r in &rows {
        let start = first + (r.0 - first) / slice_ms * slice_ms;
        if !models.iter().any(|(_, last)| *last < start) {
            before_first += 1;
        }
    }
    assert!(
        before_first >= 500,
        "the first model's data: {before_first}"
    );
    let want = (credit + before_first as f64 * 0.5) / rows.len() as f64;
    assert!(
        (got - want).abs() < 1e-12,
        "prequential accuracy {got}, recomputed {want}"
    );
}

/// Slices of one sample each: no slice has a ROC-AUC of its own, but the pooled one is what
/// such fine slices are for, so its aggregate is still there (with no per-slice statistics).
#[test]
fn a_pooled_roc_auc_is_reported_when_no_slice_has_one() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_500, "csv");
    // One second between stream samples, so a 1 s slice holds exactly one.
    let path = dir.path().join("hyperplane.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for (i, l) in lines.enumerate() {
        let (key, rest) = l.split_once(',').unwrap();
        let (_, rest) = rest.split_once(',').unwrap();
        out += &format!("{key},{},{rest}\n", 1_704_067_200_000u64 + i as u64 * 1_000);
    }
    std::fs::write(&path, out).unwrap();
    let cfg = config("csv", 500).replace(
        "[evaluation]\npath = \"hyperplane_test.csv\"\n",
        "[[evaluation.datasets]]\npath = \"hyperplane.csv\"\nmetrics = [\"accuracy\", \"roc_auc\"]\n\n\
         [[evaluation.handlers]]\nname = \"prequential\"\nexecution_time = \"after_pipeline\"\n\
         models = \"active\"\nstrategy = { type = \"slicing\", eval_every = \"1s\" }\n",
    );
    let cfg = write_config(dir.path(), "p.toml", &cfg);
    let out = dir.path().join("p");
    run_ok(&cfg, &out, "1");
    let summary = summary(&out);
    let aggregates = summary["evaluation"]["aggregates"].as_array().unwrap();
    let find = |metric: &str| {
        aggregates
            .iter()
            .find(|a| a["metric"] == metric && a["composite"] == "currently_active")
            .unwrap_or_else(|| panic!("no {metric} aggregate in {aggregates:?}"))
    };
    let auc = find("roc_auc");
    assert_eq!(auc["intervals"], 0, "{auc}");
    assert!(auc["time_weighted_avg"].is_null(), "{auc}");
    let pooled = auc["prequential"].as_f64().expect("a pooled ROC-AUC");
    assert!((0.5..1.0).contains(&pooled), "{pooled}");
    // Accuracy has a value in every slice a model serves.
    let accuracy = find("accuracy");
    assert!(
        accuracy["intervals"].as_u64().unwrap() > 1_000,
        "{accuracy}"
    );
}
