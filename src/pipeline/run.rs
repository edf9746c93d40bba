//! `sluice run`: a pipeline run, in named steps. The leader ([`run`]) prepares the run
//! directory and context, starts each lane's trainer and evaluator, executes the timely
//! workers to the end of the source, then finishes: trainers and evaluators joined, status and
//! events flushed, `run.json` and `summary.json` written. A follower ([`follow`]) only executes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::context::RunContext;
use super::error::RunError;
use super::evaluate::write_run_info;
use super::options::RunOptions;
use super::prepare::{Prepared, prepare, prepare_follower};
use super::status::StatusWriter;
use super::summary::{Cost, FollowSummary, RunSummary, sweep_summary, write_summary};
use super::trainers::{finish_lanes, start_lanes};
use super::worker::execute;
use crate::config::PipelineSpec;
use crate::eval::EvalReport;
use crate::train::TrainerReport;

/// Runs `spec` to the end of its source (in a cluster: process 0, the leader).
pub fn run(spec: &PipelineSpec, opts: &RunOptions) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let Prepared {
        context,
        mut info,
        events,
        resumed_after,
        initial_model,
    } = prepare(spec, opts)?;
    let shared = Arc::new(context);
    let running = start_lanes(&shared, resumed_after, initial_model)?;
    let bar = progress_bar(spec, opts.progress);
    let status = StatusWriter::start(&shared, opts.status_every);
    execute(&shared, &bar)?;
    let finished = finish_lanes(&shared, running, &bar);
    bar.finish_and_clear();
    let mut reports = Vec::new();
    for (report, evaluation) in finished {
        reports.push((report?, evaluation?.unwrap_or_default()));
    }
    let failure = shared.failure.take();
    status.finish(if failure.is_some() {
        "failed"
    } else {
        "finished"
    })?;
    for lane in &shared.lanes {
        lane.events
            .as_ref()
            .expect("the leader's lanes have events")
            .flush()?;
    }
    events.flush()?;
    if let Some(e) = failure {
        return Err(RunError::Failed(e));
    }
    if !shared.source.follows(&shared.replay.window)
        && let Err(e) = shared.source.finish()
    {
        tracing::warn!("{e}; the consumer group keeps the last checkpoint's offsets");
    }
    let covered = shared.counters.take_covered();
    info.input.get_or_insert_default().merge(covered.clone());
    write_run_info(&shared.run_dir, &info)?;
    let wall_s = started.elapsed().as_secs_f64();
    let mut lanes = summarize(&shared, reports, &covered, wall_s);
    let summary = if lanes.len() == 1 && lanes[0].variant.is_none() {
        lanes.pop().expect("one lane")
    } else {
        for lane in &lanes {
            write_summary(&lane.run_dir, lane)?;
        }
        sweep_summary(spec, &shared.run_dir, lanes, wall_s)
    };
    write_summary(&shared.run_dir, &summary)?;
    Ok(summary)
}

/// Runs process `opts.process > 0` of a cluster run of `spec`: reads this process's share of
/// the source into the dataflow and reports to the leader (see `cluster.rs`). It writes no
/// files.
pub fn follow(spec: &PipelineSpec, opts: &RunOptions) -> Result<FollowSummary, RunError> {
    let started = Instant::now();
    let shared = Arc::new(prepare_follower(spec, opts)?);
    execute(&shared, &ProgressBar::hidden())?;
    if let Some(e) = shared.failure.take() {
        return Err(RunError::Failed(e));
    }
    Ok(FollowSummary {
        pipeline: spec.name.clone(),
        process: shared.topology.process,
        processes: shared.topology.processes,
        read: shared.counters.read.load(Ordering::Relaxed),
        dead_letters: shared.counters.dead.load(Ordering::Relaxed),
        stored: shared.counters.ingested.load(Ordering::Relaxed),
        peak_stored: shared.counters.peak_stored.load(Ordering::Relaxed),
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// The run's progress bar (hidden unless `shown`).
fn progress_bar(spec: &PipelineSpec, shown: bool) -> ProgressBar {
    let bar = if shown {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} samples, {per_sec}, eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(spec.name.clone());
    bar
}

/// Each lane's summary, from its trainer's and evaluator's reports and the run's counters.
fn summarize(
    shared: &RunContext,
    reports: Vec<(TrainerReport, EvalReport)>,
    covered: &super::progress::Covered,
    wall_s: f64,
) -> Vec<RunSummary> {
    let [ingest, trigger_policy, selection] = shared.clock.totals_ms();
    // A resumed run's triggers and models are the run's so far: those before its checkpoint,
    // then this start's (a start that found nothing new must not report none).
    let triggers_before = shared.first_trigger_id();
    let resumed = shared.resumed().checkpoint.as_ref();
    let models_before = resumed.map_or(0, |cp| cp.models.len() as u64);
    let model_before = resumed.and_then(|cp| cp.model_id.clone());
    let checkpoint_s = shared.book.as_ref().map_or(0.0, |b| b.checkpoint_s());
    shared
        .lanes
        .iter()
        .zip(reports)
        .map(|(lane, (report, evaluation))| RunSummary {
            pipeline: shared.spec.name.clone(),
            variant: lane.name.clone(),
            run_dir: lane.run_dir.clone(),
            workers: shared.topology.peers(),
            processes: shared.topology.processes,
            samples: shared.counters.ingested.load(Ordering::Relaxed),
            dead_letters: shared.counters.dead.load(Ordering::Relaxed),
            duplicates: shared.counters.duplicates.load(Ordering::Relaxed),
            deletions: shared.counters.deletions.load(Ordering::Relaxed),
            replaced: shared.counters.replaced.load(Ordering::Relaxed),
            triggers: triggers_before + lane.progress.triggers.load(Ordering::Relaxed),
            models: models_before + report.models,
            wall_s,
            training_s: report.training_ms as f64 / 1000.0,
            last_model: report.last_model.or_else(|| model_before.clone()),
            cost: Cost {
                ingest_s: ingest / 1000.0,
                read_s: shared.clock.read_s(),
                trigger_policy_s: trigger_policy / 1000.0,
                selection_s: selection / 1000.0,
                training_s: report.training_ms as f64 / 1000.0,
                model_store_s: report.model_store_ms as f64 / 1000.0,
                evaluation_s: evaluation.evaluation_s,
                checkpoint_s,
            },
            evaluation,
            scores: lane.progress.scores.load(Ordering::Relaxed),
            stored_samples: shared.samples.len() as u64,
            stored_in_memory: shared.samples.in_memory() as u64,
            peak_stored_samples: shared.counters.peak_stored.load(Ordering::Relaxed),
            replay: shared.replay,
            input: covered.clone(),
            variants: Vec::new(),
        })
        .collect()
}
