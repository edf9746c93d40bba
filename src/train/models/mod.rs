//! The model zoo. Each model names its parameters like the equivalent PyTorch module, so a
//! Python user loads the safetensors file into it with `load_state_dict` (docs/models.md).
//!
//! | file | model (`[model] id`) |
//! |---|---|
//! | `mlp.rs` | [`Mlp`] (`mlp`): tabular features |
//! | `cnn.rs` | [`Cnn`] (`cnn`): small CNN for 28x28 / 32x32 images |
//! | `resnet.rs` | [`ResNet18`] (`resnet18`): torchvision's ResNet-18 with the CIFAR stem |
//! | `dlrm.rs` | [`Dlrm`] (`dlrm`): dense + categorical features (click data) |
//! | `text.rs` | [`TextClassifier`] (`text`): token ids, mean embedding + MLP head |
//! | `torchscript.rs` | [`TorchScript`] (`torchscript`): the user's own TorchScript module, stored whole |
//! | `normalize.rs` | [`Normalized`]: any of them scaling its inputs first (`normalize`) |

mod cnn;
mod dlrm;
mod mlp;
mod normalize;
mod resnet;
mod text;
mod torchscript;

pub use cnn::Cnn;
pub use dlrm::Dlrm;
pub use mlp::Mlp;
pub use normalize::Normalized;
pub use resnet::ResNet18;
pub use text::TextClassifier;
pub use torchscript::{TorchScript, check as check_torchscript};

use tch::{Tensor, nn};

use crate::config::{Architecture, ModelSpec, Normalize};
use crate::store::Normalization;

/// A trainable model: a batch of samples' features in, one output per class out.
pub trait Model: std::fmt::Debug + Send {
    /// The penultimate layer's output `[n, embedding_dim]` for features `[n, input_dim]`
    /// (`f32`, laid out as the architecture reads them, see `config::models`): the
    /// representation drift detection compares (Modyn's embedding recorder). `train` switches
    /// dropout and batch normalisation to training mode.
    fn embed_t(&self, xs: &Tensor, train: bool) -> Tensor;

    /// Outputs (logits) `[n, num_classes]` from embeddings (the last layer).
    fn classify(&self, embeddings: &Tensor) -> Tensor;

    /// Outputs (logits) `[n, num_classes]` for features `[n, input_dim]`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.classify(&self.embed_t(xs, train))
    }

    /// Architecture id and hyper-parameters, recorded in the artifact's metadata: enough to
    /// rebuild the module in PyTorch.
    fn architecture(&self) -> serde_json::Value;

    /// The TorchScript module, for a model stored whole (`id = "torchscript"`).
    fn as_torchscript(&self) -> Option<&TorchScript> {
        None
    }

    /// The scaling it applies to its inputs first (`[model] normalize`), if any.
    fn normalization(&self) -> Option<&Normalization> {
        None
    }

    /// Sets the scaling of its inputs (`None`: none).
    ///
    /// # Panics
    /// On a model built without `normalize` ([`build`] wraps the others in [`Normalized`]).
    fn set_normalization(&mut self, _n: Option<Normalization>) {
        panic!("the model was built without `normalize`, so it cannot scale its inputs")
    }
}

/// Loads stored model `id` (the store applies its deltas) into `vs`, through the file `tmp`
/// that tch reads, removed afterwards.
pub fn load_stored(
    vs: &mut nn::VarStore,
    store: &crate::store::ModelStore,
    id: &str,
    tmp: &std::path::Path,
) -> Result<(), String> {
    store
        .export(id, tmp)
        .map_err(|e| format!("reading model {id} from the model store: {e}"))?;
    let loaded = vs.load(tmp);
    let _ = std::fs::remove_file(tmp);
    loaded.map_err(|e| format!("loading model {id}: {e}"))
}

