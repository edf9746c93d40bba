//! Training one trigger's model: epochs over the training set in mini-batches from the
//! [`BatchLoader`], with the configured criterion, optimizer, schedule, gradient clipping and
//! sample cap.
//!
//! Reproducibility on CPU: each epoch's order is a ChaCha shuffle seeded by (seed, trigger,
//! epoch); batches hold the same samples in the same order whatever the number of dataflow
//! workers, and the trainer runs with a fixed number of libtorch threads.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use sluice_dataflows::Key;
#[cfg(test)]
use sluice_dataflows::downsampling::DownsamplingPlan;
use sluice_dataflows::downsampling::{Downsampling, Method, Rs2, target_size};
use tch::{Device, Kind, Tensor, nn};

use super::amp::LossScaler;
use super::criterion;
use super::downsample::{self, IrreducibleLosses, ScoreCache, choose_in_batch, choose_set};
use super::error::TrainError;
use super::loader::{Batch, BatchLoader};
use super::models::Model;
use super::optimizer;
use crate::config::{ScheduleKind, StepEvery, TrainingSpec};
use crate::store::SampleView;

/// Batches the loader prepares ahead of training.
const PREFETCH: usize = 4;

/// Steps between reads of the loss on an accelerator. Reading a value back waits for the
/// device to finish the queued work, so there the losses (and per-sample losses) stay on the
/// device and are read this often (and at every `record_loss_every` step); on CPU, every step.
pub const SYNC_STEPS: u64 = 32;

/// How a trigger's training went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FitOutcome {
    /// Mean loss over the last epoch's batches.
    pub final_loss: f64,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Samples passed through the model (one per sample per epoch).
    pub samples_passed: u64,
    /// Optimizer steps skipped because mixed precision overflowed (the loss scale was lowered).
    pub skipped_steps: u64,
    /// Wall time spent scoring and choosing samples for downsampling, in milliseconds.
    pub downsampling_ms: u64,
    /// Samples scored for downsampling by a forward pass of their own (sample-then-batch
    /// scoring passes, batch-then-sample batches); scores kept by `rescore_after` not counted.
    pub downsampling_scored: u64,
    /// Why training stopped early with a broken model (a NaN or infinite loss); the model must
    /// not be used.
    pub failure: Option<String>,
}

/// Per-sample losses of a batch: its keys and their losses, in the same order.
pub type OnSampleLosses<'a> = &'a mut dyn FnMut(&[Key], &[f32]);

/// What a training reports and reads beyond its samples (all optional).
#[derive(Default)]
pub struct FitHooks<'a> {
    /// Called after every batch (on an accelerator, every [`SYNC_STEPS`] batches) with each
    /// sample's loss from the same forward pass (the batch loss is their mean).
    pub on_samples: Option<OnSampleLosses<'a>>,
    /// Downsampling scores kept across epochs and triggers (`rescore_after`).
    pub cache: Option<&'a mut ScoreCache>,
    /// RHO-Loss: each sample's irreducible loss.
    pub irreducible: Option<&'a IrreducibleLosses>,
}

