//! `[model]`: `id` names the architecture, `num_classes` its output width, and the other keys
//! of the section are the architecture's own (each struct below; unknown keys are errors).
//!
//! Every model reads a sample's features (`f32`, in `feature_columns` order). Image models view
//! them as `input_shape` = `[channels, height, width]`; DLRM reads the first `dense_features`
//! as numbers and the rest as categorical ids (integers stored exactly in `f32`, hashed into
//! their table by `id mod size`); the text model reads every feature as a token id (0 is
//! padding). docs/models.md shows each layout and the PyTorch module that loads its weights.

use serde::Deserialize;

/// Model ids `[model] id` accepts.
pub const MODEL_IDS: [&str; 5] = ["mlp", "cnn", "resnet18", "dlrm", "text"];

/// A validated `[model]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Output classes (labels are `0..num_classes`).
    pub num_classes: i64,
    /// Architecture and its hyper-parameters.
    pub arch: Architecture,
}

impl ModelSpec {
    /// Number of output classes.
    pub fn num_classes(&self) -> i64 {
        self.num_classes
    }
}

/// The architectures of the model zoo.
#[derive(Clone, Debug, PartialEq)]
pub enum Architecture {
    /// Multi-layer perceptron over the feature vector.
    Mlp(MlpConfig),
    /// Small convolutional network for 28x28 / 32x32 images.
    Cnn(CnnConfig),
    /// ResNet-18 with the CIFAR stem (3x3 convolution, no max-pool).
    Resnet18(ResNetConfig),
    /// DLRM: dense features through a bottom MLP, categorical features through embedding
    /// tables, pairwise dot-product interactions, a top MLP.
    Dlrm(DlrmConfig),
    /// Text classifier: mean of token embeddings (an EmbeddingBag), then an MLP head.
    Text(TextConfig),
}

impl Architecture {
    /// The `[model] id`.
    pub fn id(&self) -> &'static str {
        match self {
            Architecture::Mlp(_) => "mlp",
            Architecture::Cnn(_) => "cnn",
            Architecture::Resnet18(_) => "resnet18",
            Architecture::Dlrm(_) => "dlrm",
            Architecture::Text(_) => "text",
        }
    }

    /// Checks the hyper-parameters; each problem as (key under `model.`, message).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut bad = Vec::new();
        let positive = |bad: &mut Vec<(String, String)>, key: &str, values: &[i64]| {
            for (i, v) in values.iter().enumerate() {
                if *v <= 0 {
                    let key = if values.len() > 1 {
                        format!("{key}.{i}")
                    } else {
                        key.to_string()
                    };
                    bad.push((key, "expected an integer > 0".to_string()));
                }
            }
        };
        match self {
            Architecture::Mlp(c) => positive(&mut bad, "hidden", &c.hidden),
            Architecture::Cnn(c) => {
                positive(&mut bad, "input_shape", &c.input_shape);
                positive(&mut bad, "channels", &c.channels);
                positive(&mut bad, "hidden", &[c.hidden]);
                if !(0.0..1.0).contains(&c.dropout) {
                    bad.push(("dropout".into(), "expected a number in [0, 1)".into()));
                }
                // Each block halves height and width; the last must keep at least one pixel.
                let pools = c.channels.len() as u32;
                let [_, h, w] = c.input_shape;
                if pools < 63 && (h >> pools == 0 || w >> pools == 0) {
                    bad.push((
                        "input_shape".into(),
                        format!(
                            "{h}x{w} is too small for {pools} blocks of 2x2 max-pooling (at least {0}x{0})",
                            1i64 << pools
                        ),
                    ));
                }
            }
            Architecture::Resnet18(c) => {
                positive(&mut bad, "input_shape", &c.input_shape);
                positive(&mut bad, "width", &[c.width]);
            }
            Architecture::Dlrm(c) => {
                positive(&mut bad, "dense_features", &[c.dense_features]);
                positive(&mut bad, "embedding_sizes", &c.embedding_sizes);
                positive(&mut bad, "embedding_dim", &[c.embedding_dim]);
                positive(&mut bad, "bottom_mlp", &c.bottom_mlp);
                positive(&mut bad, "top_mlp", &c.top_mlp);
                if c.bottom_mlp.last() != Some(&c.embedding_dim) {
                    bad.push((
                        "bottom_mlp".into(),
                        format!(
                            "its last width must equal embedding_dim ({}) for the interactions",
                            c.embedding_dim
                        ),
                    ));
                }
            }
            Architecture::Text(c) => {
                if c.vocab_size < 2 {
                    bad.push((
                        "vocab_size".into(),
                        "expected an integer >= 2 (id 0 is padding)".into(),
                    ));
                }
                positive(&mut bad, "embedding_dim", &[c.embedding_dim]);
                positive(&mut bad, "hidden", &c.hidden);
            }
        }
        bad
    }

    /// Checks the architecture against the number of features a sample has; the error names
    /// the key and says what would fit.
    pub fn check_input(&self, features: usize) -> Result<(), (String, String)> {
        let n = features as i64;
        match self {
            Architecture::Cnn(CnnConfig { input_shape, .. })
            | Architecture::Resnet18(ResNetConfig { input_shape, .. }) => {
                let want: i64 = input_shape.iter().product();
                if want != n {
                    return Err((
                        "input_shape".into(),
                        format!(
                            "{input_shape:?} holds {want} values, but a sample has {n} features"
                        ),
                    ));
                }
            }
            Architecture::Dlrm(c) => {
                let sparse = n - c.dense_features;
                if sparse < 1 || sparse != c.embedding_sizes.len() as i64 {
                    return Err((
                        "embedding_sizes".into(),
                        format!(
                            "a sample has {n} features: {} dense, so {} categorical, one table each; found {} tables",
                            c.dense_features,
                            sparse,
                            c.embedding_sizes.len()
                        ),
                    ));
                }
            }
            Architecture::Mlp(_) | Architecture::Text(_) => {}
        }
        Ok(())
    }
}

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
