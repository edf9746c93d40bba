//! Training one trigger's model: epochs over the training set in mini-batches from the
//! [`BatchLoader`], with the configured criterion, optimizer, schedule, gradient clipping and
//! sample cap.
//!
//! Reproducibility on CPU: each epoch's order is a ChaCha shuffle seeded by (seed, trigger,
//! epoch); batches hold the same samples in the same order whatever the number of dataflow
//! workers, and the trainer runs with a fixed number of libtorch threads.

use std::path::Path;
use std::sync::Arc;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use sluice_dataflows::Key;
use tch::{Device, Kind, Tensor, nn};

use super::amp::LossScaler;
use super::criterion;
use super::loader::BatchLoader;
use super::models::Model;
use super::optimizer;
use crate::config::{ScheduleKind, StepEvery, TrainingSpec};
use crate::store::SampleStore;

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
    /// Why training stopped early with a broken model (a NaN or infinite loss); the model must
    /// not be used.
    pub failure: Option<String>,
}

/// Per-sample losses of a batch: its keys and their losses, in the same order.
pub type OnSampleLosses<'a> = &'a mut dyn FnMut(&[Key], &[f32]);

/// Trains `model` (its parameters in `vs`) on the samples `keys` of trigger `trigger`.
/// `on_loss(step, loss)` is called every `record_loss_every` steps; with `checkpoint_every_steps`,
/// the weights are saved to `checkpoint` (atomically) that often; `on_samples`, when given,
/// after every batch (on an accelerator, every [`SYNC_STEPS`] batches) with each sample's loss
/// from the same forward pass (the batch loss is their mean). With `amp`, the loss is scaled
/// ([`LossScaler`]) and steps whose gradients overflow are skipped.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    model: &dyn Model,
    vs: &nn::VarStore,
    t: &TrainingSpec,
    store: &Arc<SampleStore>,
    keys: &[Key],
    trigger: u64,
    device: Device,
    on_loss: &mut dyn FnMut(u64, f64) -> anyhow::Result<()>,
    checkpoint: Option<&Path>,
    mut on_samples: Option<OnSampleLosses<'_>>,
) -> anyhow::Result<FitOutcome> {
    let mut opt = optimizer::build(&t.optimizer, vs)?;
    let n = keys.len();
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
    let mut order: Vec<Key> = keys.to_vec();
    'epochs: for epoch in 0..t.epochs_per_trigger {
        if out.samples_passed >= cap {
            break;
        }
        if t.schedule.step_every == StepEvery::Epoch {
            opt.schedule(&t.schedule, epoch as u64, total_sched);
        }
        if t.shuffle {
            let mut rng = ChaCha8Rng::seed_from_u64(mix(t.seed, trigger, epoch as u64));
            order.copy_from_slice(keys);
            order.shuffle(&mut rng);
        }
        let mut take = &order[..epoch_samples as usize];
        if out.samples_passed + take.len() as u64 > cap {
            take = &take[..(cap - out.samples_passed) as usize];
        }
        let mut loader =
            BatchLoader::start(store.clone(), take.to_vec(), t.batch_size, PREFETCH, device)?;
        let (mut loss_sum, mut batches) = (0.0, 0u64);
        let mut window = Window::default();
        while let Some(batch) = loader.next_batch() {
            let batch = batch?;
            if t.schedule.step_every == StepEvery::Batch && !constant {
                opt.schedule(&t.schedule, out.steps, total_sched);
            }
            let logits = if t.amp {
                // The loss in fp32, whatever precision the forward pass used.
                tch::autocast(true, || model.forward_t(&batch.x, true)).to_kind(Kind::Float)
            } else {
                model.forward_t(&batch.x, true)
            };
            let loss = criterion::loss(t.criterion, t.label_smoothing, &logits, &batch.y, true);
            if on_samples.is_some() {
                // Outside autograd: one more loss kernel, nothing added to backward.
                window.per_sample.push(tch::no_grad(|| {
                    criterion::loss(t.criterion, t.label_smoothing, &logits, &batch.y, false)
                }));
                window.keys.extend_from_slice(&batch.keys);
            }
            window.add(&loss);
            let step = out.steps + 1;
            let record = t.record_loss_every.is_some_and(|every| step % every == 0);
            if step % sync_every == 0 || record {
                let (sum, n) = window.read(&mut on_samples);
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
        out.final_loss = loss_sum / batches.max(1) as f64;
        tracing::debug!(trigger, epoch, loss = out.final_loss, "training epoch");
    }
    Ok(out)
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
    use crate::train::models;

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
            &store,
            &keys,
            0,
            Device::Cpu,
            &mut |step, loss| {
                assert!(loss.is_finite());
                logged.push(step);
                Ok(())
            },
            Some(&ck),
            Some(&mut on_samples),
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
            &store,
            &keys,
            1,
            Device::Cpu,
            &mut |_, _| Ok(()),
            None,
            None,
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
        drop(on);
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
}
