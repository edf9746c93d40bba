//! A run directory read for the dashboard and `/metrics`, while the run may still write it:
//! `status.json`, each variant's events, the dead letters, the newest checkpoint. What cannot
//! be read is an error naming the file, on that run only.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use serde_json::Value;

use crate::pipeline::status::{self, Status};
use crate::report::{EVENT_FILES, RunData, read_summary};
use crate::sink::LaneStatus;

/// The most dead letters a view keeps (the newest).
pub const DEAD_TAIL: usize = 20;

/// A run directory, read now.
pub struct RunView {
    /// Its name: the directory's (unique among the runs served).
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// `status.json`, or why it cannot be read.
    pub status: Result<Status, String>,
    /// Per variant (a sweep's, else one).
    pub variants: Vec<VariantView>,
    /// Dead letters so far.
    pub dead_letters: u64,
    /// The newest [`DEAD_TAIL`] dead letters, oldest first.
    pub dead_tail: Vec<Value>,
    /// When the newest checkpoint was written (Unix ms).
    pub checkpoint_ms: Option<u64>,
}

/// A variant of a run (or the run), read now.
pub struct VariantView {
    /// The sweep's variant (`None`: not a sweep).
    pub name: Option<String>,
    /// Its line of `status.json`.
    pub lane: Option<LaneStatus>,
    /// Its events (triggers, costs, evaluations), or why they cannot be read.
    pub data: Result<Arc<RunData>, String>,
    /// Its model events.
    pub models: Arc<Vec<Value>>,
}

impl VariantView {
    /// The model in service's event, if it has one yet.
    pub fn model_in_service(&self) -> Option<&Value> {
        let id = self.lane.as_ref()?.model.as_deref()?;
        self.models.iter().rev().find(|m| m["model_id"] == id)
    }

    /// The label a metric or a page gives it: its name, or empty outside sweeps.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}

impl RunView {
    /// Whether the run still runs (its status says so).
    pub fn running(&self) -> bool {
        self.status.as_ref().is_ok_and(|s| s.state == "running")
    }

    /// Triggers fired so far, over its variants.
    pub fn triggers(&self) -> u64 {
        self.variants
            .iter()
            .map(|v| v.lane.as_ref().map_or(0, |l| l.triggers))
            .sum()
    }
}

/// Reads the run directory `dir`, all of it.
pub fn read(dir: &Path) -> RunView {
    Cache::default().read(dir)
}

/// The name a run directory is served under: its last component.
pub fn run_name(dir: &Path) -> String {
    dir.file_name()
        .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into())
}

/// `dir`'s `status.json`, or why it cannot be read (a directory not created yet included).
pub fn read_status(dir: &Path) -> Result<Status, String> {
    if !dir.is_dir() {
        return Err(format!(
            "{}: no such run directory (yet: a run started with `--out` there creates it)",
            dir.display()
        ));
    }
    status::read(dir).map_err(|e| e.to_string())
}

/// What a server keeps of each run directory between requests: the events read so far, so a
/// request parses only the lines the run appended since the one before (an online run's
/// files grow for days).
#[derive(Default)]
pub struct Cache {
    runs: Mutex<HashMap<PathBuf, RunCache>>,
}

/// A run directory's events read so far.
#[derive(Default)]
struct RunCache {
    /// Per variant directory.
    variants: HashMap<PathBuf, VariantCache>,
    dead: Tail,
    dead_letters: u64,
    dead_tail: VecDeque<Value>,
}

/// A variant's events read so far ([`EVENT_FILES`], a [`Tail`] each).
struct VariantCache {
    data: Arc<RunData>,
    models: Arc<Vec<Value>>,
    tails: [Tail; EVENT_FILES.len()],
}

impl VariantCache {
    fn new(dir: &Path) -> Self {
        Self {
            data: Arc::new(RunData::new(dir, Value::Null)),
            models: Arc::default(),
            tails: Default::default(),
        }
    }

    /// Reads what `dir`'s files gained since the last update; a replaced file (a resumed run
    /// rewrites them) is read again from its start, with the others.
    fn update(&mut self, dir: &Path) -> Result<(), String> {
        let summary = read_summary(dir, true).map_err(|e| e.to_string())?;
        Arc::make_mut(&mut self.data).set_summary(summary);
        for (i, file) in EVENT_FILES.into_iter().enumerate() {
            let events = match self.tails[i].read(&dir.join(file))? {
                Appended::Lines(events) => events,
                Appended::Replaced => {
                    *self = Self::new(dir);
                    return self.update(dir);
                }
            };
            let data = Arc::make_mut(&mut self.data);
            for e in &events {
                data.absorb(file, e).map_err(|e| e.to_string())?;
            }
            if file == "models.jsonl" {
                Arc::make_mut(&mut self.models).extend(events);
            }
        }
        Ok(())
    }
}

