//! Events to Kafka: each kind goes to `<prefix>.<kind>` (`quickstart.triggers`,
//! `quickstart.models`, `quickstart.metrics`, `quickstart.evaluations`,
//! `quickstart.dead-letter`), one partition each so a topic keeps emission order. The message
//! key is the event's idempotent id, the value its JSON. The producer is idempotent
//! (`enable.idempotence`), so librdkafka's retries never duplicate a message. A run resumed
//! from a checkpoint reads the ids published after the checkpoint's offsets (before the crash)
//! and does not publish those again.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::config::KafkaOutputSpec;
use crate::sink::event::STREAMS;
use crate::source::kafka::admin::{
    Deliveries, KafkaError, TIMEOUT, client_config, ensure_topic, send_retrying,
};

/// Publishes events to Kafka topics.
pub struct KafkaSink {
    producer: ThreadedProducer<Deliveries>,
    prefix: String,
    /// Ids already on the topics (published before a resume), not sent again.
    published: Mutex<HashSet<String>>,
}

/// Reads the keys of partition 0 of `topic` from offset `from` to its end.
fn ids_after(brokers: &str, topic: &str, from: i64) -> Result<HashSet<String>, KafkaError> {
    let client = |context: &str, e: rdkafka::error::KafkaError| KafkaError::Client {
        context: format!("{context} of {topic}"),
        message: e.to_string(),
    };
    let consumer: BaseConsumer = client_config(brokers)
        .set("group.id", "sluice-resume")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|e| client("creating a consumer", e))?;
    let (_, end) = consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .map_err(|e| client("reading the end offset", e))?;
    let mut ids = HashSet::new();
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
                    ids.insert(String::from_utf8_lossy(key).into_owned());
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
                &spec.brokers,
                &format!("{}.{stream}", spec.topic_prefix),
                1,
                true,
            )?;
        }
        let producer = client_config(&spec.brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create_with_context(Deliveries::default())
            .map_err(|e| KafkaError::Client {
                context: "creating the event producer".into(),
                message: e.to_string(),
            })?;
        let mut ids = HashSet::new();
        for (topic, from) in published.into_iter().flatten() {
            ids.extend(ids_after(&spec.brokers, topic, *from)?);
        }
        if !ids.is_empty() {
            tracing::info!(
                events = ids.len(),
                "events published after the checkpoint are not published again"
            );
        }
        Ok(Self {
            producer,
            prefix: spec.topic_prefix.clone(),
            published: Mutex::new(ids),
        })
    }

    /// Each event topic's end offset (call after [`flush`](Self::flush)).
    pub fn ends(&self) -> Result<BTreeMap<String, i64>, KafkaError> {
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
    pub fn send(&self, stream: &str, id: &str, json: &[u8]) -> Result<(), String> {
        {
            let mut published = self.published.lock().expect("published ids poisoned");
            if !published.is_empty() && published.remove(id) {
                return Ok(());
            }
        }
        let topic = self.topic(stream);
        send_retrying(&self.producer, BaseRecord::to(&topic).key(id).payload(json))
    }

    /// Waits until every queued event is delivered (librdkafka retries with backoff meanwhile).
    pub fn flush(&self, timeout: Duration) -> Result<(), String> {
        self.producer
            .flush(timeout)
            .map_err(|e| format!("flushing events to Kafka: {e}"))?;
        self.producer.context().check("Kafka event topics")?;
        Ok(())
    }
}
