//! The evaluator: runs the handlers' requests on stored models and emits `evaluations` events.
//!
//! During a run it is a thread of its own ([`Evaluator`]): the trainer hands it each stored
//! model and goes on training, so neither training nor ingestion waits for evaluation. It
//! evaluates `after_training` handlers as models arrive and `after_pipeline` handlers once the
//! run is done; `sluice evaluate` drives the same [`Session`] from the model store.
//!
//! A (model, dataset, interval) is evaluated once, whatever handlers ask for it: results are
//! remembered. The module is built once, when the session is created: loading weights into it
//! draws nothing from libtorch's global RNG, which the trainer's seeded initialisation and
//! dropout use on their own thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Instant;

use serde::Serialize;
use tch::Device;
use tch::nn::VarStore;

use super::holdout::Holdout;
use super::metrics::{Accumulator, evaluate};
use super::plan::Request;
use super::strategy::{Interval, composites};
use crate::config::ModelSpec;
use crate::config::{Execution, Handler, Metric, Strategy};
use crate::sink::{EventBody, EventSink};
use crate::store::ModelStore;
use crate::train::TrainedModel;
use crate::train::models::{self, Model};

/// An evaluation dataset in memory, with what to compute on it.
#[derive(Clone, Debug)]
pub struct EvalDataset {
    /// Name, in events.
    pub name: String,
    /// Its samples.
    pub holdout: Holdout,
    /// Metrics.
    pub metrics: Vec<Metric>,
    /// Inference batch size.
    pub batch_size: usize,
}

/// Why evaluation stopped.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The model could not be built, or a stored model not loaded.
    #[error("{0}")]
    Model(String),
    /// Events could not be written (or the evaluator thread not started).
    #[error(transparent)]
    Events(#[from] std::io::Error),
    /// The evaluator thread panicked.
    #[error("evaluator thread panicked")]
    Panicked,
}

/// What a session needs.
pub struct EvalSetup {
    /// The models' architecture.
    pub model: ModelSpec,
    /// Features per sample.
    pub input_dim: usize,
    /// Inference device.
    pub device: Device,
    /// Datasets.
    pub datasets: Vec<EvalDataset>,
    /// Handlers.
    pub handlers: Vec<Handler>,
    /// Where the models are.
    pub store: ModelStore,
    /// A directory for the temporary files tch loads weights from.
    pub scratch: PathBuf,
    /// Where events go.
    pub events: Arc<EventSink>,
}

/// One evaluation result.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Handler index.
    pub handler: usize,
    /// Dataset index.
    pub dataset: usize,
    /// Model index (arrival order).
    pub model: usize,
    /// The interval.
    pub interval: Interval,
    /// Metric.
    pub metric: Metric,
    /// Value.
    pub value: f64,
    /// Samples evaluated.
    pub samples: u64,
    /// The model is the interval's currently-active model (`None`: not known).
    pub currently_active: Option<bool>,
    /// The model is the interval's currently-trained model.
    pub currently_trained: Option<bool>,
}

/// A metric of a composite model over a handler's intervals, aggregated (Modyn's
/// `df_aggregate_eval_metric`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Aggregate {
    /// Handler.
    pub handler: String,
    /// Dataset.
    pub dataset: String,
    /// Metric.
    pub metric: String,
    /// `currently_active` or `currently_trained`.
    pub composite: String,
    /// Intervals with a value (intervals before the first model have no active model).
    pub intervals: usize,
    /// Mean weighted by interval duration: the metric over the time the models served.
    pub time_weighted_avg: f64,
    /// Mean over intervals.
    pub mean: f64,
    /// Median over intervals.
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// An `after_pipeline` `slicing` handler's `currently_active` composite: the metric over
    /// every sample of the dataset pooled, each scored by the model in service in its slice,
    /// the samples before the first model counted as chance (a uniform guess). On the stream
    /// itself, the analogue of an online learner's prequential score. `None` for the other
    /// handlers and for F1, MSE and MAE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prequential: Option<f64>,
}

/// What evaluation did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EvalReport {
    /// Evaluation events emitted.
    pub evaluations: u64,
    /// Model × interval × dataset inferences run (each once, whatever handlers asked).
    pub inferences: u64,
    /// Wall time spent evaluating, seconds.
    pub evaluation_s: f64,
    /// Composite-model aggregates per handler, dataset and metric.
    pub aggregates: Vec<Aggregate>,
}

/// Results of one inference: per metric, (value, samples).
type Results = Vec<(Metric, Option<f64>, u64)>;

