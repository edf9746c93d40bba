//! The sample store: feature payloads by key, for the trainer to resolve training sets.
//!
//! Sharded by [`route`]`(key) % shards`, the function the dataflow exchanges records by, so the
//! worker that owns a key writes its shard and workers never contend with each other; readers
//! (trainers) take a shard's read lock once per batch. Features live in one contiguous `Vec<f32>`
//! per shard (no per-sample allocation).

use std::collections::hash_map::Entry;
use std::sync::RwLock;

use sluice_dataflows::{Key, KeyMap, route};

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
}

/// Feature payloads of every sample seen, by key.
pub struct SampleStore {
    dim: usize,
    shards: Vec<RwLock<Shard>>,
}

impl SampleStore {
    /// An empty store for `dim`-feature samples with `shards` shards (= dataflow workers).
    pub fn new(dim: usize, shards: usize) -> Self {
        Self {
            dim,
            shards: (0..shards.max(1)).map(|_| RwLock::default()).collect(),
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
            let slot = shard.labels.len() as u32;
            match shard.index.entry(key) {
                Entry::Occupied(_) => rejected.push((key, StoreError::DuplicateKey(key))),
                Entry::Vacant(v) => {
                    v.insert(slot);
                    shard.features.extend_from_slice(features);
                    shard.labels.push(label);
                }
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
            .map(|s| s.read().expect("sample store poisoned").labels.len())
            .sum()
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
