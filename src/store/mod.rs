//! Stores: sample payloads for the trainer, model artifacts on disk.
//!
//! | file | responsibility |
//! |---|---|
//! | `samples.rs` | [`SampleStore`]: feature payloads by key, sharded like the dataflow exchange |
//! | `models.rs` | [`ModelStore`]: `<model_id>.safetensors` + `<model_id>.json`, written atomically |

mod models;
mod samples;

pub use models::{ModelMetadata, ModelStore};
pub use samples::{SampleStore, StoreError};