/// A pooling handler's accumulators over the slices evaluated so far, and their sample ranges.
type Pooled = (Vec<Accumulator>, Vec<std::ops::Range<usize>>);

/// Evaluates models as they come, then the handlers that need all of them.
pub struct Session {
    setup: EvalSetup,
    vs: VarStore,
    module: Box<dyn Model>,
    loaded: Option<String>,
    models: Vec<TrainedModel>,
    rows: Vec<Row>,
    /// Results by (model, dataset, start, end).
    memo: HashMap<(usize, usize, u64, Option<u64>), Results>,
    /// Per (handler, dataset) that pools its model in service (see [`Aggregate::prequential`]):
    /// the metrics' accumulators over the slices evaluated so far, and their sample ranges.
    pooled: HashMap<(usize, usize), Pooled>,
    report: EvalReport,
}

impl Session {
    /// A session; builds the module (call it where drawing from libtorch's RNG is harmless:
    /// before the trainer starts).
    pub fn new(setup: EvalSetup) -> Result<Self, EvalError> {
        let vs = VarStore::new(setup.device);
        let module = models::build(&setup.model, &vs.root(), setup.input_dim as i64)
            .map_err(EvalError::Model)?;
        Ok(Self {
            setup,
            vs,
            module,
            loaded: None,
            models: Vec::new(),
            rows: Vec::new(),
            memo: HashMap::new(),
            pooled: HashMap::new(),
            report: EvalReport::default(),
        })
    }

