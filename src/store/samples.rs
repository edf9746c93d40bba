//! The sample store: feature payloads by key, for the trainer to resolve training sets.
//!
//! Sharded by [`route`]`(key) % shards`, the function the dataflow exchanges records by, so the
//! worker that owns a key writes its shard and workers never contend with each other; readers
//! (trainers) take a shard's read lock once per batch. Features live in chunks of
//! [`CHUNK_ROWS`] rows per shard (no per-sample allocation).
//!
//! Spilling (`selection.maximum_keys_in_memory`): when a shard holds more rows in memory than
//! its share of the bound, its oldest full chunks move to the shard's segment file under the
//! run directory (append-only, a chunk at a time, each row its features then its label) and are
//! read back with one `pread` per row (served by the page cache when hot).
//!
//! Compaction: samples that no selection strategy can select any more are retired (by the
//! selection operator, per trigger) and their slots reused once (1) the trainer has finished
//! the trigger that retired them (earlier training sets may name them) and (2) the trigger
//! policy no longer reads them (its windows start later: [`SampleStore::retain_from`]). So on
//! an endless stream the store holds the samples a strategy can still select, plus those the
//! trigger policy's windows hold, not the whole history.
//!
//! Lanes (a sweep's variants, [`SampleStore::with_lanes`]): each lane retires, trains and reads
//! on its own, and a sample goes only once every lane is done with it (per sample, a bit per
//! lane done with it: a lane may retire a sample twice, from its pool and from its sampler).
//!
//! Versions (`[source] duplicates = "keep_last"`, [`SampleStore::add_version`]): a key may
//! hold several samples at different event times while training sets cut before the newest
//! may still be read. A sample is its position (event time, key): compaction removes one
//! version, the dataflow's probes read exact positions, and a trainer reads a training set's
//! keys as of its trigger's boundary ([`SampleView`]), which picks the version the set
//! selected.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use std::sync::Arc;

use sluice_dataflows::{Key, KeyMap, Position, Time, route};

use crate::source::{Origin, Rows};

/// Errors of the sample store.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// A key was inserted twice.
    #[error("duplicate key {0}")]
    DuplicateKey(Key),
    /// A training set names a key that was never stored.
    #[error("key {0} not in the sample store")]
    MissingKey(Key),
    /// A sample (a version of a key) that is not stored.
    #[error("sample (time {}, key {}) not in the sample store", .0.time, .0.key)]
    MissingSample(Position),
    /// A sample's feature count differs from the store's.
    #[error("sample has {found} features, expected {expected}")]
    WrongDim {
        /// Expected.
        expected: usize,
        /// Found.
        found: usize,
    },
    /// Reading a spilled sample back failed.
    #[error("reading spilled samples from {0}")]
    Io(String),
}

/// Rows per chunk: the unit that spills to disk.
pub const CHUNK_ROWS: usize = 1024;

/// Where a sample was read: its Kafka partition and offset, or a file's line (CSV) or row
/// (Arrow) at partition 0. A model's lineage names the ranges its training set came from.
pub type SourceAt = (i32, i64);

/// Bytes of a spilled row besides its features: label, partition, offset.
const ROW_TAIL: usize = 8 + 4 + 8;

enum Chunk {
    Mem {
        features: Vec<f32>,
        labels: Vec<i64>,
        origins: Vec<SourceAt>,
    },
    /// `CHUNK_ROWS` rows at `offset` in the shard's segment file, each its features, then its
    /// label, partition and offset (little-endian).
    Disk { offset: u64 },
}

/// A shard's segment file.
struct Segment {
    file: File,
    path: PathBuf,
    len: u64,
}

/// A stored sample: its slot (`chunk * CHUNK_ROWS + row`) and event time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Version {
    slot: u32,
    time: Time,
}

/// Which version of a key a read wants.
#[derive(Clone, Copy)]
enum Pick {
    /// The one at this event time.
    Exact(Time),
    /// The newest at or before this position (a training set cut at this boundary).
    AsOf(Position),
}

#[derive(Default)]
struct Shard {
    /// Key -> its newest version.
    index: KeyMap<Version>,
    /// Keys with several versions: the older ones, by ascending time.
    older: KeyMap<Vec<Version>>,
    chunks: Vec<Chunk>,
    /// Chunks before this one are on disk.
    first_mem: usize,
    /// Rows (used or free) in memory chunks.
    mem_rows: usize,
    /// Free slots of removed samples in memory chunks, reused by inserts. (Rows removed from
    /// spilled chunks are not reclaimed: segment files are append-only.)
    free: Vec<u32>,
    segment: Option<Segment>,
    /// Spilling failed (the reason was logged): the shard keeps everything in memory.
    spill_failed: bool,
}

/// One row, wherever it lives.
fn split(slot: u32) -> (usize, usize) {
    (slot as usize / CHUNK_ROWS, slot as usize % CHUNK_ROWS)
}

impl Shard {
    /// Stores a row in a free memory slot or at the end; returns its slot.
    fn put(&mut self, dim: usize, features: &[f32], label: i64, origin: SourceAt) -> u32 {
        if let Some(slot) = self.free.pop() {
            let (c, r) = split(slot);
            let Chunk::Mem {
                features: f,
                labels,
                origins,
            } = &mut self.chunks[c]
            else {
                unreachable!("free slots are in memory chunks");
            };
            f[r * dim..(r + 1) * dim].copy_from_slice(features);
            labels[r] = label;
            origins[r] = origin;
            return slot;
        }
        let open = matches!(self.chunks.last(), Some(Chunk::Mem { labels, .. }) if labels.len() < CHUNK_ROWS);
        if !open {
            self.chunks.push(Chunk::Mem {
                features: Vec::with_capacity(CHUNK_ROWS * dim),
                labels: Vec::with_capacity(CHUNK_ROWS),
                origins: Vec::with_capacity(CHUNK_ROWS),
            });
        }
        let c = self.chunks.len() - 1;
        let Some(Chunk::Mem {
            features: f,
            labels,
            origins,
        }) = self.chunks.last_mut()
        else {
            unreachable!("the last chunk is open");
        };
        f.extend_from_slice(features);
        labels.push(label);
        origins.push(origin);
        self.mem_rows += 1;
        (c * CHUNK_ROWS + labels.len() - 1) as u32
    }

