//! Before the leader's workers start: the source opened and checked, the run directory made
//! or resumed (its checkpoint, start record, `run.json`, events), the lanes' directories and
//! model stores, and the process's [`RunContext`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::book::{BookSetup, CheckpointBook, Resumed};
use super::checkpoint::{self, Checkpoint, Start};
use super::checks::{check_replay_window, open_source};
use super::cluster::Topology;
use super::context::{ContextSetup, RunContext};
use super::error::RunError;
use super::evaluate::{RUN_INFO, RunInfo, write_run_info};
use super::lane::{Lane, lanes_of, open_variant};
use super::options::{Replay, RunOptions};
use super::summary::default_run_dir;
use crate::config::PipelineSpec;
use crate::sink::EventSink;
use crate::source::{Source, Window};
use crate::store::{ModelStore, SampleStore};

/// A leader's run, prepared: what `run` starts the trainers and workers on.
pub(super) struct Prepared {
    /// The process's context (events, checkpoint book and resume point set).
    pub context: RunContext,
    /// What `run.json` records (updated at the end with what this start read).
    pub info: RunInfo,
    /// The run's events.
    pub events: Arc<EventSink>,
    /// The checkpoint's trigger, when resuming.
    pub resumed_after: Option<u64>,
    /// The model the trainers start from, when resuming.
    pub initial_model: Option<String>,
}

/// Opens the source and the run directory of `spec` for the leader (process 0).
pub(super) fn prepare(spec: &PipelineSpec, opts: &RunOptions) -> Result<Prepared, RunError> {
    let topology = opts.topology()?;
    if !topology.leads() {
        return Err(RunError::Failed(format!(
            "process {} follows: `follow` it",
            topology.process
        )));
    }
    let sweep = !spec.variants.is_empty();
    let source = open_source(spec)?;
    let replay = opts.replay.resolved(&*source);
    check_replay_window(&*source, &replay)?;
    let run_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| default_run_dir(&spec.name));
    // A sweep writes no checkpoints: it starts over.
    let (resume, start) = if source.restartable() && !sweep {
        (
            checkpoint::latest(&run_dir),
            checkpoint::read_start(&run_dir),
        )
    } else {
        (None, None)
    };
    let earlier = check_resumable(spec, &*source, &run_dir, &replay, &resume, &start)?;
    if let Some(cp) = &resume {
        tracing::info!(trigger = cp.trigger_id, "resuming after checkpoint");
        eprintln!(
            "{}: resuming after trigger {} (checkpoint in {})",
            spec.name,
            cp.trigger_id,
            run_dir.join("checkpoints").display()
        );
    }
    let (info, events) = open_run_dir(spec, &*source, &run_dir, replay, earlier, &resume, &start)?;
    let samples = Arc::new(sample_store(spec, &*source, &topology, &run_dir));
    if let Some(cp) = &resume {
        // The trainer is done with every trigger up to the checkpoint.
        samples.trained(0, cp.trigger_id);
    }
    let mut lanes = lanes_of(spec, &run_dir);
    open_lanes(&mut lanes, &events, &info, &resume, start.is_some())?;
    let mut context = RunContext::new(ContextSetup {
        spec: spec.clone(),
        samples,
        run_dir: run_dir.clone(),
        source: source.clone(),
        lanes,
        topology,
        replay,
    });
    context.events = Some(events.clone());
    context.book = Some(Arc::new(CheckpointBook::new(BookSetup {
        enabled: context.checkpoints(),
        pipeline: spec.name.clone(),
        run_dir,
        config_hash: context.config_hash.clone(),
        source,
        events: events.clone(),
        counters: context.counters.clone(),
        peers: context.topology.peers(),
        models: resume
            .as_ref()
            .map(|cp| cp.models.clone())
            .unwrap_or_default(),
        samples_done: resume.as_ref().map_or(0, |cp| cp.tally.samples),
    })));
    if let Some(cp) = &resume {
        context.counters.go_on_from(&cp.tally);
    }
    let resumed_after = resume.as_ref().map(|cp| cp.trigger_id);
    let initial_model = resume.as_ref().and_then(|cp| cp.model_id.clone());
    context.resume_from(|| Resumed::new(resume));
    Ok(Prepared {
        context,
        info,
        events,
        resumed_after,
        initial_model,
    })
}

/// Fails (a usage error) when `run_dir` holds a run of another configuration or replay start;
/// else returns what earlier starts of the run recorded, if any.
fn check_resumable(
    spec: &PipelineSpec,
    source: &dyn Source,
    run_dir: &std::path::Path,
    replay: &Replay,
    resume: &Option<Checkpoint>,
    start: &Option<Start>,
) -> Result<Option<RunInfo>, RunError> {
    let config_hash = checkpoint::fnv64(spec.config_text.as_bytes());
    let recorded = resume
        .as_ref()
        .map(|cp| (&cp.pipeline, &cp.topic, &cp.config_hash))
        .or(start
            .as_ref()
            .map(|s| (&s.pipeline, &s.topic, &s.config_hash)));
    if let Some((pipeline, topic, hash)) = recorded
        && (*pipeline != spec.name || *topic != source.name() || *hash != config_hash)
    {
        return Err(RunError::Usage(format!(
            "{}: holds a run of another configuration (pipeline `{pipeline}`, topic `{topic}`; \
             its config.toml is the one it ran with): resume it with that configuration, or \
             give a new --out",
            run_dir.display(),
        )));
    }
    // A resumed run keeps what earlier starts read, and its window's start.
    let earlier: Option<RunInfo> = (resume.is_some() || start.is_some())
        .then(|| std::fs::read_to_string(run_dir.join(RUN_INFO)).ok())
        .flatten()
        .and_then(|text| serde_json::from_str(&text).ok());
    if let Some(info) = &earlier
        && info.replay.window.from != replay.window.from
    {
        let from = |w: &Window| w.from.map_or("none".to_string(), crate::format_time);
        return Err(RunError::Usage(format!(
            "{}: holds a run started with --replay-from {}, not {}: resume it with the same \
             start, or give a new --out",
            run_dir.display(),
            from(&info.replay.window),
            from(&replay.window),
        )));
    }
    Ok(earlier)
}

