//! Where samples come from.
//!
//! | file | responsibility |
//! |---|---|
//! | `sample.rs` | [`Sample`] (what a source yields) and [`DeadLetter`] (what it could not decode) |
//! | `file.rs` | [`FileSource`]: a CSV or Arrow IPC dataset replayed as a stream, per-worker shares |
//! | `decode.rs` | column mapping and value decoding shared by the formats |
//! | `window.rs` | [`Window`]: the event-time window of a replay (`--replay-from/--replay-until`) |
//! | `kafka/` | a Kafka topic as a source, topic admin, `sluice produce` |

mod decode;
mod file;
pub mod kafka;
mod sample;
mod window;

pub use decode::Columns;
pub use file::{FileSource, SourceError};
pub use sample::{DeadLetter, Sample};
pub use window::Window;
