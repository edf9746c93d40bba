//! One worker's share of a topic: partitions `p` with `p % peers == worker`, consumed by manual
//! assignment (no consumer-group rebalancing, so the split is deterministic).
//!
//! Watermark: within a partition messages are expected in event-time order (`sluice produce`
//! guarantees it). The worker's event-time watermark is the minimum over its active partitions
//! of the newest event time seen; the dataflow input advances to it, so downstream operators
//! know when a time is complete. A message older than its partition's newest time or than the
//! watermark is *late*: per `late`, it goes to the dead-letter topic or is clamped to the
//! watermark. Replaying (`until = "end"`, or a replay window) each partition stops at the end
//! offset it had when the run started and the replay is deterministic; following (`until =
//! "follow"`, the default without a window) a partition that sends nothing for
//! `idle_timeout_ms` stops holding back the watermark until it sends again.
//!
//! A replay window (`--replay-from/--replay-until`) starts each partition at the first message
//! whose *timestamp* is at or after its start (Kafka's time index; `sluice produce` stamps
//! messages with their event time), drops samples whose event time is outside it, and ends a
//! partition at its first sample at or after its end.
//!
//! [`Prefetch`] runs a reader on its own thread, a few batches ahead of the timely worker: the
//! worker never blocks in `poll`, and polling and decoding overlap with the dataflow's work.
//! Restart offsets are kept on the worker's side ([`RestartIndex`]) from what the batches
//! report, so a checkpoint never waits for the reader thread.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::admin::{KafkaError, TIMEOUT, client, consumer_config};
use super::batch::{BatchQueue, RawMessage};
use super::json::MessageMeta;
use super::value::ValueDecoder;
use crate::config::{KafkaCluster, KafkaSourceSpec, LatePolicy};
use crate::source::{
    DeadLetter, Deletion, Needs, Origin, PartitionMarks, ReadPlan, RestartIndex, Rows, Sample,
    Window, ceiling, future_reason, raw_text,
};
use sluice_dataflows::Position;

/// Partitions a worker reads: `p % peers == worker`.
pub fn partitions_of(worker: usize, peers: usize, partitions: i32) -> Vec<i32> {
    (0..partitions)
        .filter(|p| *p as usize % peers == worker)
        .collect()
}

struct Part {
    id: i32,
    /// Offset this run started reading at.
    start: i64,
    /// Messages before it were processed before the checkpoint this run resumed from: read
    /// again only for payloads, their dead letters not sent again.
    new_from: i64,
    /// Offset at which this replay stops (exclusive).
    end: i64,
    next: i64,
    newest: Option<u64>,
    last_seen: Instant,
    done: bool,
    /// Event time of the last restart mark reported.
    marked: Option<u64>,
}

/// What one [`KafkaReader::poll`] brought.
#[derive(Debug, Default)]
pub struct Polled {
    /// Decoded samples, in partition order.
    pub samples: Rows,
    /// Undecodable and late messages (or rows).
    pub dead: Vec<DeadLetter>,
    /// Tombstones (a key, no value), at their partition's watermark.
    pub deletions: Vec<Deletion>,
    /// Messages consumed.
    pub consumed: usize,
    /// Wall time the poll took (fetching and decoding), when it brought messages.
    pub busy: Duration,
    /// The event-time watermark after this batch: no later batch has a sample before it;
    /// `None` when every partition reached its end (the last batch).
    pub watermark: Option<u64>,
    /// Samples at or before the boundary of the checkpoint this run resumed from whose
    /// payloads the resumed operators still need (see [`Resume::needs`]): for the sample store
    /// only, not for the dataflow.
    pub restored: Vec<Sample>,
    /// (partition, event time, offset of the first message with that time), for each time a
    /// partition moved to.
    marks: Vec<(i32, u64, i64)>,
    /// (partition, next offset) of the partitions read.
    next: Vec<(i32, i64)>,
}

