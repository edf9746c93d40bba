//! `performance`: fire when the model in service does badly on the data that just arrived
//! (Modyn's `PerformanceTrigger`, hindsight mode), decided every
//! `evaluation_interval_data_points` samples by [`Batched`](super::Batched).
//!
//! Prequential: each interval after the first is predicted by the latest trigger's model
//! (through the [`Probe`](super::Probe)) and scored against its labels before anything trains
//! on it. Trackers keep the recent data density (samples per second of event time) and the
//! evaluations: those since the last trigger, and the first one after each trigger ("how good a
//! fresh model is", the expected accuracy). Criteria (any one fires):
//! - `static_threshold`, `dynamic_quantile`, `dynamic_rolling_average` on the accuracy (lower is
//!   worse; dynamic ones learn from warm-up evaluations too);
//! - `avoidable_misclassifications`: after each evaluation add `misclassified − (1 − expected) ·
//!   n` (not below 0 unless `allow_reduction`), with `expected` given or forecast from the
//!   post-trigger accuracies (rolling average, or ridge regression over their index once 5 are
//!   known, as Modyn's `forecast_value`); fire when the sum reaches the threshold; a trigger
//!   resets it.
//!
//! State: bounded windows of evaluations and densities (`performance_triggers_window_size`,
//! `data_density_window_size`); no samples are kept beyond the current interval. Checkpoints
//! hold each criterion's state (accuracy history, or cumulated misclassifications), the
//! evaluator's (model, whether it is fresh, post-trigger accuracies), the densities and the end
//! of the previous interval.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::batched::{IntervalPolicy, Outcome};
use super::policy::Details;
use super::policy::{Context, ModelInfo, State, from_state, to_state};
use crate::drift::{Criterion, Decider};
use crate::sample::{Position, SampleMeta};

/// How a series is extrapolated one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forecast {
    /// Mean of the series.
    RollingAverage,
    /// Ridge regression (α = 0.5) of value on index, from 5 observations on.
    Ridge,
}

impl Forecast {
    /// The next value of `series` (non-empty).
    pub fn next(self, series: &[f64]) -> f64 {
        let n = series.len() as f64;
        let mean = series.iter().sum::<f64>() / n;
        if self == Forecast::RollingAverage || series.len() < 5 {
            return mean;
        }
        // sklearn Ridge(alpha=0.5) with intercept: centred least squares, penalised slope.
        let xm = (n - 1.0) / 2.0;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (i, y) in series.iter().enumerate() {
            let dx = i as f64 - xm;
            sxy += dx * (y - mean);
            sxx += dx * dx;
        }
        let slope = sxy / (sxx + 0.5);
        mean + slope * (n - xm)
    }
}

/// A performance criterion.
#[derive(Clone, Debug, PartialEq)]
pub enum PerformanceCriterion {
    /// A criterion on the accuracy (static threshold, dynamic quantile or rolling average).
    Accuracy(Criterion),
    /// Cumulated avoidable misclassifications.
    AvoidableMisclassifications {
        /// Fire when the sum reaches this.
        threshold: u64,
        /// Expected accuracy (`None`: forecast from post-trigger evaluations).
        expected_accuracy: Option<f64>,
        /// Let better-than-expected intervals reduce the sum.
        allow_reduction: bool,
    },
}

/// A performance trigger's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PerformanceConfig {
    /// Named criteria.
    pub criteria: Vec<(String, PerformanceCriterion)>,
    /// Forecasting method for expected accuracy and density.
    pub forecast: Forecast,
    /// Intervals whose density is remembered.
    pub data_density_window: usize,
    /// Post-trigger evaluations remembered.
    pub performance_window: usize,
}

enum Judge {
    Accuracy(Decider),
    Avoidable {
        threshold: u64,
        expected: Option<f64>,
        allow_reduction: bool,
        cumulated: i64,
    },
}

