//! The global step of selection, on the assembler (worker 0): from the candidates every worker
//! offered for a trigger, the training set. Sampling here sees all candidates, so sizes and
//! balance are exact and the result does not depend on the number of workers; randomness is a
//! per-(seed, trigger, key) hash, so a fixed seed reproduces the same set.
//!
//! - `reservoir`: the `budget` candidates with the smallest priorities.
//! - `limit` (Modyn's `NewDataStrategy.limit`): at most `limit` samples: a uniform sample, or,
//!   for all-data pools with `limit_reset = "lastX"`, the newest.
//! - presampling (Modyn's `CoresetStrategy` presamplers): a target of
//!   `⌊n · ratio / ratio_max⌋` (capped by its `limit`), drawn uniformly (`random`) or with a
//!   fair share per label / per epoch (`label_balanced`, `trigger_balanced`:
//!   `get_fair_share`, `force_column_balancing`, `force_required_target_size` as Modyn's
//!   `AbstractBalancedPresamplingStrategy`); none during the first `warmup_triggers` triggers.

use std::collections::BTreeMap;

use super::reservoir::priority;
use crate::sample::{Candidate, Key, KeyMap, Position, TriggerEvent, route};
use crate::triggers::State;

/// Which samples survive a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitReset {
    /// The newest `limit`.
    LastX,
    /// A uniform sample of `limit`.
    SampleUar,
}

/// Presampling strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presample {
    /// A uniform sample of the target size.
    Random,
    /// A uniform sample among the samples not used since the last complete round: no sample
    /// repeats until every candidate was used (Modyn's `RandomNoReplacement`).
    RandomNoReplacement,
    /// A fair share per label.
    LabelBalanced,
    /// A fair share per epoch the samples arrived in.
    TriggerBalanced,
}

/// Presampling settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presampling {
    /// Strategy.
    pub strategy: Presample,
    /// Target share numerator.
    pub ratio: u64,
    /// Target share denominator.
    pub ratio_max: u64,
    /// Cap on the target.
    pub limit: Option<usize>,
    /// Balanced: every group gets as many as the smallest one has (if below its fair share).
    pub force_column_balancing: bool,
    /// Balanced: fill up to the target by giving groups one more than the fair share.
    pub force_required_target_size: bool,
}

/// The global sampling of one pipeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetSampler {
    /// Seed of all random choices.
    pub seed: u64,
    /// Reservoir budget (the `reservoir` strategy).
    pub reservoir: Option<usize>,
    /// `new_data`'s limit.
    pub limit: Option<(usize, LimitReset)>,
    /// Presampling (`coreset`).
    pub presampling: Option<Presampling>,
    /// Triggers at the start without presampling.
    pub warmup_triggers: u64,
    /// `freshness`: percentage (1-99) of each training set drawn from never-used samples.
    pub freshness: Option<u64>,
}

/// A [`SetSampler`] at work: its configuration and what it remembers across triggers.
#[derive(Clone, Debug, Default)]
pub struct Sampling {
    config: SetSampler,
    /// The last trigger each sample trained in (for `freshness` and `random_no_replacement`;
    /// only samples ever selected have an entry).
    last_used: KeyMap<u64>,
    /// The trigger that started the current no-replacement round.
    round_start: u64,
    /// Samples no later trigger can select, not yet taken.
    retired: Vec<Position>,
}

/// Keeps the `n` elements of `c` with the smallest `key` (in no particular order): a selection
/// in O(len), not a sort.
fn smallest<K: Ord>(c: &mut Vec<Candidate>, n: usize, key: impl Fn(&Candidate) -> K) {
    if n < c.len() {
        if n > 0 {
            c.select_nth_unstable_by_key(n - 1, key);
        }
        c.truncate(n);
    }
}

