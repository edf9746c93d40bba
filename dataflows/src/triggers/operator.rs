//! The trigger operator: runs a [`TriggerPolicy`] over the stream in position order.
//!
//! - Input: `SampleMeta` records at their event time (from any worker).
//! - Outputs ([`TriggerStreams`]), all on worker 0 only (a policy is global state):
//!   - `triggers`: one [`TriggerEvent`] per trigger, at the boundary sample's event time;
//!   - `decisions`: each interval decision with the id of the trigger it belongs to;
//!   - `states`: with [`TriggerOptions::states`], the policy's state after each trigger, for
//!     checkpoints;
//!   - `errors`: the policy's failure, at most one (the `(ok, err)` pattern: the operator then
//!     stops deciding and the triggers stream ends).
//!
//!   Side outputs (decisions, states, errors) go out at their natural time (the decision's
//!   sample, the trigger's boundary) or, when that time has passed, at the operator's
//!   current time: their consumers act on records, not on frontiers.
//! - State: every record is exchanged to worker 0 and stashed by time until the input frontier
//!   passes that time; then all complete times are sorted by position and fed to the policy.
//!   Decisions are therefore independent of worker count and input batching.
//! - Policies that close an epoch only when a later sample shows it (time windows) may fire
//!   at the end of the previous batch: for them the operator holds a capability at the last
//!   sample's time until the next batch, so the event can still go out at its boundary's time.
//! - Policies that [need models](TriggerPolicy::needs_models) stop after each fire; the operator
//!   keeps the rest of the batch (and a capability for it) until the trigger's [`ModelInfo`]
//!   arrives through the [`ModelFeed`], which wakes the operator. The side outputs stay open
//!   while a report is awaited and the feed is open (see [`ModelFeed::close`]).
//! - Checkpoints: every policy returns from `inform` right after each fire, so the operator
//!   can take its [`save`](TriggerPolicy::save) at every trigger (for policies that need models,
//!   once that trigger's model is reported) and send it on `states`; `restore` starts the
//!   policy from such a state, as if it had just fired at the checkpoint's boundary.
//! - Cost per record: one exchange of 24 bytes, amortised O(1) stash insert, a sort per batch.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::{Capability, Inspect};
use timely::progress::frontier::MutableAntichain;
use timely::scheduling::SyncActivator;

use super::policy::{Context, Decision, Fire, ModelInfo, NoProbe, Probe, State, TriggerPolicy};
use crate::sample::{Position, SampleMeta, Time, TriggerEvent};
use crate::stash::TimeStash;

/// Model reports from the trainer to the trigger operator (any thread may post).
#[derive(Clone, Default)]
pub struct ModelFeed(Arc<Mutex<FeedState>>);

#[derive(Default)]
struct FeedState {
    reports: VecDeque<ModelInfo>,
    activator: Option<SyncActivator>,
    closed: bool,
}

impl ModelFeed {
    /// Reports a trigger's model and wakes the operator.
    pub fn post(&self, report: ModelInfo) {
        let mut s = self.0.lock().expect("model feed poisoned");
        s.reports.push_back(report);
        s.wake();
    }

    /// No more reports will come (the trainer is gone, or the run failed): the operator stops
    /// waiting for them and can finish.
    pub fn close(&self) {
        let mut s = self.0.lock().expect("model feed poisoned");
        s.closed = true;
        s.wake();
    }

    fn register(&self, activator: SyncActivator) {
        self.0.lock().expect("model feed poisoned").activator = Some(activator);
    }

    /// The reports posted since the last call, and whether the feed is closed.
    fn take(&self) -> (Vec<ModelInfo>, bool) {
        let mut s = self.0.lock().expect("model feed poisoned");
        (s.reports.drain(..).collect(), s.closed)
    }
}

impl FeedState {
    fn wake(&self) {
        if let Some(a) = &self.activator {
            // Fails only once the dataflow is gone, when nobody waits for the report.
            let _ = a.activate();
        }
    }
}

/// The policy's state after a trigger, for a checkpoint (see [`TriggerStreams::states`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerState {
    /// The trigger.
    pub trigger: u64,
    /// The policy's state right after it; `None` when the policy has none consistent with that
    /// boundary alone (triggers that share a boundary, such as empty time windows: only the
    /// last has one).
    pub state: Option<State>,
    /// The oldest sample whose payload the policy may still read.
    pub horizon: Option<Position>,
}

