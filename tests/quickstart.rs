//! The quickstart pipeline, smaller, through the real binary with real libtorch training:
//! events, model artifacts, determinism across worker counts, and artifacts that load back.

mod common;

use common::*;
use sluice::eval::{Holdout, Metric, evaluate};
use sluice::train::models::Mlp;
use tch::nn;

/// Reads `key,time,...` rows of a CSV and returns the training sets an amount trigger with
/// new-data selection must produce: rows sorted by (time, key), cut every `every`.
fn expected_sets(csv: &std::path::Path, every: usize) -> Vec<Vec<u64>> {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut rows: Vec<(u64, u64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            let key = f.next().unwrap().parse().unwrap();
            let time = f.next().unwrap().parse().unwrap();
            (time, key)
        })
        .collect();
    rows.sort();
    rows.chunks_exact(every)
        .map(|c| c.iter().map(|(_, k)| *k).collect())
        .collect()
}

#[test]
fn quickstart_end_to_end_on_1_and_4_workers() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv"); // 4,000 stream rows, 1,000 held out
    let cfg = write_config(dir.path(), "it.toml", &config("csv", 700));
    let mut runs = Vec::new();
    for workers in ["1", "4"] {
        let out = dir.path().join(format!("run-{workers}"));
        let o = run_ok(&cfg, &out, workers);
        let line = stdout(&o);
        assert!(
            line.contains("it: 4000 samples (0 dead-lettered), 5 triggers, 5 models"),
            "summary: {line}"
        );
        runs.push(out);
    }

    let expected = expected_sets(&dir.path().join("hyperplane.csv"), 700);
    assert_eq!(expected.len(), 5);
    for out in &runs {
        let triggers = jsonl(&out.join("triggers.jsonl"));
        let models = jsonl(&out.join("models.jsonl"));
        assert_eq!(triggers.len(), 5);
        assert_eq!(models.len(), 5);
        for (i, (t, m)) in triggers.iter().zip(&models).enumerate() {
            assert_eq!(t["kind"], "trigger");
            assert_eq!(t["trigger_id"], i);
            assert_eq!(t["samples"], 700);
            assert_eq!(t["boundary"]["key"], *expected[i].last().unwrap());
            assert_eq!(t["first"]["key"], expected[i][0]);
            assert_eq!(m["kind"], "model");
            assert_eq!(m["samples"], 700);
            assert_eq!(
                m["training_set_digest"],
                sluice::train::digest(&expected[i])
            );
            let id = m["model_id"].as_str().unwrap();
            assert_eq!(id, format!("it-{i:04}"));
            assert!(
                out.join("models")
                    .join(format!("{id}.safetensors"))
                    .is_file()
            );
            let meta: serde_json::Value = serde_json::from_slice(
                &std::fs::read(out.join("models").join(format!("{id}.json"))).unwrap(),
            )
            .unwrap();
            assert_eq!(meta["pipeline"], "it");
            assert_eq!(meta["trigger_id"], i);
            assert_eq!(meta["samples"], 700);
            assert_eq!(meta["boundary"], t["boundary"]);
            assert!(meta["training_ms"].as_u64().is_some());
            assert!(meta["final_loss"].as_f64().unwrap().is_finite());
            assert_eq!(meta["architecture"]["id"], "mlp");
            let parent = if i == 0 {
                serde_json::Value::Null
            } else {
                format!("it-{:04}", i - 1).into()
            };
            assert_eq!(
                meta["parent_model"], parent,
                "warm start from the previous model"
            );
        }
        let metrics = jsonl(&out.join("metrics.jsonl"));
        assert!(
            metrics
                .iter()
                .any(|m| m["name"] == "train_loss" && m["trigger_id"] == 4)
        );
        assert!(jsonl(&out.join("dead-letter.jsonl")).is_empty());
        // No temporary artifacts left behind.
        for e in std::fs::read_dir(out.join("models")).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(!name.starts_with('.'), "leftover {name}");
        }
    }
    // Same seed, same data: bitwise-identical models whatever the number of workers.
    for i in 0..5 {
        let name = format!("models/it-{i:04}.safetensors");
        assert_eq!(
            std::fs::read(runs[0].join(&name)).unwrap(),
            std::fs::read(runs[1].join(&name)).unwrap(),
            "{name}"
        );
    }

    // The last model loads back with tch and reproduces its recorded evaluation.
    let evals = jsonl(&runs[0].join("evaluations.jsonl"));
    let last = evals
        .iter()
        .rfind(|e| e["handler"] == "all" && e["interval"] == "0-inf")
        .unwrap();
    let recorded = last["value"].as_f64().unwrap();
    assert!(
        recorded > 0.6,
        "final model better than chance on held-out data: {recorded}"
    );
    let mut vs = nn::VarStore::new(tch::Device::Cpu);
    let model = Mlp::new(&vs.root(), 8, &[16], 2);
    vs.load(runs[0].join("models/it-0004.safetensors")).unwrap();
    let spec = sluice::config::load(&cfg).unwrap();
    let eval = &spec.evaluation.as_ref().unwrap().datasets[0];
    let sluice::config::EvalInput::File { path, format } = &eval.input else {
        panic!("a file dataset")
    };
    let held = sluice::source::FileSource::open(path, *format, &eval.columns, &cfg).unwrap();
    let samples = held
        .read_share(0, 1, &mut |d| panic!("dead letter {d:?}"))
        .unwrap();
    let holdout = Holdout::new(8, samples);
    let acc = evaluate(
        &model,
        &holdout,
        0..holdout.len(),
        256,
        tch::Device::Cpu,
        &[Metric::Accuracy(1)],
        2,
    );
    assert_eq!(acc[0].value(), Some(recorded));
}

