//! Output events and their writers.
//!
//! | file | responsibility |
//! |---|---|
//! | `event.rs` | [`Event`]: the one event type every writer shares (schemas in docs/events.md) |
//! | `events.rs` | [`EventSink`]: what a run emits to (JSONL files, plus Kafka when configured) |
//! | `jsonl.rs` | [`JsonlSink`]: one JSONL file per event kind in the run directory |
//! | `kafka/` | [`KafkaSink`](kafka::KafkaSink): events to `<prefix>.<kind>` topics; `sluice tail` |

mod event;
mod events;
mod jsonl;
pub mod kafka;

pub use event::{Event, EventBody, LaneStatus, STREAMS, unix_ms};
pub use events::{EventSink, SinkError};
pub use jsonl::JsonlSink;
