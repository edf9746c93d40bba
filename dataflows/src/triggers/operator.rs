//! The trigger operator: runs a [`TriggerPolicy`] over the stream in position order.
//!
//! - Input: `SampleMeta` records at their event time (from any worker).
//! - Output: one [`TriggerEvent`] per trigger, at the boundary sample's event time, emitted on
//!   worker 0 only (a policy is global state).
//! - State: every record is exchanged to worker 0 and stashed by time until the input frontier
//!   passes that time; then all complete times are sorted by position and fed to the policy.
//!   Decisions are therefore independent of worker count and input batching.
//! - Policies that close an epoch only when a later sample shows it (time windows) may fire
//!   at the end of the previous batch: for them the operator holds a capability at the last
//!   sample's time until the next batch, so the event can still go out at its boundary's time.
//! - Policies that [need models](TriggerPolicy::needs_models) stop after each fire; the operator
//!   keeps the rest of the batch (and a capability for it) until the trigger's [`ModelInfo`]
//!   arrives through the [`ModelFeed`], which wakes the operator.
//! - Checkpoints: every policy returns from `inform` right after each fire, so the operator
//!   can take its [`save`](TriggerPolicy::save) at every trigger (for policies that need models,
//!   once that trigger's model is reported) and hand it to `on_state`; `restore` starts the
//!   policy from such a state, as if it had just fired at the checkpoint's boundary.
//! - Cost per record: one exchange of 24 bytes, amortised O(1) stash insert, a sort per batch.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;
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
}

impl ModelFeed {
    /// Reports a trigger's model and wakes the operator.
    pub fn post(&self, report: ModelInfo) {
        let mut s = self.0.lock().expect("model feed poisoned");
        s.reports.push_back(report);
        if let Some(a) = &s.activator {
            // Fails only once the dataflow is gone, when nobody waits for the report.
            let _ = a.activate();
        }
    }

    fn register(&self, activator: SyncActivator) {
        self.0.lock().expect("model feed poisoned").activator = Some(activator);
    }

    fn take(&self) -> Vec<ModelInfo> {
        self.0
            .lock()
            .expect("model feed poisoned")
            .reports
            .drain(..)
            .collect()
    }
}

/// Receives each interval decision with the id of the trigger it belongs to.
pub type OnDecision = Box<dyn FnMut(u64, &Decision)>;

/// Receives, for a checkpoint, (trigger id, the policy's state right after that trigger, the
/// oldest sample whose payload the policy may still read). Every trigger gets one call, in
/// order; the state is `None` when the policy has none consistent with that boundary alone
/// (triggers that share a boundary, such as empty time windows: only the last has one).
pub type OnState = Box<dyn FnMut(u64, Option<State>, Option<Position>)>;

