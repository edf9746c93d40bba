//! The trainer: a thread that turns training sets into models.
//!
//! The training sink sends each trigger's [`TrainingSet`] through a bounded channel
//! (`training.queue_capacity`); when the trainer falls behind, the sink blocks and ingestion
//! slows down (backpressure). For each set the trainer resolves payloads from the sample store,
//! trains `epochs_per_trigger` epochs (warm-starting from the previous model when
//! `use_previous_model`), stores the artifact, emits `models` and `metrics` events, and hands
//! the stored model to the evaluator's thread (`eval::Evaluator`).
//!
//! Reproducibility on CPU: parameters are initialised after `tch::manual_seed(seed)`, shuffling
//! uses a ChaCha RNG seeded by (seed, trigger, epoch), and the trainer runs with a fixed number of
//! libtorch threads, so a run's models are bitwise identical for any number of dataflow workers.
//!
//! A training whose loss becomes NaN or infinite publishes no model: a `training_failed` metric
//! says why, and the previous model (reloaded from its artifact) stays the one in service.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use sluice_dataflows::{SampleScore, TrainingSet, TriggerEvent};
use tch::Device;
use tch::nn;

use super::device::parse_device;
use super::downsample::{IrreducibleLosses, ScoreCache};
use super::error::TrainError;
use super::fit::{FitHooks, FitOutcome, fit};
use super::gate::DeviceGate;
use super::models::{self, Model};
use super::rho::Irreducible;
use crate::config::{IlSpec, ModelSpec, TrainingSpec};
use crate::sink::kafka::Published;
use crate::sink::{EventBody, EventSink, unix_ms};
use crate::store::{ModelMetadata, ModelStore, Normalization, SampleStore, SampleView};
use sluice_dataflows::downsampling::Method;

/// A stored model as the trainer announces it to the evaluator (and as evaluation sees it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainedModel {
    /// Model id in the model store.
    pub id: String,
    /// Its trigger.
    pub trigger: u64,
    /// Event time of the trigger's first sample, ms.
    pub first: u64,
    /// Event time of the trigger's last sample, ms.
    pub last: u64,
}

/// What the trainer needs, moved into its thread.
pub struct TrainerContext {
    /// Pipeline name.
    pub pipeline: String,
    /// `[training]`.
    pub training: TrainingSpec,
    /// `[model]`.
    pub model: ModelSpec,
    /// Feature column names (input order).
    pub feature_names: Vec<String>,
    /// Payloads by key.
    pub samples: Arc<SampleStore>,
    /// Where artifacts go.
    pub models: ModelStore,
    /// Run directory (artifact paths in events are relative to it).
    pub run_dir: PathBuf,
    /// Event writer.
    pub events: Arc<EventSink>,
    /// Where stored models go to be evaluated, if `[evaluation]` is configured.
    pub evaluator: Option<Sender<TrainedModel>>,
    /// A stored model (id) to continue from (`use_previous_model`), when resuming.
    pub initial_model: Option<String>,
    /// Where per-sample losses go (`training.per_sample_feedback`), in batches.
    pub feedback: Option<Sender<Vec<SampleScore>>>,
    /// Turns on the device shared with other trainers (a sweep's variants), if any.
    pub gate: Option<Arc<DeviceGate>>,
    /// Called after each trigger is done (model stored and its events emitted, or skipped):
    /// writes the checkpoint, reports the model to the trigger policy.
    pub on_trigger_done: Option<TriggerDone>,
}

/// Per-sample scores for the dataflow, in batches of at least this many (a channel message per
/// training batch would cost more than the scores).
const FEEDBACK_BATCH: usize = 4096;

/// Collects one trigger's per-sample losses and sends them in batches.
struct Feedback<'a> {
    tx: &'a Sender<Vec<SampleScore>>,
    trigger: u64,
    pending: Vec<SampleScore>,
}

impl Feedback<'_> {
    fn add(&mut self, keys: &[u64], losses: &[f32]) {
        let trigger = self.trigger;
        self.pending
            .extend(keys.iter().zip(losses).map(|(&key, &loss)| SampleScore {
                key,
                trigger,
                loss,
            }));
        if self.pending.len() >= FEEDBACK_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(FEEDBACK_BATCH));
            // Closed: the dataflow has finished; nothing can use the scores any more.
            let _ = self.tx.send(batch);
        }
    }
}

