//! The rotating hyperplane (Hulten, Spencer, Domingos, KDD 2001; as in MOA's
//! `HyperplaneGenerator`), with abrupt concept changes added.
//!
//! Features `x ∈ [0,1]^d` uniform; label 1 iff `Σ w_i x_i ≥ ½ Σ w_i`, so classes are balanced.
//! Gradual drift: every sample each weight moves by `magnitude` in its direction, and each
//! direction reverses with probability `reverse_prob` every 1,000 samples. Abrupt drift: at the
//! given fractions of the stream the weights are redrawn. Labels flip with probability `noise`.
//! Event times start at `start_ms` with exponential gaps (mean `mean_gap_ms`) rounded down to
//! whole seconds, so several samples often share a timestamp.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::write::Row;

/// Generator parameters.
#[derive(Clone, Debug)]
pub struct HyperplaneParams {
    /// Rows to generate (training and held-out together).
    pub rows: usize,
    /// RNG seed.
    pub seed: u64,
    /// Number of features.
    pub features: usize,
    /// Weight change per sample.
    pub magnitude: f64,
    /// Probability that a weight's direction reverses, checked every 1,000 samples.
    pub reverse_prob: f64,
    /// Fractions of the stream where weights are redrawn.
    pub abrupt_at: Vec<f64>,
    /// Label noise.
    pub noise: f64,
    /// First event time, Unix ms.
    pub start_ms: u64,
    /// Mean gap between samples, ms.
    pub mean_gap_ms: f64,
    /// Every `test_every`-th row goes to the held-out split.
    pub test_every: usize,
}

impl Default for HyperplaneParams {
    fn default() -> Self {
        Self {
            rows: 25_000,
            seed: 1,
            features: 8,
            magnitude: 1e-4,
            reverse_prob: 0.1,
            abrupt_at: vec![0.4, 0.7],
            noise: 0.05,
            start_ms: 1_704_067_200_000, // 2024-01-01T00:00:00Z
            mean_gap_ms: 1_500.0,
            test_every: 5,
        }
    }
}

/// Iterator over generated rows.
pub struct Hyperplane {
    p: HyperplaneParams,
    rng: ChaCha8Rng,
    w: Vec<f64>,
    dir: Vec<f64>,
    i: usize,
    time: u64,
    abrupt_rows: Vec<usize>,
}

impl Hyperplane {
    /// A generator with parameters `p`.
    pub fn new(p: HyperplaneParams) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let w = (0..p.features).map(|_| rng.random::<f64>()).collect();
        let dir = (0..p.features)
            .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
            .collect();
        let abrupt_rows = p
            .abrupt_at
            .iter()
            .map(|f| (f * p.rows as f64) as usize)
            .collect();
        Self {
            time: p.start_ms,
            p,
            rng,
            w,
            dir,
            i: 0,
            abrupt_rows,
        }
    }
}

impl Iterator for Hyperplane {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.i >= self.p.rows {
            return None;
        }
        if self.abrupt_rows.contains(&self.i) {
            for w in &mut self.w {
                *w = self.rng.random::<f64>();
            }
        }
        if self.i > 0 && self.i.is_multiple_of(1000) {
            for d in &mut self.dir {
                if self.rng.random::<f64>() < self.p.reverse_prob {
                    *d = -*d;
                }
            }
        }
        let x: Vec<f32> = (0..self.p.features)
            .map(|_| (self.rng.random::<f64>() * 1e4).round() as f32 / 1e4)
            .collect();
        let sum_w: f64 = self.w.iter().sum();
        let dot: f64 = self.w.iter().zip(&x).map(|(w, x)| w * *x as f64).sum();
        let mut label = (dot >= 0.5 * sum_w) as i64;
        if self.rng.random::<f64>() < self.p.noise {
            label = 1 - label;
        }
        for (w, d) in self.w.iter_mut().zip(&self.dir) {
            *w = (*w + d * self.p.magnitude).clamp(0.0, 1.0);
        }
        let gap = super::whole_second_gap_ms(&mut self.rng, self.p.mean_gap_ms);
        let row = Row {
            key: self.i as u64,
            time: self.time,
            label,
            features: x,
        };
        self.time += gap;
        self.i += 1;
        Some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_balanced_and_tied_times() {
        let p = HyperplaneParams {
            rows: 5_000,
            ..Default::default()
        };
        let a: Vec<Row> = Hyperplane::new(p.clone()).collect();
        let b: Vec<Row> = Hyperplane::new(p).collect();
        assert_eq!(a, b, "same seed, same rows");
        let ones = a.iter().filter(|r| r.label == 1).count();
        assert!((2_000..3_000).contains(&ones), "classes balanced: {ones}");
        assert!(a.windows(2).all(|w| w[0].time <= w[1].time), "time-ordered");
        let ties = a.windows(2).filter(|w| w[0].time == w[1].time).count();
        assert!(ties > 500, "many shared timestamps: {ties}");
        let other: Vec<Row> = Hyperplane::new(HyperplaneParams {
            rows: 5_000,
            seed: 2,
            ..Default::default()
        })
        .collect();
        assert_ne!(a, other);
    }

    #[test]
    fn abrupt_change_redraws_the_concept() {
        // Without noise and gradual drift, the labelling rule is fixed between changes: fit
        // the rule of the first segment and see it break after the change.
        let p = HyperplaneParams {
            rows: 4_000,
            noise: 0.0,
            magnitude: 0.0,
            abrupt_at: vec![0.5],
            ..Default::default()
        };
        let rows: Vec<Row> = Hyperplane::new(p.clone()).collect();
        let mut g = Hyperplane::new(p);
        let w0 = g.w.clone();
        let rule = |r: &Row| {
            let s: f64 = w0.iter().sum();
            let d: f64 = w0.iter().zip(&r.features).map(|(w, x)| w * *x as f64).sum();
            (d >= 0.5 * s) as i64
        };
        let agree =
            |rs: &[Row]| rs.iter().filter(|r| rule(r) == r.label).count() as f64 / rs.len() as f64;
        assert_eq!(agree(&rows[..2_000]), 1.0);
        assert!(agree(&rows[2_000..]) < 0.95, "concept changed");
        g.next();
    }
}
