//! The selection operator: runs a [`SelectionPolicy`] on every worker.
//!
//! - Inputs: `SampleMeta` records, already exchanged by key (each worker sees its own keys), and
//!   [`TriggerEvent`]s, broadcast to every worker.
//! - Output: `(trigger id, position)` for each of this worker's samples in a training set, at the
//!   trigger's boundary time.
//! - State: the policy's, plus records stashed by time until both input frontiers pass it; then
//!   the time's samples (sorted by key) are added and its triggers (sorted by id) answered, so
//!   the policy sees the stream in position order on any number of workers.

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;

use super::policy::SelectionPolicy;
use crate::sample::{Position, SampleMeta, Time, TriggerEvent};
use crate::stash::TimeStash;

enum Record {
    Sample(SampleMeta),
    Trigger(TriggerEvent),
}

/// Runs a selection policy per worker over key-partitioned sample metadata.
pub trait Select<'scope> {
    /// Answers every trigger with this worker's selected samples, as `(trigger id, position)`.
    fn select<P: SelectionPolicy>(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        policy: P,
    ) -> StreamVec<'scope, Time, (u64, Position)>;
}

impl<'scope> Select<'scope> for StreamVec<'scope, Time, SampleMeta> {
    fn select<P: SelectionPolicy>(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        mut policy: P,
    ) -> StreamVec<'scope, Time, (u64, Position)> {
        let name = format!("Selection: {}", policy.name());
        self.binary_frontier(
            triggers.broadcast(),
            Pipeline,
            Pipeline,
            &name,
            move |default_cap, _info| {
                drop(default_cap);
                let mut stash = TimeStash::new(record_time);
                let mut selected = Vec::new();
                let mut metas: Vec<SampleMeta> = Vec::new();
                let mut trigs: Vec<TriggerEvent> = Vec::new();
                move |(samples, f1), (triggers, f2), output| {
                    samples.for_each_stamp(|cap, data| {
                        let records = data.flat_map(|d| d.drain(..)).map(Record::Sample);
                        stash.stash(&cap, 0, records);
                    });
                    triggers.for_each_stamp(|cap, data| {
                        let records = data.flat_map(|d| d.drain(..)).map(Record::Trigger);
                        stash.stash(&cap, 0, records);
                    });
                    let mut drained = stash.drain_complete(&[f1, f2]);
                    let mut records = std::mem::take(&mut drained.records).into_iter().peekable();
                    while let Some(first) = records.peek() {
                        let time = record_time(first);
                        metas.clear();
                        trigs.clear();
                        while let Some(r) = records.next_if(|r| record_time(r) == time) {
                            match r {
                                Record::Sample(m) => metas.push(m),
                                Record::Trigger(t) => trigs.push(t),
                            }
                        }
                        metas.sort_unstable_by_key(|m| m.key);
                        trigs.sort_unstable_by_key(|t| t.id);
                        // Interleave in position order: a trigger at (t, k) follows samples <= k.
                        let mut next = 0;
                        for trig in &trigs {
                            while next < metas.len() && metas[next].key <= trig.boundary.key {
                                policy.add(metas[next]);
                                next += 1;
                            }
                            selected.clear();
                            policy.select(trig, &mut selected);
                            let at = drained.at(time);
                            output
                                .session(&at)
                                .give_iterator(selected.drain(..).map(|p| (trig.id, p)));
                        }
                        for m in &metas[next..] {
                            policy.add(*m);
                        }
                    }
                }
            },
        )
    }
}

fn record_time(r: &Record) -> Time {
    match r {
        Record::Sample(m) => m.time,
        Record::Trigger(t) => t.boundary.time,
    }
}
