//! The validated pipeline spec ("high" config): defaults applied, cross-key checks done, paths
//! resolved against the config file's directory.

use std::path::PathBuf;

pub use super::low::{Algorithm as OptimizerAlgorithm, Format as FileFormat, Unit as TimeUnit};

/// A validated pipeline.
#[derive(Clone, Debug)]
pub struct PipelineSpec {
    /// `pipeline.name`.
    pub name: String,
    /// `pipeline.description`.
    pub description: Option<String>,
    /// The file this spec was read from.
    pub config_path: PathBuf,
    /// The file's text, copied into each run directory.
    pub config_text: String,
    /// `[source]`.
    pub source: SourceSpec,
    /// `[model]`.
    pub model: ModelSpec,
    /// `[training]`.
    pub training: TrainingSpec,
    /// `[trigger]`.
    pub trigger: TriggerSpec,
    /// `[selection]`.
    pub selection: SelectionSpec,
    /// `[evaluation]`, if any.
    pub evaluation: Option<EvaluationSpec>,
}

/// Where samples come from and how to read them.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    /// Resolved dataset path.
    pub path: PathBuf,
    /// File format.
    pub format: FileFormat,
    /// Key column (`None`: row number).
    pub key_column: Option<String>,
    /// Event-time column.
    pub time_column: String,
    /// Unit of integer time values.
    pub time_unit: TimeUnit,
    /// Label column.
    pub label_column: String,
    /// Feature columns (`None`: all columns but key, time and label, in file order).
    pub feature_columns: Option<Vec<String>>,
    /// Samples fed to the dataflow per step.
    pub replay_batch: usize,
    /// Labels must lie in `0..num_classes` (from `[model]`).
    pub num_classes: i64,
}

/// The model architecture and its hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    /// Multi-layer perceptron: Linear+ReLU per hidden width, then a Linear to `num_classes`.
    Mlp {
        /// Hidden widths.
        hidden: Vec<i64>,
        /// Output classes.
        num_classes: i64,
    },
}

impl ModelSpec {
    /// Number of output classes.
    pub fn num_classes(&self) -> i64 {
        match self {
            ModelSpec::Mlp { num_classes, .. } => *num_classes,
        }
    }
}

/// Optimizer settings.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerSpec {
    /// Algorithm.
    pub algorithm: OptimizerAlgorithm,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// SGD Nesterov.
    pub nesterov: bool,
    /// L2 weight decay.
    pub weight_decay: f64,
}

/// How each trigger's model is trained.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingSpec {
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Passes over the training set per trigger.
    pub epochs_per_trigger: usize,
    /// Shuffle every training epoch.
    pub shuffle: bool,
    /// Seed for initialisation and shuffling.
    pub seed: u64,
    /// Warm start from the previous model.
    pub use_previous_model: bool,
    /// Drop an incomplete last batch.
    pub drop_last_batch: bool,
    /// libtorch intra-op threads.
    pub num_threads: usize,
    /// Bound of the training queue.
    pub queue_capacity: usize,
    /// Optimizer.
    pub optimizer: OptimizerSpec,
}

/// When to train.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TriggerSpec {
    /// Every `every` samples.
    Amount {
        /// Samples per trigger.
        every: u64,
    },
}

/// What to train on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectionSpec {
    /// The samples since the previous trigger.
    NewData,
}

/// Held-out evaluation.
#[derive(Clone, Debug)]
pub struct EvaluationSpec {
    /// Resolved path of the held-out dataset (same columns as the source).
    pub path: PathBuf,
    /// Metric names.
    pub metrics: Vec<super::low::Metric>,
    /// Inference batch size.
    pub batch_size: usize,
}
