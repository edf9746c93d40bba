//! The per-worker dataflow graph: every operator and every sink, wired in this file.
//!
//! ```text
//! input: Record (this worker's share of the source, at its event time)
//!   └─ exchange by key to its owner (any worker; see `RunContext::owners`)
//!      └─ Store: Samples (payload -> sample store) ──err──> Sink: Dead letters
//!         │ ok: SampleMeta
//!         ├─> Trigger: <policy> (worker 0)  per lane; amount and time policies get a tally per
//!         │     worker and time instead (Trigger: Tally / Keys / Resolve, `TriggerCounted`);
//!         │     a policy that reads features, in several processes, gets them through
//!         │     Probe: Rows (per worker, + restored payloads) ─> Probe: Window (worker 0)
//!         │     ├─ triggers ──> Sink: Trigger events
//!         │     │           └─> broadcast ─> seen (the source loop's restart offsets)
//!         │     ├─ decisions ─> Sink: Decisions
//!         │     ├─ states ────> Sink: Checkpoint pieces
//!         │     └─ errors ────> Sink: Failure
//!         └─> Selection: <strategy> (per worker, its keys; + triggers)
//!               ├─ answers ─> Selection: AssembleTrainingSets (worker 0; + triggers)
//!               │               ├─ sets ─> Ship (several processes) ─> Sink: Trainer
//!               │               │          (bounded queue -> libtorch trainer)
//!               │               ├─ retired ─> Sink: Retirement
//!               │               └─ states ──> Sink: Checkpoint pieces
//!               ├─ retired ─> Sink: Retirement
//!               └─ states ──> Sink: Checkpoint pieces
//! feedback input (worker 0: per-sample scores from the trainer, at the ingestion watermark)
//!   └─ exchange by key ─> Scores: Latest (per worker; read by score-based selection)
//! reports input (followers' dead letters, offsets, states) ─> worker 0 applies them
//! notices input (worker 0: forget offsets before this event time) ─> broadcast
//! ```
//!
//! A sample's way: the source loop sends it in as a [`Record`]; `Store: Samples` keeps its
//! payload and passes its metadata on; the trigger policy sees it in position order and may
//! close an epoch at it (a `trigger` event); each selection adds it to its pool and answers
//! the trigger with candidates; the assembler samples them into the trigger's training set,
//! which the trainer sink queues for the trainer (which writes the model and its events).
//! The sinks and their handles are described in `sinks.rs`.
//!
//! Keys live on every worker of every process (`RunContext::owners`); in several processes,
//! training sets reach the trainer through `ship.rs`, and a lane whose trigger policy reads
//! features gets every sample's features on worker 0 (`Probe: Rows` on each worker, `Probe:
//! Window` on worker 0, which its probe reads; `RunContext::probe_window`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

use serde::{Deserialize, Serialize};
use sluice_dataflows::downsampling::{KeepScores, ScoreBoard};
use sluice_dataflows::moments::{AttachMoments, Moments, RunningMoments};
use sluice_dataflows::selection::{
    AssembleTrainingSets, NewData, Reservoir, Select, SelectOptions,
};
use sluice_dataflows::triggers::{NoProbe, Trigger, TriggerCounted, TriggerOptions};
use sluice_dataflows::{
    Key, Position, Retraction, SampleMeta, SampleScore, Time, TrainingSet, TriggerEvent, route,
};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Capability, Exchange, InputCapability, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle, Scope, StreamVec};

use super::cluster::Report;
use super::context::RunContext;
use super::progress::Counters;
use super::ship;
use super::sinks::{self, TrainerQueue};
use super::triggers::{
    Payloads, ProbeRow, ProbeWindow, StoreProbe, build_count_policy, build_policy, probe_rows,
    window_metas,
};
use crate::config::{DuplicatePolicy, Normalize, Pool};
use crate::source::{DeadLetter, Deletion, Rows, Sample, Source, raw_text};
use crate::store::{CandidateFile, SampleStore, SourceAt, StoreError, Versioned};
use crate::train::Delivery;