/// What a trigger's training came to, for [`TriggerDone`].
#[derive(Clone, Copy, Debug)]
pub struct TriggerOutcome<'a> {
    /// The model in service after the trigger (its own, or the previous one when training was
    /// skipped or failed; `None`: no model yet).
    pub model: Option<&'a str>,
    /// Samples in the trigger's training set.
    pub samples: u64,
    /// Wall time spent training, ms.
    pub training_ms: u64,
}

/// Hook run after each trigger is done (model stored and its events emitted, or skipped).
pub type TriggerDone =
    Box<dyn Fn(&TriggerEvent, &TriggerOutcome<'_>) -> Result<(), TrainError> + Send>;

/// What the trainer did, returned when its queue closes.
#[derive(Clone, Debug, Default)]
pub struct TrainerReport {
    /// Models trained and stored.
    pub models: u64,
    /// Triggers whose training set was empty (no model).
    pub skipped: u64,
    /// Triggers whose training failed (NaN loss; no model).
    pub failed: u64,
    /// Samples trained on, summed over triggers (one count per sample per trigger).
    pub samples: u64,
    /// Total wall time spent training, ms.
    pub training_ms: u64,
    /// Total wall time spent storing models, ms.
    pub model_store_ms: u64,
    /// Id of the last model.
    pub last_model: Option<String>,
}

/// A training set as the trainer's queue carries it.
#[derive(Clone)]
pub struct Delivery {
    /// The set.
    pub set: TrainingSet,
    /// The payloads of its samples that other processes own, shipped over the dataflow
    /// (`pipeline::ship`) when the trainer takes the set; the rest are in the process's
    /// sample store. `None` in one process.
    pub shipped: Option<Shipped>,
}

/// The trainer's end of a training set's shipment: the samples other processes own arrive
/// once the trainer asks for them, so the process holds the shipped samples of the set it
/// trains, not of every set queued.
#[derive(Clone)]
pub struct Shipped {
    /// Asks for the shipment (the pipeline sends its requests then).
    ask: Arc<dyn Fn() + Send + Sync>,
    /// Where it arrives; closed without it if the dataflow stopped first.
    arrives: Arc<std::sync::Mutex<Receiver<Arc<SampleStore>>>>,
}

impl Shipped {
    /// A shipment that `ask` requests and that arrives on `arrives`.
    pub fn new(
        ask: impl Fn() + Send + Sync + 'static,
        arrives: Receiver<Arc<SampleStore>>,
    ) -> Self {
        Self {
            ask: Arc::new(ask),
            arrives: Arc::new(std::sync::Mutex::new(arrives)),
        }
    }

    /// Asks for the shipment and waits for it; `None` if the dataflow stopped first.
    pub fn wait(&self) -> Option<Arc<SampleStore>> {
        (self.ask)();
        let arrives = self.arrives.lock().unwrap_or_else(|e| e.into_inner());
        arrives.recv().ok()
    }
}

impl From<TrainingSet> for Delivery {
    fn from(set: TrainingSet) -> Self {
        Self { set, shipped: None }
    }
}

/// Handle to a running trainer thread.
pub struct Trainer {
    handle: JoinHandle<Result<TrainerReport, TrainError>>,
}

impl Trainer {
    /// Starts the trainer thread; returns the queue's sending side and the handle.
    pub fn spawn(ctx: TrainerContext) -> Result<(SyncSender<Delivery>, Self), TrainError> {
        let device = parse_device(&ctx.training.device).map_err(TrainError::Model)?;
        let (tx, rx) = sync_channel(ctx.training.queue_capacity);
        let handle = std::thread::Builder::new()
            .name("sluice-trainer".into())
            .spawn(move || run(ctx, device, rx))?;
        Ok((tx, Self { handle }))
    }

    /// Waits for the queue to close and the last model to be stored.
    pub fn join(self) -> Result<TrainerReport, TrainError> {
        self.handle.join().map_err(|_| TrainError::Panicked)?
    }
}

struct Current {
    vs: nn::VarStore,
    model: Box<dyn Model>,
    /// The stored model these parameters are (`None`: fresh or `initial_model`).
    id: Option<String>,
    /// Where these parameters can be reloaded from after a failed training.
    weights: Option<Weights>,
}

/// Parameters to load.
#[derive(Clone, Debug)]
enum Weights {
    /// A model in the model store (full or incremental), by id.
    Stored(String),
    /// A safetensors file (`training.initial_model`).
    File(PathBuf),
}

fn fresh(ctx: &TrainerContext, device: Device) -> Result<Current, TrainError> {
    tch::manual_seed(ctx.training.seed as i64);
    let vs = nn::VarStore::new(device);
    let model = models::build(&ctx.model, &vs.root(), ctx.feature_names.len() as i64)
        .map_err(TrainError::Model)?;
    Ok(Current {
        vs,
        model,
        id: None,
        weights: None,
    })
}

/// A model with the parameters of `weights`.
fn load(ctx: &TrainerContext, device: Device, weights: Weights) -> Result<Current, TrainError> {
    let mut c = match &weights {
        Weights::File(path) => {
            let mut c = fresh(ctx, device)?;
            c.vs.load(path)
                .map_err(|e| TrainError::Model(format!("loading {}: {e}", path.display())))?;
            c
        }
        Weights::Stored(id) => {
            // Rebuilt by the store (deltas applied), through a file tch can read.
            let tmp = ctx
                .run_dir
                .join("models")
                .join(format!(".load-{id}.safetensors"));
            let input_dim = ctx.feature_names.len() as i64;
            let (vs, model) =
                models::restore(&ctx.model, &ctx.models, id, (device, input_dim), &tmp)
                    .map_err(TrainError::Model)?;
            Current {
                vs,
                model,
                id: Some(id.clone()),
                weights: None,
            }
        }
    };
    c.weights = Some(weights);
    Ok(c)
}

/// The trainer thread: trains a model for each training set until the queue closes.
fn run(
    ctx: TrainerContext,
    device: Device,
    rx: Receiver<Delivery>,
) -> Result<TrainerReport, TrainError> {
    configure_torch(&ctx.training, device);
    let mut state = TrainerState::start(&ctx, device)?;
    for d in rx {
        let shipped = match &d.shipped {
            None => None,
            Some(s) => Some(s.wait().ok_or(TrainError::NotShipped(d.set.trigger.id))?),
        };
        state.train(&d.set, shipped)?;
        // Shipped payloads go with their set.
        state.view = None;
    }
    Ok(state.report)
}

/// Sets libtorch's number of threads and, on CUDA, lets cuDNN choose its algorithms.
fn configure_torch(t: &TrainingSpec, device: Device) {
    tch::set_num_threads(t.num_threads as i32);
    if device.is_cuda() {
        // Batches have one shape: let cuDNN pick the fastest convolution algorithms once.
        tch::Cuda::cudnn_set_benchmark(true);
    }
}

/// What the trainer keeps from one trigger to the next.
struct TrainerState<'c> {
    ctx: &'c TrainerContext,
    device: Device,
    /// `device` as the device gate names it.
    device_name: String,
    report: TrainerReport,
    /// Downsampling scores kept across triggers (`rescore_after`).
    score_cache: ScoreCache,
    /// RHO-Loss's irreducible-loss models, kept for `il_training.use_previous_model`.
    irreducible: Irreducible,
    /// The model in service (`None`: none yet).
    current: Option<Current>,
    /// The keys of the training set being trained on (a buffer reused across triggers).
    keys: Vec<u64>,
    /// The sample store as that set reads it (its trigger's boundary picks each key's version).
    view: Option<SampleView>,
}

