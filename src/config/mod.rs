//! Pipeline configuration: TOML in, a validated [`PipelineSpec`] out.
//!
//! | file | responsibility |
//! |---|---|
//! | `low.rs` | serde structs mirroring what users write (`deny_unknown_fields`) |
//! | `load.rs` | reading a file, per-section deserialisation that collects every error |
//! | `spec.rs` | the validated pipeline spec the rest of Sluice runs from |
//! | `error.rs` | [`ConfigErrors`]: every problem, each with file and key path |

mod error;
mod load;
pub mod low;
mod spec;

pub use error::{ConfigError, ConfigErrors};
pub use load::{load, parse};
pub use spec::{
    ColumnSpec, EvaluationSpec, FileFormat, InputSpec, KafkaOutputSpec, KafkaSourceSpec,
    LatePolicy, ModelSpec, OptimizerAlgorithm, OptimizerSpec, OutputSpec, PipelineSpec,
    SelectionSpec, SourceSpec, TimeUnit, TrainingSpec, TriggerSpec, Until, ValueFormat,
};
