//! The per-worker dataflow graph.
//!
//! ```text
//! input (this worker's share of the source, by event time)
//!   └─ exchange by key to the leader's workers ─> Store: Samples (payload -> sample store,
//!        emits SampleMeta)
//!        ├─> Trigger: <policy> (worker 0) ─> triggers.jsonl
//!        └─> Selection: <strategy> (per worker) ─> AssembleTrainingSets (worker 0)
//!                                                   └─> Sink: Trainer (bounded queue)
//! feedback input (worker 0: per-sample scores from the trainer, at the ingestion watermark)
//!   └─ exchange by key ─> Scores: Latest (per worker, for score-based policies)
//! reports input (followers' dead letters, offsets, states) ─> worker 0 applies them
//! notices input (worker 0: forget offsets before this event time) ─> broadcast
//! ```
//!
//! Keys live on the leader process's workers (`Topology::owners`; in a single process, all
//! of them): see `cluster.rs`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};

use serde::{Deserialize, Serialize};
use sluice_dataflows::downsampling::{KeepScores, Score, ScoreBoard};
use sluice_dataflows::selection::{
    AssembleTrainingSets, NewData, OnRetired, OnState, Reservoir, Select, SelectOptions,
};
use sluice_dataflows::triggers::{Decision, NoProbe, State, Trigger, TriggerOptions};
use sluice_dataflows::{
    Key, SampleMeta, SampleScore, Time, TrainingSet, TriggerEvent, owner, route,
};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Exchange, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle, Scope, StreamVec};

use super::cluster::Report;
use super::context::RunContext;
use super::cost::Stage;
use super::triggers::{StoreProbe, build_policy};
use crate::config::Pool;
use crate::sink::EventBody;
use crate::source::{DeadLetter, Sample};
use crate::store::CandidateFile;

/// What the source loop sends into the dataflow.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Record {
    /// A sample to process: its payload is stored and its metadata goes to the operators.
    New(Sample),
    /// A payload read again after a resume, which the checkpoint's state still needs: stored
    /// only (its sample was processed before the checkpoint).
    Restored(Sample),
}

