//! `evaluation` → `[evaluation]`: datasets (placeholders named after their dataset ids),
//! metrics and handlers.

use super::context::{Cx, TrainingInfo, data_code, dataset_file, span};
use super::emit::{OTable, Out};
use super::notes::NoteKind;
use super::yaml::{Item, Value};

/// Metric names of a Modyn evaluation dataset → Sluice's.
pub(super) fn metrics(cx: &mut Cx, it: &Item, classes: Option<i64>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for m in cx.list(it).unwrap_or_default() {
        let Some(mut t) = cx.table(&m) else {
            continue;
        };
        let Some((n_it, name)) = cx.get(&mut t, "name", Cx::str) else {
            if !t.has("name") {
                cx.missing(&t, "name", "it picks the metric");
            }
            continue;
        };
        let sluice = match name.as_str() {
            "Accuracy" => match cx.val(&mut t, "topn", Cx::int).unwrap_or(1) {
                1 => Some("accuracy".to_string()),
                n if classes.is_some_and(|c| n > c) => {
                    cx.untranslated(
                        &n_it,
                        format!("top-{n} accuracy needs at least {n} classes"),
                    );
                    None
                }
                n => Some(format!("top{n}_accuracy")),
            },
            "F1Score" => {
                let avg = cx
                    .val(&mut t, "average", Cx::str)
                    .unwrap_or_else(|| "macro".into());
                if let Some((it, n)) = cx.get(&mut t, "num_classes", Cx::int)
                    && classes.is_some_and(|c| c != n)
                {
                    cx.approx(
                        &it,
                        format!(
                            "Sluice's F1 uses [model] num_classes ({})",
                            classes.unwrap_or(0)
                        ),
                    );
                }
                if let Some((it, p)) = cx.get(&mut t, "pos_label", Cx::int)
                    && p != 1
                {
                    cx.untranslated(&it, "Sluice's binary F1 is of class 1");
                }
                match avg.as_str() {
                    "macro" | "micro" | "weighted" | "binary" => Some(format!("f1_{avg}")),
                    other => {
                        cx.untranslated(&n_it, format!("unknown F1 average `{other}`"));
                        None
                    }
                }
            }
            "RocAuc" | "ROC-AUC" => Some("roc_auc".to_string()),
            other => {
                cx.untranslated(
                    &n_it,
                    format!("Sluice has no metric {other} (its metrics: docs/config.md, evaluation datasets)"),
                );
                None
            }
        };
        if let Some(e) = t.take("evaluation_transformer_function") {
            let empty = matches!(&e.value, Value::Str(s) if s.trim().is_empty());
            if !empty && !matches!(e.value, Value::Null) {
                cx.untranslated(
                    &e,
                    "Python code is not run: Sluice scores the arg-max of the outputs (roc_auc: the softmax probability of class 1)",
                );
            }
        }
        cx.rest(t);
        if let Some(s) = sluice {
            if names.contains(&s) {
                cx.untranslated(&m, format!("`{s}` is listed twice"));
            } else {
                names.push(s);
            }
        }
    }
    names
}

