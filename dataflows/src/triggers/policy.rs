//! The trigger policy trait, and what a policy may ask of the world outside the dataflow.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::drift::Vectors;
use crate::sample::{Position, SampleMeta, Time};

/// The numbers behind a decision (metric values, thresholds, window sizes), by name.
pub type Details = Vec<(String, f64)>;

/// A policy's (or selection strategy's) state in a checkpoint: plain JSON, written and read
/// by the policy itself.
pub type State = serde_json::Value;

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
    /// Vectors for the samples at `at`, in order: their raw features, or (`model` given) that
    /// model's embeddings of them (its penultimate layer).
    fn vectors(&mut self, at: &[Position], model: Option<&str>) -> Result<Vectors, String>;

    /// `model`'s predicted class for each sample at `at`, in order.
    fn predict(&mut self, at: &[Position], model: &str) -> Result<Vec<i64>, String>;

    /// The trigger operator will not read samples before `position` any more (its policy's
    /// windows and its unconsumed input start there); the store may compact them.
    fn retain_from(&mut self, _position: Position) {}
}

/// A [`Probe`] for policies that read nothing (amount, time): every call is an error.
pub struct NoProbe;

impl Probe for NoProbe {
    fn vectors(&mut self, _: &[Position], _: Option<&str>) -> Result<Vectors, String> {
        Err("this pipeline has no sample payloads to read".into())
    }

