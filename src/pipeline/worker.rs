//! One process's timely workers: each builds the graph, feeds its share of the source into it
//! with backpressure from the trainers, passes on what the leader must learn, and runs the
//! dataflow to its end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use sluice_dataflows::{Position, owner};

use super::book::Resumed;
use super::cluster::{self, ClusterError, Report};
use super::context::RunContext;
use super::dataflow::{self, Record};
use super::error::RunError;
use super::progress::{Covered, PartitionCount};
use super::sinks;
use crate::source::{Batch, DeadLetter, ReadPlan, Share, SourceError};

/// Why a worker stopped early.
#[derive(Debug, thiserror::Error)]
enum WorkerError {
    /// The processes of the run cannot go on together.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Runs the timely workers of this process to the end, showing their progress on `bar`.
pub(super) fn execute(shared: &Arc<RunContext>, bar: &ProgressBar) -> Result<(), RunError> {
    if shared.topology.processes > 1 {
        cluster::watch_for_lost_processes();
    }
    let worker_shared = shared.clone();
    let guards = shared
        .topology
        .execute(move |worker| {
            let shared = &worker_shared;
            let result = worker_main(worker, shared);
            if let Err(e) = &result {
                shared.fail(e.to_string());
            }
            shared
                .counters
                .finished_workers
                .fetch_add(1, Ordering::SeqCst);
        })
        .map_err(|e| RunError::Failed(format!("starting timely workers: {e}")))?;
    while !shared.counters.all_finished() {
        bar.set_length(shared.counters.total.load(Ordering::Relaxed));
        bar.set_position(shared.counters.read.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Joining also joins timely's network threads, which panicked if a process was lost (the
    // workers have reported that as the run's error).
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| guards.join())) {
        // After a lost process, timely's own last steps fail too; the workers have reported
        // the loss.
        Ok(_) | Err(_) if cluster::lost() => {}
        Ok(results) => {
            for r in results {
                r.map_err(|e| RunError::Failed(format!("timely worker failed: {e}")))?;
            }
        }
        Err(_) => return Err(RunError::Failed("timely's network threads failed".into())),
    }
    bar.set_length(shared.counters.total.load(Ordering::Relaxed));
    bar.set_position(shared.counters.read.load(Ordering::Relaxed));
    Ok(())
}

fn worker_main(
    worker: &mut timely::worker::Worker,
    shared: &Arc<RunContext>,
) -> Result<(), WorkerError> {
    let index = worker.index();
    // The leader set it before starting; its followers' workers learn it here.
    let tell = (index == 0 && shared.topology.processes > 1)
        .then(|| {
            shared
                .resumed_if_known()
                .and_then(|r| r.checkpoint.as_ref())
        })
        .flatten();
    let checkpoint =
        cluster::handshake(worker, shared.topology.process, &shared.config_hash, tell)?;
    shared.resume_from(|| Resumed::new(checkpoint));
    // A follower's samples are read by no trigger probe, and trained by the leader once
    // shipped: what a lane retires goes once shipped (`ship.rs`). Nor does a lane's probe that
    // reads its window on worker 0 read the leader's store.
    let follower = !shared.topology.leads() && shared.sharded();
    for l in (0..shared.lanes.len()).filter(|&l| follower || shared.probe_window(l)) {
        shared.samples.retain_from(l, Position::MAX);
    }
    if follower && let Some(cp) = &shared.resumed().checkpoint {
        shared.samples.trained(0, cp.trigger_id);
    }
    let queues = shared
        .lanes
        .iter()
        .map(|lane| {
            (index == 0)
                .then(|| {
                    lane.trainer_queue
                        .lock()
                        .expect("queue slot poisoned")
                        .take()
                })
                .flatten()
        })
        .collect();
    shared.clock.register(worker);
    let graph = worker.dataflow::<u64, _, _>(|scope| dataflow::build(scope, shared, queues));
    let mut lanes = LaneLoop::default();
    let mut seen = Vec::new();
    for (l, lane) in graph.lanes.into_iter().enumerate() {
        lanes
            .feedback
            .push(dataflow::FeedbackPump::new(index, lane.feedback, shared, l));
        lanes.probes.push(lane.probe);
        lanes.probes.push(lane.seen_probe);
        lanes.trainers.push(lane.trainer);
        seen.push(lane.seen);
    }
    let limit = shared.replay.max_triggers;
    let reached = limit.is_some_and(|max| shared.first_trigger_id() >= max);
    let mut between = Between {
        shared: shared.clone(),
        reached: vec![reached; seen.len()],
        seen,
        reports: Some(graph.reports),
        notices: (index == 0).then_some(graph.notices),
        noticed: u64::MAX,
        forget_before: graph.forget_before,
        stop: limit,
        stopped: reached,
    };
    let result = feed(worker, shared, graph.input, &mut lanes, &mut between);
    if let Err(e) = result {
        shared.fail(e.to_string());
    }
    // Everything this worker has to say is said: close its streams, and keep the dataflow
    // moving until every worker has closed them (the leader's worker 0 applies the reports).
    between.close();
    while !graph.reports_probe.done() || !lanes.done() {
        if let Err(e) = cluster::step(worker, Some(Duration::from_millis(10))) {
            // Reports may be lost with the process: checkpoints could miss their pieces.
            shared.fail(e.to_string());
            break;
        }
    }
    Ok(())
}

/// A worker's handles on its lanes (a sweep's variants, else one): the trainers' feedback, the
/// progress of training sets and triggers, the training queues.
#[derive(Default)]
struct LaneLoop {
    feedback: Vec<dataflow::FeedbackPump>,
    probes: Vec<timely::dataflow::ProbeHandle<u64>>,
    trainers: Vec<sinks::TrainerQueue>,
}

impl LaneLoop {
    /// Moves the trainers' feedback into the dataflow, at the ingestion watermark `now`.
    fn pump(&mut self, now: u64) {
        for f in &mut self.feedback {
            f.pump(now);
        }
    }