/// `evaluation` → `[evaluation]`: datasets (placeholders named after their dataset ids) and
/// handlers.
pub(super) fn evaluation(
    cx: &mut Cx,
    it: &Item,
    source: Option<&String>,
    classes: Option<i64>,
    tinfo: &TrainingInfo,
) -> Option<OTable> {
    if matches!(it.value, Value::Null) {
        return None;
    }
    let mut t = cx.table(it)?;
    let mut o = OTable::default();
    if let Some(d) = cx.val(&mut t, "device", Cx::str)
        && tinfo.device.as_deref() != Some(d.as_str())
    {
        o.set("device", d);
    }
    for k in [
        "after_training_evaluation_workers",
        "after_pipeline_evaluation_workers",
    ] {
        if let Some(w) = t.take(k) {
            cx.untranslated(
                &w,
                format!(
                    "{}: Sluice evaluates on one evaluator thread per run",
                    w.show()
                ),
            );
        }
    }
    let mut names: Vec<String> = Vec::new();
    let mut datasets = Vec::new();
    match t.take("datasets") {
        None => cx.missing(&t, "datasets", "Sluice evaluates on datasets"),
        Some(ds) => {
            for d in cx.list(&ds).unwrap_or_default() {
                let Some(mut dt) = cx.table(&d) else {
                    continue;
                };
                let Some((id_it, id)) = cx.get(&mut dt, "dataset_id", Cx::str) else {
                    if !dt.has("dataset_id") {
                        cx.missing(&dt, "dataset_id", "it names the dataset");
                    }
                    continue;
                };
                let mut o = OTable::default();
                o.set("name", id.as_str());
                let file = dataset_file(&id);
                o.set("path", file.as_str());
                if source == Some(&id) {
                    cx.note(
                        &id_it,
                        NoteKind::Placeholder,
                        format!("the training dataset: the same placeholder file as [source], \"{file}\""),
                    );
                } else {
                    cx.note(
                        &id_it,
                        NoteKind::Placeholder,
                        format!(
                            "path = \"{file}\" is a placeholder: export dataset `{id}` there with the columns of [source] (or give topic = \"...\" instead of path)"
                        ),
                    );
                }
                if let Some(ms) = dt.take("metrics") {
                    let m = metrics(cx, &ms, classes);
                    if !m.is_empty() {
                        o.set("metrics", m);
                    }
                }
                if let Some(b) = cx.val(&mut dt, "batch_size", Cx::int) {
                    o.set("batch_size", b);
                }
                if let Some(w) = dt.take("dataloader_workers") {
                    cx.untranslated(
                        &w,
                        format!(
                            "{}: Sluice loads evaluation datasets once, in memory",
                            w.show()
                        ),
                    );
                }
                data_code(cx, &mut dt);
                cx.rest(dt);
                names.push(id);
                datasets.push(o);
            }
        }
    }
    if datasets.is_empty() {
        return None;
    }
    o.put("datasets", Out::Blocks(datasets));
    match t.take("handlers") {
        None => {
            cx.note_at(
            t.key("handlers"),
            t.line,
            NoteKind::Approximated,
                "missing (the old Modyn schema had none): Sluice runs its default handlers, trigger_interval, all and serving",
            );
        }
        Some(hs) => {
            let mut handlers = Vec::new();
            let mut used: Vec<String> = Vec::new();
            for (i, h) in cx.list(&hs).unwrap_or_default().into_iter().enumerate() {
                if let Some(ho) = handler(cx, &h, i, &names, &mut used) {
                    handlers.push(ho);
                }
            }
            if !handlers.is_empty() {
                o.put("handlers", Out::Blocks(handlers));
            }
        }
    }
    cx.rest(t);
    Some(o)
}

pub(super) fn handler(
    cx: &mut Cx,
    it: &Item,
    index: usize,
    datasets: &[String],
    used: &mut Vec<String>,
) -> Option<OTable> {
    let mut t = cx.table(it)?;
    let mut o = OTable::default();
    let name = match cx.get(&mut t, "name", Cx::str) {
        Some((_, n)) => n,
        // Modyn's default name.
        None => "Modyn EvalHandler".into(),
    };
    let name = if used.contains(&name) {
        let renamed = format!("{name} {index}");
        cx.approx(
            it,
            format!("Sluice's handler names are distinct: `{name}` became `{renamed}`"),
        );
        renamed
    } else {
        name
    };
    used.push(name.clone());
    o.set("name", name.as_str());
    let execution = match cx.get(&mut t, "execution_time", Cx::str) {
        Some((e_it, e)) => match e.as_str() {
            "after_training" | "after_pipeline" | "manual" => e,
            other => {
                cx.problem(
                    &e_it.path,
                    e_it.line,
                    format!("unknown execution_time `{other}`; expected after_training, after_pipeline or manual"),
                );
                return None;
            }
        },
        None => {
            cx.missing(&t, "execution_time", "it is when the handler runs");
            return None;
        }
    };
    o.set("execution_time", execution.as_str());
    // Modyn's default is `active`, Sluice's `matrix`: always written.
    let models = cx
        .val(&mut t, "models", Cx::str)
        .unwrap_or_else(|| "active".into());
    if !matches!(models.as_str(), "matrix" | "active" | "training") {
        cx.problem(
            &t.key("models"),
            t.line,
            format!("unknown models `{models}`; expected matrix, active or training"),
        );
        return None;
    }
    if execution == "after_training" && models != "matrix" {
        cx.problem(
            &t.key("models"),
            t.line,
            "after_training handlers evaluate the matrix (Modyn rejects this too)",
        );
        return None;
    }
    o.set("models", models.as_str());
    if let Some(ds) = t.take("datasets") {
        let mut list = Vec::new();
        for d in cx.list(&ds).unwrap_or_default() {
            let Some(n) = cx.str(&d) else {
                continue;
            };
            if !datasets.contains(&n) {
                cx.problem(
                    &d.path,
                    d.line,
                    format!(
                        "unknown dataset `{n}`; evaluation.datasets has {}",
                        datasets.join(", ")
                    ),
                );
                return None;
            }
            list.push(n);
        }
        o.set("datasets", list);
    }
    let Some(s) = t.take("strategy") else {
        cx.missing(&t, "strategy", "it gives the intervals");
        return None;
    };
    let so = strategy(cx, &s)?;
    o.put("strategy", Out::Table(so));
    cx.rest(t);
    Some(o)
}

