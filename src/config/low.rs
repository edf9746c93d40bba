//! The "low" config: exactly what users write, checked by serde for names and types only.
//! Semantic checks and defaults that depend on other keys happen in `spec.rs`.
//! Every key is documented in docs/config.md.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `[pipeline]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Name used in events, model ids and the run directory.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// Where samples come from (`[source] kind`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A dataset file replayed as a stream (the embedded default).
    #[default]
    File,
    /// A Kafka topic.
    Kafka,
}

/// Input formats: of dataset files, and of Kafka message values.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Comma-separated values with a header row (files).
    Csv,
    /// Arrow IPC: the file format (files), a stream of rows per message (Kafka).
    Arrow,
    /// One JSON object per message (Kafka).
    Json,
}

impl Format {
    /// The format a file extension implies: `.csv`, or `.arrow` / `.ipc` / `.feather`.
    pub fn infer(path: &std::path::Path) -> Option<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Some(Format::Csv),
            Some("arrow" | "ipc" | "feather") => Some(Format::Arrow),
            _ => None,
        }
    }
}

/// Unit of integer time columns.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Milliseconds since the Unix epoch.
    #[default]
    Ms,
    /// Seconds since the Unix epoch (Modyn's unit).
    S,
}

/// When a Kafka source stops.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Until {
    /// At the end offsets the partitions had when the run started (replay).
    End,
    /// Never: follow the topic until interrupted.
    Follow,
}

/// What to do with a message older than its partition's previous one.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Late {
    /// Send it to the dead-letter topic.
    #[default]
    DeadLetter,
    /// Treat it as arriving at the partition's current event time.
    Clamp,
}

/// `[source]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Source kind.
    #[serde(default)]
    pub kind: SourceKind,
    /// Dataset file, relative to the config file's directory (`file`).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// File format (inferred from the extension) or message value format (`json`, `arrow`).
    #[serde(default)]
    pub format: Option<Format>,
    /// Bootstrap servers (`kafka`).
    #[serde(default)]
    pub brokers: Option<String>,
    /// librdkafka security settings, `[source.kafka]` (`kafka`).
    #[serde(default)]
    pub kafka: Option<BTreeMap<String, toml::Value>>,
    /// Topic (`kafka`).
    #[serde(default)]
    pub topic: Option<String>,
    /// Partitions of the topic when Sluice creates it (`kafka`).
    #[serde(default)]
    pub partitions: Option<i64>,
    /// Create the topic when it does not exist (`kafka`).
    #[serde(default)]
    pub create_topic: Option<bool>,
    /// When to stop (`kafka`).
    #[serde(default)]
    pub until: Option<Until>,
    /// A partition without messages for this long stops holding back the watermark (`kafka`).
    #[serde(default)]
    pub idle_timeout_ms: Option<i64>,
    /// Policy for out-of-order messages within a partition (`kafka`).
    #[serde(default)]
    pub late: Option<Late>,
    /// Column holding a unique u64 key; absent: the row number (files) or the message key,
    /// else partition and offset (Kafka).
    #[serde(default)]
    pub key_column: Option<String>,
    /// Column holding the event time; for Kafka, absent means the message timestamp.
    #[serde(default)]
    pub time_column: Option<String>,
    /// Unit of an integer time column.
    #[serde(default)]
    pub time_unit: Unit,
    /// Column holding the integer class label.
    pub label_column: String,
    /// Feature columns; absent: every other column (files only).
    #[serde(default)]
    pub feature_columns: Option<Vec<String>>,
    /// Samples fed to the dataflow per step.
    #[serde(default)]
    pub replay_batch: Option<i64>,
}

/// `[output]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Bootstrap servers: when set, events also go to Kafka topics.
    #[serde(default)]
    pub brokers: Option<String>,
    /// librdkafka security settings, `[output.kafka]`.
    #[serde(default)]
    pub kafka: Option<BTreeMap<String, toml::Value>>,
    /// Topic name prefix: events go to `<prefix>.triggers`, `<prefix>.models`, ...
    #[serde(default)]
    pub topic_prefix: Option<String>,
}

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

