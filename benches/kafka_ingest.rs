//! Kafka ingest: samples/s from a topic into the dataflow (decode, exchange by key, sample
//! store, amount trigger, new-data selection) vs raw rdkafka consumption of the same topic in
//! the same run (poll every message, touch its payload), for 1 and 2 workers / consumer threads,
//! with JSON values (a sample per message) and Arrow IPC values (1000 samples per message).
//! Target (issue 3): Sluice ≥ 80% of raw. Each line also gives the CPU seconds this process and
//! the broker (pid from `kafka/data/broker.pid`, or `$SLUICE_KAFKA_DATA`) used.
//!
//! Needs a broker: `kafka/start.sh`, then
//! `SLUICE_KAFKA=127.0.0.1:9092 cargo bench --bench kafka_ingest [-- <samples>] [json|arrow]
//! [glibc-defaults]` (default 1,000,000 samples of the 8-feature hyperplane stream, 4
//! partitions; the allocator set up as the `sluice` binary sets it, `glibc-defaults` leaves
//! glibc's). The topics are produced once and reused by later runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sluice::config::{
    ColumnSpec, KafkaCluster, KafkaSourceSpec, LatePolicy, TimeUnit, Until, ValueFormat,
};
use sluice::source::ReadPlan;
use sluice::source::kafka::{
    JsonDecoder, KafkaReader, Polled, Prefetch, ValueDecoder, admin, partitions_of,
};
use sluice::store::SampleStore;

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/ingest.rs"]
mod ingest;
#[path = "common/stream.rs"]
mod stream;
use cpu::cpu_s;
use ingest::ingest_graph;
use stream::{ARROW_ROWS, PARTITIONS, ensure_stream};

fn columns() -> ColumnSpec {
    ColumnSpec {
        key_column: Some("key".into()),
        time_column: Some("time".into()),
        time_unit: TimeUnit::Ms,
        label_column: "label".into(),
        feature_columns: Some((0..8).map(|i| format!("x{i}")).collect()),
        num_classes: 2,
        max_future_ms: None,
        repeated_fields_last_wins: false,
        delete_column: None,
    }
}

/// The replayed topic as a source.
fn source_spec(brokers: &str, topic: &str) -> KafkaSourceSpec {
    KafkaSourceSpec {
        cluster: KafkaCluster::plain(brokers),
        topic: topic.into(),
        format: ValueFormat::Json,
        partitions: PARTITIONS,
        create_topic: false,
        until: Some(Until::End),
        idle_timeout_ms: 5_000,
        late: LatePolicy::DeadLetter,
    }
}

/// Raw consumption: `threads` consumers, each assigned its share of the partitions.
fn raw(brokers: &str, topic: &str, threads: usize) -> (Duration, u64) {
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                s.spawn(move || {
                    let c: BaseConsumer =
                        admin::consumer_config(&KafkaCluster::plain(brokers), "sluice-bench-raw")
                            .create()
                            .unwrap();
                    let mut tpl = TopicPartitionList::new();
                    let mut remaining = 0i64;
                    for p in partitions_of(w, threads, PARTITIONS) {
                        let (lo, hi) = c.fetch_watermarks(topic, p, admin::TIMEOUT).unwrap();
                        remaining += hi - lo;
                        tpl.add_partition_offset(topic, p, Offset::Offset(lo))
                            .unwrap();
                    }
                    c.assign(&tpl).unwrap();
                    let mut n = 0u64;
                    let mut bytes = 0u64;
                    while (n as i64) < remaining {
                        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                            bytes += m.payload().map_or(0, |p| p.len() as u64);
                            n += 1;
                        }
                    }
                    std::hint::black_box(bytes);
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    (start.elapsed(), total)
}

/// Sluice ingest: a prefetching KafkaReader per worker into the trigger + selection dataflow.
fn sluice_ingest(
    brokers: &str,
    topic: &str,
    workers: usize,
    format: ValueFormat,
) -> (Duration, u64) {
    let spec = KafkaSourceSpec {
        format,
        ..source_spec(brokers, topic)
    };
    let store = Arc::new(SampleStore::new(8, workers));
    let ingested = Arc::new(AtomicU64::new(0));
    let ing = ingested.clone();
    let start = Instant::now();
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let store = store.clone();
        let ing = ing.clone();
        let (mut input, probe) =
            worker.dataflow::<u64, _, _>(|scope| ingest_graph(scope, store, ing));
        let reader = KafkaReader::open(
            &spec,
            ValueDecoder::new(format, &columns()),
            "sluice-bench",
            (index, peers),
            PARTITIONS,
            ReadPlan::default(),
        )
        .unwrap();
        let mut reader = Prefetch::spawn(reader, 4096, 4).unwrap();
        loop {
            let Some(p) = reader.next(Duration::from_millis(50)).unwrap() else {
                worker.step();
                continue;
            };
            assert!(p.dead.is_empty(), "dead letters {:?}", p.dead);
            ingest::send(&mut input, p.samples, peers);
            match p.watermark {
                Some(w) if w > *input.time() => input.advance_to(w),
                Some(_) => {}
                None => break,
            }
            worker.step();
        }
        drop(input);
        while !probe.done() {
            worker.step();
        }
    })
    .unwrap();
    (start.elapsed(), ingested.load(Ordering::Relaxed))
}

