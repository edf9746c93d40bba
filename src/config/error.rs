//! Configuration errors: every problem found, each naming the file and the key path.

use std::fmt;
use std::path::PathBuf;

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path (`trigger.every`), or `line L, column C` for syntax errors.
    pub key: String,
    /// What is wrong, phrased as what was expected.
    pub message: String,
}

/// Every problem found in one config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The config file.
    pub file: PathBuf,
    /// The problems, in the order they were found.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}: {}", self.file.display(), e.key, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
