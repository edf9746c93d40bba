//! Gathers the workers' selections into one [`TrainingSet`] per trigger, on worker 0.
//!
//! - Inputs: `(trigger id, position)` from every worker, and the [`TriggerEvent`]s.
//! - Output: one [`TrainingSet`] per trigger (positions sorted), at the trigger's time, on
//!   worker 0, emitted once both input frontiers pass that time (every worker has answered).
//!   Triggers whose training set is empty are emitted too.
//! - State: positions of triggers whose time is not complete yet. Only keys travel here.

use std::collections::BTreeMap;

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use crate::sample::{Position, Time, TrainingSet, TriggerEvent};
use crate::stash::TimeStash;

/// Assembles per-trigger training sets from per-worker selections.
pub trait AssembleTrainingSets<'scope> {
    /// One [`TrainingSet`] per trigger in `triggers`, on worker 0.
    fn training_sets(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
    ) -> StreamVec<'scope, Time, TrainingSet>;
}

impl<'scope> AssembleTrainingSets<'scope> for StreamVec<'scope, Time, (u64, Position)> {
    fn training_sets(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
    ) -> StreamVec<'scope, Time, TrainingSet> {
        self.binary_frontier(
            triggers,
            Exchange::new(|_: &(u64, Position)| 0u64),
            Exchange::new(|_: &TriggerEvent| 0u64),
            "Selection: AssembleTrainingSets",
            move |default_cap, _info| {
                drop(default_cap);
                let mut triggers_at = TimeStash::new(|t: &TriggerEvent| t.boundary.time);
                let mut selected: BTreeMap<u64, Vec<Position>> = BTreeMap::new();
                move |(keys, f1), (trigs, f2), output| {
                    keys.for_each_stamp(|_cap, data| {
                        for (id, pos) in data.flat_map(|d| d.drain(..)) {
                            selected.entry(id).or_default().push(pos);
                        }
                    });
                    trigs.for_each_stamp(|cap, data| {
                        triggers_at.stash(&cap, 0, data.flat_map(|d| d.drain(..)));
                    });
                    let mut drained = triggers_at.drain_complete(&[f1, f2]);
                    let mut trigs = std::mem::take(&mut drained.records);
                    trigs.sort_unstable_by_key(|t| (t.boundary.time, t.id));
                    for trigger in trigs {
                        let at = drained.at(trigger.boundary.time);
                        let mut samples = selected.remove(&trigger.id).unwrap_or_default();
                        samples.sort_unstable();
                        output.session(&at).give(TrainingSet { trigger, samples });
                    }
                }
            },
        )
    }
}
