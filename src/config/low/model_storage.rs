//! `[model_storage]` as users write it.

use serde::Deserialize;

/// How a delta combines two models' 32-bit words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffOperator {
    /// Bitwise exclusive or.
    #[default]
    Xor,
    /// Wrapping subtraction of the bit patterns (child − parent).
    Sub,
}

/// `[model_storage]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelStorage {
    /// Store models trained from a parent as differences to it.
    #[serde(default)]
    pub incremental: Option<bool>,
    /// Difference operator.
    #[serde(default)]
    pub operator: Option<DiffOperator>,
    /// Every this many models of a chain is stored full.
    #[serde(default)]
    pub full_model_interval: Option<i64>,
    /// zstd level for weights files (absent: uncompressed).
    #[serde(default)]
    pub zstd_level: Option<i64>,
}
