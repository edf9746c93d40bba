//! `training` → `[training]`: the trainer's keys, the optimizers (Sluice has one), the loss
//! and the learning-rate schedule.

use super::context::{Cx, ModelInfo, TrainingInfo};
use super::emit::{OTable, Out};
use super::notes::NoteKind;
use super::yaml::{Item, Table, Value};

/// `training` → `[training]`. `main`: for the irreducible-loss model of RHO-Loss, the main
/// training's table (its keys are what the irreducible-loss model inherits). Also returns the
/// old schema's `training.selection_strategy`.
pub(super) fn training(
    cx: &mut Cx,
    mut t: Table,
    model: Option<&ModelInfo>,
    main: Option<&OTable>,
) -> (OTable, TrainingInfo, Option<Item>) {
    let mut o = OTable::default();
    let mut info = TrainingInfo::default();
    let il = main.is_some();
    trainer_keys(cx, &mut t, &mut o, &mut info, il);
    initial_model(cx, &mut t);
    if let Some(it) = t.take("optimization_criterion") {
        criterion(cx, &it, &mut o, model);
    } else if !il {
        cx.missing(
            &t,
            "optimization_criterion",
            "it is Sluice's training.criterion",
        );
    }
    if let Some((it, n)) = cx.get(&mut t, "record_loss_every", Cx::int)
        && n > 0
    {
        o.set("record_loss_every", n);
        cx.approx(
            &it,
            "Sluice records the training loss as a `train_loss` metrics event every this many optimizer steps",
        );
    }
    if let Some(it) = t.take("checkpointing") {
        checkpointing(cx, &it, &mut o);
    }
    runtime_keys(cx, &mut t, &mut o, &info);
    let mut optimizer_names = Vec::new();
    match t.take("optimizers") {
        Some(it) => optimizer_names = optimizers(cx, &it, &mut o, model),
        None if il => {}
        None => cx.missing(&t, "optimizers", "Sluice needs training.optimizer"),
    }
    if let Some(it) = t.take("lr_scheduler")
        && !matches!(it.value, Value::Null)
    {
        lr_scheduler(cx, &it, &mut o, &optimizer_names);
    }
    if let Some(it) = t.take("initial_pass") {
        cx.untranslated(
            &it,
            "an old Modyn schema key (removed from Modyn); Sluice has no initial pass",
        );
    }
    let legacy = t.take("selection_strategy");
    if let Some(main) = main {
        inherit(cx, &t, &mut o, main);
    }
    cx.rest(t);
    (o, info, legacy)
}

/// The trainer's own keys: gpus, device, batch size, epochs, sample cap, shuffling, seed,
/// the previous model, the last batch.
fn trainer_keys(cx: &mut Cx, t: &mut Table, o: &mut OTable, info: &mut TrainingInfo, il: bool) {
    if let Some((it, gpus)) = cx.get(t, "gpus", Cx::int)
        && gpus != 1
    {
        cx.untranslated(
            &it,
            "Sluice trains on one device (training.device), as Modyn does",
        );
    }
    if let Some(d) = cx.val(t, "device", Cx::str) {
        o.set("device", d.as_str());
        info.device = Some(d);
    }
    match t.take("batch_size") {
        Some(it) => {
            if let Some(b) = cx.int(&it) {
                o.set("batch_size", b);
                info.batch_size = Some(b);
            }
        }
        None if !il => cx.missing(t, "batch_size", "Sluice needs training.batch_size"),
        None => {}
    }
    if let Some(e) = cx.val(t, "epochs_per_trigger", Cx::int) {
        o.set("epochs_per_trigger", e);
    }
    if let Some(it) = t.take("num_samples_to_pass")
        && !matches!(it.value, Value::Null)
    {
        num_samples_to_pass(cx, &it, o);
    }
    match cx.get(t, "shuffle", Cx::bool) {
        Some((_, s)) => o.set("shuffle", s),
        None if !il => cx.note_at(
            t.key("shuffle"),
            t.line,
            NoteKind::Approximated,
            "missing (Modyn requires it): Sluice's default, shuffle = true, applies",
        ),
        None => {}
    }
    if let Some(s) = t.take("seed")
        && !matches!(s.value, Value::Null)
        && let Some(v) = cx.int(&s)
    {
        o.set("seed", v);
    }
    match cx.get(t, "use_previous_model", Cx::bool) {
        Some((_, u)) => o.set("use_previous_model", u),
        None if !il => cx.note_at(
            t.key("use_previous_model"),
            t.line,
            NoteKind::Approximated,
            "missing (Modyn requires it): Sluice's default, use_previous_model = true, applies",
        ),
        None => {}
    }
    match cx.get(t, "drop_last_batch", Cx::bool) {
        Some((_, d)) => o.set("drop_last_batch", d),
        // Modyn drops the incomplete last batch by default, Sluice does not (the
        // irreducible-loss model's default is false in both).
        None if !il => o.set("drop_last_batch", true),
        // Modyn's irreducible-loss training keeps the last batch by default.
        None => o.set("drop_last_batch", false),
    }
}