/// Reads a whole topic, every partition from its first offset to the end offset it has now
/// (an evaluation dataset): its samples in partition order, and the messages (or rows) that
/// could not be decoded. Event times are kept as they are: evaluation has no watermark.
pub fn read_topic(
    cluster: &KafkaCluster,
    topic: &str,
    mut decoder: ValueDecoder,
) -> Result<(Vec<Sample>, Vec<DeadLetter>), KafkaError> {
    let partitions = super::admin::topic_partitions(cluster, topic)?.ok_or_else(|| {
        KafkaError::MissingTopic {
            brokers: cluster.brokers.clone(),
            topic: topic.into(),
        }
    })?;
    let client = |context: &str, e| client(&format!("{context} of {topic}"), e);
    let consumer: BaseConsumer = consumer_config(cluster, "sluice-eval")
        .create()
        .map_err(|e| client("creating a consumer", e))?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(|e| client("offsets", e))?;
        if high > low {
            tpl.add_partition_offset(topic, p, Offset::Offset(low))
                .map_err(|e| client("assigning partitions", e))?;
            ends.insert(p, high);
        }
    }
    consumer
        .assign(&tpl)
        .map_err(|e| client("assigning partitions", e))?;
    let mut samples = Rows::new(decoder.feature_names().len());
    let (mut dead, mut bad) = (Vec::new(), Vec::new());
    while !ends.is_empty() {
        let msg = match consumer.poll(TIMEOUT) {
            None => {
                return Err(KafkaError::Unreachable {
                    brokers: cluster.brokers.clone(),
                    message: format!("no message from {topic} within {TIMEOUT:?}"),
                });
            }
            Some(Err(e)) => return Err(client("reading", e)),
            Some(Ok(m)) => m,
        };
        let (p, offset) = (msg.partition(), msg.offset());
        let Some(&end) = ends.get(&p) else { continue };
        if offset >= end {
            continue;
        }
        if offset + 1 >= end {
            ends.remove(&p);
        }
        let meta = MessageMeta {
            key: msg.key(),
            timestamp_ms: msg.timestamp().to_millis(),
            partition: p,
            offset,
        };
        let at = format!("{topic}/{p}/{offset}");
        if let Err(reason) = decoder.decode(msg.payload(), &meta, &mut samples, &mut bad) {
            dead.push(DeadLetter {
                location: at.clone(),
                reason,
                raw: raw(msg.payload()),
            });
        }
        for (row, reason) in bad.drain(..) {
            dead.push(DeadLetter {
                location: format!("{at}#row{row}"),
                reason,
                raw: String::new(),
            });
        }
    }
    Ok((samples.samples().collect(), dead))
}

/// A partition's offsets, and those of a replay window in it.
struct PartWindow {
    id: i32,
    /// First offset.
    low: i64,
    /// End offset.
    high: i64,
    /// First offset with a timestamp at or after the window's start (open: `low`).
    from: i64,
    /// First offset with a timestamp at or after the window's end (open: `high`).
    until: i64,
}

/// Per partition of `topic` in `ids`, its offsets and the window's (found by timestamp;
/// `high` when no message is at or after the time).
fn window_offsets(
    consumer: &BaseConsumer,
    topic: &str,
    ids: &[i32],
    window: &Window,
) -> Result<Vec<PartWindow>, KafkaError> {
    let mut ends = Vec::new();
    for &id in ids {
        let (low, high) = consumer
            .fetch_watermarks(topic, id, TIMEOUT)
            .map_err(|e| client(&format!("offsets of {topic}/{id}"), e))?;
        ends.push((id, low, high));
    }
    let seek = |t: Option<u64>, open: fn(i64, i64) -> i64| -> Result<Vec<i64>, KafkaError> {
        let Some(t) = t else {
            return Ok(ends.iter().map(|&(_, l, h)| open(l, h)).collect());
        };
        let mut tpl = TopicPartitionList::new();
        for &(id, _, _) in &ends {
            tpl.add_partition_offset(topic, id, Offset::Offset(t as i64))
                .map_err(|e| client("seeking by time", e))?;
        }
        let found = consumer
            .offsets_for_times(tpl, TIMEOUT)
            .map_err(|e| client(&format!("seeking {topic} to a time"), e))?;
        Ok(ends
            .iter()
            .map(|&(id, low, high)| {
                match found.find_partition(topic, id).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o.clamp(low, high),
                    // No message at or after `t`.
                    _ => high,
                }
            })
            .collect())
    };
    let from = seek(window.from, |low, _| low)?;
    let until = seek(window.until, |_, high| high)?;
    Ok(ends
        .iter()
        .zip(from.into_iter().zip(until))
        .map(|(&(id, low, high), (from, until))| PartWindow {
            id,
            low,
            high,
            from,
            until,
        })
        .collect())
}

