//! Score bookkeeping: per-sample score updates through `KeepScores` (exchange by key, latest
//! score per key) on 1 and 2 workers, in batches as the trainer sends them, against a baseline
//! measured in the same run: the same updates applied to one `KeyMap` on one thread.
//! Target (DESIGN.md): ≥ 1M updates/s per worker.
//!
//! `cargo bench -p sluice-dataflows --bench score_updates [-- <updates> <keys>]`
//! (default 4,000,000 updates over 1,000,000 keys).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluice_dataflows::downsampling::{KeepScores, Score, record};
use sluice_dataflows::{KeyMap, SampleScore, route};
use timely::dataflow::operators::vec::Input;

fn updates(n: usize, keys: u64) -> Vec<SampleScore> {
    (0..n as u64)
        .map(|i| SampleScore {
            key: route(i) % keys,
            trigger: i / keys,
            loss: (i % 1000) as f32 / 1000.0,
        })
        .collect()
}

fn baseline(u: &[SampleScore]) -> (Duration, usize) {
    let start = Instant::now();
    let mut board: KeyMap<Score> = KeyMap::default();
    for s in u {
        record(&mut board, s);
    }
    (start.elapsed(), board.len())
}

fn dataflow(u: Arc<Vec<SampleScore>>, workers: usize) -> (Duration, usize) {
    let kept = Arc::new(AtomicUsize::new(0));
    let k = kept.clone();
    let start = Instant::now();
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let (mut input, board) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, scores) = scope.new_input::<SampleScore>();
            (input, scores.keep_scores())
        });
        // Each worker feeds a share, in trainer-sized batches of 4096, one step per batch.
        for (i, batch) in u.chunks(4096).enumerate() {
            if i % peers == index {
                for s in batch {
                    input.send(*s);
                }
                worker.step();
            }
        }
        drop(input);
        while worker.step() {}
        k.fetch_add(board.borrow().len(), Ordering::Relaxed);
    })
    .unwrap();
    (start.elapsed(), kept.load(Ordering::Relaxed))
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(4_000_000);
    let keys = args.get(1).copied().unwrap_or(1_000_000) as u64;
    let u = Arc::new(updates(n, keys));
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let (_, distinct) = baseline(&u);
    let base = median((0..3).map(|_| baseline(&u).0).collect());
    println!("score_updates: {n} updates over {keys} keys, median of 3");
    println!(
        "  baseline (one KeyMap, 1 thread): {:>11.0} updates/s",
        rate(base)
    );
    for workers in [1, 2] {
        let d = median(
            (0..3)
                .map(|_| {
                    let (d, kept) = dataflow(u.clone(), workers);
                    assert_eq!(kept, distinct, "every key kept once, on its owner");
                    d
                })
                .collect(),
        );
        println!(
            "  dataflow, {workers} worker(s):       {:>11.0} updates/s ({:.0} per worker), ratio to baseline {:.3}",
            rate(d),
            rate(d) / workers as f64,
            base.as_secs_f64() / d.as_secs_f64()
        );
    }
}
