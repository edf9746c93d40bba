//! Text classifier: the mean of a sample's token embeddings, then an MLP head.
//!
//! Every feature is a token id (an integer stored exactly in `f32`); 0 is padding. The sample
//! vector is the mean of the embeddings of its non-padding tokens (the zero vector when all are
//! padding), i.e. PyTorch's `nn.EmbeddingBag(vocab_size, embedding_dim, mode="mean",
//! padding_idx=0)` over the row of ids; then `Linear + ReLU` per `hidden` width and a `Linear`
//! to the classes.
//!
//! Ids outside `1..vocab_size` are folded into it by `1 + (id - 1) mod (vocab_size - 1)` (mod
//! non-negative) rather than `id mod vocab_size`: the latter would turn every multiple of
//! `vocab_size` into padding and silently drop those tokens. Ids already in range are unchanged.
//!
//! Named `embedding.weight` (row 0, the padding row, is zero and never used) and
//! `head.<2i>.{weight,bias}` (docs/models.md).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::config::TextConfig;

/// `mode` argument of ATen's `embedding_bag`.
const MODE_MEAN: i64 = 1;

/// An EmbeddingBag + MLP text classifier.
#[derive(Debug)]
pub struct TextClassifier {
    embedding: Tensor,
    head: Vec<nn::Linear>,
    input_dim: i64,
    config: TextConfig,
    num_classes: i64,
}

impl TextClassifier {
    /// Creates the layers under `root` for samples of `input_dim` token ids and a validated
    /// `config`, initialised like PyTorch (embeddings `N(0, 1)` with the padding row zeroed,
    /// linear layers as `nn.Linear`) from torch's RNG. Fails when `vocab_size < 2`, which
    /// leaves no id for a token.
    pub fn new(
        root: &nn::Path,
        input_dim: i64,
        config: &TextConfig,
        num_classes: i64,
    ) -> Result<Self, String> {
        if config.vocab_size < 2 {
            return Err(format!(
                "expected at least 2 (id 0 is padding), found {}",
                config.vocab_size
            ));
        }
        let embedding = nn::embedding(
            root / "embedding",
            config.vocab_size,
            config.embedding_dim,
            Default::default(),
        )
        .ws;
        tch::no_grad(|| {
            let _ = embedding.get(0).zero_();
        });
        let mut widths = vec![config.embedding_dim];
        widths.extend_from_slice(&config.hidden);
        widths.push(num_classes);
        let head_path = root / "head";
        let head = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                nn::linear(
                    &head_path / (2 * i).to_string(),
                    w[0],
                    w[1],
                    Default::default(),
                )
            })
            .collect();
        Ok(Self {
            embedding,
            head,
            input_dim,
            config: config.clone(),
            num_classes,
        })
    }

    /// Token ids `[n, L]` (`i64`, in `0..vocab_size`) of the features `[n, L]`, folded as the
    /// module documentation says.
    pub fn token_ids(&self, xs: &Tensor) -> Tensor {
        let ids = xs.to_kind(Kind::Int64);
        ((&ids - 1).remainder(self.config.vocab_size - 1) + 1).where_scalarother(&ids.ne(0), 0)
    }

    /// The mean embedding `[n, embedding_dim]` of each sample's non-padding tokens.
    fn bag(&self, xs: &Tensor) -> Tensor {
        let ids = self.token_ids(xs);
        let (_, len) = ids.size2().expect("features [n, input_dim]");
        // One bag per sample, as EmbeddingBag does for a 2-D input: offsets 0, len, 2 len, …
        // computed from the batch, not its size, so a traced export takes any batch size.
        let offsets = (ids.select(1, 0).ones_like().cumsum(0, Kind::Int64) - 1) * len.max(1);
        let (bags, _, _, _) = Tensor::embedding_bag_padding_idx(
            &self.embedding,
            &ids.flatten(0, -1),
            &offsets,
            false,
            MODE_MEAN,
            false,
            None::<Tensor>,
            false,
            0,
        );
        bags
    }
}

