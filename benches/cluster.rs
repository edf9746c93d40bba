//! Scale-out: `sluice run` over the same topic as 1 process of 2 workers (the baseline) and as
//! 2 processes of 1 worker each (`-n 2 -p i`: keys, payloads and selection state spread over
//! both processes, training sets shipped to process 0), alternating, best of 3 each; then once
//! as 3 processes of 1 worker. Prints samples/s and CPU seconds per process of each, the ratio
//! of 2 x 1 to 1 x 2 (target ≥ 0.8), the share of the payloads process 0 stores (the most
//! samples its store held at once, `peak_stored_samples`, against the one-process run's;
//! target ≤ 1/N + 10%), the bytes shipped to it, and whether every run gave the same triggers
//! and bitwise-identical models.
//!
//! Needs a broker: `kafka/start.sh`, then
//! `SLUICE_KAFKA=127.0.0.1:9092 cargo bench --bench cluster [-- <samples>]` (default 1,600,000
//! samples of the 8-feature hyperplane stream as JSON, 4 partitions; the topic is produced once
//! and reused). The pipeline is ingest-heavy on purpose: an amount trigger every 50,000, new-data
//! selection, one epoch of a small MLP. `-- drift` replaces the trigger with a drift trigger
//! (MMD between 1,000-sample windows, decided every 50,000 samples), whose probe reads every
//! sample's features from a window on worker 0.

use std::path::Path;
use std::time::{Duration, Instant};

use sluice::config::ValueFormat;

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/stream.rs"]
mod stream;
use common::{metric_values, spawn_cluster, stderr, summary};
use cpu::cpu_s;
use stream::ensure_stream;

/// The trigger of `-- drift`.
const DRIFT: &str = r#"[trigger]
id = "drift"
evaluation_interval_data_points = 50000

[trigger.windows]
id = "amount"
amount_ref = 1000
amount_cur = 1000

[trigger.metrics.mmd]
id = "mmd"
criterion = { id = "threshold", threshold = 0.001 }
"#;

fn config(brokers: &str, topic: &str, drift: bool) -> String {
    let text = format!(
        r#"[pipeline]
name = "bench-cluster"

[source]
kind = "kafka"
brokers = "{brokers}"
topic = "{topic}"
create_topic = false
until = "end"
key_column = "key"
time_column = "time"
label_column = "label"
feature_columns = ["x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"]

[model]
id = "mlp"
hidden = [16]
num_classes = 2

[training]
batch_size = 256
epochs_per_trigger = 1
seed = 3

[training.optimizer]
algorithm = "adam"
lr = 0.01

[trigger]
id = "amount"
every = 50000

[selection]
strategy = "new_data"
"#
    );
    if drift {
        let text = text.replace("[trigger]\nid = \"amount\"\nevery = 50000\n", DRIFT);
        assert!(
            text.contains("id = \"drift\""),
            "the drift trigger replaced the amount one"
        );
        text
    } else {
        text
    }
}

/// A run's processes: wall time, each one's CPU seconds, the samples the followers stored,
/// and the followers' peaks (the most samples each held at once).
struct Ran {
    wall: Duration,
    cpu: Vec<f64>,
    followers: u64,
    follower_peaks: u64,
}

/// One run into `out`: `processes` processes of `threads` workers.
fn run(cfg: &Path, out: &Path, processes: usize, threads: &str) -> Ran {
    let started = Instant::now();
    let mut children = spawn_cluster(&vec![cfg; processes], out, threads);
    let mut cpu = vec![f64::NAN; processes];
    loop {
        let mut running = false;
        for (p, c) in children.iter_mut().enumerate() {
            // Read before reaping: an exited process keeps its final times until then.
            if let Some(s) = cpu_s(&c.id().to_string()) {
                cpu[p] = s;
            }
            running |= c.try_wait().unwrap().is_none();
        }
        if !running {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = started.elapsed();
    let (mut followers, mut follower_peaks) = (0, 0);
    for (p, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "process {p}: {}", stderr(&o));
        if p > 0 {
            // "...; stored N samples of its keys, at most M at once"
            let line = String::from_utf8_lossy(&o.stdout).to_string();
            let number = |after: &str| {
                line.split(after)
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("process {p}: {line}"))
            };
            followers += number("; stored ");
            follower_peaks += number(", at most ");
        }
    }
    Ran {
        wall,
        cpu,
        followers,
        follower_peaks,
    }
}

/// Process 0's share of what the run's processes held: its peak against the sum of every
/// process's peak (each at its own moment).
fn run_share(out: &Path, ran: &Ran) -> f64 {
    peak(out) / (peak(out) + ran.follower_peaks as f64)
}

