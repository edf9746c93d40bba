//! Where samples come from.
//!
//! | file | responsibility |
//! |---|---|
//! | `sample.rs` | [`Sample`], [`Rows`] (samples in columns: what a source yields) and [`DeadLetter`] (what it could not decode) |
//! | `interface.rs` | [`Source`] (an opened source: shares, lag, commits) and [`Share`] (one worker's part: batches, watermark, restart offsets) |
//! | `open.rs` | [`open`]: the source `[source]` describes |
//! | `restart.rs` | [`RestartIndex`], [`PartitionMarks`], [`Resume`]: restart offsets of sources with partitions |
//! | `file.rs` | [`FileSource`]: a CSV or Arrow IPC dataset replayed as a stream, per-worker shares |
//! | `decode.rs` | column mapping and value decoding shared by the formats |
//! | `window.rs` | [`Window`]: the event-time window of a replay (`--replay-from/--replay-until`) |
//! | `kafka/` | a Kafka topic as a source, topic admin |

mod decode;
mod file;
mod interface;
pub mod kafka;
mod open;
mod restart;
mod sample;
mod window;

pub use decode::Columns;
pub use file::{FileSource, SourceError};
pub use interface::{Batch, Progress, ReadPlan, Share, Source};
pub use open::open;
pub use restart::{Needs, PartitionMarks, RestartIndex, Resume};
pub use sample::{DeadLetter, Deletion, MAX_RAW, Origin, Rows, Sample, raw_text};
pub use window::{Window, ceiling, future_reason};
