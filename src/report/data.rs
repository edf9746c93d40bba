//! A run directory read back for reports: summary, triggers, models, per-trigger costs and
//! evaluations. A missing or unreadable file is an error that names it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ReportError;

/// The cost stages, in stacking order: (metric name, label).
pub const STAGES: [(&str, &str); 6] = [
    ("ingest_ms", "ingest"),
    ("trigger_policy_ms", "trigger policy"),
    ("selection_ms", "selection"),
    ("training_ms", "training"),
    ("model_store_ms", "model store"),
    ("evaluation_ms", "evaluation"),
];

/// A trigger.
#[derive(Clone, Debug)]
pub struct TriggerRow {
    /// Trigger id.
    pub id: u64,
    /// Event time of its first sample, ms.
    pub first: u64,
    /// Event time of its last sample, ms.
    pub last: u64,
    /// Samples in its epoch.
    pub samples: u64,
    /// Why it fired.
    pub reason: String,
    /// The numbers behind the decision (`details`; null when the policy gives none).
    pub details: Value,
}

/// An evaluation event.
#[derive(Clone, Debug)]
pub struct EvalRow {
    /// Handler.
    pub handler: String,
    /// Dataset.
    pub dataset: String,
    /// The model's trigger.
    pub trigger: u64,
    /// Interval start, ms.
    pub start: u64,
    /// Interval end (exclusive), ms.
    pub end: Option<u64>,
    /// Metric.
    pub metric: String,
    /// Value.
    pub value: f64,
    /// Currently-active flag.
    pub active: Option<bool>,
    /// Currently-trained flag.
    pub trained: Option<bool>,
}

/// One run directory, read.
#[derive(Clone, Debug)]
pub struct RunData {
    /// The directory's name (unique within a report).
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// Pipeline name, `<pipeline>/<variant>` for a sweep's variant (runs with the same name are
    /// seeds of one variant).
    pub pipeline: String,
    /// `summary.json`.
    pub summary: Value,
    /// Triggers in order.
    pub triggers: Vec<TriggerRow>,
    /// Per trigger, ms per stage ([`STAGES`] order).
    pub costs: BTreeMap<u64, [f64; 6]>,
    /// Evaluations.
    pub evals: Vec<EvalRow>,
}

/// Which evaluation series a report is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Focus {
    /// Handler.
    pub handler: String,
    /// Dataset.
    pub dataset: String,
    /// Metric.
    pub metric: String,
    /// Compare pipelines on the handler's pooled metric (its aggregate's `prequential`: one
    /// value over every sample, each scored by the model in service in its slice) instead of
    /// the time-weighted mean over its intervals.
    pub pooled: bool,
}

/// The events of `dir`'s JSONL file `file`; a missing file or a line that is not JSON is a
/// usage error naming it.
pub fn read_jsonl(dir: &Path, file: &str) -> Result<Vec<Value>, ReportError> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ReportError::Usage(format!(
            "{}: missing {file} ({e}); is it a complete Sluice run directory?",
            dir.display()
        ))
    })?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                ReportError::Usage(format!("{}:{}: not JSON: {e}", path.display(), i + 1))
            })
        })
        .collect()
}

/// The event files a [`RunData`] reads.
pub const EVENT_FILES: [&str; 4] = [
    "triggers.jsonl",
    "models.jsonl",
    "metrics.jsonl",
    "evaluations.jsonl",
];

/// `dir`'s `summary.json`; `live`: null until the run writes it.
pub fn read_summary(dir: &Path, live: bool) -> Result<Value, ReportError> {
    let path = dir.join("summary.json");
    match std::fs::read(&path) {
        Err(e) if live && e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
        Err(e) => Err(ReportError::Usage(format!(
            "{}: missing summary.json ({e}); did the run finish?",
            dir.display()
        ))),
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| ReportError::Usage(format!("{}: {e}", path.display()))),
    }
}

fn field<'a>(v: &'a Value, key: &str, file: &str) -> Result<&'a Value, ReportError> {
    v.get(key)
        .ok_or_else(|| ReportError::Usage(format!("{file}: an event without `{key}`: {v}")))
}

fn u64_of(v: &Value, key: &str, file: &str) -> Result<u64, ReportError> {
    field(v, key, file)?
        .as_u64()
        .ok_or_else(|| ReportError::Usage(format!("{file}: `{key}` is not an integer: {v}")))
}

impl RunData {
    /// Reads `dir`, a finished run's.
    pub fn load(dir: &Path) -> Result<Self, ReportError> {
        let mut data = Self::new(dir, read_summary(dir, false)?);
        for file in EVENT_FILES {
            for event in read_jsonl(dir, file)? {
                data.absorb(file, &event)?;
            }
        }
        Ok(data)
    }

