//! Evaluation strategies: which event-time intervals of an evaluation dataset a model is
//! evaluated on (Modyn's `modyn/supervisor/internal/eval/strategies`), and the composite models
//! of an interval.
//!
//! Every interval is half-open, `[start, end)` in event-time milliseconds (`end = None`:
//! unbounded). Modyn works in seconds and moves an exclusive bound by one second; Sluice moves
//! it by one millisecond, its time resolution. Config values (`eval_start_from`, `intervals`,
//! ...) are Unix seconds, as in Modyn and `[trigger] start`.

use crate::config::{Edge, Offset, Strategy, Window};

/// An evaluation interval `[start, end)`, ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// First millisecond in the interval.
    pub start: u64,
    /// First millisecond after it (`None`: unbounded).
    pub end: Option<u64>,
    /// The interval's currently-active model is the newest model whose training data ended
    /// before this time (Modyn's `active_model_trained_before`); `None`: the interval has no
    /// composite models (offsets are relative to one model).
    pub active_before: Option<u64>,
}

impl Interval {
    /// `start-end` (`start-inf` when unbounded), for event ids and tables.
    pub fn label(&self) -> String {
        match self.end {
            Some(end) => format!("{}-{end}", self.start),
            None => format!("{}-inf", self.start),
        }
    }

    /// Duration in ms, an unbounded end taken as `data_end` (exclusive); the weight of the
    /// interval in time-weighted averages.
    pub fn duration(&self, data_end: u64) -> u64 {
        self.end.unwrap_or(data_end).saturating_sub(self.start)
    }
}

// The window's behaviour; the type and its parser are config's (a checked spec).
impl Window {
    /// The window around edges `first`, `last` (ms), as a half-open interval.
    fn around(&self, first: u64, last: u64) -> (u64, Option<u64>) {
        let skip = u64::from(!self.left_inclusive);
        let start = match self.left {
            Edge::NegInf => 0,
            Edge::Before(n) => (first + skip).saturating_sub(n),
            Edge::Start | Edge::Zero => first + skip,
            Edge::End => last + skip,
            Edge::After(n) => last + n + skip,
            Edge::PosInf => unreachable!("rejected by parse"),
        };
        let take = u64::from(self.right_inclusive);
        let end = match self.right {
            Edge::PosInf => None,
            Edge::Before(n) => Some((first + take).saturating_sub(n)),
            Edge::Start => Some(first + take),
            Edge::Zero | Edge::End => Some(last + take),
            Edge::After(n) => Some(last + n + take),
            Edge::NegInf => unreachable!("rejected by parse"),
        };
        (start, end.map(|e| e.max(start)))
    }
}

// The strategy's behaviour; the type is config's (a checked spec).
impl Strategy {
    /// True when the intervals depend on the models' training intervals (offset,
    /// between-two-triggers): after training, each model gets its own.
    pub fn per_model(&self) -> bool {
        matches!(self, Strategy::Offset(_) | Strategy::BetweenTwoTriggers)
    }

