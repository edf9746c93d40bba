//! Events to Kafka: each kind goes to `<prefix>.<kind>` (`quickstart.triggers`,
//! `quickstart.models`, `quickstart.metrics`, `quickstart.evaluations`,
//! `quickstart.dead-letter`), one partition each so a topic keeps emission order. The message
//! key is the event's idempotent id, the value its JSON. The producer is idempotent
//! (`enable.idempotence`), so librdkafka's retries never duplicate a message.

use std::time::Duration;

use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use crate::config::KafkaOutputSpec;
use crate::sink::event::STREAMS;
use crate::source::kafka::admin::{
    Deliveries, KafkaError, client_config, ensure_topic, send_retrying,
};

/// Publishes events to Kafka topics.
pub struct KafkaSink {
    producer: ThreadedProducer<Deliveries>,
    prefix: String,
}

impl KafkaSink {
    /// Connects and creates the five event topics when missing.
    pub fn create(spec: &KafkaOutputSpec) -> Result<Self, KafkaError> {
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
        Ok(Self {
            producer,
            prefix: spec.topic_prefix.clone(),
        })
    }

    /// The topic of a stream.
    pub fn topic(&self, stream: &str) -> String {
        format!("{}.{stream}", self.prefix)
    }

    /// Queues one event; waits while the producer's queue is full.
    pub fn send(&self, stream: &str, id: &str, json: &[u8]) -> Result<(), String> {
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
