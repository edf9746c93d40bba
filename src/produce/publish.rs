//! [`produce`]: rows sorted by event time, routed to partitions by key, paced to a rate and
//! published through a [`RecordProducer`].

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use sluice_dataflows::route;

use super::encode::{encode, infer_schema};
use super::error::ProduceError;
use super::rows::Row;
use crate::config::{KafkaCluster, TimeUnit, ValueFormat};
use crate::sink::kafka::RecordProducer;

/// Options of `sluice produce`.
#[derive(Clone, Debug)]
pub struct ProduceOptions {
    /// Brokers and security settings.
    pub cluster: KafkaCluster,
    /// Topic.
    pub topic: String,
    /// Partitions when the topic is created.
    pub partitions: i32,
    /// Rows per second (`None`: as fast as possible).
    pub rate: Option<f64>,
    /// Message value encoding.
    pub format: ValueFormat,
    /// Rows per message (`arrow`).
    pub batch_rows: usize,
    /// Key column (`None`: no message key, row order decides the partition).
    pub key_column: Option<String>,
    /// Event-time column.
    pub time_column: String,
    /// Unit of the time column.
    pub time_unit: TimeUnit,
    /// Show a progress bar.
    pub progress: bool,
}

/// What `produce` did.
#[derive(Clone, Debug)]
pub struct ProduceReport {
    /// Messages delivered.
    pub messages: u64,
    /// Rows they hold.
    pub rows: u64,
    /// Partitions of the topic.
    pub partitions: i32,
    /// Wall time.
    pub elapsed: Duration,
}

/// Publishes `rows` (any order) to the topic.
pub fn produce(rows: Vec<Row>, opts: &ProduceOptions) -> Result<ProduceReport, ProduceError> {
    let started = Instant::now();
    let mut producer = RecordProducer::create(&opts.cluster, &opts.topic, opts.partitions)?;
    let partitions = producer.partitions();
    let keyed = by_time(rows, opts)?;
    let bar = progress_bar(opts.progress, keyed.len());
    let schema =
        (opts.format == ValueFormat::Arrow).then(|| infer_schema(keyed.iter().map(|(_, _, r)| r)));
    // Arrow: rows waiting per partition, with the first one's time.
    let mut pending: Vec<(u64, Vec<&Row>)> = vec![(0, Vec::new()); partitions as usize];
    let mut payload = Vec::new();
    for (i, (time, key, row)) in keyed.iter().enumerate() {
        if let Some(rate) = opts.rate {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let partition = (route(key.unwrap_or(i as u64)) % partitions as u64) as i32;
        match &schema {
            None => {
                payload.clear();
                serde_json::to_writer(&mut payload, row).expect("JSON rows serialise");
                producer.send(partition, *time, *key, &payload)?;
            }
            Some(schema) => {
                let (first, rows) = &mut pending[partition as usize];
                if rows.is_empty() {
                    *first = *time;
                }
                rows.push(row);
                if rows.len() >= opts.batch_rows.max(1) {
                    producer.send(partition, *first, None, &encode(rows, schema))?;
                    rows.clear();
                }
            }
        }
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    if let Some(schema) = &schema {
        for (p, (first, rows)) in pending.iter().enumerate() {
            if !rows.is_empty() {
                producer.send(p as i32, *first, None, &encode(rows, schema))?;
            }
        }
    }
    let messages = producer.finish()?;
    bar.finish_and_clear();
    Ok(ProduceReport {
        messages,
        rows: keyed.len() as u64,
        partitions,
        elapsed: started.elapsed(),
    })
}

/// `rows` as `(event time in ms, key, row)`, sorted by time (stable: ties keep file order).
fn by_time(
    mut rows: Vec<Row>,
    opts: &ProduceOptions,
) -> Result<Vec<(u64, Option<u64>, Row)>, ProduceError> {
    let missing = |what, column: &str, r: &Row| ProduceError::Row {
        what,
        column: column.into(),
        row: format!("{r:?}"),
    };
    let mut keyed = Vec::with_capacity(rows.len());
    for r in rows.drain(..) {
        let v = r
            .get(&opts.time_column)
            .and_then(Value::as_f64)
            .ok_or_else(|| missing("a numeric", &opts.time_column, &r))?;
        let t = match opts.time_unit {
            TimeUnit::Ms => v as u64,
            TimeUnit::S => (v * 1000.0) as u64,
        };
        let key = match &opts.key_column {
            Some(k) => Some(
                r.get(k)
                    .and_then(Value::as_u64)
                    .ok_or_else(|| missing("an unsigned", k, &r))?,
            ),
            None => None,
        };
        keyed.push((t, key, r));
    }
    keyed.sort_by_key(|(t, _, _)| *t);
    Ok(keyed)
}

fn progress_bar(shown: bool, rows: usize) -> ProgressBar {
    let bar = if shown {
        ProgressBar::new(rows as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} produce [{bar:30}] {human_pos}/{human_len} rows, {per_sec}, eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}
