//! Selection strategies end to end (real binary, real libtorch): training-set sizes and label
//! balance as configured, the same models on 1 and 4 workers, and bad `[selection]` keys
//! rejected with their key paths.

mod common;

use std::path::Path;

use common::*;

/// The `models` events of a run with `selection` on 5,000 hyperplane rows (4,000 stream
/// samples, a trigger every 500).
fn run_with(dir: &Path, name: &str, selection: &str, workers: &str) -> Vec<serde_json::Value> {
    let cfg = write_config(
        dir,
        &format!("{name}.toml"),
        &(config("csv", 500) + selection),
    );
    let out = dir.join(format!("{name}-w{workers}"));
    run_ok(&cfg, &out, workers);
    jsonl(&out.join("models.jsonl"))
}

fn sizes(models: &[serde_json::Value]) -> Vec<u64> {
    models
        .iter()
        .map(|m| m["samples"].as_u64().unwrap())
        .collect()
}

/// Asserts that run `name` wrote bitwise the same `count` models on 1 and 4 workers.
fn same_models(dir: &Path, name: &str, count: usize) {
    for i in 0..count {
        let model = |w: &str| {
            std::fs::read(dir.join(format!("{name}-w{w}/models/it-{i:04}.safetensors"))).unwrap()
        };
        assert!(model("1") == model("4"), "{name}: model {i} differs");
    }
}

