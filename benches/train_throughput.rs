//! Training throughput: the same model, batch size and number of steps trained
//! (a) from tensors preloaded in memory ("local loading": one `index_select` per batch) and
//! (b) the way Sluice's trainer does it: `train::fit` resolving each batch's payloads from the
//! sample store through the prefetching `BatchLoader`.
//! Target (issue 4): (b) ≥ 95% of (a), for the MLP on tabular data and ResNet-18 on 32x32
//! images, on CPU (and DLRM, added for issue 8's throughput experiment).
//!
//! Also (c): (b) with per-sample feedback (each sample's loss batched to another thread, as the
//! trainer sends it to the dataflow); target: ≥ 95% of (b). And (d): loss downsampling to 50%,
//! batch-then-sample and sample-then-batch, in training-set samples per second (a scoring
//! forward pass over every sample, a training step over half of them): the ratio to (b) is what
//! downsampling saves (> 1) or costs (< 1).
//!
//! Also the user's own TorchScript module (`torchscript`: an MLP with BatchNorm and Dropout),
//! through the same two paths.
//!
//! `cargo bench --bench train_throughput [-- mlp|torchscript|resnet18|dlrm] [--device cuda:0] [--amp]`
//! (every model by default, on CPU; DLRM over Criteo-shaped samples: 13 dense features, 26
//! categorical ids). Prints samples/s and the ratios; each is the median of `runs`
//! alternating runs. On CUDA (a binary built with `--features cuda`) it also trains from data
//! resident on the device (no copies: an upper bound), and with `--amp`, Sluice's path in mixed
//! precision; ResNet-18 gets 51,200 samples in batches of 256 there.

use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use sluice::config::{
    Architecture, DlrmConfig, MlpConfig, ModelSpec, OptimizerSpec, ResNetConfig, TorchScriptConfig,
    TrainingSpec,
};
use sluice::store::SampleStore;
use sluice::train::{FitHooks, ScoreCache, fit, models};
use sluice_dataflows::SampleScore;
use sluice_dataflows::downsampling::{Downsampling, DownsamplingPlan, Method};
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

/// The DLRM case: Criteo's 13 dense features and 26 categorical ids, tables of 10,000 rows.
const DLRM_DENSE: usize = 13;
const DLRM_TABLES: usize = 26;
const DLRM_TABLE_ROWS: i64 = 10_000;

struct Case {
    name: &'static str,
    spec: ModelSpec,
    dim: usize,
    samples: usize,
    batch_size: usize,
    /// Alternating runs of each path (the median is reported): the MLP's ~1 s runs vary by
    /// ±15% on a shared 2-core VM, so it gets more.
    runs: usize,
}

/// Where and how the bench trains.
#[derive(Clone, Copy)]
struct Setup {
    device: Device,
    amp: bool,
}

impl Setup {
    /// Waits for the device's queued work (timers stop after it).
    fn sync(&self) {
        if let Device::Cuda(i) = self.device {
            tch::Cuda::synchronize(i as i64);
        }
    }
}

