//! `sluice tail`: prints a topic's messages (event JSON) as lines on stdout.

use std::io::Write;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::config::KafkaCluster;
use crate::source::kafka::admin::{KafkaError, TIMEOUT, client, client_config, topic_partitions};

/// Options of `sluice tail`.
#[derive(Clone, Debug)]
pub struct TailOptions {
    /// Brokers and security settings.
    pub cluster: KafkaCluster,
    /// Topic.
    pub topic: String,
    /// Start at the beginning instead of the end.
    pub from_beginning: bool,
    /// Keep waiting for new messages instead of stopping at the end offsets seen at start.
    pub follow: bool,
}

/// Why `tail` stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// The topic could not be read.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// The topic does not exist (tail never creates one).
    #[error("topic `{topic}` does not exist on {brokers}")]
    MissingTopic {
        /// Bootstrap servers.
        brokers: String,
        /// Topic.
        topic: String,
    },
    /// Nothing arrived for 30 s although the end offsets seen at start were not reached.
    #[error("no messages from {topic} for 30 s before its end offsets")]
    Stalled {
        /// Topic.
        topic: String,
    },
    /// The output could not be written (a closed pipe, say).
    #[error(transparent)]
    Write(#[from] std::io::Error),
}

/// Prints messages to `out`, one value per line (partitions interleaved in arrival order);
/// returns how many were printed.
pub fn tail(opts: &TailOptions, out: &mut dyn Write) -> Result<u64, TailError> {
    let partitions =
        topic_partitions(&opts.cluster, &opts.topic)?.ok_or_else(|| TailError::MissingTopic {
            brokers: opts.cluster.brokers.clone(),
            topic: opts.topic.clone(),
        })?;
    let consumer: BaseConsumer = client_config(&opts.cluster)
        .set("group.id", "sluice-tail")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|e| client("creating a consumer", e))?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(&opts.topic, p, TIMEOUT)
            .map_err(|e| client(&format!("reading the offsets of {}", opts.topic), e))?;
        let start = if opts.from_beginning { low } else { high };
        tpl.add_partition_offset(&opts.topic, p, Offset::Offset(start))
            .map_err(|e| client("assigning", e))?;
        ends.push((p, high, start >= high));
    }
    consumer
        .assign(&tpl)
        .map_err(|e| client(&format!("assigning {}", opts.topic), e))?;
    let mut printed = 0u64;
    let mut last = Instant::now();
    loop {
        if !opts.follow && ends.iter().all(|(_, _, done)| *done) {
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {
                if !opts.follow && last.elapsed() > Duration::from_secs(30) {
                    return Err(TailError::Stalled {
                        topic: opts.topic.clone(),
                    });
                }
            }
            Some(Err(e)) => tracing::warn!("tail {}: {e}", opts.topic),
            Some(Ok(m)) => {
                last = Instant::now();
                if let Some((_, high, done)) = ends.iter_mut().find(|(p, _, _)| *p == m.partition())
                    && !opts.follow
                {
                    if m.offset() >= *high {
                        *done = true;
                        continue;
                    }
                    if m.offset() + 1 >= *high {
                        *done = true;
                    }
                }
                out.write_all(m.payload().unwrap_or_default())?;
                out.write_all(b"\n")?;
                printed += 1;
            }
        }
    }
    out.flush()?;
    Ok(printed)
}
