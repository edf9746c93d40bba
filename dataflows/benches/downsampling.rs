//! The downsamplers' choice, each against a baseline measured in the same run:
//! - importance sampling (loss, grad_norm) and lowest-k (uncertainty) over N scores vs sorting
//!   the same scores (what a top-k by full sort costs);
//! - k-center greedy and submodular maximisation over an n × d matrix (the size of a
//!   sample-then-batch part): lazy and approximate-lazy greedy vs naive greedy (same function,
//!   same rows).
//!
//! `cargo bench -p sluice-dataflows --bench downsampling [-- <scores> <rows>]`

use std::time::Instant;

use sluice_dataflows::downsampling::{
    Greedy, Rows, Submodular, cosine_similarity, grad_match, importance, k_center_greedy, lowest,
    maximise,
};
use sluice_dataflows::route;

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1_000_000);
    let rows = args.get(1).copied().unwrap_or(2048);
    let keys: Vec<u64> = (0..n as u64).collect();
    let scores: Vec<f32> = keys
        .iter()
        .map(|&k| (route(k) % 10_000) as f32 / 1000.0 + 0.01)
        .collect();
    let k = n / 2;
    let (_, sort) = time(|| {
        let mut v = scores.clone();
        v.sort_by(f32::total_cmp);
        v
    });
    let (chosen, imp) = time(|| importance(&keys, &scores, k, 1));
    assert_eq!(chosen.len(), k);
    let (chosen, low) = time(|| lowest(&keys, &scores, k, 1));
    assert_eq!(chosen.len(), k);
    println!("downsampling: {n} scores, keep {k}");
    println!(
        "  importance (loss, grad_norm) {:>7.1} ms, lowest-k (uncertainty) {:>7.1} ms; sorting the scores {:>7.1} ms (ratios {:.2}, {:.2})",
        imp * 1e3,
        low * 1e3,
        sort * 1e3,
        imp / sort,
        low / sort
    );

    // Rows: 10 classes' last-layer gradients of a 2-D embedding, say: 10 values each.
    let d = 10;
    let values: Vec<f32> = (0..rows * d)
        .map(|i| ((route(i as u64) % 2000) as f32 / 1000.0) - 1.0)
        .collect();
    let m = Rows::new(&values, d);
    let k = rows / 10;
    let (_, kc) = time(|| k_center_greedy(m, k, 1));
    let (sim, cs) = time(|| cosine_similarity(m));
    let (picked, gm) = time(|| grad_match(m, k, 1.0));
    println!(
        "  {rows} rows x {d}, keep {k}: k-center greedy {:>7.1} ms; cosine similarities {:>7.1} ms; grad_match {:>7.1} ms ({} with a positive weight)",
        kc * 1e3,
        cs * 1e3,
        gm * 1e3,
        picked.len()
    );
    for f in [
        Submodular::FacilityLocation,
        Submodular::GraphCut,
        Submodular::LogDeterminant,
    ] {
        let (naive_set, naive) = time(|| maximise(f, Greedy::Naive, &sim, rows, k, 1));
        let (lazy_set, lazy) = time(|| maximise(f, Greedy::Lazy, &sim, rows, k, 1));
        let (_, approx) = time(|| maximise(f, Greedy::ApproximateLazy, &sim, rows, k, 1));
        let (_, stochastic) = time(|| maximise(f, Greedy::Stochastic, &sim, rows, k, 1));
        let same = naive_set.iter().filter(|i| lazy_set.contains(i)).count();
        println!(
            "  {:<17} naive {:>8.1} ms; lazy {:>7.1} ms (x{:.1} faster, {same}/{k} same), approximate lazy {:>7.1} ms (x{:.1}), stochastic {:>7.1} ms (x{:.1})",
            format!("{f:?}"),
            naive * 1e3,
            lazy * 1e3,
            naive / lazy,
            approx * 1e3,
            naive / approx,
            stochastic * 1e3,
            naive / stochastic
        );
    }
}
