//! Loss functions (`[training] criterion`): classes are the model's outputs, labels are class
//! indices. BCE-with-logits and MSE compare the outputs with one-hot labels, as multi-label
//! and regression heads over the same outputs would.

use tch::{Kind, Reduction, Tensor};

use crate::config::Criterion;

/// The loss of `logits` `[n, classes]` against labels `y` `[n]`, per sample (`[n]`) or mean.
pub fn loss(c: Criterion, label_smoothing: f64, logits: &Tensor, y: &Tensor, mean: bool) -> Tensor {
    let reduction = if mean {
        Reduction::Mean
    } else {
        Reduction::None
    };
    let classes = logits.size()[1];
    let per_class = |t: Tensor| {
        if mean {
            t
        } else {
            t.mean_dim(1, false, Kind::Float)
        }
    };
    match c {
        Criterion::CrossEntropy => {
            logits.cross_entropy_loss::<Tensor>(y, None, reduction, -100, label_smoothing)
        }
        Criterion::BceWithLogits => {
            let target = y.one_hot(classes).to_kind(logits.kind());
            per_class(
                logits.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, reduction),
            )
        }
        Criterion::Mse => {
            let target = y.one_hot(classes).to_kind(logits.kind());
            per_class(logits.mse_loss(&target, reduction))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_match_their_definitions() {
        let logits = Tensor::from_slice(&[2.0f32, -1.0, 0.5, 0.5]).view([2, 2]);
        let y = Tensor::from_slice(&[0i64, 1]);
        let close = |t: Tensor, want: f64| {
            let got = t.double_value(&[]);
            assert!((got - want).abs() < 1e-6, "{got} != {want}");
        };
        // Cross-entropy: -log softmax of the true class, averaged.
        let ce0 = -(2f64.exp() / (2f64.exp() + (-1f64).exp())).ln();
        let ce1 = 2f64.ln();
        close(
            loss(Criterion::CrossEntropy, 0.0, &logits, &y, true),
            (ce0 + ce1) / 2.0,
        );
        // Label smoothing 0.1 over 2 classes: targets 0.95 / 0.05.
        let ls0 = -(0.95 * (2f64.exp() / (2f64.exp() + (-1f64).exp())).ln()
            + 0.05 * ((-1f64).exp() / (2f64.exp() + (-1f64).exp())).ln());
        close(
            loss(Criterion::CrossEntropy, 0.1, &logits, &y, true),
            (ls0 + ce1) / 2.0,
        );
        // MSE against one-hot: ((2-1)^2 + (-1)^2 + 0.5^2 + 0.5^2) / 4.
        close(
            loss(Criterion::Mse, 0.0, &logits, &y, true),
            (1.0 + 1.0 + 0.25 + 0.25) / 4.0,
        );
        // BCE with logits against one-hot.
        let bce = |x: f64, t: f64| {
            -(t * (1.0 / (1.0 + (-x).exp())).ln() + (1.0 - t) * (1.0 / (1.0 + x.exp())).ln())
        };
        let want = (bce(2.0, 1.0) + bce(-1.0, 0.0) + bce(0.5, 0.0) + bce(0.5, 1.0)) / 4.0;
        close(loss(Criterion::BceWithLogits, 0.0, &logits, &y, true), want);
        // Per-sample losses average to the mean loss.
        for c in [
            Criterion::CrossEntropy,
            Criterion::BceWithLogits,
            Criterion::Mse,
        ] {
            let per = loss(c, 0.0, &logits, &y, false);
            assert_eq!(per.size(), vec![2]);
            close(
                per.mean(Kind::Float),
                loss(c, 0.0, &logits, &y, true).double_value(&[]),
            );
        }
    }
}