/// What a trigger operator emits (see the module header).
pub struct TriggerStreams<'scope> {
    /// One event per trigger, at its boundary's time.
    pub triggers: StreamVec<'scope, Time, TriggerEvent>,
    /// Each interval decision with the id of the trigger it belongs to (the one it fires, or
    /// the next one); none from trigger [`TriggerOptions::limit`] on.
    pub decisions: StreamVec<'scope, Time, (u64, Decision)>,
    /// One per trigger, in order, with [`TriggerOptions::states`].
    pub states: StreamVec<'scope, Time, TriggerState>,
    /// The policy's failure (a probe error, a state that does not restore): at most one.
    pub errors: StreamVec<'scope, Time, String>,
}

/// How a trigger operator is set up.
pub struct TriggerOptions {
    /// Number of the first trigger (a run resumed after trigger `first_id - 1`, with the policy
    /// in its state at that boundary).
    pub first_id: u64,
    /// Where the trainer reports models (needed by policies that need models).
    pub models: Option<ModelFeed>,
    /// Payloads and model outputs for policies that read them.
    pub probe: Box<dyn Probe>,
    /// Whether the policy's state goes out on `states` after each trigger (checkpoints).
    pub states: bool,
    /// The state saved at trigger `first_id - 1`, to resume from.
    pub restore: Option<State>,
    /// Fire no trigger numbered `limit` or higher: after trigger `limit - 1` the operator
    /// drops what comes (`sluice run --max-triggers`). Triggers before it are those of a run
    /// without a limit.
    pub limit: Option<u64>,
}

impl Default for TriggerOptions {
    fn default() -> Self {
        Self {
            first_id: 0,
            models: None,
            probe: Box::new(NoProbe),
            states: false,
            restore: None,
            limit: None,
        }
    }
}

/// The epoch the next trigger closes: its number, first sample and size so far.
struct Epoch {
    next_id: u64,
    first: Option<Position>,
    samples: u64,
}

impl Epoch {
    /// Moves interval decisions to `out`, each with the trigger it fires or belongs to (none
    /// from trigger `limit` on).
    fn report(&self, decisions: &mut Vec<Decision>, out: &mut Sides, limit: Option<u64>) {
        let mut id = self.next_id;
        for d in decisions.drain(..) {
            if limit.is_some_and(|l| id >= l) {
                break;
            }
            let fired = d.triggered;
            out.decisions.push((d.at.time, (id, d)));
            id += u64::from(fired);
        }
    }

    /// Adds `samples` (in order) to the epoch.
    fn extend(&mut self, samples: &[SampleMeta]) {
        if let Some(s) = samples.first() {
            self.first.get_or_insert(s.position());
            self.samples += samples.len() as u64;
        }
    }

    /// Closes the epoch with `fire` at `boundary`, `last` being its samples not yet added.
    fn close(&mut self, fire: Fire, boundary: Position, last: &[SampleMeta]) -> TriggerEvent {
        self.extend(last);
        let event = TriggerEvent {
            id: self.next_id,
            first: self.first.unwrap_or(boundary),
            boundary,
            samples: self.samples,
            reason: fire.reason,
            details: fire.details,
        };
        self.next_id += 1;
        self.first = None;
        self.samples = 0;
        event
    }
}

/// Moves the capability held for pending records to the first one's time (`first`), or drops
/// it when none is pending.
pub(super) fn hold_for(cap: &mut Option<Capability<Time>>, first: Option<Time>) {
    match first {
        Some(t) => {
            if let Some(c) = cap {
                c.downgrade(&t);
            }
        }
        None => *cap = None,
    }
}

/// Tells `probe` that the policy is done with every sample before `horizon`, when it moved
/// past what the probe was last told (`told`).
pub(super) fn tell_horizon(
    probe: &mut dyn Probe,
    told: &mut Option<Position>,
    horizon: Option<Position>,
) {
    if let Some(h) = horizon
        && told.is_none_or(|r| r < h)
    {
        *told = Some(h);
        probe.retain_from(h);
    }
}

/// Side-output records of one activation, each with its natural time, and the capabilities
/// (one per side output) that send them.
#[derive(Default)]
pub(super) struct Sides {
    decisions: Vec<(Time, (u64, Decision))>,
    states: Vec<(Time, TriggerState)>,
    errors: Vec<(Time, String)>,
    /// For decisions, states and errors; `None` once the operator is done.
    caps: Option<[Capability<Time>; 3]>,
    /// Whether states are wanted.
    save: bool,
}

