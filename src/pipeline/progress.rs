//! How far a run is: inputs read and stored, dead letters, per-worker watermarks, what the
//! workers covered of the source. Shared by the workers, the status writer and the summary
//! (a narrow handle: counters only).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::source::Progress;

/// What a run read of its source: recorded in `run.json` (over every start of a resumed run)
/// and `summary.json` (this start's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Covered {
    /// Kafka: per partition, the offsets read, `[first, next)`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offsets: BTreeMap<i32, (i64, i64)>,
    /// Samples that entered the dataflow.
    pub samples: u64,
    /// Their least event time (Unix ms).
    pub first_time: Option<u64>,
    /// Their greatest event time (Unix ms).
    pub last_time: Option<u64>,
}

impl Covered {
    pub(super) fn sample(&mut self, time: u64) {
        self.samples += 1;
        self.widen(time);
    }

    /// Widens the event-time range to `time`.
    fn widen(&mut self, time: u64) {
        self.first_time = Some(self.first_time.map_or(time, |t| t.min(time)));
        self.last_time = Some(self.last_time.map_or(time, |t| t.max(time)));
    }

    /// Adds what `other` read (another worker's, or another start's).
    pub(super) fn merge(&mut self, other: Covered) {
        for (id, (first, next)) in other.offsets {
            let e = self.offsets.entry(id).or_insert((first, next));
            *e = (e.0.min(first), e.1.max(next));
        }
        self.samples += other.samples;
        for t in other.first_time.into_iter().chain(other.last_time) {
            self.widen(t);
        }
    }
}

/// A process's counters of its run.
#[derive(Default)]
pub struct Counters {
    /// Inputs read (the leader's: its followers' too).
    pub read: AtomicU64,
    /// Inputs the shares had to read when opened.
    pub total: AtomicU64,
    /// Samples decoded and stored.
    pub ingested: AtomicU64,
    /// Dead letters.
    pub dead: AtomicU64,
    /// Copies of a stored key dropped (`[source] duplicates = "keep_first"`).
    pub duplicates: AtomicU64,
    /// Deletions read (Kafka tombstones).
    pub deletions: AtomicU64,
    /// Samples stored in place of an earlier sample of their key
    /// (`[source] duplicates = "keep_last"`; counted in `ingested` too).
    pub replaced: AtomicU64,
    /// The most samples this process held at once: its store's, and those of the training
    /// sets shipped to it (checked after each insert).
    pub peak_stored: AtomicU64,
    /// Samples of training sets shipped to this process (`ship.rs`) that the trainer has not
    /// let go yet.
    pub shipped: std::sync::Arc<AtomicU64>,
    /// Workers of this process that finished.
    pub finished_workers: AtomicUsize,
    /// Worker threads of this process.
    threads: usize,
    /// Per worker (global index), the event time its input reached.
    watermarks: Mutex<BTreeMap<usize, u64>>,
    /// What the workers read (the leader's: followers report theirs).
    covered: Mutex<Covered>,
    /// Per source partition, inputs read and dead letters (the leader's: its followers' too).
    partitions: Mutex<BTreeMap<i32, PartitionCount>>,
}

/// A source partition's inputs read (samples, deletions and undecodable inputs) and dead
/// letters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionCount {
    /// Inputs read.
    pub read: u64,
    /// Dead letters.
    pub dead: u64,
}

impl Counters {
    /// Counters for a process with `threads` workers.
    pub fn new(threads: usize) -> Self {
        Self {
            threads,
            ..Self::default()
        }
    }

    /// Worker `worker`'s input reached event time `t`.
    pub fn note_watermark(&self, worker: usize, t: u64) {
        self.watermarks
            .lock()
            .expect("watermarks poisoned")
            .insert(worker, t);
    }

    /// The event time every worker's input reached (this process's workers).
    pub fn watermark(&self) -> Option<u64> {
        let w = self.watermarks.lock().expect("watermarks poisoned");
        (w.len() == self.threads)
            .then(|| w.values().min().copied())
            .flatten()
    }

    /// Starts a resumed run's counts from its checkpoint's (the run's so far).
    pub fn go_on_from(&self, tally: &super::checkpoint::Tally) {
        self.ingested.store(tally.samples, Ordering::Relaxed);
        self.dead.store(tally.dead_letters, Ordering::Relaxed);
        self.duplicates.store(tally.duplicates, Ordering::Relaxed);
        self.deletions.store(tally.deletions, Ordering::Relaxed);
        self.replaced.store(tally.replaced, Ordering::Relaxed);
    }

    /// Samples stored.
    pub fn count_ingested(&self, n: usize) {
        self.ingested.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The process's store holds `n` samples now (besides the shipped ones).
    pub fn note_stored(&self, n: usize) {
        let held = n as u64 + self.shipped.load(Ordering::Relaxed);
        self.peak_stored.fetch_max(held, Ordering::Relaxed);
    }

    /// The counters of what a store does: samples stored, duplicates dropped, deletions,
    /// replacements.
    fn store_counters(&self) -> [&AtomicU64; 4] {
        [
            &self.ingested,
            &self.duplicates,
            &self.deletions,
            &self.replaced,
        ]
    }

    /// What this process's store did (see `store_counters`).
    pub fn stored(&self) -> [u64; 4] {
        self.store_counters().map(|c| c.load(Ordering::Relaxed))
    }

    /// Adds what a follower's store did (see [`stored`](Self::stored)).
    pub fn add_stored(&self, n: [u64; 4]) {
        for (c, n) in self.store_counters().into_iter().zip(n) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Adds to partitions' counts (a batch's, or a follower's since its last report).
    pub fn add_partitions(&self, counts: impl IntoIterator<Item = (i32, PartitionCount)>) {
        let mut all = self.partitions.lock().expect("partition counts poisoned");
        for (p, c) in counts {
            let n = all.entry(p).or_default();
            n.read += c.read;
            n.dead += c.dead;
        }
    }

    /// Per source partition, what was read so far.
    pub fn partitions(&self) -> BTreeMap<i32, PartitionCount> {
        self.partitions
            .lock()
            .expect("partition counts poisoned")
            .clone()
    }

    /// What the shares read of what they had to.
    pub fn progress(&self) -> Progress {
        Progress {
            read: self.read.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
        }
    }

    /// Adds what a worker (or a follower's workers) read.
    pub fn cover(&self, c: Covered) {
        self.covered.lock().expect("covered poisoned").merge(c);
    }

    /// What the workers read, taken.
    pub fn take_covered(&self) -> Covered {
        std::mem::take(&mut *self.covered.lock().expect("covered poisoned"))
    }

    /// Whether every worker of this process finished.
    pub fn all_finished(&self) -> bool {
        self.finished_workers.load(Ordering::SeqCst) == self.threads
    }
}

/// A lane's counters that the status and the summary read.
#[derive(Default)]
pub struct LaneProgress {
    /// Triggers emitted.
    pub triggers: AtomicU64,
    /// Training sets queued for the trainer and not yet trained.
    pub queued: AtomicU64,
    /// Per-sample scores fed back by the trainer.
    pub scores: AtomicU64,
    /// The stage clock at the previous training set (see [`StageClock::split_ms`](super::cost::StageClock::split_ms)).
    pub split: super::cost::Split,
}