#[test]
fn arrow_ipc_source_gives_the_same_triggers_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv");
    prepare(dir.path(), 3_000, "arrow");
    let mut digests = Vec::new();
    for ext in ["csv", "arrow"] {
        let cfg = write_config(dir.path(), &format!("{ext}.toml"), &config(ext, 500));
        let out = dir.path().join(format!("run-{ext}"));
        run_ok(&cfg, &out, "2");
        let models = jsonl(&out.join("models.jsonl"));
        assert_eq!(models.len(), 4, "{ext}: 2,400 samples / 500");
        digests.push(
            models
                .iter()
                .map(|m| m["training_set_digest"].clone())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn bundled_dataset_is_reproducible_from_its_generator() {
    let dir = tempfile::tempdir().unwrap();
    prepare_dataset("hyperplane", dir.path(), &[]);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for f in ["hyperplane.csv", "hyperplane_test.csv"] {
        assert!(
            std::fs::read(root.join(f)).unwrap() == std::fs::read(dir.path().join(f)).unwrap(),
            "data/{f} differs from `sluice datasets prepare hyperplane`"
        );
    }
}

#[test]
fn time_trigger_cuts_event_time_windows_on_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_500, "csv"); // 2,000 samples over ~42 minutes from 2024-01-01
    let text = config("csv", 1).replace(
        "id = \"amount\"\nevery = 1",
        "id = \"time\"\nevery = \"5m\"\nstart = 1704067200",
    );
    let cfg = write_config(dir.path(), "time.toml", &text);
    let times: Vec<u64> = std::fs::read_to_string(dir.path().join("hyperplane.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let start = 1_704_067_200_000u64;
    let last = *times.iter().max().unwrap();
    let mut runs = Vec::new();
    for workers in ["1", "3"] {
        let out = dir.path().join(format!("w{workers}"));
        run_ok(&cfg, &out, workers);
        let triggers = jsonl(&out.join("triggers.jsonl"));
        // Every 5-minute window that a later sample closes, and nothing else.
        let closed = (last - start) / 300_000;
        assert_eq!(triggers.len() as u64, closed, "workers={workers}");
        for (i, t) in triggers.iter().enumerate() {
            let end = start + (i as u64 + 1) * 300_000;
            let in_window = times
                .iter()
                .filter(|&&x| x >= end - 300_000 && x < end)
                .count() as u64;
            assert_eq!(t["samples"], in_window, "window {i}");
            assert!(t["boundary"]["time"].as_u64().unwrap() < end, "{t}");
            assert!(t["reason"].as_str().unwrap().contains("5m"), "{t}");
        }
        runs.push(
            triggers
                .iter()
                .map(|t| (t["boundary"].clone(), t["samples"].clone()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(runs[0], runs[1]);
}

/// The binary sets glibc's allocator up for a stream (`sluice::allocator`) unless the user
/// set one of its `MALLOC_*_` variables, and says which at debug level.
#[test]
fn the_binary_tunes_the_allocator_unless_the_user_did() {
    let run = |env: Option<(&str, &str)>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"));
        c.args(["datasets", "list", "--log", "sluice=debug"]);
        for v in sluice::allocator::ENV {
            c.env_remove(v);
        }
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        // Without the terminal colours tracing puts around field names.
        let mut plain = String::new();
        let mut escape = false;
        for ch in stderr(&o).chars() {
            match (escape, ch) {
                (_, '\x1b') => escape = true,
                (true, 'm') => escape = false,
                (true, _) => {}
                (false, ch) => plain.push(ch),
            }
        }
        plain
    };
    let glibc = cfg!(all(target_os = "linux", target_env = "gnu"));
    let default = run(None);
    assert!(default.contains(&format!("tuned={glibc}")), "{default}");
    let user = run(Some(("MALLOC_TRIM_THRESHOLD_", "131072")));
    assert!(user.contains("tuned=false"), "{user}");
}
