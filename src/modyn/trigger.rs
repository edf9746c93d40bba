//! `trigger` → `[trigger]`: every Modyn policy, recursively for ensembles and warm-up policies.

use super::context::{Cx, data_code, span};
use super::emit::{OTable, Out};
use super::yaml::{Item, Table, Value};
use crate::config::MAX_SAMPLE_SIZE;

/// `trigger` → `[trigger]` (recursively for ensembles).
pub(super) fn trigger(cx: &mut Cx, it: &Item) -> Option<OTable> {
    let mut t = cx.table(it)?;
    // The old schema kept the policy's keys in `trigger_config`.
    if let Some(old) = t.take("trigger_config")
        && let Some(mut ot) = cx.table(&old)
    {
        cx.approx(
            &old,
            "old Modyn schema (trigger_config): its keys were read as the trigger's",
        );
        let mut o = OTable::default();
        let id = cx.val(&mut t, "id", Cx::str).unwrap_or_default();
        match id.as_str() {
            "TimeTrigger" => {
                o.set("id", "time");
                match ot.take("trigger_every") {
                    Some(e) => {
                        if let Some(s) = span(cx, &e) {
                            o.set("every", s);
                        }
                    }
                    None => cx.missing(&ot, "trigger_every", "it is the time trigger's every"),
                }
            }
            "DataAmountTrigger" => {
                o.set("id", "amount");
                match cx.val(&mut ot, "data_points_for_trigger", Cx::int) {
                    Some(n) => o.set("every", n),
                    None => cx.missing(
                        &ot,
                        "data_points_for_trigger",
                        "it is the amount trigger's every",
                    ),
                }
            }
            other => {
                cx.problem(
                    &t.key("id"),
                    t.line,
                    format!("`{other}` with an old-schema trigger_config cannot be translated"),
                );
                return None;
            }
        }
        cx.rest(ot);
        cx.rest(t);
        return Some(o);
    }
    let Some((id_it, id)) = cx.get(&mut t, "id", Cx::str) else {
        if !t.has("id") {
            cx.missing(&t, "id", "it picks the trigger policy");
        }
        return None;
    };
    let mut o = OTable::default();
    match id.as_str() {
        "DataAmountTrigger" | "TimeTrigger" => {
            simple(cx, &id_it, &id, &mut t, &mut o)?;
        }
        "DataDriftTrigger" => drift(cx, &mut t, &mut o)?,
        "PerformanceTrigger" => performance(cx, &mut t, &mut o)?,
        "DataIncorporationLatencyCostTrigger"
        | "AvoidableMisclassificationCostTrigger"
        | "AvoidableMisclassificationCost" => cost(cx, &id, &mut t, &mut o)?,
        "EnsembleTrigger" => ensemble(cx, &mut t, &mut o)?,
        other => {
            cx.problem(
                &id_it.path,
                id_it.line,
                format!(
                    "unknown trigger `{other}`; Modyn's are DataAmountTrigger, TimeTrigger, DataDriftTrigger, PerformanceTrigger, DataIncorporationLatencyCostTrigger, AvoidableMisclassificationCostTrigger, EnsembleTrigger"
                ),
            );
            return None;
        }
    }
    cx.rest(t);
    Some(o)
}

/// `DataAmountTrigger` → `amount`, `TimeTrigger` → `time`.
pub(super) fn simple(
    cx: &mut Cx,
    id_it: &Item,
    id: &str,
    t: &mut Table,
    o: &mut OTable,
) -> Option<()> {
    match id {
        "DataAmountTrigger" => {
            o.set("id", "amount");
            let n = cx.need(
                t,
                "num_samples",
                Cx::int,
                "it is the amount trigger's every",
            )?;
            o.set("every", n);
        }
        "TimeTrigger" => {
            o.set("id", "time");
            match t.take("every") {
                None => {
                    cx.missing(t, "every", "it is the time trigger's every");
                    return None;
                }
                Some(e) => o.set("every", span(cx, &e)?),
            }
            if let Some(s) = t.take("start_timestamp")
                && !matches!(s.value, Value::Null)
            {
                o.set("start", cx.int(&s)?);
            }
        }
        other => {
            cx.problem(
                &id_it.path,
                id_it.line,
                format!("`{other}` cannot be a warm-up policy: expected TimeTrigger or DataAmountTrigger"),
            );
            return None;
        }
    }
    Some(())
}

