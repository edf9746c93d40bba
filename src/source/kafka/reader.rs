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

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::admin::{KafkaError, TIMEOUT, consumer_config};
use super::json::{JsonDecoder, MessageMeta};
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
    /// (event time, first offset with that time) of messages since the last checkpoint, for
    /// restart offsets.
    index: VecDeque<(u64, i64)>,
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

/// Reads one worker's partitions.
pub struct KafkaReader {
    consumer: BaseConsumer,
    topic: String,
    parts: Vec<Part>,
    decoder: JsonDecoder,
    late: LatePolicy,
    follow: bool,
    idle: Duration,
    floor: u64,
    skip_until: Option<Position>,
}

const MAX_RAW: usize = 1024;

impl KafkaReader {
    /// Assigns this worker's partitions of a topic with `partitions` partitions, from the
    /// beginning or from a checkpoint's offsets.
    pub fn open(
        spec: &KafkaSourceSpec,
        decoder: JsonDecoder,
        group: &str,
        worker: usize,
        peers: usize,
        partitions: i32,
        resume: Option<&Resume>,
    ) -> Result<Self, KafkaError> {
        let consumer: BaseConsumer = consumer_config(&spec.brokers, group)
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
                index: VecDeque::new(),
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

    /// Polls up to `max` messages (for up to 100 ms while none came, then until 10 ms have
    /// passed); decoded samples are appended to `out`, undecodable and late messages go to
    /// `dead`. Returns messages consumed.
    pub fn poll(
        &mut self,
        max: usize,
        out: &mut Vec<Sample>,
        dead: &mut dyn FnMut(DeadLetter),
    ) -> usize {
        let mut consumed = 0;
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
                    // librdkafka retries connections itself; report and back off.
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
            let location = || format!("{}/{}/{}", self.topic, part.id, offset);
            let meta = MessageMeta {
                key: msg.key(),
                timestamp_ms: msg.timestamp().to_millis(),
                partition: part.id,
                offset,
            };
            match self.decoder.decode(msg.payload(), &meta) {
                Ok(mut s) => {
                    if self.skip_until.is_some_and(|b| s.meta().position() <= b) {
                        // Processed before the checkpoint this run resumed from.
                        continue;
                    }
                    let floor = part.newest.unwrap_or(0).max(self.floor);
                    if s.time < floor {
                        match self.late {
                            LatePolicy::DeadLetter => {
                                dead(DeadLetter {
                                    location: location(),
                                    reason: format!(
                                        "late: event time {} is before the watermark {floor}",
                                        s.time
                                    ),
                                    raw: raw(msg.payload()),
                                });
                                continue;
                            }
                            LatePolicy::Clamp => s.time = floor,
                        }
                    }
                    part.newest = Some(part.newest.map_or(s.time, |n| n.max(s.time)));
                    if part.index.back().is_none_or(|(t, _)| *t != s.time) {
                        part.index.push_back((s.time, offset));
                    }
                    out.push(s);
                }
                Err(reason) => dead(DeadLetter {
                    location: location(),
                    reason,
                    raw: raw(msg.payload()),
                }),
            }
        }
        consumed
    }

    /// Per partition, the offset from which a run resumed at a boundary at event time `t` must
    /// read (the first message at or after `t`, else the next offset); forgets what is before `t`.
    pub fn restart_offsets(&mut self, t: u64) -> Vec<(i32, i64)> {
        self.parts
            .iter_mut()
            .map(|p| {
                while p.index.front().is_some_and(|(pt, _)| *pt < t) {
                    p.index.pop_front();
                }
                (p.id, p.index.front().map_or(p.next, |(_, o)| *o))
            })
            .collect()
    }

    /// The event-time watermark after what was polled: `Some(t)` means no sample earlier than
    /// `t` will come from these partitions; `None` means every partition reached its end.
    pub fn watermark(&mut self) -> Option<u64> {
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

fn raw(payload: Option<&[u8]>) -> String {
    let Some(p) = payload else {
        return String::new();
    };
    let p = &p[..p.len().min(MAX_RAW)];
    String::from_utf8_lossy(p).into_owned()
}

#[cfg(test)]
mod tests {
    use super::partitions_of;

    #[test]
    fn partitions_are_split_round_robin() {
        assert_eq!(partitions_of(0, 2, 5), vec![0, 2, 4]);
        assert_eq!(partitions_of(1, 2, 5), vec![1, 3]);
        assert_eq!(partitions_of(3, 4, 2), Vec::<i32>::new());
    }
}