/// `initial_model` and `initial_model_id`: a stored Modyn model is a placeholder for a file.
fn initial_model(cx: &mut Cx, t: &mut Table) {
    let initial = cx.val(t, "initial_model", Cx::str);
    let initial_id = t.take("initial_model_id");
    if initial.as_deref() == Some("pretrained") {
        let id = initial_id.as_ref().map(|i| i.show()).unwrap_or_default();
        let it = initial_id.clone().unwrap_or(Item {
            path: t.key("initial_model"),
            line: t.line,
            value: Value::Null,
        });
        cx.note(
            &it,
            NoteKind::Placeholder,
            format!(
                "Modyn starts from its stored model {id}; Sluice starts from a safetensors file: \
                 export it with Sluice's parameter names and set training.initial_model to its path"
            ),
        );
    } else if let Some(it) = initial_id
        && !matches!(it.value, Value::Null)
    {
        cx.untranslated(&it, "only used with initial_model = pretrained");
    }
}

/// Mixed precision, the gradient scaler, data loading and GPU timing.
fn runtime_keys(cx: &mut Cx, t: &mut Table, o: &mut OTable, info: &TrainingInfo) {
    if let Some((it, amp)) = cx.get(t, "amp", Cx::bool) {
        let cuda = info
            .device
            .as_deref()
            .is_some_and(|d| d.starts_with("cuda"));
        if amp && !cuda {
            cx.untranslated(
                &it,
                "Sluice's mixed precision needs a CUDA training.device; left off",
            );
        } else if amp {
            o.set("amp", true);
        }
    }
    if let Some(it) = t.take("grad_scaler_config")
        && !matches!(it.value, Value::Null)
    {
        cx.untranslated(
            &it,
            format!(
                "{}: Sluice's gradient scaler is fixed (start 65536, halve on overflow, double after 2000 good steps)",
                it.show()
            ),
        );
    }
    for k in [
        "dataloader_workers",
        "num_prefetched_partitions",
        "parallel_prefetch_requests",
    ] {
        if let Some(it) = t.take(k) {
            cx.untranslated(
                &it,
                format!(
                    "{}: Sluice's trainer reads training sets from its in-process sample store; there are no loader workers or partitions to prefetch",
                    it.show()
                ),
            );
        }
    }
    if let Some(it) = t.take("enable_accurate_gpu_measurements") {
        cx.untranslated(
            &it,
            "Sluice measures training time per trigger (models events, training_ms) without extra CUDA synchronisation",
        );
    }
}

/// The irreducible-loss model's `[training]`: what differs from the main training's.
fn inherit(cx: &mut Cx, t: &Table, o: &mut OTable, main: &OTable) {
    // The irreducible-loss model inherits [training]: keep what differs, drop what
    // Sluice fixes for it. It trains from random weights unless use_previous_model = true.
    let previous = o.remove("use_previous_model");
    for (k, _) in main.0.iter() {
        if o.get(k) == main.get(k) {
            o.remove(k);
        }
    }
    for k in [
        "device",
        "checkpoint_every_steps",
        "record_loss_every",
        "num_samples_to_pass",
    ] {
        if o.remove(k).is_some() {
            cx.note_at(
                t.key(k),
                t.line,
                NoteKind::Approximated,
                format!("the irreducible-loss model uses [training]'s {k} (Sluice's rule)"),
            );
        }
    }
    if previous == Some(Out::Value(toml::Value::Boolean(true))) {
        o.set("use_previous_model", true);
    }
}

