//! Decision criteria: turn a metric's series into trigger decisions (Modyn's
//! `utils/decision_policy.py`). Drift distances fire when *higher* than usual, performance
//! metrics (accuracy) when *lower*.

use std::collections::VecDeque;

/// How a metric's distance becomes a decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Criterion {
    /// Drift iff distance ≥ `threshold`.
    Threshold(f64),
    /// Drift iff distance > the linear `1 - quantile` quantile of the last `window` distances
    /// (the first distance seen is drift).
    DynamicQuantile {
        /// Distances remembered.
        window: usize,
        /// Extremeness, e.g. 0.05 = the top 5%.
        quantile: f64,
    },
    /// Drift iff distance − mean(last `window` distances) ≥ `deviation` (absolute) or
    /// ≥ `deviation` · mean (relative); the first distance seen is drift.
    DynamicRollingAverage {
        /// Distances remembered.
        window: usize,
        /// Allowed deviation.
        deviation: f64,
        /// `deviation` is absolute, not relative to the mean.
        absolute: bool,
    },
    /// Drift iff the metric's own hypothesis test rejects at level `alpha` (MMD with
    /// permutations; KS with its multiple-testing correction).
    PValue(f64),
}

impl Criterion {
    /// True for criteria that learn their threshold from past distances (seeded in warm-up).
    pub fn is_dynamic(&self) -> bool {
        matches!(
            self,
            Criterion::DynamicQuantile { .. } | Criterion::DynamicRollingAverage { .. }
        )
    }
}

/// A criterion with its history of measurements.
#[derive(Clone, Debug)]
pub struct Decider {
    criterion: Criterion,
    /// Higher values are worse (distances); otherwise lower ones are (accuracy).
    higher: bool,
    history: VecDeque<f64>,
}

/// One decision: drift or not, and the threshold the distance was held against.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// Drift detected.
    pub drift: bool,
    /// The threshold in force (`None` for the first dynamic decision, which always drifts,
    /// and for p-value criteria).
    pub threshold: Option<f64>,
}

impl Decider {
    /// A fresh decider for distances (higher means drift).
    pub fn new(criterion: Criterion) -> Self {
        Self {
            criterion,
            higher: true,
            history: VecDeque::new(),
        }
    }

    /// A fresh decider for a performance metric (lower means trouble).
    pub fn lower(criterion: Criterion) -> Self {
        Self {
            higher: false,
            ..Self::new(criterion)
        }
    }

    /// Decides on `distance` (and the metric's test result, for [`Criterion::PValue`]) and
    /// remembers it, as Modyn's `evaluate_decision` does (calibration calls this too).
    pub fn decide(&mut self, distance: f64, test_drift: Option<bool>) -> Verdict {
        // Work on "badness": distances as they are, performance negated.
        let sign = if self.higher { 1.0 } else { -1.0 };
        let bad = sign * distance;
        match self.criterion {
            Criterion::Threshold(t) => Verdict {
                drift: bad >= sign * t,
                threshold: Some(t),
            },
            Criterion::PValue(_) => Verdict {
                drift: test_drift.unwrap_or(false),
                threshold: None,
            },
            Criterion::DynamicQuantile { window, quantile } => {
                let v = if self.history.is_empty() {
                    Verdict {
                        drift: true,
                        threshold: None,
                    }
                } else {
                    let q = if self.higher {
                        1.0 - quantile
                    } else {
                        quantile
                    };
                    let t = linear_quantile(self.history.iter().copied(), q);
                    Verdict {
                        drift: bad > sign * t,
                        threshold: Some(t),
                    }
                };
                self.remember(distance, window);
                v
            }
            Criterion::DynamicRollingAverage {
                window,
                deviation,
                absolute,
            } => {
                let v = if self.history.is_empty() {
                    Verdict {
                        drift: true,
                        threshold: None,
                    }
                } else {
                    let mean = self.history.iter().sum::<f64>() / self.history.len() as f64;
                    let allowed = if absolute {
                        deviation
                    } else {
                        deviation * mean
                    };
                    Verdict {
                        drift: bad - sign * mean >= allowed,
                        threshold: Some(mean + sign * allowed),
                    }
                };
                self.remember(distance, window);
                v
            }
        }
    }