/// A trigger's model, trained (or broken, when `outcome.failure` says so).
struct Trained {
    cur: Current,
    outcome: FitOutcome,
    /// Wall time spent training, ms.
    training_ms: u64,
}

impl Trained {
    /// Samples passed through the model per second of training.
    fn samples_per_s(&self) -> f64 {
        self.outcome.samples_passed as f64 / (self.training_ms.max(1) as f64 / 1000.0)
    }
}

impl<'c> TrainerState<'c> {
    /// The state before the first trigger, with the initial model (a resumed run's, or
    /// `training.initial_model`) loaded.
    fn start(ctx: &'c TrainerContext, device: Device) -> Result<Self, TrainError> {
        let device_name = format!("{device:?}");
        let initial = match (&ctx.initial_model, &ctx.training.initial_model) {
            (Some(id), _) if ctx.training.use_previous_model => Some(Weights::Stored(id.clone())),
            (_, Some(path)) => Some(Weights::File(path.clone())),
            _ => None,
        };
        let current = initial
            .map(|w| {
                // Loading initialises a model first, drawing from libtorch's global generator: in
                // a sweep, only in this trainer's turn, as for training.
                let _turn = ctx.gate.as_ref().map(|g| g.turn(&device_name));
                load(ctx, device, w)
            })
            .transpose()?;
        Ok(Self {
            ctx,
            device,
            device_name,
            report: TrainerReport::default(),
            score_cache: ScoreCache::default(),
            irreducible: Irreducible::default(),
            current,
            keys: Vec::new(),
            view: None,
        })
    }

