//! Replays as experiments: `--replay-from/--replay-until` train like the window cut out of the
//! data, `--max-triggers` keeps the first triggers of the full run, a Kafka source is followed
//! by default, and the run directory records the window, the git revision and what was read.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// The rows of `<dir>/hyperplane.csv` (header first).
fn rows(dir: &Path) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(dir.join("hyperplane.csv")).unwrap();
    let mut lines = text.lines().map(String::from);
    let header = lines.next().unwrap();
    (header, lines.collect())
}

fn time_of(row: &str) -> u64 {
    row.split(',').nth(1).unwrap().parse().unwrap()
}

/// Writes `header` and `rows` as `<dir>/<name>`.
fn write_csv(dir: &Path, name: &str, header: &str, rows: &[&String]) {
    let mut text = format!("{header}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(dir.join(name), text).unwrap();
}

/// A window from the event time of the 1,000th row to that of the 3,000th (sorted by time),
/// and the rows inside it.
fn window_of(dir: &Path) -> (u64, u64, Vec<String>) {
    let (_, rows) = rows(dir);
    let mut times: Vec<u64> = rows.iter().map(|r| time_of(r)).collect();
    times.sort_unstable();
    let (from, until) = (times[1_000], times[3_000]);
    assert!(from < until);
    let inside = rows
        .into_iter()
        .filter(|r| (from..until).contains(&time_of(r)))
        .collect();
    (from, until, inside)
}

fn run_json(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap()
}

fn git_head() -> Option<String> {
    let o = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// What `run.json` says the run read: (samples, first event time, last event time).
fn covered(out: &Path) -> (u64, u64, u64) {
    let input = &run_json(out)["input"];
    let n = |k: &str| {
        input[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {input}"))
    };
    (n("samples"), n("first_time"), n("last_time"))
}

#[test]
fn a_replay_window_trains_like_the_window_cut_out_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let (header, _) = rows(dir.path());
    let (from, until, inside) = window_of(dir.path());
    write_csv(
        dir.path(),
        "cut.csv",
        &header,
        &inside.iter().collect::<Vec<_>>(),
    );

    let cfg = write_config(dir.path(), "it.toml", &config("csv", 400));
    let windowed = dir.path().join("windowed");
    let o = run_ok_with(
        &cfg,
        &windowed,
        &[
            "--replay-from",
            &from.to_string(),
            "--replay-until",
            &until.to_string(),
        ],
    );
    let line = stdout(&o);
    let n = inside.len();
    assert!(
        line.contains(&format!(
            "{n} samples in [{}, {})",
            sluice::format_time(from),
            sluice::format_time(until)
        )) && line.contains(&format!("{} triggers", n / 400)),
        "{line}"
    );

    let cut_cfg = write_config(
        dir.path(),
        "cut.toml",
        &config("csv", 400).replace("path = \"hyperplane.csv\"", "path = \"cut.csv\""),
    );
    let cut = dir.path().join("cut");
    run_ok(&cut_cfg, &cut, "1");
    assert_same_triggers_and_models(&windowed, &cut);
    assert_same_weights(&windowed, &cut, n / 400, "window vs cut file");

    // The run directory says how it read its source, with which build.
    let info = run_json(&windowed);
    assert_eq!(info["replay"]["window"]["from"], from);
    assert_eq!(info["replay"]["window"]["until"], until);
    assert_eq!(info["replay"]["follow"], false);
    if let Some(head) = git_head() {
        assert_eq!(info["git_revision"], head.as_str());
    }
    let times: Vec<u64> = inside.iter().map(|r| time_of(r)).collect();
    assert_eq!(
        covered(&windowed),
        (
            n as u64,
            *times.iter().min().unwrap(),
            *times.iter().max().unwrap()
        )
    );
    assert_eq!(summary(&windowed)["input"], info["input"]);
}

#[test]
fn max_triggers_keeps_the_first_triggers_of_the_full_run() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let cfg = write_config(dir.path(), "it.toml", &config("csv", 500));
    let full = dir.path().join("full");
    run_ok(&cfg, &full, "2");
    assert_eq!(jsonl(&full.join("triggers.jsonl")).len(), 8);

    let limited = dir.path().join("limited");
    let o = run_ok_with(&cfg, &limited, &["-w", "2", "--max-triggers", "3"]);
    assert!(
        stdout(&o).contains("3 triggers (at most 3), 3 models"),
        "{}",
        stdout(&o)
    );
    assert_first_of(&limited, &full, 3);
    assert_eq!(run_json(&limited)["replay"]["max_triggers"], 3);
    assert_eq!(summary(&limited)["triggers"], 3);
}

#[test]
fn bad_windows_exit_2_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_000, "csv");
    let cfg = write_config(dir.path(), "it.toml", &config("csv", 100));
    let (_, rows) = rows(dir.path());
    let last = rows.iter().map(|r| time_of(r)).max().unwrap();
    let out = dir.path().join("never");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = sluice(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        stderr(&o)
    };
    let after = run(&["--replay-from", &(last + 1).to_string()]);
    assert!(
        after.contains("is outside the data of")
            && after.contains("hyperplane.csv")
            && after.contains(&format!("to {}", sluice::format_time(last))),
        "{after}"
    );
    let before = run(&["--replay-until", "2000-01-01"]);
    assert!(
        before.contains("[…, 2000-01-01T00:00:00.000Z) is outside the data"),
        "{before}"
    );
    let empty = run(&[
        "--replay-from",
        "2024-01-02",
        "--replay-until",
        "2024-01-01",
    ]);
    assert!(
        empty.contains("--replay-until (2024-01-01T00:00:00.000Z) must be after --replay-from"),
        "{empty}"
    );
    let garbled = run(&["--replay-from", "yesterday"]);
    assert!(
        garbled.contains("`yesterday` is not an event time") && garbled.contains("YYYY-MM-DD"),
        "{garbled}"
    );
    assert!(!out.exists(), "a rejected window leaves no run directory");
}

