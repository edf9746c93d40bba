//! Kafka end to end against the real broker (.ci/run starts it): produce → run → tail gives the
//! embedded run's triggers and models; bad messages end in the dead-letter topic and the run
//! finishes; a wrong broker address fails within seconds.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

#[test]
fn produce_run_tail_matches_the_embedded_run() {
    let Some(brokers) = kafka_brokers("produce_run_tail_matches_the_embedded_run") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let topic = unique_topic("hp");
    let produced = produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "3");
    assert!(
        produced.contains(&format!("produced 4000 messages to {topic} (3 partitions)")),
        "{produced}"
    );

    let embedded = embedded_run(dir.path(), 700);
    for workers in ["1", "2"] {
        let prefix = unique_topic(&format!("events-w{workers}"));
        let cfg = write_config(
            dir.path(),
            &format!("kafka-{workers}.toml"),
            &kafka_config(&brokers, &topic, &prefix, 700),
        );
        let out = dir.path().join(format!("kafka-{workers}"));
        let o = run_ok(&cfg, &out, workers);
        assert!(
            stdout(&o).contains("4000 samples (0 dead-lettered), 5 triggers, 5 models"),
            "{}",
            stdout(&o)
        );
        assert_matches_embedded(&brokers, &prefix, &out, &embedded, 5, workers);
    }
}

/// The run's events on `prefix.*` equal its run directory's JSONL and the embedded run's
/// triggers and models (`models` of them, bitwise-identical weights); nothing dead-lettered.
fn assert_matches_embedded(
    brokers: &str,
    prefix: &str,
    out: &std::path::Path,
    embedded: &std::path::Path,
    models: usize,
    workers: &str,
) {
    let triggers = tail(brokers, &format!("{prefix}.triggers"));
    let got_models = tail(brokers, &format!("{prefix}.models"));
    assert_eq!(triggers, jsonl(&out.join("triggers.jsonl")));
    assert_eq!(got_models, jsonl(&out.join("models.jsonl")));
    let want_triggers = jsonl(&embedded.join("triggers.jsonl"));
    let want_models = jsonl(&embedded.join("models.jsonl"));
    assert_eq!(want_models.len(), models);
    assert_eq!(
        triggers.iter().map(strip).collect::<Vec<_>>(),
        want_triggers.iter().map(strip).collect::<Vec<_>>(),
        "workers={workers}"
    );
    assert_eq!(
        got_models.iter().map(strip).collect::<Vec<_>>(),
        want_models.iter().map(strip).collect::<Vec<_>>(),
        "workers={workers}"
    );
    // Evaluations: the topic holds the run directory's events, with the embedded run's values
    // (after-training ones for every model, the serving matrix after the pipeline).
    let by_id = |events: Vec<serde_json::Value>| -> std::collections::BTreeMap<String, String> {
        events
            .iter()
            .map(|e| (e["id"].as_str().unwrap().into(), e["value"].to_string()))
            .collect()
    };
    let evaluations = by_id(tail(brokers, &format!("{prefix}.evaluations")));
    assert_eq!(evaluations, by_id(jsonl(&out.join("evaluations.jsonl"))));
    assert_eq!(
        evaluations,
        by_id(jsonl(&embedded.join("evaluations.jsonl")))
    );
    assert!(evaluations.len() >= 2 * models + models * models);
    assert!(tail(brokers, &format!("{prefix}.dead-letter")).is_empty());
    // Same data, same seed: bitwise-identical weights.
    assert_same_weights(out, embedded, models, &format!("workers={workers}"));
}

/// The embedded run of `config(ext, every)` on the directory's dataset, into `dir/embedded`.
fn embedded_run(dir: &std::path::Path, every: u64) -> std::path::PathBuf {
    let cfg = write_config(dir, "file.toml", &config("csv", every));
    let embedded = dir.join("embedded");
    let o = sluice(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        embedded.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    embedded
}

#[test]
fn arrow_messages_train_like_the_embedded_run() {
    let Some(brokers) = kafka_brokers("arrow_messages_train_like_the_embedded_run") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let topic = unique_topic("hp-arrow");
    let produced = produce_ok_with(
        &brokers,
        &dir.path().join("hyperplane.csv"),
        &topic,
        "3",
        &["--format", "arrow", "--batch-rows", "100"],
    );
    // 4000 rows over 3 partitions in messages of up to 100 rows.
    let messages: u64 = produced
        .strip_prefix("produced ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{produced}"));
    assert!((40..=43).contains(&messages), "{produced}");
    assert!(produced.contains("(4000 rows)"), "{produced}");

    let embedded = embedded_run(dir.path(), 700);
    for workers in ["1", "2"] {
        let prefix = unique_topic(&format!("arrow-events-w{workers}"));
        let cfg = kafka_config(&brokers, &topic, &prefix, 700).replace(
            "kind = \"kafka\"\n",
            "kind = \"kafka\"\nformat = \"arrow\"\n",
        );
        let cfg = write_config(dir.path(), &format!("arrow-{workers}.toml"), &cfg);
        let out = dir.path().join(format!("arrow-{workers}"));
        let o = run_ok(&cfg, &out, workers);
        assert!(
            stdout(&o).contains("4000 samples (0 dead-lettered), 5 triggers, 5 models"),
            "{}",
            stdout(&o)
        );
        assert_matches_embedded(&brokers, &prefix, &out, &embedded, 5, workers);
    }
}