    /// Whether feedback may still arrive from some trainer.
    fn feedback_open(&self) -> bool {
        self.feedback.iter().any(dataflow::FeedbackPump::open)
    }

    /// Every training set out and every trigger seen.
    fn done(&self) -> bool {
        self.probes.iter().all(|p| p.done())
    }

    /// Moves waiting training sets into the queues; false once a trainer stopped.
    fn flush(&self) -> bool {
        self.trainers.iter().all(sinks::TrainerQueue::flush)
    }

    /// Training sets waiting for room in a queue.
    fn backlog(&self) -> usize {
        self.trainers.iter().map(sinks::TrainerQueue::backlog).sum()
    }

    /// Closes the queues (the trainers finish what they hold).
    fn close(&self) {
        for t in &self.trainers {
            t.close();
        }
    }
}

/// What a worker passes on between steps: restart offsets of the triggers it saw (for
/// checkpoints), a follower's reports to the leader, worker 0's notices to every worker.
struct Between {
    shared: Arc<RunContext>,
    /// Per lane, the triggers seen since the last pass.
    seen: Vec<dataflow::SeenTriggers>,
    /// Per lane, whether it reached the trigger limit.
    reached: Vec<bool>,
    reports: Option<timely::dataflow::InputHandleVec<u64, Report>>,
    /// Worker 0's notices: the event time before which checkpoints need no offset marks.
    notices: Option<timely::dataflow::InputHandleVec<u64, u64>>,
    noticed: u64,
    forget_before: std::rc::Rc<std::cell::Cell<u64>>,
    /// The trigger limit, and whether every lane reached it (the source loop stops reading).
    stop: Option<u64>,
    stopped: bool,
}

impl Between {
    fn pass(&mut self, share: &mut dyn Share) {
        self.pass_and_report(Some(share), false);
    }

    fn pass_and_report(&mut self, share: Option<&mut dyn Share>, last: bool) {
        if let Some(notices) = &mut self.notices {
            let forget = self.shared.forget_before();
            if forget != u64::MAX && forget != self.noticed {
                notices.send(forget);
                advance(notices);
                self.noticed = forget;
            }
        }
        if let Some(share) = share {
            let forget = self.forget_before.get();
            if forget != u64::MAX {
                share.forget_before(forget);
            }
            if self.shared.checkpoints() {
                for t in self.seen[0].borrow().iter() {
                    self.shared
                        .report_offsets(t.id, share.restart_offsets(t.boundary.time));
                }
            }
        }
        for (seen, reached) in self.seen.iter().zip(&mut self.reached) {
            let mut seen = seen.borrow_mut();
            *reached |= seen
                .iter()
                .any(|t| self.stop.is_some_and(|max| t.id + 1 >= max));
            seen.clear();
        }
        self.stopped = self.reached.iter().all(|r| *r);
        if let Some(reports) = &mut self.reports {
            let taken = self.shared.take_reports(last);
            if !taken.is_empty() {
                for r in taken {
                    reports.send(r);
                }
                // The leader may be waiting for these (a checkpoint's pieces).
                advance(reports);
            }
        }
    }

