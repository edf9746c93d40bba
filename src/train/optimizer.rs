//! Builds the configured optimizer over a var store.

use tch::nn::{self, OptimizerConfig};

use crate::config::{OptimizerAlgorithm, OptimizerSpec};

/// A fresh optimizer for `vs` (Modyn also creates the optimizer anew for every trigger).
pub fn build(spec: &OptimizerSpec, vs: &nn::VarStore) -> Result<nn::Optimizer, tch::TchError> {
    match spec.algorithm {
        OptimizerAlgorithm::Sgd => nn::Sgd {
            momentum: spec.momentum,
            dampening: 0.0,
            wd: spec.weight_decay,
            nesterov: spec.nesterov,
        }
        .build(vs, spec.lr),
        OptimizerAlgorithm::Adam => nn::Adam {
            wd: spec.weight_decay,
            ..Default::default()
        }
        .build(vs, spec.lr),
    }
}
