//! The trigger policy trait, and what a policy may ask of the world outside the dataflow.

use crate::drift::Vectors;
use crate::sample::{Key, Position, SampleMeta};

/// The numbers behind a decision (metric values, thresholds, window sizes), by name.
pub type Details = Vec<(String, f64)>;

/// A trigger decision inside a batch: the first `count` samples of the batch belong to the
/// closed epoch (`count = 0`: the epoch ended with the previous batch, or is empty).
#[derive(Clone, Debug, PartialEq)]
pub struct Fire {
    /// Samples of the batch passed to [`TriggerPolicy::inform`] that the epoch includes.
    pub count: usize,
    /// Why the policy fired, in words.
    pub reason: String,
    /// The numbers behind the decision (metric values, thresholds, window sizes), by name.
    pub details: Details,
}

impl Fire {
    /// A fire without details.
    pub fn new(count: usize, reason: impl Into<String>) -> Self {
        Self {
            count,
            reason: reason.into(),
            details: Vec::new(),
        }
    }
}

/// A decision of a policy that decides at intervals (fired or not), for plotting the series
/// of distances and thresholds.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The last sample of the interval decided on.
    pub at: Position,
    /// Whether it fired.
    pub triggered: bool,
    /// The numbers behind it, by name (as in [`Fire::details`]).
    pub details: Details,
}

/// The outcome of a trigger's training, reported back to the policy before it decides on
/// anything after that trigger (when it [needs models](TriggerPolicy::needs_models)).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The trigger.
    pub trigger: u64,
    /// The model in service after it (`None`: none yet).
    pub model: Option<String>,
    /// Samples its training set had.
    pub samples: u64,
    /// Wall time its training took, seconds.
    pub training_s: f64,
}

/// Data a policy reads from outside the dataflow: sample payloads and model outputs. The root
/// crate implements it over the sample store and model store; calls block the trigger worker.
pub trait Probe {
    /// Vectors for `keys`, in order: their raw features, or (`model` given) that model's
    /// embeddings of them (its penultimate layer).
    fn vectors(&mut self, keys: &[Key], model: Option<&str>) -> Result<Vectors, String>;

    /// `model`'s predicted class for each of `keys`, in order.
    fn predict(&mut self, keys: &[Key], model: &str) -> Result<Vec<i64>, String>;

    /// The trigger operator will not read samples before `position` any more (its policy's
    /// windows and its unconsumed input start there); the store may compact them.
    fn retain_from(&mut self, _position: Position) {}
}

/// A [`Probe`] for policies that read nothing (amount, time): every call is an error.
pub struct NoProbe;

impl Probe for NoProbe {
    fn vectors(&mut self, _: &[Key], _: Option<&str>) -> Result<Vectors, String> {
        Err("this pipeline has no sample payloads to read".into())
    }

    fn predict(&mut self, _: &[Key], _: &str) -> Result<Vec<i64>, String> {
        Err("this pipeline has no models to query".into())
    }
}

/// What [`TriggerPolicy::inform`] can use besides the samples.
pub struct Context<'a> {
    /// Payloads and model outputs.
    pub probe: &'a mut dyn Probe,
    /// Where interval decisions go, in order.
    pub decisions: &'a mut Vec<Decision>,
}

