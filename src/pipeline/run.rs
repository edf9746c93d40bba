//! `sluice run`: one pipeline over the embedded file source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sluice_dataflows::triggers::{ModelFeed, ModelInfo, State};
use sluice_dataflows::{Position, SampleScore, TrainingSet, TriggerEvent};

use super::checkpoint::{self, Checkpoint, OperatorState};
use super::cluster::{self, Report, Topology};
use super::cost::{Split, StageClock};
use super::dataflow::{self, Record};
use super::evaluate::{RUN_INFO, RunInfo, trained_models};
use super::status::StatusWriter;
use crate::UsageError;
use crate::config::{EvalInput, PipelineSpec};
use crate::eval::{EvalDataset, EvalReport, EvalSetup, Evaluator, Holdout};
use crate::sink::{EventBody, EventSink};
use crate::source::kafka::{ValueDecoder, read_topic};
use crate::source::{
    DeadLetter, FileSource, PartitionMarks, ReadPlan, Resume, Share, Source, SourceError, Window,
};
use crate::store::{ModelStore, SampleStore};
use crate::train::{DeviceGate, Trainer, TrainerContext, TriggerOutcome};

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Run directory; default `runs/<pipeline>-<UTC time>`.
    pub out: Option<PathBuf>,
    /// Timely worker threads (per process).
    pub workers: usize,
    /// Timely processes (`-n`; see `cluster.rs`).
    pub processes: usize,
    /// This process's index (`-p`): process 0 leads; the others only read their share of the
    /// source.
    pub process: usize,
    /// Addresses of the processes, one `host:port` per line [default: `localhost:2101+i`].
    pub hostfile: Option<PathBuf>,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Event-time window and trigger limit.
    pub replay: Replay,
    /// How often `status.json` and the `status` events are written while the run runs (zero:
    /// only when it ends).
    pub status_every: Duration,
}

/// How a run reads its source (`sluice run --replay-from/--replay-until/--max-triggers`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    /// Event times read.
    #[serde(default)]
    pub window: Window,
    /// Fire at most this many triggers (those before a resume count), then stop reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_triggers: Option<u64>,
    /// A Kafka source is followed (read on at its end) rather than replayed up to the end
    /// offsets it had at start; the run sets it (see `KafkaSourceSpec::follows`).
    #[serde(default)]
    pub follow: bool,
}

/// What a run read of its source: recorded in `run.json` (over every start of a resumed run)
/// and `summary.json` (this start's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Covered {
    /// Kafka: per partition, the offsets read, `[first, next)`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offsets: BTreeMap<i32, (i64, i64)>,
    /// Samples that entered the dataflow.
    pub samples: u64,
    /// Their least event time (Unix ms).
    pub first_time: Option<u64>,
    /// Their greatest event time (Unix ms).
    pub last_time: Option<u64>,
}

impl Covered {
    fn sample(&mut self, time: u64) {
        self.samples += 1;
        self.widen(time);
    }

    /// Widens the event-time range to `time`.
    fn widen(&mut self, time: u64) {
        self.first_time = Some(self.first_time.map_or(time, |t| t.min(time)));
        self.last_time = Some(self.last_time.map_or(time, |t| t.max(time)));
    }

    /// Adds what `other` read (another worker's, or another start's).
    fn merge(&mut self, other: Covered) {
        for (id, (first, next)) in other.offsets {
            let e = self.offsets.entry(id).or_insert((first, next));
            *e = (e.0.min(first), e.1.max(next));
        }
        self.samples += other.samples;
        for t in other.first_time.into_iter().chain(other.last_time) {
            self.widen(t);
        }
    }
}

impl RunOptions {
    fn topology(&self) -> anyhow::Result<Topology> {
        let threads = self.workers.max(1);
        if self.processes <= 1 && self.process == 0 {
            return Ok(Topology::single(threads));
        }
        Topology::cluster(
            threads,
            self.processes,
            self.process,
            self.hostfile.as_deref(),
        )
    }
}

/// What a run did; also written to `summary.json` in the run directory. A sweep's adds up its
/// variants' (see `sweep_summary`) and holds each variant's, also written to its directory.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// Pipeline name.
    pub pipeline: String,
    /// The variant of a sweep this summarises (`None`: the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Run directory.
    pub run_dir: PathBuf,
    /// Timely workers (of all processes).
    pub workers: usize,
    /// Timely processes.
    pub processes: usize,
    /// Samples decoded and stored (dead letters excluded).
    pub samples: u64,
    /// Inputs sent to the dead-letter file.
    pub dead_letters: u64,
    /// Triggers fired.
    pub triggers: u64,
    /// Models trained.
    pub models: u64,
    /// Wall time of the whole run, seconds.
    pub wall_s: f64,
    /// Wall time spent training, seconds.
    pub training_s: f64,
    /// Last model id.
    pub last_model: Option<String>,
    /// Wall time per stage, seconds (dataflow stages summed over workers).
    pub cost: Cost,
    /// Evaluation: events emitted, inferences run, time, composite-model aggregates.
    pub evaluation: EvalReport,
    /// Per-sample scores the trainer reported into the dataflow
    /// (`training.per_sample_feedback`; all of them: the run waits for the trainer's last).
    pub scores: u64,
    /// Samples whose payloads the sample store still held at the end (the rest were compacted
    /// away: no strategy could select them any more).
    pub stored_samples: u64,
    /// Of those, samples whose payloads were in memory (the rest spilled to disk:
    /// `selection.maximum_keys_in_memory`).
    pub stored_in_memory: u64,
    /// How the source was read.
    pub replay: Replay,
    /// What this start of the run read of its source (`run.json` adds up every start's).
    pub input: Covered,
    /// A sweep's variants, each as its own run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<RunSummary>,
}

/// Wall time per stage of a run, seconds. The per-trigger shares are `metrics` events
/// (`ingest_ms`, `trigger_policy_ms`, `selection_ms`, `training_ms`, `model_store_ms`,
/// `evaluation_ms`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Cost {
    /// Reading, decoding, storing and exchanging samples (all workers).
    pub ingest_s: f64,
    /// Of it, reading and decoding the source outside the dataflow's operators (the file share,
    /// the Kafka reader threads; the leader's process): the work a sweep's variants share.
    pub read_s: f64,
    /// The trigger policy.
    pub trigger_policy_s: f64,
    /// Selection, scores and training-set assembly (all workers).
    pub selection_s: f64,
    /// Training (the trainer thread).
    pub training_s: f64,
    /// Storing models.
    pub model_store_s: f64,
    /// Evaluation (the evaluator thread, after-pipeline handlers included).
    pub evaluation_s: f64,
    /// Writing checkpoints (Kafka sources): serialising, writing and syncing them, and
    /// committing their offsets (the operators' `save` is in their own stages).
    pub checkpoint_s: f64,
}

/// What trigger `k`'s checkpoint is made of, as the workers, operators and trainer report it.
#[derive(Default)]
struct Pieces {
    /// Workers that reported their partitions.
    workers: usize,
    /// Per partition: restart offset and marks.
    partitions: BTreeMap<i32, PartitionMarks>,
    /// The trigger policy's state and horizon (`Some(None)`: it has none at this boundary).
    trigger: Option<Option<(State, Option<Position>)>>,
    /// Each worker's selection state.
    selection: BTreeMap<usize, State>,
    /// Positions the selections hold.
    held: Vec<Position>,
    /// The sampler's state.
    sampler: Option<State>,
}