pub(super) fn num_samples_to_pass(cx: &mut Cx, it: &Item, o: &mut OTable) {
    let Some(list) = cx.list(it) else {
        return;
    };
    let values: Option<Vec<i64>> = list.iter().map(|e| cx.int(e)).collect();
    let Some(values) = values else {
        return;
    };
    match values.first() {
        Some(&first) if values.iter().all(|&v| v == first) && first > 0 => {
            o.set("num_samples_to_pass", first);
            cx.approx(
                it,
                format!(
                    "Modyn caps the first {} trigger(s) at {first} samples each, later ones train \
                     epochs_per_trigger; Sluice caps every trigger at {first}",
                    values.len()
                ),
            );
        }
        _ => cx.untranslated(
            it,
            format!(
                "{}: Sluice has one num_samples_to_pass for every trigger, not one per trigger; \
                 set training.num_samples_to_pass if a single cap fits",
                it.show()
            ),
        ),
    }
}

pub(super) fn checkpointing(cx: &mut Cx, it: &Item, o: &mut OTable) {
    let Some(mut c) = cx.table(it) else {
        return;
    };
    let active = cx.val(&mut c, "activated", Cx::bool).unwrap_or(false);
    let interval = c.take("interval");
    let path = c.take("path");
    if active {
        if let Some(n) = interval.as_ref().and_then(|i| cx.int(i))
            && n > 0
        {
            o.set("checkpoint_every_steps", n);
        }
        if let Some(p) = path {
            cx.approx(
                &p,
                format!(
                    "{}: Sluice writes training checkpoints to <run dir>/training/<model_id>.safetensors (checkpoint_every_steps: optimizer steps, Modyn's batches)",
                    p.show()
                ),
            );
        }
    } else {
        for i in [interval, path].into_iter().flatten() {
            if !matches!(i.value, Value::Null) {
                cx.untranslated(&i, "checkpointing is not activated");
            }
        }
    }
    cx.rest(c);
}

pub(super) fn criterion(cx: &mut Cx, it: &Item, o: &mut OTable, model: Option<&ModelInfo>) {
    let Some(mut c) = cx.table(it) else {
        return;
    };
    let Some((name_it, name)) = cx.get(&mut c, "name", Cx::str) else {
        if !c.has("name") {
            cx.missing(&c, "name", "it is Sluice's training.criterion");
        }
        return;
    };
    let single = model.is_some_and(|m| m.single_logit);
    let mut config = c.take("config").and_then(|i| {
        if matches!(i.value, Value::Null) {
            None
        } else {
            cx.table(&i)
        }
    });
    match name.as_str() {
        "CrossEntropyLoss" => {
            o.set("criterion", "cross_entropy");
            if let Some(cfg) = config.as_mut()
                && let Some(ls) = cx.val(cfg, "label_smoothing", Cx::num)
                && ls > 0.0
            {
                o.set("label_smoothing", ls);
            }
        }
        "BCEWithLogitsLoss" if single => {
            o.set("criterion", "cross_entropy");
            cx.approx(
                &name_it,
                "BCE on one logit became cross-entropy on the two logits of [model] (the same loss for a binary label)",
            );
        }
        "BCEWithLogitsLoss" => {
            o.set("criterion", "bce_with_logits");
            cx.approx(
                &name_it,
                "Sluice's bce_with_logits compares the outputs with one-hot labels of the integer label",
            );
        }
        "MSELoss" => {
            o.set("criterion", "mse");
            cx.approx(
                &name_it,
                "Sluice's mse compares the outputs with one-hot labels of the integer label",
            );
        }
        other => {
            o.set("criterion", "cross_entropy");
            cx.approx(
                &name_it,
                format!(
                    "Sluice has no {other}: cross_entropy was used (Sluice's losses: cross_entropy, bce_with_logits, mse)"
                ),
            );
        }
    }
    if let Some(cfg) = config {
        cx.rest_with(
            cfg,
            "a PyTorch loss argument Sluice does not have; not translated",
        );
    }
    cx.rest(c);
}

/// One Modyn optimizer param group.
struct Group {
    item: Item,
    module: String,
    lr: Option<f64>,
    config: Table,
}

