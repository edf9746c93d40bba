//! `cost`: fire when what not training costs exceeds what training would cost (Modyn's
//! `CostTrigger`, `DataIncorporationLatencyCostTrigger`, `AvoidableMisclassificationCostTrigger`),
//! decided every `evaluation_interval_data_points` samples by [`Batched`](super::Batched).
//!
//! - Training cost: a ridge regression (α = 1, as sklearn's `Ridge()`) of measured training
//!   seconds on training-set size, fitted on the last `cost_tracking_window_size` triggers
//!   (reported with each model); the forecast is for the samples not yet trained on.
//! - Regret, as an area under a curve over event time (seconds), reset at each trigger:
//!   - `incorporation_latency`: unincorporated samples over time; each new sample adds the time
//!     from its arrival to the interval's end, each older one the whole interval;
//!   - `avoidable_misclassification_latency`: avoidable misclassifications (as the performance
//!     trigger estimates them, per interval) over time, each interval's new ones counted for
//!     half its length.
//! - Decision: `regret × conversion_factor ≥ forecast training seconds`. The factor converts
//!   regret into training seconds (`incorporation_delay_per_training_second`,
//!   `avoidable_misclassification_latency_per_training_second` in Modyn).
//!
//! Training times are wall-clock measurements, so unlike the other policies a cost trigger's
//! decisions vary with machine load; everything else about them is deterministic.
//!
//! Checkpoints hold the training-time measurements, the regret (current and cumulated), the
//! samples not yet trained on, the end of the previous interval and the evaluator's state.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::batched::{IntervalPolicy, Outcome};
use super::performance::{Evaluator, EvaluatorState};
use super::policy::Details;
use super::policy::{Context, ModelInfo, State, from_state, to_state};
use crate::sample::{SampleMeta, Time};

/// What regret a cost trigger weighs.
#[derive(Clone, Debug, PartialEq)]
pub enum Regret {
    /// Samples waiting to be trained on, integrated over time.
    IncorporationLatency,
    /// Avoidable misclassifications integrated over time.
    AvoidableMisclassificationLatency {
        /// Expected accuracy (`None`: forecast from post-trigger evaluations).
        expected_accuracy: Option<f64>,
        /// Let better-than-expected intervals reduce the count.
        allow_reduction: bool,
        /// Forecasting method of the expected accuracy.
        forecast: super::Forecast,
    },
}

/// A cost trigger's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct CostConfig {
    /// The regret.
    pub regret: Regret,
    /// Regret units per training second.
    pub conversion_factor: f64,
    /// Triggers whose training times the regression uses.
    pub window: usize,
}

/// The cost policy (wrap it in [`Batched`](super::Batched)).
pub struct Cost {
    config: CostConfig,
    /// (training-set size, training seconds) of recent triggers.
    measurements: VecDeque<(f64, f64)>,
    current_regret: f64,
    cumulative: f64,
    unincorporated: u64,
    previous_end: Option<Time>,
    evaluator: Evaluator,
}

/// What a checkpoint holds of a [`Cost`] policy.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CostState {
    measurements: VecDeque<(f64, f64)>,
    current_regret: f64,
    cumulative: f64,
    unincorporated: u64,
    previous_end: Option<Time>,
    evaluator: EvaluatorState,
}

impl Cost {
    /// A cost policy.
    pub fn new(config: CostConfig) -> Self {
        Self {
            config,
            measurements: VecDeque::new(),
            current_regret: 0.0,
            cumulative: 0.0,
            unincorporated: 0,
            previous_end: None,
            evaluator: Evaluator::new(10),
        }
    }

    /// Forecast training seconds for `samples` (`None` before any measurement).
    pub fn forecast_training_s(&self, samples: f64) -> Option<f64> {
        let n = self.measurements.len() as f64;
        if n == 0.0 {
            return None;
        }
        let xm = self.measurements.iter().map(|m| m.0).sum::<f64>() / n;
        let ym = self.measurements.iter().map(|m| m.1).sum::<f64>() / n;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (x, y) in &self.measurements {
            sxy += (x - xm) * (y - ym);
            sxx += (x - xm) * (x - xm);
        }
        let slope = sxy / (sxx + 1.0);
        Some(ym + slope * (samples - xm))
    }