/// What the source loop sends into the dataflow.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Record {
    /// Samples to process, all owned by one worker (the source loop splits a batch by owner):
    /// their payloads are stored column by column and their metadata goes to the operators.
    New(Rows),
    /// A payload read again after a resume, which the checkpoint's state still needs: stored
    /// only (its sample was processed before the checkpoint).
    Restored(Sample),
    /// A deletion (a tombstone): the key's sample leaves the selections and the store.
    Delete(Deletion),
}

impl Record {
    /// A key whose owner takes the record (new samples: the first; they share the owner).
    fn key(&self) -> Key {
        match self {
            Record::New(rows) => rows.keys.first().copied().unwrap_or_default(),
            Record::Restored(s) => s.key,
            Record::Delete(d) => d.key,
        }
    }
}

/// One worker's handles on its graph.
pub struct Graph {
    /// Samples in.
    pub input: InputHandleVec<Time, Record>,
    /// Reports to the leader's worker 0 (a follower's; the time only counts sends).
    pub reports: InputHandleVec<Time, Report>,
    /// Progress of the reports: done once every worker closed its input.
    pub reports_probe: ProbeHandle<Time>,
    /// Worker 0's notices: checkpoints need no offsets before this event time.
    pub notices: InputHandleVec<Time, Time>,
    /// The latest notice this worker received (`u64::MAX`: none).
    pub forget_before: Rc<Cell<Time>>,
    /// Per lane (a sweep's variant; one without a sweep): its trigger, selection and sink.
    pub lanes: Vec<LaneGraph>,
}

/// One worker's handles on a lane of its graph.
pub struct LaneGraph {
    /// Trainer feedback in.
    pub feedback: InputHandleVec<Time, SampleScore>,
    /// Progress of the training sets.
    pub probe: ProbeHandle<Time>,
    /// Triggers this worker has seen (broadcast to every worker), for the source loop to
    /// record restart offsets and stop at `--max-triggers`.
    pub seen: SeenTriggers,
    /// Progress of the triggers to `seen`.
    pub seen_probe: ProbeHandle<Time>,
    /// The training queue (worker 0): taking it out closes the queue once the sink is done.
    pub trainer: TrainerQueue,
}

/// Builds the graph on one worker; `queues` are the lanes' training queues (worker 0 only).
pub fn build(
    scope: Scope<'_, Time>,
    shared: &Arc<RunContext>,
    queues: Vec<Option<SyncSender<Delivery>>>,
) -> Graph {
    let (input, records) = scope.new_input::<Record>();
    // Keys live on the first `owners` workers (timely sends a hash `h` to worker `h % peers`).
    let owners = shared.owners();
    let place = move |key: Key| route(key) % owners as u64;

    let (reports, reported) = scope.new_input::<Report>();
    let leader = shared.clone();
    let (reports_probe, _) = reported
        .exchange(|_| 0)
        .inspect(move |r: &Report| leader.apply(r.clone()))
        .probe();
    let (notices, noticed) = scope.new_input::<Time>();
    let forget_before = Rc::new(Cell::new(u64::MAX));
    let latest = forget_before.clone();
    noticed.broadcast().inspect(move |t| latest.set(*t));

    let windows = (0..shared.lanes.len()).any(|l| shared.probe_window(l));
    let stored = store_samples(
        records.exchange(move |r: &Record| place(r.key())),
        StoreHandle::of(shared),
        windows,
    );
    let (metas, deleted) = (stored.metas, stored.deleted);
    sinks::dead_letters(stored.refused, shared.dead_letters());
    // Several processes and a policy that reads features: every sample's features to worker 0.
    let rows = windows.then(|| probe_rows(metas.clone(), stored.restored, shared.samples.clone()));

    let lanes = queues
        .into_iter()
        .enumerate()
        .map(|(lane, queue)| {
            let input = LaneInput {
                metas: metas.clone(),
                deleted: deleted.clone(),
                rows: rows.clone(),
            };
            build_lane(scope, shared, lane, input, queue)
        })
        .collect();
    Graph {
        input,
        reports,
        reports_probe,
        notices,
        forget_before,
        lanes,
    }
}

