//! The sample store: feature payloads by key, for the trainer to resolve training sets.
//!
//! Sharded by [`route`]`(key) % shards`, the function the dataflow exchanges records by, so the
//! worker that owns a key writes its shard and workers never contend with each other; readers
//! (trainers) take a shard's read lock once per batch. Features live in one contiguous `Vec<f32>`
//! per shard (no per-sample allocation).
//!
//! Compaction: samples that no selection strategy can select any more are retired (by the
//! selection operator, per trigger) and their slots reused once (1) the trainer has finished
//! the trigger that retired them (earlier training sets may name them) and (2) the trigger
//! policy no longer reads them (its windows start later: [`SampleStore::retain_from`]). So on
//! an endless stream the store holds the samples a strategy can still select, plus those the
//! trigger policy's windows hold, not the whole history.

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::sync::{Mutex, RwLock};

use sluice_dataflows::{Key, KeyMap, Position, route};

/// Errors of the sample store.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// A key was inserted twice.
    #[error("duplicate key {0}")]
    DuplicateKey(Key),
    /// A training set names a key that was never stored.
    #[error("key {0} not in the sample store")]
    MissingKey(Key),
    /// A sample's feature count differs from the store's.
    #[error("sample has {found} features, expected {expected}")]
    WrongDim {
        /// Expected.
        expected: usize,
        /// Found.
        found: usize,
    },
}

#[derive(Default)]
struct Shard {
    index: KeyMap<u32>,
    features: Vec<f32>,
    labels: Vec<i64>,
    /// Slots of removed samples, reused by inserts.
    free: Vec<u32>,
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

/// Feature payloads of the samples that can still be trained on, by key.
pub struct SampleStore {
    dim: usize,
    shards: Vec<RwLock<Shard>>,
    retiring: Mutex<Retiring>,
}

impl SampleStore {
    /// An empty store for `dim`-feature samples with `shards` shards (= dataflow workers).
    pub fn new(dim: usize, shards: usize) -> Self {
        Self {
            dim,
            shards: (0..shards.max(1)).map(|_| RwLock::default()).collect(),
            retiring: Mutex::default(),
        }
    }

    /// Features per sample.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The shard that owns `key`.
    pub fn shard_of(&self, key: Key) -> usize {
        (route(key) % self.shards.len() as u64) as usize
    }

