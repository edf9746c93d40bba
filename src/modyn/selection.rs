//! `selection_strategy` → `[selection]`: the strategy, presampling and downsampling (with
//! RHO-Loss's irreducible-loss model).

use super::context::{Cx, ModelInfo, TrainingInfo};
use super::emit::{OTable, Out};
use super::model::model;
use super::notes::NoteKind;
use super::training::training;
use super::yaml::{Item, Table, Value};

/// `selection_strategy` → `[selection]`.
pub(super) fn selection(
    cx: &mut Cx,
    it: &Item,
    tinfo: &TrainingInfo,
    training: Option<&OTable>,
    model: Option<&ModelInfo>,
) -> Option<OTable> {
    let mut t = cx.table(it)?;
    // The old schema nested the strategy's keys under `config`, with `reset_after_trigger`.
    old_schema(cx, &mut t);
    let Some((name_it, name)) = cx.get(&mut t, "name", Cx::str) else {
        if !t.has("name") {
            cx.missing(&t, "name", "it picks Sluice's selection.strategy");
        }
        return None;
    };
    let mut o = OTable::default();
    let strategy = match name.as_str() {
        "NewDataStrategy" => "new_data",
        "FreshnessSamplingStrategy" => "freshness",
        "CoresetStrategy" => "coreset",
        other => {
            cx.problem(
                &name_it.path,
                name_it.line,
                format!("unknown selection strategy `{other}`; expected NewDataStrategy, FreshnessSamplingStrategy or CoresetStrategy"),
            );
            return None;
        }
    };
    o.set("strategy", strategy);
    let tail: Option<Option<i64>> = match t.take("tail_triggers") {
        None => {
            if strategy != "freshness" {
                cx.note_at(
            t.key("tail_triggers"),
            t.line,
            NoteKind::Approximated,
                    "missing (Modyn requires it): Sluice's default, tail_triggers = 0 (the data since the last trigger), applies",
                );
            }
            None
        }
        Some(it) if matches!(it.value, Value::Null) => {
            if strategy != "freshness" {
                o.set("tail_triggers", "all");
            }
            Some(None)
        }
        Some(it) => {
            let n = cx.int(&it)?;
            if strategy == "freshness" {
                cx.untranslated(&it, "freshness draws from all data in Sluice and Modyn");
            } else {
                o.set("tail_triggers", n);
            }
            Some(Some(n))
        }
    };
    let limit = match t.take("limit") {
        Some(it) => match cx.int(&it)? {
            n if n > 0 => Some((it, n)),
            _ => None,
        },
        None => None,
    };
    let limit_reset = t.take("limit_reset");
    strategy_limits(cx, &mut t, &mut o, strategy, tail, &limit, &limit_reset)?;
    if let Some(n) = cx.val(&mut t, "maximum_keys_in_memory", Cx::int)
        && n > 0
    {
        o.set("maximum_keys_in_memory", n);
    }
    if let Some(seed) = training
        .and_then(|t| t.value("seed"))
        .and_then(|s| s.as_integer())
    {
        o.set("seed", seed);
    }
    if strategy == "coreset" {
        coreset(cx, &mut t, &mut o, limit, tinfo, training, model)?;
    } else {
        for k in [
            "presampling_config",
            "downsampling_config",
            "warmup_triggers",
        ] {
            if let Some(it) = t.take(k) {
                cx.untranslated(&it, "only CoresetStrategy has it");
            }
        }
    }
    backend_keys(cx, &mut t);
    cx.rest(t);
    Some(o)
}

/// The old schema's `config` under the strategy, read as the strategy's own keys.
fn old_schema(cx: &mut Cx, t: &mut Table) {
    if let Some(c) = t.take("config")
        && let Some(ct) = cx.table(&c)
    {
        for (k, v) in ct.entries() {
            if k == "reset_after_trigger" {
                let reset = matches!(v.value, Value::Bool(true));
                let tail = Item {
                    value: if reset { Value::Int(0) } else { Value::Null },
                    ..v
                };
                t.insert("tail_triggers", tail);
            } else {
                t.insert(&k, v);
            }
        }
        cx.approx(
            &c,
            "old Modyn schema (config under the strategy; reset_after_trigger): read as the strategy's keys, reset_after_trigger as tail_triggers (true: 0, false: all data)",
        );
    }
}

