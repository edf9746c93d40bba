//! Gathers the workers' selections into one [`TrainingSet`] per trigger, on worker 0.
//!
//! - Inputs: `(trigger id, candidates)` once per trigger from every worker, and the
//!   [`TriggerEvent`]s.
//! - Output: one [`TrainingSet`] per trigger: the [`SetSampler`]'s choice among all candidates
//!   (positions sorted), at the trigger's time, on worker 0, in trigger order, as soon as every
//!   worker has answered (counted, not inferred
//!   from frontiers: a trigger operator waiting for a model may hold the trigger stream's
//!   frontier at this trigger's time). Triggers whose training set is empty are emitted too.
//! - Side outputs (as the selection's, [`Selected`]): candidates the sampler retires, and its
//!   state after each set (with [`SelectOptions::states`]).
//! - State: answers of triggers not complete yet. Only metadata travels here (32 bytes per
//!   candidate).
//!
//! [`JoinAnswers`] joins the sets with another per-trigger answer from each of several
//! senders in the same way (the workers' feature statistics, the processes' shipped samples).

use std::collections::{BTreeMap, VecDeque};

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use super::operator::{Outputs, SelectOptions, Selected};
use super::sampler::{Sampling, SetSampler};
use crate::sample::{Candidate, Time, TrainingSet, TriggerEvent};

/// Assembles per-trigger training sets from per-worker selections.
pub trait AssembleTrainingSets<'scope> {
    /// One [`TrainingSet`] per trigger in `triggers`, on worker 0: every candidate.
    fn training_sets(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
    ) -> StreamVec<'scope, Time, TrainingSet>
    where
        Self: Sized,
    {
        self.training_sets_with(triggers, SetSampler::none())
    }

    /// As [`training_sets`](Self::training_sets), sampling the candidates with `sampler`.
    fn training_sets_with(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        sampler: SetSampler,
    ) -> StreamVec<'scope, Time, TrainingSet>
    where
        Self: Sized,
    {
        self.training_sets_options(triggers, sampler, SelectOptions::default())
            .answers
    }

    /// As [`training_sets_with`](Self::training_sets_with), with `options`, and every
    /// output: `retired` has the candidates the sampler found no later trigger can select (see
    /// [`Sampling::take_retired`]); `states` the sampler's state after each set (no positions:
    /// the workers' selections hold the samples); `restore` has one state, the sampler's.
    fn training_sets_options(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        sampler: SetSampler,
        options: SelectOptions,
    ) -> Selected<'scope, TrainingSet>;
}

impl<'scope> AssembleTrainingSets<'scope> for StreamVec<'scope, Time, (u64, Vec<Candidate>)> {
    fn training_sets_options(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        sampler: SetSampler,
        options: SelectOptions,
    ) -> Selected<'scope, TrainingSet> {
        let scope = self.scope();
        let peers = scope.peers();
        let SelectOptions {
            states: save,
            restore,
            owners: _,
            scores: _,
        } = options;
        let mut sampler = Sampling::new(sampler);
        if let Some(state) = restore.as_ref().and_then(|s| s.first()) {
            sampler
                .restore(state)
                .unwrap_or_else(|e| panic!("restoring the sampler from the checkpoint: {e}"));
        }
        let mut builder =
            OperatorBuilder::new("Selection: AssembleTrainingSets".to_string(), scope);
        let mut keys = builder.new_input(self, Exchange::new(|_: &(u64, Vec<Candidate>)| 0u64));
        let mut trigs = builder.new_input(triggers, Exchange::new(|_: &TriggerEvent| 0u64));
        let (mut outputs, selected) = Outputs::new(&mut builder);
        builder.build(move |caps| {
            drop(caps);
            let mut waiting: VecDeque<(TriggerEvent, [Capability<Time>; 3])> = VecDeque::new();
            // Per trigger: workers that answered, and their positions.
            let mut answers: BTreeMap<u64, (usize, Vec<Candidate>)> = BTreeMap::new();
            move |_frontiers| {
                keys.for_each(|_cap, data| {
                    for (id, candidates) in data.drain(..) {
                        let a = answers.entry(id).or_default();
                        a.0 += 1;
                        a.1.extend(candidates);
                    }
                });
                trigs.for_each_stamp(|cap, data| {
                    for t in data.flat_map(|d| d.drain(..)) {
                        let at = |port| cap.delayed(&t.boundary.time, port);
                        let caps = [at(0), at(1), at(2)];
                        waiting.push_back((t, caps));
                    }
                });
                while let Some((t, _)) = waiting.front()
                    && answers.get(&t.id).is_some_and(|a| a.0 == peers)
                {
                    let (trigger, caps) = waiting.pop_front().expect("front exists");
                    let (_, candidates) = answers.remove(&trigger.id).expect("answered");
                    let samples = sampler.apply(&trigger, candidates);
                    let mut retired = Vec::new();
                    sampler.take_retired(&mut retired);
                    let state = save.then(|| (sampler.save(), Vec::new()));
                    let id = trigger.id;
                    outputs.send(
                        &caps,
                        id,
                        TrainingSet {
                            trigger,
                            samples,
                            moments: None,
                        },
                        retired,
                        state,
                    );
                }
            }
        });
        selected
    }
}

