//! `new_data` (and the candidate pool of `coreset`): the samples of the last `tail + 1`
//! epochs (Modyn's `NewDataStrategy`: `tail_triggers = 0` the epoch the trigger closes, `k` the
//! last k + 1 epochs, `None` all data).
//!
//! State: per worker, the samples not yet in an epoch (position order) and the samples of the
//! epochs a later trigger can still reach (each tagged with its epoch). After answering a
//! trigger, the epochs the next trigger cannot reach are dropped (and retired), so memory is
//! bounded by `tail` epochs plus the one being filled (all data keeps everything). O(1)
//! amortised per sample.

use std::collections::VecDeque;

use super::policy::SelectionPolicy;
use crate::sample::{Candidate, Position, SampleMeta, TriggerEvent};

/// Selects the samples of the last `tail + 1` epochs (all epochs when `tail` is `None`); the
/// default is the epoch the trigger closes (`tail = 0`).
#[derive(Debug)]
pub struct NewData {
    tail: Option<u64>,
    pending: Vec<SampleMeta>,
    /// (epoch, its samples), oldest first.
    epochs: VecDeque<(u64, Vec<Candidate>)>,
    /// Samples dropped and not yet taken by [`SelectionPolicy::take_retired`].
    retired: Vec<Position>,
}

impl Default for NewData {
    fn default() -> Self {
        Self::tail(Some(0))
    }
}

impl NewData {
    /// The last `tail + 1` epochs (`None`: all data).
    pub fn tail(tail: Option<u64>) -> Self {
        Self {
            tail,
            pending: Vec::new(),
            epochs: VecDeque::new(),
            retired: Vec::new(),
        }
    }

    /// Samples held.
    pub fn held(&self) -> usize {
        self.pending.len() + self.epochs.iter().map(|(_, e)| e.len()).sum::<usize>()
    }

    /// Bytes of state (allocated capacity).
    pub fn bytes(&self) -> usize {
        self.pending.capacity() * size_of::<SampleMeta>()
            + self.epochs.capacity() * size_of::<(u64, Vec<Candidate>)>()
            + self
                .epochs
                .iter()
                .map(|(_, e)| e.capacity() * size_of::<Candidate>())
                .sum::<usize>()
    }
}

impl SelectionPolicy for NewData {
    fn name(&self) -> &str {
        "NewData"
    }

    fn add(&mut self, sample: SampleMeta) {
        debug_assert!(
            self.pending
                .last()
                .is_none_or(|p| p.position() < sample.position()),
            "samples must be added in position order"
        );
        self.pending.push(sample);
    }

    fn select(&mut self, trigger: &TriggerEvent, out: &mut Vec<Candidate>) {
        let end = self
            .pending
            .partition_point(|s| s.position() <= trigger.boundary);
        let epoch = self
            .pending
            .drain(..end)
            .map(|s| Candidate {
                pos: s.position(),
                label: s.label,
                seen_in: trigger.id,
            })
            .collect();
        self.epochs.push_back((trigger.id, epoch));
        for (_, e) in &self.epochs {
            out.extend_from_slice(e);
        }
        if let Some(tail) = self.tail {
            // The next trigger reads epochs >= id + 1 - tail: older ones are done.
            let oldest = (trigger.id + 1).saturating_sub(tail);
            while self.epochs.front().is_some_and(|(e, _)| *e < oldest) {
                let (_, gone) = self.epochs.pop_front().expect("front exists");
                self.retired.extend(gone.iter().map(|c| c.pos));
            }
        }
    }

    fn take_retired(&mut self, out: &mut Vec<Position>) {
        out.append(&mut self.retired);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Position;

    fn meta(time: u64, key: u64) -> SampleMeta {
        SampleMeta {
            time,
            key,
            label: 0,
        }
    }

    fn trigger(id: u64, time: u64, key: u64) -> TriggerEvent {
        TriggerEvent {
            id,
            first: Position::default(),
            boundary: Position { time, key },
            samples: 0,
            reason: String::new(),
            details: Vec::new(),
        }
    }

    fn keys(c: &[Candidate]) -> Vec<u64> {
        c.iter().map(|c| c.pos.key).collect()
    }

    #[test]
    fn selects_samples_since_previous_trigger() {
        let mut p = NewData::default();
        for (t, k) in [(1, 1), (1, 2), (2, 0), (2, 7), (3, 1)] {
            p.add(meta(t, k));
        }
        let mut out = Vec::new();
        p.select(&trigger(0, 2, 0), &mut out);
        assert_eq!(keys(&out), [1, 2, 0]);
        assert!(out.iter().all(|c| c.seen_in == 0));
        out.clear();
        p.select(&trigger(1, 3, 1), &mut out);
        assert_eq!(keys(&out), [7, 1]);
        assert_eq!(p.held(), 0);
        let mut gone = Vec::new();
        p.take_retired(&mut gone);
        assert_eq!(
            gone.iter().map(|p| p.key).collect::<Vec<_>>(),
            [1, 2, 0, 7, 1]
        );
    }

    #[test]
    fn tails_reach_back_k_epochs_and_all_data_keeps_everything() {
        for (tail, want) in [
            (Some(1), vec![vec![0], vec![0, 1], vec![1, 2], vec![2, 3]]),
            (
                None,
                vec![vec![0], vec![0, 1], vec![0, 1, 2], vec![0, 1, 2, 3]],
            ),
        ] {
            let mut p = NewData::tail(tail);
            for (i, w) in want.iter().enumerate() {
                let i = i as u64;
                p.add(meta(i, i));
                let mut out = Vec::new();
                p.select(&trigger(i, i, i), &mut out);
                assert_eq!(&keys(&out), w, "tail {tail:?}, trigger {i}");
                assert_eq!(out.iter().map(|c| c.seen_in).collect::<Vec<_>>(), *w);
            }
            // Held: what the next trigger can still select.
            let bound = tail.map_or(4, |t| t as usize);
            assert_eq!(p.held(), bound);
            // What no later trigger can select is retired, once.
            let mut gone = Vec::new();
            p.take_retired(&mut gone);
            let want: Vec<u64> = (0..4 - bound as u64).collect();
            assert_eq!(gone.iter().map(|p| p.key).collect::<Vec<_>>(), want);
            gone.clear();
            p.take_retired(&mut gone);
            assert!(gone.is_empty());
        }
    }
}
