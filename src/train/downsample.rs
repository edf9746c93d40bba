//! Downsampling in the trainer: scoring samples with the model being trained (Modyn's remote
//! downsamplers' `inform_samples`), for the choice in `sluice_dataflows::downsampling`.
//!
//! Scores are computed in evaluation mode (batch norm uses its running statistics) without
//! autograd, except GradNorm for criteria other than cross-entropy, which differentiates the
//! per-sample losses with respect to the outputs.

use std::collections::HashMap;

use sluice_dataflows::Key;
use sluice_dataflows::downsampling::{
    Downsampling, Gradients, Method, Rows, Uncertainty, choose, choose_rows,
};
use tch::{Device, Kind, Tensor};

use super::criterion;
use super::error::TrainError;
use super::loader::BatchLoader;
use super::models::Model;
use crate::config::{Criterion, TrainingSpec};
use crate::store::SampleView;

/// RHO-Loss's irreducible loss of each sample of a training set (the loss of the model trained
/// on the holdout split; see `rho.rs`).
pub type IrreducibleLosses = HashMap<Key, f32>;

/// One score per sample (`[n]`, f32) of `logits` `[n, classes]` against labels `y` for
/// `method` (not RS2, which scores nothing).
pub fn scores(
    method: Method,
    c: Criterion,
    label_smoothing: f64,
    logits: &Tensor,
    y: &Tensor,
) -> Tensor {
    let logits = logits.detach().to_kind(Kind::Float);
    match method {
        // RHO-Loss: the training loss; the irreducible part is subtracted at the choice.
        Method::Loss | Method::RhoLoss { .. } => {
            tch::no_grad(|| criterion::loss(c, label_smoothing, &logits, y, false))
        }
        Method::GradNorm => {
            let g = last_layer_gradient(c, label_smoothing, &logits, y);
            tch::no_grad(|| g.norm_scalaropt_dim(2, [1i64].as_slice(), false))
        }
        Method::Uncertainty { metric, .. } => tch::no_grad(|| uncertainty(metric, &logits)),
        _ => unreachable!("{method:?} has no per-sample score"),
    }
}

/// ∂(per-sample loss)/∂logits `[n, classes]`: closed form `softmax − one-hot` for
/// cross-entropy without label smoothing, autograd otherwise.
fn last_layer_gradient(c: Criterion, label_smoothing: f64, logits: &Tensor, y: &Tensor) -> Tensor {
    let logits = logits.detach().to_kind(Kind::Float);
    if c == Criterion::CrossEntropy && label_smoothing == 0.0 {
        return logits.softmax(1, Kind::Float) - y.one_hot(logits.size()[1]).to_kind(Kind::Float);
    }
    let l = logits.set_requires_grad(true);
    let sum = criterion::loss(c, label_smoothing, &l, y, false).sum(Kind::Float);
    Tensor::run_backward(&[sum], &[&l], false, false).remove(0)
}

/// The rows matrix downsamplers choose from `[n, d]`: penultimate-layer embeddings
/// (k-center greedy) or last-layer gradients (submodular), from one evaluation-mode pass.
fn rows(
    method: Method,
    c: Criterion,
    label_smoothing: f64,
    model: &dyn Model,
    x: &Tensor,
    y: &Tensor,
) -> Tensor {
    let emb = tch::no_grad(|| model.embed_t(x, false));
    match method {
        Method::KCenterGreedy { .. } => emb,
        Method::Submodular { gradients, .. }
        | Method::Craig { gradients, .. }
        | Method::GradMatch { gradients, .. } => {
            let logits = tch::no_grad(|| model.classify(&emb));
            // Gradients of the batch's mean loss, as Modyn's matrix downsamplers take them
            // (GradMatch's ridge term is relative to that scale).
            let n = logits.size()[0].max(1) as f64;
            let g = last_layer_gradient(c, label_smoothing, &logits, y) / n;
            match gradients {
                Gradients::LastLayer => g,
                // The bias gradient, then the weight gradient g ⊗ embedding.
                Gradients::LastLayerWithEmbedding => tch::no_grad(|| {
                    let w = (g.unsqueeze(2) * emb.unsqueeze(1)).flatten(1, -1);
                    Tensor::cat(&[g, w], 1)
                }),
            }
        }
        _ => unreachable!("{method:?} chooses from scores"),
    }
}

