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

use super::operator::SelectOptions;
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
    }

    /// As [`training_sets_with`](Self::training_sets_with), with `options`: `on_retired` gets
    /// the candidates the sampler found no later trigger can select (see
    /// [`Sampling::take_retired`]); `on_state` the sampler's state after each set (no
    /// positions: the workers' selections hold the samples); `restore` has one state, the
    /// sampler's.
    fn training_sets_options(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        sampler: SetSampler,
        options: SelectOptions,
    ) -> StreamVec<'scope, Time, TrainingSet>;
}

impl<'scope> AssembleTrainingSets<'scope> for StreamVec<'scope, Time, (u64, Vec<Candidate>)> {
    fn training_sets_options(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        sampler: SetSampler,
        options: SelectOptions,
    ) -> StreamVec<'scope, Time, TrainingSet> {
        let peers = self.scope().peers();
        let SelectOptions {
            mut on_retired,
            mut on_state,
            restore,
            owners: _,
        } = options;
        let mut sampler = Sampling::new(sampler);
        if let Some(state) = restore.as_ref().and_then(|s| s.first()) {
            sampler
                .restore(state)
                .unwrap_or_else(|e| panic!("restoring the sampler from the checkpoint: {e}"));
        }
        self.binary(
            triggers,
            Exchange::new(|_: &(u64, Vec<Candidate>)| 0u64),
            Exchange::new(|_: &TriggerEvent| 0u64),
            "Selection: AssembleTrainingSets",
            move |default_cap, _info| {
                drop(default_cap);
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
                        if let Some(f) = &mut on_retired
                            && !retired.is_empty()
                        {
                            f(trigger.id, retired);
                        }
                        if let Some(f) = &mut on_state {
                            f(trigger.id, sampler.save(), Vec::new());
                        }
                        output.session(&at).give(TrainingSet { trigger, samples });
                    }
                }
            },
        )
    }
}
