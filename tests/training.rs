//! Training options end to end through the real binary and libtorch: per-sample feedback into
//! the dataflow, loss events every N steps, the sample cap, starting from an initial model.

mod common;

use common::*;

#[test]
fn training_options_reach_the_trainer_and_the_dataflow() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_500, "csv"); // 2,000 stream rows
    let cfg = config("csv", 500).replace(
        "epochs_per_trigger = 3",
        "epochs_per_trigger = 3\nper_sample_feedback = true\nrecord_loss_every = 10\n\
         num_samples_to_pass = 1200",
    );
    let cfg = write_config(dir.path(), "a.toml", &cfg);
    let out = dir.path().join("a");
    for workers in ["1", "2"] {
        run_ok(&cfg, &out, workers);
        let models = jsonl(&out.join("models.jsonl"));
        assert_eq!(models.len(), 4);
        for m in &models {
            // 500 samples x 3 epochs, capped at 1,200.
            assert_eq!(m["samples_passed"], 1200, "{m}");
            assert_eq!(m["architecture"], "mlp");
        }
        // Every trained sample's loss reached the dataflow, including the last trigger's.
        assert_eq!(summary(&out)["scores"], 4 * 1200, "workers={workers}");
        // 1,200 samples in batches of 32 = 38 steps: losses at steps 10, 20, 30.
        let steps: Vec<u64> = jsonl(&out.join("metrics.jsonl"))
            .iter()
            .filter(|m| m["trigger_id"] == 0 && m["name"] == "train_loss" && m["step"].is_u64())
            .map(|m| m["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, [10, 20, 30]);
    }

    // A second pipeline starting every model from the first one's last, with a learning rate
    // too small to move it: its models equal that artifact.
    let last = out.join("models/it-0003.safetensors");
    let cfg = config("csv", 500)
        .replace("lr = 0.01", "lr = 1e-30")
        .replace(
            "seed = 7",
            &format!(
                "seed = 8\nuse_previous_model = false\ninitial_model = \"{}\"",
                last.display()
            ),
        );
    let cfg = write_config(dir.path(), "b.toml", &cfg);
    let out_b = dir.path().join("b");
    run_ok(&cfg, &out_b, "1");
    let read = |p: &std::path::Path| {
        let mut v = tch::Tensor::read_safetensors(p).unwrap();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    let a = read(&last);
    let b = read(&out_b.join("models/it-0000.safetensors"));
    assert_eq!(a.len(), b.len());
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(ta.allclose(tb, 0.0, 1e-6, false), "{na} moved");
    }
}

#[test]
fn incremental_model_storage_exports_the_same_models() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_500, "csv");
    let full = write_config(dir.path(), "full.toml", &config("csv", 400));
    let inc = write_config(
        dir.path(),
        "inc.toml",
        &(config("csv", 400)
            + "\n[model_storage]\nincremental = true\noperator = \"sub\"\n\
               full_model_interval = 3\nzstd_level = 3\n"),
    );
    let (out_full, out_inc) = (dir.path().join("full"), dir.path().join("inc"));
    run_ok(&full, &out_full, "1");
    run_ok(&inc, &out_inc, "2");
    let mut delta_bytes = 0;
    for i in 0..5 {
        let id = format!("it-{i:04}");
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out_inc.join(format!("models/{id}.json"))).unwrap(),
        )
        .unwrap();
        // Chains: full, delta, delta, full, delta.
        let want_delta = i % 3 != 0;
        assert_eq!(
            meta["storage"]["delta_of"].is_string(),
            want_delta,
            "{meta}"
        );
        let file = out_inc
            .join("models")
            .join(meta["storage"]["file"].as_str().unwrap());
        if want_delta {
            delta_bytes += std::fs::metadata(&file).unwrap().len();
        }
        let exported = dir.path().join(format!("{id}.safetensors"));
        let o = sluice(&[
            "models",
            "export",
            out_inc.to_str().unwrap(),
            &id,
            "--out",
            exported.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            std::fs::read(&exported).unwrap()
                == std::fs::read(out_full.join(format!("models/{id}.safetensors"))).unwrap(),
            "{id} differs from the fully stored run"
        );
    }
    // Compressed deltas of fine-tuned weights are smaller than the full files.
    let full_bytes = std::fs::metadata(out_full.join("models/it-0001.safetensors"))
        .unwrap()
        .len();
    assert!(
        delta_bytes < 3 * full_bytes,
        "{delta_bytes} vs 3 x {full_bytes}"
    );
}