impl Pieces {
    fn complete(&self, workers: usize) -> bool {
        self.workers == workers
            && self.trigger.is_some()
            && self.selection.len() == workers
            && self.sampler.is_some()
    }
}

/// Where a run starts: the checkpoint it resumes from, if any.
pub(super) struct Resumed {
    checkpoint: Option<Checkpoint>,
    /// Where Kafka readers start.
    resume: Option<Resume>,
}

impl Resumed {
    fn new(checkpoint: Option<Checkpoint>) -> Self {
        let resume = checkpoint.as_ref().map(|cp| {
            let state = cp.state.clone();
            Resume {
                offsets: cp.offsets.clone(),
                replay_from: cp.replay_from.clone(),
                boundary: cp.boundary,
                needs: Arc::new(move |p| state.needs(p)),
            }
        });
        Self { checkpoint, resume }
    }
}

/// What a follower has not yet told the leader.
#[derive(Default)]
struct Outbox {
    reports: Vec<Report>,
    /// Progress and stage costs up to the last report of them, and when it went.
    read: u64,
    total: u64,
    cost: [u64; 3],
    sent_at: Option<Instant>,
}

/// How often a follower reports its progress and stage costs.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

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
    trainer_queue: Mutex<Option<SyncSender<TrainingSet>>>,
    /// Per-sample scores from its trainer (worker 0 takes it and feeds the dataflow).
    pub(super) feedback: Mutex<Option<Receiver<Vec<SampleScore>>>>,
    /// Scores that reached the dataflow.
    pub(super) scores: AtomicU64,
    /// Triggers fired.
    pub(super) triggers: AtomicU64,
    /// Where its per-trigger stage metrics last split the dataflow's stage times.
    pub(super) split: Split,
    /// The model in service: its newest.
    pub(super) model: Mutex<Option<String>>,
    /// Training sets handed to its trainer and not done yet.
    pub(super) queued: AtomicU64,
}

impl Lane {
    fn new(name: Option<String>, spec: PipelineSpec, run_dir: PathBuf) -> Self {
        Self {
            name,
            spec,
            run_dir,
            models: None,
            model_feed: ModelFeed::default(),
            events: None,
            trainer_queue: Mutex::new(None),
            feedback: Mutex::new(None),
            scores: AtomicU64::new(0),
            triggers: AtomicU64::new(0),
            split: Split::default(),
            model: Mutex::new(None),
            queued: AtomicU64::new(0),
        }
    }
}

/// State shared by the workers of one process of a run.
pub struct Shared {
    /// The config (a sweep's base).
    pub(super) spec: PipelineSpec,
    pub(super) samples: Arc<SampleStore>,
    /// The run directory.
    pub(super) run_dir: PathBuf,
    pub(super) source: Arc<dyn Source>,
    /// The run's own events: dead letters (the leader's; without a sweep, the lane's).
    events: Option<Arc<EventSink>>,
    /// The lanes: a sweep's variants, else one.
    pub(super) lanes: Vec<Lane>,
    /// Wall time per dataflow stage.
    pub(super) clock: Arc<StageClock>,
    pub(super) read: AtomicU64,
    pub(super) total: AtomicU64,
    pub(super) ingested: AtomicU64,
    dead: AtomicU64,
    finished_workers: AtomicUsize,
    /// Per worker (global index), the event time its input reached.
    watermarks: Mutex<BTreeMap<usize, u64>>,
    error: Mutex<Option<String>>,
    /// The checkpoint this run resumes from (a follower learns it in the handshake).
    resumed: OnceLock<Resumed>,
    /// Hash of the configuration text, recorded in checkpoints.
    config_hash: String,
    /// Models stored so far, oldest first (the model store's index in checkpoints).
    model_index: Mutex<Vec<String>>,
    /// Checkpoint pieces per trigger.
    pieces: Mutex<BTreeMap<u64, Pieces>>,
    pieces_changed: Condvar,
    /// Time spent writing checkpoints, ns.
    checkpoint_ns: AtomicU64,
    /// Event time before which the last checkpoint needs no payloads: the readers' restart
    /// indexes forget what is before it (`u64::MAX`: none yet; worker 0 tells every worker).
    pub(super) forget_before: AtomicU64,
    /// The processes of the run.
    pub(super) topology: Topology,
    /// A follower's reports to the leader (`None` in the leader).
    outbox: Option<Mutex<Outbox>>,
    /// How the source is read.
    pub(super) replay: Replay,
    /// What the workers read (the leader's: followers report theirs).
    covered: Mutex<Covered>,
}

impl Shared {
    /// A process's shared state before the leader's parts (events, models, checkpoint
    /// bookkeeping) are added.
    fn new(
        spec: &PipelineSpec,
        source: Arc<dyn Source>,
        samples: Arc<SampleStore>,
        run_dir: PathBuf,
        topology: Topology,
        replay: Replay,
    ) -> Self {
        let leads = topology.leads();
        let lanes = if spec.variants.is_empty() {
            vec![Lane::new(None, spec.clone(), run_dir.clone())]
        } else {
            spec.variants
                .iter()
                .map(|v| {
                    let dir = run_dir.join("variants").join(&v.name);
                    Lane::new(Some(v.name.clone()), v.spec.clone(), dir)
                })
                .collect()
        };
        Self {
            spec: spec.clone(),
            samples,
            run_dir,
            source,
            events: None,
            lanes,
            clock: Arc::default(),
            read: AtomicU64::new(0),
            total: AtomicU64::new(0),
            ingested: AtomicU64::new(0),
            dead: AtomicU64::new(0),
            watermarks: Mutex::default(),
            finished_workers: AtomicUsize::new(0),
            error: Mutex::new(None),
            resumed: OnceLock::new(),
            config_hash: checkpoint::fnv64(spec.config_text.as_bytes()),
            model_index: Mutex::default(),
            pieces: Mutex::default(),
            pieces_changed: Condvar::new(),
            checkpoint_ns: AtomicU64::new(0),
            forget_before: AtomicU64::new(u64::MAX),
            topology,
            outbox: (!leads).then(Mutex::default),
            replay,
            covered: Mutex::default(),
        }
    }

    fn resumed(&self) -> &Resumed {
        self.resumed
            .get()
            .expect("the resume point is known before the dataflow is built")
    }

    /// Number of the first trigger this run emits (after a checkpoint: its trigger + 1).
    pub(super) fn first_trigger_id(&self) -> u64 {
        self.resumed()
            .checkpoint
            .as_ref()
            .map_or(0, |cp| cp.trigger_id + 1)
    }

    /// The operator state of the checkpoint this run resumes from.
    pub(super) fn restore(&self) -> Option<&OperatorState> {
        self.resumed().checkpoint.as_ref().map(|cp| &cp.state)
    }

    /// Whether this process follows: what it learns goes to the leader ([`Self::forward`]).
    fn follows(&self) -> bool {
        self.outbox.is_some()
    }

    /// Queues `report` for the leader (a follower).
    fn forward(&self, report: Report) {
        let outbox = self.outbox.as_ref().expect("only followers forward");
        outbox.lock().expect("outbox poisoned").reports.push(report);
    }

