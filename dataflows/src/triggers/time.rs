//! `time`: trigger every fixed span of event time (Modyn's `TimeTrigger`, `every` and
//! `start_timestamp`).
//!
//! Windows are `[start + k·every, start + (k+1)·every)`, with `start` the configured one or the
//! first sample's time. A window closes when the first sample at or after its end arrives; the
//! epoch ends with the last sample before it, which may be the previous batch's last sample
//! (`Fire { count: 0 }`), and windows without samples give empty epochs, as in Modyn. Windows
//! that end before the first sample close nothing.
//!
//! State: the end of the current window (saved in checkpoints: `{"next": end or null}`). O(1)
//! per sample plus O(1) per trigger.

use serde::{Deserialize, Serialize};

use super::policy::{Context, CountPolicy, Fire, State, TriggerPolicy, from_state, to_state};
use crate::sample::{SampleMeta, Time};

/// Fires at the end of every `every` milliseconds of event time.
#[derive(Clone, Debug)]
pub struct TimeTrigger {
    every: Time,
    start: Option<Time>,
    next: Option<Time>,
    reason: String,
}

/// What a checkpoint holds of a [`TimeTrigger`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeState {
    /// The end of the current window (`None`: no sample seen yet).
    next: Option<Time>,
}

impl TimeTrigger {
    /// Windows of `every` ms (> 0), starting at `start` (ms) or at the first sample's time;
    /// `label` names the span in trigger reasons (`"1h"`).
    pub fn new(every: Time, start: Option<Time>, label: &str) -> Self {
        assert!(
            every > 0,
            "TimeTrigger: every must be > 0 (validated by the config)"
        );
        Self {
            every,
            start,
            next: None,
            reason: format!("time: every {label}"),
        }
    }
}

impl TimeTrigger {
    /// The end of the window holding the first sample, at `time`. A configured start may lie
    /// before it: its first window is the one holding that sample, not a run of empty ones.
    fn first_window_end(&self, time: Time) -> Time {
        let start = self.start.unwrap_or(time);
        start + self.every * (time.saturating_sub(start) / self.every + 1)
    }
}

impl TriggerPolicy for TimeTrigger {
    fn name(&self) -> &str {
        "Time"
    }

    fn inform(
        &mut self,
        batch: &[SampleMeta],
        _ctx: &mut Context<'_>,
        fired: &mut Vec<Fire>,
    ) -> Result<usize, String> {
        for (i, s) in batch.iter().enumerate() {
            let mut next = match self.next {
                Some(n) => n,
                None => self.first_window_end(s.time),
            };
            let closed = next <= s.time;
            while s.time >= next {
                fired.push(Fire::new(i, self.reason.clone()));
                next += self.every;
            }
            self.next = Some(next);
            if closed {
                // The windows `s` closes end before it: `s` is the next epoch's (and already
                // accounted for in `next`, so seeing it again changes nothing).
                return Ok(i);
            }
        }
        Ok(batch.len())
    }

    fn decision_point(&self, batch: &[SampleMeta]) -> Option<usize> {
        let (next, from) = match self.next {
            Some(n) => (n, 0),
            None => (self.first_window_end(batch.first()?.time), 1),
        };
        batch[from..]
            .iter()
            .position(|s| s.time >= next)
            .map(|i| i + from)
    }

    fn close_before(
        &mut self,
        next: &SampleMeta,
        _ctx: &mut Context<'_>,
        fired: &mut Vec<Fire>,
    ) -> Result<(), String> {
        if let Some(mut end) = self.next {
            while next.time >= end {
                fired.push(Fire::new(0, self.reason.clone()));
                end += self.every;
            }
            self.next = Some(end);
        }
        Ok(())
    }

    fn fires_between_batches(&self) -> bool {
        true
    }

    fn save(&self) -> State {
        to_state(&TimeState { next: self.next })
    }

    fn restore(&mut self, state: State) -> Result<(), String> {
        let TimeState { next } = from_state(self.name(), state)?;
        self.next = next;
        Ok(())
    }
}