    /// The intervals for models trained on `trainings` (each `[first, last]` event time of a
    /// trigger's data, ms, in trigger order), over evaluation data spanning `data`
    /// (`[first, last]`, ms; `None`: empty).
    pub fn intervals(&self, trainings: &[(u64, u64)], data: Option<(u64, u64)>) -> Vec<Interval> {
        let (data_first, data_last) = data.unwrap_or((0, 0));
        match self {
            Strategy::Slicing {
                every_ms,
                start_ms,
                end_ms,
            } => {
                let start = start_ms.unwrap_or(data_first);
                let end = end_ms.unwrap_or(data_last + 1);
                let mut out = Vec::new();
                let mut a = start;
                while a < end {
                    let b = a.saturating_add(*every_ms).min(end);
                    out.push(Interval {
                        start: a,
                        end: Some(b),
                        active_before: Some(a),
                    });
                    a = b;
                }
                out
            }
            Strategy::Periodic {
                every_ms,
                start_ms,
                end_ms,
                window,
            } => {
                let start = start_ms.unwrap_or(data_first);
                let end = end_ms.unwrap_or(data_last);
                let mut out = Vec::new();
                let mut t = start;
                while t <= end {
                    let (a, b) = window.around(t, t);
                    out.push(Interval {
                        start: a,
                        end: b,
                        active_before: Some(t),
                    });
                    t = match t.checked_add(*every_ms) {
                        Some(next) => next,
                        None => break,
                    };
                }
                out
            }
            Strategy::BetweenTwoTriggers => {
                // Consecutive triggers can share a millisecond (positions order samples of one
                // millisecond by key): each interval starts after the previous one, so the
                // intervals partition time and the previous model is active in the next.
                let mut after = 0;
                let mut out: Vec<Interval> = trainings
                    .iter()
                    .map(|&(first, last)| {
                        let start = first.max(after);
                        after = last + 1;
                        Interval {
                            start,
                            end: Some((last + 1).max(start)),
                            active_before: Some(start),
                        }
                    })
                    .collect();
                if let Some(last) = trainings.iter().map(|t| t.1).max()
                    && data.is_some()
                    && data_last > last
                {
                    out.push(Interval {
                        start: last + 1,
                        end: Some(data_last + 1),
                        active_before: Some(last + 1),
                    });
                }
                out
            }
            Strategy::Offset(offsets) => trainings
                .iter()
                .flat_map(|&(first, last)| {
                    offsets.iter().map(move |o| {
                        let (start, end) = match *o {
                            Offset::Before => (0, Some(first)),
                            Offset::After => (last + 1, None),
                            Offset::Same => (first, Some(last + 1)),
                            Offset::Preceding(n) => (first.saturating_sub(n), Some(first)),
                            Offset::Following(n) => (last + 1, Some(last + 1 + n)),
                        };
                        Interval {
                            start,
                            end,
                            active_before: None,
                        }
                    })
                })
                .collect(),
            Strategy::Static(intervals) => intervals
                .iter()
                .map(|&(start, end)| Interval {
                    start,
                    end,
                    active_before: Some(start),
                })
                .collect(),
        }
    }
}

