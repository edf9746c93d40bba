//! RHO-Loss's irreducible losses (Mindermann et al., "Prioritized Training on Points that are
//! Learnable, Worth Learning, and Not Yet Learnt", 2022), as Modyn's
//! `RHOLossDownsamplingStrategy` and `IrreducibleLossProducer` compute them.
//!
//! Before a trigger's main training, `holdout_ratio / holdout_ratio_max` of the trigger's new
//! samples (those of the epoch it closes, chosen by a hash of the key) train the
//! irreducible-loss (IL) model; with `twin`, a second IL model trains on the rest of them. Then
//! one evaluation-mode pass gives every sample of the training set its irreducible loss: from
//! the second model for samples the first trained on, from the first model otherwise. The
//! downsampler keeps the samples whose training loss minus irreducible loss is highest.
//!
//! Like Modyn, the holdout samples stay in the main training set. Unlike Modyn, the holdout is
//! drawn from the training set's new samples (after presampling), not from all samples of the
//! trigger, and a twin sample is routed per sample (Modyn routes whole batches when one model
//! saw none of them).

use std::collections::HashMap;
use std::time::Instant;

use sluice_dataflows::downsampling::in_holdout;
use sluice_dataflows::{Key, TrainingSet, route};
use tch::{Device, nn};

use super::downsample::{IrreducibleLosses, losses};
use super::error::TrainError;
use super::fit::{FitHooks, fit};
use super::models::{self, Model};
use crate::config::{IlSpec, TrainingSpec};
use crate::store::SampleView;

/// One IL model.
struct IlModel {
    vs: nn::VarStore,
    model: Box<dyn Model>,
}

/// What preparing a trigger's irreducible losses came to.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Each training-set sample's irreducible loss.
    pub losses: IrreducibleLosses,
    /// Samples the (first) IL model trained on.
    pub holdout: usize,
    /// Wall time spent training the IL model(s) and computing the losses, ms.
    pub ms: u64,
    /// Mean irreducible loss over the training set.
    pub mean: f64,
    /// Why training an IL model failed (a NaN or infinite loss): then `losses` is empty and
    /// the trigger chooses by training loss alone.
    pub failure: Option<String>,
}

/// The IL models of a pipeline's trainer, kept across triggers for
/// `il_training.use_previous_model`.
#[derive(Default)]
pub struct Irreducible {
    previous: [Option<IlModel>; 2],
}

impl Irreducible {
    /// Trains the IL model(s) of `set`'s trigger and computes the irreducible loss of every
    /// sample in `set` with `main`'s criterion. `holdout` is (ratio, ratio_max, twin).
    #[allow(clippy::too_many_arguments)]
    pub fn prepare(
        &mut self,
        spec: &IlSpec,
        (ratio, ratio_max, twin): (u64, u64, bool),
        main: &TrainingSpec,
        store: &SampleView,
        set: &TrainingSet,
        features: i64,
        device: Device,
    ) -> Result<Prepared, TrainError> {
        let started = Instant::now();
        let trigger = &set.trigger;
        let split_seed = route(main.seed) ^ trigger.id;
        let (mut held, mut rest) = (Vec::new(), Vec::new());
        for p in &set.samples {
            if *p < trigger.first || *p > trigger.boundary {
                continue;
            }
            match in_holdout(split_seed, p.key, ratio, ratio_max) {
                true => held.push(p.key),
                false => rest.push(p.key),
            }
        }
        let failed = |reason: String| Prepared {
            holdout: held.len(),
            ms: started.elapsed().as_millis() as u64,
            failure: Some(reason),
            ..Prepared::default()
        };
        let first = match self.train(0, spec, store, &held, trigger.id, features, device)? {
            Ok(m) => m,
            Err(reason) => return Ok(failed(reason)),
        };
        let second = match twin {
            true => match self.train(1, spec, store, &rest, trigger.id, features, device)? {
                Ok(m) => Some(m),
                Err(reason) => return Ok(failed(reason)),
            },
            false => None,
        };
        let keys: Vec<Key> = set.samples.iter().map(|p| p.key).collect();
        let mut losses = IrreducibleLosses::with_capacity(keys.len());
        match &second {
            // Each sample's loss from the model that did not train on it.
            Some(second) => {
                let held_set: std::collections::HashSet<Key> = held.iter().copied().collect();
                let (by_second, by_first): (Vec<Key>, Vec<Key>) =
                    keys.iter().partition(|k| held_set.contains(k));
                per_sample_losses(&first, main, store, &by_first, device, &mut losses)?;
                per_sample_losses(second, main, store, &by_second, device, &mut losses)?;
            }
            None => per_sample_losses(&first, main, store, &keys, device, &mut losses)?,
        }
        let mean = losses.values().map(|&l| l as f64).sum::<f64>() / losses.len().max(1) as f64;
        let keep = spec.training.use_previous_model;
        self.previous = [keep.then_some(first), second.filter(|_| keep)];
        Ok(Prepared {
            losses,
            holdout: held.len(),
            ms: started.elapsed().as_millis() as u64,
            mean,
            failure: None,
        })
    }