/// The strategy's limit keys: new_data's `limit` and `limit_reset`, freshness's `limit` and
/// `unused_data_ratio`.
fn strategy_limits(
    cx: &mut Cx,
    t: &mut Table,
    o: &mut OTable,
    strategy: &str,
    tail: Option<Option<i64>>,
    limit: &Option<(Item, i64)>,
    limit_reset: &Option<Item>,
) -> Option<()> {
    match strategy {
        "new_data" => {
            if let Some((_, n)) = limit {
                o.set("limit", *n);
                if tail == Some(None) {
                    // With all data Modyn keeps the last X by default.
                    let reset = limit_reset
                        .as_ref()
                        .and_then(|r| cx.str(r))
                        .unwrap_or_else(|| "lastX".into());
                    o.set("limit_reset", reset);
                } else if let Some(r) = limit_reset {
                    cx.untranslated(
                        r,
                        "Modyn samples the limit uniformly when tail_triggers is set (Sluice's default, sampleUAR)",
                    );
                }
            } else if let Some(r) = limit_reset {
                cx.untranslated(r, "only used with a limit");
            }
        }
        "freshness" => {
            if let Some((_, n)) = limit {
                o.set("limit", *n);
            }
            o.set(
                "unused_data_ratio",
                cx.need(
                    t,
                    "unused_data_ratio",
                    Cx::int,
                    "it is the share of unused samples",
                )?,
            );
        }
        _ => {
            if let Some(r) = limit_reset {
                cx.untranslated(r, "only NewDataStrategy has limit_reset");
            }
        }
    }
    Some(())
}

/// Modyn's storage backend, metadata processor and weights: Sluice has none of them.
fn backend_keys(cx: &mut Cx, t: &mut Table) {
    if let Some(it) = t.take("storage_backend") {
        cx.untranslated(
            &it,
            format!(
                "{}: Sluice keeps selection state in its dataflow (spilling beyond maximum_keys_in_memory to the run directory)",
                it.show()
            ),
        );
    }
    if let Some(it) = t.take("processor_type")
        && !matches!(it.value, Value::Null)
    {
        cx.untranslated(
            &it,
            format!(
                "{}: Sluice has no metadata processor; per-sample losses reach score-based policies with training.per_sample_feedback = true",
                it.show()
            ),
        );
    }
    if let Some((it, w)) = cx.get(t, "uses_weights", Cx::bool)
        && w
    {
        cx.untranslated(
            &it,
            "Sluice's selection gives no weights; training is weighted only by downsamplers (loss, grad_norm, craig, grad_match)",
        );
    }
}

/// Modyn's strategy names, accepted with or without their class suffix.
pub(super) fn strip<'a>(name: &'a str, suffix: &str) -> &'a str {
    name.strip_suffix(suffix).unwrap_or(name)
}

