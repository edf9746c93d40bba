//! The trainer side of the trigger probe: a stored model's embeddings and predictions for
//! samples a trigger policy asks about (drift on embeddings, performance triggers).
//!
//! Request path: the policy calls [`Probe`](sluice_dataflows::triggers::Probe) on the trigger
//! worker → `pipeline::triggers::StoreProbe` gathers the samples' features from the sample store
//! → [`ModelRunner`] loads the named model from the model store (cached while the same model is
//! asked for) and runs it in inference mode, in chunks, on the training device.
//!
//! Policies that read models make the trigger operator wait for each trigger's model before
//! deciding again, so the runner works only while the trainer is idle: their use of libtorch's
//! global RNG (building a module before loading its weights) never interleaves with training.

use std::path::PathBuf;

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use super::models::{self, Model};
use crate::config::ModelSpec;
use crate::store::ModelStore;

/// Rows per inference chunk.
const CHUNK: usize = 1024;

/// Runs stored models on feature rows.
pub struct ModelRunner {
    spec: ModelSpec,
    input_dim: usize,
    device: Device,
    store: ModelStore,
    scratch: PathBuf,
    loaded: Option<(String, VarStore, Box<dyn Model>)>,
}

impl ModelRunner {
    /// A runner for models of `spec` over rows of `input_dim` features, stored in `store`;
    /// `scratch` is a directory for the file tch loads from.
    pub fn new(
        spec: ModelSpec,
        input_dim: usize,
        device: Device,
        store: ModelStore,
        scratch: PathBuf,
    ) -> Self {
        Self {
            spec,
            input_dim,
            device,
            store,
            scratch,
            loaded: None,
        }
    }

    fn model(&mut self, id: &str) -> Result<&dyn Model, String> {
        if self.loaded.as_ref().is_none_or(|(have, _, _)| have != id) {
            self.loaded = None;
            let tmp = self.scratch.join(format!(".probe-{id}.safetensors"));
            let at = (self.device, self.input_dim as i64);
            let (mut vs, model) = models::restore(&self.spec, &self.store, id, at, &tmp)?;
            vs.freeze();
            self.loaded = Some((id.to_string(), vs, model));
        }
        Ok(&*self.loaded.as_ref().expect("just loaded").2)
    }

    /// Applies `f` to the model's output for each chunk of `x` (row-major, `input_dim` each).
    fn each_chunk(
        &mut self,
        id: &str,
        x: &[f32],
        mut f: impl FnMut(&dyn Model, &Tensor),
    ) -> Result<(), String> {
        let (dim, device) = (self.input_dim, self.device);
        let model = self.model(id)?;
        let _guard = tch::no_grad_guard();
        for chunk in x.chunks(CHUNK * dim) {
            let xs = Tensor::from_slice(chunk)
                .view([(chunk.len() / dim) as i64, dim as i64])
                .to_device(device);
            f(model, &xs);
        }
        Ok(())
    }

    /// Embeddings (penultimate layer) of model `id` for rows `x`; returns (dim, values).
    pub fn embed(&mut self, id: &str, x: &[f32]) -> Result<(usize, Vec<f32>), String> {
        let mut out = Vec::new();
        let mut width = 0;
        self.each_chunk(id, x, |m, xs| {
            let e = m
                .embed_t(xs, false)
                .to_kind(Kind::Float)
                .to_device(Device::Cpu)
                .contiguous();
            width = e.size().last().copied().unwrap_or(0) as usize;
            out.extend(Vec::<f32>::try_from(e.flatten(0, -1)).expect("float embeddings"));
        })?;
        Ok((width, out))
    }

    /// Predicted classes of model `id` for rows `x`.
    pub fn predict(&mut self, id: &str, x: &[f32]) -> Result<Vec<i64>, String> {
        let mut out = Vec::new();
        self.each_chunk(id, x, |m, xs| {
            let p = m
                .forward_t(xs, false)
                .argmax(-1, false)
                .to_kind(Kind::Int64)
                .to_device(Device::Cpu);
            out.extend(Vec::<i64>::try_from(p).expect("int64 predictions"));
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ModelMetadata, StoragePolicy};

    #[test]
    fn embeddings_and_predictions_of_a_stored_model() {
        let _rng = crate::train::torch_rng();
        let dir = tempfile::tempdir().unwrap();
        let spec = ModelSpec {
            num_classes: 3,
            arch: crate::config::Architecture::Mlp(crate::config::MlpConfig { hidden: vec![5] }),
            normalize: Default::default(),
        };
        let store =
            ModelStore::create(&dir.path().join("models"), StoragePolicy::default()).unwrap();
        tch::manual_seed(1);
        let vs = VarStore::new(Device::Cpu);
        let m = models::build(&spec, &vs.root(), 4).unwrap();
        let meta = ModelMetadata::for_test("m-0000");
        store
            .put(&meta, |tmp| vs.save(tmp).map_err(|e| e.to_string()))
            .unwrap();
        let x: Vec<f32> = (0..4 * 2500).map(|i| (i % 7) as f32 / 7.0).collect();
        let mut r = ModelRunner::new(spec, 4, Device::Cpu, store, dir.path().to_path_buf());
        let (width, e) = r.embed("m-0000", &x).unwrap();
        assert_eq!((width, e.len()), (5, 5 * 2500));
        let p = r.predict("m-0000", &x).unwrap();
        // Same as the in-memory model, across chunk boundaries.
        let xs = Tensor::from_slice(&x).view([2500, 4]);
        let want: Vec<i64> = Vec::try_from(m.forward_t(&xs, false).argmax(-1, false)).unwrap();
        assert_eq!(p, want);
        let emb = m.embed_t(&xs, false);
        let want: Vec<f32> = Vec::try_from(emb.flatten(0, -1)).unwrap();
        assert_eq!(e, want);
        assert!(r.predict("missing", &x).unwrap_err().contains("missing"));
    }
}
