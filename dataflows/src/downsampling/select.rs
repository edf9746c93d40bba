//! Which of a set of scored samples to train on, and with which weights: the `select_points` of
//! Modyn's remote downsamplers (`modyn/trainer_server/internal/trainer/remote_downsamplers/`).
//! Pure functions over scores; the trainer computes the scores (from the model's outputs) and
//! calls these once per scored set: a whole training set (sample-then-batch) or one batch
//! (batch-then-sample).
//!
//! Randomness comes from hashing (seed, key), so a selection depends only on the seed and the
//! samples, not on the order they were scored in.

use super::matrix::{
    GRAD_MATCH_ROWS, Greedy, MAX_ROWS, Rows, Submodular, cosine_similarity, craig_similarity,
    craig_weights, grad_match, k_center_greedy, maximise,
};
use crate::sample::{Key, route};

/// A downsampler and its parameters (`[selection.downsampling]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Downsampling {
    /// How samples are scored and chosen.
    pub method: Method,
    /// Keep `ratio / ratio_max` of the scored samples (at least one).
    pub ratio: u64,
    /// See `ratio`.
    pub ratio_max: u64,
    /// Sample-then-batch: score the whole training set, then train on the chosen part
    /// (re-chosen every `period` epochs). Otherwise batch-then-sample: score each batch, keep
    /// `ratio` of it, and accumulate the kept parts back to `batch_size`.
    pub sample_then_batch: bool,
    /// Sample-then-batch: choose again every `period` epochs (0: once per trigger).
    pub period: u64,
    /// Sample-then-batch: reuse a sample's score until it is this many trainer epochs old
    /// (scores also come from the forward passes that train); `None` rescores every sample at
    /// every choice, as Modyn does.
    pub rescore_after: Option<u64>,
}

/// Which downsampler each trigger uses: none during the first `from` triggers
/// (`warmup_triggers`), then `list[i]` once `i` of the `thresholds` (counted in triggers after the
/// warm-up) are reached, as Modyn's `DownsamplingScheduler` switches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownsamplingPlan {
    /// Triggers before this one train on their whole set.
    pub from: u64,
    /// The downsamplers in order; one more than `thresholds`.
    pub list: Vec<Downsampling>,
    /// Increasing: `list[i + 1]` takes over at trigger `from + thresholds[i]`.
    pub thresholds: Vec<u64>,
}

impl DownsamplingPlan {
    /// One downsampler for every trigger after `from`.
    pub fn single(d: Downsampling, from: u64) -> Self {
        Self {
            from,
            list: vec![d],
            thresholds: Vec::new(),
        }
    }

    /// The downsampler of `trigger`, if any.
    pub fn at(&self, trigger: u64) -> Option<&Downsampling> {
        self.list.get(self.index_at(trigger)?)
    }

    /// The index in `list` of `trigger`'s downsampler, if any.
    pub fn index_at(&self, trigger: u64) -> Option<usize> {
        let after = trigger.checked_sub(self.from)?;
        Some(self.thresholds.iter().filter(|&&t| after >= t).count())
    }
}

