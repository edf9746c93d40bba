//! The model store: one `<model_id>.safetensors` + `<model_id>.json` pair per trained model in a
//! directory. Both files are written to a temporary name, fsynced and renamed, so a reader (or a
//! crash) never sees half an artifact; the JSON is renamed last and marks the pair complete.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_dataflows::Position;

/// Metadata written next to each model's weights: enough to rebuild the architecture in Python
/// and to know what data it saw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// Model id (file stem).
    pub model_id: String,
    /// Pipeline name.
    pub pipeline: String,
    /// Trigger the model was trained for.
    pub trigger_id: u64,
    /// First sample of the trigger's epoch.
    pub first: Position,
    /// Trigger boundary (last sample of the epoch).
    pub boundary: Position,
    /// Samples in the training set.
    pub samples: u64,
    /// Digest of the training set's keys.
    pub training_set_digest: String,
    /// Wall time spent training, ms.
    pub training_ms: u64,
    /// Mean loss of the last training epoch.
    pub final_loss: f64,
    /// The model this one was fine-tuned from, if any.
    pub parent_model: Option<String>,
    /// Architecture and hyper-parameters (`{"id": "mlp", "input_dim": .., ...}`).
    pub architecture: serde_json::Value,
    /// Names of the feature columns, in input order.
    pub feature_names: Vec<String>,
    /// Parameter names and shapes in the safetensors file.
    pub parameters: Vec<(String, Vec<i64>)>,
    /// Wall-clock time the model was stored, Unix ms.
    pub created_ms: u64,
    /// Sluice version that wrote it.
    pub sluice_version: String,
}

/// A directory of model artifacts.
#[derive(Clone, Debug)]
pub struct ModelStore {
    dir: PathBuf,
}

impl ModelStore {
    /// Opens (creating) the model directory.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Path of a model's weights.
    pub fn weights_path(&self, model_id: &str) -> PathBuf {
        self.dir.join(format!("{model_id}.safetensors"))
    }

    /// Path of a model's metadata.
    pub fn metadata_path(&self, model_id: &str) -> PathBuf {
        self.dir.join(format!("{model_id}.json"))
    }

    /// Stores a model: `write_weights` writes the safetensors file to the path it is given
    /// (a temporary name), then the metadata follows; both are renamed into place.
    pub fn put(
        &self,
        meta: &ModelMetadata,
        write_weights: impl FnOnce(&Path) -> Result<(), String>,
    ) -> std::io::Result<PathBuf> {
        let weights = self.weights_path(&meta.model_id);
        // The extension stays `.safetensors`: tch picks the format from it.
        let tmp = self.dir.join(format!(".{}.tmp.safetensors", meta.model_id));
        write_weights(&tmp)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", tmp.display())))?;
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &weights)?;

        let json = self.metadata_path(&meta.model_id);
        let tmp = self.dir.join(format!(".{}.json.tmp", meta.model_id));
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(meta).expect("metadata serialises"))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &json)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(weights)
    }
}
