//! `model` → `[model]` (the model zoo's nearest architectures) and `model_storage` →
//! `[model_storage]`.

use super::context::{Cx, ModelInfo};
use super::emit::{OTable, Out};
use super::yaml::{Item, Table, Value};

/// `model` → `[model]` (also the irreducible-loss model of RHO-Loss). `config_key` names the
/// config's path for notes when it is absent.
pub(super) fn model(
    cx: &mut Cx,
    id_item: &Item,
    config: Option<Item>,
    config_key: &str,
) -> Option<(OTable, ModelInfo)> {
    let id = cx.str(id_item)?;
    let mut c = match &config {
        Some(it) => cx.table(it)?,
        None => Table::new(config_key, id_item.line),
    };
    let mut m = OTable::default();

    let info = match id.as_str() {
        "ResNet18" | "ResNet50" | "ResNet152" | "FmowNet" => resnet(cx, id_item, &id, c, &mut m)?,
        "YearbookNet" | "SmallYearbookNet" => {
            let n = num_classes(cx, id_item, &mut c, None)?;
            let width = if id == "YearbookNet" { 32 } else { 16 };
            let blocks = if id == "YearbookNet" { 4 } else { 3 };
            let channels = match c.take("num_input_channels") {
                Some(it) => cx.int(&it)?,
                None => {
                    cx.missing(&c, "num_input_channels", "it is the image's channel count");
                    return None;
                }
            };
            m.set("id", "cnn");
            m.set("num_classes", n);
            m.set("input_shape", vec![channels, 32, 32]);
            m.set("channels", vec![width; blocks]);
            m.set("hidden", width);
            cx.approx(
                id_item,
                format!(
                    "{id} ({blocks} blocks of Conv3x3 + BatchNorm + ReLU + MaxPool with {width} channels, \
                     global mean pooling, a linear head) became Sluice's cnn with {blocks} blocks of \
                     {width} channels (no batch norm), then Linear({width}) + ReLU + Linear. \
                     input_shape = [{channels}, 32, 32] assumes Yearbook's 32x32 images"
                ),
            );
            cx.rest(c);
            ModelInfo {
                arch: "cnn",
                num_classes: n,
                single_logit: false,
            }
        }
        "ArticleNet" => {
            let n = num_classes(cx, id_item, &mut c, None)?;
            m.set("id", "text");
            m.set("num_classes", n);
            m.set("vocab_size", 30522);
            cx.approx(
                id_item,
                "ArticleNet is DistilBERT (pretrained) with a linear head; Sluice's nearest model \
                 is `text` (mean of token embeddings, then a linear head), with vocab_size = 30522 \
                 (DistilBERT's vocabulary): the features must be token ids",
            );
            cx.rest(c);
            ModelInfo {
                arch: "text",
                num_classes: n,
                single_logit: false,
            }
        }
        "DLRM" => dlrm(cx, id_item, c, &mut m)?,
        other => {
            let n = match c.take("num_classes") {
                Some(it) => cx.int(&it)?.max(2),
                None => 2,
            };
            m.set("id", "mlp");
            m.set("num_classes", n);
            if other == "Dummy" {
                m.set("hidden", Vec::<i64>::new());
                cx.approx(
                    id_item,
                    "Modyn's test model Linear(2, 2) became an mlp without hidden layers",
                );
            } else {
                cx.approx(
                    id_item,
                    format!(
                        "unknown Modyn model `{other}`: replaced by Sluice's mlp (hidden = [64]) with num_classes = {n}; \
                         pick one of mlp, cnn, resnet18, dlrm, text (docs/models.md)"
                    ),
                );
            }
            cx.rest(c);
            ModelInfo {
                arch: "mlp",
                num_classes: n,
                single_logit: false,
            }
        }
    };
    Some((m, info))
}

/// `num_classes` of a model config (at least 2); `default` (torchvision's) when missing, or a
/// problem when there is none.
fn num_classes(cx: &mut Cx, id_item: &Item, c: &mut Table, default: Option<i64>) -> Option<i64> {
    match c.take("num_classes") {
        Some(it) => {
            let n = cx.int(&it)?;
            if n < 2 {
                cx.problem(
                    &it.path,
                    it.line,
                    "expected at least 2 classes (Sluice classifies into num_classes >= 2)",
                );
                return None;
            }
            Some(n)
        }
        None => match default {
            Some(d) => {
                cx.approx(
                    id_item,
                    format!(
                        "{} has no num_classes: {d}, torchvision's default, was used",
                        c.key("num_classes")
                    ),
                );
                Some(d)
            }
            None => {
                cx.missing(c, "num_classes", "Sluice's model needs its output width");
                None
            }
        },
    }
}