    /// Inserts samples `(key, label, features)`; each is stored or rejected on its own
    /// (duplicate key, wrong dimension). Returns the rejected keys with the reason.
    pub fn insert<'a>(
        &self,
        samples: impl IntoIterator<Item = (Key, i64, &'a [f32])>,
    ) -> Vec<(Key, StoreError)> {
        let mut rejected = Vec::new();
        let mut locked: Option<(usize, std::sync::RwLockWriteGuard<'_, Shard>)> = None;
        for (key, label, features) in samples {
            if features.len() != self.dim {
                rejected.push((
                    key,
                    StoreError::WrongDim {
                        expected: self.dim,
                        found: features.len(),
                    },
                ));
                continue;
            }
            let s = self.shard_of(key);
            if locked.as_ref().is_none_or(|(i, _)| *i != s) {
                // Release one shard before taking the next: `gather` read-locks every shard in
                // order, so holding two write locks could deadlock with it.
                drop(locked.take());
                locked = Some((s, self.shards[s].write().expect("sample store poisoned")));
            }
            let shard = &mut locked.as_mut().expect("locked above").1;
            let reuse = shard.free.last().copied();
            let next = shard.labels.len() as u32;
            match shard.index.entry(key) {
                Entry::Occupied(_) => rejected.push((key, StoreError::DuplicateKey(key))),
                Entry::Vacant(v) => match reuse {
                    Some(slot) => {
                        v.insert(slot);
                        shard.free.pop();
                        let at = slot as usize;
                        shard.features[at * self.dim..(at + 1) * self.dim]
                            .copy_from_slice(features);
                        shard.labels[at] = label;
                    }
                    None => {
                        v.insert(next);
                        shard.features.extend_from_slice(features);
                        shard.labels.push(label);
                    }
                },
            }
        }
        rejected
    }

    /// Appends the features and labels of `keys`, in order, to `x` (row-major, `dim` per key)
    /// and `y`.
    pub fn gather(
        &self,
        keys: &[Key],
        x: &mut Vec<f32>,
        y: &mut Vec<i64>,
    ) -> Result<(), StoreError> {
        x.reserve(keys.len() * self.dim);
        y.reserve(keys.len());
        self.each(keys, |shard, slot| {
            x.extend_from_slice(&shard.features[slot * self.dim..(slot + 1) * self.dim]);
            y.push(shard.labels[slot]);
        })
    }

    /// Appends the labels of `keys`, in order, to `y`.
    pub fn labels(&self, keys: &[Key], y: &mut Vec<i64>) -> Result<(), StoreError> {
        y.reserve(keys.len());
        self.each(keys, |shard, slot| y.push(shard.labels[slot]))
    }

    /// Calls `f` with each key's shard and slot, in order, under one read lock per shard.
    fn each(&self, keys: &[Key], mut f: impl FnMut(&Shard, usize)) -> Result<(), StoreError> {
        let guards: Vec<_> = self
            .shards
            .iter()
            .map(|s| s.read().expect("sample store poisoned"))
            .collect();
        for &key in keys {
            let shard = &guards[self.shard_of(key)];
            let slot = *shard.index.get(&key).ok_or(StoreError::MissingKey(key))? as usize;
            f(shard, slot);
        }
        Ok(())
    }

    /// Number of stored samples.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.read().expect("sample store poisoned");
                s.index.len()
            })
            .sum()
    }

    /// Retires samples that selection can no longer choose after `trigger`: they are removed
    /// once the trainer has finished `trigger` and the trigger policy reads past them.
    pub fn retire(&self, trigger: u64, mut samples: Vec<Position>) {
        let mut r = self.retiring.lock().expect("sample store poisoned");
        let list = r.waiting.entry(trigger).or_default();
        list.append(&mut samples);
        list.sort_unstable_by(|a, b| b.cmp(a));
        self.compact(&mut r);
    }

    /// The trainer has finished `trigger` (and every earlier one).
    pub fn trained(&self, trigger: u64) {
        let mut r = self.retiring.lock().expect("sample store poisoned");
        r.trained = Some(trigger);
        self.compact(&mut r);
    }

    /// The trigger policy reads no sample before `position` any more.
    pub fn retain_from(&self, position: Position) {
        let mut r = self.retiring.lock().expect("sample store poisoned");
        if r.horizon.is_none_or(|h| h < position) {
            r.horizon = Some(position);
            self.compact(&mut r);
        }
    }

    /// Removes the retired samples both the trainer and the trigger policy are done with.
    fn compact(&self, r: &mut Retiring) {
        let (Some(trained), Some(horizon)) = (r.trained, r.horizon) else {
            return;
        };
        let mut gone: Vec<Key> = Vec::new();
        for list in r.waiting.range_mut(..=trained).map(|(_, l)| l) {
            while list.last().is_some_and(|p| *p < horizon) {
                gone.push(list.pop().expect("last exists").key);
            }
        }
        r.waiting.retain(|_, l| !l.is_empty());
        if gone.is_empty() {
            return;
        }
        gone.sort_unstable_by_key(|&k| self.shard_of(k));
        for part in gone.chunk_by(|a, b| self.shard_of(*a) == self.shard_of(*b)) {
            let mut shard = self.shards[self.shard_of(part[0])]
                .write()
                .expect("sample store poisoned");
            for key in part {
                if let Some(slot) = shard.index.remove(key) {
                    shard.free.push(slot);
                }
            }
        }
    }

    /// Samples retired but not removed yet.
    pub fn retiring(&self) -> usize {
        let r = self.retiring.lock().expect("sample store poisoned");
        r.waiting.values().map(Vec::len).sum()
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
    fn insert_and_gather_in_requested_order() {
        let store = SampleStore::new(2, 3);
        let rows: Vec<(Key, i64, Vec<f32>)> = (0..100)
            .map(|k| (k, (k % 2) as i64, vec![k as f32, -(k as f32)]))
            .collect();
        let rejected = store.insert(rows.iter().map(|(k, l, f)| (*k, *l, f.as_slice())));
        assert!(rejected.is_empty());
        assert_eq!(store.len(), 100);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        store.gather(&[7, 3, 99], &mut x, &mut y).unwrap();
        assert_eq!(x, vec![7.0, -7.0, 3.0, -3.0, 99.0, -99.0]);
        assert_eq!(y, vec![1, 1, 1]);
        assert_eq!(
            store.gather(&[1000], &mut x, &mut y),
            Err(StoreError::MissingKey(1000))
        );
    }

    #[test]
    fn retired_samples_go_once_trained_and_past_the_trigger_horizon_and_slots_are_reused() {
        let store = SampleStore::new(1, 2);
        let rows: Vec<(Key, i64, [f32; 1])> = (0..10).map(|k| (k, k as i64, [k as f32])).collect();
        assert!(
            store
                .insert(rows.iter().map(|(k, l, f)| (*k, *l, &f[..])))
                .is_empty()
        );
        let pos = |k: u64| Position { time: k, key: k };
        // Trigger 0 retires 0..4, trigger 1 retires 4..8.
        store.retire(0, (0..4).map(pos).collect());
        store.retire(1, (4..8).map(pos).collect());
        assert_eq!((store.len(), store.retiring()), (10, 8));
        // The trainer is done with trigger 0, but the trigger policy still reads from 2 on.
        store.trained(0);
        assert_eq!(store.len(), 10, "no horizon yet: nothing goes");
        store.retain_from(pos(2));
        assert_eq!((store.len(), store.retiring()), (8, 6));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        assert_eq!(
            store.gather(&[0], &mut x, &mut y),
            Err(StoreError::MissingKey(0))
        );
        store.retain_from(pos(100));
        assert_eq!(
            (store.len(), store.retiring()),
            (6, 4),
            "trigger 1 not trained"
        );
        store.trained(1);
        assert_eq!((store.len(), store.retiring()), (2, 0));
        // New samples take a shard's freed slots before it grows.
        let slots = |store: &SampleStore| -> Vec<(usize, usize)> {
            store
                .shards
                .iter()
                .map(|s| {
                    let s = s.read().unwrap();
                    (s.labels.len(), s.free.len())
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
        store.gather(&[9, 17, 10], &mut x, &mut y).unwrap();
        assert_eq!((x, y), (vec![9.0, 17.0, 10.0], vec![9, 17, 10]));
    }

    #[test]
    fn rejects_duplicates_and_wrong_dimension() {
        let store = SampleStore::new(2, 2);
        let r = store.insert([
            (1, 0, &[1.0f32, 2.0][..]),
            (1, 1, &[3.0, 4.0][..]),
            (2, 0, &[1.0][..]),
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
        let (mut x, mut y) = (Vec::new(), Vec::new());
        store.gather(&[1], &mut x, &mut y).unwrap();
        assert_eq!((x, y), (vec![1.0, 2.0], vec![0]));
    }
}
