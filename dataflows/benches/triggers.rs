//! Trigger policies: samples/s through each (amount, time, drift with MMD on 1k-sample windows
//! of 32-dim features, performance) and their decision latency, each against a baseline
//! measured in the same run:
//! - amount, time, performance: a bare pass over the same samples (reading each one), the least
//!   any policy costs; ratio = policy throughput / pass throughput;
//! - drift: the same decisions with the reference's statistics recomputed every time (what
//!   Modyn's detector does) instead of reused; ratio = speed-up of reuse;
//! - operator latency: from sending the chunk that completes an amount trigger's epoch to the
//!   trigger event, through timely on one worker (design target < 10 ms);
//! - operator throughput, 2 workers, each feeding the samples it owns: the counted operator
//!   (per-time tallies to worker 0) against the per-sample one (every sample's metadata to
//!   worker 0), at 1 sample per ms and at 46 per ms (a Criteo-sized stream, 4 billion a day);
//!   ratio = counted throughput / per-sample throughput, same samples, same triggers.
//!
//! `cargo bench -p sluice-dataflows --bench triggers [-- <samples>]`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_dataflows::drift::{
    Aggregation, Criterion, Detector, MetricKind, MetricSpec, Summary, Vectors, WindowSpec,
};
use sluice_dataflows::triggers::{
    Batched, Context, DataAmount, DataDrift, DriftConfig, Fire, Forecast, ModelInfo, Performance,
    PerformanceConfig, PerformanceCriterion, Probe, TimeTrigger, Trigger, TriggerCounted,
    TriggerOptions, TriggerPolicy,
};
use sluice_dataflows::{Position, SampleMeta, route};
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Inspect, Probe as _};

const DIM: usize = 32;

fn stream(n: u64) -> Vec<SampleMeta> {
    (0..n)
        .map(|k| SampleMeta {
            time: 1_000 + k / 3,
            key: k,
            label: (route(k) % 4) as i64,
        })
        .collect()
}

/// 32 pseudo-random features per key, shifted after half the stream; predictions right for
/// three keys in four.
struct Synthetic {
    n: u64,
}

impl Probe for Synthetic {
    fn vectors(&mut self, at: &[Position], _: Option<&str>) -> Result<Vectors, String> {
        let mut data = Vec::with_capacity(at.len() * DIM);
        for k in at.iter().map(|p| p.key) {
            let shift = if k >= self.n / 2 { 0.5 } else { 0.0 };
            for j in 0..DIM as u64 {
                data.push((route(k * 64 + j) % 1000) as f32 / 1000.0 + shift);
            }
        }
        Ok(Vectors::new(DIM, data))
    }

    fn predict(&mut self, at: &[Position], _: &str) -> Result<Vec<i64>, String> {
        Ok(at
            .iter()
            .map(|p| {
                let k = p.key;
                let label = (route(k) % 4) as i64;
                if k % 4 == 0 { (label + 1) % 4 } else { label }
            })
            .collect())
    }
}

/// Feeds `samples` to `policy` in chunks of 10k, reporting a model after each fire; returns
/// (elapsed, fires).
fn drive(policy: &mut dyn TriggerPolicy, samples: &[SampleMeta], n: u64) -> (Duration, usize) {
    let mut probe = Synthetic { n };
    let mut decisions = Vec::new();
    let mut fires = 0;
    let start = Instant::now();
    for chunk in samples.chunks(10_000) {
        let mut done = 0;
        while done < chunk.len() {
            let mut fired: Vec<Fire> = Vec::new();
            let mut ctx = Context {
                probe: &mut probe,
                decisions: &mut decisions,
            };
            done += policy.inform(&chunk[done..], &mut ctx, &mut fired).unwrap();
            for _ in &fired {
                fires += 1;
                policy.inform_model(&ModelInfo {
                    trigger: fires as u64,
                    model: Some(format!("m{fires}")),
                    samples: 1000,
                    training_s: 1.0,
                });
            }
            decisions.clear();
        }
    }
    (start.elapsed(), fires)
}