/// Whether a replay window holds data of the topic: `Some(why not)`, naming the window and
/// the range the topic's timestamps span, when it does not. Following, a window after the
/// data is fine (it may come); one before it is not.
pub fn check_window(
    spec: &KafkaSourceSpec,
    partitions: i32,
    window: &Window,
    follow: bool,
) -> Result<Option<String>, KafkaError> {
    let consumer: BaseConsumer = consumer_config(&spec.cluster, "sluice-window")
        .create()
        .map_err(|e| client("creating a consumer", e))?;
    let ids: Vec<i32> = (0..partitions).collect();
    let offsets = window_offsets(&consumer, &spec.topic, &ids, window)?;
    let held: Vec<&PartWindow> = offsets.iter().filter(|p| p.low < p.high).collect();
    let inside = held.iter().any(|p| p.from < p.until);
    // Following, only a topic whose every partition starts at or after the window's end can
    // never bring samples in it.
    let before =
        !held.is_empty() && held.len() == offsets.len() && held.iter().all(|p| p.until == p.low);
    if inside || (follow && !before) {
        return Ok(None);
    }
    let what = if held.is_empty() {
        "the topic holds no messages".to_string()
    } else {
        let span = first_and_last_times(&consumer, &spec.topic, &held)
            .map(|(a, b)| {
                format!(
                    "its message timestamps span {} to {}",
                    crate::calendar::format_time(a),
                    crate::calendar::format_time(b)
                )
            })
            .unwrap_or_else(|| "no message timestamp is in it".into());
        format!("no message is in it: {span}")
    };
    Ok(Some(format!(
        "the replay window {window} is outside the data of topic `{}`: {what}",
        spec.topic
    )))
}