/// Groundwork for `[model] id = "torchscript"` (#25): the modules tests/golden/torchscript/
/// make_modules.py scripted with PyTorch load in tch as trainable modules, reproduce PyTorch's
/// outputs in evaluation mode (to a few ulps: libtorch's CPU kernels sum in the order of the
/// CPU's vector width, and AVX-512 and AVX2 machines differ in the last bits), expose `embed` only where defined, and refuse an input
/// of the wrong width; and a module's BatchNorm running statistics live outside its
/// parameters, so a trained module must be stored whole (`CModule::save`), not as parameters.
#[test]
fn torchscript_test_modules_load_in_tch_and_reproduce_pytorch() {
    use tch::{CModule, Device, Tensor, TrainableCModule, nn, nn::OptimizerConfig};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/torchscript");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let xs = Tensor::from_slice(&floats(&golden["input"])).view([4, 8]);
    let tmp = tempfile::tempdir().unwrap();
    for (name, has_embed, buffers) in [
        ("mlp_bn", true, true),
        ("residual", false, false),
        // Traced in evaluation mode: its BatchNorm keeps eval behaviour in training too (a
        // trace records the mode it ran in), so its running statistics never change.
        ("cnn", false, false),
    ] {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut m = TrainableCModule::load(dir.join(format!("{name}.pt")), vs.root()).unwrap();
        m.set_eval();
        let out = m.forward_ts(&[&xs]).unwrap();
        let got: Vec<f32> = Vec::try_from(out.flatten(0, -1)).unwrap();
        let want = floats(&golden["outputs"][name]);
        assert_eq!(got.len(), want.len(), "{name}");
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-6 + 1e-5 * w.abs(),
                "{name}: {got:?} against PyTorch's {want:?}"
            );
        }
        assert!(
            !vs.variables().is_empty(),
            "{name}: parameters in the var store"
        );
        assert_eq!(m.method_ts("embed", &[&xs]).is_ok(), has_embed, "{name}");
        // A few training steps change the outputs; the saved module reproduces them.
        m.set_train();
        let mut opt = nn::Adam::default().build(&vs, 1e-2).unwrap();
        let ys = Tensor::from_slice(&[0i64, 1, 0, 1]);
        for _ in 0..20 {
            let loss = m.forward_ts(&[&xs]).unwrap().cross_entropy_for_logits(&ys);
            opt.backward_step(&loss);
        }
        m.set_eval();
        let trained = m.forward_ts(&[&xs]).unwrap();
        assert!(!trained.equal(&out), "{name}: training changed nothing");
        let saved = tmp.path().join(format!("{name}.pt"));
        m.save(&saved).unwrap();
        assert!(
            CModule::load(&saved)
                .unwrap()
                .forward_ts(&[&xs])
                .unwrap()
                .equal(&trained)
        );
        // The parameters alone, put back into the untrained module, miss BatchNorm's running
        // statistics.
        let weights = tmp.path().join(format!("{name}.safetensors"));
        vs.save(&weights).unwrap();
        let mut vs2 = nn::VarStore::new(Device::Cpu);
        let mut m2 = TrainableCModule::load(dir.join(format!("{name}.pt")), vs2.root()).unwrap();
        vs2.load(&weights).unwrap();
        m2.set_eval();
        let same = m2.forward_ts(&[&xs]).unwrap().equal(&trained);
        assert_eq!(same, !buffers, "{name}");
    }
    // Modules that do not fit 8 features and 2 classes.
    let wide = CModule::load(dir.join("wrong_width.pt")).unwrap();
    assert!(wide.forward_ts(&[&xs]).is_err());
    let three = CModule::load(dir.join("wrong_outputs.pt")).unwrap();
    assert_eq!(three.forward_ts(&[&xs]).unwrap().size(), [4, 3]);
}