/// Creates the run directory (config, `run.json`) and opens the run's events; a restartable
/// source's first start records the topics' ends (`checkpoints/start.json`).
fn open_run_dir(
    spec: &PipelineSpec,
    source: &dyn Source,
    run_dir: &PathBuf,
    replay: Replay,
    earlier: Option<RunInfo>,
    resume: &Option<Checkpoint>,
    start: &Option<Start>,
) -> Result<(RunInfo, Arc<EventSink>), RunError> {
    std::fs::create_dir_all(run_dir).map_err(RunError::io(format!(
        "creating run directory {}",
        run_dir.display()
    )))?;
    std::fs::write(run_dir.join("config.toml"), &spec.config_text).map_err(RunError::io(
        format!("writing {}", run_dir.join("config.toml").display()),
    ))?;
    let info = RunInfo {
        pipeline: spec.name.clone(),
        config_path: std::path::absolute(&spec.config_path)?,
        sluice_version: env!("CARGO_PKG_VERSION").into(),
        started_ms: crate::sink::unix_ms(),
        variant: None,
        git_revision: crate::GIT_REVISION.into(),
        replay,
        input: earlier.and_then(|e| e.input),
    };
    write_run_info(run_dir, &info)?;
    let events = Arc::new(EventSink::create(
        run_dir,
        &spec.name,
        spec.output.kafka.as_ref(),
        resume.as_ref().map(|cp| cp.trigger_id),
        // Killed before its first checkpoint, a run starts over, skipping what it published.
        resume
            .as_ref()
            .map(|cp| &cp.published)
            .or(start.as_ref().map(|s| &s.published)),
    )?);
    if source.restartable() && start.is_none() {
        checkpoint::write_start(
            run_dir,
            &Start {
                pipeline: spec.name.clone(),
                topic: source.name(),
                config_hash: checkpoint::fnv64(spec.config_text.as_bytes()),
                published: events.opened_ends(),
            },
        )
        .map_err(RunError::io(format!(
            "writing the start record in {}",
            run_dir.display()
        )))?;
    }
    Ok((info, events))
}

/// Gives each lane its events (a variant: its own directory) and model store; a resumed run
/// (or one restarted before its first checkpoint, `started`) removes the model files the
/// checkpoint does not know.
fn open_lanes(
    lanes: &mut [Lane],
    events: &Arc<EventSink>,
    info: &RunInfo,
    resume: &Option<Checkpoint>,
    started: bool,
) -> Result<(), RunError> {
    for lane in lanes {
        if lane.name.is_some() {
            open_variant(lane, info)?;
        } else {
            lane.events = Some(events.clone());
        }
        let models = ModelStore::create(
            &lane.run_dir.join("models"),
            lane.spec.model_storage.clone(),
        )?;
        if resume.is_some() || started {
            // Models stored after the checkpoint (and half-written files) are orphans of the
            // crash: the resumed run trains those triggers again.
            let keep = resume
                .as_ref()
                .map(|cp| cp.models.clone())
                .unwrap_or_default();
            for orphan in models.remove_orphans(&keep)? {
                tracing::info!(file = %orphan.display(), "removed a model file the checkpoint does not know");
            }
        }
        lane.models = Some(models);
    }
    Ok(())
}

/// The process's sample store: a shard per worker, a lane per variant, and with
/// `selection.maximum_keys_in_memory` spilling beyond its share of that (1/N of it when keys
/// live on all N processes) to `<run dir>/spill` (a follower's to `spill/process-<i>`, so
/// processes sharing a directory do not share files).
fn sample_store(
    spec: &PipelineSpec,
    source: &dyn Source,
    topology: &Topology,
    run_dir: &Path,
) -> SampleStore {
    let store = SampleStore::new(source.feature_names().len(), topology.threads)
        .with_lanes(spec.variants.len().max(1));
    let Some(max) = spec.selection.maximum_keys_in_memory else {
        return store;
    };
    let share = max.div_ceil(topology.processes);
    let dir = match topology.process {
        0 => run_dir.join("spill"),
        p => run_dir.join("spill").join(format!("process-{p}")),
    };
    store.spilling(share, &dir)
}

/// A follower's context: its source opened; it writes no files but spilled payloads.
pub(super) fn prepare_follower(
    spec: &PipelineSpec,
    opts: &RunOptions,
) -> Result<RunContext, RunError> {
    let topology: Topology = opts.topology()?;
    if topology.leads() {
        return Err(RunError::Failed("process 0 leads: `run` it".into()));
    }
    let source = open_source(spec)?;
    let replay = opts.replay.resolved(&*source);
    let run_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| default_run_dir(&spec.name));
    let samples = Arc::new(sample_store(spec, &*source, &topology, &run_dir));
    Ok(RunContext::new(ContextSetup {
        spec: spec.clone(),
        samples,
        lanes: lanes_of(spec, &run_dir),
        run_dir,
        source,
        topology,
        replay,
    }))
}
