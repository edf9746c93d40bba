//! Metrics over a model's outputs on held-out data. Decomposable ones (accuracy, top-n, F1,
//! log-loss, MSE, MAE) accumulate per batch, so evaluation streams over the data in fixed-size
//! batches; ROC-AUC is holistic and keeps every sample's scores. Definitions follow
//! scikit-learn's (checked against golden values it computed: tests/golden/metrics.py).

use tch::{Device, Kind, Tensor};

use super::holdout::Holdout;
use crate::config::{F1Average, Metric};
use crate::train::models::Model;

/// One metric's state over the batches seen so far.
#[derive(Clone, Debug, PartialEq)]
pub struct Accumulator {
    metric: Metric,
    classes: usize,
    samples: u64,
    /// Accuracy: correct; log-loss, MSE, MAE: the sum of per-sample values.
    sum: f64,
    /// F1: per class true positives, false positives, false negatives.
    confusion: Vec<[u64; 3]>,
    /// ROC-AUC: softmax probabilities (`classes` per sample) and labels.
    probs: Vec<f64>,
    labels: Vec<i64>,
}

/// The largest value of a row and the sum of `exp(v - max)` over it (softmax's normaliser).
fn softmax_parts(row: &[f32]) -> (f64, f64) {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let total = row.iter().map(|&v| (v as f64 - max).exp()).sum();
    (max, total)
}

