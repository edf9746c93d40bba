//! A run directory read for the dashboard and `/metrics`, while the run may still write it:
//! `status.json`, each variant's events, the dead letters, the newest checkpoint. What cannot
//! be read is an error naming the file, on that run only.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde_json::Value;

use crate::pipeline::status::{self, Status};
use crate::report::{RunData, read_jsonl_with};
use crate::sink::LaneStatus;

/// The most dead letters a view keeps (the newest).
pub const DEAD_TAIL: usize = 20;

/// A run directory, read now.
pub struct RunView {
    /// Its name: the directory's (unique among the runs served).
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// `status.json`, or why it cannot be read.
    pub status: Result<Status, String>,
    /// Per variant (a sweep's, else one).
    pub variants: Vec<VariantView>,
    /// Dead letters so far.
    pub dead_letters: u64,
    /// The newest [`DEAD_TAIL`] dead letters, oldest first.
    pub dead_tail: Vec<Value>,
    /// When the newest checkpoint was written (Unix ms).
    pub checkpoint_ms: Option<u64>,
}

/// A variant of a run (or the run), read now.
pub struct VariantView {
    /// The sweep's variant (`None`: not a sweep).
    pub name: Option<String>,
    /// Its line of `status.json`.
    pub lane: Option<LaneStatus>,
    /// Its events (triggers, costs, evaluations), or why they cannot be read.
    pub data: Result<RunData, String>,
    /// Its model events.
    pub models: Vec<Value>,
}

impl VariantView {
    /// The model in service's event, if it has one yet.
    pub fn model_in_service(&self) -> Option<&Value> {
        let id = self.lane.as_ref()?.model.as_deref()?;
        self.models.iter().rev().find(|m| m["model_id"] == id)
    }

    /// The label a metric or a page gives it: its name, or empty outside sweeps.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}

impl RunView {
    /// Whether the run still runs (its status says so).
    pub fn running(&self) -> bool {
        self.status.as_ref().is_ok_and(|s| s.state == "running")
    }

    /// Triggers fired so far, over its variants.
    pub fn triggers(&self) -> u64 {
        self.variants
            .iter()
            .map(|v| v.lane.as_ref().map_or(0, |l| l.triggers))
            .sum()
    }
}

/// Reads the run directory `dir`.
pub fn read(dir: &Path) -> RunView {
    let name = dir
        .file_name()
        .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
    let status = if dir.is_dir() {
        status::read(dir).map_err(|e| e.to_string())
    } else {
        Err(format!(
            "{}: no such run directory (yet: a run started with `--out` there creates it)",
            dir.display()
        ))
    };
    let lanes: Vec<Option<LaneStatus>> = match &status {
        Ok(s) => s.variants.iter().cloned().map(Some).collect(),
        Err(_) => vec![None],
    };
    let variants = lanes
        .into_iter()
        .map(|lane| {
            let name = lane.as_ref().and_then(|l| l.variant.clone());
            let vdir = match &name {
                Some(v) => dir.join("variants").join(v),
                None => dir.to_path_buf(),
            };
            let data = if dir.is_dir() {
                RunData::load_with(&vdir, true).map_err(|e| e.to_string())
            } else {
                Err("no run directory".into())
            };
            let models = read_jsonl_with(&vdir, "models.jsonl", true).unwrap_or_default();
            VariantView {
                name,
                lane,
                data,
                models,
            }
        })
        .collect();
    let dead = read_jsonl_with(dir, "dead-letter.jsonl", true).unwrap_or_default();
    RunView {
        name,
        dir: dir.to_path_buf(),
        status,
        variants,
        dead_letters: dead.len() as u64,
        dead_tail: dead[dead.len().saturating_sub(DEAD_TAIL)..].to_vec(),
        checkpoint_ms: newest_checkpoint(dir),
    }
}

/// When the newest file under `<dir>/checkpoints` was written (Unix ms).
fn newest_checkpoint(dir: &Path) -> Option<u64> {
    let mut newest = None;
    let mut todo = vec![dir.join("checkpoints")];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                todo.push(entry.path());
            } else if let Ok(t) = meta.modified()
                && let Ok(since) = t.duration_since(UNIX_EPOCH)
            {
                newest = newest.max(Some(since.as_millis() as u64));
            }
        }
    }
    newest
}
