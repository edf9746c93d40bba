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

use std::collections::{BTreeMap, VecDeque};

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
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
