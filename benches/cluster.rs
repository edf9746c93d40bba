//! Two timely processes vs one: `sluice run` over the same topic as 1 process of 2 workers
//! (the baseline) and as 2 processes of 1 worker each (`-n 2 -p i`, samples cross a TCP
//! connection to process 0), alternating, best of 3 each. Prints samples/s of both, their
//! ratio, and whether both gave the same triggers and bitwise-identical models.
//!
//! Needs a broker: `kafka/start.sh`, then
//! `SLUICE_KAFKA=127.0.0.1:9092 cargo bench --bench cluster [-- <samples>]` (default 400,000
//! samples of the 8-feature hyperplane stream as JSON, 4 partitions; the topic is produced once
//! and reused). The pipeline is ingest-heavy on purpose: an amount trigger every 50,000, new-data
//! selection, one epoch of a small MLP.

use std::path::Path;
use std::time::{Duration, Instant};

use sluice::config::ValueFormat;

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "common/stream.rs"]
mod stream;
use common::{run_cluster, run_ok, stderr};
use stream::ensure_stream;

fn config(brokers: &str, topic: &str) -> String {
    format!(
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
    )
}

/// One run into `out`: one process of 2 workers, or 2 processes of 1; returns its wall time.
fn run(cfg: &Path, out: &Path, processes: usize) -> Duration {
    let started = Instant::now();
    if processes == 1 {
        run_ok(cfg, out, "2");
    } else {
        for (p, o) in run_cluster(&[cfg, cfg], out, "1").iter().enumerate() {
            assert!(o.status.success(), "process {p}: {}", stderr(o));
        }
    }
    started.elapsed()
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
        .unwrap_or(400_000);
    let topic = format!("bench-cluster-{n}");
    ensure_stream(&brokers, &topic, n, ValueFormat::Json);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cluster.toml");
    std::fs::write(&cfg, config(&brokers, &topic)).unwrap();
    let mut best = [Duration::MAX; 2];
    let mut same = true;
    let mut reference = None;
    for round in 0..3 {
        for (i, processes) in [1, 2].into_iter().enumerate() {
            let out = dir.path().join(format!("run-{round}-{processes}"));
            let wall = run(&cfg, &out, processes);
            println!(
                "  round {round}: {processes} process(es): {:.2} s",
                wall.as_secs_f64()
            );
            best[i] = best[i].min(wall);
            let r = results(&out);
            match &reference {
                None => reference = Some(r),
                Some(want) => same &= *want == r,
            }
        }
    }
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "cluster: {n} samples, 4 partitions, best of 3: 1 process x 2 workers {:.0} samples/s, \
         2 processes x 1 worker {:.0} samples/s, ratio {:.2}; same triggers and models: {}",
        rate(best[0]),
        rate(best[1]),
        rate(best[1]) / rate(best[0]),
        if same { "yes" } else { "NO" }
    );
    assert!(same, "the two-process runs differ from the one-process run");
}
