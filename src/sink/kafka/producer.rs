//! Events to Kafka: each kind goes to `<prefix>.<kind>` (`quickstart.triggers`,
//! `quickstart.models`, `quickstart.metrics`, `quickstart.evaluations`,
//! `quickstart.dead-letter`), one partition each so a topic keeps emission order. The message
//! key is the event's idempotent id, the value its JSON. The producer is idempotent
//! (`enable.idempotence`), so librdkafka's retries never duplicate a message.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::KafkaOutputSpec;
use crate::sink::event::STREAMS;
use crate::source::kafka::admin::{KafkaError, client_config, ensure_topic};

#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.first_error
                .lock()
                .expect("poisoned")
                .get_or_insert_with(|| e.to_string());
        }
    }
}

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
        loop {
            let record = BaseRecord::<str, [u8]>::to(&topic).key(id).payload(json);
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(format!("producing to {topic}: {e}")),
            }
        }
    }

    /// Waits until every queued event is delivered (librdkafka retries with backoff meanwhile).
    pub fn flush(&self, timeout: Duration) -> Result<(), String> {
        self.producer
            .flush(timeout)
            .map_err(|e| format!("flushing events to Kafka: {e}"))?;
        let failed = self.producer.context().failed.load(Ordering::Relaxed);
        if failed > 0 {
            let first = self
                .producer
                .context()
                .first_error
                .lock()
                .expect("poisoned")
                .clone();
            return Err(format!(
                "{failed} events were not delivered to Kafka: {}",
                first.unwrap_or_default()
            ));
        }
        Ok(())
    }
}
