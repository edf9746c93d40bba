//! Stores: sample payloads for the trainer, model artifacts on disk.
//!
//! | file | responsibility |
//! |---|---|
//! | `samples.rs` | [`SampleStore`]: feature payloads by key (versions by event time), sharded like the dataflow exchange; [`SampleView`]: as a training set reads it |
//! | `spill.rs` | [`CandidateFile`]: a worker's spilled selection candidates (`maximum_keys_in_memory`) |
//! | `models.rs` | [`ModelStore`]: weights (full, or deltas to the parent) + `<model_id>.json`, written atomically; fetch by id |

mod models;
mod samples;
mod spill;

pub(crate) use models::write_atomically;
pub use models::{
    DiffOperator, ModelMetadata, ModelStore, Normalization, Storage, StoragePolicy, keys_contain,
};
pub use samples::{
    CHUNK_ROWS, MAX_LANES, SampleStore, SampleView, SourceAt, SourceRange, StoreError, Versioned,
};
pub use spill::CandidateFile;