    /// A model was stored: runs the `after_training` handlers on it and emits its trigger's
    /// `evaluation_ms` metric.
    pub fn model_trained(&mut self, m: TrainedModel) -> Result<(), EvalError> {
        let started = Instant::now();
        let trigger = m.trigger;
        self.models.push(m);
        let model = self.models.len() - 1;
        for h in 0..self.setup.handlers.len() {
            let handler = &self.setup.handlers[h];
            if handler.execution != Execution::AfterTraining {
                continue;
            }
            for &d in &handler.datasets.clone() {
                let span = self.setup.datasets[d].holdout.span();
                let requests = self.setup.handlers[h].after_training(&self.models, model, span);
                self.run(h, d, &requests)?;
            }
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.report.evaluation_s += ms / 1000.0;
        self.setup
            .events
            .metric(trigger, "evaluation_ms", ms, None)?;
        Ok(())
    }

    /// Adds models trained before this session (a resumed run's), without evaluating them:
    /// the after-pipeline handlers evaluate them with the rest.
    pub fn add_models(&mut self, models: Vec<TrainedModel>) {
        self.models.extend(models);
    }

    /// Runs the handlers executed at `when` over every model, then aggregates the composite
    /// models of every handler whose intervals every model was evaluated on.
    pub fn finish(mut self, when: &[Execution]) -> Result<EvalReport, EvalError> {
        let started = Instant::now();
        for h in 0..self.setup.handlers.len() {
            let handler = &self.setup.handlers[h];
            if !when.contains(&handler.execution) {
                continue;
            }
            for &d in &handler.datasets.clone() {
                let span = self.setup.datasets[d].holdout.span();
                let mut requests = self.setup.handlers[h].after_pipeline(&self.models, span);
                // Model by model: each is loaded once.
                requests.sort_by_key(|r| (r.model, r.interval));
                self.run(h, d, &requests)?;
            }
        }
        self.flag_after_training_matrices();
        self.report.evaluation_s += started.elapsed().as_secs_f64();
        self.report.aggregates = self.aggregates();
        self.setup.events.flush()?;
        Ok(self.report)
    }

    /// Whether handler `h` pools its model in service: an `after_pipeline` `slicing` one.
    fn pools(&self, h: usize) -> bool {
        let handler = &self.setup.handlers[h];
        handler.execution == Execution::AfterPipeline
            && matches!(handler.strategy, Strategy::Slicing { .. })
    }

    fn run(&mut self, h: usize, d: usize, requests: &[Request]) -> Result<(), EvalError> {
        for r in requests {
            let key = (r.model, d, r.interval.start, r.interval.end);
            let pool = r.currently_active == Some(true) && self.pools(h);
            if pool || !self.memo.contains_key(&key) {
                let accumulators = self.infer(r.model, d, &r.interval)?;
                let results = accumulators
                    .iter()
                    .map(|a| (a.metric(), a.value(), a.samples()))
                    .collect();
                self.memo.entry(key).or_insert(results);
                if pool {
                    let range = self.setup.datasets[d]
                        .holdout
                        .range(r.interval.start, r.interval.end);
                    let (all, ranges) = self.pooled.entry((h, d)).or_default();
                    if all.is_empty() {
                        *all = accumulators;
                    } else {
                        for (a, b) in all.iter_mut().zip(&accumulators) {
                            a.merge(b);
                        }
                    }
                    ranges.push(range);
                }
            }
            let m = &self.models[r.model];
            let (handler, dataset) = (&self.setup.handlers[h], &self.setup.datasets[d]);
            for &(metric, value, samples) in &self.memo[&key] {
                let Some(value) = value else { continue };
                let label = r.interval.label();
                self.setup.events.emit(
                    format!(
                        "evaluation-{}-{}-{}-{label}-{metric}",
                        handler.name, m.trigger, dataset.name
                    ),
                    EventBody::Evaluation {
                        model_id: m.id.clone(),
                        trigger_id: m.trigger,
                        handler: handler.name.clone(),
                        dataset: dataset.name.clone(),
                        interval: label,
                        start_time: r.interval.start,
                        end_time: r.interval.end,
                        metric: metric.to_string(),
                        value,
                        samples,
                        currently_active: r.currently_active,
                        currently_trained: r.currently_trained,
                    },
                )?;
                self.report.evaluations += 1;
                self.rows.push(Row {
                    handler: h,
                    dataset: d,
                    model: r.model,
                    interval: r.interval,
                    metric,
                    value,
                    samples,
                    currently_active: r.currently_active,
                    currently_trained: r.currently_trained,
                });
            }
        }
        Ok(())
    }

    fn infer(
        &mut self,
        model: usize,
        d: usize,
        interval: &Interval,
    ) -> Result<Vec<Accumulator>, EvalError> {
        let dataset = &self.setup.datasets[d];
        let range = dataset.holdout.range(interval.start, interval.end);
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let id = self.models[model].id.clone();
        if self.loaded.as_deref() != Some(id.as_str()) {
            self.loaded = None;
            let tmp = self.setup.scratch.join(format!(".eval-{id}.safetensors"));
            let loaded = (&mut self.vs, &mut self.module);
            models::reload(&self.setup.model, loaded, &self.setup.store, &id, &tmp)
                .map_err(EvalError::Model)?;
            self.loaded = Some(id);
        }
        let dataset = &self.setup.datasets[d];
        self.report.inferences += 1;
        Ok(evaluate(
            &*self.module,
            &dataset.holdout,
            range,
            dataset.batch_size,
            self.setup.device,
            &dataset.metrics,
            self.setup.model.num_classes as usize,
        ))
    }

    /// Handler `h`'s pooled `metric` on dataset `d` (see [`Aggregate::prequential`]).
    fn prequential(&self, h: usize, d: usize, metric: &str) -> Option<f64> {
        let (all, ranges) = self.pooled.get(&(h, d))?;
        let mut pooled = all
            .iter()
            .find(|a| a.metric().to_string() == metric)?
            .clone();
        // The samples no model in service scored: before the first model.
        let holdout = &self.setup.datasets[d].holdout;
        let mut covered = vec![false; holdout.len()];
        for r in ranges {
            covered[r.clone()].fill(true);
        }
        let unscored: Vec<i64> = (0..holdout.len())
            .filter(|&i| !covered[i])
            .map(|i| holdout.labels(i..i + 1)[0])
            .collect();
        pooled
            .add_chance(&unscored)
            .then(|| pooled.value())
            .flatten()
    }

    /// An `after_training` handler whose intervals do not depend on the model (slicing,
    /// periodic, static) has evaluated every model on the same intervals: the full matrix, so
    /// its composites are known at the end without evaluating again.
    fn flag_after_training_matrices(&mut self) {
        let lasts: Vec<u64> = self.models.iter().map(|m| m.last).collect();
        for row in &mut self.rows {
            let h = &self.setup.handlers[row.handler];
            if row.currently_active.is_some() || h.strategy.per_model() {
                continue;
            }
            let (a, t) = composites(&lasts, &row.interval);
            row.currently_active = Some(a == Some(row.model));
            row.currently_trained = Some(t == Some(row.model));
        }
    }

    fn aggregates(&self) -> Vec<Aggregate> {
        let mut groups: std::collections::BTreeMap<(usize, usize, String, bool), Vec<&Row>> =
            Default::default();
        for row in &self.rows {
            for (active, flag) in [(true, row.currently_active), (false, row.currently_trained)] {
                if flag == Some(true) {
                    groups
                        .entry((row.handler, row.dataset, row.metric.to_string(), active))
                        .or_default()
                        .push(row);
                }
            }
        }
        // A pooled metric is defined even where no slice has a value of its own (a ROC-AUC
        // over slices of one sample each): it still gets its aggregate.
        for ((h, d), (all, _)) in &self.pooled {
            for acc in all {
                groups
                    .entry((*h, *d, acc.metric().to_string(), true))
                    .or_default();
            }
        }
        groups
            .into_iter()
            .map(|((h, d, metric, active), rows)| {
                let data_end = self.setup.datasets[d]
                    .holdout
                    .span()
                    .map_or(0, |(_, last)| last + 1);
                let points: Vec<(f64, f64)> = rows
                    .iter()
                    .map(|r| (r.value, r.interval.duration(data_end) as f64))
                    .collect();
                let mut a = aggregate(&points);
                a.handler = self.setup.handlers[h].name.clone();
                a.dataset = self.setup.datasets[d].name.clone();
                if active {
                    a.prequential = self.prequential(h, d, &metric);
                }
                a.metric = metric;
                a.composite = if active {
                    "currently_active"
                } else {
                    "currently_trained"
                }
                .into();
                a
            })
            .collect()
    }
}

/// Aggregates (value, weight) points; weights are interval durations (all zero: plain mean).
/// No points: every statistic is NaN (`null` in JSON).
pub fn aggregate(points: &[(f64, f64)]) -> Aggregate {
    let mean = points.iter().map(|p| p.0).sum::<f64>() / points.len() as f64;
    let weight: f64 = points.iter().map(|p| p.1).sum();
    let time_weighted_avg = if weight > 0.0 {
        points.iter().map(|p| p.0 * p.1).sum::<f64>() / weight
    } else {
        mean
    };
    let mut values: Vec<f64> = points.iter().map(|p| p.0).collect();
    values.sort_by(f64::total_cmp);
    let median = match values.len() {
        0 => f64::NAN,
        l if l % 2 == 1 => values[l / 2],
        l => (values[l / 2 - 1] + values[l / 2]) / 2.0,
    };
    Aggregate {
        handler: String::new(),
        dataset: String::new(),
        metric: String::new(),
        composite: String::new(),
        intervals: points.len(),
        time_weighted_avg,
        mean,
        median,
        min: values.first().copied().unwrap_or(f64::NAN),
        max: values.last().copied().unwrap_or(f64::NAN),
        prequential: None,
    }
}

/// A session on its own thread, fed the models the trainer stores.
pub struct Evaluator {
    tx: Sender<TrainedModel>,
    handle: JoinHandle<Result<EvalReport, EvalError>>,
}

impl Evaluator {
    /// Builds the session here (see [`Session::new`]) and starts its thread; `earlier` are
    /// models a resumed run trained before (after-pipeline handlers evaluate them too).
    pub fn spawn(setup: EvalSetup, earlier: Vec<TrainedModel>) -> Result<Self, EvalError> {
        let mut session = Session::new(setup)?;
        session.add_models(earlier);
        let (tx, rx) = channel();
        let handle = std::thread::Builder::new()
            .name("sluice-evaluator".into())
            .spawn(move || evaluate_models(session, rx))
            .map_err(EvalError::Events)?;
        Ok(Self { tx, handle })
    }