pub(super) type Out<D> = OutputBuilder<Time, CapacityContainerBuilder<Vec<D>>>;

/// A trigger operator's side outputs (decisions, states, errors), as [`Sides::flush`] sends
/// them.
pub(super) struct SideOuts {
    decisions: Out<(u64, Decision)>,
    states: Out<TriggerState>,
    errors: Out<String>,
}

impl SideOuts {
    /// Adds the three outputs to `builder`: their handles and their streams.
    pub(super) fn new<'scope>(
        builder: &mut OperatorBuilder<'scope, Time>,
    ) -> (Self, SideStreams<'scope>) {
        let (out, decisions) = builder.new_output();
        let decisions_out = OutputBuilder::from(out);
        let (out, states) = builder.new_output();
        let states_out = OutputBuilder::from(out);
        let (out, errors) = builder.new_output();
        let errors_out = OutputBuilder::from(out);
        let outs = Self {
            decisions: decisions_out,
            states: states_out,
            errors: errors_out,
        };
        let streams = SideStreams {
            decisions,
            states,
            errors,
        };
        (outs, streams)
    }
}

/// The streams of [`SideOuts`].
pub(super) struct SideStreams<'scope> {
    decisions: StreamVec<'scope, Time, (u64, Decision)>,
    states: StreamVec<'scope, Time, TriggerState>,
    errors: StreamVec<'scope, Time, String>,
}

impl<'scope> SideStreams<'scope> {
    /// A trigger operator's streams: these and its `triggers`.
    pub(super) fn with(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
    ) -> TriggerStreams<'scope> {
        TriggerStreams {
            triggers,
            decisions: self.decisions,
            states: self.states,
            errors: self.errors,
        }
    }
}

/// Sends `records` on `out` through `cap`, each at its own time or the capability's if later.
fn send<D: Clone + 'static>(
    out: &mut Out<D>,
    cap: &Capability<Time>,
    records: &mut Vec<(Time, D)>,
) {
    if records.is_empty() {
        return;
    }
    let mut out = out.activate();
    for (t, d) in records.drain(..) {
        let at = cap.delayed(&t.max(*cap.time()));
        out.session(&at).give(d);
    }
}

impl Sides {
    /// Side outputs sent through `caps` (decisions, states, errors); states only if `save`.
    pub(super) fn new(caps: [Capability<Time>; 3], save: bool) -> Self {
        Self {
            caps: Some(caps),
            save,
            ..Self::default()
        }
    }

    /// Trigger `id` (at `time`) has no state of its own.
    pub(super) fn none(&mut self, time: Time, id: u64) {
        if self.save {
            let s = TriggerState {
                trigger: id,
                state: None,
                horizon: None,
            };
            self.states.push((time, s));
        }
    }

    /// The policy's state right after trigger `id` (at `time`).
    pub(super) fn saved<P: TriggerPolicy + ?Sized>(&mut self, time: Time, id: u64, policy: &P) {
        if self.save {
            let s = TriggerState {
                trigger: id,
                state: Some(policy.save()),
                horizon: policy.oldest_needed(),
            };
            self.states.push((time, s));
        }
    }

    /// Whether restoring the policy from the checkpoint's state failed (`restored`); the
    /// failure is an error.
    pub(super) fn restored(&mut self, restored: Result<(), String>) -> bool {
        match restored {
            Ok(()) => false,
            Err(e) => {
                self.error(format!(
                    "restoring the trigger policy from the checkpoint: {e}"
                ));
                true
            }
        }
    }

    /// A failure, sent at the operator's current time.
    pub(super) fn error(&mut self, e: String) {
        self.errors.push((0, e));
    }

    /// Sends this activation's records, then moves the capabilities to `floor`, the least time
    /// a later record can have, or drops them when none can come (`None`) and none is
    /// `awaited` (a model report that may still bring a state).
    pub(super) fn flush(&mut self, outs: &mut SideOuts, floor: Option<Time>, awaited: bool) {
        match &self.caps {
            Some([d, s, e]) => {
                send(&mut outs.decisions, d, &mut self.decisions);
                send(&mut outs.states, s, &mut self.states);
                send(&mut outs.errors, e, &mut self.errors);
            }
            None => {
                let lost = self.decisions.len() + self.states.len() + self.errors.len();
                debug_assert!(lost == 0, "{lost} side records after the operator finished");
                self.decisions.clear();
                self.states.clear();
                self.errors.clear();
            }
        }
        match (floor, &mut self.caps) {
            (None, caps) if !awaited => *caps = None,
            (Some(t), Some(caps)) => {
                for c in caps.iter_mut().filter(|c| *c.time() < t) {
                    c.downgrade(&t);
                }
            }
            _ => {}
        }
    }
}

