//! Bad input: malformed rows go to the dead-letter file with file:line and the run goes on;
//! bad configs and missing files fail fast with exit code 2 and a message naming the key.

mod common;

use std::path::Path;

use common::*;

#[test]
fn malformed_csv_rows_are_dead_lettered_and_the_run_continues() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_500, "csv"); // 2,000 stream rows
    let path = dir.path().join("hyperplane.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    // Corrupt 5 data rows (file lines 11, 21, ... are 1-based, header is line 1).
    let bad = [
        (10, "10,1704067200000,1,0.1,0.2"), // too few fields
        (20, "20,1704067200000,x,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8"), // label not an integer
        (30, "30,1704067200000,5,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8"), // label out of range
        (40, "40,1704067200000,1,NaN,0.2,0.3,0.4,0.5,0.6,0.7,0.8"), // NaN feature
        (50, "50,yesterday,1,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8"), // bad time
    ];
    for (i, l) in bad {
        lines[i] = l.to_string();
    }
    // A duplicate key of a good row.
    lines.push(lines[100].clone());
    let dup_key = lines[100].split(',').next().unwrap().to_string();

    let dup_line = lines.len(); // 1-based: the header is line 1
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    // The copy is dropped and counted by default, dead-lettered on request; either way the
    // original trains.
    for (workers, duplicates) in [("1", "keep_first"), ("3", "dead_letter")] {
        let text = config("csv", 500).replace(
            "label_column = \"label\"",
            &format!("label_column = \"label\"\nduplicates = \"{duplicates}\""),
        );
        let cfg = write_config(dir.path(), "it.toml", &text);
        let out = dir.path().join(format!("run-{duplicates}"));
        let o = run_ok(&cfg, &out, workers);
        let expect = match duplicates {
            "keep_first" => "1995 samples (5 dead-lettered, 1 duplicates dropped), 3 triggers",
            _ => "1995 samples (6 dead-lettered), 3 triggers",
        };
        assert!(stdout(&o).contains(expect), "{}", stdout(&o));
        let dead = jsonl(&out.join("dead-letter.jsonl"));
        let mut by_line: Vec<(String, String)> = dead
            .iter()
            .map(|d| {
                (
                    d["location"].as_str().unwrap().to_string(),
                    d["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        by_line.sort();
        let file = path.display().to_string();
        let expect = [
            (format!("{file}:11"), "expected 11 fields, found 5"),
            (format!("{file}:21"), "label `x` is not an integer"),
            (format!("{file}:31"), "label 5 outside 0..2"),
            (format!("{file}:41"), "feature `x0` is NaN"),
            (format!("{file}:51"), "time `yesterday` is not a number"),
        ];
        for (loc, reason) in &expect {
            assert!(
                by_line.iter().any(|(l, r)| l == loc && r == reason),
                "missing {loc}: {reason} in {by_line:?}"
            );
        }
        // The two rows share a key and an event time and are read by different workers: with
        // several workers either may reach the key's owner first (docs/config.md), and the
        // other is the copy.
        let copies: Vec<_> = dead
            .iter()
            .filter(|d| d["reason"].as_str().unwrap().starts_with("duplicate key"))
            .collect();
        match duplicates {
            "keep_first" => assert!(copies.is_empty(), "{dead:?}"),
            _ => {
                assert_eq!(copies.len(), 1, "{dead:?}");
                let copy = copies[0];
                let lines = [format!("{file}:{dup_line}"), format!("{file}:101")];
                assert!(
                    lines.contains(&copy["location"].as_str().unwrap().to_string()),
                    "{copy}"
                );
                assert!(
                    copy["reason"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("duplicate key {dup_key}: ")),
                    "{copy}"
                );
                let raw: serde_json::Value =
                    serde_json::from_str(copy["raw"].as_str().unwrap()).unwrap();
                assert_eq!(raw["key"].to_string(), dup_key, "{copy}");
            }
        }
        assert!(dead.iter().all(|d| d["kind"] == "dead_letter"));
        assert!(
            dead.iter()
                .any(|d| d["raw"].as_str().unwrap().contains("yesterday"))
        );
        // Every dead letter has its own id.
        let ids: std::collections::BTreeSet<String> =
            dead.iter().map(|d| d["id"].to_string()).collect();
        assert_eq!(ids.len(), dead.len(), "{dead:?}");
    }
}

/// Regression (#24): a row repeated right after itself was refused together with its
/// original (both left the batch the store refused the copy from): the quickstart gave 7
/// triggers instead of 8 and its training sets lacked the key.
#[test]
fn a_repeated_csv_row_keeps_its_original_in_training() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv"); // 4,000 stream rows
    let path = dir.path().join("hyperplane.csv");
    let cfg = write_config(dir.path(), "it.toml", &config("csv", 1_000));
    let clean = dir.path().join("clean");
    run_ok(&cfg, &clean, "1");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(101, lines[100]);
    lines.insert(2_001, lines[2_000]);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    for workers in ["1", "2"] {
        let out = dir.path().join(format!("dup-{workers}"));
        let o = run_ok(&cfg, &out, workers);
        assert!(
            stdout(&o).contains("4000 samples (0 dead-lettered, 2 duplicates dropped), 4 triggers"),
            "{}",
            stdout(&o)
        );
        let digests = |run: &Path| -> Vec<serde_json::Value> {
            jsonl(&run.join("models.jsonl"))
                .iter()
                .map(|m| m["training_set_digest"].clone())
                .collect()
        };
        assert_eq!(digests(&out), digests(&clean), "{workers} workers");
        assert_eq!(summary(&out)["duplicates"], 2);
    }
}

#[test]
fn missing_source_file_fails_fast_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "it.toml", &config("csv", 100));
    let o = sluice(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        dir.path().join("run").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("it.toml: source.path: file not found") && err.contains("hyperplane.csv"),
        "{err}"
    );
    assert!(
        err.contains("it.toml: evaluation.path: file not found"),
        "{err}"
    );
    assert!(!dir.path().join("run").exists(), "nothing started");
}

#[test]
fn unknown_and_invalid_keys_fail_with_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_000, "csv");
    let text = config("csv", 100)
        .replace("every = 100", "every = 0")
        .replace("batch_size = 32", "batch_size = 32\nbatchsize = 4");
    let cfg = write_config(dir.path(), "bad.toml", &text);
    for cmd in ["validate", "run"] {
        let o = sluice(&[cmd, cfg.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let err = stderr(&o);
        assert!(
            err.contains("bad.toml: trigger.every: expected an integer > 0"),
            "{cmd}: {err}"
        );
        assert!(
            err.contains("bad.toml: training.batchsize: unknown field `batchsize`"),
            "{cmd}: {err}"
        );
    }
}

#[test]
fn missing_column_is_a_usage_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_000, "csv");
    let text = config("csv", 100).replace("label_column = \"label\"", "label_column = \"y\"");
    let cfg = write_config(dir.path(), "it.toml", &text);
    let o = sluice(&["validate", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("source.label_column: column `y` not in"),
        "{}",
        stderr(&o)
    );
    let good = write_config(dir.path(), "good.toml", &config("csv", 100));
    let o = sluice(&["validate", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("ok (pipeline `it`, 8 features: x0, x1, x2, x3, x4, x5, x6, x7)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(sluice(&["run"]).status.code(), Some(2));
    assert_eq!(
        sluice(&["run", "x.toml", "--workers", "0"]).status.code(),
        Some(2)
    );
    assert_eq!(
        sluice(&["datasets", "prepare", "nope"]).status.code(),
        Some(2)
    );
    let o = sluice(&["run", "/nonexistent/x.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/x.toml: (file): cannot read config"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn nan_loss_publishes_no_model_and_keeps_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 750, "csv"); // 600 stream rows
    let path = dir.path().join("hyperplane.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    // The second trigger's rows (data lines 201..=400, in time order) get huge but finite
    // features: activations overflow f32, the loss becomes NaN.
    for l in &mut lines[201..=400] {
        let mut f: Vec<String> = l.split(',').map(String::from).collect();
        for x in &mut f[3..] {
            *x = "3e38".into();
        }
        *l = f.join(",");
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let cfg = write_config(dir.path(), "it.toml", &config("csv", 200));
    let out = dir.path().join("run");
    let o = run_ok(&cfg, &out, "1");
    assert!(
        stdout(&o).contains("600 samples (0 dead-lettered), 3 triggers, 2 models"),
        "{}",
        stdout(&o)
    );
    let models = jsonl(&out.join("models.jsonl"));
    let ids: Vec<u64> = models
        .iter()
        .map(|m| m["trigger_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [0, 2]);
    let failed: Vec<_> = jsonl(&out.join("metrics.jsonl"))
        .into_iter()
        .filter(|m| m["name"] == "training_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["trigger_id"], 1);
    // Trigger 2 continued from trigger 0's model, not from the broken one.
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("models/it-0002.json")).unwrap()).unwrap();
    assert_eq!(meta["parent_model"], "it-0000");
    assert!(!out.join("models/it-0001.safetensors").exists());
}

#[test]
fn models_and_devices_that_cannot_work_fail_at_validate_with_their_key() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_000, "csv");
    let cases = [
        // An image model over 8 tabular features.
        (
            config("csv", 100).replace(
                "id = \"mlp\"\nhidden = [16]",
                "id = \"resnet18\"\ninput_shape = [3, 32, 32]",
            ),
            "model.input_shape: [3, 32, 32] holds 3072 values, but a sample has 8 features",
        ),
        (
            config("csv", 100).replace("id = \"mlp\"", "id = \"vgg16\""),
            "model.id: unknown model `vgg16`",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let cfg = write_config(dir.path(), &format!("m{i}.toml"), text);
        for cmd in ["validate", "run"] {
            let o = sluice(&[cmd, cfg.to_str().unwrap()]);
            assert_eq!(o.status.code(), Some(2), "{cmd}: {}", stderr(&o));
            assert!(stderr(&o).contains(want), "{cmd}: {}", stderr(&o));
        }
    }
    // This build and machine have no CUDA device (tests never need a GPU).
    if !tch::Cuda::is_available() {
        let text =
            config("csv", 100).replace("batch_size = 32", "batch_size = 32\ndevice = \"cuda:0\"");
        let cfg = write_config(dir.path(), "cuda.toml", &text);
        let o = sluice(&["validate", cfg.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            stderr(&o)
                .contains("cuda.toml: training.device: device `cuda:0`: CUDA is not available"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn a_run_directory_that_cannot_be_created_fails_with_exit_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 500, "csv");
    let cfg = write_config(dir.path(), "p.toml", &config("csv", 100));
    // Under a file: the directory cannot exist (permissions would not stop root).
    std::fs::write(dir.path().join("afile"), b"").unwrap();
    let out = dir.path().join("afile/run");
    let o = sluice(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("creating run directory {}", out.display())),
        "{}",
        stderr(&o)
    );
}

#[test]
fn configs_name_no_path_outside_the_run_directory_and_carry_no_code() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 500, "csv");
    // The pipeline name names the run directory, model files and topics: no path in it.
    for name in ["../escape", "a/b", "/abs"] {
        let text = config("csv", 100).replace("name = \"it\"", &format!("name = \"{name}\""));
        let cfg = write_config(dir.path(), "name.toml", &text);
        assert_invalid_at(&cfg, "pipeline.name");
    }
    // Modyn's Python strings (`bytes_parser_function`, ...) are not code here: unknown keys.
    let text = config("csv", 100).replace(
        "[source]\n",
        "[source]\nbytes_parser_function = \"import os; os.system('touch pwned')\"\n",
    );
    let cfg = write_config(dir.path(), "code.toml", &text);
    assert_invalid_at(&cfg, "source.bytes_parser_function");
    assert!(!dir.path().join("pwned").exists());
}

/// Two corrupt Arrow dataset files fuzzing found (fuzz/regressions/arrow_file/): one made the
/// Arrow reader panic, one made it allocate gigabytes. Each fails the run with an error naming
/// the file and why, prints no panic, and allocates nothing near the declared size.
#[test]
fn corrupt_arrow_files_fail_clearly_without_a_panic_or_a_huge_allocation() {
    let regressions =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/arrow_file");
    for (input, want) in [
        (
            "crash-8457e8fac844270573a258b634cac85279bd39fa",
            "not a valid Arrow IPC file (the Arrow reader panicked",
        ),
        (
            "oom-6b59c67194a835e0e0afe755a2776eb567472e96",
            "lies outside the file (2466 bytes)",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path(), 500, "arrow");
        std::fs::copy(regressions.join(input), dir.path().join("hyperplane.arrow")).unwrap();
        let cfg = write_config(dir.path(), "p.toml", &config("arrow", 100));
        let out = dir.path().join("run");
        let o = sluice(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{input}: {err}");
        assert!(
            err.contains("hyperplane.arrow") && err.contains(want),
            "{input}: {err}"
        );
        assert!(!err.contains("panicked at"), "{input}: {err}");
    }
}

/// Regression (#24): a broker address that refuses connections waited librdkafka's full 10 s
/// before failing, and `sluice validate` said `ok` for it without trying. Both now fail and
/// say the connection was refused (port 1 of this machine has no listener).
#[test]
fn a_refused_broker_fails_validate_and_run_with_connection_refused() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_000, "csv");
    let text = config("csv", 500).replace(
        "path = \"hyperplane.csv\"\n",
        "kind = \"kafka\"\nbrokers = \"127.0.0.1:1\"\ntopic = \"t\"\n\
         feature_columns = [\"x0\", \"x1\", \"x2\", \"x3\", \"x4\", \"x5\", \"x6\", \"x7\"]\n",
    );
    let cfg = write_config(dir.path(), "refused.toml", &text);
    for args in [
        vec!["validate", cfg.to_str().unwrap()],
        vec![
            "run",
            cfg.to_str().unwrap(),
            "--out",
            dir.path().join("out").to_str().unwrap(),
        ],
    ] {
        let o = sluice(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("cannot reach Kafka at 127.0.0.1:1")
                && stderr(&o).contains("connection refused"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

/// Regression (#24): pandas writes integer columns as `1.0`; a CSV whose keys and labels were
/// written so gave `0 samples (4000 dead-lettered), 0 triggers`. It now trains exactly like
/// the same file with plain integers.
#[test]
fn keys_and_labels_written_as_integral_decimals_train_like_integers() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_000, "csv");
    let plain = std::fs::read_to_string(dir.path().join("hyperplane.csv")).unwrap();
    let mut lines = plain.lines();
    let mut pandas = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let (key, rest) = line.split_once(',').unwrap();
        let (time, rest) = rest.split_once(',').unwrap();
        let (label, rest) = rest.split_once(',').unwrap();
        pandas += &format!("{key}.0,{time},{label}.0,{rest}\n");
    }
    let out = |name: &str, file: &str| {
        std::fs::write(
            dir.path().join(file),
            if file == "plain.csv" { &plain } else { &pandas },
        )
        .unwrap();
        let cfg = write_config(
            dir.path(),
            &format!("{name}.toml"),
            &config("csv", 400).replace("hyperplane.csv", file),
        );
        let run = dir.path().join(name);
        run_ok(&cfg, &run, "1");
        run
    };
    let (a, b) = (out("plain", "plain.csv"), out("pandas", "pandas.csv"));
    assert_eq!(summary(&b)["samples"], summary(&a)["samples"]);
    assert_eq!(summary(&b)["dead_letters"], 0, "{}", summary(&b));
    let boundaries = |run: &Path| -> Vec<serde_json::Value> {
        jsonl(&run.join("triggers.jsonl"))
            .into_iter()
            .map(|t| t["boundary"].clone())
            .collect()
    };
    assert!(boundaries(&a).len() >= 4);
    assert_eq!(boundaries(&b), boundaries(&a));
}

/// A file row dated past the wall clock plus `source.max_future` is dead-lettered with its
/// line; `max_future` takes a span or "off" and nothing else.
#[test]
fn a_file_row_from_the_future_is_dead_lettered_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_250, "csv"); // 1,000 stream rows
    let path = dir.path().join("hyperplane.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[10] = "5000000,4102444800000,1,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8".into();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    // Off for files by default (they are sorted before the replay): it trains.
    let cfg = write_config(dir.path(), "it.toml", &config("csv", 500));
    let o = run_ok(&cfg, &dir.path().join("off"), "1");
    assert!(
        stdout(&o).contains("1000 samples (0 dead-lettered), 2 triggers"),
        "{}",
        stdout(&o)
    );
    let text = config("csv", 500).replace(
        "label_column = \"label\"",
        "label_column = \"label\"\nmax_future = \"5m\"",
    );
    let cfg = write_config(dir.path(), "it.toml", &text);
    let out = dir.path().join("run");
    let o = run_ok(&cfg, &out, "2");
    assert!(
        stdout(&o).contains("999 samples (1 dead-lettered), 1 triggers"),
        "{}",
        stdout(&o)
    );
    let dead = jsonl(&out.join("dead-letter.jsonl"));
    assert_eq!(dead[0]["location"], format!("{}:11", path.display()));
    assert!(
        dead[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("future: event time 4102444800000"),
        "{dead:?}"
    );
    for bad in ["\"5x\"", "\"0m\"", "5"] {
        let text = config("csv", 500).replace(
            "label_column = \"label\"",
            &format!("label_column = \"label\"\nmax_future = {bad}"),
        );
        assert_invalid_at(
            &write_config(dir.path(), "bad.toml", &text),
            "source.max_future",
        );
    }
}

/// A run that dead-letters more than `source.max_dead_letter_ratio` (default 0.5) of its input
/// finishes, writes its summary and exits 1 with the count: a CSV whose labels were all
/// unreadable gave `0 samples (4000 dead-lettered), 0 triggers` and exit 0.
#[test]
fn a_run_dead_lettering_most_of_its_input_exits_1_with_the_count() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_250, "csv"); // 1,000 stream rows
    let path = dir.path().join("hyperplane.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if (1..=600).contains(&i) {
                let mut f: Vec<&str> = l.split(',').collect();
                f[2] = "yes";
                f.join(",")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let cfg = write_config(dir.path(), "it.toml", &config("csv", 100));
    // `validate` decodes the first rows as `run` would, and fails as it would.
    let o = sluice(&["validate", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "600 of the first 1000 rows of {} would be dead-lettered, more than \
             source.max_dead_letter_ratio = 0.5 allows; the first: {}:2: label `yes` is not an \
             integer",
            path.display(),
            path.display()
        )),
        "{err}"
    );
    let out = dir.path().join("run");
    let o = sluice(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("400 samples (600 dead-lettered), 4 triggers"),
        "{}",
        stdout(&o)
    );
    let err = stderr(&o);
    assert!(
        err.contains(
            "600 of 1000 inputs (60.0%) were dead-lettered, more than \
             source.max_dead_letter_ratio = 0.5 allows"
        ) && err.contains("dead-letter.jsonl"),
        "{err}"
    );
    assert_eq!(summary(&out)["dead_letters"], 600);
    // A looser bound lets it pass; a bound outside 0..=1 is a config error.
    let loose = config("csv", 100).replace(
        "label_column = \"label\"",
        "label_column = \"label\"\nmax_dead_letter_ratio = 0.6",
    );
    let cfg = write_config(dir.path(), "loose.toml", &loose);
    let o = sluice(&["validate", cfg.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("; of the first 1000 rows, 600 would be dead-lettered, the first: "),
        "{}",
        stdout(&o)
    );
    run_ok(&cfg, &dir.path().join("loose"), "1");
    let bad = loose.replace("= 0.6", "= 1.5");
    assert_invalid_at(
        &write_config(dir.path(), "bad.toml", &bad),
        "source.max_dead_letter_ratio",
    );
}