    /// The sample store as the set being trained reads it.
    fn samples(&self) -> &SampleView {
        self.view
            .as_ref()
            .expect("set when a training set's training starts")
    }

    /// Trains on one trigger's set, then publishes the model, or reports why there is none.
    fn train(
        &mut self,
        set: &TrainingSet,
        shipped: Option<Arc<SampleStore>>,
    ) -> Result<(), TrainError> {
        let ctx = self.ctx;
        let trigger = &set.trigger;
        if set.samples.is_empty() {
            return self.skip_empty(trigger);
        }
        // A sweep's trainers train one at a time per device (fair turns); the wait is not
        // training time.
        let turn = ctx.gate.as_ref().map(|g| g.turn(&self.device_name));
        let started = Instant::now();
        self.keys.clear();
        self.keys.extend(set.samples.iter().map(|p| p.key));
        self.view = Some(ctx.samples.view(trigger.boundary).with_shipped(shipped));
        let rescores = ctx
            .training
            .downsampling
            .as_ref()
            .is_some_and(|plan| plan.list.iter().any(|d| d.rescore_after.is_some()));
        if rescores {
            // Cached scores of another version of a key (a correction, a new value) go.
            self.score_cache.sync_versions(&set.samples);
        }
        let mut cur = self.model_to_train()?;
        if let Some(moments) = &set.moments {
            // `normalize = "running"`: the stream's statistics at this trigger's boundary.
            let scaled = ctx.model.arch.scaled_features(ctx.feature_names.len());
            cur.model
                .set_normalization(Normalization::from_moments(moments, scaled));
        }
        let parent = cur.id.clone();
        let checkpoint = self.checkpoint_path(trigger.id)?;
        let il = self.irreducible_losses(set)?;
        let outcome = self.fit_model(&cur, trigger.id, &checkpoint, il.as_ref())?;
        let training_ms = started.elapsed().as_millis() as u64;
        drop(turn);
        if checkpoint.exists() {
            std::fs::remove_file(&checkpoint)?;
        }
        let mut trained = Trained {
            cur,
            outcome,
            training_ms,
        };
        self.report_skipped_steps(trigger.id, &trained.outcome)?;
        if let Some(reason) = trained.outcome.failure.take() {
            return self.discard_failed(trigger, trained, parent, &reason);
        }
        self.publish(set, trained, parent)
    }

    /// An empty training set: no model; the one in service stays.
    fn skip_empty(&mut self, trigger: &TriggerEvent) -> Result<(), TrainError> {
        tracing::info!(trigger = trigger.id, "empty training set, no model");
        self.report.skipped += 1;
        let model = self.current.as_ref().and_then(|c| c.id.as_deref());
        self.trigger_done(
            trigger,
            TriggerOutcome {
                model,
                samples: 0,
                training_ms: 0,
            },
        )
    }

    /// The model to train: the one in service with `use_previous_model`, else a fresh one
    /// (with `training.initial_model`'s parameters, if set).
    fn model_to_train(&mut self) -> Result<Current, TrainError> {
        Ok(match self.current.take() {
            Some(c) if self.ctx.training.use_previous_model => c,
            _ => match &self.ctx.training.initial_model {
                Some(path) => load(self.ctx, self.device, Weights::File(path.clone()))?,
                None => fresh(self.ctx, self.device)?,
            },
        })
    }

    /// Where a trigger's in-progress weights go (`checkpoint_every_steps`, whose directory it
    /// creates); removed once training is over.
    fn checkpoint_path(&self, trigger: u64) -> Result<PathBuf, TrainError> {
        let checkpoint = self
            .ctx
            .run_dir
            .join("training")
            .join(format!("{}-{:04}.safetensors", self.ctx.pipeline, trigger));
        if self.ctx.training.checkpoint_every_steps.is_some() {
            std::fs::create_dir_all(checkpoint.parent().expect("in the run directory"))?;
        }
        Ok(checkpoint)
    }