    /// A follower's reports since the last call, with its progress and stage costs since
    /// their last report if that is [`PROGRESS_EVERY`] ago, or if `last` (nothing in the
    /// leader).
    pub(super) fn take_reports(&self, last: bool) -> Vec<Report> {
        let Some(outbox) = &self.outbox else {
            return Vec::new();
        };
        let mut o = outbox.lock().expect("outbox poisoned");
        if !last && o.sent_at.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return std::mem::take(&mut o.reports);
        }
        o.sent_at = Some(Instant::now());
        let (read, total) = (
            self.read.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        );
        if (read, total) != (o.read, o.total) {
            let progress = Report::Progress {
                read: read - o.read,
                total: total - o.total,
            };
            (o.read, o.total) = (read, total);
            o.reports.push(progress);
        }
        let cost = self.clock.totals_ns();
        if cost != o.cost {
            let delta = std::array::from_fn(|i| cost[i] - o.cost[i]);
            o.cost = cost;
            o.reports.push(Report::Cost(delta));
        }
        std::mem::take(&mut o.reports)
    }

    /// Applies a follower's report (the leader's worker 0).
    pub(super) fn apply(&self, report: Report) {
        match report {
            Report::DeadLetter(d) => self.dead_letter(d),
            Report::Offsets {
                trigger,
                partitions,
            } => self.report_offsets(trigger, partitions),
            Report::Selection {
                trigger,
                worker,
                state,
                held,
            } => match serde_json::from_str(&state) {
                Ok(state) => self.selection_state(trigger, worker, state, held),
                Err(e) => self.fail(format!("worker {worker}'s selection state: {e}")),
            },
            Report::Progress { read, total } => {
                self.read.fetch_add(read, Ordering::Relaxed);
                self.total.fetch_add(total, Ordering::Relaxed);
            }
            Report::Cost(ns) => self.clock.add_ns(ns),
            Report::Covered(c) => self.cover(c),
            Report::Failed { process, message } => {
                self.fail(format!("process {process}: {message}"))
            }
        }
    }

    /// Emits an event to `events` (the run's, or a lane's; a follower has none).
    fn emit_to(&self, events: Option<&Arc<EventSink>>, id: String, body: EventBody) {
        let Some(events) = events else {
            tracing::error!(%id, "an event reached a follower process; dropped");
            return;
        };
        if let Err(e) = events.emit(id, body) {
            self.fail(format!("writing events: {e}"));
        }
    }

    /// Emits an event of lane `l`.
    pub(super) fn emit_in(&self, l: usize, id: String, body: EventBody) {
        self.emit_to(self.lanes[l].events.as_ref(), id, body);
    }

    /// Emits a metric of lane `l`.
    pub(super) fn emit_metric_in(&self, l: usize, trigger: u64, name: &str, value: f64) {
        let Some(events) = &self.lanes[l].events else {
            tracing::error!(
                trigger,
                name,
                "a metric reached a follower process; dropped"
            );
            return;
        };
        if let Err(e) = events.metric(trigger, name, value, None) {
            self.fail(format!("writing events: {e}"));
        }
    }

    pub(super) fn dead_letter(&self, d: DeadLetter) {
        tracing::warn!(location = %d.location, reason = %d.reason, "dead letter");
        self.dead.fetch_add(1, Ordering::Relaxed);
        if self.follows() {
            return self.forward(Report::DeadLetter(d));
        }
        self.emit_to(
            self.events.as_ref(),
            format!("dead-letter-{}", d.location),
            EventBody::DeadLetter {
                location: d.location,
                reason: d.reason,
                raw: d.raw,
            },
        );
    }

    /// Worker `worker`'s input reached event time `t`.
    fn note_watermark(&self, worker: usize, t: u64) {
        self.watermarks
            .lock()
            .expect("watermarks poisoned")
            .insert(worker, t);
    }

    /// The event time every worker's input reached (this process's workers).
    pub(super) fn watermark(&self) -> Option<u64> {
        let w = self.watermarks.lock().expect("watermarks poisoned");
        (w.len() == self.topology.threads)
            .then(|| w.values().min().copied())
            .flatten()
    }

    /// What a worker read, at its end.
    fn cover(&self, c: Covered) {
        if self.follows() {
            return self.forward(Report::Covered(c));
        }
        self.covered.lock().expect("covered poisoned").merge(c);
    }

    pub(super) fn count_ingested(&self, n: usize) {
        self.ingested.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Whether the operators report their state for checkpoints (restartable sources,
    /// without a sweep).
    pub(super) fn checkpoints(&self) -> bool {
        self.source.restartable() && self.lanes.len() == 1
    }

    /// Adds to trigger `id`'s checkpoint pieces.
    fn piece(&self, id: u64, add: impl FnOnce(&mut Pieces)) {
        let mut pieces = self.pieces.lock().expect("pieces poisoned");
        add(pieces.entry(id).or_default());
        self.pieces_changed.notify_all();
    }

    /// A worker's restart offsets and marks for its partitions at trigger `id`'s boundary.
    fn report_offsets(&self, id: u64, partitions: Vec<(i32, PartitionMarks)>) {
        if self.follows() {
            return self.forward(Report::Offsets {
                trigger: id,
                partitions,
            });
        }
        self.piece(id, |p| {
            p.workers += 1;
            p.partitions.extend(partitions);
        });
    }

    /// The trigger policy's state after trigger `id` (see `TriggerOptions::on_state`).
    pub(super) fn trigger_state(&self, id: u64, state: Option<State>, horizon: Option<Position>) {
        self.piece(id, |p| p.trigger = Some(state.map(|s| (s, horizon))));
    }

    /// Worker `worker`'s selection state after trigger `id`, and the positions it holds.
    pub(super) fn selection_state(
        &self,
        id: u64,
        worker: usize,
        state: State,
        held: Vec<Position>,
    ) {
        if self.follows() {
            return self.forward(Report::Selection {
                trigger: id,
                worker,
                state: state.to_string(),
                held,
            });
        }
        self.piece(id, |p| {
            p.selection.insert(worker, state);
            p.held.extend(held);
        });
    }

    /// The sampler's state after trigger `id`.
    pub(super) fn sampler_state(&self, id: u64, state: State) {
        self.piece(id, |p| p.sampler = Some(state));
    }

    /// The pieces of trigger `id`'s checkpoint, once complete (`None`: the trigger policy has
    /// no state at this boundary, or the workers finished without completing them). Drops the
    /// pieces of earlier triggers.
    fn take_pieces(&self, id: u64) -> Option<Pieces> {
        let mut pieces = self.pieces.lock().expect("pieces poisoned");
        loop {
            let p = pieces.get(&id);
            if p.is_some_and(|p| p.trigger == Some(None)) {
                break;
            }
            if p.is_some_and(|p| p.complete(self.topology.peers()))
                || self.finished_workers.load(Ordering::SeqCst) == self.topology.threads
            {
                break;
            }
            pieces = self
                .pieces_changed
                .wait_timeout(pieces, Duration::from_millis(100))
                .expect("pieces poisoned")
                .0;
        }
        let later = pieces.split_off(&(id + 1));
        let p = std::mem::replace(&mut *pieces, later).remove(&id);
        match p {
            Some(p) if p.complete(self.topology.peers()) && p.trigger != Some(None) => Some(p),
            Some(p) if p.trigger == Some(None) => {
                tracing::debug!(trigger = id, "no trigger policy state at this boundary");
                None
            }
            _ => {
                tracing::warn!(trigger = id, "checkpoint pieces incomplete; no checkpoint");
                None
            }
        }
    }

    /// Writes the checkpoint of trigger `t` once its pieces are complete. Called by the
    /// trainer after `t`'s model and events are out.
    fn write_checkpoint(&self, t: &TriggerEvent, model: Option<&str>) -> anyhow::Result<()> {
        let run_dir = &self.run_dir;
        if !self.checkpoints() {
            return Ok(());
        }
        let Some(p) = self.take_pieces(t.id) else {
            return Ok(());
        };
        let started = Instant::now();
        let events = self.events.as_ref().expect("the leader writes checkpoints");
        let Some((trigger, trigger_horizon)) = p.trigger.flatten() else {
            unreachable!("complete pieces have a trigger state")
        };
        let mut held = p.held;
        held.sort_unstable();
        let state = OperatorState {
            trigger,
            trigger_horizon,
            selection: p.selection.into_values().collect(),
            sampler: p.sampler.expect("complete pieces have a sampler state"),
            held,
        };
        let horizon = state.horizon().map(|h| h.time);
        // Events up to this trigger must be out before the checkpoint says so.
        events.flush()?;
        let offsets: BTreeMap<i32, i64> = p
            .partitions
            .iter()
            .map(|(id, m)| (*id, m.restart))
            .collect();
        let published = events.published(t.id, &offsets);
        let cp = Checkpoint {
            pipeline: self.spec.name.clone(),
            topic: self.source.name(),
            config_hash: self.config_hash.clone(),
            trigger_id: t.id,
            boundary: t.boundary,
            model_id: model.map(String::from),
            offsets,
            replay_from: p
                .partitions
                .iter()
                .map(|(id, m)| (*id, m.replay_from(horizon)))
                .collect(),
            state,
            models: self.model_index.lock().expect("index poisoned").clone(),
            published,
        };
        let path = checkpoint::write(run_dir, &cp)
            .with_context(|| format!("writing checkpoint {} in {}", t.id, run_dir.display()))?;
        // Offsets reach the consumer group only once the checkpoint holding them is durable.
        // A resumed run reads them from the checkpoint, so a broker that stays down is waited
        // for a while, then the commit is left to the next checkpoint.
        let mut wait = Duration::from_millis(200);
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Err(e) = self.source.commit(&cp.offsets) {
            if Instant::now() + wait > deadline {
                tracing::warn!(
                    trigger = t.id,
                    "{e}; not committed (the checkpoint on disk holds these offsets)"
                );
                break;
            }
            tracing::warn!(trigger = t.id, "{e}; retrying in {wait:?}");
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_secs(5));
        }
        if let Some(h) = horizon {
            self.forget_before.store(h, Ordering::Relaxed);
        }
        self.checkpoint_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        tracing::info!(trigger = t.id, path = %path.display(), "checkpoint written");
        Ok(())
    }

    /// Records the first runtime failure; the run finishes and reports it (a follower's
    /// also goes to the leader).
    pub(super) fn fail(&self, message: String) {
        let mut e = self.error.lock().expect("error slot poisoned");
        if e.is_none() {
            tracing::error!("{message}");
            *e = Some(message.clone());
            if self.follows() {
                self.forward(Report::Failed {
                    process: self.topology.process,
                    message,
                });
            }
        }
    }
}

