//! `[evaluation]`'s checked types: handlers (when they run, which models, which intervals),
//! strategies with their windows and offsets, and metrics, with the parsers of their config
//! values. What evaluation does with them (intervals, composite models, requests, metric
//! accumulators) is in `src/eval/`, as `impl` blocks on these types.
//!
//! Strategies are Modyn's (`modyn/supervisor/internal/eval/strategies`); every interval is
//! half-open in event-time milliseconds.

use std::fmt;

use super::fields::parse_span;

/// When a handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Execution {
    /// Right after each model is stored (each model on its own intervals; matrix only).
    AfterTraining,
    /// Once the pipeline has finished, over every model.
    AfterPipeline,
    /// Only on demand: `sluice evaluate <run-dir>`.
    Manual,
}

impl Execution {
    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Execution::AfterTraining => "after_training",
            Execution::AfterPipeline => "after_pipeline",
            Execution::Manual => "manual",
        }
    }
}

/// Which models a handler evaluates on each interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelChoice {
    /// Every model on every interval (the evaluation matrix); both composites are flagged.
    Matrix,
    /// Only each interval's currently-active model.
    Active,
    /// Only each interval's currently-trained model.
    Training,
}

/// One evaluation handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handler {
    /// Name, in events and reports.
    pub name: String,
    /// When it runs.
    pub execution: Execution,
    /// Which models.
    pub models: ModelChoice,
    /// Which intervals.
    pub strategy: Strategy,
    /// Evaluation datasets it runs on (indices into `[[evaluation.datasets]]`).
    pub datasets: Vec<usize>,
}

/// How evaluation intervals are chosen (`[[evaluation.handlers]] strategy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Tumbling windows of `every_ms` from `start_ms` to `end_ms` (defaults: the evaluation
    /// dataset's first and last event time); the last window may be shorter.
    Slicing {
        /// Window length, ms.
        every_ms: u64,
        /// First window's start, ms.
        start_ms: Option<u64>,
        /// Where windows stop (exclusive), ms.
        end_ms: Option<u64>,
    },
    /// A window around every `every_ms`-th point from `start_ms` to `end_ms` (inclusive).
    Periodic {
        /// Distance between evaluation points, ms.
        every_ms: u64,
        /// First point, ms.
        start_ms: Option<u64>,
        /// Last point (inclusive), ms.
        end_ms: Option<u64>,
        /// The window around each point.
        window: Window,
    },
    /// Each model's trigger interval, then the tail after the last one: the data each model
    /// served until the next was trained.
    BetweenTwoTriggers,
    /// Intervals relative to each model's training interval.
    Offset(Vec<Offset>),
    /// Fixed intervals.
    Static(Vec<(u64, Option<u64>)>),
}

/// One side of a periodic strategy's window (`"[-25h; +25h]"`), relative to the evaluation
/// point (Modyn's training-interval edges; for a periodic window both edges are the point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// `-inf`: the dataset start.
    NegInf,
    /// `-<n><unit>`: n before the start edge, ms.
    Before(u64),
    /// `-0`: the start edge.
    Start,
    /// `0`: the start edge on the left, the end edge on the right.
    Zero,
    /// `+0`: the end edge.
    End,
    /// `+<n><unit>` or `<n><unit>`: n after the end edge, ms.
    After(u64),
    /// `+inf`: unbounded.
    PosInf,
}

impl Edge {
    /// Modyn's order of edges (`-inf < -n < -0 < 0 < +0 < +n < +inf`).
    fn rank(self) -> u8 {
        match self {
            Edge::NegInf => 0,
            Edge::Before(_) => 1,
            Edge::Start => 2,
            Edge::Zero => 3,
            Edge::End => 4,
            Edge::After(_) => 5,
            Edge::PosInf => 6,
        }
    }

    fn parse(text: &str) -> Result<Edge, String> {
        let (sign, rest) = match text.as_bytes().first() {
            Some(b'-') => (Some('-'), &text[1..]),
            Some(b'+') => (Some('+'), &text[1..]),
            _ => (None, text),
        };
        Ok(match (sign, rest) {
            (Some('-'), "inf") => Edge::NegInf,
            (_, "inf") => Edge::PosInf,
            (Some('-'), "0") => Edge::Start,
            (None, "0") => Edge::Zero,
            (Some('+'), "0") => Edge::End,
            (Some('-'), span) => Edge::Before(parse_span(span)?),
            (_, span) => Edge::After(parse_span(span)?),
        })
    }
}

/// A periodic strategy's window: two edges, each inclusive (`[`, `]`) or exclusive (`(`, `)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub(crate) left: Edge,
    pub(crate) left_inclusive: bool,
    pub(crate) right: Edge,
    pub(crate) right_inclusive: bool,
}

impl Window {
    /// Parses Modyn's interval grammar: `[-25h; +25h]`, `(-inf, +0]`, `[-1d; 2d)`; units
    /// s, m, h, d, w, y.
    pub fn parse(text: &str) -> Result<Window, String> {
        let bad = |why: &str| format!("{why} in `{text}`; expected e.g. \"[-25h; +25h]\"");
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let left_inclusive = match t.chars().next() {
            Some('[') => true,
            Some('(') => false,
            _ => return Err(bad("missing `[` or `(`")),
        };
        let right_inclusive = match t.chars().last() {
            Some(']') if t.len() > 1 => true,
            Some(')') if t.len() > 1 => false,
            _ => return Err(bad("missing `]` or `)`")),
        };
        let inner = &t[1..t.len() - 1];
        let Some((l, r)) = inner.split_once([';', ',']) else {
            return Err(bad("missing `;` between the bounds"));
        };
        let left = Edge::parse(l).map_err(|e| bad(&format!("left bound: {e}")))?;
        let right = Edge::parse(r).map_err(|e| bad(&format!("right bound: {e}")))?;
        if left == Edge::PosInf {
            return Err(bad("the left bound cannot be +inf"));
        }
        if right == Edge::NegInf {
            return Err(bad("the right bound cannot be -inf"));
        }
        if left.rank() > right.rank() {
            return Err(bad("the left bound must come before the right bound"));
        }
        Ok(Window {
            left,
            left_inclusive,
            right,
            right_inclusive,
        })
    }
}

