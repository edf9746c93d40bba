//! Records that flow through Sluice's dataflows.
//!
//! Only small metadata travels between operators; payloads (features) stay in the sample store
//! of the root crate and are looked up by [`Key`].

use serde::{Deserialize, Serialize};

/// Event time in Unix milliseconds; also the timely timestamp of every Sluice dataflow.
pub type Time = u64;
/// A sample's key, unique within a pipeline.
pub type Key = u64;

/// A place in the stream: samples are totally ordered by (event time, key).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Position {
    /// Event time in Unix milliseconds.
    pub time: Time,
    /// The sample key, breaking ties between samples of the same millisecond.
    pub key: Key,
}

impl Position {
    /// After every sample's position.
    pub const MAX: Position = Position {
        time: Time::MAX,
        key: Key::MAX,
    };

    /// The smallest position after this one.
    pub fn successor(self) -> Position {
        match self.key.checked_add(1) {
            Some(key) => Position {
                time: self.time,
                key,
            },
            None => Position {
                time: self.time + 1,
                key: 0,
            },
        }
    }
}

/// What operators know of a sample: its place in the stream and its label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SampleMeta {
    /// Event time in Unix milliseconds.
    pub time: Time,
    /// Unique sample key.
    pub key: Key,
    /// Class label (or a quantised target); used by label-aware policies.
    pub label: i64,
}

impl SampleMeta {
    /// The sample's position in the total order of the stream.
    pub fn position(&self) -> Position {
        Position {
            time: self.time,
            key: self.key,
        }
    }
}

/// A decision to train: trigger `id` closes epoch `id` of the stream at `boundary`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerEvent {
    /// 0-based, consecutive trigger number.
    pub id: u64,
    /// First sample of the epoch this trigger closes (the sample after the previous boundary).
    pub first: Position,
    /// Last sample included in this trigger's epoch.
    pub boundary: Position,
    /// Number of samples in the epoch, `(previous boundary, boundary]`.
    pub samples: u64,
    /// Why the policy fired, in words (e.g. `"amount: 1000 samples"`).
    pub reason: String,
    /// The numbers behind the decision (metric values, thresholds, window sizes), by name.
    #[serde(default)]
    pub details: Vec<(String, f64)>,
}

/// The training set of one trigger: the positions of the selected samples in stream order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSet {
    /// The trigger this training set belongs to.
    pub trigger: TriggerEvent,
    /// Selected samples, sorted by position.
    pub samples: Vec<Position>,
    /// The statistics of every sample at or before the trigger's boundary, when the run
    /// keeps them (`[model] normalize = "running"`; see [`crate::moments`]).
    #[serde(default)]
    pub moments: Option<crate::moments::Moments>,
}

/// A deletion as a selection applies it: from the first trigger whose boundary is at or after
/// `at`, the samples of `at.key` before `at.time` (and at it, if `inclusive`) are in no answer
/// and leave the pool. A tombstone is inclusive (it deletes its key's sample at or before its
/// time); a replacement (`duplicates = "keep_last"`) is not (it deletes the key's versions
/// before the new one, which stays).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retraction {
    /// Where it takes effect, and whose samples it deletes.
    pub at: Position,
    /// Whether the key's sample at `at.time` goes too.
    pub inclusive: bool,
}

impl Retraction {
    /// A tombstone's: the key's samples at or before `at.time` go.
    pub fn tombstone(at: Position) -> Self {
        Self {
            at,
            inclusive: true,
        }
    }

    /// A replacement's: the key's samples before `at`, the new version's position, go.
    pub fn before(at: Position) -> Self {
        Self {
            at,
            inclusive: false,
        }
    }
}

/// A sample a worker offers for a trigger's training set, with what global sampling needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its place in the stream.
    pub pos: Position,
    /// Its label (label-balanced presampling).
    pub label: i64,
    /// The trigger whose epoch it arrived in (trigger-balanced presampling).
    pub seen_in: u64,
}

/// A per-sample score the trainer reports for a sample it trained on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleScore {
    /// The sample.
    pub key: Key,
    /// The trigger whose training produced it.
    pub trigger: u64,
    /// Its loss in that training (the last training epoch that saw it).
    pub loss: f32,
}

/// Routing hash of a key: records are exchanged to worker `route(key) % peers`, and the sample
/// store shards payloads by the same function, so the worker that owns a key also stores it.
///
/// SplitMix64's finaliser: consecutive keys (row numbers, offsets) spread evenly.
pub fn route(key: Key) -> u64 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The worker (of `peers`) that owns `key`: the one [`route`] sends it to (timely's exchange
/// takes the hash modulo the number of workers).
pub fn owner(key: Key, peers: usize) -> usize {
    (route(key) % peers as u64) as usize
}

/// A `HashMap` keyed by sample key with [`KeyHasher`].
pub type KeyMap<V> = std::collections::HashMap<Key, V, BuildKeyHasher>;

/// Builds [`KeyHasher`]s.
pub type BuildKeyHasher = std::hash::BuildHasherDefault<KeyHasher>;

/// Hashes a [`Key`] with one mixing function instead of SipHash (a third of the sample store's
/// insert time went to SipHash). Seeded apart from [`route`]: the keys of one shard share
/// `route(key) % shards`, and hash tables index buckets by the hash's low bits.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only keys are hashed with this; anything else still hashes correctly, byte-wise.
        for b in bytes {
            self.0 = route(self.0 ^ u64::from(*b));
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = route(key ^ 0x5851_F42D_4C95_7F2D ^ self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hashes_spread_within_a_shard() {
        use std::hash::BuildHasher;
        // Keys that share a shard (route even) still spread over the table's low bits.
        let b = BuildKeyHasher::default();
        let shard: Vec<Key> = (0..40_000)
            .filter(|k| route(*k).is_multiple_of(2))
            .collect();
        let mut buckets = [0usize; 16];
        for k in &shard {
            buckets[(b.hash_one(k) % 16) as usize] += 1;
        }
        let expected = shard.len() / 16;
        for n in buckets {
            assert!(n.abs_diff(expected) < expected / 10, "{buckets:?}");
        }
    }

    #[test]
    fn positions_order_by_time_then_key() {
        let a = Position { time: 5, key: 9 };
        let b = Position { time: 6, key: 1 };
        let c = Position { time: 6, key: 2 };
        assert!(a < b && b < c);
    }

    #[test]
    fn route_spreads_consecutive_keys() {
        let peers = 4;
        let mut counts = [0usize; 4];
        for k in 0..10_000u64 {
            counts[(route(k) % peers) as usize] += 1;
        }
        for c in counts {
            assert!((2_200..2_800).contains(&c), "uneven routing: {counts:?}");
        }
    }
}