fn digests(models: &[serde_json::Value]) -> Vec<String> {
    models
        .iter()
        .map(|m| m["training_set_digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pools_and_presampling_give_the_configured_sizes_on_1_and_4_workers() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    let cases = [
        // The last 3 epochs: 500, 1000, 1500, 1500, ...
        (
            "tail",
            "\n[selection]\nstrategy = \"new_data\"\ntail_triggers = 2\n",
            vec![500, 1000, 1500, 1500, 1500, 1500, 1500, 1500],
        ),
        // All data, at most the newest 1200.
        (
            "limit",
            "\n[selection]\nstrategy = \"new_data\"\ntail_triggers = \"all\"\nlimit = 1200\nlimit_reset = \"lastX\"\n",
            vec![500, 1000, 1200, 1200, 1200, 1200, 1200, 1200],
        ),
        // 40 % of the last 2 epochs, label-balanced (2 labels: 200 of each when both have enough).
        (
            "coreset",
            "\n[selection]\nstrategy = \"coreset\"\ntail_triggers = 1\n\
             presampling = { strategy = \"label_balanced\", ratio = 40, force_required_target_size = true }\n",
            vec![200, 400, 400, 400, 400, 400, 400, 400],
        ),
        // Freshness: 1,000 at most, 40 % never used before (the first trigger: all unused).
        (
            "fresh",
            "\n[selection]\nstrategy = \"freshness\"\nunused_data_ratio = 40\nlimit = 1000\n",
            vec![500, 833, 1000, 1000, 1000, 1000, 1000, 1000],
        ),
        // No replacement: 25 % of the last 4 epochs, no sample twice until all were used.
        (
            "norepeat",
            "\n[selection]\nstrategy = \"coreset\"\ntail_triggers = 3\n\
             presampling = { strategy = \"random_no_replacement\", ratio = 25 }\n",
            vec![125, 250, 375, 500, 500, 500, 500, 500],
        ),
        // A uniform sample of all history, 700 at most.
        (
            "reservoir",
            "\n[selection]\nstrategy = \"reservoir\"\nbudget = 700\nseed = 5\n",
            vec![500, 700, 700, 700, 700, 700, 700, 700],
        ),
    ];
    for (name, selection, want) in cases {
        let one = run_with(dir.path(), name, selection, "1");
        let four = run_with(dir.path(), name, selection, "4");
        assert_eq!(sizes(&one), want, "{name}");
        assert_eq!(digests(&one), digests(&four), "{name}: same training sets");
        same_models(dir.path(), name, one.len());
    }
}

/// Samples each trigger's training passed through the model.
fn passed(models: &[serde_json::Value]) -> Vec<u64> {
    models
        .iter()
        .map(|m| m["samples_passed"].as_u64().unwrap())
        .collect()
}

#[test]
fn downsampling_trains_on_the_configured_share_on_1_and_4_workers() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    // Each trigger's training set: 500 samples, 3 epochs in batches of 32.
    let cases = [
        // Batch-then-sample keeps 16 of each 32 (10 of the last 20) after 2 warm-up triggers:
        // 250 per epoch.
        (
            "bts",
            "\n[selection]\nstrategy = \"coreset\"\nwarmup_triggers = 2\n\
             downsampling = { strategy = \"loss\", ratio = 50 }\n",
            [1500, 1500, 750, 750, 750, 750, 750, 750],
        ),
        // Sample-then-batch, the 100 most uncertain chosen once per trigger.
        (
            "stb",
            "\n[selection]\nstrategy = \"coreset\"\n\
             downsampling = { strategy = \"uncertainty\", score_metric = \"margin\", ratio = 20, sample_then_batch = true, period = 0 }\n",
            [300; 8],
        ),
        // A schedule: batch-then-sample loss for 3 triggers, then RS2.
        (
            "schedule",
            "\n[selection]\nstrategy = \"coreset\"\n\
             downsampling = { thresholds = [3], schedule = [{ strategy = \"loss\", ratio = 50 }, \
             { strategy = \"rs2\", ratio = 10, sample_then_batch = true }] }\n",
            [750, 750, 750, 150, 150, 150, 150, 150],
        ),
        // Loss scores kept across epochs and triggers, rescored after 3 trainer epochs.
        (
            "kept",
            "\n[selection]\nstrategy = \"coreset\"\ntail_triggers = 1\n\
             downsampling = { strategy = \"loss\", ratio = 20, sample_then_batch = true, rescore_after = 3 }\n",
            [300, 600, 600, 600, 600, 600, 600, 600],
        ),
        // Submodular (graph cut, lazy greedy) over the set's last-layer gradients: 100 per epoch.
        (
            "graphcut",
            "\n[selection]\nstrategy = \"coreset\"\n\
             downsampling = { strategy = \"submodular\", submodular_function = \"graph_cut\", \
             submodular_optimizer = \"lazy_greedy\", ratio = 20, sample_then_batch = true }\n",
            [300; 8],
        ),
        // k-center greedy on each batch's embeddings: 8 of each 32 (5 of the last 20).
        (
            "kcenter",
            "\n[selection]\nstrategy = \"coreset\"\n\
             downsampling = { strategy = \"kcenter_greedy\", ratio = 25 }\n",
            [375; 8],
        ),
        // CRAIG over the whole set (lazy greedy), weighted by cluster sizes: 250 per epoch.
        (
            "craig",
            "\n[selection]\nstrategy = \"coreset\"\n\
             downsampling = { strategy = \"craig\", greedy = \"lazy_greedy\", ratio = 50, sample_then_batch = true }\n",
            [750; 8],
        ),
        // RHO-Loss on each batch: an irreducible-loss model (2 epochs at another rate) trains on
        // 30 % of each trigger's new samples first; 16 of each 32 kept.
        (
            "rho",
            "\n[selection]\nstrategy = \"coreset\"\n\
             downsampling = { strategy = \"rho_loss\", ratio = 50, holdout_set_ratio = 30, \
             il_training = { epochs_per_trigger = 2, optimizer = { lr = 0.02 } } }\n",
            [750; 8],
        ),
        // RHO-Loss over the whole set with twin models of another architecture, one per half.
        (
            "rho_twin",
            "\n[selection]\nstrategy = \"coreset\"\n\
             downsampling = { strategy = \"rho_loss\", ratio = 20, sample_then_batch = true, \
             holdout_set_strategy = \"twin\", holdout_set_ratio = 50, \
             il_model = { id = \"mlp\", num_classes = 2, hidden = [8, 8] } }\n",
            [300; 8],
        ),
        // RS2: a fresh 10 % every epoch.
        (
            "rs2",
            "\n[selection]\nstrategy = \"coreset\"\n\
             downsampling = { strategy = \"rs2\", ratio = 10, sample_then_batch = true, with_replacement = true }\n",
            [150; 8],
        ),
    ];
    for (name, selection, want) in cases {
        let one = run_with(dir.path(), name, selection, "1");
        let four = run_with(dir.path(), name, selection, "4");
        // Selection is not downsampling: the training sets are the pool (two epochs' worth
        // with tail_triggers = 1).
        let mut pool = [if name == "kept" { 1000 } else { 500 }; 8];
        pool[0] = 500;
        assert_eq!(sizes(&one), pool, "{name}");
        assert_eq!(passed(&one), want, "{name}");
        assert_eq!(passed(&four), want, "{name}, 4 workers");
        same_models(dir.path(), name, one.len());
    }
    // Every trigger reports the time spent downsampling; the warm-up triggers spent none.
    let ms = metric_values(&dir.path().join("bts-w1"), "downsampling_ms");
    assert_eq!(ms.len(), 8);
    assert_eq!(ms[..2], [0.0, 0.0]);
    // RHO-Loss reports its holdout split (30 % of each trigger's 500 new samples, by key hash)
    // and the mean irreducible loss, every trigger.
    for (name, share) in [("rho", 0.3), ("rho_twin", 0.5)] {
        let values = |metric: &str| metric_values(&dir.path().join(format!("{name}-w1")), metric);
        let holdout = values("rho_holdout_samples");
        assert_eq!(holdout.len(), 8, "{name}");
        assert!(
            holdout.iter().all(|h| (h / 500.0 - share).abs() < 0.08),
            "{name}: {holdout:?}"
        );
        let il = values("rho_mean_irreducible_loss");
        assert!(
            il.len() == 8 && il.iter().all(|l| l.is_finite() && *l > 0.0),
            "{name}: {il:?}"
        );
    }
    // GradMatch keeps at most its share: the rows whose matching-pursuit weight is positive.
    let gm = "\n[selection]\nstrategy = \"coreset\"\n\
              downsampling = { strategy = \"grad_match\", ratio = 20, sample_then_batch = true, balance = true }\n";
    let one = run_with(dir.path(), "gradmatch", gm, "1");
    run_with(dir.path(), "gradmatch", gm, "4");
    assert!(
        passed(&one).iter().all(|&p| (3..=300).contains(&p)),
        "{:?}",
        passed(&one)
    );
    same_models(dir.path(), "gradmatch", one.len());
}

