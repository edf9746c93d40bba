//! DLRM (Naumov et al. 2019) for Criteo-style click data.
//!
//! A sample's first `dense_features` features are numbers and go through the bottom MLP
//! (`Linear + ReLU` per width, the last width being `embedding_dim`); each remaining feature
//! `j` is a categorical id (an integer stored exactly in `f32`) looked up in table `j` after
//! `id mod embedding_sizes[j]` (non-negative: -1 is the table's last row). The bottom output and
//! the `T` looked-up vectors interact by pairwise dot products, exactly as Facebook's
//! `dlrm_s_pytorch.py` with `arch_interaction_op="dot"`: the `1 + T` vectors are stacked, `Z =
//! T·Tᵀ`, and the pairs `(i, j)` with `j < i` are taken in the order `for i: for j in 0..i`
//! (the strict triangle of the symmetric `Z`); the top MLP reads `[bottom output, those dot
//! products]` and ends with a `Linear` to the classes (logits; no sigmoid).
//!
//! Named like that reference: `bot_l.<2i>.*`, `emb_l.<j>.weight`, `top_l.<2i>.*`.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::config::DlrmConfig;

/// A DLRM classifier.
#[derive(Debug)]
pub struct Dlrm {
    bottom: Vec<nn::Linear>,
    tables: Vec<nn::Embedding>,
    top: Vec<nn::Linear>,
    /// Flat indices `i * (1 + T) + j` of the interaction pairs in `Z` flattened per sample.
    pairs: Tensor,
    config: DlrmConfig,
    num_classes: i64,
}

/// `nn.Sequential(Linear, ReLU, ...)` with its linear layers at even indices under `path`.
fn mlp(path: &nn::Path, widths: &[i64]) -> Vec<nn::Linear> {
    widths
        .windows(2)
        .enumerate()
        .map(|(i, w)| nn::linear(path / (2 * i).to_string(), w[0], w[1], Default::default()))
        .collect()
}

impl Dlrm {
    /// Creates the layers under `root` for a validated `config` (parameters from torch's
    /// RNG; embedding rows drawn from `U(-sqrt(1/rows), sqrt(1/rows))` like the reference).
    pub fn new(root: &nn::Path, config: &DlrmConfig, num_classes: i64) -> Self {
        let mut bottom_widths = vec![config.dense_features];
        bottom_widths.extend_from_slice(&config.bottom_mlp);
        let bottom = mlp(&(root / "bot_l"), &bottom_widths);
        let emb = root / "emb_l";
        let tables = config
            .embedding_sizes
            .iter()
            .enumerate()
            .map(|(j, &rows)| {
                let bound = (1.0 / rows as f64).sqrt();
                let init = nn::EmbeddingConfig {
                    ws_init: nn::Init::Uniform {
                        lo: -bound,
                        up: bound,
                    },
                    ..Default::default()
                };
                nn::embedding(&emb / j.to_string(), rows, config.embedding_dim, init)
            })
            .collect();
        let vectors = 1 + config.embedding_sizes.len() as i64;
        let pairs: Vec<i64> = (0..vectors)
            .flat_map(|i| (0..i).map(move |j| i * vectors + j))
            .collect();
        let mut top_widths = vec![config.embedding_dim + pairs.len() as i64];
        top_widths.extend_from_slice(&config.top_mlp);
        top_widths.push(num_classes);
        let top = mlp(&(root / "top_l"), &top_widths);
        Self {
            bottom,
            tables,
            top,
            pairs: Tensor::from_slice(&pairs).to_device(root.device()),
            config: config.clone(),
            num_classes,
        }
    }
}