/// What the config file alone cannot tell: the model must fit the samples' feature count and
/// the training device must exist on this machine. Config errors, reported before anything
/// runs.
pub fn check_model_input(spec: &PipelineSpec, features: usize) -> anyhow::Result<()> {
    let file = spec.config_path.display();
    spec.model
        .arch
        .check_input(features)
        .map_err(|(key, message)| UsageError(format!("{file}: model.{key}: {message}")))?;
    crate::train::parse_device(&spec.training.device)
        .map_err(|message| UsageError(format!("{file}: training.device: {message}")))?;
    for (i, v) in spec.variants.iter().enumerate() {
        crate::train::parse_device(&v.spec.training.device).map_err(|message| {
            UsageError(format!(
                "{file}: variant[{i}] ({}).training.device: {message}",
                v.name
            ))
        })?;
    }
    if let Some(device) = spec.evaluation.as_ref().and_then(|e| e.device.as_deref()) {
        crate::train::parse_device(device)
            .map_err(|message| UsageError(format!("{file}: evaluation.device: {message}")))?;
    }
    Ok(())
}

fn usage_if_config(e: SourceError) -> anyhow::Error {
    match e {
        SourceError::Config { .. } => UsageError(e.to_string()).into(),
        _ => anyhow::Error::new(e),
    }
}

/// Loads the evaluation datasets of `[evaluation]` (files or topics, decoded like the source);
/// undecodable rows go to `dead`.
pub fn load_eval_datasets(
    spec: &PipelineSpec,
    features: &[String],
    dead: &dyn Fn(DeadLetter),
) -> anyhow::Result<Vec<EvalDataset>> {
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
                let (samples, bad) = read_topic(cluster, topic, decoder)
                    .with_context(|| format!("reading evaluation dataset `{}`", d.name))?;
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
) -> anyhow::Result<()> {
    if names == features {
        return Ok(());
    }
    let d = &spec
        .evaluation
        .as_ref()
        .expect("datasets come from [evaluation]")
        .datasets[i];
    Err(UsageError(format!(
        "{}: evaluation.datasets[{i}] (`{}`): feature columns {names:?} differ from the source's {features:?}",
        spec.config_path.display(),
        d.name
    ))
    .into())
}

/// Checks the columns of the evaluation datasets in files against the source's `features`
/// (`sluice validate`; topics are checked when a run reads them).
pub fn check_eval_files(spec: &PipelineSpec, features: &[String]) -> anyhow::Result<()> {
    for (i, d) in spec.evaluation.iter().flat_map(|e| &e.datasets).enumerate() {
        if let EvalInput::File { path, format } = &d.input {
            let file = FileSource::open(path, *format, &d.columns, &spec.config_path)
                .map_err(usage_if_config)?;
            check_eval_features(spec, i, file.feature_names(), features)?;
        }
    }
    Ok(())
}

/// The evaluator of a run, if `[evaluation]` is configured: built before the trainer starts
/// (see `eval::Session::new`).
#[allow(clippy::too_many_arguments)]
fn spawn_evaluator(
    spec: &PipelineSpec,
    input_dim: usize,
    datasets: Vec<EvalDataset>,
    models: &ModelStore,
    run_dir: &Path,
    events: &Arc<EventSink>,
    resumed_after: Option<u64>,
) -> anyhow::Result<Option<Evaluator>> {
    let Some(eval) = &spec.evaluation else {
        return Ok(None);
    };
    // A resumed run's earlier models (its event files keep those up to the checkpoint).
    let earlier = match resumed_after {
        Some(k) => trained_models(run_dir, models)?
            .into_iter()
            .filter(|m| m.trigger <= k)
            .collect(),
        None => Vec::new(),
    };
    let device = eval.device.as_deref().unwrap_or(&spec.training.device);
    let evaluator = Evaluator::spawn(
        EvalSetup {
            model: spec.model.clone(),
            input_dim,
            device: crate::train::parse_device(device).map_err(anyhow::Error::msg)?,
            datasets,
            handlers: eval.handlers.clone(),
            store: models.clone(),
            scratch: run_dir.join("models"),
            events: events.clone(),
        },
        earlier,
    )?;
    Ok(Some(evaluator))
}

