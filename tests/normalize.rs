//! `[model] normalize` end to end through the real binary and libtorch: the stream's running
//! statistics frozen into each model (metadata and TorchScript file), the same for any number
//! of workers; fixed statistics; the errors of a bad setting.

mod common;

use std::path::Path;

use common::*;

/// The scale and offset each hyperplane feature gets, far from the unit range the generator
/// writes: an unscaled model sees features of very different magnitudes.
const SCALES: [(f64, f64); 8] = [
    (1000.0, 5000.0),
    (0.001, 0.0),
    (1.0, 0.0),
    (50.0, -20.0),
    (1.0, 1e4),
    (200.0, 0.0),
    (0.01, 3.0),
    (1.0, 0.0),
];

/// Rewrites `<dir>/<file>` (key, time, label, x0..x7) with the features scaled; returns the
/// rows as (time, key, label, features as the run reads them, f32).
fn rescale(dir: &Path, file: &str) -> Vec<(u64, u64, i64, Vec<f32>)> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    let mut rows = Vec::new();
    for line in lines {
        let v: Vec<&str> = line.split(',').collect();
        let features: Vec<f32> = v[3..]
            .iter()
            .zip(SCALES)
            .map(|(x, (a, b))| (x.parse::<f64>().unwrap() * a + b) as f32)
            .collect();
        let written: Vec<String> = features.iter().map(|f| f.to_string()).collect();
        out += &format!("{},{},{},{}\n", v[0], v[1], v[2], written.join(","));
        rows.push((
            v[1].parse().unwrap(),
            v[0].parse().unwrap(),
            v[2].parse().unwrap(),
            features,
        ));
    }
    std::fs::write(&path, out).unwrap();
    rows
}

/// Per feature, the mean and population standard deviation of `rows`, in f64.
fn mean_std(rows: &[&Vec<f32>]) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len() as f64;
    (0..8)
        .map(|j| {
            let mean = rows.iter().map(|r| r[j] as f64).sum::<f64>() / n;
            let var = rows
                .iter()
                .map(|r| (r[j] as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            (mean, var.sqrt())
        })
        .unzip()
}

/// The `0-inf` accuracy each model of the run at `out` recorded, and the accuracy its
/// TorchScript file gives on the raw held-out features (tch alone, no Sluice code).
fn recorded_and_served(out: &Path, test: &[(u64, u64, i64, Vec<f32>)]) -> Vec<(f64, f64)> {
    let features: Vec<f32> = test.iter().flat_map(|r| r.3.clone()).collect();
    let xs = tch::Tensor::from_slice(&features).view([test.len() as i64, 8]);
    jsonl(&out.join("evaluations.jsonl"))
        .into_iter()
        .filter(|e| e["interval"] == "0-inf" && e["metric"] == "accuracy")
        .map(|e| {
            let id = e["model_id"].as_str().unwrap();
            let predicted = served_predictions(&out.join(format!("models/{id}.pt")), &xs);
            let correct = predicted
                .iter()
                .zip(test)
                .filter(|(p, r)| **p == r.2)
                .count();
            (
                e["value"].as_f64().unwrap(),
                correct as f64 / test.len() as f64,
            )
        })
        .collect()
}

/// The models' mean accuracy on the whole held-out file.
fn mean_accuracy(out: &Path, test: &[(u64, u64, i64, Vec<f32>)]) -> f64 {
    let a = recorded_and_served(out, test);
    a.iter().map(|(r, _)| r).sum::<f64>() / a.len() as f64
}

#[test]
fn running_statistics_are_frozen_into_each_model_and_its_torchscript_file() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv"); // 2,400 stream rows
    let stream = rescale(dir.path(), "hyperplane.csv");
    let test = rescale(dir.path(), "hyperplane_test.csv");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/torchscript");
    std::fs::copy(golden.join("mlp_bn.pt"), dir.path().join("mine.pt")).unwrap();
    let base = config("csv", 600).replace("lr = 0.01", "lr = 0.003");
    let running = base.replace(
        "num_classes = 2",
        "num_classes = 2\nnormalize = \"running\"",
    );

    // Unscaled, the same model on the same stream.
    let none = write_config(dir.path(), "none.toml", &base);
    run_ok(&none, &dir.path().join("none"), "1");

    let cfg = write_config(dir.path(), "running.toml", &running);
    let out = dir.path().join("running");
    run_ok(&cfg, &out, "1");
    let out2 = dir.path().join("running2");
    run_ok(&cfg, &out2, "2");
    assert_same_weights(&out2, &out, 4, "1 and 2 workers");

    let mut sorted: Vec<_> = stream.iter().collect();
    sorted.sort_by_key(|r| (r.0, r.1));
    for i in 0..4 {
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join(format!("models/it-{i:04}.json"))).unwrap(),
        )
        .unwrap();
        let meta2: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out2.join(format!("models/it-{i:04}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["normalization"], meta2["normalization"], "model {i}");
        // Every sample at or before the boundary, not only the training set's.
        let b = &meta["boundary"];
        let (bt, bk) = (b["time"].as_u64().unwrap(), b["key"].as_u64().unwrap());
        let upto: Vec<&Vec<f32>> = sorted
            .iter()
            .filter(|r| (r.0, r.1) <= (bt, bk))
            .map(|r| &r.3)
            .collect();
        assert_eq!(upto.len(), 600 * (i + 1));
        let n = &meta["normalization"];
        assert_eq!(n["samples"], upto.len() as u64, "model {i}");
        let (mean, std) = mean_std(&upto);
        for j in 0..8 {
            let (m, s) = (
                n["mean"][j].as_f64().unwrap(),
                n["std"][j].as_f64().unwrap(),
            );
            assert!(
                (m - mean[j]).abs() <= 1e-6 * mean[j].abs().max(std[j]),
                "model {i} mean {j}: {m} vs {}",
                mean[j]
            );
            assert!(
                (s - std[j]).abs() <= 1e-5 * std[j],
                "model {i} std {j}: {s} vs {}",
                std[j]
            );
        }
    }
    // The TorchScript file scales raw features itself.
    for (recorded, served) in recorded_and_served(&out, &test) {
        assert_eq!(recorded, served);
    }
    let (scaled, unscaled) = (
        mean_accuracy(&out, &test),
        mean_accuracy(&dir.path().join("none"), &test),
    );
    eprintln!("mean held-out accuracy: {scaled:.3} scaled, {unscaled:.3} unscaled");
    assert!(
        scaled > unscaled + 0.05,
        "running statistics should help on features of mixed scales: {scaled} vs {unscaled}"
    );

    // A TorchScript module with BatchNorm: trained and warm-started as trained, served scaled.
    let own = running.replace(
        "id = \"mlp\"\nhidden = [16]",
        "id = \"torchscript\"\npath = \"mine.pt\"",
    );
    let own = write_config(dir.path(), "own.toml", &own);
    let out_own = dir.path().join("own");
    run_ok(&own, &out_own, "1");
    for i in 0..4 {
        assert!(
            out_own
                .join(format!("models/it-{i:04}.module.pt"))
                .is_file()
        );
    }
    for (recorded, served) in recorded_and_served(&out_own, &test) {
        assert_eq!(recorded, served);
    }
}