/// Builds `spec`'s model under `root` for samples of `input_dim` features (parameters drawn
/// from torch's RNG). Fails when a hyper-parameter is invalid or the architecture does not fit
/// the input, naming the key.
pub fn build(spec: &ModelSpec, root: &nn::Path, input_dim: i64) -> Result<Box<dyn Model>, String> {
    let keyed = |key: &str, message: &str| format!("model.{key}: {message}");
    // Config loading validated the spec already; a spec built in code may not have been, and
    // the constructors rely on it (e.g. DLRM's bottom MLP ending at `embedding_dim`).
    if let Some((key, message)) = spec.arch.validate().first() {
        return Err(keyed(key, message));
    }
    spec.arch
        .check_input(input_dim as usize)
        .map_err(|(key, message)| keyed(&key, &message))?;
    let classes = spec.num_classes;
    let model: Box<dyn Model> = match &spec.arch {
        Architecture::Mlp(c) => Box::new(Mlp::new(root, input_dim, &c.hidden, classes)),
        Architecture::Cnn(c) => {
            Box::new(Cnn::new(root, c, classes).map_err(|m| keyed("input_shape", &m))?)
        }
        Architecture::Resnet18(c) => Box::new(ResNet18::new(root, c, classes)),
        Architecture::Dlrm(c) => Box::new(Dlrm::new(root, c, classes)),
        Architecture::Text(c) => Box::new(
            TextClassifier::new(root, input_dim, c, classes)
                .map_err(|m| keyed("vocab_size", &m))?,
        ),
        Architecture::TorchScript(c) => {
            Box::new(TorchScript::load(&c.path, root).map_err(|m| keyed("path", &m))?)
        }
    };
    Ok(normalized(spec, model, input_dim, root.device()))
}

/// `model`, scaling its inputs first if `spec` says so (fixed statistics from the start,
/// running ones from the trainer).
fn normalized(
    spec: &ModelSpec,
    model: Box<dyn Model>,
    input_dim: i64,
    device: tch::Device,
) -> Box<dyn Model> {
    match &spec.normalize {
        Normalize::None => model,
        Normalize::Running => Box::new(Normalized::new(model, input_dim, device, None)),
        Normalize::Fixed { mean, std } => Box::new(Normalized::new(
            model,
            input_dim,
            device,
            Some(Normalization::fixed(mean, std)),
        )),
    }
}

/// Saves `model` (its variables in `vs`) as a TorchScript module at `path`, which
/// `torch.jit.load` runs with no Sluice code: a TorchScript model as it is (buffers included),
/// any other, or one that scales its inputs, traced in evaluation mode on `input_dim`-feature
/// zeros (its variables and scaling become constants; its `forward` takes raw `[n, input_dim]`
/// float32 for any `n`).
pub fn export_torchscript(
    model: &dyn Model,
    vs: &nn::VarStore,
    input_dim: i64,
    path: &std::path::Path,
) -> Result<(), String> {
    if let Some(module) = model.as_torchscript()
        && model.normalization().is_none()
    {
        return module.save(path);
    }
    // The tracer bakes variables in as constants, which must not require gradients while
    // traced and saved; the flags are put back afterwards.
    let flags: Vec<(Tensor, bool)> = vs
        .variables()
        .into_values()
        .map(|t| {
            let requires = t.requires_grad();
            (t, requires)
        })
        .collect();
    for (t, _) in &flags {
        let _ = t.set_requires_grad(false);
    }
    let example = Tensor::zeros([2, input_dim], (tch::Kind::Float, vs.device()));
    let saved = tch::no_grad(|| {
        tch::CModule::create_by_tracing("Model", "forward", &[example], &mut |xs| {
            vec![model.forward_t(&xs[0], false)]
        })
    })
    .map_err(|e| format!("tracing the model: {e}"))
    .and_then(|traced| {
        traced
            .save(path)
            .map_err(|e| format!("saving {}: {e}", path.display()))
    });
    for (t, requires) in &flags {
        let _ = t.set_requires_grad(*requires);
    }
    saved
}

