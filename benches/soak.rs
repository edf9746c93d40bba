//! Soak: `sluice run` follows a topic while this program produces to it at a fixed rate, for
//! half an hour. Every 5 s it records the run's lag behind the topic, its memory (RSS) and CPU,
//! and the samples/s it consumed against the rate produced (the baseline: a run that keeps up
//! has a ratio of 1.0). At the end it computes each model's delay (from the moment its
//! trigger's last sample was produced to its `model` event) and writes a CSV, a plot and a
//! one-line verdict on memory growth after warm-up.
//!
//! Needs a broker: `kafka/start.sh`, then
//! `SLUICE_KAFKA=127.0.0.1:9092 cargo bench --bench soak -- [--minutes 30] [--rate 1000]
//!  [--every 10000] [--out experiments/results/soak]` (or `experiments/soak/run`).
//!
//! The stream is the bundled rotating hyperplane (8 features), repeated with keys and event
//! times shifted every round, so it never ends; the pipeline is new-data selection (the
//! previous epoch's samples retire, so the sample store stays bounded), an amount trigger,
//! an MLP, evaluation after each model on a held-out file, events to Kafka, 2 workers.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use plotters::prelude::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sluice::config::KafkaCluster;
use sluice::source::kafka::admin::{self, Deliveries};

const PARTITIONS: i32 = 2;
const EVERY_S: u64 = 5;

struct Args {
    minutes: f64,
    rate: f64,
    every: u64,
    out: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        minutes: 30.0,
        rate: 1000.0,
        every: 10_000,
        out: PathBuf::from("experiments/results/soak"),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let value = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--minutes" => a.minutes = value.parse().expect("--minutes N"),
            "--rate" => a.rate = value.parse().expect("--rate N"),
            "--every" => a.every = value.parse().expect("--every N"),
            "--out" => a.out = PathBuf::from(value),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// One observation.
#[derive(Clone, Debug)]
struct Row {
    t_s: f64,
    produced: u64,
    committed: u64,
    rss_mb: f64,
    cpu_s: f64,
    models: usize,
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// User + system CPU seconds of `pid` (clock ticks of 1/100 s).
fn cpu_s(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(") ")?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn config(brokers: &str, topic: &str, name: &str, every: u64, test: &Path) -> String {
    format!(
        r#"[pipeline]
name = "{name}"

[source]
kind = "kafka"
brokers = "{brokers}"
topic = "{topic}"
create_topic = false
until = "follow"
key_column = "key"
time_column = "time"
label_column = "label"
feature_columns = ["x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"]

[model]
id = "mlp"
hidden = [32, 32]
num_classes = 2

[training]
batch_size = 64
epochs_per_trigger = 2
seed = 42
use_previous_model = true

[training.optimizer]
algorithm = "adam"
lr = 0.005

[trigger]
id = "amount"
every = {every}

[selection]
strategy = "new_data"

[evaluation]
path = "{}"
metrics = ["accuracy"]

[output]
brokers = "{brokers}"
"#,
        test.display()
    )
}

/// Produces the endless stream at `rate` rows/s; records each row's send time (ms) by key.
fn producer(
    brokers: String,
    topic: String,
    rate: f64,
    stop: Arc<AtomicBool>,
    produced: Arc<AtomicU64>,
) -> std::thread::JoinHandle<Vec<u64>> {
    std::thread::spawn(move || {
        let rows = sluice::datasets::rows("hyperplane", None).expect("hyperplane rows");
        let n = rows.len() as u64;
        let span = rows.last().unwrap()["time"].as_u64().unwrap() + 1_000;
        // The train split's keys skip the held-out rows' keys: rounds are `keys` apart.
        let keys = rows.iter().filter_map(|r| r["key"].as_u64()).max().unwrap() + 1;
        let producer: ThreadedProducer<Deliveries> =
            admin::client_config(&KafkaCluster::plain(brokers))
                .set("linger.ms", "5")
                .create_with_context(Deliveries::default())
                .expect("producer");
        let mut sent_ms = Vec::new();
        let start = Instant::now();
        let mut i: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            // Pace: row i goes out at i / rate seconds.
            let due = Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait.min(Duration::from_millis(50)));
                if wait > Duration::from_millis(50) {
                    continue;
                }
            }
            let (round, r) = (i / n, &rows[(i % n) as usize]);
            let mut row = r.clone();
            let key = round * keys + r["key"].as_u64().unwrap();
            row.insert("key".into(), key.into());
            row.insert(
                "time".into(),
                (round * span + r["time"].as_u64().unwrap()).into(),
            );
            let value = serde_json::to_vec(&row).unwrap();
            let key_text = key.to_string();
            let partition = (key % PARTITIONS as u64) as i32;
            let rec = BaseRecord::to(&topic)
                .key(key_text.as_str())
                .payload(&value[..])
                .partition(partition);
            admin::send_retrying(&producer, rec).expect("send");
            if sent_ms.len() as u64 <= key {
                sent_ms.resize(key as usize + 1, 0);
            }
            sent_ms[key as usize] = now_ms();
            i += 1;
            produced.store(i, Ordering::Relaxed);
        }
        producer.flush(Duration::from_secs(30)).expect("flush");
        sent_ms
    })
}

