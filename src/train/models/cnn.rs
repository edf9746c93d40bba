//! Small convolutional network for 28x28 / 32x32 images.
//!
//! A sample's features are the image `[channels, height, width]` in row-major order. Per entry
//! of `channels`: `Conv2d(3x3, padding 1) -> ReLU -> MaxPool2d(2)`; then Flatten,
//! `Linear(-> hidden) -> ReLU -> Dropout -> Linear(-> num_classes)`. Named like PyTorch's
//! `nn.Sequential(OrderedDict(unflatten=..., features=nn.Sequential(...), flatten=...,
//! classifier=nn.Sequential(...)))`: convolutions `"features.<3i>.weight"` / `.bias`, linear
//! layers `"classifier.0.*"` and `"classifier.3.*"` (docs/models.md).

use tch::Tensor;
use tch::nn::{self, Module};

use crate::config::CnnConfig;

/// A CNN classifier.
#[derive(Debug)]
pub struct Cnn {
    convs: Vec<nn::Conv2D>,
    fc1: nn::Linear,
    fc2: nn::Linear,
    config: CnnConfig,
    flat_features: i64,
    num_classes: i64,
}

impl Cnn {
    /// Creates the layers under `root` (parameters are initialised from torch's RNG) for a
    /// validated `config`. Fails when the image is too small for its pooling layers (each
    /// halves the height and width, rounding down, and none may reach 0).
    pub fn new(root: &nn::Path, config: &CnnConfig, num_classes: i64) -> Result<Self, String> {
        let [c, h, w] = config.input_shape;
        let features = root / "features";
        let mut convs = Vec::with_capacity(config.channels.len());
        let (mut channels, mut height, mut width) = (c, h, w);
        for (i, &out) in config.channels.iter().enumerate() {
            let conv_config = nn::ConvConfig {
                padding: 1,
                ..Default::default()
            };
            convs.push(nn::conv2d(
                &features / (3 * i).to_string(),
                channels,
                out,
                3,
                conv_config,
            ));
            (channels, height, width) = (out, height / 2, width / 2);
            if height == 0 || width == 0 {
                return Err(format!(
                    "{} pooling layers need an image of at least {n}x{n}, input_shape is {:?}",
                    config.channels.len(),
                    config.input_shape,
                    n = 2i64.saturating_pow(config.channels.len() as u32),
                ));
            }
        }
        let flat_features = channels * height * width;
        let classifier = root / "classifier";
        let fc1 = nn::linear(
            &classifier / "0",
            flat_features,
            config.hidden,
            Default::default(),
        );
        let fc2 = nn::linear(
            &classifier / "3",
            config.hidden,
            num_classes,
            Default::default(),
        );
        Ok(Self {
            convs,
            fc1,
            fc2,
            config: config.clone(),
            flat_features,
            num_classes,
        })
    }
}

