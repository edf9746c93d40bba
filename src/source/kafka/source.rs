//! A Kafka topic as a [`Source`]: each worker's share is its partitions, read by a
//! [`KafkaReader`] on its own thread ([`Prefetch`]); lag is asked of the broker; checkpointed
//! offsets are committed to the consumer group `sluice-<pipeline>`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::admin::{self, Committer};
use super::reader::{KafkaReader, Prefetch, check_window, location};
use super::value::ValueDecoder;
use crate::config::{ColumnSpec, KafkaSourceSpec, ValueFormat};
use crate::source::{
    Batch, Origin, PartitionMarks, Progress, ReadPlan, Share, Source, SourceError, Window,
};

/// An opened topic: its partition count known, its decoder built.
pub struct KafkaSource {
    spec: KafkaSourceSpec,
    decoder: ValueDecoder,
    partitions: i32,
    /// The consumer group offsets are committed to.
    group: String,
    /// Per partition, the next offset a share of this process reads.
    next: Arc<Mutex<BTreeMap<i32, i64>>>,
    /// Asks the topic for its end offsets (created at the first [`Source::lag`]; `None` inside
    /// when it could not be).
    ends: Mutex<Option<Option<BaseConsumer>>>,
    /// Commits checkpointed offsets (created at the first commit).
    committer: Mutex<Option<Committer>>,
}

impl KafkaSource {
    /// Opens `spec`'s topic (creating it if the config says so) for pipeline `pipeline`, whose
    /// samples have the columns `columns`.
    pub fn open(
        spec: &KafkaSourceSpec,
        columns: &ColumnSpec,
        pipeline: &str,
    ) -> Result<Self, SourceError> {
        let partitions = admin::ensure_topic(
            &spec.cluster,
            &spec.topic,
            spec.partitions,
            spec.create_topic,
        )?;
        Ok(Self {
            spec: spec.clone(),
            decoder: ValueDecoder::new(spec.format, columns),
            partitions,
            group: format!("sluice-{pipeline}"),
            next: Arc::default(),
            ends: Mutex::default(),
            committer: Mutex::default(),
        })
    }

    /// End offsets minus the next offsets this process's shares read, over their partitions.
    fn unread(&self, consumer: &BaseConsumer) -> Option<BTreeMap<i32, u64>> {
        let next = self.next.lock().expect("offsets poisoned").clone();
        next.iter()
            .map(|(id, next)| {
                consumer
                    .fetch_watermarks(&self.spec.topic, *id, Duration::from_secs(2))
                    .ok()
                    .map(|(_, high)| (*id, (high - next).max(0) as u64))
            })
            .collect()
    }
}

impl Source for KafkaSource {
    fn name(&self) -> String {
        self.spec.topic.clone()
    }

    fn feature_names(&self) -> &[String] {
        self.decoder.feature_names()
    }

    fn locate(&self, origin: Origin) -> String {
        location(
            &self.spec.topic,
            origin,
            self.spec.format == ValueFormat::Arrow,
        )
    }

    fn open_share(
        &self,
        worker: usize,
        peers: usize,
        plan: ReadPlan<'_>,
        batch: usize,
    ) -> Result<Box<dyn Share>, SourceError> {
        let reader = KafkaReader::open(
            &self.spec,
            self.decoder.clone(),
            &self.group,
            (worker, peers),
            self.partitions,
            plan,
        )?;
        let remaining = reader.remaining();
        let prefetch = Prefetch::spawn(reader, batch, 4).map_err(|e| SourceError::Stream {
            name: self.name(),
            message: format!("starting the Kafka reader thread: {e}"),
        })?;
        Ok(Box::new(KafkaShare {
            prefetch,
            remaining,
            next: self.next.clone(),
        }))
    }

    fn restartable(&self) -> bool {
        true
    }

    fn follows(&self, window: &Window) -> bool {
        self.spec.follows(window.is_unbounded())
    }

    fn check_window(&self, window: &Window, follow: bool) -> Result<Option<String>, SourceError> {
        Ok(check_window(&self.spec, self.partitions, window, follow)?)
    }

    fn lag(&self, _progress: Progress) -> Option<BTreeMap<i32, u64>> {
        let mut ends = self.ends.lock().expect("end-offset consumer poisoned");
        let consumer = ends.get_or_insert_with(|| {
            admin::consumer_config(&self.spec.cluster, "sluice-status")
                .create()
                .map_err(|e| tracing::warn!("status: no consumer for the lag: {e}"))
                .ok()
        });
        self.unread(consumer.as_ref()?)
    }

    /// Commits the next offsets of the partitions this process read, when each is at its
    /// end now (a message produced since leaves the checkpoint's commit in place).
    fn finish(&self) -> Result<(), SourceError> {
        let next = self.next.lock().expect("offsets poisoned").clone();
        let unread = self
            .lag(Progress::default())
            .map(|l| l.values().sum::<u64>());
        if next.is_empty() || unread != Some(0) {
            return Ok(());
        }
        self.commit(&next)
    }

    fn commit(&self, offsets: &BTreeMap<i32, i64>) -> Result<(), SourceError> {
        let mut committer = self.committer.lock().expect("committer poisoned");
        if committer.is_none() {
            *committer = Some(Committer::new(&self.spec.cluster, &self.group)?);
        }
        let committer = committer.as_ref().expect("created above");
        Ok(committer.commit(&self.spec.topic, offsets)?)
    }
}

/// One worker's partitions, polled ahead on the reader's thread.
struct KafkaShare {
    prefetch: Prefetch,
    remaining: Option<u64>,
    /// The source's record of the next offsets (for its lag).
    next: Arc<Mutex<BTreeMap<i32, i64>>>,
}

impl Share for KafkaShare {
    fn poll(&mut self, timeout: Duration) -> Result<Option<Batch>, SourceError> {
        let polled = self
            .prefetch
            .next(timeout)
            .map_err(|message| SourceError::Stream {
                name: self.prefetch.topic().to_string(),
                message,
            })?;
        let Some(p) = polled else { return Ok(None) };
        let mut next = self.next.lock().expect("offsets poisoned");
        for (id, _, n) in self.prefetch.covered() {
            next.insert(id, n);
        }
        // Records go out at the input's time (the watermark so far): a partition's samples may
        // be older than another's, so a batch promises nothing about its least time.
        Ok(Some(Batch {
            samples: p.samples,
            restored: p.restored,
            dead: p.dead,
            deletions: p.deletions,
            consumed: p.consumed as u64,
            busy: p.busy,
            from: None,
            watermark: p.watermark,
        }))
    }

    fn remaining(&self) -> Option<u64> {
        self.remaining
    }

    fn restart_offsets(&mut self, t: u64) -> Vec<(i32, PartitionMarks)> {
        self.prefetch.restart_offsets(t)
    }

    fn forget_before(&mut self, t: u64) {
        self.prefetch.forget_before(t);
    }

    fn covered(&self) -> Vec<(i32, i64, i64)> {
        self.prefetch.covered()
    }
}