/// KafkaReader alone (poll + decode + watermark), no dataflow: locates the cost.
fn reader_only(brokers: &str, topic: &str) -> (Duration, u64) {
    let spec = source_spec(brokers, topic);
    let start = Instant::now();
    let mut reader = KafkaReader::open(
        &spec,
        ValueDecoder::new(ValueFormat::Json, &columns()),
        "sluice-bench",
        (0, 1),
        PARTITIONS,
        ReadPlan::default(),
    )
    .unwrap();
    let mut n = 0u64;
    loop {
        let mut p = Polled::default();
        reader.poll(4096, &mut p);
        n += p.samples.len() as u64;
        if p.watermark.is_none() {
            break;
        }
    }
    (start.elapsed(), n)
}

/// Runs `f`, returning its result and the CPU seconds this process and the broker used.
fn with_cpu<T>(broker: Option<&str>, f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (s0, b0) = (cpu_s("self"), broker.and_then(cpu_s));
    let r = f();
    let d = |a: Option<f64>, b: Option<f64>| a.zip(b).map_or(f64::NAN, |(a, b)| b - a);
    (r, d(s0, cpu_s("self")), d(b0, broker.and_then(cpu_s)))
}

fn main() {
    // As the `sluice` binary runs, unless `-- glibc-defaults` asks for the allocator's defaults
    // (the comparison in experiments/results/kafka_ingest.md).
    let defaults = std::env::args().any(|a| a == "glibc-defaults");
    let tuned = !defaults && sluice::allocator::tune();
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let Ok(brokers) = std::env::var("SLUICE_KAFKA") else {
        eprintln!("kafka_ingest: set SLUICE_KAFKA (e.g. 127.0.0.1:9092) after kafka/start.sh");
        return;
    };
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let broker_pid = std::fs::read_to_string(
        std::env::var("SLUICE_KAFKA_DATA").unwrap_or_else(|_| "kafka/data".into()) + "/broker.pid",
    )
    .ok()
    .map(|p| p.trim().to_string());
    let broker = broker_pid.as_deref();
    let json_topic = format!("sluice-bench-ingest-{n}");
    let arrow_topic = format!("sluice-bench-ingest-arrow{ARROW_ROWS}-{n}");
    assert_eq!(
        ensure_stream(&brokers, &json_topic, n, ValueFormat::Json),
        n as u64
    );
    let arrow_messages = ensure_stream(&brokers, &arrow_topic, n, ValueFormat::Arrow);
    println!(
        "kafka_ingest: {n} samples (8 features), {PARTITIONS} partitions, median of 3; \
         CPU s = this process / the broker; allocator: {}",
        if tuned {
            "sluice::allocator::tune"
        } else {
            "glibc defaults"
        }
    );
    let median = |mut v: Vec<(Duration, f64, f64)>| {
        v.sort_by_key(|r| r.0);
        v[v.len() / 2]
    };
    // `-- json` or `-- arrow`: that format only (e.g. under a profiler).
    let only = std::env::args().find(|a| a == "json" || a == "arrow");
    if only.as_deref() != Some("arrow") {
        let dec = JsonDecoder::new(&columns());
        let v = br#"{"key":3,"label":1,"time":1704067202000,"x0":0.8996,"x1":0.3793,"x2":0.4768,"x3":0.9222,"x4":0.3385,"x5":0.6258,"x6":0.2817,"x7":0.2268}"#;
        let m = sluice::source::kafka::MessageMeta {
            key: None,
            timestamp_ms: None,
            partition: 0,
            offset: 0,
        };
        let t = Instant::now();
        for _ in 0..200_000 {
            std::hint::black_box(dec.decode(Some(std::hint::black_box(&v[..])), &m).unwrap());
        }
        println!(
            "  JSON decode alone: {:>10.0} msg/s",
            200_000.0 / t.elapsed().as_secs_f64()
        );
        let (d, c) = reader_only(&brokers, &json_topic);
        assert_eq!(c, n as u64);
        println!(
            "  JSON reader alone (poll + decode, 1 thread): {:>10.0} msg/s",
            c as f64 / d.as_secs_f64()
        );
    }
    for (format, topic, messages) in [
        (ValueFormat::Json, &json_topic, n as u64),
        (ValueFormat::Arrow, &arrow_topic, arrow_messages),
    ] {
        let name = if format == ValueFormat::Json {
            "json"
        } else {
            "arrow"
        };
        if only.as_ref().is_some_and(|o| o != name) {
            continue;
        }
        let what = match format {
            ValueFormat::Json => "JSON, a sample per message".to_string(),
            ValueFormat::Arrow => format!("Arrow, {ARROW_ROWS} samples per message"),
        };
        println!("  {what}:");
        for workers in [1usize, 2] {
            let mut raw_t = Vec::new();
            let mut sl_t = Vec::new();
            for _ in 0..3 {
                let ((d, c), cpu, bcpu) = with_cpu(broker, || raw(&brokers, topic, workers));
                assert_eq!(c, messages);
                raw_t.push((d, cpu, bcpu));
                let ((d, c), cpu, bcpu) =
                    with_cpu(broker, || sluice_ingest(&brokers, topic, workers, format));
                assert_eq!(c, n as u64);
                sl_t.push((d, cpu, bcpu));
            }
            let (r, s) = (median(raw_t), median(sl_t));
            let rate = |d: Duration| n as f64 / d.as_secs_f64();
            let per_million = 1e6 / n as f64;
            println!(
                "    {workers} worker(s): raw rdkafka {:>9.0} samples/s (CPU s {:.2} / {:.2}), \
                 sluice ingest {:>9.0} samples/s (CPU s {:.2} / {:.2}), ratio {:.3}; \
                 CPU-s per million samples: sluice {:.2}, raw {:.2}",
                rate(r.0),
                r.1,
                r.2,
                rate(s.0),
                s.1,
                s.2,
                r.0.as_secs_f64() / s.0.as_secs_f64(),
                s.1 * per_million,
                r.1 * per_million
            );
        }
    }
}
