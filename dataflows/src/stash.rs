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
//! Cost: O(log T) per run of equal times in a message, T = distinct buffered times.

use std::collections::BTreeMap;

use timely::dataflow::operators::{Capability, InputCapability};
use timely::progress::frontier::MutableAntichain;

use crate::sample::Time;

/// Records of not-yet-complete times, and a capability at the least of them.
pub struct TimeStash<D> {
    pending: BTreeMap<Time, Vec<D>>,
    cap: Option<Capability<Time>>,
}

impl<D> Default for TimeStash<D> {
    fn default() -> Self {
        Self {
            pending: BTreeMap::new(),
            cap: None,
        }
    }
}

/// Times drained from a [`TimeStash`], with a capability to send their outputs.
pub struct Drained<D> {
    /// A capability at or before the first drained time (`None` when nothing was drained).
    pub cap: Option<Capability<Time>>,
    /// Complete times in increasing order, each with its records.
    pub times: Vec<(Time, Vec<D>)>,
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
    /// Stashes `data` received under `cap`; each record's time is `time_of(record)`, which must
    /// not be earlier than the message's time (records travel at their own event time or later).
    pub fn stash(
        &mut self,
        cap: &InputCapability<Time>,
        port: usize,
        data: impl IntoIterator<Item = D>,
        time_of: impl Fn(&D) -> Time,
    ) {
        // Records of a message mostly come in runs of equal (or increasing) times: touch the map
        // once per run.
        let mut run: Option<(Time, Vec<D>)> = None;
        let mut least = Time::MAX;
        for record in data {
            let t = time_of(&record);
            least = least.min(t);
            match &mut run {
                Some((rt, v)) if *rt == t => v.push(record),
                _ => {
                    if let Some((rt, v)) = run.take() {
                        self.put(rt, v);
                    }
                    run = Some((t, vec![record]));
                }
            }
        }
        if let Some((rt, v)) = run {
            self.put(rt, v);
        }
        if least == Time::MAX {
            return;
        }
        match &mut self.cap {
            Some(c) if *c.time() <= least => {}
            held => *held = Some(cap.delayed(&least, port)),
        }
    }

    fn put(&mut self, t: Time, mut records: Vec<D>) {
        let entry = self.pending.entry(t).or_default();
        if entry.is_empty() {
            *entry = records;
        } else {
            entry.append(&mut records);
        }
    }

    /// Removes and returns, in time order, every stashed time that no frontier in `frontiers`
    /// can still produce; the held capability moves to the least remaining time.
    pub fn drain_complete(&mut self, frontiers: &[&MutableAntichain<Time>]) -> Drained<D> {
        let mut times = Vec::new();
        while let Some((&t, _)) = self.pending.first_key_value() {
            if frontiers.iter().any(|f| f.less_equal(&t)) {
                break;
            }
            let entry = self.pending.pop_first().expect("non-empty");
            times.push(entry);
        }
        if times.is_empty() {
            return Drained { cap: None, times };
        }
        let cap = self.cap.clone();
        match self.pending.first_key_value() {
            Some((&next, _)) => {
                if let Some(c) = &mut self.cap {
                    c.downgrade(&next);
                }
            }
            None => self.cap = None,
        }
        Drained { cap, times }
    }
}