    /// With RHO-Loss, trains the trigger's irreducible-loss model and emits its metrics: each
    /// sample's irreducible loss (`None` without RHO-Loss, or when the IL model failed).
    fn irreducible_losses(
        &mut self,
        set: &TrainingSet,
    ) -> Result<Option<IrreducibleLosses>, TrainError> {
        let ctx = self.ctx;
        let t = &ctx.training;
        let trigger = &set.trigger;
        let Some((spec, holdout)) = rho_loss(t, trigger.id) else {
            return Ok(None);
        };
        let view = self.samples().clone();
        let p = self.irreducible.prepare(
            spec,
            holdout,
            t,
            &view,
            set,
            ctx.feature_names.len() as i64,
            self.device,
        )?;
        ctx.events
            .metric(trigger.id, "rho_holdout_samples", p.holdout as f64, None)?;
        ctx.events
            .metric(trigger.id, "rho_il_ms", p.ms as f64, None)?;
        match &p.failure {
            None => ctx
                .events
                .metric(trigger.id, "rho_mean_irreducible_loss", p.mean, None)?,
            Some(reason) => {
                tracing::warn!(
                    trigger = trigger.id,
                    "irreducible-loss model failed ({reason}): choosing by training loss alone"
                );
                ctx.events.metric(trigger.id, "rho_il_failed", 1.0, None)?;
            }
        }
        Ok(p.failure.is_none().then_some(p.losses))
    }

    /// Trains `cur` on `keys`, emitting step losses as `train_loss` metrics and sending
    /// per-sample losses to the dataflow (`per_sample_feedback`).
    fn fit_model(
        &mut self,
        cur: &Current,
        trigger: u64,
        checkpoint: &Path,
        il: Option<&IrreducibleLosses>,
    ) -> Result<FitOutcome, TrainError> {
        let ctx = self.ctx;
        let t = &ctx.training;
        let events = &ctx.events;
        let mut feedback = ctx.feedback.as_ref().map(|tx| Feedback {
            tx,
            trigger,
            pending: Vec::with_capacity(FEEDBACK_BATCH),
        });
        let mut add = |k: &[u64], l: &[f32]| {
            if let Some(f) = feedback.as_mut() {
                f.add(k, l);
            }
        };
        let view = self.samples().clone();
        let outcome = fit(
            &*cur.model,
            &cur.vs,
            t,
            &view,
            &self.keys,
            trigger,
            self.device,
            &mut |step, loss| {
                events.emit(
                    format!("metric-{trigger}-train_loss-step{step}"),
                    EventBody::Metric {
                        trigger_id: trigger,
                        name: "train_loss".into(),
                        value: loss,
                        step: Some(step),
                    },
                )?;
                Ok(())
            },
            t.checkpoint_every_steps.map(|_| checkpoint),
            FitHooks {
                on_samples: ctx
                    .feedback
                    .is_some()
                    .then_some(&mut add as &mut dyn FnMut(&[u64], &[f32])),
                cache: Some(&mut self.score_cache),
                irreducible: il,
            },
        )?;
        if let Some(f) = &mut feedback {
            f.flush();
        }
        Ok(outcome)
    }

    /// Emits `amp_skipped_steps` when mixed precision skipped steps.
    fn report_skipped_steps(&self, trigger: u64, outcome: &FitOutcome) -> Result<(), TrainError> {
        if outcome.skipped_steps > 0 {
            // Mixed precision overflowed and lowered its loss scale: steps without an update.
            self.ctx.events.metric(
                trigger,
                "amp_skipped_steps",
                outcome.skipped_steps as f64,
                Some(outcome.steps),
            )?;
        }
        Ok(())
    }

    /// A failed training (`reason`): reports it and publishes nothing; the model in service
    /// (`parent`) stays, reloaded from its weights.
    fn discard_failed(
        &mut self,
        trigger: &TriggerEvent,
        trained: Trained,
        parent: Option<String>,
        reason: &str,
    ) -> Result<(), TrainError> {
        tracing::error!(
            trigger = trigger.id,
            "training failed: {reason}; no model published"
        );
        let steps = trained.outcome.steps;
        self.ctx
            .events
            .metric(trigger.id, "training_failed", steps as f64, Some(steps))?;
        self.report.failed += 1;
        // The broken parameters go; the model in service stays.
        self.current = match trained.cur.weights.clone() {
            Some(w) => Some(load(self.ctx, self.device, w)?),
            None => None,
        };
        self.trigger_done(
            trigger,
            TriggerOutcome {
                model: parent.as_deref(),
                samples: self.keys.len() as u64,
                training_ms: trained.training_ms,
            },
        )
    }