impl RunCache {
    /// Counts the dead letters appended since the last update and keeps the newest
    /// [`DEAD_TAIL`].
    fn update_dead_letters(&mut self, dir: &Path) {
        let path = dir.join("dead-letter.jsonl");
        let events = match self.dead.read(&path) {
            Ok(Appended::Lines(events)) => events,
            Ok(Appended::Replaced) => {
                (self.dead, self.dead_letters) = (Tail::default(), 0);
                self.dead_tail.clear();
                return self.update_dead_letters(dir);
            }
            Err(e) => {
                // The count stays where it was; the status has the run's own.
                tracing::warn!("{e}");
                return;
            }
        };
        self.dead_letters += events.len() as u64;
        self.dead_tail.extend(events);
        let extra = self.dead_tail.len().saturating_sub(DEAD_TAIL);
        self.dead_tail.drain(..extra);
    }
}

impl Cache {
    /// Reads the run directory `dir`: what its run wrote since the last read of it, added to
    /// what that read kept.
    pub fn read(&self, dir: &Path) -> RunView {
        let name = run_name(dir);
        let status = read_status(dir);
        let mut runs = self.runs.lock().expect("run cache poisoned");
        if !dir.is_dir() {
            runs.remove(dir);
            return RunView {
                name,
                dir: dir.to_path_buf(),
                status,
                variants: vec![VariantView {
                    name: None,
                    lane: None,
                    data: Err("no run directory".into()),
                    models: Arc::default(),
                }],
                dead_letters: 0,
                dead_tail: Vec::new(),
                checkpoint_ms: None,
            };
        }
        let lanes: Vec<Option<LaneStatus>> = match &status {
            Ok(s) => s.variants.iter().cloned().map(Some).collect(),
            Err(_) => vec![None],
        };
        let run = runs.entry(dir.to_path_buf()).or_default();
        let variants = lanes
            .into_iter()
            .map(|lane| {
                let name = lane.as_ref().and_then(|l| l.variant.clone());
                let vdir = match &name {
                    Some(v) => dir.join("variants").join(v),
                    None => dir.to_path_buf(),
                };
                let cache = (run.variants)
                    .entry(vdir.clone())
                    .or_insert_with(|| VariantCache::new(&vdir));
                let (data, models) = match cache.update(&vdir) {
                    Ok(()) => (Ok(cache.data.clone()), cache.models.clone()),
                    Err(e) => {
                        // Read again from the start next time.
                        run.variants.remove(&vdir);
                        (Err(e), Arc::default())
                    }
                };
                VariantView {
                    name,
                    lane,
                    data,
                    models,
                }
            })
            .collect();
        run.update_dead_letters(dir);
        RunView {
            name,
            dir: dir.to_path_buf(),
            status,
            variants,
            dead_letters: run.dead_letters,
            dead_tail: run.dead_tail.iter().cloned().collect(),
            checkpoint_ms: newest_checkpoint(dir),
        }
    }
}

/// When the newest file under `<dir>/checkpoints` was written (Unix ms).
fn newest_checkpoint(dir: &Path) -> Option<u64> {
    let mut newest = None;
    let mut todo = vec![dir.join("checkpoints")];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                todo.push(entry.path());
            } else if let Ok(t) = meta.modified()
                && let Ok(since) = t.duration_since(UNIX_EPOCH)
            {
                newest = newest.max(Some(since.as_millis() as u64));
            }
        }
    }
    newest
}

/// A JSONL file followed while its run appends to it: each read parses only the lines
/// completed since the last one.
#[derive(Default)]
struct Tail {
    /// The file read (its inode): a resumed run replaces its event files.
    inode: Option<u64>,
    /// Bytes read: up to the end of the last complete line.
    offset: u64,
    /// Lines read.
    lines: usize,
}

/// What [`Tail::read`] found.
enum Appended {
    /// The lines completed since the last read.
    Lines(Vec<Value>),
    /// The file was replaced or shrank: what was read of it no longer holds.
    Replaced,
}

