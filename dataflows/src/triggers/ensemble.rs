//! `ensemble`: fire when enough sub-policies agree (Modyn's `EnsembleTrigger`; sub-policies
//! may be ensembles too).
//!
//! The sub-policies run nested ([`TriggerPolicy::nest`]: their fires are votes) and in
//! lockstep: the ensemble feeds all of them up to the earliest [decision
//! point](TriggerPolicy::decision_point) of any, shows policies that fire between batches the
//! next sample ([`close_before`](TriggerPolicy::close_before)), and collects the votes cast
//! there. Votes stay cached until the ensemble fires; when the aggregation of the cached votes
//! says so, it fires at that point, clears the votes and tells every sub-policy
//! ([`on_trigger`](TriggerPolicy::on_trigger)), which has then seen exactly the samples up to
//! the trigger. Modyn's ensemble advances lazy generators instead, so what a sub-policy has seen
//! at a trigger depends on how the stream was batched; lockstep makes it the same for any
//! batching.
//!
//! A decision point at the end of a batch where a sub-policy could still fire once it sees the
//! next sample is deferred to the next batch (or to the end of the stream).
//!
//! Checkpoints hold each sub-policy's own state (by name, in order) with its cached vote, the
//! deferred votes, and the last sample consumed.

use serde::{Deserialize, Serialize};

use super::policy::{
    Context, Decision, Fire, ModelInfo, State, TriggerPolicy, from_state, to_state,
};
use crate::sample::{Position, SampleMeta};

/// How sub-policy votes combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnsembleStrategy {
    /// More than half vote yes.
    MajorityVote,
    /// At least `n` vote yes.
    AtLeast(usize),
    /// Every sub-policy votes yes.
    All,
    /// Any sub-policy votes yes.
    Any,
}

impl EnsembleStrategy {
    fn decide(self, votes: usize, total: usize) -> bool {
        match self {
            EnsembleStrategy::MajorityVote => 2 * votes > total,
            EnsembleStrategy::AtLeast(n) => votes >= n,
            EnsembleStrategy::All => votes == total,
            EnsembleStrategy::Any => votes > 0,
        }
    }
}

struct Sub {
    name: String,
    policy: Box<dyn TriggerPolicy>,
    /// Voted yes since the ensemble last fired.
    vote: bool,
}

/// Votes cast at the current point, not yet decided on.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Point {
    reasons: Vec<String>,
    details: Vec<(String, f64)>,
}

/// Fires when the sub-policies' cached votes pass the strategy.
pub struct Ensemble {
    subs: Vec<Sub>,
    strategy: EnsembleStrategy,
    /// The votes of a decision point at the end of the last batch, waiting for the next sample.
    deferred: Option<Point>,
    /// The last sample consumed.
    last: Position,
    name: String,
}

/// What a checkpoint holds of an [`Ensemble`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnsembleState {
    /// Per sub-policy, in order.
    subs: Vec<SubState>,
    deferred: Option<Point>,
    last: Position,
}

/// A sub-policy's part of an [`EnsembleState`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubState {
    /// Its name (checked on restore).
    name: String,
    vote: bool,
    /// Its own [`TriggerPolicy::save`].
    state: State,
}

