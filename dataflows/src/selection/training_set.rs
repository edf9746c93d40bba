//! Gathers the workers' selections into one [`TrainingSet`] per trigger, on worker 0.
//!
//! - Inputs: `(trigger id, positions)` once per trigger from every worker, and the
//!   [`TriggerEvent`]s.
//! - Output: one [`TrainingSet`] per trigger (positions sorted), at the trigger's time, on
//!   worker 0, in trigger order, as soon as every worker has answered (counted, not inferred
//!   from frontiers: a trigger operator waiting for a model may hold the trigger stream's
//!   frontier at this trigger's time). Triggers whose training set is empty are emitted too.
//! - State: answers of triggers not complete yet. Only positions travel here.

use std::collections::{BTreeMap, VecDeque};

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use crate::sample::{Position, Time, TrainingSet, TriggerEvent};

/// Assembles per-trigger training sets from per-worker selections.
pub trait AssembleTrainingSets<'scope> {
    /// One [`TrainingSet`] per trigger in `triggers`, on worker 0.
    fn training_sets(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
    ) -> StreamVec<'scope, Time, TrainingSet>;
}

impl<'scope> AssembleTrainingSets<'scope> for StreamVec<'scope, Time, (u64, Vec<Position>)> {
    fn training_sets(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
    ) -> StreamVec<'scope, Time, TrainingSet> {
        let peers = self.scope().peers();
        self.binary(
            triggers,
            Exchange::new(|_: &(u64, Vec<Position>)| 0u64),
            Exchange::new(|_: &TriggerEvent| 0u64),
            "Selection: AssembleTrainingSets",
            move |default_cap, _info| {
                drop(default_cap);
                let mut waiting: VecDeque<(TriggerEvent, Capability<Time>)> = VecDeque::new();
                // Per trigger: workers that answered, and their positions.
                let mut answers: BTreeMap<u64, (usize, Vec<Position>)> = BTreeMap::new();
                move |keys, trigs, output| {
                    keys.for_each(|_cap, data| {
                        for (id, positions) in data.drain(..) {
                            let a = answers.entry(id).or_default();
                            a.0 += 1;
                            a.1.extend(positions);
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
                        let (_, mut samples) = answers.remove(&trigger.id).expect("answered");
                        samples.sort_unstable();
                        output.session(&at).give(TrainingSet { trigger, samples });
                    }
                }
            },
        )
    }
}
