//! One worker's share of a topic: partitions `p` with `p % peers == worker`, consumed by manual
//! assignment (no consumer-group rebalancing, so the split is deterministic).
//!
//! Watermark: within a partition messages are expected in event-time order (`sluice produce`
//! guarantees it). The worker's event-time watermark is the minimum over its active partitions
//! of the newest event time seen; the dataflow input advances to it, so downstream operators
//! know when a time is complete. A message older than its partition's newest time or than the
//! watermark is *late*: per `late`, it goes to the dead-letter topic or is clamped to the
//! watermark. With `until = "end"` each partition stops at the end offset it had when the run
//! started and the replay is deterministic; with `until = "follow"` a partition that sends
//! nothing for `idle_timeout_ms` stops holding back the watermark until it sends again.
//!
//! [`Prefetch`] runs a reader on its own thread, a few batches ahead of the timely worker: the
//! worker never blocks in `poll`, and polling and decoding overlap with the dataflow's work.
//! Restart offsets are kept on the worker's side ([`RestartIndex`]) from what the batches
//! report, so a checkpoint never waits for the reader thread.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::admin::{KafkaError, TIMEOUT, consumer_config};
use super::json::MessageMeta;
use super::value::ValueDecoder;
use crate::config::{KafkaSourceSpec, LatePolicy, Until};
use crate::source::{DeadLetter, Sample};
use sluice_dataflows::Position;

/// Partitions a worker reads: `p % peers == worker`.
pub fn partitions_of(worker: usize, peers: usize, partitions: i32) -> Vec<i32> {
    (0..partitions)
        .filter(|p| *p as usize % peers == worker)
        .collect()
}

struct Part {
    id: i32,
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
    pub samples: Vec<Sample>,
    /// Undecodable and late messages (or rows).
    pub dead: Vec<DeadLetter>,
    /// Messages consumed.
    pub consumed: usize,
    /// Wall time the poll took (fetching and decoding), when it brought messages.
    pub busy: Duration,
    /// The event-time watermark after this batch: no later batch has a sample before it;
    /// `None` when every partition reached its end (the last batch).
    pub watermark: Option<u64>,
    /// (partition, event time, offset of the first message with that time), for each time a
    /// partition moved to.
    marks: Vec<(i32, u64, i64)>,
    /// (partition, next offset) of the partitions read.
    next: Vec<(i32, i64)>,
}

/// Per partition, where a run resumed at an event-time boundary must start reading: the
/// worker's view of what the batches it received covered.
#[derive(Clone, Debug, Default)]
pub struct RestartIndex {
    /// (event times with their first offsets since the last checkpoint, next offset).
    parts: BTreeMap<i32, (VecDeque<(u64, i64)>, i64)>,
}

impl RestartIndex {
    /// Takes in a batch's marks.
    pub fn apply(&mut self, p: &Polled) {
        for &(id, t, offset) in &p.marks {
            if let Some((times, _)) = self.parts.get_mut(&id) {
                times.push_back((t, offset));
            }
        }
        for &(id, next) in &p.next {
            if let Some((_, n)) = self.parts.get_mut(&id) {
                *n = next;
            }
        }
    }

    /// Per partition, the offset from which a run resumed at a boundary at event time `t` must
    /// read (the first message at or after `t`, else the next offset); forgets what is before
    /// `t`.
    pub fn restart_offsets(&mut self, t: u64) -> Vec<(i32, i64)> {
        self.parts
            .iter_mut()
            .map(|(id, (times, next))| {
                while times.front().is_some_and(|(pt, _)| *pt < t) {
                    times.pop_front();
                }
                (*id, times.front().map_or(*next, |(_, o)| *o))
            })
            .collect()
    }
}

/// Where a resumed run starts: per-partition offsets, and the boundary at or before which
/// samples were already processed.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    /// Offset to start each partition at (partitions not listed start at the beginning).
    pub offsets: BTreeMap<i32, i64>,
    /// Samples at or before this position are skipped.
    pub boundary: Position,
}