/// Trains `model` (its parameters in `vs`) on the samples `keys` of trigger `trigger`.
/// `on_loss(step, loss)` is called every `record_loss_every` steps; with `checkpoint_every_steps`,
/// the weights are saved to `checkpoint` (atomically) that often; see [`FitHooks`] for the rest.
/// With `amp`, the loss is scaled ([`LossScaler`]) and steps whose gradients overflow are
/// skipped.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    model: &dyn Model,
    vs: &nn::VarStore,
    t: &TrainingSpec,
    store: &SampleView,
    keys: &[Key],
    trigger: u64,
    device: Device,
    on_loss: &mut dyn FnMut(u64, f64) -> Result<(), TrainError>,
    checkpoint: Option<&Path>,
    hooks: FitHooks<'_>,
) -> Result<FitOutcome, TrainError> {
    let FitHooks {
        mut on_samples,
        mut cache,
        irreducible,
    } = hooks;
    let mut opt = optimizer::build(&t.optimizer, vs)?;
    let down = t.downsampling.as_ref().and_then(|plan| plan.at(trigger));
    let stb = down.filter(|d| d.sample_then_batch);
    let bts = down.filter(|d| !d.sample_then_batch);
    // Samples an epoch trains on: sample-then-batch trains on ratio of the set, and so does
    // batch-then-sample, a ratio of each batch.
    let n = match down {
        Some(d) => target_size(keys.len(), d.ratio, d.ratio_max),
        None => keys.len(),
    };
    let cap = t.num_samples_to_pass.unwrap_or(u64::MAX);
    let batches_per_epoch = if t.drop_last_batch && n >= t.batch_size {
        n / t.batch_size
    } else {
        n.div_ceil(t.batch_size)
    };
    let epoch_samples = (batches_per_epoch * t.batch_size).min(n) as u64;
    let total_samples = (epoch_samples * t.epochs_per_trigger as u64).min(cap);
    let total_sched = match t.schedule.step_every {
        StepEvery::Batch => total_samples.div_ceil(t.batch_size as u64),
        StepEvery::Epoch => total_samples.div_ceil(epoch_samples.max(1)),
    };
    // A constant rate without warm-up is set once, by `build`.
    let constant = t.schedule.kind == ScheduleKind::Constant && t.schedule.warmup_steps == 0;
    let mut out = FitOutcome::default();
    let sync_every = if device == Device::Cpu { 1 } else { SYNC_STEPS };
    let mut scaler = t.amp.then(LossScaler::default);
    // Sample-then-batch: the chosen samples and their weights (re-chosen every `period`
    // epochs); RS2 draws a subset per epoch.
    let mut chosen: (Vec<Key>, Vec<f32>) = (keys.to_vec(), Vec::new());
    let mut weights: HashMap<Key, f32> = HashMap::new();
    let mut rs2 = stb.and_then(|d| match d.method {
        Method::Rs2 { with_replacement } => {
            Some(Rs2::new(with_replacement, mix(t.seed, trigger, u64::MAX)))
        }
        _ => None,
    });
    let mut order: Vec<Key> = Vec::new();
    let mut down_time = std::time::Duration::ZERO;
    'epochs: for epoch in 0..t.epochs_per_trigger {
        if out.samples_passed >= cap {
            break;
        }
        if t.schedule.step_every == StepEvery::Epoch {
            opt.schedule(&t.schedule, epoch as u64, total_sched);
        }
        if let Some(d) = stb {
            let seed = mix(t.seed, trigger, epoch as u64) ^ 0x5EED;
            if let Some(r) = &mut rs2 {
                let k = target_size(keys.len(), d.ratio, d.ratio_max);
                let mut idx = r.epoch(keys, k);
                idx.sort_unstable();
                chosen = (idx.iter().map(|&i| keys[i]).collect(), Vec::new());
            } else if epoch == 0 || (d.period > 0 && (epoch as u64).is_multiple_of(d.period)) {
                let started = Instant::now();
                let (set, scored) = choose_set(
                    d,
                    model,
                    t,
                    store,
                    keys,
                    device,
                    seed,
                    cache.as_deref_mut(),
                    irreducible,
                )?;
                down_time += started.elapsed();
                out.downsampling_scored += scored;
                chosen = set;
                // Weights that are all 1 train as a plain mean.
                weights = if chosen.1.iter().all(|&w| w == 1.0) {
                    HashMap::new()
                } else {
                    chosen
                        .0
                        .iter()
                        .copied()
                        .zip(chosen.1.iter().copied())
                        .collect()
                };
            }
        }
        order.clear();
        order.extend_from_slice(&chosen.0);
        if t.shuffle {
            let mut rng = ChaCha8Rng::seed_from_u64(mix(t.seed, trigger, epoch as u64));
            order.shuffle(&mut rng);
        }
        let mut take = &order[..];
        if bts.is_none() {
            take = &take[..(epoch_samples as usize).min(take.len())];
            if out.samples_passed + take.len() as u64 > cap {
                take = &take[..(cap - out.samples_passed) as usize];
            }
        }
        let mut loader =
            BatchLoader::start(store.clone(), take.to_vec(), t.batch_size, PREFETCH, device)?;
        let mut accumulate =
            bts.map(|d| Accumulator::new(d, t, mix(t.seed, trigger, epoch as u64), irreducible));
        let (mut loss_sum, mut batches) = (0.0, 0u64);
        let mut window = Window::default();
        // `rescore_after`: the scores of the samples this epoch trains, from their training
        // forward pass, kept on the device until the epoch ends.
        let keep_scores = stb
            .filter(|d| d.rescore_after.is_some() && d.method.has_score())
            .filter(|_| cache.is_some());
        let mut trained_scores: (Vec<Tensor>, Vec<Key>) = (Vec::new(), Vec::new());
        loop {
            let batch = match (loader.next_batch(), &mut accumulate) {
                (Some(batch), None) => batch?,
                (Some(batch), Some(acc)) => {
                    let started = Instant::now();
                    let batch = batch?;
                    out.downsampling_scored += batch.keys.len() as u64;
                    let full = acc.push(model, batch)?;
                    down_time += started.elapsed();
                    match full {
                        Some(full) => full,
                        None => continue,
                    }
                }
                // The kept part of the epoch's last batches.
                (None, Some(acc)) => match acc.flush() {
                    Some(rest) => rest,
                    None => break,
                },
                (None, None) => break,
            };
            if out.samples_passed >= cap {
                break 'epochs;
            }
            let w = match (&batch.w, stb) {
                (Some(w), _) => Some(w.shallow_clone()),
                (None, Some(_)) if !weights.is_empty() => {
                    let w: Vec<f32> = batch.keys.iter().map(|k| weights[k]).collect();
                    Some(Tensor::from_slice(&w).to_device(device))
                }
                _ => None,
            };
            if t.schedule.step_every == StepEvery::Batch && !constant {
                opt.schedule(&t.schedule, out.steps, total_sched);
            }
            let logits = if t.amp {
                // The loss in fp32, whatever precision the forward pass used.
                tch::autocast(true, || model.forward_t(&batch.x, true)).to_kind(Kind::Float)
            } else {
                model.forward_t(&batch.x, true)
            };
            let (loss, per_sample) = match &w {
                // Weighted SGD: Σ wᵢ lᵢ / Σ wᵢ, as Modyn's trainer does.
                Some(w) => {
                    let per =
                        criterion::loss(t.criterion, t.label_smoothing, &logits, &batch.y, false);
                    let loss = (&per * w).sum(Kind::Float) / w.sum(Kind::Float);
                    let per = on_samples.is_some().then(|| per.detach());
                    (loss, per)
                }
                None => {
                    let loss =
                        criterion::loss(t.criterion, t.label_smoothing, &logits, &batch.y, true);
                    // Outside autograd: one more loss kernel, nothing added to backward.
                    let per = on_samples.is_some().then(|| {
                        tch::no_grad(|| {
                            criterion::loss(
                                t.criterion,
                                t.label_smoothing,
                                &logits,
                                &batch.y,
                                false,
                            )
                        })
                    });
                    (loss, per)
                }
            };
            if let Some(d) = keep_scores {
                trained_scores.0.push(downsample::scores(
                    d.method,
                    t.criterion,
                    t.label_smoothing,
                    &logits,
                    &batch.y,
                ));
                trained_scores.1.extend_from_slice(&batch.keys);
            }
            let step = out.steps + 1;
            let record = t.record_loss_every.is_some_and(|every| step % every == 0);
            let read = if sync_every == 1 {
                // CPU: read every step, straight from the tensors (no window to fill).
                if let (Some(report), Some(per)) = (&mut on_samples, &per_sample) {
                    let values = Vec::<f32>::try_from(per).expect("per-sample losses are f32");
                    report(&batch.keys, &values);
                }
                Some((loss.double_value(&[]), 1))
            } else {
                if let Some(per) = per_sample {
                    window.per_sample.push(per);
                    window.keys.extend_from_slice(&batch.keys);
                }
                window.add(&loss);
                (step % sync_every == 0 || record).then(|| window.read(&mut on_samples))
            };
            if let Some((sum, n)) = read {
                if !sum.is_finite() {
                    out.failure = Some(nan_failure(sum, epoch, step, n));
                    break 'epochs;
                }
                loss_sum += sum;
                batches += n;
            }
            opt.opt.zero_grad();
            let take_step = match &mut scaler {
                None => {
                    loss.backward();
                    true
                }
                Some(s) => {
                    s.backward(&loss);
                    s.unscale(vs)
                }
            };
            if take_step {
                if let Some(c) = t.grad_clip_norm {
                    opt.opt.clip_grad_norm(c);
                }
                opt.opt.step();
            } else {
                out.skipped_steps += 1;
            }
            out.steps = step;
            out.samples_passed += batch.keys.len() as u64;
            if record {
                on_loss(step, loss.double_value(&[]))?;
            }
            if let (Some(every), Some(path)) = (t.checkpoint_every_steps, checkpoint)
                && step % every == 0
            {
                // `.safetensors` last: tch picks the format from the extension.
                let tmp = path.with_extension("tmp.safetensors");
                vs.save(&tmp)?;
                std::fs::rename(&tmp, path)?;
            }
        }
        let (sum, n) = window.read(&mut on_samples);
        if !sum.is_finite() {
            out.failure = Some(nan_failure(sum, epoch, out.steps, n));
            break 'epochs;
        }
        loss_sum += sum;
        batches += n;
        if let Some(c) = cache.as_deref_mut() {
            if !trained_scores.0.is_empty() {
                let s = Tensor::cat(&trained_scores.0, 0).to_device(Device::Cpu);
                c.record(&trained_scores.1, &Vec::<f32>::try_from(&s)?);
            }
            c.next_epoch();
        }
        out.final_loss = loss_sum / batches.max(1) as f64;
        tracing::debug!(trigger, epoch, loss = out.final_loss, "training epoch");
    }
    out.downsampling_ms = down_time.as_millis() as u64;
    Ok(out)
}

