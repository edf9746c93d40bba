//! `[model]`'s architecture keys as users write them: one struct per architecture, with its
//! defaults (`id` and `num_classes` are read by `models.rs`).

use serde::Deserialize;

fn mlp_hidden() -> Vec<i64> {
    vec![64]
}

/// `id = "mlp"`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Hidden layer widths (Linear + ReLU each).
    #[serde(default = "mlp_hidden")]
    pub hidden: Vec<i64>,
}

fn cnn_channels() -> Vec<i64> {
    vec![32, 64]
}

fn cnn_hidden() -> i64 {
    128
}

/// `id = "cnn"`: per entry of `channels`, Conv3x3 (padding 1) + ReLU + MaxPool2; then Flatten,
/// Linear to `hidden` + ReLU (+ Dropout), Linear to the classes.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnConfig {
    /// `[channels, height, width]` of the image the features hold (row-major).
    pub input_shape: [i64; 3],
    /// Output channels of each convolution block.
    #[serde(default = "cnn_channels")]
    pub channels: Vec<i64>,
    /// Width of the hidden fully connected layer.
    #[serde(default = "cnn_hidden")]
    pub hidden: i64,
    /// Dropout before the last layer (training only).
    #[serde(default)]
    pub dropout: f64,
}

fn resnet_shape() -> [i64; 3] {
    [3, 32, 32]
}

fn resnet_width() -> i64 {
    64
}

/// `id = "resnet18"`: torchvision's ResNet-18 with the CIFAR stem.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNetConfig {
    /// `[channels, height, width]` of the image the features hold (row-major).
    #[serde(default = "resnet_shape")]
    pub input_shape: [i64; 3],
    /// Channels of the first stage (doubling per stage: 64, 128, 256, 512).
    #[serde(default = "resnet_width")]
    pub width: i64,
}

fn dlrm_embedding_dim() -> i64 {
    16
}

fn dlrm_bottom() -> Vec<i64> {
    vec![64, 16]
}

fn dlrm_top() -> Vec<i64> {
    vec![64]
}

/// `id = "dlrm"`: the layout of Criteo-style click data.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlrmConfig {
    /// How many leading features are dense (numbers); the rest are categorical ids.
    pub dense_features: i64,
    /// Rows of each categorical feature's embedding table (ids are taken modulo it).
    pub embedding_sizes: Vec<i64>,
    /// Embedding width (also the bottom MLP's output width).
    #[serde(default = "dlrm_embedding_dim")]
    pub embedding_dim: i64,
    /// Bottom MLP widths over the dense features; the last equals `embedding_dim`.
    #[serde(default = "dlrm_bottom")]
    pub bottom_mlp: Vec<i64>,
    /// Top MLP hidden widths (then a Linear to the classes).
    #[serde(default = "dlrm_top")]
    pub top_mlp: Vec<i64>,
}

fn text_embedding_dim() -> i64 {
    64
}

/// `id = "text"`: token ids in, classes out.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// Token ids are `0..vocab_size`, 0 = padding (ignored); other ids outside `1..vocab_size`
    /// fold onto it as `1 + (id - 1) mod (vocab_size - 1)`.
    pub vocab_size: i64,
    /// Embedding width.
    #[serde(default = "text_embedding_dim")]
    pub embedding_dim: i64,
    /// Hidden widths of the head (Linear + ReLU each), then a Linear to the classes.
    #[serde(default)]
    pub hidden: Vec<i64>,
}

/// `id = "torchscript"`: a module of the user's, saved with `torch.jit.script` or
/// `torch.jit.trace` (docs/models.md has the contract).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorchScriptConfig {
    /// The module file, relative to the config file (resolved when the config is loaded).
    pub path: std::path::PathBuf,
}
