//! JSONL event files in the run directory: `triggers.jsonl`, `models.jsonl`, `metrics.jsonl`,
//! `evaluations.jsonl`, `dead-letter.jsonl`; one JSON object per line. Safe to share between
//! threads; each line is written whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::event::{Event, EventBody, unix_ms};

/// Writes events as JSON lines, one file per kind.
pub struct JsonlSink {
    dir: PathBuf,
    pipeline: String,
    files: Mutex<HashMap<&'static str, BufWriter<File>>>,
}

impl JsonlSink {
    /// Creates the five event files (empty) in `dir`.
    pub fn create(dir: &Path, pipeline: &str) -> std::io::Result<Self> {
        let mut files = HashMap::new();
        for kind in [
            "triggers",
            "models",
            "metrics",
            "evaluations",
            "dead-letter",
        ] {
            let path = dir.join(format!("{kind}.jsonl"));
            let f = File::create(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            files.insert(kind, BufWriter::new(f));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            pipeline: pipeline.to_string(),
            files: Mutex::new(files),
        })
    }

    /// Emits an event with id `id`, stamped with the current wall time.
    pub fn emit(&self, id: String, body: EventBody) -> std::io::Result<()> {
        let event = Event {
            pipeline: self.pipeline.clone(),
            id,
            wall_time_ms: unix_ms(),
            body,
        };
        let mut line = serde_json::to_vec(&event).expect("events always serialise");
        line.push(b'\n');
        let stream = event.body.stream();
        let mut files = self.files.lock().expect("event writer poisoned");
        let f = files.get_mut(stream).expect("all streams opened");
        f.write_all(&line).map_err(|e| {
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
