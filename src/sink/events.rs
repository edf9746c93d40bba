//! The event sink a run writes to: always the run directory's JSONL files, and Kafka topics
//! when `[output] brokers` is set. Each event is serialised once and written to both.

use std::collections::BTreeMap;
use std::path::Path;

use super::event::{Event, EventBody, unix_ms};
use super::jsonl::JsonlSink;
use super::kafka::KafkaSink;
use crate::config::KafkaOutputSpec;
use crate::source::kafka::admin::KafkaError;

/// Where a run's events go.
pub struct EventSink {
    pipeline: String,
    variant: Option<String>,
    /// Per stream, the wall time of its last event (Unix ms).
    last: std::sync::Mutex<BTreeMap<&'static str, u64>>,
    jsonl: JsonlSink,
    kafka: Option<KafkaSink>,
}

/// Why the event sinks could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// An event file could not be opened or read back.
    #[error(transparent)]
    Files(#[from] std::io::Error),
    /// The Kafka event topics could not be created or read back.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}

impl EventSink {
    /// JSONL files in `dir`, plus Kafka topics if `kafka` is given (created when missing).
    /// Resuming after trigger `k`, the JSONL files keep the events up to `k` (see
    /// [`JsonlSink::create`]) and get the later ones again; with `published` (per topic, the
    /// offset a checkpoint recorded), Kafka topics get only those not published before the
    /// crash (by id).
    pub fn create(
        dir: &Path,
        pipeline: &str,
        kafka: Option<&KafkaOutputSpec>,
        resume_after: Option<u64>,
        published: Option<&BTreeMap<String, i64>>,
    ) -> Result<Self, SinkError> {
        Ok(Self {
            pipeline: pipeline.to_string(),
            variant: None,
            last: Default::default(),
            jsonl: JsonlSink::create(dir, resume_after)?,
            kafka: kafka.map(|k| KafkaSink::create(k, published)).transpose()?,
        })
    }

    /// Tags every event with a sweep's variant `name`; on Kafka topics, which the variants
    /// share, an event's key is `<name>/<id>`.
    pub fn with_variant(mut self, name: &str) -> Self {
        self.variant = Some(name.to_string());
        self
    }

    /// Each Kafka event topic's end offset before this run published anything (empty without
    /// Kafka output).
    pub fn opened_ends(&self) -> BTreeMap<String, i64> {
        self.kafka
            .as_ref()
            .map(KafkaSink::opened_ends)
            .unwrap_or_default()
    }

    /// For checkpoint `k` with source restart offsets `restart`: per Kafka event topic, where
    /// a resumed run reads the ids it must not publish again (see
    /// [`KafkaSink::published_from`]; empty without Kafka output). Call after
    /// [`flush`](Self::flush).
    pub fn published(&self, k: u64, restart: &BTreeMap<i32, i64>) -> BTreeMap<String, i64> {
        self.kafka
            .as_ref()
            .map(|sink| sink.published_from(k, restart))
            .unwrap_or_default()
    }

    /// Emits metric `name` of trigger `trigger_id` with id `metric-<trigger_id>-<name>`.
    pub fn metric(
        &self,
        trigger_id: u64,
        name: &str,
        value: f64,
        step: Option<u64>,
    ) -> std::io::Result<()> {
        self.emit(
            format!("metric-{trigger_id}-{name}"),
            EventBody::Metric {
                trigger_id,
                name: name.into(),
                value,
                step,
            },
        )
    }

    /// Emits an event with idempotent id `id`, stamped with the current wall time.
    pub fn emit(&self, id: String, body: EventBody) -> std::io::Result<()> {
        let event = Event {
            pipeline: self.pipeline.clone(),
            variant: self.variant.clone(),
            id,
            wall_time_ms: unix_ms(),
            body,
        };
        let json = serde_json::to_vec(&event).expect("events always serialise");
        let stream = event.body.stream();
        self.last
            .lock()
            .expect("event times poisoned")
            .insert(stream, event.wall_time_ms);
        self.jsonl.write(stream, &event.id, &json)?;
        if let Some(k) = &self.kafka {
            let key = match &self.variant {
                Some(v) => format!("{v}/{}", event.id),
                None => event.id.clone(),
            };
            k.send(stream, &key, &json).map_err(std::io::Error::other)?;
        }
        Ok(())
    }

    /// Publishes model `model_id`'s TorchScript file at `path` to the artifacts topic, when
    /// `[output] publish_artifacts` is set (see `kafka/artifacts.rs`); delivered when this
    /// returns.
    pub fn publish_artifact(
        &self,
        model_id: &str,
        path: &Path,
    ) -> std::io::Result<Option<super::kafka::Published>> {
        let Some(k) = &self.kafka else {
            return Ok(None);
        };
        let bytes = std::fs::read(path)?;
        let key = match &self.variant {
            Some(v) => format!("{v}/{model_id}"),
            None => model_id.to_string(),
        };
        k.publish_artifact(&key, model_id, &bytes)
            .map_err(std::io::Error::other)
    }

    /// When the last event of `stream` was emitted (Unix ms).
    pub fn last_emitted(&self, stream: &str) -> Option<u64> {
        self.last
            .lock()
            .expect("event times poisoned")
            .get(stream)
            .copied()
    }

    /// Flushes the files and waits for Kafka deliveries.
    pub fn flush(&self) -> std::io::Result<()> {
        self.jsonl.flush()?;
        if let Some(k) = &self.kafka {
            k.flush().map_err(std::io::Error::other)?;
        }
        Ok(())
    }
}
