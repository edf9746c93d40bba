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
//! not, is reported as a [`Decision`] with its numbers. A checkpoint holds the partial interval,
//! whether the first interval was decided, the warm-up intervals left with the warm-up policy's
//! state, and the wrapped policy's state ([`IntervalPolicy::save`]).

use serde::{Deserialize, Serialize};

use super::policy::{
    Context, Decision, Details, Fire, ModelInfo, State, TriggerPolicy, from_state, restore_nothing,
    to_state,
};

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

    /// As [`TriggerPolicy::save`]: everything later decisions depend on (`Null`: nothing).
    fn save(&self) -> State {
        State::Null
    }

    /// As [`TriggerPolicy::restore`].
    fn restore(&mut self, state: State) -> Result<(), String> {
        restore_nothing(self.name(), state)
    }
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

/// What a checkpoint holds of a [`Batched`] policy.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchedState {
    /// The samples of the interval not yet complete.
    partial: Vec<SampleMeta>,
    triggered_once: bool,
    /// The warm-up, while it lasts.
    warmup: Option<WarmupState>,
    /// The wrapped policy's.
    policy: State,
}

/// A warm-up in progress.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarmupState {
    /// Intervals it still decides.
    intervals: usize,
    /// The warm-up policy's.
    policy: State,
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
                // The warm-up policy stops at each of its fires: hand it the rest each time.
                let mut done = 0;
                while done < interval.len() {
                    let before = fired.len();
                    let used = w.policy.inform(&interval[done..], &mut inner, &mut fired)?;
                    done += used;
                    if used == 0 && fired.len() == before {
                        break;
                    }
                }
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
                return Ok(used);
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

    fn save(&self) -> State {
        to_state(&BatchedState {
            partial: self.partial.clone(),
            triggered_once: self.triggered_once,
            warmup: self.warmup.as_ref().map(|w| WarmupState {
                intervals: w.intervals,
                policy: w.policy.save(),
            }),
            policy: self.policy.save(),
        })
    }

    fn restore(&mut self, state: State) -> Result<(), String> {
        let state: BatchedState = from_state(&self.name, state)?;
        if state.partial.len() >= self.every {
            return Err(format!(
                "{}: checkpoint has a partial interval of {} samples, but intervals have {}",
                self.name,
                state.partial.len(),
                self.every
            ));
        }
        match (state.warmup, &mut self.warmup) {
            (None, w) => *w = None,
            (Some(saved), Some(w)) => {
                if saved.intervals == 0 || saved.intervals > w.intervals {
                    return Err(format!(
                        "{}: checkpoint has {} warm-up intervals left, the configuration {}",
                        self.name, saved.intervals, w.intervals
                    ));
                }
                w.intervals = saved.intervals;
                w.policy
                    .restore(saved.policy)
                    .map_err(|e| format!("{}: warm-up: {e}", self.name))?;
            }
            (Some(_), None) => {
                return Err(format!(
                    "{}: checkpoint is in a warm-up, but the configuration has none",
                    self.name
                ));
            }
        }
        self.partial = state.partial;
        self.triggered_once = state.triggered_once;
        self.policy.restore(state.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triggers::policy::{
        assert_refuses_wrong_states, assert_resumes_at_every_fire, fire_in_batches, no_model,
    };
    use crate::triggers::{DataAmount, NoProbe, TimeTrigger};
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

    /// Fires when the label sum since the last trigger reaches `limit` (warm-up intervals
    /// count too); state: that sum.
    struct Running {
        limit: i64,
        sum: i64,
        models: bool,
    }

    #[derive(Serialize, Deserialize)]
    struct RunningState {
        sum: i64,
    }

    impl IntervalPolicy for Running {
        fn name(&self) -> &str {
            "Running"
        }
        fn warmup(
            &mut self,
            interval: &[SampleMeta],
            _: bool,
            _: &mut Context<'_>,
        ) -> Result<Details, String> {
            self.sum += interval.iter().map(|s| s.label).sum::<i64>();
            Ok(vec![("sum".into(), self.sum as f64)])
        }
        fn decide(
            &mut self,
            interval: &[SampleMeta],
            _: &mut Context<'_>,
        ) -> Result<Outcome, String> {
            self.sum += interval.iter().map(|s| s.label).sum::<i64>();
            let details = vec![("sum".into(), self.sum as f64)];
            Ok((self.sum >= self.limit, "sum".into(), details))
        }
        fn needs_models(&self) -> bool {
            self.models
        }
        fn on_trigger(&mut self) {
            self.sum = 0;
        }
        fn save(&self) -> State {
            to_state(&RunningState { sum: self.sum })
        }
        fn restore(&mut self, state: State) -> Result<(), String> {
            self.sum = from_state::<RunningState>("Running", state)?.sum;
            Ok(())
        }
    }

    /// A batched [`Running`] policy, with a warm-up of `warmup.1` intervals decided by an
    /// amount (`warmup.0`, every 5 samples) or a time policy (every 3 ms).
    fn running(
        limit: i64,
        models: bool,
        every: usize,
        warmup: Option<(bool, usize)>,
    ) -> Batched<Running> {
        let warmup = warmup.map(|(amount, intervals)| Warmup {
            intervals,
            policy: if amount {
                Box::new(DataAmount::new(5)) as Box<dyn TriggerPolicy>
            } else {
                Box::new(TimeTrigger::new(3, None, "3ms"))
            },
        });
        let policy = Running {
            limit,
            sum: 0,
            models,
        };
        Batched::new(policy, every, warmup)
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

        #[test]
        fn resumes_from_a_checkpoint_at_every_fire(
            labels in proptest::collection::vec(0i64..3, 0..100),
            limit in 1i64..12,
            every in 1usize..9,
            models in any::<bool>(),
            warmup in proptest::option::of((any::<bool>(), 1usize..6)),
            cuts in proptest::collection::vec(0usize..100, 0..8),
            resume_cuts in proptest::collection::vec(0usize..100, 0..8),
        ) {
            let s = stream(&labels);
            let new = || running(limit, models, every, warmup);
            let fires = fire_in_batches(&mut new(), &s, &[]);
            let saves =
                assert_resumes_at_every_fire(new, &mut NoProbe, &s, &cuts, &resume_cuts, &no_model);
            prop_assert_eq!(saves, fires.len());
        }
    }

    #[test]
    fn resumes_in_and_after_the_warm_up() {
        // Intervals of 2 with labels 1: the warm-up (amount 5, or time 3 ms at 2 samples per
        // ms) decides 4 intervals, then a sum of 3 fires every other interval.
        let s = stream(&[1; 40]);
        for amount in [true, false] {
            let new = || running(3, false, 2, Some((amount, 4)));
            let saves =
                assert_resumes_at_every_fire(new, &mut NoProbe, &s, &[3, 11], &[5], &no_model);
            assert!(saves >= 10, "{saves} save points");
        }
    }

    #[test]
    fn refuses_states_that_do_not_fit() {
        assert_refuses_wrong_states(running(3, false, 2, Some((true, 4))));
        assert_refuses_wrong_states(running(3, false, 2, None));
        // A warm-up the configuration does not have, a longer one, an interval too long.
        let mut warm = running(3, false, 2, Some((true, 4)));
        let mut decisions = Vec::new();
        let mut ctx = Context {
            probe: &mut NoProbe,
            decisions: &mut decisions,
        };
        let s = stream(&[1; 3]);
        // The first interval fires; the third sample starts the next.
        assert_eq!(warm.inform(&s, &mut ctx, &mut Vec::new()).unwrap(), 2);
        assert_eq!(warm.inform(&s[2..], &mut ctx, &mut Vec::new()).unwrap(), 1);
        let state = warm.save();
        let got = running(3, false, 2, None).restore(state.clone());
        assert!(got.unwrap_err().contains("has none"));
        let got = running(3, false, 2, Some((true, 2))).restore(state.clone());
        assert!(got.unwrap_err().contains("warm-up intervals"));
        let got = running(3, false, 1, Some((true, 4))).restore(state.clone());
        assert!(got.unwrap_err().contains("partial interval"));
        // A warm-up policy's state that does not fit is named.
        let mut wrong = state;
        wrong["warmup"]["policy"] = serde_json::json!({"next": 3});
        let got = running(3, false, 2, Some((true, 4))).restore(wrong);
        assert!(got.unwrap_err().starts_with("Running: warm-up: DataAmount"));
    }
}