/// What `Store: Samples` writes to: the sample store, the counters, and what a resumed run
/// reads again.
struct StoreHandle {
    samples: Arc<SampleStore>,
    counters: Arc<Counters>,
    /// The source (dead letters' location).
    source: Arc<dyn Source>,
    /// A key read again while its sample is stored.
    duplicates: DuplicatePolicy,
    /// A resumed run's checkpoint: the positions its state holds, and its trigger.
    resumed: Option<(Vec<sluice_dataflows::Position>, u64)>,
}

impl StoreHandle {
    fn of(shared: &RunContext) -> Self {
        Self {
            samples: shared.samples.clone(),
            counters: shared.counters.clone(),
            source: shared.source.clone(),
            duplicates: shared.spec.source.duplicates,
            resumed: shared
                .restore()
                .map(|r| (r.held.clone(), shared.first_trigger_id().saturating_sub(1))),
        }
    }

    /// Puts payloads read again after a resume into the sample store. Those no selection
    /// holds (only the trigger policy's windows read them) are retired at the checkpoint's
    /// trigger, so they go once the policy reads past them.
    fn restore(&self, restored: Vec<Sample>) {
        let (held, trigger) = self
            .resumed
            .as_ref()
            .expect("restored samples come from a checkpoint");
        // Rejected here as when first read (a duplicate key), or (keep_last) a version of its
        // key as then: the selection's restored state already holds what that changed.
        let rejected = self.samples.insert_from(restored.iter().map(as_stored));
        for (i, e) in rejected {
            let s = &restored[i];
            if self.keeps_last(&e) {
                let (pos, label, features, at) = as_stored(s);
                if self.samples.add_version(pos, label, features, at).is_ok() {
                    continue;
                }
            }
            tracing::debug!(key = s.key, "payload not restored: {e}");
        }
        let unheld: Vec<sluice_dataflows::Position> = restored
            .iter()
            .map(|s| s.meta().position())
            .filter(|p| held.binary_search(p).is_err())
            .collect();
        if !unheld.is_empty() {
            self.samples.retire(0, *trigger, unheld);
        }
    }

    /// Takes the restored payloads and the deletions out of `batch`: stores the payloads again
    /// (returned as probe-window rows too, stashed at `at` or their own time if later, when
    /// `at` is given) and counts the deletions, returned as retractions.
    fn set_aside(
        &self,
        batch: &mut Vec<Record>,
        at: Option<Time>,
    ) -> (Vec<ProbeRow>, Vec<Retraction>) {
        let (restored, tombstones) = take_aside(batch);
        // The probe window needs them too; the store may retire them at once (only the
        // policy's state holds them).
        let rows = match at {
            Some(at) => restored
                .iter()
                .map(|s| ProbeRow {
                    meta: s.meta(),
                    features: s.features.clone(),
                    restored: true,
                    at: s.time.max(at),
                })
                .collect(),
            None => Vec::new(),
        };
        if !restored.is_empty() {
            self.restore(restored);
        }
        self.counters
            .deletions
            .fetch_add(tombstones.len() as u64, Ordering::Relaxed);
        let retractions = tombstones
            .iter()
            .map(|d| {
                Retraction::tombstone(Position {
                    time: d.time,
                    key: d.key,
                })
            })
            .collect();
        (rows, retractions)
    }

    /// Stores `rows` column by column: each sample's metadata goes on (`passed`, or held in
    /// `unsent` under `keep_last`), replaces a stored version, or is refused (`dead`).
    fn store_rows(&self, rows: &Rows, out: &mut Stores<'_>) {
        let rejected = self.samples.insert_from(rows.stored());
        // Rejected indexes ascend: each sample is passed on, replaces, or is refused in order
        // (a copy replaces what an earlier sample of the batch stored).
        let mut rejected = rejected.into_iter().peekable();
        let keep_last = self.duplicates == DuplicatePolicy::KeepLast;
        let mut stored = 0;
        for i in 0..rows.len() {
            match rejected.next_if(|(j, _)| *j == i) {
                Some((_, e)) if self.keeps_last(&e) => {
                    let s = rows.sample(i);
                    match self.add_version(&s, out.unsent, out.deletions) {
                        Ok(true) => {}
                        Ok(false) => {
                            stored += 1;
                            continue;
                        }
                        Err(e) => {
                            out.dead.extend(self.refuse(&s, e));
                            continue;
                        }
                    }
                }
                Some((_, e)) => {
                    out.dead.extend(self.refuse(&rows.sample(i), e));
                    continue;
                }
                None => {}
            }
            stored += 1;
            if keep_last {
                // Held at once: a later copy in this batch may replace it.
                out.unsent.push(rows.meta(i));
            } else {
                out.passed.push(rows.meta(i));
            }
        }
        self.counters.count_ingested(stored);
    }

