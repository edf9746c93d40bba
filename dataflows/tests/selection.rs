//! Selection strategies in the dataflow on 1 and 4 workers against from-scratch recomputation
//! at every trigger: sort all samples by position, cut every N (amount trigger), build each
//! trigger's candidate pool directly (the last `tail + 1` epochs, or all history) and apply the
//! same global sampler to it.

mod common;

use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use sluice_dataflows::selection::{
    AssembleTrainingSets, LimitReset, NewData, Presample, Presampling, Reservoir, Sampling, Select,
    SelectionPolicy, SetSampler,
};
use sluice_dataflows::triggers::{DataAmount, Trigger};
use sluice_dataflows::{
    Candidate, Position, Retraction, SampleMeta, TrainingSet, TriggerEvent, route,
};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Exchange, Inspect, Probe};

fn stream(n: usize, seed: u64) -> Vec<SampleMeta> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut keys: Vec<u64> = (0..n as u64).map(|k| k * 11 + 5).collect();
    keys.shuffle(&mut rng);
    let mut t = 10u64;
    keys.into_iter()
        .map(|key| {
            t += rng.random_range(0..3u64);
            SampleMeta {
                time: t,
                key,
                label: rng.random_range(0..5),
            }
        })
        .collect()
}

fn run<P: SelectionPolicy>(
    workers: usize,
    samples: Vec<SampleMeta>,
    every: u64,
    pool: impl Fn() -> P + Send + Sync + 'static,
    sampler: SetSampler,
) -> Vec<TrainingSet> {
    let sets = Arc::new(Mutex::new(Vec::new()));
    let s2 = sets.clone();
    let samples = Arc::new(samples);
    timely::execute(timely::Config::process(workers), move |worker| {
        let s3 = s2.clone();
        let sampler = sampler.clone();
        let (input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, metas) = scope.new_input::<SampleMeta>();
            let metas = metas.exchange(|m: &SampleMeta| route(m.key));
            let trig = metas.clone().trigger(DataAmount::new(every));
            let (probe, _) = metas
                .select(trig.clone(), pool())
                .training_sets_with(trig, sampler)
                .inspect(move |s| s3.lock().unwrap().push(s.clone()))
                .probe();
            (input, probe)
        });
        common::replay(worker, input, &probe, &samples, 50);
    })
    .unwrap();
    let mut s = sets.lock().unwrap().clone();
    s.sort_by_key(|s| s.trigger.id);
    s
}

/// From scratch: per trigger, the candidates of epochs `[i - tail, i]` (`None`: all so far).
fn oracle(
    samples: &[SampleMeta],
    every: usize,
    tail: Option<u64>,
    sampler: &SetSampler,
) -> Vec<Vec<Position>> {
    let mut sorted = samples.to_vec();
    sorted.sort_by_key(|s| s.position());
    let epochs: Vec<&[SampleMeta]> = sorted.chunks_exact(every).collect();
    // One sampler over all triggers, in order: some strategies remember what trained.
    let mut sampler = Sampling::new(sampler.clone());
    (0..epochs.len() as u64)
        .map(|i| {
            let from = tail.map_or(0, |t| i.saturating_sub(t));
            let candidates: Vec<Candidate> = (from..=i)
                .flat_map(|e| {
                    epochs[e as usize].iter().map(move |s| Candidate {
                        pos: s.position(),
                        label: s.label,
                        seen_in: e,
                    })
                })
                .collect();
            let trigger = TriggerEvent {
                id: i,
                first: Position::default(),
                boundary: Position::default(),
                samples: 0,
                reason: String::new(),
                details: Vec::new(),
            };
            sampler.apply(&trigger, candidates)
        })
        .collect()
}

fn check<P: SelectionPolicy>(
    tail: Option<u64>,
    pool: impl Fn() -> P + Send + Sync + Clone + 'static,
    sampler: SetSampler,
) {
    let samples = stream(3_000, 4);
    let want = oracle(&samples, 250, tail, &sampler);
    for workers in [1, 4] {
        let got = run(workers, samples.clone(), 250, pool.clone(), sampler.clone());
        assert_eq!(got.len(), want.len(), "workers={workers}");
        for (s, w) in got.iter().zip(&want) {
            assert!(
                &s.samples == w,
                "trigger {} (workers={workers})",
                s.trigger.id
            );
        }
    }
}

#[test]
fn tails_and_all_data_with_limits_match_recomputation() {
    check(Some(2), || NewData::tail(Some(2)), SetSampler::none());
    check(
        None,
        || NewData::tail(None),
        SetSampler {
            limit: Some((400, LimitReset::LastX)),
            ..SetSampler::none()
        },
    );
    check(
        Some(3),
        || NewData::tail(Some(3)),
        SetSampler {
            seed: 9,
            limit: Some((300, LimitReset::SampleUar)),
            ..SetSampler::none()
        },
    );
}

#[test]
fn presampling_matches_recomputation_with_exact_balance() {
    for strategy in [
        Presample::Random,
        Presample::LabelBalanced,
        Presample::TriggerBalanced,
    ] {
        let sampler = SetSampler {
            seed: 3,
            presampling: Some(Presampling {
                strategy,
                ratio: 30,
                ratio_max: 100,
                limit: Some(500),
                force_column_balancing: false,
                force_required_target_size: true,
            }),
            warmup_triggers: 1,
            ..SetSampler::none()
        };
        check(Some(4), || NewData::tail(Some(4)), sampler);
    }
}