    /// IL model `slot` trained on `keys` (from the previous one of the slot with
    /// `use_previous_model`, else from random weights seeded by `il_training.seed` + slot);
    /// `Err(reason)` when its loss became NaN or infinite (the slot starts afresh next time).
    #[allow(clippy::too_many_arguments)]
    fn train(
        &mut self,
        slot: usize,
        spec: &IlSpec,
        store: &SampleView,
        keys: &[Key],
        trigger: u64,
        features: i64,
        device: Device,
    ) -> Result<Result<IlModel, String>, TrainError> {
        let il = match self.previous[slot].take() {
            Some(m) if spec.training.use_previous_model => m,
            _ => {
                tch::manual_seed(spec.training.seed.wrapping_add(slot as u64) as i64);
                let vs = nn::VarStore::new(device);
                let model =
                    models::build(&spec.model, &vs.root(), features).map_err(TrainError::Model)?;
                IlModel { vs, model }
            }
        };
        if keys.is_empty() {
            return Ok(Ok(il));
        }
        let out = fit(
            &*il.model,
            &il.vs,
            &spec.training,
            store,
            keys,
            trigger,
            device,
            &mut |_, _| Ok(()),
            None,
            FitHooks::default(),
        )?;
        Ok(match out.failure {
            Some(reason) => Err(reason),
            None => Ok(il),
        })
    }
}

