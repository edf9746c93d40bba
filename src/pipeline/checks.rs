//! Checks before a run starts, and what it opens first: the source, the evaluation datasets.
//! Errors the user can fix are [`RunError::Usage`]s (exit code 2), named by file and key.

use std::sync::Arc;

use super::error::RunError;
use super::options::Replay;
use crate::config::{Architecture, EvalInput, Normalize, PipelineSpec, TriggerSpec};
use crate::eval::{EvalDataset, Holdout};
use crate::source::kafka::{ValueDecoder, read_topic};
use crate::source::{DeadLetter, FileSource, Source, SourceError};

/// What the config file alone cannot tell: the model must fit the samples' feature count and
/// the training device must exist on this machine. Config errors, reported before anything
/// runs.
pub fn check_model_input(spec: &PipelineSpec, features: usize) -> Result<(), RunError> {
    let file = spec.config_path.display();
    spec.model
        .arch
        .check_input(features)
        .map_err(|(key, message)| RunError::Usage(format!("{file}: model.{key}: {message}")))?;
    let models = std::iter::once(("model".to_string(), &spec.model)).chain(
        spec.variants
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("variant[{i}] ({}).model", v.name), &v.spec.model)),
    );
    for (key, model) in models {
        if let Normalize::Fixed { mean, .. } = &model.normalize {
            let scaled = model.arch.scaled_features(features);
            if mean.len() != scaled {
                return Err(RunError::Usage(format!(
                    "{file}: {key}.normalize: {} statistics given, but the model scales {scaled} features (of {features})",
                    mean.len()
                )));
            }
        }
    }
    if let Architecture::TorchScript(c) = &spec.model.arch {
        let needs = model_methods_needed(spec);
        let methods: Vec<&str> = needs.iter().map(|(m, _)| *m).collect();
        crate::train::models::check_torchscript(
            &c.path,
            features as i64,
            spec.model.num_classes,
            &methods,
        )
        .map_err(|m| {
            let needed = needs
                .iter()
                .find(|(method, _)| m.starts_with(&format!("has no usable `{method}`")))
                .map(|(_, by)| format!(" (needed by {by})"))
                .unwrap_or_default();
            RunError::Usage(format!(
                "{file}: model.path: {}: {m}{needed}",
                c.path.display()
            ))
        })?;
    }
    crate::train::parse_device(&spec.training.device)
        .map_err(|message| RunError::Usage(format!("{file}: training.device: {message}")))?;
    for (i, v) in spec.variants.iter().enumerate() {
        crate::train::parse_device(&v.spec.training.device).map_err(|message| {
            RunError::Usage(format!(
                "{file}: variant[{i}] ({}).training.device: {message}",
                v.name
            ))
        })?;
    }
    if let Some(device) = spec.evaluation.as_ref().and_then(|e| e.device.as_deref()) {
        crate::train::parse_device(device)
            .map_err(|message| RunError::Usage(format!("{file}: evaluation.device: {message}")))?;
    }
    Ok(())
}

/// The methods besides `forward` a TorchScript model needs for this pipeline, each with what
/// needs it: `embed` for drift on embeddings and the downsamplers that choose from embeddings,
/// `classify` too for those that choose from last-layer gradients.
fn model_methods_needed(spec: &PipelineSpec) -> Vec<(&'static str, &'static str)> {
    let mut needs = Vec::new();
    if uses_embeddings(&spec.trigger) {
        needs.push(("embed", "trigger: drift on embeddings"));
    }
    for d in spec.training.downsampling.iter().flat_map(|p| &p.list) {
        if !d.method.needs_rows() {
            continue;
        }
        let by = "selection.downsampling";
        if !needs.iter().any(|(m, _)| *m == "embed") {
            needs.push(("embed", by));
        }
        let gradients = !matches!(
            d.method,
            sluice_dataflows::downsampling::Method::KCenterGreedy { .. }
        );
        if gradients && !needs.iter().any(|(m, _)| *m == "classify") {
            needs.push(("classify", by));
        }
    }
    needs
}

