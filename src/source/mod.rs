//! Where samples come from.
//!
//! | file | responsibility |
//! |---|---|
//! | `sample.rs` | [`Sample`] (what a source yields) and [`DeadLetter`] (what it could not decode) |
//! | `file.rs` | [`FileSource`]: a CSV or Arrow IPC dataset replayed as a stream, per-worker shares |
//! | `decode.rs` | column mapping and value decoding shared by the file formats |

mod decode;
mod file;
mod sample;

pub use decode::Columns;
pub use file::{FileSource, SourceError};
pub use sample::{DeadLetter, Sample};
