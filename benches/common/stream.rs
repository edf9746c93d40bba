//! The hyperplane stream on a topic, produced once and reused by later runs (shared by the
//! `kafka_ingest` and `cluster` benches).

use rdkafka::consumer::{BaseConsumer, Consumer};
use sluice::config::{KafkaCluster, TimeUnit, ValueFormat};
use sluice::produce::{ProduceOptions, produce};
use sluice::source::kafka::admin;

/// Partitions of the bench topics.
pub const PARTITIONS: i32 = 4;

/// Produces the `n`-sample hyperplane stream to `topic` once (later runs reuse it); returns
/// the topic's message count.
pub fn ensure_stream(brokers: &str, topic: &str, n: usize, format: ValueFormat) -> u64 {
    let c: BaseConsumer = admin::client_config(&KafkaCluster::plain(brokers))
        .create()
        .unwrap();
    let messages = |c: &BaseConsumer| -> u64 {
        (0..PARTITIONS)
            .map(|p| {
                let (lo, hi) = c.fetch_watermarks(topic, p, admin::TIMEOUT).unwrap();
                (hi - lo) as u64
            })
            .sum()
    };
    if admin::topic_partitions(&KafkaCluster::plain(brokers), topic)
        .unwrap()
        .is_some()
    {
        let m = messages(&c);
        assert!(m > 0, "topic {topic} exists but is empty; delete it");
        return m;
    }
    // n stream rows: the generator puts every 5th row in the held-out split.
    let rows = sluice::datasets::rows("hyperplane", Some(n * 5 / 4)).unwrap();
    assert_eq!(rows.len(), n);
    let r = produce(
        rows,
        &ProduceOptions {
            cluster: KafkaCluster::plain(brokers),
            topic: topic.into(),
            partitions: PARTITIONS,
            rate: None,
            format,
            batch_rows: ARROW_ROWS,
            key_column: Some("key".into()),
            time_column: "time".into(),
            time_unit: TimeUnit::Ms,
            progress: false,
        },
    )
    .unwrap();
    println!(
        "produced {} messages ({} rows) to {topic} in {:.1} s",
        r.messages,
        r.rows,
        r.elapsed.as_secs_f64()
    );
    r.messages
}

/// Rows per Arrow message.
pub const ARROW_ROWS: usize = 1000;