impl Ensemble {
    /// An ensemble of named sub-policies (at least one).
    pub fn new(subs: Vec<(String, Box<dyn TriggerPolicy>)>, strategy: EnsembleStrategy) -> Self {
        assert!(!subs.is_empty(), "an ensemble needs sub-policies");
        let name = format!(
            "Ensemble({})",
            subs.iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Self {
            subs: subs
                .into_iter()
                .map(|(name, mut policy)| {
                    policy.nest();
                    Sub {
                        name,
                        policy,
                        vote: false,
                    }
                })
                .collect(),
            strategy,
            deferred: None,
            last: Position::default(),
            name,
        }
    }

    fn peeks(&self) -> bool {
        self.subs.iter().any(|s| s.policy.fires_between_batches())
    }

    /// Records `sub`'s fires at the current point as its vote.
    fn vote(point: &mut Point, sub: &mut Sub, fired: Vec<Fire>) {
        if let Some(f) = fired.into_iter().next() {
            sub.vote = true;
            point.reasons.push(format!("{} ({})", sub.name, f.reason));
            point.details.extend(prefixed(&sub.name, f.details));
        }
    }

    /// Feeds every sub-policy `samples`; their fires (at its end, by the decision-point
    /// contract) are votes.
    fn feed(
        &mut self,
        samples: &[SampleMeta],
        point: &mut Point,
        ctx: &mut Context<'_>,
    ) -> Result<(), String> {
        for sub in &mut self.subs {
            let mut done = 0;
            while done < samples.len() {
                let mut fired = Vec::new();
                let mut sub_decisions = Vec::new();
                let mut inner = Context {
                    probe: &mut *ctx.probe,
                    decisions: &mut sub_decisions,
                };
                let used = sub
                    .policy
                    .inform(&samples[done..], &mut inner, &mut fired)?;
                for mut d in sub_decisions {
                    // A sub-policy's decision is a vote, not a trigger.
                    d.details = prefixed(&sub.name, d.details);
                    d.details.push((
                        format!("{}.vote", sub.name),
                        f64::from(u8::from(d.triggered)),
                    ));
                    d.triggered = false;
                    ctx.decisions.push(d);
                }
                done += used;
                let none = fired.is_empty();
                Self::vote(point, sub, fired);
                if used == 0 && none {
                    break;
                }
            }
        }
        if let Some(s) = samples.last() {
            self.last = s.position();
        }
        Ok(())
    }

    /// Shows the sub-policies that fire between batches the next sample.
    fn look_ahead(
        &mut self,
        next: &SampleMeta,
        point: &mut Point,
        ctx: &mut Context<'_>,
    ) -> Result<(), String> {
        for sub in &mut self.subs {
            if sub.policy.fires_between_batches() {
                let mut fired = Vec::new();
                sub.policy.close_before(next, ctx, &mut fired)?;
                Self::vote(point, sub, fired);
            }
        }
        Ok(())
    }

    /// Decides on the cached votes after `point`; fires at `count` of the current batch.
    fn decide(
        &mut self,
        point: Point,
        count: usize,
        ctx: &mut Context<'_>,
        fired: &mut Vec<Fire>,
    ) -> bool {
        if point.reasons.is_empty() {
            return false;
        }
        let votes = self.subs.iter().filter(|s| s.vote).count();
        let mut details = point.details;
        for sub in &self.subs {
            details.push((format!("{}.vote", sub.name), f64::from(u8::from(sub.vote))));
        }
        let triggered = self.strategy.decide(votes, self.subs.len());
        ctx.decisions.push(Decision {
            at: self.last,
            triggered,
            details: details.clone(),
        });
        if !triggered {
            return false;
        }
        fired.push(Fire {
            count,
            reason: format!("ensemble: {}", point.reasons.join(", ")),
            details,
        });
        for sub in &mut self.subs {
            sub.vote = false;
            sub.policy.on_trigger();
        }
        true
    }
}

fn prefixed(name: &str, details: Vec<(String, f64)>) -> Vec<(String, f64)> {
    details
        .into_iter()
        .map(|(k, v)| (format!("{name}.{k}"), v))
        .collect()
}

impl TriggerPolicy for Ensemble {
    fn name(&self) -> &str {
        &self.name
    }