/// Opens the source of `spec` (creating its topic if the config says so) and checks the model
/// against its features.
fn open_source(spec: &PipelineSpec) -> anyhow::Result<Arc<dyn Source>> {
    let source = crate::source::open(spec).map_err(usage_if_config)?;
    check_model_input(spec, source.feature_names().len())?;
    Ok(source)
}

impl Replay {
    /// `self` with `follow` set for `source`.
    fn resolved(self, source: &dyn Source) -> Self {
        Self {
            follow: source.follows(&self.window),
            ..self
        }
    }
}

/// Fails (a usage error) when the replay window holds none of the source's data.
fn check_replay_window(source: &dyn Source, replay: &Replay) -> anyhow::Result<()> {
    if replay.window.is_unbounded() {
        return Ok(());
    }
    match source
        .check_window(&replay.window, replay.follow)
        .map_err(usage_if_config)?
    {
        Some(message) => Err(UsageError(message).into()),
        None => Ok(()),
    }
}

/// What a follower process did (`sluice run -p I` with `I > 0`).
#[derive(Clone, Debug, Serialize)]
pub struct FollowSummary {
    /// Pipeline name.
    pub pipeline: String,
    /// This process.
    pub process: usize,
    /// Processes of the run.
    pub processes: usize,
    /// Samples this process read from its share of the source.
    pub read: u64,
    /// Of its inputs, those it sent to the leader as dead letters.
    pub dead_letters: u64,
    /// Wall time, seconds.
    pub wall_s: f64,
}

