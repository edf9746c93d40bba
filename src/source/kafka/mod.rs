//! Kafka as a source (rdkafka lives only here and in `sink/kafka`).
//!
//! | file | responsibility |
//! |---|---|
//! | `admin.rs` | connecting with a timeout, topic metadata, creating topics |
//! | `reader.rs` | [`KafkaReader`]: one worker's partitions, event-time watermark, late policy |
//! | `json.rs` | decoding a JSON message value into a [`Sample`](super::Sample) |
//! | `produce.rs` | `sluice produce`: publishing a dataset file as a stream |

pub mod admin;
mod json;
mod produce;
mod reader;

pub use json::{JsonDecoder, MessageMeta};
pub use produce::{ProduceOptions, ProduceReport, Row, produce, read_rows};
pub use reader::{KafkaReader, Resume, partitions_of};
