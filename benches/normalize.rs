//! `[model] normalize = "running"`: the cost of keeping the stream's feature statistics.
//!
//! 1. `Moments::add_rows` (exact fixed-point sums, what each worker does per stored sample)
//!    against the baseline a float scaler runs, per-feature f64 sum and sum of squares, on the
//!    same rows in the same run.
//! 2. The whole pipeline: `sluice run` on an 800,000-row hyperplane file, 2 workers, an amount
//!    trigger every 200,000, a small MLP for one epoch, with `normalize = "none"` and
//!    `"running"` alternately; medians of wall time and of the ingest stage from
//!    `summary.json`, and their ratio.
//!
//! `cargo bench --bench normalize [-- <rounds>]`

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sluice_dataflows::moments::Moments;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn micro(rounds: usize) {
    let (n, dim) = (1_000_000usize, 16usize);
    let rows: Vec<f32> = (0..n * dim)
        .map(|i| ((i * 7919) % 1000) as f32 * 0.37 - 120.0)
        .collect();
    let (mut exact, mut float) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        let mut m = Moments::default();
        for chunk in rows.chunks(dim * 1024) {
            m.add_rows(chunk, dim);
        }
        std::hint::black_box(&m);
        exact.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let (mut sum, mut squares) = (vec![0f64; dim], vec![0f64; dim]);
        for row in rows.chunks_exact(dim) {
            for ((x, s), q) in row.iter().zip(&mut sum).zip(&mut squares) {
                let x = *x as f64;
                *s += x;
                *q += x * x;
            }
        }
        std::hint::black_box((&sum, &squares));
        float.push(start.elapsed().as_secs_f64());
    }
    let (e, f) = (median(exact), median(float));
    println!(
        "moments, {n} samples x {dim} features: exact {:.1} ns/sample ({:.2} M samples/s), f64 baseline {:.1} ns/sample; ratio {:.2}",
        e * 1e9 / n as f64,
        n as f64 / e / 1e6,
        f * 1e9 / n as f64,
        e / f
    );
}

fn sluice(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("sluice runs");
    assert!(
        o.status.success(),
        "sluice {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn pipeline(rounds: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().to_str().unwrap();
    sluice(&[
        "datasets",
        "prepare",
        "hyperplane",
        "--rows",
        "1000000",
        "--out",
        d,
    ]);
    let config = |normalize: &str| {
        format!(
            r#"
[pipeline]
name = "bench"
[source]
path = "hyperplane.csv"
key_column = "key"
time_column = "time"
label_column = "label"
[model]
id = "mlp"
hidden = [8]
num_classes = 2
normalize = "{normalize}"
[training]
batch_size = 256
epochs_per_trigger = 1
[training.optimizer]
algorithm = "adam"
lr = 0.01
[trigger]
id = "amount"
every = 200000
"#
        )
    };
    let run = |name: &str| -> (f64, f64) {
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(&cfg, config(name)).unwrap();
        let out = dir.path().join(name);
        let _ = std::fs::remove_dir_all(&out);
        sluice(&[
            "run",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-w",
            "2",
            "-q",
        ]);
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(Path::new(&out).join("summary.json")).unwrap())
                .unwrap();
        (
            s["wall_s"].as_f64().unwrap(),
            s["cost"]["ingest_s"].as_f64().unwrap(),
        )
    };
    let (mut none, mut running) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        none.push(run("none"));
        running.push(run("running"));
    }
    let wall = |v: &[(f64, f64)]| median(v.iter().map(|r| r.0).collect());
    let ingest = |v: &[(f64, f64)]| median(v.iter().map(|r| r.1).collect());
    println!(
        "pipeline, 800k samples, 2 workers, {rounds} rounds: wall {:.2} s none, {:.2} s running (ratio {:.2}); ingest stage {:.2} s, {:.2} s",
        wall(&none),
        wall(&running),
        wall(&running) / wall(&none),
        ingest(&none),
        ingest(&running)
    );
}

fn main() {
    let rounds = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    micro(rounds);
    pipeline(rounds);
}
