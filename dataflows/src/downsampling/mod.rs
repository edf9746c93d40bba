//! Downsampling state: per-sample scores reported by the trainer, kept incrementally.
//!
//! | file | responsibility |
//! |---|---|
//! | `scores.rs` | [`KeepScores`]: the latest score of every sample, on the worker owning its key |
//! | `select.rs` | the downsamplers' choice: which scored samples to train on, with which weights |

mod scores;
mod select;

pub use scores::{KeepScores, Score, ScoreBoard, record};
pub use select::{
    Downsampling, DownsamplingPlan, Method, Rs2, Uncertainty, choose, importance, lowest,
    target_size,
};
