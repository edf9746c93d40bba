//! `sluice produce`: publishes a dataset (a CSV or Arrow file, or a bundled dataset by name) to a
//! topic as a stream. Each row goes to partition `route(key) % partitions` and rows are sent in
//! event-time order, so every partition is time-ordered (what the Kafka source expects).
//!
//! - `json`: each row is one message, a JSON object (all columns; numbers stay numbers), keyed
//!   by its key column and stamped with its event time.
//! - `arrow`: up to `batch_rows` consecutive rows of a partition form one message, an Arrow IPC
//!   stream (one schema for the whole dataset, inferred from its values), stamped with the
//!   event time of its first row, without a message key.

use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::producer::{BaseRecord, ThreadedProducer};
use serde_json::{Map, Value};
use sluice_dataflows::route;

use super::admin::{Deliveries, client, client_config, deliver_all, ensure_topic, send_retrying};
use crate::config::{KafkaCluster, TimeUnit, ValueFormat};

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

/// A row: its columns as JSON values.
pub type Row = Map<String, Value>;

/// Publishes `rows` (any order) to the topic.
pub fn produce(mut rows: Vec<Row>, opts: &ProduceOptions) -> anyhow::Result<ProduceReport> {
    let started = Instant::now();
    let partitions = ensure_topic(&opts.cluster, &opts.topic, opts.partitions, true)?;
    let time_of = |r: &Row| -> anyhow::Result<u64> {
        let v = r
            .get(&opts.time_column)
            .and_then(Value::as_f64)
            .ok_or_else(|| {
                anyhow::anyhow!("row without a numeric `{}` column: {r:?}", opts.time_column)
            })?;
        Ok(match opts.time_unit {
            TimeUnit::Ms => v as u64,
            TimeUnit::S => (v * 1000.0) as u64,
        })
    };
    let mut keyed: Vec<(u64, Option<u64>, Row)> = Vec::with_capacity(rows.len());
    for r in rows.drain(..) {
        let t = time_of(&r)?;
        let key =
            match &opts.key_column {
                Some(k) => Some(r.get(k).and_then(Value::as_u64).ok_or_else(|| {
                    anyhow::anyhow!("row without an unsigned `{k}` column: {r:?}")
                })?),
                None => None,
            };
        keyed.push((t, key, r));
    }
    keyed.sort_by_key(|(t, _, _)| *t);

    let producer: ThreadedProducer<Deliveries> = client_config(&opts.cluster)
        .set("enable.idempotence", "true")
        .set("linger.ms", "10")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Deliveries::default())
        .map_err(|e| client("creating the producer", e))?;
    let bar = if opts.progress {
        ProgressBar::new(keyed.len() as u64)
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
    let schema = (opts.format == ValueFormat::Arrow).then(|| {
        let rows: Vec<Row> = keyed.iter().map(|(_, _, r)| r.clone()).collect();
        super::arrow::infer_schema(&rows)
    });
    // Arrow: rows waiting per partition, with the first one's time.
    let mut pending: Vec<(u64, Vec<&Row>)> = vec![(0, Vec::new()); partitions as usize];
    let mut messages = 0u64;
    let mut send = |partition: i32, time: u64, key: Option<u64>, payload: &[u8]| {
        let key_text = key.map(|k| k.to_string());
        let mut record = BaseRecord::<str, [u8]>::to(&opts.topic)
            .payload(payload)
            .partition(partition)
            .timestamp(time as i64);
        if let Some(k) = &key_text {
            record = record.key(k.as_str());
        }
        messages += 1;
        send_retrying(&producer, record).map_err(anyhow::Error::msg)
    };
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
                send(partition, *time, *key, &payload)?;
            }
            Some(schema) => {
                let (first, rows) = &mut pending[partition as usize];
                if rows.is_empty() {
                    *first = *time;
                }
                rows.push(row);
                if rows.len() >= opts.batch_rows.max(1) {
                    send(partition, *first, None, &super::arrow::encode(rows, schema))?;
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
                send(p as i32, *first, None, &super::arrow::encode(rows, schema))?;
            }
        }
    }
    deliver_all(&producer, &opts.topic).map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    Ok(ProduceReport {
        messages,
        rows: keyed.len() as u64,
        partitions,
        elapsed: started.elapsed(),
    })
}

/// Reads every row of a CSV or Arrow IPC file as JSON objects (numbers parsed as numbers).
pub fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    use crate::config::FileFormat;
    let ctx = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", path.display());
    match FileFormat::infer(path) {
        Some(FileFormat::Csv) => {
            let mut r = csv::Reader::from_path(path).map_err(|e| ctx(&e))?;
            let header: Vec<String> = r
                .headers()
                .map_err(|e| ctx(&e))?
                .iter()
                .map(|h| h.trim().to_string())
                .collect();
            let mut rows = Vec::new();
            for rec in r.records() {
                let rec = rec.map_err(|e| ctx(&e))?;
                rows.push(
                    header
                        .iter()
                        .cloned()
                        .zip(rec.iter().map(json_value))
                        .collect(),
                );
            }
            Ok(rows)
        }
        Some(FileFormat::Arrow) => {
            use arrow::util::display::{ArrayFormatter, FormatOptions};
            let file = std::fs::File::open(path).map_err(|e| ctx(&e))?;
            let reader =
                arrow::ipc::reader::FileReader::try_new(file, None).map_err(|e| ctx(&e))?;
            let schema = reader.schema();
            let mut rows = Vec::new();
            let opts = FormatOptions::default();
            for batch in reader {
                let batch = batch.map_err(|e| ctx(&e))?;
                let cols: Vec<_> = batch
                    .columns()
                    .iter()
                    .map(|c| {
                        // Timestamps as epoch numbers, not dates.
                        let c = match c.data_type() {
                            arrow::datatypes::DataType::Timestamp(_, _) => {
                                arrow::compute::cast(c, &arrow::datatypes::DataType::Int64)
                            }
                            _ => Ok(c.clone()),
                        };
                        c.map_err(|e| ctx(&e))
                    })
                    .collect::<Result<_, _>>()?;
                let fmts: Vec<_> = cols
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
                    .collect::<Result<_, _>>()
                    .map_err(|e| ctx(&e))?;
                for i in 0..batch.num_rows() {
                    rows.push(
                        schema
                            .fields()
                            .iter()
                            .zip(&fmts)
                            .map(|(f, fm)| (f.name().clone(), json_value(&fm.value(i).to_string())))
                            .collect(),
                    );
                }
            }
            Ok(rows)
        }
        _ => anyhow::bail!("{}: expected a .csv or .arrow file", path.display()),
    }
}

fn json_value(field: &str) -> Value {
    let f = field.trim();
    if let Ok(i) = f.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(x) = f.parse::<f64>()
        && x.is_finite()
    {
        return Value::from(x);
    }
    Value::from(f)
}
