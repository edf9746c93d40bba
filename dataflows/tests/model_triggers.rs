//! Drift, performance and ensemble triggers in the dataflow on 1–4 workers and different
//! input batchings, with an in-memory probe (features a function of the key) and a "trainer"
//! that reports a model for every training set: the same triggers, details and training sets
//! every time, and drift found right after each known drift point.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sluice_dataflows::drift::{
    Aggregation, Criterion, MetricKind, MetricSpec, Vectors, WindowSpec,
};
use std::collections::BTreeMap;

use sluice_dataflows::selection::{
    AssembleTrainingSets, LimitReset, NewData, Reservoir, Select, SelectOptions, SetSampler,
};
use sluice_dataflows::triggers::{
    Batched, Cost, CostConfig, DataAmount, DataDrift, DriftConfig, Ensemble, EnsembleStrategy,
    Forecast, ModelFeed, ModelInfo, Performance, PerformanceConfig, PerformanceCriterion, Probe,
    Regret, State, TimeTrigger, Trigger, TriggerOptions, TriggerPolicy,
};
use sluice_dataflows::{Key, Position, SampleMeta, TrainingSet, TriggerEvent, route};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Exchange, Inspect, Probe as _};

/// Samples of stream index `i` are in segment `i / SEGMENT`; features shift per segment.
const SEGMENT: u64 = 2_000;
const N: u64 = 6_000;

fn key_of(i: u64) -> Key {
    i * 7 + 3
}

fn stream() -> Vec<SampleMeta> {
    (0..N)
        .map(|i| SampleMeta {
            time: 1_000 + i / 3,
            key: key_of(i),
            label: (i % 2) as i64,
        })
        .collect()
}

/// Pseudo-random features of a key, shifted by 1.5 per segment; a "model" named `m<k>`
/// predicts label 0 for segment k's keys... and wrongly (1) for other segments' odd keys.
struct MapProbe;

fn index_of(key: Key) -> u64 {
    (key - 3) / 7
}

impl Probe for MapProbe {
    fn vectors(&mut self, at: &[Position], model: Option<&str>) -> Result<Vectors, String> {
        assert!(model.is_none(), "raw features");
        let mut data = Vec::new();
        for k in at.iter().map(|p| p.key) {
            let seg = (index_of(k) / SEGMENT) as f32;
            for j in 0..4u64 {
                let u = (route(k * 31 + j) % 10_000) as f32 / 10_000.0;
                data.push(u + 1.5 * seg);
            }
        }
        Ok(Vectors::new(4, data))
    }

    fn predict(&mut self, at: &[Position], model: &str) -> Result<Vec<i64>, String> {
        // Model trained at trigger t knows the segment of its last training sample.
        let seg: u64 = model[1..].parse().unwrap();
        Ok(at
            .iter()
            .map(|p| {
                let k = p.key;
                let i = index_of(k);
                if i / SEGMENT == seg {
                    (i % 2) as i64
                } else {
                    0
                }
            })
            .collect())
    }
}

/// Runs `policy` over the stream with new-data selection on `workers` workers, feeding
/// `chunk` records per step; the "trainer" reports a model per training set.
fn run(
    workers: usize,
    chunk: usize,
    policy: impl Fn() -> Box<dyn TriggerPolicy> + Send + Sync + 'static,
) -> (Vec<TriggerEvent>, Vec<TrainingSet>) {
    let (triggers, sets, _) = run_saving(workers, None, chunk, policy, Pool::NewData, None, None);
    (triggers, sets)
}

fn drift() -> Box<dyn TriggerPolicy> {
    Box::new(Batched::new(
        DataDrift::new(DriftConfig {
            windows: WindowSpec::Amount {
                reference: 300,
                current: 300,
                allow_overlap: false,
            },
            sample_size: Some(200),
            embeddings: false,
            metrics: vec![
                MetricSpec {
                    name: "mmd".into(),
                    kind: MetricKind::Mmd { permutations: 20 },
                    criterion: Criterion::Threshold(0.1),
                },
                MetricSpec {
                    name: "ks".into(),
                    kind: MetricKind::Ks { fdr: true },
                    criterion: Criterion::PValue(0.01),
                },
            ],
            aggregation: Aggregation::MajorityVote,
            seed: 3,
        }),
        300,
        None,
    ))
}

