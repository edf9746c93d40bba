//! `[model] normalize`: a model that scales its inputs first. [`Normalized`] wraps any model
//! of the zoo or a TorchScript module; its scaling (a [`Normalization`]) is applied inside
//! `forward`, `embed` and the exported TorchScript file, so every reader of the model (the
//! trainer, trigger probes, evaluation, serving) feeds raw features.
//!
//! `normalize = "running"` gives it the stream's statistics at each trigger
//! ([`Normalization::from_moments`], set by the trainer and stored in the model's metadata);
//! fixed statistics are set once, when it is built.

use sluice_dataflows::moments::Moments;
use tch::{Device, Kind, Tensor};

use super::{Model, TorchScript};
use crate::store::Normalization;

/// A standard deviation at or below this fraction of the mean's magnitude (or exactly 0) is
/// a constant feature: it is centred, not divided.
const CONSTANT: f64 = 1e-7;

impl Normalization {
    /// The scaling from `moments` (the first `scaled` features; the others are left alone):
    /// `None` without samples.
    pub fn from_moments(moments: &Moments, scaled: usize) -> Option<Self> {
        let (mean, std) = moments.mean_std();
        if mean.is_empty() {
            return None;
        }
        let scaled = scaled.min(mean.len());
        let std = std[..scaled]
            .iter()
            .zip(&mean)
            .map(|(s, m)| {
                if *s == 0.0 || *s <= CONSTANT * m.abs() {
                    1.0
                } else {
                    *s as f32
                }
            })
            .collect();
        Some(Self {
            mean: mean[..scaled].iter().map(|m| *m as f32).collect(),
            std,
            samples: moments.count,
        })
    }

    /// Fixed statistics (`normalize = { mean, std }`).
    pub fn fixed(mean: &[f64], std: &[f64]) -> Self {
        Self {
            mean: mean.iter().map(|m| *m as f32).collect(),
            std: std.iter().map(|s| *s as f32).collect(),
            samples: 0,
        }
    }
}

/// The tensors that apply a [`Normalization`] to `[n, input_dim]` features.
#[derive(Debug)]
struct Scaling {
    values: Normalization,
    /// `[input_dim]`: the means, then zeros.
    shift: Tensor,
    /// `[input_dim]`: the standard deviations, then ones.
    divide: Tensor,
}

impl Scaling {
    fn new(values: Normalization, input_dim: i64, device: Device) -> Self {
        let n = input_dim as usize;
        let mut shift = vec![0f32; n];
        let mut divide = vec![1f32; n];
        for (i, (m, s)) in values.mean.iter().zip(&values.std).take(n).enumerate() {
            shift[i] = *m;
            divide[i] = *s;
        }
        let tensor = |v: &[f32]| Tensor::from_slice(v).to_kind(Kind::Float).to(device);
        Self {
            shift: tensor(&shift),
            divide: tensor(&divide),
            values,
        }
    }
}

/// A model that scales its inputs before its inner model reads them (see the module doc).
#[derive(Debug)]
pub struct Normalized {
    inner: Box<dyn Model>,
    input_dim: i64,
    device: Device,
    /// `None`: features pass unscaled (`"running"` before its first statistics).
    scaling: Option<Scaling>,
}

impl Normalized {
    /// `inner` reading `[n, input_dim]` features on `device`, scaled by `scaling`.
    pub fn new(
        inner: Box<dyn Model>,
        input_dim: i64,
        device: Device,
        scaling: Option<Normalization>,
    ) -> Self {
        let mut m = Self {
            inner,
            input_dim,
            device,
            scaling: None,
        };
        m.set_normalization(scaling);
        m
    }

    fn scaled(&self, xs: &Tensor) -> Tensor {
        match &self.scaling {
            Some(s) => (xs - &s.shift) / &s.divide,
            None => xs.shallow_clone(),
        }
    }
}

impl Model for Normalized {
    fn embed_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.inner.embed_t(&self.scaled(xs), train)
    }

    fn classify(&self, embeddings: &Tensor) -> Tensor {
        self.inner.classify(embeddings)
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.inner.forward_t(&self.scaled(xs), train)
    }

    fn architecture(&self) -> serde_json::Value {
        self.inner.architecture()
    }

    fn as_torchscript(&self) -> Option<&TorchScript> {
        self.inner.as_torchscript()
    }

    fn normalization(&self) -> Option<&Normalization> {
        self.scaling.as_ref().map(|s| &s.values)
    }

    fn set_normalization(&mut self, n: Option<Normalization>) {
        self.scaling = n.map(|v| Scaling::new(v, self.input_dim, self.device));
    }
}
