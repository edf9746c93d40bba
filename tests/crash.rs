//! Crash-restart harness against the real broker and the real binary: a pipeline with state in
//! every operator (an ensemble of an amount and a performance trigger, a reservoir) is killed
//! with SIGKILL at 20 seeded points spread over ingest, training and publishing, restarted
//! after each, and must end exactly as the uninterrupted run: the same triggers and training
//! sets (every input sample counted once), bit-identical models, every event once on the
//! output topics, and nothing orphaned or half-written in the model store.
//!
//! `SLUICE_CRASH_SEED` picks another sequence of kill points (default 20261126).

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TRIGGER: &str = r#"[trigger]
id = "ensemble"
strategy = "any"

[trigger.subtriggers.amount]
id = "amount"
every = 500

[trigger.subtriggers.perf]
id = "performance"
evaluation_interval_data_points = 250
evaluation = { metrics = ["accuracy"] }
warmup_intervals = 2
warmup_policy = { id = "amount", every = 500 }

[trigger.subtriggers.perf.criteria.acc]
id = "dynamic_rolling_average"
deviation = 0.05
absolute = true

[selection]
strategy = "reservoir"
budget = 700
seed = 5
"#;

fn config(brokers: &str, topic: &str, prefix: &str) -> String {
    let text = kafka_config(brokers, topic, prefix, 600);
    let amount = "[trigger]\nid = \"amount\"\nevery = 600\n";
    assert!(text.contains(amount));
    text.replace(amount, TRIGGER)
        .replace("epochs_per_trigger = 3", "epochs_per_trigger = 30")
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// What a run directory shows the run doing: (triggers emitted, models stored, last
/// checkpoint + 1).
fn progress(out: &Path) -> (usize, usize, usize) {
    let checkpointed = sluice::pipeline::checkpoint::latest(out).map_or(0, |c| c.trigger_id + 1);
    (
        lines(&out.join("triggers.jsonl")),
        lines(&out.join("models.jsonl")),
        checkpointed as usize,
    )
}

/// The phase a kill hit, from the run directory just before it.
fn phase((triggers, models, checkpointed): (usize, usize, usize)) -> &'static str {
    if models > checkpointed {
        "publishing (model out, checkpoint not yet)"
    } else if triggers > models {
        "training (trigger out, model not yet)"
    } else {
        "ingest (between triggers)"
    }
}

/// How the next kill picks its moment.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// After a random delay.
    Delay,
    /// Right after the run emits its n-th trigger (while it trains).
    NewTrigger(usize),
    /// Right after it stores its n-th model (while it publishes and checkpoints).
    NewModel(usize),
}

fn spawn(cfg: &Path, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["-w", "2", "-q"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// Waits for `moment` (at most 60 s): `None` when the run finished first, else whether it had
/// opened its event files yet. `before` is the inode of `triggers.jsonl` before the run
/// started: a run replaces the file (with the events up to its checkpoint, when it resumes)
/// once it has restored its state, and counts from there.
fn wait_for(
    child: &mut Child,
    out: &Path,
    before: Option<u64>,
    moment: Moment,
    delay: Duration,
) -> Option<bool> {
    let began = Instant::now();
    let file = out.join("triggers.jsonl");
    let mut start = None;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the run failed on its own: {status}");
            return None;
        }
        if start.is_none() && inode(&file).is_some_and(|i| Some(i) != before) {
            start = Some(progress(out));
        }
        let now = progress(out);
        let reached = match (moment, start) {
            (Moment::Delay, _) => began.elapsed() >= delay,
            (_, None) => false,
            (Moment::NewTrigger(n), Some(s)) => now.0 >= s.0 + n,
            (Moment::NewModel(n), Some(s)) => now.1 >= s.1 + n,
        };
        if reached {
            return Some(start.is_some());
        }
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "nothing happened for 60 s waiting for {moment:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn ids(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn killed_at_twenty_random_points_the_run_ends_as_if_never_interrupted() {
    let Some(brokers) =
        kafka_brokers("killed_at_twenty_random_points_the_run_ends_as_if_never_interrupted")
    else {
        return;
    };
    let seed: u64 = std::env::var("SLUICE_CRASH_SEED").map_or(20_261_126, |s| s.parse().unwrap());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 12_500, "csv"); // 10,000 stream rows
    let topic = unique_topic("crash");
    produce_ok(&brokers, &dir.path().join("hyperplane.csv"), &topic, "2");
    // Malformed messages among the samples' tail: dead letters, once each however often the
    // run is killed.
    send_raw(
        &brokers,
        &topic,
        (0..6).map(|i| (i % 2, format!("not json {i}"))),
    );

    let reference = dir.path().join("reference");
    let ref_prefix = unique_topic("crash-ref");
    let cfg = write_config(
        dir.path(),
        "ref.toml",
        &config(&brokers, &topic, &ref_prefix),
    );
    run_ok(&cfg, &reference, "2");
    let want_triggers = jsonl(&reference.join("triggers.jsonl"));
    assert_eq!(jsonl(&reference.join("dead-letter.jsonl")).len(), 6);
    assert!(
        want_triggers.len() >= 14,
        "{} triggers: too few to absorb 20 kills",
        want_triggers.len()
    );

    // 20 kills, every kind of moment several times, in a seeded order. Should a run finish
    // before all are spent (kills late in the run make more progress), a new run directory
    // takes the rest; every run directory must end as the uninterrupted run.
    // The n-th trigger or model of a run (1 to 3) and delays up to 3 s spread the kills over
    // the whole stream.
    let mut plan: Vec<Moment> = (0..21)
        .map(|i| match i % 3 {
            0 => Moment::Delay,
            1 => Moment::NewTrigger(rng.random_range(1..=3)),
            _ => Moment::NewModel(rng.random_range(1..=3)),
        })
        .take(20)
        .collect();
    plan.shuffle(&mut rng);
    let mut plan = plan.into_iter().peekable();
    let mut hit: Vec<(Moment, &str)> = Vec::new();
    let mut pass = 0;
    while plan.peek().is_some() {
        let prefix = unique_topic("crash-run");
        let out = dir.path().join(format!("run-{pass}"));
        let cfg = write_config(
            dir.path(),
            &format!("run-{pass}.toml"),
            &config(&brokers, &topic, &prefix),
        );
        pass += 1;
        while let Some(&moment) = plan.peek() {
            let delay = Duration::from_millis(rng.random_range(50..=3_000));
            let before = inode(&out.join("triggers.jsonl"));
            let mut child = spawn(&cfg, &out);
            let Some(opened) = wait_for(&mut child, &out, before, moment, delay) else {
                eprintln!("run-{}: finished before the next kill", pass - 1);
                break;
            };
            let now = progress(&out);
            let at = if opened {
                phase(now)
            } else {
                "ingest (start-up: reading the source, restoring the checkpoint)"
            };
            let (triggers, models, checkpoints) = now;
            eprintln!(
                "kill {:2}: {moment:?} (delay {delay:?}): {triggers} triggers, {models} models, \
                 {checkpoints} checkpoints: {at}",
                hit.len()
            );
            child.kill().unwrap(); // SIGKILL: no cleanup
            child.wait().unwrap();
            hit.push((moment, at));
            plan.next();
        }
        // Once more, to the end (a no-op for a run that finished).
        run_ok(&cfg, &out, "2");
        ends_as_the_uninterrupted_run(&brokers, (&out, &prefix), (&reference, &ref_prefix));
    }
    eprintln!("seed {seed}: 20 kills over {pass} run directories");
    assert_eq!(hit.len(), 20);
    let phases: HashSet<&str> = hit.iter().map(|(_, p)| *p).collect();
    for p in ["ingest", "training", "publishing"] {
        assert!(
            phases.iter().any(|h| h.starts_with(p)),
            "no kill while {p}: {hit:?}"
        );
    }
}