/// The least timestamp of the partitions' first messages and the greatest of their last ones.
fn first_and_last_times(
    consumer: &BaseConsumer,
    topic: &str,
    parts: &[&PartWindow],
) -> Option<(u64, u64)> {
    let mut times = Vec::new();
    for p in parts {
        let id = p.id;
        for offset in [p.low, p.high - 1] {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(topic, id, Offset::Offset(offset))
                .ok()?;
            consumer.assign(&tpl).ok()?;
            let deadline = Instant::now() + TIMEOUT;
            while Instant::now() < deadline {
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) if m.partition() == id && m.offset() == offset => {
                        if let Some(t) = m
                            .timestamp()
                            .to_millis()
                            .and_then(|t| u64::try_from(t).ok())
                        {
                            times.push(t);
                        }
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    Some((*times.iter().min()?, *times.iter().max()?))
}

/// Reads one worker's partitions.
pub struct KafkaReader {
    /// The consumer's queue, read in batches (declared first: dropped before the consumer).
    batch: BatchQueue,
    consumer: BaseConsumer,
    topic: String,
    parts: Vec<Part>,
    decoder: ValueDecoder,
    late: LatePolicy,
    /// `source.max_future`: how far ahead of the wall clock an event time may be.
    max_future_ms: Option<u64>,
    follow: bool,
    window: Window,
    idle: Duration,
    floor: u64,
    skip_until: Option<(Position, Needs)>,
}

impl KafkaReader {
    /// Assigns this worker's partitions of a topic with `partitions` partitions, from the
    /// beginning (of the plan's window) or from a checkpoint's offsets.
    pub fn open(
        spec: &KafkaSourceSpec,
        decoder: ValueDecoder,
        group: &str,
        (worker, peers): (usize, usize),
        partitions: i32,
        plan: ReadPlan<'_>,
    ) -> Result<Self, KafkaError> {
        let ReadPlan {
            resume,
            window,
            follow,
        } = plan;
        let consumer: BaseConsumer = consumer_config(&spec.cluster, group)
            .create()
            .map_err(|e| client("creating a consumer", e))?;
        let mut parts = Vec::new();
        let mut tpl = TopicPartitionList::new();
        let ids = partitions_of(worker, peers, partitions);
        let offsets = window_offsets(&consumer, &spec.topic, &ids, &window).map_err(|e| {
            KafkaError::Unreachable {
                brokers: spec.cluster.brokers.clone(),
                message: e.to_string(),
            }
        })?;
        for PartWindow {
            id,
            low,
            high,
            from,
            ..
        } in offsets
        {
            let end = if follow { i64::MAX } else { high };
            let start = resume
                .and_then(|r| r.offsets.get(&id).copied())
                .unwrap_or(from)
                .max(low);
            let replay = resume
                .and_then(|r| r.replay_from.get(&id).copied())
                .map_or(start, |r| r.min(start));
            if replay < low {
                return Err(KafkaError::Client {
                    context: format!("resuming {}/{id}", spec.topic),
                    message: format!(
                        "the checkpoint needs the samples from offset {replay} on, but the \
                         partition starts at {low} now (retention deleted them); start a new \
                         run directory"
                    ),
                });
            }
            let start = replay;
            let done = start >= end;
            if !done {
                tpl.add_partition_offset(&spec.topic, id, Offset::Offset(start))
                    .map_err(|e| KafkaError::Client {
                        context: "assigning partitions".into(),
                        message: e.to_string(),
                    })?;
            }
            parts.push(Part {
                id,
                end,
                start,
                new_from: resume
                    .and_then(|r| r.offsets.get(&id).copied())
                    .unwrap_or(start),
                next: start,
                newest: None,
                last_seen: Instant::now(),
                done,
                marked: None,
            });
        }
        consumer.assign(&tpl).map_err(|e| KafkaError::Client {
            context: "assigning partitions".into(),
            message: e.to_string(),
        })?;
        let max_future_ms = decoder.columns().max_future_ms;
        let batch = BatchQueue::of(&consumer, BATCH).ok_or_else(|| KafkaError::Client {
            context: format!("reading {}", spec.topic),
            message: "the consumer has no message queue".into(),
        })?;
        Ok(Self {
            batch,
            consumer,
            topic: spec.topic.clone(),
            parts,
            decoder,
            late: spec.late,
            max_future_ms,
            follow,
            window,
            idle: Duration::from_millis(spec.idle_timeout_ms),
            floor: resume.map_or(0, |r| r.boundary.time),
            skip_until: resume.map(|r| (r.boundary, r.needs.clone())),
        })
    }

    /// Messages left until the replay's end offsets (`None` when following).
    pub fn remaining(&self) -> Option<u64> {
        (!self.follow).then(|| {
            self.parts
                .iter()
                .map(|p| (p.end - p.next).max(0) as u64)
                .sum()
        })
    }

    /// The restart index for this reader's partitions, as opened.
    fn restart_index(&self) -> RestartIndex {
        RestartIndex::new(self.parts.iter().map(|p| (p.id, p.start, p.next)))
    }

    /// Polls up to `max` messages (for up to 100 ms while none came, then until 10 ms have
    /// passed) into `out`, and sets its watermark.
    pub fn poll(&mut self, max: usize, out: &mut Polled) {
        let dim = self.decoder.feature_names().len();
        if out.samples.dim() != dim {
            out.samples = Rows::new(dim);
        }
        let mut consumed = 0;
        let mut intake = Intake {
            topic: &self.topic,
            decoder: &mut self.decoder,
            bad: Vec::new(),
            window: &self.window,
            skip_until: self.skip_until.as_ref(),
            late: self.late,
            floor: self.floor,
            ceiling: ceiling(self.max_future_ms),
        };
        let started = Instant::now();
        while consumed < max {
            // Take what is queued without waiting; read the clock (which costs as much as a
            // small message) only to wait for more, and every 256 messages.
            if consumed % 256 == 255 && started.elapsed() > batch_budget(consumed) {
                break;
            }
            let Some(msg) = next_message(&mut self.batch, &self.topic, consumed, started) else {
                break;
            };
            let Some(part) = self.parts.iter_mut().find(|p| p.id == msg.partition()) else {
                continue;
            };
            if !part.take(msg.offset(), started) {
                continue;
            }
            consumed += 1;
            if msg.payload().is_none()
                && let Some(key) = msg.key()
            {
                intake.tombstone(key, msg.offset(), part, out);
                continue;
            }
            let base = out.samples.len();
            intake.decode(&msg, part, out);
            if intake.route_samples(&msg, part, out, base) {
                part.end_at_next();
                pause(&self.consumer, &self.topic, part.id);
            }
        }
        self.finish_batch(consumed, started, out);
    }

    /// Closes a batch: the partitions' next offsets, the messages consumed, the time it took
    /// and the watermark.
    fn finish_batch(&mut self, consumed: usize, started: Instant, out: &mut Polled) {
        out.next = self.parts.iter().map(|p| (p.id, p.next)).collect();
        out.consumed += consumed;
        if consumed > 0 {
            out.busy += started.elapsed();
        }
        out.watermark = self.watermark();
    }

    /// The event-time watermark after what was polled: `Some(t)` means no sample earlier than
    /// `t` will come from these partitions; `None` means every partition reached its end.
    fn watermark(&mut self) -> Option<u64> {
        let now = Instant::now();
        let mut active = self.parts.iter().filter(|p| !p.done).peekable();
        active.peek()?;
        let w = active
            .filter(|p| !(self.follow && now.duration_since(p.last_seen) > self.idle))
            .map(|p| p.newest.unwrap_or(0))
            .min()
            .unwrap_or(self.floor);
        self.floor = self.floor.max(w);
        Some(self.floor)
    }
}

/// How long [`KafkaReader::poll`] fills a batch: up to 10 ms, or 100 ms while nothing came
/// (stepping the dataflow per handful of messages costs more than the messages).
#[inline]
fn batch_budget(consumed: usize) -> Duration {
    Duration::from_millis(if consumed == 0 { 100 } else { 10 })
}

/// Messages taken from librdkafka per call.
const BATCH: usize = 4096;

/// The next message of a batch started at `started`: one already queued, else one waited for
/// while the batch's time budget lasts. `None` ends the batch: the time is up, or the consumer
/// failed (reported, after backing off).
#[inline]
fn next_message<'q>(
    queue: &'q mut BatchQueue,
    topic: &str,
    consumed: usize,
    started: Instant,
) -> Option<RawMessage<'q>> {
    let wait = batch_budget(consumed).saturating_sub(started.elapsed());
    let m = queue.next(wait)?;
    match m.error() {
        None => Some(m),
        Some(e) => {
            // librdkafka reconnects by itself; report and back off.
            tracing::warn!(topic = %topic, "Kafka consumer: {e}");
            std::thread::sleep(Duration::from_millis(200));
            None
        }
    }
}

/// Stops fetching partition `id` of `topic` (it has nothing more for this run).
fn pause(consumer: &BaseConsumer, topic: &str, id: i32) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, id);
    if let Err(e) = consumer.pause(&tpl) {
        tracing::debug!(partition = id, "pausing a finished partition: {e}");
    }
}

