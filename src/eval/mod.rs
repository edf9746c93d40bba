//! Evaluation of trained models on held-out data.
//!
//! | file | responsibility |
//! |---|---|
//! | `holdout.rs` | [`Holdout`]: a held-out dataset in memory, sorted by event time |
//! | `metrics.rs` | decomposable metrics accumulated per batch ([`Accuracy`]) and model evaluation |

mod holdout;
mod metrics;

pub use holdout::Holdout;
pub use metrics::{Accuracy, evaluate_accuracy};
