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
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice::config::{KafkaCluster, TimeUnit, ValueFormat};
use sluice::source::kafka::{ProduceOptions, admin, produce};

const PARTITIONS: i32 = 4;

fn config(brokers: &str, topic: &str) -> String {
    format!(
        r#"[pipeline]
name = "bench-cluster"

[source]
kind = "kafka"
brokers = "{brokers}"
topic = "{topic}"
create_topic = false
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

/// Produces `n` stream rows to `topic` unless it exists.
fn ensure_topic(brokers: &str, topic: &str, n: usize) {
    let cluster = KafkaCluster::plain(brokers);
    if admin::topic_partitions(&cluster, topic).unwrap().is_some() {
        return;
    }
    // The generator puts every 5th row in the held-out split.
    let rows = sluice::datasets::rows("hyperplane", Some(n * 5 / 4)).unwrap();
    let r = produce(
        rows,
        &ProduceOptions {
            cluster,
            topic: topic.into(),
            partitions: PARTITIONS,
            rate: None,
            format: ValueFormat::Json,
            batch_rows: 1000,
            key_column: Some("key".into()),
            time_column: "time".into(),
            time_unit: TimeUnit::Ms,
            progress: false,
        },
    )
    .unwrap();
    println!(
        "produced {} messages to {topic} in {:.1} s",
        r.messages,
        r.elapsed.as_secs_f64()
    );
}

fn sluice(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .args(["--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn check(child: Child, what: &str) -> String {
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// One run into `out`: one process of 2 workers, or 2 processes of 1; returns its wall time.
fn run(cfg: &Path, out: &Path, processes: usize) -> Duration {
    let (cfg, out) = (cfg.to_str().unwrap(), out.to_str().unwrap());
    let started = Instant::now();
    if processes == 1 {
        check(sluice(&["run", cfg, "--out", out, "-w", "2"]), "1 process");
    } else {
        let hosts = out.to_string() + ".hosts";
        let ports: Vec<std::net::TcpListener> = (0..2)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let lines: String = ports
            .iter()
            .map(|l| format!("{}\n", l.local_addr().unwrap()))
            .collect();
        drop(ports);
        std::fs::write(&hosts, lines).unwrap();
        // Process 0 first: it listens, and process 1 connects (a failed attempt costs timely
        // a second before it retries).
        let leader = sluice(&[
            "run",
            cfg,
            "--out",
            out,
            "-w",
            "1",
            "-n",
            "2",
            "-p",
            "0",
            "--hostfile",
            &hosts,
        ]);
        let follower = sluice(&[
            "run",
            cfg,
            "-w",
            "1",
            "-n",
            "2",
            "-p",
            "1",
            "--hostfile",
            &hosts,
        ]);
        check(leader, "process 0");
        check(follower, "process 1");
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
    ensure_topic(&brokers, &topic, n);
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
