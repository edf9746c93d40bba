//! Evaluation of trained models on held-out data.
//!
//! | file | responsibility |
//! |---|---|
//! | `holdout.rs` | [`Holdout`]: a held-out dataset in memory, sorted by event time |
//! | `metrics.rs` | [`Metric`]s (accuracy, top-n, F1, ROC-AUC, log-loss, MSE, MAE) accumulated per batch, and model evaluation |

mod holdout;
mod metrics;

pub use holdout::Holdout;
pub use metrics::{Accumulator, F1Average, Metric, evaluate};