/// Runs a trigger policy over a stream of sample metadata.
pub trait Trigger<'scope> {
    /// Emits a [`TriggerEvent`] each time `policy` fires, at the boundary's event time; panics
    /// if the policy fails.
    fn trigger<P: TriggerPolicy>(self, policy: P) -> StreamVec<'scope, Time, TriggerEvent>
    where
        Self: Sized,
    {
        let streams = self.trigger_with(policy, TriggerOptions::default());
        streams
            .errors
            .inspect(|e| panic!("trigger policy failed: {e}"));
        streams.triggers
    }

    /// As [`trigger`](Self::trigger), with `options`, and every output of the operator.
    fn trigger_with<P: TriggerPolicy>(
        self,
        policy: P,
        options: TriggerOptions,
    ) -> TriggerStreams<'scope>;
}

impl<'scope> Trigger<'scope> for StreamVec<'scope, Time, SampleMeta> {
    fn trigger_with<P: TriggerPolicy>(
        self,
        policy: P,
        options: TriggerOptions,
    ) -> TriggerStreams<'scope> {
        let scope = self.scope();
        let mut builder = OperatorBuilder::new(format!("Trigger: {}", policy.name()), scope);
        let mut input = builder.new_input(self, Exchange::new(|_: &SampleMeta| 0u64));
        let (out, triggers) = builder.new_output();
        let mut triggers_out: Out<TriggerEvent> = OutputBuilder::from(out);
        let (mut sides, streams) = SideOuts::new(&mut builder);
        let address = builder.operator_info().address;
        builder.build(move |caps| {
            let mut op = TriggerOp::new(policy, options, scope.index(), caps);
            if let Some(feed) = &op.models {
                feed.register(scope.worker().sync_activator_for(address.to_vec()));
            }
            move |frontiers| {
                let frontier = &frontiers[0];
                input.for_each_stamp(|cap, data| {
                    op.stash.stash(&cap, 0, data.flat_map(|d| d.drain(..)));
                });
                op.take_models();
                op.drain(frontier);
                op.run_batches(&mut triggers_out);
                op.retain();
                op.finish(frontier, &mut triggers_out);
                op.flush_sides(frontier, &mut sides);
            }
        });
        streams.with(triggers)
    }
}

/// A trigger operator's state between activations. Worker 0 runs the policy; other workers
/// only send their samples there.
struct TriggerOp<P> {
    policy: P,
    probe: Box<dyn Probe>,
    /// Model reports (worker 0), and whether the feed is closed (or absent).
    models: Option<ModelFeed>,
    feed_closed: bool,
    limit: Option<u64>,
    /// Trigger `limit - 1` fired (or a resumed run is past it): nothing more.
    stopped: bool,
    failed: bool,
    stash: TimeStash<SampleMeta>,
    fired: Vec<Fire>,
    decisions: Vec<Decision>,
    epoch: Epoch,
    /// Complete samples not yet consumed by the policy, and a capability for them.
    pending: VecDeque<SampleMeta>,
    pending_cap: Option<Capability<Time>>,
    /// The trigger whose model the policy waits for.
    waiting: Option<u64>,
    /// The trigger (and its boundary's time) whose state goes out once its model is reported.
    save_after_model: Option<(u64, Time)>,
    finished: bool,
    /// The last sample consumed, with a capability at its time while the policy may still
    /// close an epoch there.
    last: Option<(Position, Option<Capability<Time>>)>,
    /// What `probe.retain_from` was last told.
    retained: Option<Position>,
    hold: bool,
    needs_models: bool,
    sides: Sides,
}

