//! A run's status while it runs: `status.json` in the run directory, rewritten every
//! `--status-every` seconds and when the run ends, and a `status` event per lane on the metrics
//! stream (`<prefix>.metrics`). `sluice status <run-dir>` prints it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::context::RunContext;
use super::error::RunError;
use super::progress::PartitionCount;
use crate::sink::{EventBody, LaneStatus, unix_ms};

/// File name of [`Status`] in a run directory.
pub const STATUS: &str = "status.json";

/// What `status.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Pipeline name.
    pub pipeline: String,
    /// `running`, `finished` or `failed`.
    pub state: String,
    /// When this was written (Unix ms).
    pub updated_ms: u64,
    /// How often it is rewritten while running, seconds.
    pub every_s: f64,
    /// The source: a file's path or a topic's name.
    pub source: String,
    /// Per lane (a sweep's variants, else one).
    pub variants: Vec<LaneStatus>,
    /// Per source partition read so far (every process's), in partition order.
    #[serde(default)]
    pub partitions: Vec<PartitionStatus>,
}

/// What was read from a source partition (a file is partition 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionStatus {
    /// Kafka partition.
    pub partition: i32,
    /// Inputs read: samples, deletions and undecodable inputs.
    pub read: u64,
    /// Of those, and of the samples refused later (late, malformed), dead letters.
    pub dead_letters: u64,
    /// Messages up to the partition's end offset not read yet (a file: rows); absent when
    /// unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
}

/// The run's status now, in state `state`.
fn snapshot(shared: &RunContext, state: &str, every: Duration) -> Status {
    let now = unix_ms();
    let watermark = shared.counters.watermark();
    let lags = shared.source.lag(shared.counters.progress());
    let lag_messages = lags.as_ref().map(|l| l.values().sum());
    let triggers_before = shared.first_trigger_id();
    let variants = shared
        .lanes
        .iter()
        .map(|lane| LaneStatus {
            variant: lane.name.clone(),
            state: state.to_string(),
            watermark,
            lag_ms: watermark.map(|w| now.saturating_sub(w)),
            lag_messages,
            samples: shared.counters.ingested.load(Ordering::Relaxed),
            // A resumed run's triggers count those before its checkpoint.
            triggers: triggers_before + lane.progress.triggers.load(Ordering::Relaxed),
            model: lane.model.lock().expect("model slot poisoned").clone(),
            queue: lane.progress.queued.load(Ordering::Relaxed),
            last_evaluation_ms: lane
                .events
                .as_ref()
                .and_then(|e| e.last_emitted("evaluations")),
        })
        .collect();
    Status {
        pipeline: shared.spec.name.clone(),
        state: state.to_string(),
        updated_ms: now,
        every_s: every.as_secs_f64(),
        source: shared.source.name(),
        variants,
        partitions: partitions(shared.counters.partitions(), lags.unwrap_or_default()),
    }
}

/// Per partition, what was read of it and what is left (a partition not read from yet has
/// only its lag).
fn partitions(
    read: BTreeMap<i32, PartitionCount>,
    mut lags: BTreeMap<i32, u64>,
) -> Vec<PartitionStatus> {
    let mut out: Vec<PartitionStatus> = read
        .into_iter()
        .map(|(partition, c)| PartitionStatus {
            partition,
            read: c.read,
            dead_letters: c.dead,
            lag: lags.remove(&partition),
        })
        .collect();
    out.extend(lags.into_iter().map(|(partition, lag)| PartitionStatus {
        partition,
        read: 0,
        dead_letters: 0,
        lag: Some(lag),
    }));
    out.sort_by_key(|p| p.partition);
    out
}

/// Writes `status` to the run directory (atomically) and emits each lane's as an event.
pub(super) fn publish(shared: &RunContext, status: &Status) -> Result<(), RunError> {
    let path = shared.run_dir.join(STATUS);
    let tmp = shared.run_dir.join(format!(".{STATUS}.tmp"));
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(status).expect("status serialises"),
    )?;
    std::fs::rename(&tmp, &path)?;
    for (l, lane) in status.variants.iter().enumerate() {
        shared.writer(l).emit(
            format!("status-{}", status.updated_ms),
            EventBody::Status(lane.clone()),
        );
    }
    Ok(())
}