impl Part {
    /// Takes the message at `offset`, seen at `now`, unless the partition is done or the offset
    /// is at or past its end: moves the partition on, done at its end.
    #[inline]
    fn take(&mut self, offset: i64, now: Instant) -> bool {
        if self.done || offset >= self.end {
            return false;
        }
        self.next = offset + 1;
        self.last_seen = now;
        if self.next >= self.end {
            self.done = true;
        }
        true
    }

    /// Reports a restart mark (the message at `offset`) when a sample moves the partition to a
    /// later event time `t`.
    #[inline]
    fn mark(&mut self, t: u64, offset: i64, marks: &mut Vec<(i32, u64, i64)>) {
        if self.marked.is_none_or(|m| m < t) {
            marks.push((self.id, t, offset));
            self.marked = Some(t);
        }
    }

    /// Ends the partition at the next offset (a sample past the replay window's end came).
    fn end_at_next(&mut self) {
        self.done = true;
        self.end = self.next;
    }
}

/// Where `origin` in `topic` is, as dead letters name it: `topic/partition/offset`, and
/// `#row<N>` for a row of a message of several (`multi_row`).
pub(super) fn location(topic: &str, origin: Origin, multi_row: bool) -> String {
    let at = At {
        topic,
        partition: origin.partition,
        offset: origin.offset,
    };
    if multi_row {
        at.row(origin.row as usize)
    } else {
        at.message()
    }
}

/// A message's place in the topic, formatted only for a dead letter.
#[derive(Clone, Copy)]
struct At<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
}

impl At<'_> {
    /// `topic/partition/offset`.
    fn message(self) -> String {
        format!("{}/{}/{}", self.topic, self.partition, self.offset)
    }

    /// `topic/partition/offset#row<row>`.
    fn row(self, row: usize) -> String {
        let at = self.message();
        format!("{at}#row{row}")
    }
}