/// (a): preloaded host tensors, a shuffled `index_select` per batch copied to the device (pinned,
/// asynchronously, as a PyTorch `DataLoader(pin_memory=True)` loop does); with `resident`, the
/// tensors already on the device (no copies at all: an upper bound). The loss is read once, at
/// the end, so nothing waits for the device per step. With `amp`, autocast without loss scaling
/// (the cost of mixed precision alone). Returns samples/s.
fn local(case: &Case, setup: Setup, x: &Tensor, y: &Tensor) -> f64 {
    tch::manual_seed(1);
    let device = setup.device;
    let vs = nn::VarStore::new(device);
    let model = models::build(&case.spec, &vs.root(), case.dim as i64).unwrap();
    let mut opt = nn::Sgd {
        momentum: 0.9,
        ..Default::default()
    }
    .build(&vs, 0.01)
    .unwrap();
    let mut order: Vec<i64> = (0..case.samples as i64).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let upload = |t: Tensor| match (device, t.device()) {
        (Device::Cpu, _) => t,
        (d, Device::Cpu) => t.pin_memory(d).to_device_(d, t.kind(), true, false),
        _ => t,
    };
    setup.sync();
    let started = Instant::now();
    let mut n = 0;
    let mut sum = Tensor::from(0f32).to_device(device);
    for chunk in order.chunks_exact(case.batch_size) {
        let idx = Tensor::from_slice(chunk).to_device(x.device());
        let bx = upload(x.index_select(0, &idx));
        let by = upload(y.index_select(0, &idx));
        let logits = if setup.amp {
            tch::autocast(true, || model.forward_t(&bx, true)).to_kind(Kind::Float)
        } else {
            model.forward_t(&bx, true)
        };
        let loss = logits.cross_entropy_for_logits(&by);
        opt.backward_step(&loss);
        sum += loss.detach();
        n += chunk.len();
    }
    std::hint::black_box(sum.double_value(&[]));
    setup.sync();
    n as f64 / started.elapsed().as_secs_f64()
}

/// (b): Sluice's trainer path over the sample store; returns samples/s. With `feedback`, also
/// each sample's loss, batched and sent to another thread as the trainer does.
fn sluice_fit(
    case: &Case,
    setup: Setup,
    store: &Arc<SampleStore>,
    keys: &[u64],
    feedback: bool,
    downsampling: Option<Downsampling>,
) -> f64 {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(setup.device);
    let model = models::build(&case.spec, &vs.root(), case.dim as i64).unwrap();
    let t = TrainingSpec {
        amp: setup.amp,
        downsampling: downsampling.map(|d| DownsamplingPlan::single(d, 0)),
        ..training(case.batch_size)
    };
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
    setup.sync();
    let started = Instant::now();
    let out = fit(
        &*model,
        &vs,
        &t,
        &store.newest(),
        keys,
        0,
        setup.device,
        &mut |_, _| Ok(()),
        None,
        FitHooks {
            on_samples: feedback.then_some(&mut report as &mut dyn FnMut(&[u64], &[f32])),
            ..FitHooks::default()
        },
    )
    .unwrap();
    setup.sync();
    // Samples of the training set per second (with downsampling, more than trained).
    let rate = keys.len() as f64 / started.elapsed().as_secs_f64();
    drop(tx);
    let scores = drain.join().unwrap();
    assert!(!feedback || scores + 4096 > out.samples_passed as usize);
    assert!(out.failure.is_none(), "{:?}", out.failure);
    rate
}

/// (e): sample-then-batch loss downsampling to 50 %, re-chosen every epoch of 4, with every
/// sample rescored at each choice (Modyn) or with scores kept (`rescore_after` = 4: only samples
/// not trained for 4 epochs are rescored). Returns (training-set samples/s, samples scored by
/// scoring passes, final loss, the last epoch's trained keys).
fn rescoring(
    case: &Case,
    store: &Arc<SampleStore>,
    keys: &[u64],
    rescore_after: Option<u64>,
) -> (f64, u64, f64, Vec<u64>) {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = models::build(&case.spec, &vs.root(), case.dim as i64).unwrap();
    let epochs = 4;
    let t = TrainingSpec {
        epochs_per_trigger: epochs,
        downsampling: Some(DownsamplingPlan::single(
            Downsampling {
                rescore_after,
                ..half(true)
            },
            0,
        )),
        ..training(case.batch_size)
    };
    let mut cache = ScoreCache::default();
    let mut trained = Vec::new();
    let mut on = |k: &[u64], _: &[f32]| trained.extend_from_slice(k);
    let started = Instant::now();
    let out = fit(
        &*model,
        &vs,
        &t,
        &store.newest(),
        keys,
        0,
        Device::Cpu,
        &mut |_, _| Ok(()),
        None,
        FitHooks {
            on_samples: Some(&mut on),
            cache: Some(&mut cache),
            ..FitHooks::default()
        },
    )
    .unwrap();
    let rate = (keys.len() * epochs) as f64 / started.elapsed().as_secs_f64();
    let per_epoch = trained.len() / epochs;
    let mut last = trained.split_off(trained.len() - per_epoch);
    last.sort_unstable();
    (rate, out.downsampling_scored, out.final_loss, last)
}