#[test]
fn bad_messages_go_to_the_dead_letter_topic_and_the_run_finishes() {
    let Some(brokers) =
        kafka_brokers("bad_messages_go_to_the_dead_letter_topic_and_the_run_finishes")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_250, "csv"); // 1,000 stream rows
    let topic = unique_topic("bad");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "1");
    // Append bad messages after the good ones (offsets 1000..).
    let f = r#""x0":0.1,"x1":0.1,"x2":0.1,"x3":0.1,"x4":0.1,"x5":0.1,"x6":0.1,"x7":0.1"#;
    let bad = [
        ("{not json".to_string(), "invalid JSON"),
        (
            format!(r#"{{"key":5000001,"time":9999999999999,{f}}}"#),
            "missing label field `label`",
        ),
        (
            format!(r#"{{"key":5000002,"time":9999999999999,"label":7,{f}}}"#),
            "label 7 outside 0..2",
        ),
        (
            r#"{"key":5000003,"time":9999999999999,"label":1,"x0":"nan"}"#.to_string(),
            "feature `x0` = `\"nan\"` is not a number",
        ),
        (
            format!(r#"{{"key":5000004,"time":5,"label":1,{f}}}"#),
            "late: event time 5 is before the watermark",
        ),
    ];
    send_raw(&brokers, &topic, bad.iter().map(|(v, _)| (0, v.as_bytes())));

    let prefix = unique_topic("bad-events");
    let cfg = write_config(
        dir.path(),
        "k.toml",
        &kafka_config(&brokers, &topic, &prefix, 300),
    );
    let out = dir.path().join("run");
    let o = run_ok(&cfg, &out, "2");
    assert!(
        stdout(&o).contains("1000 samples (5 dead-lettered), 3 triggers, 3 models"),
        "{}",
        stdout(&o)
    );
    let dead = tail(&brokers, &format!("{prefix}.dead-letter"));
    assert_eq!(dead.len(), 5);
    for (i, (_, reason)) in bad.iter().enumerate() {
        let d = dead
            .iter()
            .find(|d| d["location"] == format!("{topic}/0/{}", 1000 + i))
            .unwrap_or_else(|| panic!("offset {} not dead-lettered: {dead:?}", 1000 + i));
        assert!(d["reason"].as_str().unwrap().starts_with(reason), "{d}");
    }
}

#[test]
fn ten_thousand_malformed_messages_mixed_in_are_dead_lettered_and_the_rest_trains_as_alone() {
    let Some(brokers) = kafka_brokers(
        "ten_thousand_malformed_messages_mixed_in_are_dead_lettered_and_the_rest_trains_as_alone",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_500, "csv"); // 2,000 stream rows
    let text = std::fs::read_to_string(dir.path().join("hyperplane.csv")).unwrap();
    let mut rows = text.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let topic = unique_topic("malformed");
    sluice::source::kafka::admin::ensure_topic(
        &sluice::config::KafkaCluster::plain(&brokers),
        &topic,
        2,
        true,
    )
    .unwrap();
    // Five malformed messages after every sample, each kind 2,000 times: (message, reason).
    let f = r#""x1":0.1,"x2":0.1,"x3":0.1,"x4":0.1,"x5":0.1,"x6":0.1,"x7":0.1"#;
    let bad = |i: usize, time: &str| -> [(String, &str); 5] {
        let key = 10_000_000 + i;
        [
            (format!("{{\"key\":{key},\"time\":{time},"), "invalid JSON"),
            (
                format!(r#"{{"key":{key},"time":{time},"label":"one","x0":0.1,{f}}}"#),
                "label",
            ),
            (
                format!(r#"{{"key":{key},"time":{time},"x0":0.1,{f}}}"#),
                "missing label field `label`",
            ),
            (
                format!(r#"{{"key":{key},"time":{time},"label":1,"x0":"NaN",{f}}}"#),
                "feature `x0`",
            ),
            (
                format!(
                    r#"{{"key":{key},"time":{time},"label":1,"x0":1e999,"pad":"{}",{f}}}"#,
                    "x".repeat(20_000)
                ),
                "number out of range",
            ),
        ]
    };
    let mut reasons: std::collections::HashMap<(i32, i64), &str> = Default::default();
    let mut next = [0i64; 2];
    let mut messages: Vec<(i32, String)> = Vec::new();
    for (i, row) in rows.enumerate() {
        let values: Vec<&str> = row.split(',').collect();
        let json = header
            .iter()
            .zip(&values)
            .map(|(h, v)| format!("\"{h}\":{v}"))
            .collect::<Vec<_>>()
            .join(",");
        let p = (i % 2) as i32;
        messages.push((p, format!("{{{json}}}")));
        next[p as usize] += 1;
        for (m, reason) in bad(i, values[1]) {
            reasons.insert((p, next[p as usize]), reason);
            messages.push((p, m));
            next[p as usize] += 1;
        }
    }
    send_raw(&brokers, &topic, messages);
    assert_eq!(reasons.len(), 10_000);

    let prefix = unique_topic("malformed-events");
    // Five in six inputs are dead letters: more than the default bound (0.5) lets a run pass.
    let cfg = write_config(
        dir.path(),
        "k.toml",
        &kafka_config(&brokers, &topic, &prefix, 500).replace(
            "until = \"end\"\n",
            "until = \"end\"\nmax_dead_letter_ratio = 0.9\n",
        ),
    );
    let out = dir.path().join("run");
    let o = run_ok(&cfg, &out, "2");
    assert!(
        stdout(&o).contains("2000 samples (10000 dead-lettered), 4 triggers, 4 models"),
        "{}",
        stdout(&o)
    );
    // Each malformed message once on the dead-letter topic, at its offset, with its reason.
    let dead = tail(&brokers, &format!("{prefix}.dead-letter"));
    assert_eq!(dead.len(), 10_000);
    for d in &dead {
        let location = d["location"].as_str().unwrap();
        let mut parts = location.rsplitn(3, '/');
        let offset: i64 = parts.next().unwrap().parse().unwrap();
        let partition: i32 = parts.next().unwrap().parse().unwrap();
        let reason = d["reason"].as_str().unwrap();
        let want = reasons
            .remove(&(partition, offset))
            .unwrap_or_else(|| panic!("{location} dead-lettered, but it is a sample: {reason}"));
        assert!(reason.contains(want), "{location}: {reason}");
        // Oversize messages keep a bounded excerpt.
        assert!(d["raw"].as_str().unwrap().len() <= 1024, "{location}");
    }
    assert!(reasons.is_empty(), "not dead-lettered: {reasons:?}");
    // The samples train exactly as the same rows alone, from the file.
    let reference = dir.path().join("reference");
    let file_cfg = write_config(dir.path(), "f.toml", &config("csv", 500));
    run_ok(&file_cfg, &reference, "1");
    assert_same_triggers_and_models(&out, &reference);
}

#[test]
fn a_full_disk_fails_the_run_clearly_and_leaves_the_previous_checkpoint_to_resume_from() {
    let Some(brokers) = kafka_brokers(
        "a_full_disk_fails_the_run_clearly_and_leaves_the_previous_checkpoint_to_resume_from",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_250, "csv"); // 1,000 stream rows
    let topic = unique_topic("full");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "2");
    let reference = dir.path().join("reference");
    run_ok(
        &write_config(dir.path(), "f.toml", &config("csv", 300)),
        &reference,
        "1",
    );
    // The disk fills up while the second checkpoint is written: its temporary file is
    // /dev/full, where every write fails with ENOSPC.
    let out = dir.path().join("run");
    std::fs::create_dir_all(out.join("checkpoints")).unwrap();
    let full = out.join("checkpoints/.trigger-000001.ckpt.tmp");
    std::os::unix::fs::symlink("/dev/full", &full).unwrap();
    let cfg = write_config(
        dir.path(),
        "k.toml",
        &kafka_config(&brokers, &topic, &unique_topic("full-events"), 300),
    );
    let o = sluice(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("writing checkpoint 1 in {}", out.display()))
            && err.contains("No space left on device"),
        "{err}"
    );
    // Nothing half-written: checkpoint 0 is whole, and a run started again (with room on the
    // disk) resumes from it and ends as the uninterrupted run.
    std::fs::remove_file(&full).unwrap();
    assert!(!out.join("checkpoints/trigger-000001.ckpt").exists());
    let cp = sluice::pipeline::checkpoint::latest(&out).unwrap();
    assert_eq!(cp.trigger_id, 0);
    let o = run_ok(&cfg, &out, "2");
    assert!(
        stderr(&o).contains("resuming after trigger 0"),
        "{}",
        stderr(&o)
    );
    assert_same_triggers_and_models(&out, &reference);
}

#[test]
fn bad_arrow_messages_and_rows_are_dead_lettered_alone() {
    let Some(brokers) = kafka_brokers("bad_arrow_messages_and_rows_are_dead_lettered_alone") else {
        return;
    };
    use sluice::produce::{Row, encode as encode_arrow, infer_schema};
    let row = |key: u64, label: i64| -> Row {
        let mut r = serde_json::json!({"key": key, "time": 1_000 + key, "label": label});
        for i in 0..8 {
            r[format!("x{i}")] = serde_json::json!(0.1 * i as f64);
        }
        r.as_object().unwrap().clone()
    };
    let good: Vec<Row> = (0..300).map(|k| row(k, (k % 2) as i64)).collect();
    let mixed = [row(300, 1), row(301, 7)];
    let schema = infer_schema(&good);
    let topic = unique_topic("bad-arrow");
    sluice::source::kafka::admin::ensure_topic(
        &sluice::config::KafkaCluster::plain(&brokers),
        &topic,
        1,
        true,
    )
    .unwrap();
    let payloads = [
        encode_arrow(&good.iter().collect::<Vec<_>>(), &schema),
        b"{\"key\": 1}".to_vec(),
        encode_arrow(&mixed.iter().collect::<Vec<_>>(), &schema),
    ];
    send_raw(&brokers, &topic, payloads.iter().map(|p| (0, p)));

    let prefix = unique_topic("bad-arrow-events");
    let cfg = kafka_config(&brokers, &topic, &prefix, 100).replace(
        "kind = \"kafka\"\n",
        "kind = \"kafka\"\nformat = \"arrow\"\n",
    );
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 500, "csv"); // the evaluation file
    let cfg = write_config(dir.path(), "a.toml", &cfg);
    let out = dir.path().join("run");
    let o = run_ok(&cfg, &out, "1");
    assert!(
        stdout(&o).contains("301 samples (2 dead-lettered), 3 triggers, 3 models"),
        "{}",
        stdout(&o)
    );
    let dead = tail(&brokers, &format!("{prefix}.dead-letter"));
    let reason_at = |loc: String| {
        dead.iter()
            .find(|d| d["location"] == loc)
            .unwrap_or_else(|| panic!("{loc} not dead-lettered: {dead:?}"))["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(reason_at(format!("{topic}/0/1")).starts_with("not an Arrow IPC stream"));
    assert_eq!(
        reason_at(format!("{topic}/0/2#row1")),
        "label 7 outside 0..2"
    );
    assert_eq!(dead.len(), 2);
}

#[test]
fn wrong_broker_address_fails_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 500, "csv");
    let cfg = write_config(
        dir.path(),
        "k.toml",
        &kafka_config("127.0.0.1:1", "nope", "nope", 100),
    );
    let started = Instant::now();
    let o = sluice(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        dir.path().join("run").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot reach Kafka at 127.0.0.1:1"),
        "{}",
        stderr(&o)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn missing_topic_without_create_is_a_clear_error() {
    let Some(brokers) = kafka_brokers("missing_topic_without_create_is_a_clear_error") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 500, "csv");
    let topic = unique_topic("missing");
    let cfg = write_config(
        dir.path(),
        "k.toml",
        &kafka_config(&brokers, &topic, &unique_topic("e"), 100),
    );
    let o = sluice(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        dir.path().join("run").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("topic `{topic}` does not exist")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn published_models_are_pulled_back_from_their_topic_bitwise() {
    let Some(brokers) = kafka_brokers("published_models_are_pulled_back_from_their_topic_bitwise")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_500, "csv"); // 2,000 stream rows: 2 models
    let topic = unique_topic("artifacts");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "2");
    // Wide layers: each TorchScript file is over 1 MB, so several chunks.
    let prefix = unique_topic("artifacts-events");
    let cfg = kafka_config(&brokers, &topic, &prefix, 700)
        .replace("hidden = [16]", "hidden = [512, 512]")
        + "publish_artifacts = true\n";
    let cfg = write_config(dir.path(), "a.toml", &cfg);
    let out = dir.path().join("a");
    run_ok(&cfg, &out, "2");
    let events = tail(&brokers, &format!("{prefix}.models"));
    assert_eq!(events.len(), 2);
    for e in &events {
        let id = e["model_id"].as_str().unwrap();
        let file = std::fs::read(out.join(format!("models/{id}.pt"))).unwrap();
        assert_eq!(e["artifact_bytes"], file.len() as u64, "{id}");
        assert_eq!(
            e["artifact_chunks"],
            file.len().div_ceil(sluice::sink::kafka::CHUNK) as u64,
            "{id}"
        );
        assert!(e["artifact_chunks"].as_u64().unwrap() >= 2);
        assert_eq!(
            e["artifact_sha256"].as_str().unwrap(),
            sluice::sink::kafka::sha256(&file)
        );
        let pulled = dir.path().join(format!("{id}.pulled.pt"));
        let o = sluice(&[
            "models",
            "pull",
            id,
            "--brokers",
            &brokers,
            "--topic-prefix",
            &prefix,
            "--out",
            pulled.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains(e["artifact_sha256"].as_str().unwrap()));
        assert!(
            std::fs::read(&pulled).unwrap() == file,
            "{id}: pulled bytes differ"
        );
        tch::CModule::load(&pulled).expect("the pulled file is TorchScript");
    }
    // The topic is compacted: the latest copy of each chunk stays.
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .unwrap();
    let artifacts = format!("{prefix}.model-artifacts");
    let described = futures_executor::block_on(admin.describe_configs(
        [&rdkafka::admin::ResourceSpecifier::Topic(&artifacts)],
        &rdkafka::admin::AdminOptions::new(),
    ))
    .unwrap();
    let config = described[0].as_ref().unwrap();
    assert_eq!(
        config
            .get("cleanup.policy")
            .and_then(|c| c.value.as_deref()),
        Some("compact")
    );

    // Errors name the model: one never trained, and one of a run that did not publish files.
    let o = sluice(&[
        "models",
        "pull",
        "it-0099",
        "--brokers",
        &brokers,
        "--topic-prefix",
        &prefix,
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no model `it-0099`"), "{}", stderr(&o));
    let plain = unique_topic("artifacts-none");
    let cfg = write_config(
        dir.path(),
        "b.toml",
        &kafka_config(&brokers, &topic, &plain, 700),
    );
    run_ok(&cfg, &dir.path().join("b"), "1");
    let o = sluice(&[
        "models",
        "pull",
        "it-0001",
        "--brokers",
        &brokers,
        "--topic-prefix",
        &plain,
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("published without its file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn killed_run_resumes_after_its_last_checkpoint_without_duplicates() {
    let Some(brokers) =
        kafka_brokers("killed_run_resumes_after_its_last_checkpoint_without_duplicates")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let topic = unique_topic("resume");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "2");
    // Slow training (many epochs) leaves time to kill the run between triggers. Running
    // feature statistics are operator state that the checkpoint carries too.
    let slow = |prefix: &str| {
        kafka_config(&brokers, &topic, prefix, 700)
            .replace("epochs_per_trigger = 3", "epochs_per_trigger = 40")
            .replace(
                "num_classes = 2",
                "num_classes = 2\nnormalize = \"running\"",
            )
    };

    let reference = dir.path().join("reference");
    let cfg = write_config(dir.path(), "ref.toml", &slow(&unique_topic("ref")));
    run_ok(&cfg, &reference, "2");

    let out = dir.path().join("run");
    let cfg = write_config(dir.path(), "run.toml", &slow(&unique_topic("run")));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "run",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-w",
            "2",
            "-q",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(
        &out.join("checkpoints/trigger-000001.ckpt"),
        std::slice::from_mut(&mut child),
    );
    child.kill().unwrap(); // SIGKILL: no cleanup
    child.wait().unwrap();
    let before = jsonl(&out.join("models.jsonl")).len();
    assert!(before < 5, "killed too late: {before} models");

    let o = run_ok(&cfg, &out, "2");
    assert!(
        stderr(&o).contains("resuming after trigger"),
        "{}",
        stderr(&o)
    );

    // Every trigger and model exactly once, equal to the uninterrupted run's.
    assert_same_triggers_and_models(&out, &reference);
    assert_same_weights(&out, &reference, 5, "after resume");
    // Regression (#24): the consumer group kept the last checkpoint's restart offsets (the
    // first of its boundary's millisecond), so Kafka's tools showed a finished replay behind.
    // A replay read to the end commits the next offsets; the checkpoint keeps its own.
    let last =
        sluice::pipeline::checkpoint::read(&out.join("checkpoints/trigger-000004.ckpt")).unwrap();
    let moments = last
        .state
        .moments
        .as_ref()
        .expect("the statistics are checkpointed");
    assert_eq!(moments.count, 5 * 700);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "sluice-it")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition(&topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    for p in 0..2 {
        let (_, end) = consumer
            .fetch_watermarks(&topic, p, Duration::from_secs(10))
            .unwrap();
        let got = committed.find_partition(&topic, p).unwrap().offset();
        assert_eq!(got, Offset::Offset(end), "partition {p}: lag 0");
        assert!(
            last.offsets[&p] < end,
            "the checkpoint restarts before the end"
        );
    }
}

#[test]
fn broker_outage_mid_run_is_waited_out_with_the_same_result() {
    if kafka_brokers("broker_outage_mid_run_is_waited_out_with_the_same_result").is_none() {
        return;
    }
    let broker = PrivateBroker::start();
    let brokers = broker.address.clone();
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 12_500, "csv"); // 10,000 stream rows
    let topic = unique_topic("outage");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "2");
    // Slow training, and small reads so ingestion stalls behind it: the outage hits the
    // consumer, the event producer and the offset commits alike.
    let slow = |text: String| {
        text.replace("epochs_per_trigger = 3", "epochs_per_trigger = 60")
            .replace("[source]\n", "[source]\nreplay_batch = 50\n")
    };
    let reference = dir.path().join("reference");
    let cfg = write_config(dir.path(), "ref.toml", &slow(config("csv", 1000)));
    run_ok(&cfg, &reference, "1");

    let prefix = unique_topic("outage-events");
    let out = dir.path().join("run");
    let cfg = write_config(
        dir.path(),
        "run.toml",
        &slow(kafka_config(&brokers, &topic, &prefix, 1000)),
    );
    let mut child = spawn_run(&cfg, &out, &["-w", "2", "-q"]);
    wait_for_file(
        &out.join("checkpoints/trigger-000000.ckpt"),
        std::slice::from_mut(&mut child),
    );
    broker.down();
    let models_before = jsonl(&out.join("models.jsonl")).len();
    std::thread::sleep(Duration::from_secs(30));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run gave up while the broker was down"
    );
    broker.up();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        models_before < 10,
        "the outage came too late: {models_before} models before it"
    );
    assert!(
        stdout(&o).contains("10000 samples (0 dead-lettered), 10 triggers, 10 models"),
        "{}",
        stdout(&o)
    );
    // Nothing lost or repeated: the same triggers and models as the embedded run, on the
    // topics as in the run directory, and the same weights.
    for stream in ["triggers", "models"] {
        let got = tail(&brokers, &format!("{prefix}.{stream}"));
        assert_eq!(got, jsonl(&out.join(format!("{stream}.jsonl"))), "{stream}");
        let want: Vec<_> = jsonl(&reference.join(format!("{stream}.jsonl")))
            .iter()
            .map(strip)
            .collect();
        assert_eq!(got.iter().map(strip).collect::<Vec<_>>(), want, "{stream}");
    }
    assert_same_weights(&out, &reference, 10, "after the outage");
}

/// Events queued while the broker is away are delivered when it is back, however long that
/// takes within librdkafka's 5-minute message timeout: a file run whose output topics go away
/// finishes its work, waits at its last flush through an outage of more than a minute (an
/// earlier fixed 60 s flush deadline failed such runs), then publishes everything once.
#[test]
fn events_wait_out_an_outage_longer_than_a_minute() {
    if kafka_brokers("events_wait_out_an_outage_longer_than_a_minute").is_none() {
        return;
    }
    let broker = PrivateBroker::start();
    let brokers = broker.address.clone();
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 12_500, "csv");
    let slow = config("csv", 1000).replace("epochs_per_trigger = 3", "epochs_per_trigger = 200");
    let reference = dir.path().join("reference");
    run_ok(
        &write_config(dir.path(), "ref.toml", &slow),
        &reference,
        "1",
    );

    let prefix = unique_topic("late-events");
    let out = dir.path().join("run");
    let cfg = write_config(
        dir.path(),
        "run.toml",
        &format!("{slow}\n[output]\nbrokers = \"{brokers}\"\ntopic_prefix = \"{prefix}\"\n"),
    );
    let mut child = spawn_run(&cfg, &out, &["-w", "1", "-q"]);
    // The first model event: the sink is open (its topics exist) and training goes on.
    let first_model = Instant::now();
    while std::fs::read(out.join("models.jsonl")).map_or(true, |b| b.is_empty()) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(first_model.elapsed() < Duration::from_secs(60), "no model");
        std::thread::sleep(Duration::from_millis(5));
    }
    broker.down();
    let models_before = jsonl(&out.join("models.jsonl")).len();
    std::thread::sleep(Duration::from_secs(70));
    if child.try_wait().unwrap().is_some() {
        let o = child.wait_with_output().unwrap();
        panic!("the run gave up while the broker was down: {}", stderr(&o));
    }
    assert!(
        models_before < 10,
        "the outage came too late: {models_before} models before it"
    );
    assert_eq!(
        jsonl(&out.join("models.jsonl")).len(),
        10,
        "the run trains on while its events wait"
    );
    broker.up();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("waiting for the Kafka broker"),
        "no warning while waiting: {}",
        stderr(&o)
    );
    for stream in ["triggers", "models", "metrics"] {
        let got = tail(&brokers, &format!("{prefix}.{stream}"));
        assert_eq!(got, jsonl(&out.join(format!("{stream}.jsonl"))), "{stream}");
    }
    assert_same_triggers_and_models(&out, &reference);
    assert_same_weights(&out, &reference, 10, "after the outage");
}

#[test]
fn an_evaluation_dataset_on_a_topic_evaluates_like_the_same_file() {
    let Some(brokers) =
        kafka_brokers("an_evaluation_dataset_on_a_topic_evaluates_like_the_same_file")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv");
    let held = unique_topic("held");
    produce_ok(
        &brokers,
        &dir.path().join("hyperplane_test.csv"),
        &held,
        "2",
    );
    let from_file = config("csv", 600).replace(
        "path = \"hyperplane_test.csv\"",
        "name = \"held\"\npath = \"hyperplane_test.csv\"\nmetrics = [\"accuracy\", \"roc_auc\"]",
    );
    let from_topic = from_file
        .replace(
            "path = \"hyperplane_test.csv\"",
            &format!("topic = \"{held}\"\nbrokers = \"{brokers}\""),
        )
        .replace(
            "label_column = \"label\"\n",
            "label_column = \"label\"\nfeature_columns = [\"x0\", \"x1\", \"x2\", \"x3\", \"x4\", \"x5\", \"x6\", \"x7\"]\n",
        );
    let mut runs = Vec::new();
    for (name, text) in [("file", from_file), ("topic", from_topic)] {
        let cfg = write_config(dir.path(), &format!("{name}.toml"), &text);
        let out = dir.path().join(name);
        run_ok(&cfg, &out, "1");
        let evals: std::collections::BTreeMap<String, String> =
            jsonl(&out.join("evaluations.jsonl"))
                .iter()
                .map(|e| {
                    (
                        e["id"].as_str().unwrap().into(),
                        format!("{} {}", e["value"], e["samples"]),
                    )
                })
                .collect();
        runs.push(evals);
    }
    assert!(runs[0].len() >= 2 * 4 * 3, "{}", runs[0].len());
    assert_eq!(runs[0], runs[1]);
}

#[test]
fn sasl_ssl_settings_pass_through_and_the_password_is_written_nowhere() {
    let test = "sasl_ssl_settings_pass_through_and_the_password_is_written_nowhere";
    let Some(brokers) = kafka_brokers(test) else {
        return;
    };
    let (sasl, ca) = sasl_listener(&brokers);
    // kafka/server.properties' development password; the variable names it for every command.
    let password = "sluice-dev-password";
    let var = "SLUICE_TEST_KAFKA_PASSWORD";
    let run = |args: &[&str], secret: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .env(var, secret)
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        for text in [stdout(&o), stderr(&o)] {
            assert!(
                !text.contains(secret),
                "{args:?} printed the password:\n{text}"
            );
        }
        o
    };
    let ca_setting = format!("ssl.ca.location={}", ca.display());
    let flags = [
        "--kafka",
        "security.protocol=SASL_SSL",
        "--kafka",
        "sasl.mechanism=PLAIN",
        "--kafka",
        "sasl.username=sluice",
        "--kafka",
        &ca_setting,
        "--kafka-env",
        &format!("sasl.password={var}"),
    ]
    .map(String::from);

    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv");
    let (topic, held) = (unique_topic("sasl"), unique_topic("sasl-held"));
    for (file, topic, partitions) in [
        ("hyperplane.csv", &topic, "2"),
        ("hyperplane_test.csv", &held, "1"),
    ] {
        let file = dir.path().join(file);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let o = run(
            &produce_args(&sasl, &file, topic, partitions, &flags),
            password,
        );
        assert!(o.status.success(), "produce: {}", stderr(&o));
    }

    // Source, evaluation topic and event topics all through SASL_SSL: the evaluation dataset
    // and the output take `[source.kafka]`, as they use the same brokers.
    let prefix = unique_topic("sasl-events");
    let text = kafka_config(&sasl, &topic, &prefix, 600).replace(
        "path = \"hyperplane_test.csv\"",
        &format!("name = \"hyperplane_test.csv\"\ntopic = \"{held}\""),
    ) + &format!(
        "\n[source.kafka]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanism\" = \"PLAIN\"\n\
         \"sasl.username\" = \"sluice\"\n\"sasl.password\" = {{ env = \"{var}\" }}\n\
         \"ssl.ca.location\" = \"{}\"\n",
        ca.display()
    );
    let cfg = write_config(dir.path(), "sasl.toml", &text);
    let out = dir.path().join("sasl");
    let o = run(
        &["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()],
        password,
    );
    assert!(o.status.success(), "run: {}", stderr(&o));
    assert!(
        stdout(&o).contains("2400 samples (0 dead-lettered), 4 triggers, 4 models"),
        "{}",
        stdout(&o)
    );
    // The same triggers, models (bitwise) and evaluations as the file replayed; the events
    // reached their topics (read back over the plain listener of the same broker).
    let embedded = embedded_run(dir.path(), 600);
    assert_matches_embedded(&brokers, &prefix, &out, &embedded, 4, "1");
    for entry in walk(&out) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "{} holds the password",
            entry.display()
        );
    }
    assert!(
        std::fs::read_to_string(out.join("config.toml"))
            .unwrap()
            .contains(&format!("{{ env = \"{var}\" }}"))
    );

    // A wrong password: a clear error naming the failure, exit 1, and still not printed.
    let wrong = "not-the-password-31f9";
    let o = run(
        &[
            "run",
            cfg.to_str().unwrap(),
            "--out",
            dir.path().join("wrong").to_str().unwrap(),
        ],
        wrong,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Authentication failed"),
        "{}",
        stderr(&o)
    );
    // The password written into the config instead: refused before anything connects.
    let literal = write_config(
        dir.path(),
        "literal.toml",
        &text.replace(
            &format!("{{ env = \"{var}\" }}"),
            &format!("\"{password}\""),
        ),
    );
    let o = sluice(&["validate", literal.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("source.kafka.\"sasl.password\"") && stderr(&o).contains("env"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains(password), "{}", stderr(&o));
}

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The first `rows` data rows of a CSV file and the rest, each with the header.
/// Writes `dir`'s hyperplane.csv split after `rows` rows into first.csv and second.csv (each
/// with the header); returns their paths.
fn write_halves(dir: &std::path::Path, rows: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let (first, second) = split_csv(&dir.join("hyperplane.csv"), rows);
    let (first_csv, second_csv) = (dir.join("first.csv"), dir.join("second.csv"));
    std::fs::write(&first_csv, first).unwrap();
    std::fs::write(&second_csv, second).unwrap();
    (first_csv, second_csv)
}

fn split_csv(file: &std::path::Path, rows: usize) -> (String, String) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.collect();
    let part = |rows: &[&str]| format!("{header}\n{}\n", rows.join("\n"));
    (part(&body[..rows]), part(&body[rows..]))
}