impl super::Model for Dlrm {
    fn embed_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        let dense = self.config.dense_features;
        let mut x = xs.narrow(1, 0, dense);
        for layer in &self.bottom {
            x = layer.forward(&x).relu();
        }
        let ids = xs
            .narrow(1, dense, self.tables.len() as i64)
            .to_kind(Kind::Int64);
        let mut vectors = Vec::with_capacity(1 + self.tables.len());
        vectors.push(x.shallow_clone());
        for (j, (table, &rows)) in self
            .tables
            .iter()
            .zip(&self.config.embedding_sizes)
            .enumerate()
        {
            vectors.push(table.forward(&ids.select(1, j as i64).remainder(rows)));
        }
        let t = Tensor::stack(&vectors, 1);
        let z = t.bmm(&t.transpose(1, 2)).flatten(1, -1);
        let mut x = Tensor::cat(&[x, z.index_select(1, &self.pairs)], 1);
        let (_, hidden) = self.top.split_last().expect("the top MLP has a layer");
        for layer in hidden {
            x = layer.forward(&x).relu();
        }
        x
    }

    fn classify(&self, embeddings: &Tensor) -> Tensor {
        self.top
            .last()
            .expect("the top MLP has a layer")
            .forward(embeddings)
    }

    fn architecture(&self) -> serde_json::Value {
        let c = &self.config;
        serde_json::json!({
            "id": "dlrm",
            "input_dim": c.dense_features + c.embedding_sizes.len() as i64,
            "dense_features": c.dense_features,
            "embedding_sizes": c.embedding_sizes,
            "embedding_dim": c.embedding_dim,
            "bottom_mlp": c.bottom_mlp,
            "top_mlp": c.top_mlp,
            "interaction": "dot",
            "num_classes": self.num_classes,
            "pytorch": "facebookresearch/dlrm DLRM_Net (dot interaction, itself excluded, top MLP without sigmoid); categorical ids = long(feature) % embedding_sizes[j]; state_dict keys 'bot_l.<2i>.*', 'emb_l.<j>.weight', 'top_l.<2i>.*'",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Model;
    use super::*;
    use crate::train::models::testing;
    use tch::Device;

    fn config() -> DlrmConfig {
        DlrmConfig {
            dense_features: 3,
            embedding_sizes: vec![10, 7],
            embedding_dim: 4,
            bottom_mlp: vec![8, 4],
            top_mlp: vec![8],
        }
    }

    #[test]
    fn parameter_names_match_the_reference_dlrm() {
        let _rng = crate::train::torch_rng();
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = Dlrm::new(&vs.root(), &config(), 2);
        // 3 vectors -> 3 pairs; the top MLP reads 4 + 3 values.
        testing::assert_parameters(
            &vs,
            &[
                ("bot_l.0.bias", vec![8]),
                ("bot_l.0.weight", vec![8, 3]),
                ("bot_l.2.bias", vec![4]),
                ("bot_l.2.weight", vec![4, 8]),
                ("emb_l.0.weight", vec![10, 4]),
                ("emb_l.1.weight", vec![7, 4]),
                ("top_l.0.bias", vec![8]),
                ("top_l.0.weight", vec![8, 7]),
                ("top_l.2.bias", vec![2]),
                ("top_l.2.weight", vec![2, 8]),
            ],
        );
    }

    #[test]
    fn interactions_follow_the_reference_order_and_ids_wrap() {
        let _rng = crate::train::torch_rng();
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Dlrm::new(&vs.root(), &config(), 2);
        // Ids 13 -> row 3 of table 0, -1 -> row 6 of table 1.
        let xs = Tensor::from_slice(&[0.5f32, -1.0, 2.0, 13.0, -1.0]).view([1, 5]);
        let v = vs.variables();
        let mut bottom = xs.narrow(1, 0, 3);
        for l in ["bot_l.0", "bot_l.2"] {
            bottom = bottom
                .linear(&v[&format!("{l}.weight")], Some(&v[&format!("{l}.bias")]))
                .relu();
        }
        let e0 = v["emb_l.0.weight"].get(3).unsqueeze(0);
        let e1 = v["emb_l.1.weight"].get(6).unsqueeze(0);
        let dot = |a: &Tensor, b: &Tensor| (a * b).sum_dim_intlist(1, true, Kind::Float);
        // Pairs (1, 0), (2, 0), (2, 1) as dlrm_s_pytorch.py's `li`, `lj`.
        let top_in = Tensor::cat(
            &[
                bottom.shallow_clone(),
                dot(&e0, &bottom),
                dot(&e1, &bottom),
                dot(&e1, &e0),
            ],
            1,
        );
        let want = top_in
            .linear(&v["top_l.0.weight"], Some(&v["top_l.0.bias"]))
            .relu()
            .linear(&v["top_l.2.weight"], Some(&v["top_l.2.bias"]));
        let got = m.forward_t(&xs, false);
        assert!(got.allclose(&want, 1e-5, 1e-6, false), "{got} vs {want}");
    }

    #[test]
    fn learns_from_dense_and_categorical_features() {
        let _rng = crate::train::torch_rng();
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Dlrm::new(&vs.root(), &config(), 2);
        // Label: table-0 id is odd (ids spread over -20..40, so they wrap), or dense[0] > 1.
        let n = 128;
        let dense = Tensor::randn([n, 3], (Kind::Float, Device::Cpu));
        let id0 = Tensor::randint_low(-20, 40, [n, 1], (Kind::Int64, Device::Cpu));
        let id1 = Tensor::randint_low(0, 100, [n, 1], (Kind::Int64, Device::Cpu));
        let ys = id0
            .remainder(2)
            .eq(1)
            .logical_or(&dense.narrow(1, 0, 1).gt(1.0))
            .view([n])
            .to_kind(Kind::Int64);
        let xs = Tensor::cat(
            &[dense, id0.to_kind(Kind::Float), id1.to_kind(Kind::Float)],
            1,
        );
        testing::assert_learns(&m, &vs, (&xs, &ys), 60, 0.02, false);
    }
}