    /// Where the trainer sends stored models.
    pub fn sender(&self) -> Sender<TrainedModel> {
        self.tx.clone()
    }

    /// Waits for the models sent so far (every sender must be dropped), runs the
    /// `after_pipeline` handlers, and reports.
    pub fn finish(self) -> Result<EvalReport, EvalError> {
        drop(self.tx);
        self.handle.join().map_err(|_| EvalError::Panicked)?
    }
}

fn evaluate_models(mut s: Session, rx: Receiver<TrainedModel>) -> Result<EvalReport, EvalError> {
    for m in rx {
        s.model_trained(m)?;
    }
    s.finish(&[Execution::AfterPipeline])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_weight_by_interval_duration() {
        let a = aggregate(&[(1.0, 30.0), (0.0, 10.0), (0.5, 0.0)]);
        assert_eq!(a.intervals, 3);
        assert!((a.time_weighted_avg - 0.75).abs() < 1e-12);
        assert!((a.mean - 0.5).abs() < 1e-12);
        assert_eq!((a.median, a.min, a.max), (0.5, 0.0, 1.0));
        let b = aggregate(&[(0.2, 0.0), (0.4, 0.0)]);
        assert!((b.time_weighted_avg - 0.3).abs() < 1e-12);
        assert!((b.median - 0.3).abs() < 1e-12);
    }
}
