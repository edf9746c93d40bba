//! [`RunError`]: why a run (or `sluice evaluate`, or reading a run's status) failed.

use crate::config::ConfigErrors;
use crate::eval::EvalError;
use crate::sink::SinkError;
use crate::source::SourceError;
use crate::source::kafka::admin::KafkaError;
use crate::store::StoreError;
use crate::train::TrainError;

/// Why a run failed. `Usage` and `Config` are errors in how Sluice was invoked (the CLI's exit
/// code 2); the others are failures of the run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// How the run was asked for: a model that does not fit the input, an unknown device, a
    /// replay window outside the data, a run directory of another pipeline, a bad hostfile.
    #[error("{0}")]
    Usage(String),
    /// The config.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// The source (or an evaluation dataset) could not be opened or read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A trainer stopped.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The evaluator stopped.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The event files or topics could not be opened.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The sample or model store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file of the run directory could not be written or read: what was being done, and
    /// the I/O error as its source.
    #[error("{context}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A file of the run directory, or the event files, could not be written or read.
    #[error(transparent)]
    File(#[from] std::io::Error),
    /// An evaluation dataset's topic could not be read.
    #[error("reading evaluation dataset `{dataset}`")]
    EvalTopic {
        /// The dataset's name.
        dataset: String,
        /// Why.
        #[source]
        source: KafkaError,
    },
    /// The dataflow failed: a worker's error, or timely could not start or finish.
    #[error("{0}")]
    Failed(String),
    /// The run finished, but more of its input was dead-lettered than
    /// `source.max_dead_letter_ratio` allows.
    #[error(
        "{dead} of {inputs} inputs ({:.1}%) were dead-lettered, more than \
         source.max_dead_letter_ratio = {max_ratio} allows; see {}",
        100.0 * *dead as f64 / *inputs as f64,
        dead_letters.display()
    )]
    TooManyDeadLetters {
        /// Dead letters.
        dead: u64,
        /// Inputs: samples stored, dead letters and dropped duplicates.
        inputs: u64,
        /// The bound.
        max_ratio: f64,
        /// The run's dead-letter file.
        dead_letters: std::path::PathBuf,
    },
}

impl RunError {
    /// An I/O error while doing `context`.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
        let context = context.into();
        move |source| RunError::Io { context, source }
    }
}
