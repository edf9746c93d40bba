//! `sluice import-modyn`: translates a Modyn pipeline (YAML) into a Sluice config (TOML).

use std::path::PathBuf;

use super::UsageError;
use anyhow::Context;

// The arguments of `sluice import-modyn`.
#[derive(clap::Args, Debug)]
pub struct ImportModynArgs {
    /// Modyn pipeline file (YAML).
    pipeline: PathBuf,
    /// Write the TOML to this file [default: stdout].
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// Writes the TOML (to `--out` or stdout) and the notes (to stderr).
pub fn run(args: ImportModynArgs) -> anyhow::Result<()> {
    let ImportModynArgs { pipeline, out } = args;
    let text = std::fs::read_to_string(&pipeline)
        .map_err(|e| UsageError(format!("{}: cannot read: {e}", pipeline.display())))?;
    let import =
        sluice::modyn::import_modyn(&text, &pipeline).map_err(|e| UsageError(e.to_string()))?;
    match &out {
        Some(path) => std::fs::write(path, &import.toml)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{}", import.toml),
    }
    for n in &import.notes {
        eprintln!(
            "note: {}:{}: {}: {}: {}",
            pipeline.display(),
            n.line,
            n.key,
            n.kind,
            n.message
        );
    }
    if let Some(path) = out {
        println!(
            "{} -> {} ({} notes; fill in the placeholders, then `sluice validate {}`)",
            pipeline.display(),
            path.display(),
            import.notes.len(),
            path.display()
        );
    }
    Ok(())
}
