//! `sluice import-modyn`: a Modyn pipeline file (YAML, the schema of Modyn's
//! `modyn/config/schema/pipeline/`) translated into a Sluice pipeline config (TOML).
//!
//! Every Modyn key with a Sluice equivalent is translated; every other key becomes a [`Note`]
//! naming its key path and saying what was done or what to do instead, so nothing is dropped
//! silently. Modyn reads its datasets from its storage service and runs Python code strings
//! from the YAML (`bytes_parser_function`, ...); Sluice reads declared columns from a file or a
//! Kafka topic, so the `[source]` and the evaluation datasets are placeholders named after the
//! Modyn `dataset_id`s. docs/config.md ("Importing a Modyn pipeline") has the key map.
//!
//! | file | responsibility |
//! |---|---|
//! | `import.rs` | [`import_modyn`]: the sections in order, the notes header; `pipeline` and `data` (→ `[source]`) |
//! | `notes.rs` | the public results: [`Import`], [`Note`], [`ImportError`] and its [`Problem`]s |
//! | `context.rs` | `Cx` (notes, problems, typed readers), what later sections learn from earlier ones, shared helpers |
//! | `model.rs` | `model` → `[model]`, `model_storage` → `[model_storage]` |
//! | `training.rs` | `training` → `[training]` (optimizer, loss, schedule) |
//! | `trigger.rs` | `trigger` → `[trigger]` |
//! | `selection.rs` | `selection_strategy` → `[selection]` |
//! | `evaluation.rs` | `evaluation` → `[evaluation]` |
//! | `yaml.rs` | the YAML tree with key paths and lines; tables that report untaken keys |
//! | `emit.rs` | the ordered TOML tree and how it is written |
//!
//! The importer uses config only through `crate::config`'s public items (`parse_span`,
//! `MAX_SAMPLE_SIZE`; its tests also `parse`), and config does not use it.

mod context;
mod emit;
mod evaluation;
mod import;
mod model;
mod notes;
mod selection;
mod training;
mod trigger;
mod yaml;

pub use import::import_modyn;
pub use notes::{Import, ImportError, Note, NoteKind, Problem};