    /// Whether the store's refusal `e` is a copy that replaces the stored sample.
    fn keeps_last(&self, e: &StoreError) -> bool {
        matches!(e, StoreError::DuplicateKey(_)) && self.duplicates == DuplicatePolicy::KeepLast
    }

    /// What becomes of a sample the store refused: a copy of a stored key is counted under
    /// `duplicates = "keep_first"`; anything else is a dead letter.
    fn refuse(&self, s: &Sample, e: StoreError) -> Option<DeadLetter> {
        let reason = match e {
            StoreError::DuplicateKey(_) if self.duplicates == DuplicatePolicy::KeepFirst => {
                self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            StoreError::DuplicateKey(k) => {
                format!("duplicate key {k}: a sample with this key is stored")
            }
            e => e.to_string(),
        };
        Some(DeadLetter {
            location: self.source.locate(s.origin),
            reason,
            raw: copy_text(s),
        })
    }

    /// Stores `s`, a copy of a stored key, as a version of its key (`keep_last`): each version
    /// is its key's sample from its time until the next version's, whatever order they arrive
    /// in. Returns whether its metadata goes on (not when a copy at its position was read
    /// later), and the retractions that cut the key's versions at its time and at the next
    /// version's (sets cut before a version read the one before it).
    fn add_version(
        &self,
        s: &Sample,
        unsent: &mut Unsent,
        retractions: &mut Vec<Retraction>,
    ) -> Result<bool, StoreError> {
        let (pos, label, features, at) = as_stored(s);
        let done = self.samples.add_version(pos, label, features, at)?;
        self.counters.replaced.fetch_add(1, Ordering::Relaxed);
        Ok(match done {
            Versioned::Added { older, next } => {
                if older {
                    retractions.push(Retraction::before(pos));
                }
                if let Some(time) = next {
                    retractions.push(Retraction::before(Position { time, key: pos.key }));
                }
                true
            }
            Versioned::Replaced => {
                // Its time is not complete yet: the copy it replaced is still held back.
                unsent.relabel(pos, label);
                false
            }
            Versioned::Superseded => false,
        })
    }
}

/// Where [`StoreHandle::store_rows`] puts what it stored, refused and retracted.
struct Stores<'a> {
    unsent: &'a mut Unsent,
    passed: &'a mut Vec<SampleMeta>,
    dead: &'a mut Vec<DeadLetter>,
    deletions: &'a mut Vec<Retraction>,
}

/// Metadata `Store: Samples` holds back under `duplicates = "keep_last"` until its time is
/// complete (no record at or before it can still arrive): a copy at a held sample's position,
/// read later, then replaces its label before any operator saw it.
#[derive(Default)]
struct Unsent {
    metas: Vec<SampleMeta>,
    sorted: bool,
    /// At or before every held sample's time.
    cap: Option<Capability<Time>>,
}

impl Unsent {
    /// Holds `meta` (see [`cover`](Self::cover)).
    fn push(&mut self, meta: SampleMeta) {
        self.metas.push(meta);
        self.sorted = false;
    }

    /// Keeps a capability at or before `cap`, the time of the samples just held.
    fn cover(&mut self, cap: &InputCapability<Time>) {
        if self
            .cap
            .as_ref()
            .is_none_or(|c| cap.least().is_some_and(|t| t < c.time()))
        {
            self.cap = cap.retain_least(0);
        }
    }

