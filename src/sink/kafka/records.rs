//! [`RecordProducer`]: the librdkafka producer `sluice produce` publishes through: idempotent,
//! records queued with retries while the queue is full, every delivery waited for at the end.

use rdkafka::producer::{BaseRecord, ThreadedProducer};

use crate::config::KafkaCluster;
use crate::source::kafka::admin::{
    Deliveries, KafkaError, client, client_config, deliver_all, ensure_topic, send_retrying,
};

/// Records to one topic, to partitions the caller picks.
pub struct RecordProducer {
    producer: ThreadedProducer<Deliveries>,
    topic: String,
    partitions: i32,
    sent: u64,
}

impl RecordProducer {
    /// A producer to `topic`, created with `partitions` partitions when missing.
    pub fn create(
        cluster: &KafkaCluster,
        topic: &str,
        partitions: i32,
    ) -> Result<Self, KafkaError> {
        let partitions = ensure_topic(cluster, topic, partitions, true)?;
        let producer = client_config(cluster)
            .set("enable.idempotence", "true")
            .set("linger.ms", "10")
            .set("queue.buffering.max.messages", "1000000")
            .create_with_context(Deliveries::default())
            .map_err(|e| client("creating the producer", e))?;
        Ok(Self {
            producer,
            topic: topic.into(),
            partitions,
            sent: 0,
        })
    }

    /// The topic's partition count (its own when it existed).
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// Queues `payload` to `partition`, stamped with event time `time` (ms) and keyed by
    /// `key` in decimal when given.
    pub fn send(
        &mut self,
        partition: i32,
        time: u64,
        key: Option<u64>,
        payload: &[u8],
    ) -> Result<(), KafkaError> {
        let key_text = key.map(|k| k.to_string());
        let mut record = BaseRecord::<str, [u8]>::to(&self.topic)
            .payload(payload)
            .partition(partition)
            .timestamp(time as i64);
        if let Some(k) = &key_text {
            record = record.key(k.as_str());
        }
        self.sent += 1;
        send_retrying(&self.producer, record)
    }

    /// Waits for every queued record; the number sent, or why some were not delivered.
    pub fn finish(self) -> Result<u64, KafkaError> {
        deliver_all(&self.producer, &self.topic)?;
        Ok(self.sent)
    }
}