#[test]
fn two_processes_train_and_resume_like_one() {
    let Some(brokers) = kafka_brokers("two_processes_train_and_resume_like_one") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let (first_csv, second_csv) = write_halves(dir.path(), 2_100);
    let topic = unique_topic("cluster");
    produce_ok(&brokers, &first_csv, &topic, "4");
    // Training sets hold the previous trigger's samples too: a resume reads their payloads
    // again, in the process that reads their partition. Training is slower than reading (in
    // polls of 50 messages) and one set waits at most, so reading waits for checkpoints, which
    // wait for process 1's reports while it still runs.
    let config = |prefix: &str| {
        kafka_config(&brokers, &topic, prefix, 250)
            .replace(
                "epochs_per_trigger = 3",
                "epochs_per_trigger = 10\nqueue_capacity = 1",
            )
            .replace("[source]\n", "[source]\nreplay_batch = 50\n")
            + "\n[selection]\nstrategy = \"new_data\"\ntail_triggers = 1\n\
               maximum_keys_in_memory = 200\n"
    };
    let one = dir.path().join("one");
    let one_cfg = write_config(dir.path(), "one.toml", &config(&unique_topic("one")));
    let two = dir.path().join("two");
    let two_prefix = unique_topic("two");
    let two_cfg = write_config(dir.path(), "two.toml", &config(&two_prefix));

    // Before and after more data arrives: the second runs resume after their checkpoints at
    // trigger 7 (sample 2,000), ingest the 100 samples after it and the 1,900 new ones, and
    // count the run's 4,000.
    for (round, csv, samples) in [(0, &first_csv, 2_100), (1, &second_csv, 4_000)] {
        if round == 1 {
            produce_ok(&brokers, csv, &topic, "4");
        }
        let o = run_ok(&one_cfg, &one, "2");
        assert!(
            stdout(&o).contains(&format!("{samples} samples")),
            "{}",
            stdout(&o)
        );
        // 2 processes of 1 worker, then (resumed) of 2: one partition per worker.
        let threads = ["1", "2"][round];
        let outputs = run_cluster(&[&two_cfg, &two_cfg], &two, threads);
        for (p, o) in outputs.iter().enumerate() {
            assert!(o.status.success(), "process {p}: {}", stderr(o));
        }
        let (leader, follower) = (stdout(&outputs[0]), stdout(&outputs[1]));
        assert!(
            leader.contains(&format!("{samples} samples (0 dead-lettered)"))
                && leader.contains(["2 workers", "4 workers"][round]),
            "{leader}"
        );
        // The follower read its two partitions (about half; after a resume, with the payloads
        // of the held samples read again).
        let read: u64 = follower
            .split("read ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{follower}"));
        assert!(
            follower.contains("process 1 of 2") && read > 0 && (round == 1 || read < samples),
            "{follower}"
        );
        if round == 1 {
            assert!(
                stderr(&outputs[0]).contains("resuming after trigger 7"),
                "{}",
                stderr(&outputs[0])
            );
        }
        assert_same_triggers_and_models(&two, &one);
        let models = jsonl(&one.join("models.jsonl")).len();
        assert_eq!(models, [8, 16][round], "round {round}");
        assert_same_weights(&two, &one, models, &format!("two processes, round {round}"));
        // Keys live on both processes: every set's samples of process 1's keys were shipped
        // to the trainer, and process 0 stores only its own keys' payloads (about half of
        // what the single process stores, summed over the triggers).
        let shipped = metric_values(&two, "shipped_samples");
        assert_eq!(shipped.len(), models, "{shipped:?}");
        assert!(shipped.iter().all(|&n| n > 50.0), "{shipped:?}");
        let (part, whole) = (
            metric_values(&two, "stored_samples"),
            metric_values(&one, "stored_samples"),
        );
        assert_eq!(part.len(), whole.len());
        let share = part.iter().sum::<f64>() / whole.iter().sum::<f64>();
        assert!(share > 0.4 && share < 0.6, "{part:?} of {whole:?}");
        // Each process spills beyond its share of `maximum_keys_in_memory`, into its own
        // directory.
        for spill in [two.join("spill"), two.join("spill/process-1")] {
            let files = std::fs::read_dir(&spill).map_or(0, |d| {
                d.filter(|e| e.as_ref().unwrap().path().is_file()).count()
            });
            assert!(files > 0, "nothing spilled in {}", spill.display());
        }
    }
    // Checkpoints of the two-process run hold every worker's state and all four partitions.
    let last =
        sluice::pipeline::checkpoint::read(&two.join("checkpoints/trigger-000015.ckpt")).unwrap();
    assert_eq!(last.state.selection.len(), 4);
    assert_eq!(
        last.offsets.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    // Every event once on the output topics, as in the run directory.
    let triggers = tail(&brokers, &format!("{two_prefix}.triggers"));
    assert_eq!(triggers, jsonl(&two.join("triggers.jsonl")));

    // Processes with different configurations refuse to run together, before reading.
    let other = write_config(
        dir.path(),
        "other.toml",
        &config(&two_prefix).replace("every = 250", "every = 400"),
    );
    let outputs = run_cluster(&[&two_cfg, &other], &dir.path().join("mixed"), "1");
    for (p, o) in outputs.iter().enumerate() {
        assert_eq!(o.status.code(), Some(1), "process {p}: {}", stderr(o));
        assert!(
            stderr(o).contains("process 1 runs another configuration than process 0"),
            "process {p}: {}",
            stderr(o)
        );
    }
    assert!(
        !dir.path().join("mixed/models.jsonl").exists()
            || jsonl(&dir.path().join("mixed/models.jsonl")).is_empty()
    );
}

