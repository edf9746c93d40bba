//! Events to Kafka: each kind goes to `<prefix>.<kind>` (`quickstart.triggers`,
//! `quickstart.models`, `quickstart.metrics`, `quickstart.evaluations`,
//! `quickstart.dead-letter`), one partition each so a topic keeps emission order. The message
//! key is the event's idempotent id, the value its JSON. The producer is idempotent
//! (`enable.idempotence`), so librdkafka's retries never duplicate a message.
//!
//! Exactly once across crashes: a run resumed after trigger *k* emits again every event that
//! belongs after *k* (triggers and their metrics, decisions, models and evaluations of later
//! triggers; dead letters of source messages after the checkpoint's offsets), with the same
//! ids. Some of those may have been published before the crash, even before checkpoint *k* was
//! written (the dataflow runs ahead of training). So the sink notes, for every delivered event,
//! its offset and what it belongs to ([`Tag`]); checkpoint *k* records per topic the offset of
//! the first delivered event that a resume after *k* would emit again (or the end). A resumed
//! run reads the ids from there on and does not publish those again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::artifacts::{self, Published};
use crate::config::{KafkaCluster, KafkaOutputSpec};
use crate::sink::event::STREAMS;
use crate::source::kafka::admin::{
    Deliveries, KafkaError, OnDelivered, TIMEOUT, client, client_config, deliver_all, ensure_topic,
    ensure_topic_with, send_retrying,
};

/// Publishes events to Kafka topics.
pub struct KafkaSink {
    producer: ThreadedProducer<Deliveries>,
    prefix: String,
    /// Ids already on the topics (published before a resume), not sent again, with their
    /// topic, offset and tag (kept while a later resume may emit them again too).
    published: Mutex<HashMap<String, (String, i64, Tag)>>,
    /// Per topic, the delivered events a resume may emit again, by offset.
    ledger: Ledger,
    /// Model files also go to `<prefix>.model-artifacts`.
    artifacts: bool,
}

/// What delivery reports showed, per topic.
#[derive(Default)]
struct Noted {
    /// Delivered events (offset, tag) a later checkpoint may still need.
    events: BTreeMap<String, Vec<(i64, Tag)>>,
    /// The offset after the last delivered event (the topic's end when the sink opened, until
    /// then). Reports of a partition come in offset order, so every event not noted yet lies at
    /// or after it: unlike the broker's end offset, it cannot run ahead of the notes.
    ends: BTreeMap<String, i64>,
}

type Ledger = Arc<Mutex<Noted>>;

/// What a published event belongs to, for telling whether a run resumed after a checkpoint
/// emits it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// A trigger (its `trigger_id`).
    Trigger(u64),
    /// A dead letter of a source message (partition, offset).
    Source(i32, i64),
    /// Emitted at the end of every run, resumed or not: an evaluation of an `after_pipeline`
    /// handler (it carries the composite flags, which only those have).
    EveryRun,
    /// Anything else: counted as emitted again.
    Unknown,
}

impl Tag {
    /// The tag of an event's JSON.
    pub fn of(json: &[u8]) -> Tag {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(json) else {
            return Tag::Unknown;
        };
        if v.get("kind").and_then(|k| k.as_str()) == Some("evaluation")
            && v.get("currently_active").is_some()
        {
            return Tag::EveryRun;
        }
        if let Some(t) = v.get("trigger_id").and_then(|t| t.as_u64()) {
            return Tag::Trigger(t);
        }
        // Kafka dead letters are located `<topic>/<partition>/<offset>[#row<r>]`.
        let location = v.get("location").and_then(|l| l.as_str()).unwrap_or("");
        let location = location.split('#').next().unwrap_or("");
        let mut parts = location.rsplitn(3, '/');
        match (
            parts.next().and_then(|o| o.parse().ok()),
            parts.next().and_then(|p| p.parse().ok()),
            parts.next(),
        ) {
            (Some(offset), Some(partition), Some(_)) => Tag::Source(partition, offset),
            _ => Tag::Unknown,
        }
    }

    /// Whether a run resumed after trigger `k`, reading the source from `restart`, emits it
    /// again.
    pub fn emitted_again(self, k: u64, restart: &BTreeMap<i32, i64>) -> bool {
        match self {
            Tag::Trigger(t) => t > k,
            Tag::Source(p, o) => restart.get(&p).is_none_or(|r| o >= *r),
            Tag::EveryRun | Tag::Unknown => true,
        }
    }
}