/// Rewrites the status every `every` on its own thread until [`StatusWriter::finish`]; dropped
/// unfinished (the run failed on the way), it writes state `failed`.
pub(super) struct StatusWriter {
    shared: std::sync::Arc<RunContext>,
    every: Duration,
    stop: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StatusWriter {
    /// Writes `shared`'s status now and starts rewriting it every `every` (never while running
    /// when zero).
    pub(super) fn start(shared: &std::sync::Arc<RunContext>, every: Duration) -> Self {
        let stop = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let thread = (!every.is_zero())
            .then(|| {
                // A first status before any sample is read: `sluice status` works from the
                // moment the run starts, not only after the first period.
                if let Err(e) = publish(shared, &snapshot(shared, "running", every)) {
                    tracing::warn!("writing the run's status: {e}");
                }
                let (shared, stop) = (shared.clone(), stop.clone());
                std::thread::Builder::new()
                    .name("status".into())
                    .spawn(move || {
                        let (stopped, wake) = &*stop;
                        let mut s = stopped.lock().expect("status stop poisoned");
                        loop {
                            s = wake.wait_timeout(s, every).expect("status stop poisoned").0;
                            if *s {
                                return;
                            }
                            let status = snapshot(&shared, "running", every);
                            if let Err(e) = publish(&shared, &status) {
                                tracing::warn!("writing the run's status: {e}");
                            }
                        }
                    })
                    .ok()
            })
            .flatten();
        Self {
            shared: shared.clone(),
            every,
            stop,
            thread,
        }
    }

    fn stop(&mut self) {
        *self.stop.0.lock().expect("status stop poisoned") = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops the thread and writes the last status, in state `state`.
    pub(super) fn finish(mut self, state: &str) -> Result<(), RunError> {
        self.last(state)
    }

    fn last(&mut self, state: &str) -> Result<(), RunError> {
        self.stop();
        let status = snapshot(&self.shared, state, self.every);
        publish(&self.shared, &status)
    }
}

impl Drop for StatusWriter {
    fn drop(&mut self) {
        let unfinished =
            self.thread.is_some() || !*self.stop.0.lock().expect("status stop poisoned");
        if unfinished && let Err(e) = self.last("failed") {
            tracing::warn!("writing the run's status: {e}");
        }
    }
}

/// Reads a run directory's status.
pub fn read(run_dir: &Path) -> Result<Status, RunError> {
    let path = run_dir.join(STATUS);
    let text = std::fs::read(&path).map_err(|e| {
        RunError::Usage(format!(
            "{}: cannot read {STATUS}: {e} (is this a Sluice run directory?)",
            run_dir.display()
        ))
    })?;
    serde_json::from_slice(&text).map_err(|e| RunError::Usage(format!("{}: {e}", path.display())))
}

/// `sluice status`'s text: a line for the run, a table row per lane.
pub fn render(status: &Status, now_ms: u64) -> String {
    let ago = |ms: u64| {
        let s = now_ms.saturating_sub(ms) as f64 / 1000.0;
        if s < 120.0 {
            format!("{s:.0} s ago")
        } else if s < 7200.0 {
            format!("{:.0} min ago", s / 60.0)
        } else {
            format!("{:.1} h ago", s / 3600.0)
        }
    };
    let first = &status.variants[0];
    let stale = status.state == "running"
        && now_ms.saturating_sub(status.updated_ms) as f64 > 3000.0 * status.every_s.max(1.0);
    let mut out = format!(
        "{}: {}{}, updated {}; {} samples from {}",
        status.pipeline,
        status.state,
        if stale {
            " (not updated for 3 intervals: the run may have died)"
        } else {
            ""
        },
        ago(status.updated_ms),
        first.samples,
        status.source,
    );
    if let Some(w) = first.watermark {
        out += &format!(", watermark {}", crate::format_time(w));
    }
    if let Some(lag) = first.lag_messages {
        out += &format!(", {lag} records behind the source");
    }
    out.push('\n');
    let rows: Vec<[String; 5]> = status
        .variants
        .iter()
        .map(|v| {
            [
                v.variant.clone().unwrap_or_else(|| "-".into()),
                v.triggers.to_string(),
                v.model.clone().unwrap_or_else(|| "none".into()),
                v.queue.to_string(),
                v.last_evaluation_ms.map_or_else(|| "never".into(), ago),
            ]
        })
        .collect();
    let header = [
        "variant",
        "triggers",
        "model in service",
        "queue",
        "last evaluation",
    ];
    let width: Vec<usize> = (0..5)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(header.map(String::from)).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out += line.join("  ").trim_end();
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partitions_lag_joins_its_counts_and_one_not_read_yet_is_listed() {
        let read = BTreeMap::from([
            (0, PartitionCount { read: 10, dead: 1 }),
            (2, PartitionCount { read: 5, dead: 0 }),
        ]);
        let lags = BTreeMap::from([(0, 3), (1, 7)]);
        let got: Vec<_> = partitions(read, lags)
            .into_iter()
            .map(|p| (p.partition, p.read, p.dead_letters, p.lag))
            .collect();
        assert_eq!(
            got,
            [(0, 10, 1, Some(3)), (1, 0, 0, Some(7)), (2, 5, 0, None)]
        );
    }

    #[test]
    fn the_status_renders_a_line_for_the_run_and_a_row_per_variant() {
        let lane = |name: &str, triggers: u64, model: Option<&str>| LaneStatus {
            variant: Some(name.into()),
            state: "running".into(),
            watermark: Some(1_704_067_200_000),
            lag_ms: Some(5),
            lag_messages: Some(42),
            samples: 1_000,
            triggers,
            model: model.map(String::from),
            queue: 1,
            last_evaluation_ms: Some(90_000),
        };
        let status = Status {
            pipeline: "p".into(),
            state: "running".into(),
            updated_ms: 99_000,
            every_s: 10.0,
            source: "topic".into(),
            variants: vec![lane("a", 3, Some("p-0002")), lane("long-name", 0, None)],
            partitions: Vec::new(),
        };
        let text = render(&status, 100_000);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "p: running, updated 1 s ago; 1000 samples from topic, watermark \
             2024-01-01T00:00:00.000Z, 42 records behind the source"
        );
        assert_eq!(
            lines[1],
            "variant    triggers  model in service  queue  last evaluation"
        );
        assert_eq!(
            lines[2],
            "a          3         p-0002            1      10 s ago"
        );
        assert_eq!(
            lines[3],
            "long-name  0         none              1      10 s ago"
        );
        // Not rewritten for 3 intervals while running: said so.
        let stale = render(&status, 99_000 + 31_000);
        assert!(
            stale.contains("running (not updated for 3 intervals"),
            "{stale}"
        );
    }
}
