//! Drifting Gaussian blobs: a stream with abrupt covariate drift at known points.
//!
//! `classes` classes, each a Gaussian blob (unit variance) around its own mean in `R^d`
//! (means drawn from N(0, 2²)). At each abrupt point every mean moves by `shift` in a random
//! direction, so the feature distribution changes (what a drift trigger on raw features or
//! embeddings should see) and the decision boundaries move with it. Event times as in the
//! hyperplane stream: exponential gaps rounded down to whole seconds.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::write::Row;

/// Generator parameters.
#[derive(Clone, Debug)]
pub struct BlobsParams {
    /// Rows to generate.
    pub rows: usize,
    /// RNG seed.
    pub seed: u64,
    /// Number of features.
    pub features: usize,
    /// Number of classes.
    pub classes: usize,
    /// Fractions of the stream where the means move.
    pub abrupt_at: Vec<f64>,
    /// Distance each mean moves at a drift point.
    pub shift: f64,
    /// First event time, Unix ms.
    pub start_ms: u64,
    /// Mean gap between samples, ms.
    pub mean_gap_ms: f64,
}

impl Default for BlobsParams {
    fn default() -> Self {
        Self {
            rows: 20_000,
            seed: 1,
            features: 8,
            classes: 4,
            abrupt_at: vec![0.25, 0.5, 0.75],
            shift: 2.0,
            start_ms: 1_704_067_200_000,
            mean_gap_ms: 1_500.0,
        }
    }
}

impl BlobsParams {
    /// Row indices where the means move.
    pub fn drift_rows(&self) -> Vec<usize> {
        self.abrupt_at
            .iter()
            .map(|f| (f * self.rows as f64) as usize)
            .collect()
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Iterator over generated rows.
pub struct Blobs {
    p: BlobsParams,
    rng: ChaCha8Rng,
    means: Vec<Vec<f64>>,
    drift_rows: Vec<usize>,
    i: usize,
    time: u64,
}

impl Blobs {
    /// A generator with parameters `p`.
    pub fn new(p: BlobsParams) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let means = (0..p.classes)
            .map(|_| (0..p.features).map(|_| 2.0 * normal(&mut rng)).collect())
            .collect();
        Self {
            drift_rows: p.drift_rows(),
            time: p.start_ms,
            p,
            rng,
            means,
            i: 0,
        }
    }
}

impl Iterator for Blobs {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.i >= self.p.rows {
            return None;
        }
        if self.drift_rows.contains(&self.i) {
            for m in &mut self.means {
                let dir: Vec<f64> = (0..self.p.features)
                    .map(|_| normal(&mut self.rng))
                    .collect();
                let norm = dir.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
                for (x, d) in m.iter_mut().zip(&dir) {
                    *x += self.p.shift * d / norm;
                }
            }
        }
        let label = self.rng.random_range(0..self.p.classes);
        let features = self.means[label]
            .iter()
            .map(|m| {
                let z = normal(&mut self.rng);
                ((m + z) * 1e4).round() as f32 / 1e4
            })
            .collect();
        let gap = super::whole_second_gap_ms(&mut self.rng, self.p.mean_gap_ms);
        let row = Row {
            key: self.i as u64,
            time: self.time,
            label: label as i64,
            features,
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
    fn means_move_at_the_drift_points_only() {
        let p = BlobsParams {
            rows: 4000,
            features: 3,
            classes: 1,
            abrupt_at: vec![0.5],
            ..BlobsParams::default()
        };
        let rows: Vec<Row> = Blobs::new(p).collect();
        let mean = |r: &[Row]| -> Vec<f64> {
            (0..3)
                .map(|j| r.iter().map(|x| f64::from(x.features[j])).sum::<f64>() / r.len() as f64)
                .collect()
        };
        let dist = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let (q1, q2, q3) = (
            mean(&rows[..1000]),
            mean(&rows[1000..2000]),
            mean(&rows[2000..3000]),
        );
        assert!(dist(&q1, &q2) < 0.2, "no drift inside a segment");
        assert!(
            (dist(&q2, &q3) - 2.0).abs() < 0.2,
            "the mean moves by `shift`"
        );
        assert!(rows.windows(2).all(|w| w[0].time <= w[1].time));
    }
}