#[test]
fn samples_no_strategy_can_select_leave_the_sample_store() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv");
    // 4,000 stream samples, a trigger every 500: what the store holds at the end is what a
    // next trigger could still select.
    for (name, selection, held) in [
        ("tail0", "\n[selection]\nstrategy = \"new_data\"\n", 0),
        (
            "tail1",
            "\n[selection]\nstrategy = \"new_data\"\ntail_triggers = 1\n",
            500,
        ),
        (
            "all",
            "\n[selection]\nstrategy = \"new_data\"\ntail_triggers = \"all\"\n",
            4000,
        ),
        (
            "reservoir",
            "\n[selection]\nstrategy = \"reservoir\"\nbudget = 300\n",
            300,
        ),
    ] {
        for workers in ["1", "4"] {
            let models = run_with(dir.path(), name, selection, workers);
            assert_eq!(models.len(), 8, "{name}");
            let run = dir.path().join(format!("{name}-w{workers}"));
            assert_eq!(
                summary(&run)["stored_samples"],
                held,
                "{name}, {workers} workers"
            );
            // Each trigger reports what the store held once its training was done.
            let stored = metric_values(&run, "stored_samples");
            assert_eq!(stored.len(), 8, "{name}");
            assert!(stored.iter().all(|&s| s <= 4000.0));
        }
        same_models(dir.path(), name, 8);
    }
}

