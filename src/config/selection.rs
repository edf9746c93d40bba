//! `[selection]`: the candidate pool (`new_data`, `coreset`, `reservoir`) and the global
//! sampling of each training set (limit, presampling), each error with its key path.

use serde::Deserialize;
use sluice_dataflows::downsampling::{
    Downsampling, DownsamplingPlan, Gradients, Greedy, Method, Submodular, Uncertainty,
};
use sluice_dataflows::selection::{LimitReset, Presample, Presampling, SetSampler};
use toml::Value;

use super::error::ConfigError;
use super::fields::{err, section};
use super::low::{AllWord, CountOrAll};
use super::spec::{IlSpec, Pool, SelectionSpec};
use super::training::IlBase;

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Strategy {
    NewData,
    Coreset,
    Reservoir,
    Freshness,
}

#[derive(Deserialize, Clone, Copy)]
enum ResetLow {
    #[serde(rename = "lastX")]
    LastX,
    #[serde(rename = "sampleUAR")]
    SampleUar,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum PresampleLow {
    None,
    Random,
    RandomNoReplacement,
    LabelBalanced,
    TriggerBalanced,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresamplingLow {
    strategy: PresampleLow,
    #[serde(default)]
    ratio: Option<i64>,
    #[serde(default)]
    ratio_max: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    force_column_balancing: Option<bool>,
    #[serde(default)]
    force_required_target_size: Option<bool>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum DownLow {
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
enum RescoreLow {
    Epochs(i64),
    Always(AlwaysWord),
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum AlwaysWord {
    Always,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum HoldoutLow {
    Simple,
    Twin,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum FunctionLow {
    FacilityLocation,
    GraphCut,
    LogDeterminant,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum GreedyLow {
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
enum GradientsLow {
    LastLayer,
    LastLayerWithEmbedding,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum MetricLow {
    LeastConfidence,
    Entropy,
    Margin,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DownsamplingLow {
    strategy: DownLow,
    #[serde(default)]
    ratio: Option<i64>,
    #[serde(default)]
    ratio_max: Option<i64>,
    #[serde(default)]
    sample_then_batch: Option<bool>,
    #[serde(default)]
    period: Option<i64>,
    #[serde(default)]
    rescore_after: Option<RescoreLow>,
    #[serde(default)]
    score_metric: Option<MetricLow>,
    #[serde(default)]
    balance: Option<bool>,
    #[serde(default)]
    with_replacement: Option<bool>,
    #[serde(default)]
    submodular_function: Option<FunctionLow>,
    #[serde(default)]
    submodular_optimizer: Option<GreedyLow>,
    /// CRAIG's greedy maximiser (Modyn's key).
    #[serde(default)]
    greedy: Option<GreedyLow>,
    #[serde(default)]
    full_grad_approximation: Option<GradientsLow>,
    #[serde(default)]
    holdout_set_ratio: Option<i64>,
    #[serde(default)]
    holdout_set_ratio_max: Option<i64>,
    #[serde(default)]
    holdout_set_strategy: Option<HoldoutLow>,
    /// `[training]` keys for the irreducible-loss model (parsed by [`IlBase`]).
    #[serde(default)]
    il_training: Option<Value>,
    /// `[model]` of the irreducible-loss model (default: `[model]`).
    #[serde(default)]
    il_model: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectionLow {
    #[serde(default)]
    strategy: Option<Strategy>,
    #[serde(default)]
    tail_triggers: Option<CountOrAll>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    limit_reset: Option<ResetLow>,
    #[serde(default)]
    budget: Option<i64>,
    #[serde(default)]
    presampling: Option<PresamplingLow>,
    /// One downsampler, or `schedule` + `thresholds` (parsed by [`plan`]).
    #[serde(default)]
    downsampling: Option<Value>,
    #[serde(default)]
    warmup_triggers: Option<i64>,
    #[serde(default)]
    unused_data_ratio: Option<i64>,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    maximum_keys_in_memory: Option<i64>,
}

/// Parses `[selection]` (absent: `new_data`, the epoch each trigger closes).
pub fn selection(
    value: Option<Value>,
    il: &IlBase,
    errors: &mut Vec<ConfigError>,
) -> Option<SelectionSpec> {
    let Some(value) = value else {
        return Some(SelectionSpec::default());
    };
    let s: SelectionLow = section(value, "selection", errors)?;
    let before = errors.len();
    let strategy = s.strategy.unwrap_or(Strategy::NewData);
    let only = |set: bool, key: &str, who: &str, errors: &mut Vec<ConfigError>| {
        if set {
            err(
                errors,
                format!("selection.{key}"),
                format!("only used with strategy = {who}"),
            );
        }
    };
    let tail = match s.tail_triggers {
        None => Some(0),
        Some(CountOrAll::All(AllWord::All)) => None,
        Some(CountOrAll::Count(n)) if n >= 0 => Some(n as u64),
        Some(CountOrAll::Count(_)) => {
            err(
                errors,
                "selection.tail_triggers",
                "expected an integer >= 0 or \"all\"",
            );
            Some(0)
        }
    };
    let seed = match s.seed.unwrap_or(0) {
        n if n >= 0 => n as u64,
        _ => {
            err(errors, "selection.seed", "expected an integer >= 0");
            0
        }
    };
    let mut sampler = SetSampler {
        seed,
        ..SetSampler::none()
    };
    let pool = match strategy {
        Strategy::Freshness => {
            only(
                s.tail_triggers.is_some(),
                "tail_triggers",
                "new_data or coreset (freshness draws from all data)",
                errors,
            );
            only(s.budget.is_some(), "budget", "reservoir", errors);
            match s.unused_data_ratio {
                Some(r) if (1..=99).contains(&r) => sampler.freshness = Some(r as u64),
                Some(_) => err(
                    errors,
                    "selection.unused_data_ratio",
                    "expected an integer in 1..=99",
                ),
                None => err(
                    errors,
                    "selection.unused_data_ratio",
                    "missing: the percentage of each training set drawn from never-used samples",
                ),
            }
            Pool::Tail(None)
        }
        Strategy::Reservoir => {
            only(
                s.tail_triggers.is_some(),
                "tail_triggers",
                "new_data or coreset",
                errors,
            );
            match s.budget {
                Some(b) if b > 0 => {
                    sampler.reservoir = Some(b as usize);
                    Pool::Reservoir(b as usize)
                }
                Some(_) => {
                    err(errors, "selection.budget", "expected an integer > 0");
                    Pool::Reservoir(1)
                }
                None => {
                    err(
                        errors,
                        "selection.budget",
                        "missing: how many samples the reservoir keeps",
                    );
                    Pool::Reservoir(1)
                }
            }
        }
        Strategy::NewData | Strategy::Coreset => {
            only(s.budget.is_some(), "budget", "reservoir", errors);
            Pool::Tail(tail)
        }
    };
    if strategy != Strategy::Freshness {
        only(
            s.unused_data_ratio.is_some(),
            "unused_data_ratio",
            "freshness",
            errors,
        );
    }
    // new_data: limit and its reset; freshness: a plain limit.
    match (strategy, s.limit) {
        (Strategy::Freshness, Some(l)) if l > 0 => {
            only(s.limit_reset.is_some(), "limit_reset", "new_data", errors);
            sampler.limit = Some((l as usize, LimitReset::SampleUar));
        }
        (Strategy::Freshness, Some(_)) => err(errors, "selection.limit", "expected an integer > 0"),
        (Strategy::NewData, Some(l)) if l > 0 => {
            let reset = match (s.limit_reset, tail) {
                (Some(ResetLow::LastX), _) => LimitReset::LastX,
                (Some(ResetLow::SampleUar), _) => LimitReset::SampleUar,
                (None, None) => {
                    err(
                        errors,
                        "selection.limit_reset",
                        "missing: with all data (tail_triggers = \"all\") say which samples a limit keeps: \"lastX\" or \"sampleUAR\"",
                    );
                    LimitReset::LastX
                }
                // Modyn samples uniformly when a tail bounds the pool.
                (None, Some(_)) => LimitReset::SampleUar,
            };
            sampler.limit = Some((l as usize, reset));
        }
        (Strategy::NewData, Some(_)) => err(errors, "selection.limit", "expected an integer > 0"),
        (_, l) => {
            only(l.is_some(), "limit", "new_data or freshness", errors);
            only(s.limit_reset.is_some(), "limit_reset", "new_data", errors);
        }
    }
    if strategy == Strategy::NewData && s.limit.is_none() {
        only(
            s.limit_reset.is_some(),
            "limit_reset",
            "new_data with a limit",
            errors,
        );
    }
    // coreset: presampling and warm-up.
    if strategy == Strategy::Coreset {
        let warmup = s.warmup_triggers.unwrap_or(0);
        if warmup < 0 {
            err(
                errors,
                "selection.warmup_triggers",
                "expected an integer >= 0",
            );
        }
        sampler.warmup_triggers = warmup.max(0) as u64;
        if let Some(p) = s.presampling {
            sampler.presampling = presampling(p, tail, errors);
        }
    } else {
        only(s.presampling.is_some(), "presampling", "coreset", errors);
        only(s.downsampling.is_some(), "downsampling", "coreset", errors);
        only(
            s.warmup_triggers.is_some(),
            "warmup_triggers",
            "coreset",
            errors,
        );
    }
    let (downsampling, irreducible) = match s.downsampling {
        Some(d) if strategy == Strategy::Coreset => {
            match plan(d, sampler.warmup_triggers, il, errors) {
                Some((plan, irreducible)) => (Some(plan), irreducible),
                None => (None, Vec::new()),
            }
        }
        _ => (None, Vec::new()),
    };
    let maximum_keys_in_memory = match s.maximum_keys_in_memory {
        Some(m) if m > 0 => Some(m as usize),
        Some(_) => {
            err(
                errors,
                "selection.maximum_keys_in_memory",
                "expected an integer > 0",
            );
            None
        }
        None => None,
    };
    if errors.len() > before {
        return None;
    }
    Some(SelectionSpec {
        pool,
        sampler,
        downsampling,
        irreducible,
        maximum_keys_in_memory,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleLow {
    schedule: Vec<Value>,
    thresholds: Vec<i64>,
}

/// A downsampler, with its irreducible-loss model for RHO-Loss.
type Parsed = (Downsampling, Option<Box<IlSpec>>);

/// `downsampling`: one downsampler, or `{ schedule = [..], thresholds = [..] }` (Modyn's
/// `downsampling_list` / `downsampling_thresholds`); with the irreducible-loss models of
/// RHO-Loss entries, by index.
fn plan(
    value: Value,
    from: u64,
    il: &IlBase,
    errors: &mut Vec<ConfigError>,
) -> Option<(DownsamplingPlan, Vec<Option<Box<IlSpec>>>)> {
    let multi = value.as_table().is_some_and(|t| t.contains_key("schedule"));
    if !multi {
        let d = section(value, "selection.downsampling", errors)?;
        let (d, irreducible) = downsampling(d, "selection.downsampling", il, errors)?;
        return Some((DownsamplingPlan::single(d, from), vec![irreducible]));
    }
    let m: ScheduleLow = section(value, "selection.downsampling", errors)?;
    let before = errors.len();
    if m.schedule.len() != m.thresholds.len() + 1 {
        err(
            errors,
            "selection.downsampling.thresholds",
            format!(
                "{} downsamplers need {} thresholds (one per switch), not {}",
                m.schedule.len(),
                m.schedule.len().saturating_sub(1),
                m.thresholds.len()
            ),
        );
    }
    if m.thresholds.first().is_some_and(|&t| t <= 0)
        || m.thresholds.windows(2).any(|w| w[0] >= w[1])
    {
        err(
            errors,
            "selection.downsampling.thresholds",
            "expected increasing integers > 0 (triggers after warmup_triggers)",
        );
    }
    let list: Vec<Option<Parsed>> = m
        .schedule
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let key = format!("selection.downsampling.schedule[{i}]");
            let d = section(v, &key, errors)?;
            downsampling(d, &key, il, errors)
        })
        .collect();
    if errors.len() > before {
        return None;
    }
    let (list, irreducible) = list
        .into_iter()
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .unzip();
    Some((
        DownsamplingPlan {
            from,
            list,
            thresholds: m.thresholds.into_iter().map(|t| t as u64).collect(),
        },
        irreducible,
    ))
}

fn downsampling(
    d: DownsamplingLow,
    at: &str,
    il: &IlBase,
    errors: &mut Vec<ConfigError>,
) -> Option<Parsed> {
    let key = |k: &str| format!("{at}.{k}");
    let ratio_max = d.ratio_max.unwrap_or(100);
    if ratio_max <= 0 {
        err(errors, key("ratio_max"), "expected an integer > 0");
    }
    let ratio = match d.ratio {
        Some(r) if r > 0 && r < ratio_max.max(1) => r,
        Some(_) => {
            err(
                errors,
                key("ratio"),
                format!("expected 0 < ratio < ratio_max ({ratio_max})"),
            );
            1
        }
        None => {
            err(
                errors,
                key("ratio"),
                format!("missing: how many of every {ratio_max} samples (ratio_max) to keep"),
            );
            1
        }
    };
    let sample_then_batch = d.sample_then_batch.unwrap_or(false);
    let period = match d.period {
        Some(_) if !sample_then_batch => {
            err(
                errors,
                key("period"),
                "only used with sample_then_batch = true (batch-then-sample chooses every batch)",
            );
            1
        }
        Some(p) if p >= 0 => p as u64,
        Some(_) => {
            err(errors, key("period"), "expected an integer >= 0");
            1
        }
        None => 1,
    };
    let rescore_after = match d.rescore_after {
        None | Some(RescoreLow::Always(AlwaysWord::Always)) => None,
        Some(_)
            if !sample_then_batch
                || !matches!(
                    d.strategy,
                    DownLow::Loss | DownLow::GradNorm | DownLow::Uncertainty | DownLow::RhoLoss
                ) =>
        {
            err(
                errors,
                key("rescore_after"),
                "only used with sample_then_batch = true and a per-sample score (loss, grad_norm, uncertainty, rho_loss)",
            );
            None
        }
        Some(RescoreLow::Epochs(r)) if r > 0 => Some(r as u64),
        Some(RescoreLow::Epochs(_)) => {
            err(
                errors,
                key("rescore_after"),
                "expected an integer > 0 or \"always\"",
            );
            None
        }
    };
    let only = |set: bool, k: &str, who: &str, errors: &mut Vec<ConfigError>| {
        if set {
            err(errors, key(k), format!("only used with strategy = {who}"));
        }
    };
    if d.strategy != DownLow::Uncertainty {
        only(
            d.score_metric.is_some(),
            "score_metric",
            "uncertainty",
            errors,
        );
    }
    if !matches!(
        d.strategy,
        DownLow::Uncertainty
            | DownLow::KcenterGreedy
            | DownLow::Submodular
            | DownLow::Craig
            | DownLow::GradMatch
    ) {
        only(
            d.balance.is_some(),
            "balance",
            "uncertainty, kcenter_greedy, submodular, craig or grad_match",
            errors,
        );
    }
    if d.strategy != DownLow::Submodular {
        for (set, k) in [
            (d.submodular_function.is_some(), "submodular_function"),
            (d.submodular_optimizer.is_some(), "submodular_optimizer"),
        ] {
            only(set, k, "submodular", errors);
        }
    }
    if d.strategy != DownLow::Craig {
        only(d.greedy.is_some(), "greedy", "craig", errors);
    }
    if !matches!(
        d.strategy,
        DownLow::Submodular | DownLow::Craig | DownLow::GradMatch
    ) {
        only(
            d.full_grad_approximation.is_some(),
            "full_grad_approximation",
            "submodular, craig or grad_match",
            errors,
        );
    }
    let greedy_of = |g: Option<GreedyLow>| match g.unwrap_or(GreedyLow::Naive) {
        GreedyLow::Naive => Greedy::Naive,
        GreedyLow::Lazy => Greedy::Lazy,
        GreedyLow::Stochastic => Greedy::Stochastic,
        GreedyLow::ApproximateLazy => Greedy::ApproximateLazy,
    };
    let gradients = match d.full_grad_approximation.unwrap_or(GradientsLow::LastLayer) {
        GradientsLow::LastLayer => Gradients::LastLayer,
        GradientsLow::LastLayerWithEmbedding => Gradients::LastLayerWithEmbedding,
    };
    let balance = d.balance.unwrap_or(false);
    if d.strategy != DownLow::RhoLoss {
        for (set, k) in [
            (d.holdout_set_ratio.is_some(), "holdout_set_ratio"),
            (d.holdout_set_ratio_max.is_some(), "holdout_set_ratio_max"),
            (d.holdout_set_strategy.is_some(), "holdout_set_strategy"),
            (d.il_training.is_some(), "il_training"),
            (d.il_model.is_some(), "il_model"),
        ] {
            only(set, k, "rho_loss", errors);
        }
    }
    if d.strategy != DownLow::Rs2 {
        only(
            d.with_replacement.is_some(),
            "with_replacement",
            "rs2",
            errors,
        );
    }
    let mut irreducible = None;
    let method = match d.strategy {
        DownLow::RhoLoss => {
            let holdout_max = d.holdout_set_ratio_max.unwrap_or(100);
            if holdout_max <= 0 {
                err(
                    errors,
                    key("holdout_set_ratio_max"),
                    "expected an integer > 0",
                );
            }
            let holdout_max = holdout_max.max(1);
            let twin = d.holdout_set_strategy == Some(HoldoutLow::Twin);
            let holdout = match d.holdout_set_ratio {
                // Twin trains one model on each half (Modyn requires 50 of 100).
                Some(h) if twin && h * 2 != holdout_max => {
                    err(
                        errors,
                        key("holdout_set_ratio"),
                        format!(
                            "holdout_set_strategy = \"twin\" trains a model on each half: expected {} (half of holdout_set_ratio_max)",
                            holdout_max as f64 / 2.0
                        ),
                    );
                    1
                }
                Some(h) if h > 0 && h < holdout_max => h,
                Some(_) => {
                    err(
                        errors,
                        key("holdout_set_ratio"),
                        format!(
                            "expected 0 < holdout_set_ratio < holdout_set_ratio_max ({holdout_max})"
                        ),
                    );
                    1
                }
                None => {
                    err(
                        errors,
                        key("holdout_set_ratio"),
                        format!(
                            "missing: how many of every {holdout_max} new samples (holdout_set_ratio_max) train the irreducible-loss model"
                        ),
                    );
                    1
                }
            };
            irreducible = il.spec(d.il_training, d.il_model, at, errors).map(Box::new);
            Method::RhoLoss {
                holdout_ratio: holdout as u64,
                holdout_ratio_max: holdout_max as u64,
                twin,
            }
        }
        DownLow::Loss => Method::Loss,
        DownLow::GradNorm => Method::GradNorm,
        DownLow::Uncertainty => {
            let metric = match d.score_metric {
                Some(MetricLow::LeastConfidence) => Uncertainty::LeastConfidence,
                Some(MetricLow::Entropy) => Uncertainty::Entropy,
                Some(MetricLow::Margin) => Uncertainty::Margin,
                None => {
                    err(
                        errors,
                        key("score_metric"),
                        "missing: \"least_confidence\", \"entropy\" or \"margin\"",
                    );
                    Uncertainty::Margin
                }
            };
            Method::Uncertainty { metric, balance }
        }
        DownLow::KcenterGreedy => Method::KCenterGreedy { balance },
        DownLow::Submodular => {
            let function = match d.submodular_function {
                Some(FunctionLow::FacilityLocation) => Submodular::FacilityLocation,
                Some(FunctionLow::GraphCut) => Submodular::GraphCut,
                Some(FunctionLow::LogDeterminant) => Submodular::LogDeterminant,
                None => {
                    err(
                        errors,
                        key("submodular_function"),
                        "missing: \"facility_location\", \"graph_cut\" or \"log_determinant\"",
                    );
                    Submodular::FacilityLocation
                }
            };
            Method::Submodular {
                function,
                greedy: greedy_of(d.submodular_optimizer),
                gradients,
                balance,
            }
        }
        DownLow::GradMatch => Method::GradMatch { gradients, balance },
        DownLow::Craig => Method::Craig {
            greedy: greedy_of(d.greedy),
            gradients,
            balance,
        },
        DownLow::Rs2 => {
            if !sample_then_batch {
                err(
                    errors,
                    key("sample_then_batch"),
                    "rs2 draws a subset of the whole training set per epoch: it needs sample_then_batch = true",
                );
            }
            if period != 1 {
                err(
                    errors,
                    key("period"),
                    "rs2 draws every epoch: period must be 1",
                );
            }
            Method::Rs2 {
                with_replacement: d.with_replacement.unwrap_or(false),
            }
        }
    };
    let d = Downsampling {
        method,
        ratio: ratio as u64,
        ratio_max: ratio_max.max(1) as u64,
        sample_then_batch,
        period,
        rescore_after,
    };
    Some((d, irreducible))
}

fn presampling(
    p: PresamplingLow,
    tail: Option<u64>,
    errors: &mut Vec<ConfigError>,
) -> Option<Presampling> {
    let key = |k: &str| format!("selection.presampling.{k}");
    let ratio_max = p.ratio_max.unwrap_or(100);
    if ratio_max <= 0 {
        err(errors, key("ratio_max"), "expected an integer > 0");
    }
    let ratio = p.ratio.unwrap_or(50);
    if ratio <= 0 || ratio > ratio_max.max(1) {
        err(
            errors,
            key("ratio"),
            format!("expected 0 < ratio <= ratio_max ({ratio_max})"),
        );
    }
    if p.limit.is_some_and(|l| l <= 0) {
        err(errors, key("limit"), "expected an integer > 0");
    }
    let strategy = match p.strategy {
        PresampleLow::None => return None,
        PresampleLow::Random => Presample::Random,
        PresampleLow::RandomNoReplacement => Presample::RandomNoReplacement,
        PresampleLow::LabelBalanced => Presample::LabelBalanced,
        PresampleLow::TriggerBalanced => {
            if tail == Some(0) {
                err(
                    errors,
                    key("strategy"),
                    "`trigger_balanced` needs samples of several triggers: tail_triggers must not be 0",
                );
            }
            Presample::TriggerBalanced
        }
    };
    let balanced = matches!(
        strategy,
        Presample::LabelBalanced | Presample::TriggerBalanced
    );
    for (set, k) in [
        (p.force_column_balancing.is_some(), "force_column_balancing"),
        (
            p.force_required_target_size.is_some(),
            "force_required_target_size",
        ),
    ] {
        if set && !balanced {
            err(
                errors,
                key(k),
                "only used with label_balanced or trigger_balanced",
            );
        }
    }
    Some(Presampling {
        strategy,
        ratio: ratio.max(1) as u64,
        ratio_max: ratio_max.max(1) as u64,
        limit: p.limit.map(|l| l.max(1) as usize),
        force_column_balancing: p.force_column_balancing.unwrap_or(false),
        force_required_target_size: p.force_required_target_size.unwrap_or(false),
    })
}