/// A sweep in two processes: each variant's triggers and models are bitwise those of one
/// process, with keys on both and sets shipped, also with a variant whose trigger policy reads
/// features (performance).
#[test]
fn a_sweep_in_two_processes_trains_each_variant_like_one() {
    let Some(brokers) = kafka_brokers("a_sweep_in_two_processes_trains_each_variant_like_one")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv");
    let topic = unique_topic("cluster-sweep");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "4");
    let variants = r#"
[[variant]]
name = "base"

[[variant]]
name = "quarter-hour"
trigger = { id = "time", every = "15m" }
selection = { strategy = "reservoir", budget = 600, seed = 3 }
"#;
    let probing = r#"
[[variant]]
name = "accuracy"

[variant.trigger]
id = "performance"
evaluation_interval_data_points = 300
evaluation = { metrics = ["accuracy"], batch_size = 64 }
criteria.low = { id = "static_threshold", metric_threshold = 0.85 }
"#;
    for (name, extra) in [("probing", probing), ("sharded", "")] {
        let cfg = write_config(
            dir.path(),
            &format!("{name}.toml"),
            &(kafka_config(&brokers, &topic, &unique_topic(name), 400) + variants + extra),
        );
        let one = dir.path().join(format!("{name}-one"));
        run_ok(&cfg, &one, "2");
        let two = dir.path().join(format!("{name}-two"));
        for (p, o) in run_cluster(&[&cfg, &cfg], &two, "1").iter().enumerate() {
            assert!(o.status.success(), "{name}, process {p}: {}", stderr(o));
        }
        let lanes = summary(&one)["variants"].as_array().unwrap().len();
        assert_eq!(lanes, if extra.is_empty() { 2 } else { 3 });
        for v in summary(&one)["variants"].as_array().unwrap() {
            let variant = v["variant"].as_str().unwrap();
            let (a, b) = (
                two.join("variants").join(variant),
                one.join("variants").join(variant),
            );
            assert_same_triggers_and_models(&a, &b);
            let models = jsonl(&b.join("models.jsonl")).len();
            assert!(models > 1, "{name}/{variant}: {models} models");
            assert_same_weights(&a, &b, models, &format!("{name}/{variant}"));
            // Keys live on both processes, with a policy that reads features too (its probe
            // reads worker 0's window): every set ships process 1's samples.
            let shipped = metric_values(&a, "shipped_samples");
            assert!(
                shipped.len() == models && shipped.iter().all(|&n| n > 0.0),
                "{name}/{variant}: {shipped:?}"
            );
        }
    }
}

