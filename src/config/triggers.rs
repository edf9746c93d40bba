//! `[trigger]`: every policy's keys, parsed recursively (a warm-up policy is a trigger table
//! too), each error with its key path.
//!
//! Sluice's names are short forms of Modyn's (`DataDriftTrigger` → `drift`,
//! `windowing_strategy` → `windows`, `decision_criterion` → `criterion`,
//! `aggregation_strategy` → `aggregation`); docs/triggers.md maps them.

use sluice_dataflows::drift::{Aggregation, Criterion, MetricKind, MetricSpec, WindowSpec};
use sluice_dataflows::triggers::{
    CostConfig, DriftConfig, EnsembleStrategy, Forecast, PerformanceConfig, PerformanceCriterion,
    Regret,
};
use toml::Value;

use super::error::ConfigError;
use super::fields::{err, parse_span, positive, positive_or, section};
use super::low::triggers::{
    AggregationLow, AmountLow, Correction, CostLow, CriterionLow, DriftLow, EnsembleLow,
    EvaluationLow, Features, ForecastLow, MetricId, MetricLow, Mode, PerformanceCriterionLow,
    PerformanceLow, RegretLow, StrategyLow, TimeLow, WindowsLow,
};
use super::low::{AllWord, CountOrAll};
use super::spec::{BatchedSpec, TriggerSpec};

/// Trigger ids.
pub const TRIGGER_IDS: &[&str] = &["amount", "time", "drift", "performance", "cost", "ensemble"];

/// Vectors a metric compares at most per window (MMD is quadratic in it).
pub const MAX_SAMPLE_SIZE: usize = 20_000;

/// Largest amount window.
pub const MAX_WINDOW: usize = 10_000_000;

/// Parses the trigger table at `prefix` (`trigger`, `trigger.warmup_policy`, ...).
pub fn trigger(value: Value, prefix: &str, errors: &mut Vec<ConfigError>) -> Option<TriggerSpec> {
    let mut value = value;
    let Some(table) = value.as_table_mut() else {
        err(errors, prefix, "expected a table");
        return None;
    };
    let id_key = format!("{prefix}.id");
    let id = match table.remove("id") {
        Some(Value::String(s)) => s,
        Some(other) => {
            err(
                errors,
                id_key,
                format!("expected a string, found {}", other.type_str()),
            );
            return None;
        }
        None => {
            err(
                errors,
                id_key,
                format!("missing, expected one of {}", TRIGGER_IDS.join(", ")),
            );
            return None;
        }
    };
    let key = |k: &str| format!("{prefix}.{k}");
    match id.as_str() {
        "amount" => {
            let t: AmountLow = section(value, prefix, errors)?;
            match positive(t.every) {
                Some(every) => Some(TriggerSpec::Amount { every }),
                None => {
                    err(errors, key("every"), "expected an integer > 0");
                    None
                }
            }
        }
        "time" => {
            let t: TimeLow = section(value, prefix, errors)?;
            let every_ms = parse_span(&t.every)
                .map_err(|e| err(errors, key("every"), e))
                .ok();
            let start_ms = match t.start {
                Some(s) if s < 0 => {
                    err(errors, key("start"), "expected Unix seconds >= 0");
                    None
                }
                s => Some(s.map(|s| s as u64 * 1000)),
            };
            Some(TriggerSpec::Time {
                every_ms: every_ms?,
                every: t.every,
                start_ms: start_ms?,
            })
        }
        "drift" => drift(value, prefix, errors),
        "performance" => performance(value, prefix, errors),
        "cost" => cost(value, prefix, errors),
        "ensemble" => ensemble(value, prefix, errors),
        other => {
            err(
                errors,
                id_key,
                format!(
                    "unknown trigger `{other}`, expected one of {}",
                    TRIGGER_IDS.join(", ")
                ),
            );
            None
        }
    }
}