#[test]
fn freshness_and_no_replacement_remember_what_trained() {
    check(
        None,
        || NewData::tail(None),
        SetSampler {
            seed: 2,
            freshness: Some(30),
            limit: Some((400, LimitReset::SampleUar)),
            ..SetSampler::none()
        },
    );
    check(
        Some(5),
        || NewData::tail(Some(5)),
        SetSampler {
            seed: 8,
            presampling: Some(Presampling {
                strategy: Presample::RandomNoReplacement,
                ratio: 20,
                ratio_max: 100,
                limit: None,
                force_column_balancing: false,
                force_required_target_size: false,
            }),
            ..SetSampler::none()
        },
    );
}

#[test]
fn reservoir_is_a_uniform_sample_of_all_history_on_any_worker_count() {
    let sampler = SetSampler {
        seed: 17,
        reservoir: Some(600),
        ..SetSampler::none()
    };
    // The pool "all history" with the reservoir's global step is the oracle.
    check(None, || Reservoir::new(600, 17), sampler);
}

/// Deletions (#24): from the first trigger at or after a deletion, its key's sample is in no
/// training set, and the selection retires it once (so its payload can go), on 1 and 3
/// workers, over all data.
#[test]
fn deleted_samples_leave_every_later_training_set_and_are_retired_once() {
    use std::collections::BTreeMap;
    let samples = stream(2_000, 9);
    let mut rng = StdRng::seed_from_u64(3);
    // 100 deletions, each some time after its sample (or before: then it deletes nothing).
    let deletions: Vec<Position> = samples
        .choose_multiple(&mut rng, 100)
        .map(|s| Position {
            time: (s.time + rng.random_range(0..600)).saturating_sub(100),
            key: s.key,
        })
        .collect();
    let every = 200;
    let mut sorted = samples.clone();
    sorted.sort_by_key(|s| s.position());
    let boundaries: Vec<Position> = sorted
        .chunks_exact(every)
        .map(|c| c.last().unwrap().position())
        .collect();
    for workers in [1, 3] {
        type Out = (Vec<TrainingSet>, Vec<Position>);
        let out: Arc<Mutex<Out>> = Arc::default();
        let o2 = out.clone();
        let (all, dels_all) = (Arc::new(samples.clone()), Arc::new(deletions.clone()));
        timely::execute(timely::Config::process(workers), move |worker| {
            let o3 = o2.clone();
            let o4 = o2.clone();
            let (mut input, mut dels, probe) = worker.dataflow::<u64, _, _>(|scope| {
                let (input, metas) = scope.new_input::<SampleMeta>();
                let (dels, deleted) = scope.new_input::<Retraction>();
                let metas = metas.exchange(|m: &SampleMeta| route(m.key));
                let deleted = deleted.exchange(|r: &Retraction| route(r.at.key));
                let trig = metas.clone().trigger(DataAmount::new(every as u64));
                let selected = metas.select_retracting(
                    trig.clone(),
                    deleted,
                    NewData::tail(None),
                    Default::default(),
                );
                selected
                    .retired
                    .inspect(move |(_, r)| o4.lock().unwrap().1.extend(r));
                let (probe, _) = selected
                    .answers
                    .training_sets_with(trig, SetSampler::none())
                    .inspect(move |s| o3.lock().unwrap().0.push(s.clone()))
                    .probe();
                (input, dels, probe)
            });
            // Samples and deletions in time order, each worker its share.
            let mut events: BTreeMap<u64, (Vec<SampleMeta>, Vec<Position>)> = BTreeMap::new();
            let (index, peers) = (worker.index(), worker.peers());
            for s in all.iter().skip(index).step_by(peers) {
                events.entry(s.time).or_default().0.push(*s);
            }
            for d in dels_all.iter().skip(index).step_by(peers) {
                events.entry(d.time).or_default().1.push(*d);
            }
            for (t, (ss, ds)) in events {
                input.advance_to(t);
                dels.advance_to(t);
                for s in ss {
                    input.send(s);
                }
                for d in ds {
                    dels.send(Retraction::tombstone(d));
                }
                worker.step();
            }
            drop((input, dels));
            while !probe.done() {
                worker.step_or_park(Some(std::time::Duration::from_millis(1)));
            }
        })
        .unwrap();
        let (mut sets, retired) = out.lock().unwrap().clone();
        sets.sort_by_key(|s| s.trigger.id);
        assert_eq!(sets.len(), boundaries.len());
        let mut expect_retired = Vec::new();
        for (set, &b) in sets.iter().zip(&boundaries) {
            // All data up to the boundary, less the samples deleted at or before it.
            let deleted = |s: &SampleMeta| {
                deletions
                    .iter()
                    .any(|d| d.key == s.key && *d <= b && s.time <= d.time)
            };
            let expect: Vec<Position> = sorted
                .iter()
                .filter(|s| s.position() <= b && !deleted(s))
                .map(|s| s.position())
                .collect();
            let got: Vec<Position> = set.samples.clone();
            assert_eq!(got, expect, "{workers} workers, trigger {}", set.trigger.id);
        }
        let last = *boundaries.last().unwrap();
        for d in &deletions {
            if let Some(s) = sorted.iter().find(|s| s.key == d.key)
                && s.time <= d.time
                && *d <= last
            {
                expect_retired.push(s.position());
            }
        }
        let mut retired = retired;
        retired.sort();
        expect_retired.sort();
        assert!(!expect_retired.is_empty());
        assert_eq!(
            retired, expect_retired,
            "{workers} workers: retired once each"
        );
    }
}
