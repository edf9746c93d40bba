//! `sluice lineage`: the models of a run that trained on a key (what a right-to-be-forgotten
//! request needs to know), from each model's key list.

use std::path::PathBuf;

use sluice::store::keys_contain;

// The arguments of `sluice lineage`.
#[derive(clap::Args, Debug)]
pub struct LineageArgs {
    /// Run directory (a sweep's: each variant's models are listed under its name).
    run_dir: PathBuf,
    /// The sample key.
    key: u64,
}

/// Lists the models of `args.run_dir` (each variant's, for a sweep) whose training set held
/// `args.key`.
pub fn run(args: LineageArgs) -> anyhow::Result<()> {
    let run = args.run_dir;
    let dirs = sluice::report::sweeps_expanded(std::slice::from_ref(&run))
        .map_err(super::report_failure)?;
    let (mut seen, mut total) = (0, 0);
    for dir in dirs {
        let variant = (dir != run).then(|| dir.file_name().unwrap_or_default().to_string_lossy());
        let models =
            sluice::report::read_jsonl(&dir, "models.jsonl").map_err(super::report_failure)?;
        for m in models {
            total += 1;
            let id = m["model_id"].as_str().unwrap_or_default();
            let name = match &variant {
                Some(v) => format!("{v}/{id}"),
                None => id.to_string(),
            };
            let Some(keys) = m["keys"].as_str().filter(|k| !k.is_empty()) else {
                println!("  {name}: no key list (trained before lineage was recorded)");
                continue;
            };
            if keys_contain(&dir.join(keys), args.key)? {
                seen += 1;
                println!(
                    "  {name}  trigger {}  events {} .. {}  {}",
                    m["trigger_id"],
                    sluice::format_time(m["first_time"].as_u64().unwrap_or(0)),
                    sluice::format_time(m["last_time"].as_u64().unwrap_or(0)),
                    m["artifact"].as_str().unwrap_or_default()
                );
            }
        }
    }
    println!("key {}: trained on by {seen} of {total} models", args.key);
    Ok(())
}
