//! The `sluice` command line: parses, sets up logging and dispatches to a command of [`cli`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli::UsageError;
use sluice::config::ConfigErrors;

mod cli;

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
    Run(cli::run::RunArgs),
    /// How far a run is (its `status.json`): per variant the watermark, the lag behind the
    /// source, samples, triggers, the model in service, the training queue and the last
    /// evaluation.
    Status(cli::status::StatusArgs),
    /// A live web dashboard of run directories (running or finished): per variant the
    /// status, the trigger timeline with each reason's numbers, the metric of the model in
    /// service, the evaluation heatmap, cost per trigger, the dead-letter tail; and
    /// `/metrics` for Prometheus.
    Serve(cli::serve::ServeArgs),
    /// Re-run evaluation on a run's stored models, without training: every handler of the
    /// run's `[evaluation]` (or of --config's), `manual` ones included.
    Evaluate(cli::evaluate::EvaluateArgs),
    /// Plots and an index.html from run directories: metric over time with the composite
    /// models, the evaluation matrix, cost per stage, triggers; for several runs, cost and
    /// triggers vs metric (runs of the same pipeline name are seeds).
    Report(cli::report::ReportArgs),
    /// Check a pipeline config and its input files; print every error.
    ///
    /// A file source's first 1,000 rows are decoded as `run` would; more dead letters among
    /// them than `source.max_dead_letter_ratio` allows fail it (exit 1, as the run would). A
    /// Kafka source's brokers and topic are reached.
    Validate(cli::validate::ValidateArgs),
    /// Translate a Modyn pipeline (YAML) into a Sluice config (TOML).
    ///
    /// Keys with a Sluice equivalent are translated; every other key is a note (on stderr, and
    /// as comments at the top of the TOML) saying what was done or what to do instead. The
    /// `[source]` and evaluation datasets are placeholder files named after Modyn's dataset ids.
    /// Exit code 2 names the key path and line of a missing or malformed Modyn key.
    ImportModyn(cli::import_modyn::ImportModynArgs),
    /// Publish a dataset (a CSV/Arrow file, or a bundled dataset by name) to a Kafka topic as a
    /// stream, in event-time order per partition: one JSON object per row, or Arrow IPC
    /// messages of many rows.
    Produce(cli::produce::ProduceArgs),
    /// Print a topic's messages (events) as JSON lines.
    Tail(cli::tail::TailArgs),
    /// Bundled datasets.
    Datasets {
        #[command(subcommand)]
        command: cli::datasets::DatasetsCommand,
    },
    /// The models of a run that trained on a sample key, from each model's key list
    /// (`models/<id>.keys`): what a right-to-be-forgotten request needs to know.
    Lineage(cli::lineage::LineageArgs),
    /// Models in a run's model store.
    Models {
        #[command(subcommand)]
        command: cli::models::ModelsCommand,
    },
}

fn main() -> ExitCode {
    let tuned = sluice::allocator::tune();
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cli.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    tracing::debug!(tuned, "allocator set up for streaming (sluice::allocator)");
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<ConfigErrors>().is_some();
            eprintln!("error: {e:#}");
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// Runs the parsed command.
fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => cli::run::run(args),
        Command::Status(args) => cli::status::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Evaluate(args) => cli::evaluate::run(args),
        Command::Report(args) => cli::report::run(args),
        Command::Validate(args) => cli::validate::run(args),
        Command::ImportModyn(args) => cli::import_modyn::run(args),
        Command::Produce(args) => cli::produce::run(args),
        Command::Tail(args) => cli::tail::run(args),
        Command::Datasets { command } => cli::datasets::run(command),
        Command::Models { command } => cli::models::run(command),
        Command::Lineage(args) => cli::lineage::run(args),
    }
}