/// Runs process `opts.process > 0` of a cluster run of `spec`: reads this process's share of
/// the source into the dataflow and reports to the leader (see `cluster.rs`). It writes no
/// files.
pub fn follow(spec: &PipelineSpec, opts: &RunOptions) -> anyhow::Result<FollowSummary> {
    let started = Instant::now();
    let topology = opts.topology()?;
    anyhow::ensure!(!topology.leads(), "process 0 leads: `run` it");
    let source = open_source(spec)?;
    let replay = opts.replay.resolved(&*source);
    let samples = Arc::new(SampleStore::new(
        source.feature_names().len(),
        topology.threads,
    ));
    let run_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| default_run_dir(&spec.name));
    let shared = Arc::new(Shared::new(
        spec, source, samples, run_dir, topology, replay,
    ));
    execute(&shared, &ProgressBar::hidden())?;
    if let Some(e) = shared.error.lock().expect("error slot poisoned").take() {
        anyhow::bail!(e);
    }
    Ok(FollowSummary {
        pipeline: spec.name.clone(),
        process: shared.topology.process,
        processes: shared.topology.processes,
        read: shared.read.load(Ordering::Relaxed),
        dead_letters: shared.dead.load(Ordering::Relaxed),
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// Runs the timely workers of this process to the end, showing their progress on `bar`.
fn execute(shared: &Arc<Shared>, bar: &ProgressBar) -> anyhow::Result<()> {
    if shared.topology.processes > 1 {
        cluster::watch_for_lost_processes();
    }
    let worker_shared = shared.clone();
    let guards = timely::execute(shared.topology.timely_config(), move |worker| {
        let shared = &worker_shared;
        let result = worker_main(worker, shared);
        if let Err(e) = &result {
            shared.fail(e.clone());
        }
        shared.finished_workers.fetch_add(1, Ordering::SeqCst);
    })
    .map_err(|e| anyhow::anyhow!("starting timely workers: {e}"))?;
    while shared.finished_workers.load(Ordering::SeqCst) < shared.topology.threads {
        bar.set_length(shared.total.load(Ordering::Relaxed));
        bar.set_position(shared.read.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Joining also joins timely's network threads, which panicked if a process was lost (the
    // workers have reported that as the run's error).
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| guards.join())) {
        // After a lost process, timely's own last steps fail too; the workers have reported
        // the loss.
        Ok(_) | Err(_) if cluster::lost() => {}
        Ok(results) => {
            for r in results {
                r.map_err(|e| anyhow::anyhow!("timely worker failed: {e}"))?;
            }
        }
        Err(_) => anyhow::bail!("timely's network threads failed"),
    }
    bar.set_length(shared.total.load(Ordering::Relaxed));
    bar.set_position(shared.read.load(Ordering::Relaxed));
    Ok(())
}

/// Runs `spec` to the end of its source (in a cluster: process 0, the leader).
pub fn run(spec: &PipelineSpec, opts: &RunOptions) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let topology = opts.topology()?;
    anyhow::ensure!(
        topology.leads(),
        "process {} follows: `follow` it",
        topology.process
    );
    let workers = topology.threads;
    let sweep = !spec.variants.is_empty();
    if sweep && topology.processes > 1 {
        return Err(UsageError(format!(
            "{}: a sweep ([[variant]]) runs in one process; drop -n/--processes",
            spec.config_path.display()
        ))
        .into());
    }
    let source = open_source(spec)?;
    let replay = opts.replay.resolved(&*source);
    check_replay_window(&*source, &replay)?;
    let dim = source.feature_names().len();
    let run_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| default_run_dir(&spec.name));
    // A Kafka run directory with a checkpoint resumes after it, with the same configuration.
    let config_hash = checkpoint::fnv64(spec.config_text.as_bytes());
    // A sweep writes no checkpoints: it starts over.
    let (resume, start) = if source.restartable() && !sweep {
        (
            checkpoint::latest(&run_dir),
            checkpoint::read_start(&run_dir),
        )
    } else {
        (None, None)
    };
    let recorded = resume
        .as_ref()
        .map(|cp| (&cp.pipeline, &cp.topic, &cp.config_hash))
        .or(start
            .as_ref()
            .map(|s| (&s.pipeline, &s.topic, &s.config_hash)));
    if let Some((pipeline, topic, hash)) = recorded
        && (*pipeline != spec.name || *topic != source.name() || *hash != config_hash)
    {
        return Err(UsageError(format!(
            "{}: holds a run of another configuration (pipeline `{pipeline}`, topic `{topic}`; \
             its config.toml is the one it ran with): resume it with that configuration, or \
             give a new --out",
            run_dir.display(),
        ))
        .into());
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
        return Err(UsageError(format!(
            "{}: holds a run started with --replay-from {}, not {}: resume it with the same \
             start, or give a new --out",
            run_dir.display(),
            from(&info.replay.window),
            from(&replay.window),
        ))
        .into());
    }
    if let Some(cp) = &resume {
        tracing::info!(trigger = cp.trigger_id, "resuming after checkpoint");
        eprintln!(
            "{}: resuming after trigger {} (checkpoint in {})",
            spec.name,
            cp.trigger_id,
            run_dir.join("checkpoints").display()
        );
    }
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("creating run directory {}", run_dir.display()))?;
    std::fs::write(run_dir.join("config.toml"), &spec.config_text)
        .with_context(|| format!("writing {}", run_dir.join("config.toml").display()))?;
    let mut info = RunInfo {
        pipeline: spec.name.clone(),
        config_path: std::path::absolute(&spec.config_path)?,
        sluice_version: env!("CARGO_PKG_VERSION").into(),
        started_ms: crate::sink::unix_ms(),
        variant: None,
        git_revision: crate::GIT_REVISION.into(),
        replay,
        input: earlier.and_then(|e| e.input),
    };
    write_run_info(&run_dir, &info)?;
    let events = Arc::new(EventSink::create(
        &run_dir,
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
            &run_dir,
            &checkpoint::Start {
                pipeline: spec.name.clone(),
                topic: source.name(),
                config_hash: config_hash.clone(),
                published: events.opened_ends(),
            },
        )
        .with_context(|| format!("writing the start record in {}", run_dir.display()))?;
    }
    let samples = SampleStore::new(dim, workers).with_lanes(spec.variants.len().max(1));
    let samples = Arc::new(match spec.selection.maximum_keys_in_memory {
        Some(max) => samples.spilling(max, &run_dir.join("spill")),
        None => samples,
    });
    if let Some(cp) = &resume {
        // The trainer is done with every trigger up to the checkpoint.
        samples.trained(0, cp.trigger_id);
    }
    let mut shared = Shared::new(
        spec,
        source,
        samples.clone(),
        run_dir.clone(),
        topology,
        replay,
    );
    shared.events = Some(events.clone());
    for lane in &mut shared.lanes {
        if lane.name.is_some() {
            open_variant(lane, &info)?;
        } else {
            lane.events = Some(events.clone());
        }
        let models = ModelStore::create(
            &lane.run_dir.join("models"),
            lane.spec.model_storage.clone(),
        )?;
        if resume.is_some() || start.is_some() {
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
    shared.model_index = Mutex::new(
        resume
            .as_ref()
            .map(|cp| cp.models.clone())
            .unwrap_or_default(),
    );
    let resumed_after = resume.as_ref().map(|cp| cp.trigger_id);
    let initial_model = resume.as_ref().and_then(|cp| cp.model_id.clone());
    if shared.resumed.set(Resumed::new(resume)).is_err() {
        unreachable!("set once, here");
    }
    let shared = Arc::new(shared);
    let datasets = load_eval_datasets(spec, shared.source.feature_names(), &|d| {
        shared.dead_letter(d)
    })?;
    // A sweep's trainers take turns on each device (see `train::DeviceGate`).
    let gate = (shared.lanes.len() > 1).then(|| Arc::new(DeviceGate::default()));
    let mut running = Vec::new();
    for (l, lane) in shared.lanes.iter().enumerate() {
        let models = lane.models.clone().expect("set above");
        let events = lane.events.clone().expect("set above");
        let evaluator = spawn_evaluator(
            &lane.spec,
            dim,
            datasets.clone(),
            &models,
            &lane.run_dir,
            &events,
            resumed_after,
        )?;
        let feedback = lane.spec.training.per_sample_feedback.then(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            *lane.feedback.lock().expect("feedback slot poisoned") = Some(rx);
            tx
        });
        let (queue, trainer) = Trainer::spawn(TrainerContext {
            pipeline: lane.spec.name.clone(),
            training: lane.spec.training.clone(),
            model: lane.spec.model.clone(),
            feature_names: shared.source.feature_names().to_vec(),
            samples: samples.clone(),
            models,
            run_dir: lane.run_dir.clone(),
            events: events.clone(),
            evaluator: evaluator.as_ref().map(Evaluator::sender),
            feedback,
            initial_model: initial_model.clone(),
            gate: gate.clone(),
            on_trigger_done: {
                let shared = shared.clone();
                Some(Box::new(
                    move |t: &TriggerEvent, done: &TriggerOutcome<'_>| {
                        let lane = &shared.lanes[l];
                        lane.queued.fetch_sub(1, Ordering::Relaxed);
                        if let Some(m) = done.model {
                            *lane.model.lock().expect("model slot poisoned") = Some(m.to_string());
                        }
                        // First the model report: a policy that needs models saves its state
                        // for the checkpoint once it has it.
                        lane.model_feed.post(ModelInfo {
                            trigger: t.id,
                            model: done.model.map(String::from),
                            samples: done.samples,
                            training_s: done.training_ms as f64 / 1000.0,
                        });
                        if let Some(m) = done.model {
                            let mut index = shared.model_index.lock().expect("index poisoned");
                            if index.last().is_none_or(|last| last != m) {
                                index.push(m.to_string());
                            }
                        }
                        // Training sets up to this one are done: retired samples may go.
                        shared.samples.trained(l, t.id);
                        let events = lane
                            .events
                            .as_ref()
                            .expect("the leader's lanes have events");
                        events.metric(t.id, "stored_samples", shared.samples.len() as f64, None)?;
                        shared.write_checkpoint(t, done.model)
                    },
                ))
            },
        })?;
        *lane.trainer_queue.lock().expect("queue slot poisoned") = Some(queue);
        running.push((trainer, evaluator));
    }

    let bar = if opts.progress {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} samples, {per_sec}, eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(spec.name.clone());

    let status = StatusWriter::start(&shared, opts.status_every);
    execute(&shared, &bar)?;
    bar.set_message(format!("{}: waiting for the trainer", spec.name));
    // Every worker is done, so worker 0 dropped the queues: the trainers finish what is queued.
    for lane in &shared.lanes {
        lane.trainer_queue
            .lock()
            .expect("queue slot poisoned")
            .take();
    }
    let mut finished = Vec::new();
    for (trainer, evaluator) in running {
        let report = trainer.join();
        // The trainer has sent its last model: the evaluator finishes the after-training
        // evaluations and runs the after-pipeline handlers.
        bar.set_message(format!("{}: evaluating", spec.name));
        let evaluation = evaluator.map(Evaluator::finish).transpose();
        finished.push((report, evaluation));
    }
    bar.finish_and_clear();
    let mut reports = Vec::new();
    for (report, evaluation) in finished {
        reports.push((report?, evaluation?.unwrap_or_default()));
    }
    let failure = shared.error.lock().expect("error slot poisoned").take();
    status.finish(if failure.is_some() {
        "failed"
    } else {
        "finished"
    })?;
    for lane in &shared.lanes {
        lane.events.as_ref().expect("set above").flush()?;
    }
    events.flush()?;
    if let Some(e) = failure {
        anyhow::bail!(e);
    }
    let covered = std::mem::take(&mut *shared.covered.lock().expect("covered poisoned"));
    info.input.get_or_insert_default().merge(covered.clone());
    write_run_info(&run_dir, &info)?;
    let [ingest, trigger_policy, selection] = shared.clock.totals_ms();
    let wall_s = started.elapsed().as_secs_f64();
    let mut lanes: Vec<RunSummary> = shared
        .lanes
        .iter()
        .zip(reports)
        .map(|(lane, (report, evaluation))| RunSummary {
            pipeline: spec.name.clone(),
            variant: lane.name.clone(),
            run_dir: lane.run_dir.clone(),
            workers: shared.topology.peers(),
            processes: shared.topology.processes,
            samples: shared.ingested.load(Ordering::Relaxed),
            dead_letters: shared.dead.load(Ordering::Relaxed),
            triggers: lane.triggers.load(Ordering::Relaxed),
            models: report.models,
            wall_s,
            training_s: report.training_ms as f64 / 1000.0,
            last_model: report.last_model,
            cost: Cost {
                ingest_s: ingest / 1000.0,
                read_s: shared.clock.read_s(),
                trigger_policy_s: trigger_policy / 1000.0,
                selection_s: selection / 1000.0,
                training_s: report.training_ms as f64 / 1000.0,
                model_store_s: report.model_store_ms as f64 / 1000.0,
                evaluation_s: evaluation.evaluation_s,
                checkpoint_s: shared.checkpoint_ns.load(Ordering::Relaxed) as f64 / 1e9,
            },
            evaluation,
            scores: lane.scores.load(Ordering::Relaxed),
            stored_samples: shared.samples.len() as u64,
            stored_in_memory: shared.samples.in_memory() as u64,
            replay,
            input: covered.clone(),
            variants: Vec::new(),
        })
        .collect();
    let summary = if lanes.len() == 1 && lanes[0].variant.is_none() {
        lanes.pop().expect("one lane")
    } else {
        for lane in &lanes {
            write_summary(&lane.run_dir, lane)?;
        }
        sweep_summary(spec, &run_dir, lanes, wall_s)
    };
    write_summary(&run_dir, &summary)?;
    Ok(summary)
}