    /// Sends what is left and closes this worker's streams.
    fn close(&mut self) {
        self.pass_and_report(None, true);
        self.reports = None;
        self.notices = None;
    }
}

/// Sends what `input` holds on: timely's exchange keeps records it was given until its buffer
/// fills or their time closes, and the reports' and notices' times mean nothing but this.
fn advance<D: Clone + 'static>(input: &mut timely::dataflow::InputHandleVec<u64, D>) {
    let next = *input.time() + 1;
    input.advance_to(next);
}

/// Sends a batch's records into the dataflow at the input's time (never after their own event
/// time; the watermark then moves the input forward): first the payloads the checkpoint's
/// state needs, so they are stored before the samples after the boundary, then the samples
/// split among the `owners` workers that own their keys, then the deletions.
fn send_records(
    input: &mut timely::dataflow::InputHandleVec<u64, Record>,
    batch: &mut Batch,
    owners: usize,
) {
    for s in batch.restored.drain(..) {
        input.send(Record::Restored(s));
    }
    let samples = std::mem::take(&mut batch.samples);
    for rows in samples.split_by(owners, |key| owner(key, owners)) {
        if !rows.is_empty() {
            input.send(Record::New(rows));
        }
    }
    for d in batch.deletions.drain(..) {
        input.send(Record::Delete(d));
    }
}

/// Feeds this worker's share of the source into the dataflow, then runs it (and, on worker
/// 0, the trainer's feedback) to the end.
fn feed(
    worker: &mut timely::worker::Worker,
    shared: &Arc<RunContext>,
    mut input: timely::dataflow::InputHandleVec<u64, Record>,
    lanes: &mut LaneLoop,
    between: &mut Between,
) -> Result<(), WorkerError> {
    let index = worker.index();
    let plan = ReadPlan {
        resume: shared.resumed().resume.as_ref(),
        window: shared.replay.window,
        follow: shared.replay.follow,
    };
    let mut share =
        shared
            .source
            .open_share(index, worker.peers(), plan, shared.spec.source.replay_batch)?;
    shared
        .counters
        .total
        .fetch_add(share.remaining().unwrap_or(0), Ordering::Relaxed);
    let mut covered = Covered::default();
    let mut pace = shared.replay.rate.map(|r| Pace::new(r, worker.peers()));
    while !between.stopped {
        let polled = share.poll(Duration::from_millis(50))?;
        let Some(mut batch) = polled else {
            // Nothing new: keep the dataflow (and the trainer's feedback) moving.
            lanes.pump(*input.time());
            cluster::step(worker, None)?;
            between.pass(&mut *share);
            continue;
        };
        shared.clock.add_read(batch.busy);
        shared.counters.add_partitions(read_by_partition(&batch));
        for d in batch.dead.drain(..) {
            shared.dead_letter(d);
        }
        if let Some(from) = batch.from {
            if from > *input.time() {
                input.advance_to(from);
            }
            shared.counters.note_watermark(index, from);
        }
        lanes.pump(*input.time());
        for &t in &batch.samples.times {
            covered.sample(t);
        }
        send_records(&mut input, &mut batch, shared.owners());
        shared
            .counters
            .read
            .fetch_add(batch.consumed, Ordering::Relaxed);
        let due = pace.as_mut().map(|p| p.due(batch.consumed));
        match batch.watermark {
            Some(w) if w > *input.time() => {
                input.advance_to(w);
                shared.counters.note_watermark(index, w);
            }
            Some(_) => {}
            None => {
                // The last batch has no watermark: the share read everything, up to its
                // newest sample (a status written after the end shows it).
                if let Some(t) = covered.last_time {
                    shared.counters.note_watermark(index, t.max(*input.time()));
                }
                // Paced, the last inputs too are read no sooner than due.
                pace_until(due, worker, lanes, *input.time(), || {
                    between.pass(&mut *share)
                })?;
                break;
            }
        }
        cluster::step(worker, None)?;
        between.pass(&mut *share);
        wait_for_trainer(worker, lanes, shared, || between.pass(&mut *share))?;
        pace_until(due, worker, lanes, *input.time(), || {
            between.pass(&mut *share)
        })?;
    }
    covered.offsets = share
        .covered()
        .into_iter()
        .map(|(id, first, next)| (id, (first, next)))
        .collect();
    shared.cover(covered);
    let last = *input.time();
    drop(input);
    // Every training set out, and every trigger seen (their offsets are reported below).
    while !lanes.done() {
        lanes.pump(last);
        cluster::step(worker, Some(Duration::from_millis(10)))?;
        between.pass(&mut *share);
        lanes.flush();
    }
    between.pass(&mut *share);
    wait_for_trainer(worker, lanes, shared, || between.pass(&mut *share))?;
    if lanes.feedback_open() {
        // Every training set is queued: close the queues, and deliver the trainers' remaining
        // scores until they finish (each drops its end of its feedback channel).
        lanes.close();
        while lanes.feedback_open() {
            lanes.pump(last);
            cluster::step(worker, Some(Duration::from_millis(10)))?;
            between.pass(&mut *share);
        }
    }
    Ok(())
}