/// Accuracy below 0.9 on an interval of 500 fires.
fn performance() -> Box<dyn TriggerPolicy> {
    Box::new(Batched::new(
        Performance::new(PerformanceConfig {
            criteria: vec![(
                "acc".into(),
                PerformanceCriterion::Accuracy(Criterion::Threshold(0.9)),
            )],
            forecast: Forecast::Ridge,
            data_density_window: 20,
            performance_window: 10,
        }),
        500,
        None,
    ))
}

/// Every run equals the first; returns the triggers' boundary stream indices.
fn same_everywhere(
    policy: impl Fn() -> Box<dyn TriggerPolicy> + Send + Sync + Clone + 'static,
) -> Vec<u64> {
    let mut first: Option<(Vec<TriggerEvent>, Vec<TrainingSet>)> = None;
    for (workers, chunk) in [(1, 64), (4, 64), (2, 1), (3, 5_000)] {
        let got = run(workers, chunk, policy.clone());
        match &first {
            None => first = Some(got),
            Some(want) => {
                assert_eq!(got.0, want.0, "triggers, workers={workers} chunk={chunk}");
                assert!(
                    got.1 == want.1,
                    "training sets, workers={workers} chunk={chunk}"
                );
            }
        }
    }
    let (triggers, sets) = first.unwrap();
    assert_eq!(triggers.len(), sets.len());
    triggers.iter().map(|t| index_of(t.boundary.key)).collect()
}

#[test]
fn drift_fires_right_after_each_drift_point_on_any_worker_count_and_batching() {
    let at = same_everywhere(drift);
    // The first interval; each drift found within two intervals (600 samples: the first
    // interval after it may hold too few shifted samples to pass both metrics); at most one
    // more trigger after each (the new reference mixes both segments); nothing else.
    assert_eq!(at[0], 299);
    for d in [2_000, 4_000] {
        let found = at.iter().filter(|a| (d..d + 600).contains(*a)).count();
        assert!((1..=2).contains(&found), "drift at {d}: {at:?}");
    }
    let explained = |a: &u64| *a == 299 || [2_000, 4_000].iter().any(|d| (*d..d + 900).contains(a));
    assert!(at.iter().all(explained), "false alarms: {at:?}");
}

#[test]
fn performance_waits_for_each_model_and_fires_when_it_fails() {
    let at = same_everywhere(performance);
    // Models know their own segment: accuracy drops to 1/2 on a new segment's intervals.
    assert_eq!(at, [499, 2499, 4499], "{at:?}");
}

#[test]
fn ensembles_of_time_amount_and_drift_agree_on_any_worker_count_and_batching() {
    let policy = || -> Box<dyn TriggerPolicy> {
        Box::new(Ensemble::new(
            vec![
                ("drift".into(), drift()),
                ("amount".into(), Box::new(DataAmount::new(1_500))),
                (
                    "time".into(),
                    Box::new(TimeTrigger::new(700, None, "700ms")),
                ),
            ],
            EnsembleStrategy::AtLeast(2),
        ))
    };
    let at = same_everywhere(policy);
    assert!(at.len() >= 3, "{at:?}");
    let counts: HashMap<u64, usize> = at.iter().fold(HashMap::new(), |mut m, a| {
        *m.entry(*a).or_default() += 1;
        m
    });
    assert!(
        counts.values().all(|&c| c == 1),
        "one trigger per point: {at:?}"
    );
}