/// Whether a trigger policy (or one it contains) measures drift on model embeddings.
fn uses_embeddings(t: &TriggerSpec) -> bool {
    match t {
        TriggerSpec::Drift { drift, batched } => {
            drift.embeddings
                || batched
                    .warmup
                    .as_ref()
                    .is_some_and(|(_, w)| uses_embeddings(w))
        }
        TriggerSpec::Performance { batched, .. } | TriggerSpec::Cost { batched, .. } => batched
            .warmup
            .as_ref()
            .is_some_and(|(_, w)| uses_embeddings(w)),
        TriggerSpec::Ensemble { subtriggers, .. } => {
            subtriggers.iter().any(|(_, t)| uses_embeddings(t))
        }
        TriggerSpec::Amount { .. } | TriggerSpec::Time { .. } => false,
    }
}

fn usage_if_config(e: SourceError) -> RunError {
    match e {
        SourceError::Config { .. } => RunError::Usage(e.to_string()),
        _ => RunError::Source(e),
    }
}

/// Loads the evaluation datasets of `[evaluation]` (files or topics, decoded like the source);
/// undecodable rows go to `dead`.
pub fn load_eval_datasets(
    spec: &PipelineSpec,
    features: &[String],
    dead: &dyn Fn(DeadLetter),
) -> Result<Vec<EvalDataset>, RunError> {
    let Some(eval) = &spec.evaluation else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, d) in eval.datasets.iter().enumerate() {
        let (names, samples) = match &d.input {
            EvalInput::File { path, format } => {
                let file = FileSource::open(path, *format, &d.columns, &spec.config_path)
                    .map_err(usage_if_config)?;
                let samples = file.read_share(0, 1, &mut |x| dead(x))?;
                (file.feature_names().to_vec(), samples)
            }
            EvalInput::Kafka {
                cluster,
                topic,
                format,
            } => {
                let decoder = ValueDecoder::new(*format, &d.columns);
                let names = decoder.feature_names().to_vec();
                let (samples, bad) =
                    read_topic(cluster, topic, decoder).map_err(|source| RunError::EvalTopic {
                        dataset: d.name.clone(),
                        source,
                    })?;
                bad.into_iter().for_each(dead);
                (names, samples)
            }
        };
        check_eval_features(spec, i, &names, features)?;
        out.push(EvalDataset {
            name: d.name.clone(),
            holdout: Holdout::new(features.len(), samples),
            metrics: d.metrics.clone(),
            batch_size: d.batch_size,
        });
    }
    Ok(out)
}

/// Fails, naming the dataset's key path, when evaluation dataset `i`'s feature columns are not
/// the source's.
fn check_eval_features(
    spec: &PipelineSpec,
    i: usize,
    names: &[String],
    features: &[String],
) -> Result<(), RunError> {
    if names == features {
        return Ok(());
    }
    let d = &spec
        .evaluation
        .as_ref()
        .expect("datasets come from [evaluation]")
        .datasets[i];
    Err(RunError::Usage(format!(
        "{}: evaluation.datasets[{i}] (`{}`): feature columns {names:?} differ from the source's {features:?}",
        spec.config_path.display(),
        d.name
    )))
}

/// Checks the columns of the evaluation datasets in files against the source's `features`
/// (`sluice validate`; topics are checked when a run reads them).
pub fn check_eval_files(spec: &PipelineSpec, features: &[String]) -> Result<(), RunError> {
    for (i, d) in spec.evaluation.iter().flat_map(|e| &e.datasets).enumerate() {
        if let EvalInput::File { path, format } = &d.input {
            let file = FileSource::open(path, *format, &d.columns, &spec.config_path)
                .map_err(usage_if_config)?;
            check_eval_features(spec, i, file.feature_names(), features)?;
        }
    }
    Ok(())
}

/// Opens the source of `spec` (creating its topic if the config says so) and checks the model
/// against its features.
pub(super) fn open_source(spec: &PipelineSpec) -> Result<Arc<dyn Source>, RunError> {
    let source = crate::source::open(spec).map_err(usage_if_config)?;
    check_model_input(spec, source.feature_names().len())?;
    Ok(source)
}

/// Fails (a usage error) when the replay window holds none of the source's data.
pub(super) fn check_replay_window(source: &dyn Source, replay: &Replay) -> Result<(), RunError> {
    if replay.window.is_unbounded() {
        return Ok(());
    }
    match source
        .check_window(&replay.window, replay.follow)
        .map_err(usage_if_config)?
    {
        Some(message) => Err(RunError::Usage(message)),
        None => Ok(()),
    }
}
