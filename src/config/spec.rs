//! The validated pipeline spec ("high" config): defaults applied, cross-key checks done, paths
//! resolved against the config file's directory.

use std::path::PathBuf;

use sluice_dataflows::downsampling::DownsamplingPlan;
use sluice_dataflows::selection::SetSampler;
use sluice_dataflows::triggers::{CostConfig, DriftConfig, EnsembleStrategy, PerformanceConfig};

use super::eval_spec::{Handler, Metric};

pub use super::kafka::KafkaCluster;

pub use super::low::{
    Algorithm as OptimizerAlgorithm, Criterion, DiffOperator, Duplicates as DuplicatePolicy,
    Format as FileFormat, Late as LatePolicy, ScheduleKind, StepEvery, Unit as TimeUnit, Until,
};
pub use super::low::{
    CnnConfig, DlrmConfig, MlpConfig, ResNetConfig, TextConfig, TorchScriptConfig,
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
    pub variants: Vec<Variant>,
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
    /// Each model's TorchScript file also goes to `<topic_prefix>.model-artifacts`.
    pub publish_artifacts: bool,
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
    /// A key read again while its sample is stored.
    pub duplicates: DuplicatePolicy,
    /// A finished run whose inputs were dead-lettered more than this share fails.
    pub max_dead_letter_ratio: f64,
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
    /// end offsets it had at start: `until` says, else a run without a replay window
    /// (`unbounded_window`) follows.
    pub fn follows(&self, unbounded_window: bool) -> bool {
        match self.until {
            Some(Until::Follow) => true,
            Some(Until::End) => false,
            None => unbounded_window,
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
    /// Samples whose event time is more than this many ms ahead of the wall clock are
    /// dead-lettered (`source.max_future`; `None`: no bound).
    pub max_future_ms: Option<u64>,
    /// A JSON message writing a field Sluice reads twice trains on the last value
    /// (`source.repeated_fields = "last_wins"`) instead of being dead-lettered.
    pub repeated_fields_last_wins: bool,
    /// A CSV file's column marking a row as the deletion of its key (`source.delete_column`).
    pub delete_column: Option<String>,
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
    pub downsampling: Option<DownsamplingPlan>,
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

/// Model ids `[model] id` accepts.
pub const MODEL_IDS: [&str; 6] = ["mlp", "cnn", "resnet18", "dlrm", "text", "torchscript"];

/// A validated `[model]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Output classes (labels are `0..num_classes`).
    pub num_classes: i64,
    /// Architecture and its hyper-parameters.
    pub arch: Architecture,
    /// How the model scales its input features (`normalize`).
    pub normalize: Normalize,
}

/// How a model scales its input features (`[model] normalize`): inside the model, so its
/// stored TorchScript file takes raw features. Only numeric inputs are scaled: DLRM's dense
/// features (its categorical ids are left alone); the text model's token ids never.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Normalize {
    /// Features as they are (`"none"`, the default).
    #[default]
    None,
    /// The stream's per-feature mean and standard deviation over every sample at or before
    /// each trigger's boundary, frozen into that trigger's model (`"running"`).
    Running,
    /// Fixed per-feature statistics (`{ mean = [...], std = [...] }`).
    Fixed {
        /// Per scaled feature, subtracted first.
        mean: Vec<f64>,
        /// Per scaled feature (> 0), divided by then.
        std: Vec<f64>,
    },
}

impl ModelSpec {
    /// Number of output classes.
    pub fn num_classes(&self) -> i64 {
        self.num_classes
    }
}

/// The architectures of the model zoo.
#[derive(Clone, Debug, PartialEq)]
pub enum Architecture {
    /// Multi-layer perceptron over the feature vector.
    Mlp(MlpConfig),
    /// Small convolutional network for 28x28 / 32x32 images.
    Cnn(CnnConfig),
    /// ResNet-18 with the CIFAR stem (3x3 convolution, no max-pool).
    Resnet18(ResNetConfig),
    /// DLRM: dense features through a bottom MLP, categorical features through embedding
    /// tables, pairwise dot-product interactions, a top MLP.
    Dlrm(DlrmConfig),
    /// Text classifier: mean of token embeddings (an EmbeddingBag), then an MLP head.
    Text(TextConfig),
    /// The user's own TorchScript module.
    TorchScript(TorchScriptConfig),
}

impl Architecture {
    /// The `[model] id`.
    pub fn id(&self) -> &'static str {
        match self {
            Architecture::Mlp(_) => "mlp",
            Architecture::Cnn(_) => "cnn",
            Architecture::Resnet18(_) => "resnet18",
            Architecture::Dlrm(_) => "dlrm",
            Architecture::Text(_) => "text",
            Architecture::TorchScript(_) => "torchscript",
        }
    }
}