    /// Updates the regret with `interval`; returns the interval's numbers.
    fn account(
        &mut self,
        interval: &[SampleMeta],
        ctx: &mut Context<'_>,
    ) -> Result<Details, String> {
        let (Some(first), Some(last)) = (interval.first(), interval.last()) else {
            return Ok(Vec::new());
        };
        let start = self.previous_end.unwrap_or(first.time);
        let duration = (last.time - start) as f64 / 1000.0;
        self.previous_end = Some(last.time);
        self.unincorporated += interval.len() as u64;
        let mut details = Vec::new();
        match &self.config.regret {
            Regret::IncorporationLatency => {
                let new_latency: f64 = interval
                    .iter()
                    .map(|s| (last.time - s.time) as f64 / 1000.0)
                    .sum();
                self.cumulative += self.current_regret * duration + new_latency;
                self.current_regret += interval.len() as f64;
            }
            Regret::AvoidableMisclassificationLatency {
                expected_accuracy,
                allow_reduction,
                forecast,
            } => {
                let (expected_accuracy, allow_reduction, forecast) =
                    (*expected_accuracy, *allow_reduction, *forecast);
                if let Some((n, wrong)) = self.evaluator.evaluate(interval, ctx)? {
                    let expected = expected_accuracy
                        .unwrap_or_else(|| self.evaluator.expected_accuracy(forecast));
                    let mut new = wrong as f64 - (1.0 - expected) * n as f64;
                    if new < 0.0 && !allow_reduction {
                        new = 0.0;
                    }
                    self.cumulative += self.current_regret * duration + new * duration / 2.0;
                    self.current_regret += new;
                    details.push(("accuracy".into(), 1.0 - wrong as f64 / n.max(1) as f64));
                    details.push(("expected_accuracy".into(), expected));
                    details.push(("avoidable_misclassifications".into(), new));
                }
            }
        }
        details.push(("regret".into(), self.cumulative));
        details.push((
            "regret_in_training_s".into(),
            self.cumulative * self.config.conversion_factor,
        ));
        details.push(("unincorporated_samples".into(), self.unincorporated as f64));
        Ok(details)
    }
}

impl IntervalPolicy for Cost {
    fn name(&self) -> &str {
        "Cost"
    }

    fn warmup(
        &mut self,
        interval: &[SampleMeta],
        _calibrate: bool,
        ctx: &mut Context<'_>,
    ) -> Result<Details, String> {
        self.account(interval, ctx)
    }

    fn decide(
        &mut self,
        interval: &[SampleMeta],
        ctx: &mut Context<'_>,
    ) -> Result<Outcome, String> {
        let mut details = self.account(interval, ctx)?;
        let regret_s = self.cumulative * self.config.conversion_factor;
        let Some(train_s) = self.forecast_training_s(self.unincorporated as f64) else {
            return Ok((false, String::new(), details));
        };
        details.push(("training_s_forecast".into(), train_s));
        let fire = regret_s >= train_s;
        let reason = format!(
            "regret {regret_s:.3} training-s >= forecast training time {train_s:.3} s for {} samples",
            self.unincorporated
        );
        Ok((fire, reason, details))
    }

    fn needs_models(&self) -> bool {
        true
    }

    fn inform_model(&mut self, model: &ModelInfo) {
        self.unincorporated = 0;
        if model.samples > 0 {
            if self.measurements.len() == self.config.window {
                self.measurements.pop_front();
            }
            self.measurements
                .push_back((model.samples as f64, model.training_s));
        }
        self.evaluator.inform_model(model);
    }

    fn on_trigger(&mut self) {
        self.current_regret = 0.0;
        self.cumulative = 0.0;
    }

    fn save(&self) -> State {
        to_state(&CostState {
            measurements: self.measurements.clone(),
            current_regret: self.current_regret,
            cumulative: self.cumulative,
            unincorporated: self.unincorporated,
            previous_end: self.previous_end,
            evaluator: self.evaluator.save(),
        })
    }

