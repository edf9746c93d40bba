//! Decoded samples and undecodable input.

use serde::{Deserialize, Serialize};
use sluice_dataflows::{Key, SampleMeta, Time};

/// A decoded training sample: metadata plus its feature payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Unique key.
    pub key: Key,
    /// Event time, Unix milliseconds.
    pub time: Time,
    /// Class label in `0..num_classes`.
    pub label: i64,
    /// Feature vector.
    pub features: Vec<f32>,
}

impl Sample {
    /// The metadata operators see.
    pub fn meta(&self) -> SampleMeta {
        SampleMeta {
            time: self.time,
            key: self.key,
            label: self.label,
        }
    }
}

/// Input that could not be decoded, with where it came from and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Where: `file:line` (CSV), `file#row` (Arrow), later `topic/partition/offset`.
    pub location: String,
    /// Why it was rejected.
    pub reason: String,
    /// The raw input (CSV line), truncated to 1 KiB; empty when not textual.
    pub raw: String,
}
