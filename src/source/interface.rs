//! What every source is to a run: an opened [`Source`] that the workers of a process share,
//! and each worker's [`Share`] of it.
//!
//! The run's feed loop, its status and its checkpoints see only these two traits. A new kind of
//! source (a watched directory, another broker) is a new file under `src/source/` implementing
//! both, plus its arm in `open.rs`.
//!
//! Time contract: a share yields [`Batch`]es in event-time order as far as the source can
//! promise it. Every sample of a batch is at or after the `from` of that batch (when given),
//! and no later batch brings a sample before this batch's `watermark`; the feed loop advances the
//! dataflow input to `from` before sending and to `watermark` after. A share's last batch has
//! no watermark.

use std::collections::BTreeMap;
use std::time::Duration;

use super::restart::{PartitionMarks, Resume};
use super::{DeadLetter, Deletion, Origin, Rows, Sample, SourceError, Window};

/// An opened source, shared by the workers of one process (each reads its own share).
pub trait Source: Send + Sync {
    /// What the source is, for people: a file's path, a topic's name. Status, dead letters and
    /// checkpoints name the source by it.
    fn name(&self) -> String;

    /// Feature column names, in feature order.
    fn feature_names(&self) -> &[String];

    /// Where a sample read at `origin` came from, as dead letters name it: `file:line` (CSV),
    /// `file#rowN` (Arrow file), `topic/partition/offset` (`#rowN` within an Arrow message).
    fn locate(&self, origin: Origin) -> String;

    /// Opens worker `worker`'s share of `peers` workers (global indexes), read in batches of up
    /// to `batch` samples.
    fn open_share(
        &self,
        worker: usize,
        peers: usize,
        plan: ReadPlan<'_>,
        batch: usize,
    ) -> Result<Box<dyn Share>, SourceError>;

    /// Whether a share reports restart offsets: a run of this source writes checkpoints and
    /// resumes after them.
    fn restartable(&self) -> bool;

    /// Whether a run reads on at the source's end (follows it) rather than stopping there,
    /// reading the event-time `window`.
    fn follows(&self, window: &Window) -> bool;

    /// `Some(why)` when `window` holds none of the source's data (a usage error before
    /// anything runs); `follow`: the run reads on at the end, where data in the window may
    /// still come.
    fn check_window(&self, window: &Window, follow: bool) -> Result<Option<String>, SourceError>;

    /// Inputs not read yet, per partition (`None`: unknown; a file is partition 0).
    /// `progress` is what the run's shares have read of what they had to read when opened
    /// (every process's).
    fn lag(&self, progress: Progress) -> Option<BTreeMap<i32, u64>>;

    /// Records `offsets` (per partition, where a resumed run reads new samples) with the
    /// source, once the checkpoint that holds them is durable (a Kafka consumer group's
    /// commit). One attempt: the caller retries.
    fn commit(&self, offsets: &BTreeMap<i32, i64>) -> Result<(), SourceError>;

    /// A replay ended normally: a source whose shares read every partition to its end records
    /// that (a Kafka consumer group commits the next offsets, so Kafka's tools show no lag).
    /// Checkpoints keep their own restart offsets: a resumed run does not read these.
    fn finish(&self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// How much a run's shares have read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Inputs read (samples and undecodable inputs).
    pub read: u64,
    /// Inputs the shares had to read when opened (unbounded shares count nothing).
    pub total: u64,
}

/// Where and how far a share reads.
#[derive(Clone, Copy, Default)]
pub struct ReadPlan<'a> {
    /// The checkpoint a resumed run starts after.
    pub resume: Option<&'a Resume>,
    /// Event times read.
    pub window: Window,
    /// Read on at the end instead of stopping at the end seen at start.
    pub follow: bool,
}

/// One worker's share of a source, read on that worker's thread.
pub trait Share {
    /// The next batch, waiting up to `timeout` (`Ok(None)`: nothing new yet). After the last
    /// batch (no watermark) every call returns `Ok(None)` at once.
    fn poll(&mut self, timeout: Duration) -> Result<Option<Batch>, SourceError>;

    /// Inputs left until the end of the replay, as opened (`None`: following, no end).
    fn remaining(&self) -> Option<u64>;

    /// Per partition, the restart offset for a trigger boundary at event time `t`, with the
    /// marks a checkpoint derives its replay offsets from (empty for sources that are not
    /// [`Source::restartable`]).
    fn restart_offsets(&mut self, t: u64) -> Vec<(i32, PartitionMarks)>;

    /// The last checkpoint needs nothing before event time `t`: restart marks before it go.
    fn forget_before(&mut self, t: u64);

    /// Per partition, the offsets read so far: `(id, first, next)` (empty for sources without
    /// offsets).
    fn covered(&self) -> Vec<(i32, i64, i64)>;
}

/// What one [`Share::poll`] brought.
#[derive(Debug, Default)]
pub struct Batch {
    /// New samples, for the dataflow.
    pub samples: Rows,
    /// Samples at or before the boundary of the checkpoint this run resumed from whose
    /// payloads the resumed operators still need (see [`Resume::needs`]): for the sample store
    /// only, not for the dataflow.
    pub restored: Vec<Sample>,
    /// Inputs that could not be decoded, or came late.
    pub dead: Vec<DeadLetter>,
    /// Deletions (Kafka tombstones), in read order, none before `from`.
    pub deletions: Vec<Deletion>,
    /// Inputs consumed (progress).
    pub consumed: u64,
    /// Wall time spent reading and decoding them.
    pub busy: Duration,
    /// Every sample of this batch and of later ones is at or after this event time: the
    /// input may advance to it before the samples go out (`None`: no such promise; they go
    /// out at the input's time).
    pub from: Option<u64>,
    /// The event-time watermark after this batch: no later batch has a sample before it;
    /// `None` marks the last batch.
    pub watermark: Option<u64>,
}
