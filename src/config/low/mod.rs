//! The "low" config: exactly what users write, checked by serde for names and types only
//! (`deny_unknown_fields`), one file per section. Semantic checks and defaults that depend on
//! other keys happen in the section's checking file (`config/<section>.rs`), which builds the
//! checked types of `spec.rs`. Every key is documented in docs/config.md.
//!
//! | file | responsibility |
//! |---|---|
//! | `pipeline.rs` | `[pipeline]`, `[source]` (kinds, formats, time units, late messages) and `[output]` |
//! | `training.rs` | `[training]`: the optimizer, the learning-rate schedule, the loss |
//! | `model_storage.rs` | `[model_storage]`: incremental storage, compression |
//! | `models.rs` | `[model]`: each architecture's own keys and their defaults |
//! | `selection.rs` | `[selection]`: the pool, presampling and every downsampler's keys |
//! | `triggers.rs` | `[trigger]`: every policy's keys, criteria, windows and metrics |
//! | `evaluation.rs` | `[evaluation]`: datasets, handlers and their strategies |
//! | `common.rs` | values several sections share: a count or `"all"` |
//!
//! Nothing here imports the checking files.

mod common;
pub(super) mod evaluation;
mod model_storage;
mod models;
mod pipeline;
pub(super) mod selection;
mod training;
pub(super) mod triggers;

pub(crate) use common::{AllWord, CountOrAll};
pub use model_storage::{DiffOperator, ModelStorage};
pub use models::{CnnConfig, DlrmConfig, MlpConfig, ResNetConfig, TextConfig, TorchScriptConfig};
pub use pipeline::{
    Duplicates, Format, Late, Output, Pipeline, RepeatedFields, Source, SourceKind, Unit, Until,
};
pub use training::{
    Algorithm, Criterion, LrScheduler, Optimizer, ParamGroup, ScheduleKind, StepEvery, Training,
};
