//! The model store: one weights file + `<model_id>.json` per trained model in a directory.
//! Files are written to a temporary name, fsynced and renamed, so a reader (or a crash) never
//! sees half an artifact; the JSON is renamed last and marks the pair complete.
//!
//! Storage (`[model_storage]`, Modyn's full and incremental strategies):
//! - full: `<id>.safetensors`, loadable as is;
//! - incremental: a model trained from a parent stores only its difference to the parent,
//!   `<id>.delta.safetensors`: per tensor, the parent's and the model's 32-bit words combined by
//!   `xor` or `sub` (wrapping subtraction of the bit patterns), so reconstruction is exact.
//!   Every `full_model_interval`-th model of a chain is stored full, bounding the chain;
//! - optionally zstd-compressed (`.zst` appended); deltas of slowly changing weights compress
//!   well, since their leading bits are mostly zero.
//!
//! [`ModelStore::fetch`] rebuilds any model's full safetensors bytes by id (following its
//! parents); `sluice models export` writes them to a file.
//!
//! The store handles safetensors bytes only (the `safetensors` crate); tch stays in the trainer.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use sluice_dataflows::Position;

pub use crate::config::{DiffOperator, ModelStorageSpec as StoragePolicy};

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
    /// How the weights are stored (set by the store).
    #[serde(default)]
    pub storage: Storage,
    /// The scaling the model applies to its inputs first (`[model] normalize`; `None`:
    /// none). Its TorchScript file applies it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalization: Option<Normalization>,
}

/// A model's input scaling: the first `mean.len()` features become `(x - mean) / std`, the
/// others stay as they are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Per scaled feature, subtracted first.
    pub mean: Vec<f32>,
    /// Per scaled feature, divided by then (1 where the feature did not vary).
    pub std: Vec<f32>,
    /// Samples the statistics were measured on (`normalize = "running"`; 0: fixed ones).
    pub samples: u64,
}

/// How a model's weights are stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Storage {
    /// The weights file, in the model directory.
    pub file: String,
    /// The model whose weights the file is a difference to (`None`: full weights).
    pub delta_of: Option<String>,
    /// The difference operator of a delta.
    pub operator: Option<DiffOperator>,
    /// Deltas between this model and the last full one.
    pub chain: u64,
    /// zstd-compressed.
    pub compressed: bool,
}

/// A directory of model artifacts.
#[derive(Clone, Debug)]
pub struct ModelStore {
    dir: PathBuf,
    policy: StoragePolicy,
    /// The last stored model's full weights: the usual parent of the next one.
    last: Arc<Mutex<Option<Cached>>>,
}

/// A model id with its full safetensors bytes.
type Cached = (String, Arc<Vec<u8>>);

