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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::policy::{CandidateRow, CandidateSpill, SelectionPolicy, from_row, to_rows};
use crate::sample::{Candidate, Key, Position, SampleMeta, TriggerEvent};
use crate::triggers::State;

/// [`NewData`]'s checkpoint: samples not yet in an epoch, and every epoch held.
#[derive(Default, Serialize, Deserialize)]
struct Saved {
    pending: Vec<SampleMeta>,
    epochs: Vec<(u64, Vec<CandidateRow>)>,
}

/// An epoch's candidates, in memory or spilled.
enum Part {
    Mem(Vec<Candidate>),
    Spilled { handle: u64, len: usize },
}

impl Part {
    fn len(&self) -> usize {
        match self {
            Part::Mem(c) => c.len(),
            Part::Spilled { len, .. } => *len,
        }
    }
}

/// Candidates beyond `max` in memory go to `to`.
struct Spill {
    max: usize,
    to: Box<dyn CandidateSpill>,
}

/// Selects the samples of the last `tail + 1` epochs (all epochs when `tail` is `None`); the
/// default is the epoch the trigger closes (`tail = 0`).
pub struct NewData {
    tail: Option<u64>,
    pending: Vec<SampleMeta>,
    /// (epoch, its samples), oldest first.
    epochs: VecDeque<(u64, Part)>,
    /// Samples dropped and not yet taken by [`SelectionPolicy::take_retired`].
    retired: Vec<Position>,
    spill: Option<Spill>,
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
            spill: None,
        }
    }

    /// Keeps at most about `max` candidates in memory (whole epochs, the oldest first, go to
    /// `to` beyond it).
    pub fn spilling(mut self, max: usize, to: Box<dyn CandidateSpill>) -> Self {
        self.spill = Some(Spill { max, to });
        self
    }

    /// Samples held.
    pub fn held(&self) -> usize {
        self.pending.len() + self.epochs.iter().map(|(_, e)| e.len()).sum::<usize>()
    }

    /// Samples held in memory.
    pub fn in_memory(&self) -> usize {
        self.pending.len()
            + self
                .epochs
                .iter()
                .filter_map(|(_, e)| match e {
                    Part::Mem(c) => Some(c.len()),
                    Part::Spilled { .. } => None,
                })
                .sum::<usize>()
    }

    /// Bytes of state in memory (allocated capacity).
    pub fn bytes(&self) -> usize {
        self.pending.capacity() * size_of::<SampleMeta>()
            + self.epochs.capacity() * size_of::<(u64, Part)>()
            + self
                .epochs
                .iter()
                .filter_map(|(_, e)| match e {
                    Part::Mem(c) => Some(c.capacity() * size_of::<Candidate>()),
                    Part::Spilled { .. } => None,
                })
                .sum::<usize>()
    }

    /// Appends an epoch's candidates to `out`.
    fn read(spill: &mut Option<Spill>, part: &Part, out: &mut Vec<Candidate>) {
        match part {
            Part::Mem(c) => out.extend_from_slice(c),
            Part::Spilled { handle, len } => spill
                .as_mut()
                .expect("spilled epochs have a spill")
                .to
                .get(*handle, *len, out),
        }
    }

    /// Spills the oldest in-memory epochs while more than the bound is in memory.
    fn spill_excess(&mut self) {
        let Some(max) = self.spill.as_ref().map(|s| s.max) else {
            return;
        };
        let mut in_memory = self.in_memory();
        for (_, part) in self.epochs.iter_mut() {
            if in_memory <= max {
                break;
            }
            let Part::Mem(c) = part else { continue };
            let spill = self.spill.as_mut().expect("checked");
            if let Ok(handle) = spill.to.put(c) {
                in_memory -= c.len();
                *part = Part::Spilled {
                    handle,
                    len: c.len(),
                };
            }
        }
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
        self.epochs.push_back((trigger.id, Part::Mem(epoch)));
        for (_, e) in &self.epochs {
            Self::read(&mut self.spill, e, out);
        }
        if let Some(tail) = self.tail {
            // The next trigger reads epochs >= id + 1 - tail: older ones are done.
            let oldest = (trigger.id + 1).saturating_sub(tail);
            let mut gone = Vec::new();
            while self.epochs.front().is_some_and(|(e, _)| *e < oldest) {
                let (_, part) = self.epochs.pop_front().expect("front exists");
                gone.clear();
                Self::read(&mut self.spill, &part, &mut gone);
                self.retired.extend(gone.iter().map(|c| c.pos));
            }
        }
        self.spill_excess();
    }

    fn take_retired(&mut self, out: &mut Vec<Position>) {
        out.append(&mut self.retired);
    }

    fn save(&mut self) -> State {
        let mut epochs = Vec::with_capacity(self.epochs.len());
        let mut c = Vec::new();
        for (id, part) in &self.epochs {
            c.clear();
            Self::read(&mut self.spill, part, &mut c);
            epochs.push((*id, to_rows(&c)));
        }
        serde_json::to_value(Saved {
            pending: self.pending.clone(),
            epochs,
        })
        .expect("selection state serialises")
    }

    fn restore(&mut self, states: &[State], owns: &dyn Fn(Key) -> bool) -> Result<(), String> {
        let mut pending = Vec::new();
        let mut epochs: BTreeMap<u64, Vec<Candidate>> = BTreeMap::new();
        for state in states {
            let saved: Saved =
                serde_json::from_value(state.clone()).map_err(|e| format!("NewData state: {e}"))?;
            pending.extend(saved.pending.into_iter().filter(|s| owns(s.key)));
            for (id, rows) in saved.epochs {
                let e = epochs.entry(id).or_default();
                e.extend(rows.iter().map(from_row).filter(|c| owns(c.pos.key)));
            }
        }
        pending.sort_unstable_by_key(SampleMeta::position);
        self.pending = pending;
        self.epochs = epochs
            .into_iter()
            .map(|(id, mut c)| {
                c.sort_unstable_by_key(|c| c.pos);
                (id, Part::Mem(c))
            })
            .collect();
        self.retired.clear();
        self.spill_excess();
        Ok(())
    }

    fn held_positions(&mut self, out: &mut Vec<Position>) {
        out.extend(self.pending.iter().map(SampleMeta::position));
        let mut c = Vec::new();
        for (_, part) in &self.epochs {
            c.clear();
            Self::read(&mut self.spill, part, &mut c);
            out.extend(c.iter().map(|c| c.pos));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Position, owner};

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

    /// Spilled segments in a vector (the pipeline's are files).
    #[derive(Default)]
    struct VecSpill(Vec<Candidate>);

    impl CandidateSpill for VecSpill {
        fn put(&mut self, c: &[Candidate]) -> Result<u64, String> {
            self.0.extend_from_slice(c);
            Ok((self.0.len() - c.len()) as u64)
        }

        fn get(&mut self, handle: u64, len: usize, out: &mut Vec<Candidate>) {
            out.extend_from_slice(&self.0[handle as usize..handle as usize + len]);
        }
    }

    #[test]
    fn spilled_epochs_select_and_retire_like_held_ones() {
        for tail in [None, Some(2)] {
            let mut held = NewData::tail(tail);
            let mut spilled = NewData::tail(tail).spilling(5, Box::new(VecSpill::default()));
            for t in 0..6u64 {
                for k in t * 4..t * 4 + 4 {
                    held.add(meta(k, k));
                    spilled.add(meta(k, k));
                }
                let (mut a, mut b) = (Vec::new(), Vec::new());
                held.select(&trigger(t, t * 4 + 3, t * 4 + 3), &mut a);
                spilled.select(&trigger(t, t * 4 + 3, t * 4 + 3), &mut b);
                assert_eq!(a, b, "tail {tail:?}, trigger {t}");
                assert_eq!(held.held(), spilled.held());
                // At most the bound in memory, in whole epochs of 4.
                assert!(spilled.in_memory() <= 5, "{}", spilled.in_memory());
                let (mut ra, mut rb) = (Vec::new(), Vec::new());
                held.take_retired(&mut ra);
                spilled.take_retired(&mut rb);
                assert_eq!(ra, rb);
            }
        }
    }

    /// Runs `make()` over 8 epochs of 10 samples on `before` workers, checkpoints every worker
    /// after trigger `k`, restores on `after` workers and goes on: every later answer (all
    /// workers' candidates together) and every retirement equals the uninterrupted run's.
    fn resumes_like_uninterrupted(make: &dyn Fn() -> NewData, before: usize, after: usize) {
        let owned = |peers: usize, w: usize| move |k: Key| owner(k, peers) == w;
        let run = |ps: &mut [NewData], peers: usize, t: u64| {
            let mut answer = Vec::new();
            let mut retired = Vec::new();
            for (w, p) in ps.iter_mut().enumerate() {
                for k in t * 10..t * 10 + 10 {
                    if owned(peers, w)(k) {
                        p.add(meta(k / 3, k));
                    }
                }
                p.select(&trigger(t, (t * 10 + 9) / 3, t * 10 + 9), &mut answer);
                p.take_retired(&mut retired);
            }
            answer.sort_unstable_by_key(|c| c.pos);
            retired.sort_unstable();
            (answer, retired)
        };
        let mut whole: Vec<NewData> = (0..before).map(|_| make()).collect();
        let want: Vec<_> = (0..8).map(|t| run(&mut whole, before, t)).collect();
        for k in 0..7u64 {
            let mut first: Vec<NewData> = (0..before).map(|_| make()).collect();
            for t in 0..=k {
                run(&mut first, before, t);
            }
            let states: Vec<State> = first
                .iter_mut()
                .map(|p| serde_json::from_str(&p.save().to_string()).unwrap())
                .collect();
            let mut held: Vec<Position> = Vec::new();
            first.iter_mut().for_each(|p| p.held_positions(&mut held));
            let mut resumed: Vec<NewData> = (0..after).map(|_| make()).collect();
            for (w, p) in resumed.iter_mut().enumerate() {
                p.restore(&states, &owned(after, w)).unwrap();
            }
            let mut held_after: Vec<Position> = Vec::new();
            resumed
                .iter_mut()
                .for_each(|p| p.held_positions(&mut held_after));
            held.sort_unstable();
            held_after.sort_unstable();
            assert_eq!(held, held_after, "held after restoring trigger {k}");
            for t in k + 1..8 {
                assert_eq!(
                    run(&mut resumed, after, t),
                    want[t as usize],
                    "trigger {t} after {k}"
                );
            }
        }
    }

    #[test]
    fn restored_state_answers_like_the_uninterrupted_policy() {
        for (before, after) in [(1, 1), (2, 2), (2, 3), (3, 1)] {
            resumes_like_uninterrupted(&|| NewData::tail(Some(0)), before, after);
            resumes_like_uninterrupted(&|| NewData::tail(Some(2)), before, after);
            resumes_like_uninterrupted(&|| NewData::tail(None), before, after);
            resumes_like_uninterrupted(
                &|| NewData::tail(None).spilling(4, Box::new(VecSpill::default())),
                before,
                after,
            );
        }
        let mut p = NewData::default();
        let bad = serde_json::json!({"epochs": "nope"});
        let e = p.restore(&[bad], &|_| true).unwrap_err();
        assert!(e.starts_with("NewData state: "), "{e}");
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