/// Training sets (on worker 0) joined with an answer for their trigger from each of several
/// senders: the workers' shares of the feature statistics, the processes' shipped samples.
pub trait JoinAnswers<'scope> {
    /// Each set of `self` once `expected` answers `(trigger id, A)` for its trigger arrived on
    /// `answers` (exchanged to worker 0; counted, not inferred from frontiers), folded in
    /// arrival order into `W::default()` by `fold` and given to `join` with the set. Sets
    /// leave in the order they came, at their boundary's time.
    fn join_answers<A, W, O>(
        self,
        answers: StreamVec<'scope, Time, (u64, A)>,
        name: &str,
        expected: usize,
        fold: impl FnMut(&mut W, A) + 'static,
        join: impl FnMut(TrainingSet, W) -> O + 'static,
    ) -> StreamVec<'scope, Time, O>
    where
        A: timely::ExchangeData,
        W: Default + 'static,
        O: Clone + 'static;
}

impl<'scope> JoinAnswers<'scope> for StreamVec<'scope, Time, TrainingSet> {
    fn join_answers<A, W, O>(
        self,
        answers: StreamVec<'scope, Time, (u64, A)>,
        name: &str,
        expected: usize,
        mut fold: impl FnMut(&mut W, A) + 'static,
        mut join: impl FnMut(TrainingSet, W) -> O + 'static,
    ) -> StreamVec<'scope, Time, O>
    where
        A: timely::ExchangeData,
        W: Default + 'static,
        O: Clone + 'static,
    {
        self.binary(
            answers,
            Pipeline,
            Exchange::new(|_: &(u64, A)| 0u64),
            name,
            move |_, _| {
                let mut waiting: VecDeque<(TrainingSet, Capability<Time>)> = VecDeque::new();
                // Per trigger: senders that answered, and their answers so far.
                let mut arrived: BTreeMap<u64, (usize, W)> = BTreeMap::new();
                move |sets, answers, output| {
                    answers.for_each(|_, data| {
                        for (id, a) in data.drain(..) {
                            let so_far = arrived.entry(id).or_default();
                            so_far.0 += 1;
                            fold(&mut so_far.1, a);
                        }
                    });
                    sets.for_each(|cap, data| {
                        for set in data.drain(..) {
                            let at = cap.delayed(&set.trigger.boundary.time, 0);
                            waiting.push_back((set, at));
                        }
                    });
                    while let Some((set, _)) = waiting.front()
                        && arrived
                            .get(&set.trigger.id)
                            .is_some_and(|(n, _)| *n == expected)
                    {
                        let (set, cap) = waiting.pop_front().expect("front exists");
                        let (_, answers) = arrived.remove(&set.trigger.id).expect("arrived");
                        output.session(&cap).give(join(set, answers));
                    }
                }
            },
        )
    }
}
