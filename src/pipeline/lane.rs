//! A lane of a run: a sweep's variant, or the whole pipeline without a sweep.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use sluice_dataflows::SampleScore;
use sluice_dataflows::triggers::ModelFeed;

use super::error::RunError;
use super::evaluate::{RunInfo, write_run_info};
use super::progress::LaneProgress;
use crate::config::PipelineSpec;
use crate::sink::EventSink;
use crate::store::ModelStore;
use crate::train::Delivery;

/// One lane of a run: a sweep's variant, or the whole pipeline without a sweep. Each has its
/// own trigger policy, selection, trainer, model store and events; the source, the ingest and
/// the sample store are the run's.
pub struct Lane {
    /// The variant's name (`None`: not a sweep).
    pub(super) name: Option<String>,
    /// Its config (a variant's: the base with its overrides).
    pub(super) spec: PipelineSpec,
    /// Its run directory (a variant's: `<run dir>/variants/<name>`).
    pub(super) run_dir: PathBuf,
    /// Its model store (trigger policies read models from it; the leader's).
    pub(super) models: Option<ModelStore>,
    /// Model reports from its trainer to its trigger operator.
    pub(super) model_feed: ModelFeed,
    /// Its events (the leader's).
    pub(super) events: Option<Arc<EventSink>>,
    /// Its trainer's queue, until worker 0 takes it.
    pub(super) trainer_queue: Mutex<Option<SyncSender<Delivery>>>,
    /// Per-sample scores from its trainer (worker 0 takes it and feeds the dataflow).
    pub(super) feedback: Mutex<Option<Receiver<Vec<SampleScore>>>>,
    /// Triggers, training sets queued, scores: what its status and summary report.
    pub(super) progress: Arc<LaneProgress>,
    /// The model in service: its newest.
    pub(super) model: Mutex<Option<String>>,
}

impl Lane {
    pub(super) fn new(name: Option<String>, spec: PipelineSpec, run_dir: PathBuf) -> Self {
        Self {
            name,
            spec,
            run_dir,
            models: None,
            model_feed: ModelFeed::default(),
            events: None,
            trainer_queue: Mutex::new(None),
            feedback: Mutex::new(None),
            progress: Arc::default(),
            model: Mutex::new(None),
        }
    }
}

/// The lanes of a run of `spec` in `run_dir`: a sweep's variants, else one.
pub(super) fn lanes_of(spec: &PipelineSpec, run_dir: &std::path::Path) -> Vec<Lane> {
    if spec.variants.is_empty() {
        return vec![Lane::new(None, spec.clone(), run_dir.to_path_buf())];
    }
    spec.variants
        .iter()
        .map(|v| {
            let dir = run_dir.join("variants").join(&v.name);
            Lane::new(Some(v.name.clone()), v.spec.clone(), dir)
        })
        .collect()
}

/// Creates a variant's run directory (`variants/<name>`: its config, `run.json`, events,
/// models), like a run's of its own; its events also go to the run's Kafka topics, tagged with
/// its name.
pub(super) fn open_variant(lane: &mut Lane, info: &RunInfo) -> Result<(), RunError> {
    let name = lane.name.clone().expect("a variant has a name");
    let dir = &lane.run_dir;
    std::fs::create_dir_all(dir).map_err(RunError::io(format!("creating {}", dir.display())))?;
    std::fs::write(dir.join("config.toml"), &lane.spec.config_text).map_err(RunError::io(
        format!("writing {}", dir.join("config.toml").display()),
    ))?;
    write_run_info(
        dir,
        &RunInfo {
            variant: Some(name.clone()),
            input: None,
            ..info.clone()
        },
    )?;
    let events = EventSink::create(
        dir,
        &lane.spec.name,
        lane.spec.output.kafka.as_ref(),
        None,
        None,
    )?
    .with_variant(&name);
    lane.events = Some(Arc::new(events));
    Ok(())
}