pub(super) fn coreset(
    cx: &mut Cx,
    t: &mut Table,
    o: &mut OTable,
    limit: Option<(Item, i64)>,
    tinfo: &TrainingInfo,
    training: Option<&OTable>,
    model: Option<&ModelInfo>,
) -> Option<()> {
    if let Some(w) = cx.val(t, "warmup_triggers", Cx::int)
        && w > 0
    {
        o.set("warmup_triggers", w);
    }
    let mut presampled = false;
    if let Some(p) = t.take("presampling_config") {
        let mut pt = cx.table(&p)?;
        let strategy = cx.val(&mut pt, "strategy", Cx::str).unwrap_or_default();
        let sluice = match strip(&strategy, "PresamplingStrategy") {
            "Random" => "random",
            "RandomNoReplacement" => "random_no_replacement",
            "LabelBalanced" => "label_balanced",
            "TriggerBalanced" => "trigger_balanced",
            "No" => "",
            other => {
                cx.problem(
                    &pt.key("strategy"),
                    pt.line,
                    format!("unknown presampling strategy `{other}`"),
                );
                return None;
            }
        };
        if sluice.is_empty() {
            cx.rest_with(pt, "no presampling");
        } else {
            presampled = true;
            let mut po = OTable::default();
            po.set("strategy", sluice);
            po.set(
                "ratio",
                cx.need(&mut pt, "ratio", Cx::int, "it is the share presampled")?,
            );
            if let Some(m) = cx.val(&mut pt, "ratio_max", Cx::int) {
                po.set("ratio_max", m);
            }
            if let Some((_, l)) = &limit {
                po.set("limit", *l);
            }
            for k in ["force_column_balancing", "force_required_target_size"] {
                if let Some((it, on)) = cx.get(&mut pt, k, Cx::bool)
                    && on
                {
                    if matches!(sluice, "label_balanced" | "trigger_balanced") {
                        po.set(k, true);
                    } else {
                        cx.untranslated(&it, "only balanced presampling uses it");
                    }
                }
            }
            cx.rest(pt);
            o.put("presampling", Out::Table(po));
        }
    }
    if let (Some((it, _)), false) = (&limit, presampled) {
        cx.untranslated(
            it,
            "with CoresetStrategy Sluice caps the training set through presampling's limit; add presampling = { strategy = \"random\", ratio = 100, limit = ... } if you need it",
        );
    }
    if let Some(d) = t.take("downsampling_config") {
        let mut dt = cx.table(&d)?;
        if dt.has("downsampling_list") {
            let list = dt.take("downsampling_list").expect("checked");
            let thresholds = match dt.take("downsampling_thresholds") {
                Some(th) => cx
                    .list(&th)?
                    .iter()
                    .map(|e| cx.int(e))
                    .collect::<Option<Vec<i64>>>()?,
                None => {
                    cx.missing(
                        &dt,
                        "downsampling_thresholds",
                        "they are Sluice's thresholds",
                    );
                    return None;
                }
            };
            let mut schedule = Vec::new();
            for e in cx.list(&list)? {
                match downsampler(cx, &e, tinfo, training, model)? {
                    Some(ds) => schedule.push(ds),
                    None => {
                        cx.untranslated(
                            &d,
                            "a schedule with a `No` downsampler has no Sluice equivalent: not translated; train without downsampling or drop that entry",
                        );
                        cx.rest(dt);
                        return Some(());
                    }
                }
            }
            let mut so = OTable::default();
            so.put("schedule", Out::Inline(schedule));
            so.set("thresholds", thresholds);
            cx.rest(dt);
            o.put("downsampling", Out::Table(so));
        } else if let Some(ds) = downsampler(cx, &d, tinfo, training, model)? {
            o.put("downsampling", Out::Table(ds));
        }
    }
    Some(())
}

/// One downsampler; `Some(None)` for Modyn's `No` (or a ratio that keeps everything).
pub(super) fn downsampler(
    cx: &mut Cx,
    it: &Item,
    tinfo: &TrainingInfo,
    training_table: Option<&OTable>,
    minfo: Option<&ModelInfo>,
) -> Option<Option<OTable>> {
    let mut t = cx.table(it)?;
    let strategy = cx.need(
        &mut t,
        "strategy",
        Cx::str,
        "it is Sluice's downsampling.strategy",
    )?;
    let sluice = match strip(&strategy, "DownsamplingStrategy") {
        "Loss" => "loss",
        "GradNorm" => "grad_norm",
        "Uncertainty" => "uncertainty",
        "KcenterGreedy" => "kcenter_greedy",
        "GradMatch" => "grad_match",
        "Craig" => "craig",
        "Submodular" => "submodular",
        "RS2" => "rs2",
        "RHOLoss" => "rho_loss",
        "No" => {
            cx.rest_with(t, "no downsampling");
            return Some(None);
        }
        other => {
            cx.problem(
                &t.key("strategy"),
                t.line,
                format!("unknown downsampling strategy `{other}`"),
            );
            return None;
        }
    };
    let mut d = OTable::default();
    d.set("strategy", sluice);
    let ratio = cx.need(&mut t, "ratio", Cx::int, "it is the share kept")?;
    let ratio_max = cx.val(&mut t, "ratio_max", Cx::int).unwrap_or(100);
    if ratio >= ratio_max {
        cx.untranslated(
            it,
            format!("ratio {ratio} of {ratio_max} keeps every sample: no downsampling"),
        );
        cx.rest(t);
        return Some(None);
    }
    d.set("ratio", ratio);
    if ratio_max != 100 {
        d.set("ratio_max", ratio_max);
    }
    let stb = if sluice == "rs2" {
        let _ = t.take("sample_then_batch");
        true
    } else {
        cx.val(&mut t, "sample_then_batch", Cx::bool)
            .unwrap_or(false)
    };
    if stb {
        d.set("sample_then_batch", true);
    }
    match t.take("period") {
        Some(p) if sluice != "rs2" => {
            let n = cx.int(&p)?;
            if stb {
                if n != 1 {
                    d.set("period", n);
                }
            } else if n != 1 {
                cx.untranslated(&p, "Modyn ignores period in batch-then-sample mode");
            }
        }
        _ => {}
    }
    if !stb && let Some(b) = tinfo.batch_size {
        let kept = (ratio * b / ratio_max).max(1);
        if kept >= b || b % kept != 0 {
            cx.problem(
                &t.key("ratio"),
                t.line,
                format!(
                    "batch-then-sample keeps {kept} of each batch of {b} (training.batch_size): that must divide it (Modyn rejects this config too)"
                ),
            );
            return None;
        }
    }
    strategy_keys(cx, &mut t, &mut d, sluice);
    if let Some(sb) = t.take("selection_batch") {
        cx.approx(
            &sb,
            format!(
                "{}: Sluice chooses over sets of up to 8,192 samples (2,048 for grad_match) at once",
                sb.show()
            ),
        );
    }
    if sluice == "rho_loss" {
        rho_loss(cx, &mut t, &mut d, training_table, minfo)?;
    }
    cx.rest(t);
    Some(Some(d))
}

