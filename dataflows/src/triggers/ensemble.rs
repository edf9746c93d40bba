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

use super::policy::{Context, Decision, Fire, ModelInfo, TriggerPolicy};
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
#[derive(Default)]
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
    nested: bool,
    name: String,
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
            nested: false,
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

    fn stops_at_fires(&self) -> bool {
        self.needs_models() || self.nested
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
            if self.decide(point, 0, ctx, fired) && self.stops_at_fires() {
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
            if self.decide(point, i, ctx, fired) && self.stops_at_fires() {
                return Ok(i);
            }
            // A point at `batch[i]` itself (a window it closes) is decided by now; a policy
            // still claiming one there would stall us: feed it the sample.
            if d == 0 && std::mem::replace(&mut stalled, true) {
                let mut point = Point::default();
                self.feed(&batch[i..i + 1], &mut point, ctx)?;
                i += 1;
                if self.decide(point, i, ctx, fired) && self.stops_at_fires() {
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

    fn nest(&mut self) {
        self.nested = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triggers::policy::{at_times, fire_in_batches};
    use crate::triggers::{DataAmount, TimeTrigger};
    use proptest::prelude::*;

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
    }
}
