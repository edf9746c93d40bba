//! ResNet-18 with the CIFAR stem.
//!
//! torchvision's `resnet18` (BasicBlock, layers `[2, 2, 2, 2]`, channels `width`, `2 width`,
//! `4 width`, `8 width`) except for the stem: `conv1` is a 3x3 convolution with stride 1 and
//! there is no max-pool, so 32x32 images keep their resolution in `layer1` (He et al.'s CIFAR
//! setting). A sample's features are the image `[channels, height, width]` in row-major order.
//!
//! Parameters and batch-norm buffers are named like torchvision's state_dict: `conv1.weight`,
//! `bn1.{weight,bias,running_mean,running_var}`, `layer<s>.<b>.{conv1,bn1,conv2,bn2}.*`,
//! `layer<s>.0.downsample.{0,1}.*`, `fc.{weight,bias}`. tch keeps no `num_batches_tracked`
//! counter (PyTorch only reads it when `momentum=None`); docs/models.md fills it in when loading.

use tch::Tensor;
use tch::nn::{self, Module, ModuleT};

use crate::config::ResNetConfig;

/// Blocks per stage, as in torchvision's `resnet18`.
const LAYERS: [usize; 4] = [2, 2, 2, 2];

/// torchvision's convolution init (`kaiming_normal_(mode="fan_out", nonlinearity="relu")`).
const CONV_INIT: nn::Init = nn::Init::Kaiming {
    dist: nn::init::NormalOrUniform::Normal,
    fan: nn::init::FanInOut::FanOut,
    non_linearity: nn::init::NonLinearity::ReLU,
};

fn conv(path: nn::Path, inputs: i64, outputs: i64, kernel: i64, stride: i64) -> nn::Conv2D {
    let config = nn::ConvConfig {
        stride,
        padding: kernel / 2,
        bias: false,
        ws_init: CONV_INIT,
        ..Default::default()
    };
    nn::conv2d(path, inputs, outputs, kernel, config)
}

fn batch_norm(path: nn::Path, channels: i64) -> nn::BatchNorm {
    // PyTorch starts at weight 1 (tch's default draws it from U(0, 1)).
    let config = nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm2d(path, channels, config)
}

/// torchvision's `BasicBlock`: two 3x3 convolutions and a residual connection, projected by
/// a 1x1 convolution when the stride or the width changes.
#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl BasicBlock {
    fn new(path: nn::Path, inputs: i64, outputs: i64, stride: i64) -> Self {
        let downsample = (stride != 1 || inputs != outputs).then(|| {
            let d = &path / "downsample";
            (
                conv(&d / "0", inputs, outputs, 1, stride),
                batch_norm(&d / "1", outputs),
            )
        });
        Self {
            conv1: conv(&path / "conv1", inputs, outputs, 3, stride),
            bn1: batch_norm(&path / "bn1", outputs),
            conv2: conv(&path / "conv2", outputs, outputs, 3, 1),
            bn2: batch_norm(&path / "bn2", outputs),
            downsample,
        }
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = self.bn1.forward_t(&self.conv1.forward(xs), train).relu();
        let out = self.bn2.forward_t(&self.conv2.forward(&out), train);
        let identity = match &self.downsample {
            Some((conv, bn)) => bn.forward_t(&conv.forward(xs), train),
            None => xs.shallow_clone(),
        };
        (out + identity).relu()
    }
}

/// A ResNet-18 classifier (CIFAR stem).
#[derive(Debug)]
pub struct ResNet18 {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    blocks: Vec<BasicBlock>,
    fc: nn::Linear,
    config: ResNetConfig,
    num_classes: i64,
}

impl ResNet18 {
    /// Creates the layers under `root` for a validated `config`, initialised like torchvision
    /// (convolutions Kaiming-normal over fan-out, batch norm weight 1 and bias 0, `fc` as
    /// `nn.Linear`) from torch's RNG.
    pub fn new(root: &nn::Path, config: &ResNetConfig, num_classes: i64) -> Self {
        let width = config.width;
        let mut blocks = Vec::with_capacity(LAYERS.iter().sum());
        let mut inputs = width;
        for (stage, &count) in LAYERS.iter().enumerate() {
            let outputs = width << stage;
            let layer = root / format!("layer{}", stage + 1);
            for b in 0..count {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(
                    &layer / b.to_string(),
                    inputs,
                    outputs,
                    stride,
                ));
                inputs = outputs;
            }
        }
        Self {
            conv1: conv(root / "conv1", config.input_shape[0], width, 3, 1),
            bn1: batch_norm(root / "bn1", width),
            blocks,
            fc: nn::linear(root / "fc", inputs, num_classes, Default::default()),
            config: config.clone(),
            num_classes,
        }
    }
}

