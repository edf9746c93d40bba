//! `sluice models export`: a stored model's full weights as a safetensors file.
//! `sluice models pull`: a model's TorchScript file from Kafka (`[output] publish_artifacts`).

use std::path::PathBuf;

use super::UsageError;
use super::cluster::ClusterArgs;

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
    /// Fetch a model's TorchScript file from `<prefix>.model-artifacts` (a run with `[output]
    /// publish_artifacts = true`), reassemble its chunks and check them against the digest in
    /// its model event.
    Pull {
        /// Model id, e.g. `quickstart-0007`.
        model_id: String,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// The run's `[output] topic_prefix` [default: the model id without its `-NNNN`, the
        /// pipeline name].
        #[arg(long)]
        topic_prefix: Option<String>,
        /// The sweep variant that trained it.
        #[arg(long)]
        variant: Option<String>,
        /// Output file [default: `<model_id>.pt` in the current directory].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// Runs a `models` subcommand.
pub fn run(command: ModelsCommand) -> anyhow::Result<()> {
    match command {
        ModelsCommand::Export {
            run_dir,
            model_id,
            out,
        } => export(run_dir, model_id, out),
        ModelsCommand::Pull {
            model_id,
            cluster,
            topic_prefix,
            variant,
            out,
        } => {
            let prefix = match topic_prefix {
                Some(p) => p,
                None => model_id
                    .rsplit_once('-')
                    .map(|(pipeline, _)| pipeline.to_string())
                    .ok_or_else(|| {
                        UsageError(format!(
                            "{model_id}: not `<pipeline>-<trigger>`; name the topics with --topic-prefix"
                        ))
                    })?,
            };
            let file = sluice::sink::kafka::pull(
                &cluster.cluster()?,
                &prefix,
                &model_id,
                variant.as_deref(),
            )?;
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{model_id}.pt")));
            std::fs::write(&out, &file)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
            println!(
                "{model_id} -> {} ({} bytes, SHA-256 {})",
                out.display(),
                file.len(),
                sluice::sink::kafka::sha256(&file)
            );
            Ok(())
        }
    }
}

fn export(run_dir: PathBuf, model_id: String, out: Option<PathBuf>) -> anyhow::Result<()> {
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
