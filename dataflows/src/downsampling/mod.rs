//! Downsampling state: per-sample scores reported by the trainer, kept incrementally, and the
//! downsamplers' choices.
//!
//! | file | responsibility |
//! |---|---|
//! | `scores.rs` | [`KeepScores`]: the latest score of every sample, on the worker owning its key |
//! | `select.rs` | the downsamplers' choice: which scored samples to train on, with which weights |
//! | `matrix.rs` | choices from a row per sample: k-center greedy, submodular functions and greedy maximisers |

mod matrix;
mod scores;
mod select;

pub use matrix::{
    GRAD_MATCH_ROWS, Greedy, MAX_ROWS, Rows, Submodular, cosine_similarity, craig_similarity,
    craig_weights, grad_match, k_center_greedy, maximise,
};
pub use scores::{KeepScores, Score, ScoreBoard, record, restore_scores, save_scores};
pub use select::{
    Downsampling, DownsamplingPlan, Gradients, Method, Rs2, Uncertainty, choose, choose_rows,
    highest, importance, in_holdout, lowest, target_size,
};
