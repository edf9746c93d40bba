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
    /// Each sorted by time (stable: arrival order within a time), none empty.
    runs: Vec<VecDeque<D>>,
    time_of: fn(&D) -> Time,
    cap: Option<Capability<Time>>,
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
            runs: Vec::new(),
            time_of,
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
        let mut run: Vec<D> = data.into_iter().collect();
        let Some(least) = run.iter().map(self.time_of).min() else {
            return;
        };
        run.sort_by_key(self.time_of);
        self.runs.push(run.into());
        if self.runs.len() > MAX_RUNS {
            let mut all: Vec<D> = self.runs.drain(..).flatten().collect();
            all.sort_by_key(self.time_of);
            self.runs.push(all.into());
        }
        match &mut self.cap {
            Some(c) if *c.time() <= least => {}
            held => *held = Some(cap.delayed(&least, port)),
        }
    }

    /// Removes and returns, in time order, the records of every time that no frontier in
    /// `frontiers` can still produce; the held capability moves to the least remaining time.
    pub fn drain_complete(&mut self, frontiers: &[&MutableAntichain<Time>]) -> Drained<D> {
        let open = |t: &Time| frontiers.iter().any(|f| f.less_equal(t));
        let time_of = self.time_of;
        let mut records = Vec::new();
        let mut drained_runs = 0;
        for run in &mut self.runs {
            // Times are totally ordered, so a run's complete records are a prefix.
            let n = run.partition_point(|r| !open(&time_of(r)));
            if n > 0 {
                records.extend(run.drain(..n));
                drained_runs += 1;
            }
        }
        if records.is_empty() {
            return Drained { cap: None, records };
        }
        if drained_runs > 1 {
            // A merge of sorted runs; stable, so ties keep run (arrival) order.
            records.sort_by_key(time_of);
        }
        self.runs.retain(|r| !r.is_empty());
        let cap = self.cap.clone();
        match self
            .runs
            .iter()
            .filter_map(|r| r.front().map(time_of))
            .min()
        {
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