#[test]
fn maximum_keys_in_memory_spills_to_disk_and_trains_the_same_models() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 13_000, "csv");
    let summary = |name: &str| summary(&dir.path().join(name));
    // All data, a trigger every 2,000 of the 10,400 stream samples.
    let all = "\n[selection]\nstrategy = \"new_data\"\ntail_triggers = \"all\"\n";
    let cfg = write_config(dir.path(), "unbounded.toml", &(config("csv", 2000) + all));
    run_ok(&cfg, &dir.path().join("unbounded"), "1");
    let bounded = format!("{all}maximum_keys_in_memory = 1500\n");
    let cfg = write_config(
        dir.path(),
        "bounded.toml",
        &(config("csv", 2000) + &bounded),
    );
    for workers in ["1", "4"] {
        let out = dir.path().join(format!("bounded-w{workers}"));
        run_ok(&cfg, &out, workers);
        let s = summary(&format!("bounded-w{workers}"));
        assert_eq!(s["stored_samples"], 10_400);
        // 1,500 in memory, rounded up to whole 1,024-row chunks per worker, plus each worker's
        // open chunk; the rest is on disk.
        let in_memory = s["stored_in_memory"].as_u64().unwrap();
        assert!(
            in_memory <= 4_100 + 4 * 1024,
            "{in_memory} in memory with {workers} workers"
        );
        assert!(out.join("spill/samples-0.bin").is_file());
        assert!(out.join("spill/candidates-0.bin").is_file());
        // Spilling changes where samples live, not what trains.
        for i in 0..5 {
            let model = |run: &str| {
                std::fs::read(
                    dir.path()
                        .join(format!("{run}/models/it-{i:04}.safetensors")),
                )
                .unwrap()
            };
            assert!(
                model("unbounded") == model(&format!("bounded-w{workers}")),
                "model {i} differs with {workers} workers"
            );
        }
    }
    assert_eq!(summary("unbounded")["stored_in_memory"], 10_400);
}

