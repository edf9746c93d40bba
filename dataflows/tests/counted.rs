//! The counted trigger operator (per-time tallies) against the per-sample one: the same
//! triggers (ids, first samples, boundaries, sizes, reasons) and checkpoint states, for amount
//! and time policies on dense streams (many samples per millisecond, so boundaries fall inside
//! a time), on 1 to 4 workers, any batching, with a trigger limit and from a restored state.

mod common;

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sluice_dataflows::triggers::{
    CountPolicy, DataAmount, State, TimeTrigger, Trigger, TriggerCounted, TriggerOptions,
    TriggerPolicy, TriggerState,
};
use sluice_dataflows::{SampleMeta, TriggerEvent, route};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Concatenate, Exchange, Inspect, Probe};

/// `n` samples with keys unrelated to time order, up to `dense` samples per millisecond.
fn stream(n: usize, dense: u64, seed: u64) -> Vec<SampleMeta> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut keys: Vec<u64> = (0..n as u64).map(|k| k * 7 + 3).collect();
    keys.shuffle(&mut rng);
    let mut t = 1_000u64;
    keys.into_iter()
        .map(|key| {
            if rng.random_range(0..dense) == 0 {
                t += rng.random_range(1..40u64);
            }
            SampleMeta {
                time: t,
                key,
                label: 0,
            }
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Spec {
    Amount(u64),
    Time(u64, Option<u64>),
}

impl Spec {
    fn policy(self) -> Box<dyn CountPolicy> {
        match self {
            Spec::Amount(every) => Box::new(DataAmount::new(every)),
            Spec::Time(every, start) => Box::new(TimeTrigger::new(every, start, "x")),
        }
    }
}

type Outcome = (Vec<TriggerEvent>, Vec<(u64, Option<State>)>, Vec<String>);

/// Runs both operators on the same input; returns (per-sample, counted) outcomes.
fn both(
    workers: usize,
    samples: Vec<SampleMeta>,
    spec: Spec,
    chunk: usize,
    limit: Option<u64>,
    restore: Option<(u64, State)>,
) -> (Outcome, Outcome) {
    let got: Arc<Mutex<[Outcome; 2]>> = Arc::default();
    let g = got.clone();
    let samples = Arc::new(samples);
    timely::execute(timely::Config::process(workers), move |worker| {
        let g = g.clone();
        let restore = restore.clone();
        let (input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, metas) = scope.new_input::<SampleMeta>();
            let metas = metas.exchange(|m: &SampleMeta| route(m.key));
            let options = || TriggerOptions {
                first_id: restore.as_ref().map_or(0, |(id, _)| id + 1),
                states: true,
                restore: restore.as_ref().map(|(_, s)| s.clone()),
                limit,
                ..TriggerOptions::default()
            };
            let per_sample: Box<dyn TriggerPolicy> = spec.policy();
            let a = metas.clone().trigger_with(per_sample, options());
            let b = metas.trigger_counted(spec.policy(), options());
            let mut ends = Vec::new();
            for (i, s) in [a, b].into_iter().enumerate() {
                let (g1, g2, g3) = (g.clone(), g.clone(), g.clone());
                ends.push(
                    s.triggers
                        .inspect(move |t| g1.lock().unwrap()[i].0.push(t.clone())),
                );
                s.states.inspect(move |s: &TriggerState| {
                    g2.lock().unwrap()[i].1.push((s.trigger, s.state.clone()))
                });
                s.errors
                    .inspect(move |e| g3.lock().unwrap()[i].2.push(e.clone()));
            }
            let (probe, _) = scope.concatenate(ends).probe();
            (input, probe)
        });
        common::replay(worker, input, &probe, &samples, chunk);
    })
    .unwrap();
    let mut out = std::mem::take(&mut *got.lock().unwrap());
    for o in &mut out {
        o.0.sort_by_key(|t| t.id);
        o.1.sort_by_key(|s| s.0);
    }
    let [a, b] = out;
    (a, b)
}

fn assert_same(
    workers: usize,
    samples: &[SampleMeta],
    spec: Spec,
    chunk: usize,
    limit: Option<u64>,
) {
    let (want, got) = both(workers, samples.to_vec(), spec, chunk, limit, None);
    assert!(!want.0.is_empty(), "{spec:?}: no triggers to compare");
    assert_eq!(
        got, want,
        "{spec:?} on {workers} workers, chunk {chunk}, limit {limit:?}"
    );
    // Resumed from a state in the middle: the samples after that trigger's boundary.
    let Some((id, Some(state))) = want.1.get(want.1.len() / 2).cloned() else {
        return;
    };
    let boundary = want.0[id as usize].boundary;
    let rest: Vec<SampleMeta> = samples
        .iter()
        .filter(|s| s.position() > boundary)
        .copied()
        .collect();
    let (want, got) = both(workers, rest, spec, chunk, limit, Some((id, state)));
    assert_eq!(
        got, want,
        "{spec:?} resumed after trigger {id} on {workers} workers"
    );
}

#[test]
fn amount_boundaries_inside_a_time_are_resolved_from_every_workers_keys() {
    // 50 samples per ms on average: almost every boundary falls inside a time.
    let s = stream(6_000, 50, 1);
    for workers in [1, 2, 4] {
        assert_same(workers, &s, Spec::Amount(97), 500, None);
        assert_same(workers, &s, Spec::Amount(1), 1_000, Some(300));
    }
}

#[test]
fn time_windows_match_the_per_sample_operator_with_empty_windows() {
    let s = stream(4_000, 20, 2);
    for workers in [1, 3] {
        assert_same(workers, &s, Spec::Time(7, None), 300, None);
        assert_same(workers, &s, Spec::Time(50, Some(3)), 1, Some(5));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_stream_batching_and_worker_count_gives_the_per_sample_triggers(
        n in 1usize..1_500,
        dense in 1u64..30,
        seed in any::<u64>(),
        workers in 1usize..4,
        chunk in 1usize..400,
        amount in any::<bool>(),
        every in 1u64..200,
        limit in proptest::option::of(1u64..20),
    ) {
        let s = stream(n, dense, seed);
        let spec = if amount { Spec::Amount(every) } else { Spec::Time(every, None) };
        let (want, got) = both(workers, s, spec, chunk, limit, None);
        prop_assert_eq!(got, want);
    }
}