impl Record {
    fn sample(&self) -> &Sample {
        match self {
            Record::New(s) | Record::Restored(s) => s,
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

/// The training sink's end of the trainer queue, and the training sets waiting for room in it.
///
/// The sink never blocks its worker on a full queue: the trainer may itself be waiting for
/// this worker (its restart offsets for a checkpoint), so a blocked worker would deadlock.
/// Instead sets wait here, and the worker loop stops reading input while any do (backpressure
/// without blocking).
#[derive(Clone, Default)]
pub struct TrainerQueue(Rc<RefCell<QueueState>>);

#[derive(Default)]
struct QueueState {
    tx: Option<SyncSender<TrainingSet>>,
    waiting: std::collections::VecDeque<TrainingSet>,
}

impl TrainerQueue {
    fn new(tx: Option<SyncSender<TrainingSet>>) -> Self {
        Self(Rc::new(RefCell::new(QueueState {
            tx,
            waiting: Default::default(),
        })))
    }

    /// Moves waiting sets into the queue while it has room; false once the trainer stopped.
    pub fn flush(&self) -> bool {
        let mut s = self.0.borrow_mut();
        let QueueState { tx, waiting } = &mut *s;
        let Some(tx) = tx else {
            return waiting.is_empty();
        };
        while let Some(set) = waiting.pop_front() {
            match tx.try_send(set) {
                Ok(()) => {}
                Err(TrySendError::Full(set)) => {
                    waiting.push_front(set);
                    break;
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
        true
    }

    /// Training sets waiting for room in the queue.
    pub fn backlog(&self) -> usize {
        self.0.borrow().waiting.len()
    }

    /// Closes the queue (the trainer finishes what it holds).
    pub fn close(&self) {
        self.0.borrow_mut().tx.take();
    }
}

/// Builds the graph on one worker; `queues` are the lanes' training queues (worker 0 only).
pub fn build(
    scope: Scope<'_, Time>,
    shared: &Arc<RunContext>,
    queues: Vec<Option<SyncSender<TrainingSet>>>,
) -> Graph {
    let (input, samples) = scope.new_input::<Record>();
    // Keys live on the first `owners` workers (timely sends a hash `h` to worker `h % peers`).
    let owners = shared.topology.owners();
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

    let store = shared.clone();
    let metas = samples
        .exchange(move |r: &Record| place(r.sample().key))
        .unary(Pipeline, "Store: Samples", move |_cap, _info| {
            move |input, output| {
                input.for_each_stamp(|cap, data| {
                    let mut session = output.session(&cap);
                    for batch in data {
                        if batch.iter().any(|r| matches!(r, Record::Restored(_))) {
                            let restored = take_restored(batch);
                            restore_payloads(&store, restored);
                        }
                        let rejected = store.samples.insert(batch.iter().map(|r| {
                            let s = r.sample();
                            (s.key, s.label, s.features.as_slice())
                        }));
                        for (key, reason) in &rejected {
                            store.dead_letter(DeadLetter {
                                location: format!("{} key {key}", store.source.name()),
                                reason: reason.to_string(),
                                raw: String::new(),
                            });
                        }
                        store.counters.count_ingested(batch.len() - rejected.len());
                        session.give_iterator(
                            batch
                                .drain(..)
                                .map(|r| r.sample().meta())
                                .filter(|m| !rejected.iter().any(|(k, _)| *k == m.key)),
                        );
                    }
                });
            }
        });

    let lanes = queues
        .into_iter()
        .enumerate()
        .map(|(lane, queue)| build_lane(scope, shared, lane, metas.clone(), queue))
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

/// Lane `l`'s part of the graph: its trigger policy, selection, training-set assembly and
/// trainer sink over the stored samples' metadata `metas`.
fn build_lane<'scope>(
    scope: Scope<'scope, Time>,
    shared: &Arc<RunContext>,
    l: usize,
    metas: StreamVec<'scope, Time, SampleMeta>,
    trainer: Option<SyncSender<TrainingSet>>,
) -> LaneGraph {
    let trainer = TrainerQueue::new(trainer);
    let (feedback, scores) = scope.new_input::<SampleScore>();
    // Selection and downsampling policies that use scores read this worker's board.
    let board = scores.keep_scores_on(Some(shared.topology.owners()));
    let triggers = trigger_stream(scope.index(), shared, l, metas.clone());
    let seen: SeenTriggers = Rc::default();
    let seen_here = seen.clone();
    let (seen_probe, _) = triggers
        .clone()
        .broadcast()
        .inspect(move |t| seen_here.borrow_mut().push(t.clone()))
        .probe();
    let sets = training_sets(scope, shared, l, metas, triggers, &board);
    let (probe, sets) = sets.probe();
    trainer_sink(sets, shared, l, trainer.clone());
    LaneGraph {
        feedback,
        probe,
        seen,
        seen_probe,
        trainer,
    }
}

/// Lane `l`'s trigger policy over `metas` (on worker 0), its decisions and triggers emitted as
/// events; the triggers, at their boundaries' times.
fn trigger_stream<'scope>(
    index: usize,
    shared: &Arc<RunContext>,
    l: usize,
    metas: StreamVec<'scope, Time, SampleMeta>,
) -> StreamVec<'scope, Time, TriggerEvent> {
    let lane = &shared.lanes[l];
    let decisions = shared.clone();
    let mut last_decision: Option<(sluice_dataflows::Position, u32)> = None;
    let failures = shared.clone();
    let triggers = metas.trigger_with(
        build_policy(&lane.spec.trigger),
        TriggerOptions {
            first_id: shared.first_trigger_id(),
            models: Some(lane.model_feed.clone()),
            // The policy runs on worker 0, the leader's, which has the model store.
            probe: if index == 0 {
                Box::new(StoreProbe::new(shared, l))
            } else {
                let probe: Box<dyn sluice_dataflows::triggers::Probe> = Box::new(NoProbe);
                probe
            },
            on_decision: Box::new(move |trigger_id, d: &Decision| {
                // Sub-policies of an ensemble may decide at the same sample: the n-th decision
                // there gets `-<n>` (ids are unique, and the same in every run).
                let n = match &mut last_decision {
                    Some((at, n)) if *at == d.at => {
                        *n += 1;
                        *n
                    }
                    _ => {
                        last_decision = Some((d.at, 0));
                        0
                    }
                };
                let suffix = if n == 0 {
                    String::new()
                } else {
                    format!("-{n}")
                };
                decisions.emit_in(
                    l,
                    format!("decision-{}-{}{suffix}", d.at.time, d.at.key),
                    EventBody::Decision {
                        trigger_id,
                        at: d.at,
                        triggered: d.triggered,
                        details: d.details.iter().cloned().collect(),
                    },
                );
            }),
            on_error: Box::new(move |e| failures.fail(format!("trigger policy: {e}"))),
            on_state: shared.checkpoints().then(|| {
                let shared = shared.clone();
                let f: sluice_dataflows::triggers::OnState =
                    Box::new(move |id, state, horizon| shared.trigger_state(id, state, horizon));
                f
            }),
            restore: shared.restore().map(|r| r.trigger.clone()),
            limit: shared.replay.max_triggers,
        },
    );
    let events = shared.clone();
    triggers.inspect(move |t| {
        events.lanes[l].triggers.fetch_add(1, Ordering::Relaxed);
        events.emit_in(
            l,
            format!("trigger-{}", t.id),
            EventBody::Trigger {
                trigger_id: t.id,
                first: t.first,
                boundary: t.boundary,
                samples: t.samples,
                reason: t.reason.clone(),
                details: t.details.iter().cloned().collect(),
            },
        );
    })
}

/// Lane `l`'s selection over `metas` (per worker, over the keys it owns) and the assembly of
/// each trigger's training set (worker 0).
fn training_sets<'scope>(
    scope: Scope<'scope, Time>,
    shared: &Arc<RunContext>,
    l: usize,
    metas: StreamVec<'scope, Time, SampleMeta>,
    triggers: StreamVec<'scope, Time, TriggerEvent>,
    board: &ScoreBoard,
) -> StreamVec<'scope, Time, TrainingSet> {
    let lane = &shared.lanes[l];
    let index = scope.index();
    let owners = shared.topology.owners();
    let selection = &lane.spec.selection;
    // Samples no later trigger can select leave the sample store (see `store::samples`).
    let retire = |shared: &Arc<RunContext>| -> OnRetired {
        let store = shared.samples.clone();
        Box::new(move |trigger, samples| store.retire(l, trigger, samples))
    };
    // The selection's checkpoint state: the strategy's and this worker's scores.
    let options = |on_retired: OnRetired| -> SelectOptions {
        let on_state = shared.checkpoints().then(|| {
            let (shared, board) = (shared.clone(), board.clone());
            let f: OnState = Box::new(move |id, state, held| {
                let state = serde_json::json!({ "policy": state, "scores": save_scores(&board) });
                shared.selection_state(id, index, state, held);
            });
            f
        });
        let restore = shared.restore().map(|r| {
            for s in &r.selection {
                restore_scores(board, &s["scores"], |k| owner(k, owners) == index);
            }
            r.selection.iter().map(|s| s["policy"].clone()).collect()
        });
        SelectOptions {
            on_retired: Some(on_retired),
            on_state,
            restore,
            owners: Some(owners),
        }
    };
    let selected = match selection.pool {
        Pool::Tail(tail) => {
            let mut pool = NewData::tail(tail);
            if let Some(max) = selection.maximum_keys_in_memory {
                let spill = CandidateFile::new(&lane.run_dir.join("spill"), scope.index());
                pool = pool.spilling(max.div_ceil(owners), Box::new(spill));
            }
            // Scores of samples the store has let go go too (at each retirement: feedback for a
            // retired sample can still arrive until the trainer is done with it).
            let mut to_store = retire(shared);
            let (board, store) = (board.clone(), shared.samples.clone());
            let retire_here: OnRetired = Box::new(move |trigger, samples| {
                to_store(trigger, samples);
                board.borrow_mut().retain(|k, _| store.contains(*k));
            });
            metas.select_with(triggers.clone(), pool, options(retire_here))
        }
        Pool::Reservoir(budget) => metas.select_with(
            triggers.clone(),
            Reservoir::new(budget, selection.sampler.seed),
            options(retire(shared)),
        ),
    };
    let sampler_options = SelectOptions {
        on_retired: Some(retire(shared)),
        on_state: shared.checkpoints().then(|| {
            let shared = shared.clone();
            let f: OnState = Box::new(move |id, state, _| shared.sampler_state(id, state));
            f
        }),
        restore: shared.restore().map(|r| vec![r.sampler.clone()]),
        owners: Some(owners),
    };
    selected.training_sets_options(triggers, selection.sampler.clone(), sampler_options)
}

/// Sink: Trainer. Lane `l`'s training sets into its trainer's `queue` (worker 0), with the
/// dataflow's stage costs since the previous set as each trigger's metrics.
fn trainer_sink(
    sets: StreamVec<'_, Time, TrainingSet>,
    shared: &Arc<RunContext>,
    l: usize,
    queue: TrainerQueue,
) {
    let sink = shared.clone();
    sets.sink(Pipeline, "Sink: Trainer", move |(input, _frontier)| {
        let mut arrived = Vec::new();
        input.for_each(|_cap, data| {
            arrived.extend(data.iter().map(|set| set.trigger.id));
            queue.0.borrow_mut().waiting.extend(data.drain(..));
        });
        if !arrived.is_empty() {
            sink.lanes[l]
                .queued
                .fetch_add(arrived.len() as u64, Ordering::Relaxed);
            // The dataflow's work since the previous training set is the cost of the triggers
            // whose sets arrive now, shared equally when several arrive at once.
            let split = sink.clock.split_ms(&sink.lanes[l].split);
            for &trigger in &arrived {
                for (stage, ms) in Stage::ALL.iter().zip(split) {
                    sink.emit_metric_in(l, trigger, stage.metric(), ms / arrived.len() as f64);
                }
            }
        }
        if !queue.flush() {
            sink.fail("the trainer stopped; see its error".into());
        }
    });
}

/// Takes the restored payloads out of `batch`, keeping the new samples in order.
fn take_restored(batch: &mut Vec<Record>) -> Vec<Sample> {
    let mut restored = Vec::new();
    for r in std::mem::take(batch) {
        match r {
            Record::Restored(s) => restored.push(s),
            new => batch.push(new),
        }
    }
    restored
}

/// Puts payloads read again after a resume into the sample store. Those no selection holds
/// (only the trigger policy's windows read them) are retired at the checkpoint's trigger, so
/// they go once the policy reads past them.
fn restore_payloads(shared: &RunContext, restored: Vec<Sample>) {
    let state = shared
        .restore()
        .expect("restored samples come from a checkpoint");
    // Rejected here as when first read (a duplicate key): the run went on without them then.
    let rejected = shared.samples.insert(
        restored
            .iter()
            .map(|s| (s.key, s.label, s.features.as_slice())),
    );
    for (key, e) in rejected {
        tracing::debug!(key, "payload not restored: {e}");
    }
    let unheld: Vec<sluice_dataflows::Position> = restored
        .iter()
        .map(|s| s.meta().position())
        .filter(|p| state.held.binary_search(p).is_err())
        .collect();
    if !unheld.is_empty() {
        shared
            .samples
            .retire(0, shared.first_trigger_id().saturating_sub(1), unheld);
    }
}

/// A worker's scores for a checkpoint: `[[key, loss, trigger], …]`, sorted by key.
fn save_scores(board: &ScoreBoard) -> State {
    let mut rows: Vec<(Key, f32, u32)> = board
        .borrow()
        .iter()
        .map(|(k, s)| (*k, s.loss, s.trigger))
        .collect();
    rows.sort_unstable_by_key(|r| r.0);
    serde_json::to_value(rows).expect("scores serialise")
}

/// Adds the scores of a checkpoint's `saved` rows that `owns` says are this worker's.
fn restore_scores(board: &ScoreBoard, saved: &State, owns: impl Fn(Key) -> bool) {
    let rows: Vec<(Key, f32, u32)> = serde_json::from_value(saved.clone()).unwrap_or_default();
    let mut board = board.borrow_mut();
    for (key, loss, trigger) in rows.into_iter().filter(|r| owns(r.0)) {
        board.insert(key, Score { loss, trigger });
    }
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
