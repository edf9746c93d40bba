//! Throughput of the trigger + selection path (amount trigger, new-data selection, training-set
//! assembly) through timely on 1 and 2 workers, against a baseline measured in the same run:
//! the single-threaded computation of the same training sets (sort all samples by position,
//! cut every N). Prints samples/s and the ratio to the baseline.
//!
//! `cargo bench -p sluice-dataflows --bench trigger_selection [-- <samples> <every>]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_dataflows::selection::{AssembleTrainingSets, NewData, Select};
use sluice_dataflows::triggers::{DataAmount, Trigger};
use sluice_dataflows::{Position, SampleMeta, route};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Exchange, Probe};

fn stream(n: usize) -> Vec<SampleMeta> {
    let mut rng = StdRng::seed_from_u64(1);
    let mut t = 0u64;
    (0..n as u64)
        .map(|key| {
            t += rng.random_range(0..3u64);
            SampleMeta {
                time: t,
                key,
                label: rng.random_range(0..10),
            }
        })
        .collect()
}

/// Baseline: the same training sets computed directly.
fn baseline(samples: &[SampleMeta], every: usize) -> (Duration, u64) {
    let start = Instant::now();
    let mut pos: Vec<Position> = samples.iter().map(|s| s.position()).collect();
    pos.sort_unstable();
    let mut selected = 0u64;
    for chunk in pos.chunks_exact(every) {
        let set = chunk.to_vec();
        selected += set.len() as u64;
        std::hint::black_box(set);
    }
    (start.elapsed(), selected)
}

fn dataflow(samples: Arc<Vec<SampleMeta>>, every: u64, workers: usize) -> (Duration, u64) {
    let selected = Arc::new(AtomicU64::new(0));
    let sel = selected.clone();
    let start = Instant::now();
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let sel = sel.clone();
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, metas) = scope.new_input::<SampleMeta>();
            let metas = metas.exchange(|m: &SampleMeta| route(m.key));
            let triggers = metas.clone().trigger(DataAmount::new(every));
            let sets = metas
                .select(triggers.clone(), NewData::default())
                .training_sets(triggers);
            let (probe, sets) = sets.probe();
            sets.sink(Pipeline, "Count", move |(input, _)| {
                input.for_each(|_, data| {
                    for s in data.drain(..) {
                        sel.fetch_add(s.samples.len() as u64, Ordering::Relaxed);
                    }
                })
            });
            (input, probe)
        });
        // As the sources do: a chunk goes out at its least event time, records carry their own.
        let mine: Vec<SampleMeta> = samples.iter().skip(index).step_by(peers).copied().collect();
        for chunk in mine.chunks(4096) {
            input.advance_to(chunk[0].time);
            for s in chunk {
                input.send(*s);
            }
            worker.step();
        }
        drop(input);
        while !probe.done() {
            worker.step();
        }
    })
    .expect("timely runs");
    (start.elapsed(), selected.load(Ordering::Relaxed))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let every: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let samples = Arc::new(stream(n));
    let reps = 5;
    let expected = (n as u64 / every) * every;

    let (b, sel) = baseline(&samples, every as usize);
    assert_eq!(sel, expected);
    let base = median(
        (0..reps)
            .map(|_| baseline(&samples, every as usize).0)
            .chain([b])
            .collect(),
    );
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("trigger_selection: {n} samples, amount every {every}, median of {reps}");
    println!(
        "  baseline (sort + cut, 1 thread): {:>12.0} samples/s",
        rate(base)
    );
    for workers in [1, 2] {
        let runs: Vec<Duration> = (0..reps)
            .map(|_| {
                let (d, sel) = dataflow(samples.clone(), every, workers);
                assert_eq!(
                    sel, expected,
                    "training sets cover every sample of a closed epoch"
                );
                d
            })
            .collect();
        let d = median(runs);
        println!(
            "  dataflow, {workers} worker(s):        {:>12.0} samples/s  ratio to baseline {:.3}",
            rate(d),
            base.as_secs_f64() / d.as_secs_f64()
        );
    }
}
