//! Running a pipeline: the dataflow graph and the orchestration around it.
//!
//! | file | responsibility |
//! |---|---|
//! | `run.rs` | [`run`] and [`follow`]: a run in named steps (prepare, start lanes, execute, finish) |
//! | `options.rs` | [`RunOptions`], [`Replay`]: how a run is started and reads its source |
//! | `checks.rs` | checks before a run (model input, devices, replay window, evaluation files); opening the source and evaluation datasets |
//! | `prepare.rs` | the leader's run directory (resume, start record, `run.json`, events), lanes and context; a follower's context |
//! | `context.rs` | [`context::RunContext`]: what one process's workers share, one owner per concern; routing of what followers report |
//! | `lane.rs` | a lane (a sweep's variant, or the run): its spec, directory, model store, events, trainer queue, counters |
//! | `progress.rs` | [`Covered`], the process's counters (inputs read, samples stored, dead letters, watermarks) and each lane's (triggers, queued sets, scores) |
//! | `outbox.rs` | a follower's reports to the leader; the run's first failure |
//! | `book.rs` | the checkpoint book: pieces per trigger, writing a checkpoint, committing its offsets through the source |
//! | `trainers.rs` | each lane's trainer thread and evaluator, started and joined; what a finished trigger reports back |
//! | `worker.rs` | one process's timely workers: the graph built, the source's share fed with backpressure, reports passed on |
//! | `dataflow.rs` | the per-worker timely graph, every operator and sink wired: store → trigger → selection → assembly → trainer sink |
//! | `ship.rs` | with keys on every process: each training set's samples shipped from their processes to the trainer's |
//! | `sinks.rs` | the graph's sinks (events, dead letters, decisions, checkpoint pieces, retirement, failure, trainer), each with its one narrow handle |
//! | `triggers.rs` | trigger policies from `[trigger]`; the probe they read payloads through |
//! | `cluster.rs` | several timely processes: the topology (`-n`, `-p`, hostfile), the handshake, followers' reports to the leader |
//! | `cost.rs` | [`cost::StageClock`]: wall time per dataflow stage from timely's scheduling log, split per trigger |
//! | `status.rs` | `status.json` and `status` events while a run runs; `sluice status` |
//! | `checkpoint.rs` | checkpoints at trigger boundaries: the file format, start records |
//! | `summary.rs` | [`RunSummary`], [`FollowSummary`]: what a run did |
//! | `evaluate.rs` | `sluice evaluate`: evaluation from a run directory's model store; `run.json` |
//! | `error.rs` | [`RunError`]: why a run failed; its `Usage` and `Config` are the CLI's exit code 2 |

mod book;
pub mod checkpoint;
mod checks;
mod cluster;
mod context;
pub mod cost;
mod dataflow;
mod error;
mod evaluate;
mod lane;
mod options;
mod outbox;
mod prepare;
mod progress;
mod run;
mod ship;
mod sinks;
pub mod status;
mod summary;
mod trainers;
mod triggers;
mod worker;

pub use crate::sink::LaneStatus;
pub use checks::{check_eval_files, check_model_input};
pub use error::RunError;
pub use evaluate::{EvaluateSummary, RUN_INFO, RunInfo, evaluate, trained_models};
pub use options::{Replay, RunOptions};
pub use progress::Covered;
pub use run::{follow, run};
pub use status::Status;
pub use summary::{Cost, FollowSummary, RunSummary, default_run_dir};