/// The run in `out` (events on `<prefix>.*`) equals the uninterrupted `reference`.
fn ends_as_the_uninterrupted_run(
    brokers: &str,
    (out, prefix): (&Path, &str),
    (reference, ref_prefix): (&Path, &str),
) {
    // The same triggers and training sets (digests of their keys), and every sample of the
    // stream in exactly one epoch.
    assert_same_triggers_and_models(out, reference);
    let epochs: u64 = jsonl(&out.join("triggers.jsonl"))
        .iter()
        .map(|t| t["samples"].as_u64().unwrap())
        .sum();
    assert_eq!(epochs, 10_000, "every sample in exactly one epoch");
    // Bit-identical models, and nothing else in the store: no orphan of a killed run, no
    // temporary file.
    let mut want_files: Vec<String> = Vec::new();
    for m in &jsonl(&out.join("models.jsonl")) {
        let id = m["model_id"].as_str().unwrap();
        let (weights, keys) = (format!("{id}.safetensors"), format!("{id}.keys"));
        for file in [&weights, &keys] {
            assert!(
                std::fs::read(out.join("models").join(file)).unwrap()
                    == std::fs::read(reference.join("models").join(file)).unwrap(),
                "{file} differs from the uninterrupted run's"
            );
        }
        want_files.extend([weights, keys, format!("{id}.json"), format!("{id}.pt")]);
    }
    let mut files: Vec<String> = std::fs::read_dir(out.join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    want_files.sort();
    assert_eq!(files, want_files, "model store of {}", out.display());

    // The output topics: triggers and models once each, in the uninterrupted run's order,
    // dead letters once each (their order across partitions varies); no event id twice on
    // any topic.
    for stream in ["triggers", "models"] {
        let got = ids(&tail(brokers, &format!("{prefix}.{stream}")));
        let want = ids(&tail(brokers, &format!("{ref_prefix}.{stream}")));
        assert_eq!(got, want, "{stream} topic");
    }
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let dead = |events: Vec<serde_json::Value>| sorted(ids(&events));
    assert_eq!(
        dead(jsonl(&out.join("dead-letter.jsonl"))),
        dead(jsonl(&reference.join("dead-letter.jsonl"))),
        "dead letters of {}",
        out.display()
    );
    assert_eq!(
        dead(tail(brokers, &format!("{prefix}.dead-letter"))),
        dead(tail(brokers, &format!("{ref_prefix}.dead-letter"))),
        "dead-letter topic"
    );
    for stream in ["metrics", "evaluations"] {
        let got = ids(&tail(brokers, &format!("{prefix}.{stream}")));
        let mut seen = HashSet::new();
        let twice: Vec<&String> = got.iter().filter(|id| !seen.insert(*id)).collect();
        assert!(twice.is_empty(), "{stream} topic has duplicates: {twice:?}");
    }
}