/// What one [`KafkaReader::poll`] uses to decode and route messages, borrowed from the reader
/// apart from its consumer and partitions (a message borrows the consumer while the
/// partitions change).
struct Intake<'r> {
    topic: &'r str,
    decoder: &'r mut ValueDecoder,
    /// Rows of the message being decoded that could not be.
    bad: Vec<(usize, String)>,
    window: &'r Window,
    skip_until: Option<&'r (Position, Needs)>,
    late: LatePolicy,
    /// The watermark before the batch.
    floor: u64,
    /// Event times after this are dead-lettered (`source.max_future` past the wall clock).
    ceiling: u64,
}

impl Intake<'_> {
    /// A tombstone at `offset` of `part` for message key `key`: a deletion just after the
    /// partition's newest event time, so after every sample read before it (its own timestamp
    /// is the producer's clock, not the stream's event time), or
    /// a dead letter when the key is not a sample key. Read again after a resume (at or before
    /// the checkpoint), it was applied before and goes.
    fn tombstone(&mut self, key: &[u8], offset: i64, part: &mut Part, out: &mut Polled) {
        if offset < part.new_from {
            return;
        }
        let origin = Origin {
            partition: part.id,
            row: 0,
            offset,
        };
        let key = match super::json::message_key(key) {
            Ok(k) => k,
            Err(reason) => {
                out.dead.push(DeadLetter {
                    location: location(self.topic, origin, false),
                    reason: format!("tombstone: {reason}"),
                    raw: String::new(),
                });
                return;
            }
        };
        let time = part.newest.map_or(0, |n| n + 1).max(self.floor);
        if self.window.is_past(time) || !self.window.contains(time) {
            return;
        }
        part.mark(time, offset, &mut out.marks);
        out.deletions.push(Deletion { key, time, origin });
    }

    /// Decodes `msg` of `part` into `out.samples`; the message's or its rows' errors become
    /// dead letters, unless it is read again for payloads only.
    #[inline]
    fn decode(&mut self, msg: &RawMessage<'_>, part: &Part, out: &mut Polled) {
        let offset = msg.offset();
        let at = At {
            topic: self.topic,
            partition: part.id,
            offset,
        };
        let meta = MessageMeta {
            key: msg.key(),
            timestamp_ms: msg.timestamp_ms(),
            partition: part.id,
            offset,
        };
        // Read again for payloads only: its dead letters went out before the checkpoint.
        let again = offset < part.new_from;
        if let Err(reason) =
            self.decoder
                .decode(msg.payload(), &meta, &mut out.samples, &mut self.bad)
            && !again
        {
            out.dead.push(DeadLetter {
                location: at.message(),
                reason,
                raw: raw(msg.payload()),
            });
        }
        for (row, reason) in self.bad.drain(..) {
            if !again {
                out.dead.push(DeadLetter {
                    location: at.row(row),
                    reason,
                    raw: String::new(),
                });
            }
        }
    }

    /// Routes the samples decoded from `msg` of `part` (those of `out.samples` from `base`
    /// on): those outside the replay window go, those the resumed checkpoint covers go to
    /// `restored` (if needed), late ones are dead-lettered or clamped, the rest stay, moved
    /// down in place over those that went. Whether one was past the window's end (the
    /// partition has nothing more for this run).
    #[inline]
    fn route_samples(
        &mut self,
        msg: &RawMessage<'_>,
        part: &mut Part,
        out: &mut Polled,
        base: usize,
    ) -> bool {
        let offset = msg.offset();
        let multi_row = matches!(self.decoder, ValueDecoder::Arrow(_));
        let mut past = false;
        let mut kept = base;
        for i in base..out.samples.len() {
            let time = out.samples.times[i];
            if !self.window.contains(time) {
                // Rows of one message are in event-time order too: after one past the
                // window's end, the partition has nothing more for this run.
                past |= self.window.is_past(time);
                continue;
            }
            let position = Position {
                time,
                key: out.samples.keys[i],
            };
            if let Some((boundary, needs)) = self.skip_until
                && position <= *boundary
            {
                // Processed before the checkpoint this run resumed from: its payload goes
                // to the store if the resumed operators need it.
                part.mark(time, offset, &mut out.marks);
                if needs(position) {
                    out.restored.push(out.samples.sample(i));
                }
                continue;
            }
            let at = At {
                topic: self.topic,
                partition: part.id,
                offset,
            };
            if time > self.ceiling {
                // Before it could move the partition's watermark.
                let ceiling = self.ceiling;
                let s = out.samples.sample(i);
                out.dead
                    .push(sample_letter(at, &s, multi_row, msg.payload(), |which| {
                        future_reason(which, time, ceiling)
                    }));
                continue;
            }
            let floor = part.newest.unwrap_or(0).max(self.floor);
            if time < floor {
                match self.late {
                    LatePolicy::DeadLetter => {
                        let s = out.samples.sample(i);
                        out.dead
                            .push(sample_letter(at, &s, multi_row, msg.payload(), |which| {
                                format!(
                                    "late: {which}event time {time} is before the watermark {floor}"
                                )
                            }));
                        continue;
                    }
                    LatePolicy::Clamp => out.samples.times[i] = floor,
                }
            }
            let time = out.samples.times[i];
            part.newest = Some(part.newest.map_or(time, |n| n.max(time)));
            part.mark(time, offset, &mut out.marks);
            if kept != i {
                out.samples.move_down(i, kept);
            }
            kept += 1;
        }
        out.samples.truncate(kept);
        past
    }
}

