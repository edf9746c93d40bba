//! `[selection]`: the candidate pool (`new_data`, `coreset`, `reservoir`) and the global
//! sampling of each training set (limit, presampling), each error with its key path.

use sluice_dataflows::downsampling::{
    Downsampling, DownsamplingPlan, Gradients, Greedy, Method, Submodular, Uncertainty,
};
use sluice_dataflows::selection::{LimitReset, Presample, Presampling, SetSampler};
use toml::Value;

use super::error::ConfigError;
use super::fields::{err, section};
use super::low::selection::{
    AlwaysWord, DownLow, DownsamplingLow, FunctionLow, GradientsLow, GreedyLow, HoldoutLow,
    MetricLow, PresampleLow, PresamplingLow, RescoreLow, ResetLow, ScheduleLow, SelectionLow,
    Strategy,
};
use super::low::{AllWord, CountOrAll};
use super::spec::{IlSpec, Pool, SelectionSpec};
use super::training::IlBase;

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
    let tail = tail_triggers(&s.tail_triggers, errors);
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
    let pool = pool(&s, strategy, tail, &mut sampler, errors);
    if strategy != Strategy::Freshness {
        only(
            s.unused_data_ratio.is_some(),
            "selection",
            "unused_data_ratio",
            "freshness",
            errors,
        );
    }
    limit(&s, strategy, tail, &mut sampler, errors);
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
        for (set, k) in [
            (s.presampling.is_some(), "presampling"),
            (s.downsampling.is_some(), "downsampling"),
            (s.warmup_triggers.is_some(), "warmup_triggers"),
        ] {
            only(set, "selection", k, "coreset", errors);
        }
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

/// An error at `{at}.{key}` when `set`: the key is only used with strategy `who`.
fn only(set: bool, at: &str, key: &str, who: &str, errors: &mut Vec<ConfigError>) {
    if set {
        err(
            errors,
            format!("{at}.{key}"),
            format!("only used with strategy = {who}"),
        );
    }
}

/// `tail_triggers`: how many triggers' data the pool holds (`None`: all).
fn tail_triggers(value: &Option<CountOrAll>, errors: &mut Vec<ConfigError>) -> Option<u64> {
    match value {
        None => Some(0),
        Some(CountOrAll::All(AllWord::All)) => None,
        Some(CountOrAll::Count(n)) if *n >= 0 => Some(*n as u64),
        Some(CountOrAll::Count(_)) => {
            err(
                errors,
                "selection.tail_triggers",
                "expected an integer >= 0 or \"all\"",
            );
            Some(0)
        }
    }
}

/// The candidate pool of `strategy`, with its keys (`budget`, `unused_data_ratio`).
fn pool(
    s: &SelectionLow,
    strategy: Strategy,
    tail: Option<u64>,
    sampler: &mut SetSampler,
    errors: &mut Vec<ConfigError>,
) -> Pool {
    match strategy {
        Strategy::Freshness => {
            only(
                s.tail_triggers.is_some(),
                "selection",
                "tail_triggers",
                "new_data or coreset (freshness draws from all data)",
                errors,
            );
            only(
                s.budget.is_some(),
                "selection",
                "budget",
                "reservoir",
                errors,
            );
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
                "selection",
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
            only(
                s.budget.is_some(),
                "selection",
                "budget",
                "reservoir",
                errors,
            );
            Pool::Tail(tail)
        }
    }
}