/// `[model] id = "torchscript"` (#25): a module scripted in PyTorch (BatchNorm, Dropout,
/// `embed`/`classify`) trains with warm starts and a downsampler that reads embeddings; every
/// model is also stored whole as `<model_id>.pt`, which `sluice evaluate` reloads to reproduce
/// the run's evaluations exactly (BatchNorm's running statistics included); 1 and 2 workers
/// train bitwise-equal parameters.
#[test]
fn a_torchscript_module_trains_and_its_stored_modules_reproduce_the_evaluations() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv");
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/torchscript");
    std::fs::copy(golden.join("mlp_bn.pt"), dir.path().join("mine.pt")).unwrap();
    let text = config("csv", 600)
        .replace(
            "id = \"mlp\"\nhidden = [16]",
            "id = \"torchscript\"\npath = \"mine.pt\"",
        )
        .replace("seed = 7", "seed = 7\nuse_previous_model = true")
        + "\n[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"kcenter_greedy\", ratio = 50 }\n";
    let cfg = write_config(dir.path(), "ts.toml", &text);
    let mut runs = Vec::new();
    for workers in ["1", "2"] {
        let out = dir.path().join(format!("ts-{workers}"));
        let o = run_ok(&cfg, &out, workers);
        assert!(
            stdout(&o).contains("2400 samples (0 dead-lettered), 4 triggers, 4 models"),
            "{}",
            stdout(&o)
        );
        runs.push(out);
    }
    assert_same_weights(&runs[1], &runs[0], 4, "2 vs 1 workers");
    for i in 0..4 {
        let file = |ext: &str| std::fs::read(runs[0].join(format!("models/it-{i:04}.{ext}")));
        assert!(!file("pt").unwrap().is_empty());
        let meta: serde_json::Value = serde_json::from_slice(&file("json").unwrap()).unwrap();
        assert_eq!(meta["architecture"]["id"], "torchscript", "{meta}");
    }
    // The stored modules, reloaded, give the run's evaluations.
    let out = &runs[0];
    let o = sluice(&["evaluate", out.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let values = |path: std::path::PathBuf| -> Vec<(String, String)> {
        let mut v: Vec<_> = jsonl(&path)
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().unwrap().to_string(),
                    e["value"].to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let first = values(out.join("evaluations.jsonl"));
    assert!(!first.is_empty());
    assert_eq!(first, values(out.join("evaluate/evaluations.jsonl")));
}

/// A TorchScript module that does not fit the pipeline fails `sluice validate` (and `run`)
/// with exit 2, naming `model.path` and the shapes it saw.
#[test]
fn torchscript_modules_that_break_the_contract_fail_validate_with_their_shapes() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_000, "csv");
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/torchscript");
    for f in ["wrong_width.pt", "wrong_outputs.pt", "residual.pt"] {
        std::fs::copy(golden.join(f), dir.path().join(f)).unwrap();
    }
    let with = |module: &str, extra: &str| {
        config("csv", 100).replace(
            "id = \"mlp\"\nhidden = [16]",
            &format!("id = \"torchscript\"\npath = \"{module}\""),
        ) + extra
    };
    let kcenter = "\n[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"kcenter_greedy\", ratio = 50 }\n";
    let cases = [
        ("wrong_width.pt", "", "forward on [2, 8] float32 failed"),
        (
            "wrong_outputs.pt",
            "",
            "forward on [2, 8] float32 returned [2, 3] Float; expected [2, 2] float32 (num_classes)",
        ),
        (
            "hyperplane.csv",
            "",
            "not a TorchScript module tch can load",
        ),
        ("residual.pt", kcenter, "has no usable `embed`"),
        ("residual.pt", kcenter, "(needed by selection.downsampling)"),
        ("missing.pt", "", "model.path: file not found"),
    ];
    for (i, (module, extra, want)) in cases.iter().enumerate() {
        let cfg = write_config(dir.path(), &format!("bad{i}.toml"), &with(module, extra));
        let o = sluice(&["validate", cfg.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{module}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("model.path") && err.contains(want),
            "{module}: {err}"
        );
    }
    // The same module trains where nothing needs its embeddings.
    let cfg = write_config(dir.path(), "ok.toml", &with("residual.pt", ""));
    let o = sluice(&["validate", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Every model is also stored as `<model_id>.pt` (#25): a TorchScript file that runs with no
/// Sluice code. Loaded with tch alone, each reproduces the run's recorded accuracy on the whole
/// held-out file exactly, for a zoo model (traced) and TorchScript ones (saved whole): a
/// scripted MLP and a traced small CNN.
#[test]
fn every_stored_model_is_a_torchscript_file_that_reproduces_its_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv");
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/torchscript");
    std::fs::copy(golden.join("mlp_bn.pt"), dir.path().join("mine.pt")).unwrap();
    std::fs::copy(golden.join("cnn.pt"), dir.path().join("cnn.pt")).unwrap();
    // The held-out file's features and labels.
    let text = std::fs::read_to_string(dir.path().join("hyperplane_test.csv")).unwrap();
    let rows: Vec<Vec<f32>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(2).map(|v| v.parse().unwrap()).collect())
        .collect();
    let labels: Vec<i64> = rows.iter().map(|r| r[0] as i64).collect();
    let features: Vec<f32> = rows.iter().flat_map(|r| r[1..].to_vec()).collect();
    let xs = tch::Tensor::from_slice(&features).view([rows.len() as i64, 8]);
    for (name, model) in [
        ("zoo", "id = \"mlp\"\nhidden = [16]"),
        ("own", "id = \"torchscript\"\npath = \"mine.pt\""),
        ("traced_cnn", "id = \"torchscript\"\npath = \"cnn.pt\""),
    ] {
        let cfg = config("csv", 600).replace("id = \"mlp\"\nhidden = [16]", model);
        let cfg = write_config(dir.path(), &format!("{name}.toml"), &cfg);
        let out = dir.path().join(name);
        run_ok(&cfg, &out, "1");
        let recorded: Vec<serde_json::Value> = jsonl(&out.join("evaluations.jsonl"))
            .into_iter()
            .filter(|e| e["interval"] == "0-inf" && e["metric"] == "accuracy")
            .collect();
        assert_eq!(recorded.len(), 4, "{name}: one per model");
        for e in recorded {
            let id = e["model_id"].as_str().unwrap();
            let predicted = served_predictions(&out.join(format!("models/{id}.pt")), &xs);
            let correct = predicted
                .iter()
                .zip(&labels)
                .filter(|(p, l)| p == l)
                .count();
            let accuracy = correct as f64 / labels.len() as f64;
            assert_eq!(e["samples"], labels.len(), "{name} {id}");
            assert_eq!(e["value"].as_f64().unwrap(), accuracy, "{name} {id}");
        }
    }
}
