//! Spilled selection candidates: one append-only file per dataflow worker
//! (`selection.maximum_keys_in_memory`; the sample payloads spill in `samples.rs`).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sluice_dataflows::selection::CandidateSpill;
use sluice_dataflows::{Candidate, Position};

/// Bytes per candidate: time, key, label, epoch (little-endian).
const RECORD: usize = 32;

/// A worker's spilled candidates, created on first use at `<dir>/candidates-<worker>.bin`.
pub struct CandidateFile {
    path: PathBuf,
    file: Option<File>,
    len: u64,
}

impl CandidateFile {
    /// The spill file of dataflow worker `worker` in `dir` (nothing is created yet).
    pub fn new(dir: &Path, worker: usize) -> Self {
        Self {
            path: dir.join(format!("candidates-{worker}.bin")),
            file: None,
            len: 0,
        }
    }
}

impl CandidateSpill for CandidateFile {
    fn put(&mut self, candidates: &[Candidate]) -> Result<u64, String> {
        let err =
            |e: std::io::Error| format!("spilling candidates to {}: {e}", self.path.display());
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let file = File::options()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(&self.path)
                .map_err(err)?;
            self.file = Some(file);
        }
        let mut bytes = Vec::with_capacity(candidates.len() * RECORD);
        for c in candidates {
            bytes.extend_from_slice(&c.pos.time.to_le_bytes());
            bytes.extend_from_slice(&c.pos.key.to_le_bytes());
            bytes.extend_from_slice(&c.label.to_le_bytes());
            bytes.extend_from_slice(&c.seen_in.to_le_bytes());
        }
        let handle = self.len;
        let file = self.file.as_ref().expect("opened above");
        file.write_all_at(&bytes, handle).map_err(err)?;
        self.len += bytes.len() as u64;
        Ok(handle)
    }

    fn get(&mut self, handle: u64, len: usize, out: &mut Vec<Candidate>) {
        let mut bytes = vec![0u8; len * RECORD];
        let file = self.file.as_ref().expect("spilled candidates have a file");
        if let Err(e) = file.read_exact_at(&mut bytes, handle) {
            panic!(
                "reading spilled candidates back from {}: {e}",
                self.path.display()
            );
        }
        let word = |r: &[u8], i: usize| {
            u64::from_le_bytes(r[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
        };
        out.extend(bytes.chunks_exact(RECORD).map(|r| Candidate {
            pos: Position {
                time: word(r, 0),
                key: word(r, 1),
            },
            label: word(r, 2) as i64,
            seen_in: word(r, 3),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = CandidateFile::new(&dir.path().join("spill"), 3);
        let c = |k: u64| Candidate {
            pos: Position {
                time: k * 10,
                key: k,
            },
            label: -(k as i64),
            seen_in: k / 2,
        };
        let a: Vec<Candidate> = (0..5).map(c).collect();
        let b: Vec<Candidate> = (5..7).map(c).collect();
        let (ha, hb) = (f.put(&a).unwrap(), f.put(&b).unwrap());
        let mut out = Vec::new();
        f.get(hb, 2, &mut out);
        f.get(ha, 5, &mut out);
        assert_eq!(out, [b, a].concat());
        assert!(dir.path().join("spill/candidates-3.bin").is_file());
    }
}