/// The batched-trigger keys: decision interval and warm-up. Returns whether a warm-up is set.
pub(super) fn batched(cx: &mut Cx, t: &mut Table, o: &mut OTable) -> Option<bool> {
    let n = cx.need(
        t,
        "evaluation_interval_data_points",
        Cx::int,
        "it is how often the policy decides",
    )?;
    o.set("evaluation_interval_data_points", n);
    let intervals = match t.take("warmup_intervals") {
        Some(it) if !matches!(it.value, Value::Null) => {
            let n = cx.int(&it)?;
            Some((it, n))
        }
        _ => None,
    };
    let policy = match t.take("warmup_policy") {
        Some(it) if !matches!(it.value, Value::Null) => Some(it),
        _ => None,
    };
    match (intervals, policy) {
        (Some((_, n)), Some(p)) if n > 0 => {
            let mut pt = cx.table(&p)?;
            let (id_it, id) = match cx.get(&mut pt, "id", Cx::str) {
                Some(x) => x,
                None => {
                    cx.missing(&pt, "id", "it picks the warm-up policy");
                    return None;
                }
            };
            let mut w = OTable::default();
            simple(cx, &id_it, &id, &mut pt, &mut w)?;
            cx.rest(pt);
            o.set("warmup_intervals", n);
            o.put("warmup_policy", Out::Table(w));
            Some(true)
        }
        (intervals, policy) => {
            // Modyn uses warmup_intervals only with a warmup_policy, and the policy only for
            // warmup_intervals > 0.
            for it in intervals.map(|(it, _)| it).into_iter().chain(policy) {
                cx.untranslated(
                    &it,
                    "Modyn ignores it without both warmup_intervals > 0 and a warmup_policy",
                );
            }
            Some(false)
        }
    }
}

pub(super) fn drift(cx: &mut Cx, t: &mut Table, o: &mut OTable) -> Option<()> {
    o.set("id", "drift");
    let warm = batched(cx, t, o)?;
    let mut windows_amount = true;
    let mut amounts = (1000, 1000);
    windows(cx, t, o, &mut windows_amount, &mut amounts)?;
    // Modyn's default is 5000 (Sluice's too); `null` means all samples of each window.
    match t.take("sample_size") {
        None => {}
        Some(it) if matches!(it.value, Value::Null) => {
            let biggest = amounts.0.max(amounts.1);
            if windows_amount && biggest <= MAX_SAMPLE_SIZE as i64 {
                o.set("sample_size", "all");
            } else {
                o.set("sample_size", MAX_SAMPLE_SIZE as i64);
                cx.approx(
                    &it,
                    format!(
                        "null (every sample of the windows) became {}: Sluice bounds the samples a metric compares (MMD is quadratic in them)",
                        MAX_SAMPLE_SIZE
                    ),
                );
            }
        }
        Some(it) => {
            let n = cx.int(&it)?;
            let clamped = n.clamp(2, MAX_SAMPLE_SIZE as i64);
            if clamped != n {
                cx.approx(
                    &it,
                    format!(
                        "{n} became {clamped}: Sluice samples 2..={} per window",
                        MAX_SAMPLE_SIZE
                    ),
                );
            }
            o.set("sample_size", clamped);
        }
    }
    o.set("features", "embeddings");
    let Some(m) = t.take("metrics") else {
        cx.missing(t, "metrics", "a drift trigger needs at least one metric");
        return None;
    };
    cx.approx(
        &m,
        "Modyn compares the latest model's embeddings of the windows: features = \"embeddings\" \
         (Sluice can also compare the raw features: features = \"raw\")",
    );
    let mt = cx.table(&m)?;
    let mut metrics = OTable::default();
    let entries = mt.entries();
    let listed = entries.len();
    for (name, it) in entries {
        if let Some(mo) = drift_metric(cx, &it, warm) {
            metrics.put(&name, Out::Table(mo));
        }
    }
    if metrics.0.len() < listed {
        return None;
    }
    if metrics.0.is_empty() {
        cx.problem(&m.path, m.line, "expected at least one metric");
        return None;
    }
    o.put("metrics", Out::Table(metrics));
    aggregation(cx, t, o)?;
    Some(())
}

