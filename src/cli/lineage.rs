//! `sluice lineage`: the models of a run that trained on a key (what a right-to-be-forgotten
//! request needs to know), from each model's key list.

use std::path::{Path, PathBuf};

use super::UsageError;
use sluice::store::keys_contain;

// The arguments of `sluice lineage`.
#[derive(clap::Args, Debug)]
pub struct LineageArgs {
    /// Run directory (a sweep's: each variant's models are listed under its name).
    run_dir: PathBuf,
    /// The sample key.
    key: u64,
}

/// Lists the models of `args.run_dir` whose training set held `args.key`.
pub fn run(args: LineageArgs) -> anyhow::Result<()> {
    let dirs = model_dirs(&args.run_dir)?;
    let (mut seen, mut total) = (0, 0);
    for (variant, dir) in dirs {
        for m in model_events(&dir.join("models.jsonl"))? {
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

/// The directories whose `models.jsonl` to read: the run's, or each variant's of a sweep.
fn model_dirs(run: &Path) -> anyhow::Result<Vec<(Option<String>, PathBuf)>> {
    if run.join("models.jsonl").is_file() {
        return Ok(vec![(None, run.to_path_buf())]);
    }
    let mut dirs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(run) {
        for e in entries.flatten() {
            let p = e.path();
            if p.join("models.jsonl").is_file() {
                dirs.push((Some(e.file_name().to_string_lossy().into_owned()), p));
            }
        }
    }
    dirs.sort();
    if dirs.is_empty() {
        return Err(UsageError(format!(
            "{}: not a run directory (no models.jsonl in it or in a variant's directory)",
            run.display()
        ))
        .into());
    }
    Ok(dirs)
}

/// The events of a `models.jsonl` file; a line that is not JSON is an error naming it.
fn model_events(path: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}
