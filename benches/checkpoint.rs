//! Checkpoint cost per trigger: writing `trigger-<k>.ckpt` (JSON body, FNV-1a hash, header,
//! temporary file, fsync, rename, pruning to the newest 3) and reading it back on resume, for a
//! pipeline whose selection holds 10k / 100k / 1M samples (all-data `new_data`: the worst case,
//! every sample stays selectable). Baseline in the same run: serialising the same checkpoint to
//! JSON in memory, which any checkpoint must do. The ratio is write / serialise; the rest is
//! hashing, the header and the file system (fsync dominates on small states).
//!
//! `cargo bench --bench checkpoint [-- <largest held count>]` (default 1,000,000).

use std::collections::BTreeMap;
use std::time::Instant;

use sluice::pipeline::checkpoint::{self, Checkpoint, OperatorState};
use sluice_dataflows::selection::{NewData, SelectionPolicy};
use sluice_dataflows::{Position, SampleMeta, TriggerEvent};

/// The checkpoint of trigger 9 of a run that selected all of `n` samples over 10 triggers.
fn checkpoint(n: u64) -> Checkpoint {
    let mut pool = NewData::tail(None);
    let mut out = Vec::new();
    let every = n / 10;
    for k in 0..10 {
        for key in k * every..(k + 1) * every {
            pool.add(SampleMeta {
                time: 1_700_000_000_000 + key * 7,
                key,
                label: (key % 10) as i64,
            });
        }
        let last = (k + 1) * every - 1;
        let boundary = Position {
            time: 1_700_000_000_000 + last * 7,
            key: last,
        };
        out.clear();
        pool.select(
            &TriggerEvent {
                id: k,
                first: boundary,
                boundary,
                samples: every,
                reason: "amount".into(),
                details: Vec::new(),
            },
            &mut out,
        );
    }
    let mut held = Vec::new();
    pool.held_positions(&mut held);
    held.sort();
    Checkpoint {
        pipeline: "bench".into(),
        topic: "bench".into(),
        config_hash: "0".into(),
        trigger_id: 9,
        boundary: *held.last().unwrap(),
        model_id: Some("bench-0009".into()),
        offsets: BTreeMap::from([(0, n as i64 / 2), (1, n as i64 / 2)]),
        replay_from: BTreeMap::from([(0, 0), (1, 0)]),
        state: OperatorState {
            trigger: serde_json::json!({"count": 0}),
            trigger_horizon: None,
            selection: vec![pool.save()],
            sampler: serde_json::Value::Null,
            held,
            moments: None,
        },
        models: (0..10).map(|i| format!("bench-{i:04}")).collect(),
        published: BTreeMap::new(),
        tally: Default::default(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let largest: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    // On the disk the run directories use (`target/`), not a tmpfs.
    let dir = tempfile::tempdir_in("target").unwrap();
    println!("checkpoint: all-data selection, median of 5; ratio = write / serialise (same run)");
    println!(
        "{:>10} {:>10} {:>14} {:>10} {:>10} {:>7}",
        "held", "bytes", "serialise ms", "write ms", "read ms", "ratio"
    );
    let mut n = 10_000;
    while n <= largest {
        let cp = checkpoint(n);
        let (mut ser, mut write, mut read, mut bytes) = (Vec::new(), Vec::new(), Vec::new(), 0);
        for _ in 0..5 {
            let t = Instant::now();
            let body = serde_json::to_vec(&cp).unwrap();
            ser.push(t.elapsed().as_secs_f64() * 1e3);
            bytes = body.len();
            let t = Instant::now();
            let path = checkpoint::write(dir.path(), &cp).unwrap();
            write.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let back = checkpoint::read(&path).unwrap();
            read.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(back, cp);
        }
        let (s, w, r) = (median(ser), median(write), median(read));
        println!(
            "{n:>10} {bytes:>10} {s:>14.2} {w:>10.2} {r:>10.2} {:>7.2}",
            w / s
        );
        n *= 10;
    }
}
