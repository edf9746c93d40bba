//! Checkpoints at trigger boundaries (Kafka sources).
//!
//! After trigger *k*'s model is stored and its events are out, `checkpoints/trigger-<k>.ckpt`
//! records everything a restart needs to go on as if it had never stopped:
//! - where to read: per partition, the offset of the first message after the boundary
//!   (`offsets`; samples at or before the boundary are skipped), and the offset from which the
//!   payloads still needed are read again into the sample store (`replay_from`);
//! - the operators' state: the trigger policy's (with the oldest sample its windows still read),
//!   every worker's selection strategy (candidates held, scores) and the sampler's, and the
//!   positions of the samples whose payloads later training sets may read (`held`);
//! - the model to warm-start from, the model store's index (models up to *k*; anything else in
//!   the store is an orphan of a crash and removed on resume) and, per output topic, the end
//!   offset once *k*'s events were published (a resumed run does not publish again what is
//!   already there after it).
//!
//! The file is a header line (format, version, body length, FNV-1a hash of the body) and the
//! JSON body, written to a temporary file, fsynced and renamed. A file that is truncated, fails
//! its hash, does not parse or has another version is skipped with a warning, and the previous
//! checkpoint used. The newest [`KEEP`] are kept.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_dataflows::Position;
use sluice_dataflows::moments::Moments;

use crate::store::write_atomically;
use sluice_dataflows::triggers::State;

/// Format version written in every checkpoint.
pub const VERSION: u32 = 2;

/// Checkpoints kept (older ones are deleted once a newer one is durable).
pub const KEEP: usize = 3;

const FORMAT: &str = "sluice-checkpoint";

/// The dataflow operators' state at a trigger boundary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OperatorState {
    /// The trigger policy's ([`TriggerPolicy::save`](sluice_dataflows::triggers::TriggerPolicy::save)).
    pub trigger: State,
    /// The oldest sample whose payload the trigger policy may still read.
    pub trigger_horizon: Option<Position>,
    /// Each worker's selection strategy and scores, by worker index.
    pub selection: Vec<State>,
    /// The training-set sampler's (worker 0).
    pub sampler: State,
    /// Samples whose payloads later training sets may read, sorted.
    pub held: Vec<Position>,
    /// The stream's feature statistics at the boundary (`normalize = "running"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moments: Option<Moments>,
}

impl OperatorState {
    /// The oldest sample whose payload a resumed run needs: the first held one or the trigger
    /// policy's horizon, whichever is older (`None`: none).
    pub fn horizon(&self) -> Option<Position> {
        [self.held.first().copied(), self.trigger_horizon]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether a resumed run needs the payload of the sample at `p` (at or before the
    /// boundary): a held sample, or one the trigger policy's windows still read.
    pub fn needs(&self, p: Position) -> bool {
        self.held.binary_search(&p).is_ok() || self.trigger_horizon.is_some_and(|h| p >= h)
    }
}

/// A checkpoint at trigger `trigger_id`'s boundary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Pipeline name.
    pub pipeline: String,
    /// Topic the offsets belong to.
    pub topic: String,
    /// Hash of the configuration text (a run resumes only with the same configuration).
    pub config_hash: String,
    /// The last trigger included.
    pub trigger_id: u64,
    /// Its boundary: samples at or before it are done.
    pub boundary: Position,
    /// The model in service after it (`None`: none yet).
    pub model_id: Option<String>,
    /// Per partition, the offset to resume reading new samples from.
    pub offsets: BTreeMap<i32, i64>,
    /// Per partition, the offset from which the payloads still needed are read again.
    pub replay_from: BTreeMap<i32, i64>,
    /// Operator state.
    pub state: OperatorState,
    /// Models in the store up to this trigger, oldest first.
    pub models: Vec<String>,
    /// Per output topic, its end offset once this trigger's events were published.
    pub published: BTreeMap<String, i64>,
    /// The run's counts so far (every start's), which a resumed run goes on from.
    #[serde(default)]
    pub tally: Tally,
}

/// A run's input counts at a checkpoint, over every start of it.
///
/// `samples` are those at or before the boundary (the triggers' epochs added up): exact, as a
/// resumed run counts only the later ones. The others are the counters when the checkpoint
/// was written: inputs read past the boundary before a stop are counted again by the resumed
/// run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Samples stored.
    pub samples: u64,
    /// Dead letters.
    pub dead_letters: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Deletions read.
    pub deletions: u64,
    /// Samples that replaced an earlier one of their key (`keep_last`).
    #[serde(default)]
    pub replaced: u64,
}

