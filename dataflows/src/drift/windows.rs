//! Reference and current windows of a drift trigger (Modyn's `drift/detection_window/`).
//!
//! - **amount**: the current window holds the last `amount_cur` samples, the reference the last
//!   `amount_ref` samples up to the previous trigger. Without overlap, samples pushed out of the
//!   current window wait in a reservoir of `amount_ref - amount_cur` (they may still belong to
//!   the next reference); on a trigger, reservoir and current window move to the reference and
//!   the current window starts empty. With overlap, the current window keeps sliding and the
//!   samples new since the last trigger move to the reference.
//! - **time**: the same, bounded by event-time spans `limit_cur` / `limit_ref` back from the
//!   newest sample instead of counts.
//!
//! Memory: amount windows hold at most `amount_ref + max(amount_ref, amount_cur)` samples; time
//! windows hold the samples of their spans (bounded by the stream's rate).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::sample::{Position, SampleMeta, Time};

/// How windows are bounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowSpec {
    /// By sample counts.
    Amount {
        /// Reference window size.
        reference: usize,
        /// Current window size.
        current: usize,
        /// The current window keeps sliding across triggers.
        allow_overlap: bool,
    },
    /// By event-time spans, ms.
    Time {
        /// Reference span.
        reference: Time,
        /// Current span.
        current: Time,
        /// The current window keeps sliding across triggers.
        allow_overlap: bool,
    },
}

/// The windows' contents.
#[derive(Clone, Debug)]
pub struct Windows {
    spec: WindowSpec,
    /// Reference window, oldest first.
    pub reference: VecDeque<SampleMeta>,
    /// Current window, oldest first.
    pub current: VecDeque<SampleMeta>,
    reservoir: VecDeque<SampleMeta>,
    /// With overlap: samples not yet moved to the reference.
    exclusive: VecDeque<SampleMeta>,
}

/// What [`Windows`] hold, for a checkpoint (the spec comes from the configuration).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WindowContents {
    reference: VecDeque<SampleMeta>,
    current: VecDeque<SampleMeta>,
    reservoir: VecDeque<SampleMeta>,
    exclusive: VecDeque<SampleMeta>,
}

fn push_bounded(q: &mut VecDeque<SampleMeta>, s: SampleMeta, cap: usize) -> Option<SampleMeta> {
    if cap == 0 {
        return Some(s);
    }
    let out = (q.len() == cap).then(|| q.pop_front()).flatten();
    q.push_back(s);
    out
}

impl Windows {
    /// Empty windows.
    pub fn new(spec: WindowSpec) -> Self {
        Self {
            spec,
            reference: VecDeque::new(),
            current: VecDeque::new(),
            reservoir: VecDeque::new(),
            exclusive: VecDeque::new(),
        }
    }

    /// Adds samples (in stream order).
    pub fn inform_data(&mut self, data: &[SampleMeta]) {
        match self.spec {
            WindowSpec::Amount {
                reference,
                current,
                allow_overlap,
            } => {
                for &s in data {
                    if allow_overlap {
                        push_bounded(&mut self.exclusive, s, reference);
                        push_bounded(&mut self.current, s, current);
                    } else if let Some(out) = push_bounded(&mut self.current, s, current) {
                        push_bounded(&mut self.reservoir, out, reference.saturating_sub(current));
                    }
                }
            }
            WindowSpec::Time {
                reference,
                current,
                allow_overlap,
            } => {
                let Some(last) = data.last() else { return };
                self.current.extend(data.iter().copied());
                let cur_from = last.time.saturating_sub(current);
                let ref_from = last.time.saturating_sub(reference);
                while self.current.front().is_some_and(|s| s.time < cur_from) {
                    let out = self.current.pop_front().expect("non-empty");
                    if !allow_overlap {
                        self.reservoir.push_back(out);
                    }
                }
                if allow_overlap {
                    self.exclusive.extend(data.iter().copied());
                    while self.exclusive.front().is_some_and(|s| s.time < ref_from) {
                        self.exclusive.pop_front();
                    }
                } else {
                    while self.reservoir.front().is_some_and(|s| s.time < ref_from) {
                        self.reservoir.pop_front();
                    }
                }
            }
        }
    }

    /// A trigger: what is new moves to the reference (idempotent until new data arrives).
    pub fn inform_trigger(&mut self) {
        let (allow_overlap, ref_cap) = match self.spec {
            WindowSpec::Amount {
                reference,
                allow_overlap,
                ..
            } => (allow_overlap, Some(reference)),
            WindowSpec::Time { allow_overlap, .. } => (allow_overlap, None),
        };
        let moved: Vec<SampleMeta> = if allow_overlap {
            self.exclusive.drain(..).collect()
        } else {
            self.reservoir
                .drain(..)
                .chain(self.current.drain(..))
                .collect()
        };
        for s in moved {
            match ref_cap {
                Some(cap) => {
                    push_bounded(&mut self.reference, s, cap);
                }
                None => self.reference.push_back(s),
            }
        }
        if let WindowSpec::Time { reference, .. } = self.spec
            && let Some(last) = self.reference.back()
        {
            let from = last.time.saturating_sub(reference);
            while self.reference.front().is_some_and(|s| s.time < from) {
                self.reference.pop_front();
            }
        }
    }

