//! `amount`: trigger every N samples (Modyn's `DataAmountTrigger`, `num_samples`).
//!
//! State: the number of samples since the last trigger, carried across batches (and saved in
//! checkpoints: `{"since_last": n}`). O(1) per batch plus O(1) per trigger fired.

use serde::{Deserialize, Serialize};

use super::policy::{Context, CountPolicy, Fire, State, TriggerPolicy, from_state, to_state};
use crate::sample::{SampleMeta, Time};

/// Fires on every `every`-th sample of the stream.
#[derive(Clone, Debug)]
pub struct DataAmount {
    every: u64,
    since_last: u64,
}

/// What a checkpoint holds of a [`DataAmount`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AmountState {
    since_last: u64,
}

impl DataAmount {
    /// A policy that fires every `every` samples; `every` must be positive.
    pub fn new(every: u64) -> Self {
        assert!(
            every > 0,
            "DataAmount: every must be > 0 (validated by the config)"
        );
        Self {
            every,
            since_last: 0,
        }
    }
}

impl TriggerPolicy for DataAmount {
    fn name(&self) -> &str {
        "DataAmount"
    }

    fn inform(
        &mut self,
        batch: &[SampleMeta],
        _ctx: &mut Context<'_>,
        fired: &mut Vec<Fire>,
    ) -> Result<usize, String> {
        // Samples until the one that completes `every` samples since the last trigger.
        let until = (self.every - self.since_last) as usize;
        if until <= batch.len() {
            fired.push(Fire::new(until, format!("amount: {} samples", self.every)));
            self.since_last = 0;
            return Ok(until);
        }
        self.since_last += batch.len() as u64;
        Ok(batch.len())
    }

    fn decision_point(&self, batch: &[SampleMeta]) -> Option<usize> {
        let n = (self.every - self.since_last) as usize;
        (n <= batch.len()).then_some(n)
    }

    fn save(&self) -> State {
        to_state(&AmountState {
            since_last: self.since_last,
        })
    }

    fn restore(&mut self, state: State) -> Result<(), String> {
        let AmountState { since_last } = from_state(self.name(), state)?;
        if since_last >= self.every {
            return Err(format!(
                "DataAmount: checkpoint has {since_last} samples since the last trigger, \
                 but the policy fires every {}",
                self.every
            ));
        }
        self.since_last = since_last;
        Ok(())
    }
}

impl CountPolicy for DataAmount {
    fn inform_counts(&mut self, batch: &[(Time, u64)], fired: &mut Vec<Fire>) -> u64 {
        let until = self.every - self.since_last;
        let mut seen = 0u64;
        for &(_, n) in batch {
            if seen + n >= until {
                fired.push(Fire::new(
                    until as usize,
                    format!("amount: {} samples", self.every),
                ));
                self.since_last = 0;
                return until;
            }
            seen += n;
        }
        self.since_last += seen;
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triggers::NoProbe;
    use crate::triggers::policy::{
        assert_refuses_wrong_states, assert_resumes_at_every_fire, fire_in_batches, no_model,
    };
    use proptest::prelude::*;

    fn samples(n: u64) -> Vec<SampleMeta> {
        (0..n)
            .map(|i| SampleMeta {
                time: i / 3,
                key: i,
                label: 0,
            })
            .collect()
    }

    fn fire_positions(every: u64, stream: &[SampleMeta], cuts: &[usize]) -> Vec<u64> {
        fire_in_batches(&mut DataAmount::new(every), stream, cuts)
            .into_iter()
            .map(|n| stream[n - 1].key)
            .collect()
    }

    #[test]
    fn fires_on_every_nth_sample() {
        let s = samples(10);
        assert_eq!(fire_positions(3, &s, &[]), vec![2, 5, 8]);
        assert_eq!(fire_positions(1, &s, &[]), (0..10).collect::<Vec<_>>());
        assert_eq!(fire_positions(11, &s, &[]), Vec::<u64>::new());
    }

    #[test]
    fn carries_remainder_across_batches() {
        let s = samples(10);
        // batches [0,1) [1,4) [4,7) [7,10)
        assert_eq!(fire_positions(3, &s, &[1, 4, 7]), vec![2, 5, 8]);
        // empty batches change nothing
        assert_eq!(fire_positions(3, &s, &[0, 0, 5, 5]), vec![2, 5, 8]);
    }

    proptest! {
        #[test]
        fn batching_does_not_change_decisions(every in 1u64..50, n in 0u64..400,
                                              cuts in proptest::collection::vec(0usize..400, 0..20)) {
            let s = samples(n);
            let expected: Vec<u64> = (1..=n / every).map(|i| i * every - 1).collect();
            prop_assert_eq!(fire_positions(every, &s, &cuts), expected);
        }

        #[test]
        fn resumes_from_a_checkpoint_at_every_fire(
            every in 1u64..20,
            n in 0u64..120,
            cuts in proptest::collection::vec(0usize..120, 0..8),
            resume_cuts in proptest::collection::vec(0usize..120, 0..8),
        ) {
            let s = samples(n);
            let new = || DataAmount::new(every);
            let saves =
                assert_resumes_at_every_fire(new, &mut NoProbe, &s, &cuts, &resume_cuts, &no_model);
            prop_assert_eq!(saves as u64, n / every);
        }
    }

    #[test]
    fn refuses_states_that_do_not_fit() {
        assert_refuses_wrong_states(DataAmount::new(3));
        // A count the configuration cannot reach.
        let got = DataAmount::new(3).restore(serde_json::json!({"since_last": 3}));
        assert!(got.unwrap_err().contains("every 3"));
    }
}
