//! The graph's sinks: where operator outputs leave the dataflow, each through one narrow
//! handle (never the whole run). `dataflow.rs` wires them; this file says what each does.
//!
//! | sink | input | handle | effect |
//! |---|---|---|---|
//! | `Sink: Dead letters` | samples the store refused | [`DeadLetters`] | counted; an event (a follower's go to the leader) |
//! | `Sink: Failure` | an operator's errors | [`Failure`] | the run's first failure: the run stops and reports it |
//! | `Sink: Trigger events` | triggers | [`EventWriter`] + [`LaneProgress`] | counted; a `trigger` event |
//! | `Sink: Decisions` | interval decisions | [`EventWriter`] | a `decision` event per decision |
//! | `Sink: Checkpoint pieces` | trigger, selection and sampler states | [`Pieces`] | the checkpoint book's pieces (a follower's go to the leader) |
//! | `Sink: Retirement` | samples no later trigger can select | [`SampleStore`] | they leave the store once trained and read past |
//! | `Sink: Trainer` | training sets | [`TrainerQueue`] + [`EventWriter`] + [`StageClock`] | queued for the trainer, with each trigger's stage costs |

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};

use sluice_dataflows::selection::SelectionState;
use sluice_dataflows::triggers::{Decision, TriggerState};
use sluice_dataflows::{Position, Time, TrainingSet, TriggerEvent};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::book::CheckpointBook;
use super::cluster::Report;
use super::cost::{Stage, StageClock};
use super::outbox::{Failure, Outbox};
use super::progress::{Counters, LaneProgress, PartitionCount};
use crate::sink::{EventBody, EventSink};
use crate::source::DeadLetter;
use crate::store::SampleStore;
use crate::train::Delivery;

/// Writes events to one event sink (a lane's, or the run's); a follower has none and drops
/// what reaches it. A write error is the run's failure.
#[derive(Clone)]
pub struct EventWriter {
    events: Option<Arc<EventSink>>,
    failure: Arc<Failure>,
}

impl EventWriter {
    /// A writer to `events`, failing the run through `failure`.
    pub fn new(events: Option<Arc<EventSink>>, failure: Arc<Failure>) -> Self {
        Self { events, failure }
    }

    /// Emits an event.
    pub fn emit(&self, id: String, body: EventBody) {
        let Some(events) = &self.events else {
            tracing::error!(%id, "an event reached a follower process; dropped");
            return;
        };
        if let Err(e) = events.emit(id, body) {
            self.failure.fail(format!("writing events: {e}"));
        }
    }

    /// Emits a metric of `trigger`.
    pub fn metric(&self, trigger: u64, name: &str, value: f64) {
        let Some(events) = &self.events else {
            tracing::error!(
                trigger,
                name,
                "a metric reached a follower process; dropped"
            );
            return;
        };
        if let Err(e) = events.metric(trigger, name, value, None) {
            self.failure.fail(format!("writing events: {e}"));
        }
    }
}

/// Where dead letters go: counted, and emitted (a follower's go to the leader).
#[derive(Clone)]
pub struct DeadLetters {
    /// The run's counters.
    pub counters: Arc<Counters>,
    /// A follower's way to the leader.
    pub outbox: Arc<Outbox>,
    /// The run's events.
    pub events: EventWriter,
}

impl DeadLetters {
    /// Counts and emits `d`.
    pub fn send(&self, d: DeadLetter) {
        tracing::warn!(location = %d.location, reason = %d.reason, "dead letter");
        self.counters.dead.fetch_add(1, Ordering::Relaxed);
        self.counters
            .add_partitions([(d.partition(), PartitionCount { read: 0, dead: 1 })]);
        if self.outbox.follows() {
            return self.outbox.forward(Report::DeadLetter(d));
        }
        self.events.emit(
            format!("dead-letter-{}", d.location),
            EventBody::DeadLetter {
                location: d.location,
                reason: d.reason,
                raw: d.raw,
            },
        );
    }
}

/// Where operator states go for checkpoints: the leader's checkpoint book; a follower's
/// selection states go to the leader (the trigger and the sampler run in the leader).
#[derive(Clone)]
pub struct Pieces {
    /// The leader's book.
    pub book: Option<Arc<CheckpointBook>>,
    /// A follower's way to the leader.
    pub outbox: Arc<Outbox>,
}

impl Pieces {
    fn book(&self) -> &CheckpointBook {
        self.book
            .as_deref()
            .expect("checkpoint pieces reach the leader, which has the book")
    }

    /// The trigger policy's state after a trigger.
    pub fn trigger_state(&self, s: TriggerState) {
        self.book().trigger_state(s.trigger, s.state, s.horizon);
    }

    /// Worker `worker`'s selection state after a trigger, and the positions it holds.
    pub fn selection_state(&self, worker: usize, s: SelectionState) {
        if self.outbox.follows() {
            return self.outbox.forward(Report::Selection {
                trigger: s.trigger,
                worker,
                state: s.state.to_string(),
                held: s.held,
            });
        }
        self.book()
            .selection_state(s.trigger, worker, s.state, s.held);
    }

