//! `sluice datasets list/prepare`: the bundled datasets.

use std::path::PathBuf;

use sluice::datasets::{self, OutputFormat};

/// The subcommands of `sluice datasets`.
#[derive(clap::Subcommand, Debug)]
pub enum DatasetsCommand {
    /// List the bundled datasets.
    List,
    /// Generate a dataset as `<name>.<ext>` (stream) and `<name>_test.<ext>` (held-out).
    Prepare {
        /// Dataset name (see `datasets list`).
        name: String,
        /// Output directory.
        #[arg(long, default_value = "data")]
        out: PathBuf,
        /// Rows to generate, stream and held-out together [default: the dataset's].
        #[arg(long)]
        rows: Option<usize>,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Csv)]
        format: OutputFormat,
        /// How a concept stream (sea, stagger, agrawal, rbf) changes concepts.
        #[arg(long, value_enum, default_value_t = datasets::DriftKind::Abrupt)]
        drift: datasets::DriftKind,
        /// Directory of a packaged dataset's raw files [default: where its package installs
        /// them, e.g. /usr/share/datasets/fashion-mnist].
        #[arg(long)]
        source: Option<PathBuf>,
    },
}

/// Runs a `datasets` subcommand.
pub fn run(command: DatasetsCommand) -> anyhow::Result<()> {
    match command {
        DatasetsCommand::List => {
            for d in datasets::DATASETS {
                println!(
                    "{:<12} {:>7} rows  {}",
                    d.name, d.default_rows, d.description
                );
            }
        }
        DatasetsCommand::Prepare {
            name,
            out,
            rows,
            seed,
            format,
            drift,
            source,
        } => {
            let written =
                datasets::prepare(&name, &out, rows, seed, format, drift, source.as_deref())
                    .map_err(super::dataset_failure)?;
            for (path, n) in written {
                match path.extension().and_then(|e| e.to_str()) {
                    Some("json") => println!("{}: {n} drift points", path.display()),
                    _ => println!("{}: {n} rows", path.display()),
                }
            }
        }
    }
    Ok(())
}
