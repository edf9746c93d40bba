//! Pipeline configuration: TOML in, a validated [`PipelineSpec`] out.
//!
//! | file | responsibility |
//! |---|---|
//! | `low.rs` | serde structs mirroring what users write (`deny_unknown_fields`) |
//! | `load.rs` | reading a file, per-section deserialisation that collects every error |
//! | `spec.rs` | the validated pipeline spec the rest of Sluice runs from |
//! | `models.rs` | `[model]`: the architectures of the zoo and their own keys |
//! | `selection.rs` | `[selection]`: candidate pool and global sampling |
//! | `evaluation.rs` | `[evaluation]`: datasets (files, topics) and handlers (strategies) |
//! | `triggers.rs` | `[trigger]`: every policy's keys, recursively (warm-up policies) |
//! | `variants.rs` | `[[variant]]`: a sweep's variants, merged over the base config |
//! | `error.rs` | [`ConfigErrors`]: every problem, each with file and key path |

mod error;
mod evaluation;
mod kafka;
mod load;
pub mod low;
mod models;
mod selection;
mod spec;
mod triggers;
mod variants;

pub use error::{ConfigError, ConfigErrors};
pub use evaluation::default_handlers;
pub use kafka::{KafkaCluster, KafkaProperties};
pub use load::{load, parse, parse_span};
pub use spec::{
    Architecture, BatchedSpec, CnnConfig, ColumnSpec, Criterion, DiffOperator, DlrmConfig,
    EvalDatasetSpec, EvalInput, EvaluationSpec, FileFormat, IlSpec, InputSpec, KafkaOutputSpec,
    KafkaSourceSpec, LatePolicy, MODEL_IDS, MlpConfig, ModelSpec, ModelStorageSpec,
    OptimizerAlgorithm, OptimizerSpec, OutputSpec, PipelineSpec, Pool, ResNetConfig, ScheduleKind,
    ScheduleSpec, SelectionSpec, SourceSpec, StepEvery, TextConfig, TimeUnit, TrainingSpec,
    TriggerSpec, Until, ValueFormat,
};
pub use triggers::MAX_SAMPLE_SIZE;
pub use variants::{VARIANT_SECTIONS, Variant};
