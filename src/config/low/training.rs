//! `[training]` as users write it: the optimizer, the learning-rate schedule, the loss.

use std::path::PathBuf;

use serde::Deserialize;

/// Optimizers.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Stochastic gradient descent (momentum, nesterov, weight decay).
    Sgd,
    /// Adam (L2 weight decay added to the gradient).
    Adam,
    /// AdamW (decoupled weight decay).
    Adamw,
}

/// `[[training.optimizer.param_groups]]`: a learning rate for some parameters.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamGroup {
    /// Parameters whose name starts with this (`"fc."`, `"layer4."`; names as in
    /// docs/models.md).
    pub prefix: String,
    /// Their learning rate.
    pub lr: f64,
}

/// Learning-rate schedules.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// Constant (after any warm-up).
    #[default]
    Constant,
    /// Multiply by `gamma` every `step_size` steps.
    Step,
    /// Cosine annealing from the base rate to `min_lr` over `t_max` steps.
    Cosine,
}

/// What a scheduler step is.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StepEvery {
    /// Every optimizer step (mini-batch).
    #[default]
    Batch,
    /// Every epoch.
    Epoch,
}

/// `[training.lr_scheduler]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrScheduler {
    /// Schedule.
    #[serde(default)]
    pub kind: ScheduleKind,
    /// Unit of `step_size`, `t_max` and `warmup_steps`.
    #[serde(default)]
    pub step_every: StepEvery,
    /// `step`: steps between decays.
    #[serde(default)]
    pub step_size: Option<i64>,
    /// `step`: decay factor.
    #[serde(default)]
    pub gamma: Option<f64>,
    /// `cosine`: steps of one annealing (default: the trigger's total steps).
    #[serde(default)]
    pub t_max: Option<i64>,
    /// `cosine`: the final rate.
    #[serde(default)]
    pub min_lr: Option<f64>,
    /// Linear warm-up from 0 over this many steps, before the schedule.
    #[serde(default)]
    pub warmup_steps: Option<i64>,
}

/// Loss functions.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Cross-entropy over the logits (optionally with label smoothing).
    #[default]
    CrossEntropy,
    /// Binary cross-entropy with logits against one-hot labels (independent per class).
    BceWithLogits,
    /// Mean squared error of the logits against one-hot labels.
    Mse,
}

/// `[training.optimizer]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Optimizer {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum.
    #[serde(default)]
    pub momentum: Option<f64>,
    /// SGD Nesterov momentum.
    #[serde(default)]
    pub nesterov: Option<bool>,
    /// Weight decay (L2 for SGD and Adam, decoupled for AdamW).
    #[serde(default)]
    pub weight_decay: Option<f64>,
    /// Adam/AdamW (beta1, beta2).
    #[serde(default)]
    pub betas: Option<[f64; 2]>,
    /// Adam/AdamW epsilon.
    #[serde(default)]
    pub eps: Option<f64>,
    /// Learning rates for groups of parameters (the first matching prefix wins).
    #[serde(default)]
    pub param_groups: Option<Vec<ParamGroup>>,
}

/// `[training]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// `cpu` or `cuda:N`.
    #[serde(default)]
    pub device: Option<String>,
    /// Mini-batch size.
    pub batch_size: i64,
    /// Passes over the training set per trigger.
    #[serde(default)]
    pub epochs_per_trigger: Option<i64>,
    /// Shuffle the training set every training epoch.
    #[serde(default)]
    pub shuffle: Option<bool>,
    /// Seed for initialisation and shuffling.
    #[serde(default)]
    pub seed: Option<i64>,
    /// Continue from the previous trigger's model (warm start) instead of a fresh one.
    #[serde(default)]
    pub use_previous_model: Option<bool>,
    /// Drop an incomplete last batch.
    #[serde(default)]
    pub drop_last_batch: Option<bool>,
    /// libtorch intra-op threads of the trainer.
    #[serde(default)]
    pub num_threads: Option<i64>,
    /// Training sets that may wait for the trainer before ingestion blocks.
    #[serde(default)]
    pub queue_capacity: Option<i64>,
    /// Optimizer.
    pub optimizer: Optimizer,
    /// Learning-rate schedule within each trigger's training.
    #[serde(default)]
    pub lr_scheduler: Option<LrScheduler>,
    /// Loss function.
    #[serde(default)]
    pub criterion: Option<Criterion>,
    /// Cross-entropy label smoothing in [0, 1).
    #[serde(default)]
    pub label_smoothing: Option<f64>,
    /// Clip the gradients' global L2 norm to this.
    #[serde(default)]
    pub grad_clip_norm: Option<f64>,
    /// Stop a trigger's training after this many samples passed (over all epochs).
    #[serde(default)]
    pub num_samples_to_pass: Option<i64>,
    /// Safetensors file the first model starts from (relative to the config file).
    #[serde(default)]
    pub initial_model: Option<PathBuf>,
    /// A `metrics` event with the training loss every this many optimizer steps.
    #[serde(default)]
    pub record_loss_every: Option<i64>,
    /// Save the weights being trained every this many optimizer steps.
    #[serde(default)]
    pub checkpoint_every_steps: Option<i64>,
    /// Mixed precision (autocast) on CUDA devices.
    #[serde(default)]
    pub amp: Option<bool>,
    /// Report each trained sample's loss back into the dataflow (for score-based policies).
    #[serde(default)]
    pub per_sample_feedback: Option<bool>,
}