/// A Kafka source read in a window equals the file read in the same window; the run directory
/// records the offsets it read; a window outside the topic's data, or a resume with another
/// window start, exits 2.
#[test]
fn a_topic_replays_a_window_like_the_file_and_records_its_offsets() {
    let Some(brokers) =
        kafka_brokers("a_topic_replays_a_window_like_the_file_and_records_its_offsets")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let (from, until, inside) = window_of(dir.path());
    let topic = unique_topic("window");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "3");
    let window = [
        "--replay-from",
        &from.to_string(),
        "--replay-until",
        &until.to_string(),
    ];

    let file_cfg = write_config(dir.path(), "file.toml", &config("csv", 400));
    let file_run = dir.path().join("file");
    run_ok_with(&file_cfg, &file_run, &window);

    // No `until`: with a window the topic is replayed, not followed.
    let text = kafka_config(&brokers, &topic, &unique_topic("events"), 400)
        .replace("until = \"end\"\n", "");
    let cfg = write_config(dir.path(), "kafka.toml", &text);
    let out = dir.path().join("kafka");
    let run = |extra: &[&str], workers: &str| {
        let mut args = vec![
            "run",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-w",
            workers,
        ];
        args.extend_from_slice(extra);
        sluice(&args)
    };
    let o = run(&window, "2");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{} samples in [", inside.len())),
        "{}",
        stdout(&o)
    );
    assert_same_triggers_and_models(&out, &file_run);
    assert_same_weights(&out, &file_run, inside.len() / 400, "topic vs file window");
    let info = run_json(&out);
    assert_eq!(info["replay"]["follow"], false);
    assert_eq!(covered(&out), covered(&file_run));
    // Each partition was read from past its start (seeking by timestamp) to before its end.
    let offsets = info["input"]["offsets"].as_object().unwrap();
    assert_eq!(offsets.len(), 3, "{offsets:?}");
    let (mut read, mut skipped) = (0, 0);
    for (p, range) in offsets {
        let (first, next) = (range[0].as_i64().unwrap(), range[1].as_i64().unwrap());
        assert!(0 < first && first < next, "partition {p}: {range}");
        read += next - first;
        skipped += first;
    }
    // Rows of a partition after the window's end are not read beyond the first of them.
    assert!(
        read as usize <= inside.len() + 3,
        "{read} read for {}",
        inside.len()
    );
    assert!(skipped > 500, "{skipped} offsets skipped by seeking");

    // Resuming the run directory with another window start is refused.
    let o = run(&["--replay-from", &(from + 1).to_string()], "1");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds a run started with --replay-from"),
        "{}",
        stderr(&o)
    );
    // A window after the data.
    let o = run(&["--replay-from", "2100-01-01"], "1");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "is outside the data of topic `{topic}`: no message is in it: its message timestamps span"
        )),
        "{}",
        stderr(&o)
    );
}