/// Downsampling methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Per-sample loss; sampled without replacement with p ∝ loss, weight `1 / (N p)`.
    Loss,
    /// Norm of the loss gradient w.r.t. the outputs (closed form for cross-entropy); sampled
    /// like `Loss`.
    GradNorm,
    /// The `ratio` most uncertain samples, weight 1; with `balance`, per label.
    Uncertainty {
        /// The uncertainty score.
        metric: Uncertainty,
        /// Choose per label (each label keeps `ratio` of its samples).
        balance: bool,
    },
    /// k-center greedy over the penultimate layer's embeddings (weight 1); with `balance`, per
    /// label.
    KCenterGreedy {
        /// Choose per label.
        balance: bool,
    },
    /// Submodular maximisation over last-layer gradients' similarities (weight 1).
    Submodular {
        /// The set function.
        function: Submodular,
        /// The greedy maximiser.
        greedy: Greedy,
        /// Which gradients form the rows.
        gradients: Gradients,
        /// Choose per label.
        balance: bool,
    },
    /// CRAIG (Mirzasoleiman et al.): facility location over each label's last-layer gradients
    /// with similarity `max distance − distance` (samples of different labels: 0); a chosen
    /// sample weighs 1 + the number of samples closest to it.
    Craig {
        /// The greedy maximiser.
        greedy: Greedy,
        /// Which gradients form the rows.
        gradients: Gradients,
        /// Choose per label (each keeps its share).
        balance: bool,
    },
    /// GradMatch: orthogonal matching pursuit on last-layer gradients towards their mean, with
    /// non-negative weights (fewer than `ratio` when weights come out 0).
    GradMatch {
        /// Which gradients form the rows.
        gradients: Gradients,
        /// Choose per label (each keeps its share).
        balance: bool,
    },
    /// RHO-Loss (Mindermann et al. 2022): the `ratio` samples with the highest reducible loss,
    /// training loss minus irreducible loss (the loss of a model trained on a holdout split of
    /// the trigger's samples), weight 1. The trainer trains the irreducible-loss model and
    /// subtracts its losses before [`choose`].
    RhoLoss {
        /// `holdout_ratio / holdout_ratio_max` of the trigger's new samples train the
        /// irreducible-loss model ([`in_holdout`]).
        holdout_ratio: u64,
        /// See `holdout_ratio`.
        holdout_ratio_max: u64,
        /// Twin: a second model trains on the rest; each sample's irreducible loss comes from
        /// the model that did not train on it.
        twin: bool,
    },
    /// Repeated random sampling: a fresh uniform subset every epoch; without replacement, the
    /// epochs cycle through disjoint subsets of a shuffle. No forward pass. Sample-then-batch
    /// with period 1 only.
    Rs2 {
        /// Draw each epoch's subset independently.
        with_replacement: bool,
    },
}

/// The per-sample gradient rows of matrix downsamplers (Modyn's `full_grad_approximation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gradients {
    /// ∂loss/∂outputs (`softmax − onehot` for cross-entropy).
    LastLayer,
    /// ∂loss/∂outputs and its outer product with the embedding (the last layer's bias and
    /// weight gradients).
    LastLayerWithEmbedding,
}

/// Uncertainty scores, as Modyn computes them; lower = more uncertain = chosen first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uncertainty {
    /// The largest output (logit); `|output|` for a single output.
    LeastConfidence,
    /// Σ p log p (the negative entropy) of the softmax.
    Entropy,
    /// The softmax's top probability minus the second.
    Margin,
}

impl Method {
    /// Whether the method chooses by one score per sample (which `rescore_after` can keep).
    pub fn has_score(&self) -> bool {
        matches!(
            self,
            Method::Loss | Method::GradNorm | Method::Uncertainty { .. } | Method::RhoLoss { .. }
        )
    }

    /// Whether the method chooses from a row per sample ([`choose_rows`]) rather than a score.
    pub fn needs_rows(&self) -> bool {
        matches!(
            self,
            Method::KCenterGreedy { .. }
                | Method::Submodular { .. }
                | Method::Craig { .. }
                | Method::GradMatch { .. }
        )
    }

    /// Whether the choice reads labels (per-label choices, and CRAIG's similarities).
    pub fn needs_labels(&self) -> bool {
        self.balance() || matches!(self, Method::Craig { .. })
    }

    /// Whether the choice is made per label.
    pub fn balance(&self) -> bool {
        matches!(
            self,
            Method::Uncertainty { balance: true, .. }
                | Method::KCenterGreedy { balance: true }
                | Method::Submodular { balance: true, .. }
                | Method::Craig { balance: true, .. }
                | Method::GradMatch { balance: true, .. }
        )
    }
}

/// How many of `n` samples `ratio / ratio_max` keeps: at least one of a non-empty set.
pub fn target_size(n: usize, ratio: u64, ratio_max: u64) -> usize {
    if n == 0 {
        return 0;
    }
    ((ratio as u128 * n as u128 / ratio_max.max(1) as u128) as usize).clamp(1, n)
}