/// Modyn's `get_fair_share`: the per-group share of `capacity` when groups that ask for less
/// get what they ask and the rest is split evenly.
pub fn fair_share(capacity: usize, requests: &[usize]) -> usize {
    if requests.is_empty() {
        return 0;
    }
    let share = capacity / requests.len();
    let below: Vec<usize> = requests.iter().copied().filter(|r| *r <= share).collect();
    if !below.is_empty() && below.len() != requests.len() {
        let rest: Vec<usize> = requests.iter().copied().filter(|r| *r > share).collect();
        return fair_share(capacity - below.iter().sum::<usize>(), &rest);
    }
    share
}

impl SetSampler {
    /// No sampling: every candidate trains.
    pub fn none() -> Self {
        Self::default()
    }
}

impl Sampling {
    /// A sampler with no memory yet.
    pub fn new(config: SetSampler) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    fn tag(&self, trigger: u64, key: Key) -> u64 {
        route(route(self.config.seed ^ route(trigger)) ^ key)
    }

    /// True when the sampler remembers which samples trained (and must see every set).
    fn tracks_use(&self) -> bool {
        self.config.freshness.is_some()
            || matches!(&self.config.presampling, Some(p) if p.strategy == Presample::RandomNoReplacement)
    }

    /// Keys with a use recorded (state size).
    pub fn tracked(&self) -> usize {
        self.last_used.len()
    }

    /// Bytes of state: the last-used map's buckets (key, trigger and a control byte each).
    pub fn bytes(&self) -> usize {
        self.last_used.capacity() * (size_of::<(u64, u64)>() + 1)
    }

    /// What it remembers across triggers, for a checkpoint (taken after a trigger's set):
    /// `{"last_used": [[key, trigger], …] (sorted), "round_start": trigger}`.
    pub fn save(&self) -> State {
        let mut last_used: Vec<(Key, u64)> = self.last_used.iter().map(|(k, t)| (*k, *t)).collect();
        last_used.sort_unstable();
        serde_json::json!({ "last_used": last_used, "round_start": self.round_start })
    }