    /// Gives the held sample at `pos` the label of the copy that replaced it.
    fn relabel(&mut self, pos: Position, label: i64) {
        match self.metas.iter_mut().find(|m| m.position() == pos) {
            Some(m) => m.label = label,
            None => tracing::warn!(
                key = pos.key,
                time = pos.time,
                "a replaced sample's metadata was sent before its copy arrived"
            ),
        }
    }

    /// Sends (through `send`) the held samples whose time `frontier` passed, in position order.
    fn release(
        &mut self,
        frontier: timely::progress::frontier::AntichainRef<'_, Time>,
        send: impl FnOnce(&Capability<Time>, std::vec::Drain<'_, SampleMeta>),
    ) {
        let Some(cap) = &mut self.cap else {
            return;
        };
        if !self.sorted {
            self.metas.sort_unstable_by_key(SampleMeta::position);
            self.sorted = true;
        }
        let n = self
            .metas
            .partition_point(|m| !frontier.less_equal(&m.time));
        if n > 0 {
            send(cap, self.metas.drain(..n));
        }
        match self.metas.first() {
            Some(m) => cap.downgrade(&m.time),
            None => self.cap = None,
        }
    }
}

/// A sample as the sample store takes it: position, label, features and where it was read.
fn as_stored(s: &Sample) -> (Position, i64, &[f32], SourceAt) {
    let at = (s.origin.partition, s.origin.offset);
    (s.meta().position(), s.label, s.features.as_slice(), at)
}

/// A refused sample as a dead letter's `raw`: the sample as decoded (its raw input is gone by
/// the time the store sees it), as JSON.
fn copy_text(s: &Sample) -> String {
    let json = serde_json::json!({
        "key": s.key,
        "time": s.time,
        "label": s.label,
        "features": s.features,
    });
    raw_text(json.to_string().as_bytes())
}

/// Store: Samples. Keeps each record's payload in the sample store and passes its metadata on
/// (ok); a payload the store refuses (a copy of a stored key) is counted, becomes a dead letter
/// (err) or replaces the stored one, by `[source] duplicates`. Deletions (tombstones, and the
/// versions a copy replaced) go to the selections (del).
fn store_samples<'scope>(
    records: StreamVec<'scope, Time, Record>,
    store: StoreHandle,
    windows: bool,
) -> Stored<'scope> {
    let mut builder = OperatorBuilder::new("Store: Samples".to_string(), records.scope());
    let mut input = builder.new_input(records, Pipeline);
    let (ok, metas) = builder.new_output();
    let mut ok: OutputBuilder<Time, CapacityContainerBuilder<Vec<SampleMeta>>> =
        OutputBuilder::from(ok);
    let (err, refused) = builder.new_output();
    let mut err: OutputBuilder<Time, CapacityContainerBuilder<Vec<DeadLetter>>> =
        OutputBuilder::from(err);
    let (del, deleted) = builder.new_output();
    let mut del: OutputBuilder<Time, CapacityContainerBuilder<Vec<Retraction>>> =
        OutputBuilder::from(del);
    let (again, restored) = builder.new_output();
    let mut again: OutputBuilder<Time, CapacityContainerBuilder<Vec<ProbeRow>>> =
        OutputBuilder::from(again);
    let keep_last = store.duplicates == DuplicatePolicy::KeepLast;
    builder.build(move |caps| {
        drop(caps);
        let mut unsent = Unsent::default();
        move |frontiers| {
            let (mut ok, mut err, mut del) = (ok.activate(), err.activate(), del.activate());
            let mut again = again.activate();
            let mut any = false;
            input.for_each_stamp(|cap, data| {
                any = true;
                let (mut passed, mut dead, mut deletions) = (Vec::new(), Vec::new(), Vec::new());
                for batch in data {
                    if batch.iter().any(|r| !matches!(r, Record::New(_))) {
                        let at = windows.then(|| cap.least().copied().unwrap_or(0));
                        let (rows, tombstones) = store.set_aside(batch, at);
                        if !rows.is_empty() {
                            again.session(&cap).give_iterator(rows.into_iter());
                        }
                        deletions.extend(tombstones);
                    }
                    for r in batch.drain(..) {
                        let Record::New(rows) = r else {
                            unreachable!("restored payloads and deletions were set aside")
                        };
                        let mut out = Stores {
                            unsent: &mut unsent,
                            passed: &mut passed,
                            dead: &mut dead,
                            deletions: &mut deletions,
                        };
                        store.store_rows(&rows, &mut out);
                    }
                }
                if keep_last {
                    unsent.cover(&cap);
                }
                if !passed.is_empty() {
                    ok.session(&cap).give_iterator(passed.into_iter());
                }
                if !dead.is_empty() {
                    err.session(&cap).give_iterator(dead.into_iter());
                }
                if !deletions.is_empty() {
                    del.session(&cap).give_iterator(deletions.into_iter());
                }
            });
            if any {
                store.counters.note_stored(store.samples.len());
            }
            if keep_last {
                unsent.release(frontiers[0].frontier(), |cap, metas| {
                    ok.session(cap).give_iterator(metas);
                });
            }
        }
    });
    Stored {
        metas,
        refused,
        deleted,
        restored,
    }
}