/// `--replay-rate`: a worker's share of the run's inputs per second.
struct Pace {
    started: Instant,
    read: u64,
    per_s: f64,
}

impl Pace {
    /// A worker's pace when `peers` workers read `rate` inputs per second together.
    fn new(rate: u64, peers: usize) -> Self {
        Self {
            started: Instant::now(),
            read: 0,
            per_s: rate as f64 / peers as f64,
        }
    }

    /// When the input after these `consumed` ones is due.
    fn due(&mut self, consumed: u64) -> Instant {
        self.read += consumed;
        self.started + Duration::from_secs_f64(self.read as f64 / self.per_s)
    }
}

/// `--replay-rate`: runs the dataflow (and the trainer's feedback) without new input until
/// `due`, when the next batch may be read (at once when not paced: `None`).
fn pace_until(
    due: Option<Instant>,
    worker: &mut timely::worker::Worker,
    lanes: &mut LaneLoop,
    time: u64,
    mut report: impl FnMut(),
) -> Result<(), ClusterError> {
    while let Some(left) = due.and_then(|d| d.checked_duration_since(Instant::now())) {
        lanes.pump(time);
        cluster::step(worker, Some(left.min(Duration::from_millis(50))))?;
        report();
    }
    Ok(())
}

/// A batch's inputs per source partition: its samples, deletions and undecodable inputs.
fn read_by_partition(batch: &Batch) -> BTreeMap<i32, PartitionCount> {
    let mut counts: BTreeMap<i32, PartitionCount> = BTreeMap::new();
    let partitions = (batch.samples.origins.iter().map(|o| o.partition))
        .chain(batch.deletions.iter().map(|d| d.origin.partition))
        .chain(batch.dead.iter().map(DeadLetter::partition));
    // Batches come mostly from one partition: count runs, not inputs.
    let mut run: Option<(i32, u64)> = None;
    for p in partitions {
        match &mut run {
            Some((q, n)) if *q == p => *n += 1,
            _ => {
                if let Some((q, n)) = run.replace((p, 1)) {
                    counts.entry(q).or_default().read += n;
                }
            }
        }
    }
    if let Some((q, n)) = run {
        counts.entry(q).or_default().read += n;
    }
    counts
}

/// Steps the dataflow without new input while training sets wait for room in the trainer's
/// queue: backpressure on ingestion that never blocks the worker (`report` keeps restart offsets
/// flowing to the checkpoint the trainer may be waiting for).
fn wait_for_trainer(
    worker: &mut timely::worker::Worker,
    queue: &LaneLoop,
    shared: &RunContext,
    mut report: impl FnMut(),
) -> Result<(), ClusterError> {
    while queue.backlog() > 0 {
        if !queue.flush() {
            shared.fail("the trainer stopped; see its error".into());
            return Ok(());
        }
        cluster::step(worker, Some(Duration::from_millis(1)))?;
        report();
    }
    Ok(())
}
