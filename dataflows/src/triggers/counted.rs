//! The trigger operator for [`CountPolicy`]s (amount, time): the policy runs on per-time
//! tallies, so worker 0 receives a record per worker and event time, not one per sample.
//!
//! ```text
//! metas (each worker, its own keys)
//!   ├─ Trigger: Tally (each worker) ── one Tally per complete time ──> worker 0
//!   │    keeps the time's keys (shared with Trigger: Keys)
//!   │       └─ Trigger: <policy> (worker 0): merges the tallies of a time, feeds the policy
//!   │            ├─ cuts (boundaries as a position or "the n-th sample of time t") ─┐
//!   │            ├─ requests (times whose keys it needs) ── broadcast ─┐           │
//!   │            └─ states, errors (as the per-sample operator's)      │           │
//!   └─ Trigger: Keys (each worker): answers a request with its keys at t <──┘      │
//!        └── keys ──> Trigger: Resolve (worker 0) <─────────────────────────────────┘
//!                       └─ triggers (TriggerEvent, at the boundary's time)
//! ```
//!
//! - A boundary that ends its time (every time trigger's, and an amount trigger's whose count
//!   runs out with the time) is the time's greatest key, which the tallies carry; so is a first
//!   sample that starts its time (the least key). Only an amount trigger that fills up in the
//!   middle of a time needs the time's keys: worker 0 asks every worker for them, merges and
//!   takes the n-th (and the n+1-th, the next epoch's first sample).
//! - Same triggers, states and errors as the per-sample [`Trigger`](super::Trigger) operator for
//!   any number of workers and any batching (tested against it); no decisions (these policies
//!   make none), no probes, no model reports.
//! - Each worker keeps `(time, key)` of its samples (16 bytes each) until worker 0's policy has
//!   passed their time; no request can come for a time once the requests' frontier passed it.
//! - Cost per sample: a local stash insert and a (time, key) push; per worker and time: one
//!   32-byte record to worker 0. A sparse stream (a new time every sample) gains nothing; a
//!   stream with `k` samples per millisecond per worker sends `k` times fewer records.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::Broadcast;
use timely::progress::frontier::MutableAntichain;

use super::operator::{
    Out, SideOuts, SideStreams, Sides, TriggerOptions, TriggerStreams, hold_for, tell_horizon,
};
use super::policy::{Context, CountPolicy, Details, Fire, NoProbe, Probe};
use crate::sample::{Key, Position, SampleMeta, Time, TriggerEvent};
use crate::stash::TimeStash;

/// The samples one worker (or, merged, every worker) has at one event time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// The event time.
    pub time: Time,
    /// How many samples.
    pub count: u64,
    /// The least key.
    pub first: Key,
    /// The greatest key.
    pub last: Key,
}

impl Tally {
    fn merge(&mut self, other: &Tally) {
        self.count += other.count;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }
}

/// A sample named by worker 0 before it knows every key: its position, or the `n`-th
/// (0-based) sample of a time in key order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    At(Position),
    Nth(Time, u64),
}

impl Mark {
    fn time(&self) -> Time {
        match self {
            Mark::At(p) => p.time,
            Mark::Nth(t, _) => *t,
        }
    }
}

/// A trigger as worker 0's policy operator knows it (see [`TriggerEvent`]).
#[derive(Clone, Debug)]
struct Cut {
    id: u64,
    first: Mark,
    boundary: Mark,
    samples: u64,
    reason: String,
    details: Details,
}

/// Each worker's `(time, key)` of its samples in time order, for the requests; `floor`: no
/// request can come for a time before it.
#[derive(Default)]
struct Kept {
    keys: VecDeque<(Time, Key)>,
    floor: Time,
}

/// Runs a [`CountPolicy`] over a stream of sample metadata (see the module header).
pub trait TriggerCounted<'scope> {
    /// As [`Trigger::trigger_with`](super::Trigger::trigger_with). A count policy reads no
    /// payloads and waits for no models: `options.models` is not used, and `options.probe` is
    /// only told which samples the policy is done with (`retain_from`).
    fn trigger_counted(
        self,
        policy: Box<dyn CountPolicy>,
        options: TriggerOptions,
    ) -> TriggerStreams<'scope>;
}

