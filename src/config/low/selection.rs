//! `[selection]` as users write it: the candidate pool, presampling and downsampling.

use serde::Deserialize;
use toml::Value;

use super::common::CountOrAll;

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Strategy {
    NewData,
    Coreset,
    Reservoir,
    Freshness,
}

#[derive(Deserialize, Clone, Copy)]
pub(crate) enum ResetLow {
    #[serde(rename = "lastX")]
    LastX,
    #[serde(rename = "sampleUAR")]
    SampleUar,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PresampleLow {
    None,
    Random,
    RandomNoReplacement,
    LabelBalanced,
    TriggerBalanced,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PresamplingLow {
    pub(crate) strategy: PresampleLow,
    #[serde(default)]
    pub(crate) ratio: Option<i64>,
    #[serde(default)]
    pub(crate) ratio_max: Option<i64>,
    #[serde(default)]
    pub(crate) limit: Option<i64>,
    #[serde(default)]
    pub(crate) force_column_balancing: Option<bool>,
    #[serde(default)]
    pub(crate) force_required_target_size: Option<bool>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DownLow {
    Loss,
    GradNorm,
    Uncertainty,
    Rs2,
    KcenterGreedy,
    Submodular,
    Craig,
    GradMatch,
    RhoLoss,
}

/// `rescore_after`: trainer epochs, or `"always"` (Modyn: every score recomputed).
#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
pub(crate) enum RescoreLow {
    Epochs(i64),
    Always(AlwaysWord),
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AlwaysWord {
    Always,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HoldoutLow {
    Simple,
    Twin,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FunctionLow {
    FacilityLocation,
    GraphCut,
    LogDeterminant,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GreedyLow {
    #[serde(rename = "naive_greedy")]
    Naive,
    #[serde(rename = "lazy_greedy")]
    Lazy,
    #[serde(rename = "stochastic_greedy")]
    Stochastic,
    #[serde(rename = "approximate_lazy_greedy")]
    ApproximateLazy,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GradientsLow {
    LastLayer,
    LastLayerWithEmbedding,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MetricLow {
    LeastConfidence,
    Entropy,
    Margin,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DownsamplingLow {
    pub(crate) strategy: DownLow,
    #[serde(default)]
    pub(crate) ratio: Option<i64>,
    #[serde(default)]
    pub(crate) ratio_max: Option<i64>,
    #[serde(default)]
    pub(crate) sample_then_batch: Option<bool>,
    #[serde(default)]
    pub(crate) period: Option<i64>,
    #[serde(default)]
    pub(crate) rescore_after: Option<RescoreLow>,
    #[serde(default)]
    pub(crate) score_metric: Option<MetricLow>,
    #[serde(default)]
    pub(crate) balance: Option<bool>,
    #[serde(default)]
    pub(crate) with_replacement: Option<bool>,
    #[serde(default)]
    pub(crate) submodular_function: Option<FunctionLow>,
    #[serde(default)]
    pub(crate) submodular_optimizer: Option<GreedyLow>,
    /// CRAIG's greedy maximiser (Modyn's key).
    #[serde(default)]
    pub(crate) greedy: Option<GreedyLow>,
    #[serde(default)]
    pub(crate) full_grad_approximation: Option<GradientsLow>,
    #[serde(default)]
    pub(crate) holdout_set_ratio: Option<i64>,
    #[serde(default)]
    pub(crate) holdout_set_ratio_max: Option<i64>,
    #[serde(default)]
    pub(crate) holdout_set_strategy: Option<HoldoutLow>,
    /// `[training]` keys for the irreducible-loss model (parsed by `IlBase`, in `training.rs`).
    #[serde(default)]
    pub(crate) il_training: Option<Value>,
    /// `[model]` of the irreducible-loss model (default: `[model]`).
    #[serde(default)]
    pub(crate) il_model: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelectionLow {
    #[serde(default)]
    pub(crate) strategy: Option<Strategy>,
    #[serde(default)]
    pub(crate) tail_triggers: Option<CountOrAll>,
    #[serde(default)]
    pub(crate) limit: Option<i64>,
    #[serde(default)]
    pub(crate) limit_reset: Option<ResetLow>,
    #[serde(default)]
    pub(crate) budget: Option<i64>,
    #[serde(default)]
    pub(crate) presampling: Option<PresamplingLow>,
    /// One downsampler, or `schedule` + `thresholds` (parsed by `plan`, in `selection.rs`).
    #[serde(default)]
    pub(crate) downsampling: Option<Value>,
    #[serde(default)]
    pub(crate) warmup_triggers: Option<i64>,
    #[serde(default)]
    pub(crate) unused_data_ratio: Option<i64>,
    #[serde(default)]
    pub(crate) seed: Option<i64>,
    #[serde(default)]
    pub(crate) maximum_keys_in_memory: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleLow {
    pub(crate) schedule: Vec<Value>,
    pub(crate) thresholds: Vec<i64>,
}
