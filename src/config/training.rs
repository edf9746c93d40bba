//! `[training]`: the optimizer, the learning-rate schedule and the other training keys, and the
//! training of RHO-Loss's irreducible-loss model (`[training]` with `il_training`'s changes).

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::error::ConfigError;
use super::fields::{err, positive_or, section};
use super::low;
use super::models;
use super::spec::*;

/// What RHO-Loss's irreducible-loss model inherits: the raw `[training]` and `[model]` tables.
pub(super) struct IlBase {
    pub training: Option<Value>,
    pub model: Option<Value>,
    pub base: PathBuf,
}

/// `[training]` keys the irreducible-loss model cannot change: whether it keeps `[training]`'s
/// value (otherwise the key's default: off), and why.
const IL_FIXED: &[(&str, bool, &str)] = &[
    (
        "device",
        true,
        "the irreducible-loss model trains on training.device",
    ),
    (
        "num_threads",
        true,
        "the irreducible-loss model trains in the trainer, with training.num_threads",
    ),
    (
        "queue_capacity",
        true,
        "not used by the irreducible-loss model",
    ),
    (
        "per_sample_feedback",
        false,
        "not used by the irreducible-loss model",
    ),
    (
        "initial_model",
        false,
        "the irreducible-loss model starts from random weights (Modyn's rule)",
    ),
    (
        "checkpoint_every_steps",
        false,
        "not used by the irreducible-loss model",
    ),
    (
        "record_loss_every",
        false,
        "not used by the irreducible-loss model",
    ),
    (
        "num_samples_to_pass",
        false,
        "the irreducible-loss model trains on its whole holdout split",
    ),
];