/// The ResNets and FmowNet → Sluice's resnet18 (CIFAR stem).
fn resnet(
    cx: &mut Cx,
    id_item: &Item,
    id: &str,
    mut c: Table,
    m: &mut OTable,
) -> Option<ModelInfo> {
    let n = num_classes(cx, id_item, &mut c, (id != "FmowNet").then_some(1000))?;
    m.set("id", "resnet18");
    m.set("num_classes", n);
    m.set("input_shape", vec![3, 32, 32]);
    let what = match id {
        "ResNet18" => "torchvision's ResNet-18 with the ImageNet stem (7x7 convolution, max-pool); Sluice's resnet18 has the CIFAR stem (3x3, no max-pool)".to_string(),
        "FmowNet" => "a DenseNet-121 (ImageNet-pretrained) with a linear head; Sluice's nearest model is resnet18".to_string(),
        other => format!("Sluice has no {other}; the nearest model is resnet18 (CIFAR stem, 4 stages of 2 blocks)"),
    };
    cx.approx(
        id_item,
        format!(
            "{id} is {what}. input_shape = [3, 32, 32] is assumed: set it to the [C, H, W] of your images' features"
        ),
    );
    if let Some((it, pre)) = cx.get(&mut c, "use_pretrained", Cx::bool)
        && pre
    {
        cx.untranslated(
            &it,
            "Sluice downloads no pretrained weights: start from a safetensors file \
                 with Sluice's parameter names (docs/models.md) via training.initial_model",
        );
    }
    cx.rest_with(c, "a torchvision argument; not translated");
    Some(ModelInfo {
        arch: "resnet18",
        num_classes: n,
        single_logit: false,
    })
}

pub(super) fn dlrm(cx: &mut Cx, id_item: &Item, mut c: Table, m: &mut OTable) -> Option<ModelInfo> {
    let dense = cx.need(
        &mut c,
        "num_numerical_features",
        Cx::int,
        "it is dlrm's dense_features",
    );
    let dim = cx.need(
        &mut c,
        "embedding_dim",
        Cx::int,
        "it is dlrm's embedding_dim",
    );
    let sizes: Option<Vec<i64>> = match c.take("categorical_features_info") {
        None => {
            cx.missing(
                &c,
                "categorical_features_info",
                "its sizes are dlrm's embedding_sizes",
            );
            None
        }
        Some(it) => match cx.table(&it) {
            None => None,
            Some(t) => {
                let mut sizes = Vec::new();
                for e in t.rest() {
                    sizes.push(cx.int(&e)?);
                }
                Some(sizes)
            }
        },
    };
    let int_list = |cx: &mut Cx, it: &Item| -> Option<Vec<i64>> {
        cx.list(it)?.iter().map(|e| cx.int(e)).collect()
    };
    let bottom = cx.need(
        &mut c,
        "bottom_mlp_sizes",
        int_list,
        "it is dlrm's bottom_mlp",
    );
    let top = cx.need(&mut c, "top_mlp_sizes", int_list, "it is dlrm's top_mlp");
    let mut sizes = sizes?;
    if let Some((it, max)) = cx.get(&mut c, "max_table_size", Cx::int) {
        for s in &mut sizes {
            *s = (*s).min(max);
        }
        cx.approx(
            &it,
            format!("applied: every embedding size is at most {max}"),
        );
    }
    let (dense, dim, bottom, mut top) = (dense?, dim?, bottom?, top?);
    if bottom.last() != Some(&dim) {
        cx.problem(
            &c.key("bottom_mlp_sizes"),
            c.line,
            format!("its last width must equal embedding_dim ({dim}) for the dot interactions"),
        );
        return None;
    }
    let outputs = top.pop().unwrap_or(1);
    let (num_classes, single_logit) = if outputs <= 1 {
        (2, true)
    } else {
        (outputs, false)
    };
    m.set("id", "dlrm");
    m.set("num_classes", num_classes);
    m.set("dense_features", dense);
    m.set("embedding_sizes", sizes);
    m.set("embedding_dim", dim);
    m.set("bottom_mlp", bottom);
    m.set("top_mlp", top);
    if single_logit {
        cx.approx(
            id_item,
            "Modyn's DLRM ends in one click logit (top_mlp_sizes' last 1); Sluice's dlrm ends in \
             num_classes = 2 logits (softmax over click / no click, the same model family); \
             labels must be 0 or 1",
        );
    }
    for k in ["interaction_op", "embedding_type", "use_cpp_mlp"] {
        if let Some(it) = c.take(k) {
            cx.untranslated(
                &it,
                format!(
                    "{}: a CUDA/APEX implementation choice of NVIDIA's DLRM; Sluice's dlrm uses \
                     libtorch's dot interactions and embedding tables on any device",
                    it.show()
                ),
            );
        }
    }
    if let Some((it, hash)) = cx.get(&mut c, "hash_indices", Cx::bool)
        && !hash
    {
        cx.approx(
            &it,
            "Sluice's dlrm always takes ids modulo their table's size (ids within the table are unchanged)",
        );
    }
    cx.rest(c);
    Some(ModelInfo {
        arch: "dlrm",
        num_classes,
        single_logit,
    })
}