/// The dead letter of sample `s` (late, or from the future), with the reason `reason` gives
/// for the words that name it: a message of several rows names the sample and its row, one
/// of a single row carries its payload.
fn sample_letter(
    at: At<'_>,
    s: &Sample,
    multi_row: bool,
    payload: Option<&[u8]>,
    reason: impl FnOnce(&str) -> String,
) -> DeadLetter {
    let (which, raw, location) = if multi_row {
        (
            format!("sample {}: ", s.key),
            String::new(),
            at.row(s.origin.row as usize),
        )
    } else {
        (String::new(), raw(payload), at.message())
    };
    DeadLetter {
        location,
        reason: reason(&which),
        raw,
    }
}

/// A [`KafkaReader`] polling on its own thread, up to `depth` batches ahead.
pub struct Prefetch {
    rx: Option<Receiver<Polled>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    index: RestartIndex,
    finished: bool,
    topic: String,
}

impl Prefetch {
    /// Starts polling `reader` in batches of up to `batch` messages.
    pub fn spawn(mut reader: KafkaReader, batch: usize, depth: usize) -> std::io::Result<Self> {
        let index = reader.restart_index();
        let topic = reader.topic.clone();
        let (tx, rx): (SyncSender<Polled>, _) = sync_channel(depth);
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("kafka:{}", reader.topic))
            .spawn(move || {
                while !halt.load(Ordering::Relaxed) {
                    let mut p = Polled::default();
                    reader.poll(batch, &mut p);
                    let last = p.watermark.is_none();
                    // A closed channel: the worker is gone.
                    if tx.send(p).is_err() || last {
                        break;
                    }
                }
            })?;
        Ok(Self {
            rx: Some(rx),
            stop,
            thread: Some(thread),
            index,
            finished: false,
            topic,
        })
    }

    /// The next batch, waiting up to `timeout` (`Ok(None)` when none came). After the last
    /// batch (watermark `None`) every call returns `Ok(None)` at once.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Polled>, String> {
        if self.finished {
            return Ok(None);
        }
        let rx = self.rx.as_ref().expect("receiver lives until drop");
        match rx.recv_timeout(timeout) {
            Ok(p) => {
                self.index.apply(&p.marks, &p.next);
                self.finished = p.watermark.is_none();
                Ok(Some(p))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                Err("the Kafka reader thread stopped unexpectedly".into())
            }
        }
    }

    /// Restart offsets for a boundary at event time `t`, from the batches received so far
    /// (see [`RestartIndex::restart_offsets`]).
    pub fn restart_offsets(&mut self, t: u64) -> Vec<(i32, PartitionMarks)> {
        self.index.restart_offsets(t)
    }

    /// See [`RestartIndex::forget_before`].
    pub fn forget_before(&mut self, t: u64) {
        self.index.forget_before(t);
    }

    /// Per partition, the offsets this run read: (id, first, next), from the batches received.
    pub fn covered(&self) -> Vec<(i32, i64, i64)> {
        self.index.covered()
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Closing the channel releases a reader blocked on a full queue.
        drop(self.rx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn raw(payload: Option<&[u8]>) -> String {
    payload.map(raw_text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_split_round_robin() {
        assert_eq!(partitions_of(0, 2, 5), vec![0, 2, 4]);
        assert_eq!(partitions_of(1, 2, 5), vec![1, 3]);
        assert_eq!(partitions_of(3, 4, 2), Vec::<i32>::new());
    }
}