/// `evaluation_interval_data_points`, `warmup_intervals`, `warmup_policy`.
fn batched(
    every: i64,
    intervals: Option<i64>,
    policy: Option<Value>,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<BatchedSpec> {
    let key = |k: &str| format!("{prefix}.{k}");
    let every = positive(every).map(|e| e as usize);
    if every.is_none() {
        err(
            errors,
            key("evaluation_interval_data_points"),
            "expected an integer > 0",
        );
    }
    let warmup = match (intervals, policy) {
        (None | Some(0), None) => Some(None),
        (Some(n), Some(p)) if n > 0 => {
            let wp = key("warmup_policy");
            match trigger(p, &wp, errors)? {
                t @ (TriggerSpec::Amount { .. } | TriggerSpec::Time { .. }) => {
                    Some(Some((n as usize, Box::new(t))))
                }
                _ => {
                    err(errors, format!("{wp}.id"), "expected `amount` or `time`");
                    None
                }
            }
        }
        (Some(n), _) if n < 0 => {
            err(errors, key("warmup_intervals"), "expected an integer >= 0");
            None
        }
        (_, None) => {
            err(
                errors,
                key("warmup_policy"),
                "missing: warm-up intervals are decided by a `time` or `amount` policy",
            );
            None
        }
        (_, Some(_)) => {
            err(
                errors,
                key("warmup_intervals"),
                "missing: how many intervals the warm-up policy decides (> 0)",
            );
            None
        }
    };
    Some(BatchedSpec {
        every: every?,
        warmup: warmup?,
    })
}

fn drift(value: Value, prefix: &str, errors: &mut Vec<ConfigError>) -> Option<TriggerSpec> {
    let t: DriftLow = section(value, prefix, errors)?;
    let key = |k: &str| format!("{prefix}.{k}");
    let before = errors.len();
    let batched = batched(
        t.evaluation_interval_data_points,
        t.warmup_intervals,
        t.warmup_policy,
        prefix,
        errors,
    );
    let sample_size = sample_size(t.sample_size, prefix, errors);
    let windows = windows(t.windows, sample_size, prefix, errors);
    if t.metrics.is_empty() {
        err(errors, key("metrics"), "at least one metric is needed");
    }
    let has_warmup = matches!(&batched, Some(b) if b.warmup.is_some());
    let metrics: Vec<MetricSpec> = t
        .metrics
        .into_iter()
        .filter_map(|(name, m)| metric(name, m, has_warmup, prefix, errors))
        .collect();
    let aggregation = match t.aggregation.unwrap_or(AggregationLow::MajorityVote) {
        AggregationLow::MajorityVote => Aggregation::MajorityVote,
        AggregationLow::AtLeast { n } if n >= 1 && n as usize <= metrics.len().max(1) => {
            Aggregation::AtLeast(n as usize)
        }
        AggregationLow::AtLeast { .. } => {
            err(
                errors,
                key("aggregation.n"),
                format!(
                    "expected 1 <= n <= {} (the number of metrics)",
                    metrics.len()
                ),
            );
            Aggregation::MajorityVote
        }
    };
    let seed = match t.seed.unwrap_or(0) {
        s if s >= 0 => s as u64,
        _ => {
            err(errors, key("seed"), "expected an integer >= 0");
            0
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(TriggerSpec::Drift {
        batched: batched?,
        drift: DriftConfig {
            windows: windows?,
            sample_size,
            embeddings: t.features == Some(Features::Embeddings),
            metrics,
            aggregation,
            seed,
        },
    })
}

/// A drift trigger's `sample_size`: vectors a metric compares per window (`None`: all).
fn sample_size(
    value: Option<CountOrAll>,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<usize> {
    match value {
        None => Some(5000),
        Some(CountOrAll::All(AllWord::All)) => None,
        Some(CountOrAll::Count(n)) if n > 1 && n as usize <= MAX_SAMPLE_SIZE => Some(n as usize),
        Some(CountOrAll::Count(_)) => {
            err(
                errors,
                format!("{prefix}.sample_size"),
                format!("expected an integer in 2..={MAX_SAMPLE_SIZE}, or \"all\""),
            );
            None
        }
    }
}

/// A drift trigger's `windows`: the reference and current windows (default: 1000 samples
/// each).
fn windows(
    windows: Option<WindowsLow>,
    sample_size: Option<usize>,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<WindowSpec> {
    let key = |k: &str| format!("{prefix}.{k}");
    let overlap = |o: Option<bool>| o.unwrap_or(false);
    match windows.unwrap_or(WindowsLow::Amount {
        amount_ref: None,
        amount_cur: None,
        allow_overlap: None,
    }) {
        WindowsLow::Amount {
            amount_ref,
            amount_cur,
            allow_overlap,
        } => {
            let mut size = |v: Option<i64>, k: &str| match v.unwrap_or(1000) {
                n if n > 0 && n as usize <= MAX_WINDOW => {
                    if sample_size.is_none() && n as usize > MAX_SAMPLE_SIZE {
                        err(
                            errors,
                            key(&format!("windows.{k}")),
                            format!(
                                "{n} samples exceed the {MAX_SAMPLE_SIZE} a metric compares: \
                                 set {prefix}.sample_size"
                            ),
                        );
                    }
                    Some(n as usize)
                }
                _ => {
                    err(
                        errors,
                        key(&format!("windows.{k}")),
                        format!("expected an integer in 1..={MAX_WINDOW}"),
                    );
                    None
                }
            };
            let (r, c) = (
                size(amount_ref, "amount_ref"),
                size(amount_cur, "amount_cur"),
            );
            Some(WindowSpec::Amount {
                reference: r.unwrap_or(1),
                current: c.unwrap_or(1),
                allow_overlap: overlap(allow_overlap),
            })
        }
        WindowsLow::Time {
            limit_ref,
            limit_cur,
            allow_overlap,
        } => {
            if sample_size.is_none() {
                err(
                    errors,
                    key("sample_size"),
                    "time windows hold any number of samples: sample_size must bound them",
                );
            }
            let mut span = |v: &str, k: &str| {
                parse_span(v)
                    .map_err(|e| err(errors, key(&format!("windows.{k}")), e))
                    .unwrap_or(1)
            };
            Some(WindowSpec::Time {
                reference: span(&limit_ref, "limit_ref"),
                current: span(&limit_cur, "limit_cur"),
                allow_overlap: overlap(allow_overlap),
            })
        }
    }
}

/// `[trigger.metrics.<name>]` of a drift trigger (`None` when it has an error).
fn metric(
    name: String,
    m: MetricLow,
    has_warmup: bool,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<MetricSpec> {
    let mkey = |k: &str| format!("{prefix}.metrics.{name}.{k}");
    let kind = match m.id {
        MetricId::Mmd => match m.num_permutations.unwrap_or(0) {
            n if n >= 0 => MetricKind::Mmd {
                permutations: n as usize,
            },
            _ => {
                err(errors, mkey("num_permutations"), "expected an integer >= 0");
                return None;
            }
        },
        MetricId::Ks => MetricKind::Ks {
            fdr: matches!(m.correction, Some(Correction::Fdr)),
        },
        MetricId::Cvm => MetricKind::Cvm,
        MetricId::Wasserstein => MetricKind::Wasserstein,
        MetricId::Hellinger => MetricKind::Hellinger,
        MetricId::Euclidean => MetricKind::Euclidean,
    };
    if m.num_permutations.is_some() && !matches!(m.id, MetricId::Mmd) {
        err(
            errors,
            mkey("num_permutations"),
            "only `mmd` has permutations",
        );
    }
    if m.correction.is_some() && !matches!(m.id, MetricId::Ks) {
        err(errors, mkey("correction"), "only `ks` has a correction");
    }
    let criterion = drift_criterion(m.criterion, &kind, &mkey, errors)?;
    if criterion.is_dynamic() && !has_warmup {
        err(
            errors,
            mkey("criterion.id"),
            format!(
                "a dynamic criterion calibrates during warm-up: set {prefix}.warmup_intervals \
                 and {prefix}.warmup_policy"
            ),
        );
    }
    Some(MetricSpec {
        name,
        kind,
        criterion,
    })
}

/// A drift metric's `criterion`; `mkey` names the metric's keys.
fn drift_criterion(
    criterion: CriterionLow,
    kind: &MetricKind,
    mkey: &dyn Fn(&str) -> String,
    errors: &mut Vec<ConfigError>,
) -> Option<Criterion> {
    let window = |w: Option<i64>, errors: &mut Vec<ConfigError>| {
        positive_or(w, 10, &mkey("criterion.window_size"), errors).map(|n| n as usize)
    };
    match criterion {
        CriterionLow::Threshold { threshold } => Some(Criterion::Threshold(threshold)),
        CriterionLow::DynamicQuantile {
            window_size,
            quantile,
        } => {
            let q = quantile.unwrap_or(0.05);
            if !(0.0..=1.0).contains(&q) {
                err(
                    errors,
                    mkey("criterion.quantile"),
                    "expected 0 <= quantile <= 1",
                );
            }
            window(window_size, errors).map(|window| Criterion::DynamicQuantile {
                window,
                quantile: q,
            })
        }
        CriterionLow::DynamicRollingAverage {
            window_size,
            deviation,
            absolute,
        } => window(window_size, errors).map(|window| Criterion::DynamicRollingAverage {
            window,
            deviation: deviation.unwrap_or(0.05),
            absolute: absolute.unwrap_or(false),
        }),
        CriterionLow::PValue { p_val } => {
            let p = p_val.unwrap_or(0.05);
            if !(p > 0.0 && p < 1.0) {
                err(errors, mkey("criterion.p_val"), "expected 0 < p_val < 1");
            }
            if !kind.has_test() {
                err(
                    errors,
                    mkey("criterion.id"),
                    "`p_value` needs a test: `ks`, or `mmd` with num_permutations > 0",
                );
            }
            Some(Criterion::PValue(p))
        }
    }
}

impl From<ForecastLow> for Forecast {
    fn from(f: ForecastLow) -> Self {
        match f {
            ForecastLow::RidgeRegression => Forecast::Ridge,
            ForecastLow::RollingAverage => Forecast::RollingAverage,
        }
    }
}

/// `[trigger.evaluation]` of performance-based policies: the interval's own labelled samples,
/// scored with `metrics` (accuracy is what the criteria read).
fn trigger_evaluation(
    evaluation: Option<EvaluationLow>,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) {
    let key = format!("{prefix}.evaluation");
    match evaluation {
        None => err(
            errors,
            key,
            "missing: a performance-based trigger scores the latest model on each interval's \
             labelled samples; declare `metrics = [\"accuracy\"]`",
        ),
        Some(e) => {
            for m in &e.metrics {
                if m != "accuracy" {
                    err(
                        errors,
                        format!("{key}.metrics"),
                        format!("unknown metric `{m}`, expected accuracy"),
                    );
                }
            }
            if !e.metrics.iter().any(|m| m == "accuracy") {
                err(
                    errors,
                    format!("{key}.metrics"),
                    "must include \"accuracy\"",
                );
            }
            if e.batch_size.is_some_and(|b| b <= 0) {
                err(
                    errors,
                    format!("{key}.batch_size"),
                    "expected an integer > 0",
                );
            }
        }
    }
}

/// An optional window size > 0 (the default when absent or wrong; a wrong one is reported).
fn window_size(
    v: Option<i64>,
    key: String,
    default: usize,
    errors: &mut Vec<ConfigError>,
) -> usize {
    positive_or(v, default as u64, &key, errors).map_or(default, |n| n as usize)
}

fn performance(value: Value, prefix: &str, errors: &mut Vec<ConfigError>) -> Option<TriggerSpec> {
    let t: PerformanceLow = section(value, prefix, errors)?;
    let key = |k: &str| format!("{prefix}.{k}");
    let before = errors.len();
    let batched = batched(
        t.evaluation_interval_data_points,
        t.warmup_intervals,
        t.warmup_policy,
        prefix,
        errors,
    );
    trigger_evaluation(t.evaluation, prefix, errors);
    if t.mode == Some(Mode::Lookahead) {
        err(
            errors,
            key("mode"),
            "only `hindsight` is supported (as in Modyn: a forecast needs a hold-out set)",
        );
    }
    if t.criteria.is_empty() {
        err(errors, key("criteria"), "at least one criterion is needed");
    }
    let has_warmup = matches!(&batched, Some(b) if b.warmup.is_some());
    let mut criteria = Vec::new();
    for (name, c) in t.criteria {
        let criterion = performance_criterion(&name, c, has_warmup, prefix, errors);
        criteria.push((name, criterion));
    }
    let performance = PerformanceConfig {
        criteria,
        forecast: t.forecasting_method.map_or(Forecast::Ridge, Forecast::from),
        data_density_window: window_size(
            t.data_density_window_size,
            key("data_density_window_size"),
            20,
            errors,
        ),
        performance_window: window_size(
            t.performance_triggers_window_size,
            key("performance_triggers_window_size"),
            10,
            errors,
        ),
    };
    if errors.len() > before {
        return None;
    }
    Some(TriggerSpec::Performance {
        batched: batched?,
        performance,
    })
}

/// `[trigger.criteria.<name>]` of a performance trigger.
fn performance_criterion(
    name: &str,
    c: PerformanceCriterionLow,
    has_warmup: bool,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> PerformanceCriterion {
    let ckey = |k: &str| format!("{prefix}.criteria.{name}.{k}");
    let check_metric = |m: &Option<String>, errors: &mut Vec<ConfigError>| {
        if let Some(m) = m
            && m != "accuracy"
        {
            err(
                errors,
                ckey("metric"),
                format!("unknown metric `{m}`, expected accuracy"),
            );
        }
    };
    let criterion = match c {
        PerformanceCriterionLow::StaticThreshold {
            metric,
            metric_threshold,
        } => {
            check_metric(&metric, errors);
            PerformanceCriterion::Accuracy(Criterion::Threshold(metric_threshold))
        }
        PerformanceCriterionLow::DynamicQuantile {
            metric,
            window_size: w,
            quantile,
        } => {
            check_metric(&metric, errors);
            let q = quantile.unwrap_or(0.05);
            if !(0.0..=1.0).contains(&q) {
                err(errors, ckey("quantile"), "expected 0 <= quantile <= 1");
            }
            PerformanceCriterion::Accuracy(Criterion::DynamicQuantile {
                window: window_size(w, ckey("window_size"), 10, errors),
                quantile: q,
            })
        }
        PerformanceCriterionLow::DynamicRollingAverage {
            metric,
            window_size: w,
            deviation,
            absolute,
        } => {
            check_metric(&metric, errors);
            PerformanceCriterion::Accuracy(Criterion::DynamicRollingAverage {
                window: window_size(w, ckey("window_size"), 10, errors),
                deviation: deviation.unwrap_or(0.05),
                absolute: absolute.unwrap_or(false),
            })
        }
        PerformanceCriterionLow::AvoidableMisclassifications {
            avoidable_misclassification_threshold,
            expected_accuracy,
            allow_reduction,
        } => {
            if avoidable_misclassification_threshold <= 0 {
                err(
                    errors,
                    ckey("avoidable_misclassification_threshold"),
                    "expected an integer > 0",
                );
            }
            if expected_accuracy.is_some_and(|a| !(0.0..=1.0).contains(&a)) {
                err(
                    errors,
                    ckey("expected_accuracy"),
                    "expected 0 <= accuracy <= 1",
                );
            }
            PerformanceCriterion::AvoidableMisclassifications {
                threshold: avoidable_misclassification_threshold.max(1) as u64,
                expected_accuracy,
                allow_reduction: allow_reduction.unwrap_or(false),
            }
        }
    };
    if matches!(&criterion, PerformanceCriterion::Accuracy(c) if c.is_dynamic()) && !has_warmup {
        err(
            errors,
            ckey("id"),
            format!(
                "a dynamic criterion calibrates during warm-up: set {prefix}.warmup_intervals \
                 and {prefix}.warmup_policy"
            ),
        );
    }
    criterion
}

fn cost(value: Value, prefix: &str, errors: &mut Vec<ConfigError>) -> Option<TriggerSpec> {
    let t: CostLow = section(value, prefix, errors)?;
    let key = |k: &str| format!("{prefix}.{k}");
    let before = errors.len();
    let has_warmup = t.warmup_policy.is_some();
    let batched = batched(
        t.evaluation_interval_data_points,
        t.warmup_intervals,
        t.warmup_policy,
        prefix,
        errors,
    );
    let (factor_key, factor, other_key, other) = match t.regret {
        RegretLow::IncorporationLatency => (
            "incorporation_delay_per_training_second",
            t.incorporation_delay_per_training_second,
            "avoidable_misclassification_latency_per_training_second",
            t.avoidable_misclassification_latency_per_training_second,
        ),
        RegretLow::AvoidableMisclassificationLatency => (
            "avoidable_misclassification_latency_per_training_second",
            t.avoidable_misclassification_latency_per_training_second,
            "incorporation_delay_per_training_second",
            t.incorporation_delay_per_training_second,
        ),
    };
    if other.is_some() {
        err(
            errors,
            key(other_key),
            format!("not used with this regret; set {prefix}.{factor_key}"),
        );
    }
    let factor = match factor {
        Some(f) if f > 0.0 => f,
        Some(_) => {
            err(errors, key(factor_key), "expected a number > 0");
            1.0
        }
        None => {
            err(
                errors,
                key(factor_key),
                "missing: regret units per training second",
            );
            1.0
        }
    };
    let regret = match t.regret {
        RegretLow::IncorporationLatency => {
            for (k, set) in [
                ("evaluation", t.evaluation.is_some()),
                ("expected_accuracy", t.expected_accuracy.is_some()),
                ("allow_reduction", t.allow_reduction.is_some()),
                ("forecasting_method", t.forecasting_method.is_some()),
            ] {
                if set {
                    err(
                        errors,
                        key(k),
                        "only used with regret = \"avoidable_misclassification_latency\"",
                    );
                }
            }
            Regret::IncorporationLatency
        }
        RegretLow::AvoidableMisclassificationLatency => {
            trigger_evaluation(t.evaluation, prefix, errors);
            if !has_warmup {
                err(
                    errors,
                    key("warmup_policy"),
                    "missing: the avoidable-misclassification cost trigger needs a warm-up policy \
                     (as in Modyn)",
                );
            }
            if t.expected_accuracy
                .is_some_and(|a| !(0.0..=1.0).contains(&a))
            {
                err(
                    errors,
                    key("expected_accuracy"),
                    "expected 0 <= accuracy <= 1",
                );
            }
            Regret::AvoidableMisclassificationLatency {
                expected_accuracy: t.expected_accuracy,
                allow_reduction: t.allow_reduction.unwrap_or(false),
                forecast: t.forecasting_method.map_or(Forecast::Ridge, Forecast::from),
            }
        }
    };
    let window = window_size(
        t.cost_tracking_window_size,
        key("cost_tracking_window_size"),
        1000,
        errors,
    );
    if errors.len() > before {
        return None;
    }
    Some(TriggerSpec::Cost {
        batched: batched?,
        cost: CostConfig {
            regret,
            conversion_factor: factor,
            window,
        },
    })
}

fn ensemble(value: Value, prefix: &str, errors: &mut Vec<ConfigError>) -> Option<TriggerSpec> {
    let t: EnsembleLow = section(value, prefix, errors)?;
    let key = |k: &str| format!("{prefix}.{k}");
    let before = errors.len();
    if t.subtriggers.is_empty() {
        err(
            errors,
            key("subtriggers"),
            "at least one sub-trigger is needed",
        );
    }
    let total = t.subtriggers.len();
    let strategy = match (t.strategy, t.n) {
        (StrategyLow::AtLeast, Some(n)) if n >= 1 && n as usize <= total.max(1) => {
            EnsembleStrategy::AtLeast(n as usize)
        }
        (StrategyLow::AtLeast, Some(_)) => {
            err(
                errors,
                key("n"),
                format!("expected 1 <= n <= {total} (the number of sub-triggers)"),
            );
            EnsembleStrategy::Any
        }
        (StrategyLow::AtLeast, None) => {
            err(
                errors,
                key("n"),
                "missing: how many sub-triggers must agree",
            );
            EnsembleStrategy::Any
        }
        (_, Some(_)) => {
            err(errors, key("n"), "only used with strategy = \"at_least\"");
            EnsembleStrategy::Any
        }
        (StrategyLow::MajorityVote, None) => EnsembleStrategy::MajorityVote,
        (StrategyLow::All, None) => EnsembleStrategy::All,
        (StrategyLow::Any, None) => EnsembleStrategy::Any,
    };
    let mut subtriggers = Vec::new();
    for (name, v) in t.subtriggers {
        if let Some(sub) = trigger(v, &key(&format!("subtriggers.{name}")), errors) {
            subtriggers.push((name, sub));
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(TriggerSpec::Ensemble {
        subtriggers,
        strategy,
    })
}