fn write_summary(dir: &Path, summary: &RunSummary) -> anyhow::Result<()> {
    let path = dir.join("summary.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(summary).expect("summary serialises"),
    )
    .with_context(|| format!("writing {}", path.display()))
}

/// A sweep's summary: what the variants share once (samples, dead letters, the dataflow's
/// stage times, wall time), their training, model store and evaluation times and their
/// trigger and model counts added up, and each variant's own summary.
fn sweep_summary(
    spec: &PipelineSpec,
    run_dir: &Path,
    variants: Vec<RunSummary>,
    wall_s: f64,
) -> RunSummary {
    let first = &variants[0];
    let sum = |f: fn(&RunSummary) -> f64| variants.iter().map(f).sum::<f64>();
    RunSummary {
        pipeline: spec.name.clone(),
        variant: None,
        run_dir: run_dir.to_path_buf(),
        workers: first.workers,
        processes: first.processes,
        samples: first.samples,
        dead_letters: first.dead_letters,
        triggers: variants.iter().map(|v| v.triggers).sum(),
        models: variants.iter().map(|v| v.models).sum(),
        wall_s,
        training_s: sum(|v| v.training_s),
        last_model: None,
        cost: Cost {
            training_s: sum(|v| v.cost.training_s),
            model_store_s: sum(|v| v.cost.model_store_s),
            evaluation_s: sum(|v| v.cost.evaluation_s),
            ..first.cost.clone()
        },
        evaluation: EvalReport::default(),
        scores: variants.iter().map(|v| v.scores).sum(),
        stored_samples: first.stored_samples,
        stored_in_memory: first.stored_in_memory,
        replay: first.replay,
        input: first.input.clone(),
        variants,
    }
}

/// Creates a variant's run directory (`variants/<name>`: its config, `run.json`, events,
/// models), like a run's of its own; its events also go to the run's Kafka topics, tagged with
/// its name.
fn open_variant(lane: &mut Lane, info: &RunInfo) -> anyhow::Result<()> {
    let name = lane.name.clone().expect("a variant has a name");
    let dir = &lane.run_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("config.toml"), &lane.spec.config_text)
        .with_context(|| format!("writing {}", dir.join("config.toml").display()))?;
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

fn worker_main(worker: &mut timely::worker::Worker, shared: &Arc<Shared>) -> Result<(), String> {
    let index = worker.index();
    // The leader set it before starting; its followers' workers learn it here.
    let tell = (index == 0 && shared.topology.processes > 1)
        .then(|| shared.resumed.get().and_then(|r| r.checkpoint.as_ref()))
        .flatten();
    let checkpoint =
        cluster::handshake(worker, shared.topology.process, &shared.config_hash, tell)?;
    shared.resumed.get_or_init(|| Resumed::new(checkpoint));
    let queues = shared
        .lanes
        .iter()
        .map(|lane| {
            (index == 0)
                .then(|| {
                    lane.trainer_queue
                        .lock()
                        .expect("queue slot poisoned")
                        .take()
                })
                .flatten()
        })
        .collect();
    shared.clock.register(worker);
    let graph = worker.dataflow::<u64, _, _>(|scope| dataflow::build(scope, shared, queues));
    let mut lanes = LaneLoop::default();
    let mut seen = Vec::new();
    for (l, lane) in graph.lanes.into_iter().enumerate() {
        lanes
            .feedback
            .push(dataflow::FeedbackPump::new(index, lane.feedback, shared, l));
        lanes.probes.push(lane.probe);
        lanes.probes.push(lane.seen_probe);
        lanes.trainers.push(lane.trainer);
        seen.push(lane.seen);
    }
    let limit = shared.replay.max_triggers;
    let reached = limit.is_some_and(|max| shared.first_trigger_id() >= max);
    let mut between = Between {
        shared: shared.clone(),
        reached: vec![reached; seen.len()],
        seen,
        reports: Some(graph.reports),
        notices: (index == 0).then_some(graph.notices),
        noticed: u64::MAX,
        forget_before: graph.forget_before,
        stop: limit,
        stopped: reached,
    };
    let result = feed(worker, shared, graph.input, &mut lanes, &mut between);
    if let Err(e) = result {
        shared.fail(e);
    }
    // Everything this worker has to say is said: close its streams, and keep the dataflow
    // moving until every worker has closed them (the leader's worker 0 applies the reports).
    between.close();
    while !graph.reports_probe.done() || !lanes.done() {
        if let Err(e) = cluster::step(worker, Some(Duration::from_millis(10))) {
            // Reports may be lost with the process: checkpoints could miss their pieces.
            shared.fail(e);
            break;
        }
    }
    Ok(())
}

/// A worker's handles on its lanes (a sweep's variants, else one): the trainers' feedback, the
/// progress of training sets and triggers, the training queues.
#[derive(Default)]
struct LaneLoop {
    feedback: Vec<dataflow::FeedbackPump>,
    probes: Vec<timely::dataflow::ProbeHandle<u64>>,
    trainers: Vec<dataflow::TrainerQueue>,
}

impl LaneLoop {
    /// Moves the trainers' feedback into the dataflow, at the ingestion watermark `now`.
    fn pump(&mut self, now: u64) {
        for f in &mut self.feedback {
            f.pump(now);
        }
    }

    /// Whether feedback may still arrive from some trainer.
    fn feedback_open(&self) -> bool {
        self.feedback.iter().any(dataflow::FeedbackPump::open)
    }

    /// Every training set out and every trigger seen.
    fn done(&self) -> bool {
        self.probes.iter().all(|p| p.done())
    }

    /// Moves waiting training sets into the queues; false once a trainer stopped.
    fn flush(&self) -> bool {
        self.trainers.iter().all(dataflow::TrainerQueue::flush)
    }

    /// Training sets waiting for room in a queue.
    fn backlog(&self) -> usize {
        self.trainers
            .iter()
            .map(dataflow::TrainerQueue::backlog)
            .sum()
    }

    /// Closes the queues (the trainers finish what they hold).
    fn close(&self) {
        for t in &self.trainers {
            t.close();
        }
    }
}

