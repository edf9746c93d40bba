//! Drift detection: two-sample metrics between a reference and a current window of vectors,
//! the criteria that turn their distances into decisions, and the windows themselves.
//!
//! | file | responsibility |
//! |---|---|
//! | `stats.rs` | the statistics (MMD, KS, CvM, Wasserstein, Hellinger, Euclidean) |
//! | `criterion.rs` | threshold, dynamic quantile, dynamic rolling average, p-value |
//! | `windows.rs` | reference / current windows by amount or event time |
//!
//! [`Detector`] keeps what it computed about the reference (kernel bandwidth and sums, sorted
//! columns, mean) until the reference changes, so a decision costs the current window's share;
//! a [`Summary`] of the current window computes what several metrics read only once.

mod criterion;
pub mod stats;
mod windows;

pub use criterion::{Criterion, Decider, Verdict, linear_quantile};
pub use stats::Vectors;
pub(crate) use windows::WindowContents;
pub use windows::{WindowSpec, Windows};

use std::cell::OnceCell;

use stats::MmdReference;

/// A drift metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Unbiased MMD² (Gaussian RBF); a permutation test when `permutations > 0`.
    Mmd {
        /// Permutations for the p-value (0: none).
        permutations: usize,
    },
    /// Mean per-feature Kolmogorov–Smirnov statistic; the test combines the per-feature
    /// p-values with a correction.
    Ks {
        /// Benjamini–Hochberg instead of Bonferroni.
        fdr: bool,
    },
    /// Mean per-feature Cramér–von Mises statistic.
    Cvm,
    /// Mean per-feature normalised Wasserstein distance.
    Wasserstein,
    /// Mean per-feature Hellinger distance.
    Hellinger,
    /// Euclidean distance between the mean vectors.
    Euclidean,
}

impl MetricKind {
    /// True when the metric has a hypothesis test ([`Criterion::PValue`] applies).
    pub fn has_test(&self) -> bool {
        matches!(self, MetricKind::Mmd { permutations } if *permutations > 0)
            || matches!(self, MetricKind::Ks { .. })
    }
}

/// A named metric with its decision criterion.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSpec {
    /// Name (the key under `[trigger.metrics]`).
    pub name: String,
    /// Metric.
    pub kind: MetricKind,
    /// Decision criterion.
    pub criterion: Criterion,
}

/// One metric's result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// The distance the criteria see.
    pub distance: f64,
    /// Its p-value, for metrics with a test (KS: the smallest per-feature p-value after the
    /// multiple-testing correction, so the test rejects exactly when it is below alpha).
    pub p_value: Option<f64>,
    /// The metric's own test decision at the criterion's level, if it has one.
    pub test_drift: Option<bool>,
}

/// A per-feature statistic of sorted (reference, current) columns: (distance, p-value).
type ColumnStat<'a> = &'a dyn Fn(&[f64], &[f64]) -> (f64, f64);

/// A window's vectors with what several metrics read, computed on first use: the sorted
/// columns (KS, CvM, Wasserstein, Hellinger) and the mean row (Euclidean).
pub struct Summary {
    vectors: Vectors,
    sorted: OnceCell<Vec<Vec<f64>>>,
    mean: OnceCell<Vec<f64>>,
}

impl Summary {
    /// Summarises `vectors` (nothing is computed yet).
    pub fn new(vectors: Vectors) -> Self {
        Self {
            vectors,
            sorted: OnceCell::new(),
            mean: OnceCell::new(),
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.vectors.rows()
    }

    fn sorted(&self) -> &[Vec<f64>] {
        self.sorted.get_or_init(|| {
            (0..self.vectors.dim)
                .map(|j| self.vectors.sorted_column(j))
                .collect()
        })
    }

    fn mean(&self) -> &[f64] {
        self.mean.get_or_init(|| self.vectors.mean())
    }
}

/// What a detector knows about the current reference.
struct Reference {
    summary: Summary,
    mmd: Option<MmdReference>,
}

/// Computes metrics against a cached reference.
pub struct Detector {
    reference: Option<Reference>,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

impl Detector {
    /// A detector without a reference.
    pub fn new() -> Self {
        Self { reference: None }
    }

    /// Replaces the reference (and forgets its statistics).
    pub fn set_reference(&mut self, vectors: Vectors) {
        self.reference = Some(Reference {
            summary: Summary::new(vectors),
            mmd: None,
        });
    }

    /// The reference's vectors, if one is set (what a checkpoint keeps: the statistics derived
    /// from them are recomputed, identically, on first use).
    pub(crate) fn reference(&self) -> Option<&Vectors> {
        self.reference.as_ref().map(|r| &r.summary.vectors)
    }

    /// Measures `kind` between the reference and `current`; `alpha` is the test level of a
    /// [`Criterion::PValue`] (0.05 otherwise). Needs ≥ 2 rows on each side.
    pub fn measure(
        &mut self,
        kind: &MetricKind,
        alpha: f64,
        current: &Summary,
        rng: &mut impl FnMut() -> u64,
    ) -> Measurement {
        let r = self.reference.as_mut().expect("a reference is set");
        let per_column = |r: &Reference, f: ColumnStat<'_>| {
            let (reference, cur) = (r.summary.sorted(), current.sorted());
            let mut d = 0.0;
            let mut p = Vec::with_capacity(reference.len());
            for (a, b) in reference.iter().zip(cur) {
                let (dj, pj) = f(a, b);
                d += dj;
                p.push(pj);
            }
            (d / reference.len() as f64, p)
        };
        match kind {
            MetricKind::Mmd { permutations } => {
                let x = &r.summary.vectors;
                let mmd = r.mmd.get_or_insert_with(|| MmdReference::new(x));
                let (distance, p_value) = stats::mmd2(x, mmd, &current.vectors, *permutations, rng);
                Measurement {
                    distance,
                    p_value,
                    test_drift: p_value.map(|p| p < alpha),
                }
            }
            MetricKind::Ks { fdr } => {
                let (distance, p) = per_column(r, &|a, b| stats::ks(a, b));
                Measurement {
                    distance,
                    // The corrected p-value, which the test compares with alpha.
                    p_value: Some(stats::corrected_p_value(&p, *fdr)),
                    test_drift: Some(stats::corrected_drift(&p, alpha, *fdr)),
                }
            }
            MetricKind::Cvm => plain(per_column(r, &|a, b| (stats::cvm(a, b), 0.0)).0),
            MetricKind::Wasserstein => {
                plain(per_column(r, &|a, b| (stats::wasserstein_norm(a, b), 0.0)).0)
            }
            MetricKind::Hellinger => plain(per_column(r, &|a, b| (stats::hellinger(a, b), 0.0)).0),
            MetricKind::Euclidean => {
                plain(stats::euclidean_of_means(r.summary.mean(), current.mean()))
            }
        }
    }
}

fn plain(distance: f64) -> Measurement {
    Measurement {
        distance,
        p_value: None,
        test_drift: None,
    }
}

/// How per-metric decisions combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregation {
    /// Drift when more than half of the metrics say so.
    MajorityVote,
    /// Drift when at least `n` metrics say so.
    AtLeast(usize),
}

impl Aggregation {
    /// Combines `votes` drift votes out of `total`.
    pub fn decide(&self, votes: usize, total: usize) -> bool {
        match *self {
            Aggregation::MajorityVote => 2 * votes > total,
            Aggregation::AtLeast(n) => votes >= n,
        }
    }
}