    /// Stores the trained model, emits its events, hands it to the evaluator, and makes it
    /// the model in service.
    fn publish(
        &mut self,
        set: &TrainingSet,
        trained: Trained,
        parent: Option<String>,
    ) -> Result<(), TrainError> {
        let trigger = &set.trigger;
        let n = self.keys.len();
        let model_id = format!("{}-{:04}", self.ctx.pipeline, trigger.id);
        let digest = digest(&self.keys);
        let meta = self.metadata(trigger, &trained, parent, &model_id, &digest);
        let (artifact, store_ms) = self.store(&meta, &trained.cur)?;
        let keys = self.ctx.models.put_keys(&model_id, &self.keys)?;
        let keys = self.relative(&keys);
        // `[output] publish_artifacts`: the file is on its topic before the event names it.
        let started = Instant::now();
        let published = self
            .ctx
            .events
            .publish_artifact(&model_id, &self.ctx.models.module_path(&model_id))?;
        let store_ms = store_ms + started.elapsed().as_millis() as u64;
        self.emit_model(
            set,
            &trained,
            &model_id,
            digest,
            (artifact, keys, published),
        )?;
        self.emit_model_metrics(trigger.id, &trained, store_ms)?;
        self.send_to_evaluator(trigger, &model_id);
        let Trained {
            mut cur,
            outcome,
            training_ms,
        } = trained;
        tracing::info!(trigger = trigger.id, model = %model_id, samples = n, loss = outcome.final_loss, training_ms, "model stored");
        self.report.models += 1;
        self.report.samples += n as u64;
        self.report.training_ms += training_ms;
        self.report.model_store_ms += store_ms;
        self.report.last_model = Some(model_id.clone());
        self.trigger_done(
            trigger,
            TriggerOutcome {
                model: Some(&model_id),
                samples: n as u64,
                training_ms,
            },
        )?;
        cur.weights = Some(Weights::Stored(model_id.clone()));
        cur.id = Some(model_id);
        self.current = Some(cur);
        Ok(())
    }

    /// The stored model's metadata.
    fn metadata(
        &self,
        trigger: &TriggerEvent,
        trained: &Trained,
        parent: Option<String>,
        model_id: &str,
        digest: &str,
    ) -> ModelMetadata {
        let ctx = self.ctx;
        let cur = &trained.cur;
        ModelMetadata {
            model_id: model_id.to_string(),
            pipeline: ctx.pipeline.clone(),
            trigger_id: trigger.id,
            first: trigger.first,
            boundary: trigger.boundary,
            samples: self.keys.len() as u64,
            training_set_digest: digest.to_string(),
            training_ms: trained.training_ms,
            final_loss: trained.outcome.final_loss,
            parent_model: parent,
            architecture: cur.model.architecture(),
            feature_names: ctx.feature_names.clone(),
            parameters: {
                let mut p: Vec<(String, Vec<i64>)> = cur
                    .vs
                    .variables()
                    .into_iter()
                    .map(|(k, v)| (k, v.size()))
                    .collect();
                p.sort();
                p
            },
            created_ms: unix_ms(),
            sluice_version: env!("CARGO_PKG_VERSION").into(),
            storage: Default::default(),
            normalization: cur.model.normalization().cloned(),
        }
    }

    /// Writes the model's parameters and its TorchScript file to the model store: the
    /// artifact's path (relative to the run directory) and the time it took, ms.
    fn store(&self, meta: &ModelMetadata, cur: &Current) -> Result<(String, u64), TrainError> {
        let store_started = Instant::now();
        // A TorchScript file anyone can load (`torch.jit.load`), before the
        // metadata that marks the model complete; a `torchscript` model's is
        // also what it is restored from (its buffers are not in the safetensors).
        let input_dim = self.ctx.feature_names.len() as i64;
        if let Some(module) = cur.model.as_torchscript()
            && cur.model.normalization().is_some()
        {
            // Its module file is traced with the scaling: the module as trained is kept apart.
            self.ctx
                .models
                .put_whole(&meta.model_id, |tmp| module.save(tmp))?;
        }
        self.ctx.models.put_module(&meta.model_id, |tmp| {
            models::export_torchscript(&*cur.model, &cur.vs, input_dim, tmp)
        })?;
        let path = self
            .ctx
            .models
            .put(meta, |tmp| cur.vs.save(tmp).map_err(|e| e.to_string()))?;
        let store_ms = store_started.elapsed().as_millis() as u64;
        Ok((self.relative(&path), store_ms))
    }