/// A drift trigger (MMD on sample features) in two processes: keys live on both, the policy
/// reads every sample's features from worker 0's window, and the triggers and models are
/// bitwise one process's, before and after a resume (whose window is refilled with the
/// payloads the checkpoint's windows hold, read again by whichever process reads them).
#[test]
fn a_drift_trigger_in_two_processes_reads_features_from_both_and_resumes_like_one() {
    let Some(brokers) = kafka_brokers(
        "a_drift_trigger_in_two_processes_reads_features_from_both_and_resumes_like_one",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let (first_csv, second_csv) = write_halves(dir.path(), 2_100);
    let topic = unique_topic("cluster-drift");
    produce_ok(&brokers, &first_csv, &topic, "4");
    let drift = "[trigger]\nid = \"drift\"\nevaluation_interval_data_points = 250\n\
                 [trigger.windows]\nid = \"amount\"\namount_ref = 250\namount_cur = 250\n\
                 [trigger.metrics.mmd]\nid = \"mmd\"\n\
                 criterion = { id = \"threshold\", threshold = 0.00001 }\n";
    let config = |prefix: &str| {
        kafka_config(&brokers, &topic, prefix, 250)
            .replace("[trigger]\nid = \"amount\"\nevery = 250\n", drift)
    };
    let one = dir.path().join("one");
    let one_cfg = write_config(dir.path(), "one.toml", &config(&unique_topic("one")));
    let two = dir.path().join("two");
    let two_cfg = write_config(dir.path(), "two.toml", &config(&unique_topic("two")));
    assert!(
        std::fs::read_to_string(&two_cfg)
            .unwrap()
            .contains("id = \"drift\"")
    );
    for round in 0..2 {
        if round == 1 {
            produce_ok(&brokers, &second_csv, &topic, "4");
        }
        run_ok(&one_cfg, &one, "2");
        let outputs = run_cluster(&[&two_cfg, &two_cfg], &two, "1");
        for (p, o) in outputs.iter().enumerate() {
            assert!(
                o.status.success(),
                "round {round}, process {p}: {}",
                stderr(o)
            );
        }
        if round == 1 {
            let err = stderr(&outputs[0]);
            assert!(err.contains("resuming after trigger"), "{err}");
        }
        assert_same_triggers_and_models(&two, &one);
        let triggers = jsonl(&one.join("triggers.jsonl"));
        let reasons: Vec<&str> = triggers
            .iter()
            .map(|t| t["reason"].as_str().unwrap())
            .collect();
        assert!(
            triggers.len() > 3 && reasons.iter().any(|r| r.contains("mmd")),
            "round {round}: {reasons:?}"
        );
        let models = jsonl(&one.join("models.jsonl")).len();
        assert_same_weights(&two, &one, models, &format!("drift, round {round}"));
        let shipped = metric_values(&two, "shipped_samples");
        assert!(
            shipped.len() == models && shipped.iter().all(|&n| n > 0.0),
            "round {round}: {shipped:?}"
        );
    }
}

/// A followed topic (no `until`) in two processes: `--max-triggers` ends both, with the
/// triggers and bitwise the models of one process following the same topic.
#[test]
fn a_followed_topic_in_two_processes_stops_at_max_triggers_like_one() {
    let Some(brokers) =
        kafka_brokers("a_followed_topic_in_two_processes_stops_at_max_triggers_like_one")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv");
    let topic = unique_topic("cluster-follow");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "2");
    let config =
        |prefix: &str| kafka_config(&brokers, &topic, prefix, 400).replace("until = \"end\"\n", "");
    let one_cfg = write_config(dir.path(), "one.toml", &config(&unique_topic("one")));
    let two_cfg = write_config(dir.path(), "two.toml", &config(&unique_topic("two")));
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let o = run_ok_with(&one_cfg, &one, &["-w", "2", "--max-triggers", "4"]);
    assert!(
        stdout(&o).contains("4 triggers (at most 4)"),
        "{}",
        stdout(&o)
    );
    let outputs = run_cluster_with(&[&two_cfg, &two_cfg], &two, "1", &["--max-triggers", "4"]);
    for (p, o) in outputs.iter().enumerate() {
        assert!(o.status.success(), "process {p}: {}", stderr(o));
    }
    let leader = stdout(&outputs[0]);
    assert!(
        leader.contains("4 triggers (at most 4)") && leader.contains("in 2 processes"),
        "{leader}"
    );
    assert_same_triggers_and_models(&two, &one);
    assert_same_weights(&two, &one, 4, "a followed topic in two processes");
    assert_eq!(metric_values(&two, "shipped_samples").len(), 4);
}

