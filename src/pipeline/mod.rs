//! Running a pipeline: the dataflow graph and the orchestration around it.
//!
//! | file | responsibility |
//! |---|---|
//! | `cost.rs` | [`cost::StageClock`]: wall time per dataflow stage from timely's scheduling log, split per trigger |
//! | `dataflow.rs` | the per-worker timely graph: store → trigger → selection → training sink |
//! | `evaluate.rs` | `sluice evaluate`: evaluation from a run directory's model store |
//! | `run.rs` | [`run`]: run directory, trainer thread, timely workers, progress, summary |
//! | `triggers.rs` | trigger policies from `[trigger]`; the probe they read payloads through |
//! | `cluster.rs` | several timely processes: the topology (`-n`, `-p`, hostfile), the handshake, followers' reports to the leader |
//! | `status.rs` | `status.json` and `status` events while a run runs; `sluice status` |
//! | `checkpoint.rs` | checkpoints at trigger boundaries: offsets, model, event file lengths |

pub mod checkpoint;
mod cluster;
pub mod cost;
mod dataflow;
mod evaluate;
mod run;
pub mod status;
mod triggers;

pub use evaluate::{EvaluateSummary, RUN_INFO, RunInfo, evaluate, trained_models};
pub use run::{
    Covered, FollowSummary, Replay, RunOptions, RunSummary, check_eval_files, check_model_input,
    follow, run,
};
pub use status::{LaneStatus, Status};