/// What `Store: Samples` emits.
struct Stored<'scope> {
    /// The stored samples' metadata.
    metas: StreamVec<'scope, Time, SampleMeta>,
    /// Copies refused, as dead letters.
    refused: StreamVec<'scope, Time, DeadLetter>,
    /// Deletions and replaced versions.
    deleted: StreamVec<'scope, Time, Retraction>,
    /// Payloads read again after a resume, for the probe windows (when there are any).
    restored: StreamVec<'scope, Time, ProbeRow>,
}

/// What every lane's part of the graph reads.
struct LaneInput<'scope> {
    /// The stored samples' metadata.
    metas: StreamVec<'scope, Time, SampleMeta>,
    /// Deletions and replaced versions.
    deleted: StreamVec<'scope, Time, Retraction>,
    /// Every sample's features on worker 0, for lanes whose probe reads a window.
    rows: Option<StreamVec<'scope, Time, ProbeRow>>,
}

/// Lane `l`'s part of the graph: its trigger policy, selection, training-set assembly and
/// trainer sink over the stored samples' metadata `metas`.
fn build_lane<'scope>(
    scope: Scope<'scope, Time>,
    shared: &Arc<RunContext>,
    l: usize,
    input: LaneInput<'scope>,
    trainer: Option<SyncSender<Delivery>>,
) -> LaneGraph {
    let LaneInput {
        metas,
        deleted,
        rows,
    } = input;
    let trainer = TrainerQueue::new(trainer);
    let (feedback, scores) = scope.new_input::<SampleScore>();
    // Selection and downsampling policies that use scores read this worker's board.
    let board = scores.keep_scores_on(Some(shared.owners()));
    let (trigger_metas, payloads) = match rows {
        Some(rows) if shared.probe_window(l) => {
            let window = Rc::new(RefCell::new(ProbeWindow::new(shared.samples.dim())));
            (window_metas(rows, window.clone()), Payloads::Window(window))
        }
        _ => (metas.clone(), Payloads::Store(shared.samples.clone())),
    };
    let triggers = trigger_stream(scope.index(), shared, l, trigger_metas, payloads);
    let seen: SeenTriggers = Rc::default();
    let seen_here = seen.clone();
    let (seen_probe, _) = triggers
        .clone()
        .broadcast()
        .inspect(move |t| seen_here.borrow_mut().push(t.clone()))
        .probe();
    let sets = training_sets(scope, shared, l, (metas, deleted), triggers, &board);
    let probe = ProbeHandle::new();
    let sets = ship::ship(sets, shared, l, &probe).probe_with(&probe);
    let lane = &shared.lanes[l];
    sinks::trainer(
        sets,
        trainer.clone(),
        shared.writer(l),
        shared.clock.clone(),
        lane.progress.clone(),
        shared.failure.clone(),
    );
    LaneGraph {
        feedback,
        probe,
        seen,
        seen_probe,
        trainer,
    }
}