    /// Moves the oldest full memory chunks to disk while more than `bound` rows are in memory
    /// (the open last chunk stays).
    fn spill(&mut self, dim: usize, bound: usize, dir: &Path, shard: usize) {
        while self.mem_rows > bound && !self.spill_failed && self.first_mem + 1 < self.chunks.len()
        {
            let c = self.first_mem;
            if let Err(e) = self.write_chunk(c, dim, dir, shard) {
                tracing::error!(
                    "spilling samples to {}: {e}; keeping them in memory",
                    dir.display()
                );
                self.spill_failed = true;
                return;
            }
            self.first_mem += 1;
            self.mem_rows -= CHUNK_ROWS;
            self.free.retain(|&s| split(s).0 != c);
        }
    }

    fn write_chunk(
        &mut self,
        c: usize,
        dim: usize,
        dir: &Path,
        shard: usize,
    ) -> std::io::Result<()> {
        let Chunk::Mem {
            features,
            labels,
            origins,
        } = &self.chunks[c]
        else {
            unreachable!("chunks before first_mem are on disk");
        };
        debug_assert_eq!(labels.len(), CHUNK_ROWS, "only full chunks spill");
        let segment = match &mut self.segment {
            Some(s) => s,
            None => {
                std::fs::create_dir_all(dir)?;
                let path = dir.join(format!("samples-{shard}.bin"));
                let file = File::options()
                    .create(true)
                    .truncate(true)
                    .read(true)
                    .write(true)
                    .open(&path)?;
                self.segment.insert(Segment { file, path, len: 0 })
            }
        };
        let mut bytes = Vec::with_capacity(CHUNK_ROWS * (dim * 4 + ROW_TAIL));
        for ((row, label), (partition, offset)) in
            features.chunks_exact(dim.max(1)).zip(labels).zip(origins)
        {
            for v in row {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            bytes.extend_from_slice(&label.to_le_bytes());
            bytes.extend_from_slice(&partition.to_le_bytes());
            bytes.extend_from_slice(&offset.to_le_bytes());
        }
        let offset = segment.len;
        segment.file.write_all_at(&bytes, offset)?;
        segment.len += bytes.len() as u64;
        self.chunks[c] = Chunk::Disk { offset };
        Ok(())
    }

    /// Calls `f` with the row at `slot` (read back through `bytes` into `scratch` if spilled);
    /// its origin is `(0, 0)` unless `ORIGIN` (the trainer's gathers do not read it: an in-memory
    /// origin is one more cache miss per shuffled row).
    fn row<const ORIGIN: bool>(
        &self,
        slot: u32,
        dim: usize,
        (bytes, scratch): (&mut Vec<u8>, &mut Vec<f32>),
        f: &mut impl FnMut(&[f32], i64, SourceAt),
    ) -> Result<(), StoreError> {
        let (c, r) = split(slot);
        match &self.chunks[c] {
            Chunk::Mem {
                features,
                labels,
                origins,
            } => {
                let at = if ORIGIN { origins[r] } else { (0, 0) };
                f(&features[r * dim..(r + 1) * dim], labels[r], at)
            }
            Chunk::Disk { offset } => {
                let segment = self
                    .segment
                    .as_ref()
                    .expect("a spilled chunk has a segment");
                let width = dim * 4 + ROW_TAIL;
                bytes.resize(width, 0);
                segment
                    .file
                    .read_exact_at(bytes, offset + (r * width) as u64)
                    .map_err(|e| StoreError::Io(format!("{}: {e}", segment.path.display())))?;
                scratch.clear();
                scratch.extend(
                    bytes[..dim * 4]
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))),
                );
                let tail = &bytes[dim * 4..];
                let label = i64::from_le_bytes(tail[..8].try_into().expect("8 bytes"));
                let partition = i32::from_le_bytes(tail[8..12].try_into().expect("4 bytes"));
                let at = i64::from_le_bytes(tail[12..].try_into().expect("8 bytes"));
                f(scratch, label, (partition, at));
            }
        }
        Ok(())
    }

    /// The version stored at `pos`.
    fn version_mut(&mut self, pos: Position) -> Option<&mut Version> {
        let newest = self.index.get_mut(&pos.key)?;
        if newest.time == pos.time {
            return Some(newest);
        }
        let older = self.older.get_mut(&pos.key)?;
        older.iter_mut().find(|v| v.time == pos.time)
    }

    /// The slot of `key`'s version `pick` wants.
    fn find(&self, key: Key, pick: Pick) -> Option<u32> {
        let newest = self.index.get(&key)?;
        let fits = |v: &Version| match pick {
            Pick::Exact(time) => v.time == time,
            Pick::AsOf(boundary) => Position { time: v.time, key } <= boundary,
        };
        if fits(newest) {
            return Some(newest.slot);
        }
        let older = self.older.get(&key)?;
        older.iter().rev().find(|v| fits(v)).map(|v| v.slot)
    }

    /// Frees `slot`: a memory slot is reused by a later insert.
    fn free_slot(&mut self, slot: u32) {
        if split(slot).0 >= self.first_mem {
            self.free.push(slot);
        }
    }

    /// Forgets the sample at `pos` (if stored); an older version of its key becomes the newest.
    fn remove(&mut self, pos: Position) {
        let Some(newest) = self.index.get_mut(&pos.key) else {
            return;
        };
        let slot = if newest.time == pos.time {
            let slot = newest.slot;
            match self.older.get_mut(&pos.key).and_then(Vec::pop) {
                Some(next) => *newest = next,
                None => {
                    self.index.remove(&pos.key);
                }
            }
            slot
        } else {
            let Some(older) = self.older.get_mut(&pos.key) else {
                return;
            };
            let Some(i) = older.iter().position(|v| v.time == pos.time) else {
                return;
            };
            older.remove(i).slot
        };
        if self.older.get(&pos.key).is_some_and(Vec::is_empty) {
            self.older.remove(&pos.key);
        }
        self.free_slot(slot);
    }

    /// Adds `pos` as a version of its key (see [`SampleStore::add_version`]).
    fn add_version(
        &mut self,
        pos: Position,
        dim: usize,
        (label, features, origin): (i64, &[f32], SourceAt),
    ) -> Result<Versioned, StoreError> {
        let key = pos.key;
        if let Some(slot) = self.find(key, Pick::Exact(pos.time)) {
            let mut stored = (0, 0);
            let mut scratch = (Vec::new(), Vec::new());
            self.row::<true>(
                slot,
                dim,
                (&mut scratch.0, &mut scratch.1),
                &mut |_, _, at| stored = at,
            )?;
            if origin <= stored {
                return Ok(Versioned::Superseded);
            }
            let (c, r) = split(slot);
            if let Chunk::Mem {
                features: f,
                labels,
                origins,
            } = &mut self.chunks[c]
            {
                f[r * dim..(r + 1) * dim].copy_from_slice(features);
                labels[r] = label;
                origins[r] = origin;
            } else {
                // Spilled rows are not rewritten (segment files are append-only).
                let moved = self.put(dim, features, label, origin);
                self.version_mut(pos).expect("found above").slot = moved;
            }
            return Ok(Versioned::Replaced);
        }
        let newest = self.index.get(&key).map(|v| v.time);
        let before = self.older.get(&key).map_or(&[][..], Vec::as_slice);
        let older = newest.is_some_and(|t| t < pos.time)
            || before.first().is_some_and(|v| v.time < pos.time);
        let next = match before.iter().find(|v| v.time > pos.time) {
            Some(v) => Some(v.time),
            None => newest.filter(|t| *t > pos.time),
        };
        let slot = self.put(dim, features, label, origin);
        let new = Version {
            slot,
            time: pos.time,
        };
        match self.index.get_mut(&key) {
            None => {
                self.index.insert(key, new);
            }
            Some(newest) if newest.time < pos.time => {
                let previous = std::mem::replace(newest, new);
                self.older.entry(key).or_default().push(previous);
            }
            Some(_) => {
                let o = self.older.entry(key).or_default();
                let i = o.partition_point(|v| v.time < pos.time);
                o.insert(i, new);
            }
        }
        Ok(Versioned::Added { older, next })
    }
}

