//! Events to Kafka topics, and `sluice tail` (rdkafka lives only here and in `source/kafka`).
//!
//! | file | responsibility |
//! |---|---|
//! | `producer.rs` | [`KafkaSink`]: events to `<prefix>.<kind>` topics, key = idempotent event id |
//! | `tail.rs` | [`tail`]: printing a topic's messages as JSON lines |

mod producer;
mod tail;

pub use producer::KafkaSink;
pub use tail::{TailOptions, tail};
