//! Sweeps: `[[variant]]` tables run side by side in one dataflow over one ingest, each variant
//! giving what a separate run of its config gives (same triggers, same events, bitwise-identical
//! models); bad variants are rejected with their name and key path.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Four variants of `config("csv", 400)`: the base, another amount, a time trigger with its own
/// training, a performance trigger (which waits for each model) over a reservoir.
const VARIANTS: &str = r#"
[[variant]]
name = "base"

[[variant]]
name = "amount-250"
trigger = { every = 250 }

[[variant]]
name = "quarter-hour"
trigger = { id = "time", every = "15m" }
training = { epochs_per_trigger = 2, seed = 11 }

[[variant]]
name = "accuracy-reservoir"
selection = { strategy = "reservoir", budget = 600, seed = 3 }

[variant.trigger]
id = "performance"
evaluation_interval_data_points = 300
evaluation = { metrics = ["accuracy"], batch_size = 64 }
criteria.low = { id = "static_threshold", metric_threshold = 0.85 }
"#;

const NAMES: [&str; 4] = ["base", "amount-250", "quarter-hour", "accuracy-reservoir"];

fn models_of(dir: &Path) -> Vec<PathBuf> {
    let mut m: Vec<PathBuf> = std::fs::read_dir(dir.join("models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    m.sort();
    m
}

#[test]
fn each_variant_of_a_sweep_trains_like_its_own_run() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let cfg = write_config(dir.path(), "sweep.toml", &(config("csv", 400) + VARIANTS));
    let out = dir.path().join("sweep");
    let o = run_ok(&cfg, &out, "2");
    let line = stdout(&o);
    assert!(line.contains("of 4 variants"), "{line}");

    let sweep = summary(&out);
    let variants = sweep["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 4);
    let mut triggers = 0;
    for (name, v) in NAMES.iter().zip(variants) {
        assert_eq!(v["variant"], *name);
        assert!(
            line.contains(&format!("variant {name}: {} triggers", v["triggers"])),
            "{line}"
        );
        triggers += v["triggers"].as_u64().unwrap();
        // One ingest: every variant saw every sample.
        assert_eq!(v["samples"], sweep["samples"]);
    }
    assert_eq!(sweep["triggers"], triggers);
    assert_eq!(sweep["samples"], 4000);
    // `sluice lineage` on the sweep reads every variant's models (it read none: the sweep's
    // own directory holds no models).
    let csv = std::fs::read_to_string(dir.path().join("hyperplane.csv")).unwrap();
    let key = csv
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let o = sluice(&["lineage", out.to_str().unwrap(), &key]);
    let l = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(l.contains(&format!("of {} models", sweep["models"])), "{l}");
    assert!(l.contains("  base/"), "{l}");

    for name in NAMES {
        let vdir = out.join("variants").join(name);
        // The variant's directory is a run directory of its own config, which runs alone.
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(vdir.join("run.json")).unwrap()).unwrap();
        assert_eq!(info["variant"], name);
        let own = write_config(
            dir.path(),
            &format!("{name}.toml"),
            &std::fs::read_to_string(vdir.join("config.toml")).unwrap(),
        );
        assert!(
            !std::fs::read_to_string(&own).unwrap().contains("variant"),
            "a variant's config is a plain config"
        );
        let alone = dir.path().join(format!("alone-{name}"));
        run_ok(&own, &alone, "1");
        for stream in ["triggers", "models", "evaluations"] {
            assert_eq!(
                stripped(&vdir, stream),
                stripped(&alone, stream),
                "{name}: {stream}"
            );
        }
        let (mine, theirs) = (models_of(&vdir), models_of(&alone));
        assert!(!mine.is_empty(), "{name} trained no model");
        assert_eq!(mine.len(), theirs.len(), "{name}");
        for (a, b) in mine.iter().zip(&theirs) {
            assert!(
                std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
                "{name}: {} differs",
                a.display()
            );
        }
        // Every event of the variant says which it is.
        for e in jsonl(&vdir.join("triggers.jsonl")) {
            assert_eq!(e["variant"], name);
        }
        let s = summary(&vdir);
        assert_eq!(s["variant"], name);
        assert_eq!(s["triggers"], summary(&alone)["triggers"]);
    }
    // The last status: every variant finished, with its triggers and last model.
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("status.json")).unwrap()).unwrap();
    assert_eq!(status["state"], "finished");
    let text = stdout(&sluice(&["status", out.to_str().unwrap()]));
    assert!(text.starts_with("it: finished, updated"), "{text}");
    for (v, s) in status["variants"].as_array().unwrap().iter().zip(variants) {
        assert_eq!(v["variant"], s["variant"]);
        assert_eq!(v["triggers"], s["triggers"]);
        assert_eq!(v["model"], s["last_model"]);
        assert_eq!(
            (v["queue"].as_u64(), v["samples"].as_u64()),
            (Some(0), Some(4000))
        );
        assert_eq!(v["lag_messages"], 0);
        let name = v["variant"].as_str().unwrap();
        let row = format!(
            "{name:<18}  {:<8}  {}",
            s["triggers"].to_string(),
            s["last_model"].as_str().unwrap()
        );
        assert!(text.contains(&row), "`{row}` in {text}");
        // Its status event, tagged, on the metrics stream.
        let events = jsonl(&out.join("variants").join(name).join("metrics.jsonl"));
        let last = events.iter().rev().find(|e| e["kind"] == "status").unwrap();
        assert_eq!(
            (&last["variant"], &last["state"]),
            (&v["variant"], &v["state"])
        );
    }
    // `sluice evaluate` works on a variant's directory, and says so on the sweep's.
    let o = sluice(&["evaluate", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("holds a sweep; evaluate each variant's directory"));
    let base = out.join("variants").join("base");
    let o = sluice(&[
        "evaluate",
        base.to_str().unwrap(),
        "--out",
        dir.path().join("eval").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{} models", sweep["variants"][0]["models"])),
        "{}",
        stdout(&o)
    );
    // `sluice report` on the sweep compares its variants.
    let report = dir.path().join("report");
    let o = sluice(&[
        "report",
        out.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let index = std::fs::read_to_string(report.join("index.html")).unwrap();
    for name in NAMES {
        assert!(
            index.contains(&format!("<td>it/{name}</td>")),
            "{name} not in the report's table"
        );
        assert!(report.join(format!("{name}-triggers.png")).exists());
    }
    for plot in ["compare-cost-vs-metric", "compare-triggers-vs-metric"] {
        assert!(report.join(format!("{plot}.svg")).exists(), "{plot}");
    }
    // The variants differ: the policies fired at different samples.
    let counts: std::collections::BTreeSet<u64> = variants
        .iter()
        .map(|v| v["triggers"].as_u64().unwrap())
        .collect();
    assert!(counts.len() >= 3, "{counts:?}");
}

#[test]
fn bad_variants_are_rejected_with_their_name_and_key_path() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_000, "csv");
    let check = |variants: &str, expected: &[&str]| {
        let cfg = write_config(dir.path(), "bad.toml", &(config("csv", 100) + variants));
        let o = sluice(&["validate", cfg.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{variants}: {err}");
        for e in expected {
            assert!(err.contains(e), "{variants}: expected `{e}` in {err}");
        }
    };
    check(
        "[[variant]]\nname = \"a\"\n[[variant]]\nname = \"fast\"\ntrigger = { every = -5 }\n",
        &["bad.toml: variant[1] (fast).trigger.every:"],
    );
    check(
        "[[variant]]\nname = \"x\"\nsource = { path = \"other.csv\" }\nmodel = { id = \"cnn\" }\n",
        &[
            "variant[0] (x).source: a variant overrides only trigger, selection, training",
            "variant[0] (x).model:",
        ],
    );
    check(
        "[[variant]]\nname = \"y\"\ntraining = { epochs_per_trigger = 1, learning_rate = 0.1 }\n",
        &["variant[0] (y).training.learning_rate:"],
    );
    check(
        "[[variant]]\ntrigger = { every = 5 }\n",
        &["variant[0].name: missing"],
    );
    check(
        "[[variant]]\nname = \"a\"\n[[variant]]\nname = \"a\"\n",
        &["variant[1] (a).name: another variant has this name"],
    );
    check(
        "[[variant]]\nname = \"../up\"\n",
        &["variant[0] (../up).name: use letters, digits"],
    );
    check(
        "[[variant]]\nname = \"m\"\nselection = { maximum_keys_in_memory = 100 }\n",
        &["variant[0] (m).selection.maximum_keys_in_memory: the variants share one sample store"],
    );
    check(
        "[variant]\nname = \"t\"\n",
        &["variant: expected an array of tables"],
    );
}

/// A sweep over a topic: its variants' events share the run's topics, tagged with the variant
/// and keyed `<variant>/<id>`, and equal each variant's JSONL files; each variant trains like
/// the same variant of a sweep over the file.
#[test]
fn a_sweep_over_a_topic_tags_its_events_on_shared_topics() {
    let Some(brokers) = kafka_brokers("a_sweep_over_a_topic_tags_its_events_on_shared_topics")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv");
    let topic = unique_topic("sweep");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "2");
    let variants = "[[variant]]\nname = \"every-300\"\ntrigger = { every = 300 }\n\
                    [[variant]]\nname = \"every-700\"\ntrigger = { every = 700 }\n";
    let prefix = unique_topic("sweep-events");
    let cfg = write_config(
        dir.path(),
        "kafka.toml",
        &(kafka_config(&brokers, &topic, &prefix, 500) + variants),
    );
    let out = dir.path().join("kafka");
    run_ok(&cfg, &out, "2");
    let file_cfg = write_config(dir.path(), "file.toml", &(config("csv", 500) + variants));
    let file_run = dir.path().join("file");
    run_ok(&file_cfg, &file_run, "1");

    let triggers = tail(&brokers, &format!("{prefix}.triggers"));
    for name in ["every-300", "every-700"] {
        let vdir = out.join("variants").join(name);
        let mine: Vec<serde_json::Value> = triggers
            .iter()
            .filter(|e| e["variant"] == name)
            .cloned()
            .collect();
        assert!(!mine.is_empty(), "{name}: no trigger events on the topic");
        assert_eq!(mine, jsonl(&vdir.join("triggers.jsonl")), "{name}");
        let fdir = file_run.join("variants").join(name);
        assert_eq!(
            stripped(&vdir, "triggers"),
            stripped(&fdir, "triggers"),
            "{name}"
        );
        let (a, b) = (models_of(&vdir), models_of(&fdir));
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(&b) {
            assert!(
                std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
                "{name}"
            );
        }
    }
    let expected: usize = ["every-300", "every-700"]
        .iter()
        .map(|n| jsonl(&out.join("variants").join(n).join("triggers.jsonl")).len())
        .sum();
    assert_eq!(triggers.len(), expected, "each variant's triggers, once");
    // Keys: `<variant>/<id>`.
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", unique_topic("keys"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    use rdkafka::Message;
    use rdkafka::consumer::Consumer;
    consumer
        .subscribe(&[&format!("{prefix}.triggers")])
        .unwrap();
    let mut keys = Vec::new();
    let started = std::time::Instant::now();
    while keys.len() < triggers.len() && started.elapsed() < std::time::Duration::from_secs(30) {
        if let Some(Ok(m)) = consumer.poll(std::time::Duration::from_millis(200)) {
            keys.push(String::from_utf8_lossy(m.key().unwrap()).into_owned());
        }
    }
    assert!(
        keys.contains(&"every-300/trigger-0".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"every-700/trigger-2".to_string()),
        "{keys:?}"
    );
}
