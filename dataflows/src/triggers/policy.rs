//! The trigger policy trait.

use crate::sample::SampleMeta;

/// A trigger decision inside a batch: the sample at `index` is the last one of the closed epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fire {
    /// Index within the batch passed to [`TriggerPolicy::inform`].
    pub index: usize,
    /// Why the policy fired, in words.
    pub reason: String,
}

/// Decides when to retrain. Sees every sample exactly once, in stream (position) order, in
/// batches of any size: a policy must give the same decisions however the stream is batched.
pub trait TriggerPolicy: 'static {
    /// A readable name, used in operator names and logs (`"DataAmount"`).
    fn name(&self) -> &str;

    /// Informs the policy of the next `batch` of samples (sorted by position, continuing where
    /// the previous batch ended) and appends to `fired` the samples that close an epoch.
    fn inform(&mut self, batch: &[SampleMeta], fired: &mut Vec<Fire>);
}