impl IlBase {
    /// The irreducible-loss model of the RHO-Loss downsampler at `at`: `[model]` unless
    /// `il_model` gives another, trained as `[training]` with `il_training`'s keys changed
    /// (`optimizer` merged key by key), from random weights every trigger unless
    /// `il_training.use_previous_model`. Errors name `at.il_training.*` / `at.il_model.*`;
    /// errors of inherited keys are `[training]`'s own, reported there.
    pub(super) fn spec(
        &self,
        training: Option<Value>,
        model: Option<Value>,
        at: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<IlSpec> {
        let before = errors.len();
        let own = match training {
            None => Table::new(),
            Some(Value::Table(t)) => t,
            Some(other) => {
                err(
                    errors,
                    format!("{at}.il_training"),
                    format!("expected a table, found {}", other.type_str()),
                );
                Table::new()
            }
        };
        let mut merged = match &self.training {
            Some(Value::Table(t)) => t.clone(),
            _ => Table::new(),
        };
        for (k, inherit, why) in IL_FIXED {
            if own.contains_key(*k) {
                err(errors, format!("{at}.il_training.{k}"), *why);
            }
            if !inherit {
                merged.remove(*k);
            }
        }
        merged.insert("use_previous_model".into(), Value::Boolean(false));
        for (k, v) in own.iter() {
            match (merged.get_mut(k), v) {
                (Some(Value::Table(base)), Value::Table(over)) if k == "optimizer" => {
                    base.extend(over.clone());
                }
                _ => {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        let mut inner = Vec::new();
        let t = section::<low::Training>(Value::Table(merged), "training", &mut inner)
            .and_then(|t| check_training(t, &self.base, &mut inner));
        let rename = |inner: Vec<ConfigError>,
                      from: &str,
                      to: &str,
                      own: &dyn Fn(&str) -> bool,
                      errors: &mut Vec<ConfigError>| {
            for e in inner {
                let Some(rest) = e.key.strip_prefix(from) else {
                    continue;
                };
                let first = rest.trim_start_matches('.').split('.').next().unwrap_or("");
                if own(first) {
                    errors.push(ConfigError {
                        key: format!("{at}.{to}{rest}"),
                        message: e.message,
                    });
                }
            }
        };
        rename(
            inner,
            "training",
            "il_training",
            &|k| own.contains_key(k),
            errors,
        );
        let (model, model_own) = match model {
            Some(m) => (Some(m), true),
            None => (self.model.clone(), false),
        };
        let mut inner = Vec::new();
        let model = models::model(model, &self.base, &mut inner);
        rename(inner, "model", "il_model", &|_| model_own, errors);
        if errors.len() > before {
            return None;
        }
        Some(IlSpec {
            model: model?,
            training: t?,
        })
    }
}

pub(super) fn check_training(
    t: low::Training,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<TrainingSpec> {
    let before = errors.len();
    let device = t.device.unwrap_or_else(|| "cpu".into());
    let device_ok = device == "cpu"
        || device
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<u32>().is_ok());
    if !device_ok {
        err(errors, "training.device", "expected `cpu` or `cuda:N`");
    }
    let batch_size = positive_or(Some(t.batch_size), 1, "training.batch_size", errors);
    let epochs = positive_or(
        t.epochs_per_trigger,
        1,
        "training.epochs_per_trigger",
        errors,
    );
    let threads = positive_or(t.num_threads, 1, "training.num_threads", errors);
    let queue = positive_or(t.queue_capacity, 2, "training.queue_capacity", errors);
    let seed = match t.seed {
        Some(s) if s < 0 => {
            err(errors, "training.seed", "expected an integer >= 0");
            None
        }
        Some(s) => Some(s as u64),
        None => Some(0),
    };
    let optimizer = check_optimizer(t.optimizer, errors);
    let schedule = check_schedule(t.lr_scheduler, errors);
    let (criterion, label_smoothing) = check_loss(t.criterion, t.label_smoothing, errors);
    if let Some(c) = t.grad_clip_norm
        && !(c.is_finite() && c > 0.0)
    {
        err(errors, "training.grad_clip_norm", "expected a number > 0");
    }
    let num_samples_to_pass = t
        .num_samples_to_pass
        .map(|n| positive_or(Some(n), 1, "training.num_samples_to_pass", errors));
    let record_loss_every = t
        .record_loss_every
        .map(|n| positive_or(Some(n), 1, "training.record_loss_every", errors));
    let checkpoint_every_steps = t
        .checkpoint_every_steps
        .map(|n| positive_or(Some(n), 1, "training.checkpoint_every_steps", errors));
    let initial_model = t.initial_model.map(|p| base.join(p));
    if let Some(p) = &initial_model
        && !p.is_file()
    {
        err(
            errors,
            "training.initial_model",
            format!("file not found: {}", p.display()),
        );
    }
    let amp = t.amp.unwrap_or(false);
    if amp && device == "cpu" {
        err(
            errors,
            "training.amp",
            "mixed precision needs a CUDA device",
        );
    }
    if errors.len() != before {
        return None;
    }
    Some(TrainingSpec {
        schedule: schedule?,
        criterion,
        label_smoothing,
        grad_clip_norm: t.grad_clip_norm,
        num_samples_to_pass: num_samples_to_pass.map(|n| n.expect("checked")),
        initial_model,
        record_loss_every: record_loss_every.map(|n| n.expect("checked")),
        checkpoint_every_steps: checkpoint_every_steps.map(|n| n.expect("checked")),
        amp,
        per_sample_feedback: t.per_sample_feedback.unwrap_or(false),
        // From `[selection.downsampling]`, once both are parsed.
        downsampling: None,
        irreducible: Vec::new(),
        device,
        batch_size: batch_size? as usize,
        epochs_per_trigger: epochs? as usize,
        shuffle: t.shuffle.unwrap_or(true),
        seed: seed?,
        use_previous_model: t.use_previous_model.unwrap_or(true),
        drop_last_batch: t.drop_last_batch.unwrap_or(false),
        num_threads: threads? as usize,
        queue_capacity: queue? as usize,
        optimizer,
    })
}

/// `[training.optimizer]`, with its defaults (errors go to `errors`).
fn check_optimizer(o: low::Optimizer, errors: &mut Vec<ConfigError>) -> OptimizerSpec {
    if !(o.lr.is_finite() && o.lr > 0.0) {
        err(errors, "training.optimizer.lr", "expected a number > 0");
    }
    let momentum = o.momentum.unwrap_or(0.0);
    let weight_decay = o.weight_decay.unwrap_or(0.0);
    let nesterov = o.nesterov.unwrap_or(false);
    if !(0.0..1.0).contains(&momentum) {
        err(
            errors,
            "training.optimizer.momentum",
            "expected a number in [0, 1)",
        );
    }
    if !(weight_decay.is_finite() && weight_decay >= 0.0) {
        err(
            errors,
            "training.optimizer.weight_decay",
            "expected a number >= 0",
        );
    }
    if o.algorithm != OptimizerAlgorithm::Sgd && (o.momentum.is_some() || o.nesterov.is_some()) {
        err(
            errors,
            "training.optimizer",
            "momentum and nesterov apply to algorithm = \"sgd\" only",
        );
    }
    if nesterov && momentum == 0.0 {
        err(
            errors,
            "training.optimizer.nesterov",
            "nesterov needs momentum > 0",
        );
    }
    let betas = o.betas.unwrap_or([0.9, 0.999]);
    let eps = o.eps.unwrap_or(1e-8);
    if o.algorithm == OptimizerAlgorithm::Sgd && (o.betas.is_some() || o.eps.is_some()) {
        err(
            errors,
            "training.optimizer",
            "betas and eps apply to algorithm = \"adam\" or \"adamw\" only",
        );
    }
    if !betas.iter().all(|b| (0.0..1.0).contains(b)) {
        err(
            errors,
            "training.optimizer.betas",
            "expected two numbers in [0, 1)",
        );
    }
    if !(eps.is_finite() && eps > 0.0) {
        err(errors, "training.optimizer.eps", "expected a number > 0");
    }
    let mut param_groups = Vec::new();
    for (i, g) in o.param_groups.unwrap_or_default().into_iter().enumerate() {
        if !(g.lr.is_finite() && g.lr > 0.0) {
            err(
                errors,
                format!("training.optimizer.param_groups.{i}.lr"),
                "expected a number > 0",
            );
        }
        param_groups.push((g.prefix, g.lr));
    }
    OptimizerSpec {
        algorithm: o.algorithm,
        lr: o.lr,
        momentum,
        nesterov,
        weight_decay,
        betas,
        eps,
        param_groups,
    }
}

/// `criterion` and `label_smoothing`.
fn check_loss(
    criterion: Option<Criterion>,
    label_smoothing: Option<f64>,
    errors: &mut Vec<ConfigError>,
) -> (Criterion, f64) {
    let smoothing = label_smoothing.unwrap_or(0.0);
    if !(0.0..1.0).contains(&smoothing) {
        err(
            errors,
            "training.label_smoothing",
            "expected a number in [0, 1)",
        );
    }
    let criterion = criterion.unwrap_or_default();
    if label_smoothing.is_some() && criterion != Criterion::CrossEntropy {
        err(
            errors,
            "training.label_smoothing",
            "applies to criterion = \"cross_entropy\" only",
        );
    }
    (criterion, smoothing)
}

fn check_schedule(
    s: Option<low::LrScheduler>,
    errors: &mut Vec<ConfigError>,
) -> Option<ScheduleSpec> {
    let Some(s) = s else {
        return Some(ScheduleSpec::default());
    };
    let before = errors.len();
    let d = ScheduleSpec::default();
    let count = |v: Option<i64>, default: u64, key: &str, errors: &mut Vec<ConfigError>| match v {
        Some(n) if n < 0 => {
            err(
                errors,
                format!("training.lr_scheduler.{key}"),
                "expected an integer >= 0",
            );
            default
        }
        Some(n) => n as u64,
        None => default,
    };
    let step_size = count(s.step_size, d.step_size, "step_size", errors);
    if s.kind == ScheduleKind::Step && step_size == 0 {
        err(
            errors,
            "training.lr_scheduler.step_size",
            "expected an integer > 0",
        );
    }
    let gamma = s.gamma.unwrap_or(d.gamma);
    if !(gamma.is_finite() && gamma > 0.0) {
        err(
            errors,
            "training.lr_scheduler.gamma",
            "expected a number > 0",
        );
    }
    let min_lr = s.min_lr.unwrap_or(d.min_lr);
    if !(min_lr.is_finite() && min_lr >= 0.0) {
        err(
            errors,
            "training.lr_scheduler.min_lr",
            "expected a number >= 0",
        );
    }
    let t_max = s.t_max.map(|_| count(s.t_max, 1, "t_max", errors));
    if t_max == Some(0) {
        err(
            errors,
            "training.lr_scheduler.t_max",
            "expected an integer > 0",
        );
    }
    for (key, set, applies) in [
        (
            "step_size",
            s.step_size.is_some(),
            s.kind == ScheduleKind::Step,
        ),
        ("gamma", s.gamma.is_some(), s.kind == ScheduleKind::Step),
        ("t_max", s.t_max.is_some(), s.kind == ScheduleKind::Cosine),
        ("min_lr", s.min_lr.is_some(), s.kind == ScheduleKind::Cosine),
    ] {
        if set && !applies {
            err(
                errors,
                format!("training.lr_scheduler.{key}"),
                "does not apply to this kind",
            );
        }
    }
    let warmup_steps = count(s.warmup_steps, 0, "warmup_steps", errors);
    (errors.len() == before).then_some(ScheduleSpec {
        kind: s.kind,
        step_every: s.step_every,
        step_size,
        gamma,
        t_max,
        min_lr,
        warmup_steps,
    })
}
