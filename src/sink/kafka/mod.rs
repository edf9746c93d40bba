//! Events to Kafka topics, and `sluice tail` (rdkafka lives only here and in `source/kafka`).
//!
//! | file | responsibility |
//! |---|---|
//! | `producer.rs` | [`KafkaSink`]: events to `<prefix>.<kind>` topics, key = idempotent event id |
//! | `artifacts.rs` | model files in chunks on `<prefix>.model-artifacts`; [`pull`] reassembles one |
//! | `records.rs` | [`RecordProducer`]: records to chosen partitions of a topic (`sluice produce`) |
//! | `tail.rs` | [`tail`]: printing a topic's messages as JSON lines |

mod artifacts;
mod producer;
mod records;
mod tail;

pub use artifacts::{CHUNK, Published, PullError, pull, sha256};
pub use producer::KafkaSink;
pub use records::RecordProducer;
pub use tail::{TailError, TailOptions, tail};