impl<'scope> TriggerCounted<'scope> for StreamVec<'scope, Time, SampleMeta> {
    fn trigger_counted(
        self,
        policy: Box<dyn CountPolicy>,
        options: TriggerOptions,
    ) -> TriggerStreams<'scope> {
        let kept: Rc<RefCell<Kept>> = Rc::default();
        let tallies = tally(self, kept.clone());
        let d = decide(tallies, policy, options);
        let keys = answer(d.requests.broadcast(), kept);
        d.sides.with(resolve(d.cuts, keys))
    }
}

/// `Trigger: Tally`: one tally per worker and complete time, to worker 0; keeps the keys (in
/// time order).
fn tally<'scope>(
    metas: StreamVec<'scope, Time, SampleMeta>,
    kept: Rc<RefCell<Kept>>,
) -> StreamVec<'scope, Time, Tally> {
    let mut builder = OperatorBuilder::new("Trigger: Tally".to_string(), metas.scope());
    let mut input = builder.new_input(metas, Pipeline);
    let (out, tallies) = builder.new_output();
    let mut out: Out<Tally> = OutputBuilder::from(out);
    builder.build(move |caps| {
        drop(caps);
        let mut stash = TimeStash::new(|m: &SampleMeta| m.time);
        move |frontiers| {
            input.for_each_stamp(|cap, data| {
                stash.stash(&cap, 0, data.flat_map(|d| d.drain(..)));
            });
            let done = stash.drain_complete(&[&frontiers[0]]);
            let Some(cap) = &done.cap else {
                return;
            };
            let mut kept = kept.borrow_mut();
            let keep_from = kept.floor;
            let runs = done.records.chunk_by(|a, b| a.time == b.time);
            // All at the least time (each tally carries its own): a message per distinct
            // time would make progress tracking the cost of a sparse stream.
            out.activate().session(cap).give_iterator(runs.map(|run| {
                let time = run[0].time;
                if time >= keep_from {
                    kept.keys.extend(run.iter().map(|m| (time, m.key)));
                }
                let (first, last) = run
                    .iter()
                    .fold((Key::MAX, 0), |(lo, hi), m| (lo.min(m.key), hi.max(m.key)));
                Tally {
                    time,
                    count: run.len() as u64,
                    first,
                    last,
                }
            }));
        }
    });
    tallies
}

/// `Trigger: Keys`: each worker's keys at each requested time, to worker 0.
fn answer<'scope>(
    requests: StreamVec<'scope, Time, Time>,
    kept: Rc<RefCell<Kept>>,
) -> StreamVec<'scope, Time, (Time, Vec<Key>)> {
    let mut builder = OperatorBuilder::new("Trigger: Keys".to_string(), requests.scope());
    let mut input = builder.new_input(requests, Pipeline);
    let (out, answers) = builder.new_output();
    let mut out: Out<(Time, Vec<Key>)> = OutputBuilder::from(out);
    builder.build(move |caps| {
        drop(caps);
        move |frontiers| {
            let mut out = out.activate();
            let mut kept = kept.borrow_mut();
            input.for_each_stamp(|cap, data| {
                let mut times: Vec<Time> = data.flat_map(|d| d.drain(..)).collect();
                times.sort_unstable();
                times.dedup();
                for t in times {
                    let from = kept.keys.partition_point(|(at, _)| *at < t);
                    let keys: Vec<Key> = kept
                        .keys
                        .range(from..)
                        .take_while(|(at, _)| *at == t)
                        .map(|(_, k)| *k)
                        .collect();
                    if !keys.is_empty() {
                        out.session(&cap.delayed(&t, 0)).give((t, keys));
                    }
                }
            });
            // No request can come for a time before the frontier.
            let floor = frontiers[0]
                .frontier()
                .first()
                .copied()
                .unwrap_or(Time::MAX);
            if floor > kept.floor {
                kept.floor = floor;
                let n = kept.keys.partition_point(|(at, _)| *at < floor);
                kept.keys.drain(..n);
            }
        }
    });
    answers
}

