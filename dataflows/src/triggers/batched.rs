//! Batched policies: decide once per interval of `evaluation_interval_data_points` samples
//! (Modyn's `BatchedTrigger` and `WarmupTrigger`).
//!
//! The stream is cut into consecutive intervals of N samples (a partial interval carries over
//! to the next batch). The first interval always fires, so a first model exists. During the
//! first `warmup_intervals` intervals (the first included) an optional warm-up policy (`time` or
//! `amount`) decides, fed that interval's samples, while the main policy only observes and, at
//! the last warm-up interval, calibrates its dynamic criteria. A decision fires at the
//! interval's last sample.
//!
//! State: the partial interval (< N samples) plus the wrapped policy's. Every decision, fired or
//! not, is reported as a [`Decision`] with its numbers.

use super::policy::{Context, Decision, Details, Fire, ModelInfo, TriggerPolicy};

/// An interval decision: fire or not, why, and the numbers.
pub type Outcome = (bool, String, Details);
use crate::sample::{Position, SampleMeta};

/// What a batched policy decides per interval.
pub trait IntervalPolicy: 'static {
    /// A readable name (`"DataDrift"`).
    fn name(&self) -> &str;

    /// Observes an interval the warm-up decided (the first interval included); `calibrate` is
    /// set on the last warm-up interval. Returns the numbers it computed, if any.
    fn warmup(
        &mut self,
        interval: &[SampleMeta],
        calibrate: bool,
        ctx: &mut Context<'_>,
    ) -> Result<Details, String>;

    /// Decides on an interval after the warm-up: (fire, reason, numbers).
    fn decide(&mut self, interval: &[SampleMeta], ctx: &mut Context<'_>)
    -> Result<Outcome, String>;

    /// As [`TriggerPolicy::needs_models`].
    fn needs_models(&self) -> bool {
        false
    }

    /// As [`TriggerPolicy::inform_model`].
    fn inform_model(&mut self, _model: &ModelInfo) {}

    /// As [`TriggerPolicy::oldest_needed`].
    fn oldest_needed(&self) -> Option<Position> {
        None
    }

    /// The pipeline triggered: at this policy's own fire, or (nested in an ensemble) when the
    /// ensemble fires.
    fn on_trigger(&mut self) {}
}

/// The warm-up of a batched policy.
pub struct Warmup {
    /// Intervals the warm-up policy decides (the first interval included).
    pub intervals: usize,
    /// The deciding policy (`time` or `amount`).
    pub policy: Box<dyn TriggerPolicy>,
}

/// Runs an [`IntervalPolicy`] every `every` samples.
pub struct Batched<P> {
    policy: P,
    name: String,
    every: usize,
    partial: Vec<SampleMeta>,
    warmup: Option<Warmup>,
    triggered_once: bool,
    nested: bool,
}

impl<P: IntervalPolicy> Batched<P> {
    /// Decides every `every` (> 0) samples, with an optional warm-up.
    pub fn new(policy: P, every: usize, warmup: Option<Warmup>) -> Self {
        assert!(
            every > 0,
            "evaluation interval must be > 0 (validated by the config)"
        );
        Self {
            name: policy.name().to_string(),
            policy,
            every,
            partial: Vec::with_capacity(every),
            warmup: warmup.filter(|w| w.intervals > 0),
            triggered_once: false,
            nested: false,
        }
    }

    /// The wrapped policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    fn decide(
        &mut self,
        interval: &[SampleMeta],
        ctx: &mut Context<'_>,
    ) -> Result<Outcome, String> {
        if self.triggered_once && self.warmup.is_none() {
            return self.policy.decide(interval, ctx);
        }
        let first = !self.triggered_once;
        self.triggered_once = true;
        let (delegated, calibrate, reason) = match &mut self.warmup {
            Some(w) => {
                let mut fired = Vec::new();
                let mut decisions = Vec::new();
                let mut inner = Context {
                    probe: &mut *ctx.probe,
                    decisions: &mut decisions,
                };
                w.policy.inform(interval, &mut inner, &mut fired)?;
                w.intervals -= 1;
                let reason = format!("warm-up ({})", w.policy.name());
                (!fired.is_empty(), w.intervals == 0, reason)
            }
            None => (true, false, String::new()),
        };
        if calibrate {
            self.warmup = None;
        }
        let triggered = first || delegated;
        let details = self.policy.warmup(interval, calibrate, ctx)?;
        let reason = if first {
            "first interval".to_string()
        } else {
            reason
        };
        Ok((triggered, reason, details))
    }
}

impl<P: IntervalPolicy> TriggerPolicy for Batched<P> {
    fn name(&self) -> &str {
        &self.name
    }