/// Where and beyond how many rows per shard the store spills.
struct SpillTo {
    dir: PathBuf,
    per_shard: usize,
}

/// Samples retired by selection, waiting for the trainer and the trigger policy.
#[derive(Default)]
struct Retiring {
    /// By the trigger that retired them; positions sorted descending (the oldest last).
    waiting: BTreeMap<u64, Vec<Position>>,
    /// The last trigger the trainer has finished.
    trained: Option<u64>,
    /// The trigger policy reads nothing before this position.
    horizon: Option<Position>,
}

/// Each lane's retirement, and which lanes are done with each sample not removed yet (a bit per
/// lane).
#[derive(Default)]
struct Lanes {
    each: Vec<Retiring>,
    done: std::collections::HashMap<Position, u64>,
}

/// The samples of a set read from one source partition: the least and greatest offset (a
/// file: CSV line or Arrow row) and how many. A model event's lineage (`sources`); the set
/// holds every sample of the range only when its selection kept them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceRange {
    /// Kafka partition (0 for a file).
    pub partition: i32,
    /// Least offset, line or row.
    pub first: i64,
    /// Greatest offset, line or row.
    pub last: i64,
    /// Samples of the set read from it.
    pub samples: u64,
}

/// Lanes a store can serve: a sweep's variants (a bit each in a `u64`).
pub use crate::config::MAX_LANES;
const _: () = assert!(MAX_LANES <= 64, "a lane is a bit of a u64");

/// What [`SampleStore::add_version`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Versioned {
    /// Stored as a version of its key.
    Added {
        /// The key has versions before it: sets cut from its time on must not read them.
        older: bool,
        /// The time of the key's next version, if one arrived first: sets cut from then on
        /// must not read this one.
        next: Option<Time>,
    },
    /// Took the place of the version at its position, read before it.
    Replaced,
    /// The version at its position was read after it: the sample is not stored.
    Superseded,
}

/// The sample store as a training set cut at a trigger's boundary reads it: of each key, the
/// newest version at or before the boundary (the one its selection chose).
#[derive(Clone)]
pub struct SampleView {
    store: Arc<SampleStore>,
    as_of: Position,
    /// Samples of the set shipped from other processes (see `pipeline::ship`), read first.
    shipped: Option<Arc<SampleStore>>,
}

impl SampleView {
    /// The view, also reading `shipped` (first): the set's samples that other processes own.
    pub fn with_shipped(mut self, shipped: Option<Arc<SampleStore>>) -> Self {
        self.shipped = shipped;
        self
    }

    fn stores(&self) -> Vec<&SampleStore> {
        self.shipped
            .iter()
            .chain([&self.store])
            .map(|s| &**s)
            .collect()
    }

    /// Appends the features and labels of `keys`, in order, to `x` and `y`.
    pub fn gather(
        &self,
        keys: &[Key],
        x: &mut Vec<f32>,
        y: &mut Vec<i64>,
    ) -> Result<(), StoreError> {
        gather_in(&self.stores(), as_of_each(keys, self.as_of), x, y)
    }

    /// Appends the labels of `keys`, in order, to `y`.
    pub fn labels(&self, keys: &[Key], y: &mut Vec<i64>) -> Result<(), StoreError> {
        labels_in(&self.stores(), as_of_each(keys, self.as_of), y)
    }

    /// Where `keys` were read, per partition.
    pub fn sources(&self, keys: &[Key]) -> Result<Vec<SourceRange>, StoreError> {
        sources_in(&self.stores(), as_of_each(keys, self.as_of))
    }

