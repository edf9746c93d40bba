//! Criteo-format click logs from a seeded click model (the real logs cannot be shipped): a label
//! (click), 13 integer features `I1..I13` as `log(1 + count)`, and 26 categorical features
//! `C1..C26` as hashed ids below 2²⁴, grouped by day, with click-through-rate drift.
//!
//! The click model: each categorical feature `j` draws its id's popularity rank from a Zipf
//! law (exponent 1.1) over a vocabulary of `vocab[j]` ids; every (feature, id) has a latent
//! effect `N(0, 0.2²)` derived from a hash, so no table is stored. The click probability is
//! `sigmoid(logit(ctr_day) + Σ_k β_k (I_k − mean) + Σ_j effect_j(id_j))`, with
//! `β_k = 0.5 sin(0.7 k)`. Drift, day by day:
//!
//! - the base CTR follows `ctr · (1 + 0.3 sin(2π day / 7))` (a weekly cycle);
//! - every `redraw_every` days the effects of the first `redrawn` categorical features are
//!   drawn anew (their ids mean something else: concept drift);
//! - the id ranks of the next `fresh` features shift by `vocab / 10` a day, so new ids become
//!   popular (new ads, new sites).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::write::Row;

/// Dense (integer) features.
pub const DENSE: usize = 13;
/// Categorical features.
pub const SPARSE: usize = 26;

/// Generator parameters.
#[derive(Clone, Debug, Serialize)]
pub struct CriteoParams {
    /// Rows to generate.
    pub rows: usize,
    /// RNG seed.
    pub seed: u64,
    /// Days the rows are spread over.
    pub days: usize,
    /// Mean click-through rate.
    pub ctr: f64,
    /// Categorical features whose effects are redrawn.
    pub redrawn: usize,
    /// Every this many days.
    pub redraw_every: usize,
    /// Categorical features whose popular ids shift daily.
    pub fresh: usize,
    /// First day, Unix ms.
    pub start_ms: u64,
}

impl Default for CriteoParams {
    fn default() -> Self {
        Self {
            rows: 70_000,
            seed: 1,
            days: 7,
            ctr: 0.25,
            redrawn: 5,
            redraw_every: 3,
            fresh: 5,
            start_ms: 1_704_067_200_000,
        }
    }
}

/// One day of the stream, as `criteo-synthetic_drift.json` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct Day {
    /// Day number.
    pub day: usize,
    /// First row (= key).
    pub first_row: usize,
    /// Base click-through rate of the day.
    pub base_ctr: f64,
    /// Generation of the redrawn features' effects (changes are concept drift).
    pub effects_generation: usize,
    /// Clicks / rows that day.
    pub observed_ctr: f64,
}

/// Vocabulary size of categorical feature `j` (from 10 to about 10⁵, as Criteo's vary).
pub fn vocab(j: usize) -> u64 {
    [
        10u64, 100_000, 500, 20_000, 50, 3_000, 80_000, 200, 7, 40_000, 1_000, 60_000, 300, 15,
        90_000, 5_000, 30, 70_000, 2_000, 4, 100, 50_000, 800, 12, 25_000, 400,
    ][j % SPARSE]
}

