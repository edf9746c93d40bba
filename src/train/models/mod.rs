//! The model zoo. Each model names its parameters like the equivalent PyTorch module, so a
//! Python user loads the safetensors file into it with `load_state_dict` (docs/models.md).

mod mlp;

pub use mlp::Mlp;