/// A criterion's state in a checkpoint.
#[derive(Serialize, Deserialize)]
enum JudgeState {
    /// The accuracies remembered.
    Accuracy(Vec<f64>),
    /// The avoidable misclassifications cumulated.
    Avoidable(i64),
}

/// What a checkpoint holds of an [`Evaluator`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EvaluatorState {
    model: Option<String>,
    fresh_model: bool,
    after_trigger: VecDeque<f64>,
}

/// What a checkpoint holds of a [`Performance`] policy.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerformanceState {
    /// Per criterion, in configuration order.
    judges: Vec<JudgeState>,
    evaluator: EvaluatorState,
    density: VecDeque<(usize, f64)>,
    previous_end: Option<u64>,
}

/// Scores the latest model on intervals and remembers how fresh models did (shared with the
/// avoidable-misclassification cost trigger).
pub(super) struct Evaluator {
    model: Option<String>,
    fresh_model: bool,
    /// Accuracy of the first evaluation after each trigger.
    after_trigger: VecDeque<f64>,
    window: usize,
}

impl Evaluator {
    pub(super) fn new(window: usize) -> Self {
        Self {
            model: None,
            fresh_model: false,
            after_trigger: VecDeque::new(),
            window,
        }
    }

    /// Scores the latest model on `interval`: (samples, misclassified), or `None` before any
    /// model exists.
    pub(super) fn evaluate(
        &mut self,
        interval: &[SampleMeta],
        ctx: &mut Context<'_>,
    ) -> Result<Option<(usize, usize)>, String> {
        let Some(model) = &self.model else {
            return Ok(None);
        };
        let at: Vec<Position> = interval.iter().map(SampleMeta::position).collect();
        let predicted = ctx.probe.predict(&at, model)?;
        let wrong = interval
            .iter()
            .zip(&predicted)
            .filter(|(s, p)| s.label != **p)
            .count();
        let eval = (interval.len(), wrong);
        if std::mem::take(&mut self.fresh_model) {
            if self.after_trigger.len() == self.window {
                self.after_trigger.pop_front();
            }
            self.after_trigger.push_back(accuracy(eval));
        }
        Ok(Some(eval))
    }

    /// The accuracy a fresh model is expected to have, forecast from the post-trigger ones
    /// (1 before any evaluation).
    pub(super) fn expected_accuracy(&self, forecast: Forecast) -> f64 {
        let after: Vec<f64> = self.after_trigger.iter().copied().collect();
        if after.is_empty() {
            1.0
        } else {
            forecast.next(&after)
        }
    }

    pub(super) fn inform_model(&mut self, model: &ModelInfo) {
        if model.model.is_some() && model.model != self.model {
            self.model = model.model.clone();
            self.fresh_model = true;
        }
    }

    /// Its state, for a checkpoint.
    pub(super) fn save(&self) -> EvaluatorState {
        EvaluatorState {
            model: self.model.clone(),
            fresh_model: self.fresh_model,
            after_trigger: self.after_trigger.clone(),
        }
    }

    /// Restores what [`save`](Self::save) returned.
    pub(super) fn restore(&mut self, state: EvaluatorState) -> Result<(), String> {
        if state.after_trigger.len() > self.window {
            return Err(format!(
                "checkpoint has {} post-trigger evaluations, the configuration keeps {}",
                state.after_trigger.len(),
                self.window
            ));
        }
        self.model = state.model;
        self.fresh_model = state.fresh_model;
        self.after_trigger = state.after_trigger;
        Ok(())
    }
}

/// The performance policy (wrap it in [`Batched`](super::Batched)).
pub struct Performance {
    config: PerformanceConfig,
    judges: Vec<Judge>,
    evaluator: Evaluator,
    /// (samples, seconds of event time) per interval.
    density: VecDeque<(usize, f64)>,
    previous_end: Option<u64>,
}