/// Reads a whole topic, every partition from its first offset to the end offset it has now
/// (an evaluation dataset): its samples in partition order, and the messages (or rows) that
/// could not be decoded. Event times are kept as they are: evaluation has no watermark.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    mut decoder: ValueDecoder,
) -> Result<(Vec<Sample>, Vec<DeadLetter>), KafkaError> {
    let partitions = super::admin::topic_partitions(brokers, topic)?.ok_or_else(|| {
        KafkaError::MissingTopic {
            brokers: brokers.into(),
            topic: topic.into(),
        }
    })?;
    let client = |context: &str, e: rdkafka::error::KafkaError| KafkaError::Client {
        context: format!("{context} of {topic}"),
        message: e.to_string(),
    };
    let consumer: BaseConsumer = consumer_config(brokers, "sluice-eval")
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
    let (mut samples, mut dead, mut bad) = (Vec::new(), Vec::new(), Vec::new());
    while !ends.is_empty() {
        let msg = match consumer.poll(TIMEOUT) {
            None => {
                return Err(KafkaError::Unreachable {
                    brokers: brokers.into(),
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
    Ok((samples, dead))
}

/// Reads one worker's partitions.
pub struct KafkaReader {
    consumer: BaseConsumer,
    topic: String,
    parts: Vec<Part>,
    decoder: ValueDecoder,
    late: LatePolicy,
    follow: bool,
    idle: Duration,
    floor: u64,
    skip_until: Option<Position>,
    /// Samples of the message being decoded.
    scratch: Vec<Sample>,
}

const MAX_RAW: usize = 1024;

impl KafkaReader {
    /// Assigns this worker's partitions of a topic with `partitions` partitions, from the
    /// beginning or from a checkpoint's offsets.
    pub fn open(
        spec: &KafkaSourceSpec,
        decoder: ValueDecoder,
        group: &str,
        worker: usize,
        peers: usize,
        partitions: i32,
        resume: Option<&Resume>,
    ) -> Result<Self, KafkaError> {
        let consumer: BaseConsumer =
            consumer_config(&spec.brokers, group)
                .create()
                .map_err(|e| KafkaError::Client {
                    context: "creating a consumer".into(),
                    message: e.to_string(),
                })?;
        let mut parts = Vec::new();
        let mut tpl = TopicPartitionList::new();
        for id in partitions_of(worker, peers, partitions) {
            let (low, high) = consumer
                .fetch_watermarks(&spec.topic, id, TIMEOUT)
                .map_err(|e| KafkaError::Unreachable {
                    brokers: spec.brokers.clone(),
                    message: format!("offsets of {}/{id}: {e}", spec.topic),
                })?;
            let end = match spec.until {
                Until::End => high,
                Until::Follow => i64::MAX,
            };
            let start = resume
                .and_then(|r| r.offsets.get(&id).copied())
                .unwrap_or(low)
                .max(low);
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
        Ok(Self {
            consumer,
            topic: spec.topic.clone(),
            parts,
            decoder,
            late: spec.late,
            follow: spec.until == Until::Follow,
            idle: Duration::from_millis(spec.idle_timeout_ms),
            floor: resume.map_or(0, |r| r.boundary.time),
            skip_until: resume.map(|r| r.boundary),
            scratch: Vec::new(),
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
    pub fn restart_index(&self) -> RestartIndex {
        RestartIndex {
            parts: self
                .parts
                .iter()
                .map(|p| (p.id, (VecDeque::new(), p.next)))
                .collect(),
        }
    }

    /// Polls up to `max` messages (for up to 100 ms while none came, then until 10 ms have
    /// passed) into `out`, and sets its watermark.
    pub fn poll(&mut self, max: usize, out: &mut Polled) {
        let mut consumed = 0;
        let mut bad = Vec::new();
        // Fill the batch for up to 10 ms (100 ms while nothing came): stepping the dataflow per
        // handful of messages costs more than the messages.
        let started = Instant::now();
        let budget = |consumed| Duration::from_millis(if consumed == 0 { 100 } else { 10 });
        while consumed < max {
            // Take what is queued without waiting; read the clock (which costs as much as a
            // small message) only to wait for more, and every 256 messages.
            if consumed % 256 == 255 && started.elapsed() > budget(consumed) {
                break;
            }
            let polled = match self.consumer.poll(Duration::ZERO) {
                Some(m) => Some(m),
                None => match budget(consumed).checked_sub(started.elapsed()) {
                    Some(wait) => self.consumer.poll(wait),
                    None => break,
                },
            };
            let msg = match polled {
                None => break,
                Some(Err(e)) => {
                    // librdkafka reconnects by itself; report and back off.
                    tracing::warn!(topic = %self.topic, "Kafka consumer: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                    break;
                }
                Some(Ok(m)) => m,
            };
            let Some(part) = self.parts.iter_mut().find(|p| p.id == msg.partition()) else {
                continue;
            };
            let offset = msg.offset();
            if part.done || offset >= part.end {
                continue;
            }
            consumed += 1;
            part.next = offset + 1;
            part.last_seen = started;
            if part.next >= part.end {
                part.done = true;
            }
            let location = |row: Option<usize>| {
                let at = format!("{}/{}/{}", self.topic, part.id, offset);
                match row {
                    Some(r) => format!("{at}#row{r}"),
                    None => at,
                }
            };
            let meta = MessageMeta {
                key: msg.key(),
                timestamp_ms: msg.timestamp().to_millis(),
                partition: part.id,
                offset,
            };
            let multi_row = matches!(self.decoder, ValueDecoder::Arrow(_));
            if let Err(reason) =
                self.decoder
                    .decode(msg.payload(), &meta, &mut self.scratch, &mut bad)
            {
                out.dead.push(DeadLetter {
                    location: location(None),
                    reason,
                    raw: raw(msg.payload()),
                });
            }
            for (row, reason) in bad.drain(..) {
                out.dead.push(DeadLetter {
                    location: location(Some(row)),
                    reason,
                    raw: String::new(),
                });
            }
            for mut s in self.scratch.drain(..) {
                if self.skip_until.is_some_and(|b| s.meta().position() <= b) {
                    // Processed before the checkpoint this run resumed from.
                    continue;
                }
                let floor = part.newest.unwrap_or(0).max(self.floor);
                if s.time < floor {
                    match self.late {
                        LatePolicy::DeadLetter => {
                            let (which, raw) = if multi_row {
                                (format!("sample {}: ", s.key), String::new())
                            } else {
                                (String::new(), raw(msg.payload()))
                            };
                            out.dead.push(DeadLetter {
                                location: location(None),
                                reason: format!(
                                    "late: {which}event time {} is before the watermark {floor}",
                                    s.time
                                ),
                                raw,
                            });
                            continue;
                        }
                        LatePolicy::Clamp => s.time = floor,
                    }
                }
                part.newest = Some(part.newest.map_or(s.time, |n| n.max(s.time)));
                if part.marked != Some(s.time) {
                    out.marks.push((part.id, s.time, offset));
                    part.marked = Some(s.time);
                }
                out.samples.push(s);
            }
        }
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

/// A [`KafkaReader`] polling on its own thread, up to `depth` batches ahead.
pub struct Prefetch {
    rx: Option<Receiver<Polled>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    index: RestartIndex,
    finished: bool,
}

impl Prefetch {
    /// Starts polling `reader` in batches of up to `batch` messages.
    pub fn spawn(mut reader: KafkaReader, batch: usize, depth: usize) -> std::io::Result<Self> {
        let index = reader.restart_index();
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
                self.index.apply(&p);
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
    pub fn restart_offsets(&mut self, t: u64) -> Vec<(i32, i64)> {
        self.index.restart_offsets(t)
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
    let Some(p) = payload else {
        return String::new();
    };
    let p = &p[..p.len().min(MAX_RAW)];
    String::from_utf8_lossy(p).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_offsets_point_at_the_first_message_of_the_boundary_time() {
        let mut index = RestartIndex {
            parts: [(0, (VecDeque::new(), 100)), (1, (VecDeque::new(), 7))].into(),
        };
        // Partition 0: times 10 (offsets 100..), 20 (from 103), 30 (from 105); next 107.
        index.apply(&Polled {
            marks: vec![(0, 10, 100), (0, 20, 103), (1, 10, 7)],
            next: vec![(0, 105), (1, 9)],
            ..Polled::default()
        });
        index.apply(&Polled {
            marks: vec![(0, 30, 105)],
            next: vec![(0, 107)],
            ..Polled::default()
        });
        // A boundary at 20: partition 0 restarts at the first message of time 20; partition 1
        // saw nothing at or after 20, so it restarts after what it read.
        assert_eq!(index.restart_offsets(20), [(0, 103), (1, 9)]);
        // Times before the boundary are forgotten; later boundaries move on.
        assert_eq!(index.restart_offsets(25), [(0, 105), (1, 9)]);
        assert_eq!(index.restart_offsets(40), [(0, 107), (1, 9)]);
    }

    #[test]
    fn partitions_are_split_round_robin() {
        assert_eq!(partitions_of(0, 2, 5), vec![0, 2, 4]);
        assert_eq!(partitions_of(1, 2, 5), vec![1, 3]);
        assert_eq!(partitions_of(3, 4, 2), Vec::<i32>::new());
    }
}
