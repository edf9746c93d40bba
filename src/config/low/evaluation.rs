//! `[evaluation]` as users write it: its own keys, datasets, handlers and their strategies.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Value;

use super::pipeline::Format;

/// `[evaluation]`'s own keys; the others are the short form's dataset ([`DatasetLow`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EvaluationLow {
    #[serde(default)]
    pub(crate) device: Option<String>,
    #[serde(default)]
    pub(crate) datasets: Option<Vec<Value>>,
    #[serde(default)]
    pub(crate) handlers: Option<Vec<Value>>,
}

/// The keys of [`EvaluationLow`], the rest of `[evaluation]` being the short form's dataset.
pub(crate) const OWN_KEYS: [&str; 3] = ["device", "datasets", "handlers"];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct DatasetLow {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) path: Option<PathBuf>,
    #[serde(default)]
    pub(crate) topic: Option<String>,
    #[serde(default)]
    pub(crate) brokers: Option<String>,
    #[serde(default)]
    pub(crate) kafka: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub(crate) format: Option<Format>,
    #[serde(default)]
    pub(crate) time_column: Option<String>,
    #[serde(default)]
    pub(crate) metrics: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) batch_size: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HandlerLow {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) execution_time: Option<String>,
    #[serde(default)]
    pub(crate) models: Option<String>,
    #[serde(default)]
    pub(crate) datasets: Option<Vec<String>>,
    pub(crate) strategy: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SlicingLow {
    pub(crate) eval_every: String,
    #[serde(default)]
    pub(crate) eval_start_from: Option<i64>,
    #[serde(default)]
    pub(crate) eval_end_at: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PeriodicLow {
    pub(crate) every: String,
    pub(crate) interval: String,
    #[serde(default)]
    pub(crate) start_timestamp: Option<i64>,
    #[serde(default)]
    pub(crate) end_timestamp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OffsetLow {
    pub(crate) offsets: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StaticLow {
    pub(crate) intervals: Vec<Vec<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoKeys {}
