//! The concept streams end to end: `datasets prepare` writes the stream, the held-out split and
//! the drift schedule for every drift kind, the same seed gives the same bytes, and a pipeline
//! learns each stream's concepts (the model trained on a segment is good on it).

mod common;

use common::*;

#[test]
fn concept_streams_are_prepared_with_their_drift_schedules() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["sea", "stagger", "agrawal", "rbf"] {
        for drift in ["abrupt", "gradual", "recurring"] {
            let out = dir.path().join(format!("{name}-{drift}"));
            let written = prepare_dataset(name, &out, &["--rows", "5000", "--drift", drift]);
            assert!(
                written.contains(&format!("{name}.csv: 4000 rows"))
                    && written.contains(&format!("{name}_test.csv: 1000 rows"))
                    && written.contains(&format!("{name}_drift.json: 3 drift points")),
                "{written}"
            );
            let schedule: serde_json::Value = serde_json::from_slice(
                &std::fs::read(out.join(format!("{name}_drift.json"))).unwrap(),
            )
            .unwrap();
            assert_eq!(schedule["kind"], drift);
            assert_eq!(
                schedule["boundaries"],
                serde_json::json!([1250, 2500, 3750])
            );
            let concepts: Vec<u64> = schedule["concepts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .collect();
            match drift {
                "recurring" => assert_eq!(concepts, [0, 1, 0, 1]),
                _ if name == "stagger" => assert_eq!(concepts, [0, 1, 2, 0]),
                _ => assert_eq!(concepts, [0, 1, 2, 3]),
            }
            assert_eq!(schedule["width"], if drift == "gradual" { 1000 } else { 0 });
        }
    }
    // Same seed, same bytes; another seed, other bytes.
    let again = dir.path().join("again");
    for (seed, same) in [("1", true), ("2", false)] {
        prepare_dataset("agrawal", &again, &["--rows", "5000", "--seed", seed]);
        let a = std::fs::read(dir.path().join("agrawal-abrupt/agrawal.csv")).unwrap();
        let b = std::fs::read(again.join("agrawal.csv")).unwrap();
        assert_eq!(a == b, same, "seed {seed}");
    }
}

#[test]
fn models_learn_each_segment_of_the_concept_streams() {
    let dir = tempfile::tempdir().unwrap();
    for (name, features, classes) in [("sea", 3, 2), ("agrawal", 9, 2), ("rbf", 10, 5)] {
        prepare_dataset(name, dir.path(), &["--rows", "12500"]);
        // A trigger per segment (10,000 stream rows, 4 segments): each model is trained on
        // one concept, and the serving matrix's currently-trained model is that model.
        let text = config("csv", 2_500)
            .replace("hyperplane", name)
            .replace("hidden = [16]", "hidden = [64, 64]")
            .replace("num_classes = 2", &format!("num_classes = {classes}"))
            .replace("epochs_per_trigger = 3", "epochs_per_trigger = 20");
        let cfg = write_config(dir.path(), &format!("{name}.toml"), &text);
        let out = dir.path().join(format!("run-{name}"));
        run_ok(&cfg, &out, "1");
        let s = summary(&out);
        assert_eq!(s["models"], 4, "{name}");
        let trained = aggregate(&s, "serving", "currently_trained", "accuracy")["mean"]
            .as_f64()
            .unwrap();
        // 5% label noise caps accuracy near 0.95 (0.96 with 5 classes).
        assert!(trained > 0.8, "{name} ({features} features): {trained}");
    }
}

/// The Fashion-MNIST files of the Debian package (`scripts/setup.sh --datasets`, run by
/// .ci/run).
fn fashion_mnist() -> bool {
    let dir = std::path::Path::new("/usr/share/datasets/fashion-mnist");
    present_or_skip(
        "Fashion-MNIST",
        dir.join("train-images-idx3-ubyte.gz").is_file(),
        "scripts/setup.sh --datasets",
    )
}

