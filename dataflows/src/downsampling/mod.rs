//! Downsampling state: per-sample scores reported by the trainer, kept incrementally.
//!
//! | file | responsibility |
//! |---|---|
//! | `scores.rs` | [`KeepScores`]: the latest score of every sample, on the worker owning its key |

mod scores;

pub use scores::{KeepScores, Score, ScoreBoard, record};