/// `optimizers` → `[training.optimizer]`: Sluice has one optimizer; the first Modyn optimizer's
/// first param group sets it, other groups with another learning rate become `param_groups`.
/// Returns the optimizers' names.
pub(super) fn optimizers(
    cx: &mut Cx,
    it: &Item,
    o: &mut OTable,
    model: Option<&ModelInfo>,
) -> Vec<String> {
    let Some(list) = cx.list(it) else {
        return Vec::new();
    };
    if list.is_empty() {
        cx.problem(&it.path, it.line, "expected at least one optimizer");
        return Vec::new();
    }
    let mut names = Vec::new();
    let mut algorithm = None;
    let mut groups: Vec<Group> = Vec::new();
    for (i, opt) in list.iter().enumerate() {
        read_optimizer(cx, i, opt, &mut names, &mut algorithm, &mut groups);
    }
    let Some(algorithm) = algorithm else {
        return names;
    };
    let Some(mut base) = (!groups.is_empty()).then(|| groups.remove(0)) else {
        return names;
    };
    let opt = o.table("optimizer");
    opt.set("algorithm", algorithm);
    let lr = match base.lr {
        Some(lr) => lr,
        None => {
            cx.approx(
                &base.item,
                "no lr: PyTorch's default for the optimizer, 0.001, was used",
            );
            0.001
        }
    };
    opt.set("lr", lr);
    let arch = model.map(|m| m.arch).unwrap_or("");
    let own = own_settings(cx, &mut base.config, algorithm);
    for (k, v) in own.0 {
        opt.put(&k, v);
    }
    cx.rest_with(
        base.config,
        "a PyTorch optimizer argument Sluice does not have; not translated",
    );
    if base.module != "model" && !groups.is_empty() {
        cx.approx(
            &base.item,
            format!(
                "Sluice's optimizer trains every parameter at lr {lr} unless a param group says otherwise; Modyn trains only the listed modules"
            ),
        );
    }
    let param_groups = group_lrs(cx, groups, lr, arch);
    if !param_groups.is_empty() {
        opt.put("param_groups", Out::Inline(param_groups));
    }
    names
}

/// Optimizer `i` of the Modyn list: its name, its algorithm (the first one's is Sluice's)
/// and its param groups.
fn read_optimizer(
    cx: &mut Cx,
    i: usize,
    opt: &Item,
    names: &mut Vec<String>,
    algorithm: &mut Option<&'static str>,
    groups: &mut Vec<Group>,
) {
    let Some(mut t) = cx.table(opt) else {
        return;
    };
    if let Some(n) = cx.val(&mut t, "name", Cx::str) {
        names.push(n);
    }
    let alg = match t.take("algorithm") {
        None => {
            cx.missing(&t, "algorithm", "it is Sluice's optimizer.algorithm");
            None
        }
        Some(a) => cx.str(&a).map(|s| (a, s)),
    };
    let source = cx.get(&mut t, "source", Cx::str);
    let mut fused = false;
    if let Some((a, alg)) = alg {
        let sluice = match alg.as_str() {
            "SGD" | "FusedSGD" => "sgd",
            "Adam" | "FusedAdam" => "adam",
            "AdamW" => "adamw",
            _ => "",
        };
        fused = alg.starts_with("Fused");
        if i == 0 {
            if sluice.is_empty() {
                cx.approx(
                    &a,
                    format!(
                        "Sluice has no {alg}: sgd was used (Sluice's optimizers: sgd, adam, adamw)"
                    ),
                );
                *algorithm = Some("sgd");
            } else {
                *algorithm = Some(sluice);
                if fused {
                    cx.approx(&a, format!("APEX's {alg} became libtorch's {sluice}"));
                }
            }
        } else {
            let first = algorithm.unwrap_or("sgd");
            let how = if sluice == first {
                String::new()
            } else {
                format!(", with its algorithm ({first}) instead of {alg}")
            };
            cx.approx(
                opt,
                format!("Sluice has one optimizer: this optimizer's param groups join the first one's{how}"),
            );
        }
    }
    if let Some((s, source)) = source
        && source == "APEX"
        && !fused
    {
        cx.approx(&s, "Sluice's optimizers are libtorch's");
    }
    read_groups(cx, &mut t, groups);
    cx.rest(t);
}