    fn predict(&mut self, _: &[Position], _: &str) -> Result<Vec<i64>, String> {
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
    /// how many samples of `batch` it consumed.
    ///
    /// Every policy stops right after a fire (a group of fires that share one boundary, such as
    /// a time trigger's empty windows, counts as one), returning that boundary's `count`; the
    /// caller hands it the rest of the batch again. A policy has then consumed exactly the
    /// samples up to the boundary, the point where the operator takes its [`save`](Self::save).
    /// A fire at the start of the batch (`count = 0`) returns 0 *with* a fire; 0 without a fire
    /// means the policy cannot go on with this batch. A policy that [needs
    /// models](Self::needs_models) gets the rest only once the trigger's model is reported.
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

    /// Makes this policy a sub-policy of an ensemble: its fires are votes (it stops at each, as
    /// [`inform`](Self::inform) always does, as Modyn's trigger generators yield), and the
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

    /// The policy's state for a checkpoint at a trigger boundary. The operator takes it right
    /// after a fire, when the policy has consumed exactly the samples up to the boundary (and,
    /// for a policy that [needs models](Self::needs_models), right after that trigger's
    /// [`inform_model`](Self::inform_model)). Everything the policy's later decisions depend on
    /// is in it: a policy built from the same configuration, [restored](Self::restore) from it
    /// and fed the samples after the boundary decides exactly as the policy that saved it.
    /// `Null` means no state (the default, for policies without any).
    fn save(&self) -> State {
        State::Null
    }

    /// Restores what [`save`](Self::save) returned into a policy freshly built from the same
    /// configuration; an error names what did not fit.
    fn restore(&mut self, state: State) -> Result<(), String> {
        restore_nothing(self.name(), state)
    }
}

/// A policy that decides from how many samples each event time holds, never from their keys,
/// labels or payloads ([`DataAmount`](super::DataAmount), [`TimeTrigger`](super::TimeTrigger)).
/// The [counted operator](super::TriggerCounted) runs it on per-time tallies, so the workers
/// send worker 0 a record per event time instead of one per sample.
pub trait CountPolicy: TriggerPolicy {
    /// As [`inform`](TriggerPolicy::inform) over the samples `batch` counts: `batch[i] = (t, n)`
    /// stands for `n > 0` samples at time `t`, times increasing. Fire counts and the returned
    /// count are samples from the start of the batch; the policy stops right after a fire, as
    /// `inform` does, and must decide exactly as `inform` fed the same samples one by one.
    fn inform_counts(&mut self, batch: &[(Time, u64)], fired: &mut Vec<Fire>) -> u64;
}

/// The restore of a policy without state: only `Null` fits.
pub(crate) fn restore_nothing(policy: &str, state: State) -> Result<(), String> {
    match state {
        State::Null => Ok(()),
        _ => Err(format!(
            "{policy} keeps no state, but the checkpoint has some"
        )),
    }
}

/// `state` as a checkpoint's [`State`] (policy states are plain data: structs, numbers,
/// strings, sequences).
pub(crate) fn to_state(state: &impl Serialize) -> State {
    serde_json::to_value(state).expect("a policy state is plain data, without non-string keys")
}

/// Reads `state` back as a `T`; the error names `policy` and what did not fit.
pub(crate) fn from_state<T: DeserializeOwned>(policy: &str, state: State) -> Result<T, String> {
    serde_json::from_value(state)
        .map_err(|e| format!("{policy}: checkpoint state does not fit: {e}"))
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

/// A model report for trigger `trigger`, whose epoch had `samples` samples, without a model.
#[cfg(test)]
pub(crate) fn no_model(trigger: u64, samples: u64) -> ModelInfo {
    ModelInfo {
        trigger,
        model: None,
        samples,
        training_s: 0.0,
    }
}

/// A save point of an uninterrupted run.
#[cfg(test)]
struct SavePoint {
    /// Samples of the stream consumed.
    consumed: usize,
    /// Fires and decisions so far.
    fires: usize,
    decisions: usize,
    /// The saved state, as the JSON text a checkpoint holds.
    json: String,
}

/// What a run decided: fires (their `count` made the number of stream samples the epoch ends
/// after, as a batch's count depends on the batching), the decision records, and the state at
/// the end.
#[cfg(test)]
struct Run {
    fires: Vec<Fire>,
    decisions: Vec<Decision>,
    end: State,
}

/// Feeds `stream[from..]` to `policy` in batches cut at `cuts` (relative to `from`, as in
/// [`fire_in_batches_with`]), reporting `report(trigger, epoch samples)` after each fire of a
/// policy that needs models (triggers numbered from `first_trigger`), and saving after each
/// fire into `saves` (when given), as the operator does.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
fn run_from(
    policy: &mut impl TriggerPolicy,
    probe: &mut dyn Probe,
    stream: &[SampleMeta],
    from: usize,
    cuts: &[usize],
    first_trigger: u64,
    report: &dyn Fn(u64, u64) -> ModelInfo,
    mut saves: Option<&mut Vec<SavePoint>>,
) -> Run {
    let rest = &stream[from..];
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (rest.len() + 1)).collect();
    bounds.push(rest.len());
    bounds.sort_unstable();
    let (mut fires, mut decisions) = (Vec::new(), Vec::new());
    let (mut start, mut previous) = (0, from);
    for end in bounds {
        loop {
            let mut fired = Vec::new();
            let mut ctx = Context {
                probe: &mut *probe,
                decisions: &mut decisions,
            };
            let used = policy
                .inform(&rest[start..end], &mut ctx, &mut fired)
                .expect("policy failed");
            if !fired.is_empty() {
                assert!(
                    fired.iter().all(|f| f.count == used),
                    "{}: inform must stop right after one boundary's fires: used {used}, {fired:?}",
                    policy.name()
                );
                for fire in fired {
                    let boundary = from + start + fire.count;
                    let trigger = first_trigger + fires.len() as u64;
                    fires.push(Fire {
                        count: boundary,
                        ..fire
                    });
                    if policy.needs_models() {
                        policy.inform_model(&report(trigger, (boundary - previous) as u64));
                    }
                    previous = boundary;
                }
                if let Some(saves) = saves.as_deref_mut() {
                    saves.push(SavePoint {
                        consumed: from + start + used,
                        fires: fires.len(),
                        decisions: decisions.len(),
                        json: serde_json::to_string(&policy.save()).expect("JSON text"),
                    });
                }
            } else {
                assert!(used > 0 || start >= end, "{}: stalled", policy.name());
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
    fires.extend(fired.into_iter().map(|f| Fire {
        count: stream.len(),
        ..f
    }));
    Run {
        fires,
        decisions,
        end: policy.save(),
    }
}

/// Checks that checkpoints at every fire resume exactly: runs `make()` over `stream` (batches
/// cut at `cuts`, model reports from `report` for policies that need models), and for every
/// fire restores its saved state (through JSON text) into a fresh `make()`, feeds it the rest
/// of the stream (in one batch, and cut at `resume_cuts`), and asserts the same later fires,
/// decision records and final state as the uninterrupted run, and that saving the restored
/// state gives the same state back. Returns the number of save points checked.
#[cfg(test)]
pub(crate) fn assert_resumes_at_every_fire<P: TriggerPolicy>(
    make: impl Fn() -> P,
    probe: &mut dyn Probe,
    stream: &[SampleMeta],
    cuts: &[usize],
    resume_cuts: &[usize],
    report: &dyn Fn(u64, u64) -> ModelInfo,
) -> usize {
    let mut saves = Vec::new();
    let whole = run_from(
        &mut make(),
        probe,
        stream,
        0,
        cuts,
        0,
        report,
        Some(&mut saves),
    );
    for (k, save) in saves.iter().enumerate() {
        let state: State = serde_json::from_str(&save.json).expect("JSON text");
        for cuts in [&[][..], resume_cuts] {
            let mut policy = make();
            if let Err(e) = policy.restore(state.clone()) {
                panic!("{}: save point {k}: restore failed: {e}", policy.name());
            }
            let again = serde_json::to_string(&policy.save()).expect("JSON text");
            assert_eq!(
                again, save.json,
                "save point {k}: restore then save differs"
            );
            let resumed = run_from(
                &mut policy,
                probe,
                stream,
                save.consumed,
                cuts,
                save.fires as u64,
                report,
                None,
            );
            assert_eq!(
                resumed.fires,
                whole.fires[save.fires..],
                "save point {k} (after {} samples, cuts {cuts:?}): fires differ",
                save.consumed
            );
            assert_eq!(
                resumed.decisions,
                whole.decisions[save.decisions..],
                "save point {k} (after {} samples, cuts {cuts:?}): decisions differ",
                save.consumed
            );
            assert_eq!(
                resumed.end, whole.end,
                "save point {k} (after {} samples, cuts {cuts:?}): final states differ",
                save.consumed
            );
        }
    }
    saves.len()
}

/// Asserts that `policy` refuses states of the wrong shape with an error (no panic), and
/// accepts its own.
#[cfg(test)]
pub(crate) fn assert_refuses_wrong_states(mut policy: impl TriggerPolicy) {
    let own = policy.save();
    for wrong in [
        serde_json::json!(17),
        serde_json::json!("state"),
        serde_json::json!([1, 2, 3]),
        serde_json::json!({"no such field": true}),
    ] {
        let got = policy.restore(wrong.clone());
        assert!(got.is_err(), "{}: accepted {wrong}", policy.name());
    }
    if !own.is_null() {
        assert!(
            policy.restore(State::Null).is_err(),
            "{}: accepted null",
            policy.name()
        );
    }
    policy.restore(own).expect("its own state fits");
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

    fn save(&self) -> State {
        (**self).save()
    }

    fn restore(&mut self, state: State) -> Result<(), String> {
        (**self).restore(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn states_round_trip_floats_exactly(bits in proptest::collection::vec(any::<u64>(), 0..64)) {
            // Any finite f64 (subnormals, extremes, -0.0) through a state's JSON text and back.
            let values: Vec<f64> = bits
                .into_iter()
                .map(f64::from_bits)
                .filter(|x| x.is_finite())
                .collect();
            let text = serde_json::to_string(&to_state(&values)).unwrap();
            let state: State = serde_json::from_str(&text).unwrap();
            let back: Vec<f64> = from_state("test", state).unwrap();
            let same = back.iter().zip(&values).all(|(a, b)| a.to_bits() == b.to_bits());
            prop_assert!(same && back.len() == values.len());
        }
    }
}
