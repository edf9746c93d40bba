//! `amount`: trigger every N samples (Modyn's `DataAmountTrigger`, `num_samples`).
//!
//! State: the number of samples since the last trigger, carried across batches. O(1) per batch
//! plus O(1) per trigger fired.

use super::policy::{Context, Fire, TriggerPolicy};
use crate::sample::SampleMeta;

/// Fires on every `every`-th sample of the stream.
#[derive(Clone, Debug)]
pub struct DataAmount {
    every: u64,
    since_last: u64,
    nested: bool,
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
            nested: false,
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
        let n = batch.len() as u64;
        // Index of the first sample that completes `every` samples since the last trigger.
        let mut next = self.every - self.since_last - 1;
        while next < n {
            fired.push(Fire::new(
                next as usize + 1,
                format!("amount: {} samples", self.every),
            ));
            if self.nested {
                self.since_last = 0;
                return Ok(next as usize + 1);
            }
            next += self.every;
        }
        self.since_last = (self.since_last + n) % self.every;
        Ok(batch.len())
    }

    fn nest(&mut self) {
        self.nested = true;
    }

    fn decision_point(&self, batch: &[SampleMeta]) -> Option<usize> {
        let n = (self.every - self.since_last) as usize;
        (n <= batch.len()).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triggers::policy::fire_in_batches;
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
    }
}