impl super::Model for ResNet18 {
    fn embed_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let [c, h, w] = self.config.input_shape;
        let x = xs.reshape([-1, c, h, w]);
        let mut x = self.bn1.forward_t(&self.conv1.forward(&x), train).relu();
        for block in &self.blocks {
            x = block.forward_t(&x, train);
        }
        x.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }

    fn classify(&self, embeddings: &Tensor) -> Tensor {
        self.fc.forward(embeddings)
    }

    fn architecture(&self) -> serde_json::Value {
        let [c, h, w] = self.config.input_shape;
        serde_json::json!({
            "id": "resnet18",
            "input_dim": c * h * w,
            "input_shape": self.config.input_shape,
            "width": self.config.width,
            "block": "basic",
            "layers": LAYERS,
            "stem": "cifar",
            "num_classes": self.num_classes,
            "pytorch": "torchvision resnet18 with conv1 = Conv2d(C, width, 3, 1, 1, bias=False) and no maxpool, stage widths width*[1,2,4,8]; state_dict keys as torchvision's, without 'num_batches_tracked'",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Model;
    use super::*;
    use crate::train::models::testing;
    use tch::{Device, Kind};

    /// `for k, v in model.state_dict().items(): print(k, *v.shape)` for the docs/models.md
    /// module (`width` 4, 3 input channels, 10 classes), `num_batches_tracked` left out; the
    /// keys are torchvision `resnet18()`'s.
    const PYTORCH_STATE_DICT: &str = "
conv1.weight 4 3 3 3
bn1.weight 4
bn1.bias 4
bn1.running_mean 4
bn1.running_var 4
layer1.0.conv1.weight 4 4 3 3
layer1.0.bn1.weight 4
layer1.0.bn1.bias 4
layer1.0.bn1.running_mean 4
layer1.0.bn1.running_var 4
layer1.0.conv2.weight 4 4 3 3
layer1.0.bn2.weight 4
layer1.0.bn2.bias 4
layer1.0.bn2.running_mean 4
layer1.0.bn2.running_var 4
layer1.1.conv1.weight 4 4 3 3
layer1.1.bn1.weight 4
layer1.1.bn1.bias 4
layer1.1.bn1.running_mean 4
layer1.1.bn1.running_var 4
layer1.1.conv2.weight 4 4 3 3
layer1.1.bn2.weight 4
layer1.1.bn2.bias 4
layer1.1.bn2.running_mean 4
layer1.1.bn2.running_var 4
layer2.0.conv1.weight 8 4 3 3
layer2.0.bn1.weight 8
layer2.0.bn1.bias 8
layer2.0.bn1.running_mean 8
layer2.0.bn1.running_var 8
layer2.0.conv2.weight 8 8 3 3
layer2.0.bn2.weight 8
layer2.0.bn2.bias 8
layer2.0.bn2.running_mean 8
layer2.0.bn2.running_var 8
layer2.0.downsample.0.weight 8 4 1 1
layer2.0.downsample.1.weight 8
layer2.0.downsample.1.bias 8
layer2.0.downsample.1.running_mean 8
layer2.0.downsample.1.running_var 8
layer2.1.conv1.weight 8 8 3 3
layer2.1.bn1.weight 8
layer2.1.bn1.bias 8
layer2.1.bn1.running_mean 8
layer2.1.bn1.running_var 8
layer2.1.conv2.weight 8 8 3 3
layer2.1.bn2.weight 8
layer2.1.bn2.bias 8
layer2.1.bn2.running_mean 8
layer2.1.bn2.running_var 8
layer3.0.conv1.weight 16 8 3 3
layer3.0.bn1.weight 16
layer3.0.bn1.bias 16
layer3.0.bn1.running_mean 16
layer3.0.bn1.running_var 16
layer3.0.conv2.weight 16 16 3 3
layer3.0.bn2.weight 16
layer3.0.bn2.bias 16
layer3.0.bn2.running_mean 16
layer3.0.bn2.running_var 16
layer3.0.downsample.0.weight 16 8 1 1
layer3.0.downsample.1.weight 16
layer3.0.downsample.1.bias 16
layer3.0.downsample.1.running_mean 16
layer3.0.downsample.1.running_var 16
layer3.1.conv1.weight 16 16 3 3
layer3.1.bn1.weight 16
layer3.1.bn1.bias 16
layer3.1.bn1.running_mean 16
layer3.1.bn1.running_var 16
layer3.1.conv2.weight 16 16 3 3
layer3.1.bn2.weight 16
layer3.1.bn2.bias 16
layer3.1.bn2.running_mean 16
layer3.1.bn2.running_var 16
layer4.0.conv1.weight 32 16 3 3
layer4.0.bn1.weight 32
layer4.0.bn1.bias 32
layer4.0.bn1.running_mean 32
layer4.0.bn1.running_var 32
layer4.0.conv2.weight 32 32 3 3
layer4.0.bn2.weight 32
layer4.0.bn2.bias 32
layer4.0.bn2.running_mean 32
layer4.0.bn2.running_var 32
layer4.0.downsample.0.weight 32 16 1 1
layer4.0.downsample.1.weight 32
layer4.0.downsample.1.bias 32
layer4.0.downsample.1.running_mean 32
layer4.0.downsample.1.running_var 32
layer4.1.conv1.weight 32 32 3 3
layer4.1.bn1.weight 32
layer4.1.bn1.bias 32
layer4.1.bn1.running_mean 32
layer4.1.bn1.running_var 32
layer4.1.conv2.weight 32 32 3 3
layer4.1.bn2.weight 32
layer4.1.bn2.bias 32
layer4.1.bn2.running_mean 32
layer4.1.bn2.running_var 32
fc.weight 10 32
fc.bias 10
";

    fn config(input_shape: [i64; 3], width: i64) -> ResNetConfig {
        ResNetConfig { input_shape, width }
    }

    #[test]
    fn parameter_names_match_torchvision() {
        let _rng = crate::train::torch_rng();
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = ResNet18::new(&vs.root(), &config([3, 8, 8], 4), 10);
        let expected: Vec<(&str, Vec<i64>)> = PYTORCH_STATE_DICT
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut words = l.split(' ');
                let name = words.next().unwrap();
                (name, words.map(|d| d.parse().unwrap()).collect())
            })
            .collect();
        testing::assert_parameters(&vs, &expected);
        // Running statistics are saved with the weights but never trained.
        let trainable = vs.trainable_variables().len();
        assert_eq!(trainable, expected.len() - 2 * 20);
    }

    #[test]
    fn initialised_like_torchvision() {
        let _rng = crate::train::torch_rng();
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = ResNet18::new(&vs.root(), &config([3, 8, 8], 4), 10);
        let v = vs.variables();
        assert!(v["layer2.0.bn1.weight"].equal(&Tensor::ones([8], (Kind::Float, Device::Cpu))));
        assert!(v["bn1.running_var"].equal(&Tensor::ones([4], (Kind::Float, Device::Cpu))));
        assert_eq!(
            v["bn1.running_mean"]
                .abs()
                .sum(Kind::Float)
                .double_value(&[]),
            0.0
        );
    }

    #[test]
    fn batch_norm_uses_batch_statistics_only_in_training() {
        let _rng = crate::train::torch_rng();
        tch::manual_seed(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = ResNet18::new(&vs.root(), &config([3, 8, 8], 4), 3);
        let xs = Tensor::randn([6, 3 * 8 * 8], (Kind::Float, Device::Cpu)) * 3.0 + 1.0;
        let mean = || vs.variables()["bn1.running_mean"].copy();
        let before = mean();
        let eval = m.forward_t(&xs, false);
        assert!(mean().equal(&before), "eval mode changed the running mean");
        // A sample's eval output does not depend on the rest of its batch.
        assert!(m.forward_t(&xs.narrow(0, 0, 1), false).allclose(
            &eval.narrow(0, 0, 1),
            1e-5,
            1e-6,
            false
        ));
        let _ = m.forward_t(&xs, true);
        assert!(
            !mean().equal(&before),
            "training did not update the running mean"
        );
    }

    #[test]
    fn cifar_shape_gives_one_logit_per_class() {
        let _rng = crate::train::torch_rng();
        let vs = nn::VarStore::new(Device::Cpu);
        let m = ResNet18::new(&vs.root(), &config([3, 32, 32], 4), 10);
        let xs = Tensor::randn([2, 3 * 32 * 32], (Kind::Float, Device::Cpu));
        assert_eq!(m.forward_t(&xs, false).size(), [2, 10]);
        assert_eq!(m.architecture()["input_dim"], 3072);
    }

    #[test]
    fn learns_a_colour_problem_in_a_few_steps() {
        let _rng = crate::train::torch_rng();
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = ResNet18::new(&vs.root(), &config([3, 16, 16], 8), 2);
        // Class 1 images are redder than green, class 0 greener than red.
        let n = 16;
        let ys = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(2);
        let shift = (ys.to_kind(Kind::Float) * 2.0 - 1.0).view([n, 1, 1, 1]);
        let xs = Tensor::randn([n, 3, 16, 16], (Kind::Float, Device::Cpu));
        let _ = xs.narrow(1, 0, 1).g_add_(&shift);
        let _ = xs.narrow(1, 1, 1).g_sub_(&shift);
        let xs = xs.view([n, 3 * 16 * 16]);
        // Measured in training mode: after a handful of steps the running statistics (momentum
        // 0.1) are still far from the batch's, so eval-mode loss says little yet.
        testing::assert_learns(&m, &vs, (&xs, &ys), 8, 0.01, true);
    }
}
