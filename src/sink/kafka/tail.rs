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

/// Prints messages to `out`, one value per line (partitions interleaved in arrival order);
/// returns how many were printed.
pub fn tail(opts: &TailOptions, out: &mut dyn Write) -> anyhow::Result<u64> {
    let partitions =
        topic_partitions(&opts.cluster, &opts.topic)?.ok_or_else(|| KafkaError::MissingTopic {
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
        let (low, high) = consumer.fetch_watermarks(&opts.topic, p, TIMEOUT)?;
        let start = if opts.from_beginning { low } else { high };
        tpl.add_partition_offset(&opts.topic, p, Offset::Offset(start))?;
        ends.push((p, high, start >= high));
    }
    consumer.assign(&tpl)?;
    let mut printed = 0u64;
    let mut last = Instant::now();
    loop {
        if !opts.follow && ends.iter().all(|(_, _, done)| *done) {
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {
                if !opts.follow && last.elapsed() > Duration::from_secs(30) {
                    anyhow::bail!(
                        "no messages from {} for 30 s before its end offsets",
                        opts.topic
                    );
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
