//! Each lane's trainer thread and evaluator, started before the workers and joined after
//! them. A trainer reports each finished trigger back into the run: the model in service, the
//! model feed of the trigger policy, retirement of trained samples, and the checkpoint.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use indicatif::ProgressBar;
use sluice_dataflows::TriggerEvent;
use sluice_dataflows::triggers::{ModelFeed, ModelInfo};

use super::checks::load_eval_datasets;
use super::context::RunContext;
use super::error::RunError;
use super::evaluate::trained_models;
use crate::config::PipelineSpec;
use crate::eval::{EvalDataset, EvalError, EvalReport, EvalSetup, Evaluator};
use crate::sink::EventSink;
use crate::store::ModelStore;
use crate::train::{
    DeviceGate, TrainError, Trainer, TrainerContext, TrainerReport, TriggerOutcome,
};

/// Closes a lane's model feed when dropped. The trainer's callback holds it, so the feed closes
/// when the trainer ends (done or failed), and the trigger operator stops waiting for models.
struct CloseOnDrop(ModelFeed);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A lane's running trainer and evaluator.
pub(super) type Running = (Trainer, Option<Evaluator>);

/// Starts every lane's evaluator and trainer; each trainer's queue waits in its lane for
/// worker 0. `resumed_after`/`initial_model`: the checkpoint's trigger and model.
pub(super) fn start_lanes(
    shared: &Arc<RunContext>,
    resumed_after: Option<u64>,
    initial_model: Option<String>,
) -> Result<Vec<Running>, RunError> {
    let dim = shared.samples.dim();
    let datasets = load_eval_datasets(&shared.spec, shared.source.feature_names(), &|d| {
        shared.dead_letter(d)
    })?;
    // A sweep's trainers take turns on each device (see `train::DeviceGate`).
    let gate = (shared.lanes.len() > 1).then(|| Arc::new(DeviceGate::default()));
    let mut running = Vec::new();
    for (l, lane) in shared.lanes.iter().enumerate() {
        // A resumed run serves the checkpoint's model until it trains another.
        *lane.model.lock().expect("model slot poisoned") = initial_model.clone();
        let models = lane.models.clone().expect("set above");
        let events = lane.events.clone().expect("set above");
        let evaluator = spawn_evaluator(
            &lane.spec,
            dim,
            datasets.clone(),
            &models,
            &lane.run_dir,
            &events,
            resumed_after,
        )?;
        let feedback = lane.spec.training.per_sample_feedback.then(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            *lane.feedback.lock().expect("feedback slot poisoned") = Some(rx);
            tx
        });
        let (queue, trainer) = Trainer::spawn(TrainerContext {
            pipeline: lane.spec.name.clone(),
            training: lane.spec.training.clone(),
            model: lane.spec.model.clone(),
            feature_names: shared.source.feature_names().to_vec(),
            samples: shared.samples.clone(),
            models,
            run_dir: lane.run_dir.clone(),
            events: events.clone(),
            evaluator: evaluator.as_ref().map(Evaluator::sender),
            feedback,
            initial_model: initial_model.clone(),
            gate: gate.clone(),
            on_trigger_done: {
                let shared = shared.clone();
                let feed = CloseOnDrop(lane.model_feed.clone());
                Some(Box::new(
                    move |t: &TriggerEvent, done: &TriggerOutcome<'_>| {
                        let _ = &feed;
                        let lane = &shared.lanes[l];
                        lane.progress.queued.fetch_sub(1, Ordering::Relaxed);
                        if let Some(m) = done.model {
                            *lane.model.lock().expect("model slot poisoned") = Some(m.to_string());
                        }
                        // First the model report: a policy that needs models saves its state
                        // for the checkpoint once it has it.
                        lane.model_feed.post(ModelInfo {
                            trigger: t.id,
                            model: done.model.map(String::from),
                            samples: done.samples,
                            training_s: done.training_ms as f64 / 1000.0,
                        });
                        let book = shared.book.as_ref().expect("the leader has the book");
                        if let Some(m) = done.model {
                            book.stored_model(m);
                        }
                        // Training sets up to this one are done: retired samples may go.
                        shared.samples.trained(l, t.id);
                        let events = lane
                            .events
                            .as_ref()
                            .expect("the leader's lanes have events");
                        events.metric(t.id, "stored_samples", shared.samples.len() as f64, None)?;
                        book.write(t, done.model)
                            .map_err(|e| TrainError::TriggerDone(e.into()))
                    },
                ))
            },
        })?;
        *lane.trainer_queue.lock().expect("queue slot poisoned") = Some(queue);
        running.push((trainer, evaluator));
    }

    Ok(running)
}

/// How a lane's trainer and evaluator ended.
pub(super) type Finished = (
    Result<TrainerReport, TrainError>,
    Result<Option<EvalReport>, EvalError>,
);

/// Closes the trainers' queues, waits for each trainer and then its evaluator (the
/// after-pipeline handlers run last), and returns their reports in lane order.
pub(super) fn finish_lanes(
    shared: &RunContext,
    running: Vec<Running>,
    bar: &ProgressBar,
) -> Vec<Finished> {
    let name = &shared.spec.name;
    bar.set_message(format!("{name}: waiting for the trainer"));
    // Every worker is done, so worker 0 dropped the queues: the trainers finish what is queued.
    for lane in &shared.lanes {
        lane.trainer_queue
            .lock()
            .expect("queue slot poisoned")
            .take();
    }
    let mut finished = Vec::new();
    for (trainer, evaluator) in running {
        let report = trainer.join();
        // The trainer has sent its last model: the evaluator finishes the after-training
        // evaluations and runs the after-pipeline handlers.
        bar.set_message(format!("{name}: evaluating"));
        let evaluation = evaluator.map(Evaluator::finish).transpose();
        finished.push((report, evaluation));
    }
    finished
}

/// The evaluator of a run, if `[evaluation]` is configured: built before the trainer starts
/// (see `eval::Session::new`).
#[allow(clippy::too_many_arguments)]
fn spawn_evaluator(
    spec: &PipelineSpec,
    input_dim: usize,
    datasets: Vec<EvalDataset>,
    models: &ModelStore,
    run_dir: &Path,
    events: &Arc<EventSink>,
    resumed_after: Option<u64>,
) -> Result<Option<Evaluator>, RunError> {
    let Some(eval) = &spec.evaluation else {
        return Ok(None);
    };
    // A resumed run's earlier models (its event files keep those up to the checkpoint).
    let earlier = match resumed_after {
        Some(k) => trained_models(run_dir, models)?
            .into_iter()
            .filter(|m| m.trigger <= k)
            .collect(),
        None => Vec::new(),
    };
    let device = eval.device.as_deref().unwrap_or(&spec.training.device);
    let evaluator = Evaluator::spawn(
        EvalSetup {
            model: spec.model.clone(),
            input_dim,
            device: crate::train::parse_device(device).map_err(RunError::Failed)?,
            datasets,
            handlers: eval.handlers.clone(),
            store: models.clone(),
            scratch: run_dir.join("models"),
            events: events.clone(),
        },
        earlier,
    )?;
    Ok(Some(evaluator))
}
