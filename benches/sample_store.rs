//! The trainer's reads from the sample store: gathering shuffled batches of keys when every
//! payload is in memory (the baseline, same run) vs when most are spilled to disk
//! (`selection.maximum_keys_in_memory`; reads served by the page cache after the first pass),
//! and vs a store where every 10th key has a second, later version (`duplicates =
//! "keep_last"`) read as of a boundary before it (the side map of older versions). Also
//! inserting with and without spilling, and adding those versions.
//!
//! `cargo bench --bench sample_store [-- <samples> <features>]`

use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use sluice::store::SampleStore;
use sluice_dataflows::Position;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1_000_000);
    let dim = args.get(1).copied().unwrap_or(16);
    let rows: Vec<f32> = (0..n * dim).map(|i| (i % 997) as f32).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let fill = |store: &SampleStore| -> Duration {
        let start = Instant::now();
        for part in (0..n as u64).collect::<Vec<_>>().chunks(4096) {
            let rejected = store.insert_from(part.iter().map(|&k| {
                let i = k as usize;
                let at = Position { time: k, key: k };
                (
                    at,
                    (k % 10) as i64,
                    &rows[i * dim..(i + 1) * dim],
                    (0, k as i64),
                )
            }));
            assert!(rejected.is_empty());
        }
        start.elapsed()
    };
    let memory = SampleStore::new(dim, 2);
    let spilled = SampleStore::new(dim, 2).spilling(n / 10, dir.path());
    let versioned = SampleStore::new(dim, 2);
    let (fill_mem, fill_spill) = (fill(&memory), fill(&spilled));
    fill(&versioned);
    let start = Instant::now();
    for k in (0..n as u64).step_by(10) {
        let i = k as usize;
        let at = Position {
            time: n as u64 + k,
            key: k,
        };
        let row = &rows[i * dim..(i + 1) * dim];
        versioned
            .add_version(at, 1, row, (0, k as i64))
            .expect("a second version");
    }
    let add_versions = start.elapsed();
    let mut keys: Vec<u64> = (0..n as u64).collect();
    keys.shuffle(&mut ChaCha8Rng::seed_from_u64(1));
    let newest = Position {
        time: u64::MAX,
        key: u64::MAX,
    };
    let gather = |store: &SampleStore, as_of: Position| -> Duration {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            for batch in keys.chunks(256) {
                x.clear();
                y.clear();
                store.gather(batch, as_of, &mut x, &mut y).expect("stored");
            }
            best = best.min(start.elapsed());
        }
        best
    };
    let (g_mem, g_spill) = (gather(&memory, newest), gather(&spilled, newest));
    // Before every second version: a tenth of the reads go to the older versions.
    let before_second = Position {
        time: n as u64 - 1,
        key: u64::MAX,
    };
    let g_versions = gather(&versioned, before_second);
    let rate = |d: Duration| n as f64 / d.as_secs_f64() / 1e6;
    println!(
        "sample store, {n} samples x {dim} features, 2 shards; spilled: {} of {n} on disk",
        n - spilled.in_memory()
    );
    println!(
        "  insert: in memory {:.2} M/s, spilling {:.2} M/s, ratio {:.2}",
        rate(fill_mem),
        rate(fill_spill),
        fill_spill.as_secs_f64() / fill_mem.as_secs_f64()
    );
    println!(
        "  gather shuffled batches of 256 (best of 3): in memory {:.2} M samples/s, spilled {:.2} M samples/s, ratio {:.2}",
        rate(g_mem),
        rate(g_spill),
        g_spill.as_secs_f64() / g_mem.as_secs_f64()
    );
    println!(
        "  versions (every 10th key twice): add {:.2} M/s; gather as of before the second {:.2} M samples/s, ratio {:.2} to in memory",
        n as f64 / 10.0 / add_versions.as_secs_f64() / 1e6,
        rate(g_versions),
        g_versions.as_secs_f64() / g_mem.as_secs_f64()
    );
}
