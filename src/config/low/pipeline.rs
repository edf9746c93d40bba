//! `[pipeline]`, `[source]` and `[output]` as users write them.

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

/// What to do with a sample whose key the sample store already holds (`[source] duplicates`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Duplicates {
    /// Keep the sample stored first and drop the copy (counted, not dead-lettered): what an
    /// at-least-once producer's retry needs.
    #[default]
    KeepFirst,
    /// Keep the sample stored first and send the copy to the dead-letter topic.
    DeadLetter,
    /// Store the copy in place of the sample stored before: training sets cut after the copy
    /// train on it, earlier ones on the sample they selected (a corrected value, or an update
    /// after a deletion).
    KeepLast,
}

/// What to do with a JSON message that writes a field Sluice reads twice
/// (`[source] repeated_fields`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RepeatedFields {
    /// Send the message to the dead-letter topic: which value was meant is unknown.
    #[default]
    DeadLetter,
    /// Take the last value, as most JSON parsers do.
    LastWins,
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
    /// Policy for a key read again while its sample is stored.
    #[serde(default)]
    pub duplicates: Duplicates,
    /// Column marking a row as the deletion of its key (`file`, CSV).
    #[serde(default)]
    pub delete_column: Option<String>,
    /// A JSON field Sluice reads written twice in one message (`kafka`).
    #[serde(default)]
    pub repeated_fields: Option<RepeatedFields>,
    /// The share of a run's inputs that may be dead-lettered before the run fails.
    #[serde(default)]
    pub max_dead_letter_ratio: Option<f64>,
    /// How far ahead of the wall clock an event time may be (a span, `"5m"`; `"off"`).
    #[serde(default)]
    pub max_future: Option<String>,
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
    /// Each model's TorchScript file also goes to `<prefix>.model-artifacts`.
    #[serde(default)]
    pub publish_artifacts: bool,
}