/// An optimizer's `param_groups`: each group's module, lr and the rest of its config.
fn read_groups(cx: &mut Cx, t: &mut Table, groups: &mut Vec<Group>) {
    match t.take("param_groups") {
        None => cx.missing(t, "param_groups", "the learning rate is in a param group"),
        Some(pg) => {
            for g in cx.list(&pg).unwrap_or_default() {
                let Some(mut gt) = cx.table(&g) else {
                    continue;
                };
                let module = cx
                    .val(&mut gt, "module", Cx::str)
                    .unwrap_or_else(|| "model".into());
                let mut config = match gt.take("config") {
                    Some(c) => cx.table(&c),
                    None => None,
                }
                .unwrap_or_else(|| Table::new(&gt.key("config"), g.line));
                let lr = cx.val(&mut config, "lr", Cx::num);
                cx.rest(gt);
                groups.push(Group {
                    item: g,
                    module,
                    lr,
                    config,
                });
            }
        }
    }
}

/// The base param group's optimizer settings Sluice has (momentum, nesterov, weight decay,
/// eps, betas), checked against the algorithm.
fn own_settings(cx: &mut Cx, config: &mut Table, algorithm: &str) -> OTable {
    let mut own = OTable::default();
    for (key, sluice, sgd_only) in [
        ("momentum", "momentum", true),
        ("nesterov", "nesterov", true),
        ("weight_decay", "weight_decay", false),
        ("eps", "eps", false),
    ] {
        let Some(it) = config.take(key) else {
            continue;
        };
        if sgd_only && algorithm != "sgd" {
            cx.untranslated(&it, format!("{key} applies to sgd only in Sluice"));
            continue;
        }
        if !sgd_only && key == "eps" && algorithm == "sgd" {
            cx.untranslated(&it, "eps applies to adam and adamw only");
            continue;
        }
        let v = match &it.value {
            Value::Bool(b) => toml::Value::Boolean(*b),
            _ => match cx.num(&it) {
                Some(n) => toml::Value::Float(n),
                None => continue,
            },
        };
        if key == "momentum" && matches!(v, toml::Value::Float(m) if m == 0.0) {
            continue;
        }
        if key == "nesterov" && v == toml::Value::Boolean(false) {
            continue;
        }
        own.put(sluice, Out::Value(v));
    }
    if let Some(it) = config.take("betas") {
        let betas: Option<Vec<f64>> = cx
            .list(&it)
            .and_then(|l| l.iter().map(|b| cx.num(b)).collect());
        match betas {
            Some(b) if b.len() == 2 && algorithm != "sgd" => own.set("betas", b),
            _ => cx.untranslated(&it, "betas: two numbers, for adam and adamw only"),
        }
    }
    own
}