/// When to train.
#[derive(Clone, Debug, PartialEq)]
pub enum TriggerSpec {
    /// Every `every` samples.
    Amount {
        /// Samples per trigger.
        every: u64,
    },
    /// Every `every_ms` of event time.
    Time {
        /// Window length, ms.
        every_ms: u64,
        /// As written (`"1h"`), for trigger reasons.
        every: String,
        /// Start of the first window, ms (`None`: the first sample's time).
        start_ms: Option<u64>,
    },
    /// When the data drifts.
    Drift {
        /// Decision interval and warm-up.
        batched: BatchedSpec,
        /// Windows, metrics, criteria.
        drift: DriftConfig,
    },
    /// When the model in service does badly on new data.
    Performance {
        /// Decision interval and warm-up.
        batched: BatchedSpec,
        /// Criteria and trackers.
        performance: PerformanceConfig,
    },
    /// When regret outweighs the forecast training time.
    Cost {
        /// Decision interval and warm-up.
        batched: BatchedSpec,
        /// Regret and conversion.
        cost: CostConfig,
    },
    /// When enough sub-policies agree.
    Ensemble {
        /// Named sub-policies.
        subtriggers: Vec<(String, TriggerSpec)>,
        /// How their votes combine.
        strategy: EnsembleStrategy,
    },
}

impl TriggerSpec {
    /// Whether the policy reads samples' features (drift's vectors, performance's and cost's
    /// predictions), through the trigger worker's probe.
    pub fn reads_payloads(&self) -> bool {
        match self {
            TriggerSpec::Amount { .. } | TriggerSpec::Time { .. } => false,
            TriggerSpec::Drift { .. }
            | TriggerSpec::Performance { .. }
            | TriggerSpec::Cost { .. } => true,
            TriggerSpec::Ensemble { subtriggers, .. } => {
                subtriggers.iter().any(|(_, s)| s.reads_payloads())
            }
        }
    }
}

/// The batched-policy keys.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchedSpec {
    /// `evaluation_interval_data_points`: samples per decision.
    pub every: usize,
    /// `warmup_intervals` decided by `warmup_policy`.
    pub warmup: Option<(usize, Box<TriggerSpec>)>,
}

/// What each trigger trains on.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectionSpec {
    /// The candidate pool each worker keeps.
    pub pool: Pool,
    /// The global step on the candidates.
    pub sampler: SetSampler,
    /// `coreset`: the trainer's downsampling of each training set (after `warmup_triggers`).
    pub downsampling: Option<DownsamplingPlan>,
    /// The irreducible-loss model of each RHO-Loss downsampler, by index in the plan's list.
    pub irreducible: Vec<Option<Box<IlSpec>>>,
    /// Samples whose payloads and candidate entries stay in memory; older ones spill to disk
    /// segments in the run directory (`None`: no bound).
    pub maximum_keys_in_memory: Option<usize>,
}

impl Default for SelectionSpec {
    fn default() -> Self {
        Self {
            pool: Pool::Tail(Some(0)),
            sampler: SetSampler::none(),
            downsampling: None,
            irreducible: Vec::new(),
            maximum_keys_in_memory: None,
        }
    }
}

/// Candidate pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    /// The last `tail + 1` epochs (`None`: all data).
    Tail(Option<u64>),
    /// A reservoir of this budget.
    Reservoir(usize),
}

/// `[evaluation]`.
#[derive(Clone, Debug)]
pub struct EvaluationSpec {
    /// Evaluation datasets.
    pub datasets: Vec<EvalDatasetSpec>,
    /// Handlers.
    pub handlers: Vec<Handler>,
    /// Device for inference (`evaluation.device`; default: `training.device`).
    pub device: Option<String>,
}

/// One evaluation dataset.
#[derive(Clone, Debug)]
pub struct EvalDatasetSpec {
    /// Name, in events (default: the file name or the topic).
    pub name: String,
    /// Where its samples are.
    pub input: EvalInput,
    /// Its columns: the source's, with its own time column if given.
    pub columns: ColumnSpec,
    /// Metrics computed on it.
    pub metrics: Vec<Metric>,
    /// Inference batch size.
    pub batch_size: usize,
}

/// Where an evaluation dataset's samples are.
#[derive(Clone, Debug)]
pub enum EvalInput {
    /// A CSV or Arrow file.
    File {
        /// Resolved path.
        path: PathBuf,
        /// Its format.
        format: FileFormat,
    },
    /// A Kafka topic, read from the beginning to its end offsets when the run starts.
    Kafka {
        /// Brokers and security settings.
        cluster: KafkaCluster,
        /// Topic.
        topic: String,
        /// Message value encoding.
        format: ValueFormat,
    },
}

/// One variant of a sweep.
#[derive(Clone, Debug)]
pub struct Variant {
    /// `variant[i].name`: its run directory `variants/<name>/`, the `variant` of its events.
    pub name: String,
    /// The base config with the variant's overrides.
    pub spec: PipelineSpec,
}
