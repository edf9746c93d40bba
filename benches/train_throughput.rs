//! Training throughput: the same model, batch size and number of steps trained
//! (a) from tensors preloaded in memory ("local loading": one `index_select` per batch) and
//! (b) the way Sluice's trainer does it: `train::fit` resolving each batch's payloads from the
//! sample store through the prefetching `BatchLoader`.
//! Target (issue 4): (b) ≥ 95% of (a), for the MLP on tabular data and ResNet-18 on 32x32
//! images, on CPU.
//!
//! Also (c): (b) with per-sample feedback (each sample's loss batched to another thread, as the
//! trainer sends it to the dataflow); target: ≥ 95% of (b).
//!
//! `cargo bench --bench train_throughput [-- mlp|resnet18]` (both by default). Prints samples/s
//! and the ratios; each is the median of 3 alternating runs.

use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use sluice::config::{
    Architecture, MlpConfig, ModelSpec, OptimizerSpec, ResNetConfig, TrainingSpec,
};
use sluice::store::SampleStore;
use sluice::train::{fit, models};
use sluice_dataflows::SampleScore;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

fn training(batch_size: usize) -> TrainingSpec {
    TrainingSpec {
        seed: 1,
        drop_last_batch: true,
        ..TrainingSpec::with_defaults(
            batch_size,
            OptimizerSpec {
                momentum: 0.9,
                ..OptimizerSpec::sgd(0.01)
            },
        )
    }
}

struct Case {
    name: &'static str,
    spec: ModelSpec,
    dim: usize,
    samples: usize,
    batch_size: usize,
}

/// (a): preloaded tensors, a shuffled `index_select` per batch; returns samples/s.
fn local(case: &Case, x: &Tensor, y: &Tensor) -> f64 {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = models::build(&case.spec, &vs.root(), case.dim as i64).unwrap();
    let mut opt = nn::Sgd {
        momentum: 0.9,
        ..Default::default()
    }
    .build(&vs, 0.01)
    .unwrap();
    let mut order: Vec<i64> = (0..case.samples as i64).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let started = Instant::now();
    let mut n = 0;
    for chunk in order.chunks_exact(case.batch_size) {
        let idx = Tensor::from_slice(chunk);
        let bx = x.index_select(0, &idx);
        let by = y.index_select(0, &idx);
        let loss = model.forward_t(&bx, true).cross_entropy_for_logits(&by);
        opt.backward_step(&loss);
        std::hint::black_box(loss.double_value(&[]));
        n += chunk.len();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// (b): Sluice's trainer path over the sample store; returns samples/s. With `feedback`, also
/// each sample's loss, batched and sent to another thread as the trainer does.
fn sluice_fit(case: &Case, store: &Arc<SampleStore>, keys: &[u64], feedback: bool) -> f64 {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = models::build(&case.spec, &vs.root(), case.dim as i64).unwrap();
    let t = training(case.batch_size);
    let (tx, rx) = std::sync::mpsc::channel::<Vec<SampleScore>>();
    let drain = std::thread::spawn(move || rx.iter().map(|b| b.len()).sum::<usize>());
    let mut pending = Vec::new();
    let mut report = |k: &[u64], l: &[f32]| {
        pending.extend(k.iter().zip(l).map(|(&key, &loss)| SampleScore {
            key,
            trigger: 0,
            loss,
        }));
        if pending.len() >= 4096 {
            tx.send(std::mem::take(&mut pending)).unwrap();
        }
    };
    let started = Instant::now();
    let out = fit(
        &*model,
        &vs,
        &t,
        store,
        keys,
        0,
        Device::Cpu,
        &mut |_, _| Ok(()),
        None,
        feedback.then_some(&mut report as &mut dyn FnMut(&[u64], &[f32])),
    )
    .unwrap();
    let rate = out.samples_passed as f64 / started.elapsed().as_secs_f64();
    drop(tx);
    let scores = drain.join().unwrap();
    assert!(!feedback || scores + 4096 > out.samples_passed as usize);
    assert!(out.failure.is_none());
    rate
}

fn main() {
    tch::set_num_threads(1);
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let cases = [
        Case {
            name: "mlp",
            spec: ModelSpec {
                num_classes: 2,
                arch: Architecture::Mlp(MlpConfig { hidden: vec![64] }),
            },
            dim: 8,
            samples: 200_000,
            batch_size: 64,
        },
        Case {
            name: "resnet18",
            spec: ModelSpec {
                num_classes: 10,
                arch: Architecture::Resnet18(ResNetConfig {
                    input_shape: [3, 32, 32],
                    width: 64,
                }),
            },
            dim: 3 * 32 * 32,
            samples: 768,
            batch_size: 32,
        },
    ];
    println!("train_throughput: CPU, 1 libtorch thread, SGD, median of 3");
    for case in cases
        .iter()
        .filter(|c| only.as_deref().is_none_or(|o| o == c.name))
    {
        let x = Tensor::rand(
            [case.samples as i64, case.dim as i64],
            (Kind::Float, Device::Cpu),
        );
        let y = Tensor::randint(
            case.spec.num_classes,
            [case.samples as i64],
            (Kind::Int64, Device::Cpu),
        );
        let xv: Vec<f32> = Vec::try_from(x.flatten(0, -1)).unwrap();
        let yv: Vec<i64> = Vec::try_from(&y).unwrap();
        let store = Arc::new(SampleStore::new(case.dim, 1));
        let keys: Vec<u64> = (0..case.samples as u64).collect();
        let rejected = store.insert(
            keys.iter()
                .map(|&k| (k, yv[k as usize], &xv[k as usize * case.dim..][..case.dim])),
        );
        assert!(rejected.is_empty());
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            a.push(local(case, &x, &y));
            b.push(sluice_fit(case, &store, &keys, false));
            c.push(sluice_fit(case, &store, &keys, true));
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[1]
        };
        let (a, b, c) = (median(a), median(b), median(c));
        println!(
            "  {:<9} batch {:>3}: local loading {:>9.0} samples/s, sluice {:>9.0} samples/s, ratio {:.3}; \
             with per-sample feedback {:>9.0} samples/s, ratio to sluice {:.3}",
            case.name,
            case.batch_size,
            a,
            b,
            b / a,
            c,
            c / b
        );
    }
}
