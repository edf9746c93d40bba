//! Output events and their writers.
//!
//! | file | responsibility |
//! |---|---|
//! | `event.rs` | [`Event`]: the one event type every writer shares (schemas in docs/events.md) |
//! | `jsonl.rs` | [`JsonlSink`]: one JSONL file per event kind in the run directory |

mod event;
mod jsonl;

pub use event::{Event, EventBody, unix_ms};
pub use jsonl::JsonlSink;