    fn inform(
        &mut self,
        batch: &[SampleMeta],
        ctx: &mut Context<'_>,
        fired: &mut Vec<Fire>,
    ) -> Result<usize, String> {
        let mut used = 0;
        while used < batch.len() {
            let take = (self.every - self.partial.len()).min(batch.len() - used);
            self.partial.extend_from_slice(&batch[used..used + take]);
            used += take;
            if self.partial.len() < self.every {
                break;
            }
            let interval = std::mem::take(&mut self.partial);
            let (triggered, reason, details) = self.decide(&interval, ctx)?;
            self.partial = interval;
            let at = self.partial.last().expect("a full interval").position();
            self.partial.clear();
            ctx.decisions.push(Decision {
                at,
                triggered,
                details: details.clone(),
            });
            if triggered {
                fired.push(Fire {
                    count: used,
                    reason: format!("{}: {reason}", self.name),
                    details,
                });
                if !self.nested {
                    self.policy.on_trigger();
                }
                if self.needs_models() || self.nested {
                    return Ok(used);
                }
            }
        }
        Ok(batch.len())
    }

    fn needs_models(&self) -> bool {
        self.policy.needs_models()
    }

    fn inform_model(&mut self, model: &ModelInfo) {
        self.policy.inform_model(model);
    }

    fn oldest_needed(&self) -> Option<Position> {
        [
            self.partial.first().map(SampleMeta::position),
            self.policy.oldest_needed(),
            self.warmup.as_ref().and_then(|w| w.policy.oldest_needed()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn nest(&mut self) {
        self.nested = true;
    }

    fn decision_point(&self, batch: &[SampleMeta]) -> Option<usize> {
        let n = self.every - self.partial.len();
        (n <= batch.len()).then_some(n)
    }

    fn on_trigger(&mut self) {
        self.policy.on_trigger();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triggers::DataAmount;
    use crate::triggers::policy::fire_in_batches;
    use proptest::prelude::*;

    /// Fires on intervals whose label sum is odd; records warm-up calls (calibrate or not).
    struct OddLabels {
        warmups: Vec<bool>,
        models: bool,
    }

    impl IntervalPolicy for OddLabels {
        fn name(&self) -> &str {
            "OddLabels"
        }
        fn warmup(
            &mut self,
            _: &[SampleMeta],
            calibrate: bool,
            _: &mut Context<'_>,
        ) -> Result<Details, String> {
            self.warmups.push(calibrate);
            Ok(vec![])
        }
        fn decide(
            &mut self,
            interval: &[SampleMeta],
            _: &mut Context<'_>,
        ) -> Result<Outcome, String> {
            let sum: i64 = interval.iter().map(|s| s.label).sum();
            Ok((sum % 2 == 1, "odd".into(), vec![("sum".into(), sum as f64)]))
        }
        fn needs_models(&self) -> bool {
            self.models
        }
    }

    fn stream(labels: &[i64]) -> Vec<SampleMeta> {
        labels
            .iter()
            .enumerate()
            .map(|(i, &label)| SampleMeta {
                time: i as u64 / 2,
                key: i as u64,
                label,
            })
            .collect()
    }

    #[test]
    fn first_interval_fires_then_the_policy_decides_at_interval_ends() {
        // Intervals of 3: [1 0 0] first (fires), [1 1 0] even, [0 0 1] odd, [1 ..] partial.
        let s = stream(&[1, 0, 0, 1, 1, 0, 0, 0, 1, 1]);
        let mut p = Batched::new(
            OddLabels {
                warmups: vec![],
                models: false,
            },
            3,
            None,
        );
        assert_eq!(fire_in_batches(&mut p, &s, &[]), [3, 9]);
        assert_eq!(p.policy().warmups, [false]);
    }

    #[test]
    fn warmup_policy_decides_the_first_intervals_then_calibrates() {
        let s = stream(&[1; 12]);
        let warmup = Warmup {
            intervals: 3,
            policy: Box::new(DataAmount::new(4)),
        };
        let mut p = Batched::new(
            OddLabels {
                warmups: vec![],
                models: false,
            },
            2,
            Some(warmup),
        );
        // Intervals of 2: #0 first (fires), #1 amount fires at its 4th sample (fires),
        // #2 no amount fire, calibrate; then the policy: sums are even, never fires.
        assert_eq!(fire_in_batches(&mut p, &s, &[]), [2, 4]);
        assert_eq!(p.policy().warmups, [false, false, true]);
    }

    proptest! {
        #[test]
        fn batching_does_not_change_decisions(
            labels in proptest::collection::vec(0i64..3, 0..120),
            every in 1usize..9,
            models in any::<bool>(),
            cuts in proptest::collection::vec(0usize..120, 0..12),
        ) {
            let s = stream(&labels);
            let new = || Batched::new(OddLabels { warmups: vec![], models }, every, None);
            let whole = fire_in_batches(&mut new(), &s, &[]);
            prop_assert_eq!(&fire_in_batches(&mut new(), &s, &cuts), &whole);
            // Oracle: interval ends where the first one or an odd sum is.
            let want: Vec<usize> = s
                .chunks_exact(every)
                .enumerate()
                .filter(|(i, c)| *i == 0 || c.iter().map(|m| m.label).sum::<i64>() % 2 == 1)
                .map(|(i, _)| (i + 1) * every)
                .collect();
            prop_assert_eq!(whole, want);
        }
    }
}