impl Performance {
    /// A performance policy.
    pub fn new(config: PerformanceConfig) -> Self {
        let judges = config
            .criteria
            .iter()
            .map(|(_, c)| match c {
                PerformanceCriterion::Accuracy(c) => Judge::Accuracy(Decider::lower(c.clone())),
                PerformanceCriterion::AvoidableMisclassifications {
                    threshold,
                    expected_accuracy,
                    allow_reduction,
                } => Judge::Avoidable {
                    threshold: *threshold,
                    expected: *expected_accuracy,
                    allow_reduction: *allow_reduction,
                    cumulated: 0,
                },
            })
            .collect();
        Self {
            judges,
            evaluator: Evaluator::new(config.performance_window),
            config,
            density: VecDeque::new(),
            previous_end: None,
        }
    }

    fn track_density(&mut self, interval: &[SampleMeta]) {
        let (Some(first), Some(last)) = (interval.first(), interval.last()) else {
            return;
        };
        let from = self.previous_end.unwrap_or(first.time);
        if self.density.len() == self.config.data_density_window {
            self.density.pop_front();
        }
        self.density
            .push_back((interval.len(), (last.time - from) as f64 / 1000.0));
        self.previous_end = Some(last.time);
    }

    fn numbers(&self, eval: Option<(usize, usize)>) -> Vec<(String, f64)> {
        let mut d = Vec::new();
        if let Some(e) = eval {
            d.push(("accuracy".into(), accuracy(e)));
            d.push(("samples".into(), e.0 as f64));
            d.push(("misclassified".into(), e.1 as f64));
        }
        let dens: Vec<f64> = self
            .density
            .iter()
            .filter(|(_, s)| *s > 0.0)
            .map(|(n, s)| *n as f64 / s)
            .collect();
        if !dens.is_empty() {
            d.push(("density_forecast".into(), self.config.forecast.next(&dens)));
        }
        d
    }
}

fn accuracy((n, wrong): (usize, usize)) -> f64 {
    if n == 0 {
        1.0
    } else {
        1.0 - wrong as f64 / n as f64
    }
}

impl IntervalPolicy for Performance {
    fn name(&self) -> &str {
        "Performance"
    }

    fn warmup(
        &mut self,
        interval: &[SampleMeta],
        _calibrate: bool,
        ctx: &mut Context<'_>,
    ) -> Result<Details, String> {
        self.track_density(interval);
        let eval = self.evaluator.evaluate(interval, ctx)?;
        if let Some(e) = eval {
            // Dynamic criteria learn what accuracy is usual while the warm-up decides.
            for j in &mut self.judges {
                if let Judge::Accuracy(d) = j {
                    d.decide(accuracy(e), None);
                }
            }
        }
        Ok(self.numbers(eval))
    }

    fn decide(
        &mut self,
        interval: &[SampleMeta],
        ctx: &mut Context<'_>,
    ) -> Result<Outcome, String> {
        self.track_density(interval);
        let eval = self.evaluator.evaluate(interval, ctx)?;
        let mut details = self.numbers(eval);
        let Some(e) = eval else {
            return Ok((false, String::new(), details));
        };
        let acc = accuracy(e);
        let mut words = Vec::new();
        let expected_forecast = self.evaluator.expected_accuracy(self.config.forecast);
        for ((name, _), judge) in self.config.criteria.iter().zip(&mut self.judges) {
            let fired = match judge {
                Judge::Accuracy(d) => {
                    let v = d.decide(acc, None);
                    if let Some(t) = v.threshold {
                        details.push((format!("{name}.threshold"), t));
                    }
                    if v.drift {
                        words.push(match v.threshold {
                            Some(t) => format!("{name}: accuracy {acc:.4} below {t:.4}"),
                            None => format!("{name}: accuracy {acc:.4} (first)"),
                        });
                    }
                    v.drift
                }
                Judge::Avoidable {
                    threshold,
                    expected,
                    allow_reduction,
                    cumulated,
                } => {
                    let expected = expected.unwrap_or(expected_forecast);
                    let mut new = e.1 as f64 - (1.0 - expected) * e.0 as f64;
                    if new < 0.0 && !*allow_reduction {
                        new = 0.0;
                    }
                    *cumulated += new.round() as i64;
                    details.push((format!("{name}.expected_accuracy"), expected));
                    details.push((format!("{name}.cumulated"), *cumulated as f64));
                    details.push((format!("{name}.threshold"), *threshold as f64));
                    let fired = *cumulated >= *threshold as i64;
                    if fired {
                        words.push(format!(
                            "{name}: {cumulated} avoidable misclassifications >= {threshold}"
                        ));
                    }
                    fired
                }
            };
            details.push((format!("{name}.fired"), f64::from(u8::from(fired))));
        }
        let triggered = !words.is_empty();
        if triggered {
            for j in &mut self.judges {
                if let Judge::Avoidable { cumulated, .. } = j {
                    *cumulated = 0;
                }
            }
        }
        Ok((triggered, words.join("; "), details))
    }