/// The composite models of `interval` among models whose training data ended at `last_times`
/// (trigger order): `(currently_active, currently_trained)` as indices.
///
/// currently_active is the newest model whose training data ended before the interval's
/// `active_before`; currently_trained is its successor, the model trained on data like the
/// interval's (the first model when none is active yet; the active one when it is the last).
/// This is Modyn's `EvalHandler::get_eval_requests_after_pipeline`.
pub fn composites(last_times: &[u64], interval: &Interval) -> (Option<usize>, Option<usize>) {
    let Some(before) = interval.active_before else {
        return (None, None);
    };
    if last_times.is_empty() {
        return (None, None);
    }
    let active = last_times.iter().rposition(|&last| last < before);
    let trained = match active {
        Some(i) => (i + 1).min(last_times.len() - 1),
        None => 0,
    };
    (active, Some(trained))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;
    const H: u64 = 3600 * S;

    fn spans(v: &[Interval]) -> Vec<(u64, Option<u64>)> {
        v.iter().map(|i| (i.start, i.end)).collect()
    }

    #[test]
    fn window_grammar_parses_modyns_examples_and_rejects_disorder() {
        let w = Window::parse("[-25h; +25h]").unwrap();
        assert_eq!(w.around(100 * H, 100 * H), (75 * H, Some(125 * H + 1)));
        let w = Window::parse("(-25h, +25h)").unwrap();
        assert_eq!(w.around(100 * H, 100 * H), (75 * H + 1, Some(125 * H)));
        let w = Window::parse("[-inf; +inf]").unwrap();
        assert_eq!(w.around(5 * H, 9 * H), (0, None));
        // Training-interval edges: -0 is its start, +0 its end, 0 the near one on each side.
        let w = Window::parse("[-0; +0]").unwrap();
        assert_eq!(w.around(5 * H, 9 * H), (5 * H, Some(9 * H + 1)));
        let w = Window::parse("[0, 0]").unwrap();
        assert_eq!(w.around(5 * H, 9 * H), (5 * H, Some(9 * H + 1)));
        let w = Window::parse("(+0; 1d]").unwrap();
        assert_eq!(w.around(5 * H, 9 * H), (9 * H + 1, Some(33 * H + 1)));
        let w = Window::parse("[-2d; -0)").unwrap();
        assert_eq!(w.around(50 * H, 60 * H), (2 * H, Some(50 * H)));
        // Saturates at the epoch instead of wrapping.
        assert_eq!(w.around(H, H).0, 0);
        for bad in [
            "[+25h; -25h]",
            "[+inf; +inf]",
            "[-inf; -inf]",
            "[+0; -0]",
            "-25h; +25h]",
            "[-25h +25h]",
            "[-25x; +25h]",
            "[-25h; +25h",
            "[",
        ] {
            assert!(Window::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn slicing_tumbles_with_a_short_last_window_and_defaults_to_the_data_span() {
        let s = Strategy::Slicing {
            every_ms: 10,
            start_ms: Some(0),
            end_ms: Some(25),
        };
        let v = s.intervals(&[], None);
        assert_eq!(spans(&v), [(0, Some(10)), (10, Some(20)), (20, Some(25))]);
        assert_eq!(v[1].active_before, Some(10));
        let s = Strategy::Slicing {
            every_ms: 10,
            start_ms: None,
            end_ms: None,
        };
        // Data [3, 22]: windows from 3 up to and including 22.
        let v = s.intervals(&[], Some((3, 22)));
        assert_eq!(spans(&v), [(3, Some(13)), (13, Some(23))]);
    }

    #[test]
    fn periodic_centres_a_window_on_each_point_inclusive_of_the_end() {
        let s = Strategy::Periodic {
            every_ms: 10 * H,
            start_ms: Some(30 * H),
            end_ms: Some(50 * H),
            window: Window::parse("[-5h; +5h)").unwrap(),
        };
        let v = s.intervals(&[], None);
        assert_eq!(
            spans(&v),
            [
                (25 * H, Some(35 * H)),
                (35 * H, Some(45 * H)),
                (45 * H, Some(55 * H))
            ]
        );
        assert_eq!(
            v.iter().map(|i| i.active_before).collect::<Vec<_>>(),
            [Some(30 * H), Some(40 * H), Some(50 * H)]
        );
    }

    #[test]
    fn between_two_triggers_covers_each_usage_interval_and_the_tail() {
        let v = Strategy::BetweenTwoTriggers.intervals(&[(0, 9), (10, 19)], Some((0, 30)));
        assert_eq!(spans(&v), [(0, Some(10)), (10, Some(20)), (20, Some(31))]);
        assert_eq!(v[2].active_before, Some(20));
        // Triggers sharing a millisecond: the later interval starts after the earlier.
        let v = Strategy::BetweenTwoTriggers.intervals(&[(0, 9), (9, 19)], Some((0, 19)));
        assert_eq!(spans(&v), [(0, Some(10)), (10, Some(20))]);
        assert_eq!(v[1].active_before, Some(10));
        // No tail when the data ends with the last trigger.
        let v = Strategy::BetweenTwoTriggers.intervals(&[(0, 9)], Some((0, 9)));
        assert_eq!(spans(&v), [(0, Some(10))]);
    }

    #[test]
    fn offsets_are_relative_to_each_training_interval() {
        let offsets = ["-inf", "inf", "0", "-5s", "5s", "+5s"]
            .map(|o| Offset::parse(o).unwrap())
            .to_vec();
        let v = Strategy::Offset(offsets).intervals(&[(10 * S, 20 * S)], None);
        assert_eq!(
            spans(&v),
            [
                (0, Some(10 * S)),
                (20 * S + 1, None),
                (10 * S, Some(20 * S + 1)),
                (5 * S, Some(10 * S)),
                (20 * S + 1, Some(25 * S + 1)),
                (20 * S + 1, Some(25 * S + 1)),
            ]
        );
        assert!(v.iter().all(|i| i.active_before.is_none()));
        assert!(Offset::parse("5").is_err());
        assert!(Offset::parse("-0s").is_err());
    }

    #[test]
    fn composites_follow_modyns_active_and_trained_rules() {
        // Three models whose data ended at 9, 19, 29.
        let last = [9, 19, 29];
        let at = |t: u64| Interval {
            start: t,
            end: Some(t + 10),
            active_before: Some(t),
        };
        // Before any model: nothing active, the first model is being trained.
        assert_eq!(composites(&last, &at(0)), (None, Some(0)));
        assert_eq!(composites(&last, &at(9)), (None, Some(0)));
        assert_eq!(composites(&last, &at(10)), (Some(0), Some(1)));
        assert_eq!(composites(&last, &at(25)), (Some(1), Some(2)));
        // After the last model it is both.
        assert_eq!(composites(&last, &at(40)), (Some(2), Some(2)));
        let offset = Interval {
            active_before: None,
            ..at(40)
        };
        assert_eq!(composites(&last, &offset), (None, None));
        assert_eq!(composites(&[], &at(40)), (None, None));
    }
}
