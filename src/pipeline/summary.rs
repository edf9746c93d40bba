//! What a run did: [`RunSummary`] (`summary.json`), a follower's [`FollowSummary`], and the
//! run directory's records (`run.json`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::RunError;
use super::options::Replay;
use super::progress::Covered;
use crate::config::PipelineSpec;
use crate::eval::EvalReport;

/// What a run did; also written to `summary.json` in the run directory. A sweep's adds up its
/// variants' (see `sweep_summary`) and holds each variant's, also written to its directory.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// Pipeline name.
    pub pipeline: String,
    /// The variant of a sweep this summarises (`None`: the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Run directory.
    pub run_dir: PathBuf,
    /// Timely workers (of all processes).
    pub workers: usize,
    /// Timely processes.
    pub processes: usize,
    /// Samples decoded and stored (dead letters excluded); a resumed run's are the run's
    /// (its checkpoint's tally, then this start's), as are the next three counts.
    pub samples: u64,
    /// Inputs sent to the dead-letter file.
    pub dead_letters: u64,
    /// Copies of a stored key dropped (`[source] duplicates = "keep_first"`; with
    /// `"dead_letter"` they are dead letters).
    pub duplicates: u64,
    /// Deletions read (Kafka tombstones): each sample deleted left every later training set.
    pub deletions: u64,
    /// Copies of a stored key stored in its place (`[source] duplicates = "keep_last"`; counted
    /// in `samples` too).
    #[serde(default)]
    pub replaced: u64,
    /// Triggers fired.
    pub triggers: u64,
    /// Models trained.
    pub models: u64,
    /// Wall time of the whole run, seconds.
    pub wall_s: f64,
    /// Wall time spent training, seconds.
    pub training_s: f64,
    /// Last model id.
    pub last_model: Option<String>,
    /// Wall time per stage, seconds (dataflow stages summed over workers).
    pub cost: Cost,
    /// Evaluation: events emitted, inferences run, time, composite-model aggregates.
    pub evaluation: EvalReport,
    /// Per-sample scores the trainer reported into the dataflow
    /// (`training.per_sample_feedback`; all of them: the run waits for the trainer's last).
    pub scores: u64,
    /// Samples whose payloads the sample store still held at the end (the rest were compacted
    /// away: no strategy could select them any more).
    pub stored_samples: u64,
    /// Of those, samples whose payloads were in memory (the rest spilled to disk:
    /// `selection.maximum_keys_in_memory`).
    pub stored_in_memory: u64,
    /// The most samples whose payloads the sample store held at once (this process's: in
    /// several processes, each holds its keys', and process 0 the training sets shipped to it
    /// too).
    #[serde(default)]
    pub peak_stored_samples: u64,
    /// How the source was read.
    pub replay: Replay,
    /// What this start of the run read of its source (`run.json` adds up every start's).
    pub input: Covered,
    /// A sweep's variants, each as its own run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<RunSummary>,
}

/// Wall time per stage of a run, seconds. The per-trigger shares are `metrics` events
/// (`ingest_ms`, `trigger_policy_ms`, `selection_ms`, `training_ms`, `model_store_ms`,
/// `evaluation_ms`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Cost {
    /// Reading, decoding, storing and exchanging samples (all workers).
    pub ingest_s: f64,
    /// Of it, reading and decoding the source outside the dataflow's operators (the file share,
    /// the Kafka reader threads; the leader's process): the work a sweep's variants share.
    pub read_s: f64,
    /// The trigger policy.
    pub trigger_policy_s: f64,
    /// Selection, scores and training-set assembly, shipping included (all workers).
    pub selection_s: f64,
    /// Training (the trainer thread).
    pub training_s: f64,
    /// Storing models.
    pub model_store_s: f64,
    /// Evaluation (the evaluator thread, after-pipeline handlers included).
    pub evaluation_s: f64,
    /// Writing checkpoints (Kafka sources): serialising, writing and syncing them, and
    /// committing their offsets (the operators' `save` is in their own stages).
    pub checkpoint_s: f64,
}

/// What a follower process did (`sluice run -p I` with `I > 0`).
#[derive(Clone, Debug, Serialize)]
pub struct FollowSummary {
    /// Pipeline name.
    pub pipeline: String,
    /// This process.
    pub process: usize,
    /// Processes of the run.
    pub processes: usize,
    /// Samples this process read from its share of the source.
    pub read: u64,
    /// Of its inputs, those it sent to the leader as dead letters.
    pub dead_letters: u64,
    /// Samples of this process's keys it stored (read here or by another process).
    pub stored: u64,
    /// The most samples whose payloads it held at once.
    pub peak_stored: u64,
    /// Wall time, seconds.
    pub wall_s: f64,
}

impl RunSummary {
    /// `Err` when more than `max_ratio` of the run's inputs (samples stored, dead letters,
    /// dropped duplicates and deletions) were dead-lettered (`source.max_dead_letter_ratio`).
    pub fn check_dead_letters(&self, max_ratio: f64) -> Result<(), RunError> {
        let inputs = self.samples + self.dead_letters + self.duplicates + self.deletions;
        if inputs == 0 || self.dead_letters as f64 <= max_ratio * inputs as f64 {
            return Ok(());
        }
        Err(RunError::TooManyDeadLetters {
            dead: self.dead_letters,
            inputs,
            max_ratio,
            dead_letters: self.run_dir.join("dead-letter.jsonl"),
        })
    }
}

pub(super) fn write_summary(dir: &Path, summary: &RunSummary) -> Result<(), RunError> {
    let path = dir.join("summary.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(summary).expect("summary serialises"),
    )
    .map_err(RunError::io(format!("writing {}", path.display())))
}

/// A sweep's summary: what the variants share once (samples, dead letters, the dataflow's
/// stage times, wall time), their training, model store and evaluation times and their
/// trigger and model counts added up, and each variant's own summary.
pub(super) fn sweep_summary(
    spec: &PipelineSpec,
    run_dir: &Path,
    variants: Vec<RunSummary>,
    wall_s: f64,
) -> RunSummary {
    let first = &variants[0];
    let sum = |f: fn(&RunSummary) -> f64| variants.iter().map(f).sum::<f64>();
    RunSummary {
        pipeline: spec.name.clone(),
        variant: None,
        run_dir: run_dir.to_path_buf(),
        workers: first.workers,
        processes: first.processes,
        samples: first.samples,
        dead_letters: first.dead_letters,
        duplicates: first.duplicates,
        deletions: first.deletions,
        replaced: first.replaced,
        triggers: variants.iter().map(|v| v.triggers).sum(),
        models: variants.iter().map(|v| v.models).sum(),
        wall_s,
        training_s: sum(|v| v.training_s),
        last_model: None,
        cost: Cost {
            training_s: sum(|v| v.cost.training_s),
            model_store_s: sum(|v| v.cost.model_store_s),
            evaluation_s: sum(|v| v.cost.evaluation_s),
            ..first.cost.clone()
        },
        evaluation: EvalReport::default(),
        scores: variants.iter().map(|v| v.scores).sum(),
        stored_samples: first.stored_samples,
        stored_in_memory: first.stored_in_memory,
        peak_stored_samples: first.peak_stored_samples,
        replay: first.replay,
        input: first.input.clone(),
        variants,
    }
}

/// `runs/<pipeline>-<YYYYMMDD-HHMMSS>` (UTC).
pub fn default_run_dir(pipeline: &str) -> PathBuf {
    let secs = crate::sink::unix_ms() / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = crate::calendar::civil_from_days(days as i64);
    Path::new("runs").join(format!(
        "{pipeline}-{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}