impl CountPolicy for TimeTrigger {
    fn inform_counts(&mut self, batch: &[(Time, u64)], fired: &mut Vec<Fire>) -> u64 {
        // As `inform`: only a time's first sample can close windows.
        let mut seen = 0u64;
        for &(time, n) in batch {
            let mut next = self.next.unwrap_or_else(|| self.first_window_end(time));
            let closed = next <= time;
            while time >= next {
                fired.push(Fire::new(seen as usize, self.reason.clone()));
                next += self.every;
            }
            self.next = Some(next);
            if closed {
                return seen;
            }
            seen += n;
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triggers::NoProbe;
    use crate::triggers::policy::{
        assert_refuses_wrong_states, assert_resumes_at_every_fire, at_times, fire_in_batches,
        no_model,
    };
    use proptest::prelude::*;

    #[test]
    fn windows_close_at_the_first_later_sample() {
        // every 10 from the first sample (5): windows [5,15) [15,25) [25,35) [35,45) ...
        let s = at_times(&[5, 9, 14, 15, 16, 40, 41]);
        let mut p = TimeTrigger::new(10, None, "10ms");
        // 15 closes [5,15) after 3 samples; 40 closes [15,25) after 5, then the empty [25,35).
        assert_eq!(fire_in_batches(&mut p, &s, &[]), [3, 5, 5]);
        // A start before the data: windows [0,10) [10,20) ...; 5 and 9 fall in the first.
        let mut p = TimeTrigger::new(10, Some(0), "10ms");
        assert_eq!(fire_in_batches(&mut p, &s, &[]), [2, 5, 5, 5]);
        // A window closed by the first sample of a batch ends with the previous batch.
        let mut p = TimeTrigger::new(10, None, "10ms");
        let (mut fired, mut decisions) = (Vec::new(), Vec::new());
        let mut ctx = Context {
            probe: &mut crate::triggers::NoProbe,
            decisions: &mut decisions,
        };
        p.inform(&s[..3], &mut ctx, &mut fired).unwrap();
        assert!(fired.is_empty());
        // It stops at each boundary: first before the batch's first sample, consuming nothing.
        assert_eq!(p.inform(&s[3..], &mut ctx, &mut fired).unwrap(), 0);
        assert_eq!(fired.iter().map(|f| f.count).collect::<Vec<_>>(), [0]);
        // Then after 2 samples, closing [15,25) and the empty [25,35) at once.
        fired.clear();
        assert_eq!(p.inform(&s[3..], &mut ctx, &mut fired).unwrap(), 2);
        assert_eq!(fired.iter().map(|f| f.count).collect::<Vec<_>>(), [2, 2]);
        fired.clear();
        assert_eq!(p.inform(&s[5..], &mut ctx, &mut fired).unwrap(), 2);
        assert!(fired.is_empty());
    }

    #[test]
    fn refuses_states_that_do_not_fit() {
        assert_refuses_wrong_states(TimeTrigger::new(10, None, "10ms"));
        let got = TimeTrigger::new(10, None, "10ms").restore(serde_json::json!({"next": -1}));
        assert!(got.unwrap_err().starts_with("Time:"));
    }

    proptest! {
        #[test]
        fn batching_does_not_change_decisions(
            gaps in proptest::collection::vec(0u64..30, 0..200),
            every in 1u64..50,
            start in proptest::option::of(0u64..20),
            cuts in proptest::collection::vec(0usize..200, 0..20),
        ) {
            let mut t = 20;
            let times: Vec<Time> = gaps.iter().map(|g| { t += g; t }).collect();
            let s = at_times(&times);
            let whole = fire_in_batches(&mut TimeTrigger::new(every, start, "x"), &s, &[]);
            prop_assert_eq!(&fire_in_batches(&mut TimeTrigger::new(every, start, "x"), &s, &cuts), &whole);
            // Oracle: each closed window ends after the samples before its end.
            let first = start.unwrap_or(times.first().copied().unwrap_or(0));
            let mut want = Vec::new();
            if let Some(&last) = times.last() {
                let mut end = first + every * (times[0].saturating_sub(first) / every + 1);
                while end <= last {
                    want.push(times.iter().filter(|&&x| x < end).count());
                    end += every;
                }
            }
            prop_assert_eq!(whole, want);
        }

        #[test]
        fn resumes_from_a_checkpoint_at_every_fire(
            gaps in proptest::collection::vec(0u64..30, 0..100),
            every in 1u64..40,
            start in proptest::option::of(0u64..20),
            cuts in proptest::collection::vec(0usize..100, 0..8),
            resume_cuts in proptest::collection::vec(0usize..100, 0..8),
        ) {
            // Gaps up to 30 with windows from 1: many empty windows, closed together.
            let mut t = 20;
            let times: Vec<Time> = gaps.iter().map(|g| { t += g; t }).collect();
            let s = at_times(&times);
            let new = || TimeTrigger::new(every, start, "x");
            let fires = fire_in_batches(&mut new(), &s, &[]);
            let mut groups = fires.clone();
            groups.dedup();
            let saves =
                assert_resumes_at_every_fire(new, &mut NoProbe, &s, &cuts, &resume_cuts, &no_model);
            // One save point per boundary, however many windows close there.
            prop_assert_eq!(saves, groups.len());
        }
    }
}