impl ModelStore {
    /// Opens (creating) the model directory.
    pub fn create(dir: &Path, policy: StoragePolicy) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            policy,
            last: Arc::default(),
        })
    }

    /// Writes model `model_id`'s lineage: the keys of its training set, sorted, as
    /// little-endian u64s in `<model_id>.keys` (written whole, then renamed); returns its path.
    /// Kept when retention deletes the model's weights: which models saw a key stays known.
    pub fn put_keys(&self, model_id: &str, keys: &[u64]) -> std::io::Result<PathBuf> {
        let mut sorted = keys.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let bytes: Vec<u8> = sorted.iter().flat_map(|k| k.to_le_bytes()).collect();
        let path = self.dir.join(format!("{model_id}.keys"));
        write_atomically(
            &self.dir.join(format!(".{model_id}.keys.tmp")),
            &path,
            &bytes,
        )?;
        Ok(path)
    }

    /// Removes every file of a model not in `keep` and every temporary file (what a crash
    /// left: models stored after the checkpoint, half-written files, models exported for
    /// loading: all temporary files here start with a dot); returns the files removed. Other
    /// files are left alone.
    pub fn remove_orphans(&self, keep: &[String]) -> std::io::Result<Vec<PathBuf>> {
        const SUFFIXES: [&str; 8] = [
            ".delta.safetensors.zst",
            ".delta.safetensors",
            ".safetensors.zst",
            ".safetensors",
            ".json",
            ".keys",
            ".module.pt",
            ".pt",
        ];
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let orphan = name.starts_with('.')
                || SUFFIXES
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .is_some_and(|id| !keep.iter().any(|k| k == id));
            if orphan && path.is_file() {
                std::fs::remove_file(&path)?;
                removed.push(path);
            }
        }
        if !removed.is_empty() {
            *self.last.lock().expect("model cache poisoned") = None;
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(removed)
    }

    /// Path of a model's module file, `<model_id>.pt` (a TorchScript model is stored whole
    /// there, buffers included, besides its parameters' safetensors).
    pub fn module_path(&self, model_id: &str) -> PathBuf {
        self.dir.join(format!("{model_id}.pt"))
    }

    /// Path of a TorchScript model's module as trained, `<model_id>.module.pt`, when its
    /// module file is not that (it scales its inputs first: `[model] normalize`).
    pub fn whole_path(&self, model_id: &str) -> PathBuf {
        self.dir.join(format!("{model_id}.module.pt"))
    }

    /// Stores model `model_id`'s module file: `write` writes it to the (temporary) path it is
    /// given, which is then renamed into place; returns its path.
    pub fn put_module(
        &self,
        model_id: &str,
        write: impl FnOnce(&Path) -> Result<(), String>,
    ) -> std::io::Result<PathBuf> {
        self.put_file(model_id, self.module_path(model_id), write)
    }

    /// Stores a TorchScript model's module as trained at [`whole_path`](Self::whole_path),
    /// as [`put_module`](Self::put_module) does.
    pub fn put_whole(
        &self,
        model_id: &str,
        write: impl FnOnce(&Path) -> Result<(), String>,
    ) -> std::io::Result<PathBuf> {
        self.put_file(model_id, self.whole_path(model_id), write)
    }

    fn put_file(
        &self,
        model_id: &str,
        path: PathBuf,
        write: impl FnOnce(&Path) -> Result<(), String>,
    ) -> std::io::Result<PathBuf> {
        inside(model_id, "model id")?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("model");
        let tmp = self.dir.join(format!(".{name}.tmp"));
        write(&tmp).map_err(std::io::Error::other)?;
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// Path of a model's metadata.
    pub fn metadata_path(&self, model_id: &str) -> PathBuf {
        self.dir.join(format!("{model_id}.json"))
    }

    /// A model's metadata.
    pub fn metadata(&self, model_id: &str) -> std::io::Result<ModelMetadata> {
        inside(model_id, "model id")?;
        let path = self.metadata_path(model_id);
        let bytes = std::fs::read(&path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        serde_json::from_slice(&bytes).map_err(|e| invalid(&path, e))
    }

    /// Stores a model: `write_weights` writes its full safetensors file to the path it is given
    /// (a temporary name); the store keeps it, or its difference to the parent, then writes the
    /// metadata. Returns the weights file's path.
    pub fn put(
        &self,
        meta: &ModelMetadata,
        write_weights: impl FnOnce(&Path) -> Result<(), String>,
    ) -> std::io::Result<PathBuf> {
        let id = &meta.model_id;
        // The extension stays `.safetensors`: tch picks the format from it.
        let tmp = self.dir.join(format!(".{id}.tmp.safetensors"));
        write_weights(&tmp)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", tmp.display())))?;
        let mut storage = Storage {
            compressed: self.policy.zstd_level.is_some(),
            ..Storage::default()
        };
        let weights = if self.policy.incremental.is_none() && !storage.compressed {
            // Stored as written: no need to read the file back.
            storage.file = format!("{id}.safetensors");
            let weights = self.dir.join(&storage.file);
            File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &weights)?;
            weights
        } else {
            let full = Arc::new(std::fs::read(&tmp)?);
            std::fs::remove_file(&tmp)?;
            let mut delta_bytes = None;
            if let (Some((op, interval)), Some(parent)) =
                (self.policy.incremental, &meta.parent_model)
                && let Ok(pmeta) = self.metadata(parent)
                && pmeta.storage.chain + 1 < interval
            {
                let base = self.fetch(parent)?;
                if let Some(d) = delta(&base, &full, op, false).map_err(|e| invalid(&tmp, e))? {
                    storage.delta_of = Some(parent.to_string());
                    storage.operator = Some(op);
                    storage.chain = pmeta.storage.chain + 1;
                    delta_bytes = Some(d);
                }
            }
            let payload: &[u8] = delta_bytes.as_deref().unwrap_or(&full);
            let compressed = match self.policy.zstd_level {
                Some(level) => Some(zstd::encode_all(payload, level)?),
                None => None,
            };
            storage.file = format!(
                "{id}{}.safetensors{}",
                if storage.delta_of.is_some() {
                    ".delta"
                } else {
                    ""
                },
                if storage.compressed { ".zst" } else { "" }
            );
            let weights = self.dir.join(&storage.file);
            write_atomically(
                &self.dir.join(format!(".{}.tmp", storage.file)),
                &weights,
                compressed.as_deref().unwrap_or(payload),
            )?;
            // The next model's usual parent: deltas are computed against it.
            if self.policy.incremental.is_some() {
                *self.last.lock().expect("model cache poisoned") = Some((id.clone(), full));
            }
            weights
        };

        let meta = ModelMetadata {
            storage,
            ..meta.clone()
        };
        write_atomically(
            &self.dir.join(format!(".{id}.json.tmp")),
            &self.metadata_path(id),
            &serde_json::to_vec_pretty(&meta).expect("metadata serialises"),
        )?;
        File::open(&self.dir)?.sync_all()?;
        Ok(weights)
    }

    /// A model's full safetensors bytes, rebuilt from its deltas when stored incrementally.
    pub fn fetch(&self, model_id: &str) -> std::io::Result<Arc<Vec<u8>>> {
        // Down the chain of deltas to a full model (or the cached one), then back up.
        let mut chain: Vec<(PathBuf, Vec<u8>, DiffOperator)> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let mut id = model_id.to_string();
        let mut full = loop {
            if let Some((cached, bytes)) = &*self.last.lock().expect("model cache poisoned")
                && *cached == id
            {
                break bytes.as_ref().clone();
            }
            let meta = self.metadata(&id)?;
            // Metadata files are data: they name files inside the store, and chains end.
            inside(&meta.storage.file, "storage.file")?;
            let path = self.dir.join(&meta.storage.file);
            let mut bytes = std::fs::read(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            if meta.storage.compressed {
                bytes = zstd::decode_all(bytes.as_slice()).map_err(|e| invalid(&path, e))?;
            }
            seen.push(id.clone());
            match (meta.storage.delta_of, meta.storage.operator) {
                (Some(base), Some(op)) => {
                    if seen.contains(&base) {
                        return Err(invalid(
                            &path,
                            format!("its chain of deltas loops back to `{base}`"),
                        ));
                    }
                    chain.push((path, bytes, op));
                    id = base;
                }
                _ => break bytes,
            }
        };
        while let Some((path, d, op)) = chain.pop() {
            full = delta(&full, &d, op, true)
                .map_err(|e| invalid(&path, e))?
                .ok_or_else(|| invalid(&path, "delta does not match its base model"))?;
        }
        Ok(Arc::new(full))
    }

    /// Writes a model's full weights to `path` (a loadable safetensors file).
    pub fn export(&self, model_id: &str, path: &Path) -> std::io::Result<()> {
        let bytes = self.fetch(model_id)?;
        let tmp = path.with_extension("tmp.safetensors");
        write_atomically(&tmp, path, &bytes)
    }
}

/// Combines two safetensors files tensor by tensor: `undo = false` gives the delta of `child`
/// to `base`; `undo = true` applies the delta `child` to `base`. `None` when the files do not
/// line up (other names, shapes or dtypes, or not 32-bit tensors): store the model full.
fn delta(
    base: &[u8],
    child: &[u8],
    op: DiffOperator,
    undo: bool,
) -> Result<Option<Vec<u8>>, String> {
    let b = SafeTensors::deserialize(base).map_err(|e| format!("{e:?}"))?;
    let c = SafeTensors::deserialize(child).map_err(|e| format!("{e:?}"))?;
    let mut names: Vec<&String> = c.names();
    names.sort();
    let mut b_names = b.names();
    b_names.sort();
    if names != b_names {
        return Ok(None);
    }
    // Deltas are words of no meaning as floats: typed U32 so nothing loads them as weights.
    let (from, to) = if undo {
        (Dtype::U32, Dtype::F32)
    } else {
        (Dtype::F32, Dtype::U32)
    };
    let mut out: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for name in names {
        let (bt, ct) = (
            b.tensor(name).map_err(|e| format!("{e:?}"))?,
            c.tensor(name).map_err(|e| format!("{e:?}"))?,
        );
        if bt.dtype() != Dtype::F32 || ct.dtype() != from || bt.shape() != ct.shape() {
            return Ok(None);
        }
        let data: Vec<u8> = bt
            .data()
            .chunks_exact(4)
            .zip(ct.data().chunks_exact(4))
            .flat_map(|(p, x)| {
                let p = u32::from_le_bytes(p.try_into().expect("4 bytes"));
                let x = u32::from_le_bytes(x.try_into().expect("4 bytes"));
                let w = match (op, undo) {
                    (DiffOperator::Xor, _) => x ^ p,
                    (DiffOperator::Sub, false) => x.wrapping_sub(p),
                    (DiffOperator::Sub, true) => x.wrapping_add(p),
                };
                w.to_le_bytes()
            })
            .collect();
        out.push((name.clone(), ct.shape().to_vec(), data));
    }
    let views: Vec<(String, TensorView<'_>)> = out
        .iter()
        .map(|(n, shape, data)| {
            TensorView::new(to, shape.clone(), data)
                .map(|v| (n.clone(), v))
                .map_err(|e| format!("{e:?}"))
        })
        .collect::<Result<_, _>>()?;
    safetensors::serialize(views, &None)
        .map(Some)
        .map_err(|e| format!("{e:?}"))
}

/// Writes `bytes` to `tmp`, syncs it and renames it to `path`: a reader (or a crash) sees the
/// old file or the whole new one. The caller syncs the directory when the rename must last.
pub(crate) fn write_atomically(tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = File::create(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}: {e}", path.display()),
    )
}

/// Whether the key list at `path` (a [`ModelStore::put_keys`] file) holds `key`.
pub fn keys_contain(path: &Path, key: u64) -> std::io::Result<bool> {
    let bytes = std::fs::read(path)?;
    if bytes.len() % 8 != 0 {
        return Err(invalid(
            path,
            format!("{} bytes is not a list of u64 keys", bytes.len()),
        ));
    }
    let keys: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    Ok(keys.binary_search(&key).is_ok())
}

#[cfg(test)]
impl ModelMetadata {
    /// Metadata for tests: model `id`, everything else empty.
    pub(crate) fn for_test(id: &str) -> Self {
        ModelMetadata {
            model_id: id.into(),
            pipeline: "p".into(),
            trigger_id: 0,
            first: Position::default(),
            boundary: Position::default(),
            samples: 0,
            training_set_digest: String::new(),
            training_ms: 0,
            final_loss: 0.0,
            parent_model: None,
            architecture: serde_json::Value::Null,
            feature_names: Vec::new(),
            parameters: Vec::new(),
            created_ms: 0,
            sluice_version: String::new(),
            storage: Storage::default(),
            normalization: None,
        }
    }
}

/// Fails unless `name` is a plain file name in the store's directory (no path separator, not
/// `.`/`..`, not hidden): model ids and the files metadata names come from files a user may
/// have edited, and must not reach outside the run directory.
fn inside(name: &str, what: &str) -> std::io::Result<()> {
    let plain = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0']);
    if plain {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} `{name}` is not a file name inside the model store"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_metadata_cannot_leave_the_store_or_loop() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            ModelStore::create(&dir.path().join("models"), StoragePolicy::default()).unwrap();
        std::fs::write(dir.path().join("secret.json"), b"{}").unwrap();
        for id in ["../secret", "a/b", ".hidden", ""] {
            let e = store.metadata(id).unwrap_err();
            assert!(
                e.to_string()
                    .contains("is not a file name inside the model store"),
                "{e}"
            );
        }
        // Metadata whose weights file lies outside, and a delta chain that loops.
        let bytes = weights(&[("w", vec![1.0; 2])]);
        store
            .put(&meta("m0", None), |p| {
                std::fs::write(p, &bytes).map_err(|e| e.to_string())
            })
            .unwrap();
        let path = store.metadata_path("m0");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("\"m0.safetensors\"", "\"../secret.json\""),
        )
        .unwrap();
        let e = store.fetch("m0").unwrap_err();
        assert!(
            e.to_string().contains("storage.file `../secret.json`"),
            "{e}"
        );
        let mut looped: serde_json::Value = serde_json::from_str(&text).unwrap();
        looped["storage"]["delta_of"] = "m0".into();
        looped["storage"]["operator"] = serde_json::to_value(DiffOperator::Xor).unwrap();
        std::fs::write(&path, looped.to_string()).unwrap();
        let e = store.fetch("m0").unwrap_err();
        assert!(e.to_string().contains("loops back to `m0`"), "{e}");
    }

    fn meta(id: &str, parent: Option<&str>) -> ModelMetadata {
        ModelMetadata {
            parent_model: parent.map(String::from),
            ..ModelMetadata::for_test(id)
        }
    }

    fn weights(values: &[(&str, Vec<f32>)]) -> Vec<u8> {
        let data: Vec<(String, Vec<u8>, usize)> = values
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    v.len(),
                )
            })
            .collect();
        let views: Vec<(String, TensorView<'_>)> = data
            .iter()
            .map(|(n, d, len)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, vec![*len], d).unwrap(),
                )
            })
            .collect();
        safetensors::serialize(views, &None).unwrap()
    }

    #[test]
    fn incremental_models_reload_bit_identical() {
        for (op, zstd) in [(DiffOperator::Xor, None), (DiffOperator::Sub, Some(3))] {
            let dir = tempfile::tempdir().unwrap();
            let store = ModelStore::create(
                dir.path(),
                StoragePolicy {
                    incremental: Some((op, 3)),
                    zstd_level: zstd,
                },
            )
            .unwrap();
            // A chain of 5 models, each a small step from its parent; NaN and -0.0 included.
            let mut w = vec![0.5f32, -1.25, 3.0e-8, f32::NAN, -0.0, 1.0e30];
            let mut files = Vec::new();
            for i in 0..5 {
                w.iter_mut().for_each(|x| *x += 1e-3 * i as f32);
                let bytes = weights(&[("a.weight", w.clone()), ("b", vec![i as f32; 3])]);
                let parent = (i > 0).then(|| format!("m{}", i - 1));
                let path = store
                    .put(&meta(&format!("m{i}"), parent.as_deref()), |p| {
                        std::fs::write(p, &bytes).map_err(|e| e.to_string())
                    })
                    .unwrap();
                files.push((format!("m{i}"), bytes, path));
            }
            // Full, delta, delta, full (interval 3), delta.
            let chains: Vec<u64> = (0..5)
                .map(|i| store.metadata(&format!("m{i}")).unwrap().storage.chain)
                .collect();
            assert_eq!(chains, [0, 1, 2, 0, 1], "{op:?}");
            assert!(files[1].2.to_str().unwrap().contains(".delta.safetensors"));
            // A fresh store (no cache) rebuilds every model exactly.
            let reopened = ModelStore::create(dir.path(), StoragePolicy::default()).unwrap();
            for (id, bytes, _) in &files {
                assert_eq!(*reopened.fetch(id).unwrap(), *bytes, "{id} ({op:?})");
            }
            let out = dir.path().join("m4-full.safetensors");
            reopened.export("m4", &out).unwrap();
            assert_eq!(std::fs::read(&out).unwrap(), files[4].1);
        }
    }

    #[test]
    fn orphans_of_a_crash_are_removed_and_kept_models_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::create(
            dir.path(),
            StoragePolicy {
                incremental: Some((DiffOperator::Xor, 5)),
                zstd_level: Some(1),
            },
        )
        .unwrap();
        let mut want = Vec::new();
        for i in 0..4 {
            let bytes = weights(&[("w", vec![i as f32; 4])]);
            let parent = (i > 0).then(|| format!("m{}", i - 1));
            store
                .put(&meta(&format!("m{i}"), parent.as_deref()), |p| {
                    std::fs::write(p, &bytes).map_err(|e| e.to_string())
                })
                .unwrap();
            want.push(bytes);
        }
        // Half-written files of a fifth model, and a file that is not the store's.
        std::fs::write(dir.path().join(".m4.tmp.safetensors"), b"half").unwrap();
        std::fs::write(dir.path().join(".m4.json.tmp"), b"{").unwrap();
        std::fs::write(dir.path().join(".eval-m1.safetensors"), b"exported").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let keep = ["m0".to_string(), "m1".to_string()];
        let mut removed: Vec<String> = store
            .remove_orphans(&keep)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        removed.sort();
        assert_eq!(
            removed,
            [
                ".eval-m1.safetensors",
                ".m4.json.tmp",
                ".m4.tmp.safetensors",
                "m2.delta.safetensors.zst",
                "m2.json",
                "m3.delta.safetensors.zst",
                "m3.json"
            ]
        );
        assert!(dir.path().join("notes.txt").exists());
        assert_eq!(*store.fetch("m1").unwrap(), want[1]);
        assert!(store.fetch("m2").is_err());
        // Storing m2 again (the resumed run's) works as the first time.
        store
            .put(&meta("m2", Some("m1")), |p| {
                std::fs::write(p, &want[2]).map_err(|e| e.to_string())
            })
            .unwrap();
        assert_eq!(*store.fetch("m2").unwrap(), want[2]);
    }

    #[test]
    fn models_that_do_not_line_up_are_stored_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::create(
            dir.path(),
            StoragePolicy {
                incremental: Some((DiffOperator::Xor, 10)),
                zstd_level: None,
            },
        )
        .unwrap();
        for (id, parent, bytes) in [
            ("a", None, weights(&[("x", vec![1.0, 2.0])])),
            ("b", Some("a"), weights(&[("x", vec![1.0, 2.0, 3.0])])),
        ] {
            store
                .put(&meta(id, parent), |p| {
                    std::fs::write(p, &bytes).map_err(|e| e.to_string())
                })
                .unwrap();
        }
        let b = store.metadata("b").unwrap().storage;
        assert_eq!((b.delta_of, b.file.as_str()), (None, "b.safetensors"));
    }
}
