//! `sluice serve`: the live dashboard and `/metrics` of run directories.

use std::path::PathBuf;

use super::UsageError;
use sluice::serve::{Routes, Server};

// The arguments of `sluice serve` (its help text is the `Command::Serve` doc comment).
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Run directories of `sluice run` (running or finished; one not created yet is served
    /// once it is).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
}

/// Serves the runs until interrupted.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Each run's problem is shown on its page too; the others are served regardless.
    for run in &args.runs {
        if let Err(e) = sluice::serve::read_status(run) {
            eprintln!("warning: {e}");
        }
    }
    let n = args.runs.len();
    let server =
        Server::start(&args.addr, args.runs, Routes::All).map_err(|e| UsageError(e.to_string()))?;
    println!(
        "serving {n} run(s) on http://{}/ and http://{}/metrics (Ctrl-C stops)",
        server.addr(),
        server.addr()
    );
    server.wait()?;
    Ok(())
}

/// Starts `--serve` (the dashboard and `/metrics`) and `--metrics-addr` (`/metrics` only) for
/// the run directory `out` of `sluice run`; the servers stop with the run.
pub fn alongside(
    out: &std::path::Path,
    serve: Option<&str>,
    metrics: Option<&str>,
) -> anyhow::Result<Vec<Server>> {
    let mut servers = Vec::new();
    for (addr, routes) in [(serve, Routes::All), (metrics, Routes::Metrics)] {
        let Some(addr) = addr else { continue };
        let server = Server::start(addr, vec![out.to_path_buf()], routes)
            .map_err(|e| UsageError(e.to_string()))?;
        let what = match routes {
            Routes::All => format!("the run live on http://{}/run/0", server.addr()),
            Routes::Metrics => format!("its metrics on http://{}/metrics", server.addr()),
        };
        eprintln!("serving {what} while it runs");
        servers.push(server);
    }
    Ok(servers)
}