/// Reads the keys of partition 0 of `topic` from offset `from` to its end, with their offsets
/// and tags.
fn ids_after(
    cluster: &KafkaCluster,
    topic: &str,
    from: i64,
) -> Result<Vec<(String, i64, Tag)>, KafkaError> {
    let client = |context: &str, e| client(&format!("{context} of {topic}"), e);
    let consumer: BaseConsumer = client_config(cluster)
        .set("group.id", "sluice-resume")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|e| client("creating a consumer", e))?;
    let (_, end) = consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .map_err(|e| client("reading the end offset", e))?;
    let mut ids = Vec::new();
    if from >= end {
        return Ok(ids);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(from))
        .map_err(|e| client("assigning", e))?;
    consumer.assign(&tpl).map_err(|e| client("assigning", e))?;
    let started = Instant::now();
    let mut next = from;
    while next < end {
        if started.elapsed() > Duration::from_secs(60) {
            return Err(KafkaError::Client {
                context: format!("reading the events published after the checkpoint in {topic}"),
                message: format!("stuck at offset {next} of {end} for 60 s"),
            });
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                next = m.offset() + 1;
                if let Some(key) = m.key() {
                    let tag = Tag::of(m.payload().unwrap_or_default());
                    ids.push((String::from_utf8_lossy(key).into_owned(), m.offset(), tag));
                }
            }
            Some(Err(e)) => tracing::warn!(topic, "reading published events: {e}"),
            None => {}
        }
    }
    Ok(ids)
}

impl KafkaSink {
    /// Connects and creates the five event topics when missing. Resuming, `published` has each
    /// topic's end offset at the checkpoint: ids published after it are not sent again.
    pub fn create(
        spec: &KafkaOutputSpec,
        published: Option<&BTreeMap<String, i64>>,
    ) -> Result<Self, KafkaError> {
        for stream in STREAMS {
            ensure_topic(
                &spec.cluster,
                &format!("{}.{stream}", spec.topic_prefix),
                1,
                true,
            )?;
        }
        if spec.publish_artifacts {
            ensure_topic_with(
                &spec.cluster,
                &format!("{}.{}", spec.topic_prefix, artifacts::STREAM),
                1,
                true,
                &[("cleanup.policy", "compact")],
            )?;
        }
        let ledger: Ledger = Arc::default();
        let noted = ledger.clone();
        let hook: OnDelivered = Box::new(move |m| {
            if m.topic().ends_with(artifacts::STREAM) {
                // Not events: a resume publishes a model's file again (same keys and bytes).
                return;
            }
            let tag = Tag::of(m.payload().unwrap_or_default());
            let mut noted = noted.lock().expect("ledger poisoned");
            let end = noted.ends.entry(m.topic().to_string()).or_insert(0);
            *end = (*end).max(m.offset() + 1);
            noted
                .events
                .entry(m.topic().to_string())
                .or_default()
                .push((m.offset(), tag));
        });
        let producer = client_config(&spec.cluster)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create_with_context(Deliveries::with_hook(hook))
            .map_err(|e| client("creating the event producer", e))?;
        let mut ids = HashMap::new();
        for (topic, from) in published.into_iter().flatten() {
            for (id, offset, tag) in ids_after(&spec.cluster, topic, *from)? {
                ids.insert(id, (topic.clone(), offset, tag));
            }
        }
        if !ids.is_empty() {
            tracing::info!(
                events = ids.len(),
                "events published after the checkpoint are not published again"
            );
        }
        let sink = Self {
            producer,
            prefix: spec.topic_prefix.clone(),
            published: Mutex::new(ids),
            ledger,
            artifacts: spec.publish_artifacts,
        };
        // Before anything is sent: the ends as opened.
        let ends = sink.fetch_ends()?;
        sink.ledger.lock().expect("ledger poisoned").ends = ends;
        Ok(sink)
    }

    /// For checkpoint `k` (source restart offsets `restart`; call after
    /// [`flush`](Self::flush)): per event topic, the offset from which a run resumed from it
    /// must read the ids it must not publish again. That is the first delivered event it would
    /// emit again, or an id published before the last crash that has not come round yet, else
    /// the end of what delivery reports have shown (events still in flight lie after it).
    /// Forgets the delivered events no later checkpoint can need.
    pub fn published_from(&self, k: u64, restart: &BTreeMap<i32, i64>) -> BTreeMap<String, i64> {
        let mut floors: BTreeMap<String, i64> = BTreeMap::new();
        let mut lower = |topic: &str, offset: i64| {
            let f = floors.entry(topic.to_string()).or_insert(offset);
            *f = (*f).min(offset);
        };
        let ends = {
            let mut ledger = self.ledger.lock().expect("ledger poisoned");
            for (topic, events) in ledger.events.iter_mut() {
                events.retain(|(_, tag)| tag.emitted_again(k, restart));
                if let Some((offset, _)) = events.iter().min_by_key(|(o, _)| *o) {
                    lower(topic, *offset);
                }
            }
            ledger.ends.clone()
        };
        // Ids published before the crash that a resume after `k` would still emit again (all
        // stay skipped in this run: an evaluation of trigger `k`'s model may come after its
        // checkpoint).
        for (topic, offset, tag) in self
            .published
            .lock()
            .expect("published ids poisoned")
            .values()
        {
            if tag.emitted_again(k, restart) {
                lower(topic, *offset);
            }
        }
        let mut ends = ends;
        for (topic, end) in ends.iter_mut() {
            if let Some(f) = floors.get(topic) {
                *end = (*end).min(*f);
            }
        }
        ends
    }

