//! What an import returns: the translated config with its notes, or the problems that stopped it.

use std::fmt;
use std::path::PathBuf;

/// A translated pipeline.
#[derive(Clone, Debug)]
pub struct Import {
    /// The Sluice config, the notes first as `#` comments.
    pub toml: String,
    /// What was not translated, or translated with a difference, by Modyn key path.
    pub notes: Vec<Note>,
}

/// What a note asks of the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// A value Sluice needs that the Modyn file does not have (a placeholder was written).
    Placeholder,
    /// A key with no Sluice equivalent: not in the output; the note says what to do instead.
    Untranslated,
    /// Translated to the nearest Sluice setting, which behaves differently as described.
    Approximated,
}

impl fmt::Display for NoteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoteKind::Placeholder => "placeholder",
            NoteKind::Untranslated => "not translated",
            NoteKind::Approximated => "approximated",
        })
    }
}

/// One remark about a Modyn key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Modyn key path, e.g. `training.optimizers[0].param_groups[0].config.momentum`.
    pub key: String,
    /// Line of the key in the YAML file (1-based).
    pub line: usize,
    /// What kind of remark.
    pub kind: NoteKind,
    /// What was done, or what to do instead.
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (line {}): {}: {}",
            self.key, self.line, self.kind, self.message
        )
    }
}

/// A reason the file cannot be imported: a YAML syntax error, a missing required Modyn key,
/// or a value of the wrong type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Modyn key path (`(yaml)` for syntax errors).
    pub key: String,
    /// Line in the YAML file (1-based); for a missing key, the line of its parent.
    pub line: usize,
    /// Column, for syntax errors.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Every problem that stopped an import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// The Modyn pipeline file.
    pub file: PathBuf,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let at = match p.column {
                Some(c) => format!("{}:{c}", p.line),
                None => p.line.to_string(),
            };
            write!(f, "{}:{at}: {}: {}", self.file.display(), p.key, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportError {}