/// Decides when to retrain. Sees every sample exactly once, in stream (position) order, in
/// batches of any size: a policy must give the same decisions however the stream is batched.
pub trait TriggerPolicy: 'static {
    /// A readable name, used in operator names and logs (`"DataAmount"`).
    fn name(&self) -> &str;

    /// Informs the policy of the next `batch` of samples (sorted by position, continuing where
    /// the previous batch ended), appends to `fired` the epochs it closes, in order, and returns
    /// how many samples of `batch` it consumed. A policy that [needs
    /// models](Self::needs_models) stops right after its first fire (returning that fire's
    /// `count`); the operator hands it the rest once the trigger's model is reported.
    /// An error (a probe that failed) stops the policy.
    fn inform(
        &mut self,
        batch: &[SampleMeta],
        ctx: &mut Context<'_>,
        fired: &mut Vec<Fire>,
    ) -> Result<usize, String>;

    /// True when the policy may close an epoch at the end of a previous batch (`count = 0`),
    /// e.g. because only the next sample shows that a time window ended. The operator then
    /// keeps a capability at the last sample it saw until the next batch.
    fn fires_between_batches(&self) -> bool {
        false
    }

    /// True when decisions after a trigger depend on that trigger's model (its embeddings,
    /// predictions or training time): the operator then waits for [`inform_model`] after each
    /// fire, as Modyn's synchronous pipeline does, so decisions do not depend on timing.
    ///
    /// [`inform_model`]: Self::inform_model
    fn needs_models(&self) -> bool {
        false
    }

    /// The model trained for a trigger (every trigger gets one report, in order).
    fn inform_model(&mut self, _model: &ModelInfo) {}

    /// The oldest sample whose payload the policy may still read through the [`Probe`]
    /// (windows it keeps; `None`: it keeps none). Samples before it and before every sample
    /// not yet consumed may be compacted out of the sample store.
    fn oldest_needed(&self) -> Option<Position> {
        None
    }

    /// Makes this policy a sub-policy of an ensemble: [`inform`](Self::inform) returns right
    /// after each fire (as Modyn's trigger generators yield), and its fires are votes: the
    /// ensemble calls [`on_trigger`](Self::on_trigger) when the pipeline really triggers.
    fn nest(&mut self) {}

    /// The pipeline triggered (called on nested policies by their ensemble; a policy on its own
    /// treats its fires as triggers).
    fn on_trigger(&mut self) {}

    /// The stream ended after the last sample consumed: appends the epochs that closes
    /// (`count = 0`; an ensemble decides what it deferred until a sub-policy that fires between
    /// batches had seen the next sample).
    fn finish(&mut self, _ctx: &mut Context<'_>, _fired: &mut Vec<Fire>) -> Result<(), String> {
        Ok(())
    }

    /// For ensembles: the policy cannot fire before the first `n` samples of `batch` are
    /// consumed, and decides at that point (fed exactly those, plus [`close_before`] of the next
    /// sample for policies that fire between batches). `None`: no decision within `batch`.
    /// The default, one sample at a time, is always correct.
    ///
    /// [`close_before`]: Self::close_before
    fn decision_point(&self, batch: &[SampleMeta]) -> Option<usize> {
        (!batch.is_empty()).then_some(1)
    }

    /// For policies that [fire between batches](Self::fires_between_batches): `next` is the
    /// sample after the last one consumed (not consumed now); appends the epochs it shows to
    /// have ended (`count = 0`).
    fn close_before(
        &mut self,
        _next: &SampleMeta,
        _ctx: &mut Context<'_>,
        _fired: &mut Vec<Fire>,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// Feeds `stream` to `policy` in batches cut at `cuts` (taken modulo the stream length, in any
/// order) with `probe`; returns, per fire, how many samples of the stream the closed epoch ends
/// after. Policies that need models get a report (no model) after each fire.
#[cfg(test)]
pub(crate) fn fire_in_batches_with(
    policy: &mut impl TriggerPolicy,
    probe: &mut dyn Probe,
    stream: &[SampleMeta],
    cuts: &[usize],
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    bounds.push(stream.len());
    bounds.sort_unstable();
    let mut decisions = Vec::new();
    for end in bounds {
        loop {
            let mut fired = Vec::new();
            let mut ctx = Context {
                probe: &mut *probe,
                decisions: &mut decisions,
            };
            let used = policy
                .inform(&stream[start..end], &mut ctx, &mut fired)
                .expect("policy failed");
            out.extend(fired.iter().map(|f| start + f.count));
            for _ in &fired {
                policy.inform_model(&ModelInfo {
                    trigger: out.len() as u64 - 1,
                    model: None,
                    samples: 0,
                    training_s: 0.0,
                });
            }
            start += used;
            if start >= end {
                break;
            }
        }
    }
    let mut fired = Vec::new();
    let mut ctx = Context {
        probe: &mut *probe,
        decisions: &mut decisions,
    };
    policy.finish(&mut ctx, &mut fired).expect("policy failed");
    out.extend(fired.iter().map(|_| stream.len()));
    out
}

/// Samples at `times`, keyed by their index, label 0.
#[cfg(test)]
pub(crate) fn at_times(times: &[crate::sample::Time]) -> Vec<SampleMeta> {
    times
        .iter()
        .enumerate()
        .map(|(i, &time)| SampleMeta {
            time,
            key: i as u64,
            label: 0,
        })
        .collect()
}

/// [`fire_in_batches_with`] for policies that read nothing.
#[cfg(test)]
pub(crate) fn fire_in_batches(
    policy: &mut impl TriggerPolicy,
    stream: &[SampleMeta],
    cuts: &[usize],
) -> Vec<usize> {
    fire_in_batches_with(policy, &mut NoProbe, stream, cuts)
}

impl TriggerPolicy for Box<dyn TriggerPolicy> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn inform(
        &mut self,
        batch: &[SampleMeta],
        ctx: &mut Context<'_>,
        fired: &mut Vec<Fire>,
    ) -> Result<usize, String> {
        (**self).inform(batch, ctx, fired)
    }

    fn fires_between_batches(&self) -> bool {
        (**self).fires_between_batches()
    }

    fn needs_models(&self) -> bool {
        (**self).needs_models()
    }

    fn inform_model(&mut self, model: &ModelInfo) {
        (**self).inform_model(model)
    }

    fn oldest_needed(&self) -> Option<Position> {
        (**self).oldest_needed()
    }

    fn nest(&mut self) {
        (**self).nest()
    }

    fn on_trigger(&mut self) {
        (**self).on_trigger()
    }

    fn finish(&mut self, ctx: &mut Context<'_>, fired: &mut Vec<Fire>) -> Result<(), String> {
        (**self).finish(ctx, fired)
    }

    fn decision_point(&self, batch: &[SampleMeta]) -> Option<usize> {
        (**self).decision_point(batch)
    }

    fn close_before(
        &mut self,
        next: &SampleMeta,
        ctx: &mut Context<'_>,
        fired: &mut Vec<Fire>,
    ) -> Result<(), String> {
        (**self).close_before(next, ctx, fired)
    }
}