/// An offset of Modyn's `OffsetEvalStrategy`, relative to a model's training interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offset {
    /// `-inf`: everything before the training interval.
    Before,
    /// `inf`: everything after it.
    After,
    /// `0`: the training interval itself.
    Same,
    /// `-<n><unit>`: the n ms before it.
    Preceding(u64),
    /// `<n><unit>`: the n ms after it.
    Following(u64),
}

impl Offset {
    /// Parses `-inf`, `inf`, `+inf`, `0`, `-1d`, `1d`, `+1d`.
    pub fn parse(text: &str) -> Result<Offset, String> {
        let t = text.trim();
        Ok(match t {
            "-inf" => Offset::Before,
            "inf" | "+inf" => Offset::After,
            "0" | "-0" | "+0" => Offset::Same,
            _ => match t.strip_prefix('-') {
                Some(span) => Offset::Preceding(parse_span(span)?),
                None => Offset::Following(parse_span(t.strip_prefix('+').unwrap_or(t))?),
            },
        })
    }
}

/// How F1 scores of the classes combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F1Average {
    /// Unweighted mean over the classes that occur in the labels or the predictions.
    Macro,
    /// From the total true positives, false positives and false negatives.
    Micro,
    /// Mean weighted by each class's number of true samples.
    Weighted,
    /// The F1 score of class 1 (two classes).
    Binary,
}

/// An evaluation metric (`[evaluation] metrics`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// The true class among the `n` highest outputs (`accuracy`: n = 1; `top<n>_accuracy`).
    Accuracy(usize),
    /// F1 of the arg-max predictions (`f1_macro`, `f1_micro`, `f1_weighted`, `f1_binary`).
    F1(F1Average),
    /// Area under the ROC curve of the softmax probabilities: of class 1 with two classes, one
    /// class against the rest averaged over the classes otherwise (`roc_auc`).
    RocAuc,
    /// Mean negative log softmax probability of the true class (`log_loss`).
    LogLoss,
    /// Mean squared error of the first output against the label (`mse`).
    Mse,
    /// Mean absolute error of the first output against the label (`mae`).
    Mae,
}

impl Metric {
    /// Every name `parse` accepts (`top<n>_accuracy` for any n ≥ 1).
    pub const NAMES: &[&str] = &[
        "accuracy",
        "top<n>_accuracy",
        "f1_macro",
        "f1_micro",
        "f1_weighted",
        "f1_binary",
        "roc_auc",
        "log_loss",
        "mse",
        "mae",
    ];

    /// The metric a config names.
    pub fn parse(name: &str) -> Result<Metric, String> {
        let m = match name {
            "accuracy" => Metric::Accuracy(1),
            "f1_macro" => Metric::F1(F1Average::Macro),
            "f1_micro" => Metric::F1(F1Average::Micro),
            "f1_weighted" => Metric::F1(F1Average::Weighted),
            "f1_binary" => Metric::F1(F1Average::Binary),
            "roc_auc" => Metric::RocAuc,
            "log_loss" => Metric::LogLoss,
            "mse" => Metric::Mse,
            "mae" => Metric::Mae,
            _ => match name
                .strip_prefix("top")
                .and_then(|r| r.strip_suffix("_accuracy"))
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n) if n >= 1 => Metric::Accuracy(n),
                _ => {
                    return Err(format!(
                        "unknown metric `{name}`, expected one of {}",
                        Metric::NAMES.join(", ")
                    ));
                }
            },
        };
        Ok(m)
    }

    /// Why the metric does not apply to a model with `outputs` outputs, if it does not.
    pub fn check(&self, outputs: usize) -> Result<(), String> {
        match self {
            Metric::Accuracy(n) if *n > outputs => Err(format!(
                "top-{n} accuracy needs at least {n} classes, the model has {outputs}"
            )),
            Metric::F1(F1Average::Binary) if outputs != 2 => Err(format!(
                "f1_binary needs 2 classes, the model has {outputs}"
            )),
            Metric::Mse | Metric::Mae if outputs != 1 => Err(format!(
                "{self} compares one output with the label; the model has {outputs}"
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Accuracy(1) => write!(f, "accuracy"),
            Metric::Accuracy(n) => write!(f, "top{n}_accuracy"),
            Metric::F1(F1Average::Macro) => write!(f, "f1_macro"),
            Metric::F1(F1Average::Micro) => write!(f, "f1_micro"),
            Metric::F1(F1Average::Weighted) => write!(f, "f1_weighted"),
            Metric::F1(F1Average::Binary) => write!(f, "f1_binary"),
            Metric::RocAuc => write!(f, "roc_auc"),
            Metric::LogLoss => write!(f, "log_loss"),
            Metric::Mse => write!(f, "mse"),
            Metric::Mae => write!(f, "mae"),
        }
    }
}