#[test]
fn a_lost_process_stops_the_run_and_a_restart_resumes_like_one_process() {
    let Some(brokers) =
        kafka_brokers("a_lost_process_stops_the_run_and_a_restart_resumes_like_one_process")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let topic = unique_topic("lost");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "4");
    // Slow training (many epochs) of many triggers: with at most 2 training sets queued, the
    // dataflow waits for the trainer, so the leader still needs its follower when it dies.
    let slow = |prefix: &str| {
        kafka_config(&brokers, &topic, prefix, 300)
            .replace("epochs_per_trigger = 3", "epochs_per_trigger = 40")
    };
    let reference = dir.path().join("reference");
    let cfg = write_config(dir.path(), "ref.toml", &slow(&unique_topic("ref")));
    run_ok(&cfg, &reference, "2");

    let out = dir.path().join("run");
    let cfg = write_config(dir.path(), "run.toml", &slow(&unique_topic("run")));
    let mut processes = spawn_cluster(&[&cfg, &cfg], &out, "1");
    wait_for_file(&out.join("checkpoints/trigger-000001.ckpt"), &mut processes);
    let mut follower = processes.pop().unwrap();
    follower.kill().unwrap(); // SIGKILL
    follower.wait().unwrap();
    // The leader notices and exits instead of waiting forever for the lost workers.
    let mut leader = processes.pop().unwrap();
    let lost = Instant::now();
    while leader.try_wait().unwrap().is_none() {
        if lost.elapsed() > Duration::from_secs(30) {
            leader.kill().unwrap();
            panic!("the leader still runs 30 s after losing its follower");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = leader.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lost the connection to another process of the run"),
        "{}",
        stderr(&o)
    );
    let before = jsonl(&out.join("models.jsonl")).len();
    assert!(before < 13, "killed too late: {before} models");

    let outputs = run_cluster(&[&cfg, &cfg], &out, "1");
    for (p, o) in outputs.iter().enumerate() {
        assert!(o.status.success(), "process {p}: {}", stderr(o));
    }
    assert!(
        stderr(&outputs[0]).contains("resuming after trigger"),
        "{}",
        stderr(&outputs[0])
    );
    assert_same_triggers_and_models(&out, &reference);
    assert_eq!(jsonl(&reference.join("models.jsonl")).len(), 13);
    assert_same_weights(&out, &reference, 13, "after the restart");
}

/// Regression (#24): `sluice tail` on a topic that does not exist said to set
/// `create_topic = true`, a config key `tail` does not have.
#[test]
fn tail_on_a_missing_topic_names_it_without_suggesting_create_topic() {
    let Some(brokers) =
        kafka_brokers("tail_on_a_missing_topic_names_it_without_suggesting_create_topic")
    else {
        return;
    };
    let topic = unique_topic("never-created");
    let o = sluice(&["tail", "--brokers", &brokers, &topic]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("topic `{topic}` does not exist on {brokers}")),
        "{err}"
    );
    assert!(!err.contains("create_topic"), "{err}");
}

/// The rows of a CSV file of the hyperplane layout as JSON message values, as a producer
/// other than `sluice produce` writes them.
fn json_values(csv: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let fields: Vec<String> = header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| format!("\"{h}\":{v}"))
                .collect();
            format!("{{{}}}", fields.join(","))
        })
        .collect()
}

