//! The event type shared by all writers. One JSON object per event; `kind` selects the schema.
//! `id` is idempotent: the same logical event always gets the same id, so a consumer (or a
//! Kafka topic with compaction) can drop duplicates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_dataflows::Position;

use crate::store::SourceRange;

/// An output event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Pipeline name.
    pub pipeline: String,
    /// The variant of a sweep that emitted it (`None`: not a sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Idempotent event id, unique per pipeline and variant (`trigger-3`, `model-3`,
    /// `metric-3-train_loss`).
    pub id: String,
    /// Wall-clock time the event was emitted, Unix milliseconds.
    pub wall_time_ms: u64,
    /// Kind and kind-specific fields.
    #[serde(flatten)]
    pub body: EventBody,
}

/// Kind-specific event fields; serialised with a `kind` tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// A trigger fired (`triggers`).
    Trigger {
        /// Trigger number, from 0.
        trigger_id: u64,
        /// First sample of the closed epoch.
        first: Position,
        /// Last sample of the closed epoch.
        boundary: Position,
        /// Samples in the epoch.
        samples: u64,
        /// Why the policy fired.
        reason: String,
        /// The numbers behind the decision (metric values, thresholds, window sizes).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        details: BTreeMap<String, f64>,
    },
    /// A batched trigger policy decided on an interval, fired or not (`metrics`): the series
    /// of distances and thresholds to plot.
    Decision {
        /// The trigger the decision fired, or the next one.
        trigger_id: u64,
        /// The interval's last sample.
        at: Position,
        /// Whether it fired.
        triggered: bool,
        /// Metric values, thresholds, window sizes.
        details: BTreeMap<String, f64>,
    },
    /// A model was trained and stored (`models`).
    Model {
        /// Model id (artifact file stem).
        model_id: String,
        /// The trigger it was trained for.
        trigger_id: u64,
        /// Architecture (`[model] id`; hyper-parameters are in the artifact's metadata).
        architecture: String,
        /// Earliest event time in the training set (ms).
        first_time: u64,
        /// Latest event time in the training set (ms).
        last_time: u64,
        /// Samples in the training set.
        samples: u64,
        /// Samples passed through the model (one per sample per epoch, up to the cap).
        samples_passed: u64,
        /// Digest of the training set's keys (FNV-1a over sorted keys), for comparing runs.
        training_set_digest: String,
        /// Wall time spent training, ms.
        training_ms: u64,
        /// Training throughput: `samples_passed` per second of `training_ms`.
        samples_per_s: f64,
        /// Mean loss over the last training epoch.
        final_loss: f64,
        /// Artifact path, relative to the run directory.
        artifact: String,
        /// Lineage: the file of the training set's keys (sorted little-endian u64s), relative
        /// to the run directory; `sluice lineage` reads it.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        keys: String,
        /// Lineage: where the training set was read, per source partition (a file: partition
        /// 0, CSV lines or Arrow rows).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sources: Vec<SourceRange>,
        /// With `[output] publish_artifacts`: the SHA-256 (hex) of the TorchScript file
        /// published to `<prefix>.model-artifacts`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        artifact_sha256: Option<String>,
        /// Its length in bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        artifact_bytes: Option<u64>,
        /// The messages it was cut into (keys `<model_id>/0` …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        artifact_chunks: Option<u32>,
    },
    /// A measurement (`metrics`).
    Metric {
        /// Trigger the measurement belongs to.
        trigger_id: u64,
        /// Metric name (`train_loss`, `training_ms`, `samples_per_s`, ...).
        name: String,
        /// Value.
        value: f64,
        /// Optimizer step, for training-progress metrics (`train_loss` every N steps).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<u64>,
    },
    /// A model evaluated on an interval of an evaluation dataset (`evaluations`).
    Evaluation {
        /// Evaluated model.
        model_id: String,
        /// Its trigger.
        trigger_id: u64,
        /// The handler that asked (`[[evaluation.handlers]] name`).
        handler: String,
        /// Evaluation dataset name.
        dataset: String,
        /// The interval, `start-end` (`start-inf` when unbounded).
        interval: String,
        /// First event time in the interval, ms.
        start_time: u64,
        /// First event time after it, ms (absent: unbounded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_time: Option<u64>,
        /// Metric name.
        metric: String,
        /// Value.
        value: f64,
        /// Samples evaluated.
        samples: u64,
        /// Whether the model is the interval's currently-active model (the newest model
        /// trained on data before the interval); absent when not known (after training).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currently_active: Option<bool>,
        /// Whether the model is the interval's currently-trained model (the active model's
        /// successor, trained on data like the interval's); absent when not known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currently_trained: Option<bool>,
    },
    /// How far a run (or a sweep's variant) is, every `--status-every` seconds and at its end
    /// (`metrics`; also `status.json`, which `sluice status` reads).
    Status(LaneStatus),
    /// Input that could not be decoded (`dead-letter`).
    DeadLetter {
        /// Where: `file:line`, `file#rowN`.
        location: String,
        /// Why.
        reason: String,
        /// Raw input (truncated).
        raw: String,
    },
}

/// Every event stream: a JSONL file `<stream>.jsonl` and a Kafka topic `<prefix>.<stream>`.
pub const STREAMS: [&str; 5] = [
    "triggers",
    "models",
    "metrics",
    "evaluations",
    "dead-letter",
];

impl EventBody {
    /// The JSONL file / topic suffix this event goes to.
    pub fn stream(&self) -> &'static str {
        match self {
            EventBody::Trigger { .. } => "triggers",
            EventBody::Model { .. } => "models",
            EventBody::Metric { .. } | EventBody::Decision { .. } | EventBody::Status(_) => {
                "metrics"
            }
            EventBody::Evaluation { .. } => "evaluations",
            EventBody::DeadLetter { .. } => "dead-letter",
        }
    }
}

/// Now, in Unix milliseconds.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How far one lane (a sweep's variant, or the run) is: a `status` event's body and a
/// variant of `status.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaneStatus {
    /// The variant (`None`: not a sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `running`, `finished` or `failed`.
    pub state: String,
    /// The ingestion watermark: event time (Unix ms) before which every sample was read (the
    /// leader's workers; `None` before the first sample).
    pub watermark: Option<u64>,
    /// Wall time minus the watermark, ms: how far the stream's event time trails the clock
    /// (meaningful for a live topic).
    pub lag_ms: Option<u64>,
    /// Input not read yet: a topic's messages up to its partitions' end offsets now, a file's
    /// rows (`None` when unknown).
    pub lag_messages: Option<u64>,
    /// Samples decoded and stored so far.
    pub samples: u64,
    /// Triggers fired so far.
    pub triggers: u64,
    /// The model in service: the newest stored model.
    pub model: Option<String>,
    /// Training sets queued for, or in, training.
    pub queue: u64,
    /// When the last evaluation event was emitted (Unix ms).
    pub last_evaluation_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_flat_with_kind_tag() {
        let e = Event {
            pipeline: "p".into(),
            variant: None,
            id: "metric-2-train_loss".into(),
            wall_time_ms: 5,
            body: EventBody::Metric {
                trigger_id: 2,
                name: "train_loss".into(),
                value: 0.5,
                step: None,
            },
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "metric");
        assert_eq!(json["trigger_id"], 2);
        assert_eq!(json["pipeline"], "p");
        assert!(
            json.get("step").is_none(),
            "absent steps are not written: {json}"
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }
}
