//! Cost accounting's overhead on the dataflow's hot path: samples/s through the ingest graph
//! (exchange by key, sample store, amount trigger, new-data selection, training-set assembly)
//! with the stage clock's scheduling logger registered vs without, in the same run, for 1 and 2
//! workers. In-memory samples, so the dataflow is all that is measured.
//!
//! `cargo bench --bench stage_clock [-- <samples>]` (default 2,000,000 samples, 8 features);
//! each configuration runs 6 times, alternating which goes first, and the best of each is
//! compared (two workers on a 2-core machine vary by 2x between runs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice::pipeline::cost::StageClock;
use sluice::source::{Rows, Sample};
use sluice::store::SampleStore;

#[path = "common/ingest.rs"]
mod ingest;
use ingest::ingest_graph;

const BATCH: usize = 1024;
const ROUNDS: usize = 6;

fn samples(n: usize) -> Arc<Vec<Sample>> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32
    };
    Arc::new(
        (0..n)
            .map(|i| {
                let features: Vec<f32> = (0..8).map(|_| next()).collect();
                Sample {
                    key: i as u64,
                    time: 1_700_000_000_000 + i as u64,
                    label: (features[0] > 0.5) as i64,
                    features,
                    origin: Default::default(),
                }
            })
            .collect(),
    )
}

fn ingest(data: &Arc<Vec<Sample>>, workers: usize, clock: Option<Arc<StageClock>>) -> Duration {
    let store = Arc::new(SampleStore::new(8, workers));
    let data = data.clone();
    let start = Instant::now();
    timely::execute(timely::Config::process(workers), move |worker| {
        if let Some(c) = &clock {
            c.register(worker);
        }
        let (index, peers) = (worker.index(), worker.peers());
        let store = store.clone();
        let ingested = Arc::default();
        let (mut input, probe) =
            worker.dataflow::<u64, _, _>(|scope| ingest_graph(scope, store, ingested));
        let share: Vec<&Sample> = data.iter().skip(index).step_by(peers).collect();
        for chunk in share.chunks(BATCH) {
            input.advance_to(chunk[0].time);
            let rows = Rows::of(8, chunk.iter().map(|s| (*s).clone()));
            ingest::send(&mut input, rows, peers);
            worker.step();
        }
        drop(input);
        while !probe.done() {
            worker.step();
        }
    })
    .unwrap();
    start.elapsed()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let data = samples(n);
    println!("stage clock overhead: {n} samples through the ingest graph, best of {ROUNDS}");
    for workers in [1, 2] {
        let (mut plain, mut clocked) = (Duration::MAX, Duration::MAX);
        let (mut all_plain, mut all_clocked) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            // Alternate which goes first: the second of a pair runs on a warmer machine.
            let clock = Arc::new(StageClock::default());
            let (p, c) = if round % 2 == 0 {
                let p = ingest(&data, workers, None);
                (p, ingest(&data, workers, Some(clock.clone())))
            } else {
                let c = ingest(&data, workers, Some(clock.clone()));
                (ingest(&data, workers, None), c)
            };
            let [ingest_ms, trigger_ms, selection_ms] = clock.totals_ms();
            assert!(ingest_ms > 0.0 && trigger_ms > 0.0 && selection_ms > 0.0);
            plain = plain.min(p);
            clocked = clocked.min(c);
            all_plain.push(format!("{:.2}", p.as_secs_f64()));
            all_clocked.push(format!("{:.2}", c.as_secs_f64()));
        }
        println!(
            "  {workers} worker(s) seconds per run: without [{}], with [{}]",
            all_plain.join(" "),
            all_clocked.join(" ")
        );
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        println!(
            "  {workers} worker(s): without {:>10.0} samples/s, with stage clock {:>10.0} samples/s, ratio {:.3}",
            rate(plain),
            rate(clocked),
            rate(clocked) / rate(plain)
        );
    }
}