#[test]
fn fixed_statistics_scale_every_model_and_bad_settings_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_500, "csv");
    rescale(dir.path(), "hyperplane.csv");
    let test = rescale(dir.path(), "hyperplane_test.csv");
    let means: Vec<String> = SCALES
        .iter()
        .map(|(a, b)| (0.5 * a + b).to_string())
        .collect();
    let stds: Vec<String> = SCALES.iter().map(|(a, _)| (0.29 * a).to_string()).collect();
    let fixed = format!(
        "normalize = {{ mean = [{}], std = [{}] }}",
        means.join(", "),
        stds.join(", ")
    );
    let cfg = config("csv", 400).replace("num_classes = 2", &format!("num_classes = 2\n{fixed}"));
    let cfg = write_config(dir.path(), "fixed.toml", &cfg);
    let out = dir.path().join("fixed");
    run_ok(&cfg, &out, "1");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("models/it-0002.json")).unwrap()).unwrap();
    let n = &meta["normalization"];
    assert_eq!(n["samples"], 0);
    assert_eq!(n["mean"][0].as_f64().unwrap(), 5500.0);
    assert_eq!(
        n["std"][5].as_f64().unwrap(),
        (0.29f64 * 200.0) as f32 as f64
    );
    for (recorded, served) in recorded_and_served(&out, &test) {
        assert_eq!(recorded, served);
    }

    let bad = |name: &str, setting: &str, key: &str| {
        let text =
            config("csv", 400).replace("num_classes = 2", &format!("num_classes = 2\n{setting}"));
        assert_invalid_at(&write_config(dir.path(), name, &text), key);
    };
    bad("a.toml", "normalize = \"always\"", "model.normalize");
    bad(
        "b.toml",
        "normalize = { mean = [1.0], std = [0.0] }",
        "model.normalize.std.0",
    );
    bad(
        "c.toml",
        "normalize = { mean = [1.0, 2.0], std = [1.0] }",
        "model.normalize",
    );
    bad(
        "d.toml",
        "normalize = { mean = [1.0], std = [1.0], scale = 2 }",
        "model.normalize.scale",
    );
    // The statistics must fit the features (8 here): checked once the source is open.
    bad(
        "e.toml",
        "normalize = { mean = [1.0, 2.0], std = [1.0, 1.0] }",
        "model.normalize",
    );
}
