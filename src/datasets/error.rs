//! [`DatasetError`]: why a bundled dataset could not be made, read or written.

/// Why a bundled dataset could not be made, read or written. Each message names where: the
/// dataset, or the file (with its line or row when one is at fault).
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// How it was asked for: an unknown dataset, or one whose package is not installed (the
    /// message says how to install it, or to give `--source`). The CLI exits with code 2.
    #[error("{0}")]
    Usage(String),
    /// A file that could not be read, parsed or written, or data that is not what the
    /// dataset's reader expects.
    #[error("{0}")]
    Data(String),
}
