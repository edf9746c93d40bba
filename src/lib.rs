//! Sluice: continuous training of ML models on streams.
//!
//! Samples arrive as a stream (a dataset file replayed by event time, or a Kafka topic), a timely
//! dataflow decides when to retrain (triggers) and on what (selection), and trainer threads
//! train libtorch models whose artifacts and events land in a run directory.
//! See docs/architecture.md for the map of modules.

pub mod allocator;
mod calendar;
pub mod config;
pub mod datasets;
pub mod eval;
#[doc(hidden)]
pub mod fuzz;
pub mod modyn;
pub mod pipeline;
pub mod produce;
pub mod report;
pub mod serve;
pub mod sink;
pub mod source;
pub mod store;
pub mod train;

pub use calendar::{format_time, parse_time};

/// The git commit Sluice was built from (`unknown` outside a git checkout; uncommitted changes
/// are not noted), recorded in run directories.
pub const GIT_REVISION: &str = env!("SLUICE_GIT_REVISION");
