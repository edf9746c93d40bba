//! The validated pipeline spec ("high" config): defaults applied, cross-key checks done, paths
//! resolved against the config file's directory.

use std::path::PathBuf;

pub use super::kafka::KafkaCluster;

pub use super::low::{
    Algorithm as OptimizerAlgorithm, Criterion, DiffOperator, Format as FileFormat,
    Late as LatePolicy, ScheduleKind, StepEvery, Unit as TimeUnit, Until,
};
pub use super::models::{
    Architecture, CnnConfig, DlrmConfig, MODEL_IDS, MlpConfig, ModelSpec, ResNetConfig, TextConfig,
};

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
    /// `[model_storage]`.
    pub model_storage: ModelStorageSpec,
    /// `[trigger]`.
    pub trigger: TriggerSpec,
    /// `[selection]`.
    pub selection: SelectionSpec,
    /// `[evaluation]`, if any.
    pub evaluation: Option<EvaluationSpec>,
    /// `[output]`.
    pub output: OutputSpec,
    /// `[[variant]]`: a sweep's variants, each the base config with its overrides (empty: no
    /// sweep).
    pub variants: Vec<super::variants::Variant>,
}

/// Where events go besides the run directory's JSONL files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputSpec {
    /// Kafka output, if configured.
    pub kafka: Option<KafkaOutputSpec>,
}

/// Events to Kafka topics `<topic_prefix>.<kind>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaOutputSpec {
    /// Brokers and security settings.
    pub cluster: KafkaCluster,
    /// Topic prefix (default: the pipeline name).
    pub topic_prefix: String,
}

/// Where samples come from and how to read them.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    /// The input.
    pub input: InputSpec,
    /// Which columns (fields) hold key, time, label and features.
    pub columns: ColumnSpec,
    /// Samples fed to the dataflow per step.
    pub replay_batch: usize,
}

/// The input of a source.
#[derive(Clone, Debug)]
pub enum InputSpec {
    /// A dataset file.
    File {
        /// Resolved path.
        path: PathBuf,
        /// Format.
        format: FileFormat,
    },
    /// A Kafka topic.
    Kafka(KafkaSourceSpec),
}

/// How a Kafka message value is encoded (`source.format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ValueFormat {
    /// One JSON object per message.
    #[default]
    Json,
    /// An Arrow IPC stream of rows per message.
    Arrow,
}

/// A Kafka topic as a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSourceSpec {
    /// Brokers and security settings.
    pub cluster: KafkaCluster,
    /// Topic.
    pub topic: String,
    /// Message value encoding.
    pub format: ValueFormat,
    /// Partitions when Sluice creates the topic.
    pub partitions: i32,
    /// Create the topic when missing.
    pub create_topic: bool,
    /// When to stop (`None`: follow the topic, unless the run replays an event-time window;
    /// see [`KafkaSourceSpec::follows`]).
    pub until: Option<Until>,
    /// Idle partitions stop holding back the watermark after this long.
    pub idle_timeout_ms: u64,
    /// Out-of-order messages within a partition.
    pub late: LatePolicy,
}

impl KafkaSourceSpec {
    /// Whether the run follows the topic (reads on at its end) rather than replaying up to the
    /// end offsets it had at start: `until` says, else a run without a replay window follows.
    pub fn follows(&self, window: &crate::source::Window) -> bool {
        match self.until {
            Some(Until::Follow) => true,
            Some(Until::End) => false,
            None => window.is_unbounded(),
        }
    }
}

/// Column (or JSON field) names of a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Key column (`None`: row number for files; message key, else partition+offset, for Kafka).
    pub key_column: Option<String>,
    /// Event-time column (`None`: the Kafka message timestamp).
    pub time_column: Option<String>,
    /// Unit of integer time values.
    pub time_unit: TimeUnit,
    /// Label column.
    pub label_column: String,
    /// Feature columns (`None`: all columns but key, time and label, in file order).
    pub feature_columns: Option<Vec<String>>,
    /// Labels must lie in `0..num_classes` (from `[model]`).
    pub num_classes: i64,
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
    /// Weight decay (L2 for SGD and Adam, decoupled for AdamW).
    pub weight_decay: f64,
    /// Adam/AdamW (beta1, beta2).
    pub betas: [f64; 2],
    /// Adam/AdamW epsilon.
    pub eps: f64,
    /// (name prefix, learning rate) per parameter group; other parameters use `lr`.
    pub param_groups: Vec<(String, f64)>,
}

