//! The model zoo. Each model names its parameters like the equivalent PyTorch module, so a
//! Python user loads the safetensors file into it with `load_state_dict` (docs/models.md).
//!
//! | file | model (`[model] id`) |
//! |---|---|
//! | `mlp.rs` | [`Mlp`] (`mlp`): tabular features |

mod mlp;

pub use mlp::Mlp;

use tch::{Tensor, nn};

use crate::config::{Architecture, ModelSpec};

/// A trainable model: a batch of samples' features in, one output per class out.
pub trait Model: std::fmt::Debug + Send {
    /// Outputs (logits) `[n, num_classes]` for features `[n, input_dim]` (`f32`, laid out as
    /// the architecture reads them, see `config::models`); `train` switches dropout and batch
    /// normalisation to training mode.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor;

    /// Architecture id and hyper-parameters, recorded in the artifact's metadata: enough to
    /// rebuild the module in PyTorch.
    fn architecture(&self) -> serde_json::Value;
}

/// Builds `spec`'s model under `root` for samples of `input_dim` features (parameters drawn
/// from torch's RNG). Fails when the architecture does not fit the input, naming the key.
pub fn build(spec: &ModelSpec, root: &nn::Path, input_dim: i64) -> Result<Box<dyn Model>, String> {
    spec.arch
        .check_input(input_dim as usize)
        .map_err(|(key, message)| format!("model.{key}: {message}"))?;
    Ok(match &spec.arch {
        Architecture::Mlp(c) => Box::new(Mlp::new(root, input_dim, &c.hidden, spec.num_classes)),
        other => {
            return Err(format!("model.id: `{}` is not built yet", other.id()));
        }
    })
}