/// `limit` and `limit_reset`: new_data, a limit and its reset; freshness, a plain limit.
fn limit(
    s: &SelectionLow,
    strategy: Strategy,
    tail: Option<u64>,
    sampler: &mut SetSampler,
    errors: &mut Vec<ConfigError>,
) {
    match (strategy, s.limit) {
        (Strategy::Freshness, Some(l)) if l > 0 => {
            only(
                s.limit_reset.is_some(),
                "selection",
                "limit_reset",
                "new_data",
                errors,
            );
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
            only(
                l.is_some(),
                "selection",
                "limit",
                "new_data or freshness",
                errors,
            );
            only(
                s.limit_reset.is_some(),
                "selection",
                "limit_reset",
                "new_data",
                errors,
            );
        }
    }
    if strategy == Strategy::NewData && s.limit.is_none() {
        only(
            s.limit_reset.is_some(),
            "selection",
            "limit_reset",
            "new_data with a limit",
            errors,
        );
    }
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
    let (ratio, ratio_max) = ratios(&d, at, errors);
    let sample_then_batch = d.sample_then_batch.unwrap_or(false);
    let period = period(d.period, sample_then_batch, at, errors);
    let rescore_after = rescore_after(&d, sample_then_batch, at, errors);
    strategy_keys(&d, at, errors);
    let (method, irreducible) = method(d, sample_then_batch, period, at, il, errors);
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

/// `ratio` and `ratio_max`: how many of every `ratio_max` samples to keep.
fn ratios(d: &DownsamplingLow, at: &str, errors: &mut Vec<ConfigError>) -> (i64, i64) {
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
    (ratio, ratio_max)
}

/// `period`: epochs between sample-then-batch selections.
fn period(
    period: Option<i64>,
    sample_then_batch: bool,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> u64 {
    let key = format!("{at}.period");
    match period {
        Some(_) if !sample_then_batch => {
            err(
                errors,
                key,
                "only used with sample_then_batch = true (batch-then-sample chooses every batch)",
            );
            1
        }
        Some(p) if p >= 0 => p as u64,
        Some(_) => {
            err(errors, key, "expected an integer >= 0");
            1
        }
        None => 1,
    }
}

/// `rescore_after`: trainer epochs between score recomputations (`None`: always).
fn rescore_after(
    d: &DownsamplingLow,
    sample_then_batch: bool,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<u64> {
    let key = format!("{at}.rescore_after");
    match d.rescore_after {
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
                key,
                "only used with sample_then_batch = true and a per-sample score (loss, grad_norm, uncertainty, rho_loss)",
            );
            None
        }
        Some(RescoreLow::Epochs(r)) if r > 0 => Some(r as u64),
        Some(RescoreLow::Epochs(_)) => {
            err(errors, key, "expected an integer > 0 or \"always\"");
            None
        }
    }
}

/// Keys set for a strategy that does not use them.
fn strategy_keys(d: &DownsamplingLow, at: &str, errors: &mut Vec<ConfigError>) {
    if d.strategy != DownLow::Uncertainty {
        only(
            d.score_metric.is_some(),
            at,
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
            at,
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
            only(set, at, k, "submodular", errors);
        }
    }
    if d.strategy != DownLow::Craig {
        only(d.greedy.is_some(), at, "greedy", "craig", errors);
    }
    if !matches!(
        d.strategy,
        DownLow::Submodular | DownLow::Craig | DownLow::GradMatch
    ) {
        only(
            d.full_grad_approximation.is_some(),
            at,
            "full_grad_approximation",
            "submodular, craig or grad_match",
            errors,
        );
    }
    if d.strategy != DownLow::RhoLoss {
        for (set, k) in [
            (d.holdout_set_ratio.is_some(), "holdout_set_ratio"),
            (d.holdout_set_ratio_max.is_some(), "holdout_set_ratio_max"),
            (d.holdout_set_strategy.is_some(), "holdout_set_strategy"),
            (d.il_training.is_some(), "il_training"),
            (d.il_model.is_some(), "il_model"),
        ] {
            only(set, at, k, "rho_loss", errors);
        }
    }
    if d.strategy != DownLow::Rs2 {
        only(
            d.with_replacement.is_some(),
            at,
            "with_replacement",
            "rs2",
            errors,
        );
    }
}

/// The downsampler's method, one family per strategy; the irreducible-loss model for
/// RHO-Loss.
fn method(
    d: DownsamplingLow,
    sample_then_batch: bool,
    period: u64,
    at: &str,
    il: &IlBase,
    errors: &mut Vec<ConfigError>,
) -> (Method, Option<Box<IlSpec>>) {
    let gradients = match d.full_grad_approximation.unwrap_or(GradientsLow::LastLayer) {
        GradientsLow::LastLayer => Gradients::LastLayer,
        GradientsLow::LastLayerWithEmbedding => Gradients::LastLayerWithEmbedding,
    };
    let balance = d.balance.unwrap_or(false);
    let method = match d.strategy {
        DownLow::RhoLoss => return rho_loss(d, at, il, errors),
        DownLow::Loss => Method::Loss,
        DownLow::GradNorm => Method::GradNorm,
        DownLow::Uncertainty => Method::Uncertainty {
            metric: uncertainty(d.score_metric, at, errors),
            balance,
        },
        DownLow::KcenterGreedy => Method::KCenterGreedy { balance },
        DownLow::Submodular => Method::Submodular {
            function: submodular(d.submodular_function, at, errors),
            greedy: greedy(d.submodular_optimizer),
            gradients,
            balance,
        },
        DownLow::GradMatch => Method::GradMatch { gradients, balance },
        DownLow::Craig => Method::Craig {
            greedy: greedy(d.greedy),
            gradients,
            balance,
        },
        DownLow::Rs2 => rs2(d.with_replacement, sample_then_batch, period, at, errors),
    };
    (method, None)
}

/// `rho_loss`: the holdout split and the irreducible-loss model trained on it.
fn rho_loss(
    d: DownsamplingLow,
    at: &str,
    il: &IlBase,
    errors: &mut Vec<ConfigError>,
) -> (Method, Option<Box<IlSpec>>) {
    let key = |k: &str| format!("{at}.{k}");
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
                format!("expected 0 < holdout_set_ratio < holdout_set_ratio_max ({holdout_max})"),
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
    let irreducible = il.spec(d.il_training, d.il_model, at, errors).map(Box::new);
    let method = Method::RhoLoss {
        holdout_ratio: holdout as u64,
        holdout_ratio_max: holdout_max as u64,
        twin,
    };
    (method, irreducible)
}

/// `uncertainty`: its `score_metric`.
fn uncertainty(metric: Option<MetricLow>, at: &str, errors: &mut Vec<ConfigError>) -> Uncertainty {
    match metric {
        Some(MetricLow::LeastConfidence) => Uncertainty::LeastConfidence,
        Some(MetricLow::Entropy) => Uncertainty::Entropy,
        Some(MetricLow::Margin) => Uncertainty::Margin,
        None => {
            err(
                errors,
                format!("{at}.score_metric"),
                "missing: \"least_confidence\", \"entropy\" or \"margin\"",
            );
            Uncertainty::Margin
        }
    }
}

/// `submodular`: its `submodular_function`.
fn submodular(
    function: Option<FunctionLow>,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Submodular {
    match function {
        Some(FunctionLow::FacilityLocation) => Submodular::FacilityLocation,
        Some(FunctionLow::GraphCut) => Submodular::GraphCut,
        Some(FunctionLow::LogDeterminant) => Submodular::LogDeterminant,
        None => {
            err(
                errors,
                format!("{at}.submodular_function"),
                "missing: \"facility_location\", \"graph_cut\" or \"log_determinant\"",
            );
            Submodular::FacilityLocation
        }
    }
}

/// A greedy maximiser (`submodular_optimizer`, CRAIG's `greedy`; default: naive).
fn greedy(g: Option<GreedyLow>) -> Greedy {
    match g.unwrap_or(GreedyLow::Naive) {
        GreedyLow::Naive => Greedy::Naive,
        GreedyLow::Lazy => Greedy::Lazy,
        GreedyLow::Stochastic => Greedy::Stochastic,
        GreedyLow::ApproximateLazy => Greedy::ApproximateLazy,
    }
}

/// `rs2`: a subset of the whole training set drawn every epoch.
fn rs2(
    with_replacement: Option<bool>,
    sample_then_batch: bool,
    period: u64,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Method {
    if !sample_then_batch {
        err(
            errors,
            format!("{at}.sample_then_batch"),
            "rs2 draws a subset of the whole training set per epoch: it needs sample_then_batch = true",
        );
    }
    if period != 1 {
        err(
            errors,
            format!("{at}.period"),
            "rs2 draws every epoch: period must be 1",
        );
    }
    Method::Rs2 {
        with_replacement: with_replacement.unwrap_or(false),
    }
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
