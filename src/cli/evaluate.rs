//! `sluice evaluate`: re-runs evaluation on a run's stored models and prints its summary.

use std::io::IsTerminal;
use std::path::PathBuf;

use sluice::pipeline;

use super::summary::in_service;

// The arguments of `sluice evaluate`.
#[derive(clap::Args, Debug)]
pub struct EvaluateArgs {
    /// Run directory of `sluice run`.
    run_dir: PathBuf,
    /// A TOML file whose `[evaluation]` replaces the run's (its paths are relative to it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where events and the summary go [default: <run-dir>/evaluate].
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

/// Evaluates the run's models and prints the summary line.
pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let s = pipeline::evaluate(
        &args.run_dir,
        args.config.as_deref(),
        args.out,
        !args.quiet && std::io::stderr().is_terminal(),
    )
    .map_err(super::run_failure)?;
    let composite = in_service(&s.evaluation);
    println!(
        "{}: {} models, {} evaluations ({} inferences) in {:.1} s{composite}; events in {}",
        s.pipeline,
        s.models,
        s.evaluation.evaluations,
        s.evaluation.inferences,
        s.evaluation.evaluation_s,
        s.out.display()
    );
    Ok(())
}