/// `windowing_strategy` → `[trigger.windows]`; notes whether the windows are amounts and
/// their sizes (for `sample_size = null`).
fn windows(
    cx: &mut Cx,
    t: &mut Table,
    o: &mut OTable,
    windows_amount: &mut bool,
    amounts: &mut (i64, i64),
) -> Option<()> {
    if let Some(w) = t.take("windowing_strategy") {
        let mut wt = cx.table(&w)?;
        let mut win = OTable::default();
        let id = cx
            .val(&mut wt, "id", Cx::str)
            .unwrap_or_else(|| "AmountWindowingStrategy".into());
        match id.as_str() {
            "AmountWindowingStrategy" => {
                win.set("id", "amount");
                if let Some(n) = cx.val(&mut wt, "amount_ref", Cx::int) {
                    win.set("amount_ref", n);
                    amounts.0 = n;
                }
                if let Some(n) = cx.val(&mut wt, "amount_cur", Cx::int) {
                    win.set("amount_cur", n);
                    amounts.1 = n;
                }
            }
            "TimeWindowingStrategy" => {
                *windows_amount = false;
                win.set("id", "time");
                for k in ["limit_ref", "limit_cur"] {
                    match wt.take(k) {
                        Some(it) => win.set(k, span(cx, &it)?),
                        None => {
                            cx.missing(&wt, k, "it is a time window's length");
                            return None;
                        }
                    }
                }
            }
            other => {
                cx.problem(
                    &wt.key("id"),
                    wt.line,
                    format!("unknown windowing strategy `{other}`; expected AmountWindowingStrategy or TimeWindowingStrategy"),
                );
                return None;
            }
        }
        if let Some(a) = cx.val(&mut wt, "allow_overlap", Cx::bool) {
            win.set("allow_overlap", a);
        }
        cx.rest(wt);
        o.put("windows", Out::Table(win));
    }
    Some(())
}

/// `aggregation_strategy` → `[trigger.aggregation]`.
fn aggregation(cx: &mut Cx, t: &mut Table, o: &mut OTable) -> Option<()> {
    if let Some(a) = t.take("aggregation_strategy") {
        let mut at = cx.table(&a)?;
        let id = cx
            .val(&mut at, "id", Cx::str)
            .unwrap_or_else(|| "MajorityVote".into());
        let mut agg = OTable::default();
        match id.as_str() {
            "MajorityVote" => agg.set("id", "majority_vote"),
            "AtLeastN" => {
                agg.set("id", "at_least");
                agg.set(
                    "n",
                    cx.need(&mut at, "n", Cx::int, "it is how many metrics must agree")?,
                );
            }
            other => {
                cx.problem(
                    &at.key("id"),
                    at.line,
                    format!("unknown aggregation `{other}`; expected MajorityVote or AtLeastN"),
                );
                return None;
            }
        }
        cx.rest(at);
        o.put("aggregation", Out::Table(agg));
    }
    Some(())
}

pub(super) fn drift_metric(cx: &mut Cx, it: &Item, warm: bool) -> Option<OTable> {
    let mut t = cx.table(it)?;
    let Some((id_it, id)) = cx.get(&mut t, "id", Cx::str) else {
        if !t.has("id") {
            cx.missing(&t, "id", "it picks the drift metric");
        }
        return None;
    };
    let mut m = OTable::default();
    let sluice = match id.as_str() {
        "AlibiDetectMmdDriftMetric" => "mmd",
        "AlibiDetectKSDriftMetric" => "ks",
        "AlibiDetectCVMDriftMetric" => "cvm",
        "EvidentlyRatioDriftMetric" => "wasserstein",
        "EvidentlySimpleDistanceDriftMetric" => "euclidean",
        "EvidentlyHellingerDistanceDriftMetric" => "hellinger",
        "EvidentlyModelDriftMetric" | "AlibiDetectClassifierDriftMetric" => {
            cx.approx(
                &id_it,
                format!(
                    "Sluice has no {id} (a classifier telling the windows apart): mmd was used; its distances are on another scale, so recalibrate the criterion"
                ),
            );
            "mmd"
        }
        other => {
            cx.problem(
                &id_it.path,
                id_it.line,
                format!("unknown drift metric `{other}`"),
            );
            return None;
        }
    };
    m.set("id", sluice);
    metric_keys(cx, &id, &mut t, &mut m)?;
    other_metric_keys(cx, &mut t);
    let Some(c) = t.take("decision_criterion") else {
        cx.missing(&t, "decision_criterion", "it is Sluice's criterion");
        return None;
    };
    let (ct, crit, dynamic) = decision_criterion(cx, &c)?;
    if dynamic && !warm {
        cx.problem(
            &c.path,
            c.line,
            "a dynamic criterion calibrates during the warm-up: set warmup_intervals > 0 and warmup_policy on the trigger (Modyn requires a warmup_policy too)",
        );
        return None;
    }
    cx.rest(ct);
    cx.rest(t);
    m.put("criterion", Out::Table(crit));
    Some(m)
}

