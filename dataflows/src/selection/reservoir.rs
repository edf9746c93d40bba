//! `reservoir`: a uniform sample, without replacement, of all history with a fixed budget (not
//! in Modyn). Priority sampling: every key gets a pseudo-random priority `hash(seed, key)`; the
//! training set of each trigger is the `budget` samples with the smallest priorities among all
//! samples up to its boundary, which is a uniform sample of them. Each worker keeps its own
//! `budget` smallest (a bounded max-heap); the assembler keeps the `budget` smallest of the
//! workers' offers ([`SetSampler`](super::SetSampler)), so the result does not depend on the
//! number of workers.
//!
//! Cost: O(1) per sample that does not enter the heap (a comparison with its maximum), O(log
//! budget) per sample that does (about budget · ln(N / budget) of N); memory: `budget`
//! candidates per worker.

use std::collections::BinaryHeap;

use super::policy::SelectionPolicy;
use crate::sample::{Candidate, Key, Position, SampleMeta, TriggerEvent, route};

/// The priority of `key` under `seed`.
pub fn priority(seed: u64, key: Key) -> u64 {
    route(route(seed ^ 0xA076_1D64_78BD_642F) ^ key)
}

/// Keeps the `budget` samples with the smallest priorities.
#[derive(Debug)]
pub struct Reservoir {
    budget: usize,
    seed: u64,
    pending: Vec<SampleMeta>,
    /// Max-heap by priority: the root is the first to go.
    heap: BinaryHeap<(u64, Key, u64, i64, u64)>,
    /// Samples that left (or never entered) the reservoir, not yet taken.
    retired: Vec<Position>,
}

impl Reservoir {
    /// A reservoir of `budget` (> 0) samples, priorities seeded by `seed`.
    pub fn new(budget: usize, seed: u64) -> Self {
        assert!(
            budget > 0,
            "reservoir budget must be > 0 (validated by the config)"
        );
        Self {
            budget,
            seed,
            pending: Vec::new(),
            heap: BinaryHeap::with_capacity(budget + 1),
            retired: Vec::new(),
        }
    }

    /// Samples held.
    pub fn held(&self) -> usize {
        self.pending.len() + self.heap.len()
    }
}

impl SelectionPolicy for Reservoir {
    fn name(&self) -> &str {
        "Reservoir"
    }

    fn add(&mut self, sample: SampleMeta) {
        self.pending.push(sample);
    }

    fn select(&mut self, trigger: &TriggerEvent, out: &mut Vec<Candidate>) {
        let end = self
            .pending
            .partition_point(|s| s.position() <= trigger.boundary);
        for s in self.pending.drain(..end) {
            let p = priority(self.seed, s.key);
            if self.heap.len() == self.budget {
                if self.heap.peek().is_some_and(|top| top.0 <= p) {
                    self.retired.push(s.position());
                    continue;
                }
                let (_, key, time, ..) = self.heap.pop().expect("a full heap");
                self.retired.push(Position { time, key });
            }
            self.heap.push((p, s.key, s.time, s.label, trigger.id));
        }
        out.extend(
            self.heap
                .iter()
                .map(|&(_, key, time, label, seen_in)| Candidate {
                    pos: Position { time, key },
                    label,
                    seen_in,
                }),
        );
    }

    fn take_retired(&mut self, out: &mut Vec<Position>) {
        out.append(&mut self.retired);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_smallest_priorities_of_all_history() {
        let mut r = Reservoir::new(10, 3);
        let (mut all, mut retired) = (Vec::new(), Vec::new());
        for epoch in 0..5u64 {
            for k in epoch * 100..(epoch + 1) * 100 {
                r.add(SampleMeta {
                    time: k,
                    key: k,
                    label: 0,
                });
                all.push(k);
            }
            let mut out = Vec::new();
            let t = TriggerEvent {
                id: epoch,
                first: Position::default(),
                boundary: Position {
                    time: (epoch + 1) * 100 - 1,
                    key: (epoch + 1) * 100 - 1,
                },
                samples: 100,
                reason: String::new(),
                details: Vec::new(),
            };
            r.select(&t, &mut out);
            let mut got: Vec<u64> = out.iter().map(|c| c.pos.key).collect();
            got.sort_unstable();
            let mut want = all.clone();
            want.sort_by_key(|k| priority(3, *k));
            want.truncate(10);
            want.sort_unstable();
            assert_eq!(got, want, "epoch {epoch}");
            assert_eq!(r.held(), 10);
            // Everything else seen so far left the reservoir.
            let mut gone = Vec::new();
            r.take_retired(&mut gone);
            retired.extend(gone.iter().map(|p| p.key));
            let mut kept_or_gone: Vec<u64> = retired.iter().copied().chain(got).collect();
            kept_or_gone.sort_unstable();
            assert_eq!(kept_or_gone, all, "epoch {epoch}");
        }
    }
}