/// What a downsampler chose from, on the host.
#[derive(Default)]
struct Measured {
    /// A score per sample, or a row of `d` values per sample.
    values: Vec<f32>,
    d: usize,
    /// Labels, when the choice is per label.
    labels: Vec<i64>,
}

impl Measured {
    /// Appends one batch's measures (its labels when `method` chooses per label).
    fn add(
        &mut self,
        method: Method,
        t: &TrainingSpec,
        model: &dyn Model,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<(), TrainError> {
        let m = if method.needs_rows() {
            let r = rows(method, t.criterion, t.label_smoothing, model, x, y);
            self.d = r.size()[1] as usize;
            r.flatten(0, -1)
        } else {
            let logits = tch::no_grad(|| model.forward_t(x, false));
            self.d = 1;
            scores(method, t.criterion, t.label_smoothing, &logits, y)
        };
        self.values.extend(Vec::<f32>::try_from(
            &m.to_device(Device::Cpu).to_kind(Kind::Float),
        )?);
        if method.needs_labels() {
            self.labels
                .extend(Vec::<i64>::try_from(&y.to_device(Device::Cpu))?);
        }
        Ok(())
    }

    /// The choice among `keys` (in the order measured): indices and weights. RHO-Loss
    /// chooses by training loss minus `irreducible` loss.
    fn choose(
        &self,
        d: &Downsampling,
        keys: &[Key],
        seed: u64,
        irreducible: Option<&IrreducibleLosses>,
    ) -> Vec<(usize, f32)> {
        let zeros;
        let labels = if d.method.needs_labels() {
            &self.labels
        } else {
            zeros = vec![0; keys.len()];
            &zeros
        };
        if d.method.needs_rows() {
            choose_rows(
                d,
                keys,
                labels,
                Rows::new(&self.values, self.d.max(1)),
                seed,
            )
        } else if let (Method::RhoLoss { .. }, Some(il)) = (d.method, irreducible) {
            let reducible: Vec<f32> = keys
                .iter()
                .zip(&self.values)
                .map(|(k, &loss)| loss - il.get(k).copied().unwrap_or(0.0))
                .collect();
            choose(d, keys, labels, &reducible, seed)
        } else {
            choose(d, keys, labels, &self.values, seed)
        }
    }
}

/// Batch-then-sample: measures one batch and chooses from it.
#[allow(clippy::too_many_arguments)]
pub fn choose_in_batch(
    d: &Downsampling,
    t: &TrainingSpec,
    model: &dyn Model,
    x: &Tensor,
    y: &Tensor,
    keys: &[Key],
    seed: u64,
    irreducible: Option<&IrreducibleLosses>,
) -> Result<Vec<(usize, f32)>, TrainError> {
    let mut m = Measured::default();
    m.add(d.method, t, model, x, y)?;
    Ok(m.choose(d, keys, seed, irreducible))
}

/// Modyn's uncertainty scores (lower = more uncertain).
fn uncertainty(metric: Uncertainty, logits: &Tensor) -> Tensor {
    let classes = logits.size()[1];
    let probs = || {
        if classes == 1 {
            let p = logits.sigmoid();
            Tensor::cat(&[1.0 - &p, p], 1)
        } else {
            logits.softmax(1, Kind::Float)
        }
    };
    match metric {
        Uncertainty::LeastConfidence if classes == 1 => logits.abs().squeeze_dim(1),
        Uncertainty::LeastConfidence => logits.amax([1i64].as_slice(), false),
        Uncertainty::Entropy => {
            let p = probs();
            ((&p + 1e-6).log() * &p).sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        }
        Uncertainty::Margin => {
            let (top, _) = probs().topk(2, 1, true, true);
            top.select(1, 0) - top.select(1, 1)
        }
    }
}

/// Scores kept across epochs and triggers (`rescore_after`): a sample's latest score and the
/// trainer epoch it was computed in, from a scoring pass or from the forward pass that trained
/// it. A choice reuses scores younger than `rescore_after` epochs and scores only the rest:
/// scores are kept incrementally instead of recomputed over the whole set every period.
/// A score belongs to the version of its key it was computed on: a key whose sample the set
/// reads at another time (a correction under `duplicates = "keep_last"`, a new value after a
/// deletion) is scored again ([`sync_versions`](Self::sync_versions)).
#[derive(Debug, Default)]
pub struct ScoreCache {
    scores: HashMap<Key, (f32, u64)>,
    /// The event time of the version each key's score was computed on.
    versions: HashMap<Key, u64>,
    /// Epochs trained so far (over all triggers): the age unit.
    epoch: u64,
}

impl ScoreCache {
    /// A training set reads the samples at `positions`: scores of another version of their
    /// keys go, and the versions are noted for the scores recorded from now on.
    pub fn sync_versions(&mut self, positions: &[sluice_dataflows::Position]) {
        for p in positions {
            match self.versions.insert(p.key, p.time) {
                Some(t) if t != p.time => {
                    self.scores.remove(&p.key);
                }
                _ => {}
            }
        }
        // Versions of keys whose scores aged out are not needed any more.
        if self.versions.len() > 2 * self.scores.len() + positions.len() {
            let scores = &self.scores;
            let set: std::collections::HashSet<Key> = positions.iter().map(|p| p.key).collect();
            self.versions
                .retain(|k, _| scores.contains_key(k) || set.contains(k));
        }
    }