/// The baseline pass: read every sample.
fn pass(samples: &[SampleMeta]) -> Duration {
    let start = Instant::now();
    let mut acc = 0u64;
    for chunk in samples.chunks(10_000) {
        for s in chunk {
            acc = acc.wrapping_add(s.key ^ s.time);
        }
        std::hint::black_box(acc);
    }
    start.elapsed()
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn drift_policy(n_decisions_every: usize) -> Batched<DataDrift> {
    Batched::new(
        DataDrift::new(DriftConfig {
            windows: WindowSpec::Amount {
                reference: 1_000,
                current: 1_000,
                allow_overlap: false,
            },
            sample_size: Some(1_000),
            embeddings: false,
            metrics: vec![MetricSpec {
                name: "mmd".into(),
                kind: MetricKind::Mmd { permutations: 0 },
                criterion: Criterion::Threshold(0.05),
            }],
            aggregation: Aggregation::MajorityVote,
            seed: 1,
        }),
        n_decisions_every,
        None,
    )
}

fn operator_latency(every: u64) -> (Duration, usize) {
    // One sample per ms: a chunk's epoch is complete once the input passes its last time.
    let samples: Vec<SampleMeta> = (0..1_000_000u64)
        .map(|k| SampleMeta {
            time: k,
            key: k,
            label: 0,
        })
        .collect();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let l2 = latencies.clone();
    let samples = Arc::new(samples);
    timely::execute(timely::Config::process(1), move |worker| {
        let sent: Arc<Mutex<Option<Instant>>> = Arc::default();
        let s2 = sent.clone();
        let l3 = l2.clone();
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, metas) = scope.new_input::<SampleMeta>();
            let trig = metas.trigger(DataAmount::new(every));
            let (probe, _) = trig
                .inspect(move |_| {
                    if let Some(t) = s2.lock().unwrap().take() {
                        l3.lock().unwrap().push(t.elapsed());
                    }
                })
                .probe();
            (input, probe)
        });
        for chunk in samples.chunks(1_000) {
            input.advance_to(chunk[0].time);
            for s in chunk {
                input.send(*s);
            }
            let end = chunk.last().unwrap();
            if (end.key + 1) % every == 0 {
                *sent.lock().unwrap() = Some(Instant::now());
            }
            input.advance_to(end.time + 1);
            while probe.less_than(input.time()) {
                worker.step();
            }
        }
    })
    .unwrap();
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    let p99 = l[(l.len() * 99 / 100).min(l.len() - 1)];
    (p99, l.len())
}