/// A uniform value in (0, 1] for `key` under `seed`.
fn unit(seed: u64, key: Key) -> f64 {
    ((route(seed ^ route(key)) >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

/// Importance sampling (Loss, GradNorm): `k` of the samples (in no particular order) without
/// replacement, each draw with probability ∝ its score (Efraimidis–Spirakis keys `u^(1/p)`, the distribution of
/// `torch.multinomial(p, k, replacement=False)`), each weighted `1 / (N p)`. Returns indices
/// into `keys`/`scores` and weights. Scores that are not positive and finite are never drawn
/// while enough others are; a set without any positive score is drawn uniformly.
pub fn importance(keys: &[Key], scores: &[f32], k: usize, seed: u64) -> Vec<(usize, f32)> {
    assert_eq!(keys.len(), scores.len());
    let n = keys.len();
    let k = k.min(n);
    let usable = |s: f32| s.is_finite() && s > 0.0;
    let total: f64 = scores
        .iter()
        .filter(|s| usable(**s))
        .map(|&s| s as f64)
        .sum();
    if total <= 0.0 || !total.is_finite() {
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by_key(|&i| route(seed ^ route(keys[i])));
        return idx.into_iter().take(k).map(|i| (i, 1.0)).collect();
    }
    // (p > 0, ln(u) / p): larger is drawn first; samples with p = 0 after all others, in
    // random order.
    let mut order: Vec<((bool, f64), usize)> = (0..n)
        .map(|i| {
            let u = unit(seed, keys[i]).ln();
            let rank = if usable(scores[i]) {
                (true, u / (scores[i] as f64 / total))
            } else {
                (false, u)
            };
            (rank, i)
        })
        .collect();
    let first = |a: &((bool, f64), usize), b: &((bool, f64), usize)| {
        b.0.0.cmp(&a.0.0).then(b.0.1.total_cmp(&a.0.1))
    };
    if k < n {
        order.select_nth_unstable_by(k, first);
        order.truncate(k);
    }
    let smallest = scores
        .iter()
        .filter(|s| usable(**s))
        .fold(f32::INFINITY, |m, &s| m.min(s)) as f64
        / total;
    order
        .into_iter()
        .map(|(_, i)| {
            let p = if usable(scores[i]) {
                scores[i] as f64 / total
            } else {
                smallest
            };
            (i, (1.0 / (n as f64 * p)) as f32)
        })
        .collect()
}

/// The `k` lowest scores (Modyn's `argsort(scores)[:k]`), weight 1, in no particular order;
/// ties by key hash. NaN scores count as highest.
pub fn lowest(keys: &[Key], scores: &[f32], k: usize, seed: u64) -> Vec<(usize, f32)> {
    assert_eq!(keys.len(), scores.len());
    let mut order: Vec<(f32, u64, usize)> = (0..keys.len())
        .map(|i| {
            let s = if scores[i].is_nan() {
                f32::INFINITY
            } else {
                scores[i]
            };
            (s, route(seed ^ route(keys[i])), i)
        })
        .collect();
    let k = k.min(order.len());
    let cmp =
        |a: &(f32, u64, usize), b: &(f32, u64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if k < order.len() {
        order.select_nth_unstable_by(k, cmp);
        order.truncate(k);
    }
    order.into_iter().map(|(_, _, i)| (i, 1.0)).collect()
}

/// The `k` highest scores, weight 1, in no particular order; ties by key hash. NaN scores are
/// never chosen while others are.
pub fn highest(keys: &[Key], scores: &[f32], k: usize, seed: u64) -> Vec<(usize, f32)> {
    let negated: Vec<f32> = scores.iter().map(|&s| -s).collect();
    lowest(keys, &negated, k, seed)
}

/// Whether `key` belongs to the holdout split of RHO-Loss: `ratio / ratio_max` of the keys,
/// by a hash of (seed, key), so the split does not depend on the order or number of workers.
pub fn in_holdout(seed: u64, key: Key, ratio: u64, ratio_max: u64) -> bool {
    unit(seed ^ 0x4840_4C44, key) <= ratio as f64 / ratio_max.max(1) as f64
}

/// Chooses `ratio` of the scored samples with `method` (not RS2, which chooses per epoch:
/// [`Rs2`]). Returns indices into the inputs and weights, in selection order.
pub fn choose(
    d: &Downsampling,
    keys: &[Key],
    labels: &[i64],
    scores: &[f32],
    seed: u64,
) -> Vec<(usize, f32)> {
    let pick = |idx: &[usize]| -> Vec<(usize, f32)> {
        let k = target_size(idx.len(), d.ratio, d.ratio_max);
        let ks: Vec<Key> = idx.iter().map(|&i| keys[i]).collect();
        let ss: Vec<f32> = idx.iter().map(|&i| scores[i]).collect();
        let chosen = match d.method {
            Method::Loss | Method::GradNorm => importance(&ks, &ss, k, seed),
            Method::Uncertainty { .. } => lowest(&ks, &ss, k, seed),
            // The scores are reducible losses (the trainer subtracted the irreducible ones).
            Method::RhoLoss { .. } => highest(&ks, &ss, k, seed),
            _ => unreachable!("{:?} does not choose by score", d.method),
        };
        chosen.into_iter().map(|(j, w)| (idx[j], w)).collect()
    };
    per_label(d.method.balance(), labels, pick)
}

/// Runs `pick` on all indices, or on each label's indices with `balance`.
fn per_label(
    balance: bool,
    labels: &[i64],
    mut pick: impl FnMut(&[usize]) -> Vec<(usize, f32)>,
) -> Vec<(usize, f32)> {
    if !balance {
        return pick(&(0..labels.len()).collect::<Vec<_>>());
    }
    let mut by_label: Vec<(i64, usize)> = labels.iter().enumerate().map(|(i, &l)| (l, i)).collect();
    by_label.sort_unstable();
    let mut out = Vec::new();
    for class in by_label.chunk_by(|a, b| a.0 == b.0) {
        let idx: Vec<usize> = class.iter().map(|&(_, i)| i).collect();
        out.extend(pick(&idx));
    }
    out
}

/// Chooses `ratio` of the samples from their rows (`rows`, one per key; k-center greedy or
/// submodular). Sets of more than [`MAX_ROWS`] samples (per label with `balance`) are cut into
/// parts by key hash, each keeping its share. Returns indices and weights (1).
pub fn choose_rows(
    d: &Downsampling,
    keys: &[Key],
    labels: &[i64],
    rows: Rows<'_>,
    seed: u64,
) -> Vec<(usize, f32)> {
    assert_eq!(rows.n(), keys.len());
    let pick_part = |idx: &[usize]| -> Vec<(usize, f32)> {
        let k = target_size(idx.len(), d.ratio, d.ratio_max);
        let mut values = Vec::with_capacity(idx.len() * rows.d);
        for &i in idx {
            values.extend_from_slice(&rows.values[i * rows.d..(i + 1) * rows.d]);
        }
        let part = Rows::new(&values, rows.d);
        let local = match d.method {
            Method::KCenterGreedy { .. } => k_center_greedy(part, k, seed),
            Method::Submodular {
                function, greedy, ..
            } => {
                let sim = cosine_similarity(part);
                maximise(function, greedy, &sim, idx.len(), k, seed)
            }
            Method::GradMatch { .. } => {
                return grad_match(part, k, 1.0)
                    .into_iter()
                    .map(|(j, w)| (idx[j], w))
                    .collect();
            }
            Method::Craig { greedy, .. } => {
                let part_labels: Vec<i64> = idx.iter().map(|&i| labels[i]).collect();
                let sim = craig_similarity(part, &part_labels);
                let chosen = maximise(
                    Submodular::FacilityLocation,
                    greedy,
                    &sim,
                    idx.len(),
                    k,
                    seed,
                );
                let weights = craig_weights(&sim, idx.len(), &chosen);
                return chosen
                    .into_iter()
                    .zip(weights)
                    .map(|(j, w)| (idx[j], w))
                    .collect();
            }
            _ => unreachable!("{:?} does not choose from rows", d.method),
        };
        local.into_iter().map(|j| (idx[j], 1.0)).collect()
    };
    let max_rows = match d.method {
        Method::GradMatch { .. } => GRAD_MATCH_ROWS,
        _ => MAX_ROWS,
    };
    per_label(d.method.balance(), labels, |idx| {
        if idx.len() <= max_rows {
            return pick_part(idx);
        }
        let mut shuffled = idx.to_vec();
        shuffled.sort_by_key(|&i| route(seed ^ route(keys[i])));
        let parts = shuffled.len().div_ceil(max_rows);
        let per = shuffled.len().div_ceil(parts);
        shuffled.chunks(per).flat_map(pick_part).collect()
    })
}

/// RS2's state across the epochs of one trigger's training.
#[derive(Clone, Debug)]
pub struct Rs2 {
    with_replacement: bool,
    seed: u64,
    /// Shuffles drawn so far (without replacement: one per cycle through the subsets).
    round: u64,
    /// The next subset of the current shuffle.
    next: usize,
}

impl Rs2 {
    /// RS2 for one trigger.
    pub fn new(with_replacement: bool, seed: u64) -> Self {
        Self {
            with_replacement,
            seed,
            round: 0,
            next: 0,
        }
    }

    /// The indices (into `keys`) of the next epoch's subset of `k` samples. With replacement
    /// every epoch shuffles afresh; without, consecutive epochs take disjoint slices of one
    /// shuffle until fewer than `k` remain, then shuffle again (Modyn's `_epoch_step_no_r`).
    pub fn epoch(&mut self, keys: &[Key], k: usize) -> Vec<usize> {
        let k = k.min(keys.len());
        let subsets = keys.len().checked_div(k).unwrap_or(0);
        if subsets == 0 {
            return Vec::new();
        }
        if self.with_replacement || self.next >= subsets {
            self.round += 1;
            self.next = 0;
        }
        let salt = route(self.seed ^ route(self.round));
        let mut idx: Vec<usize> = (0..keys.len()).collect();
        idx.sort_by_key(|&i| route(salt ^ route(keys[i])));
        let out = idx[self.next * k..(self.next + 1) * k].to_vec();
        self.next += 1;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_switches_after_warmup_at_its_thresholds() {
        let d = |ratio| Downsampling {
            method: Method::Loss,
            ratio,
            ratio_max: 100,
            sample_then_batch: true,
            period: 1,
            rescore_after: None,
        };
        let plan = DownsamplingPlan {
            from: 2,
            list: vec![d(10), d(20), d(30)],
            thresholds: vec![3, 5],
        };
        let ratios: Vec<Option<u64>> = (0..10).map(|t| plan.at(t).map(|d| d.ratio)).collect();
        // Triggers 0, 1: warm-up; 2..=4: the first (after < 3); 5, 6: the second; then the third.
        assert_eq!(
            ratios,
            [
                None,
                None,
                Some(10),
                Some(10),
                Some(10),
                Some(20),
                Some(20),
                Some(30),
                Some(30),
                Some(30)
            ]
        );
        assert_eq!(
            DownsamplingPlan::single(d(50), 0).at(0).map(|d| d.ratio),
            Some(50)
        );
    }

    #[test]
    fn target_sizes_round_down_but_keep_one() {
        assert_eq!(target_size(100, 50, 100), 50);
        assert_eq!(target_size(7, 50, 100), 3);
        assert_eq!(target_size(3, 1, 100), 1);
        assert_eq!(target_size(0, 50, 100), 0);
        assert_eq!(target_size(10, 500, 1000), 5);
    }

    #[test]
    fn importance_draws_high_scores_more_often_with_inverse_weights() {
        // Sample 0 has score 10, the others 1: p0 = 10/19.
        let keys: Vec<Key> = (0..10).collect();
        let mut scores = vec![1.0f32; 10];
        scores[0] = 10.0;
        let mut hits = [0u32; 10];
        let trials = 4000;
        for seed in 0..trials {
            let chosen = importance(&keys, &scores, 1, seed);
            assert_eq!(chosen.len(), 1);
            let (i, w) = chosen[0];
            hits[i] += 1;
            let p = scores[i] as f64 / 19.0;
            assert!((w as f64 - 1.0 / (10.0 * p)).abs() < 1e-6);
        }
        let f0 = hits[0] as f64 / trials as f64;
        assert!((f0 - 10.0 / 19.0).abs() < 0.03, "{f0}");
        // The estimator Σ w f / N of a mean is unbiased: f = score here, mean 1.9.
        let mut est = 0.0;
        for seed in 0..trials {
            for (i, w) in importance(&keys, &scores, 1, seed) {
                est += w as f64 * scores[i] as f64;
            }
        }
        assert!(
            (est / trials as f64 - 1.9).abs() < 0.05,
            "{}",
            est / trials as f64
        );
    }

    #[test]
    fn importance_is_without_replacement_and_handles_zero_scores() {
        let keys: Vec<Key> = (100..120).collect();
        let scores: Vec<f32> = (0..20)
            .map(|i| if i < 5 { 0.0 } else { i as f32 })
            .collect();
        let chosen = importance(&keys, &scores, 15, 3);
        let mut idx: Vec<usize> = chosen.iter().map(|c| c.0).collect();
        idx.sort_unstable();
        idx.dedup();
        assert_eq!(idx.len(), 15);
        assert!(
            idx.iter().all(|&i| i >= 5),
            "zero scores come last: {idx:?}"
        );
        // More than the positive ones: zero scores fill up, weighted like the smallest.
        let all = importance(&keys, &scores, 18, 3);
        assert_eq!(all.len(), 18);
        let total: f64 = (5..20).map(|i| i as f64).sum();
        for (i, w) in &all {
            let p = if *i < 5 { 5.0 } else { *i as f64 } / total;
            assert!((*w as f64 - 1.0 / (20.0 * p)).abs() < 1e-4);
        }
        // No positive score: uniform, weight 1.
        let none = importance(&keys, &[0.0; 20], 4, 3);
        assert_eq!(none.len(), 4);
        assert!(none.iter().all(|c| c.1 == 1.0));
        // Deterministic for a seed, different across seeds.
        assert_eq!(
            importance(&keys, &scores, 5, 9),
            importance(&keys, &scores, 5, 9)
        );
        assert_ne!(
            importance(&keys, &scores, 5, 9),
            importance(&keys, &scores, 5, 10)
        );
    }

    fn uncertainty(balance: bool) -> Downsampling {
        Downsampling {
            method: Method::Uncertainty {
                metric: Uncertainty::Margin,
                balance,
            },
            ratio: 50,
            ratio_max: 100,
            sample_then_batch: true,
            period: 1,
            rescore_after: None,
        }
    }

    #[test]
    fn uncertainty_keeps_the_lowest_scores_overall_or_per_label() {
        let keys: Vec<Key> = (0..8).collect();
        let labels = [0, 0, 0, 0, 1, 1, 1, 1];
        let scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, f32::NAN];
        let mut all: Vec<usize> = choose(&uncertainty(false), &keys, &labels, &scores, 1)
            .into_iter()
            .map(|c| c.0)
            .collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3]);
        let mut per: Vec<usize> = choose(&uncertainty(true), &keys, &labels, &scores, 1)
            .into_iter()
            .map(|c| c.0)
            .collect();
        per.sort_unstable();
        assert_eq!(per, [0, 1, 4, 5]);
    }

    #[test]
    fn rho_loss_keeps_the_highest_reducible_losses() {
        let d = Downsampling {
            method: Method::RhoLoss {
                holdout_ratio: 30,
                holdout_ratio_max: 100,
                twin: false,
            },
            ratio: 25,
            ratio_max: 100,
            sample_then_batch: false,
            period: 1,
            rescore_after: None,
        };
        let keys: Vec<Key> = (0..8).collect();
        // Reducible losses; the NaN one is never chosen.
        let scores = [0.5, -1.0, 3.0, f32::NAN, 2.0, 0.0, 1.0, -0.5];
        let mut got = choose(&d, &keys, &[0; 8], &scores, 7);
        got.sort_unstable_by_key(|c| c.0);
        assert_eq!(got, [(2, 1.0), (4, 1.0)]);
    }

    #[test]
    fn holdout_split_takes_its_ratio_by_key_hash() {
        let n = 20_000u64;
        let held = (0..n).filter(|&k| in_holdout(5, k, 30, 100)).count() as f64;
        assert!((held / n as f64 - 0.3).abs() < 0.015, "{held}");
        // Deterministic per (seed, key); another seed splits differently.
        let split = |seed| -> Vec<bool> { (0..64).map(|k| in_holdout(seed, k, 1, 2)).collect() };
        assert_eq!(split(5), split(5));
        assert_ne!(split(5), split(6));
        assert!((0..100).all(|k| in_holdout(1, k, 100, 100)));
    }

    #[test]
    fn rs2_without_replacement_cycles_through_disjoint_subsets() {
        let keys: Vec<Key> = (0..10).collect();
        let mut r = Rs2::new(false, 5);
        let (a, b, c) = (r.epoch(&keys, 4), r.epoch(&keys, 4), r.epoch(&keys, 4));
        assert_eq!((a.len(), b.len(), c.len()), (4, 4, 4));
        assert!(a.iter().all(|i| !b.contains(i)), "{a:?} {b:?}");
        // Two subsets of 4 fit in 10: the third epoch starts a new shuffle.
        assert_ne!(c, a);
        let mut w = Rs2::new(true, 5);
        let (x, y) = (w.epoch(&keys, 4), w.epoch(&keys, 4));
        assert_ne!(x, y, "with replacement every epoch draws afresh");
        assert!(Rs2::new(false, 1).epoch(&[], 3).is_empty());
    }
}