fn committed(consumer: &BaseConsumer, topic: &str) -> u64 {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    consumer
        .committed_offsets(tpl, Duration::from_secs(5))
        .map(|c| {
            c.elements()
                .iter()
                .map(|e| match e.offset() {
                    Offset::Offset(o) => o.max(0) as u64,
                    _ => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Least-squares slope of `y` over `x`.
fn slope(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let var: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    cov / var
}

fn main() {
    let a = args();
    let Ok(brokers) = std::env::var("SLUICE_KAFKA") else {
        eprintln!("soak: set SLUICE_KAFKA (e.g. 127.0.0.1:9092) after kafka/start.sh");
        return;
    };
    let cluster = KafkaCluster::plain(&brokers);
    let stamp = now_ms();
    let (topic, name) = (format!("soak-{stamp}"), format!("soak-{stamp}"));
    admin::ensure_topic(&cluster, &topic, PARTITIONS, true).expect("topic");
    let dir = tempfile::tempdir().unwrap();
    let prepared = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "datasets",
            "prepare",
            "hyperplane",
            "--rows",
            "5000",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(prepared.status.success());
    let cfg = dir.path().join("soak.toml");
    std::fs::write(
        &cfg,
        config(
            &brokers,
            &topic,
            &name,
            a.every,
            &dir.path().join("hyperplane_test.csv"),
        ),
    )
    .unwrap();
    let run_dir = dir.path().join("run");
    let log = std::fs::File::create(dir.path().join("run.log")).unwrap();
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", cfg.to_str().unwrap(), "--out"])
        .arg(&run_dir)
        .args(["--workers", "2", "--quiet"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id();
    println!(
        "soak: {} min at {} samples/s, amount trigger every {}, {PARTITIONS} partitions, 2 workers \
         (topic {topic}, run dir {})",
        a.minutes,
        a.rate,
        a.every,
        run_dir.display()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicU64::new(0));
    let prod = producer(
        brokers.clone(),
        topic.clone(),
        a.rate,
        stop.clone(),
        produced.clone(),
    );
    let group: BaseConsumer = admin::client_config(&cluster)
        .set("group.id", format!("sluice-{name}"))
        .create()
        .unwrap();
    let bar = indicatif::ProgressBar::new((a.minutes * 60.0) as u64).with_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} s {msg}")
            .unwrap(),
    );
    let (start, start_ms) = (Instant::now(), now_ms() as f64);
    let mut rows = Vec::new();
    while start.elapsed().as_secs_f64() < a.minutes * 60.0 {
        std::thread::sleep(Duration::from_secs(EVERY_S));
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
            panic!("sluice run exited ({status}):\n{log}");
        }
        let row = Row {
            t_s: start.elapsed().as_secs_f64(),
            produced: produced.load(Ordering::Relaxed),
            committed: committed(&group, &topic),
            rss_mb: rss_mb(pid),
            cpu_s: cpu_s(pid),
            models: lines(&run_dir.join("models.jsonl")).len(),
        };
        bar.set_position(row.t_s as u64);
        bar.set_message(format!(
            "lag {} samples, RSS {:.0} MB, {} models",
            row.produced.saturating_sub(row.committed),
            row.rss_mb,
            row.models
        ));
        rows.push(row);
    }
    bar.finish_and_clear();
    stop.store(true, Ordering::Relaxed);
    let sent_ms = prod.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();

    // Each model's delay: its event's wall time minus the send time of its trigger's last
    // sample (the boundary key).
    let triggers: BTreeMap<u64, u64> = lines(&run_dir.join("triggers.jsonl"))
        .iter()
        .filter_map(|t| Some((t["trigger_id"].as_u64()?, t["boundary"]["key"].as_u64()?)))
        .collect();
    let mut delays: Vec<(f64, f64)> = lines(&run_dir.join("models.jsonl"))
        .iter()
        .filter_map(|m| {
            let key = triggers.get(&m["trigger_id"].as_u64()?)?;
            let sent = *sent_ms.get(*key as usize)?;
            let wall = m["wall_time_ms"].as_u64()?;
            (sent > 0).then(|| {
                (
                    (sent as f64 - start_ms) / 1000.0,
                    (wall as f64 - sent as f64) / 1000.0,
                )
            })
        })
        .collect();
    delays.sort_by(|x, y| x.0.total_cmp(&y.0));

    std::fs::create_dir_all(&a.out).unwrap();
    let mut csv = std::fs::File::create(a.out.join("soak.csv")).unwrap();
    writeln!(
        csv,
        "t_s,produced,committed,lag_samples,rss_mb,cpu_s,models,consumed_per_s,cpu_percent"
    )
    .unwrap();
    let mut rate_rows = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let (consumed, cpu) = match i.checked_sub(6) {
            // 30 s windows: commits come once per trigger.
            Some(j) => {
                let p = &rows[j];
                let dt = r.t_s - p.t_s;
                (
                    (r.committed - p.committed) as f64 / dt,
                    100.0 * (r.cpu_s - p.cpu_s) / dt,
                )
            }
            None => (f64::NAN, f64::NAN),
        };
        rate_rows.push((r.t_s, consumed, cpu));
        writeln!(
            csv,
            "{:.1},{},{},{},{:.1},{:.2},{},{:.0},{:.0}",
            r.t_s,
            r.produced,
            r.committed,
            r.produced.saturating_sub(r.committed),
            r.rss_mb,
            r.cpu_s,
            r.models,
            consumed,
            cpu
        )
        .unwrap();
    }
    plot(&a.out.join("soak.png"), &rows, &rate_rows, &delays, a.rate);

    // Verdict. Warm-up: the first 5 minutes (or the first quarter of a shorter soak).
    let warm = (a.minutes * 60.0 / 4.0).min(300.0);
    let late: Vec<&Row> = rows.iter().filter(|r| r.t_s >= warm).collect();
    let x: Vec<f64> = late.iter().map(|r| r.t_s / 60.0).collect();
    let y: Vec<f64> = late.iter().map(|r| r.rss_mb).collect();
    let growth = slope(&x, &y);
    let last = rows.last().unwrap();
    let first_late = late[0];
    let consumed_rate =
        (last.committed - first_late.committed) as f64 / (last.t_s - first_late.t_s);
    let mut lag: Vec<f64> = late
        .iter()
        .map(|r| r.produced.saturating_sub(r.committed) as f64)
        .collect();
    let mut d: Vec<f64> = delays.iter().map(|d| d.1).collect();
    let summary = format!(
        "soak: {:.0} min, {} samples produced at {:.0}/s, {} models; after {:.0} min warm-up: \
         consumed {:.0}/s = {:.3}x the produced rate, lag p50 {:.0} / max {:.0} samples, \
         model delay p50 {:.1} s / p99 {:.1} s, RSS {:.0} → {:.0} MB ({:+.2} MB/min), CPU {:.0}%",
        last.t_s / 60.0,
        last.produced,
        a.rate,
        last.models,
        warm / 60.0,
        consumed_rate,
        consumed_rate / a.rate,
        percentile(&mut lag, 0.5),
        percentile(&mut lag, 1.0),
        percentile(&mut d, 0.5),
        percentile(&mut d, 0.99),
        first_late.rss_mb,
        last.rss_mb,
        growth,
        100.0 * (last.cpu_s - first_late.cpu_s) / (last.t_s - first_late.t_s),
    );
    println!("{summary}");
    std::fs::write(a.out.join("summary.txt"), summary + "\n").unwrap();
}

/// A plotted line: label, colour, (minutes, value) points.
type Line<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

fn plot(path: &Path, rows: &[Row], rates: &[(f64, f64, f64)], delays: &[(f64, f64)], rate: f64) {
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let root = BitMapBackend::new(path, (1000, 1300)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let panels = root.split_evenly((5, 1));
    let minutes = rows.last().map_or(1.0, |r| r.t_s / 60.0);
    let series = |area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
                  title: &str,
                  unit: &str,
                  lines: Vec<Line>| {
        let max = lines
            .iter()
            .flat_map(|l| l.2.iter().map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(1e-9, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..minutes, 0.0..max)
            .unwrap();
        chart
            .configure_mesh()
            .x_desc("minutes")
            .y_desc(unit)
            .draw()
            .unwrap();
        for (label, color, points) in lines {
            let points: Vec<(f64, f64)> = points.into_iter().filter(|p| p.1.is_finite()).collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .unwrap()
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .unwrap();
    };
    let m = |t: f64| t / 60.0;
    series(
        &panels[0],
        "lag behind the topic (produced - committed offsets; commits follow each trigger)",
        "samples",
        vec![(
            "lag",
            RED,
            rows.iter()
                .map(|r| (m(r.t_s), r.produced.saturating_sub(r.committed) as f64))
                .collect(),
        )],
    );
    series(
        &panels[1],
        "model delay (trigger's last sample produced -> model event)",
        "seconds",
        vec![(
            "delay",
            MAGENTA,
            delays.iter().map(|d| (m(d.0), d.1)).collect(),
        )],
    );
    series(
        &panels[2],
        "memory of sluice run (RSS)",
        "MB",
        vec![(
            "RSS",
            BLUE,
            rows.iter().map(|r| (m(r.t_s), r.rss_mb)).collect(),
        )],
    );
    series(
        &panels[3],
        "throughput (30 s windows of committed offsets)",
        "samples/s",
        vec![
            (
                "consumed/s",
                GREEN,
                rates.iter().map(|r| (m(r.0), r.1)).collect(),
            ),
            (
                "produced/s",
                BLACK,
                rows.iter().map(|r| (m(r.t_s), rate)).collect(),
            ),
        ],
    );
    series(
        &panels[4],
        "CPU of sluice run (30 s windows)",
        "% of one core",
        vec![("CPU", CYAN, rates.iter().map(|r| (m(r.0), r.2)).collect())],
    );
    root.present().unwrap();
}
