//! Buffering records by event time until the input frontier passes their time.
//!
//! Policies that need the stream in order (triggers, selection) stash what arrives, keyed by
//! each record's own event time, and process a time only once every input frontier has passed
//! it: then no more records of that time (or earlier) can arrive.
//!
//! Capabilities: the stash holds **one** capability, at the least stashed time (records travel
//! at their own event time or later than their message's stamp, so the message capability can be
//! delayed to it). Outputs for a drained time `t` are sent at `t` through that capability.
//! Holding one capability per distinct time instead made progress tracking the bottleneck:
//! with a new timestamp every sample or two, throughput dropped 5-10x, and more with more workers.
//!
//! Storage: sorted runs, one per stashed message (a message's records are sorted by time on
//! arrival, cheap as they mostly come in order). A drain takes the complete prefix of every run
//! (a binary search each) and merges them. Compared with the first version, a BTreeMap of
//! per-time vectors, this allocates per message instead of per run of equal times (with a new
//! time every sample or two, that was a fifth of the worker's ingest time); and unlike one
//! vector re-sorted at each drain, records that wait for a lagging frontier are not touched
//! again. More than [`MAX_RUNS`] runs are merged into one.
//! Cost: O(m log m) per message of m records (O(m) when sorted), O(R log n + d log R) per
//! drain of d records from R runs.

use std::collections::VecDeque;

use timely::dataflow::operators::{Capability, InputCapability};
use timely::progress::frontier::MutableAntichain;

use crate::sample::Time;

/// Runs beyond which the stash merges its runs into one.
const MAX_RUNS: usize = 64;

/// Records of not-yet-complete times, and a capability at the least of them.
pub struct TimeStash<D> {
    /// By time (stable: arrival order within a time).
    runs: Runs<D, Time>,
    cap: Option<Capability<Time>>,
}

/// Records kept in the order of `key_of` as sorted runs, one per batch added (appended to the
/// last run when it follows it), merged into one beyond [`MAX_RUNS`]: a batch costs a sort of
/// its own records (linear when sorted), and taking a prefix costs a binary search per run and
/// a merge of what was taken; records that wait are not touched again.
pub struct Runs<D, K> {
    /// Each sorted by key (stable: arrival order among equal keys), none empty.
    runs: Vec<VecDeque<D>>,
    key_of: fn(&D) -> K,
}

impl<D, K: Ord> Runs<D, K> {
    /// No records, ordered by `key_of`.
    pub fn new(key_of: fn(&D) -> K) -> Self {
        Self {
            runs: Vec::new(),
            key_of,
        }
    }

    /// Adds `batch` (in any order).
    pub fn add(&mut self, mut batch: Vec<D>) {
        if batch.is_empty() {
            return;
        }
        let key_of = self.key_of;
        batch.sort_by_key(key_of);
        match self.runs.last_mut() {
            Some(last) if last.back().is_some_and(|b| key_of(b) <= key_of(&batch[0])) => {
                last.extend(batch)
            }
            _ => self.runs.push(batch.into()),
        }
        if self.runs.len() > MAX_RUNS {
            let mut all: Vec<D> = self.runs.drain(..).flatten().collect();
            all.sort_by_key(key_of);
            self.runs.push(all.into());
        }
    }

    /// Removes and returns, in key order, the records `take` accepts: a prefix in key order
    /// (it accepts every record before one it accepts).
    pub fn take_while(&mut self, take: impl Fn(&D) -> bool) -> Vec<D> {
        let mut records = Vec::new();
        let mut drained_runs = 0;
        for run in &mut self.runs {
            let n = run.partition_point(&take);
            if n > 0 {
                records.extend(run.drain(..n));
                drained_runs += 1;
            }
        }
        if drained_runs > 1 {
            // A merge of sorted runs; stable, so equal keys keep run (arrival) order.
            records.sort_by_key(self.key_of);
        }
        if drained_runs > 0 {
            self.runs.retain(|r| !r.is_empty());
        }
        records
    }