/// Regression (#24): one message dated 2100-01-01 moved its partition's watermark, and the
/// 2,500 valid messages after it were dead-lettered as late. Now it goes alone.
#[test]
fn a_far_future_timestamp_is_dead_lettered_alone_and_moves_no_watermark() {
    let Some(brokers) =
        kafka_brokers("a_far_future_timestamp_is_dead_lettered_alone_and_moves_no_watermark")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_250, "csv"); // 1,000 stream rows
    let csv = dir.path().join("hyperplane.csv");
    let (first, rest) = split_csv(&csv, 500);
    let first_file = dir.path().join("first.csv");
    std::fs::write(&first_file, first).unwrap();
    let topic = unique_topic("future");
    produce_ok(&brokers, &first_file, &topic, "1");
    let future = r#"{"key":9000001,"time":4102444800000,"label":1,"x0":0.1,"x1":0.1,"x2":0.1,"x3":0.1,"x4":0.1,"x5":0.1,"x6":0.1,"x7":0.1}"#;
    let values: Vec<String> = std::iter::once(future.to_string())
        .chain(json_values(&rest))
        .collect();
    send_raw(&brokers, &topic, values.iter().map(|v| (0, v.as_bytes())));

    let prefix = unique_topic("future-events");
    let cfg = write_config(
        dir.path(),
        "k.toml",
        &kafka_config(&brokers, &topic, &prefix, 250),
    );
    let out = dir.path().join("run");
    let o = run_ok(&cfg, &out, "1");
    assert!(
        stdout(&o).contains("1000 samples (1 dead-lettered), 4 triggers"),
        "{}",
        stdout(&o)
    );
    let dead = jsonl(&out.join("dead-letter.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["location"], format!("{topic}/0/500"));
    let reason = dead[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("future: event time 4102444800000 (2100-01-01"),
        "{reason}"
    );
    assert!(reason.contains("source.max_future"), "{reason}");
    assert!(dead[0]["raw"].as_str().unwrap().contains("9000001"));

    // max_future = "off" takes it as it comes: it trains, and everything after it is late.
    let off = std::fs::read_to_string(&cfg).unwrap().replace(
        "until = \"end\"\n",
        "until = \"end\"\nmax_future = \"off\"\n",
    );
    let cfg = write_config(dir.path(), "off.toml", &off);
    let out = dir.path().join("off");
    let o = run_ok(&cfg, &out, "1");
    assert!(
        stdout(&o).contains("501 samples (500 dead-lettered)"),
        "{}",
        stdout(&o)
    );
}

/// Sends a tombstone (a message key, no value) per key to partition 0 of `topic`, in order.
fn send_tombstones(brokers: &str, topic: &str, keys: &[u64]) {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for k in keys {
        let key = k.to_string();
        producer
            .send(BaseRecord::<str, ()>::to(topic).key(&key).partition(0))
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// Deletions (#24): a tombstone retracts its key's sample from every later training set (an
/// all-data pool would otherwise keep it forever), is not a dead letter, and `sluice lineage`
/// names the models that trained on the key before; 1 and 2 workers agree.
#[test]
fn a_tombstone_retracts_its_sample_and_lineage_names_the_models_that_saw_it() {
    let Some(brokers) =
        kafka_brokers("a_tombstone_retracts_its_sample_and_lineage_names_the_models_that_saw_it")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_250, "csv"); // 1,000 stream rows
    let csv = dir.path().join("hyperplane.csv");
    let (first, rest) = split_csv(&csv, 500);
    let keys: Vec<u64> = first
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    let deleted = [keys[10], keys[100], keys[200]];
    let kept = keys[20];
    let first_file = dir.path().join("first.csv");
    std::fs::write(&first_file, first).unwrap();
    let topic = unique_topic("tombstones");
    produce_ok(&brokers, &first_file, &topic, "1");
    send_tombstones(&brokers, &topic, &deleted);
    let values = json_values(&rest);
    send_raw(&brokers, &topic, values.iter().map(|v| (0, v.as_bytes())));

    let prefix = unique_topic("tombstone-events");
    let text = kafka_config(&brokers, &topic, &prefix, 250)
        + "\n[selection]\nstrategy = \"new_data\"\ntail_triggers = \"all\"\n";
    let cfg = write_config(dir.path(), "k.toml", &text);
    let mut listings = Vec::new();
    for workers in ["1", "2"] {
        let out = dir.path().join(format!("run-{workers}"));
        let o = run_ok(&cfg, &out, workers);
        assert!(
            stdout(&o).contains("1000 samples (0 dead-lettered, 3 deletions), 4 triggers"),
            "{}",
            stdout(&o)
        );
        assert_eq!(summary(&out)["deletions"], 3);
        assert!(jsonl(&out.join("dead-letter.jsonl")).is_empty());
        let lineage = |key: u64| {
            let o = sluice(&["lineage", out.to_str().unwrap(), &key.to_string()]);
            assert!(o.status.success(), "{}", stderr(&o));
            stdout(&o)
        };
        // Read after the first 500 samples: the first two models (boundaries at rows 250 and
        // 500) trained on them, the later ones on everything else.
        for k in deleted {
            let l = lineage(k);
            assert!(
                l.contains(&format!("key {k}: trained on by 2 of 4 models")),
                "{l}"
            );
            assert!(l.contains("it-0000") && l.contains("it-0001"), "{l}");
            assert!(!l.contains("it-0002") && !l.contains("it-0003"), "{l}");
        }
        let l = lineage(kept);
        assert!(
            l.contains(&format!("key {kept}: trained on by 4 of 4 models")),
            "{l}"
        );
        // The later sets are the earlier ones, less the deleted keys, plus the new samples.
        let models = jsonl(&out.join("models.jsonl"));
        let sizes: Vec<u64> = models
            .iter()
            .map(|m| m["samples"].as_u64().unwrap())
            .collect();
        assert_eq!(sizes, [250, 500, 747, 997], "{workers} workers");
        // Lineage in the events: the offsets read. The topic holds the first 500 rows at
        // offsets 0..500, the 3 tombstones, then the rest.
        let spans: Vec<serde_json::Value> = models.iter().map(|m| m["sources"].clone()).collect();
        let span = |last: u64, samples: u64| serde_json::json!([{"partition": 0, "first": 0, "last": last, "samples": samples}]);
        assert_eq!(
            spans,
            [
                span(249, 250),
                span(499, 500),
                span(752, 747),
                span(1002, 997)
            ],
            "{workers} workers"
        );
        listings.push(
            deleted
                .iter()
                .chain([&kept])
                .map(|k| lineage(*k))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(listings[0], listings[1]);
}

/// Regression (#24): a second `sluice run` on a finished run directory resumed after its last
/// checkpoint, found nothing new and rewrote summary.json with 0 triggers and 0 models, and
/// `sluice status` then showed no model in service.
#[test]
fn a_second_run_on_a_finished_directory_keeps_the_runs_totals_and_model() {
    let Some(brokers) =
        kafka_brokers("a_second_run_on_a_finished_directory_keeps_the_runs_totals_and_model")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_250, "csv"); // 1,000 stream rows
    let topic = unique_topic("again");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "1");
    let prefix = unique_topic("again-events");
    let cfg = write_config(
        dir.path(),
        "k.toml",
        &kafka_config(&brokers, &topic, &prefix, 300),
    );
    let out = dir.path().join("run");
    run_ok(&cfg, &out, "1");
    let first = summary(&out);
    assert_eq!(
        (first["triggers"].as_u64(), first["models"].as_u64()),
        (Some(3), Some(3))
    );
    let o = run_ok(&cfg, &out, "1");
    assert!(
        stderr(&o).contains("resuming after trigger 2"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("3 triggers, 3 models"),
        "{}",
        stdout(&o)
    );
    let again = summary(&out);
    for key in ["triggers", "models", "last_model", "samples"] {
        assert_eq!(again[key], first[key], "{key}");
    }
    let o = sluice(&["status", out.to_str().unwrap()]);
    let status = stdout(&o);
    assert!(status.contains("finished"), "{status}");
    assert!(status.contains("watermark 2024-"), "{status}");
    assert!(status.contains("0 records behind the source"), "{status}");
    assert!(
        status.lines().any(|l| l.starts_with("-        3 ")),
        "3 triggers: {status}"
    );
    assert!(
        status.contains(first["last_model"].as_str().unwrap()),
        "{status}"
    );
    // Nothing was trained twice.
    assert_eq!(jsonl(&out.join("models.jsonl")).len(), 3);

    // Regression (CI, crash test): a start that found only 3 malformed messages judged
    // `max_dead_letter_ratio` on them alone (`3 of 3 inputs (100.0%)`) and failed the run.
    send_raw(
        &brokers,
        &topic,
        (0..3).map(|i| (0, format!("not json {i}"))),
    );
    let o = run_ok(&cfg, &out, "1");
    let third = summary(&out);
    assert_eq!(third["samples"], first["samples"], "{}", stdout(&o));
    assert_eq!(third["samples"].as_u64(), Some(1_000));
    assert_eq!(third["dead_letters"].as_u64(), Some(3));
    assert_eq!(jsonl(&out.join("dead-letter.jsonl")).len(), 3);
}

/// A message to send: partition, key, value.
type Message = (i32, Option<Vec<u8>>, Option<Vec<u8>>);

/// Sends `(partition, key, value)` messages to `topic` in order (a `None` key or value is
/// absent: a tombstone has a key and no value) and waits until they are delivered.
fn send_messages(brokers: &str, topic: &str, messages: &[Message]) {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("queue.buffering.max.messages", "100000")
        .set("message.max.bytes", "2000000")
        .create()
        .unwrap();
    for (p, key, value) in messages {
        let mut r = BaseRecord::<[u8], [u8]>::to(topic).partition(*p);
        if let Some(k) = key {
            r = r.key(k.as_slice());
        }
        if let Some(v) = value {
            r = r.payload(v.as_slice());
        }
        producer.send(r).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// Item 6 of #24: a topic written by a producer that is not Sluice's, with pandas-style types
/// on good rows and 17 kinds of bad input among them, trains bitwise the same models as the
/// clean topic on 1 and 2 workers; every bad message is one dead letter at its offset with its
/// reason, and a producer's retry is dropped, not dead-lettered (or, with `keep_last`,
/// replaces its original with the same models).
#[test]
fn a_dirty_stream_trains_the_same_models_as_the_clean_one() {
    let Some(brokers) = kafka_brokers("a_dirty_stream_trains_the_same_models_as_the_clean_one")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_500, "csv"); // 2,000 stream rows
    let csv = std::fs::read_to_string(dir.path().join("hyperplane.csv")).unwrap();
    let good = json_values(&csv);
    let f = r#""x0":0.1,"x1":0.2,"x2":0.3,"x3":0.4,"x4":0.5,"x5":0.6,"x6":0.7,"x7":0.8"#;
    type Msg = (Option<Vec<u8>>, Option<Vec<u8>>);
    let value = |s: String| -> Msg { (None, Some(s.into_bytes())) };
    // (message, the start of its dead letter's reason; None: not a dead letter).
    let bad = |i: usize, time: &str| -> Vec<(Msg, Option<&'static str>)> {
        let key = 90_000_000 + i * 100;
        vec![
            (
                value(format!("{{\"key\":{key},\"time\":{time},")),
                Some("invalid JSON"),
            ),
            (value("  ".into()), Some("invalid JSON")),
            (
                value("[1, 2, 3]".into()),
                Some("value is not a JSON object"),
            ),
            (
                value(format!(r#"{{"key":{key},"time":{time},{f}}}"#)),
                Some("missing label"),
            ),
            (
                value(format!(r#"{{"key":{key},"time":{time},"label":7,{f}}}"#)),
                Some("label 7 outside"),
            ),
            (
                value(format!(r#"{{"key":{key},"time":{time},"label":1.5,{f}}}"#)),
                Some("label `1.5` is not an integer"),
            ),
            (
                value(format!(
                    r#"{{"key":{key},"time":{time},"label":"yes",{f}}}"#
                )),
                Some("label `\"yes\"` is not an integer"),
            ),
            (
                value(format!(r#"{{"key":-5,"time":{time},"label":1,{f}}}"#)),
                Some("key `-5` is not an unsigned integer"),
            ),
            (
                value(format!(
                    r#"{{"key":{key},"time":{time},"label":1,"x0":"nan","x1":0.2,"x2":0.3,"x3":0.4,"x4":0.5,"x5":0.6,"x6":0.7,"x7":0.8}}"#
                )),
                Some("feature `x0`"),
            ),
            (
                value(format!(
                    r#"{{"key":{key},"time":{time},"label":1,"x1":0.2,"x2":0.3,"x3":0.4,"x4":0.5,"x5":0.6,"x6":0.7,"x7":0.8}}"#
                )),
                Some("missing feature field `x0`"),
            ),
            (
                value(format!(
                    r#"{{"key":{key},"time":{time},"label":0,"label":1,{f}}}"#
                )),
                Some("field `label` is written twice"),
            ),
            (
                value(format!(
                    r#"{{"key":{key},"time":"yesterday","label":1,{f}}}"#
                )),
                Some("time `yesterday` is not a number"),
            ),
            (
                value(format!(
                    r#"{{"key":{key},"time":4102444800000,"label":1,{f}}}"#
                )),
                Some("future: event time 4102444800000"),
            ),
            (
                value(format!(r#"{{"key":{},"time":5,"label":1,{f}}}"#, key + 1)),
                Some("late: event time 5"),
            ),
            (
                (None, Some(vec![0xff, 0xfe, b'{', 0x80])),
                Some("invalid JSON"),
            ),
            ((None, None), Some("message has no value")),
            (
                (Some(b"not-a-key".to_vec()), None),
                Some("tombstone: message key"),
            ),
            (
                value(format!(
                    "{{\"key\":{key},\"pad\":\"{}\"}}",
                    "x".repeat(600_000)
                )),
                Some("missing"),
            ),
        ]
    };
    let kinds = bad(0, "0").len();
    assert!(kinds >= 15, "{kinds} kinds");
    // Good rows alternate partitions; after every 20th row of a partition, one bad message of
    // the next kind; every 50th row is sent twice (a producer's retry); every 7th is written
    // as pandas writes it (`5.0` keys and labels, float times).
    let (mut clean, mut dirty) = (Vec::new(), Vec::new());
    let mut next = [0i64; 2];
    let mut expected: Vec<((i32, i64), &'static str)> = Vec::new();
    let mut retries = 0;
    for (i, v) in good.iter().enumerate() {
        let p = (i % 2) as i32;
        clean.push((p, None, Some(v.clone().into_bytes())));
        let mut sent = v.clone();
        if i % 7 == 3 {
            let j: serde_json::Value = serde_json::from_str(v).unwrap();
            sent = sent
                .replace(
                    &format!("\"key\":{}", j["key"]),
                    &format!("\"key\":{}.0", j["key"]),
                )
                .replace(
                    &format!("\"label\":{}", j["label"]),
                    &format!("\"label\":\"{}.0\"", j["label"]),
                )
                .replace(
                    &format!("\"time\":{}", j["time"]),
                    &format!("\"time\":{}.0", j["time"]),
                );
        }
        dirty.push((p, None, Some(sent.clone().into_bytes())));
        next[p as usize] += 1;
        if i % 50 == 49 {
            dirty.push((p, None, Some(sent.into_bytes())));
            next[p as usize] += 1;
            retries += 1;
        }
        if i % 40 >= 38 {
            let time = serde_json::from_str::<serde_json::Value>(v).unwrap()["time"].to_string();
            let n = (i / 40) * 2 + i % 2;
            let ((key, value), reason) = bad(n, &time).swap_remove(n % kinds);
            dirty.push((p, key, value));
            if let Some(r) = reason {
                expected.push(((p, next[p as usize]), r));
            }
            next[p as usize] += 1;
        }
    }
    assert_eq!(expected.len(), 100);
    let topics = [unique_topic("clean"), unique_topic("dirty")];
    for (topic, messages) in topics.iter().zip([&clean, &dirty]) {
        sluice::source::kafka::admin::ensure_topic(
            &sluice::config::KafkaCluster::plain(&brokers),
            topic,
            2,
            true,
        )
        .unwrap();
        send_messages(&brokers, topic, messages);
    }
    let mut runs = Vec::new();
    for (topic, name) in topics.iter().zip(["clean", "dirty"]) {
        for workers in ["1", "2"] {
            let prefix = unique_topic(&format!("{name}-events"));
            let cfg = write_config(
                dir.path(),
                &format!("{name}.toml"),
                &kafka_config(&brokers, topic, &prefix, 400),
            );
            let out = dir.path().join(format!("{name}-{workers}"));
            let o = run_ok(&cfg, &out, workers);
            let line = match name {
                "clean" => "2000 samples (0 dead-lettered), 5 triggers, 5 models".to_string(),
                _ => format!(
                    "2000 samples (100 dead-lettered, {retries} duplicates dropped), 5 triggers, 5 models"
                ),
            };
            assert!(
                stdout(&o).contains(&line),
                "{name} {workers}: {}",
                stdout(&o)
            );
            runs.push(out);
        }
    }
    // With `duplicates = "keep_last"` a retry replaces its original at the same position
    // (same key and time, read later): identical copies train the same models.
    let prefix = unique_topic("keep-last-events");
    let text = kafka_config(&brokers, &topics[1], &prefix, 400).replace(
        "until = \"end\"\n",
        "until = \"end\"\nduplicates = \"keep_last\"\n",
    );
    let cfg = write_config(dir.path(), "keep-last.toml", &text);
    let out = dir.path().join("keep-last-2");
    let o = run_ok(&cfg, &out, "2");
    let line = format!(
        "{} samples (100 dead-lettered, {retries} samples replaced), 5 triggers, 5 models",
        2000 + retries
    );
    assert!(stdout(&o).contains(&line), "keep_last: {}", stdout(&o));
    assert_eq!(summary(&out)["replaced"], retries);
    runs.push(out);
    for out in &runs[1..] {
        assert_same_triggers_and_models(out, &runs[0]);
        assert_same_weights(out, &runs[0], 5, "dirty vs clean");
    }
    for out in &runs[2..] {
        let dead = jsonl(&out.join("dead-letter.jsonl"));
        assert_eq!(dead.len(), 100);
        for ((p, offset), reason) in &expected {
            let at = format!("{}/{p}/{offset}", topics[1]);
            let d = dead
                .iter()
                .find(|d| d["location"] == at)
                .unwrap_or_else(|| panic!("{at} ({reason}) not dead-lettered"));
            let got = d["reason"].as_str().unwrap();
            assert!(got.starts_with(reason), "{at}: {got} (expected {reason})");
            assert!(d["raw"].as_str().unwrap().len() <= 1024);
        }
    }
}