/// Lane `l`'s trigger policy over `metas` (on worker 0), and the sinks of its outputs; returns
/// the triggers, at their boundaries' times.
fn trigger_stream<'scope>(
    index: usize,
    shared: &Arc<RunContext>,
    l: usize,
    metas: StreamVec<'scope, Time, SampleMeta>,
    payloads: Payloads,
) -> StreamVec<'scope, Time, TriggerEvent> {
    let lane = &shared.lanes[l];
    let options = TriggerOptions {
        first_id: shared.first_trigger_id(),
        models: Some(lane.model_feed.clone()),
        // The policy runs on worker 0, the leader's, which has the model store.
        probe: if index == 0 {
            Box::new(StoreProbe::new(shared, l, payloads))
        } else {
            let probe: Box<dyn sluice_dataflows::triggers::Probe> = Box::new(NoProbe);
            probe
        },
        states: shared.checkpoints(),
        restore: shared.restore().map(|r| r.trigger.clone()),
        limit: shared.replay.max_triggers,
    };
    let out = match build_count_policy(&lane.spec.trigger) {
        Some(policy) => metas.trigger_counted(policy, options),
        None => metas.trigger_with(build_policy(&lane.spec.trigger), options),
    };
    sinks::trigger_events(
        out.triggers.clone(),
        shared.writer(l),
        lane.progress.clone(),
    );
    sinks::decisions(out.decisions, shared.writer(l));
    let pieces = shared.pieces();
    sinks::sink_each(out.states, "Sink: Checkpoint pieces", move |s| {
        pieces.trigger_state(s)
    });
    sinks::failures(out.errors, "trigger policy", shared.failure.clone());
    out.triggers
}

/// Lane `l`'s selection over `metas` (per worker, over the keys it owns) and the assembly of
/// each trigger's training set (worker 0), with the sinks of their retirements and states.
fn training_sets<'scope>(
    scope: Scope<'scope, Time>,
    shared: &Arc<RunContext>,
    l: usize,
    (metas, deleted): (
        StreamVec<'scope, Time, SampleMeta>,
        StreamVec<'scope, Time, Retraction>,
    ),
    triggers: StreamVec<'scope, Time, TriggerEvent>,
    board: &ScoreBoard,
) -> StreamVec<'scope, Time, TrainingSet> {
    let lane = &shared.lanes[l];
    let index = scope.index();
    let owners = shared.owners();
    let selection = &lane.spec.selection;
    let shares = (lane.spec.model.normalize == Normalize::Running)
        .then(|| running_moments(shared, metas.clone(), triggers.clone()));
    // The selection's checkpoint state: the strategy's and this worker's scores.
    let options = SelectOptions {
        states: shared.checkpoints(),
        restore: shared.restore().map(|r| r.selection.clone()),
        owners: Some(owners),
        scores: Some(board.clone()),
    };
    let selected = match selection.pool {
        Pool::Tail(tail) => {
            let mut pool = NewData::tail(tail);
            if let Some(max) = selection.maximum_keys_in_memory {
                let spill = CandidateFile::new(&lane.run_dir.join("spill"), scope.index());
                pool = pool.spilling(max.div_ceil(owners), Box::new(spill));
            }
            let selected = metas.select_retracting(triggers.clone(), deleted, pool, options);
            // Scores of samples the store has let go go too (at each retirement: feedback for a
            // retired sample can still arrive until the trainer is done with it).
            let board = board.clone();
            sinks::retirement(selected.retired, l, shared.samples.clone(), move |store| {
                board.borrow_mut().retain(|k, _| store.contains(*k))
            });
            (selected.answers, selected.states)
        }
        Pool::Reservoir(budget) => {
            let policy = Reservoir::new(budget, selection.sampler.seed);
            let selected = metas.select_retracting(triggers.clone(), deleted, policy, options);
            sinks::retirement(selected.retired, l, shared.samples.clone(), |_| {});
            (selected.answers, selected.states)
        }
    };
    let (answers, states) = selected;
    let pieces = shared.pieces();
    sinks::sink_each(states, "Sink: Checkpoint pieces", move |s| {
        pieces.selection_state(index, s)
    });
    let assembled = answers.training_sets_options(
        triggers,
        selection.sampler.clone(),
        SelectOptions {
            states: shared.checkpoints(),
            restore: shared.restore().map(|r| vec![r.sampler.clone()]),
            owners: Some(owners),
            scores: None,
        },
    );
    sinks::retirement(assembled.retired, l, shared.samples.clone(), |_| {});
    let pieces = shared.pieces();
    sinks::sink_each(assembled.states, "Sink: Checkpoint pieces", move |s| {
        pieces.sampler_state(s)
    });
    let Some(shares) = shares else {
        return assembled.answers;
    };
    let sets = assembled.answers.attach_moments(shares);
    if !shared.checkpoints() {
        return sets;
    }
    let pieces = shared.pieces();
    sets.inspect(move |set| pieces.moments(set))
}