/// The most samples process 0 of the run in `out` held at once (`peak_stored_samples`).
fn peak(out: &Path) -> f64 {
    summary(out)["peak_stored_samples"].as_f64().unwrap()
}

/// Process 0's share of the payloads: the most samples its store held at once, against the
/// one-process run `whole`'s.
fn stored_share(out: &Path, whole: &Path) -> f64 {
    peak(out) / peak(whole)
}

fn cpu_list(cpu: &[f64]) -> String {
    cpu.iter()
        .map(|c| format!("{c:.1}"))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The run's triggers (without wall times) and model files.
fn results(out: &Path) -> (Vec<serde_json::Value>, Vec<Vec<u8>>) {
    let triggers = std::fs::read_to_string(out.join("triggers.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("wall_time_ms");
            v
        })
        .collect();
    let mut models: Vec<_> = std::fs::read_dir(out.join("models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    models.sort();
    (
        triggers,
        models.iter().map(|p| std::fs::read(p).unwrap()).collect(),
    )
}

fn main() {
    let Ok(brokers) = std::env::var("SLUICE_KAFKA") else {
        eprintln!("cluster: set SLUICE_KAFKA (e.g. 127.0.0.1:9092) after kafka/start.sh");
        return;
    };
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_600_000);
    let topic = format!("bench-cluster-{n}");
    ensure_stream(&brokers, &topic, n, ValueFormat::Json);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cluster.toml");
    let drift = std::env::args().any(|a| a == "drift");
    std::fs::write(&cfg, config(&brokers, &topic, drift)).unwrap();
    let mut best = [(Duration::MAX, Vec::new()), (Duration::MAX, Vec::new())];
    let mut same = true;
    let mut reference = None;
    let baseline = dir.path().join("run-0-1");
    let mut check = |out: &Path| {
        let r = results(out);
        match &reference {
            None => reference = Some(r),
            Some(want) => same &= *want == r,
        }
    };
    let mut two = None;
    for round in 0..3 {
        for (i, processes) in [1, 2].into_iter().enumerate() {
            let out = dir.path().join(format!("run-{round}-{processes}"));
            let threads = if processes == 1 { "2" } else { "1" };
            let ran = run(&cfg, &out, processes, threads);
            println!(
                "  round {round}: {processes} process(es): {:.2} s, CPU s {}",
                ran.wall.as_secs_f64(),
                cpu_list(&ran.cpu)
            );
            if ran.wall < best[i].0 {
                best[i] = (ran.wall, ran.cpu.clone());
            }
            check(&out);
            if processes == 2 && round == 0 {
                two = Some((out, ran));
            }
        }
    }
    let (two, ran2) = two.expect("round 0 ran 2 processes");
    let three = dir.path().join("run-3");
    let ran3 = run(&cfg, &three, 3, "1");
    println!(
        "  3 processes: {:.2} s, CPU s {}",
        ran3.wall.as_secs_f64(),
        cpu_list(&ran3.cpu)
    );
    check(&three);
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let shipped = |run: &Path| metric_values(run, "shipped_bytes").iter().sum::<f64>() / 1e6;
    let owned = |followers: u64| 1.0 - followers as f64 / n as f64;
    println!(
        "cluster{}: {n} samples, 4 partitions, best of 3: 1 process x 2 workers {:.0} samples/s \
         (CPU s {}), 2 processes x 1 worker {:.0} samples/s (CPU s {}), ratio {:.2} (target \
         0.80); 3 processes x 1 worker {:.0} samples/s (CPU s {}); process 0 owns {:.3} of \
         the samples with 2 processes (target 0.60), {:.3} with 3 (target 0.43); at its peak \
         it held {:.3} and {:.3} of the one-process peak, {:.3} and {:.3} of the sum of its \
         run's peaks; shipped to it {:.1} MB (2), {:.1} MB (3); same triggers and models: \
         {}",
        if drift { " (drift trigger)" } else { "" },
        rate(best[0].0),
        cpu_list(&best[0].1),
        rate(best[1].0),
        cpu_list(&best[1].1),
        rate(best[1].0) / rate(best[0].0),
        rate(ran3.wall),
        cpu_list(&ran3.cpu),
        owned(ran2.followers),
        owned(ran3.followers),
        stored_share(&two, &baseline),
        stored_share(&three, &baseline),
        run_share(&two, &ran2),
        run_share(&three, &ran3),
        shipped(&two),
        shipped(&three),
        if same { "yes" } else { "NO" }
    );
    assert!(
        same,
        "the multi-process runs differ from the one-process run"
    );
}