    /// `path` relative to the run directory, as events name files.
    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.ctx.run_dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Emits the `models` event of a stored model.
    fn emit_model(
        &self,
        set: &TrainingSet,
        trained: &Trained,
        model_id: &str,
        digest: String,
        (artifact, keys, published): (String, String, Option<Published>),
    ) -> Result<(), TrainError> {
        let trigger = &set.trigger;
        self.ctx.events.emit(
            format!("model-{}", trigger.id),
            EventBody::Model {
                model_id: model_id.to_string(),
                trigger_id: trigger.id,
                architecture: self.ctx.model.arch.id().into(),
                first_time: set.samples.first().map_or(0, |p| p.time),
                last_time: set.samples.last().map_or(0, |p| p.time),
                samples: self.keys.len() as u64,
                samples_passed: trained.outcome.samples_passed,
                training_set_digest: digest,
                training_ms: trained.training_ms,
                samples_per_s: trained.samples_per_s(),
                final_loss: trained.outcome.final_loss,
                artifact,
                keys,
                sources: self.samples().sources(&self.keys)?,
                artifact_sha256: published.as_ref().map(|p| p.sha256.clone()),
                artifact_bytes: published.as_ref().map(|p| p.bytes),
                artifact_chunks: published.as_ref().map(|p| p.chunks),
            },
        )?;
        Ok(())
    }

    /// Emits a stored model's training metrics.
    fn emit_model_metrics(
        &self,
        trigger: u64,
        trained: &Trained,
        store_ms: u64,
    ) -> Result<(), TrainError> {
        let outcome = &trained.outcome;
        for (name, value) in [
            ("train_loss", outcome.final_loss),
            ("training_ms", trained.training_ms as f64),
            ("model_store_ms", store_ms as f64),
            ("training_samples_per_s", trained.samples_per_s()),
            ("training_set_size", self.keys.len() as f64),
            ("training_steps", outcome.steps as f64),
            ("downsampling_ms", outcome.downsampling_ms as f64),
            ("downsampling_scored", outcome.downsampling_scored as f64),
        ] {
            self.ctx.events.metric(trigger, name, value, None)?;
        }
        Ok(())
    }

    /// Hands a stored model to the evaluator's thread, if `[evaluation]` is configured.
    fn send_to_evaluator(&self, trigger: &TriggerEvent, model_id: &str) {
        if let Some(evaluator) = &self.ctx.evaluator {
            // Closed: the evaluator failed; its error is reported when the run joins it.
            let _ = evaluator.send(TrainedModel {
                id: model_id.to_string(),
                trigger: trigger.id,
                first: trigger.first.time,
                last: trigger.boundary.time,
            });
        }
    }

    /// Runs the `on_trigger_done` hook (checkpoint, trigger policy), if any.
    fn trigger_done(
        &self,
        trigger: &TriggerEvent,
        outcome: TriggerOutcome<'_>,
    ) -> Result<(), TrainError> {
        if let Some(done) = &self.ctx.on_trigger_done {
            done(trigger, &outcome)?;
        }
        Ok(())
    }
}

/// The RHO-Loss downsampler of `trigger`, if that is its downsampler: its IL model and
/// (holdout ratio, ratio_max, twin).
fn rho_loss(t: &TrainingSpec, trigger: u64) -> Option<(&IlSpec, (u64, u64, bool))> {
    let plan = t.downsampling.as_ref()?;
    let i = plan.index_at(trigger)?;
    let Method::RhoLoss {
        holdout_ratio,
        holdout_ratio_max,
        twin,
    } = plan.list.get(i)?.method
    else {
        return None;
    };
    let spec = t.irreducible.get(i)?.as_deref()?;
    Some((spec, (holdout_ratio, holdout_ratio_max, twin)))
}

/// FNV-1a over the keys' little-endian bytes, as 16 hex digits.
pub fn digest(keys: &[u64]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for k in keys {
        for b in k.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    format!("{h:016x}")
}