/// The other param groups: a group with its own lr becomes `param_groups` entries, one per
/// Sluice parameter prefix of its module; the rest of its config is noted.
fn group_lrs(cx: &mut Cx, groups: Vec<Group>, lr: f64, arch: &str) -> Vec<OTable> {
    let mut param_groups = Vec::new();
    for mut g in groups {
        let glr = g.lr.unwrap_or(lr);
        let prefixes = prefixes(&g.module, arch);
        if glr != lr {
            if prefixes.is_empty() {
                cx.untranslated(
                    &g.item,
                    format!(
                        "module `{}` is the whole model: Sluice's optimizer.lr ({lr}) applies",
                        g.module
                    ),
                );
            } else {
                for p in &prefixes {
                    let mut t = OTable::default();
                    t.set("prefix", p.as_str());
                    t.set("lr", glr);
                    param_groups.push(t);
                }
                cx.approx(
                    &g.item,
                    format!(
                        "module `{}` became param_groups prefix {}: check it against the parameter names in docs/models.md",
                        g.module,
                        prefixes
                            .iter()
                            .map(|p| format!("\"{p}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        for it in std::mem::replace(&mut g.config, Table::empty()).rest() {
            cx.untranslated(
                &it,
                format!(
                    "{}: Sluice's param groups set only lr; the optimizer's own settings apply",
                    it.show()
                ),
            );
        }
    }
    param_groups
}

/// Sluice parameter-name prefixes for a Modyn module path (`model.top_model`): the path
/// without `model.`, with DLRM's module names mapped to Sluice's (`top_l.`, `bot_l.`,
/// `emb_l.`). Empty for the whole model.
pub(super) fn prefixes(module: &str, arch: &str) -> Vec<String> {
    let rest = module
        .strip_prefix("model")
        .map(|r| r.trim_start_matches('.'))
        .unwrap_or(module);
    if rest.is_empty() {
        return Vec::new();
    }
    if arch == "dlrm" {
        let mapped: &[&str] = match rest {
            "top_model" => &["top_l."],
            "bottom_model" => &["bot_l.", "emb_l."],
            "bottom_model.mlp" => &["bot_l."],
            "bottom_model.embeddings" => &["emb_l."],
            _ => &[],
        };
        if !mapped.is_empty() {
            return mapped.iter().map(|s| s.to_string()).collect();
        }
    }
    vec![format!("{rest}.")]
}

pub(super) fn lr_scheduler(cx: &mut Cx, it: &Item, o: &mut OTable, optimizers: &[String]) {
    let Some(mut t) = cx.table(it) else {
        return;
    };
    let name = cx.get(&mut t, "name", Cx::str);
    let source = cx.val(&mut t, "source", Cx::str).unwrap_or_default();
    let step_every = cx.val(&mut t, "step_every", Cx::str);
    if let Some(opts) = t.take("optimizers") {
        let listed: Vec<String> = cx
            .list(&opts)
            .unwrap_or_default()
            .iter()
            .filter_map(|e| cx.str(e))
            .collect();
        if let Some(first) = optimizers.first()
            && !listed.contains(first)
        {
            cx.approx(
                &opts,
                "Sluice's schedule scales every parameter group of its one optimizer",
            );
        }
    }
    let mut config = match t.take("config") {
        Some(c) if !matches!(c.value, Value::Null) => cx.table(&c),
        _ => None,
    }
    .unwrap_or_else(Table::empty);
    let Some((name_it, name)) = name else {
        cx.missing(&t, "name", "it picks Sluice's lr_scheduler.kind");
        return;
    };
    let s = o.table("lr_scheduler");
    let batch = step_every.as_deref() != Some("epoch");
    match (source.as_str(), name.as_str()) {
        ("PyTorch", "StepLR") => {
            s.set("kind", "step");
            s.set("step_every", if batch { "batch" } else { "epoch" });
            if let Some(n) = cx.val(&mut config, "step_size", Cx::int) {
                s.set("step_size", n);
            }
            if let Some(g) = cx.val(&mut config, "gamma", Cx::num) {
                s.set("gamma", g);
            }
        }
        ("PyTorch", "CosineAnnealingLR") => {
            s.set("kind", "cosine");
            s.set("step_every", if batch { "batch" } else { "epoch" });
            if let Some(tm) = config.take("T_max") {
                match &tm.value {
                    Value::Int(n) => s.set("t_max", *n),
                    Value::Str(v)
                        if (v == "MODYN_NUM_BATCHES" && batch)
                            || (v == "MODYN_NUM_EPOCHS" && !batch) => {}
                    _ => cx.approx(
                        &tm,
                        format!(
                            "{}: Sluice's t_max defaults to the trigger's total steps, which was used",
                            tm.show()
                        ),
                    ),
                }
            }
            if let Some(m) = cx.val(&mut config, "eta_min", Cx::num) {
                s.set("min_lr", m);
            }
        }
        ("Custom", "DLRMScheduler") => {
            s.set("kind", "constant");
            s.set("step_every", if batch { "batch" } else { "epoch" });
            if let Some(w) = cx.val(&mut config, "warmup_steps", Cx::int) {
                s.set("warmup_steps", w);
            }
            if let Some(it) = config.take("base_lrs") {
                cx.approx(
                    &it,
                    "the base rates are the optimizer's lr and param_groups",
                );
            }
            if let Some(it) = config.take("warmup_factor")
                && !matches!(it.value, Value::Int(0))
                && !matches!(it.value, Value::Float(f) if f == 0.0)
            {
                cx.untranslated(&it, "Sluice's warm-up starts from 0");
            }
            cx.approx(
                &name_it,
                "DLRMScheduler (linear warm-up, constant, then polynomial decay) became a constant \
                 schedule with the same warm-up; Sluice has no polynomial decay (use kind = \
                 \"cosine\" or \"step\" for a decay)",
            );
        }
        _ => {
            s.set("kind", "constant");
            cx.untranslated(
                &name_it,
                format!(
                    "Sluice has no {source} {name} scheduler: a constant rate is used (Sluice's kinds: constant, step, cosine, with a linear warm-up)"
                ),
            );
        }
    }
    cx.rest_with(
        config,
        "a scheduler argument Sluice does not have; not translated",
    );
    cx.rest(t);
}
