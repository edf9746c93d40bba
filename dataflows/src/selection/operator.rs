//! The selection operator: runs a [`SelectionPolicy`] on every worker.
//!
//! - Inputs: `SampleMeta` records, already exchanged by key (each worker sees its own keys), and
//!   [`TriggerEvent`]s, broadcast to every worker (in id order: one sender, FIFO channels).
//! - Output: `(trigger id, this worker's candidates)` once per trigger per worker (also when
//!   empty, so the assembler can count answers), at the trigger's boundary time.
//! - Order: a trigger is answered as soon as the sample input has passed its boundary time: its
//!   samples up to the boundary are added first, in position order. Samples not covered by a
//!   known trigger are added once both inputs have passed their time (no earlier trigger can
//!   still come). So the policy sees the stream in position order on any number of workers, and
//!   a trigger operator that holds back later triggers (waiting for a model) does not hold back
//!   the training set of the trigger it already emitted.
//! - Retired samples (no later trigger can select them) go to an `on_retired` callback after
//!   each answer, so the caller can compact their payloads.
//! - Checkpoints: with `on_state`, the policy's state goes out right after each answer (the
//!   policy then holds exactly the samples up to the boundary); `restore` builds the policy from
//!   the states all workers saved at one trigger.
//! - State: the policy's, plus samples not yet added (sorted lazily by position) and triggers
//!   not yet answered, each with a capability at its boundary time.

use std::collections::VecDeque;

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;

use super::policy::SelectionPolicy;
use crate::sample::{Candidate, Position, SampleMeta, Time, TriggerEvent, owner};
use crate::triggers::State;

/// Called with (trigger id, samples) when answering a trigger retires samples no later trigger
/// can select (see [`SelectionPolicy::take_retired`]).
pub type OnRetired = Box<dyn FnMut(u64, Vec<Position>)>;

/// Called right after a trigger's answer with (trigger id, the state for a checkpoint, the
/// positions of the samples held: those a later training set may read).
pub type OnState = Box<dyn FnMut(u64, State, Vec<Position>)>;

/// How a selection operator (or the assembler) talks to the world outside the dataflow.
#[derive(Default)]
pub struct SelectOptions {
    /// Where retired samples go.
    pub on_retired: Option<OnRetired>,
    /// Where states for checkpoints go (`None`: no checkpoints).
    pub on_state: Option<OnState>,
    /// The states every worker saved at the checkpoint this run resumes from.
    pub restore: Option<Vec<State>>,
    /// How many workers own keys: the first `owners` workers, key `k` on
    /// [`owner`]`(k, owners)` (`None`: every worker). The caller exchanges the samples to
    /// match; workers beyond them hold nothing and answer every trigger empty. A cluster
    /// keeps keyed state in the process that trains (see the pipeline's architecture notes).
    pub owners: Option<usize>,
}

/// Runs a selection policy per worker over key-partitioned sample metadata.
pub trait Select<'scope>: Sized {
    /// Answers every trigger with this worker's candidates.
    fn select<P: SelectionPolicy>(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        policy: P,
    ) -> StreamVec<'scope, Time, (u64, Vec<Candidate>)> {
        self.select_with(triggers, policy, SelectOptions::default())
    }

    /// As [`select`](Self::select), with `options` (callbacks run on the worker that holds the
    /// samples).
    fn select_with<P: SelectionPolicy>(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        policy: P,
        options: SelectOptions,
    ) -> StreamVec<'scope, Time, (u64, Vec<Candidate>)>;
}

/// Samples waiting to be added, sorted on demand.
#[derive(Default)]
struct Pending {
    samples: Vec<SampleMeta>,
    sorted: bool,
}

impl Pending {
    fn extend(&mut self, data: impl IntoIterator<Item = SampleMeta>) {
        let before = self.samples.len();
        self.samples.extend(data);
        if self.samples.len() > before {
            self.sorted = false;
        }
    }

    /// Removes and returns, in position order, the samples `upto` accepts (a prefix).
    fn take_while(
        &mut self,
        upto: impl Fn(&SampleMeta) -> bool,
    ) -> std::vec::Drain<'_, SampleMeta> {
        if !self.sorted {
            self.samples.sort_unstable_by_key(SampleMeta::position);
            self.sorted = true;
        }
        let n = self.samples.partition_point(|s| upto(s));
        self.samples.drain(..n)
    }
}

impl<'scope> Select<'scope> for StreamVec<'scope, Time, SampleMeta> {
    fn select_with<P: SelectionPolicy>(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        mut policy: P,
        options: SelectOptions,
    ) -> StreamVec<'scope, Time, (u64, Vec<Candidate>)> {
        let name = format!("Selection: {}", policy.name());
        let (index, peers) = (self.scope().index(), self.scope().peers());
        let SelectOptions {
            mut on_retired,
            mut on_state,
            restore,
            owners,
        } = options;
        let owners = owners.unwrap_or(peers);
        if let Some(states) = restore {
            // The run checked the checkpoint (version, checksum, configuration) before building
            // the dataflow: a state that does not fit is a bug.
            policy
                .restore(&states, &|key| owner(key, owners) == index)
                .unwrap_or_else(|e| panic!("restoring the selection from the checkpoint: {e}"));
        }
        self.binary_frontier(
            triggers.broadcast(),
            Pipeline,
            Pipeline,
            &name,
            move |default_cap, _info| {
                drop(default_cap);
                let mut pending = Pending::default();
                let mut queue: VecDeque<(TriggerEvent, Capability<Time>)> = VecDeque::new();
                move |(samples, f1), (triggers, f2), output| {
                    samples.for_each(|_cap, data| pending.extend(data.drain(..)));
                    triggers.for_each_stamp(|cap, data| {
                        for t in data.flat_map(|d| d.drain(..)) {
                            let at = cap.delayed(&t.boundary.time, 0);
                            queue.push_back((t, at));
                        }
                    });
                    // Answer the triggers whose samples are all here.
                    while let Some((t, _)) = queue.front()
                        && !f1.less_equal(&t.boundary.time)
                    {
                        let (t, at) = queue.pop_front().expect("front exists");
                        for s in pending.take_while(|s| s.position() <= t.boundary) {
                            policy.add(s);
                        }
                        let mut selected = Vec::new();
                        policy.select(&t, &mut selected);
                        output.session(&at).give((t.id, selected));
                        let mut retired = Vec::new();
                        policy.take_retired(&mut retired);
                        if let Some(f) = &mut on_retired
                            && !retired.is_empty()
                        {
                            f(t.id, retired);
                        }
                        if let Some(f) = &mut on_state {
                            let mut held = Vec::new();
                            policy.held_positions(&mut held);
                            f(t.id, policy.save(), held);
                        }
                    }
                    // Samples no trigger can still precede.
                    let complete =
                        |s: &SampleMeta| !f1.less_equal(&s.time) && !f2.less_equal(&s.time);
                    for s in pending.take_while(complete) {
                        policy.add(s);
                    }
                }
            },
        )
    }
}
