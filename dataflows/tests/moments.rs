//! Running feature statistics in the dataflow on 1, 2 and 3 workers against a from-scratch
//! computation at every trigger: sort all samples by position, cut every N (amount trigger),
//! add up the features of every sample at or before each boundary.

mod common;

use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sluice_dataflows::moments::{AttachMoments, Moments, RunningMoments};
use sluice_dataflows::selection::{AssembleTrainingSets, NewData, Select};
use sluice_dataflows::triggers::{DataAmount, Trigger};
use sluice_dataflows::{Position, SampleMeta, TrainingSet, route};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Exchange, Inspect, Probe};

/// Many samples share a time, so boundaries fall inside a time.
fn stream(n: usize, seed: u64) -> Vec<SampleMeta> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut keys: Vec<u64> = (0..n as u64).map(|k| k * 13 + 3).collect();
    keys.shuffle(&mut rng);
    let mut t = 100u64;
    keys.into_iter()
        .map(|key| {
            t += rng.random_range(0..2u64) * rng.random_range(0..4u64);
            SampleMeta {
                time: t,
                key,
                label: 0,
            }
        })
        .collect()
}

/// A sample's features, a function of its key (what the sample store would return).
fn features(p: &Position) -> [f32; 3] {
    let k = p.key as f32;
    [k * 0.25 - 300.0, (k * 0.37).sin() * 1e-3, 1e5 + (k % 17.0)]
}

fn run(workers: usize, samples: Vec<SampleMeta>, every: u64) -> Vec<TrainingSet> {
    let sets = Arc::new(Mutex::new(Vec::new()));
    let s2 = sets.clone();
    let samples = Arc::new(samples);
    timely::execute(timely::Config::process(workers), move |worker| {
        let s3 = s2.clone();
        let (input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, metas) = scope.new_input::<SampleMeta>();
            let metas = metas.exchange(|m: &SampleMeta| route(m.key));
            let trig = metas.clone().trigger(DataAmount::new(every));
            let read = |at: &[Position], rows: &mut Vec<f32>| {
                for p in at {
                    rows.extend(features(p));
                }
                3
            };
            let shares = metas.clone().running_moments(trig.clone(), read, None);
            let (probe, _) = metas
                .select(trig.clone(), NewData::tail(Some(0)))
                .training_sets(trig)
                .attach_moments(shares)
                .inspect(move |s| s3.lock().unwrap().push(s.clone()))
                .probe();
            (input, probe)
        });
        common::replay(worker, input, &probe, &samples, 37);
    })
    .unwrap();
    let mut s = sets.lock().unwrap().clone();
    s.sort_by_key(|s| s.trigger.id);
    s
}

#[test]
fn statistics_at_each_trigger_are_those_of_every_sample_before_it_for_any_workers() {
    let samples = stream(2000, 5);
    let every = 300;
    let mut sorted = samples.clone();
    sorted.sort_by_key(SampleMeta::position);
    let expected: Vec<Moments> = (1..=sorted.len() / every)
        .map(|i| {
            let mut m = Moments::default();
            for s in &sorted[..i * every] {
                m.add_rows(&features(&s.position()), 3);
            }
            m
        })
        .collect();
    // Boundaries fall inside a time, so the split at a boundary's key is exercised.
    assert!(
        (1..expected.len()).any(|i| sorted[i * every - 1].time == sorted[i * every].time),
        "no boundary inside a time"
    );
    let one = run(1, samples.clone(), every as u64);
    assert_eq!(one.len(), expected.len());
    for (set, want) in one.iter().zip(&expected) {
        let got = set.moments.as_ref().expect("every set has statistics");
        assert_eq!(
            got.count,
            (set.trigger.id as usize + 1) as u64 * every as u64
        );
        assert_eq!(got, want, "trigger {}", set.trigger.id);
    }
    for workers in [2, 3] {
        let many = run(workers, samples.clone(), every as u64);
        assert_eq!(many, one, "{workers} workers");
    }
}