/// `Trigger: <policy>` (worker 0): the policy over merged tallies.
fn decide<'scope>(
    tallies: StreamVec<'scope, Time, Tally>,
    policy: Box<dyn CountPolicy>,
    options: TriggerOptions,
) -> Decided<'scope> {
    let scope = tallies.scope();
    let mut builder = OperatorBuilder::new(format!("Trigger: {}", policy.name()), scope);
    let mut input = builder.new_input(tallies, Exchange::new(|_: &Tally| 0u64));
    let (out, cuts) = builder.new_output();
    let mut cuts_out: Out<Cut> = OutputBuilder::from(out);
    let (out, requests) = builder.new_output();
    let mut requests_out: Out<Time> = OutputBuilder::from(out);
    let (mut outs, sides) = SideOuts::new(&mut builder);
    let index = scope.index();
    builder.build(move |caps| {
        let mut op = CountOp::new(policy, options, index, caps);
        move |frontiers| {
            let frontier = &frontiers[0];
            input.for_each_stamp(|cap, data| {
                op.stash.stash(&cap, 0, data.flat_map(|d| d.drain(..)));
            });
            op.drain(frontier);
            op.run(&mut cuts_out, &mut requests_out);
            op.retain();
            op.finish(frontier, &mut cuts_out);
            op.flush(frontier, &mut outs);
        }
    });
    Decided {
        cuts,
        requests,
        sides,
    }
}

/// What `Trigger: <policy>` emits.
struct Decided<'scope> {
    cuts: StreamVec<'scope, Time, Cut>,
    requests: StreamVec<'scope, Time, Time>,
    sides: SideStreams<'scope>,
}

/// Worker 0's policy between activations (the other workers' instances only forward).
struct CountOp {
    policy: Box<dyn CountPolicy>,
    /// Told which payloads the policy is done with (it reads none: the sample store may let
    /// them go once nothing else holds them).
    probe: Box<dyn Probe>,
    /// What `probe.retain_from` was last told.
    retained: Option<Position>,
    limit: Option<u64>,
    /// Trigger `limit - 1` fired (or a resumed run is past it): nothing more.
    stopped: bool,
    failed: bool,
    finished: bool,
    hold: bool,
    stash: TimeStash<Tally>,
    /// Merged tallies of complete times not consumed yet (the first perhaps in part), and
    /// what is left of each.
    pending: VecDeque<Tally>,
    left: VecDeque<(Time, u64)>,
    pending_cap: Option<Capability<Time>>,
    /// For requests: at most the least pending or incoming time.
    request_cap: Option<Capability<Time>>,
    /// The last time requested.
    requested: Option<Time>,
    next_id: u64,
    /// The epoch's first sample and its samples so far.
    first: Option<Mark>,
    samples: u64,
    /// The last sample consumed, with a capability at its time while the policy may still
    /// close an epoch there.
    last: Option<(Mark, Option<Capability<Time>>)>,
    fired: Vec<Fire>,
    sides: Sides,
}

impl CountOp {
    fn new(
        mut policy: Box<dyn CountPolicy>,
        options: TriggerOptions,
        index: usize,
        caps: Vec<Capability<Time>>,
    ) -> Self {
        let TriggerOptions {
            first_id,
            states,
            restore,
            limit,
            probe,
            ..
        } = options;
        let [_, r, d, s, e]: [Capability<Time>; 5] =
            caps.try_into().expect("five outputs, five capabilities");
        let mut sides = Sides::new([d, s, e], states);
        // Worker 0 runs the policy.
        let failed = match restore {
            Some(state) if index == 0 => sides.restored(policy.restore(state)),
            _ => false,
        };
        Self {
            hold: policy.fires_between_batches(),
            policy,
            probe,
            retained: None,
            limit,
            stopped: limit.is_some_and(|l| first_id >= l),
            failed,
            finished: false,
            stash: TimeStash::new(|t: &Tally| t.time),
            pending: VecDeque::new(),
            left: VecDeque::new(),
            pending_cap: None,
            request_cap: Some(r),
            requested: None,
            next_id: first_id,
            first: None,
            samples: 0,
            last: None,
            fired: Vec::new(),
            sides,
        }
    }