/// `model_storage` → `[model_storage]`.
pub(super) fn model_storage(cx: &mut Cx, root: &mut Table, out: &mut OTable) {
    let Some(it) = root.take("model_storage") else {
        return;
    };
    let Some(mut t) = cx.table(&it) else {
        return;
    };
    let mut o = OTable::default();
    let mut zip = false;
    let mut zip_items = Vec::new();
    if let Some(f) = t.take("full_model_strategy")
        && let Some(mut ft) = cx.table(&f)
    {
        if let Some((n, name)) = cx.get(&mut ft, "name", Cx::str)
            && name != "PyTorchFullModel"
        {
            cx.approx(
                &n,
                format!("{name}: Sluice stores full models as safetensors files"),
            );
        }
        if let Some((z, on)) = cx.get(&mut ft, "zip", Cx::bool) {
            zip |= on;
            zip_items.push(z);
        }
        if let Some(z) = ft.take("zip_algorithm") {
            zip_items.push(z);
        }
        if let Some(c) = ft.take("config")
            && !matches!(&c.value, Value::Map(m) if m.is_empty())
        {
            cx.untranslated(&c, format!("{}: not translated", c.show()));
        }
        cx.rest(ft);
    }
    if let Some(inc) = t.take("incremental_model_strategy")
        && !matches!(inc.value, Value::Null)
        && let Some(mut it) = cx.table(&inc)
    {
        if let Some((n, name)) = cx.get(&mut it, "name", Cx::str) {
            if name == "WeightsDifference" {
                o.set("incremental", true);
            } else {
                cx.untranslated(
                    &n,
                    format!("unknown strategy {name}; Sluice's incremental storage is WeightsDifference's"),
                );
            }
        }
        if let Some(c) = it.take("config")
            && let Some(mut ct) = cx.table(&c)
        {
            if let Some((op_it, op)) = cx.get(&mut ct, "operator", Cx::str) {
                match op.as_str() {
                    "xor" | "sub" => o.set("operator", op.as_str()),
                    _ => cx.untranslated(&op_it, "Sluice's operators are xor and sub; xor is used"),
                }
            }
            cx.rest(ct);
        }
        if let Some(fi) = it.take("full_model_interval")
            && !matches!(fi.value, Value::Null)
            && let Some(n) = cx.int(&fi)
        {
            o.set("full_model_interval", n);
        }
        if let Some((z, on)) = cx.get(&mut it, "zip", Cx::bool) {
            zip |= on;
            zip_items.push(z);
        }
        if let Some(z) = it.take("zip_algorithm") {
            zip_items.push(z);
        }
        cx.rest(it);
    }
    if zip {
        o.set("zstd_level", 3);
    }
    for z in zip_items {
        if z.path.ends_with("zip_algorithm") {
            if zip {
                cx.approx(
                    &z,
                    format!("{}: Sluice compresses with zstd (level 3)", z.show()),
                );
            }
        } else if matches!(z.value, Value::Bool(true)) {
            cx.approx(
                &z,
                "zip compresses every weights file in Sluice (zstd_level = 3), full and delta alike",
            );
        }
    }
    cx.rest(t);
    if !o.0.is_empty() {
        out.put("model_storage", Out::Table(o));
    }
}
