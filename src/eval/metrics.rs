//! Metrics. Decomposable ones (accuracy) accumulate per batch, so evaluation streams over the
//! held-out data in fixed-size batches.

use tch::{Device, Kind, Tensor};

use super::holdout::Holdout;
use crate::train::models::Model;

/// Top-1 accuracy, accumulated over batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accuracy {
    /// Correct predictions so far.
    pub correct: u64,
    /// Predictions so far.
    pub total: u64,
}

impl Accuracy {
    /// Adds a batch of predicted and true labels.
    pub fn update(&mut self, predicted: &[i64], labels: &[i64]) {
        debug_assert_eq!(predicted.len(), labels.len());
        self.correct += predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as u64;
        self.total += labels.len() as u64;
    }

    /// The accuracy, `None` for no predictions.
    pub fn value(&self) -> Option<f64> {
        (self.total > 0).then(|| self.correct as f64 / self.total as f64)
    }
}

/// Accuracy of `model` on held-out samples `r`, in batches of `batch_size`.
pub fn evaluate_accuracy(
    model: &dyn Model,
    holdout: &Holdout,
    r: std::ops::Range<usize>,
    batch_size: usize,
    device: Device,
) -> Accuracy {
    let mut acc = Accuracy::default();
    let _guard = tch::no_grad_guard();
    let mut start = r.start;
    while start < r.end {
        let end = (start + batch_size).min(r.end);
        let xs = Tensor::from_slice(holdout.features(start..end))
            .view([(end - start) as i64, holdout.dim() as i64])
            .to_device(device);
        let pred = model
            .forward_t(&xs, false)
            .argmax(-1, false)
            .to_kind(Kind::Int64)
            .to_device(Device::Cpu);
        let pred: Vec<i64> = Vec::<i64>::try_from(&pred).expect("argmax yields int64");
        acc.update(&pred, holdout.labels(start..end));
        start = end;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_accumulates_batches() {
        let mut a = Accuracy::default();
        assert_eq!(a.value(), None);
        a.update(&[1, 0, 1], &[1, 1, 1]);
        a.update(&[0], &[0]);
        assert_eq!(
            a,
            Accuracy {
                correct: 3,
                total: 4
            }
        );
        assert_eq!(a.value(), Some(0.75));
    }
}
