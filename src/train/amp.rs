//! Dynamic loss scaling for mixed precision (`[training] amp`).
//!
//! libtorch's CUDA autocast computes in fp16, whose small gradients underflow to zero. As
//! PyTorch's `GradScaler` does, the loss is multiplied by a scale before `backward`; the
//! gradients are divided by it before clipping and the optimizer step; a step whose gradients
//! hold an infinity or NaN (the scale was too large) is skipped and the scale halved; after
//! [`GROWTH_INTERVAL`] good steps in a row the scale doubles.

use tch::{Kind, Tensor, nn};

/// The scale a training starts with (PyTorch's default).
pub const INITIAL_SCALE: f64 = 65536.0;
/// Good steps in a row before the scale doubles (PyTorch's default).
pub const GROWTH_INTERVAL: u32 = 2000;

/// The loss scale and its growth counter.
#[derive(Debug)]
pub struct LossScaler {
    scale: f64,
    good_steps: u32,
}

impl Default for LossScaler {
    fn default() -> Self {
        Self {
            scale: INITIAL_SCALE,
            good_steps: 0,
        }
    }
}

impl LossScaler {
    /// Backward of `loss` times the scale.
    pub fn backward(&self, loss: &Tensor) {
        (loss * self.scale).backward();
    }

    /// After [`backward`](Self::backward): unscales the gradients of `vs`'s trainable
    /// variables and returns true when they are all finite (the step may be taken); otherwise
    /// leaves them, halves the scale and returns false (skip the step). Reads one value back
    /// from the device.
    pub fn unscale(&mut self, vs: &nn::VarStore) -> bool {
        let grads: Vec<Tensor> = vs
            .trainable_variables()
            .iter()
            .map(Tensor::grad)
            .filter(Tensor::defined)
            .collect();
        // One reduction per gradient and one value read back: an infinity or NaN anywhere
        // makes the sum non-finite. (A finite sum above f32's range would also count as an
        // overflow: the step is skipped and the scale lowered, which is safe.)
        let finite = grads.is_empty()
            || Tensor::stack(
                &grads.iter().map(|g| g.sum(Kind::Float)).collect::<Vec<_>>(),
                0,
            )
            .sum(Kind::Float)
            .isfinite()
            .int64_value(&[])
                != 0;
        if !finite {
            self.scale *= 0.5;
            self.good_steps = 0;
            return false;
        }
        let inverse = 1.0 / self.scale;
        for mut g in grads {
            let _ = g.g_mul_scalar_(inverse);
        }
        self.good_steps += 1;
        if self.good_steps == GROWTH_INTERVAL {
            self.scale *= 2.0;
            self.good_steps = 0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// A one-parameter store whose gradient after `backward` of `w * x` is `x` times the scale.
    fn store() -> (nn::VarStore, Tensor) {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().ones("w", &[2]);
        (vs, w)
    }

    #[test]
    fn unscales_finite_gradients_and_grows_after_the_interval() {
        let (vs, w) = store();
        let mut s = LossScaler::default();
        let x = Tensor::from_slice(&[1.5f32, -2.0]);
        s.backward(&(&w * &x).sum(Kind::Float));
        assert!(s.unscale(&vs));
        assert!(w.grad().allclose(&x, 1e-6, 0.0, false), "{}", w.grad());
        for _ in 1..GROWTH_INTERVAL {
            let _ = w.grad().zero_();
            s.backward(&(&w * &x).sum(Kind::Float));
            assert!(s.unscale(&vs));
        }
        assert_eq!(s.scale, 2.0 * INITIAL_SCALE);
    }

    #[test]
    fn an_overflow_skips_the_step_and_halves_the_scale() {
        let (vs, w) = store();
        let mut s = LossScaler::default();
        let x = Tensor::from_slice(&[1.0f32, f32::MAX]);
        s.backward(&(&w * &x).sum(Kind::Float));
        assert!(!s.unscale(&vs), "f32::MAX times the scale overflows");
        assert_eq!(s.scale, INITIAL_SCALE / 2.0);
        // The gradients were left as they were (the step is skipped, not taken unscaled).
        assert_eq!(w.grad().double_value(&[0]), INITIAL_SCALE);
    }
}
