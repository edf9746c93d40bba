//! The checkpoint book of a run: the pieces of each trigger's checkpoint as the workers,
//! operators and trainer report them, and the writing of a checkpoint once they are complete
//! (then its offsets are committed through the source). The file format is `checkpoint.rs`'s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use sluice_dataflows::moments::Moments;
use sluice_dataflows::triggers::State;
use sluice_dataflows::{Position, TriggerEvent};

use super::checkpoint::{self, Checkpoint, OperatorState, Tally};
use super::error::RunError;
use super::progress::Counters;
use crate::sink::EventSink;
use crate::source::{PartitionMarks, Resume, Source};

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
    /// The feature statistics at the boundary (`normalize = "running"`).
    moments: Option<Moments>,
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
pub struct Resumed {
    /// The checkpoint.
    pub checkpoint: Option<Checkpoint>,
    /// Where the shares start.
    pub resume: Option<Resume>,
}

impl Resumed {
    /// Where a run resuming from `checkpoint` starts.
    pub fn new(checkpoint: Option<Checkpoint>) -> Self {
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

/// A leader's checkpoint book (see the module doc).
pub struct CheckpointBook {
    /// Whether checkpoints are written (a restartable source, without a sweep).
    enabled: bool,
    pipeline: String,
    run_dir: PathBuf,
    /// Hash of the configuration text, recorded in checkpoints.
    config_hash: String,
    source: Arc<dyn Source>,
    /// The run's events: flushed before a checkpoint says they are out.
    events: Arc<EventSink>,
    counters: Arc<Counters>,
    /// Workers of every process: each reports its offsets and selection state.
    peers: usize,
    /// Models stored so far, oldest first (the model store's index in checkpoints).
    model_index: Mutex<Vec<String>>,
    /// Checkpoint pieces per trigger.
    pieces: Mutex<BTreeMap<u64, Pieces>>,
    pieces_changed: Condvar,
    /// Time spent writing checkpoints, ns.
    checkpoint_ns: AtomicU64,
    /// Event time before which the last checkpoint needs no payloads: the readers' restart
    /// indexes forget what is before it (`u64::MAX`: none yet; worker 0 tells every worker).
    forget_before: AtomicU64,
    /// Samples at or before the last trigger's boundary, over every start of the run.
    samples_done: AtomicU64,
}

/// What a [`CheckpointBook`] is opened with.
pub struct BookSetup {
    /// Whether checkpoints are written.
    pub enabled: bool,
    /// Pipeline name.
    pub pipeline: String,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The configuration text's hash.
    pub config_hash: String,
    /// The source (offsets are committed through it).
    pub source: Arc<dyn Source>,
    /// The run's events.
    pub events: Arc<EventSink>,
    /// The process's counters (whether every worker finished).
    pub counters: Arc<Counters>,
    /// Workers of every process.
    pub peers: usize,
    /// The model index of the checkpoint resumed from.
    pub models: Vec<String>,
    /// Samples at or before the boundary of the checkpoint resumed from.
    pub samples_done: u64,
}

impl CheckpointBook {
    /// An empty book.
    pub fn new(setup: BookSetup) -> Self {
        Self {
            enabled: setup.enabled,
            pipeline: setup.pipeline,
            run_dir: setup.run_dir,
            config_hash: setup.config_hash,
            source: setup.source,
            events: setup.events,
            counters: setup.counters,
            peers: setup.peers,
            model_index: Mutex::new(setup.models),
            pieces: Mutex::default(),
            pieces_changed: Condvar::new(),
            checkpoint_ns: AtomicU64::new(0),
            forget_before: AtomicU64::new(u64::MAX),
            samples_done: AtomicU64::new(setup.samples_done),
        }
    }

    /// Adds to trigger `id`'s checkpoint pieces.
    fn piece(&self, id: u64, add: impl FnOnce(&mut Pieces)) {
        let mut pieces = self.pieces.lock().expect("pieces poisoned");
        add(pieces.entry(id).or_default());
        self.pieces_changed.notify_all();
    }

    /// A worker's restart offsets and marks for its partitions at trigger `id`'s boundary.
    pub fn offsets(&self, id: u64, partitions: Vec<(i32, PartitionMarks)>) {
        self.piece(id, |p| {
            p.workers += 1;
            p.partitions.extend(partitions);
        });
    }

    /// The trigger policy's state after trigger `id` (see `TriggerStreams::states`).
    pub fn trigger_state(&self, id: u64, state: Option<State>, horizon: Option<Position>) {
        self.piece(id, |p| p.trigger = Some(state.map(|s| (s, horizon))));
    }

    /// Worker `worker`'s selection state after trigger `id`, and the positions it holds.
    pub fn selection_state(&self, id: u64, worker: usize, state: State, held: Vec<Position>) {
        self.piece(id, |p| {
            p.selection.insert(worker, state);
            p.held.extend(held);
        });
    }

    /// The sampler's state after trigger `id`.
    pub fn sampler_state(&self, id: u64, state: State) {
        self.piece(id, |p| p.sampler = Some(state));
    }

    /// The feature statistics at trigger `id`'s boundary.
    pub fn moments(&self, id: u64, moments: Moments) {
        self.piece(id, |p| p.moments = Some(moments));
    }

    /// Adds model `m` to the model store's index (once).
    pub fn stored_model(&self, m: &str) {
        let mut index = self.model_index.lock().expect("index poisoned");
        if index.last().is_none_or(|last| last != m) {
            index.push(m.to_string());
        }
    }

    /// Event time before which the last checkpoint needs no payloads (`u64::MAX`: none yet).
    pub fn forget_before(&self) -> u64 {
        self.forget_before.load(Ordering::Relaxed)
    }

    /// Seconds spent writing checkpoints.
    pub fn checkpoint_s(&self) -> f64 {
        self.checkpoint_ns.load(Ordering::Relaxed) as f64 / 1e9
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
            if p.is_some_and(|p| p.complete(self.peers)) || self.counters.all_finished() {
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
            Some(p) if p.complete(self.peers) && p.trigger != Some(None) => Some(p),
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
    pub fn write(&self, t: &TriggerEvent, model: Option<&str>) -> Result<(), RunError> {
        let run_dir = &self.run_dir;
        let samples_done = self.samples_done.fetch_add(t.samples, Ordering::Relaxed) + t.samples;
        if !self.enabled {
            return Ok(());
        }
        let Some(p) = self.take_pieces(t.id) else {
            return Ok(());
        };
        let started = Instant::now();
        let events = &self.events;
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
            moments: p.moments,
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
            pipeline: self.pipeline.clone(),
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
            tally: Tally {
                samples: samples_done,
                dead_letters: self.counters.dead.load(Ordering::Relaxed),
                duplicates: self.counters.duplicates.load(Ordering::Relaxed),
                deletions: self.counters.deletions.load(Ordering::Relaxed),
                replaced: self.counters.replaced.load(Ordering::Relaxed),
            },
        };
        let path = checkpoint::write(run_dir, &cp).map_err(RunError::io(format!(
            "writing checkpoint {} in {}",
            t.id,
            run_dir.display()
        )))?;
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
}