impl OptimizerSpec {
    /// Plain SGD at `lr`, every other option at its default.
    pub fn sgd(lr: f64) -> Self {
        Self {
            algorithm: OptimizerAlgorithm::Sgd,
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            betas: [0.9, 0.999],
            eps: 1e-8,
            param_groups: Vec::new(),
        }
    }
}

impl TrainingSpec {
    /// `[training]` with `batch_size` and `optimizer` given and every other key at its
    /// documented default (docs/config.md).
    pub fn with_defaults(batch_size: usize, optimizer: OptimizerSpec) -> Self {
        Self {
            device: "cpu".into(),
            batch_size,
            epochs_per_trigger: 1,
            shuffle: true,
            seed: 0,
            use_previous_model: true,
            drop_last_batch: false,
            num_threads: 1,
            queue_capacity: 2,
            optimizer,
            schedule: ScheduleSpec::default(),
            criterion: Criterion::CrossEntropy,
            label_smoothing: 0.0,
            grad_clip_norm: None,
            num_samples_to_pass: None,
            initial_model: None,
            record_loss_every: None,
            checkpoint_every_steps: None,
            amp: false,
            per_sample_feedback: false,
            downsampling: None,
            irreducible: Vec::new(),
        }
    }
}

/// `[model_storage]`: how model artifacts are written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelStorageSpec {
    /// Store models trained from a parent as differences: (operator, full_model_interval).
    pub incremental: Option<(DiffOperator, u64)>,
    /// zstd level for the weights files (`None`: uncompressed).
    pub zstd_level: Option<i32>,
}

/// A learning-rate schedule: a factor on every group's base rate, per step (batch or epoch).
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleSpec {
    /// Step, cosine or constant.
    pub kind: ScheduleKind,
    /// Unit of the step counts.
    pub step_every: StepEvery,
    /// `step`: steps between decays.
    pub step_size: u64,
    /// `step`: decay factor.
    pub gamma: f64,
    /// `cosine`: steps of one annealing (`None`: the trigger's total).
    pub t_max: Option<u64>,
    /// `cosine`: final rate.
    pub min_lr: f64,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
}

impl Default for ScheduleSpec {
    fn default() -> Self {
        Self {
            kind: ScheduleKind::Constant,
            step_every: StepEvery::Batch,
            step_size: 1,
            gamma: 0.1,
            t_max: None,
            min_lr: 0.0,
            warmup_steps: 0,
        }
    }
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
    /// Learning-rate schedule within a trigger.
    pub schedule: ScheduleSpec,
    /// Loss function.
    pub criterion: Criterion,
    /// Cross-entropy label smoothing.
    pub label_smoothing: f64,
    /// Clip the gradients' global L2 norm.
    pub grad_clip_norm: Option<f64>,
    /// Samples passed per trigger at most (over all epochs).
    pub num_samples_to_pass: Option<u64>,
    /// Safetensors file the first model starts from.
    pub initial_model: Option<PathBuf>,
    /// Loss `metrics` event every this many optimizer steps.
    pub record_loss_every: Option<u64>,
    /// In-progress weights saved every this many optimizer steps.
    pub checkpoint_every_steps: Option<u64>,
    /// Mixed precision on CUDA.
    pub amp: bool,
    /// Per-sample losses flow back into the dataflow.
    pub per_sample_feedback: bool,
    /// Downsampling of each training set (`[selection.downsampling]` after
    /// `selection.warmup_triggers`), applied by the trainer.
    pub downsampling: Option<sluice_dataflows::downsampling::DownsamplingPlan>,
    /// The irreducible-loss model of each RHO-Loss downsampler in `downsampling`'s list (by
    /// index; `None` for other downsamplers).
    pub irreducible: Vec<Option<Box<IlSpec>>>,
}

/// RHO-Loss's irreducible-loss model: its architecture and how it trains on the holdout split
/// (`[selection.downsampling]` `il_model`, `il_training`).
#[derive(Clone, Debug, PartialEq)]
pub struct IlSpec {
    /// Architecture (default: `[model]`).
    pub model: ModelSpec,
    /// Training (`[training]` with `il_training`'s changes; never downsampled).
    pub training: TrainingSpec,
}

pub use super::triggers::{BatchedSpec, TriggerSpec};

pub use super::selection::{Pool, SelectionSpec};

pub use super::evaluation::{EvalDatasetSpec, EvalInput, EvaluationSpec};