    fn restore(&mut self, state: State) -> Result<(), String> {
        let state: CostState = from_state(self.name(), state)?;
        if state.measurements.len() > self.config.window {
            return Err(format!(
                "Cost: checkpoint has {} training times, the configuration keeps {}",
                state.measurements.len(),
                self.config.window
            ));
        }
        self.evaluator
            .restore(state.evaluator)
            .map_err(|e| format!("Cost: {e}"))?;
        self.measurements = state.measurements;
        self.current_regret = state.current_regret;
        self.cumulative = state.cumulative;
        self.unincorporated = state.unincorporated;
        self.previous_end = state.previous_end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Position;
    use crate::drift::Vectors;
    use crate::sample::{Key, route};
    use crate::triggers::policy::{
        Decision, NoProbe, Probe, TriggerPolicy, assert_refuses_wrong_states,
        assert_resumes_at_every_fire,
    };
    use crate::triggers::{Batched, DataAmount, Forecast, Warmup};
    use proptest::prelude::*;

    fn stream(n: u64, gap_ms: u64) -> Vec<SampleMeta> {
        (0..n)
            .map(|k| SampleMeta {
                time: k * gap_ms,
                key: k,
                label: 0,
            })
            .collect()
    }

    #[test]
    fn incorporation_latency_regret_is_the_area_under_waiting_samples() {
        let mut c = Cost::new(CostConfig {
            regret: Regret::IncorporationLatency,
            conversion_factor: 1.0,
            window: 10,
        });
        let mut d = Vec::new();
        let mut ctx = Context {
            probe: &mut NoProbe,
            decisions: &mut d,
        };
        // 3 samples 1 s apart: waiting 2 + 1 + 0 sample-seconds.
        let s = stream(6, 1000);
        c.account(&s[..3], &mut ctx).unwrap();
        assert_eq!(c.cumulative, 3.0);
        // Next 3 (interval from 2 s to 5 s): old 3 wait 3 s each, new ones 2 + 1 + 0.
        c.account(&s[3..], &mut ctx).unwrap();
        assert_eq!(c.cumulative, 3.0 + 9.0 + 3.0);
    }

    #[test]
    fn fires_when_regret_outweighs_the_forecast_training_time() {
        let config = CostConfig {
            regret: Regret::IncorporationLatency,
            conversion_factor: 0.01,
            window: 10,
        };
        let mut p = Batched::new(Cost::new(config), 10, None);
        let s = stream(100, 1000);
        let mut decisions: Vec<Decision> = Vec::new();
        let mut fires = Vec::new();
        let mut start = 0;
        while start < s.len() {
            let mut fired = Vec::new();
            let mut ctx = Context {
                probe: &mut NoProbe,
                decisions: &mut decisions,
            };
            let used = p.inform(&s[start..], &mut ctx, &mut fired).unwrap();
            for f in &fired {
                fires.push(start + f.count);
                // Training 10 samples takes 1 s.
                p.inform_model(&ModelInfo {
                    trigger: fires.len() as u64 - 1,
                    model: Some("m".into()),
                    samples: 10,
                    training_s: 1.0,
                });
            }
            start += used;
        }
        // The first interval fires. Then 1 training-s is forecast; the regret after one
        // interval is 45 sample-s (0.45 training-s), after two 45 + 100 + 45 = 190 (1.9): fire.
        // The pattern repeats every two intervals.
        assert_eq!(fires, [10, 30, 50, 70, 90]);
    }
    /// Labels are `key % 2`; model `m<k>` errs on a pseudo-random 30% of the keys from
    /// `shift` on (10% before), a different share for each model.
    struct Erring {
        shift: u64,
    }

    impl Probe for Erring {
        fn vectors(&mut self, _: &[Position], _: Option<&str>) -> Result<Vectors, String> {
            unreachable!()
        }
        fn predict(&mut self, at: &[Position], model: &str) -> Result<Vec<i64>, String> {
            let keys: Vec<Key> = at.iter().map(|p| p.key).collect();
            let k: u64 = model[1..].parse().expect("m<k>");
            Ok(keys
                .iter()
                .map(|&key| {
                    let rate = if key < self.shift { 10 } else { 30 };
                    (key % 2) as i64 ^ i64::from(route(key * 17 + k) % 100 < rate)
                })
                .collect())
        }
    }

    /// Model `m<trigger>`; training takes 0.05 s per sample plus 0.5 s (a wobble per trigger).
    fn trained(trigger: u64, samples: u64) -> ModelInfo {
        ModelInfo {
            trigger,
            model: Some(format!("m{trigger}")),
            samples,
            training_s: 0.5 + 0.05 * samples as f64 + (trigger % 3) as f64 * 0.1,
        }
    }

    fn cost(regret: usize, factor: f64, warmup: usize, every: usize) -> Batched<Cost> {
        let regret = match regret {
            0 => Regret::IncorporationLatency,
            r => Regret::AvoidableMisclassificationLatency {
                expected_accuracy: (r == 1).then_some(0.95),
                allow_reduction: r == 2,
                forecast: if r == 2 {
                    Forecast::Ridge
                } else {
                    Forecast::RollingAverage
                },
            },
        };
        let config = CostConfig {
            regret,
            conversion_factor: factor,
            window: 3,
        };
        let warmup = (warmup > 0).then(|| Warmup {
            intervals: warmup,
            policy: Box::new(DataAmount::new(2 * every as u64)) as Box<dyn TriggerPolicy>,
        });
        Batched::new(Cost::new(config), every, warmup)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn resumes_from_a_checkpoint_at_every_fire(
            regret in 0usize..3,
            factor in prop_oneof![Just(0.001), Just(0.05), Just(1.0)],
            warmup in 0usize..3,
            every in 3usize..12,
            gaps in proptest::collection::vec(0u64..3000, 40..200),
            shift in 0u64..200,
            cuts in proptest::collection::vec(0usize..200, 0..6),
            resume_cuts in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let mut t = 0;
            let s: Vec<SampleMeta> = gaps
                .iter()
                .enumerate()
                .map(|(k, g)| {
                    t += g;
                    SampleMeta { time: t, key: k as u64, label: k as i64 % 2 }
                })
                .collect();
            let new = || cost(regret, factor, warmup, every);
            let saves = assert_resumes_at_every_fire(
                new,
                &mut Erring { shift },
                &s,
                &cuts,
                &resume_cuts,
                &trained,
            );
            prop_assert!(saves >= 1, "the first interval fires");
        }
    }

    #[test]
    fn resumes_with_measured_training_times() {
        // As in the test above: the first interval, then every other one.
        let s = stream(100, 1000);
        let new = || cost(0, 0.01, 0, 10);
        let report = |trigger: u64, _: u64| ModelInfo {
            trigger,
            model: Some("m".into()),
            samples: 10,
            training_s: 1.0,
        };
        let saves = assert_resumes_at_every_fire(new, &mut NoProbe, &s, &[17, 55], &[3], &report);
        assert_eq!(saves, 5);
    }

    #[test]
    fn refuses_states_that_do_not_fit() {
        let s = stream(100, 1000);
        let mut p = cost(2, 0.05, 0, 10);
        let mut decisions = Vec::new();
        let mut start = 0;
        while start < s.len() {
            let mut fired = Vec::new();
            let mut ctx = Context {
                probe: &mut Erring { shift: 50 },
                decisions: &mut decisions,
            };
            start += p.inform(&s[start..], &mut ctx, &mut fired).unwrap();
            for _ in &fired {
                p.inform_model(&trained(1, 10));
            }
        }
        let state = p.save();
        assert_refuses_wrong_states(p);
        let mut wrong = state.clone();
        wrong["policy"]["measurements"] = serde_json::to_value(vec![(1.0, 1.0); 4]).unwrap();
        let got = cost(2, 0.05, 0, 10).restore(wrong);
        assert!(got.unwrap_err().contains("4 training times"));
        let mut wrong = state;
        wrong["policy"]["evaluator"]["after_trigger"] =
            serde_json::to_value(vec![0.5; 11]).unwrap();
        let got = cost(2, 0.05, 0, 10).restore(wrong);
        assert!(
            got.unwrap_err()
                .contains("Cost: checkpoint has 11 post-trigger evaluations")
        );
    }
}