/// Each worker's share of the stream's feature statistics at each trigger (`normalize =
/// "running"`): the features of its samples, read from the sample store as they arrive.
fn running_moments<'scope>(
    shared: &Arc<RunContext>,
    metas: StreamVec<'scope, Time, SampleMeta>,
    triggers: StreamVec<'scope, Time, TriggerEvent>,
) -> StreamVec<'scope, Time, (u64, Moments)> {
    let samples = shared.samples.clone();
    let failure = shared.failure.clone();
    let dim = shared.source.feature_names().len();
    let mut labels = Vec::new();
    let read = move |at: &[Position], rows: &mut Vec<f32>| {
        labels.clear();
        if let Err(e) = samples.gather_at(at, rows, &mut labels) {
            // The selection holds these payloads until the trigger's set is trained: a bug.
            failure.fail(format!("reading features for normalize = \"running\": {e}"));
            rows.resize(at.len() * dim, 0.0);
        }
        dim
    };
    // A resumed run goes on from the checkpoint's statistics (added on worker 0 only).
    let restore = (metas.scope().index() == 0)
        .then(|| shared.restore().and_then(|r| r.moments.clone()))
        .flatten();
    metas.running_moments(triggers, read, restore)
}

/// Takes the restored payloads and the deletions out of `batch`, keeping the new samples in
/// order.
fn take_aside(batch: &mut Vec<Record>) -> (Vec<Sample>, Vec<Deletion>) {
    let (mut restored, mut deletions) = (Vec::new(), Vec::new());
    for r in std::mem::take(batch) {
        match r {
            Record::Restored(s) => restored.push(s),
            Record::Delete(d) => deletions.push(d),
            new => batch.push(new),
        }
    }
    (restored, deletions)
}

/// Moves the trainer's per-sample scores into the dataflow (worker 0; elsewhere the input is
/// closed at once).
pub struct FeedbackPump {
    input: Option<InputHandleVec<Time, SampleScore>>,
    rx: Option<Receiver<Vec<SampleScore>>>,
    shared: Arc<RunContext>,
    lane: usize,
}

impl FeedbackPump {
    /// Worker 0 takes lane `lane`'s trainer's channel, if per-sample feedback is on.
    pub fn new(
        index: usize,
        input: InputHandleVec<Time, SampleScore>,
        shared: &Arc<RunContext>,
        lane: usize,
    ) -> Self {
        let rx = if index == 0 {
            shared.lanes[lane]
                .feedback
                .lock()
                .expect("feedback slot poisoned")
                .take()
        } else {
            None
        };
        Self {
            input: rx.is_some().then_some(input),
            rx,
            shared: shared.clone(),
            lane,
        }
    }

    /// True while feedback may still arrive.
    pub fn open(&self) -> bool {
        self.rx.is_some()
    }

    /// Sends what the trainer reported so far, stamped with the ingestion watermark `now`;
    /// closes the input once the trainer has finished.
    pub fn pump(&mut self, now: Time) {
        let (Some(input), Some(rx)) = (&mut self.input, &self.rx) else {
            return;
        };
        if now > *input.time() {
            input.advance_to(now);
        }
        loop {
            match rx.try_recv() {
                Ok(batch) => {
                    self.shared.lanes[self.lane]
                        .progress
                        .scores
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    for s in batch {
                        input.send(s);
                    }
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.input = None;
                    self.rx = None;
                    return;
                }
            }
        }
    }
}

/// Triggers a worker has seen and not yet handled.
pub type SeenTriggers = Rc<RefCell<Vec<TriggerEvent>>>;