    /// Their contents, for a checkpoint.
    pub(crate) fn contents(&self) -> WindowContents {
        WindowContents {
            reference: self.reference.clone(),
            current: self.current.clone(),
            reservoir: self.reservoir.clone(),
            exclusive: self.exclusive.clone(),
        }
    }

    /// Restores what [`contents`](Self::contents) returned.
    pub(crate) fn set_contents(&mut self, contents: WindowContents) {
        let WindowContents {
            reference,
            current,
            reservoir,
            exclusive,
        } = contents;
        (self.reference, self.current) = (reference, current);
        (self.reservoir, self.exclusive) = (reservoir, exclusive);
    }

    /// Samples held in all buffers (for memory accounting).
    pub fn held(&self) -> usize {
        self.reference.len() + self.current.len() + self.reservoir.len() + self.exclusive.len()
    }

    /// The earliest sample held in any buffer. Every buffer is filled in stream order and
    /// emptied from the front, so its front is its oldest: O(1), as the trigger operator asks
    /// on every activation.
    pub fn oldest(&self) -> Option<Position> {
        [
            &self.reference,
            &self.current,
            &self.reservoir,
            &self.exclusive,
        ]
        .into_iter()
        .filter_map(|q| q.front().map(SampleMeta::position))
        .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(k: u64) -> SampleMeta {
        SampleMeta {
            time: k * 10,
            key: k,
            label: 0,
        }
    }

    fn keys(q: &VecDeque<SampleMeta>) -> Vec<u64> {
        q.iter().map(|m| m.key).collect()
    }

    #[test]
    fn the_oldest_held_sample_is_the_earliest_front() {
        for allow_overlap in [false, true] {
            for spec in [
                WindowSpec::Amount {
                    reference: 7,
                    current: 3,
                    allow_overlap,
                },
                WindowSpec::Time {
                    reference: 70,
                    current: 30,
                    allow_overlap,
                },
            ] {
                let mut w = Windows::new(spec.clone());
                for k in 0..60u64 {
                    w.inform_data(&[s(k)]);
                    if k % 9 == 4 {
                        w.inform_trigger();
                    }
                    let all = [&w.reference, &w.current, &w.reservoir, &w.exclusive]
                        .into_iter()
                        .flat_map(|q| q.iter().map(SampleMeta::position))
                        .min();
                    assert_eq!(w.oldest(), all, "{spec:?} after {k}");
                }
            }
        }
    }

    #[test]
    fn amount_windows_without_overlap_move_current_and_reservoir_on_trigger() {
        let mut w = Windows::new(WindowSpec::Amount {
            reference: 4,
            current: 2,
            allow_overlap: false,
        });
        w.inform_data(&(0..5).map(s).collect::<Vec<_>>());
        assert_eq!(keys(&w.current), [3, 4]);
        w.inform_trigger();
        assert_eq!(keys(&w.reference), [1, 2, 3, 4]);
        assert!(w.current.is_empty());
        w.inform_data(&[s(5)]);
        w.inform_trigger();
        assert_eq!(keys(&w.reference), [2, 3, 4, 5]);
    }

    #[test]
    fn amount_windows_with_overlap_keep_the_current_window_sliding() {
        let mut w = Windows::new(WindowSpec::Amount {
            reference: 3,
            current: 2,
            allow_overlap: true,
        });
        w.inform_data(&(0..4).map(s).collect::<Vec<_>>());
        w.inform_trigger();
        assert_eq!(keys(&w.reference), [1, 2, 3]);
        assert_eq!(keys(&w.current), [2, 3]);
        w.inform_trigger(); // nothing new: idempotent
        assert_eq!(keys(&w.reference), [1, 2, 3]);
    }

    #[test]
    fn time_windows_bound_by_event_time() {
        let mut w = Windows::new(WindowSpec::Time {
            reference: 25,
            current: 15,
            allow_overlap: false,
        });
        // times 0..60 step 10; newest 60: current keeps >= 45, reservoir keeps >= 35
        w.inform_data(&(0..7).map(s).collect::<Vec<_>>());
        assert_eq!(keys(&w.current), [5, 6]);
        w.inform_trigger();
        assert_eq!(keys(&w.reference), [4, 5, 6]);
    }
}