/// How a delta combines two models' 32-bit words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffOperator {
    /// Bitwise exclusive or.
    #[default]
    Xor,
    /// Wrapping subtraction of the bit patterns (child − parent).
    Sub,
}

/// `[model_storage]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelStorage {
    /// Store models trained from a parent as differences to it.
    #[serde(default)]
    pub incremental: Option<bool>,
    /// Difference operator.
    #[serde(default)]
    pub operator: Option<DiffOperator>,
    /// Every this many models of a chain is stored full.
    #[serde(default)]
    pub full_model_interval: Option<i64>,
    /// zstd level for weights files (absent: uncompressed).
    #[serde(default)]
    pub zstd_level: Option<i64>,
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

/// A count, or the word `"all"` (`tail_triggers`, drift `sample_size`).
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub(super) enum CountOrAll {
    Count(i64),
    All(AllWord),
}

/// The word `"all"`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum AllWord {
    All,
}

fn mlp_hidden() -> Vec<i64> {
    vec![64]
}

/// `id = "mlp"`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Hidden layer widths (Linear + ReLU each).
    #[serde(default = "mlp_hidden")]
    pub hidden: Vec<i64>,
}

fn cnn_channels() -> Vec<i64> {
    vec![32, 64]
}

fn cnn_hidden() -> i64 {
    128
}

/// `id = "cnn"`: per entry of `channels`, Conv3x3 (padding 1) + ReLU + MaxPool2; then Flatten,
/// Linear to `hidden` + ReLU (+ Dropout), Linear to the classes.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnConfig {
    /// `[channels, height, width]` of the image the features hold (row-major).
    pub input_shape: [i64; 3],
    /// Output channels of each convolution block.
    #[serde(default = "cnn_channels")]
    pub channels: Vec<i64>,
    /// Width of the hidden fully connected layer.
    #[serde(default = "cnn_hidden")]
    pub hidden: i64,
    /// Dropout before the last layer (training only).
    #[serde(default)]
    pub dropout: f64,
}

fn resnet_shape() -> [i64; 3] {
    [3, 32, 32]
}

fn resnet_width() -> i64 {
    64
}

/// `id = "resnet18"`: torchvision's ResNet-18 with the CIFAR stem.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNetConfig {
    /// `[channels, height, width]` of the image the features hold (row-major).
    #[serde(default = "resnet_shape")]
    pub input_shape: [i64; 3],
    /// Channels of the first stage (doubling per stage: 64, 128, 256, 512).
    #[serde(default = "resnet_width")]
    pub width: i64,
}

fn dlrm_embedding_dim() -> i64 {
    16
}

fn dlrm_bottom() -> Vec<i64> {
    vec![64, 16]
}

fn dlrm_top() -> Vec<i64> {
    vec![64]
}

/// `id = "dlrm"`: the layout of Criteo-style click data.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlrmConfig {
    /// How many leading features are dense (numbers); the rest are categorical ids.
    pub dense_features: i64,
    /// Rows of each categorical feature's embedding table (ids are taken modulo it).
    pub embedding_sizes: Vec<i64>,
    /// Embedding width (also the bottom MLP's output width).
    #[serde(default = "dlrm_embedding_dim")]
    pub embedding_dim: i64,
    /// Bottom MLP widths over the dense features; the last equals `embedding_dim`.
    #[serde(default = "dlrm_bottom")]
    pub bottom_mlp: Vec<i64>,
    /// Top MLP hidden widths (then a Linear to the classes).
    #[serde(default = "dlrm_top")]
    pub top_mlp: Vec<i64>,
}

fn text_embedding_dim() -> i64 {
    64
}

/// `id = "text"`: token ids in, classes out.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// Token ids are `0..vocab_size`, 0 = padding (ignored); other ids outside `1..vocab_size`
    /// fold onto it as `1 + (id - 1) mod (vocab_size - 1)`.
    pub vocab_size: i64,
    /// Embedding width.
    #[serde(default = "text_embedding_dim")]
    pub embedding_dim: i64,
    /// Hidden widths of the head (Linear + ReLU each), then a Linear to the classes.
    #[serde(default)]
    pub hidden: Vec<i64>,
}