impl Tail {
    /// The lines of `path` completed since the last read; a file not created yet has none. A
    /// line that is not JSON is an error naming `path:line`.
    fn read(&mut self, path: &Path) -> Result<Appended, String> {
        use std::io::{Read, Seek, SeekFrom};
        use std::os::unix::fs::MetadataExt;
        let mut file = match std::fs::File::open(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(if self.offset > 0 {
                    Appended::Replaced
                } else {
                    Appended::Lines(Vec::new())
                });
            }
            r => r.map_err(|e| format!("{}: {e}", path.display()))?,
        };
        let meta = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if self.inode.is_some_and(|i| i != meta.ino()) || meta.len() < self.offset {
            return Ok(Appended::Replaced);
        }
        self.inode = Some(meta.ino());
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(self.offset))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // An unfinished last line waits for the next read.
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut events = Vec::new();
        let mut lines = self.lines;
        for line in bytes[..complete].split_inclusive(|b| *b == b'\n') {
            lines += 1;
            let line = &line[..line.len() - 1];
            if line.is_empty() {
                continue;
            }
            events.push(
                serde_json::from_slice(line)
                    .map_err(|e| format!("{}:{}: not JSON: {e}", path.display(), lines))?,
            );
        }
        // Only a read that took every line moves on (a bad line is met again, same number).
        self.lines = lines;
        self.offset += complete as u64;
        Ok(Appended::Lines(events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn lines(a: Appended) -> Vec<Value> {
        match a {
            Appended::Lines(l) => l,
            Appended::Replaced => panic!("replaced"),
        }
    }

    #[test]
    fn a_tail_reads_each_complete_line_once() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("e.jsonl");
        let mut tail = Tail::default();
        assert!(
            lines(tail.read(&path).unwrap()).is_empty(),
            "not created yet"
        );
        append(&path, "{\"a\":1}\n{\"a\":2}\n{\"a\":");
        assert_eq!(lines(tail.read(&path).unwrap()).len(), 2);
        assert!(
            lines(tail.read(&path).unwrap()).is_empty(),
            "the torn line waits"
        );
        append(&path, "3}\n\n");
        assert_eq!(lines(tail.read(&path).unwrap())[0]["a"], 3);
        append(&path, "not json\n");
        for _ in 0..2 {
            let e = tail.read(&path).err().unwrap();
            assert!(
                e.ends_with("e.jsonl:5: not JSON: expected ident at line 1 column 2"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_replaced_or_shrunk_file_is_read_again() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("e.jsonl");
        let mut tail = Tail::default();
        append(&path, "{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(lines(tail.read(&path).unwrap()).len(), 2);
        // As a resumed run rewrites its event files: a new file renamed over the old one.
        let tmp = d.path().join(".e.jsonl.tmp");
        std::fs::write(&tmp, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert!(matches!(tail.read(&path).unwrap(), Appended::Replaced));
        let mut tail = Tail::default();
        assert_eq!(lines(tail.read(&path).unwrap()).len(), 3);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(8)
            .unwrap();
        assert!(matches!(tail.read(&path).unwrap(), Appended::Replaced));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(tail.read(&path).unwrap(), Appended::Replaced));
    }

    fn trigger(id: u64) -> String {
        format!(
            "{{\"trigger_id\":{id},\"first\":{{\"time\":{}}},\"boundary\":{{\"time\":{}}},\
             \"samples\":10,\"reason\":\"amount: 10 samples\"}}\n",
            id * 10,
            id * 10 + 9
        )
    }

    #[test]
    fn a_cached_run_reads_what_was_appended_and_starts_over_when_replaced() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let cache = Cache::default();
        let ids = |v: &RunView| -> Vec<u64> {
            let data = v.variants[0].data.as_ref().unwrap();
            data.triggers.iter().map(|t| t.id).collect()
        };
        append(&dir.join("triggers.jsonl"), &(trigger(0) + &trigger(1)));
        for i in 0..25 {
            append(
                &dir.join("dead-letter.jsonl"),
                &format!("{{\"id\":\"dead-letter-{i}\"}}\n"),
            );
        }
        let first = cache.read(dir);
        assert_eq!(ids(&first), [0, 1]);
        assert_eq!(first.dead_letters, 25);
        assert_eq!(first.dead_tail.len(), DEAD_TAIL);
        assert_eq!(first.dead_tail[0]["id"], "dead-letter-5");
        append(&dir.join("triggers.jsonl"), &trigger(2));
        append(
            &dir.join("dead-letter.jsonl"),
            "{\"id\":\"dead-letter-25\"}\n",
        );
        let second = cache.read(dir);
        assert_eq!(ids(&second), [0, 1, 2]);
        assert_eq!(second.dead_letters, 26);
        assert_eq!(second.dead_tail[DEAD_TAIL - 1]["id"], "dead-letter-25");
        // The first view still holds what it read.
        assert_eq!(ids(&first), [0, 1]);
        // A resume keeps the events up to its checkpoint in a new file.
        let tmp = dir.join(".triggers.jsonl.tmp");
        std::fs::write(&tmp, trigger(0)).unwrap();
        std::fs::rename(&tmp, dir.join("triggers.jsonl")).unwrap();
        assert_eq!(ids(&cache.read(dir)), [0]);
        // A fresh read agrees with the cached one.
        append(&dir.join("triggers.jsonl"), &trigger(1));
        assert_eq!(ids(&cache.read(dir)), ids(&read(dir)));
        // A line that is not an event: that variant's error, read again from the start once
        // fixed.
        append(&dir.join("triggers.jsonl"), "{\"trigger_id\":2}\n");
        let bad = cache.read(dir);
        let e = bad.variants[0].data.as_ref().err().unwrap();
        assert!(e.contains("an event without `first`"), "{e}");
        std::fs::write(&tmp, trigger(0) + &trigger(1)).unwrap();
        std::fs::rename(&tmp, dir.join("triggers.jsonl")).unwrap();
        assert_eq!(ids(&cache.read(dir)), [0, 1]);
    }
}