    /// Each event topic's end offset when the sink opened (before it sent anything).
    pub fn opened_ends(&self) -> BTreeMap<String, i64> {
        let ledger = self.ledger.lock().expect("ledger poisoned");
        let mut ends = ledger.ends.clone();
        for (topic, events) in &ledger.events {
            if let (Some(end), Some((first, _))) = (ends.get_mut(topic), events.first()) {
                *end = (*end).min(*first);
            }
        }
        ends
    }

    /// Each event topic's end offset, from the broker.
    fn fetch_ends(&self) -> Result<BTreeMap<String, i64>, KafkaError> {
        STREAMS
            .iter()
            .map(|stream| {
                let topic = self.topic(stream);
                let (_, end) = self
                    .producer
                    .client()
                    .fetch_watermarks(&topic, 0, TIMEOUT)
                    .map_err(|e| KafkaError::Client {
                        context: format!("reading the end offset of {topic}"),
                        message: e.to_string(),
                    })?;
                Ok((topic, end))
            })
            .collect()
    }

    /// The topic of a stream.
    pub fn topic(&self, stream: &str) -> String {
        format!("{}.{stream}", self.prefix)
    }

    /// Queues one event; waits while the producer's queue is full.
    pub fn send(&self, stream: &str, id: &str, json: &[u8]) -> Result<(), KafkaError> {
        {
            let published = self.published.lock().expect("published ids poisoned");
            if !published.is_empty() && published.contains_key(id) {
                return Ok(());
            }
        }
        let topic = self.topic(stream);
        send_retrying(&self.producer, BaseRecord::to(&topic).key(id).payload(json))
    }

    /// Publishes model `model_id`'s file `bytes` (keyed `model`: with its variant in a sweep) to
    /// `<prefix>.model-artifacts` and waits until it is delivered, so that the model event
    /// sent next never names chunks a reader cannot find yet. `None` unless `[output]
    /// publish_artifacts`.
    pub fn publish_artifact(
        &self,
        model: &str,
        model_id: &str,
        bytes: &[u8],
    ) -> Result<Option<Published>, KafkaError> {
        if !self.artifacts {
            return Ok(None);
        }
        let topic = self.topic(artifacts::STREAM);
        let (messages, published) = artifacts::chunks(model, model_id, bytes);
        for (key, headers, payload) in messages {
            send_retrying(
                &self.producer,
                BaseRecord::to(&topic)
                    .key(key.as_str())
                    .payload(payload)
                    .headers(headers),
            )?;
        }
        deliver_all(&self.producer, &topic)?;
        Ok(Some(published))
    }

    /// Waits until every queued event is delivered, through a broker outage of up to
    /// librdkafka's `message.timeout.ms` ([`deliver_all`]).
    pub fn flush(&self) -> Result<(), KafkaError> {
        deliver_all(&self.producer, "the Kafka event topics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_by_what_a_resume_emits_again() {
        let restart: BTreeMap<i32, i64> = [(0, 100), (1, 40)].into();
        let tag = |json: &str| Tag::of(json.as_bytes());
        let trigger = tag(r#"{"id":"trigger-4","kind":"trigger","trigger_id":4}"#);
        assert_eq!(trigger, Tag::Trigger(4));
        assert!(trigger.emitted_again(3, &restart));
        assert!(!trigger.emitted_again(4, &restart));
        let dead = tag(r#"{"id":"dead-letter-t/1/57#row3","location":"t.x/1/57#row3"}"#);
        assert_eq!(dead, Tag::Source(1, 57));
        assert!(
            dead.emitted_again(9, &restart),
            "after partition 1's restart offset"
        );
        assert!(!tag(r#"{"location":"t/0/99"}"#).emitted_again(9, &restart));
        assert!(
            tag(r#"{"location":"t/2/0"}"#).emitted_again(9, &restart),
            "unknown partition"
        );
        for unknown in [
            r#"{"location":"data.csv:7"}"#,
            "not json",
            r#"{"location":"it key 5"}"#,
        ] {
            assert_eq!(tag(unknown), Tag::Unknown, "{unknown}");
        }
        assert!(Tag::Unknown.emitted_again(u64::MAX, &restart));
        // An after-pipeline evaluation of trigger 2's model: every resumed run evaluates every
        // model again at its end, however late its checkpoint.
        let serving = tag(
            r#"{"id":"evaluation-serving-2-d-0-9-accuracy","kind":"evaluation","trigger_id":2,
                "handler":"serving","currently_active":false,"currently_trained":true}"#,
        );
        assert_eq!(serving, Tag::EveryRun);
        assert!(serving.emitted_again(7, &restart));
        let after_training =
            tag(r#"{"id":"evaluation-all-2-d-0-9-accuracy","kind":"evaluation","trigger_id":2}"#);
        assert_eq!(after_training, Tag::Trigger(2));
    }
}
