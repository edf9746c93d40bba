//! Multi-layer perceptron for tabular features.
//!
//! Layers `Linear -> ReLU -> ... -> Linear`, named like PyTorch's
//! `nn.Sequential(nn.Linear(d, h0), nn.ReLU(), ..., nn.Linear(h_last, classes))`:
//! parameters `"0.weight"`, `"0.bias"`, `"2.weight"`, ... .

use tch::Tensor;
use tch::nn::{self, Module};

/// An MLP classifier.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<nn::Linear>,
    input_dim: i64,
    hidden: Vec<i64>,
    num_classes: i64,
}

impl Mlp {
    /// Creates the layers under `root` (parameters are initialised from torch's RNG).
    pub fn new(root: &nn::Path, input_dim: i64, hidden: &[i64], num_classes: i64) -> Self {
        let mut widths = vec![input_dim];
        widths.extend_from_slice(hidden);
        widths.push(num_classes);
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| nn::linear(root / (2 * i).to_string(), w[0], w[1], Default::default()))
            .collect();
        Self {
            layers,
            input_dim,
            hidden: hidden.to_vec(),
            num_classes,
        }
    }
}

impl super::Model for Mlp {
    fn embed_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        let (_, hidden) = self.layers.split_last().expect("at least one layer");
        let mut x = xs.shallow_clone();
        for layer in hidden {
            x = layer.forward(&x).relu();
        }
        x
    }

    fn classify(&self, embeddings: &Tensor) -> Tensor {
        self.layers
            .last()
            .expect("at least one layer")
            .forward(embeddings)
    }

    fn architecture(&self) -> serde_json::Value {
        serde_json::json!({
            "id": "mlp",
            "input_dim": self.input_dim,
            "hidden": self.hidden,
            "num_classes": self.num_classes,
            "activation": "relu",
            "pytorch": "nn.Sequential(Linear, ReLU, ..., Linear); state_dict keys '<2i>.weight', '<2i>.bias'",
        })
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Tensor {
        super::Model::forward_t(self, xs, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::OptimizerConfig;
    use tch::{Device, Kind};

    #[test]
    fn parameter_names_match_pytorch_sequential() {
        let _rng = crate::train::torch_rng();
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = Mlp::new(&vs.root(), 3, &[8, 4], 2);
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"
            ]
        );
        assert_eq!(vs.variables()["2.weight"].size(), vec![4, 8]);
    }

    #[test]
    fn learns_a_separable_problem_in_a_few_steps() {
        let _rng = crate::train::torch_rng();
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Mlp::new(&vs.root(), 2, &[16], 2);
        let mut opt = nn::Adam::default().build(&vs, 0.05).unwrap();
        let xs = Tensor::randn([256, 2], (Kind::Float, Device::Cpu));
        let ys = xs.select(1, 0).gt(0.0).to_kind(Kind::Int64);
        let loss0 = m
            .forward(&xs)
            .cross_entropy_for_logits(&ys)
            .double_value(&[]);
        for _ in 0..100 {
            let loss = m.forward(&xs).cross_entropy_for_logits(&ys);
            opt.backward_step(&loss);
        }
        let loss1 = m
            .forward(&xs)
            .cross_entropy_for_logits(&ys)
            .double_value(&[]);
        let acc = m
            .forward(&xs)
            .argmax(-1, false)
            .eq_tensor(&ys)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        assert!(loss1 < loss0 / 2.0, "loss {loss0} -> {loss1}");
        assert!(acc > 0.95, "accuracy {acc}");
    }
}