/// The keys of one drift metric that have a Sluice equivalent (or a note saying how Sluice
/// differs).
fn metric_keys(cx: &mut Cx, id: &str, t: &mut Table, m: &mut OTable) -> Option<()> {
    match id {
        "AlibiDetectMmdDriftMetric" => {
            if let Some(p) = t.take("num_permutations")
                && !matches!(p.value, Value::Null)
            {
                m.set("num_permutations", cx.int(&p)?);
            }
            if let Some(k) = t.take("kernel")
                && !matches!(&k.value, Value::Str(s) if s == "GaussianRBF")
            {
                cx.approx(&k, "Sluice's MMD uses a Gaussian RBF kernel");
            }
            if let Some((c, on)) = cx.get(t, "configure_kernel_from_x_ref", Cx::bool)
                && !on
            {
                cx.approx(
                    &c,
                    "Sluice always sets the kernel bandwidth from the reference window (median pairwise distance)",
                );
            }
            if let Some(th) = t.take("threshold")
                && !matches!(th.value, Value::Null)
            {
                cx.untranslated(
                    &th,
                    "a deprecated metric-level threshold: Sluice decides with the criterion (decision_criterion)",
                );
            }
        }
        "AlibiDetectKSDriftMetric" => {
            if let Some(c) = cx.val(t, "correction", Cx::str) {
                m.set("correction", c);
            }
            if let Some(a) = t.take("alternative_hypothesis")
                && !matches!(&a.value, Value::Str(s) if s == "two-sided")
            {
                cx.untranslated(&a, "Sluice's KS test is two-sided");
            }
        }
        "EvidentlyRatioDriftMetric" => {
            if let Some(s) = t.take("component_stattest")
                && !matches!(&s.value, Value::Str(v) if v == "wasserstein")
            {
                cx.approx(
                    &s,
                    format!("{}: Sluice's per-feature distance is wasserstein", s.show()),
                );
            }
        }
        "EvidentlySimpleDistanceDriftMetric" => {
            if let Some(s) = t.take("distance_metric")
                && !matches!(&s.value, Value::Str(v) if v == "euclidean")
            {
                cx.approx(&s, format!("{}: Sluice's distance is euclidean", s.show()));
            }
        }
        _ => {}
    }
    Some(())
}

/// Library settings of drift metrics that Sluice has no equivalent for.
fn other_metric_keys(cx: &mut Cx, t: &mut Table) {
    if let Some(c) = t.take("correction") {
        cx.untranslated(
            &c,
            format!("{}: only Sluice's ks test has a correction", c.show()),
        );
    }
    for k in [
        "bootstrap",
        "quantile_probability",
        "threshold",
        "component_stattest_threshold",
    ] {
        if let Some(x) = t.take(k) {
            cx.untranslated(
                &x,
                format!("{}: an Evidently setting Modyn does not use either (it decides with decision_criterion)", x.show()),
            );
        }
    }
    if let Some(x) = t.take("p_val") {
        cx.untranslated(
            &x,
            format!(
                "{}: Modyn ignores the library's test and decides with decision_criterion; Sluice's criterion `p_value` would use it",
                x.show()
            ),
        );
    }
    for k in ["device", "x_ref_preprocessed", "num_pca_component"] {
        if let Some(x) = t.take(k)
            && !matches!(x.value, Value::Null | Value::Bool(false))
        {
            cx.untranslated(
                &x,
                format!("{}: Sluice computes drift metrics on the trigger worker's CPU, on the full vectors", x.show()),
            );
        }
    }
    if let Some(x) = t.take("preprocessor")
        && !matches!(x.value, Value::Null)
    {
        cx.untranslated(
            &x,
            "Sluice has no NLP preprocessor (Hugging Face embeddings): features = \"embeddings\" uses the trained model's",
        );
    }
}

