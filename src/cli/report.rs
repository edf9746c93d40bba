//! `sluice report`: plots and an index.html from run directories.

use std::path::PathBuf;

// The arguments of `sluice report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Run directories.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Output directory [default: the run directory's `report/` for one run, `report/`
    /// otherwise].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Evaluation handler to plot [default: the first with a currently-active aggregate].
    #[arg(long, requires_all = ["dataset", "metric"])]
    handler: Option<String>,
    /// Evaluation dataset to plot (with --handler).
    #[arg(long, requires = "handler")]
    dataset: Option<String>,
    /// Metric to plot (with --handler).
    #[arg(long, requires = "handler")]
    metric: Option<String>,
    /// Compare pipelines on the handler's pooled metric (an `after_pipeline` `slicing`
    /// handler's `prequential`: one curve over every sample) instead of its time-weighted mean.
    #[arg(long, requires = "handler")]
    pooled: bool,
}

/// Writes the report and prints where it is.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let runs = args.runs;
    let out = args.out.unwrap_or_else(|| match runs.as_slice() {
        [one] => one.join("report"),
        _ => PathBuf::from("report"),
    });
    let focus = match (args.handler, args.dataset, args.metric) {
        (Some(handler), Some(dataset), Some(metric)) => Some(sluice::report::Focus {
            handler,
            dataset,
            metric,
            pooled: args.pooled,
        }),
        _ => None,
    };
    let r = sluice::report::report(&runs, &out, focus).map_err(super::report_failure)?;
    println!(
        "report of {} run(s): {} plot files{}; open {}",
        runs.len(),
        r.plots.len(),
        r.focus
            .map(|(h, d, m)| format!(" ({m} on {d}, handler {h})"))
            .unwrap_or_default(),
        r.index.display()
    );
    Ok(())
}
