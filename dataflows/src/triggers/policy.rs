//! The trigger policy trait.

use crate::sample::SampleMeta;

/// A trigger decision inside a batch: the first `count` samples of the batch belong to the
/// closed epoch (`count = 0`: the epoch ended with the previous batch, or is empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fire {
    /// Samples of the batch passed to [`TriggerPolicy::inform`] that the epoch includes.
    pub count: usize,
    /// Why the policy fired, in words.
    pub reason: String,
}

/// Decides when to retrain. Sees every sample exactly once, in stream (position) order, in
/// batches of any size: a policy must give the same decisions however the stream is batched.
pub trait TriggerPolicy: 'static {
    /// A readable name, used in operator names and logs (`"DataAmount"`).
    fn name(&self) -> &str;

    /// Informs the policy of the next `batch` of samples (sorted by position, continuing where
    /// the previous batch ended) and appends to `fired` the epochs it closes, in order.
    fn inform(&mut self, batch: &[SampleMeta], fired: &mut Vec<Fire>);

    /// True when the policy may close an epoch at the end of a previous batch (`count = 0`),
    /// e.g. because only the next sample shows that a time window ended. The operator then
    /// keeps a capability at the last sample it saw until the next batch.
    fn fires_between_batches(&self) -> bool {
        false
    }
}

/// Feeds `stream` to `policy` in batches cut at `cuts` (taken modulo the stream length, in any
/// order); returns, per fire, how many samples of the stream the closed epoch ends after.
#[cfg(test)]
pub(crate) fn fire_in_batches(
    policy: &mut impl TriggerPolicy,
    stream: &[SampleMeta],
    cuts: &[usize],
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    bounds.push(stream.len());
    bounds.sort_unstable();
    for end in bounds {
        let mut fired = Vec::new();
        policy.inform(&stream[start..end], &mut fired);
        out.extend(fired.iter().map(|f| start + f.count));
        start = end;
    }
    out
}
