//! Training with libtorch (tch): the trainer thread, optimizers and the model zoo.
//!
//! | file | responsibility |
//! |---|---|
//! | `trainer.rs` | [`Trainer`]: a thread per device fed by a bounded queue of training sets |
//! | `fit.rs` | training one trigger's model: epochs, batches, criterion, schedule, caps |
//! | `loader.rs` | [`loader::BatchLoader`]: mini-batches from the sample store, prefetched |
//! | `criterion.rs` | the loss functions |
//! | `amp.rs` | dynamic loss scaling for mixed precision |
//! | `downsample.rs` | scoring samples for downsampling (both modes) |
//! | `rho.rs` | RHO-Loss's irreducible-loss models and losses |
//! | `optimizer.rs` | the configured optimizer, its parameter groups, the lr schedule |
//! | `models/` | the model zoo ([`models::Mlp`]) |
//! | `gate.rs` | [`DeviceGate`]: a sweep's trainers take turns on each device, in the order they asked |
//! | `device.rs` | parsing `cpu` / `cuda:N` into a tch device |
//! | `probe.rs` | [`ModelRunner`]: stored models' embeddings and predictions for trigger policies |
//! | `error.rs` | [`TrainError`]: why a trainer stopped (model, libtorch, store, files, checkpoint) |

mod amp;
mod criterion;
mod device;
mod downsample;
mod error;
pub mod fit;
mod gate;
pub mod loader;
pub mod models;
mod optimizer;
mod probe;
mod rho;
mod trainer;

pub use device::parse_device;
pub use downsample::ScoreCache;
pub use error::TrainError;
pub use fit::{FitHooks, FitOutcome, OnSampleLosses, fit};
pub use gate::DeviceGate;
pub use probe::ModelRunner;
pub use trainer::{
    Delivery, Shipped, TrainedModel, Trainer, TrainerContext, TrainerReport, TriggerDone,
    TriggerOutcome, digest,
};

/// Held by every unit test that draws from libtorch's random generator (seeding it, initialising
/// a model, `randn`): the generator is global to the process and tests run on parallel threads,
/// so another test's draws between a `manual_seed` and its use made results vary (a RHO-Loss
/// test failed about once in 75 runs). Runs draw from one trainer thread, and a sweep's
/// trainers take turns per device ([`DeviceGate`]).
#[cfg(test)]
pub(crate) fn torch_rng() -> std::sync::MutexGuard<'static, ()> {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    RNG.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
