//! The amount and time triggers with new-data selection on 1 and 4 workers against
//! from-scratch oracles: sort every sample by position and cut the sequence every N samples, or
//! at every window end.

mod common;

use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sluice_dataflows::selection::{AssembleTrainingSets, NewData, Select};
use sluice_dataflows::triggers::{DataAmount, TimeTrigger, Trigger, TriggerPolicy};
use sluice_dataflows::{Position, SampleMeta, TrainingSet, TriggerEvent, route};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Exchange, Inspect, Probe};

/// A stream with many samples per millisecond and keys unrelated to time order.
fn stream(n: usize, seed: u64) -> Vec<SampleMeta> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut keys: Vec<u64> = (0..n as u64).map(|k| k * 7 + 3).collect();
    keys.shuffle(&mut rng);
    let mut t = 1_000u64;
    keys.into_iter()
        .map(|key| {
            t += rng.random_range(0..3u64); // ~1/3 of samples share their time with the next
            SampleMeta {
                time: t,
                key,
                label: rng.random_range(0..4),
            }
        })
        .collect()
}

fn run(
    workers: usize,
    samples: Vec<SampleMeta>,
    every: u64,
    chunk: usize,
) -> (Vec<TriggerEvent>, Vec<TrainingSet>) {
    run_with(workers, samples, move || DataAmount::new(every), chunk)
}

fn run_with<P: TriggerPolicy>(
    workers: usize,
    samples: Vec<SampleMeta>,
    policy: impl Fn() -> P + Send + Sync + 'static,
    chunk: usize,
) -> (Vec<TriggerEvent>, Vec<TrainingSet>) {
    let triggers = Arc::new(Mutex::new(Vec::new()));
    let sets = Arc::new(Mutex::new(Vec::new()));
    let (t2, s2) = (triggers.clone(), sets.clone());
    let samples = Arc::new(samples);
    timely::execute(timely::Config::process(workers), move |worker| {
        let (t3, s3) = (t2.clone(), s2.clone());
        let (input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, metas) = scope.new_input::<SampleMeta>();
            let metas = metas.exchange(|m: &SampleMeta| route(m.key));
            let trig = metas.clone().trigger(policy());
            let trig = trig.inspect(move |t| t3.lock().unwrap().push(t.clone()));
            let sets = metas
                .select(trig.clone(), NewData::default())
                .training_sets(trig)
                .inspect(move |s| s3.lock().unwrap().push(s.clone()));
            let (probe, _) = sets.probe();
            (input, probe)
        });
        common::replay(worker, input, &probe, &samples, chunk);
    })
    .unwrap();
    let mut t = triggers.lock().unwrap().clone();
    t.sort_by_key(|t| t.id);
    let mut s = sets.lock().unwrap().clone();
    s.sort_by_key(|s| s.trigger.id);
    (t, s)
}

fn oracle(samples: &[SampleMeta], every: usize) -> Vec<Vec<Position>> {
    let mut sorted: Vec<Position> = samples.iter().map(|s| s.position()).collect();
    sorted.sort();
    sorted.chunks_exact(every).map(|c| c.to_vec()).collect()
}

fn check(
    workers: usize,
    n: usize,
    every: u64,
    chunk: usize,
    seed: u64,
) -> (Vec<TriggerEvent>, Vec<TrainingSet>) {
    let samples = stream(n, seed);
    let expected = oracle(&samples, every as usize);
    let (triggers, sets) = run(workers, samples, every, chunk);
    assert_eq!(
        triggers.len(),
        expected.len(),
        "workers={workers}: number of triggers"
    );
    assert_eq!(
        sets.len(),
        expected.len(),
        "workers={workers}: number of training sets"
    );
    for (i, ((t, s), e)) in triggers.iter().zip(&sets).zip(&expected).enumerate() {
        assert_eq!(t.id, i as u64);
        assert_eq!(t.boundary, *e.last().unwrap(), "trigger {i} boundary");
        assert_eq!(t.first, e[0], "trigger {i} first");
        assert_eq!(t.samples, every);
        assert_eq!(&s.trigger, t);
        assert_eq!(
            &s.samples, e,
            "trigger {i} training set (workers={workers})"
        );
    }
    (triggers, sets)
}

#[test]
fn same_triggers_and_training_sets_on_1_and_4_workers() {
    let one = check(1, 5_000, 250, 64, 7);
    let four = check(4, 5_000, 250, 64, 7);
    assert_eq!(one, four);
}

#[test]
fn trigger_every_sample_and_remainder_left_untrained() {
    // every = 1: a trigger per sample, boundaries inside shared milliseconds.
    check(3, 300, 1, 17, 11);
    // 1_003 samples, every 100: the last 3 samples close no epoch.
    check(2, 1_003, 100, 1_000, 12);
}

#[test]
fn input_batching_does_not_change_results() {
    let a = check(2, 2_000, 97, 1, 5);
    let b = check(2, 2_000, 97, 500, 5);
    assert_eq!(a, b);
}

/// Time windows of `every` ms from the first sample: per closed window (a later sample exists),
/// the positions in it and the boundary (the last sample before its end).
fn time_oracle(samples: &[SampleMeta], every: u64) -> Vec<(Position, Vec<Position>)> {
    let mut sorted: Vec<Position> = samples.iter().map(|s| s.position()).collect();
    sorted.sort();
    let (first, last) = (sorted[0].time, sorted.last().unwrap().time);
    let mut out = Vec::new();
    let mut end = first + every;
    while end <= last {
        let upto = sorted.partition_point(|p| p.time < end);
        let from = sorted.partition_point(|p| p.time < end - every);
        out.push((sorted[upto - 1], sorted[from..upto].to_vec()));
        end += every;
    }
    out
}

#[test]
fn time_windows_on_1_and_4_workers_and_any_batching() {
    // Bursts with long silences: some windows are empty, some close at a batch's first sample.
    let mut rng = StdRng::seed_from_u64(3);
    let mut samples = stream(3_000, 9);
    let mut shift = 0;
    for s in &mut samples {
        if rng.random_range(0..200) == 0 {
            shift += rng.random_range(100..400);
        }
        s.time += shift;
    }
    let every = 50;
    let want = time_oracle(&samples, every);
    assert!(want.iter().any(|(_, w)| w.is_empty()), "some empty windows");
    let mut results = Vec::new();
    for (workers, chunk) in [(1, 64), (4, 64), (2, 1), (3, 1_000)] {
        let (triggers, sets) = run_with(
            workers,
            samples.clone(),
            move || TimeTrigger::new(every, None, "50ms"),
            chunk,
        );
        assert_eq!(
            triggers.len(),
            want.len(),
            "workers={workers} chunk={chunk}"
        );
        for (i, ((t, s), (boundary, window))) in triggers.iter().zip(&sets).zip(&want).enumerate() {
            assert_eq!(t.id, i as u64);
            assert_eq!(t.boundary, *boundary, "trigger {i} boundary");
            assert_eq!(t.samples, window.len() as u64, "trigger {i} size");
            assert_eq!(&s.samples, window, "trigger {i} training set");
        }
        results.push(triggers);
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
}