/// How a trigger operator talks to the world outside the dataflow.
pub struct TriggerOptions {
    /// Number of the first trigger (a run resumed after trigger `first_id - 1`, with the policy
    /// in its state at that boundary).
    pub first_id: u64,
    /// Where the trainer reports models (needed by policies that need models).
    pub models: Option<ModelFeed>,
    /// Payloads and model outputs for policies that read them.
    pub probe: Box<dyn Probe>,
    /// Called with each interval decision and the id of the trigger it belongs to (the one it
    /// fires, or the next one).
    pub on_decision: OnDecision,
    /// Called once if the policy fails (a probe error); the operator stops deciding.
    pub on_error: Box<dyn FnMut(String)>,
    /// Where the policy's state goes after each trigger (`None`: no checkpoints).
    pub on_state: Option<OnState>,
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
            on_decision: Box::new(|_, _| {}),
            on_error: Box::new(|e| panic!("trigger policy failed: {e}")),
            on_state: None,
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
    /// Reports interval decisions, each with the trigger it fires or belongs to (none from
    /// trigger `limit` on).
    fn report(&self, decisions: &[Decision], on_decision: &mut OnDecision, limit: Option<u64>) {
        let mut id = self.next_id;
        for d in decisions {
            if limit.is_some_and(|l| id >= l) {
                break;
            }
            on_decision(id, d);
            id += u64::from(d.triggered);
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

/// Runs a trigger policy over a stream of sample metadata.
pub trait Trigger<'scope> {
    /// Emits a [`TriggerEvent`] each time `policy` fires, at the boundary's event time.
    fn trigger<P: TriggerPolicy>(self, policy: P) -> StreamVec<'scope, Time, TriggerEvent>
    where
        Self: Sized,
    {
        self.trigger_with(policy, TriggerOptions::default())
    }

    /// As [`trigger`](Self::trigger), with `options`.
    fn trigger_with<P: TriggerPolicy>(
        self,
        policy: P,
        options: TriggerOptions,
    ) -> StreamVec<'scope, Time, TriggerEvent>;
}

impl<'scope> Trigger<'scope> for StreamVec<'scope, Time, SampleMeta> {
    fn trigger_with<P: TriggerPolicy>(
        self,
        mut policy: P,
        options: TriggerOptions,
    ) -> StreamVec<'scope, Time, TriggerEvent> {
        let name = format!("Trigger: {}", policy.name());
        let scope = self.scope();
        self.unary_frontier(
            Exchange::new(|_: &SampleMeta| 0u64),
            &name,
            move |default_cap, info| {
                drop(default_cap);
                let TriggerOptions {
                    first_id,
                    models,
                    mut probe,
                    mut on_decision,
                    mut on_error,
                    mut on_state,
                    restore,
                    limit,
                } = options;
                // Trigger `limit - 1` fired (or a resumed run is past it): nothing more.
                let mut stopped = limit.is_some_and(|l| first_id >= l);
                let mut failed = false;
                if let Some(state) = restore
                    && scope.index() == 0
                    && let Err(e) = policy.restore(state)
                {
                    on_error(format!(
                        "restoring the trigger policy from the checkpoint: {e}"
                    ));
                    failed = true;
                }
                // The policy runs on worker 0: only it takes the (process-wide) reports.
                let models = models.filter(|_| scope.index() == 0);
                if let Some(feed) = &models {
                    feed.register(scope.worker().sync_activator_for(info.address.to_vec()));
                }
                let mut stash = TimeStash::new(|m: &SampleMeta| m.time);
                let mut fired: Vec<Fire> = Vec::new();
                let mut decisions: Vec<Decision> = Vec::new();
                let mut epoch = Epoch {
                    next_id: first_id,
                    first: None,
                    samples: 0,
                };
                // Complete samples not yet consumed by the policy, and a capability for them.
                let mut pending: VecDeque<SampleMeta> = VecDeque::new();
                let mut pending_cap: Option<Capability<Time>> = None;
                // The trigger whose model the policy waits for.
                let mut waiting: Option<u64> = None;
                // The trigger whose state goes out once its model is reported.
                let mut save_after_model: Option<u64> = None;
                let mut finished = false;
                // The last sample consumed, with a capability at its time while the policy may
                // still close an epoch there.
                let mut last: Option<(Position, Option<Capability<Time>>)> = None;
                // What `probe.retain_from` was last told.
                let mut retained: Option<Position> = None;
                let hold = policy.fires_between_batches();
                let needs_models = policy.needs_models();
                move |(input, frontier), output| {
                    input.for_each_stamp(|cap, data| {
                        stash.stash(&cap, 0, data.flat_map(|d| d.drain(..)));
                    });
                    for report in models.as_ref().map(ModelFeed::take).unwrap_or_default() {
                        policy.inform_model(&report);
                        if waiting == Some(report.trigger) {
                            waiting = None;
                        }
                        if save_after_model == Some(report.trigger) {
                            save_after_model = None;
                            if let Some(f) = &mut on_state {
                                f(report.trigger, Some(policy.save()), policy.oldest_needed());
                            }
                        }
                    }
                    let mut complete = stash.drain_complete(&[frontier]);
                    if !complete.records.is_empty() {
                        // Later drains hold later times only: `pending` stays in order.
                        let mut batch = std::mem::take(&mut complete.records);
                        batch.sort_unstable_by_key(|m| m.position());
                        pending.extend(batch);
                        if pending_cap.is_none() {
                            pending_cap = complete.cap.take();
                        }
                    }
                    if failed || stopped {
                        pending.clear();
                        pending_cap = None;
                    }
                    while waiting.is_none() && !pending.is_empty() {
                        let batch = pending.make_contiguous();
                        let cap = pending_cap
                            .as_ref()
                            .expect("pending samples hold a capability");
                        fired.clear();
                        decisions.clear();
                        let mut ctx = Context {
                            probe: &mut *probe,
                            decisions: &mut decisions,
                        };
                        let used = match policy.inform(batch, &mut ctx, &mut fired) {
                            Ok(used) => used.min(batch.len()),
                            Err(e) => {
                                on_error(e);
                                failed = true;
                                pending.clear();
                                break;
                            }
                        };
                        epoch.report(&decisions, &mut on_decision, limit);
                        // The policy stopped right at its last fire's boundary: a state to save.
                        let mut save = fired.last().is_some_and(|f| f.count == used);
                        let had_fires = !fired.is_empty();
                        let mut closed = None;
                        let mut consumed = 0usize;
                        let fires = fired.len();
                        for (i, fire) in fired.drain(..).enumerate() {
                            let (boundary, at) = if fire.count > 0 {
                                let b = batch[fire.count - 1].position();
                                (b, cap.delayed(&b.time))
                            } else {
                                match &last {
                                    Some((b, Some(c))) => (*b, c.clone()),
                                    // Before any sample: no epoch to close.
                                    _ => continue,
                                }
                            };
                            let count = fire.count;
                            let event = epoch.close(fire, boundary, &batch[consumed..count]);
                            if let (Some(before), Some(f)) = (closed, &mut on_state) {
                                f(before, None, None);
                            }
                            closed = Some(event.id);
                            if needs_models {
                                waiting = Some(event.id);
                            }
                            output.session(&at).give(event);
                            consumed = count;
                            if limit.is_some_and(|l| epoch.next_id >= l) {
                                // The policy's state is this boundary's only if it stopped here
                                // and saves without waiting for the model.
                                save &= i + 1 == fires && !needs_models;
                                stopped = true;
                                break;
                            }
                        }
                        epoch.extend(&batch[consumed..used.max(consumed)]);
                        if used > 0 {
                            let end = batch[used - 1].position();
                            last = Some((end, hold.then(|| cap.delayed(&end.time))));
                        }
                        pending.drain(..used);
                        if let (Some(id), Some(f)) = (closed, &mut on_state) {
                            if !save {
                                f(id, None, None);
                            } else if needs_models {
                                save_after_model = Some(id);
                            } else {
                                f(id, Some(policy.save()), policy.oldest_needed());
                            }
                        }
                        if stopped {
                            pending.clear();
                            pending_cap = None;
                            waiting = None;
                            last = None;
                            break;
                        }
                        if used == 0 && waiting.is_none() && !had_fires {
                            break;
                        }
                    }
                    match pending.front() {
                        Some(m) => {
                            if let Some(c) = &mut pending_cap {
                                c.downgrade(&m.time);
                            }
                        }
                        None => pending_cap = None,
                    }
                    // Payloads the policy can no longer read: before its windows, before the
                    // first unconsumed sample, and up to the last consumed one.
                    let horizon = [
                        policy.oldest_needed(),
                        pending.front().map(SampleMeta::position),
                        last.as_ref().map(|(p, _)| p.successor()),
                    ]
                    .into_iter()
                    .flatten()
                    .min();
                    if let Some(h) = horizon
                        && retained.is_none_or(|r| r < h)
                    {
                        retained = Some(h);
                        probe.retain_from(h);
                    }
                    if frontier.is_empty()
                        && pending.is_empty()
                        && waiting.is_none()
                        && !finished
                        && !stopped
                    {
                        finished = true;
                        // No more samples: what the policy deferred is decided now, at the
                        // last sample; then nothing can close an epoch there any more.
                        fired.clear();
                        decisions.clear();
                        let mut ctx = Context {
                            probe: &mut *probe,
                            decisions: &mut decisions,
                        };
                        if !failed && let Err(e) = policy.finish(&mut ctx, &mut fired) {
                            on_error(e);
                        }
                        epoch.report(&decisions, &mut on_decision, limit);
                        if let Some((boundary, Some(cap))) = &last {
                            let mut closed = None;
                            let mut cut = false;
                            for fire in fired.drain(..) {
                                if limit.is_some_and(|l| epoch.next_id >= l) {
                                    cut = true;
                                    break;
                                }
                                let event = epoch.close(fire, *boundary, &[]);
                                if let (Some(before), Some(f)) = (closed, &mut on_state) {
                                    f(before, None, None);
                                }
                                closed = Some(event.id);
                                output.session(cap).give(event);
                            }
                            // Nothing follows: the state is final (no model report to wait for),
                            // unless the limit cut the fires short.
                            if let (Some(id), Some(f)) = (closed, &mut on_state) {
                                if cut {
                                    f(id, None, None);
                                } else {
                                    f(id, Some(policy.save()), policy.oldest_needed());
                                }
                            }
                        }
                        last = None;
                    }
                }
            },
        )
    }
}
