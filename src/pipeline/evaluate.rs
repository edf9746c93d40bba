//! `sluice evaluate <run-dir>`: re-runs evaluation from a run's model store, without training.
//!
//! The run directory names its config (`run.json`) and its models (`models.jsonl`, metadata and
//! weights under `models/`). `--config FILE` replaces the run's `[evaluation]` with the one in
//! FILE (other sections there are ignored; its paths are relative to FILE). Every handler runs:
//! `after_training` ones model by model in trigger order, then `after_pipeline` and `manual`
//! ones over all models. Events go to `<out>/evaluations.jsonl` (and `metrics.jsonl`), the
//! report to `<out>/summary.json`; `<out>` defaults to `<run-dir>/evaluate`.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use super::checks::load_eval_datasets;
use super::error::RunError;
use crate::config::ConfigErrors;
use crate::eval::{EvalReport, EvalSetup, Execution, Session};
use crate::sink::EventSink;
use crate::store::ModelStore;
use crate::train::TrainedModel;

/// What a run directory says about its run (`run.json`, written when the run starts).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    /// Pipeline name.
    pub pipeline: String,
    /// The config file the run was started with (absolute); its copy is `config.toml`.
    pub config_path: PathBuf,
    /// Sluice version.
    pub sluice_version: String,
    /// Wall-clock start, Unix ms.
    pub started_ms: u64,
    /// The variant of a sweep this directory holds (`variants/<name>`; `None`: a run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The git commit Sluice was built from.
    #[serde(default)]
    pub git_revision: String,
    /// How the source was read: event-time window, trigger limit, following or replaying.
    #[serde(default)]
    pub replay: super::options::Replay,
    /// What the run read of its source, over every start of it (a resumed run adds to it);
    /// written when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<super::progress::Covered>,
}

/// File name of [`RunInfo`] in a run directory.
pub const RUN_INFO: &str = "run.json";

/// What `sluice evaluate` did.
#[derive(Clone, Debug, Serialize)]
pub struct EvaluateSummary {
    /// Pipeline name.
    pub pipeline: String,
    /// Models evaluated.
    pub models: usize,
    /// Where events and the report went.
    pub out: PathBuf,
    /// Dataset rows that could not be decoded (skipped).
    pub dead_letters: usize,
    /// Evaluation report.
    pub evaluation: EvalReport,
}

fn missing(run_dir: &Path, file: &str, e: impl std::fmt::Display) -> RunError {
    RunError::Usage(format!(
        "{}: cannot read {file}: {e} (is this a Sluice run directory?)",
        run_dir.display()
    ))
}

/// Re-evaluates the models of `run_dir`.
pub fn evaluate(
    run_dir: &Path,
    config: Option<&Path>,
    out: Option<PathBuf>,
    progress: bool,
) -> Result<EvaluateSummary, RunError> {
    let info: RunInfo = {
        let text = std::fs::read_to_string(run_dir.join(RUN_INFO))
            .map_err(|e| missing(run_dir, RUN_INFO, e))?;
        serde_json::from_str(&text).map_err(|e| missing(run_dir, RUN_INFO, e))?
    };
    let text = std::fs::read_to_string(run_dir.join("config.toml"))
        .map_err(|e| missing(run_dir, "config.toml", e))?;
    let text = match config {
        Some(path) => with_evaluation_of(&text, path)?,
        None => text,
    };
    let spec = crate::config::parse(&text, &info.config_path).map_err(|e| match config {
        Some(path) => blame_evaluation(e, path),
        None => e,
    })?;
    if let Some(v) = spec.variants.first() {
        return Err(RunError::Usage(format!(
            "{}: holds a sweep; evaluate each variant's directory, e.g. {}",
            run_dir.display(),
            run_dir.join("variants").join(&v.name).display()
        )));
    }
    let Some(eval) = &spec.evaluation else {
        return Err(RunError::Usage(format!(
            "{}: the run's config has no [evaluation]; give one with --config",
            run_dir.display()
        )));
    };

    let store = ModelStore::create(&run_dir.join("models"), spec.model_storage.clone())?;
    let models = trained_models(run_dir, &store)?;
    let features = match models.first() {
        Some(m) => {
            store
                .metadata(&m.id)
                .map_err(|e| missing(run_dir, &format!("models/{}.json", m.id), e))?
                .feature_names
        }
        None => Vec::new(),
    };
    let dead = std::cell::Cell::new(0usize);
    let datasets = load_eval_datasets(&spec, &features, &|d| {
        tracing::warn!(location = %d.location, reason = %d.reason, "evaluation row skipped");
        dead.set(dead.get() + 1);
    })?;
    let out = out.unwrap_or_else(|| run_dir.join("evaluate"));
    std::fs::create_dir_all(&out).map_err(RunError::io(format!("creating {}", out.display())))?;
    let events = std::sync::Arc::new(EventSink::create(&out, &spec.name, None, None, None)?);
    let device = eval.device.as_deref().unwrap_or(&spec.training.device);
    let mut session = Session::new(EvalSetup {
        model: spec.model.clone(),
        input_dim: features.len(),
        device: crate::train::parse_device(device).map_err(RunError::Usage)?,
        datasets,
        handlers: eval.handlers.clone(),
        store,
        scratch: out.clone(),
        events,
    })?;
    let bar = if progress {
        ProgressBar::new(models.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} models")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("{}: after-training handlers", spec.name));
    let n = models.len();
    for m in models {
        session.model_trained(m)?;
        bar.inc(1);
    }
    bar.set_message(format!("{}: after-pipeline and manual handlers", spec.name));
    let evaluation = session.finish(&[Execution::AfterPipeline, Execution::Manual])?;
    bar.finish_and_clear();
    let summary = EvaluateSummary {
        pipeline: spec.name.clone(),
        models: n,
        out: out.clone(),
        dead_letters: dead.get(),
        evaluation,
    };
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_vec_pretty(&summary).expect("summary serialises"),
    )?;
    Ok(summary)
}

