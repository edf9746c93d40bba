//! `ensemble`: fire when enough sub-policies agree (Modyn's `EnsembleTrigger`; sub-policies
//! may be ensembles too).
//!
//! Each sub-policy runs nested ([`TriggerPolicy::nest`]): it stops at each of its fires, which
//! become candidates, like Modyn's lazily advanced trigger generators. Candidates are visited in
//! stream order; at each, the sub-policies firing there vote yes, and their votes stay cached
//! until the ensemble fires. When the aggregation of the cached votes says so, the ensemble
//! fires at that candidate, clears the votes and tells every sub-policy ([`on_trigger`]).
//!
//! Positions are counted in samples since the start of the stream, so sub-policies may have run
//! ahead of the ensemble (up to their next fire) across batches.
//!
//! [`on_trigger`]: TriggerPolicy::on_trigger

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
    /// Samples of the stream it has consumed.
    done: u64,
    /// Its next fire (stream count) and that fire, not yet visited.
    next: Option<(u64, Fire)>,
    vote: bool,
}

/// Fires when the sub-policies' cached votes pass the strategy.
pub struct Ensemble {
    subs: Vec<Sub>,
    strategy: EnsembleStrategy,
    /// Samples of the stream the ensemble has consumed.
    consumed: u64,
    /// The last candidate visited.
    head: Option<u64>,
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
            subs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        );
        Self {
            subs: subs
                .into_iter()
                .map(|(name, mut policy)| {
                    policy.nest();
                    Sub {
                        name,
                        policy,
                        done: 0,
                        next: None,
                        vote: false,
                    }
                })
                .collect(),
            strategy,
            consumed: 0,
            head: None,
            last: Position::default(),
            nested: false,
            name,
        }
    }

    /// Runs each sub-policy until its next fire lies beyond the head, or the batch ends.
    fn advance(
        &mut self,
        batch: &[SampleMeta],
        ctx: &mut Context<'_>,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), String> {
        let base = self.consumed;
        let end = base + batch.len() as u64;
        let head = self.head;
        for sub in &mut self.subs {
            while sub
                .next
                .as_ref()
                .is_none_or(|(n, _)| head.is_some_and(|h| *n <= h))
            {
                sub.next = None;
                if sub.done >= end {
                    break;
                }
                let from = (sub.done - base) as usize;
                let mut fired = Vec::new();
                let mut sub_decisions = Vec::new();
                let mut inner = Context {
                    probe: &mut *ctx.probe,
                    decisions: &mut sub_decisions,
                };
                let used = sub.policy.inform(&batch[from..], &mut inner, &mut fired)?;
                for mut d in sub_decisions {
                    // A sub-policy's decision is a vote, not a trigger.
                    d.details = prefixed(&sub.name, d.details);
                    d.details.push((format!("{}.vote", sub.name), f64::from(u8::from(d.triggered))));
                    d.triggered = false;
                    decisions.push(d);
                }
                let start = sub.done;
                sub.done += used as u64;
                match fired.into_iter().next() {
                    Some(f) => sub.next = Some((start + f.count as u64, f)),
                    None if used == 0 => break,
                    None => {}
                }
            }
        }
        Ok(())
    }

    /// Visits candidates in order (deferring one a sub-policy might still join, unless the
    /// stream has `finished`); returns the samples of `batch` consumed.
    fn visit(
        &mut self,
        batch: &[SampleMeta],
        ctx: &mut Context<'_>,
        fired: &mut Vec<Fire>,
        finished: bool,
    ) -> Result<usize, String> {
        let base = self.consumed;
        if finished {
            // Sub-policies' own deferred candidates become theirs to vote with.
            for sub in &mut self.subs {
                let mut last = Vec::new();
                sub.policy.finish(ctx, &mut last)?;
                if sub.next.is_none()
                    && let Some(f) = last.into_iter().next()
                {
                    sub.next = Some((sub.done, f));
                }
            }
        }
        loop {
            let mut decisions = Vec::new();
            self.advance(batch, ctx, &mut decisions)?;
            ctx.decisions.append(&mut decisions);
            let Some(candidate) = self
                .subs
                .iter()
                .filter_map(|s| s.next.as_ref().map(|(n, _)| *n))
                .min()
            else {
                break;
            };
            let ready = |s: &Sub| {
                s.next.as_ref().is_some_and(|(n, _)| *n >= candidate)
                    || s.done > candidate
                    || !s.policy.fires_between_batches()
            };
            if !finished && !self.subs.iter().all(ready) {
                // A sub-policy may still fire here once it sees the next sample.
                break;
            }
            let mut reasons = Vec::new();
            let mut details = Vec::new();
            for sub in &mut self.subs {
                if let Some((n, f)) = &sub.next
                    && *n == candidate
                {
                    sub.vote = true;
                    reasons.push(format!("{} ({})", sub.name, f.reason));
                    details.extend(prefixed(&sub.name, f.details.clone()));
                }
            }
            self.head = Some(candidate);
            let votes = self.subs.iter().filter(|s| s.vote).count();
            for sub in &self.subs {
                details.push((format!("{}.vote", sub.name), f64::from(u8::from(sub.vote))));
            }
            if !self.strategy.decide(votes, self.subs.len()) {
                continue;
            }
            let count = candidate.saturating_sub(base) as usize;
            let at = if count > 0 {
                batch[count - 1].position()
            } else {
                self.last
            };
            ctx.decisions.push(Decision {
                at,
                triggered: true,
                details: details.clone(),
            });
            fired.push(Fire {
                count,
                reason: format!("ensemble: {}", reasons.join(", ")),
                details,
            });
            for sub in &mut self.subs {
                sub.vote = false;
                sub.policy.on_trigger();
            }
            if self.needs_models() || self.nested {
                self.consumed = candidate.max(base);
                self.last = at;
                return Ok(count);
            }
        }
        self.consumed = base + batch.len() as u64;
        if let Some(l) = batch.last() {
            self.last = l.position();
        }
        Ok(batch.len())
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
        self.visit(batch, ctx, fired, false)
    }

    fn finish(&mut self, ctx: &mut Context<'_>, fired: &mut Vec<Fire>) -> Result<(), String> {
        self.visit(&[], ctx, fired, true).map(|_| ())
    }

    fn fires_between_batches(&self) -> bool {
        self.subs.iter().any(|s| s.policy.fires_between_batches())
    }

    fn needs_models(&self) -> bool {
        self.subs.iter().any(|s| s.policy.needs_models())
    }

    fn inform_model(&mut self, model: &ModelInfo) {
        for s in &mut self.subs {
            s.policy.inform_model(model);
        }
    }

    fn nest(&mut self) {
        self.nested = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triggers::policy::fire_in_batches;
    use crate::triggers::{DataAmount, TimeTrigger};
    use proptest::prelude::*;

    fn stream(times: &[u64]) -> Vec<SampleMeta> {
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
        let s = stream(&(0..30).collect::<Vec<_>>());
        // Amount 4 fires at 4, 8, 12, ...; amount 6 at 6, 12, 18, ...
        // All: both must have voted since the last ensemble fire: at 6 (4 voted at 4),
        // at 12 (8 and 12), at 18 (16, 18), at 24 (24, 24).
        let mut e = amounts(&[4, 6], EnsembleStrategy::All);
        assert_eq!(fire_in_batches(&mut e, &s, &[]), [6, 12, 18, 24, 30]);
        // Any: the union.
        let mut e = amounts(&[4, 6], EnsembleStrategy::Any);
        assert_eq!(fire_in_batches(&mut e, &s, &[]), [4, 6, 8, 12, 16, 18, 20, 24, 28, 30]);
        // At least 2 of 3 (4, 6, 10): 6 (4, 6), 10 (8, 10), 12? 4 votes at 12 and 6 at 12: yes.
        let mut e = amounts(&[4, 6, 10], EnsembleStrategy::AtLeast(2));
        assert_eq!(fire_in_batches(&mut e, &s, &[]), [6, 10, 12, 18, 20, 24, 30]);
    }

    #[test]
    fn nested_ensembles_and_time_sub_policies() {
        let s = stream(&[0, 1, 5, 10, 11, 20, 21, 22, 40, 41]);
        let inner = Ensemble::new(
            vec![
                ("t10".into(), Box::new(TimeTrigger::new(10, Some(0), "10ms")) as Box<dyn TriggerPolicy>),
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
                        ("t10".into(), Box::new(TimeTrigger::new(10, Some(0), "10ms")) as Box<dyn TriggerPolicy>),
                        ("a3".into(), Box::new(DataAmount::new(3))),
                    ],
                    EnsembleStrategy::Any,
                )) as Box<dyn TriggerPolicy>,
            )],
            EnsembleStrategy::All,
        );
        assert_eq!(fire_in_batches(&mut cut, &s, &[3, 6, 9, 5]), [3, 5, 6, 8, 9]);
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
            let s = stream(&times);
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
