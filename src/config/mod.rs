//! Pipeline configuration: TOML in, a validated [`PipelineSpec`] out.
//!
//! | file | responsibility |
//! |---|---|
//! | `low/` | serde structs mirroring what users write (`deny_unknown_fields`), one file per section |
//! | `spec.rs` | the validated pipeline spec the rest of Sluice runs from |
//! | `fields.rs` | shared checks: errors at key paths, per-section deserialisation, counts, spans |
//! | `load.rs` | reading a file, driving the sections; `[pipeline]`, `[source]`, `[output]` |
//! | `training.rs` | `[training]`, and the training of RHO-Loss's irreducible-loss model |
//! | `models.rs` | `[model]`: the architectures of the zoo and their own keys |
//! | `kafka.rs` | `kafka` tables: the security settings passed through to librdkafka |
//! | `selection.rs` | `[selection]`: candidate pool and global sampling |
//! | `eval_spec.rs` | `[evaluation]`'s checked types (handlers, strategies, windows, offsets, metrics) and their value parsers |
//! | `evaluation.rs` | `[evaluation]`: datasets (files, topics) and handlers (strategies) |
//! | `triggers.rs` | `[trigger]`: every policy's keys, recursively (warm-up policies) |
//! | `variants.rs` | `[[variant]]`: a sweep's variants, merged over the base config |
//! | `error.rs` | [`ConfigErrors`]: every problem, each with file and key path |

mod error;
mod eval_spec;
mod evaluation;
mod fields;
mod kafka;
mod load;
pub mod low;
mod models;
mod selection;
mod spec;
mod training;
mod triggers;
mod variants;

pub use error::{ConfigError, ConfigErrors};
pub use eval_spec::{
    Edge, Execution, F1Average, Handler, Metric, ModelChoice, Offset, Strategy, Window,
};
pub use evaluation::default_handlers;
pub use fields::parse_span;
pub use kafka::{KafkaCluster, KafkaProperties};
pub use load::{load, parse};
pub use spec::Variant;
pub use spec::{
    Architecture, BatchedSpec, CnnConfig, ColumnSpec, Criterion, DiffOperator, DlrmConfig,
    DuplicatePolicy, EvalDatasetSpec, EvalInput, EvaluationSpec, FileFormat, IlSpec, InputSpec,
    KafkaOutputSpec, KafkaSourceSpec, LatePolicy, MODEL_IDS, MlpConfig, ModelSpec,
    ModelStorageSpec, Normalize, OptimizerAlgorithm, OptimizerSpec, OutputSpec, PipelineSpec, Pool,
    ResNetConfig, ScheduleKind, ScheduleSpec, SelectionSpec, SourceSpec, StepEvery, TextConfig,
    TimeUnit, TorchScriptConfig, TrainingSpec, TriggerSpec, Until, ValueFormat,
};
pub use triggers::MAX_SAMPLE_SIZE;
pub use variants::{MAX_LANES, VARIANT_SECTIONS};
