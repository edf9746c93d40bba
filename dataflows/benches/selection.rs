//! Time to produce one trigger's training set from 1M candidates with each global sampler,
//! against the baseline measured in the same run: sorting the same 1M positions (what the
//! assembler does with no sampling). Also the reservoir's per-sample cost on a worker against
//! appending to a vector.
//!
//! `cargo bench -p sluice-dataflows --bench selection [-- <candidates>]`

use std::time::{Duration, Instant};

use sluice_dataflows::downsampling::{Score, record};
use sluice_dataflows::selection::{
    LimitReset, NewData, Presample, Presampling, Reservoir, Sampling, SelectionPolicy, SetSampler,
};
use sluice_dataflows::{Candidate, KeyMap, Position, SampleMeta, SampleScore, TriggerEvent, route};

fn candidates(n: u64) -> Vec<Candidate> {
    (0..n)
        .map(|k| Candidate {
            pos: Position {
                time: k / 3,
                key: route(k),
            },
            label: (route(k ^ 7) % 10) as i64,
            seen_in: k * 5 / n,
        })
        .collect()
}

fn trigger(id: u64) -> TriggerEvent {
    TriggerEvent {
        id,
        first: Position::default(),
        boundary: Position {
            time: u64::MAX,
            key: u64::MAX,
        },
        samples: 0,
        reason: String::new(),
        details: Vec::new(),
    }
}

fn time(f: impl Fn() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut size = 0;
    for _ in 0..3 {
        let start = Instant::now();
        size = f();
        best = best.min(start.elapsed());
    }
    (best, size)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let c = candidates(n);
    let (base, _) = time(|| {
        let mut p: Vec<Position> = c.iter().map(|c| c.pos).collect();
        p.sort_unstable();
        p.len()
    });
    println!(
        "baseline (sort {n} positions): {:.1} ms",
        base.as_secs_f64() * 1e3
    );
    let presample = |strategy| SetSampler {
        seed: 1,
        presampling: Some(Presampling {
            strategy,
            ratio: 30,
            ratio_max: 100,
            limit: None,
            force_column_balancing: false,
            force_required_target_size: true,
        }),
        ..SetSampler::none()
    };
    let samplers = [
        ("none", SetSampler::none()),
        (
            "limit lastX 100k",
            SetSampler {
                limit: Some((100_000, LimitReset::LastX)),
                ..SetSampler::none()
            },
        ),
        (
            "limit sampleUAR 100k",
            SetSampler {
                limit: Some((100_000, LimitReset::SampleUar)),
                ..SetSampler::none()
            },
        ),
        ("presampling random 30%", presample(Presample::Random)),
        (
            "presampling label_balanced 30%",
            presample(Presample::LabelBalanced),
        ),
        (
            "presampling trigger_balanced 30%",
            presample(Presample::TriggerBalanced),
        ),
        (
            "reservoir 100k",
            SetSampler {
                reservoir: Some(100_000),
                ..SetSampler::none()
            },
        ),
    ];
    for (name, s) in samplers {
        let (d, size) = time(|| Sampling::new(s.clone()).apply(&trigger(3), c.clone()).len());
        println!(
            "{name}: {size} samples in {:.1} ms, ratio to baseline {:.2}",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / base.as_secs_f64()
        );
    }
    // A worker's reservoir: per-sample cost against pushing into a vector.
    let metas: Vec<SampleMeta> = (0..n)
        .map(|k| SampleMeta {
            time: k / 3,
            key: k,
            label: 0,
        })
        .collect();
    let (push, _) = time(|| {
        let mut v = Vec::new();
        for m in &metas {
            v.push(*m);
        }
        v.len()
    });
    let (res, _) = time(|| {
        let mut r = Reservoir::new(10_000, 1);
        let mut out = Vec::new();
        for chunk in metas.chunks(100_000) {
            for m in chunk {
                r.add(*m);
            }
            let mut t = trigger(0);
            t.boundary = chunk.last().unwrap().position();
            out.clear();
            r.select(&t, &mut out);
        }
        out.len()
    });
    println!(
        "reservoir (budget 10k) on a worker: {:.1} M samples/s, ratio to vector push {:.2}",
        n as f64 / res.as_secs_f64() / 1e6,
        res.as_secs_f64() / push.as_secs_f64()
    );
    state_bytes(10 * n);
}

/// Bytes of selection state per tracked sample with `n` samples in all-data pools, against the
/// 64-byte target: the per-worker pool (every sample a candidate) and the assembler's last-used
/// memory after freshness has trained on all of them.
fn state_bytes(n: u64) {
    let mut pool = NewData::tail(None);
    let mut out = Vec::new();
    let per_trigger = n / 10;
    for t in 0..10u64 {
        for k in t * per_trigger..(t + 1) * per_trigger {
            pool.add(SampleMeta {
                time: k / 3,
                key: k,
                label: 0,
            });
        }
        let mut tr = trigger(t);
        tr.boundary = Position {
            time: ((t + 1) * per_trigger - 1) / 3,
            key: (t + 1) * per_trigger - 1,
        };
        out.clear();
        pool.select(&tr, &mut out);
    }
    let pool_bytes = pool.bytes() as f64 / pool.held() as f64;
    drop(out);
    drop(pool);
    let mut s = Sampling::new(SetSampler {
        freshness: Some(50),
        ..SetSampler::none()
    });
    let all: Vec<Candidate> = (0..n)
        .map(|k| Candidate {
            pos: Position {
                time: k / 3,
                key: k,
            },
            label: 0,
            seen_in: 0,
        })
        .collect();
    s.apply(&trigger(0), all);
    let last_used = s.bytes() as f64 / s.tracked() as f64;
    drop(s);
    // `Scores: Latest` with a score reported for every sample (`per_sample_feedback`).
    let mut board = KeyMap::default();
    for k in 0..n {
        record(
            &mut board,
            &SampleScore {
                key: k,
                trigger: 0,
                loss: 0.5,
            },
        );
    }
    let scores = board.capacity() as f64 * (size_of::<(u64, Score)>() + 1) as f64 / n as f64;
    println!(
        "state at {n} samples: pool {pool_bytes:.1} bytes per sample (all data), last-used \
         memory {last_used:.1} bytes per sample, scores {scores:.1} bytes per sample; target <= 64"
    );
}
