//! `new_data`: the training set of trigger *i* is every sample since trigger *i-1* (Modyn's
//! `NewDataStrategy` with `tail_triggers = 0`, no limit).
//!
//! State: the samples added since the last trigger, in position order. A trigger drains the
//! prefix up to its boundary, so memory is bounded by one epoch. O(1) amortised per sample.

use super::policy::SelectionPolicy;
use crate::sample::{Position, SampleMeta, TriggerEvent};

/// Selects the samples of the epoch a trigger closes.
#[derive(Debug, Default)]
pub struct NewData {
    pending: Vec<Position>,
}

impl SelectionPolicy for NewData {
    fn name(&self) -> &str {
        "NewData"
    }

    fn add(&mut self, sample: SampleMeta) {
        debug_assert!(
            self.pending.last().is_none_or(|p| *p < sample.position()),
            "samples must be added in position order"
        );
        self.pending.push(sample.position());
    }

    fn select(&mut self, trigger: &TriggerEvent, out: &mut Vec<Position>) {
        let end = self.pending.partition_point(|p| *p <= trigger.boundary);
        out.extend(self.pending.drain(..end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn selects_samples_since_previous_trigger() {
        let mut p = NewData::default();
        for (t, k) in [(1, 1), (1, 2), (2, 0), (2, 7), (3, 1)] {
            p.add(meta(t, k));
        }
        let mut out = Vec::new();
        // Boundary inside time 2: key 7 at time 2 belongs to the next epoch.
        p.select(&trigger(0, 2, 0), &mut out);
        assert_eq!(
            out.iter().map(|p| (p.time, p.key)).collect::<Vec<_>>(),
            vec![(1, 1), (1, 2), (2, 0)]
        );
        out.clear();
        p.select(&trigger(1, 3, 1), &mut out);
        assert_eq!(
            out.iter().map(|p| (p.time, p.key)).collect::<Vec<_>>(),
            vec![(2, 7), (3, 1)]
        );
        out.clear();
        p.select(&trigger(2, 9, 9), &mut out);
        assert!(out.is_empty());
    }
}