    /// Merges the tallies of complete times into `pending`.
    fn drain(&mut self, frontier: &MutableAntichain<Time>) {
        let mut done = self.stash.drain_complete(&[frontier]);
        if !done.records.is_empty() {
            let start = self.pending.len();
            for t in done.records.drain(..) {
                // Later drains hold later times only: equal times meet within one drain.
                let fresh = self.pending.len() > start;
                match self.pending.back_mut() {
                    Some(b) if fresh && b.time == t.time => b.merge(&t),
                    _ => self.pending.push_back(t),
                }
            }
            self.left
                .extend(self.pending.range(start..).map(|t| (t.time, t.count)));
            if self.pending_cap.is_none() {
                self.pending_cap = done.cap.take();
            }
        }
        if self.failed || self.stopped {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.pending.clear();
        self.left.clear();
        self.pending_cap = None;
    }

    /// Pending tally `i` and how many of its samples come before sample `c` of the batch.
    fn locate(&self, c: u64) -> (usize, u64) {
        let mut before = 0;
        for (i, &(_, n)) in self.left.iter().enumerate() {
            if c < before + n || i + 1 == self.left.len() {
                let done = self.pending[i].count - n;
                return (i, done + (c - before));
            }
            before += n;
        }
        unreachable!("locate in an empty batch")
    }

    /// The batch's `c`-th sample (1-based), the last of an epoch.
    fn end_mark(&self, c: u64) -> Mark {
        let (i, r) = self.locate(c - 1);
        let t = &self.pending[i];
        if r + 1 == t.count {
            Mark::At(Position {
                time: t.time,
                key: t.last,
            })
        } else {
            Mark::Nth(t.time, r)
        }
    }

    /// The batch's sample after the first `c`, the first of an epoch.
    fn start_mark(&self, c: u64) -> Mark {
        let (i, r) = self.locate(c);
        let t = &self.pending[i];
        if r == 0 {
            Mark::At(Position {
                time: t.time,
                key: t.first,
            })
        } else {
            Mark::Nth(t.time, r)
        }
    }

    /// Adds the batch's samples `from..to` to the epoch.
    fn extend(&mut self, from: u64, to: u64) {
        if to > from {
            if self.first.is_none() {
                self.first = Some(self.start_mark(from));
            }
            self.samples += to - from;
        }
    }

    /// Closes the epoch with `fire` at `boundary`.
    fn close(&mut self, fire: Fire, boundary: Mark) -> Cut {
        let cut = Cut {
            id: self.next_id,
            first: self.first.take().unwrap_or(boundary),
            boundary,
            samples: std::mem::take(&mut self.samples),
            reason: fire.reason,
            details: fire.details,
        };
        self.next_id += 1;
        cut
    }

    /// Removes the batch's first `used` samples from `pending`.
    fn consume(&mut self, mut used: u64) {
        while used > 0 {
            let (_, n) = self.left.front_mut().expect("consumed samples are pending");
            if used < *n {
                *n -= used;
                return;
            }
            used -= *n;
            self.left.pop_front();
            self.pending.pop_front();
        }
    }

    /// Feeds pending counts to the policy; sends its cuts, and requests for boundaries inside
    /// a time.
    fn run(&mut self, cuts: &mut Out<Cut>, requests: &mut Out<Time>) {
        let mut cuts = cuts.activate();
        let mut requests = requests.activate();
        while !self.pending.is_empty() {
            let cap = self
                .pending_cap
                .clone()
                .expect("pending tallies hold a capability");
            self.fired.clear();
            let used = self
                .policy
                .inform_counts(self.left.make_contiguous(), &mut self.fired);
            let save = self.fired.last().is_some_and(|f| f.count as u64 == used);
            let had_fires = !self.fired.is_empty();
            let fires = std::mem::take(&mut self.fired);
            let mut closed: Option<(u64, Time)> = None;
            let mut consumed = 0u64;
            let mut save_here = save;
            for (i, fire) in fires.iter().enumerate() {
                let c = fire.count as u64;
                let (boundary, at) = if c > 0 {
                    let b = self.end_mark(c);
                    (b, cap.delayed(&b.time()))
                } else {
                    match &self.last {
                        Some((b, Some(at))) => (*b, at.clone()),
                        // Before any sample: no epoch to close.
                        _ => continue,
                    }
                };
                self.extend(consumed, c);
                consumed = c;
                if let Mark::Nth(t, _) = boundary
                    && self.requested != Some(t)
                {
                    let r = self
                        .request_cap
                        .as_ref()
                        .expect("pending tallies hold the request capability");
                    requests.session(&r.delayed(&t)).give(t);
                    self.requested = Some(t);
                }
                let cut = self.close(fire.clone(), boundary);
                if let Some((before, t)) = closed {
                    self.sides.none(t, before);
                }
                closed = Some((cut.id, boundary.time()));
                cuts.session(&at).give(cut);
                if self.limit.is_some_and(|l| self.next_id >= l) {
                    save_here &= i + 1 == fires.len();
                    self.stopped = true;
                    break;
                }
            }
            self.fired = fires;
            self.extend(consumed, used.max(consumed));
            if used > 0 {
                let end = self.end_mark(used);
                self.last = Some((end, self.hold.then(|| cap.delayed(&end.time()))));
            }
            self.consume(used);
            if let Some((id, t)) = closed {
                if save_here {
                    self.sides.saved(t, id, &*self.policy);
                } else {
                    self.sides.none(t, id);
                }
            }
            if self.stopped {
                self.clear();
                self.last = None;
                break;
            }
            if used == 0 && !had_fires {
                break;
            }
        }
        hold_for(&mut self.pending_cap, self.pending.front().map(|t| t.time));
    }

    /// Tells the probe that the samples before the first unconsumed one are done with (a
    /// time partly consumed is kept whole).
    fn retain(&mut self) {
        let front = self
            .pending
            .front()
            .zip(self.left.front())
            .map(|(t, l)| Position {
                time: t.time,
                key: if l.1 == t.count { t.first } else { 0 },
            });
        let after_last = self.last.as_ref().map(|(m, _)| match m {
            Mark::At(p) => p.successor(),
            Mark::Nth(t, _) => Position { time: *t, key: 0 },
        });
        let horizon = front.into_iter().chain(after_last).min();
        tell_horizon(&mut *self.probe, &mut self.retained, horizon);
    }

    /// Once no more samples can come: the epochs the policy closes at the end.
    fn finish(&mut self, frontier: &MutableAntichain<Time>, cuts: &mut Out<Cut>) {
        if !frontier.is_empty() || !self.pending.is_empty() || self.finished || self.stopped {
            return;
        }
        self.finished = true;
        self.fired.clear();
        let mut decisions = Vec::new();
        let mut ctx = Context {
            probe: &mut NoProbe,
            decisions: &mut decisions,
        };
        if !self.failed
            && let Err(e) = self.policy.finish(&mut ctx, &mut self.fired)
        {
            self.sides.error(e);
        }
        if let Some((boundary, Some(cap))) = self.last.take() {
            let mut cuts = cuts.activate();
            let mut closed = None;
            let mut cut_short = false;
            for fire in std::mem::take(&mut self.fired) {
                if self.limit.is_some_and(|l| self.next_id >= l) {
                    cut_short = true;
                    break;
                }
                let cut = self.close(fire, boundary);
                if let Some(before) = closed {
                    self.sides.none(boundary.time(), before);
                }
                closed = Some(cut.id);
                cuts.session(&cap).give(cut);
            }
            if let Some(id) = closed {
                if cut_short {
                    self.sides.none(boundary.time(), id);
                } else {
                    self.sides.saved(boundary.time(), id, &*self.policy);
                }
            }
        }
    }

    /// Sends the side records; moves every capability to the least time a later record can
    /// have.
    fn flush(&mut self, frontier: &MutableAntichain<Time>, outs: &mut SideOuts) {
        // A stopped or failed policy requests nothing more: the workers drop their keys.
        let incoming = [
            frontier.frontier().first().copied(),
            self.pending.front().map(|t| t.time),
        ]
        .into_iter()
        .flatten()
        .min()
        .filter(|_| !self.stopped && !self.failed);
        match (incoming, &mut self.request_cap) {
            (Some(t), Some(c)) if *c.time() < t => c.downgrade(&t),
            (None, cap) => *cap = None,
            _ => {}
        }
        let held = self
            .last
            .as_ref()
            .and_then(|(m, c)| c.as_ref().map(|_| m.time()));
        let floor = [frontier.frontier().first().copied(), incoming, held]
            .into_iter()
            .flatten()
            .min();
        self.sides.flush(outs, floor, false);
    }
}

/// `Trigger: Resolve` (worker 0): completes each cut's boundary and first sample from the
/// workers' keys.
fn resolve<'scope>(
    cuts: StreamVec<'scope, Time, Cut>,
    keys: StreamVec<'scope, Time, (Time, Vec<Key>)>,
) -> StreamVec<'scope, Time, TriggerEvent> {
    let mut builder = OperatorBuilder::new("Trigger: Resolve".to_string(), cuts.scope());
    let mut cuts = builder.new_input(cuts, Pipeline);
    let mut keys = builder.new_input(keys, Exchange::new(|_: &(Time, Vec<Key>)| 0u64));
    let (out, triggers) = builder.new_output();
    let mut out: Out<TriggerEvent> = OutputBuilder::from(out);
    builder.build(move |caps| {
        drop(caps);
        let mut stash = TimeStash::new(|c: &Cut| c.boundary.time());
        let mut lists: BTreeMap<Time, Vec<Key>> = BTreeMap::new();
        // The sample after the last boundary inside a time: the next epoch's first.
        let mut after: Option<(Time, u64, Key)> = None;
        move |frontiers| {
            cuts.for_each_stamp(|cap, data| {
                stash.stash(&cap, 0, data.flat_map(|d| d.drain(..)));
            });
            keys.for_each(|_, data| {
                for (t, k) in data.drain(..) {
                    lists.entry(t).or_default().extend(k);
                }
            });
            let (f0, f1) = (&frontiers[0], &frontiers[1]);
            let open = |t: &Time| f0.less_equal(t) || f1.less_equal(t);
            let mut done = stash.drain_complete(&[f0, f1]);
            for (_, k) in lists.iter_mut().filter(|(t, _)| !open(t)) {
                k.sort_unstable();
            }
            done.records.sort_by_key(|c| c.id);
            let mut out = out.activate();
            for cut in &done.records {
                let first = place(cut.first, &lists, &after);
                let boundary = place(cut.boundary, &lists, &after);
                if let Mark::Nth(t, n) = cut.boundary {
                    let next = place(Mark::Nth(t, n + 1), &lists, &None);
                    after = Some((t, n + 1, next.key));
                }
                let event = TriggerEvent {
                    id: cut.id,
                    first,
                    boundary,
                    samples: cut.samples,
                    reason: cut.reason.clone(),
                    details: cut.details.clone(),
                };
                out.session(&done.at(boundary.time)).give(event);
            }
            lists.retain(|t, _| open(t));
        }
    });
    triggers
}

/// The position `mark` names: from the sorted keys of its time, or the remembered sample
/// after the last boundary inside a time.
fn place(
    mark: Mark,
    lists: &BTreeMap<Time, Vec<Key>>,
    after: &Option<(Time, u64, Key)>,
) -> Position {
    let (time, n) = match mark {
        Mark::At(p) => return p,
        Mark::Nth(t, n) => (t, n),
    };
    let key = match (lists.get(&time), after) {
        (Some(k), _) if (n as usize) < k.len() => k[n as usize],
        (_, Some((t, m, key))) if *t == time && *m == n => *key,
        _ => panic!("Trigger: Resolve: no key {n} at time {time} (a worker did not answer)"),
    };
    Position { time, key }
}