/// What a worker passes on between steps: restart offsets of the triggers it saw (for
/// checkpoints), a follower's reports to the leader, worker 0's notices to every worker.
struct Between {
    shared: Arc<Shared>,
    /// Per lane, the triggers seen since the last pass.
    seen: Vec<dataflow::SeenTriggers>,
    /// Per lane, whether it reached the trigger limit.
    reached: Vec<bool>,
    reports: Option<timely::dataflow::InputHandleVec<u64, Report>>,
    /// Worker 0's notices: the event time before which checkpoints need no offset marks.
    notices: Option<timely::dataflow::InputHandleVec<u64, u64>>,
    noticed: u64,
    forget_before: std::rc::Rc<std::cell::Cell<u64>>,
    /// The trigger limit, and whether every lane reached it (the source loop stops reading).
    stop: Option<u64>,
    stopped: bool,
}

impl Between {
    fn pass(&mut self, share: &mut dyn Share) {
        self.pass_and_report(Some(share), false);
    }

    fn pass_and_report(&mut self, share: Option<&mut dyn Share>, last: bool) {
        if let Some(notices) = &mut self.notices {
            let forget = self.shared.forget_before.load(Ordering::Relaxed);
            if forget != u64::MAX && forget != self.noticed {
                notices.send(forget);
                advance(notices);
                self.noticed = forget;
            }
        }
        if let Some(share) = share {
            let forget = self.forget_before.get();
            if forget != u64::MAX {
                share.forget_before(forget);
            }
            if self.shared.checkpoints() {
                for t in self.seen[0].borrow().iter() {
                    self.shared
                        .report_offsets(t.id, share.restart_offsets(t.boundary.time));
                }
            }
        }
        for (seen, reached) in self.seen.iter().zip(&mut self.reached) {
            let mut seen = seen.borrow_mut();
            *reached |= seen
                .iter()
                .any(|t| self.stop.is_some_and(|max| t.id + 1 >= max));
            seen.clear();
        }
        self.stopped = self.reached.iter().all(|r| *r);
        if let Some(reports) = &mut self.reports {
            let taken = self.shared.take_reports(last);
            if !taken.is_empty() {
                for r in taken {
                    reports.send(r);
                }
                // The leader may be waiting for these (a checkpoint's pieces).
                advance(reports);
            }
        }
    }

    /// Sends what is left and closes this worker's streams.
    fn close(&mut self) {
        self.pass_and_report(None, true);
        self.reports = None;
        self.notices = None;
    }
}

/// Sends what `input` holds on: timely's exchange keeps records it was given until its buffer
/// fills or their time closes, and the reports' and notices' times mean nothing but this.
fn advance<D: Clone + 'static>(input: &mut timely::dataflow::InputHandleVec<u64, D>) {
    let next = *input.time() + 1;
    input.advance_to(next);
}

/// Feeds this worker's share of the source into the dataflow, then runs it (and, on worker
/// 0, the trainer's feedback) to the end.
fn feed(
    worker: &mut timely::worker::Worker,
    shared: &Arc<Shared>,
    mut input: timely::dataflow::InputHandleVec<u64, Record>,
    lanes: &mut LaneLoop,
    between: &mut Between,
) -> Result<(), String> {
    let index = worker.index();
    let plan = ReadPlan {
        resume: shared.resumed().resume.as_ref(),
        window: shared.replay.window,
        follow: shared.replay.follow,
    };
    let mut share = shared
        .source
        .open_share(index, worker.peers(), plan, shared.spec.source.replay_batch)
        .map_err(|e| e.to_string())?;
    shared
        .total
        .fetch_add(share.remaining().unwrap_or(0), Ordering::Relaxed);
    let mut covered = Covered::default();
    while !between.stopped {
        let polled = share
            .poll(Duration::from_millis(50))
            .map_err(|e| e.to_string())?;
        let Some(batch) = polled else {
            // Nothing new: keep the dataflow (and the trainer's feedback) moving.
            lanes.pump(*input.time());
            cluster::step(worker, None)?;
            between.pass(&mut *share);
            continue;
        };
        shared.clock.add_read(batch.busy);
        for d in batch.dead {
            shared.dead_letter(d);
        }
        if let Some(from) = batch.from {
            if from > *input.time() {
                input.advance_to(from);
            }
            shared.note_watermark(index, from);
        }
        lanes.pump(*input.time());
        // Payloads the checkpoint's state needs go to the store before the samples after the
        // boundary; records go out at the input's time, never after their own event time; the
        // watermark then moves the input forward.
        for s in batch.restored {
            input.send(Record::Restored(s));
        }
        for s in batch.samples {
            covered.sample(s.time);
            input.send(Record::New(s));
        }
        shared.read.fetch_add(batch.consumed, Ordering::Relaxed);
        match batch.watermark {
            Some(w) if w > *input.time() => {
                input.advance_to(w);
                shared.note_watermark(index, w);
            }
            Some(_) => {}
            None => break,
        }
        cluster::step(worker, None)?;
        between.pass(&mut *share);
        wait_for_trainer(worker, lanes, shared, || between.pass(&mut *share))?;
    }
    covered.offsets = share
        .covered()
        .into_iter()
        .map(|(id, first, next)| (id, (first, next)))
        .collect();
    shared.cover(covered);
    let last = *input.time();
    drop(input);
    // Every training set out, and every trigger seen (their offsets are reported below).
    while !lanes.done() {
        lanes.pump(last);
        cluster::step(worker, Some(Duration::from_millis(10)))?;
        between.pass(&mut *share);
        lanes.flush();
    }
    between.pass(&mut *share);
    wait_for_trainer(worker, lanes, shared, || between.pass(&mut *share))?;
    if lanes.feedback_open() {
        // Every training set is queued: close the queues, and deliver the trainers' remaining
        // scores until they finish (each drops its end of its feedback channel).
        lanes.close();
        while lanes.feedback_open() {
            lanes.pump(last);
            cluster::step(worker, Some(Duration::from_millis(10)))?;
            between.pass(&mut *share);
        }
    }
    Ok(())
}

/// Steps the dataflow without new input while training sets wait for room in the trainer's
/// queue: backpressure on ingestion that never blocks the worker (`report` keeps restart offsets
/// flowing to the checkpoint the trainer may be waiting for).
fn wait_for_trainer(
    worker: &mut timely::worker::Worker,
    queue: &LaneLoop,
    shared: &Shared,
    mut report: impl FnMut(),
) -> Result<(), String> {
    while queue.backlog() > 0 {
        if !queue.flush() {
            shared.fail("the trainer stopped; see its error".into());
            return Ok(());
        }
        cluster::step(worker, Some(Duration::from_millis(1)))?;
        report();
    }
    Ok(())
}

fn write_run_info(run_dir: &Path, info: &RunInfo) -> anyhow::Result<()> {
    let path = run_dir.join(RUN_INFO);
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(info).expect("run info serialises"),
    )
    .with_context(|| format!("writing {}", path.display()))
}

/// `runs/<pipeline>-<YYYYMMDD-HHMMSS>` (UTC).
fn default_run_dir(pipeline: &str) -> PathBuf {
    let secs = crate::sink::unix_ms() / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = crate::calendar::civil_from_days(days as i64);
    Path::new("runs").join(format!(
        "{pipeline}-{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}