/// `decision_criterion` → the metric's `criterion`; also whether it is dynamic (calibrated
/// during the warm-up) and the rest of its table.
fn decision_criterion(cx: &mut Cx, c: &Item) -> Option<(Table, OTable, bool)> {
    let mut ct = cx.table(c)?;
    let cid = cx.val(&mut ct, "id", Cx::str).unwrap_or_default();
    let _ = ct.take("needs_calibration");
    let mut crit = OTable::default();
    let dynamic = match cid.as_str() {
        "ThresholdDecisionCriterion" => {
            crit.set("id", "threshold");
            crit.set(
                "threshold",
                cx.need(
                    &mut ct,
                    "threshold",
                    Cx::num,
                    "it is the distance that means drift",
                )?,
            );
            false
        }
        "DynamicQuantileThresholdCriterion" => {
            crit.set("id", "dynamic_quantile");
            if let Some(w) = cx.val(&mut ct, "window_size", Cx::int) {
                crit.set("window_size", w);
            }
            if let Some(q) = cx.val(&mut ct, "quantile", Cx::num) {
                crit.set("quantile", q);
            }
            true
        }
        "DynamicRollingAverageThresholdCriterion" => {
            crit.set("id", "dynamic_rolling_average");
            if let Some(w) = cx.val(&mut ct, "window_size", Cx::int) {
                crit.set("window_size", w);
            }
            if let Some(d) = cx.val(&mut ct, "deviation", Cx::num) {
                crit.set("deviation", d);
            }
            if let Some(a) = cx.val(&mut ct, "absolute", Cx::bool) {
                crit.set("absolute", a);
            }
            true
        }
        other => {
            cx.problem(
                &ct.key("id"),
                ct.line,
                format!("unknown decision criterion `{other}`; expected ThresholdDecisionCriterion, DynamicQuantileThresholdCriterion or DynamicRollingAverageThresholdCriterion"),
            );
            return None;
        }
    };
    Some((ct, crit, dynamic))
}

/// The performance-based policies' `evaluation` → `[trigger.evaluation]`.
pub(super) fn trigger_evaluation(cx: &mut Cx, t: &mut Table, o: &mut OTable) -> Option<()> {
    let Some(e) = t.take("evaluation") else {
        cx.missing(t, "evaluation", "it says how each interval is scored");
        return None;
    };
    let mut et = cx.table(&e)?;
    let mut eo = OTable::default();
    eo.set("metrics", vec!["accuracy"]);
    if let Some(d) = et.take("device") {
        cx.untranslated(
            &d,
            format!(
                "{}: Sluice scores the intervals on training.device",
                d.show()
            ),
        );
    }
    if let Some(l) = et.take("label_transformer_function")
        && !matches!(l.value, Value::Null)
    {
        cx.untranslated(
            &l,
            "Python code is not run: write the transformed labels into the dataset",
        );
    }
    match et.take("dataset") {
        None => cx.missing(&et, "dataset", "it holds the metrics"),
        Some(d) => {
            if let Some(mut dt) = cx.table(&d) {
                if let Some(id) = dt.take("dataset_id") {
                    cx.approx(
                        &id,
                        format!(
                            "{}: Sluice scores each interval on its own samples from [source] (Modyn's hindsight mode does the same)",
                            id.show()
                        ),
                    );
                }
                if let Some(b) = cx.val(&mut dt, "batch_size", Cx::int) {
                    eo.set("batch_size", b);
                }
                if let Some(ms) = dt.take("metrics") {
                    for m in cx.list(&ms).unwrap_or_default() {
                        let name = m
                            .table()
                            .and_then(|mut mt| mt.take("name"))
                            .and_then(|n| match n.value {
                                Value::Str(s) => Some(s),
                                _ => None,
                            })
                            .unwrap_or_default();
                        if name != "Accuracy" {
                            cx.untranslated(
                                &m,
                                format!(
                                    "{}: the performance trigger scores accuracy only",
                                    m.show()
                                ),
                            );
                        }
                    }
                }
                let _ = dt.take("dataloader_workers");
                data_code(cx, &mut dt);
                cx.rest(dt);
            }
        }
    }
    cx.rest(et);
    o.put("evaluation", Out::Table(eo));
    Some(())
}

