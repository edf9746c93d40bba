//! [`TrainError`]: why a trainer stopped.

use crate::store::StoreError;

/// Why a trainer (or the training of an irreducible-loss model) stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The device, or a model: unknown, not built, not loaded.
    #[error("{0}")]
    Model(String),
    /// libtorch failed.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    /// The sample or model store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file or an event could not be written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// What the pipeline does after each trigger (its checkpoint) failed.
    #[error(transparent)]
    TriggerDone(Box<dyn std::error::Error + Send + Sync>),
    /// A training set's samples owned by other processes never arrived: the dataflow
    /// stopped first.
    #[error(
        "trigger {0}'s training set: the dataflow stopped before the other processes' samples \
         of it arrived"
    )]
    NotShipped(u64),
    /// The trainer thread panicked.
    #[error("trainer thread panicked")]
    Panicked,
}