/// The keys of one downsampling strategy (scores, greedy and submodular settings, balance).
fn strategy_keys(cx: &mut Cx, t: &mut Table, d: &mut OTable, sluice: &str) {
    let name_map = |s: &str| -> String {
        // CamelCase → snake_case (LeastConfidence → least_confidence).
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    };
    let enum_key = |cx: &mut Cx, t: &mut Table, d: &mut OTable, modyn: &str, sluice: &str| {
        if let Some(v) = cx.val(t, modyn, Cx::str) {
            d.set(sluice, name_map(&v));
        }
    };
    match sluice {
        "uncertainty" => enum_key(cx, t, d, "score_metric", "score_metric"),
        "craig" => enum_key(cx, t, d, "greedy", "greedy"),
        "submodular" => {
            enum_key(cx, t, d, "submodular_function", "submodular_function");
            enum_key(cx, t, d, "submodular_optimizer", "submodular_optimizer");
        }
        "rs2" => {
            if let Some(w) = cx.val(t, "with_replacement", Cx::bool) {
                d.set("with_replacement", w);
            }
        }
        _ => {}
    }
    if matches!(sluice, "grad_match" | "craig" | "submodular") {
        enum_key(
            cx,
            t,
            d,
            "full_grad_approximation",
            "full_grad_approximation",
        );
    }
    if matches!(
        sluice,
        "uncertainty" | "kcenter_greedy" | "grad_match" | "craig" | "submodular"
    ) && let Some(b) = cx.val(t, "balance", Cx::bool)
        && b
    {
        d.set("balance", true);
    }
}

/// RHO-Loss's holdout and its irreducible-loss model (`il_model`, `il_training`).
fn rho_loss(
    cx: &mut Cx,
    t: &mut Table,
    d: &mut OTable,
    training_table: Option<&OTable>,
    minfo: Option<&ModelInfo>,
) -> Option<()> {
    if let Some(s) = cx.val(t, "holdout_set_strategy", Cx::str) {
        d.set("holdout_set_strategy", s.to_lowercase());
    }
    d.set(
        "holdout_set_ratio",
        cx.need(t, "holdout_set_ratio", Cx::int, "it is the holdout share")?,
    );
    if let Some(m) = cx.val(t, "holdout_set_ratio_max", Cx::int) {
        d.set("holdout_set_ratio_max", m);
    }
    match t.take("il_training_config") {
        None => cx.missing(
            t,
            "il_training_config",
            "it is how the irreducible-loss model trains",
        ),
        Some(il) => {
            let mut ilt = cx.table(&il)?;
            let id = ilt.take("il_model_id");
            let config = ilt.take("il_model_config");
            if let Some(id) = id {
                let cfg_key = ilt.key("il_model_config");
                if let Some((m, _)) = model(cx, &id, config, &cfg_key) {
                    d.put("il_model", Out::Table(m));
                }
            } else {
                cx.missing(&ilt, "il_model_id", "it is Sluice's il_model");
            }
            let empty = OTable::default();
            let main = training_table.unwrap_or(&empty);
            let (ilo, _, _) = training(cx, ilt, minfo, Some(main));
            if !ilo.0.is_empty() {
                d.put("il_training", Out::Table(ilo));
            }
        }
    }
    Some(())
}