/// Inserts the per-sample loss of `keys` under `il` (evaluation mode, `main`'s criterion).
fn per_sample_losses(
    il: &IlModel,
    main: &TrainingSpec,
    store: &SampleView,
    keys: &[Key],
    device: Device,
    out: &mut HashMap<Key, f32>,
) -> Result<(), TrainError> {
    let values = losses(&*il.model, main, store, keys, device)?;
    out.extend(keys.iter().copied().zip(values));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Architecture, MlpConfig, ModelSpec, OptimizerSpec};
    use crate::store::SampleStore;
    use crate::train::downsample::choose_set;
    use sluice_dataflows::downsampling::{Downsampling, Method};
    use sluice_dataflows::{Position, TriggerEvent};
    use std::sync::Arc;

    /// 1,000 older samples (keys 0..1000) and 1,000 new ones (keys 1000..2000); even keys are
    /// learnable (label = sign of x₀), odd keys are noise (x = (0, 3) jittered, random label).
    fn world() -> (Arc<SampleStore>, TrainingSet) {
        let store = Arc::new(SampleStore::new(2, 2));
        let rows: Vec<(Key, i64, [f32; 2])> = (0..2000u64)
            .map(|k| {
                let jitter = (route(k) % 1000) as f32 / 5000.0;
                let coin = (route(k ^ 77) % 2) as i64;
                if k % 2 == 0 {
                    let sign = if coin == 1 { 1.0 } else { -1.0 };
                    (k, coin, [sign * (1.0 + jitter), 0.0])
                } else {
                    (k, coin, [jitter, 3.0])
                }
            })
            .collect();
        assert!(
            store
                .insert(rows.iter().map(|(k, l, x)| (*k, *l, &x[..])))
                .is_empty()
        );
        let pos = |key| Position { time: key, key };
        let set = TrainingSet {
            trigger: TriggerEvent {
                id: 1,
                first: pos(1000),
                boundary: pos(1999),
                samples: 1000,
                reason: "test".into(),
                details: Vec::new(),
            },
            samples: (0..2000).map(pos).collect(),
            moments: None,
        };
        (store, set)
    }

    fn il_spec() -> IlSpec {
        IlSpec {
            model: ModelSpec {
                num_classes: 2,
                arch: Architecture::Mlp(MlpConfig { hidden: vec![16] }),
                normalize: Default::default(),
            },
            training: TrainingSpec {
                epochs_per_trigger: 30,
                seed: 4,
                use_previous_model: false,
                ..TrainingSpec::with_defaults(32, OptimizerSpec::sgd(0.2))
            },
        }
    }

    fn mean_of(losses: &IrreducibleLosses, parity: u64) -> f64 {
        let v: Vec<f64> = losses
            .iter()
            .filter(|(k, _)| *k % 2 == parity)
            .map(|(_, &l)| l as f64)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    }

    #[test]
    fn irreducible_losses_separate_noise_and_rho_loss_skips_it() {
        let _rng = crate::train::torch_rng();
        let (store, set) = world();
        let main = TrainingSpec::with_defaults(32, OptimizerSpec::sgd(0.1));
        for twin in [false, true] {
            let mut il = Irreducible::default();
            let p = il
                .prepare(
                    &il_spec(),
                    (50, 100, twin),
                    &main,
                    &store.newest(),
                    &set,
                    2,
                    Device::Cpu,
                )
                .unwrap();
            assert!(p.failure.is_none());
            // Half of the trigger's 1,000 new samples, none of the older ones.
            assert!((450..=550).contains(&p.holdout), "holdout {}", p.holdout);
            assert_eq!(p.losses.len(), 2000);
            // Learnable samples have a small irreducible loss, noise about ln 2.
            let (clean, noise) = (mean_of(&p.losses, 0), mean_of(&p.losses, 1));
            assert!(
                clean < 0.2 && noise > 0.5,
                "twin {twin}: {clean} vs {noise}"
            );

            // A fresh main model: training losses are alike, so the loss downsampler draws
            // noise about as often as learnable samples; RHO-Loss keeps the learnable ones.
            tch::manual_seed(9);
            let vs = nn::VarStore::new(Device::Cpu);
            let model = models::build(&il_spec().model, &vs.root(), 2).unwrap();
            let keys: Vec<Key> = set.samples.iter().map(|p| p.key).collect();
            let clean_share = |method, irreducible| {
                let d = Downsampling {
                    method,
                    ratio: 25,
                    ratio_max: 100,
                    sample_then_batch: true,
                    period: 0,
                    rescore_after: None,
                };
                let ((chosen, weights), _) = choose_set(
                    &d,
                    &*model,
                    &main,
                    &store.newest(),
                    &keys,
                    Device::Cpu,
                    3,
                    None,
                    irreducible,
                )
                .unwrap();
                assert_eq!(chosen.len(), 500);
                if matches!(method, Method::RhoLoss { .. }) {
                    assert!(weights.iter().all(|&w| w == 1.0));
                }
                chosen.iter().filter(|k| *k % 2 == 0).count() as f64 / 500.0
            };
            let rho = Method::RhoLoss {
                holdout_ratio: 50,
                holdout_ratio_max: 100,
                twin,
            };
            let by_rho = clean_share(rho, Some(&p.losses));
            let by_loss = clean_share(Method::Loss, None);
            assert!(
                by_rho > 0.85 && by_rho > by_loss + 0.2,
                "twin {twin}: RHO-Loss kept {by_rho} learnable, loss {by_loss}"
            );
        }
    }

    #[test]
    fn previous_il_models_are_kept_only_when_asked() {
        let _rng = crate::train::torch_rng();
        let (store, set) = world();
        let main = TrainingSpec::with_defaults(32, OptimizerSpec::sgd(0.1));
        let mut spec = il_spec();
        spec.training.epochs_per_trigger = 1;
        let mut il = Irreducible::default();
        il.prepare(
            &spec,
            (30, 100, true),
            &main,
            &store.newest(),
            &set,
            2,
            Device::Cpu,
        )
        .unwrap();
        assert!(il.previous.iter().all(Option::is_none));
        spec.training.use_previous_model = true;
        il.prepare(
            &spec,
            (30, 100, true),
            &main,
            &store.newest(),
            &set,
            2,
            Device::Cpu,
        )
        .unwrap();
        assert!(il.previous.iter().all(Option::is_some));
    }
}