    fn needs_models(&self) -> bool {
        true
    }

    fn inform_model(&mut self, model: &ModelInfo) {
        self.evaluator.inform_model(model);
    }

    fn save(&self) -> State {
        to_state(&PerformanceState {
            judges: self
                .judges
                .iter()
                .map(|j| match j {
                    Judge::Accuracy(d) => JudgeState::Accuracy(d.history()),
                    Judge::Avoidable { cumulated, .. } => JudgeState::Avoidable(*cumulated),
                })
                .collect(),
            evaluator: self.evaluator.save(),
            density: self.density.clone(),
            previous_end: self.previous_end,
        })
    }

    fn restore(&mut self, state: State) -> Result<(), String> {
        let state: PerformanceState = from_state(self.name(), state)?;
        if state.judges.len() != self.judges.len() {
            return Err(format!(
                "Performance: checkpoint has {} criteria, the configuration {}",
                state.judges.len(),
                self.judges.len()
            ));
        }
        if state.density.len() > self.config.data_density_window {
            return Err(format!(
                "Performance: checkpoint has {} densities, the configuration keeps {}",
                state.density.len(),
                self.config.data_density_window
            ));
        }
        for ((judge, saved), (name, _)) in self
            .judges
            .iter_mut()
            .zip(state.judges)
            .zip(&self.config.criteria)
        {
            match (judge, saved) {
                (Judge::Accuracy(d), JudgeState::Accuracy(history)) => d
                    .set_history(history)
                    .map_err(|e| format!("Performance: criterion {name}: {e}"))?,
                (Judge::Avoidable { cumulated, .. }, JudgeState::Avoidable(c)) => *cumulated = c,
                _ => {
                    return Err(format!(
                        "Performance: criterion {name}: checkpoint has another kind of criterion"
                    ));
                }
            }
        }
        self.evaluator
            .restore(state.evaluator)
            .map_err(|e| format!("Performance: {e}"))?;
        self.density = state.density;
        self.previous_end = state.previous_end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;
    use crate::drift::Vectors;
    use crate::sample::route;
    use crate::triggers::policy::{
        Probe, TriggerPolicy, assert_refuses_wrong_states, assert_resumes_at_every_fire,
        fire_in_batches_with, no_model,
    };
    use crate::triggers::{Batched, DataAmount, Warmup};
    use proptest::prelude::*;

    /// Predicts class 0 for keys below `wrong_from`, class 1 from there on; labels are all 0.
    struct Oracle {
        wrong_from: u64,
    }

    impl Probe for Oracle {
        fn vectors(&mut self, _: &[Position], _: Option<&str>) -> Result<Vectors, String> {
            unreachable!()
        }
        fn predict(&mut self, at: &[Position], model: &str) -> Result<Vec<i64>, String> {
            let keys: Vec<Key> = at.iter().map(|p| p.key).collect();
            assert_eq!(model, "m");
            Ok(keys
                .iter()
                .map(|k| i64::from(*k >= self.wrong_from))
                .collect())
        }
    }

    struct Named<P>(P);

    impl<P: super::super::TriggerPolicy> super::super::TriggerPolicy for Named<P> {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn inform(
            &mut self,
            b: &[SampleMeta],
            c: &mut Context<'_>,
            f: &mut Vec<super::super::Fire>,
        ) -> Result<usize, String> {
            self.0.inform(b, c, f)
        }
        fn needs_models(&self) -> bool {
            true
        }
        fn inform_model(&mut self, _: &ModelInfo) {
            self.0.inform_model(&ModelInfo {
                trigger: 0,
                model: Some("m".into()),
                samples: 0,
                training_s: 0.0,
            });
        }
    }

    fn stream(n: u64) -> Vec<SampleMeta> {
        (0..n)
            .map(|k| SampleMeta {
                time: k * 1000,
                key: k,
                label: 0,
            })
            .collect()
    }

    #[test]
    fn static_threshold_fires_when_the_model_starts_failing() {
        let config = PerformanceConfig {
            criteria: vec![(
                "acc".into(),
                PerformanceCriterion::Accuracy(Criterion::Threshold(0.7)),
            )],
            forecast: Forecast::RollingAverage,
            data_density_window: 20,
            performance_window: 10,
        };
        let mut p = Named(Batched::new(Performance::new(config), 10, None));
        // First interval fires; from key 45 on, predictions go wrong: interval [40, 50) has
        // accuracy 0.5, [50, 60) 0.
        let fires = fire_in_batches_with(
            &mut p,
            &mut Oracle { wrong_from: 45 },
            &stream(70),
            &[7, 33],
        );
        assert_eq!(fires, [10, 50, 60, 70]);
    }

    #[test]
    fn avoidable_misclassifications_accumulate_against_the_expected_accuracy() {
        let config = PerformanceConfig {
            criteria: vec![(
                "avoid".into(),
                PerformanceCriterion::AvoidableMisclassifications {
                    threshold: 12,
                    expected_accuracy: Some(0.9),
                    allow_reduction: false,
                },
            )],
            forecast: Forecast::Ridge,
            data_density_window: 20,
            performance_window: 10,
        };
        let mut p = Named(Batched::new(Performance::new(config), 10, None));
        // Intervals of 10 from key 45 on: [40,50) 5 wrong, 1 expected: +4; [50,60) +9 → 13.
        let fires = fire_in_batches_with(&mut p, &mut Oracle { wrong_from: 45 }, &stream(60), &[]);
        assert_eq!(fires, [10, 60]);
    }

    #[test]
    fn ridge_forecast_matches_sklearn() {
        // sklearn: Ridge(alpha=0.5).fit([[0],[1],[2],[3],[4]], [1, 2, 2, 4, 5]).predict([[5]])
        // = 5.4 (slope 10/10.5 = 0.952381, intercept 2.8 - 2*0.952381)
        let v = Forecast::Ridge.next(&[1.0, 2.0, 2.0, 4.0, 5.0]);
        assert!((v - (2.8 + 3.0 * 10.0 / 10.5)).abs() < 1e-12, "{v}");
        assert_eq!(Forecast::Ridge.next(&[1.0, 3.0]), 2.0);
    }
    /// Labels are `key % 2`; model `m<k>` errs on a pseudo-random share of the keys: 10% in
    /// even segments of `segment` keys, 60% in odd ones (a different share for each model).
    struct Erring {
        segment: u64,
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
                    let rate = if (key / self.segment).is_multiple_of(2) {
                        10
                    } else {
                        60
                    };
                    let wrong = route(key * 31 + k) % 100 < rate;
                    (key % 2) as i64 ^ i64::from(wrong)
                })
                .collect())
        }
    }

    fn model_named(trigger: u64, samples: u64) -> ModelInfo {
        ModelInfo {
            model: Some(format!("m{trigger}")),
            ..no_model(trigger, samples)
        }
    }

    /// Criteria sets: static and forecast; dynamic and given expectations.
    fn criteria(set: usize) -> Vec<(String, PerformanceCriterion)> {
        let avoidable = |threshold, expected_accuracy, allow_reduction| {
            PerformanceCriterion::AvoidableMisclassifications {
                threshold,
                expected_accuracy,
                allow_reduction,
            }
        };
        match set {
            0 => vec![
                (
                    "acc".into(),
                    PerformanceCriterion::Accuracy(Criterion::Threshold(0.6)),
                ),
                ("avoid".into(), avoidable(6, None, true)),
            ],
            _ => vec![
                (
                    "q".into(),
                    PerformanceCriterion::Accuracy(Criterion::DynamicQuantile {
                        window: 3,
                        quantile: 0.2,
                    }),
                ),
                (
                    "r".into(),
                    PerformanceCriterion::Accuracy(Criterion::DynamicRollingAverage {
                        window: 4,
                        deviation: 0.2,
                        absolute: false,
                    }),
                ),
                ("avoid".into(), avoidable(4, Some(0.85), false)),
                ("forecast".into(), avoidable(9, None, false)),
            ],
        }
    }

    fn performance(
        set: usize,
        forecast: Forecast,
        warmup: usize,
        every: usize,
    ) -> impl TriggerPolicy {
        let config = PerformanceConfig {
            criteria: criteria(set),
            forecast,
            data_density_window: 3,
            performance_window: 4,
        };
        let warmup = (warmup > 0).then(|| Warmup {
            intervals: warmup,
            policy: Box::new(DataAmount::new(2 * every as u64)) as Box<dyn TriggerPolicy>,
        });
        Batched::new(Performance::new(config), every, warmup)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn resumes_from_a_checkpoint_at_every_fire(
            set in 0usize..2,
            ridge in any::<bool>(),
            warmup in 0usize..4,
            every in 3usize..12,
            gaps in proptest::collection::vec(0u64..1500, 40..240),
            segment in 15u64..60,
            cuts in proptest::collection::vec(0usize..240, 0..6),
            resume_cuts in proptest::collection::vec(0usize..240, 0..6),
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
            let forecast = if ridge { Forecast::Ridge } else { Forecast::RollingAverage };
            let new = || performance(set, forecast, warmup, every);
            let saves = assert_resumes_at_every_fire(
                new,
                &mut Erring { segment },
                &s,
                &cuts,
                &resume_cuts,
                &model_named,
            );
            prop_assert!(saves >= 1, "the first interval fires");
        }
    }

    #[test]
    fn refuses_states_that_do_not_fit() {
        let s = stream(200);
        let run = |set, warmup| {
            let mut p = performance(set, Forecast::Ridge, warmup, 10);
            fire_in_batches_with(&mut p, &mut Erring { segment: 30 }, &s, &[]);
            p
        };
        assert_refuses_wrong_states(run(1, 2));
        // Another criteria set: other kinds, or their number.
        let state = run(1, 2).save();
        let got = performance(0, Forecast::Ridge, 2, 10).restore(state.clone());
        assert!(got.unwrap_err().contains("4 criteria, the configuration 2"));
        let mut wrong = state.clone();
        wrong["policy"]["judges"][0] = serde_json::json!({"Avoidable": 3});
        let got = performance(1, Forecast::Ridge, 2, 10).restore(wrong);
        assert!(
            got.unwrap_err()
                .contains("criterion q: checkpoint has another kind")
        );
        let mut wrong = state;
        wrong["policy"]["density"] = serde_json::json!([[1, 1.0], [1, 1.0], [1, 1.0], [1, 1.0]]);
        let got = performance(1, Forecast::Ridge, 2, 10).restore(wrong);
        assert!(got.unwrap_err().contains("4 densities"));
    }
}
