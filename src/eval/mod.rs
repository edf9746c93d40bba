//! Evaluation of trained models on held-out data.
//!
//! | file | responsibility |
//! |---|---|
//! | `holdout.rs` | [`Holdout`]: an evaluation dataset in memory, sorted by event time |
//! | `metrics.rs` | [`Metric`]s (accuracy, top-n, F1, ROC-AUC, log-loss, MSE, MAE) accumulated per batch, and model evaluation |
//! | `strategy.rs` | [`Strategy`]: evaluation intervals (slicing, periodic, between two triggers, offset, static) and composite models |
//! | `evaluator.rs` | [`Session`]: runs handlers' requests on stored models, each (model, dataset, interval) once, emits events, aggregates composites; [`Evaluator`]: a session on its own thread during a run |
//! | `plan.rs` | [`Handler`]: when a handler runs, which models, and the requests it makes |

mod evaluator;
mod holdout;
mod metrics;
mod plan;
mod strategy;

pub use evaluator::{
    Aggregate, EvalDataset, EvalError, EvalReport, EvalSetup, Evaluator, Session, aggregate,
};
pub use holdout::Holdout;
pub use metrics::{Accumulator, evaluate};
pub use plan::Request;
pub use strategy::{Interval, composites};
// The checked `[evaluation]` types are config's; evaluation gives them their behaviour.
pub use crate::config::{
    Edge, Execution, F1Average, Handler, Metric, ModelChoice, Offset, Strategy, Window,
};
