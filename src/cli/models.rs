//! `sluice models export`: a stored model's full weights as a safetensors file.

use std::path::PathBuf;

use super::UsageError;

/// The subcommands of `sluice models`.
#[derive(clap::Subcommand, Debug)]
pub enum ModelsCommand {
    /// Write a model's full weights as a safetensors file (rebuilt from deltas and
    /// decompressed when `[model_storage]` stored it incrementally).
    Export {
        /// Run directory (holds `models/`).
        run_dir: PathBuf,
        /// Model id, e.g. `quickstart-0007`.
        model_id: String,
        /// Output file [default: `<model_id>.safetensors` in the current directory].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// Runs a `models` subcommand.
pub fn run(command: ModelsCommand) -> anyhow::Result<()> {
    let ModelsCommand::Export {
        run_dir,
        model_id,
        out,
    } = command;
    let dir = run_dir.join("models");
    if !dir.is_dir() {
        return Err(UsageError(format!("{}: no models/ directory", run_dir.display())).into());
    }
    let store = sluice::store::ModelStore::create(&dir, Default::default())?;
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{model_id}.safetensors")));
    store.export(&model_id, &out)?;
    println!("{model_id} -> {}", out.display());
    Ok(())
}
