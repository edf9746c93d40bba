//! `[trigger]` as users write it: one struct per policy, with its criteria, windows and
//! metrics (a warm-up policy or sub-trigger is a raw table, parsed as a trigger of its own).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Value;

use super::common::CountOrAll;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AmountLow {
    pub(crate) every: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeLow {
    pub(crate) every: String,
    #[serde(default)]
    pub(crate) start: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DriftLow {
    pub(crate) evaluation_interval_data_points: i64,
    #[serde(default)]
    pub(crate) warmup_intervals: Option<i64>,
    #[serde(default)]
    pub(crate) warmup_policy: Option<Value>,
    #[serde(default)]
    pub(crate) windows: Option<WindowsLow>,
    #[serde(default)]
    pub(crate) sample_size: Option<CountOrAll>,
    #[serde(default)]
    pub(crate) features: Option<Features>,
    pub(crate) metrics: BTreeMap<String, MetricLow>,
    #[serde(default)]
    pub(crate) aggregation: Option<AggregationLow>,
    #[serde(default)]
    pub(crate) seed: Option<i64>,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Features {
    Raw,
    Embeddings,
}

#[derive(Deserialize)]
#[serde(tag = "id", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum WindowsLow {
    Amount {
        #[serde(default)]
        amount_ref: Option<i64>,
        #[serde(default)]
        amount_cur: Option<i64>,
        #[serde(default)]
        allow_overlap: Option<bool>,
    },
    Time {
        limit_ref: String,
        limit_cur: String,
        #[serde(default)]
        allow_overlap: Option<bool>,
    },
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MetricId {
    Mmd,
    Ks,
    Cvm,
    Wasserstein,
    Hellinger,
    Euclidean,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Correction {
    Bonferroni,
    Fdr,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricLow {
    pub(crate) id: MetricId,
    #[serde(default)]
    pub(crate) num_permutations: Option<i64>,
    #[serde(default)]
    pub(crate) correction: Option<Correction>,
    pub(crate) criterion: CriterionLow,
}

#[derive(Deserialize)]
#[serde(tag = "id", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum CriterionLow {
    Threshold {
        threshold: f64,
    },
    DynamicQuantile {
        #[serde(default)]
        window_size: Option<i64>,
        #[serde(default)]
        quantile: Option<f64>,
    },
    DynamicRollingAverage {
        #[serde(default)]
        window_size: Option<i64>,
        #[serde(default)]
        deviation: Option<f64>,
        #[serde(default)]
        absolute: Option<bool>,
    },
    PValue {
        #[serde(default)]
        p_val: Option<f64>,
    },
}

#[derive(Deserialize)]
#[serde(tag = "id", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum AggregationLow {
    MajorityVote,
    AtLeast { n: i64 },
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ForecastLow {
    RidgeRegression,
    RollingAverage,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    Hindsight,
    Lookahead,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EvaluationLow {
    pub(crate) metrics: Vec<String>,
    #[serde(default)]
    pub(crate) batch_size: Option<i64>,
}

#[derive(Deserialize)]
#[serde(tag = "id", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum PerformanceCriterionLow {
    StaticThreshold {
        #[serde(default)]
        metric: Option<String>,
        metric_threshold: f64,
    },
    DynamicQuantile {
        #[serde(default)]
        metric: Option<String>,
        #[serde(default)]
        window_size: Option<i64>,
        #[serde(default)]
        quantile: Option<f64>,
    },
    DynamicRollingAverage {
        #[serde(default)]
        metric: Option<String>,
        #[serde(default)]
        window_size: Option<i64>,
        #[serde(default)]
        deviation: Option<f64>,
        #[serde(default)]
        absolute: Option<bool>,
    },
    AvoidableMisclassifications {
        avoidable_misclassification_threshold: i64,
        #[serde(default)]
        expected_accuracy: Option<f64>,
        #[serde(default)]
        allow_reduction: Option<bool>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PerformanceLow {
    pub(crate) evaluation_interval_data_points: i64,
    #[serde(default)]
    pub(crate) warmup_intervals: Option<i64>,
    #[serde(default)]
    pub(crate) warmup_policy: Option<Value>,
    #[serde(default)]
    pub(crate) evaluation: Option<EvaluationLow>,
    #[serde(default)]
    pub(crate) mode: Option<Mode>,
    #[serde(default)]
    pub(crate) forecasting_method: Option<ForecastLow>,
    #[serde(default)]
    pub(crate) data_density_window_size: Option<i64>,
    #[serde(default)]
    pub(crate) performance_triggers_window_size: Option<i64>,
    pub(crate) criteria: BTreeMap<String, PerformanceCriterionLow>,
}

#[derive(Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RegretLow {
    IncorporationLatency,
    AvoidableMisclassificationLatency,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CostLow {
    pub(crate) evaluation_interval_data_points: i64,
    #[serde(default)]
    pub(crate) warmup_intervals: Option<i64>,
    #[serde(default)]
    pub(crate) warmup_policy: Option<Value>,
    pub(crate) regret: RegretLow,
    #[serde(default)]
    pub(crate) incorporation_delay_per_training_second: Option<f64>,
    #[serde(default)]
    pub(crate) avoidable_misclassification_latency_per_training_second: Option<f64>,
    #[serde(default)]
    pub(crate) cost_tracking_window_size: Option<i64>,
    #[serde(default)]
    pub(crate) evaluation: Option<EvaluationLow>,
    #[serde(default)]
    pub(crate) expected_accuracy: Option<f64>,
    #[serde(default)]
    pub(crate) allow_reduction: Option<bool>,
    #[serde(default)]
    pub(crate) forecasting_method: Option<ForecastLow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnsembleLow {
    pub(crate) strategy: StrategyLow,
    #[serde(default)]
    pub(crate) n: Option<i64>,
    pub(crate) subtriggers: BTreeMap<String, Value>,
}

#[derive(Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StrategyLow {
    MajorityVote,
    AtLeast,
    All,
    Any,
}