#[test]
fn cost_triggers_with_reported_training_times_agree_on_any_worker_count_and_batching() {
    // The "trainer" reports 1 s per training: with 3 samples per ms, an interval of 500
    // samples waits ~167 ms; the regret passes 1 training-s after a few intervals.
    let policy = || -> Box<dyn TriggerPolicy> {
        Box::new(Batched::new(
            Cost::new(CostConfig {
                regret: Regret::IncorporationLatency,
                conversion_factor: 0.005,
                window: 10,
            }),
            500,
            None,
        ))
    };
    let at = same_everywhere(policy);
    assert!(at.len() >= 4, "{at:?}");
    assert_eq!(at[0], 499);
    let gaps: Vec<u64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| g % 500 == 0),
        "decisions at interval ends: {at:?}"
    );
}

/// The states saved at one trigger: the trigger policy's, each worker's selection's and the
/// sampler's.
#[derive(Clone, Debug, Default)]
struct Saved {
    trigger: Option<State>,
    selection: BTreeMap<usize, State>,
    sampler: Option<State>,
}

/// Candidate pools of the checkpoint tests.
#[derive(Clone, Copy, Debug)]
enum Pool {
    /// The epoch's samples, every one.
    NewData,
    AllData,
    Reservoir,
}

impl Pool {
    fn sampler(self) -> SetSampler {
        match self {
            Pool::NewData => SetSampler::none(),
            // Freshness remembers which samples trained: sampler state across triggers.
            Pool::AllData => SetSampler {
                seed: 5,
                freshness: Some(40),
                limit: Some((700, LimitReset::SampleUar)),
                ..SetSampler::none()
            },
            Pool::Reservoir => SetSampler {
                seed: 5,
                reservoir: Some(400),
                ..SetSampler::none()
            },
        }
    }
}

type Run = (Vec<TriggerEvent>, Vec<TrainingSet>, BTreeMap<u64, Saved>);