impl<P: TriggerPolicy> TriggerOp<P> {
    /// The operator on worker `index`, with the builder's initial capabilities `caps` (one per
    /// output: triggers, decisions, states, errors).
    fn new(
        mut policy: P,
        options: TriggerOptions,
        index: usize,
        caps: Vec<Capability<Time>>,
    ) -> Self {
        let TriggerOptions {
            first_id,
            models,
            probe,
            states,
            restore,
            limit,
        } = options;
        let [_, d, s, e]: [Capability<Time>; 4] =
            caps.try_into().expect("four outputs, four capabilities");
        let mut sides = Sides::new([d, s, e], states);
        // Worker 0 runs the policy.
        let failed = match restore {
            Some(state) if index == 0 => sides.restored(policy.restore(state)),
            _ => false,
        };
        // The policy runs on worker 0: only it takes the (process-wide) reports.
        let models = models.filter(|_| index == 0);
        Self {
            hold: policy.fires_between_batches(),
            needs_models: policy.needs_models(),
            policy,
            probe,
            feed_closed: models.is_none(),
            models,
            limit,
            stopped: limit.is_some_and(|l| first_id >= l),
            failed,
            stash: TimeStash::new(|m: &SampleMeta| m.time),
            fired: Vec::new(),
            decisions: Vec::new(),
            epoch: Epoch {
                next_id: first_id,
                first: None,
                samples: 0,
            },
            pending: VecDeque::new(),
            pending_cap: None,
            waiting: None,
            save_after_model: None,
            finished: false,
            last: None,
            retained: None,
            sides,
        }
    }

    /// Hands the model reports to the policy; a reported trigger's state goes out if it waited
    /// for its model.
    fn take_models(&mut self) {
        let Some(feed) = &self.models else {
            return;
        };
        let (reports, closed) = feed.take();
        for report in reports {
            self.policy.inform_model(&report);
            if self.waiting == Some(report.trigger) {
                self.waiting = None;
            }
            if let Some((id, time)) = self.save_after_model
                && id == report.trigger
            {
                self.save_after_model = None;
                self.sides.saved(time, id, &self.policy);
            }
        }
        if closed {
            self.feed_closed = true;
            self.save_after_model = None;
        }
    }

    /// Moves the records of complete times, sorted by position, to `pending`.
    fn drain(&mut self, frontier: &MutableAntichain<Time>) {
        let mut complete = self.stash.drain_complete(&[frontier]);
        if !complete.records.is_empty() {
            // Later drains hold later times only: `pending` stays in order.
            let mut batch = std::mem::take(&mut complete.records);
            batch.sort_unstable_by_key(|m| m.position());
            self.pending.extend(batch);
            if self.pending_cap.is_none() {
                self.pending_cap = complete.cap.take();
            }
        }
        if self.failed || self.stopped {
            self.pending.clear();
            self.pending_cap = None;
        }
    }

    /// Feeds pending samples to the policy until it waits for a model or wants more; emits its
    /// triggers at their boundaries.
    fn run_batches(&mut self, triggers: &mut Out<TriggerEvent>) {
        let mut output = triggers.activate();
        while self.waiting.is_none() && !self.pending.is_empty() {
            let batch = self.pending.make_contiguous();
            let cap = self
                .pending_cap
                .as_ref()
                .expect("pending samples hold a capability");
            self.fired.clear();
            self.decisions.clear();
            let mut ctx = Context {
                probe: &mut *self.probe,
                decisions: &mut self.decisions,
            };
            let used = match self.policy.inform(batch, &mut ctx, &mut self.fired) {
                Ok(used) => used.min(batch.len()),
                Err(e) => {
                    self.sides.error(e);
                    self.failed = true;
                    self.pending.clear();
                    break;
                }
            };
            self.epoch
                .report(&mut self.decisions, &mut self.sides, self.limit);
            // The policy stopped right at its last fire's boundary: a state to save.
            let mut save = self.fired.last().is_some_and(|f| f.count == used);
            let had_fires = !self.fired.is_empty();
            let mut closed: Option<(u64, Time)> = None;
            let mut consumed = 0usize;
            let fires = self.fired.len();
            for (i, fire) in self.fired.drain(..).enumerate() {
                let (boundary, at) = if fire.count > 0 {
                    let b = batch[fire.count - 1].position();
                    (b, cap.delayed(&b.time))
                } else {
                    match &self.last {
                        Some((b, Some(c))) => (*b, c.clone()),
                        // Before any sample: no epoch to close.
                        _ => continue,
                    }
                };
                let count = fire.count;
                let event = self.epoch.close(fire, boundary, &batch[consumed..count]);
                if let Some((before, t)) = closed {
                    self.sides.none(t, before);
                }
                closed = Some((event.id, boundary.time));
                if self.needs_models {
                    self.waiting = Some(event.id);
                }
                output.session(&at).give(event);
                consumed = count;
                if self.limit.is_some_and(|l| self.epoch.next_id >= l) {
                    // The policy's state is this boundary's only if it stopped here and saves
                    // without waiting for the model.
                    save &= i + 1 == fires && !self.needs_models;
                    self.stopped = true;
                    break;
                }
            }
            self.epoch.extend(&batch[consumed..used.max(consumed)]);
            if used > 0 {
                let end = batch[used - 1].position();
                self.last = Some((end, self.hold.then(|| cap.delayed(&end.time))));
            }
            self.pending.drain(..used);
            if let Some((id, t)) = closed {
                if !save {
                    self.sides.none(t, id);
                } else if self.needs_models {
                    if self.sides.save {
                        self.save_after_model = Some((id, t));
                    }
                } else {
                    self.sides.saved(t, id, &self.policy);
                }
            }
            if self.stopped {
                self.pending.clear();
                self.pending_cap = None;
                self.waiting = None;
                self.last = None;
                break;
            }
            if used == 0 && self.waiting.is_none() && !had_fires {
                break;
            }
        }
        hold_for(&mut self.pending_cap, self.pending.front().map(|m| m.time));
    }

