//! `[model] id = "torchscript"`: the user's own module, saved with `torch.jit.script` or
//! `torch.jit.trace`, trained through tch's trainable module API. Its parameters join the var
//! store (named as in PyTorch, `.` written `_`), so the optimizers and schedulers work on
//! them. Its buffers (BatchNorm's running statistics) are not parameters: a
//! trained module is stored whole, as `<model_id>.pt` beside its safetensors, and read back
//! from there ([`super::restore`]).
//!
//! The contract (docs/models.md): `forward(x: [n, input_dim] float32) -> [n, outputs]`, train
//! and eval mode honoured; optionally `embed(x) -> [n, e]` and `classify(e) -> [n, outputs]`
//! with `forward(x) == classify(embed(x))`, for what reads embeddings or the last layer.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor, TrainableCModule, nn};

/// A TorchScript module in training or evaluation.
#[derive(Debug)]
pub struct TorchScript {
    module: RefCell<TrainableCModule>,
    /// The mode the module is in (`None`: not set yet).
    training: Cell<Option<bool>>,
    /// The file it was loaded from.
    path: PathBuf,
}

impl TorchScript {
    /// Loads the module at `path` with its parameters under `root`.
    pub fn load(path: &Path, root: &nn::Path) -> Result<Self, String> {
        let module = TrainableCModule::load(path, root.clone()).map_err(|e| {
            format!(
                "{}: not a TorchScript module tch can load: {}",
                path.display(),
                first_line(&e.to_string())
            )
        })?;
        Ok(Self {
            module: RefCell::new(module),
            training: Cell::new(None),
            path: path.to_path_buf(),
        })
    }

    /// Saves the module (parameters and buffers) to `path`, in evaluation mode: what
    /// `torch.jit.load` gives is ready to predict.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        self.mode(false);
        self.module
            .borrow()
            .save(path)
            .map_err(|e| format!("saving {}: {}", path.display(), first_line(&e.to_string())))
    }

    fn mode(&self, train: bool) {
        if self.training.get() != Some(train) {
            let mut m = self.module.borrow_mut();
            if train {
                m.set_train();
            } else {
                m.set_eval();
            }
            self.training.set(Some(train));
        }
    }

    fn call(&self, method: &str, x: &Tensor) -> Tensor {
        let m = self.module.borrow();
        let out = if method == "forward" {
            m.forward_ts(&[x])
        } else {
            m.method_ts(method, &[x])
        };
        // `sluice validate` and the run's start checked the contract on this module.
        out.unwrap_or_else(|e| {
            panic!(
                "{}: {method} failed: {}",
                self.path.display(),
                first_line(&e.to_string())
            )
        })
    }
}

impl super::Model for TorchScript {
    fn embed_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.mode(train);
        self.call("embed", xs)
    }

    fn classify(&self, embeddings: &Tensor) -> Tensor {
        self.call("classify", embeddings)
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.mode(train);
        self.call("forward", xs)
    }

    fn architecture(&self) -> serde_json::Value {
        let file = self
            .path
            .file_name()
            .map(|f| f.to_string_lossy().to_string());
        serde_json::json!({ "id": "torchscript", "module": file })
    }

    fn as_torchscript(&self) -> Option<&TorchScript> {
        Some(self)
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Checks the module at `path` against the contract for `features` inputs and `classes`
/// outputs, and that it has `methods` (e.g. `embed`): the shapes it produced if not.
pub fn check(path: &Path, features: i64, classes: i64, methods: &[&str]) -> Result<(), String> {
    let vs = nn::VarStore::new(Device::Cpu);
    let m = TorchScript::load(path, &vs.root())?;
    m.mode(false);
    let x = Tensor::zeros([2, features], (Kind::Float, Device::Cpu));
    let out = m.module.borrow().forward_ts(&[&x]).map_err(|e| {
        format!(
            "forward on [2, {features}] float32 failed: {}",
            first_line(&e.to_string())
        )
    })?;
    if out.size() != [2, classes] || out.kind() != Kind::Float {
        return Err(format!(
            "forward on [2, {features}] float32 returned {:?} {:?}; expected [2, {classes}] float32 (num_classes)",
            out.size(),
            out.kind()
        ));
    }
    for method in methods {
        let found = match *method {
            "classify" => m
                .module
                .borrow()
                .method_ts("embed", &[&x])
                .and_then(|e| m.module.borrow().method_ts("classify", &[&e])),
            other => m.module.borrow().method_ts(other, &[&x]),
        };
        if let Err(e) = found {
            return Err(format!(
                "has no usable `{method}`: {}",
                first_line(&e.to_string())
            ));
        }
    }
    Ok(())
}
