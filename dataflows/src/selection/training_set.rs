//! Gathers the workers' selections into one [`TrainingSet`] per trigger, on worker 0.
//!
//! - Inputs: `(trigger id, candidates)` once per trigger from every worker, and the
//!   [`TriggerEvent`]s.
//! - Output: one [`TrainingSet`] per trigger: the [`SetSampler`]'s choice among all candidates
//!   (positions sorted), at the trigger's time, on worker 0, in trigger order, as soon as every
//!   worker has answered (counted, not inferred
//!   from frontiers: a trigger operator waiting for a model may hold the trigger stream's
//!   frontier at this trigger's time). Triggers whose training set is empty are emitted too.
//! - State: answers of triggers not complete yet. Only metadata travels here (32 bytes per
//!   candidate).

use std::collections::{BTreeMap, VecDeque};

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::operator::OnRetired;
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
        self.training_sets_retiring(triggers, sampler, Box::new(|_, _| {}))
    }

    /// As [`training_sets_with`](Self::training_sets_with), reporting to `on_retired` the
    /// candidates the sampler found no later trigger can select (see
    /// [`Sampling::take_retired`]).
    fn training_sets_retiring(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        sampler: SetSampler,
        on_retired: OnRetired,
    ) -> StreamVec<'scope, Time, TrainingSet>;
}

impl<'scope> AssembleTrainingSets<'scope> for StreamVec<'scope, Time, (u64, Vec<Candidate>)> {
    fn training_sets_retiring(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        sampler: SetSampler,
        mut on_retired: OnRetired,
    ) -> StreamVec<'scope, Time, TrainingSet> {
        let peers = self.scope().peers();
        self.binary(
            triggers,
            Exchange::new(|_: &(u64, Vec<Candidate>)| 0u64),
            Exchange::new(|_: &TriggerEvent| 0u64),
            "Selection: AssembleTrainingSets",
            move |default_cap, _info| {
                drop(default_cap);
                let mut sampler = Sampling::new(sampler);
                let mut waiting: VecDeque<(TriggerEvent, Capability<Time>)> = VecDeque::new();
                // Per trigger: workers that answered, and their positions.
                let mut answers: BTreeMap<u64, (usize, Vec<Candidate>)> = BTreeMap::new();
                move |keys, trigs, output| {
                    keys.for_each(|_cap, data| {
                        for (id, candidates) in data.drain(..) {
                            let a = answers.entry(id).or_default();
                            a.0 += 1;
                            a.1.extend(candidates);
                        }
                    });
                    trigs.for_each_stamp(|cap, data| {
                        for t in data.flat_map(|d| d.drain(..)) {
                            let at = cap.delayed(&t.boundary.time, 0);
                            waiting.push_back((t, at));
                        }
                    });
                    while let Some((t, _)) = waiting.front()
                        && answers.get(&t.id).is_some_and(|a| a.0 == peers)
                    {
                        let (trigger, at) = waiting.pop_front().expect("front exists");
                        let (_, candidates) = answers.remove(&trigger.id).expect("answered");
                        let samples = sampler.apply(&trigger, candidates);
                        let mut retired = Vec::new();
                        sampler.take_retired(&mut retired);
                        if !retired.is_empty() {
                            on_retired(trigger.id, retired);
                        }
                        output.session(&at).give(TrainingSet { trigger, samples });
                    }
                }
            },
        )
    }
}
