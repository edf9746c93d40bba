//! The commands of the `sluice` binary: each file holds one command's clap arguments and its
//! body; `main.rs` parses and dispatches. The binary is the edge where `anyhow` is used: the
//! library's typed errors that mean "invoked wrongly" become a [`UsageError`] here (exit
//! code 2).
//!
//! | file | responsibility |
//! |---|---|
//! | `run.rs` | `sluice run`: run a pipeline, print its summary |
//! | `status.rs` | `sluice status`: a run's `status.json` |
//! | `serve.rs` | `sluice serve`: the live dashboard and `/metrics` of run directories; the servers of `sluice run --serve/--metrics-addr` |
//! | `evaluate.rs` | `sluice evaluate`: re-evaluate a run's stored models |
//! | `report.rs` | `sluice report`: plots and an index.html from run directories |
//! | `validate.rs` | `sluice validate`: check a config and its input files |
//! | `import_modyn.rs` | `sluice import-modyn`: a Modyn pipeline as a Sluice config |
//! | `produce.rs` | `sluice produce`: publish a dataset to a topic |
//! | `tail.rs` | `sluice tail`: print a topic's messages |
//! | `datasets.rs` | `sluice datasets list/prepare`: bundled datasets |
//! | `models.rs` | `sluice models export`: a stored model as safetensors |
//! | `lineage.rs` | `sluice lineage`: the models that trained on a key |
//! | `cluster.rs` | [`ClusterArgs`](cluster::ClusterArgs): the Kafka flags of `produce` and `tail` |
//! | `summary.rs` | [`in_service`](summary::in_service): the summary lines' model-in-service part |

pub mod cluster;
pub mod datasets;
pub mod evaluate;
pub mod import_modyn;
pub mod lineage;
pub mod models;
pub mod produce;
pub mod report;
pub mod run;
pub mod serve;
pub mod status;
pub mod summary;
pub mod tail;
pub mod validate;

use sluice::datasets::DatasetError;
use sluice::pipeline::RunError;
use sluice::report::ReportError;

/// An error in how Sluice was invoked (bad config, missing input file, unknown dataset): the
/// CLI exits with code 2 for these, 1 for every other failure. Commands make one from the
/// library's typed errors with the `*_failure` functions below.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A run's error as the CLI reports it: one in how Sluice was invoked is a usage error (exit
/// code 2; the config's errors stay `ConfigErrors`, which `main` reports the same way).
pub fn run_failure(e: RunError) -> anyhow::Error {
    match e {
        RunError::Usage(m) => UsageError(m).into(),
        RunError::Config(c) => c.into(),
        e => e.into(),
    }
}

/// A dataset error as the CLI reports it: one in how the dataset was asked for is a usage error
/// (exit code 2).
pub fn dataset_failure(e: DatasetError) -> anyhow::Error {
    match e {
        DatasetError::Usage(m) => UsageError(m).into(),
        e => e.into(),
    }
}

/// A report error as the CLI reports it: an incomplete run directory is a usage error (exit
/// code 2).
pub fn report_failure(e: ReportError) -> anyhow::Error {
    match e {
        ReportError::Usage(m) => UsageError(m).into(),
        e => e.into(),
    }
}