    /// The sampler's state after a trigger.
    pub fn sampler_state(&self, s: SelectionState) {
        self.book().sampler_state(s.trigger, s.state);
    }

    /// The feature statistics of a training set's trigger (`normalize = "running"`).
    pub fn moments(&self, set: &TrainingSet) {
        if let Some(m) = &set.moments {
            self.book().moments(set.trigger.id, m.clone());
        }
    }
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
    tx: Option<SyncSender<Delivery>>,
    waiting: VecDeque<Delivery>,
}

impl TrainerQueue {
    pub(super) fn new(tx: Option<SyncSender<Delivery>>) -> Self {
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

    /// Adds training sets to those waiting for room in the queue.
    pub(super) fn push(&self, sets: impl Iterator<Item = Delivery>) {
        self.0.borrow_mut().waiting.extend(sets);
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

/// Sink: every record of `stream` to `each`, on the worker that has it.
pub fn sink_each<D: Clone + 'static>(
    stream: StreamVec<'_, Time, D>,
    name: &str,
    mut each: impl FnMut(D) + 'static,
) {
    stream.sink(Pipeline, name, move |(input, _frontier)| {
        input.for_each(|_cap, data| data.drain(..).for_each(&mut each));
    });
}

/// Sink: Dead letters.
pub fn dead_letters(stream: StreamVec<'_, Time, DeadLetter>, to: DeadLetters) {
    sink_each(stream, "Sink: Dead letters", move |d| to.send(d));
}

/// Sink: Failure. `what` names the operator in the message.
pub fn failures(stream: StreamVec<'_, Time, String>, what: &'static str, to: Arc<Failure>) {
    sink_each(stream, "Sink: Failure", move |e| {
        to.fail(format!("{what}: {e}"))
    });
}

/// Sink: Trigger events. Counts each trigger and emits it as an event.
pub fn trigger_events(
    stream: StreamVec<'_, Time, TriggerEvent>,
    to: EventWriter,
    progress: Arc<LaneProgress>,
) {
    sink_each(stream, "Sink: Trigger events", move |t| {
        progress.triggers.fetch_add(1, Ordering::Relaxed);
        to.emit(
            format!("trigger-{}", t.id),
            EventBody::Trigger {
                trigger_id: t.id,
                first: t.first,
                boundary: t.boundary,
                samples: t.samples,
                reason: t.reason,
                details: t.details.into_iter().collect(),
            },
        );
    });
}

/// Sink: Decisions. Each interval decision as an event. Sub-policies of an ensemble may decide
/// at the same sample: the n-th decision there gets `-<n>` (ids are unique, and the same in
/// every run).
pub fn decisions(stream: StreamVec<'_, Time, (u64, Decision)>, to: EventWriter) {
    let mut last: Option<(Position, u32)> = None;
    sink_each(stream, "Sink: Decisions", move |(trigger_id, d)| {
        let n = match &mut last {
            Some((at, n)) if *at == d.at => {
                *n += 1;
                *n
            }
            _ => {
                last = Some((d.at, 0));
                0
            }
        };
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        to.emit(
            format!("decision-{}-{}{suffix}", d.at.time, d.at.key),
            EventBody::Decision {
                trigger_id,
                at: d.at,
                triggered: d.triggered,
                details: d.details.into_iter().collect(),
            },
        );
    });
}

/// Sink: Retirement. Samples no later trigger can select leave the store once the lane's
/// trainer is done with that trigger (see `store::samples`); `then` runs after each.
pub fn retirement(
    stream: StreamVec<'_, Time, (u64, Vec<Position>)>,
    lane: usize,
    store: Arc<SampleStore>,
    mut then: impl FnMut(&SampleStore) + 'static,
) {
    sink_each(stream, "Sink: Retirement", move |(trigger, samples)| {
        store.retire(lane, trigger, samples);
        then(&store);
    });
}

/// Sink: Trainer. Training sets into the trainer's `queue` (worker 0), with the dataflow's
/// stage costs since the previous set as each trigger's metrics.
pub fn trainer(
    sets: StreamVec<'_, Time, Delivery>,
    queue: TrainerQueue,
    metrics: EventWriter,
    clock: Arc<StageClock>,
    progress: Arc<LaneProgress>,
    failure: Arc<Failure>,
) {
    sets.sink(Pipeline, "Sink: Trainer", move |(input, _frontier)| {
        let mut arrived = Vec::new();
        input.for_each(|_cap, data| {
            arrived.extend(data.iter().map(|d| d.set.trigger.id));
            queue.push(data.drain(..));
        });
        if !arrived.is_empty() {
            progress
                .queued
                .fetch_add(arrived.len() as u64, Ordering::Relaxed);
            // The dataflow's work since the previous training set is the cost of the triggers
            // whose sets arrive now, shared equally when several arrive at once.
            let split = clock.split_ms(&progress.split);
            for &trigger in &arrived {
                for (stage, ms) in Stage::ALL.iter().zip(split) {
                    metrics.metric(trigger, stage.metric(), ms / arrived.len() as f64);
                }
            }
        }
        if !queue.flush() {
            failure.fail("the trainer stopped; see its error".into());
        }
    });
}
