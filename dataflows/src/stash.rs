//! Buffering records under capabilities until the input frontier passes their time.
//!
//! Policies that need the stream in order (triggers, selection) stash what arrives, keyed by
//! event time, holding a capability per distinct time, and process a time only once every input
//! frontier has passed it: then no more records of that time (or earlier) can arrive.
//! Cost: O(log T) per distinct time per message, T = number of buffered distinct times.

use std::collections::BTreeMap;

use timely::dataflow::operators::{Capability, InputCapability};
use timely::progress::frontier::MutableAntichain;

use crate::sample::Time;

/// Records of not-yet-complete times, with a capability for each time.
pub struct TimeStash<D> {
    pending: BTreeMap<Time, (Capability<Time>, Vec<D>)>,
}

impl<D> Default for TimeStash<D> {
    fn default() -> Self {
        Self {
            pending: BTreeMap::new(),
        }
    }
}

impl<D> TimeStash<D> {
    /// Stashes `data` received under `cap`; each record's time is `time_of(record)`, which must
    /// not be earlier than the message's time (records travel at their own event time).
    pub fn stash(
        &mut self,
        cap: &InputCapability<Time>,
        port: usize,
        data: impl IntoIterator<Item = D>,
        time_of: impl Fn(&D) -> Time,
    ) {
        // Records of a message mostly share a time: group runs to touch the map once per run.
        let mut run: Option<(Time, Vec<D>)> = None;
        for record in data {
            let t = time_of(&record);
            match &mut run {
                Some((rt, v)) if *rt == t => v.push(record),
                _ => {
                    if let Some((rt, v)) = run.take() {
                        self.put(cap, port, rt, v);
                    }
                    run = Some((t, vec![record]));
                }
            }
        }
        if let Some((rt, v)) = run {
            self.put(cap, port, rt, v);
        }
    }

    fn put(&mut self, cap: &InputCapability<Time>, port: usize, t: Time, mut records: Vec<D>) {
        let entry = self
            .pending
            .entry(t)
            .or_insert_with(|| (cap.delayed(&t, port), Vec::new()));
        if entry.1.is_empty() {
            entry.1 = records;
        } else {
            entry.1.append(&mut records);
        }
    }

    /// Removes and returns, in time order, every stashed time that no frontier in `frontiers`
    /// can still produce.
    pub fn drain_complete(
        &mut self,
        frontiers: &[&MutableAntichain<Time>],
    ) -> Vec<(Capability<Time>, Vec<D>)> {
        let mut done = Vec::new();
        while let Some((&t, _)) = self.pending.first_key_value() {
            if frontiers.iter().any(|f| f.less_equal(&t)) {
                break;
            }
            let (_, entry) = self.pending.pop_first().expect("non-empty");
            done.push(entry);
        }
        done
    }

    /// True when nothing is stashed.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}