/// What a Kafka run records before its first event (`checkpoints/start.json`), so that a run
/// killed before its first checkpoint restarts from the beginning without publishing again
/// what it had published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Start {
    /// Pipeline name.
    pub pipeline: String,
    /// Source topic.
    pub topic: String,
    /// Hash of the configuration text.
    pub config_hash: String,
    /// Per output topic, its end offset before the run published anything.
    pub published: BTreeMap<String, i64>,
}

/// Writes `start` atomically, unless the run directory already has one (the first run's).
pub fn write_start(run_dir: &Path, start: &Start) -> std::io::Result<()> {
    let dir = dir(run_dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("start.json");
    if path.exists() {
        return Ok(());
    }
    write_atomically(
        &dir.join(".start.json.tmp"),
        &path,
        &serde_json::to_vec_pretty(start).expect("start serialises"),
    )?;
    File::open(&dir)?.sync_all()
}

/// The run directory's start record, if it has a valid one.
pub fn read_start(run_dir: &Path) -> Option<Start> {
    let path = dir(run_dir).join("start.json");
    let bytes = std::fs::read(&path).ok()?;
    serde_json::from_slice(&bytes)
        .map_err(|e| tracing::warn!(path = %path.display(), "start record skipped: {e}"))
        .ok()
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    bytes: usize,
    fnv64: String,
}

/// FNV-1a over `bytes`, as 16 hex digits.
pub fn fnv64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints")
}

/// Writes `cp` atomically into `run_dir/checkpoints/` and deletes all but the newest [`KEEP`].
pub fn write(run_dir: &Path, cp: &Checkpoint) -> std::io::Result<PathBuf> {
    let dir = dir(run_dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("trigger-{:06}.ckpt", cp.trigger_id));
    let tmp = dir.join(format!(".trigger-{:06}.ckpt.tmp", cp.trigger_id));
    let body = serde_json::to_vec(cp).expect("checkpoints serialise");
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        bytes: body.len(),
        fnv64: fnv64(&body),
    };
    let mut file = serde_json::to_vec(&header).expect("headers serialise");
    file.push(b'\n');
    file.extend_from_slice(&body);
    write_atomically(&tmp, &path, &file)?;
    File::open(&dir)?.sync_all()?;
    let files = files(run_dir);
    for old in files.iter().rev().skip(KEEP) {
        std::fs::remove_file(old)?;
    }
    Ok(path)
}

/// Checkpoint files in `run_dir`, oldest first.
fn files(run_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir(run_dir)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("trigger-") && n.ends_with(".ckpt"))
        })
        .collect();
    files.sort();
    files
}

/// Why a checkpoint file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file cannot be read.
    #[error("unreadable: {0}")]
    Unreadable(#[from] std::io::Error),
    /// No newline ends the header.
    #[error("no header line")]
    NoHeader,
    /// The header is not JSON of the expected shape.
    #[error("header: {0}")]
    Header(serde_json::Error),
    /// Another kind of file.
    #[error("not a checkpoint (format `{0}`)")]
    Format(String),
    /// Another version of the format.
    #[error("format version {0} (this Sluice reads {VERSION})")]
    Version(u32),
    /// Fewer bytes than the header says.
    #[error("truncated: {got} of {expected} bytes")]
    Truncated {
        /// Bytes after the header.
        got: usize,
        /// Bytes the header announces.
        expected: usize,
    },
    /// The body's hash differs from the header's.
    #[error("its hash does not match: the file is corrupt")]
    Corrupt,
    /// The body is not a checkpoint.
    #[error("body: {0}")]
    Body(serde_json::Error),
}

/// Reads and verifies one checkpoint file.
pub fn read(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let bytes = std::fs::read(path)?;
    let nl = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(CheckpointError::NoHeader)?;
    let header: Header = serde_json::from_slice(&bytes[..nl]).map_err(CheckpointError::Header)?;
    if header.format != FORMAT {
        return Err(CheckpointError::Format(header.format));
    }
    if header.version != VERSION {
        return Err(CheckpointError::Version(header.version));
    }
    let body = &bytes[nl + 1..];
    if body.len() != header.bytes {
        return Err(CheckpointError::Truncated {
            got: body.len(),
            expected: header.bytes,
        });
    }
    if fnv64(body) != header.fnv64 {
        return Err(CheckpointError::Corrupt);
    }
    serde_json::from_slice(body).map_err(CheckpointError::Body)
}

