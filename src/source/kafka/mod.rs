//! Kafka as a source (rdkafka lives only here and in `sink/kafka`).
//!
//! | file | responsibility |
//! |---|---|
//! | `admin.rs` | connecting with a timeout, topic metadata, creating topics |
//! | `batch.rs` | taking queued messages from librdkafka in batches (the one module with `unsafe`) |
//! | `reader.rs` | [`KafkaReader`]: one worker's partitions, event-time watermark, late policy, restart offsets; [`Prefetch`]: the reader on its own thread |
//! | `source.rs` | [`KafkaSource`]: the topic as a [`Source`](super::Source): shares, lag, offset commits |
//! | `value.rs` | [`ValueDecoder`]: the message value decoder `[source] format` names |
//! | `json.rs` | decoding a JSON message value into a [`Sample`](super::Sample) |
//! | `arrow.rs` | decoding an Arrow IPC stream value into samples |
//! | `setting.rs` | librdkafka's check of one client setting (for `config`; imports nothing) |

pub mod admin;
mod arrow;
mod batch;
mod json;
mod reader;
pub(crate) mod setting;
mod source;
mod value;

pub use arrow::ArrowDecoder;
pub use json::{JsonDecoder, MessageMeta};
pub use reader::{KafkaReader, Polled, Prefetch, partitions_of, read_topic};
pub use source::KafkaSource;
pub use value::ValueDecoder;
