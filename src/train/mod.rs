//! Training with libtorch (tch): the trainer thread, optimizers and the model zoo.
//!
//! | file | responsibility |
//! |---|---|
//! | `trainer.rs` | [`Trainer`]: a thread per device fed by a bounded queue of training sets |
//! | `optimizer.rs` | building the configured optimizer |
//! | `models/` | the model zoo ([`models::Mlp`]) |
//! | `device.rs` | parsing `cpu` / `cuda:N` into a tch device |

mod device;
pub mod models;
mod optimizer;
mod trainer;

pub use device::parse_device;
pub use trainer::{Trainer, TrainerContext, TrainerReport, TriggerDone, digest};