/// Gives `model` (built from `spec` under `vs`) stored model `id`'s state, as [`restore`]
/// does, without building anything new for a built-in model (no draw from libtorch's RNG).
pub fn reload(
    spec: &ModelSpec,
    (vs, model): (&mut nn::VarStore, &mut Box<dyn Model>),
    store: &crate::store::ModelStore,
    id: &str,
    tmp: &std::path::Path,
) -> Result<(), String> {
    if let Architecture::TorchScript(_) = &spec.arch {
        (*vs, *model) = restore_module(spec, store, id, vs.device())?;
        return Ok(());
    }
    load_stored(vs, store, id, tmp)?;
    restore_normalization(spec, model, store, id)
}

/// `spec`'s model with stored model `id`'s state, in a new var store on `device`: its
/// parameters (the store applies its deltas, through the file `tmp`), or, for a TorchScript
/// model, the module stored whole (buffers included); and its input scaling.
pub fn restore(
    spec: &ModelSpec,
    store: &crate::store::ModelStore,
    id: &str,
    (device, input_dim): (tch::Device, i64),
    tmp: &std::path::Path,
) -> Result<(nn::VarStore, Box<dyn Model>), String> {
    if let Architecture::TorchScript(_) = &spec.arch {
        return restore_module(spec, store, id, device);
    }
    let mut vs = nn::VarStore::new(device);
    let mut model = build(spec, &vs.root(), input_dim)?;
    load_stored(&mut vs, store, id, tmp)?;
    restore_normalization(spec, &mut model, store, id)?;
    Ok((vs, model))
}

/// Gives `model` the input scaling stored with model `id` (a model built with `normalize`).
fn restore_normalization(
    spec: &ModelSpec,
    model: &mut Box<dyn Model>,
    store: &crate::store::ModelStore,
    id: &str,
) -> Result<(), String> {
    if spec.normalize == Normalize::None {
        return Ok(());
    }
    model.set_normalization(stored_metadata(store, id)?.normalization);
    Ok(())
}

fn stored_metadata(
    store: &crate::store::ModelStore,
    id: &str,
) -> Result<crate::store::ModelMetadata, String> {
    store
        .metadata(id)
        .map_err(|e| format!("reading model {id}'s metadata: {e}"))
}

/// A TorchScript model from the module stored whole as `id` (buffers included; its module
/// file, unless that scales its inputs), in a new var store on `device`, with its input
/// scaling (the metadata, read once, gives both the scaling and the input width).
fn restore_module(
    spec: &ModelSpec,
    store: &crate::store::ModelStore,
    id: &str,
    device: tch::Device,
) -> Result<(nn::VarStore, Box<dyn Model>), String> {
    let vs = nn::VarStore::new(device);
    let whole = store.whole_path(id);
    let path = if whole.is_file() {
        whole
    } else {
        store.module_path(id)
    };
    let model: Box<dyn Model> = Box::new(
        TorchScript::load(&path, &vs.root()).map_err(|e| format!("loading model {id}: {e}"))?,
    );
    if spec.normalize == Normalize::None {
        return Ok((vs, model));
    }
    let meta = stored_metadata(store, id)?;
    let mut model = normalized(spec, model, meta.feature_names.len() as i64, device);
    model.set_normalization(meta.normalization);
    Ok((vs, model))
}