    /// Features per sample.
    pub fn dim(&self) -> usize {
        self.store.dim
    }
}

fn as_of_each(keys: &[Key], as_of: Position) -> impl ExactSizeIterator<Item = (Key, Pick)> {
    keys.iter().map(move |&k| (k, Pick::AsOf(as_of)))
}

fn gather_in(
    stores: &[&SampleStore],
    picks: impl ExactSizeIterator<Item = (Key, Pick)>,
    x: &mut Vec<f32>,
    y: &mut Vec<i64>,
) -> Result<(), StoreError> {
    x.reserve(picks.len() * stores[0].dim);
    y.reserve(picks.len());
    each_in::<false>(stores, picks, |f, label, _| {
        x.extend_from_slice(f);
        y.push(label);
    })
}

fn labels_in(
    stores: &[&SampleStore],
    picks: impl ExactSizeIterator<Item = (Key, Pick)>,
    y: &mut Vec<i64>,
) -> Result<(), StoreError> {
    y.reserve(picks.len());
    each_in::<false>(stores, picks, |_, label, _| y.push(label))
}

fn sources_in(
    stores: &[&SampleStore],
    picks: impl ExactSizeIterator<Item = (Key, Pick)>,
) -> Result<Vec<SourceRange>, StoreError> {
    let mut ranges: BTreeMap<i32, SourceRange> = BTreeMap::new();
    each_in::<true>(stores, picks, |_, _, (partition, offset)| {
        let r = ranges.entry(partition).or_insert(SourceRange {
            partition,
            first: offset,
            last: offset,
            samples: 0,
        });
        r.first = r.first.min(offset);
        r.last = r.last.max(offset);
        r.samples += 1;
    })?;
    Ok(ranges.into_values().collect())
}

/// Calls `f` with each picked version's features, label and (if `ORIGIN`) origin, in order,
/// from the first of `stores` that holds its key (all of the same `dim`), under one read lock
/// per shard.
fn each_in<const ORIGIN: bool>(
    stores: &[&SampleStore],
    picks: impl Iterator<Item = (Key, Pick)>,
    mut f: impl FnMut(&[f32], i64, SourceAt),
) -> Result<(), StoreError> {
    let guards: Vec<Vec<_>> = stores
        .iter()
        .map(|store| {
            store
                .shards
                .iter()
                .map(|s| s.read().expect("sample store poisoned"))
                .collect()
        })
        .collect();
    let dim = stores[0].dim;
    let (mut bytes, mut scratch) = (Vec::new(), Vec::new());
    for (key, pick) in picks {
        let found = stores.iter().zip(&guards).find_map(|(store, guards)| {
            let shard = &guards[store.shard_of(key)];
            shard.find(key, pick).map(|slot| (shard, slot))
        });
        let (shard, slot) = found.ok_or(match pick {
            Pick::Exact(time) => StoreError::MissingSample(Position { time, key }),
            Pick::AsOf(_) => StoreError::MissingKey(key),
        })?;
        shard.row::<ORIGIN>(slot, dim, (&mut bytes, &mut scratch), &mut f)?;
    }
    Ok(())
}

/// Feature payloads of the samples that can still be trained on, by key.
pub struct SampleStore {
    dim: usize,
    shards: Vec<RwLock<Shard>>,
    retiring: Mutex<Lanes>,
    spill: Option<SpillTo>,
    /// Counts the samples inserted while the store lives ([`counted`](Self::counted)).
    held: Option<Arc<AtomicU64>>,
}

impl Drop for SampleStore {
    fn drop(&mut self) {
        if let Some(held) = &self.held {
            held.fetch_sub(self.len() as u64, Ordering::Relaxed);
        }
    }
}

impl SampleStore {
    /// An empty store for `dim`-feature samples with `shards` shards (= dataflow workers).
    pub fn new(dim: usize, shards: usize) -> Self {
        Self {
            dim,
            shards: (0..shards.max(1)).map(|_| RwLock::default()).collect(),
            retiring: Mutex::new(Lanes {
                each: vec![Retiring::default()],
                done: Default::default(),
            }),
            spill: None,
            held: None,
        }
    }

    /// A store that adds the samples it stores to `held`, and takes them off when dropped (a
    /// store of shipped samples: what a process holds besides its own store). For stores
    /// that only insert.
    pub fn counted(mut self, held: Arc<AtomicU64>) -> Self {
        self.held = Some(held);
        self
    }

    /// A store shared by `lanes` lanes (a sweep's variants; at most [`MAX_LANES`]): a sample is
    /// removed once every lane has retired it, trained past its retirement and read past it.
    pub fn with_lanes(self, lanes: usize) -> Self {
        assert!(lanes <= MAX_LANES, "at most {MAX_LANES} lanes");
        let each = (0..lanes.max(1)).map(|_| Retiring::default()).collect();
        *self.retiring.lock().expect("sample store poisoned") = Lanes {
            each,
            done: Default::default(),
        };
        self
    }

    /// Keeps at most about `max_in_memory` samples' payloads in memory (rounded up to whole
    /// chunks of [`CHUNK_ROWS`] per shard); older ones spill to segment files in `dir`.
    pub fn spilling(mut self, max_in_memory: usize, dir: &Path) -> Self {
        self.spill = Some(SpillTo {
            dir: dir.to_path_buf(),
            per_shard: max_in_memory.div_ceil(self.shards.len()),
        });
        self
    }

    /// Whether `key` is stored.
    pub fn contains(&self, key: Key) -> bool {
        self.shards[self.shard_of(key)]
            .read()
            .expect("sample store poisoned")
            .index
            .contains_key(&key)
    }