#[test]
fn bad_selection_configs_fail_validation_with_their_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 1_000, "csv");
    let cases = [
        (
            "[selection]\nstrategy = \"coreset\"\npresampling = { strategy = \"random\", ratio = 120 }\n",
            "selection.presampling.ratio",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ntail_triggers = 0\npresampling = { strategy = \"trigger_balanced\", ratio = 50 }\n",
            "selection.presampling.strategy",
        ),
        (
            "[selection]\nstrategy = \"new_data\"\ntail_triggers = \"all\"\nlimit = 10\n",
            "selection.limit_reset",
        ),
        (
            "[selection]\nstrategy = \"reservoir\"\n",
            "selection.budget",
        ),
        (
            "[selection]\nstrategy = \"new_data\"\npresampling = { strategy = \"random\" }\n",
            "selection.presampling",
        ),
        (
            "[selection]\nstrategy = \"mystery\"\n",
            "selection.strategy",
        ),
        (
            "[selection]\nstrategy = \"new_data\"\ndownsampling = { strategy = \"loss\", ratio = 50 }\n",
            "selection.downsampling",
        ),
        // Batch-then-sample keeps 9 of each batch of 32: not a divisor.
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"loss\", ratio = 30 }\n",
            "selection.downsampling.ratio",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"rs2\", ratio = 50 }\n",
            "selection.downsampling.sample_then_batch",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"uncertainty\", ratio = 50 }\n",
            "selection.downsampling.score_metric",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"loss\", ratio = 50, period = 2 }\n",
            "selection.downsampling.period",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"grad_norm\", ratio = 100 }\n",
            "selection.downsampling.ratio",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"loss\", ratio = 50, rescore_after = 2 }\n",
            "selection.downsampling.rescore_after",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"submodular\", ratio = 50 }\n",
            "selection.downsampling.submodular_function",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"loss\", ratio = 50, full_grad_approximation = \"last_layer\" }\n",
            "selection.downsampling.full_grad_approximation",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"loss\", ratio = 50, balance = true }\n",
            "selection.downsampling.balance",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"kcenter_greedy\", ratio = 50, sample_then_batch = true, rescore_after = 2 }\n",
            "selection.downsampling.rescore_after",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { thresholds = [2, 4], schedule = [{ strategy = \"loss\", ratio = 50 }] }\n",
            "selection.downsampling.thresholds",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { thresholds = [2], schedule = [{ strategy = \"loss\", ratio = 50 }, { strategy = \"loss\", ratio = 30 }] }\n",
            "selection.downsampling.schedule[1].ratio",
        ),
        (
            "[selection]\nstrategy = \"new_data\"\nmaximum_keys_in_memory = 0\n",
            "selection.maximum_keys_in_memory",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"rho_loss\", ratio = 50 }\n",
            "selection.downsampling.holdout_set_ratio",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"rho_loss\", ratio = 50, holdout_set_ratio = 30, holdout_set_strategy = \"twin\" }\n",
            "selection.downsampling.holdout_set_ratio",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"loss\", ratio = 50, holdout_set_ratio = 30 }\n",
            "selection.downsampling.holdout_set_ratio",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"rho_loss\", ratio = 50, holdout_set_ratio = 30, il_training = { batch_size = 0 } }\n",
            "selection.downsampling.il_training.batch_size",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"rho_loss\", ratio = 50, holdout_set_ratio = 30, il_training = { device = \"cuda:0\" } }\n",
            "selection.downsampling.il_training.device",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"rho_loss\", ratio = 50, holdout_set_ratio = 30, il_training = { optimizer = { lr = -1.0 } } }\n",
            "selection.downsampling.il_training.optimizer.lr",
        ),
        (
            "[selection]\nstrategy = \"coreset\"\ndownsampling = { strategy = \"rho_loss\", ratio = 50, holdout_set_ratio = 30, il_model = { id = \"mlp\", num_classes = 2, depth = 3 } }\n",
            "selection.downsampling.il_model.depth",
        ),
    ];
    for (i, (selection, key)) in cases.iter().enumerate() {
        let text = config("csv", 100) + "\n" + selection;
        let cfg = write_config(dir.path(), &format!("bad{i}.toml"), &text);
        assert_invalid_at(&cfg, key);
    }
}

/// Deletions in a file (#24): a row whose `delete_column` says so deletes its key's sample
/// from the first trigger after the row's time; the column is no feature, and `sluice
/// lineage` names the models trained before; 1 and 2 workers agree.
#[test]
fn a_delete_record_in_a_csv_file_retracts_its_sample_from_later_sets() {
    let dir = tempfile::tempdir().unwrap();
    let text = deletes_retract(dir.path(), "csv");
    // A column the file lacks is an error at its key.
    let missing = text.replace("delete_column = \"deleted\"", "delete_column = \"gone\"");
    assert_invalid_at(
        &write_config(dir.path(), "missing.toml", &missing),
        "source.delete_column",
    );
}

/// As the CSV case, with an Arrow file whose delete column is boolean (null: a sample) and
/// whose delete rows have null labels and features.
#[test]
fn a_delete_record_in_an_arrow_file_retracts_its_sample_from_later_sets() {
    let dir = tempfile::tempdir().unwrap();
    deletes_retract(dir.path(), "arrow");
}

/// The hyperplane file (4,000 stream rows) with a `deleted` column and two delete rows at row
/// 1,600's time, written as `ext`; runs it with 1 and 2 workers and checks the deletions took
/// effect. Returns the config.
fn deletes_retract(dir: &std::path::Path, ext: &str) -> String {
    prepare(dir, 5_000, "csv");
    if ext != "csv" {
        prepare(dir, 5_000, ext); // the evaluation file in that format
    }
    let path = dir.join("hyperplane.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(|l| format!("{l},0")).collect();
    lines[0] = lines[0].replace(",0", ",deleted");
    let field = |row: usize, i: usize| lines[row + 1].split(',').nth(i).unwrap().to_string();
    let deleted = [field(10, 0), field(20, 0)];
    // Deleted at row 1,600's time: after the third trigger (rows 1,000..1,500), before the
    // fourth's boundary (row 2,000).
    let at = field(1_600, 1);
    for k in &deleted {
        lines.push(format!("{k},{at},,,,,,,,,,delete"));
    }
    if ext == "arrow" {
        write_arrow_with_deletes(&dir.join("hyperplane.arrow"), &lines);
    } else {
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }
    let text = config(ext, 500).replace(
        "label_column = \"label\"",
        "label_column = \"label\"\ndelete_column = \"deleted\"",
    ) + "\n[selection]\ntail_triggers = \"all\"\n";
    let cfg = write_config(dir, "del.toml", &text);
    let mut outs = Vec::new();
    for workers in ["1", "2"] {
        let out = dir.join(format!("del-{workers}"));
        let o = run_ok(&cfg, &out, workers);
        assert!(
            stdout(&o).contains("4000 samples (0 dead-lettered, 2 deletions), 8 triggers"),
            "{}",
            stdout(&o)
        );
        let models = jsonl(&out.join("models.jsonl"));
        assert_eq!(
            sizes(&models),
            [500, 1000, 1500, 1998, 2498, 2998, 3498, 3998]
        );
        // Lineage in the events: the first set is the file's first 500 rows (CSV: lines 2 to
        // 501 under the header; Arrow: rows 0 to 499), the last all but the deleted two.
        let (first, last) = if ext == "csv" { (2, 4001) } else { (0, 3999) };
        let span = |last: i64, samples: u64| serde_json::json!([{"partition": 0, "first": first, "last": last, "samples": samples}]);
        assert_eq!(models[0]["sources"], span(first + 499, 500));
        assert_eq!(models[7]["sources"], span(last, 3998));
        for k in &deleted {
            let o = sluice(&["lineage", out.to_str().unwrap(), k]);
            let l = stdout(&o);
            assert!(
                l.contains(&format!("key {k}: trained on by 3 of 8 models")),
                "{l}"
            );
        }
        outs.push(out);
    }
    for i in 0..8 {
        let name = format!("models/it-{i:04}.safetensors");
        assert_eq!(
            std::fs::read(outs[0].join(&name)).unwrap(),
            std::fs::read(outs[1].join(&name)).unwrap(),
            "{name}"
        );
    }
    // The column is not a feature: the models see the 8 features.
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outs[0].join("models/it-0000.json")).unwrap())
            .unwrap();
    assert_eq!(meta["feature_names"].as_array().unwrap().len(), 8, "{meta}");
    text
}

/// `duplicates = "keep_last"` (#24): a copy at its original's position (same key and time),
/// read later, replaces it in every set, as if the row had been written so; a correction at a
/// later time is its key's sample from the first set cut after that time, and sets cut before
/// it keep the original (bitwise-equal models), whenever they are trained; 1 and 2 workers
/// agree.
#[test]
fn a_corrected_row_replaces_its_sample_from_the_first_set_after_its_time() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv"); // 4,000 stream rows
    let path = dir.path().join("hyperplane.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let original: Vec<String> = text.lines().map(String::from).collect();
    // Row `r` (0-based, under the header) with its label flipped, at `time` if given.
    let flipped = |r: usize, time: Option<&str>| -> String {
        let mut f: Vec<String> = original[r + 1].split(',').map(String::from).collect();
        f[2] = if f[2] == "0" { "1".into() } else { "0".into() };
        if let Some(t) = time {
            f[1] = t.to_string();
        }
        f.join(",")
    };
    let field = |r: usize, i: usize| original[r + 1].split(',').nth(i).unwrap().to_string();
    let write = |name: &str, lines: &[String]| {
        let cfg = config("csv", 500).replace("hyperplane.csv", name).replace(
            "label_column = \"label\"",
            "label_column = \"label\"\nduplicates = \"keep_last\"",
        ) + "\n[selection]\ntail_triggers = \"all\"\n";
        std::fs::write(dir.path().join(name), lines.join("\n") + "\n").unwrap();
        write_config(dir.path(), &format!("{name}.toml"), &cfg)
    };
    // Row 30 edited in place, and (the same data) row 30 followed two rows later by its
    // corrected copy (two rows apart: the same worker reads both with 1 or 2 workers, though
    // which copy is read later decides, not arrival).
    let mut edited = original.clone();
    edited[31] = flipped(30, None);
    let mut copied = original.clone();
    copied.insert(33, flipped(30, None));
    // Then rows 10 and 20 corrected at row 1,600's time, after the third trigger's boundary
    // (row 1,500) and before the fourth's (row 2,000).
    let at = field(1_600, 1);
    let mut corrected = copied.clone();
    corrected.extend([flipped(10, Some(&at)), flipped(20, Some(&at))]);
    let run = |cfg: &std::path::Path, name: &str, workers: &str| {
        let out = dir.path().join(name);
        (out.clone(), stdout(&run_ok(cfg, &out, workers)))
    };
    let (in_place, o) = run(&write("edited.csv", &edited), "edited", "1");
    assert!(
        o.contains("4000 samples (0 dead-lettered), 8 triggers"),
        "{o}"
    );
    let (copy, o) = run(&write("copied.csv", &copied), "copied", "2");
    assert!(
        o.contains("4001 samples (0 dead-lettered, 1 samples replaced), 8 triggers"),
        "{o}"
    );
    let weights = |run: &std::path::Path, i: usize| {
        std::fs::read(run.join(format!("models/it-{i:04}.safetensors"))).unwrap()
    };
    assert_same_weights(&copy, &in_place, 8, "copy vs row edited in place");
    let cfg = write("corrected.csv", &corrected);
    let mut outs = Vec::new();
    for workers in ["1", "2"] {
        let (out, o) = run(&cfg, &format!("corrected-{workers}"), workers);
        assert!(
            o.contains("4003 samples (0 dead-lettered, 3 samples replaced), 8 triggers"),
            "{o}"
        );
        let models = jsonl(&out.join("models.jsonl"));
        // A key is in each set once: the original until the correction's time, then the
        // correction, read from the file's last two lines (4,003 and 4,004).
        assert_eq!(
            sizes(&models),
            [500, 1000, 1500, 1998, 2498, 2998, 3498, 3998]
        );
        let span = |last: i64, samples: u64| serde_json::json!([{"partition": 0, "first": 2, "last": last, "samples": samples}]);
        assert_eq!(models[0]["sources"], span(502, 500));
        assert_eq!(models[2]["sources"], span(1502, 1500));
        assert_eq!(models[3]["sources"], span(4004, 1998));
        for k in [field(10, 0), field(20, 0)] {
            let l = stdout(&sluice(&["lineage", out.to_str().unwrap(), &k]));
            assert!(
                l.contains(&format!("key {k}: trained on by 8 of 8 models")),
                "{l}"
            );
        }
        for i in 0..8 {
            // The sets cut before the corrections read the originals; later ones do not.
            assert_eq!(weights(&out, i) == weights(&copy, i), i < 3, "model {i}");
        }
        outs.push(out);
    }
    assert_same_weights(&outs[1], &outs[0], 8, "2 vs 1 workers");
}

/// An update under `duplicates = "keep_last"` (#24): a delete record, then a new value for the
/// key at a later time. The key is out of the sets cut between the two and back with the new
/// value from the first set after it (with `keep_first` the new value would be a dropped copy).
#[test]
fn a_new_value_after_a_delete_record_trains_from_its_time_under_keep_last() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv"); // 4,000 stream rows
    let path = dir.path().join("hyperplane.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(|l| format!("{l},0")).collect();
    lines[0] = lines[0].replace(",0", ",deleted");
    let field = |row: usize, i: usize| lines[row + 1].split(',').nth(i).unwrap().to_string();
    let key = field(10, 0);
    // Deleted at row 1,600's time (before the fourth trigger's boundary, row 2,000), back at
    // row 2,200's (before the fifth's, row 2,500).
    let (gone, back) = (field(1_600, 1), field(2_200, 1));
    let mut update: Vec<String> = lines[11].split(',').map(String::from).collect();
    update[1] = back;
    lines.push(format!("{key},{gone},,,,,,,,,,delete"));
    lines.push(update.join(","));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let text = config("csv", 500).replace(
        "label_column = \"label\"",
        "label_column = \"label\"\ndelete_column = \"deleted\"\nduplicates = \"keep_last\"",
    ) + "\n[selection]\ntail_triggers = \"all\"\n";
    let cfg = write_config(dir.path(), "update.toml", &text);
    let out = dir.path().join("update");
    let o = stdout(&run_ok(&cfg, &out, "2"));
    // The new value is a version of the key while its deleted payload is still stored, and a
    // new sample once that has left (the trainer's pace decides); it trains the same.
    assert!(
        o.contains("4001 samples (0 dead-lettered, 1 deletions") && o.contains("8 triggers"),
        "{o}"
    );
    let models = jsonl(&out.join("models.jsonl"));
    // The fourth set lacks the key; from the fifth on it is there once, as its new value.
    assert_eq!(
        sizes(&models),
        [500, 1000, 1500, 1999, 2499, 2999, 3499, 3999]
    );
    let keys = |i: usize| -> Vec<u64> {
        let path = out.join(models[i]["keys"].as_str().unwrap());
        std::fs::read(path)
            .unwrap()
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let k: u64 = key.parse().unwrap();
    let has = |i: usize| keys(i).contains(&k);
    assert_eq!(
        (0..8).map(has).collect::<Vec<_>>(),
        [true, true, true, false, true, true, true, true]
    );
    let l = stdout(&sluice(&["lineage", out.to_str().unwrap(), &key]));
    assert!(
        l.contains(&format!("key {key}: trained on by 7 of 8 models")),
        "{l}"
    );
}

/// Writes CSV `lines` (header first: key, time, label, features, then the delete flag) as an
/// Arrow IPC file: the flag a boolean column, empty fields nulls.
fn write_arrow_with_deletes(path: &std::path::Path, lines: &[String]) {
    use arrow::array::{ArrayRef, BooleanArray, Float32Array, Int64Array, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let names: Vec<&str> = lines[0].split(',').collect();
    let rows: Vec<Vec<&str>> = lines[1..].iter().map(|l| l.split(',').collect()).collect();
    let col = |i: usize| rows.iter().map(move |r| r[i]);
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (ty, array): (DataType, ArrayRef) = match *name {
            "key" | "time" => (
                DataType::UInt64,
                Arc::new(col(i).map(|v| v.parse().ok()).collect::<UInt64Array>()),
            ),
            "label" => (
                DataType::Int64,
                Arc::new(col(i).map(|v| v.parse().ok()).collect::<Int64Array>()),
            ),
            "deleted" => (
                DataType::Boolean,
                Arc::new(
                    col(i)
                        .map(|v| (v != "0").then_some(true))
                        .collect::<BooleanArray>(),
                ),
            ),
            _ => (
                DataType::Float32,
                Arc::new(col(i).map(|v| v.parse().ok()).collect::<Float32Array>()),
            ),
        };
        fields.push(Field::new(*name, ty, true));
        columns.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = arrow::array::RecordBatch::try_new(schema.clone(), columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = arrow::ipc::writer::FileWriter::try_new(file, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
}

/// Downsampling scores kept across triggers (`rescore_after`) belong to the version of a key
/// they were computed on: a key corrected under `keep_last` is scored again.
#[test]
fn a_corrected_sample_is_scored_again_not_served_its_old_score() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 5_000, "csv"); // 4,000 stream rows
    let text = std::fs::read_to_string(dir.path().join("hyperplane.csv")).unwrap();
    let original: Vec<String> = text.lines().map(String::from).collect();
    // Rows 1,100..1,140 (the third epoch, rows 1,000..1,499) corrected at row 1,600's time
    // (the fourth epoch): label flipped.
    let at = original[1_601].split(',').nth(1).unwrap().to_string();
    let mut corrected = original.clone();
    for r in 1_100..1_140 {
        let mut f: Vec<String> = original[r + 1].split(',').map(String::from).collect();
        f[2] = if f[2] == "0" { "1".into() } else { "0".into() };
        f[1] = at.clone();
        corrected.push(f.join(","));
    }
    let run = |name: &str, lines: &[String]| {
        std::fs::write(dir.path().join(name), lines.join("\n") + "\n").unwrap();
        let cfg = config("csv", 500).replace("hyperplane.csv", name).replace(
            "label_column = \"label\"",
            "label_column = \"label\"\nduplicates = \"keep_last\"",
        ) + "\n[selection]\nstrategy = \"coreset\"\ntail_triggers = 1\n\
               downsampling = { strategy = \"loss\", ratio = 20, sample_then_batch = true, rescore_after = 1000 }\n";
        let cfg = write_config(dir.path(), &format!("{name}.toml"), &cfg);
        let out = dir.path().join(format!("{name}-run"));
        run_ok(&cfg, &out, "1");
        metric_values(&out, "downsampling_scored")
    };
    let clean = run("clean.csv", &original);
    let fixed = run("corrected.csv", &corrected);
    // With nothing aging out, a trigger scores only the samples it has not scored: its new
    // epoch (500), whatever that epoch holds. The fourth holds the 40 corrections: scored
    // too, not given their first versions' scores.
    assert_eq!(clean[3], 500.0, "{clean:?}");
    assert_eq!(fixed[3], 500.0, "{fixed:?}");
}
