//! Evaluation throughput: `eval::evaluate` (batches sliced from the evaluation dataset, forward
//! pass, outputs back to the host, every metric accumulated) vs a bare forward-pass loop over
//! the same batches already in tensors (the model's own cost), in the same run; the ratio is
//! what Sluice's evaluation path adds. Metrics: accuracy and log-loss (decomposable), f1_macro
//! (confusion counts), roc_auc (holistic: keeps every probability and sorts them).
//!
//! `cargo bench --bench evaluation [-- <samples>] [--device cuda:0]` (default 200,000 samples,
//! MLP 64-64 on 32 features, 10 classes, batches of 1,024; median of 5 alternating runs).

use std::time::Instant;

use sluice::config::{Architecture, MlpConfig, ModelSpec};
use sluice::eval::{Holdout, Metric, evaluate};
use sluice::source::Sample;
use sluice::train::models;
use tch::{Device, Kind, Tensor, nn};

const DIM: usize = 32;
const CLASSES: usize = 10;
const BATCH: usize = 1024;
const RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let device = args
        .iter()
        .position(|a| a == "--device")
        .map(|i| sluice::train::parse_device(&args[i + 1]).expect("device"))
        .unwrap_or(Device::Cpu);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32
    };
    let samples: Vec<Sample> = (0..n)
        .map(|i| {
            let features: Vec<f32> = (0..DIM).map(|_| next()).collect();
            Sample {
                key: i as u64,
                time: i as u64,
                label: (features[0] * CLASSES as f32) as i64 % CLASSES as i64,
                features,
                origin: Default::default(),
            }
        })
        .collect();
    let holdout = Holdout::new(DIM, samples);
    let spec = ModelSpec {
        num_classes: CLASSES as i64,
        arch: Architecture::Mlp(MlpConfig {
            hidden: vec![64, 64],
        }),
        normalize: Default::default(),
    };
    tch::manual_seed(1);
    let vs = nn::VarStore::new(device);
    let model = models::build(&spec, &vs.root(), DIM as i64).unwrap();
    let batches: Vec<Tensor> = (0..n)
        .step_by(BATCH)
        .map(|s| {
            let e = (s + BATCH).min(n);
            Tensor::from_slice(holdout.features(s..e))
                .view([(e - s) as i64, DIM as i64])
                .to_device(device)
        })
        .collect();
    let metrics = [
        Metric::Accuracy(1),
        Metric::LogLoss,
        Metric::parse("f1_macro").unwrap(),
        Metric::RocAuc,
    ];
    println!(
        "evaluation throughput: {n} samples, MLP 64-64, {DIM} features, {CLASSES} classes, {device:?}"
    );
    let (mut bare, mut sluice, mut accuracy) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..RUNS * 3 {
        let started = Instant::now();
        if round % 3 == 2 {
            let acc = evaluate(
                &*model,
                &holdout,
                0..n,
                BATCH,
                device,
                &metrics[..1],
                CLASSES,
            );
            assert!(acc[0].value().is_some());
            accuracy.push(n as f64 / started.elapsed().as_secs_f64());
        } else if round % 3 == 0 {
            let _guard = tch::no_grad_guard();
            let mut sink = 0.0;
            for b in &batches {
                let out = model.forward_t(b, false).to_kind(Kind::Float);
                sink += out.double_value(&[0, 0]);
            }
            std::hint::black_box(sink);
            bare.push(n as f64 / started.elapsed().as_secs_f64());
        } else {
            let acc = evaluate(&*model, &holdout, 0..n, BATCH, device, &metrics, CLASSES);
            assert!(acc.iter().all(|a| a.value().is_some()));
            sluice.push(n as f64 / started.elapsed().as_secs_f64());
        }
    }
    let (bare, sluice, accuracy) = (median(bare), median(sluice), median(accuracy));
    println!("  bare forward passes (tensors ready):  {bare:>12.0} samples/s");
    println!(
        "  eval::evaluate, accuracy only:        {accuracy:>12.0} samples/s, ratio {:.3}",
        accuracy / bare
    );
    println!(
        "  eval::evaluate, 4 metrics:            {sluice:>12.0} samples/s, ratio {:.3}",
        sluice / bare
    );
    for m in &metrics[1..] {
        let rates: Vec<f64> = (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let acc = evaluate(&*model, &holdout, 0..n, BATCH, device, &[*m], CLASSES);
                assert!(acc[0].value().is_some());
                n as f64 / started.elapsed().as_secs_f64()
            })
            .collect();
        println!(
            "  eval::evaluate, {m} only: {:>12.0} samples/s",
            median(rates)
        );
    }
}