pub(super) fn forecast(cx: &mut Cx, t: &mut Table, o: &mut OTable) {
    if let Some((it, f)) = cx.get(t, "forecasting_method", Cx::str) {
        match f.as_str() {
            "ridge_regression" | "rolling_average" => o.set("forecasting_method", f),
            _ => cx.untranslated(&it, "expected ridge_regression or rolling_average"),
        }
    }
}

pub(super) fn performance(cx: &mut Cx, t: &mut Table, o: &mut OTable) -> Option<()> {
    o.set("id", "performance");
    let warm = batched(cx, t, o)?;
    trigger_evaluation(cx, t, o)?;
    if let Some((it, mode)) = cx.get(t, "mode", Cx::str)
        && mode != "hindsight"
    {
        cx.problem(
            &it.path,
            it.line,
            "only hindsight is supported (Modyn rejects lookahead too)",
        );
        return None;
    }
    forecast(cx, t, o);
    for k in [
        "data_density_window_size",
        "performance_triggers_window_size",
    ] {
        if let Some(n) = cx.val(t, k, Cx::int) {
            o.set(k, n);
        }
    }
    let Some(c) = t.take("decision_criteria") else {
        cx.missing(t, "decision_criteria", "it is Sluice's criteria");
        return None;
    };
    let ct = cx.table(&c)?;
    let mut criteria = OTable::default();
    for (name, it) in ct.entries() {
        let mut t = cx.table(&it)?;
        let id = cx.val(&mut t, "id", Cx::str).unwrap_or_default();
        let _ = t.take("needs_calibration");
        if let Some((mi, metric)) = cx.get(&mut t, "metric", Cx::str)
            && metric != "Accuracy"
        {
            cx.approx(
                &mi,
                format!("Sluice's performance criteria read accuracy, not {metric}"),
            );
        }
        let mut co = OTable::default();
        let dynamic = performance_criterion(cx, &id, &mut t, &mut co)?;
        if dynamic && !warm {
            cx.problem(
                &it.path,
                it.line,
                "a dynamic criterion calibrates during the warm-up: set warmup_intervals > 0 and warmup_policy on the trigger (Modyn requires a warmup_policy too)",
            );
            return None;
        }
        cx.rest(t);
        criteria.put(&name, Out::Table(co));
    }
    if criteria.0.is_empty() {
        cx.problem(&c.path, c.line, "expected at least one criterion");
        return None;
    }
    o.put("criteria", Out::Table(criteria));
    Some(())
}

/// One performance criterion's keys by its Modyn id; whether it is dynamic (calibrated during
/// the warm-up).
fn performance_criterion(cx: &mut Cx, id: &str, t: &mut Table, co: &mut OTable) -> Option<bool> {
    let dynamic = match id {
        "StaticPerformanceThresholdCriterion" => {
            co.set("id", "static_threshold");
            // Modyn's default threshold is 0.0.
            co.set(
                "metric_threshold",
                cx.val(t, "metric_threshold", Cx::num).unwrap_or(0.0),
            );
            false
        }
        "DynamicQuantilePerformanceThresholdCriterion" => {
            co.set("id", "dynamic_quantile");
            if let Some(w) = cx.val(t, "window_size", Cx::int) {
                co.set("window_size", w);
            }
            if let Some(q) = cx.val(t, "quantile", Cx::num) {
                co.set("quantile", q);
            }
            true
        }
        "DynamicRollingAveragePerformanceThresholdCriterion" => {
            co.set("id", "dynamic_rolling_average");
            if let Some(w) = cx.val(t, "window_size", Cx::int) {
                co.set("window_size", w);
            }
            if let Some(d) = cx.val(t, "deviation", Cx::num) {
                co.set("deviation", d);
            }
            if let Some(a) = cx.val(t, "absolute", Cx::bool) {
                co.set("absolute", a);
            }
            true
        }
        "StaticNumberMisclassificationCriterion" => {
            co.set("id", "avoidable_misclassifications");
            co.set(
                "avoidable_misclassification_threshold",
                cx.need(
                    t,
                    "avoidable_misclassification_threshold",
                    Cx::int,
                    "it is when the criterion fires",
                )?,
            );
            if let Some(e) = t.take("expected_accuracy")
                && !matches!(e.value, Value::Null)
            {
                co.set("expected_accuracy", cx.num(&e)?);
            }
            if let Some(a) = cx.val(t, "allow_reduction", Cx::bool) {
                co.set("allow_reduction", a);
            }
            false
        }
        other => {
            cx.problem(
                &t.key("id"),
                t.line,
                format!("unknown performance criterion `{other}`"),
            );
            return None;
        }
    };
    Some(dynamic)
}

