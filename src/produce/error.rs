//! [`ProduceError`]: why `sluice produce` could not read or publish its rows.

use std::path::PathBuf;

use crate::source::kafka::admin::KafkaError;

/// Why rows could not be read or published.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// A file could not be read as rows.
    #[error("{}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A row lacks the time column, or its key column is not an unsigned integer.
    #[error("row without {what} `{column}` column: {row}")]
    Row {
        /// `a numeric` or `an unsigned`.
        what: &'static str,
        /// The column.
        column: String,
        /// The row, as its JSON object.
        row: String,
    },
    /// The topic could not be created, the producer not started, or records not delivered.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}
