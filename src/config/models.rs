//! `[model]`: `id` names the architecture, `num_classes` its output width, and the other keys
//! of the section are the architecture's own (each a struct in `low/models.rs`; unknown keys are
//! errors). This file checks the section into a [`ModelSpec`].
//!
//! Every model reads a sample's features (`f32`, in `feature_columns` order). Image models view
//! them as `input_shape` = `[channels, height, width]`; DLRM reads the first `dense_features`
//! as numbers and the rest as categorical ids (integers stored exactly in `f32`, hashed into
//! their table by `id mod size`); the text model reads every feature as a token id (0 is
//! padding). docs/models.md shows each layout and the PyTorch module that loads its weights.

use std::path::Path;

use toml::Value;

use super::error::ConfigError;
use super::fields::{err, section};
use super::spec::{
    Architecture, CnnConfig, MODEL_IDS, ModelSpec, Normalize, ResNetConfig, TorchScriptConfig,
};

impl Architecture {
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
            // Its shapes are checked by loading it (`train::models::check_module`).
            Architecture::TorchScript(_) => {}
        }
        bad
    }

    /// The features a normalisation scales, of `features`: DLRM's dense ones, the text
    /// model's none, every one otherwise.
    pub fn scaled_features(&self, features: usize) -> usize {
        match self {
            Architecture::Dlrm(c) => (c.dense_features as usize).min(features),
            Architecture::Text(_) => 0,
            _ => features,
        }
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
            Architecture::Mlp(_) | Architecture::Text(_) | Architecture::TorchScript(_) => {}
        }
        Ok(())
    }
}

/// `[model]` (or an irreducible-loss model's `il_model`): `id`, `num_classes` and the
/// architecture's own keys; a path is resolved against `base` (the config file's folder).
pub(super) fn model(
    value: Option<Value>,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<ModelSpec> {
    let Some(mut value) = value else {
        err(errors, "model", "missing section");
        return None;
    };
    let Some(table) = value.as_table_mut() else {
        err(errors, "model", "expected a table");
        return None;
    };
    let before = errors.len();
    let id = match table.remove("id") {
        Some(Value::String(s)) if MODEL_IDS.contains(&s.as_str()) => Some(s),
        Some(Value::String(s)) => {
            err(
                errors,
                "model.id",
                format!(
                    "unknown model `{s}`, expected one of {}",
                    MODEL_IDS.join(", ")
                ),
            );
            None
        }
        Some(other) => {
            err(
                errors,
                "model.id",
                format!("expected a string, found {}", other.type_str()),
            );
            None
        }
        None => {
            err(
                errors,
                "model.id",
                format!("missing, expected one of {}", MODEL_IDS.join(", ")),
            );
            None
        }
    };
    let num_classes = match table.remove("num_classes") {
        Some(Value::Integer(n)) if n >= 2 => Some(n),
        Some(_) => {
            err(errors, "model.num_classes", "expected an integer >= 2");
            None
        }
        None => {
            err(errors, "model.num_classes", "missing");
            None
        }
    };
    let normalize = normalize(table.remove("normalize"), errors);
    // The remaining keys are the architecture's own.
    let arch = match id?.as_str() {
        "mlp" => section(value, "model", errors).map(Architecture::Mlp),
        "cnn" => section(value, "model", errors).map(Architecture::Cnn),
        "resnet18" => section(value, "model", errors).map(Architecture::Resnet18),
        "dlrm" => section(value, "model", errors).map(Architecture::Dlrm),
        "text" => section(value, "model", errors).map(Architecture::Text),
        "torchscript" => section(value, "model", errors).map(|mut c: TorchScriptConfig| {
            c.path = base.join(&c.path);
            if !c.path.is_file() {
                err(
                    errors,
                    "model.path",
                    format!("file not found: {}", c.path.display()),
                );
            }
            Architecture::TorchScript(c)
        }),
        _ => unreachable!("checked against MODEL_IDS"),
    }?;
    for (key, message) in arch.validate() {
        err(errors, format!("model.{key}"), message);
    }
    let normalize = normalize?;
    if normalize != Normalize::None && matches!(arch, Architecture::Text(_)) {
        err(
            errors,
            "model.normalize",
            "the text model reads token ids, which are not scaled: expected \"none\"",
        );
    }
    (errors.len() == before).then_some(ModelSpec {
        num_classes: num_classes?,
        arch,
        normalize,
    })
}

/// `model.normalize`: `"none"` (also when absent), `"running"`, or a table of fixed
/// statistics `{ mean = [...], std = [...] }` (same length; every `std` > 0).
fn normalize(value: Option<Value>, errors: &mut Vec<ConfigError>) -> Option<Normalize> {
    const EXPECTED: &str = "expected \"none\", \"running\" or { mean = [...], std = [...] }";
    let numbers = |t: &mut toml::Table, key: &str, errors: &mut Vec<ConfigError>| {
        let full = format!("model.normalize.{key}");
        let Some(Value::Array(values)) = t.remove(key) else {
            err(errors, full, "expected an array of numbers");
            return None;
        };
        let mut out = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            match v {
                Value::Float(f) if f.is_finite() => out.push(*f),
                Value::Integer(n) => out.push(*n as f64),
                _ => {
                    err(errors, format!("{full}.{i}"), "expected a finite number");
                    return None;
                }
            }
        }
        Some(out)
    };
    match value {
        None => Some(Normalize::None),
        Some(Value::String(s)) if s == "none" => Some(Normalize::None),
        Some(Value::String(s)) if s == "running" => Some(Normalize::Running),
        Some(Value::Table(mut t)) => {
            let mean = numbers(&mut t, "mean", errors);
            let std = numbers(&mut t, "std", errors);
            if let Some(key) = t.keys().next() {
                err(errors, format!("model.normalize.{key}"), "unknown key");
                return None;
            }
            let (mean, std) = (mean?, std?);
            if mean.len() != std.len() || mean.is_empty() {
                err(
                    errors,
                    "model.normalize",
                    format!(
                        "mean has {} values and std {}: expected one of each per feature",
                        mean.len(),
                        std.len()
                    ),
                );
                return None;
            }
            if let Some(i) = std.iter().position(|s| *s <= 0.0) {
                err(
                    errors,
                    format!("model.normalize.std.{i}"),
                    "expected a number > 0",
                );
                return None;
            }
            Some(Normalize::Fixed { mean, std })
        }
        Some(Value::String(s)) => {
            err(
                errors,
                "model.normalize",
                format!("unknown `{s}`, {EXPECTED}"),
            );
            None
        }
        Some(other) => {
            err(
                errors,
                "model.normalize",
                format!("found {}, {EXPECTED}", other.type_str()),
            );
            None
        }
    }
}
