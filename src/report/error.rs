//! [`ReportError`]: why `sluice report` could not read its runs or write its plots.

/// Why a report could not be made. Each message names the run directory or file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A run directory that is not a complete Sluice run (missing or malformed files): how the
    /// report was asked for. The CLI exits with code 2.
    #[error("{0}")]
    Usage(String),
    /// Plots or `index.html` could not be drawn or written.
    #[error("{0}")]
    Failed(String),
}
