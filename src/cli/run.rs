//! `sluice run`: runs a pipeline (or, with `--process` > 0, reads this process's share of its
//! source for process 0) and prints its summary.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::UsageError;
use sluice::pipeline::{self, Replay, RunOptions};
use sluice::source::Window;

use super::summary::in_service;

// The arguments of `sluice run` (its help text is the `Command::Run` doc comment in main.rs).
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Pipeline config (TOML).
    config: PathBuf,
    /// Run directory for events and models [default: runs/<pipeline>-<UTC time>]. A Kafka
    /// run directory that holds checkpoints resumes after the newest one.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Timely worker threads (per process).
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    workers: u16,
    /// Timely processes of the run, each started with its own --process (timely's `-n`).
    /// Process 0 writes the run directory and trains; the others read their share of the
    /// source and send it to process 0. Every process takes the same config and --workers.
    #[arg(short = 'n', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    processes: u16,
    /// This process's index, from 0 (timely's `-p`).
    #[arg(short, long, default_value_t = 0)]
    process: u16,
    /// Addresses of the processes: line i is process i's `host:port` [default:
    /// localhost:2101, localhost:2102, …].
    #[arg(long)]
    hostfile: Option<PathBuf>,
    /// Read only samples at or after this event time: Unix ms, YYYY-MM-DD or
    /// YYYY-MM-DDTHH:MM[:SS[.mmm]][Z] (UTC). A topic is read from the first message whose
    /// timestamp is at or after it.
    #[arg(long, value_parser = sluice::parse_time, value_name = "TIME")]
    replay_from: Option<u64>,
    /// Read only samples before this event time (same forms); a partition ends at its first
    /// sample at or after it. With a window, a Kafka source is replayed up to the end
    /// offsets it had at start unless its config says `until = "follow"`.
    #[arg(long, value_parser = sluice::parse_time, value_name = "TIME")]
    replay_until: Option<u64>,
    /// Stop after this many triggers (a resumed run counts those before the checkpoint):
    /// their models are trained, then the run ends. With a followed topic, the way to end
    /// an online run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_triggers: Option<u64>,
    /// Read at most this many inputs per second (all workers together): replays a file at
    /// the pace of a live stream, e.g. to watch it with --serve.
    #[arg(long, value_name = "PER_SECOND", value_parser = clap::value_parser!(u64).range(1..))]
    replay_rate: Option<u64>,
    /// Rewrite `<run dir>/status.json` and emit a `status` event per variant on the metrics
    /// stream every this many seconds (0: only when the run ends); `sluice status` reads it.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = seconds)]
    status_every: f64,
    /// Serve the run's live dashboard and Prometheus `/metrics` on this address while it
    /// runs (as `sluice serve <run dir>` does; process 0 only).
    #[arg(long, value_name = "ADDR")]
    serve: Option<String>,
    /// Serve only Prometheus `/metrics` on this address while the run runs (process 0 only).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<String>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs the pipeline of `args.config` and prints its summary.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let spec = sluice::config::load(&args.config)?;
    let window = Window::new(args.replay_from, args.replay_until).map_err(UsageError)?;
    // Process 0 writes the run directory: the servers need its path before the run starts.
    let out = match (&args.out, args.process) {
        (None, 0) if args.serve.is_some() || args.metrics_addr.is_some() => {
            Some(pipeline::default_run_dir(&spec.name))
        }
        _ => args.out.clone(),
    };
    let opts = RunOptions {
        out: out.clone(),
        workers: args.workers as usize,
        processes: args.processes as usize,
        process: args.process as usize,
        hostfile: args.hostfile,
        progress: !args.quiet && std::io::stderr().is_terminal(),
        replay: Replay {
            window,
            max_triggers: args.max_triggers,
            follow: false,
            rate: args.replay_rate,
        },
        status_every: std::time::Duration::from_secs_f64(args.status_every),
    };
    if args.process > 0 {
        if args.serve.is_some() || args.metrics_addr.is_some() {
            eprintln!(
                "note: --serve and --metrics-addr serve process 0's run directory; process {} \
                 serves nothing",
                args.process
            );
        }
        let s = pipeline::follow(&spec, &opts).map_err(super::run_failure)?;
        println!(
            "{}: process {} of {}: read {} samples ({} dead-lettered) in {:.1} s; stored {} \
             samples of its keys, at most {} at once",
            s.pipeline,
            s.process,
            s.processes,
            s.read,
            s.dead_letters,
            s.wall_s,
            s.stored,
            s.peak_stored
        );
        return Ok(());
    }
    // They serve until the process ends, the summary written.
    let _servers = match &out {
        Some(out) => {
            super::serve::alongside(out, args.serve.as_deref(), args.metrics_addr.as_deref())?
        }
        None => Vec::new(),
    };
    let s = pipeline::run(&spec, &opts).map_err(super::run_failure)?;
    print_summary(&s);
    s.check_dead_letters(spec.source.max_dead_letter_ratio)
        .map_err(super::run_failure)?;
    Ok(())
}

/// A line per variant, then the run's line.
fn print_summary(s: &pipeline::RunSummary) {
    let acc = in_service(&s.evaluation);
    let processes = if s.processes > 1 {
        format!(
            " in {} processes, process 0 holding at most {} samples",
            s.processes, s.peak_stored_samples
        )
    } else {
        String::new()
    };
    let window = if s.replay.window.is_unbounded() {
        String::new()
    } else {
        format!(" in {}", s.replay.window)
    };
    let limit = s
        .replay
        .max_triggers
        .map(|m| format!(" (at most {m})"))
        .unwrap_or_default();
    for v in &s.variants {
        println!(
            "  variant {}: {} triggers, {} models, {:.1} s training{}; {}",
            v.variant.as_deref().unwrap_or_default(),
            v.triggers,
            v.models,
            v.training_s,
            in_service(&v.evaluation),
            v.run_dir.display()
        );
    }
    let mut duplicates = match s.duplicates {
        0 => String::new(),
        n => format!(", {n} duplicates dropped"),
    };
    if s.deletions > 0 {
        duplicates += &format!(", {} deletions", s.deletions);
    }
    if s.replaced > 0 {
        duplicates += &format!(", {} samples replaced", s.replaced);
    }
    let sweep = if s.variants.is_empty() {
        String::new()
    } else {
        format!(" of {} variants", s.variants.len())
    };
    println!(
        "{}: {} samples{window} ({} dead-lettered{duplicates}), {} triggers{limit}, {} models{sweep} in {:.1} s ({:.1} s training, {} workers{processes}){acc}; run dir {}",
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

/// A number of seconds ≥ 0.
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s >= 0.0 && s.is_finite() => Ok(s),
        _ => Err(format!("`{text}` is not a number of seconds ≥ 0")),
    }
}