/// Batch-then-sample: scores each loader batch, keeps `ratio` of it with its weights, and
/// hands out a training batch once `batch_size` samples are kept (Modyn's
/// `BatchAccumulator`); the epoch's last kept samples train as a smaller batch.
struct Accumulator<'a> {
    d: &'a Downsampling,
    t: &'a TrainingSpec,
    irreducible: Option<&'a IrreducibleLosses>,
    seed: u64,
    scored: u64,
    kept: Vec<Batch>,
    len: usize,
}

impl<'a> Accumulator<'a> {
    fn new(
        d: &'a Downsampling,
        t: &'a TrainingSpec,
        seed: u64,
        irreducible: Option<&'a IrreducibleLosses>,
    ) -> Self {
        Self {
            d,
            t,
            irreducible,
            seed,
            scored: 0,
            kept: Vec::new(),
            len: 0,
        }
    }

    fn push(&mut self, model: &dyn Model, b: Batch) -> Result<Option<Batch>, TrainError> {
        self.scored += 1;
        let seed = self.seed ^ sluice_dataflows::route(self.scored);
        let mut picked = choose_in_batch(
            self.d,
            self.t,
            model,
            &b.x,
            &b.y,
            &b.keys,
            seed,
            self.irreducible,
        )?;
        picked.sort_unstable_by_key(|p| p.0);
        let device = b.x.device();
        let idx = Tensor::from_slice(&picked.iter().map(|p| p.0 as i64).collect::<Vec<_>>())
            .to_device(device);
        let w: Vec<f32> = picked.iter().map(|p| p.1).collect();
        self.len += picked.len();
        self.kept.push(Batch {
            x: b.x.index_select(0, &idx),
            y: b.y.index_select(0, &idx),
            keys: picked.iter().map(|p| b.keys[p.0]).collect(),
            w: Some(Tensor::from_slice(&w).to_device(device)),
        });
        Ok((self.len >= self.t.batch_size)
            .then(|| self.flush())
            .flatten())
    }