impl super::Model for TextClassifier {
    fn embed_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        let mut x = self.bag(xs);
        let (_, hidden) = self.head.split_last().expect("the head has a layer");
        for layer in hidden {
            x = layer.forward(&x).relu();
        }
        x
    }

    fn classify(&self, embeddings: &Tensor) -> Tensor {
        self.head
            .last()
            .expect("the head has a layer")
            .forward(embeddings)
    }

    fn architecture(&self) -> serde_json::Value {
        serde_json::json!({
            "id": "text",
            "input_dim": self.input_dim,
            "vocab_size": self.config.vocab_size,
            "embedding_dim": self.config.embedding_dim,
            "hidden": self.config.hidden,
            "num_classes": self.num_classes,
            "padding_idx": 0,
            "token_ids": "id == 0 ? 0 : 1 + (id - 1) mod (vocab_size - 1)",
            "pytorch": "EmbeddingBag(vocab_size, embedding_dim, mode='mean', padding_idx=0) over the row of token ids, then Sequential(Linear, ReLU, ..., Linear); state_dict keys 'embedding.weight', 'head.<2i>.*'",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Model;
    use super::*;
    use crate::train::models::testing;
    use tch::Device;

    fn config(vocab_size: i64, embedding_dim: i64, hidden: &[i64]) -> TextConfig {
        TextConfig {
            vocab_size,
            embedding_dim,
            hidden: hidden.to_vec(),
        }
    }

    #[test]
    fn parameter_names_match_pytorch() {
        let _rng = crate::train::torch_rng();
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = TextClassifier::new(&vs.root(), 6, &config(50, 8, &[16, 4]), 3).unwrap();
        testing::assert_parameters(
            &vs,
            &[
                ("embedding.weight", vec![50, 8]),
                ("head.0.bias", vec![16]),
                ("head.0.weight", vec![16, 8]),
                ("head.2.bias", vec![4]),
                ("head.2.weight", vec![4, 16]),
                ("head.4.bias", vec![3]),
                ("head.4.weight", vec![3, 4]),
            ],
        );
        let padding_row = vs.variables()["embedding.weight"].get(0);
        assert_eq!(padding_row.abs().sum(Kind::Float).double_value(&[]), 0.0);
    }

    #[test]
    fn folds_ids_without_creating_padding() {
        let _rng = crate::train::torch_rng();
        let vs = nn::VarStore::new(Device::Cpu);
        let m = TextClassifier::new(&vs.root(), 8, &config(5, 2, &[]), 2).unwrap();
        let xs = Tensor::from_slice(&[0f32, 1.0, 4.0, 5.0, 8.0, 9.0, 10.0, -1.0]).view([1, 8]);
        let want = Tensor::from_slice(&[0i64, 1, 4, 1, 4, 1, 2, 3]).view([1, 8]);
        assert!(m.token_ids(&xs).equal(&want), "{}", m.token_ids(&xs));
        assert!(TextClassifier::new(&(vs.root() / "x"), 8, &config(1, 2, &[]), 2).is_err());
    }

    #[test]
    fn averages_non_padding_tokens_and_maps_empty_samples_to_zero() {
        let _rng = crate::train::torch_rng();
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = TextClassifier::new(&vs.root(), 4, &config(20, 3, &[]), 2).unwrap();
        let xs = Tensor::from_slice(&[3f32, 0.0, 7.0, 3.0, 0.0, 0.0, 0.0, 0.0]).view([2, 4]);
        let w = vs.variables()["embedding.weight"].detach();
        let want0 = (w.get(3) * 2.0 + w.get(7)) / 3.0;
        let bags = m.bag(&xs);
        assert!(bags.get(0).allclose(&want0, 1e-6, 1e-7, false));
        assert_eq!(bags.get(1).abs().sum(Kind::Float).double_value(&[]), 0.0);
        // With no hidden layer the head is one Linear: an empty sample gets its bias.
        let bias = &vs.variables()["head.0.bias"];
        assert!(m.forward_t(&xs, false).get(1).equal(bias));
    }

    #[test]
    fn learns_which_tokens_matter() {
        let _rng = crate::train::torch_rng();
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = TextClassifier::new(&vs.root(), 6, &config(50, 8, &[16]), 2).unwrap();
        // Label 1 when any token is in 1..10; ids go past the vocabulary (folded) and ~1/3 of
        // the positions are padding.
        let n = 128;
        let ids = Tensor::randint_low(0, 150, [n, 6], (Kind::Int64, Device::Cpu));
        let ids = ids.where_scalarother(&ids.remainder(3).ne(0), 0);
        let folded = ((&ids - 1).remainder(49) + 1).where_scalarother(&ids.ne(0), 0);
        let ys = folded
            .ge(1)
            .logical_and(&folded.lt(10))
            .any_dim(1, false)
            .to_kind(Kind::Int64);
        let xs = ids.to_kind(Kind::Float);
        testing::assert_learns(&m, &vs, (&xs, &ys), 60, 0.05, false);
    }
}