    /// `dir`'s run with `summary` (null while it runs) and no events yet; [`Self::absorb`]
    /// takes them in.
    pub fn new(dir: &Path, summary: Value) -> Self {
        let name = dir
            .file_name()
            .map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned());
        let mut data = Self {
            name,
            dir: dir.to_path_buf(),
            pipeline: String::new(),
            summary: Value::Null,
            triggers: Vec::new(),
            costs: BTreeMap::new(),
            evals: Vec::new(),
        };
        data.set_summary(summary);
        data
    }

    /// Sets `summary.json` (and the pipeline's name it gives).
    pub fn set_summary(&mut self, summary: Value) {
        self.pipeline = summary["pipeline"].as_str().unwrap_or_default().to_string();
        // A sweep's variant is a pipeline of its own (its seeds: the same variant of sweeps).
        if let Some(variant) = summary["variant"].as_str() {
            self.pipeline = format!("{}/{variant}", self.pipeline);
        }
        self.summary = summary;
    }

    /// Takes in one event of `file` (one of [`EVENT_FILES`]), in the file's order.
    pub fn absorb(&mut self, file: &str, e: &Value) -> Result<(), ReportError> {
        match file {
            "triggers.jsonl" => {
                let pos = |k: &str| -> Result<u64, ReportError> {
                    u64_of(field(e, k, file)?, "time", file)
                };
                self.triggers.push(TriggerRow {
                    id: u64_of(e, "trigger_id", file)?,
                    first: pos("first")?,
                    last: pos("boundary")?,
                    samples: e["samples"].as_u64().unwrap_or_default(),
                    reason: e["reason"].as_str().unwrap_or_default().to_string(),
                    details: e.get("details").cloned().unwrap_or(Value::Null),
                });
            }
            // Not plotted (evaluations name their models), but a run directory without valid
            // model events is incomplete.
            "models.jsonl" => {
                u64_of(e, "trigger_id", file)?;
            }
            "metrics.jsonl" => {
                if e["kind"] != "metric" || e.get("step").is_some_and(|s| !s.is_null()) {
                    return Ok(());
                }
                let name = e["name"].as_str().unwrap_or_default();
                if let Some(i) = STAGES.iter().position(|s| s.0 == name) {
                    let t = u64_of(e, "trigger_id", file)?;
                    self.costs.entry(t).or_default()[i] += e["value"].as_f64().unwrap_or(0.0);
                }
            }
            "evaluations.jsonl" => self.evals.push(EvalRow {
                handler: field(e, "handler", file)?
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                dataset: field(e, "dataset", file)?
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                trigger: u64_of(e, "trigger_id", file)?,
                start: u64_of(e, "start_time", file)?,
                end: e.get("end_time").and_then(Value::as_u64),
                metric: field(e, "metric", file)?
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                value: field(e, "value", file)?.as_f64().unwrap_or(f64::NAN),
                active: e.get("currently_active").and_then(Value::as_bool),
                trained: e.get("currently_trained").and_then(Value::as_bool),
            }),
            _ => {}
        }
        Ok(())
    }

    /// The evaluation series a report shows by default: the first currently-active aggregate
    /// (accuracy preferred), else the first evaluated series.
    pub fn default_focus(&self) -> Option<Focus> {
        let aggregates = self.summary["evaluation"]["aggregates"].as_array();
        let active: Vec<&Value> = aggregates
            .into_iter()
            .flatten()
            .filter(|a| a["composite"] == "currently_active")
            .collect();
        let pick = active
            .iter()
            .find(|a| a["metric"] == "accuracy")
            .or(active.first());
        if let Some(a) = pick {
            return Some(Focus {
                handler: a["handler"].as_str()?.into(),
                dataset: a["dataset"].as_str()?.into(),
                metric: a["metric"].as_str()?.into(),
                pooled: false,
            });
        }
        self.evals.first().map(|e| Focus {
            handler: e.handler.clone(),
            dataset: e.dataset.clone(),
            metric: e.metric.clone(),
            pooled: false,
        })
    }

    /// The evaluations of `focus`.
    pub fn series(&self, focus: &Focus) -> Vec<&EvalRow> {
        self.evals
            .iter()
            .filter(|e| {
                e.handler == focus.handler && e.dataset == focus.dataset && e.metric == focus.metric
            })
            .collect()
    }

    /// `focus`'s metric of the model in service: its currently-active aggregate's
    /// time-weighted average, or its pooled value with `focus.pooled`.
    pub fn in_service(&self, focus: &Focus) -> Option<f64> {
        let field = if focus.pooled {
            "prequential"
        } else {
            "time_weighted_avg"
        };
        self.aggregate(focus, "currently_active")?[field].as_f64()
    }

    /// The summary's aggregate of `focus` for `composite`, if any.
    pub fn aggregate(&self, focus: &Focus, composite: &str) -> Option<&Value> {
        self.summary["evaluation"]["aggregates"]
            .as_array()?
            .iter()
            .find(|a| {
                a["handler"] == focus.handler.as_str()
                    && a["dataset"] == focus.dataset.as_str()
                    && a["metric"] == focus.metric.as_str()
                    && a["composite"] == composite
            })
    }

    /// Total cost of the run, seconds (every stage).
    pub fn total_cost_s(&self) -> f64 {
        let c = &self.summary["cost"];
        [
            "ingest_s",
            "trigger_policy_s",
            "selection_s",
            "training_s",
            "model_store_s",
            "evaluation_s",
            "checkpoint_s",
        ]
        .iter()
        .map(|k| c[k].as_f64().unwrap_or(0.0))
        .sum()
    }
}