/// Runs `policy` and `pool` (the "trainer" reports a model named after the segment of its
/// newest sample per training set), saving every state for checkpoints, and optionally
/// resuming after trigger `k` of `resume` (fed only the samples after its boundary). Keys live
/// on the first `owners` workers (`None`: all), as in a cluster whose first process owns them.
/// The trigger operator fires no trigger numbered `limit` or higher.
fn run_saving(
    workers: usize,
    owners: Option<usize>,
    chunk: usize,
    policy: impl Fn() -> Box<dyn TriggerPolicy> + Send + Sync + 'static,
    pool: Pool,
    resume: Option<(&TriggerEvent, Saved)>,
    limit: Option<u64>,
) -> Run {
    let triggers = Arc::new(Mutex::new(Vec::new()));
    let sets = Arc::new(Mutex::new(Vec::new()));
    let saved: Arc<Mutex<BTreeMap<u64, Saved>>> = Arc::default();
    let feed = ModelFeed::default();
    let (t2, s2, saved2) = (triggers.clone(), sets.clone(), saved.clone());
    let boundary = resume.as_ref().map(|(t, _)| t.boundary);
    let first_id = resume.as_ref().map_or(0, |(t, _)| t.id + 1);
    let resume = Arc::new(resume.map(|(_, s)| s));
    let samples: Arc<Vec<SampleMeta>> = Arc::new(
        stream()
            .into_iter()
            .filter(|s| boundary.is_none_or(|b| s.position() > b))
            .collect(),
    );
    timely::execute(timely::Config::process(workers), move |worker| {
        let (t3, s3, feed) = (t2.clone(), s2.clone(), feed.clone());
        let feed2 = feed.clone();
        let index = worker.index();
        let (sv1, sv2, sv3) = (saved2.clone(), saved2.clone(), saved2.clone());
        let resume = resume.clone();
        let (input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, metas) = scope.new_input::<SampleMeta>();
            let n = owners.unwrap_or(workers) as u64;
            let metas = metas.exchange(move |m: &SampleMeta| route(m.key) % n);
            let streams = metas.clone().trigger_with(
                policy(),
                TriggerOptions {
                    first_id,
                    models: Some(feed),
                    probe: Box::new(MapProbe),
                    states: true,
                    restore: resume.as_ref().as_ref().and_then(|r| r.trigger.clone()),
                    limit,
                },
            );
            streams.states.inspect(move |s| {
                let mut saved = sv1.lock().unwrap();
                let id = s.trigger;
                assert!(saved.get(&id).is_none_or(|s| s.trigger.is_none()), "once");
                saved.entry(id).or_default().trigger = s.state.clone();
            });
            streams
                .errors
                .inspect(|e| panic!("trigger policy failed: {e}"));
            let trig = streams
                .triggers
                .inspect(move |t| t3.lock().unwrap().push(t.clone()));
            let options = || SelectOptions {
                states: true,
                restore: resume
                    .as_ref()
                    .as_ref()
                    .map(|r| r.selection.values().cloned().collect()),
                owners,
                ..SelectOptions::default()
            };
            let candidates = match pool {
                Pool::NewData => metas.select_with(trig.clone(), NewData::default(), options()),
                Pool::AllData => metas.select_with(trig.clone(), NewData::tail(None), options()),
                Pool::Reservoir => {
                    metas.select_with(trig.clone(), Reservoir::new(400, 5), options())
                }
            };
            candidates.states.inspect(move |s| {
                sv2.lock()
                    .unwrap()
                    .entry(s.trigger)
                    .or_default()
                    .selection
                    .insert(index, s.state.clone());
            });
            let assembled = candidates.answers.training_sets_options(
                trig,
                pool.sampler(),
                SelectOptions {
                    states: true,
                    restore: resume
                        .as_ref()
                        .as_ref()
                        .and_then(|r| r.sampler.clone())
                        .map(|s| vec![s]),
                    ..SelectOptions::default()
                },
            );
            assembled.states.inspect(move |s| {
                sv3.lock().unwrap().entry(s.trigger).or_default().sampler = Some(s.state.clone());
            });
            let sets = assembled.answers.inspect(move |s: &TrainingSet| {
                let seg = s.samples.last().map_or(0, |p| index_of(p.key) / SEGMENT);
                feed2.post(ModelInfo {
                    trigger: s.trigger.id,
                    model: Some(format!("m{seg}")),
                    samples: s.samples.len() as u64,
                    training_s: 1.0,
                });
                s3.lock().unwrap().push(s.clone());
            });
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
    let saved = saved.lock().unwrap().clone();
    (t, s, saved)
}

/// Resumed after every trigger k that has a complete set of states (on another number of
/// workers and another batching), the run's later triggers and training sets equal the
/// uninterrupted run's. Returns how many triggers it resumed after.
fn resumes_like_uninterrupted(
    policy: impl Fn() -> Box<dyn TriggerPolicy> + Send + Sync + Clone + 'static,
    pool: Pool,
) -> usize {
    let (triggers, sets, saved) = run_saving(2, None, 64, policy.clone(), pool, None, None);
    assert!(triggers.len() >= 3, "{} triggers", triggers.len());
    let mut resumed = 0;
    for (i, t) in triggers.iter().enumerate().take(triggers.len() - 1) {
        let Some(s) = saved.get(&t.id) else { continue };
        assert_eq!(s.selection.len(), 2, "every worker saved its selection");
        assert!(s.sampler.is_some(), "the sampler saved its state");
        // Empty time windows share a boundary: only the last of them has a trigger state.
        let Some(_) = &s.trigger else { continue };
        // Also resumed with idle workers: keys on 2 of 3, or 1 of 2 (two one-thread processes).
        let (workers, owners, chunk) = [(1, None, 500), (3, Some(2), 7), (2, Some(1), 64)][i % 3];
        let (t2, s2, _) = run_saving(
            workers,
            owners,
            chunk,
            policy.clone(),
            pool,
            Some((t, s.clone())),
            None,
        );
        assert_eq!(
            t2,
            triggers[i + 1..],
            "triggers after {} on {workers} workers",
            t.id
        );
        assert!(
            s2 == sets[i + 1..],
            "training sets after {} on {workers} workers",
            t.id
        );
        resumed += 1;
    }
    resumed
}

#[test]
fn amount_and_time_triggers_resume_from_their_checkpoints() {
    let amount = || -> Box<dyn TriggerPolicy> { Box::new(DataAmount::new(700)) };
    assert_eq!(resumes_like_uninterrupted(amount, Pool::AllData), 7);
    // 300 ms windows over 2,000 ms of event time, starting before the first sample.
    let time = || -> Box<dyn TriggerPolicy> { Box::new(TimeTrigger::new(300, Some(400), "300ms")) };
    assert!(resumes_like_uninterrupted(time, Pool::Reservoir) >= 5);
}

#[test]
fn model_triggers_resume_from_their_checkpoints() {
    assert_eq!(resumes_like_uninterrupted(performance, Pool::Reservoir), 2);
    assert!(resumes_like_uninterrupted(drift, Pool::AllData) >= 2);
    let cost = || -> Box<dyn TriggerPolicy> {
        Box::new(Batched::new(
            Cost::new(CostConfig {
                regret: Regret::IncorporationLatency,
                conversion_factor: 0.005,
                window: 10,
            }),
            500,
            None,
        ))
    };
    assert!(resumes_like_uninterrupted(cost, Pool::AllData) >= 3);
    let ensemble = || -> Box<dyn TriggerPolicy> {
        Box::new(Ensemble::new(
            vec![
                ("drift".into(), drift()),
                ("amount".into(), Box::new(DataAmount::new(1_500))),
                (
                    "time".into(),
                    Box::new(TimeTrigger::new(700, None, "700ms")),
                ),
            ],
            EnsembleStrategy::AtLeast(2),
        ))
    };
    assert!(resumes_like_uninterrupted(ensemble, Pool::Reservoir) >= 2);
}

/// With a limit of k triggers, a run fires the uninterrupted run's first k triggers and trains
/// their sets, then drops what comes (policies that wait for models do not wait on the cut);
/// the states saved up to trigger k - 1 are the uninterrupted run's, the last one's if the
/// policy stopped at its boundary. Resumed past the limit, nothing fires.
fn limited_like_first(
    policy: impl Fn() -> Box<dyn TriggerPolicy> + Send + Sync + Clone + 'static,
    pool: Pool,
    k: usize,
) {
    let (triggers, sets, saved) = run_saving(2, None, 64, policy.clone(), pool, None, None);
    assert!(triggers.len() > k, "{} triggers", triggers.len());
    for (workers, chunk) in [(1, 500), (2, 7)] {
        let (t, s, sv) = run_saving(
            workers,
            None,
            chunk,
            policy.clone(),
            pool,
            None,
            Some(k as u64),
        );
        assert_eq!(t, triggers[..k], "triggers with a limit of {k}");
        assert!(s == sets[..k], "training sets with a limit of {k}");
        assert!(sv.keys().all(|&id| id < k as u64), "{:?}", sv.keys());
        for (id, state) in &sv {
            let full = &saved[id];
            if *id + 1 < k as u64 {
                assert_eq!(state.trigger, full.trigger, "trigger state at {id}");
            } else {
                assert!(state.trigger.is_none() || state.trigger == full.trigger);
            }
        }
    }
    let last = &triggers[k - 1];
    let (t, s, _) = run_saving(
        1,
        None,
        64,
        policy,
        pool,
        Some((last, saved[&last.id].clone())),
        Some(k as u64),
    );
    assert!(t.is_empty() && s.is_empty(), "resumed at the limit: {t:?}");
}

#[test]
fn a_trigger_limit_keeps_the_first_triggers_and_stops() {
    let amount = || -> Box<dyn TriggerPolicy> { Box::new(DataAmount::new(700)) };
    limited_like_first(amount, Pool::AllData, 3);
    limited_like_first(amount, Pool::NewData, 1);
    limited_like_first(performance, Pool::Reservoir, 2);
    limited_like_first(drift, Pool::AllData, 2);
}