/// The run's models in trigger order, from `models.jsonl` and their metadata in `store`.
pub fn trained_models(run_dir: &Path, store: &ModelStore) -> Result<Vec<TrainedModel>, RunError> {
    let text = std::fs::read_to_string(run_dir.join("models.jsonl"))
        .map_err(|e| missing(run_dir, "models.jsonl", e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |why: String| {
            RunError::Usage(format!(
                "{}:{}: {why}",
                run_dir.join("models.jsonl").display(),
                i + 1
            ))
        };
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let (Some(id), Some(trigger)) = (v["model_id"].as_str(), v["trigger_id"].as_u64()) else {
            return Err(bad(
                "expected a model event with model_id and trigger_id".into()
            ));
        };
        let meta = store
            .metadata(id)
            .map_err(|e| missing(run_dir, &format!("models/{id}.json"), e))?;
        out.push(TrainedModel {
            id: id.to_string(),
            trigger,
            first: meta.first.time,
            last: meta.boundary.time,
        });
    }
    out.sort_by_key(|m| m.trigger);
    Ok(out)
}

/// The run's config text with its `[evaluation]` replaced by the one in `path` (paths in it
/// made absolute, relative to `path`).
fn with_evaluation_of(run_config: &str, path: &Path) -> Result<String, RunError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RunError::Usage(format!("{}: cannot read: {e}", path.display())))?;
    let bad = |e: &dyn std::fmt::Display| RunError::Usage(format!("{}: {e}", path.display()));
    let mut given: Table = text.parse().map_err(|e| bad(&e))?;
    let Some(mut evaluation) = given.remove("evaluation") else {
        return Err(bad(&"no [evaluation] section"));
    };
    // Absolute, not just joined: the joined config is parsed relative to the run's config
    // file, so a relative `--config cfg/eval.toml` resolved `cfg/x.csv` a second time.
    let base = std::path::absolute(path.parent().unwrap_or(Path::new("."))).map_err(|e| bad(&e))?;
    let absolute = |t: &mut Value| {
        if let Some(Value::String(p)) = t.get_mut("path") {
            *p = base.join(&*p).display().to_string();
        }
    };
    absolute(&mut evaluation);
    if let Some(Value::Array(list)) = evaluation.get_mut("datasets") {
        list.iter_mut().for_each(absolute);
    }
    let mut config: Table = run_config
        .parse()
        .map_err(|e| RunError::Failed(format!("the run's config.toml: {e}")))?;
    config.insert("evaluation".into(), evaluation);
    toml::to_string(&config).map_err(|e| RunError::Failed(e.to_string()))
}

/// Errors of a run's config joined with `--config`'s `[evaluation]`: those in `evaluation.*`
/// come from the `--config` file and name it (the run's own config ran as it is).
fn blame_evaluation(mut e: ConfigErrors, path: &Path) -> ConfigErrors {
    let from_evaluation = |k: &str| k == "evaluation" || k.starts_with("evaluation.");
    if e.errors.iter().any(|x| from_evaluation(&x.key)) {
        e.errors.retain(|x| from_evaluation(&x.key));
        e.file = path.to_path_buf();
    }
    e
}

/// Writes `info` to `run_dir`'s `run.json`.
pub(super) fn write_run_info(run_dir: &Path, info: &RunInfo) -> Result<(), RunError> {
    let path = run_dir.join(RUN_INFO);
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(info).expect("run info serialises"),
    )
    .map_err(RunError::io(format!("writing {}", path.display())))
}