/// A handler's `strategy` → its `[evaluation.handlers.strategy]`: the intervals it evaluates.
fn strategy(cx: &mut Cx, s: &Item) -> Option<OTable> {
    let mut st = cx.table(s)?;
    let kind = cx.need(&mut st, "type", Cx::str, "it picks the strategy")?;
    let mut so = OTable::default();
    match kind.as_str() {
        "SlicingEvalStrategy" => {
            so.set("type", "slicing");
            let every = st.take("eval_every");
            match every {
                Some(e) => so.set("eval_every", span(cx, &e)?),
                None => {
                    cx.missing(&st, "eval_every", "it is the slice length");
                    return None;
                }
            }
            for k in ["eval_start_from", "eval_end_at"] {
                if let Some(v) = cx.val(&mut st, k, Cx::int) {
                    so.set(k, v);
                }
            }
        }
        "PeriodicEvalStrategy" => {
            so.set("type", "periodic");
            match st.take("every") {
                Some(e) => so.set("every", span(cx, &e)?),
                None => {
                    cx.missing(&st, "every", "it is the distance between evaluation points");
                    return None;
                }
            }
            match st.take("interval") {
                Some(iv) => {
                    let text = cx.str(&iv)?;
                    if let Err(e) = crate::config::Window::parse(&text) {
                        cx.problem(&iv.path, iv.line, e);
                        return None;
                    }
                    so.set("interval", text);
                }
                None => {
                    cx.missing(&st, "interval", "it is the window around each point");
                    return None;
                }
            }
            for k in ["start_timestamp", "end_timestamp"] {
                if let Some(v) = cx.val(&mut st, k, Cx::int) {
                    so.set(k, v);
                }
            }
        }
        "BetweenTwoTriggersEvalStrategy" => so.set("type", "between_two_triggers"),
        "OffsetEvalStrategy" => {
            so.set("type", "offset");
            let offsets = match st.take("offsets") {
                Some(l) => cx.list(&l)?,
                None => {
                    cx.missing(&st, "offsets", "they give the intervals");
                    return None;
                }
            };
            let mut out = Vec::new();
            for off in offsets {
                let text = cx.str(&off)?;
                if let Err(e) = crate::config::Offset::parse(&text) {
                    cx.problem(&off.path, off.line, e);
                    return None;
                }
                out.push(text);
            }
            so.set("offsets", out);
        }
        "StaticEvalStrategy" => {
            so.set("type", "static");
            let intervals = match st.take("intervals") {
                Some(l) => cx.list(&l)?,
                None => {
                    cx.missing(&st, "intervals", "they are the intervals");
                    return None;
                }
            };
            let mut out: Vec<toml::Value> = Vec::new();
            for iv in intervals {
                let pair = cx.list(&iv)?;
                let mut v = Vec::new();
                for (j, e) in pair.iter().enumerate() {
                    match &e.value {
                        Value::Null if j == 1 => {}
                        _ => v.push(toml::Value::Integer(cx.int(e)?)),
                    }
                }
                out.push(toml::Value::Array(v));
            }
            so.set("intervals", out);
        }
        other => {
            cx.problem(
                &st.key("type"),
                st.line,
                format!("unknown evaluation strategy `{other}`"),
            );
            return None;
        }
    }
    cx.rest(st);
    Some(so)
}
