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

use serde::{Deserialize, Serialize};

use super::policy::{CandidateRow, SelectionPolicy, from_row};
use crate::sample::{Candidate, Key, Position, SampleMeta, TriggerEvent, route};
use crate::triggers::State;

/// [`Reservoir`]'s checkpoint: samples not yet offered, and the reservoir.
#[derive(Default, Serialize, Deserialize)]
struct Saved {
    pending: Vec<SampleMeta>,
    reservoir: Vec<CandidateRow>,
}

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

    fn save(&mut self) -> State {
        let mut reservoir: Vec<CandidateRow> = self
            .heap
            .iter()
            .map(|&(_, key, time, label, seen_in)| (time, key, label, seen_in))
            .collect();
        reservoir.sort_unstable();
        serde_json::to_value(Saved {
            pending: self.pending.clone(),
            reservoir,
        })
        .expect("selection state serialises")
    }

    /// Each worker's reservoir holds the global `budget` smallest priorities of its share, so
    /// the union of all workers' reservoirs holds those of any new share: keeping this worker's
    /// keys (and its `budget` smallest) gives the same training sets on any number of workers.
    fn restore(&mut self, states: &[State], owns: &dyn Fn(Key) -> bool) -> Result<(), String> {
        let mut pending = Vec::new();
        let mut all: Vec<Candidate> = Vec::new();
        for state in states {
            let saved: Saved = serde_json::from_value(state.clone())
                .map_err(|e| format!("Reservoir state: {e}"))?;
            pending.extend(saved.pending.into_iter().filter(|s| owns(s.key)));
            all.extend(
                saved
                    .reservoir
                    .iter()
                    .map(from_row)
                    .filter(|c| owns(c.pos.key)),
            );
        }
        all.sort_unstable_by_key(|c| (priority(self.seed, c.pos.key), c.pos));
        all.truncate(self.budget);
        pending.sort_unstable_by_key(SampleMeta::position);
        self.pending = pending;
        self.heap = all
            .into_iter()
            .map(|c| {
                let p = priority(self.seed, c.pos.key);
                (p, c.pos.key, c.pos.time, c.label, c.seen_in)
            })
            .collect();
        self.retired.clear();
        Ok(())
    }

    fn held_positions(&mut self, out: &mut Vec<Position>) {
        out.extend(self.pending.iter().map(SampleMeta::position));
        out.extend(
            self.heap
                .iter()
                .map(|&(_, key, time, ..)| Position { time, key }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::owner;

    fn trigger(id: u64) -> TriggerEvent {
        TriggerEvent {
            id,
            first: Position::default(),
            boundary: Position {
                time: id * 50 + 49,
                key: id * 50 + 49,
            },
            samples: 50,
            reason: String::new(),
            details: Vec::new(),
        }
    }

    #[test]
    fn restored_reservoirs_answer_like_the_uninterrupted_ones_on_any_worker_count() {
        // All workers' answers of trigger `t`, reduced to the global budget (the assembler).
        let run = |rs: &mut [Reservoir], peers: usize, t: u64| {
            let mut out = Vec::new();
            for (w, r) in rs.iter_mut().enumerate() {
                for k in t * 50..t * 50 + 50 {
                    if owner(k, peers) == w {
                        r.add(SampleMeta {
                            time: k,
                            key: k,
                            label: (k % 3) as i64,
                        });
                    }
                }
                r.select(&trigger(t), &mut out);
            }
            out.sort_unstable_by_key(|c| (priority(9, c.pos.key), c.pos));
            out.truncate(7);
            out.sort_unstable_by_key(|c| c.pos);
            out
        };
        for (before, after) in [(1, 1), (2, 2), (3, 2), (1, 4)] {
            let mut whole: Vec<Reservoir> = (0..before).map(|_| Reservoir::new(7, 9)).collect();
            let want: Vec<_> = (0..6).map(|t| run(&mut whole, before, t)).collect();
            for k in 0..5u64 {
                let mut first: Vec<Reservoir> = (0..before).map(|_| Reservoir::new(7, 9)).collect();
                for t in 0..=k {
                    run(&mut first, before, t);
                }
                let states: Vec<State> = first.iter_mut().map(|r| r.save()).collect();
                let mut resumed: Vec<Reservoir> =
                    (0..after).map(|_| Reservoir::new(7, 9)).collect();
                for (w, r) in resumed.iter_mut().enumerate() {
                    r.restore(&states, &|key| owner(key, after) == w).unwrap();
                    assert!(r.held() <= 7);
                }
                for t in k + 1..6 {
                    assert_eq!(
                        run(&mut resumed, after, t),
                        want[t as usize],
                        "{before} -> {after} workers, trigger {t} after {k}"
                    );
                }
            }
        }
        let e = Reservoir::new(1, 1)
            .restore(&[serde_json::json!([1, 2])], &|_| true)
            .unwrap_err();
        assert!(e.starts_with("Reservoir state: "), "{e}");
    }

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