    /// The kept samples so far as one batch.
    fn flush(&mut self) -> Option<Batch> {
        if self.kept.is_empty() {
            return None;
        }
        let parts = std::mem::take(&mut self.kept);
        self.len = 0;
        let cat = |f: fn(&Batch) -> &Tensor| {
            Tensor::cat(
                &parts
                    .iter()
                    .map(|b| f(b).shallow_clone())
                    .collect::<Vec<_>>(),
                0,
            )
        };
        Some(Batch {
            x: cat(|b| &b.x),
            y: cat(|b| &b.y),
            w: Some(cat(|b| b.w.as_ref().expect("kept parts are weighted"))),
            keys: parts.iter().flat_map(|b| b.keys.iter().copied()).collect(),
        })
    }
}

/// Losses of the steps since they were last read back from the device.
#[derive(Default)]
struct Window {
    /// Sum of the mean losses, on the device.
    sum: Option<Tensor>,
    steps: u64,
    /// Per-sample losses of each step, and their keys in the same order.
    per_sample: Vec<Tensor>,
    keys: Vec<Key>,
}

impl Window {
    fn add(&mut self, loss: &Tensor) {
        let loss = loss.detach();
        self.sum = Some(match self.sum.take() {
            Some(s) => s + loss,
            None => loss,
        });
        self.steps += 1;
    }