pub(super) fn cost(cx: &mut Cx, id: &str, t: &mut Table, o: &mut OTable) -> Option<()> {
    o.set("id", "cost");
    let warm = batched(cx, t, o)?;
    if id == "DataIncorporationLatencyCostTrigger" {
        o.set("regret", "incorporation_latency");
        o.set(
            "incorporation_delay_per_training_second",
            cx.need(
                t,
                "incorporation_delay_per_training_second",
                Cx::num,
                "it converts regret into training seconds",
            )?,
        );
    } else {
        o.set("regret", "avoidable_misclassification_latency");
        o.set(
            "avoidable_misclassification_latency_per_training_second",
            cx.need(
                t,
                "avoidable_misclassification_latency_per_training_second",
                Cx::num,
                "it converts regret into training seconds",
            )?,
        );
        if !warm {
            cx.problem(
                &t.key("warmup_policy"),
                t.line,
                "the avoidable-misclassification cost trigger needs warmup_intervals > 0 and a warmup_policy (Modyn requires one too)",
            );
            return None;
        }
        trigger_evaluation(cx, t, o)?;
        if let Some(e) = t.take("expected_accuracy")
            && !matches!(e.value, Value::Null)
        {
            o.set("expected_accuracy", cx.num(&e)?);
        }
        if let Some(a) = cx.val(t, "allow_reduction", Cx::bool) {
            o.set("allow_reduction", a);
        }
        forecast(cx, t, o);
        if let Some((it, mode)) = cx.get(t, "mode", Cx::str)
            && mode != "hindsight"
        {
            cx.problem(&it.path, it.line, "only hindsight is supported");
            return None;
        }
        for k in [
            "data_density_window_size",
            "performance_triggers_window_size",
            "needs_calibration",
        ] {
            if let Some(it) = t.take(k)
                && k != "needs_calibration"
            {
                cx.untranslated(
                    &it,
                    format!(
                        "{}: the cost trigger keeps no such window in Sluice",
                        it.show()
                    ),
                );
            }
        }
    }
    if let Some(n) = cx.val(t, "cost_tracking_window_size", Cx::int) {
        o.set("cost_tracking_window_size", n);
    }
    Some(())
}

pub(super) fn ensemble(cx: &mut Cx, t: &mut Table, o: &mut OTable) -> Option<()> {
    o.set("id", "ensemble");
    let Some(s) = t.take("ensemble_strategy") else {
        cx.missing(t, "ensemble_strategy", "it is Sluice's strategy");
        return None;
    };
    let mut st = cx.table(&s)?;
    let sid = cx.val(&mut st, "id", Cx::str).unwrap_or_default();
    match sid.as_str() {
        "MajorityVote" => o.set("strategy", "majority_vote"),
        "AtLeastN" => {
            o.set("strategy", "at_least");
            o.set(
                "n",
                cx.need(
                    &mut st,
                    "n",
                    Cx::int,
                    "it is how many sub-triggers must agree",
                )?,
            );
        }
        "Custom" => {
            o.set("strategy", "majority_vote");
            if let Some(f) = st.take("aggregation_function") {
                cx.untranslated(&f, "Python code is not run");
            }
            cx.approx(
                &s,
                "a custom aggregation function became majority_vote (Sluice's strategies: majority_vote, at_least, all, any)",
            );
        }
        other => {
            cx.problem(
                &st.key("id"),
                st.line,
                format!(
                    "unknown ensemble strategy `{other}`; expected MajorityVote, AtLeastN or Custom"
                ),
            );
            return None;
        }
    }
    cx.rest(st);
    let Some(subs) = t.take("subtriggers") else {
        cx.missing(t, "subtriggers", "an ensemble needs sub-triggers");
        return None;
    };
    let subs_t = cx.table(&subs)?;
    let mut so = OTable::default();
    for (name, it) in subs_t.entries() {
        so.put(&name, Out::Table(trigger(cx, &it)?));
    }
    if so.0.is_empty() {
        cx.problem(&subs.path, subs.line, "expected at least one sub-trigger");
        return None;
    }
    o.put("subtriggers", Out::Table(so));
    Some(())
}