    /// Restores what [`save`](Self::save) returned.
    pub fn restore(&mut self, state: &State) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        struct Saved {
            last_used: Vec<(Key, u64)>,
            round_start: u64,
        }
        let saved: Saved =
            serde_json::from_value(state.clone()).map_err(|e| format!("sampler state: {e}"))?;
        self.last_used = saved.last_used.into_iter().collect();
        self.round_start = saved.round_start;
        self.retired.clear();
        Ok(())
    }

    /// Moves to `out` the candidates the last [`apply`](Self::apply) found no later trigger can
    /// select (the reservoir's cut: the workers' own reservoirs keep them, unaware).
    pub fn take_retired(&mut self, out: &mut Vec<Position>) {
        out.append(&mut self.retired);
    }

    /// The training set of `trigger` from all workers' `candidates`, sorted by position.
    pub fn apply(&mut self, trigger: &TriggerEvent, mut c: Vec<Candidate>) -> Vec<Position> {
        if let Some(budget) = self.config.reservoir
            && c.len() > budget
        {
            let seed = self.config.seed;
            c.select_nth_unstable_by_key(budget.max(1) - 1, |c| (priority(seed, c.pos.key), c.pos));
            // Beyond the `budget` smallest priorities of all history so far: no later trigger
            // can select these (only smaller priorities can still come).
            self.retired.extend(c.drain(budget..).map(|c| c.pos));
        }
        if self.tracks_use() && self.last_used.len() > 2 * c.len().max(1024) {
            // A sample that is no candidate now never is again (pools only lose samples), so
            // its use record can go: the map stays within twice the pool.
            let now: KeyMap<()> = c.iter().map(|x| (x.pos.key, ())).collect();
            self.last_used.retain(|k, _| now.contains_key(k));
        }
        if let Some(ratio) = self.config.freshness {
            c = self.fresh(trigger.id, ratio, c);
        } else if let Some((limit, reset)) = self.config.limit
            && c.len() > limit
        {
            match reset {
                LimitReset::LastX => smallest(&mut c, limit, |c| std::cmp::Reverse(c.pos)),
                LimitReset::SampleUar => self.uniform(trigger.id, &mut c, limit),
            }
        }
        if let Some(p) = self.config.presampling.clone()
            && trigger.id >= self.config.warmup_triggers
        {
            c = self.presample(trigger.id, &p, c);
        }
        if self.tracks_use() {
            for x in &c {
                self.last_used.insert(x.pos.key, trigger.id);
            }
        }
        let mut out: Vec<Position> = c.into_iter().map(|c| c.pos).collect();
        out.sort_unstable();
        out
    }

    /// Modyn's `FreshnessSamplingStrategy`: `ratio` % of the set from never-used samples, the
    /// rest from used ones, as large as the two groups allow (or `limit`).
    fn fresh(&self, trigger: u64, ratio: u64, c: Vec<Candidate>) -> Vec<Candidate> {
        let (mut unused, mut used): (Vec<Candidate>, Vec<Candidate>) = c
            .into_iter()
            .partition(|x| !self.last_used.contains_key(&x.pos.key));
        let limit = self.config.limit.map(|(l, _)| l);
        if used.is_empty() {
            // The first trigger: unused data only.
            if let Some(l) = limit {
                self.uniform(trigger, &mut unused, l);
            }
            return unused;
        }
        let (nu, nd) = (unused.len(), used.len());
        let r = ratio as f64 / 100.0;
        let (mut take_unused, mut take_used) = {
            let max_unused = (nu as f64 / r) as usize;
            let max_used = (nd as f64 / (1.0 - r)) as usize;
            if max_unused > max_used {
                (max_used - nd, nd)
            } else {
                (nu, max_unused - nu)
            }
        };
        if let Some(l) = limit
            && take_unused + take_used > l
        {
            take_unused = ((l as f64 * r) as usize).min(nu);
            take_used = (l - take_unused).min(nd);
        }
        self.uniform(trigger, &mut unused, take_unused);
        self.uniform(trigger ^ 0x5555, &mut used, take_used);
        unused.extend(used);
        unused
    }

    /// Modyn's `RandomNoReplacement`: a uniform sample of the candidates not used since the
    /// round started; when they run short, a new round starts with this trigger and the rest
    /// is drawn from everything not just taken.
    fn no_replacement(&mut self, trigger: u64, target: usize, c: Vec<Candidate>) -> Vec<Candidate> {
        let round = self.round_start;
        let unused_in_round =
            |x: &Candidate, last: &KeyMap<u64>| last.get(&x.pos.key).is_none_or(|t| *t < round);
        let (mut fresh, mut rest): (Vec<Candidate>, Vec<Candidate>) = c
            .into_iter()
            .partition(|x| unused_in_round(x, &self.last_used));
        self.uniform(trigger, &mut fresh, target);
        if fresh.len() < target {
            self.round_start = trigger;
            self.uniform(trigger ^ 0x5555, &mut rest, target - fresh.len());
            fresh.extend(rest);
        }
        fresh
    }

    /// Keeps `n` of `c`, uniformly.
    fn uniform(&self, trigger: u64, c: &mut Vec<Candidate>, n: usize) {
        smallest(c, n, |c| (self.tag(trigger, c.pos.key), c.pos));
    }

    fn presample(
        &mut self,
        trigger: u64,
        p: &Presampling,
        mut c: Vec<Candidate>,
    ) -> Vec<Candidate> {
        let mut target = (c.len() as u64 * p.ratio / p.ratio_max) as usize;
        if let Some(l) = p.limit {
            target = target.min(l);
        }
        let group: fn(&Candidate) -> i64 = match p.strategy {
            Presample::Random => {
                self.uniform(trigger, &mut c, target);
                return c;
            }
            Presample::RandomNoReplacement => return self.no_replacement(trigger, target, c),
            Presample::LabelBalanced => |c| c.label,
            Presample::TriggerBalanced => |c| c.seen_in as i64,
        };
        // Per group, the first `rows` in a random order (Modyn: row_number() over (partition by
        // g order by random()) <= rows).
        let mut groups: BTreeMap<i64, Vec<Candidate>> = BTreeMap::new();
        for x in c {
            groups.entry(group(&x)).or_default().push(x);
        }
        let counts: Vec<usize> = groups.values().map(Vec::len).collect();
        let share = fair_share(target, &counts);
        let fewest = counts.iter().copied().min().unwrap_or(0);
        let predicted: usize = counts.iter().map(|n| (*n).min(share)).sum();
        // (rows per group, cap on the total): the cap keeps the earliest, as Modyn orders by
        // timestamp before its LIMIT.
        let (rows, cap) = if p.force_required_target_size && predicted < target {
            (share + 1, Some(target))
        } else if p.force_column_balancing && fewest < share {
            (fewest, Some(target))
        } else {
            (share, None)
        };
        let mut out: Vec<Candidate> = groups
            .into_values()
            .flat_map(|mut g| {
                smallest(&mut g, rows, |c| (self.tag(trigger, c.pos.key), c.pos));
                g
            })
            .collect();
        if let Some(cap) = cap {
            out.sort_unstable_by_key(|c| c.pos);
            out.truncate(cap);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trigger(id: u64) -> TriggerEvent {
        TriggerEvent {
            id,
            first: Position::default(),
            boundary: Position::default(),
            samples: 0,
            reason: String::new(),
            details: Vec::new(),
        }
    }

    fn candidates(labels: &[(i64, u64)]) -> Vec<Candidate> {
        labels
            .iter()
            .enumerate()
            .map(|(i, &(label, seen_in))| Candidate {
                pos: Position {
                    time: i as u64,
                    key: i as u64 * 3 + 1,
                },
                label,
                seen_in,
            })
            .collect()
    }

    #[test]
    fn fair_share_matches_modyns() {
        // Groups below the even share get what they ask; the rest split what is left.
        assert_eq!(fair_share(100, &[10, 50, 50]), 45);
        assert_eq!(fair_share(100, &[10, 20, 30]), 33); // everyone gets what it asks
        assert_eq!(fair_share(30, &[10, 10, 10]), 10);
        assert_eq!(fair_share(9, &[1, 100, 100]), 4);
    }

    fn balanced(strategy: Presample, column: bool, target: bool) -> SetSampler {
        SetSampler {
            presampling: Some(Presampling {
                strategy,
                ratio: 50,
                ratio_max: 100,
                limit: None,
                force_column_balancing: column,
                force_required_target_size: target,
            }),
            ..SetSampler::default()
        }
    }

    fn label_counts(set: &[Position], c: &[Candidate]) -> BTreeMap<i64, usize> {
        let mut m = BTreeMap::new();
        for p in set {
            let label = c.iter().find(|c| c.pos == *p).unwrap().label;
            *m.entry(label).or_default() += 1;
        }
        m
    }

    #[test]
    fn label_balanced_sizes_are_exact() {
        // 40 of label 0, 10 of label 1, 50 of label 2: target 50, fair share 20 (label 1 gets 10).
        let mut labels = vec![(0, 0); 40];
        labels.extend(vec![(1, 0); 10]);
        labels.extend(vec![(2, 0); 50]);
        let c = candidates(&labels);
        let set = Sampling::new(balanced(Presample::LabelBalanced, false, false))
            .apply(&trigger(3), c.clone());
        assert_eq!(
            label_counts(&set, &c),
            BTreeMap::from([(0, 20), (1, 10), (2, 20)])
        );
        // force_column_balancing: every label gets the smallest count, 10.
        let set = Sampling::new(balanced(Presample::LabelBalanced, true, false))
            .apply(&trigger(3), c.clone());
        assert_eq!(
            label_counts(&set, &c),
            BTreeMap::from([(0, 10), (1, 10), (2, 10)])
        );
        // 45 / 5 / 50, target 50: fair share 22 → 22 + 5 + 22 = 49 < 50; forcing the target
        // size takes 23 per label, then the 50 earliest.
        let mut labels = vec![(0, 0); 45];
        labels.extend(vec![(1, 0); 5]);
        labels.extend(vec![(2, 0); 50]);
        let c = candidates(&labels);
        let set = Sampling::new(balanced(Presample::LabelBalanced, false, true))
            .apply(&trigger(3), c.clone());
        assert_eq!(set.len(), 50);
        let set = Sampling::new(balanced(Presample::LabelBalanced, false, false))
            .apply(&trigger(3), c.clone());
        assert_eq!(set.len(), 49);
    }

    #[test]
    fn trigger_balanced_splits_by_epoch_and_random_is_uniform_and_seeded() {
        let mut labels = vec![(0, 0); 60];
        labels.extend(vec![(0, 1); 20]);
        labels.extend(vec![(0, 2); 20]);
        let c = candidates(&labels);
        let mut s = Sampling::new(balanced(Presample::TriggerBalanced, false, false));
        let set = s.apply(&trigger(5), c.clone());
        // target 50, fair share 16 (50 / 3), every epoch has more.
        assert_eq!(set.len(), 48);
        let random_config = balanced(Presample::Random, false, false);
        let mut random = Sampling::new(random_config.clone());
        let a = random.apply(&trigger(5), c.clone());
        assert_eq!(a.len(), 50);
        assert_eq!(
            a,
            random.apply(&trigger(5), c.clone()),
            "same seed, same set"
        );
        assert_ne!(
            a,
            random.apply(&trigger(6), c.clone()),
            "another trigger, another draw"
        );
        // Warm-up triggers are not presampled.
        let mut warm = Sampling::new(SetSampler {
            warmup_triggers: 6,
            ..random_config
        });
        assert_eq!(warm.apply(&trigger(5), c.clone()).len(), 100);
    }

    #[test]
    fn limits_keep_the_newest_or_a_uniform_sample() {
        let c = candidates(&[(0, 0); 30]);
        let mut last = Sampling::new(SetSampler {
            limit: Some((10, LimitReset::LastX)),
            ..SetSampler::default()
        });
        let set = last.apply(&trigger(0), c.clone());
        assert_eq!(set, c[20..].iter().map(|c| c.pos).collect::<Vec<_>>());
        let mut uar = Sampling::new(SetSampler {
            limit: Some((10, LimitReset::SampleUar)),
            ..SetSampler::default()
        });
        assert_eq!(uar.apply(&trigger(0), c).len(), 10);
    }

    proptest! {
        #[test]
        fn random_presampling_is_close_to_uniform(seed in 0u64..1000) {
            // Each of 200 candidates is kept with probability 1/2: over 50 triggers, every key's
            // frequency stays within a loose band (no position bias).
            let c = candidates(&[(0, 0); 200]);
            let mut s = Sampling::new(SetSampler { seed, ..balanced(Presample::Random, false, false) });
            let mut hits = vec![0u32; 200];
            for t in 0..50 {
                for p in s.apply(&trigger(t), c.clone()) {
                    hits[p.time as usize] += 1;
                }
            }
            let first_half: u32 = hits[..100].iter().sum();
            prop_assert!((2_100..=2_900).contains(&first_half), "{first_half}");
        }
    }

    fn pool(n: u64) -> Vec<Candidate> {
        (0..n)
            .map(|k| Candidate {
                pos: Position { time: k, key: k },
                label: 0,
                seen_in: 0,
            })
            .collect()
    }

    #[test]
    fn no_replacement_uses_every_sample_once_per_round() {
        let mut s = Sampling::new(SetSampler {
            seed: 4,
            presampling: Some(Presampling {
                strategy: Presample::RandomNoReplacement,
                ratio: 25,
                ratio_max: 100,
                limit: None,
                force_column_balancing: false,
                force_required_target_size: false,
            }),
            ..SetSampler::none()
        });
        // 100 candidates, 25 per trigger: triggers 0-3 cover all 100 exactly once.
        let mut seen = std::collections::BTreeSet::new();
        for t in 0..4 {
            let set = s.apply(&trigger(t), pool(100));
            assert_eq!(set.len(), 25);
            for p in set {
                assert!(seen.insert(p.key), "key {} repeated in round 1", p.key);
            }
        }
        assert_eq!(seen.len(), 100);
        // The next round starts over.
        assert_eq!(s.apply(&trigger(4), pool(100)).len(), 25);
        assert_eq!(s.tracked(), 100);
    }

    #[test]
    fn use_records_of_samples_that_left_the_pool_are_dropped() {
        let mut s = Sampling::new(SetSampler {
            presampling: Some(Presampling {
                strategy: Presample::RandomNoReplacement,
                ratio: 50,
                ratio_max: 100,
                limit: None,
                force_column_balancing: false,
                force_required_target_size: false,
            }),
            ..SetSampler::none()
        });
        // A sliding pool of 1,000 (a tail of one epoch): after many triggers the records stay
        // within twice the pool, not the 20,000 samples ever selected.
        for t in 0..40u64 {
            let pool: Vec<Candidate> = (t * 500..t * 500 + 1000)
                .map(|k| Candidate {
                    pos: Position { time: k, key: k },
                    label: 0,
                    seen_in: k / 500,
                })
                .collect();
            assert_eq!(s.apply(&trigger(t), pool).len(), 500);
            assert!(s.tracked() <= 2 * 1024 + 500, "{} records", s.tracked());
        }
    }

    #[test]
    fn a_restored_sampler_remembers_use_like_the_uninterrupted_one() {
        let configs = [
            SetSampler {
                seed: 3,
                freshness: Some(30),
                limit: Some((40, LimitReset::SampleUar)),
                ..SetSampler::none()
            },
            SetSampler {
                seed: 3,
                ..balanced(Presample::RandomNoReplacement, false, false)
            },
        ];
        for config in configs {
            let mut whole = Sampling::new(config.clone());
            let want: Vec<_> = (0..6)
                .map(|t| whole.apply(&trigger(t), pool(60 + 20 * t)))
                .collect();
            for k in 0..5 {
                let mut first = Sampling::new(config.clone());
                for t in 0..=k {
                    first.apply(&trigger(t), pool(60 + 20 * t));
                }
                let state: State = serde_json::from_str(&first.save().to_string()).unwrap();
                let mut resumed = Sampling::new(config.clone());
                resumed.restore(&state).unwrap();
                for t in k + 1..6 {
                    let set = resumed.apply(&trigger(t), pool(60 + 20 * t));
                    assert_eq!(set, want[t as usize], "trigger {t} after {k}");
                }
            }
        }
        let e = Sampling::default()
            .restore(&serde_json::json!({"round_start": 1}))
            .unwrap_err();
        assert!(e.starts_with("sampler state: "), "{e}");
    }

    #[test]
    fn freshness_mixes_unused_and_used_at_the_ratio() {
        let mut s = Sampling::new(SetSampler {
            seed: 1,
            freshness: Some(50),
            ..SetSampler::none()
        });
        // First trigger: unused only (all of them).
        assert_eq!(s.apply(&trigger(0), pool(100)).len(), 100);
        // 100 used + 50 new: 50 % unused → 50 unused + 50 used.
        let set = s.apply(&trigger(1), pool(150));
        assert_eq!(set.iter().filter(|p| p.key >= 100).count(), 50);
        assert_eq!(set.len(), 100);
        // With a limit of 40: 20 unused, 20 used.
        let mut s = Sampling::new(SetSampler {
            seed: 1,
            freshness: Some(50),
            limit: Some((40, LimitReset::SampleUar)),
            ..SetSampler::none()
        });
        let first = s.apply(&trigger(0), pool(100));
        assert_eq!(first.len(), 40);
        let set = s.apply(&trigger(1), pool(200));
        let unused = set.iter().filter(|p| !first.contains(p)).count();
        assert_eq!((set.len(), unused), (40, 20));
    }
}