/// SplitMix64: a well-mixed hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The latent effect of id `id` of feature `j` in effects generation `g`: `N(0, 0.2²)` from a
/// hash (Box–Muller over two hashed uniforms).
fn effect(seed: u64, j: usize, id: u64, g: usize) -> f64 {
    let h = mix(seed ^ mix((j as u64) << 40 ^ id ^ (g as u64) << 56));
    let u1 = ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (mix(h) >> 11) as f64 / (1u64 << 53) as f64;
    0.2 * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Zipf(1.1) rank in `0..n` by inversion of the continuous approximation.
fn zipf(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    let s = 1.1f64;
    let u: f64 = rng.random();
    let max = (n as f64 + 1.0).powf(1.0 - s);
    let x = (1.0 - u * (1.0 - max)).powf(1.0 / (1.0 - s));
    (x as u64).saturating_sub(1).min(n - 1)
}

/// The stream: rows (features: 13 dense then 26 ids) and its days.
pub fn stream(p: &CriteoParams) -> (Vec<Row>, Vec<Day>) {
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let beta: Vec<f64> = (0..DENSE).map(|k| ((k as f64) * 0.7).sin() * 0.5).collect();
    let mean_count: Vec<f64> = (0..DENSE).map(|k| 2.0 + 3.0 * k as f64).collect();
    let days = p.days.max(1);
    let mut rows = Vec::with_capacity(p.rows);
    let mut out_days = Vec::new();
    for day in 0..days {
        let (first, end) = (day * p.rows / days, (day + 1) * p.rows / days);
        let base = p.ctr * (1.0 + 0.3 * (std::f64::consts::TAU * day as f64 / 7.0).sin());
        let bias = (base / (1.0 - base)).ln();
        let generation = day / p.redraw_every.max(1);
        let mut clicks = 0;
        for i in first..end {
            let mut f = Vec::with_capacity(DENSE + SPARSE);
            let mut logit = bias;
            for k in 0..DENSE {
                // A geometric count with the feature's mean.
                let q = 1.0 / (1.0 + mean_count[k]);
                let u: f64 = 1.0 - rng.random::<f64>();
                let count = (u.ln() / (1.0 - q).ln()).floor();
                let x = (1.0 + count).ln();
                logit += beta[k] * (x - (1.0 + mean_count[k]).ln());
                f.push(x as f32);
            }
            for j in 0..SPARSE {
                let n = vocab(j);
                let mut rank = zipf(&mut rng, n);
                if (p.redrawn..p.redrawn + p.fresh).contains(&j) {
                    rank = (rank + day as u64 * (n / 10).max(1)) % n;
                }
                let g = if j < p.redrawn { generation } else { 0 };
                logit += effect(p.seed, j, rank, g);
                // The id as Criteo hashes it: a 24-bit hash of (feature, value).
                let id = mix(p.seed ^ (j as u64) << 48 ^ rank) & 0xff_ffff;
                f.push(id as f32);
            }
            let click = rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp());
            clicks += click as usize;
            let offset = (i - first) as u64 * 86_400_000 / (end - first).max(1) as u64;
            rows.push(Row {
                key: i as u64,
                time: p.start_ms + day as u64 * 86_400_000 + offset / 1000 * 1000,
                label: click as i64,
                features: f,
            });
        }
        out_days.push(Day {
            day,
            first_row: first,
            base_ctr: base,
            effects_generation: generation,
            observed_ctr: clicks as f64 / (end - first).max(1) as f64,
        });
    }
    (rows, out_days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_follow_their_ctr_and_ids_fit_criteos_hashing() {
        let p = CriteoParams {
            rows: 21_000,
            ..CriteoParams::default()
        };
        let (rows, days) = stream(&p);
        assert_eq!(rows.len(), 21_000);
        assert_eq!(days.len(), 7);
        assert!(rows.iter().all(|r| r.features.len() == DENSE + SPARSE));
        // Ids are exact in f32 and below 2^24; a feature never has more ids than its vocabulary.
        for j in 0..SPARSE {
            let ids: std::collections::BTreeSet<u32> =
                rows.iter().map(|r| r.features[DENSE + j] as u32).collect();
            assert!(ids.iter().all(|&id| id < 1 << 24));
            assert!(ids.len() as u64 <= vocab(j), "feature {j}");
        }
        // The observed CTR tracks the day's base rate (latent effects add spread, not bias
        // beyond a few points) and the weekly cycle shows.
        for d in &days {
            assert!((d.observed_ctr - d.base_ctr).abs() < 0.08, "{d:?}");
        }
        let (lo, hi) = days.iter().fold((1.0f64, 0.0f64), |(a, b), d| {
            (a.min(d.observed_ctr), b.max(d.observed_ctr))
        });
        assert!(hi - lo > 0.08, "{lo} {hi}");
        assert_eq!(
            days.iter()
                .map(|d| d.effects_generation)
                .collect::<Vec<_>>(),
            [0, 0, 0, 1, 1, 1, 2]
        );
        assert!(rows.windows(2).all(|w| w[0].time <= w[1].time));
    }

    #[test]
    fn fresh_features_move_their_popular_ids_and_seeds_differ() {
        let p = CriteoParams {
            rows: 14_000,
            ..CriteoParams::default()
        };
        let (rows, _) = stream(&p);
        // Feature 6 (vocabulary 80,000) is fresh: its most frequent id differs between days.
        let top = |r: &[Row]| {
            let mut n = std::collections::HashMap::new();
            for x in r {
                *n.entry(x.features[DENSE + 6] as u32).or_insert(0) += 1;
            }
            n.into_iter().max_by_key(|e| e.1).unwrap().0
        };
        assert_ne!(top(&rows[..2000]), top(&rows[2000..4000]));
        // Feature 20 (not fresh) keeps it.
        let top20 = |r: &[Row]| {
            let mut n = std::collections::HashMap::new();
            for x in r {
                *n.entry(x.features[DENSE + 20] as u32).or_insert(0) += 1;
            }
            n.into_iter().max_by_key(|e| e.1).unwrap().0
        };
        assert_eq!(top20(&rows[..2000]), top20(&rows[2000..4000]));
        let (other, _) = stream(&CriteoParams { seed: 2, ..p });
        assert_ne!(rows[0].features, other[0].features);
    }
}
