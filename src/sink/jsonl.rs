//! JSONL event files in the run directory: `triggers.jsonl`, `models.jsonl`, `metrics.jsonl`,
//! `evaluations.jsonl`, `dead-letter.jsonl`; one JSON object per line. Safe to share between
//! threads; each line is written whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::event::STREAMS;

/// Writes event lines, one file per stream.
pub struct JsonlSink {
    dir: PathBuf,
    files: Mutex<HashMap<&'static str, BufWriter<File>>>,
}

impl JsonlSink {
    /// Creates the event files (empty) in `dir`.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        let mut files = HashMap::new();
        for stream in STREAMS {
            let path = dir.join(format!("{stream}.jsonl"));
            let f = File::create(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            files.insert(stream, BufWriter::new(f));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            files: Mutex::new(files),
        })
    }

    /// Appends `line` (one JSON object, no newline) to `stream`'s file.
    pub fn write(&self, stream: &str, line: &[u8]) -> std::io::Result<()> {
        let mut files = self.files.lock().expect("event writer poisoned");
        let f = files.get_mut(stream).expect("all streams opened");
        f.write_all(line)
            .and_then(|()| f.write_all(b"\n"))
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("{}/{stream}.jsonl: {e}", self.dir.display()),
                )
            })
    }

    /// Flushes every file.
    pub fn flush(&self) -> std::io::Result<()> {
        let mut files = self.files.lock().expect("event writer poisoned");
        for f in files.values_mut() {
            f.flush()?;
        }
        Ok(())
    }
}

impl Drop for JsonlSink {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