    /// Reads the window back (waiting for the device), reports its per-sample losses, empties
    /// it; returns the sum of its losses and its number of steps.
    fn read(&mut self, on_samples: &mut Option<OnSampleLosses<'_>>) -> (f64, u64) {
        let Some(sum) = self.sum.take() else {
            return (0.0, 0);
        };
        if let Some(report) = on_samples
            && !self.per_sample.is_empty()
        {
            let per = match self.per_sample.len() {
                1 => self.per_sample.pop().expect("one"),
                _ => Tensor::cat(&std::mem::take(&mut self.per_sample), 0),
            };
            let values = Vec::<f32>::try_from(&per).expect("per-sample losses are f32");
            report(&self.keys, &values);
        }
        self.per_sample.clear();
        self.keys.clear();
        (sum.double_value(&[]), std::mem::take(&mut self.steps))
    }
}

/// The failure of a training whose loss summed to `sum` (NaN or infinite) over the `n` steps
/// up to `step`.
fn nan_failure(sum: f64, epoch: usize, step: u64, n: u64) -> String {
    if n <= 1 {
        format!("loss is {sum} at epoch {epoch}, step {step}")
    } else {
        format!(
            "loss is {sum} at epoch {epoch}, in steps {}..={step}",
            step + 1 - n
        )
    }
}

