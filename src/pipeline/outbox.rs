//! What a follower process tells the leader ([`Outbox`]), and the run's first failure
//! ([`Failure`]), which a follower also tells.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cluster::Report;
use super::cost::StageClock;
use super::progress::Counters;

/// How often a follower reports its progress and stage costs.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// A follower's reports not yet sent to the leader (the leader's outbox is closed: it keeps
/// what it learns itself).
#[derive(Default)]
pub struct Outbox(Option<Mutex<Pending>>);

#[derive(Default)]
struct Pending {
    reports: Vec<Report>,
    /// Progress and stage costs up to the last report of them, and when it went.
    read: u64,
    total: u64,
    stored: [u64; 4],
    partitions: BTreeMap<i32, u64>,
    cost: [u64; 3],
    sent_at: Option<Instant>,
}

impl Outbox {
    /// The outbox of a follower (`follows`), else a closed one.
    pub fn new(follows: bool) -> Self {
        Self(follows.then(Mutex::default))
    }

    /// Whether this process follows: what it learns goes to the leader.
    pub fn follows(&self) -> bool {
        self.0.is_some()
    }

    /// Queues `report` for the leader (a follower).
    pub fn forward(&self, report: Report) {
        let outbox = self.0.as_ref().expect("only followers forward");
        outbox.lock().expect("outbox poisoned").reports.push(report);
    }

    /// A follower's reports since the last call, with its progress and stage costs since
    /// their last report if that is [`PROGRESS_EVERY`] ago, or if `last` (nothing in the
    /// leader).
    pub fn take(&self, counters: &Counters, clock: &StageClock, last: bool) -> Vec<Report> {
        let Some(outbox) = &self.0 else {
            return Vec::new();
        };
        let mut o = outbox.lock().expect("outbox poisoned");
        if !last && o.sent_at.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return std::mem::take(&mut o.reports);
        }
        o.sent_at = Some(Instant::now());
        let progress = counters.progress();
        let stored = counters.stored();
        let partitions: BTreeMap<i32, u64> = (counters.partitions().into_iter())
            .map(|(p, c)| (p, c.read))
            .collect();
        if (progress.read, progress.total, stored) != (o.read, o.total, o.stored)
            || partitions != o.partitions
        {
            let report = Report::Progress {
                read: progress.read - o.read,
                total: progress.total - o.total,
                stored: std::array::from_fn(|i| stored[i] - o.stored[i]),
                partitions: (partitions.iter())
                    .map(|(p, n)| (*p, n - o.partitions.get(p).copied().unwrap_or(0)))
                    .filter(|(_, n)| *n > 0)
                    .collect(),
            };
            (o.read, o.total, o.stored) = (progress.read, progress.total, stored);
            o.partitions = partitions;
            o.reports.push(report);
        }
        let cost = clock.totals_ns();
        if cost != o.cost {
            let delta = std::array::from_fn(|i| cost[i] - o.cost[i]);
            o.cost = cost;
            o.reports.push(Report::Cost(delta));
        }
        std::mem::take(&mut o.reports)
    }
}

/// The first runtime failure of a process's run: the run finishes and reports it.
pub struct Failure {
    error: Mutex<Option<String>>,
    /// A follower's failure also goes to the leader.
    outbox: Arc<Outbox>,
    process: usize,
}

impl Failure {
    /// The failure slot of process `process`, which tells the leader through `outbox`.
    pub fn new(outbox: Arc<Outbox>, process: usize) -> Self {
        Self {
            error: Mutex::new(None),
            outbox,
            process,
        }
    }

    /// Records `message` if it is the first failure.
    pub fn fail(&self, message: String) {
        let mut e = self.error.lock().expect("error slot poisoned");
        if e.is_none() {
            tracing::error!("{message}");
            *e = Some(message.clone());
            if self.outbox.follows() {
                self.outbox.forward(Report::Failed {
                    process: self.process,
                    message,
                });
            }
        }
    }

    /// The failure, taken.
    pub fn take(&self) -> Option<String> {
        self.error.lock().expect("error slot poisoned").take()
    }
}