/// The first index of the largest value.
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// Area under the ROC curve of `scores` for the `positive` samples (Mann–Whitney U, ties
/// counted half); `None` without both positives and negatives.
fn auc(scores: impl Iterator<Item = f64>, positive: impl Iterator<Item = bool>) -> Option<f64> {
    // Sorted (score, positive) pairs: one pass of comparisons on contiguous data.
    let mut pairs: Vec<(f64, bool)> = scores.zip(positive).collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        // Ranks i+1..=j+1 share their mean.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += rank * pairs[i..=j].iter().filter(|p| p.1).count() as f64;
        i = j + 1;
    }
    let pos = pairs.iter().filter(|p| p.1).count() as f64;
    let neg = pairs.len() as f64 - pos;
    (pos > 0.0 && neg > 0.0).then(|| (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

impl Accumulator {
    /// An empty accumulator of `metric` for a model with `classes` outputs.
    pub fn new(metric: Metric, classes: usize) -> Self {
        Self {
            metric,
            classes,
            samples: 0,
            sum: 0.0,
            confusion: vec![
                [0; 3];
                if matches!(metric, Metric::F1(_)) {
                    classes
                } else {
                    0
                }
            ],
            probs: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Samples seen.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Adds a batch: `outputs` row-major, `classes` per sample, and the labels.
    pub fn update(&mut self, outputs: &[f32], labels: &[i64]) {
        let c = self.classes;
        assert_eq!(
            outputs.len(),
            labels.len() * c,
            "one row of outputs per label"
        );
        for (row, &label) in outputs.chunks_exact(c).zip(labels) {
            match self.metric {
                Metric::Accuracy(n) => {
                    let truth = row.get(label as usize).copied().unwrap_or(f32::NAN);
                    // Correct when fewer than n outputs beat the true class's.
                    if truth.is_finite() && row.iter().filter(|&&v| v > truth).count() < n {
                        self.sum += 1.0;
                    }
                }
                Metric::F1(_) => {
                    let pred = argmax(row);
                    if pred as i64 == label {
                        self.confusion[pred][0] += 1;
                    } else {
                        self.confusion[pred][1] += 1;
                        if let Some(t) = self.confusion.get_mut(label as usize) {
                            t[2] += 1;
                        }
                    }
                }
                Metric::RocAuc => {
                    let (max, total) = softmax_parts(row);
                    self.probs
                        .extend(row.iter().map(|&v| (v as f64 - max).exp() / total));
                    self.labels.push(label);
                }
                Metric::LogLoss => {
                    let (max, total) = softmax_parts(row);
                    let p = row
                        .get(label as usize)
                        .map_or(0.0, |&v| (v as f64 - max).exp() / total)
                        .clamp(f64::EPSILON, 1.0 - f64::EPSILON);
                    self.sum -= p.ln();
                }
                Metric::Mse => self.sum += (row[0] as f64 - label as f64).powi(2),
                Metric::Mae => self.sum += (row[0] as f64 - label as f64).abs(),
            }
        }
        self.samples += labels.len() as u64;
    }

    /// Adds `other`'s samples (the same metric and classes).
    pub fn merge(&mut self, other: &Accumulator) {
        debug_assert_eq!((self.metric, self.classes), (other.metric, other.classes));
        self.samples += other.samples;
        self.sum += other.sum;
        for (a, b) in self.confusion.iter_mut().zip(&other.confusion) {
            for i in 0..3 {
                a[i] += b[i];
            }
        }
        self.probs.extend_from_slice(&other.probs);
        self.labels.extend_from_slice(&other.labels);
    }

    /// Adds samples with `labels` that no model scored, as chance: a uniform guess over the
    /// classes (accuracy: right with probability n/classes for top-n; ROC-AUC: the same
    /// score for each, tied with one another; log-loss: ln classes). Returns false for the
    /// metrics without such a value (F1, MSE, MAE), which are left unchanged.
    pub fn add_chance(&mut self, labels: &[i64]) -> bool {
        let c = self.classes;
        let n = labels.len() as f64;
        match self.metric {
            Metric::Accuracy(top) => self.sum += n * top.min(c) as f64 / c as f64,
            Metric::RocAuc => {
                self.probs
                    .extend(std::iter::repeat_n(1.0 / c as f64, labels.len() * c));
                self.labels.extend_from_slice(labels);
            }
            Metric::LogLoss => self.sum += n * (c as f64).ln(),
            Metric::F1(_) | Metric::Mse | Metric::Mae => return false,
        }
        self.samples += labels.len() as u64;
        true
    }

    /// The metric's value, `None` before any sample (and for ROC-AUC without both classes).
    pub fn value(&self) -> Option<f64> {
        if self.samples == 0 {
            return None;
        }
        let n = self.samples as f64;
        match self.metric {
            Metric::Accuracy(_) | Metric::LogLoss | Metric::Mse | Metric::Mae => Some(self.sum / n),
            Metric::F1(average) => Some(self.f1(average)),
            Metric::RocAuc => self.roc_auc(),
        }
    }

    fn f1(&self, average: F1Average) -> f64 {
        let f1 = |[tp, fp, fn_]: [u64; 3]| {
            let d = 2 * tp + fp + fn_;
            if d == 0 {
                0.0
            } else {
                2.0 * tp as f64 / d as f64
            }
        };
        match average {
            F1Average::Binary => self.confusion.get(1).map_or(0.0, |c| f1(*c)),
            F1Average::Micro => f1(self
                .confusion
                .iter()
                .fold([0; 3], |a, c| [a[0] + c[0], a[1] + c[1], a[2] + c[2]])),
            F1Average::Macro => {
                let present: Vec<f64> = self
                    .confusion
                    .iter()
                    .filter(|c| c.iter().sum::<u64>() > 0)
                    .map(|c| f1(*c))
                    .collect();
                present.iter().sum::<f64>() / present.len().max(1) as f64
            }
            F1Average::Weighted => {
                let support: u64 = self.confusion.iter().map(|c| c[0] + c[2]).sum();
                self.confusion
                    .iter()
                    .map(|c| f1(*c) * (c[0] + c[2]) as f64)
                    .sum::<f64>()
                    / support.max(1) as f64
            }
        }
    }

    fn roc_auc(&self) -> Option<f64> {
        let c = self.classes;
        let column = |k: usize| self.probs.iter().skip(k).step_by(c).copied();
        if c == 2 {
            return auc(column(1), self.labels.iter().map(|&l| l == 1));
        }
        // One class against the rest, averaged over the classes with both kinds of samples.
        let per: Vec<f64> = (0..c)
            .filter_map(|k| auc(column(k), self.labels.iter().map(|&l| l == k as i64)))
            .collect();
        (!per.is_empty()).then(|| per.iter().sum::<f64>() / per.len() as f64)
    }
}

/// Evaluates `model` on held-out samples `r` in batches of `batch_size`: one accumulator per
/// metric, in order.
pub fn evaluate(
    model: &dyn Model,
    holdout: &Holdout,
    r: std::ops::Range<usize>,
    batch_size: usize,
    device: Device,
    metrics: &[Metric],
    classes: usize,
) -> Vec<Accumulator> {
    let mut acc: Vec<Accumulator> = metrics
        .iter()
        .map(|&m| Accumulator::new(m, classes))
        .collect();
    let _guard = tch::no_grad_guard();
    let mut start = r.start;
    while start < r.end {
        let end = (start + batch_size).min(r.end);
        let xs = Tensor::from_slice(holdout.features(start..end))
            .view([(end - start) as i64, holdout.dim() as i64])
            .to_device(device);
        let out = model
            .forward_t(&xs, false)
            .to_kind(Kind::Float)
            .to_device(Device::Cpu);
        let out: Vec<f32> = Vec::<f32>::try_from(&out.flatten(0, -1)).expect("f32 outputs");
        for a in &mut acc {
            a.update(&out, holdout.labels(start..end));
        }
        start = end;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_top_n_and_names_round_trip() {
        let mut a = Accumulator::new(Metric::Accuracy(1), 3);
        assert_eq!(a.value(), None);
        a.update(&[0.1, 0.9, 0.0, 2.0, 1.0, 0.5], &[1, 1]);
        assert_eq!(a.value(), Some(0.5));
        let mut top2 = Accumulator::new(Metric::Accuracy(2), 3);
        top2.update(&[0.1, 0.9, 0.0, 2.0, 1.0, 0.5], &[1, 1]);
        assert_eq!(top2.value(), Some(1.0));
        for name in [
            "accuracy",
            "top3_accuracy",
            "f1_macro",
            "f1_binary",
            "roc_auc",
            "log_loss",
            "mse",
        ] {
            assert_eq!(Metric::parse(name).unwrap().to_string(), name);
        }
        assert!(Metric::parse("top0_accuracy").is_err());
        assert!(Metric::parse("precision").unwrap_err().contains("f1_macro"));
        assert!(Metric::F1(F1Average::Binary).check(3).is_err());
        assert!(Metric::Accuracy(2).check(2).is_ok() && Metric::Accuracy(3).check(2).is_err());
    }

    #[test]
    fn auc_counts_ties_half() {
        assert_eq!(
            auc(
                [0.1, 0.4, 0.35, 0.8].into_iter(),
                [false, false, true, true].into_iter()
            ),
            Some(0.75)
        );
        assert_eq!(
            auc([0.5, 0.5].into_iter(), [false, true].into_iter()),
            Some(0.5)
        );
        assert_eq!(auc([0.5, 0.7].into_iter(), [true, true].into_iter()), None);
    }

    #[test]
    fn merged_batches_equal_one_pass_and_chance_is_a_uniform_guess() {
        let outputs = [0.1, 0.9, 2.0, -1.0, 0.3, 0.2, -0.5, 0.5];
        let labels = [1, 0, 1, 1];
        for metric in [
            Metric::Accuracy(1),
            Metric::RocAuc,
            Metric::LogLoss,
            Metric::F1(F1Average::Macro),
        ] {
            let mut whole = Accumulator::new(metric, 2);
            whole.update(&outputs, &labels);
            let mut parts = Accumulator::new(metric, 2);
            parts.update(&outputs[..4], &labels[..2]);
            let mut rest = Accumulator::new(metric, 2);
            rest.update(&outputs[4..], &labels[2..]);
            parts.merge(&rest);
            // Sums in another order: equal up to rounding.
            let (a, b) = (parts.value().unwrap(), whole.value().unwrap());
            assert!((a - b).abs() < 1e-12, "{metric}: {a} vs {b}");
        }
        // Two right of four, then four unscored samples: 2 + 4/2 of 8.
        let mut a = Accumulator::new(Metric::Accuracy(1), 2);
        a.update(&outputs, &labels);
        assert_eq!(a.value(), Some(0.75));
        assert!(a.add_chance(&[0, 1, 1, 0]));
        assert_eq!(a.value(), Some((3.0 + 2.0) / 8.0));
        // Perfectly ranked scores, then as many unscored ones: the unscored are tied with one
        // another and fall between, so the AUC moves towards 0.5.
        let mut r = Accumulator::new(Metric::RocAuc, 2);
        r.update(&[0.0, 1.0, 1.0, 0.0], &[1, 0]);
        assert_eq!(r.value(), Some(1.0));
        r.add_chance(&[1, 0]);
        assert_eq!(r.value(), Some(0.875));
        assert!(!Accumulator::new(Metric::Mse, 1).add_chance(&[1]));
    }
}