/// Seed for one (seed, trigger, epoch) shuffle.
fn mix(seed: u64, trigger: u64, epoch: u64) -> u64 {
    sluice_dataflows::route(
        seed ^ sluice_dataflows::route(trigger ^ sluice_dataflows::route(epoch)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Architecture, MlpConfig, ModelSpec, OptimizerSpec};
    use crate::store::SampleStore;
    use crate::train::models;
    use std::sync::Arc;

    fn spec(epochs: usize) -> TrainingSpec {
        TrainingSpec {
            epochs_per_trigger: epochs,
            seed: 3,
            record_loss_every: Some(3),
            checkpoint_every_steps: Some(2),
            per_sample_feedback: true,
            ..TrainingSpec::with_defaults(32, OptimizerSpec::sgd(0.1))
        }
    }

    #[test]
    fn steps_losses_caps_and_checkpoints() {
        let _rng = crate::train::torch_rng();
        let store = Arc::new(SampleStore::new(2, 1));
        let feats: Vec<[f32; 2]> = (0..100).map(|k| [k as f32 / 100.0, 1.0]).collect();
        assert!(
            store
                .insert((0..100u64).map(|k| (k, (k % 2) as i64, &feats[k as usize][..])))
                .is_empty()
        );
        let keys: Vec<Key> = (0..100).collect();
        let model_spec = ModelSpec {
            num_classes: 2,
            arch: Architecture::Mlp(MlpConfig { hidden: vec![4] }),
            normalize: Default::default(),
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let model = models::build(&model_spec, &vs.root(), 2).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ck = dir.path().join("ck.safetensors");
        let (mut logged, mut scored) = (Vec::new(), Vec::new());
        let mut on_samples = |k: &[Key], l: &[f32]| {
            assert_eq!(k.len(), l.len());
            scored.extend_from_slice(k);
        };
        // 2 epochs of 100 samples in batches of 32: 4 steps each (the last batch has 4).
        let out = fit(
            &*model,
            &vs,
            &spec(2),
            &store.newest(),
            &keys,
            0,
            Device::Cpu,
            &mut |step, loss| {
                assert!(loss.is_finite());
                logged.push(step);
                Ok(())
            },
            Some(&ck),
            FitHooks {
                on_samples: Some(&mut on_samples),
                ..FitHooks::default()
            },
        )
        .unwrap();
        assert_eq!((out.steps, out.samples_passed), (8, 200));
        assert_eq!(logged, [3, 6]);
        // Every sample reported once per epoch, in the epoch's shuffled order.
        assert_eq!(scored.len(), 200);
        let mut first: Vec<Key> = scored[..100].to_vec();
        first.sort_unstable();
        assert_eq!(first, keys);
        assert_ne!(scored[..100], scored[100..], "epochs reshuffle");
        // The last checkpoint (step 8) holds the final weights.
        let vs2 = nn::VarStore::new(Device::Cpu);
        let _m2 = models::build(&model_spec, &vs2.root(), 2).unwrap();
        let mut vs2 = vs2;
        vs2.load(&ck).unwrap();
        for (name, t) in vs.variables() {
            assert!(t.equal(&vs2.variables()[&name]), "{name}");
        }
        // The sample cap stops mid-epoch.
        let capped = TrainingSpec {
            num_samples_to_pass: Some(70),
            ..spec(2)
        };
        let out = fit(
            &*model,
            &vs,
            &capped,
            &store.newest(),
            &keys,
            1,
            Device::Cpu,
            &mut |_, _| Ok(()),
            None,
            FitHooks::default(),
        )
        .unwrap();
        assert_eq!((out.steps, out.samples_passed), (3, 70));
    }

    #[test]
    fn a_window_reads_its_steps_back_at_once_and_names_where_a_nan_was() {
        // What an accelerator does between reads (every SYNC_STEPS steps), exercised on CPU.
        let mut w = Window::default();
        let mut got: Vec<(Key, f32)> = Vec::new();
        let mut report =
            |k: &[Key], l: &[f32]| got.extend(k.iter().copied().zip(l.iter().copied()));
        let mut on: Option<OnSampleLosses<'_>> = Some(&mut report);
        assert_eq!(w.read(&mut on), (0.0, 0), "an empty window");
        for (step, losses) in [[1.0f32, 3.0], [2.0, 4.0], [0.5, 0.5]].iter().enumerate() {
            let per = Tensor::from_slice(losses);
            w.add(&per.mean(Kind::Float));
            w.per_sample.push(per);
            w.keys.extend([10 * step as Key, 10 * step as Key + 1]);
        }
        assert_eq!(w.read(&mut on), (2.0 + 3.0 + 0.5, 3));
        assert_eq!(
            got,
            [
                (0, 1.0),
                (1, 3.0),
                (10, 2.0),
                (11, 4.0),
                (20, 0.5),
                (21, 0.5)
            ]
        );
        // A NaN in any step makes the window's sum NaN.
        let mut on: Option<OnSampleLosses<'_>> = None;
        w.add(&Tensor::from(1.0f32));
        w.add(&Tensor::from(f32::NAN));
        let (sum, n) = w.read(&mut on);
        assert!(sum.is_nan());
        assert_eq!(
            nan_failure(sum, 0, 9, n),
            "loss is NaN at epoch 0, in steps 8..=9"
        );
        assert_eq!(nan_failure(sum, 1, 4, 1), "loss is NaN at epoch 1, step 4");
    }

    /// Trains 2 epochs of 100 samples in batches of 10 with `down`; returns the outcome and
    /// the keys trained in each epoch (from the per-sample losses).
    fn downsampled(
        down: Downsampling,
        cache: Option<&mut ScoreCache>,
    ) -> (FitOutcome, Vec<Vec<Key>>) {
        let store = Arc::new(SampleStore::new(2, 1));
        let feats: Vec<[f32; 2]> = (0..100).map(|k| [k as f32 / 50.0 - 1.0, 0.5]).collect();
        let rejected =
            store.insert((0..100u64).map(|k| (k, (k % 3 == 0) as i64, &feats[k as usize][..])));
        assert!(rejected.is_empty());
        let keys: Vec<Key> = (0..100).collect();
        let spec = ModelSpec {
            num_classes: 2,
            arch: Architecture::Mlp(MlpConfig { hidden: vec![4] }),
            normalize: Default::default(),
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let model = models::build(&spec, &vs.root(), 2).unwrap();
        let t = TrainingSpec {
            epochs_per_trigger: 2,
            seed: 5,
            downsampling: Some(DownsamplingPlan::single(down, 0)),
            ..TrainingSpec::with_defaults(10, OptimizerSpec::sgd(0.1))
        };
        let mut trained: Vec<Key> = Vec::new();
        let mut on = |k: &[Key], _: &[f32]| trained.extend_from_slice(k);
        let out = fit(
            &*model,
            &vs,
            &t,
            &store.newest(),
            &keys,
            0,
            Device::Cpu,
            &mut |_, _| Ok(()),
            None,
            FitHooks {
                on_samples: Some(&mut on),
                cache,
                ..FitHooks::default()
            },
        )
        .unwrap();
        assert!(out.failure.is_none());
        let half = trained.len() / 2;
        let mut epochs = vec![trained[..half].to_vec(), trained[half..].to_vec()];
        for e in &mut epochs {
            e.sort_unstable();
        }
        (out, epochs)
    }

    fn down(method: Method, sample_then_batch: bool, period: u64) -> Downsampling {
        Downsampling {
            method,
            ratio: 50,
            ratio_max: 100,
            sample_then_batch,
            period,
            rescore_after: None,
        }
    }

    #[test]
    fn downsampling_trains_on_the_ratio_in_both_modes() {
        let _rng = crate::train::torch_rng();
        // Sample-then-batch, chosen once (period 0): the same 50 samples both epochs, 5 steps each.
        let (out, epochs) = downsampled(down(Method::Loss, true, 0), None);
        assert_eq!((out.steps, out.samples_passed), (10, 100));
        assert_eq!(epochs[0], epochs[1]);
        let mut distinct = epochs[0].clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 50, "without replacement");
        // Batch-then-sample: half of each batch of 10 kept, two kept halves per step.
        let (out, epochs) = downsampled(down(Method::GradNorm, false, 1), None);
        assert_eq!((out.steps, out.samples_passed), (10, 100));
        assert!(epochs.iter().all(|e| e.len() == 50));
        // Uncertainty per label keeps half of each label: 17 of the 34 ones, 33 of the 66 zeros.
        let balanced = Method::Uncertainty {
            metric: sluice_dataflows::downsampling::Uncertainty::Margin,
            balance: true,
        };
        let (out, epochs) = downsampled(down(balanced, true, 1), None);
        assert_eq!(out.samples_passed, 100);
        let ones = epochs[0].iter().filter(|k| *k % 3 == 0).count();
        assert_eq!((ones, epochs[0].len() - ones), (17, 33));
        // Matrix downsamplers: k-center greedy on embeddings per batch, facility location on
        // last-layer gradients (with the embedding outer product) over the set, per label.
        let (out, _) = downsampled(
            down(Method::KCenterGreedy { balance: false }, false, 1),
            None,
        );
        assert_eq!((out.steps, out.samples_passed), (10, 100));
        let submodular = Method::Submodular {
            function: sluice_dataflows::downsampling::Submodular::FacilityLocation,
            greedy: sluice_dataflows::downsampling::Greedy::Lazy,
            gradients: sluice_dataflows::downsampling::Gradients::LastLayerWithEmbedding,
            balance: true,
        };
        let (out, epochs) = downsampled(down(submodular, true, 1), None);
        assert_eq!(out.samples_passed, 100);
        let ones = epochs[1].iter().filter(|k| *k % 3 == 0).count();
        assert_eq!((ones, epochs[1].len() - ones), (17, 33));
        let craig = Method::Craig {
            greedy: sluice_dataflows::downsampling::Greedy::Naive,
            gradients: sluice_dataflows::downsampling::Gradients::LastLayer,
            balance: false,
        };
        let (out, _) = downsampled(down(craig, false, 1), None);
        assert_eq!(out.samples_passed, 100);
        // GradMatch keeps at most half of each batch (those with a positive weight).
        let grad_match = Method::GradMatch {
            gradients: sluice_dataflows::downsampling::Gradients::LastLayerWithEmbedding,
            balance: false,
        };
        let (out, _) = downsampled(down(grad_match, false, 1), None);
        assert!((1..=100).contains(&out.samples_passed), "{out:?}");
        // RS2 without replacement: two disjoint halves, every sample once.
        let (out, epochs) = downsampled(
            down(
                Method::Rs2 {
                    with_replacement: false,
                },
                true,
                1,
            ),
            None,
        );
        assert_eq!(out.samples_passed, 100);
        let mut all: Vec<Key> = epochs.concat();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<Key>>());
    }

    #[test]
    fn kept_scores_are_reused_until_rescore_after_epochs_old() {
        let _rng = crate::train::torch_rng();
        // 2 epochs, half chosen every epoch. Full rescoring would score 200 samples.
        let with = |after| Downsampling {
            rescore_after: Some(after),
            ..down(Method::Loss, true, 1)
        };
        // rescore_after 1: every choice rescores all (scores from the last epoch are 1 old).
        let mut c = ScoreCache::default();
        let (out, _) = downsampled(with(1), Some(&mut c));
        assert_eq!((out.downsampling_scored, out.samples_passed), (200, 100));
        // rescore_after 2: the second choice reuses every score (the chosen half's from
        // training, the rest from the first pass).
        let mut c = ScoreCache::default();
        let (out, first) = downsampled(with(2), Some(&mut c));
        assert_eq!(out.downsampling_scored, 100);
        // A later trigger on the same samples with the same cache. Its first choice: the 50
        // trained in the last epoch are 1 epoch old, the other 50 were scored 2 epochs ago
        // (rescored). Its second: what was not trained since the epoch before is rescored.
        let (out, second) = downsampled(with(2), Some(&mut c));
        let untouched = first[1].iter().filter(|k| !second[0].contains(k)).count() as u64;
        assert_eq!(out.downsampling_scored, 50 + untouched);
        assert_eq!(c.len(), 100);
    }
}