    /// Counts one more trained epoch.
    pub fn next_epoch(&mut self) {
        self.epoch += 1;
    }

    /// Records scores computed now (from training).
    pub fn record(&mut self, keys: &[Key], scores: &[f32]) {
        let now = self.epoch;
        self.scores
            .extend(keys.iter().zip(scores).map(|(&k, &s)| (k, (s, now))));
    }

    /// Samples held (each ~32 bytes with the map's overhead).
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether a score of `key` is held.
    pub fn holds(&self, key: Key) -> bool {
        self.scores.contains_key(&key)
    }

    /// Whether no score is held.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

/// Each of `keys`' loss under `model` with `t`'s criterion (evaluation mode), in order.
pub(super) fn losses(
    model: &dyn Model,
    t: &TrainingSpec,
    store: &SampleView,
    keys: &[Key],
    device: Device,
) -> Result<Vec<f32>, TrainError> {
    Ok(measure_all(Method::Loss, model, t, store, keys, device)?.values)
}

/// Measures `keys` with `model` for `method` in one pass in batches of `t.batch_size`
/// (evaluation mode): a score (or row) per key, in order.
fn measure_all(
    method: Method,
    model: &dyn Model,
    t: &TrainingSpec,
    store: &SampleView,
    keys: &[Key],
    device: Device,
) -> Result<Measured, TrainError> {
    let mut loader = BatchLoader::start(store.clone(), keys.to_vec(), t.batch_size, 4, device)?;
    let mut m = Measured::default();
    while let Some(batch) = loader.next_batch() {
        let batch = batch?;
        m.add(method, t, model, &batch.x, &batch.y)?;
    }
    Ok(m)
}

/// Chosen keys and their weights, in the set's order.
pub type ChosenSet = (Vec<Key>, Vec<f32>);

/// Sample-then-batch: measures `keys` with `model` and returns the chosen keys with their
/// weights, in the order of `keys`, and how many samples it scored. With a `cache`
/// (`rescore_after`, score-based methods), scores younger than `rescore_after` epochs are
/// reused and only the others computed.
#[allow(clippy::too_many_arguments)]
pub fn choose_set(
    d: &Downsampling,
    model: &dyn Model,
    t: &TrainingSpec,
    store: &SampleView,
    keys: &[Key],
    device: Device,
    seed: u64,
    cache: Option<&mut ScoreCache>,
    irreducible: Option<&IrreducibleLosses>,
) -> Result<(ChosenSet, u64), TrainError> {
    let (mut chosen, scored) = match (cache, d.rescore_after) {
        (Some(cache), Some(after)) if d.method.has_score() => {
            let now = cache.epoch;
            // Scores too old for any later choice go.
            cache.scores.retain(|_, (_, at)| now - *at < after);
            let stale: Vec<Key> = keys
                .iter()
                .copied()
                .filter(|k| !cache.scores.contains_key(k))
                .collect();
            let fresh = measure_all(d.method, model, t, store, &stale, device)?;
            cache.record(&stale, &fresh.values);
            let mut m = Measured {
                values: keys.iter().map(|k| cache.scores[k].0).collect(),
                d: 1,
                labels: Vec::new(),
            };
            if d.method.needs_labels() {
                store.labels(keys, &mut m.labels)?;
            }
            (m.choose(d, keys, seed, irreducible), stale.len())
        }
        _ => {
            let m = measure_all(d.method, model, t, store, keys, device)?;
            (m.choose(d, keys, seed, irreducible), keys.len())
        }
    };
    // Train in the set's order (the epoch shuffles it); weights follow their samples.
    chosen.sort_unstable_by_key(|c| c.0);
    let set = chosen.into_iter().map(|(i, w)| (keys[i], w)).unzip();
    Ok((set, scored as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_version_of_a_key_drops_its_cached_score() {
        let at = |key, time| sluice_dataflows::Position { time, key };
        let mut c = ScoreCache::default();
        c.sync_versions(&[at(1, 10), at(2, 10), at(3, 12)]);
        c.record(&[1, 2, 3], &[0.5, 0.7, 0.9]);
        // Key 1 corrected at time 20, key 3 unchanged, key 2 not in this set.
        c.sync_versions(&[at(1, 20), at(3, 12)]);
        assert!(!c.holds(1), "scored on the old version");
        assert!(c.holds(2) && c.holds(3));
        c.record(&[1], &[0.1]);
        c.sync_versions(&[at(1, 20), at(2, 10)]);
        assert!(c.holds(1) && c.holds(2));
        // A new value after a deletion, back at another time, is another version too.
        c.sync_versions(&[at(2, 30)]);
        assert!(!c.holds(2));
    }

    fn close(t: &Tensor, want: &[f64]) {
        let got = Vec::<f64>::try_from(&t.to_kind(Kind::Double)).unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?} != {want:?}");
        }
    }

    #[test]
    fn scores_follow_modyns_definitions() {
        let logits = Tensor::from_slice(&[2.0f32, 0.0, -1.0, 1.0, 1.0, 1.0]).view([2, 3]);
        let y = Tensor::from_slice(&[0i64, 2]);
        let sm = |row: [f64; 3]| {
            let z: f64 = row.iter().map(|v| v.exp()).sum();
            row.map(|v| v.exp() / z)
        };
        let (p0, p1) = (sm([2.0, 0.0, -1.0]), sm([1.0, 1.0, 1.0]));
        let ce = Criterion::CrossEntropy;
        close(
            &scores(Method::Loss, ce, 0.0, &logits, &y),
            &[-p0[0].ln(), -p1[2].ln()],
        );
        // ‖softmax − one-hot‖₂, and the same through autograd for MSE's own gradient.
        let norm = |p: [f64; 3], t: usize| {
            p.iter()
                .enumerate()
                .map(|(i, v)| (v - if i == t { 1.0 } else { 0.0 }).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        close(
            &scores(Method::GradNorm, ce, 0.0, &logits, &y),
            &[norm(p0, 0), norm(p1, 2)],
        );
        // MSE per sample = mean over 3 outputs of (x − onehot)²: gradient 2(x − onehot)/3.
        let mse = |x: [f64; 3], t: usize| {
            x.iter()
                .enumerate()
                .map(|(i, v)| (2.0 * (v - if i == t { 1.0 } else { 0.0 }) / 3.0).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        close(
            &scores(Method::GradNorm, Criterion::Mse, 0.0, &logits, &y),
            &[mse([2.0, 0.0, -1.0], 0), mse([1.0, 1.0, 1.0], 2)],
        );
        let u = |metric| Method::Uncertainty {
            metric,
            balance: false,
        };
        close(
            &scores(u(Uncertainty::LeastConfidence), ce, 0.0, &logits, &y),
            &[2.0, 1.0],
        );
        let negent = |p: [f64; 3]| p.iter().map(|v| v * (v + 1e-6).ln()).sum::<f64>();
        close(
            &scores(u(Uncertainty::Entropy), ce, 0.0, &logits, &y),
            &[negent(p0), negent(p1)],
        );
        close(
            &scores(u(Uncertainty::Margin), ce, 0.0, &logits, &y),
            &[p0[0] - p0[1], 0.0],
        );
        // One output (binary): |logit| for least confidence, sigmoid pair for the others.
        let one = Tensor::from_slice(&[-3.0f32, 0.5]).view([2, 1]);
        close(
            &scores(u(Uncertainty::LeastConfidence), ce, 0.0, &one, &y),
            &[3.0, 0.5],
        );
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        close(
            &scores(u(Uncertainty::Margin), ce, 0.0, &one, &y),
            &[(1.0 - 2.0 * s(-3.0)).abs(), (2.0 * s(0.5) - 1.0).abs()],
        );
    }
}