/// The newest valid checkpoint in `run_dir`, if any; invalid files are skipped with a warning
/// saying why.
pub fn latest(run_dir: &Path) -> Option<Checkpoint> {
    for path in files(run_dir).iter().rev() {
        match read(path) {
            Ok(cp) => return Some(cp),
            Err(e) => tracing::warn!(path = %path.display(), "checkpoint skipped: {e}"),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(k: u64) -> Checkpoint {
        Checkpoint {
            pipeline: "p".into(),
            topic: "t".into(),
            config_hash: fnv64(b"config"),
            trigger_id: k,
            boundary: Position {
                time: 10 * k,
                key: k,
            },
            model_id: Some(format!("p-{k:04}")),
            offsets: [(0, 5 * k as i64), (1, 7)].into(),
            replay_from: [(0, 0), (1, 3)].into(),
            state: OperatorState {
                trigger: serde_json::json!({"since_last": k, "x": 0.1}),
                trigger_horizon: Some(Position { time: 3, key: 1 }),
                selection: vec![serde_json::json!([1, 2]), State::Null],
                sampler: serde_json::json!({"round_start": 0}),
                held: vec![Position { time: 1, key: 9 }, Position { time: 2, key: 4 }],
                moments: Some({
                    let mut m = Moments::default();
                    m.add_rows(&[1.5, -2e9, 3.0, 1e-3], 2);
                    m
                }),
            },
            models: (0..=k).map(|i| format!("p-{i:04}")).collect(),
            published: [("p.triggers".to_string(), 4)].into(),
            tally: Tally {
                samples: 100 * k,
                dead_letters: 3,
                duplicates: 2,
                deletions: 1,
                replaced: 4,
            },
        }
    }

    #[test]
    fn newest_valid_checkpoint_wins_and_damaged_ones_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(latest(d.path()), None);
        for k in [1, 2, 10] {
            write(d.path(), &cp(k)).unwrap();
        }
        assert_eq!(latest(d.path()), Some(cp(10)));
        let path = |k: u64| d.path().join(format!("checkpoints/trigger-{k:06}.ckpt"));
        // A torn write of a newer checkpoint: the previous one is used.
        write(d.path(), &cp(11)).unwrap();
        let full = std::fs::read(path(11)).unwrap();
        std::fs::write(path(11), &full[..full.len() - 9]).unwrap();
        assert!(
            read(&path(11))
                .unwrap_err()
                .to_string()
                .starts_with("truncated")
        );
        assert_eq!(latest(d.path()), Some(cp(10)));
        // One flipped digit in the body: the hash catches it although the JSON still parses.
        write(d.path(), &cp(12)).unwrap();
        let mut bytes = std::fs::read(path(12)).unwrap();
        let at = bytes.len() - 20;
        let i = (at..bytes.len())
            .find(|&i| bytes[i].is_ascii_digit())
            .unwrap();
        bytes[i] = if bytes[i] == b'9' { b'8' } else { bytes[i] + 1 };
        std::fs::write(path(12), &bytes).unwrap();
        assert!(read(&path(12)).unwrap_err().to_string().contains("corrupt"));
        assert_eq!(latest(d.path()), Some(cp(10)));
        // Another format version.
        let text = String::from_utf8(full).unwrap().replacen(
            &format!("\"version\":{VERSION}"),
            "\"version\":99",
            1,
        );
        std::fs::write(path(13), text).unwrap();
        assert!(
            read(&path(13))
                .unwrap_err()
                .to_string()
                .contains("version 99")
        );
        assert_eq!(latest(d.path()), Some(cp(10)));
        // Only the newest KEEP files stay (11, 12, 13 here: damaged ones count).
        write(d.path(), &cp(14)).unwrap();
        assert_eq!(files(d.path()).len(), KEEP, "{:?}", files(d.path()));
        assert_eq!(latest(d.path()), Some(cp(14)));
    }

    #[test]
    fn a_resumed_run_needs_held_samples_and_the_trigger_windows() {
        let s = cp(1).state;
        assert_eq!(s.horizon(), Some(Position { time: 1, key: 9 }));
        assert!(s.needs(Position { time: 1, key: 9 }));
        assert!(!s.needs(Position { time: 1, key: 8 }));
        assert!(s.needs(Position { time: 3, key: 1 }));
        assert!(s.needs(Position { time: 5, key: 0 }));
        assert!(!s.needs(Position { time: 3, key: 0 }));
    }
}