impl super::Model for Cnn {
    fn embed_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let [c, h, w] = self.config.input_shape;
        let mut x = xs.reshape([-1, c, h, w]);
        for conv in &self.convs {
            x = conv.forward(&x).relu().max_pool2d_default(2);
        }
        self.fc1
            .forward(&x.flatten(1, -1))
            .relu()
            .dropout(self.config.dropout, train)
    }

    fn classify(&self, embeddings: &Tensor) -> Tensor {
        self.fc2.forward(embeddings)
    }

    fn architecture(&self) -> serde_json::Value {
        let [c, h, w] = self.config.input_shape;
        serde_json::json!({
            "id": "cnn",
            "input_dim": c * h * w,
            "input_shape": self.config.input_shape,
            "channels": self.config.channels,
            "hidden": self.config.hidden,
            "dropout": self.config.dropout,
            "num_classes": self.num_classes,
            "flat_features": self.flat_features,
            "pytorch": "Sequential(unflatten=Unflatten(1, input_shape), features=Sequential(Conv2d(3, padding=1), ReLU, MaxPool2d(2), ...), flatten=Flatten, classifier=Sequential(Linear, ReLU, Dropout, Linear)); state_dict keys 'features.<3i>.weight|bias', 'classifier.0.*', 'classifier.3.*'",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Model;
    use super::*;
    use crate::train::models::testing;
    use tch::{Device, Kind};

    fn config(input_shape: [i64; 3], channels: &[i64], hidden: i64, dropout: f64) -> CnnConfig {
        CnnConfig {
            input_shape,
            channels: channels.to_vec(),
            hidden,
            dropout,
        }
    }

    fn shapes(vs: &nn::VarStore) -> Vec<(String, Vec<i64>)> {
        let mut v: Vec<_> = vs
            .variables()
            .into_iter()
            .map(|(k, t)| (k, t.size()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn parameter_names_match_pytorch() {
        let _rng = crate::train::torch_rng();
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = Cnn::new(&vs.root(), &config([1, 28, 28], &[4, 8], 16, 0.5), 10).unwrap();
        // `[(k, tuple(v.shape)) for k, v in sorted(model.state_dict().items())]` of the
        // docs/models.md module for this config.
        let expected: Vec<(String, Vec<i64>)> = [
            ("classifier.0.bias", vec![16]),
            ("classifier.0.weight", vec![16, 8 * 7 * 7]),
            ("classifier.3.bias", vec![10]),
            ("classifier.3.weight", vec![10, 16]),
            ("features.0.bias", vec![4]),
            ("features.0.weight", vec![4, 1, 3, 3]),
            ("features.3.bias", vec![8]),
            ("features.3.weight", vec![8, 4, 3, 3]),
        ]
        .into_iter()
        .map(|(k, s)| (k.to_string(), s))
        .collect();
        assert_eq!(shapes(&vs), expected);
    }

    #[test]
    fn fits_mnist_and_cifar_shapes_and_rejects_tiny_images() {
        let _rng = crate::train::torch_rng();
        for (shape, flat) in [([1, 28, 28], 8 * 7 * 7), ([3, 32, 32], 8 * 8 * 8)] {
            let vs = nn::VarStore::new(Device::Cpu);
            let m = Cnn::new(&vs.root(), &config(shape, &[4, 8], 16, 0.0), 10).unwrap();
            assert_eq!(m.architecture()["flat_features"], flat);
            let dim: i64 = shape.iter().product();
            let xs = Tensor::randn([5, dim], (Kind::Float, Device::Cpu));
            assert_eq!(m.forward_t(&xs, true).size(), [5, 10]);
            assert_eq!(m.forward_t(&xs, false).size(), [5, 10]);
        }
        let vs = nn::VarStore::new(Device::Cpu);
        let err = Cnn::new(&vs.root(), &config([1, 4, 4], &[2, 2, 2], 4, 0.0), 2).unwrap_err();
        assert!(err.contains("at least 8x8"), "{err}");
    }

    #[test]
    fn dropout_only_in_training() {
        let _rng = crate::train::torch_rng();
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Cnn::new(&vs.root(), &config([1, 8, 8], &[2], 32, 0.5), 3).unwrap();
        let xs = Tensor::randn([4, 64], (Kind::Float, Device::Cpu));
        assert!(m.forward_t(&xs, false).equal(&m.forward_t(&xs, false)));
        assert!(!m.forward_t(&xs, true).equal(&m.forward_t(&xs, true)));
    }

    #[test]
    fn learns_where_the_bright_patch_is() {
        let _rng = crate::train::torch_rng();
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Cnn::new(&vs.root(), &config([1, 28, 28], &[4, 8], 16, 0.1), 2).unwrap();
        // Noise plus a bright 6x6 patch in the left (class 0) or right (class 1) half.
        let n = 64;
        let ys = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(2);
        let xs = Tensor::randn([n, 1, 28, 28], (Kind::Float, Device::Cpu)) * 0.3;
        for i in 0..n {
            let col = if i % 2 == 0 { 4 } else { 18 };
            let _ = xs
                .get(i)
                .narrow(1, 11, 6)
                .narrow(2, col, 6)
                .g_add_scalar_(2.0);
        }
        let xs = xs.view([n, 28 * 28]);
        testing::assert_learns(&m, &vs, (&xs, &ys), 25, 0.01, false);
    }
}