/// Samples/s of an amount trigger (every 100k) through the per-sample or the counted operator
/// on `workers` workers, `per_ms` samples per millisecond; and the triggers it fired.
fn operator_throughput(n: u64, per_ms: u64, workers: usize, counted: bool) -> (f64, usize) {
    let samples: Arc<Vec<SampleMeta>> = Arc::new(
        (0..n)
            .map(|k| SampleMeta {
                time: k / per_ms,
                key: route(k),
                label: 0,
            })
            .collect(),
    );
    let fired = Arc::new(Mutex::new(0usize));
    let f2 = fired.clone();
    let start = Instant::now();
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let f3 = f2.clone();
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, metas) = scope.new_input::<SampleMeta>();
            let policy = DataAmount::new(100_000);
            let out = if counted {
                metas.trigger_counted(Box::new(policy), TriggerOptions::default())
            } else {
                metas.trigger_with(policy, TriggerOptions::default())
            };
            let (probe, _) = out
                .triggers
                .inspect(move |_| *f3.lock().unwrap() += 1)
                .probe();
            (input, probe)
        });
        // Each worker feeds the keys it owns, as the store operator hands them on: in chunks
        // of 4,096 at the chunk's least time, as the sources send them.
        let mine: Vec<SampleMeta> = samples
            .iter()
            .filter(|s| s.key % peers as u64 == index as u64)
            .copied()
            .collect();
        for chunk in mine.chunks(4_096) {
            input.advance_to(chunk[0].time);
            for s in chunk {
                input.send(*s);
            }
            while probe.less_than(input.time()) {
                worker.step();
            }
        }
        drop(input);
        while !probe.done() {
            worker.step();
        }
    })
    .unwrap();
    let fires = *fired.lock().unwrap();
    (n as f64 / start.elapsed().as_secs_f64(), fires)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let samples = stream(n);
    let base = pass(&samples);
    println!(
        "baseline pass: {:.1} M samples/s",
        rate(samples.len(), base) / 1e6
    );

    let (d, f) = drive(&mut DataAmount::new(1_000), &samples, n);
    println!(
        "amount (every 1000): {:.1} M samples/s, {f} triggers, ratio to pass {:.2}",
        rate(samples.len(), d) / 1e6,
        base.as_secs_f64() / d.as_secs_f64()
    );
    let (d, f) = drive(&mut TimeTrigger::new(500, None, "500ms"), &samples, n);
    println!(
        "time (every 500 ms): {:.1} M samples/s, {f} triggers, ratio to pass {:.2}",
        rate(samples.len(), d) / 1e6,
        base.as_secs_f64() / d.as_secs_f64()
    );

    // Drift: 1k-sample windows of 32-dim features, a decision every 1,000 samples.
    let m = 200_000usize.min(samples.len());
    let (d, f) = drive(&mut drift_policy(1_000), &samples[..m], m as u64);
    let decisions = m / 1_000;
    println!(
        "drift (MMD, 1k windows, 32-dim): {:.0} samples/s, {:.1} ms per decision, {f} triggers",
        rate(m, d),
        d.as_secs_f64() * 1e3 / decisions as f64
    );
    // Reuse vs recompute of the reference statistics, same vectors.
    let mut probe = Synthetic { n: u64::MAX };
    let keys: Vec<Position> = (0..2_000).map(|key| Position { time: key, key }).collect();
    let reference = probe.vectors(&keys[..1_000], None).unwrap();
    let current = Summary::new(probe.vectors(&keys[1_000..], None).unwrap());
    let kind = MetricKind::Mmd { permutations: 0 };
    let reps = 20;
    let mut rng = || 0u64;
    let start = Instant::now();
    for _ in 0..reps {
        let mut det = Detector::new();
        det.set_reference(reference.clone());
        std::hint::black_box(det.measure(&kind, 0.05, &current, &mut rng));
    }
    let recompute = start.elapsed() / reps;
    let mut det = Detector::new();
    det.set_reference(reference.clone());
    det.measure(&kind, 0.05, &current, &mut rng);
    let start = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(det.measure(&kind, 0.05, &current, &mut rng));
    }
    let reuse = start.elapsed() / reps;
    println!(
        "drift decision (MMD 1k x 1k, 32-dim): {:.1} ms reusing the reference, {:.1} ms \
         recomputing it; ratio {:.2}",
        reuse.as_secs_f64() * 1e3,
        recompute.as_secs_f64() * 1e3,
        recompute.as_secs_f64() / reuse.as_secs_f64()
    );

    let mut perf = Batched::new(
        Performance::new(PerformanceConfig {
            criteria: vec![(
                "acc".into(),
                PerformanceCriterion::Accuracy(Criterion::Threshold(0.5)),
            )],
            forecast: Forecast::Ridge,
            data_density_window: 20,
            performance_window: 10,
        }),
        1_000,
        None,
    );
    let (d, f) = drive(&mut perf, &samples, n);
    println!(
        "performance (decision every 1000, synthetic predictions): {:.1} M samples/s, {f} \
         triggers, {:.3} ms per decision, ratio to pass {:.2}",
        rate(samples.len(), d) / 1e6,
        d.as_secs_f64() * 1e3 / (samples.len() / 1_000) as f64,
        base.as_secs_f64() / d.as_secs_f64()
    );

    let (p99, count) = operator_latency(10_000);
    println!(
        "amount trigger operator: p99 latency {:.2} ms from the boundary chunk to the event \
         ({count} triggers; target < 10 ms)",
        p99.as_secs_f64() * 1e3
    );

    for per_ms in [1, 46] {
        let m = n.max(4_000_000);
        let (plain, a) = operator_throughput(m, per_ms, 2, false);
        let (counted, b) = operator_throughput(m, per_ms, 2, true);
        assert_eq!(a, b, "both operators fire the same triggers");
        println!(
            "trigger operator, 2 workers, {per_ms} samples/ms: per-sample {:.2} M samples/s, \
             counted {:.2} M samples/s ({a} triggers); ratio {:.2}",
            plain / 1e6,
            counted / 1e6,
            counted / plain
        );
    }
}
