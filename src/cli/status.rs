//! `sluice status`: prints a run's `status.json`, rendered or as it is.

use std::path::PathBuf;

use sluice::pipeline;

// The arguments of `sluice status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Run directory of `sluice run`.
    run_dir: PathBuf,
    /// Print `status.json` as it is.
    #[arg(long)]
    json: bool,
}

/// Prints the run's status.
pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let status = pipeline::status::read(&args.run_dir).map_err(super::run_failure)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).expect("status serialises")
        );
    } else {
        print!(
            "{}",
            pipeline::status::render(&status, sluice::sink::unix_ms())
        );
    }
    Ok(())
}