    /// The least key held.
    pub fn least(&self) -> Option<K> {
        self.runs
            .iter()
            .filter_map(|r| r.front().map(self.key_of))
            .min()
    }

    /// Whether no records are held.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

/// Records drained from a [`TimeStash`], with a capability to send their outputs.
pub struct Drained<D> {
    /// A capability at or before the first drained time (`None` when nothing was drained).
    pub cap: Option<Capability<Time>>,
    /// Records of complete times, sorted by time (stable: arrival order within a time).
    pub records: Vec<D>,
}

impl<D> Drained<D> {
    /// A capability for output at time `t` (one of the drained times).
    pub fn at(&self, t: Time) -> Capability<Time> {
        self.cap
            .as_ref()
            .expect("times were drained, so a capability is held")
            .delayed(&t)
    }
}

impl<D> TimeStash<D> {
    /// An empty stash of records whose event time is `time_of(record)`.
    pub fn new(time_of: fn(&D) -> Time) -> Self {
        Self {
            runs: Runs::new(time_of),
            cap: None,
        }
    }

    /// Stashes `data` received under `cap`; each record's time must not be earlier than the
    /// message's time (records travel at their own event time or later).
    pub fn stash(
        &mut self,
        cap: &InputCapability<Time>,
        port: usize,
        data: impl IntoIterator<Item = D>,
    ) {
        let run: Vec<D> = data.into_iter().collect();
        let Some(least) = run.iter().map(self.runs.key_of).min() else {
            return;
        };
        self.runs.add(run);
        match &mut self.cap {
            Some(c) if *c.time() <= least => {}
            held => *held = Some(cap.delayed(&least, port)),
        }
    }

    /// Removes and returns, in time order, the records of every time that no frontier in
    /// `frontiers` can still produce; the held capability moves to the least remaining time.
    pub fn drain_complete(&mut self, frontiers: &[&MutableAntichain<Time>]) -> Drained<D> {
        let open = |t: &Time| frontiers.iter().any(|f| f.less_equal(t));
        let time_of = self.runs.key_of;
        // Times are totally ordered, so the complete records are a prefix.
        let records = self.runs.take_while(|r| !open(&time_of(r)));
        if records.is_empty() {
            return Drained { cap: None, records };
        }
        let cap = self.cap.clone();
        match self.runs.least() {
            Some(least) => {
                if let Some(c) = &mut self.cap {
                    c.downgrade(&least);
                }
            }
            None => self.cap = None,
        }
        Drained { cap, records }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches in any order come out in key order, equal keys in arrival order, a prefix at a
    /// time; past `MAX_RUNS` runs they are merged and still come out so.
    #[test]
    fn runs_give_back_prefixes_in_key_order() {
        let mut runs: Runs<(u64, u32), u64> = Runs::new(|r| r.0);
        runs.add(vec![(5, 0), (3, 0), (9, 0)]);
        runs.add(vec![(10, 1), (12, 1)]); // follows: appended to the last run
        runs.add(vec![(4, 2), (5, 2), (1, 2)]);
        assert_eq!(runs.runs.len(), 2);
        assert_eq!(runs.least(), Some(1));
        assert_eq!(
            runs.take_while(|r| r.0 <= 5),
            [(1, 2), (3, 0), (4, 2), (5, 0), (5, 2)]
        );
        assert_eq!(runs.least(), Some(9));
        assert!(runs.take_while(|r| r.0 < 9).is_empty());
        assert_eq!(runs.take_while(|_| true), [(9, 0), (10, 1), (12, 1)]);
        assert!(runs.is_empty() && runs.least().is_none());

        // Descending batches: a run each, merged beyond MAX_RUNS.
        for b in (0..3 * MAX_RUNS as u64).rev() {
            runs.add(vec![(2 * b + 1, 0), (2 * b, 0)]);
            assert!(runs.runs.len() <= MAX_RUNS);
        }
        let all = runs.take_while(|r| r.0 < 100);
        assert_eq!(all, (0..100).map(|k| (k, 0)).collect::<Vec<_>>());
        assert_eq!(runs.least(), Some(100));
    }
}