/// Checks shared by the models' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::Model;
    use tch::Tensor;
    use tch::nn::{self, OptimizerConfig};

    /// The var store holds exactly these parameter names and shapes.
    pub fn assert_parameters(vs: &nn::VarStore, expected: &[(&str, Vec<i64>)]) {
        let mut expected: Vec<(String, Vec<i64>)> = expected
            .iter()
            .map(|(k, s)| (k.to_string(), s.clone()))
            .collect();
        expected.sort();
        let mut got: Vec<_> = vs
            .variables()
            .into_iter()
            .map(|(k, t)| (k, t.size()))
            .collect();
        got.sort();
        assert_eq!(got, expected);
    }

    /// `steps` Adam steps at `lr` on (`xs`, `ys`) bring the loss (measured with `train_mode`)
    /// below a third of where it started.
    pub fn assert_learns(
        m: &dyn Model,
        vs: &nn::VarStore,
        (xs, ys): (&Tensor, &Tensor),
        steps: usize,
        lr: f64,
        train_mode: bool,
    ) {
        let mut opt = nn::Adam::default().build(vs, lr).unwrap();
        let loss = || {
            m.forward_t(xs, train_mode)
                .cross_entropy_for_logits(ys)
                .double_value(&[])
        };
        let loss0 = loss();
        for _ in 0..steps {
            opt.backward_step(&m.forward_t(xs, true).cross_entropy_for_logits(ys));
        }
        let loss1 = loss();
        assert!(loss1 < loss0 / 3.0, "loss {loss0} -> {loss1}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CnnConfig, DlrmConfig, MlpConfig, ResNetConfig, TextConfig};
    use tch::nn::OptimizerConfig;
    use tch::{Device, Kind};

    /// A small spec of every architecture, its input width and a batch of valid features.
    fn zoo() -> Vec<(ModelSpec, i64, Tensor)> {
        let opts = (Kind::Float, Device::Cpu);
        let spec = |arch| ModelSpec {
            num_classes: 3,
            arch,
            normalize: Default::default(),
        };
        let ids = |n, d, hi| Tensor::randint_low(-5, hi, [n, d], (Kind::Int64, Device::Cpu));
        vec![
            (
                spec(Architecture::Mlp(MlpConfig { hidden: vec![8] })),
                5,
                Tensor::randn([4, 5], opts),
            ),
            (
                spec(Architecture::Cnn(CnnConfig {
                    input_shape: [1, 28, 28],
                    channels: vec![4, 8],
                    hidden: 16,
                    dropout: 0.5,
                })),
                784,
                Tensor::randn([4, 784], opts),
            ),
            (
                spec(Architecture::Resnet18(ResNetConfig {
                    input_shape: [3, 16, 16],
                    width: 4,
                })),
                768,
                Tensor::randn([4, 768], opts) * 2.0 + 0.5,
            ),
            (
                spec(Architecture::Dlrm(DlrmConfig {
                    dense_features: 3,
                    embedding_sizes: vec![10, 7],
                    embedding_dim: 4,
                    bottom_mlp: vec![8, 4],
                    top_mlp: vec![8],
                })),
                5,
                Tensor::cat(
                    &[
                        Tensor::randn([4, 3], opts),
                        ids(4, 2, 30).to_kind(Kind::Float),
                    ],
                    1,
                ),
            ),
            (
                spec(Architecture::Text(TextConfig {
                    vocab_size: 20,
                    embedding_dim: 8,
                    hidden: vec![8],
                })),
                6,
                ids(4, 6, 60).clamp_min(0).to_kind(Kind::Float),
            ),
        ]
    }

    #[test]
    fn every_model_exports_to_torchscript_that_computes_its_outputs_bitwise() {
        let _rng = crate::train::torch_rng();
        let dir = tempfile::tempdir().unwrap();
        for (spec, input_dim, xs) in zoo() {
            let id = spec.arch.id();
            tch::manual_seed(1);
            let vs = nn::VarStore::new(Device::Cpu);
            let model = build(&spec, &vs.root(), input_dim).unwrap();
            let path = dir.path().join(format!("{id}.pt"));
            export_torchscript(&*model, &vs, input_dim, &path).unwrap();
            assert!(
                vs.trainable_variables().iter().all(Tensor::requires_grad),
                "{id}: still trainable"
            );
            let loaded = tch::CModule::load(&path).unwrap();
            // Any batch size, not only the example's.
            for n in [xs.size()[0], 1] {
                let part = xs.narrow(0, 0, n);
                let want = tch::no_grad(|| model.forward_t(&part, false));
                let got = loaded.forward_ts(&[&part]).unwrap();
                assert!(got.equal(&want), "{id}, {n} samples");
            }
        }
    }

    #[test]
    fn every_model_round_trips_through_safetensors_bitwise() {
        let _rng = crate::train::torch_rng();
        let dir = tempfile::tempdir().unwrap();
        for (spec, input_dim, xs) in zoo() {
            let id = spec.arch.id();
            let ys = Tensor::arange(xs.size()[0], (Kind::Int64, Device::Cpu)).remainder(3);
            tch::manual_seed(1);
            let vs = nn::VarStore::new(Device::Cpu);
            let model = build(&spec, &vs.root(), input_dim).unwrap();
            // A few steps, so the file holds trained weights and, for ResNet, running
            // statistics that differ from a fresh model's.
            let mut opt = nn::Adam::default().build(&vs, 0.01).unwrap();
            for _ in 0..3 {
                opt.backward_step(&model.forward_t(&xs, true).cross_entropy_for_logits(&ys));
            }
            let path = dir.path().join(format!("{id}.safetensors"));
            vs.save(&path).unwrap();

            tch::manual_seed(2);
            let mut vs2 = nn::VarStore::new(Device::Cpu);
            let model2 = build(&spec, &vs2.root(), input_dim).unwrap();
            let want = model.forward_t(&xs, false);
            assert!(
                !model2.forward_t(&xs, false).equal(&want),
                "{id}: same before loading"
            );
            vs2.load(&path).unwrap();
            assert!(
                model2.forward_t(&xs, false).equal(&want),
                "{id}: outputs differ"
            );
            assert_eq!(want.size(), [xs.size()[0], 3], "{id}");

            // Every variable, buffers included, is in the file under its own name.
            let mut saved: Vec<String> = Tensor::read_safetensors(&path)
                .unwrap()
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            saved.sort();
            let mut names: Vec<String> = vs.variables().into_keys().collect();
            names.sort();
            assert_eq!(saved, names, "{id}");
            let arch = model.architecture();
            assert_eq!(arch["id"], id);
            assert_eq!(arch["input_dim"], input_dim, "{id}");
            assert_eq!(arch["num_classes"], 3, "{id}");
        }
        let path = dir.path().join("resnet18.safetensors");
        let saved = Tensor::read_safetensors(&path).unwrap();
        assert!(
            saved
                .iter()
                .any(|(name, _)| name == "layer3.0.downsample.1.running_var")
        );
    }

    #[test]
    fn build_rejects_what_the_architecture_cannot_take() {
        let _rng = crate::train::torch_rng();
        let vs = nn::VarStore::new(Device::Cpu);
        let err = |arch, input_dim| {
            let spec = ModelSpec {
                num_classes: 2,
                arch,
                normalize: Default::default(),
            };
            build(&spec, &vs.root(), input_dim).unwrap_err()
        };
        let cnn = Architecture::Cnn(CnnConfig {
            input_shape: [1, 4, 4],
            channels: vec![2, 2, 2],
            hidden: 4,
            dropout: 0.0,
        });
        assert!(err(cnn.clone(), 17).starts_with("model.input_shape: "));
        let e = err(cnn, 16);
        assert!(
            e.starts_with("model.input_shape: ") && e.contains("8x8"),
            "{e}"
        );
        let text = Architecture::Text(TextConfig {
            vocab_size: 1,
            embedding_dim: 2,
            hidden: vec![],
        });
        assert!(err(text, 3).starts_with("model.vocab_size: "));
        let dlrm = Architecture::Dlrm(DlrmConfig {
            dense_features: 2,
            embedding_sizes: vec![4],
            embedding_dim: 4,
            bottom_mlp: vec![3],
            top_mlp: vec![],
        });
        assert!(err(dlrm, 3).starts_with("model.bottom_mlp: "));
    }
}