/// Without `until` and without a window a topic is followed: the run reads what arrives after
/// it started, and `--max-triggers` ends it with the triggers of the file run.
#[test]
fn a_topic_is_followed_by_default_until_max_triggers() {
    let Some(brokers) = kafka_brokers("a_topic_is_followed_by_default_until_max_triggers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let (header, rows) = rows(dir.path());
    let mut sorted: Vec<&String> = rows.iter().collect();
    sorted.sort_by_key(|r| time_of(r));
    write_csv(dir.path(), "first.csv", &header, &sorted[..1_200]);
    write_csv(dir.path(), "rest.csv", &header, &sorted[1_200..]);
    // One partition: a second one idle while the first is written to could let the watermark
    // pass its later messages (following, idle partitions stop holding it back).
    let topic = unique_topic("follow");
    produce_ok(&brokers, &dir.path().join("first.csv"), &topic, "1");

    let file_cfg = write_config(dir.path(), "file.toml", &config("csv", 500));
    let file_run = dir.path().join("file");
    run_ok(&file_cfg, &file_run, "1");

    let text = kafka_config(&brokers, &topic, &unique_topic("events"), 500)
        .replace("until = \"end\"\n", "");
    let cfg = write_config(dir.path(), "kafka.toml", &text);
    let out = dir.path().join("kafka");
    let mut child = spawn_run(
        &cfg,
        &out,
        &["--max-triggers", "4", "--status-every", "0.2"],
    );
    // 1,200 samples: two triggers, then the run waits for more.
    let started = Instant::now();
    while std::fs::read_to_string(out.join("triggers.jsonl")).map_or(0, |t| t.lines().count()) < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(started.elapsed() < Duration::from_secs(60), "no 2 triggers");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its status, rewritten every 0.2 s, comes to: all read, two models, waiting (however long
    // the second training takes on this machine).
    let status = loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "a followed topic ended the run"
        );
        let o = sluice(&["status", out.to_str().unwrap(), "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let status: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let lane = &status["variants"][0];
        if lane["model"] == "it-0001" && lane["samples"] == 1_200 {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "status never came to 2 models and 1,200 samples: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let lane = &status["variants"][0];
    assert_eq!(status["state"], "running");
    assert_eq!(lane["samples"], 1_200);
    assert_eq!(lane["lag_messages"], 0, "{lane}");
    // The topic's one partition, read to its end.
    let partitions = status["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 1, "{status}");
    assert_eq!(partitions[0]["lag"], 0, "{status}");
    assert_eq!(partitions[0]["read"], 1_200, "{status}");
    assert_eq!(lane["triggers"], 2);
    assert_eq!(lane["model"], "it-0001");
    assert!(
        lane["watermark"].as_u64().unwrap() >= time_of(sorted[1_000]),
        "{lane}"
    );
    produce_ok(&brokers, &dir.path().join("rest.csv"), &topic, "1");
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("the run did not stop after 4 triggers");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("4 triggers (at most 4), 4 models"),
        "{}",
        stdout(&o)
    );
    assert_eq!(run_json(&out)["replay"]["follow"], true);
    assert_first_of(&out, &file_run, 4);
}