    /// Tells the probe which payloads the policy can no longer read: before its windows, before
    /// the first unconsumed sample, and up to the last consumed one.
    fn retain(&mut self) {
        let horizon = [
            self.policy.oldest_needed(),
            self.pending.front().map(SampleMeta::position),
            self.last.as_ref().map(|(p, _)| p.successor()),
        ]
        .into_iter()
        .flatten()
        .min();
        tell_horizon(&mut *self.probe, &mut self.retained, horizon);
    }

    /// Once no more samples can come: what the policy deferred is decided now, at the last
    /// sample; then nothing can close an epoch there any more.
    fn finish(&mut self, frontier: &MutableAntichain<Time>, triggers: &mut Out<TriggerEvent>) {
        if !frontier.is_empty()
            || !self.pending.is_empty()
            || self.waiting.is_some()
            || self.finished
            || self.stopped
        {
            return;
        }
        self.finished = true;
        self.fired.clear();
        self.decisions.clear();
        let mut ctx = Context {
            probe: &mut *self.probe,
            decisions: &mut self.decisions,
        };
        if !self.failed
            && let Err(e) = self.policy.finish(&mut ctx, &mut self.fired)
        {
            self.sides.error(e);
        }
        self.epoch
            .report(&mut self.decisions, &mut self.sides, self.limit);
        if let Some((boundary, Some(cap))) = &self.last {
            let mut output = triggers.activate();
            let mut closed = None;
            let mut cut = false;
            for fire in self.fired.drain(..) {
                if self.limit.is_some_and(|l| self.epoch.next_id >= l) {
                    cut = true;
                    break;
                }
                let event = self.epoch.close(fire, *boundary, &[]);
                if let Some(before) = closed {
                    self.sides.none(boundary.time, before);
                }
                closed = Some(event.id);
                output.session(cap).give(event);
            }
            // Nothing follows: the state is final (no model report to wait for), unless the
            // limit cut the fires short.
            if let Some(id) = closed {
                if cut {
                    self.sides.none(boundary.time, id);
                } else {
                    self.sides.saved(boundary.time, id, &self.policy);
                }
            }
        }
        self.last = None;
    }

    /// Sends this activation's side records, then moves the side capabilities to the least
    /// time a later record can have, or drops them once none can come.
    fn flush_sides(&mut self, frontier: &MutableAntichain<Time>, sides: &mut SideOuts) {
        // A model report may still bring a state, or let the policy finish.
        let awaited = !self.feed_closed
            && (self.save_after_model.is_some()
                || (self.waiting.is_some() && !self.finished && !self.stopped && !self.failed));
        let floor = [
            frontier.frontier().first().copied(),
            self.pending.front().map(|m| m.time),
            self.last
                .as_ref()
                .and_then(|(p, c)| c.as_ref().map(|_| p.time)),
            self.save_after_model.map(|(_, t)| t),
        ]
        .into_iter()
        .flatten()
        .min();
        self.sides.flush(sides, floor, awaited);
    }
}