    /// The measurements remembered, oldest first (for a checkpoint).
    pub(crate) fn history(&self) -> Vec<f64> {
        self.history.iter().copied().collect()
    }

    /// Restores what [`history`](Self::history) returned; an error if the criterion could not
    /// have remembered that many.
    pub(crate) fn set_history(&mut self, history: Vec<f64>) -> Result<(), String> {
        let window = match self.criterion {
            Criterion::DynamicQuantile { window, .. }
            | Criterion::DynamicRollingAverage { window, .. } => window,
            Criterion::Threshold(_) | Criterion::PValue(_) => 0,
        };
        if history.len() > window {
            return Err(format!(
                "{} measurements remembered, but the criterion keeps {window}",
                history.len()
            ));
        }
        self.history = history.into();
        Ok(())
    }

    fn remember(&mut self, distance: f64, window: usize) {
        if self.history.len() == window {
            self.history.pop_front();
        }
        self.history.push_back(distance);
    }
}

/// numpy's `quantile(method="linear")` of a non-empty sample.
pub fn linear_quantile(values: impl Iterator<Item = f64>, q: f64) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_unstable_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_numpy_linear() {
        // np.quantile([1, 2, 3, 4], 0.95) == 3.85
        assert!((linear_quantile([4.0, 1.0, 3.0, 2.0].into_iter(), 0.95) - 3.85).abs() < 1e-12);
        assert_eq!(linear_quantile([5.0].into_iter(), 0.3), 5.0);
    }

    #[test]
    fn dynamic_criteria_learn_from_their_window() {
        let mut d = Decider::new(Criterion::DynamicQuantile {
            window: 3,
            quantile: 0.5,
        });
        assert!(d.decide(1.0, None).drift); // first: drift, remembered
        assert!(!d.decide(1.0, None).drift); // > median of [1]? no
        assert!(d.decide(2.0, None).drift); // > median of [1, 1]
        d.decide(0.0, None); // window now [1, 2, 0]
        assert_eq!(d.decide(1.5, None).threshold, Some(1.0));

        let mut d = Decider::new(Criterion::DynamicRollingAverage {
            window: 2,
            deviation: 0.5,
            absolute: false,
        });
        d.decide(2.0, None);
        let v = d.decide(2.9, None); // mean 2, allowed 1
        assert_eq!((v.drift, v.threshold), (false, Some(3.0)));
        assert!(d.decide(3.7, None).drift); // mean 2.45, allowed 1.225: 3.7 >= 3.675
        let mut d = Decider::new(Criterion::Threshold(0.3));
        assert!(d.decide(0.3, None).drift && !d.decide(0.29, None).drift);
    }

    #[test]
    fn lower_is_worse_for_performance() {
        let mut d = Decider::lower(Criterion::Threshold(0.8));
        assert!(d.decide(0.8, None).drift && !d.decide(0.81, None).drift);
        let mut d = Decider::lower(Criterion::DynamicQuantile {
            window: 4,
            quantile: 0.25,
        });
        for a in [0.9, 0.92, 0.94, 0.96] {
            d.decide(a, None);
        }
        // np.quantile([0.92, 0.94, 0.96, 0.9], 0.25) == 0.915
        let v = d.decide(0.91, None);
        assert!(v.drift && (v.threshold.unwrap() - 0.915).abs() < 1e-12);
        let mut d = Decider::lower(Criterion::DynamicRollingAverage {
            window: 2,
            deviation: 0.1,
            absolute: true,
        });
        d.decide(0.9, None);
        let v = d.decide(0.75, None);
        assert!(v.drift && (v.threshold.unwrap() - 0.8).abs() < 1e-12);
        assert!(!d.decide(0.76, None).drift); // mean 0.825: 0.76 > 0.725
    }
}
