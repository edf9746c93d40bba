//! JSONL event files in the run directory: `triggers.jsonl`, `models.jsonl`, `metrics.jsonl`,
//! `evaluations.jsonl`, `dead-letter.jsonl`; one JSON object per line. Safe to share between
//! threads; each line is written whole. Triggers and models (a line per trigger) reach the file
//! at once, for whoever follows it; the busier streams are buffered until the next checkpoint.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::event::STREAMS;

/// Writes event lines, one file per stream.
pub struct JsonlSink {
    dir: PathBuf,
    files: Mutex<HashMap<&'static str, BufWriter<File>>>,
    /// Ids of events kept from before a resume.
    seen: Mutex<HashSet<String>>,
}

/// The lines of an event file to keep when resuming after trigger `k`, recording their ids.
fn keep_until(path: &Path, k: u64, seen: &mut HashSet<String>) -> std::io::Result<Vec<u8>> {
    let text = match std::fs::read(path) {
        // A line torn inside a multi-byte character must not make the whole file unreadable.
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut kept = Vec::new();
    for line in text.lines() {
        // A torn last line (killed mid-write) does not parse: dropped.
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v.get("trigger_id")
            .and_then(|t| t.as_u64())
            .is_some_and(|t| t > k)
        {
            continue;
        }
        if let Some(id) = v.get("id").and_then(|i| i.as_str()) {
            seen.insert(id.to_string());
        }
        kept.extend_from_slice(line.as_bytes());
        kept.push(b'\n');
    }
    Ok(kept)
}

impl JsonlSink {
    /// Creates the event files (empty) in `dir`; or, resuming after trigger `k`, keeps the
    /// events of triggers up to `k` (and those without a trigger, such as dead letters) and
    /// drops the later ones, which the resumed run emits again. Events whose id is already in
    /// a file are not written twice.
    pub fn create(dir: &Path, resume_after: Option<u64>) -> std::io::Result<Self> {
        let mut files = HashMap::new();
        let mut seen = HashSet::new();
        for stream in STREAMS {
            let path = dir.join(format!("{stream}.jsonl"));
            let ctx = |e: std::io::Error| {
                std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
            };
            // A new file in either case (a reader following the old one sees it replaced).
            let kept = match resume_after {
                Some(k) => keep_until(&path, k, &mut seen).map_err(ctx)?,
                None => Vec::new(),
            };
            let tmp = dir.join(format!(".{stream}.jsonl.tmp"));
            std::fs::write(&tmp, kept).map_err(ctx)?;
            std::fs::rename(&tmp, &path).map_err(ctx)?;
            let f = OpenOptions::new().append(true).open(&path).map_err(ctx)?;
            files.insert(stream, BufWriter::new(f));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            files: Mutex::new(files),
            seen: Mutex::new(seen),
        })
    }

    /// Appends `line` (one JSON object, no newline) to `stream`'s file, unless an event with
    /// this `id` is already there (resumed runs).
    pub fn write(&self, stream: &str, id: &str, line: &[u8]) -> std::io::Result<()> {
        {
            let seen = self.seen.lock().expect("event writer poisoned");
            if !seen.is_empty() && seen.contains(id) {
                return Ok(());
            }
        }
        let mut files = self.files.lock().expect("event writer poisoned");
        let f = files.get_mut(stream).expect("all streams opened");
        f.write_all(line)
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| {
                if matches!(stream, "triggers" | "models") {
                    f.flush()
                } else {
                    Ok(())
                }
            })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_keeps_events_up_to_the_checkpoint_and_skips_known_ids() {
        let d = tempfile::tempdir().unwrap();
        let sink = JsonlSink::create(d.path(), None).unwrap();
        for k in 0..4 {
            let line = format!(r#"{{"id":"trigger-{k}","kind":"trigger","trigger_id":{k}}}"#);
            sink.write("triggers", &format!("trigger-{k}"), line.as_bytes())
                .unwrap();
        }
        sink.write(
            "dead-letter",
            "dead-letter-t/0/5",
            br#"{"id":"dead-letter-t/0/5","kind":"dead_letter"}"#,
        )
        .unwrap();
        drop(sink);
        // A torn line, as a kill mid-write leaves it.
        let mut f = OpenOptions::new()
            .append(true)
            .open(d.path().join("triggers.jsonl"))
            .unwrap();
        f.write_all(br#"{"id":"trigger-4","kin"#).unwrap();
        drop(f);

        let sink = JsonlSink::create(d.path(), Some(1)).unwrap();
        // Re-emitted after the resume: a known dead letter is skipped, trigger 2 is written.
        sink.write(
            "dead-letter",
            "dead-letter-t/0/5",
            br#"{"id":"dead-letter-t/0/5","kind":"dead_letter"}"#,
        )
        .unwrap();
        sink.write(
            "triggers",
            "trigger-2",
            br#"{"id":"trigger-2","kind":"trigger","trigger_id":2}"#,
        )
        .unwrap();
        drop(sink);
        let ids = |f: &str| -> Vec<String> {
            std::fs::read_to_string(d.path().join(f))
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect()
        };
        assert_eq!(
            ids("triggers.jsonl"),
            ["trigger-0", "trigger-1", "trigger-2"]
        );
        assert_eq!(ids("dead-letter.jsonl"), ["dead-letter-t/0/5"]);
        // A fresh run starts empty.
        JsonlSink::create(d.path(), None).unwrap();
        assert!(ids("triggers.jsonl").is_empty());
    }
}