    /// Samples whose payloads are in memory (the rest are spilled).
    pub fn in_memory(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.read().expect("sample store poisoned");
                s.mem_rows - s.free.len()
            })
            .sum()
    }

    /// Features per sample.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The shard that owns `key`.
    pub fn shard_of(&self, key: Key) -> usize {
        (route(key) % self.shards.len() as u64) as usize
    }

    /// Inserts samples `(key, label, features)` at time 0 read from nowhere in particular
    /// (their [`SourceAt`] is `(0, 0)`), as [`insert_from`](Self::insert_from) does.
    pub fn insert<'a>(
        &self,
        samples: impl IntoIterator<Item = (Key, i64, &'a [f32])>,
    ) -> Vec<(usize, StoreError)> {
        self.insert_from(
            samples
                .into_iter()
                .map(|(key, l, f)| (Position { time: 0, key }, l, f, (0, 0))),
        )
    }

    /// Inserts samples `(position, label, features, where read)`; each is stored or rejected
    /// on its own (a key already stored, wrong dimension). Returns the rejected ones, by their
    /// index in `samples` (ascending), with the reason. A rejected sample changes nothing
    /// stored.
    pub fn insert_from<'a>(
        &self,
        samples: impl IntoIterator<Item = (Position, i64, &'a [f32], SourceAt)>,
    ) -> Vec<(usize, StoreError)> {
        let mut rejected = Vec::new();
        let mut locked: Option<(usize, std::sync::RwLockWriteGuard<'_, Shard>)> = None;
        let spill = |locked: &mut Option<(usize, std::sync::RwLockWriteGuard<'_, Shard>)>| {
            if let (Some(to), Some((i, shard))) = (&self.spill, locked.as_mut()) {
                shard.spill(self.dim, to.per_shard, &to.dir, *i);
            }
        };
        let mut seen = 0;
        for (i, (pos, label, features, origin)) in samples.into_iter().enumerate() {
            seen = i + 1;
            if features.len() != self.dim {
                rejected.push((i, self.wrong_dim(features)));
                continue;
            }
            let s = self.shard_of(pos.key);
            if locked.as_ref().is_none_or(|(i, _)| *i != s) {
                // Release one shard before taking the next: `gather` read-locks every shard in
                // order, so holding two write locks could deadlock with it.
                spill(&mut locked);
                drop(locked.take());
                locked = Some((s, self.shards[s].write().expect("sample store poisoned")));
            }
            let shard = &mut locked.as_mut().expect("locked above").1;
            if shard.index.contains_key(&pos.key) {
                rejected.push((i, StoreError::DuplicateKey(pos.key)));
                continue;
            }
            let slot = shard.put(self.dim, features, label, origin);
            let time = pos.time;
            shard.index.insert(pos.key, Version { slot, time });
        }
        spill(&mut locked);
        if let Some(held) = &self.held {
            held.fetch_add((seen - rejected.len()) as u64, Ordering::Relaxed);
        }
        rejected
    }

    /// Adds the sample at `pos` as a version of its key (`duplicates = "keep_last"`): each
    /// version is its key's sample from its event time until the next version's, so training
    /// sets cut before it keep reading the one before. A version at the same position is
    /// replaced by the one read later (greater [`SourceAt`]), whichever arrives first.
    pub fn add_version(
        &self,
        pos: Position,
        label: i64,
        features: &[f32],
        origin: SourceAt,
    ) -> Result<Versioned, StoreError> {
        if features.len() != self.dim {
            return Err(self.wrong_dim(features));
        }
        let s = self.shard_of(pos.key);
        let mut shard = self.shards[s].write().expect("sample store poisoned");
        let done = shard.add_version(pos, self.dim, (label, features, origin))?;
        if let Some(to) = &self.spill {
            shard.spill(self.dim, to.per_shard, &to.dir, s);
        }
        Ok(done)
    }

    fn wrong_dim(&self, features: &[f32]) -> StoreError {
        StoreError::WrongDim {
            expected: self.dim,
            found: features.len(),
        }
    }

    /// Appends the features and labels of `keys`, in order, to `x` (row-major, `dim` per key)
    /// and `y`: of each key the newest version at or before `as_of`.
    pub fn gather(
        &self,
        keys: &[Key],
        as_of: Position,
        x: &mut Vec<f32>,
        y: &mut Vec<i64>,
    ) -> Result<(), StoreError> {
        gather_in(&[self], as_of_each(keys, as_of), x, y)
    }

    /// Appends the features and labels of the samples at `positions`, in order, to `x` and
    /// `y`.
    pub fn gather_at(
        &self,
        positions: &[Position],
        x: &mut Vec<f32>,
        y: &mut Vec<i64>,
    ) -> Result<(), StoreError> {
        let picks = positions.iter().map(|p| (p.key, Pick::Exact(p.time)));
        gather_in(&[self], picks, x, y)
    }

    /// Appends the labels of `keys` as of `as_of`, in order, to `y`.
    pub fn labels(
        &self,
        keys: &[Key],
        as_of: Position,
        y: &mut Vec<i64>,
    ) -> Result<(), StoreError> {
        labels_in(&[self], as_of_each(keys, as_of), y)
    }

    /// Where `keys` (as of `as_of`) were read, per partition (ascending): the least and
    /// greatest offset (file: line or row) and how many of them.
    pub fn sources(&self, keys: &[Key], as_of: Position) -> Result<Vec<SourceRange>, StoreError> {
        sources_in(&[self], as_of_each(keys, as_of))
    }

    /// The features, labels and origins of the samples at `positions`, in order: what
    /// another process needs to train on them (see `pipeline::ship`).
    pub fn copy_out(&self, positions: &[Position]) -> Result<Rows, StoreError> {
        let mut rows = Rows::new(self.dim);
        let mut at = positions.iter();
        let picks = positions.iter().map(|p| (p.key, Pick::Exact(p.time)));
        each_in::<true>(&[self], picks, |f, label, (partition, offset)| {
            let p = at.next().expect("one payload per position");
            let origin = Origin {
                partition,
                row: 0,
                offset,
            };
            rows.push(p.key, p.time, label, f, origin);
        })?;
        Ok(rows)
    }

    /// Number of stored samples (every version of a key counts).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.read().expect("sample store poisoned");
                s.index.len() + s.older.values().map(Vec::len).sum::<usize>()
            })
            .sum()
    }

    /// A view of the store as a training set cut at `as_of` reads it (its trigger's
    /// boundary): each key's newest version at or before it.
    pub fn view(self: &Arc<Self>, as_of: Position) -> SampleView {
        SampleView {
            store: self.clone(),
            as_of,
            shipped: None,
        }
    }

    /// A view of each key's newest version.
    pub fn newest(self: &Arc<Self>) -> SampleView {
        self.view(Position::MAX)
    }

    /// Lane `lane` retires samples its selection can no longer choose after `trigger`: they
    /// are done for the lane once its trainer has finished `trigger` and its trigger policy
    /// reads past them.
    pub fn retire(&self, lane: usize, trigger: u64, mut samples: Vec<Position>) {
        let mut r = self.retiring.lock().expect("sample store poisoned");
        let list = r.each[lane].waiting.entry(trigger).or_default();
        list.append(&mut samples);
        list.sort_unstable_by(|a, b| b.cmp(a));
        self.compact(&mut r, lane);
    }

    /// Lane `lane`'s trainer has finished `trigger` (and every earlier one).
    pub fn trained(&self, lane: usize, trigger: u64) {
        let mut r = self.retiring.lock().expect("sample store poisoned");
        r.each[lane].trained = Some(trigger);
        self.compact(&mut r, lane);
    }

    /// Lane `lane`'s trigger policy reads no sample before `position` any more.
    pub fn retain_from(&self, lane: usize, position: Position) {
        let mut r = self.retiring.lock().expect("sample store poisoned");
        if r.each[lane].horizon.is_none_or(|h| h < position) {
            r.each[lane].horizon = Some(position);
            self.compact(&mut r, lane);
        }
    }

    /// Removes the retired samples that lane `lane`'s trainer and trigger policy are done
    /// with, and every other lane was done with before.
    fn compact(&self, lanes: &mut Lanes, lane: usize) {
        let r = &mut lanes.each[lane];
        let (Some(trained), Some(horizon)) = (r.trained, r.horizon) else {
            return;
        };
        let mut gone: Vec<Position> = Vec::new();
        for list in r.waiting.range_mut(..=trained).map(|(_, l)| l) {
            while list.last().is_some_and(|p| *p < horizon) {
                gone.push(list.pop().expect("last exists"));
            }
        }
        r.waiting.retain(|_, l| !l.is_empty());
        let n = lanes.each.len();
        if n > 1 {
            let all = u64::MAX >> (64 - n);
            gone.retain(|k| {
                let done = lanes.done.entry(*k).or_insert(0);
                *done |= 1 << lane;
                let last = *done == all;
                if last {
                    lanes.done.remove(k);
                }
                last
            });
        }
        if gone.is_empty() {
            return;
        }
        gone.sort_unstable_by_key(|p| self.shard_of(p.key));
        for part in gone.chunk_by(|a, b| self.shard_of(a.key) == self.shard_of(b.key)) {
            let mut shard = self.shards[self.shard_of(part[0].key)]
                .write()
                .expect("sample store poisoned");
            for &pos in part {
                shard.remove(pos);
            }
        }
    }

    /// Samples retired (by any lane) but not removed yet.
    pub fn retiring(&self) -> usize {
        let r = self.retiring.lock().expect("sample store poisoned");
        let waiting: usize = r
            .each
            .iter()
            .flat_map(|l| l.waiting.values())
            .map(Vec::len)
            .sum();
        waiting + r.done.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_store_adds_what_it_stores_and_takes_it_off_when_dropped() {
        let held = Arc::new(AtomicU64::new(5));
        let store = SampleStore::new(1, 1).counted(held.clone());
        let rejected = store.insert([(1, 0, &[1.0][..]), (2, 0, &[2.0]), (1, 1, &[3.0])]);
        assert_eq!(rejected.len(), 1, "the second copy of key 1");
        assert_eq!(held.load(Ordering::Relaxed), 7);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        store.gather(&[2, 1], ALL, &mut x, &mut y).unwrap();
        assert_eq!(x, [2.0, 1.0]);
        drop(store);
        assert_eq!(held.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn insert_and_gather_in_requested_order() {
        let store = SampleStore::new(2, 3);
        let rows: Vec<(Key, i64, Vec<f32>)> = (0..100)
            .map(|k| (k, (k % 2) as i64, vec![k as f32, -(k as f32)]))
            .collect();
        let rejected = store.insert(rows.iter().map(|(k, l, f)| (*k, *l, f.as_slice())));
        assert!(rejected.is_empty());
        assert_eq!(store.len(), 100);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        store.gather(&[7, 3, 99], ALL, &mut x, &mut y).unwrap();
        assert_eq!(x, vec![7.0, -7.0, 3.0, -3.0, 99.0, -99.0]);
        assert_eq!(y, vec![1, 1, 1]);
        assert_eq!(
            store.gather(&[1000], ALL, &mut x, &mut y),
            Err(StoreError::MissingKey(1000))
        );
    }

    /// Every key's newest version.
    const ALL: Position = Position::MAX;

    /// Position `(k, k)`.
    fn pos(k: u64) -> Position {
        Position { time: k, key: k }
    }

    /// Keys `0..n` in `store`, key `k` at time `k`, each with label and one feature `k`.
    fn fill(store: &SampleStore, n: u64) {
        let rows: Vec<(Key, i64, [f32; 1])> = (0..n).map(|k| (k, k as i64, [k as f32])).collect();
        assert!(
            store
                .insert_from(rows.iter().map(|(k, l, f)| (pos(*k), *l, &f[..], (0, 0))))
                .is_empty()
        );
    }

    #[test]
    fn a_sample_of_several_lanes_goes_once_every_lane_is_done_with_it() {
        let store = SampleStore::new(1, 2).with_lanes(3);
        fill(&store, 6);
        // Lane 0 retires 0..4 at its trigger 0 and is done with them.
        store.retire(0, 0, (0..4).map(pos).collect());
        store.trained(0, 0);
        store.retain_from(0, pos(100));
        assert_eq!(store.len(), 6, "lanes 1 and 2 may still select them");
        // Lane 1 retires 0..2 only, at its trigger 3; lane 2 retires all at its trigger 0, and
        // 2 again at its trigger 1 (pool and sampler may both retire a sample).
        store.retire(1, 3, (0..2).map(pos).collect());
        store.retire(2, 0, (0..6).map(pos).collect());
        store.retire(2, 1, vec![pos(2)]);
        store.trained(2, 1);
        store.retain_from(2, pos(100));
        store.retain_from(1, pos(100));
        assert_eq!(store.len(), 6, "lane 1 has not trained trigger 3");
        store.trained(1, 2);
        assert_eq!(store.len(), 6);
        store.trained(1, 3);
        // 0 and 1: done in all three lanes. 2, 3: lane 1 never retired them; 4, 5: lane 0 not.
        assert_eq!(store.len(), 4);
        assert!(!store.contains(0) && !store.contains(1) && store.contains(2));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        store.gather(&[2, 3, 4, 5], ALL, &mut x, &mut y).unwrap();
        assert_eq!(x, [2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn retired_samples_go_once_trained_and_past_the_trigger_horizon_and_slots_are_reused() {
        let store = SampleStore::new(1, 2);
        fill(&store, 10);
        // Trigger 0 retires 0..4, trigger 1 retires 4..8.
        store.retire(0, 0, (0..4).map(pos).collect());
        store.retire(0, 1, (4..8).map(pos).collect());
        assert_eq!((store.len(), store.retiring()), (10, 8));
        // The trainer is done with trigger 0, but the trigger policy still reads from 2 on.
        store.trained(0, 0);
        assert_eq!(store.len(), 10, "no horizon yet: nothing goes");
        store.retain_from(0, pos(2));
        assert_eq!((store.len(), store.retiring()), (8, 6));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        assert_eq!(
            store.gather(&[0], ALL, &mut x, &mut y),
            Err(StoreError::MissingKey(0))
        );
        store.retain_from(0, pos(100));
        assert_eq!(
            (store.len(), store.retiring()),
            (6, 4),
            "trigger 1 not trained"
        );
        store.trained(0, 1);
        assert_eq!((store.len(), store.retiring()), (2, 0));
        // New samples take a shard's freed slots before it grows.
        let slots = |store: &SampleStore| -> Vec<(usize, usize)> {
            store
                .shards
                .iter()
                .map(|s| {
                    let s = s.read().unwrap();
                    (s.mem_rows, s.free.len())
                })
                .collect()
        };
        let before = slots(&store);
        let more: Vec<(Key, i64, [f32; 1])> = (10..18).map(|k| (k, k as i64, [k as f32])).collect();
        assert!(
            store
                .insert(more.iter().map(|(k, l, f)| (*k, *l, &f[..])))
                .is_empty()
        );
        assert_eq!(store.len(), 10);
        for ((len0, free0), (len1, free1)) in before.into_iter().zip(slots(&store)) {
            assert!(free1 == 0 || len1 == len0, "grew with free slots left");
            // Every slot is a sample or free.
            assert!(len1 >= len0 && free1 <= free0);
        }
        let total: usize = slots(&store).iter().map(|(l, f)| l - f).sum();
        assert_eq!(total, 10);
        x.clear();
        y.clear();
        store.gather(&[9, 17, 10], ALL, &mut x, &mut y).unwrap();
        assert_eq!((x, y), (vec![9.0, 17.0, 10.0], vec![9, 17, 10]));
    }

    #[test]
    fn spilled_chunks_read_back_and_memory_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let n = CHUNK_ROWS * 5 + 17;
        let store = SampleStore::new(3, 2).spilling(CHUNK_ROWS * 2, &dir.path().join("spill"));
        let rows: Vec<(Key, i64, [f32; 3])> = (0..n as u64)
            .map(|k| (k, (k % 7) as i64, [k as f32, -(k as f32), 0.5]))
            .collect();
        // In several batches, as the dataflow inserts; key k read at partition k % 3, offset
        // 10 k.
        for part in rows.chunks(1000) {
            let read = part
                .iter()
                .map(|(k, l, f)| (pos(*k), *l, &f[..], ((k % 3) as i32, 10 * *k as i64)));
            assert!(store.insert_from(read).is_empty());
        }
        assert_eq!(store.len(), n);
        // Each shard keeps its share (one chunk) plus its open chunk in memory.
        let in_memory = store.in_memory();
        assert!(
            in_memory <= 4 * CHUNK_ROWS && in_memory < n / 2,
            "{in_memory} of {n} in memory"
        );
        assert!(dir.path().join("spill/samples-0.bin").is_file());
        // Every row reads back, spilled or not, in the requested order.
        let keys: Vec<Key> = (0..n as u64).rev().step_by(7).collect();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        store.gather(&keys, ALL, &mut x, &mut y).unwrap();
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(x[i * 3..i * 3 + 3], [k as f32, -(k as f32), 0.5], "key {k}");
            assert_eq!(y[i], (k % 7) as i64);
        }
        let mut labels = Vec::new();
        store.labels(&keys, ALL, &mut labels).unwrap();
        assert_eq!(labels, y);
        // Where they were read comes back too (the first keys are spilled, the last not).
        let sources = store.sources(&[0, 3, 9, 1, n as u64 - 2], ALL).unwrap();
        let last = n as i64 - 2;
        let range = |partition, first, last, samples| SourceRange {
            partition,
            first,
            last,
            samples,
        };
        let want = [
            range(0, 0, 90, 3),
            range(1, 10, 10, 1),
            range(2, 10 * last, 10 * last, 1),
        ];
        assert_eq!(sources, want);
        // Compaction forgets spilled rows too.
        store.retire(0, 0, (0..10).map(pos).collect());
        store.trained(0, 0);
        store.retain_from(0, pos(u64::MAX));
        assert_eq!(store.len(), n - 10);
        assert_eq!(
            store.gather(&[3], ALL, &mut x, &mut y),
            Err(StoreError::MissingKey(3))
        );
    }

    #[test]
    fn versions_of_a_key_read_by_boundary_or_position_and_leave_one_at_a_time() {
        let store = SampleStore::new(1, 2);
        let at = |time, key| Position { time, key };
        let read = |store: &SampleStore, as_of| {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            store
                .gather(&[1], as_of, &mut x, &mut y)
                .map(|()| (x[0], y[0]))
        };
        assert!(
            store
                .insert_from([(at(10, 1), 0, &[10.0f32][..], (0, 0))])
                .is_empty()
        );
        // A later version; the first stays for sets cut before it.
        let r = store.add_version(at(20, 1), 1, &[20.0], (0, 1));
        let added = |older, next| Ok(Versioned::Added { older, next });
        assert_eq!(r, added(true, None));
        assert_eq!(store.len(), 2);
        assert_eq!(read(&store, at(15, 9)), Ok((10.0, 0)));
        assert_eq!(read(&store, at(20, 1)), Ok((20.0, 1)));
        assert_eq!(
            read(&store, at(20, 0)),
            Ok((10.0, 0)),
            "(20, 1) is after (20, 0)"
        );
        assert_eq!(read(&store, at(9, 9)), Err(StoreError::MissingKey(1)));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        store
            .gather_at(&[at(20, 1), at(10, 1)], &mut x, &mut y)
            .unwrap();
        assert_eq!((x, y), (vec![20.0, 10.0], vec![1, 0]));
        assert_eq!(
            store.gather_at(&[at(15, 1)], &mut Vec::new(), &mut Vec::new()),
            Err(StoreError::MissingSample(at(15, 1)))
        );
        // Where each version was read.
        let sources = store.sources(&[1], at(15, 0)).unwrap();
        assert_eq!((sources[0].first, sources[0].last), (0, 0));
        // Versions that arrive after later ones: each the sample from its time until the next
        // version's, whichever arrived first.
        let r = store.add_version(at(5, 1), 2, &[5.0], (0, 2));
        assert_eq!(r, added(false, Some(10)));
        let r = store.add_version(at(15, 1), 3, &[15.0], (0, 3));
        assert_eq!(r, added(true, Some(20)));
        let versions: Vec<_> = [5, 12, 15, 30]
            .map(|t| read(&store, at(t, 1)).unwrap().0)
            .to_vec();
        assert_eq!(versions, [5.0, 10.0, 15.0, 20.0]);
        // At one position the copy read later wins, whichever arrives first.
        let r = store.add_version(at(15, 1), 4, &[16.0], (0, 4));
        assert_eq!(r, Ok(Versioned::Replaced));
        let r = store.add_version(at(15, 1), 9, &[99.0], (0, 1));
        assert_eq!(r, Ok(Versioned::Superseded));
        assert_eq!(read(&store, at(15, 1)), Ok((16.0, 4)));
        assert_eq!(store.len(), 4);
        // Compaction removes one version: removing the newest makes the one before newest.
        store.retire(0, 0, vec![at(20, 1), at(5, 1), at(10, 1)]);
        store.trained(0, 0);
        store.retain_from(0, ALL);
        assert_eq!((store.len(), read(&store, ALL)), (1, Ok((16.0, 4))));
        assert!(store.contains(1));
        // Removed versions' slots are reused.
        store.add_version(at(40, 1), 5, &[40.0], (0, 5)).unwrap();
        let (rows, free) = store.shards.iter().fold((0, 0), |(r, f), s| {
            let s = s.read().unwrap();
            (r + s.mem_rows, f + s.free.len())
        });
        assert_eq!((rows, free), (4, 2));
        assert_eq!(
            store.add_version(at(50, 1), 0, &[1.0, 2.0], (0, 0)),
            Err(StoreError::WrongDim {
                expected: 1,
                found: 2
            })
        );
    }

    /// A spilled version replaced at its position is read back from its new slot.
    #[test]
    fn a_spilled_version_is_replaced_by_a_copy_read_later() {
        let dir = tempfile::tempdir().unwrap();
        let store = SampleStore::new(1, 1).spilling(CHUNK_ROWS, dir.path());
        let rows: Vec<[f32; 1]> = (0..3 * CHUNK_ROWS).map(|k| [k as f32]).collect();
        let read = rows
            .iter()
            .enumerate()
            .map(|(k, f)| (pos(k as u64), 0, &f[..], (0, k as i64)));
        assert!(store.insert_from(read).is_empty());
        assert!(store.in_memory() < 3 * CHUNK_ROWS, "key 3 is spilled");
        let r = store.add_version(pos(3), 1, &[-3.0], (0, 10_000));
        assert_eq!(r, Ok(Versioned::Replaced));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        store.gather_at(&[pos(3), pos(4)], &mut x, &mut y).unwrap();
        assert_eq!((x, y), (vec![-3.0, 4.0], vec![1, 0]));
        assert_eq!(store.len(), 3 * CHUNK_ROWS);
    }

    #[test]
    fn rejects_duplicates_and_wrong_dimension() {
        let store = SampleStore::new(2, 2);
        let r = store.insert([
            (1, 0, &[1.0f32, 2.0][..]),
            (1, 1, &[3.0, 4.0][..]),
            (2, 0, &[1.0][..]),
            (3, 0, &[5.0, 6.0][..]),
        ]);
        assert_eq!(
            r,
            vec![
                (1, StoreError::DuplicateKey(1)),
                (
                    2,
                    StoreError::WrongDim {
                        expected: 2,
                        found: 1
                    }
                )
            ]
        );
        // The first copy stays; the sample after the refused ones is stored.
        let (mut x, mut y) = (Vec::new(), Vec::new());
        store.gather(&[1, 3], ALL, &mut x, &mut y).unwrap();
        assert_eq!((x, y), (vec![1.0, 2.0, 5.0, 6.0], vec![0, 0]));
    }
}