    fn inform(
        &mut self,
        batch: &[SampleMeta],
        ctx: &mut Context<'_>,
        fired: &mut Vec<Fire>,
    ) -> Result<usize, String> {
        let mut i = 0;
        let mut stalled = false;
        if let Some(mut point) = self.deferred.take() {
            let Some(next) = batch.first() else {
                self.deferred = Some(point);
                return Ok(0);
            };
            self.look_ahead(next, &mut point, ctx)?;
            if self.decide(point, 0, ctx, fired) {
                // At the end of the previous batch: nothing of this one consumed.
                return Ok(0);
            }
        }
        while i < batch.len() {
            let rest = &batch[i..];
            let Some(d) = self
                .subs
                .iter()
                .filter_map(|s| s.policy.decision_point(rest))
                .min()
            else {
                // No sub-policy decides within the batch.
                self.feed(rest, &mut Point::default(), ctx)?;
                break;
            };
            let mut point = Point::default();
            self.feed(&rest[..d], &mut point, ctx)?;
            i += d;
            if self.peeks() {
                match batch.get(i) {
                    Some(next) => self.look_ahead(next, &mut point, ctx)?,
                    None => {
                        // Whether the point closes a time window shows with the next sample.
                        self.deferred = Some(point);
                        break;
                    }
                }
            }
            if self.decide(point, i, ctx, fired) {
                return Ok(i);
            }
            // A point at `batch[i]` itself (a window it closes) is decided by now; a policy
            // still claiming one there would stall us: feed it the sample.
            if d == 0 && std::mem::replace(&mut stalled, true) {
                let mut point = Point::default();
                self.feed(&batch[i..i + 1], &mut point, ctx)?;
                i += 1;
                if self.decide(point, i, ctx, fired) {
                    return Ok(i);
                }
            }
            if d > 0 {
                stalled = false;
            }
        }
        Ok(batch.len())
    }

    fn finish(&mut self, ctx: &mut Context<'_>, fired: &mut Vec<Fire>) -> Result<(), String> {
        let mut point = self.deferred.take().unwrap_or_default();
        for sub in &mut self.subs {
            let mut last = Vec::new();
            sub.policy.finish(ctx, &mut last)?;
            Self::vote(&mut point, sub, last);
        }
        self.decide(point, 0, ctx, fired);
        Ok(())
    }

    fn decision_point(&self, batch: &[SampleMeta]) -> Option<usize> {
        if self.deferred.is_some() {
            return Some(0);
        }
        self.subs
            .iter()
            .filter_map(|s| s.policy.decision_point(batch))
            .min()
    }

    fn close_before(
        &mut self,
        next: &SampleMeta,
        ctx: &mut Context<'_>,
        fired: &mut Vec<Fire>,
    ) -> Result<(), String> {
        let mut point = self.deferred.take().unwrap_or_default();
        self.look_ahead(next, &mut point, ctx)?;
        self.decide(point, 0, ctx, fired);
        Ok(())
    }

    fn fires_between_batches(&self) -> bool {
        self.peeks()
    }

    fn needs_models(&self) -> bool {
        self.subs.iter().any(|s| s.policy.needs_models())
    }

    fn inform_model(&mut self, model: &ModelInfo) {
        for s in &mut self.subs {
            s.policy.inform_model(model);
        }
    }

    fn oldest_needed(&self) -> Option<Position> {
        self.subs
            .iter()
            .filter_map(|s| s.policy.oldest_needed())
            .min()
    }

    fn save(&self) -> State {
        to_state(&EnsembleState {
            subs: self
                .subs
                .iter()
                .map(|s| SubState {
                    name: s.name.clone(),
                    vote: s.vote,
                    state: s.policy.save(),
                })
                .collect(),
            deferred: self.deferred.clone(),
            last: self.last,
        })
    }

