//! The `sluice` command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice::UsageError;
use sluice::config::ConfigErrors;
use sluice::datasets::{self, OutputFormat};
use sluice::pipeline::{self, RunOptions};

/// Continuous training of ML models on streams.
///
/// Exit codes: 0 success, 1 runtime failure, 2 bad usage or config.
#[derive(Parser, Debug)]
#[command(name = "sluice", version, about, long_about = None)]
struct Cli {
    /// Log filter (tracing env-filter syntax), e.g. `info` or `sluice=debug`; also RUST_LOG.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a pipeline: replay its source, fire triggers, train and store a model per trigger.
    Run {
        /// Pipeline config (TOML).
        config: PathBuf,
        /// Run directory for events and models [default: runs/<pipeline>-<UTC time>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Timely worker threads.
        #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        workers: u16,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Check a pipeline config and its input files; print every error.
    Validate {
        /// Pipeline config (TOML).
        config: PathBuf,
    },
    /// Bundled datasets.
    Datasets {
        #[command(subcommand)]
        command: DatasetsCommand,
    },
}

#[derive(Subcommand, Debug)]
enum DatasetsCommand {
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cli.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<ConfigErrors>().is_some();
            eprintln!("error: {e:#}");
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run {
            config,
            out,
            workers,
            quiet,
        } => {
            let spec = sluice::config::load(&config)?;
            let opts = RunOptions {
                out,
                workers: workers as usize,
                progress: !quiet && std::io::stderr().is_terminal(),
            };
            let s = pipeline::run(&spec, &opts)?;
            let acc = match (s.last_accuracy, s.last_accuracy_all) {
                (Some(a), Some(all)) => format!(
                    "; final model accuracy {a:.3} on held-out data of its trigger interval, {all:.3} on all held-out data"
                ),
                _ => String::new(),
            };
            println!(
                "{}: {} samples ({} dead-lettered), {} triggers, {} models in {:.1} s ({:.1} s training, {} workers){acc}; run dir {}",
                s.pipeline,
                s.samples,
                s.dead_letters,
                s.triggers,
                s.models,
                s.wall_s,
                s.training_s,
                s.workers,
                s.run_dir.display()
            );
        }
        Command::Validate { config } => {
            let spec = sluice::config::load(&config)?;
            let source = sluice::source::FileSource::open(&spec.source, &spec.config_path)
                .map_err(|e| UsageError(e.to_string()))?;
            println!(
                "{}: ok (pipeline `{}`, {} features: {})",
                config.display(),
                spec.name,
                source.dim(),
                source.feature_names().join(", ")
            );
        }
        Command::Datasets { command } => match command {
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
            } => {
                for (path, n) in datasets::prepare(&name, &out, rows, seed, format)? {
                    println!("{}: {n} rows", path.display());
                }
            }
        },
    }
    Ok(())
}
