//! Checkpoints at trigger boundaries (Kafka sources).
//!
//! After trigger *k*'s model is stored, `checkpoints/trigger-<k>.json` records where a restart
//! resumes: per partition the offset from which every sample after the boundary will be read
//! again (samples at or before the boundary are skipped on resume), the trigger number and the
//! model to warm-start from. A resumed run drops the JSONL events of later triggers and emits
//! them again (see `JsonlSink::create`), so no event is duplicated. Written to a temporary file,
//! fsynced and renamed; a file that does not parse (or has another format version) is ignored
//! and the previous checkpoint used. The state of the trigger and selection operators is empty at
//! a boundary for the policies that exist so far (`amount`, `new_data`), so it is not stored yet.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_dataflows::Position;

/// Format version written in every checkpoint.
pub const VERSION: u32 = 1;

/// A checkpoint at trigger `trigger_id`'s boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version.
    pub version: u32,
    /// Pipeline name.
    pub pipeline: String,
    /// Topic the offsets belong to.
    pub topic: String,
    /// The last trigger included.
    pub trigger_id: u64,
    /// Its boundary: samples at or before it are done.
    pub boundary: Position,
    /// The model trained for it (`None` when its training set was empty).
    pub model_id: Option<String>,
    /// Per partition, the offset to resume reading from.
    pub offsets: BTreeMap<i32, i64>,
}

fn dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints")
}

/// Writes `cp` atomically into `run_dir/checkpoints/`.
pub fn write(run_dir: &Path, cp: &Checkpoint) -> std::io::Result<PathBuf> {
    let dir = dir(run_dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("trigger-{:06}.json", cp.trigger_id));
    let tmp = dir.join(format!(".trigger-{:06}.json.tmp", cp.trigger_id));
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(cp).expect("checkpoints serialise"))?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    File::open(&dir)?.sync_all()?;
    Ok(path)
}

/// The newest valid checkpoint in `run_dir`, if any; corrupt or foreign files are skipped with
/// a warning.
pub fn latest(run_dir: &Path) -> Option<Checkpoint> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir(run_dir))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("trigger-") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    for path in files.iter().rev() {
        match std::fs::read(path).map(|b| serde_json::from_slice::<Checkpoint>(&b)) {
            Ok(Ok(cp)) if cp.version == VERSION => return Some(cp),
            Ok(Ok(cp)) => {
                tracing::warn!(path = %path.display(), version = cp.version, "checkpoint of another format version, skipped")
            }
            Ok(Err(e)) => tracing::warn!(path = %path.display(), "corrupt checkpoint skipped: {e}"),
            Err(e) => tracing::warn!(path = %path.display(), "unreadable checkpoint skipped: {e}"),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(k: u64) -> Checkpoint {
        Checkpoint {
            version: VERSION,
            pipeline: "p".into(),
            topic: "t".into(),
            trigger_id: k,
            boundary: Position {
                time: 10 * k,
                key: k,
            },
            model_id: Some(format!("p-{k:04}")),
            offsets: [(0, 5 * k as i64), (1, 7)].into(),
        }
    }

    #[test]
    fn newest_valid_checkpoint_wins_and_corrupt_ones_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(latest(d.path()), None);
        for k in [1, 2, 10] {
            write(d.path(), &cp(k)).unwrap();
        }
        assert_eq!(latest(d.path()), Some(cp(10)));
        // A torn write of a newer checkpoint: the previous one is used.
        std::fs::write(
            d.path().join("checkpoints/trigger-000011.json"),
            b"{\"version\": 1, \"pipel",
        )
        .unwrap();
        assert_eq!(latest(d.path()), Some(cp(10)));
        let mut future = cp(12);
        future.version = 99;
        write(d.path(), &future).unwrap();
        assert_eq!(latest(d.path()), Some(cp(10)));
    }
}