#[test]
fn a_cnn_learns_the_drifting_fashion_mnist_stream() {
    let dir = tempfile::tempdir().unwrap();
    // Without the package's files (or with --source elsewhere): the setup command is named.
    let o = sluice(&[
        "datasets",
        "prepare",
        "fashion-mnist",
        "--out",
        dir.path().to_str().unwrap(),
        "--source",
        dir.path().join("nowhere").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("scripts/setup.sh --datasets"),
        "{}",
        stderr(&o)
    );
    if !fashion_mnist() {
        return;
    }
    let written = prepare_dataset(
        "fashion-mnist",
        dir.path(),
        &["--rows", "7000", "--format", "arrow"],
    );
    assert!(
        written.contains("fashion-mnist.arrow: 5600 rows"),
        "{written}"
    );
    assert!(
        written.contains("fashion-mnist_drift.json: 13 drift points"),
        "{written}"
    );
    // A trigger every 1,400 samples (about 3.5 virtual years), a small CNN.
    let text = config("arrow", 1_400)
        .replace("hyperplane", "fashion-mnist")
        .replace(
            "id = \"mlp\"\nhidden = [16]\nnum_classes = 2",
            "id = \"cnn\"\ninput_shape = [1, 28, 28]\nchannels = [8, 16]\nhidden = 64\nnum_classes = 10",
        )
        .replace("epochs_per_trigger = 3", "epochs_per_trigger = 4");
    let cfg = write_config(dir.path(), "fashion.toml", &text);
    let out = dir.path().join("run");
    run_ok(&cfg, &out, "1");
    let s = summary(&out);
    assert_eq!(s["models"], 4);
    let trained = aggregate(&s, "serving", "currently_trained", "accuracy")["mean"]
        .as_f64()
        .unwrap();
    // Ten classes: chance is 0.1; a CNN on 1,400 images per trigger gets well above it.
    assert!(trained > 0.6, "{trained}");
}

#[test]
fn a_five_year_time_trigger_runs_over_fifty_years_of_rainfall() {
    let dir = tempfile::tempdir().unwrap();
    let file = sluice::datasets::rainfall_file(None);
    if !present_or_skip(
        "rainfall_data.csv",
        file.is_file(),
        "scripts/setup.sh --datasets",
    ) {
        return;
    }
    let written = prepare_dataset("rainfall", dir.path(), &[]);
    assert!(written.contains("rainfall.csv: 14528 rows"), "{written}");
    assert!(
        written.contains("rainfall_test.csv: 3631 rows"),
        "{written}"
    );
    let text = config("csv", 1)
        .replace("hyperplane", "rainfall")
        .replace(
            "id = \"amount\"\nevery = 1",
            "id = \"time\"\nevery = \"5y\"\nstart = 0",
        )
        .replace("epochs_per_trigger = 3", "epochs_per_trigger = 5");
    let cfg = write_config(dir.path(), "rain.toml", &text);
    let out = dir.path().join("run");
    run_ok(&cfg, &out, "1");
    let s = summary(&out);
    // 18,159 days are 49.7 years: nine 5-year windows close (the tenth is still open at the
    // end of the stream).
    assert_eq!(s["triggers"], 9, "{s}");
    let active = aggregate(&s, "serving", "currently_active", "accuracy")["time_weighted_avg"]
        .as_f64()
        .unwrap();
    // About 31% of the days have rain: a model must beat always saying "no rain".
    assert!(active > 0.72, "{active}");
}

#[test]
fn dlrm_learns_the_synthetic_click_logs_day_by_day() {
    let dir = tempfile::tempdir().unwrap();
    let written = prepare_dataset(
        "criteo-synthetic",
        dir.path(),
        &["--rows", "17500", "--format", "arrow"],
    );
    assert!(
        written.contains("criteo-synthetic.arrow: 14000 rows"),
        "{written}"
    );
    assert!(
        written.contains("criteo-synthetic_drift.json: 6 drift points"),
        "{written}"
    );
    // A trigger per day (2,000 stream rows), DLRM over 13 dense and 26 categorical features.
    let tables = vec!["2000"; 26].join(", ");
    let text = config("arrow", 2_000)
        .replace("hyperplane", "criteo-synthetic")
        .replace(
            "id = \"mlp\"\nhidden = [16]\nnum_classes = 2",
            &format!(
                "id = \"dlrm\"\ndense_features = 13\nembedding_sizes = [{tables}]\nembedding_dim = 8\nbottom_mlp = [16, 8]\ntop_mlp = [16]\nnum_classes = 2"
            ),
        )
        .replace(
            "path = \"criteo-synthetic_test.arrow\"",
            "path = \"criteo-synthetic_test.arrow\"\nmetrics = [\"roc_auc\", \"log_loss\"]",
        );
    let cfg = write_config(dir.path(), "ctr.toml", &text);
    let out = dir.path().join("run");
    run_ok(&cfg, &out, "1");
    let s = summary(&out);
    assert_eq!(s["models"], 7);
    let auc = aggregate(&s, "serving", "currently_trained", "roc_auc")["mean"]
        .as_f64()
        .unwrap();
    // Clicks depend on the ids' latent effects and the counts: better than chance (0.5).
    assert!(auc > 0.6, "{auc}");
}
