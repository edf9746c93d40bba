//! The configured optimizer with its parameter groups, and the learning-rate schedule.
//!
//! Like Modyn, every trigger trains with a fresh optimizer and schedule (the model may be warm,
//! the optimizer state is not). Parameter groups: group 0 holds the parameters no
//! `param_groups` prefix matches (at `lr`), group `i + 1` those of the `i`-th prefix.

use std::collections::HashMap;

use tch::nn::{self, OptimizerConfig};

use crate::config::{OptimizerAlgorithm, OptimizerSpec, ScheduleKind, ScheduleSpec};

/// An optimizer and the base learning rate of each of its groups.
pub struct Optim {
    /// The libtorch optimizer.
    pub opt: nn::Optimizer,
    /// Base learning rate per group (index = group).
    pub base_lr: Vec<f64>,
}

impl Optim {
    /// Sets every group's rate for scheduler step `step` of `total`.
    pub fn schedule(&mut self, schedule: &ScheduleSpec, step: u64, total: u64) {
        for (g, base) in self.base_lr.iter().enumerate() {
            self.opt
                .set_lr_group(g, lr_at(schedule, *base, step, total));
        }
    }
}

/// A fresh optimizer for `vs`, its parameters put in their groups.
pub fn build(spec: &OptimizerSpec, vs: &nn::VarStore) -> Result<Optim, tch::TchError> {
    assign_groups(vs, &spec.param_groups);
    let opt = match spec.algorithm {
        OptimizerAlgorithm::Sgd => nn::Sgd {
            momentum: spec.momentum,
            dampening: 0.0,
            wd: spec.weight_decay,
            nesterov: spec.nesterov,
        }
        .build(vs, spec.lr)?,
        OptimizerAlgorithm::Adam => nn::Adam {
            beta1: spec.betas[0],
            beta2: spec.betas[1],
            wd: spec.weight_decay,
            eps: spec.eps,
            amsgrad: false,
        }
        .build(vs, spec.lr)?,
        OptimizerAlgorithm::Adamw => nn::AdamW {
            beta1: spec.betas[0],
            beta2: spec.betas[1],
            wd: spec.weight_decay,
            eps: spec.eps,
            amsgrad: false,
        }
        .build(vs, spec.lr)?,
    };
    let mut base_lr = vec![spec.lr];
    base_lr.extend(spec.param_groups.iter().map(|(_, lr)| *lr));
    let mut o = Optim { opt, base_lr };
    for (g, lr) in o.base_lr.iter().enumerate() {
        o.opt.set_lr_group(g, *lr);
    }
    Ok(o)
}

/// Puts each trainable variable in the group of the first prefix its name starts with.
fn assign_groups(vs: &nn::VarStore, groups: &[(String, f64)]) {
    let mut vars = vs.variables_.lock().expect("var store poisoned");
    let names: HashMap<usize, String> = vars
        .named_variables
        .iter()
        .map(|(name, t)| (t.data_ptr() as usize, name.clone()))
        .collect();
    for var in &mut vars.trainable_variables {
        let name = names
            .get(&(var.tensor.data_ptr() as usize))
            .map_or("", String::as_str);
        var.group = groups
            .iter()
            .position(|(prefix, _)| name.starts_with(prefix.as_str()))
            .map_or(0, |i| i + 1);
    }
}

/// The learning rate at scheduler step `step` of `total` for a group whose base rate is
/// `base`: linear warm-up over the first `warmup_steps` (from `base / warmup_steps` to `base`),
/// then the schedule counted from the end of the warm-up.
pub fn lr_at(s: &ScheduleSpec, base: f64, step: u64, total: u64) -> f64 {
    if step < s.warmup_steps {
        return base * (step + 1) as f64 / s.warmup_steps as f64;
    }
    let k = step - s.warmup_steps;
    match s.kind {
        ScheduleKind::Constant => base,
        ScheduleKind::Step => base * s.gamma.powi((k / s.step_size.max(1)) as i32),
        ScheduleKind::Cosine => {
            let t_max = s
                .t_max
                .unwrap_or_else(|| total.saturating_sub(s.warmup_steps))
                .max(1);
            let progress = k.min(t_max) as f64 / t_max as f64;
            let min = s.min_lr.min(base);
            min + (base - min) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StepEvery;
    use tch::{Device, Kind};

    fn spec(kind: ScheduleKind) -> ScheduleSpec {
        ScheduleSpec {
            kind,
            step_every: StepEvery::Batch,
            step_size: 10,
            gamma: 0.5,
            t_max: Some(100),
            min_lr: 0.001,
            warmup_steps: 0,
        }
    }

    #[test]
    fn schedules_follow_pytorch_formulas() {
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} != {b}");
        // StepLR(step_size=10, gamma=0.5)
        let s = spec(ScheduleKind::Step);
        close(lr_at(&s, 0.1, 0, 1000), 0.1);
        close(lr_at(&s, 0.1, 9, 1000), 0.1);
        close(lr_at(&s, 0.1, 10, 1000), 0.05);
        close(lr_at(&s, 0.1, 25, 1000), 0.025);
        // CosineAnnealingLR(T_max=100, eta_min=0.001)
        let s = spec(ScheduleKind::Cosine);
        close(lr_at(&s, 0.1, 0, 1000), 0.1);
        close(lr_at(&s, 0.1, 50, 1000), 0.001 + 0.099 * 0.5);
        close(lr_at(&s, 0.1, 100, 1000), 0.001);
        close(lr_at(&s, 0.1, 150, 1000), 0.001);
        // t_max defaults to the steps after warm-up; warm-up is linear up to the base rate.
        let s = ScheduleSpec {
            t_max: None,
            warmup_steps: 4,
            ..spec(ScheduleKind::Cosine)
        };
        close(lr_at(&s, 0.1, 0, 104), 0.025);
        close(lr_at(&s, 0.1, 3, 104), 0.1);
        close(lr_at(&s, 0.1, 4, 104), 0.1);
        close(lr_at(&s, 0.1, 104, 104), 0.001);
        close(lr_at(&spec(ScheduleKind::Constant), 0.1, 77, 100), 0.1);
    }

    #[test]
    fn parameter_groups_get_their_own_rate() {
        // One SGD step with lr 0.1 for "a" and 0.01 for "b" (prefix match), same gradient.
        let vs = nn::VarStore::new(Device::Cpu);
        let a = vs.root().zeros("a", &[1]);
        let b = vs.root().zeros("b", &[1]);
        let spec = OptimizerSpec {
            param_groups: vec![("b".into(), 0.01)],
            ..OptimizerSpec::sgd(0.1)
        };
        let mut o = build(&spec, &vs).unwrap();
        let loss = (&a + &b).sum(Kind::Float);
        o.opt.backward_step(&loss);
        assert!((a.double_value(&[0]) + 0.1).abs() < 1e-7, "{a}");
        assert!((b.double_value(&[0]) + 0.01).abs() < 1e-7, "{b}");
        // The schedule scales each group from its own base.
        o.schedule(&spec_half(), 1, 10);
        let loss = (&a + &b).sum(Kind::Float);
        o.opt.backward_step(&loss);
        assert!((a.double_value(&[0]) + 0.15).abs() < 1e-7, "{a}");
        assert!((b.double_value(&[0]) + 0.015).abs() < 1e-7, "{b}");
    }

    fn spec_half() -> ScheduleSpec {
        ScheduleSpec {
            step_size: 1,
            ..spec(ScheduleKind::Step)
        }
    }
}