/// Loss downsampling to half of each batch (batch-then-sample) or of the set (sample-then-batch,
/// re-chosen every epoch).
fn half(sample_then_batch: bool) -> Downsampling {
    Downsampling {
        method: Method::Loss,
        ratio: 50,
        ratio_max: 100,
        sample_then_batch,
        period: 1,
        rescore_after: None,
    }
}

fn main() {
    tch::set_num_threads(1);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let device_at = args.iter().position(|a| a == "--device");
    let device = match device_at {
        Some(i) => sluice::train::parse_device(&args[i + 1]).unwrap(),
        None => Device::Cpu,
    };
    // A model name: an argument that is no option nor an option's value (cargo bench passes
    // `--bench`).
    let only = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with('-') && device_at.is_none_or(|d| *i != d + 1))
        .map(|(_, a)| a);
    let setup = Setup {
        device,
        amp: args.iter().any(|a| a == "--amp"),
    };
    let gpu = device.is_cuda();
    if gpu {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    let cases = [
        Case {
            name: "mlp",
            spec: ModelSpec {
                num_classes: 2,
                arch: Architecture::Mlp(MlpConfig { hidden: vec![64] }),
                normalize: Default::default(),
            },
            dim: 8,
            samples: 200_000,
            batch_size: 64,
            runs: 7,
        },
        // The user's own module (`[model] id = "torchscript"`): the test MLP with BatchNorm
        // and Dropout (tests/golden/torchscript/), run by libtorch's TorchScript interpreter.
        Case {
            name: "torchscript",
            spec: ModelSpec {
                num_classes: 2,
                arch: Architecture::TorchScript(TorchScriptConfig {
                    path: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/golden/torchscript/mlp_bn.pt"),
                }),
                normalize: Default::default(),
            },
            dim: 8,
            samples: 200_000,
            batch_size: 64,
            runs: 7,
        },
        Case {
            name: "resnet18",
            spec: ModelSpec {
                num_classes: 10,
                arch: Architecture::Resnet18(ResNetConfig {
                    input_shape: [3, 32, 32],
                    width: 64,
                }),
                normalize: Default::default(),
            },
            dim: 3 * 32 * 32,
            // A GPU trains ResNet-18 ~1000x faster than one CPU thread: more and larger
            // batches there.
            samples: if gpu { 51_200 } else { 768 },
            batch_size: if gpu { 256 } else { 32 },
            runs: 3,
        },
        Case {
            name: "dlrm",
            spec: ModelSpec {
                num_classes: 2,
                arch: Architecture::Dlrm(DlrmConfig {
                    dense_features: DLRM_DENSE as i64,
                    embedding_sizes: vec![DLRM_TABLE_ROWS; DLRM_TABLES],
                    embedding_dim: 16,
                    bottom_mlp: vec![64, 16],
                    top_mlp: vec![64],
                }),
                normalize: Default::default(),
            },
            // Criteo's layout: 13 dense features, 26 categorical ids.
            dim: DLRM_DENSE + DLRM_TABLES,
            samples: if gpu { 1_048_576 } else { 65_536 },
            batch_size: if gpu { 8192 } else { 256 },
            runs: 3,
        },
    ];
    println!(
        "train_throughput: {device:?}{}, 1 libtorch CPU thread, SGD, median of alternating runs",
        if setup.amp { ", amp" } else { "" }
    );
    for case in cases.iter().filter(|c| only.is_none_or(|o| o == c.name)) {
        let mut x = Tensor::rand(
            [case.samples as i64, case.dim as i64],
            (Kind::Float, Device::Cpu),
        );
        if case.name == "dlrm" {
            // Categorical ids: integers below the table size, exact in f32.
            let ids = x
                .narrow(1, DLRM_DENSE as i64, DLRM_TABLES as i64)
                .multiply_scalar(DLRM_TABLE_ROWS as f64)
                .floor();
            x = Tensor::cat(&[x.narrow(1, 0, DLRM_DENSE as i64), ids], 1);
        }
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
        let fp32 = Setup {
            amp: false,
            ..setup
        };
        let (xd, yd) = (x.to_device(device), y.to_device(device));
        if gpu {
            // CUDA context, cuDNN's algorithm search, the caching allocators: not timed.
            local(case, fp32, &x, &y);
            sluice_fit(case, setup, &store, &keys, true, None);
        }
        let (mut a, mut r, mut b, mut c) = (vec![], vec![], vec![], vec![]);
        let (mut d, mut e) = (vec![], vec![]);
        let (mut la, mut m) = (vec![], vec![]);
        for _ in 0..case.runs {
            a.push(local(case, fp32, &x, &y));
            if gpu {
                r.push(local(case, fp32, &xd, &yd));
            }
            b.push(sluice_fit(case, fp32, &store, &keys, false, None));
            c.push(sluice_fit(case, fp32, &store, &keys, true, None));
            d.push(sluice_fit(
                case,
                fp32,
                &store,
                &keys,
                false,
                Some(half(false)),
            ));
            e.push(sluice_fit(
                case,
                fp32,
                &store,
                &keys,
                false,
                Some(half(true)),
            ));
            if setup.amp {
                la.push(local(case, setup, &x, &y));
                m.push(sluice_fit(case, setup, &store, &keys, false, None));
            }
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let (a, r, b, c) = (median(a), median(r), median(b), median(c));
        let (d, e) = (median(d), median(e));
        let (la, m) = (median(la), median(m));
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
        if !gpu && case.name == "mlp" {
            let (full, inc) = (
                rescoring(case, &store, &keys, None),
                rescoring(case, &store, &keys, Some(4)),
            );
            let common = full
                .3
                .iter()
                .filter(|k| inc.3.binary_search(k).is_ok())
                .count();
            println!(
                "  {:<9} batch {:>3}: sample-then-batch loss 50%, 4 epochs: rescoring every choice {:>9.0} set samples/s \
                 ({} scored, final loss {:.4}); rescore_after 4 {:>9.0} (x{:.2}; {} scored, final loss {:.4}); \
                 last epochs' chosen sets share {:.1}%",
                case.name,
                case.batch_size,
                full.0,
                full.1,
                full.2,
                inc.0,
                inc.0 / full.0,
                inc.1,
                inc.2,
                100.0 * common as f64 / full.3.len().max(1) as f64
            );
        }
        println!(
            "  {:<9} batch {:>3}: loss downsampling to 50%: batch-then-sample {:>9.0} set samples/s (x{:.2} of sluice), \
             sample-then-batch {:>9.0} (x{:.2})",
            case.name,
            case.batch_size,
            d,
            d / b,
            e,
            e / b
        );
        if gpu {
            println!(
                "  {:<9} batch {:>3}: data resident on the device {:>9.0} samples/s (sluice / resident {:.3})",
                case.name,
                case.batch_size,
                r,
                b / r
            );
        }
        if setup.amp {
            println!(
                "  {:<9} batch {:>3}: amp: local loading, no loss scaling {:>9.0} samples/s (x{:.2} over fp32); \
                 sluice {:>9.0} samples/s (x{:.2} over fp32, ratio {:.3})",
                case.name,
                case.batch_size,
                la,
                la / a,
                m,
                m / b,
                m / la
            );
        }
    }
}