    fn restore(&mut self, state: State) -> Result<(), String> {
        let state: EnsembleState = from_state(&self.name, state)?;
        let names = |n: Vec<&str>| n.join(", ");
        let saved: Vec<&str> = state.subs.iter().map(|s| s.name.as_str()).collect();
        let ours: Vec<&str> = self.subs.iter().map(|s| s.name.as_str()).collect();
        if saved != ours {
            return Err(format!(
                "{}: checkpoint has sub-policies ({}), the configuration ({})",
                self.name,
                names(saved),
                names(ours)
            ));
        }
        for (sub, saved) in self.subs.iter_mut().zip(state.subs) {
            sub.vote = saved.vote;
            sub.policy
                .restore(saved.state)
                .map_err(|e| format!("{}: sub-policy {}: {e}", self.name, sub.name))?;
        }
        self.deferred = state.deferred;
        self.last = state.last;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::{Aggregation, Criterion, MetricKind, MetricSpec, Vectors, WindowSpec};
    use crate::sample::Key;
    use crate::triggers::policy::{
        Probe, assert_refuses_wrong_states, assert_resumes_at_every_fire, at_times,
        fire_in_batches, no_model,
    };
    use crate::triggers::{
        Batched, Cost, CostConfig, DataAmount, DataDrift, DriftConfig, NoProbe, Regret,
        TimeTrigger, Warmup,
    };
    use proptest::prelude::*;

    fn boxed(p: impl TriggerPolicy) -> Box<dyn TriggerPolicy> {
        Box::new(p)
    }

    /// An ensemble of an amount policy, an inner ensemble (a time and an amount policy, and a
    /// batched cost policy that needs models, if `cost`) and a time policy from 0. The inner
    /// ensemble's sub-policies hear only of its own fires: their state at the outer one's
    /// (the cost policy's regret) is not reset.
    fn nested(
        a: u64,
        b: u64,
        every: u64,
        inner: EnsembleStrategy,
        cost: bool,
        k: usize,
    ) -> Ensemble {
        let mut subs = vec![
            ("t".into(), boxed(TimeTrigger::new(every, None, "t"))),
            ("b".into(), boxed(DataAmount::new(b))),
        ];
        if cost {
            let config = CostConfig {
                regret: Regret::IncorporationLatency,
                conversion_factor: 0.02,
                window: 3,
            };
            subs.push(("c".into(), boxed(Batched::new(Cost::new(config), 4, None))));
        }
        Ensemble::new(
            vec![
                ("a".into(), boxed(DataAmount::new(a))),
                ("inner".into(), boxed(Ensemble::new(subs, inner))),
                (
                    "third".into(),
                    boxed(TimeTrigger::new(2 * every, Some(0), "2t")),
                ),
            ],
            EnsembleStrategy::AtLeast(k),
        )
    }

    /// Training takes 0.1 s per sample (cost policies need the measurements).
    fn trained(trigger: u64, samples: u64) -> ModelInfo {
        ModelInfo {
            trigger,
            model: Some(format!("m{trigger}")),
            samples,
            training_s: 0.1 * samples as f64,
        }
    }

    /// One feature: the key's segment of 50, and noise.
    struct Segments;

    impl Probe for Segments {
        fn vectors(&mut self, at: &[Position], _: Option<&str>) -> Result<Vectors, String> {
            let keys: Vec<Key> = at.iter().map(|p| p.key).collect();
            let data = keys
                .iter()
                .flat_map(|k| [(k / 50) as f32, (k % 7) as f32 * 0.1])
                .collect();
            Ok(Vectors::new(2, data))
        }
        fn predict(&mut self, _: &[Position], _: &str) -> Result<Vec<i64>, String> {
            unreachable!()
        }
    }

    fn amounts(every: &[u64], strategy: EnsembleStrategy) -> Ensemble {
        Ensemble::new(
            every
                .iter()
                .map(|&e| {
                    (
                        format!("a{e}"),
                        Box::new(DataAmount::new(e)) as Box<dyn TriggerPolicy>,
                    )
                })
                .collect(),
            strategy,
        )
    }

    #[test]
    fn votes_are_cached_until_the_ensemble_fires() {
        let s = at_times(&(0..30).collect::<Vec<_>>());
        // Amount 4 fires at 4, 8, 12, ...; amount 6 at 6, 12, 18, ...
        // All: both must have voted since the last ensemble fire: at 6 (4 voted at 4),
        // at 12 (8 and 12), at 18 (16, 18), at 24 (24, 24).
        let mut e = amounts(&[4, 6], EnsembleStrategy::All);
        assert_eq!(fire_in_batches(&mut e, &s, &[]), [6, 12, 18, 24, 30]);
        // Any: the union.
        let mut e = amounts(&[4, 6], EnsembleStrategy::Any);
        assert_eq!(
            fire_in_batches(&mut e, &s, &[]),
            [4, 6, 8, 12, 16, 18, 20, 24, 28, 30]
        );
        // At least 2 of 3 (4, 6, 10): 6 (4, 6), 10 (8, 10), 12? 4 votes at 12 and 6 at 12: yes.
        let mut e = amounts(&[4, 6, 10], EnsembleStrategy::AtLeast(2));
        assert_eq!(
            fire_in_batches(&mut e, &s, &[]),
            [6, 10, 12, 18, 20, 24, 30]
        );
    }

    #[test]
    fn nested_ensembles_and_time_sub_policies() {
        let s = at_times(&[0, 1, 5, 10, 11, 20, 21, 22, 40, 41]);
        let inner = Ensemble::new(
            vec![
                (
                    "t10".into(),
                    Box::new(TimeTrigger::new(10, Some(0), "10ms")) as Box<dyn TriggerPolicy>,
                ),
                ("a3".into(), Box::new(DataAmount::new(3))),
            ],
            EnsembleStrategy::Any,
        );
        let mut e = Ensemble::new(
            vec![("inner".into(), Box::new(inner) as Box<dyn TriggerPolicy>)],
            EnsembleStrategy::All,
        );
        // t10 closes [0,10) at sample 3 (count 3) and [10,20) at count 5, [20,30) and [30,40)
        // at count 8 (one candidate: as in Modyn, a sub-policy's fires at a visited candidate
        // are skipped); a3 fires at 3, 6, 9.
        assert_eq!(fire_in_batches(&mut e, &s, &[]), [3, 5, 6, 8, 9]);
        let mut cut = Ensemble::new(
            vec![(
                "inner".into(),
                Box::new(Ensemble::new(
                    vec![
                        (
                            "t10".into(),
                            Box::new(TimeTrigger::new(10, Some(0), "10ms"))
                                as Box<dyn TriggerPolicy>,
                        ),
                        ("a3".into(), Box::new(DataAmount::new(3))),
                    ],
                    EnsembleStrategy::Any,
                )) as Box<dyn TriggerPolicy>,
            )],
            EnsembleStrategy::All,
        );
        assert_eq!(
            fire_in_batches(&mut cut, &s, &[3, 6, 9, 5]),
            [3, 5, 6, 8, 9]
        );
    }

    proptest! {
        #[test]
        fn batching_does_not_change_decisions(
            gaps in proptest::collection::vec(0u64..5, 0..150),
            a in 1u64..9,
            b in 1u64..9,
            every in 1u64..20,
            k in 1usize..4,
            cuts in proptest::collection::vec(0usize..150, 0..10),
        ) {
            let mut t = 0;
            let times: Vec<u64> = gaps.iter().map(|g| { t += g; t }).collect();
            let s = at_times(&times);
            let new = || Ensemble::new(
                vec![
                    ("a".into(), Box::new(DataAmount::new(a)) as Box<dyn TriggerPolicy>),
                    ("b".into(), Box::new(DataAmount::new(b))),
                    ("t".into(), Box::new(TimeTrigger::new(every, None, "t"))),
                ],
                EnsembleStrategy::AtLeast(k),
            );
            let whole = fire_in_batches(&mut new(), &s, &[]);
            prop_assert_eq!(fire_in_batches(&mut new(), &s, &cuts), whole);
        }

        #[test]
        fn resumes_from_a_checkpoint_at_every_fire(
            gaps in proptest::collection::vec(0u64..5, 0..120),
            a in 1u64..9,
            b in 1u64..9,
            every in 1u64..20,
            inner_all in any::<bool>(),
            cost in any::<bool>(),
            k in 1usize..4,
            cuts in proptest::collection::vec(0usize..120, 0..6),
            resume_cuts in proptest::collection::vec(0usize..120, 0..6),
        ) {
            let mut t = 0;
            let times: Vec<u64> = gaps.iter().map(|g| { t += g; t * 100 }).collect();
            let s = at_times(&times);
            let inner = if inner_all { EnsembleStrategy::All } else { EnsembleStrategy::Any };
            let new = || nested(a, b, every * 100, inner, cost, k);
            let fires = fire_in_batches(&mut new(), &s, &[]);
            let mut groups = fires.clone();
            groups.dedup();
            let saves =
                assert_resumes_at_every_fire(new, &mut NoProbe, &s, &cuts, &resume_cuts, &trained);
            // The fire at the end of the stream (`finish`) is not a save point. (The cost
            // policy decides on other training times here than in `fire_in_batches`.)
            prop_assert!(cost || (saves + 1 >= groups.len() && saves <= groups.len()));
        }
    }

    #[test]
    fn resumes_at_fires_deferred_to_the_next_batch() {
        // Batches end where a time window may close: the inner ensemble's votes wait for the
        // next batch's first sample, where the ensemble fires (count 0).
        let s = at_times(&(0..60).map(|i| i * 3).collect::<Vec<_>>());
        let cuts: Vec<usize> = (0..60).step_by(5).collect();
        let new = || nested(4, 7, 10, EnsembleStrategy::Any, false, 1);
        let saves = assert_resumes_at_every_fire(new, &mut NoProbe, &s, &cuts, &[4, 9], &no_model);
        assert!(saves >= 20, "{saves} save points");
    }

    #[test]
    fn resumes_with_batched_drift_in_a_nested_ensemble() {
        let drift = || {
            let config = DriftConfig {
                windows: WindowSpec::Amount {
                    reference: 30,
                    current: 20,
                    allow_overlap: false,
                },
                sample_size: Some(10),
                embeddings: false,
                metrics: vec![MetricSpec {
                    name: "q".into(),
                    kind: MetricKind::Euclidean,
                    criterion: Criterion::DynamicQuantile {
                        window: 3,
                        quantile: 0.2,
                    },
                }],
                aggregation: Aggregation::MajorityVote,
                seed: 3,
            };
            let warmup = Warmup {
                intervals: 2,
                policy: boxed(DataAmount::new(25)),
            };
            boxed(Batched::new(DataDrift::new(config), 10, Some(warmup)))
        };
        let new = || {
            let inner = Ensemble::new(
                vec![
                    ("drift".into(), drift()),
                    ("t".into(), boxed(TimeTrigger::new(40, None, "40ms"))),
                ],
                EnsembleStrategy::Any,
            );
            Ensemble::new(
                vec![
                    ("inner".into(), boxed(inner)),
                    ("a".into(), boxed(DataAmount::new(15))),
                ],
                EnsembleStrategy::MajorityVote,
            )
        };
        let s = at_times(&(0..300).collect::<Vec<_>>());
        let saves =
            assert_resumes_at_every_fire(new, &mut Segments, &s, &[33, 101], &[17], &no_model);
        assert!(saves >= 5, "{saves} save points");
    }

    #[test]
    fn refuses_states_that_do_not_fit() {
        let s = at_times(&(0..50).collect::<Vec<_>>());
        let mut e = nested(3, 4, 10, EnsembleStrategy::Any, true, 2);
        fire_in_batches(&mut e, &s, &[]);
        let state = e.save();
        assert_refuses_wrong_states(e);
        // Other sub-policies; a sub-policy's state that does not fit is named.
        let got = amounts(&[4, 6], EnsembleStrategy::All).restore(state.clone());
        assert!(
            got.unwrap_err()
                .contains("sub-policies (a, inner, third), the configuration (a4, a6)")
        );
        let mut wrong = state;
        wrong["subs"][1]["state"]["subs"][0]["state"] = serde_json::json!({"since_last": 1});
        let got = nested(3, 4, 10, EnsembleStrategy::Any, true, 2).restore(wrong);
        let e = got.unwrap_err();
        assert!(
            e.starts_with(
                "Ensemble(a, inner, third): sub-policy inner: Ensemble(t, b, c): sub-policy t: Time:"
            ),
            "{e}"
        );
    }
}
