//! Decoded samples and undecodable input.

use serde::{Deserialize, Serialize};
use sluice_dataflows::{Key, Position, SampleMeta, Time};

/// A decoded training sample: metadata plus its feature payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Unique key.
    pub key: Key,
    /// Event time, Unix milliseconds.
    pub time: Time,
    /// Class label in `0..num_classes`.
    pub label: i64,
    /// Feature vector.
    pub features: Vec<f32>,
    /// Where it was read (dead letters of the store name it).
    #[serde(default)]
    pub origin: Origin,
}

/// A deletion read from the source (a Kafka tombstone: a message with a key and no value): the
/// sample of `key` at or before `time` leaves the store, the selections and every later
/// training set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    /// The key it deletes.
    pub key: Key,
    /// Where in the stream it takes effect: just after its partition's newest event time
    /// when it was read.
    pub time: Time,
    /// Where it was read.
    pub origin: Origin,
}

/// Where a sample was read: a Kafka message's partition and offset, and the row within it (an
/// Arrow message holds many), or a file's line (CSV) or row (Arrow) in `offset`. The source
/// renders it ([`Source::locate`](super::Source::locate)) as a dead letter's location.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Kafka partition (0 for files).
    pub partition: i32,
    /// Row within an Arrow message (0 otherwise).
    pub row: u32,
    /// Kafka offset, CSV line or Arrow file row.
    pub offset: i64,
}

impl Sample {
    /// The metadata operators see.
    pub fn meta(&self) -> SampleMeta {
        SampleMeta {
            time: self.time,
            key: self.key,
            label: self.label,
        }
    }
}

/// Samples in columns, as sources decode them and the sample store takes them: one buffer per
/// column for a whole batch instead of a `Vec` of features per sample. Features are row-major,
/// `dim` per sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    dim: usize,
    /// Keys.
    pub keys: Vec<Key>,
    /// Event times, Unix milliseconds.
    pub times: Vec<Time>,
    /// Labels.
    pub labels: Vec<i64>,
    /// Features, `dim` per sample.
    pub features: Vec<f32>,
    /// Where each was read.
    pub origins: Vec<Origin>,
}

impl Rows {
    /// No samples, of `dim` features each.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            ..Self::default()
        }
    }

    /// `samples` in columns (each has `dim` features).
    pub fn of(dim: usize, samples: impl IntoIterator<Item = Sample>) -> Self {
        let mut rows = Self::new(dim);
        for s in samples {
            rows.push(s.key, s.time, s.label, &s.features, s.origin);
        }
        rows
    }

    /// Features per sample.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Appends a sample.
    pub fn push(&mut self, key: Key, time: Time, label: i64, features: &[f32], origin: Origin) {
        debug_assert_eq!(features.len(), self.dim);
        self.keys.push(key);
        self.times.push(time);
        self.labels.push(label);
        self.features.extend_from_slice(features);
        self.origins.push(origin);
    }

    /// Sample `i`'s features.
    pub fn features_of(&self, i: usize) -> &[f32] {
        &self.features[i * self.dim..(i + 1) * self.dim]
    }

    /// Sample `i`'s metadata.
    pub fn meta(&self, i: usize) -> SampleMeta {
        SampleMeta {
            time: self.times[i],
            key: self.keys[i],
            label: self.labels[i],
        }
    }

    /// Sample `i` on its own (for the rare paths that keep one: dead letters, restored
    /// payloads).
    pub fn sample(&self, i: usize) -> Sample {
        Sample {
            key: self.keys[i],
            time: self.times[i],
            label: self.labels[i],
            features: self.features_of(i).to_vec(),
            origin: self.origins[i],
        }
    }

    /// Moves sample `from` to place `to` (`to < from`), overwriting what is there.
    pub fn move_down(&mut self, from: usize, to: usize) {
        self.keys[to] = self.keys[from];
        self.times[to] = self.times[from];
        self.labels[to] = self.labels[from];
        self.origins[to] = self.origins[from];
        let d = self.dim;
        self.features.copy_within(from * d..(from + 1) * d, to * d);
    }

    /// Keeps the first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        self.keys.truncate(n);
        self.times.truncate(n);
        self.labels.truncate(n);
        self.origins.truncate(n);
        self.features.truncate(n * self.dim);
    }

    /// Splits the samples by `to(key)` into `parts` batches (in order within each).
    pub fn split_by(self, parts: usize, to: impl Fn(Key) -> usize) -> Vec<Rows> {
        if parts <= 1 {
            return vec![self];
        }
        let mut out: Vec<Rows> = (0..parts).map(|_| Rows::new(self.dim)).collect();
        for i in 0..self.len() {
            let o = &mut out[to(self.keys[i])];
            o.push(
                self.keys[i],
                self.times[i],
                self.labels[i],
                self.features_of(i),
                self.origins[i],
            );
        }
        out
    }

    /// The samples one by one.
    pub fn samples(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..self.len()).map(|i| self.sample(i))
    }

    /// The samples as the sample store takes them: position, label, features and where read
    /// (partition, offset).
    pub fn stored(&self) -> impl Iterator<Item = (Position, i64, &[f32], (i32, i64))> {
        (0..self.len()).map(|i| {
            let o = self.origins[i];
            let at = (o.partition, o.offset);
            (
                self.meta(i).position(),
                self.labels[i],
                self.features_of(i),
                at,
            )
        })
    }

    /// Appends `other`'s samples (an empty batch takes `other`'s width).
    pub fn append(&mut self, other: &mut Rows) {
        if self.is_empty() {
            self.dim = other.dim;
        }
        debug_assert!(other.is_empty() || other.dim == self.dim);
        self.keys.append(&mut other.keys);
        self.times.append(&mut other.times);
        self.labels.append(&mut other.labels);
        self.features.append(&mut other.features);
        self.origins.append(&mut other.origins);
    }

    /// Bytes of payload: features, then key, time, label and origin per sample.
    pub fn bytes(&self) -> u64 {
        (self.features.len() * 4 + self.len() * (8 + 8 + 8 + 16)) as u64
    }
}

/// Input that could not be decoded, with where it came from and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Where: `file:line` (CSV), `file#row` (Arrow), later `topic/partition/offset`.
    pub location: String,
    /// Why it was rejected.
    pub reason: String,
    /// The raw input (CSV line, message value) as lossy UTF-8, at most [`MAX_RAW`] bytes;
    /// empty when there is none.
    pub raw: String,
}

impl DeadLetter {
    /// The source partition it was read from: a Kafka location's (`topic/partition/offset`,
    /// topic names hold no `/`), else 0 (a file is one partition).
    pub fn partition(&self) -> i32 {
        let mut parts = self.location.rsplitn(3, '/');
        let (Some(offset), Some(partition), Some(_topic)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return 0;
        };
        let offset = offset.split('#').next().unwrap_or_default();
        if !offset.is_empty() && offset.bytes().all(|b| b.is_ascii_digit()) {
            partition.parse().unwrap_or(0)
        } else {
            0
        }
    }
}

/// The most bytes of raw input a dead letter keeps (1 KiB, as docs/events.md says).
pub const MAX_RAW: usize = 1024;

/// `bytes` as a dead letter's `raw`: lossy UTF-8 cut to at most [`MAX_RAW`] bytes at a
/// character boundary. The cut comes after the conversion, because each invalid byte becomes
/// a 3-byte replacement character.
pub fn raw_text(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(MAX_RAW)];
    let mut text = String::from_utf8_lossy(head).into_owned();
    if text.len() > MAX_RAW {
        let mut end = MAX_RAW;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(key: Key, time: Time) -> Sample {
        Sample {
            key,
            time,
            label: (key % 2) as i64,
            features: vec![key as f32, time as f32],
            origin: Origin {
                partition: 1,
                row: key as u32,
                offset: time as i64,
            },
        }
    }

    #[test]
    fn rows_hold_samples_in_columns_and_split_by_owner_in_order() {
        let samples: Vec<Sample> = (0..10).map(|k| sample(k, 100 + k)).collect();
        let rows = Rows::of(2, samples.clone());
        assert_eq!((rows.len(), rows.dim()), (10, 2));
        assert_eq!(rows.samples().collect::<Vec<_>>(), samples);
        assert_eq!(rows.features_of(3), [3.0, 103.0]);
        assert_eq!(rows.meta(3), samples[3].meta());
        let parts = rows.clone().split_by(3, |k| (k % 3) as usize);
        for (o, part) in parts.iter().enumerate() {
            let want: Vec<Sample> = samples
                .iter()
                .filter(|s| s.key % 3 == o as u64)
                .cloned()
                .collect();
            assert_eq!(part.samples().collect::<Vec<_>>(), want, "owner {o}");
        }
        assert_eq!(rows.clone().split_by(1, |_| 0), std::slice::from_ref(&rows));
        // Moving rows down over others, then cutting: what compaction does.
        let mut kept = rows;
        kept.move_down(7, 1);
        kept.move_down(9, 2);
        kept.truncate(3);
        assert_eq!(
            kept.samples().collect::<Vec<_>>(),
            [samples[0].clone(), samples[7].clone(), samples[9].clone()]
        );
        assert_eq!(kept.features.len(), 6);
    }

    #[test]
    fn a_dead_letter_names_its_partition() {
        let at = |location: &str| DeadLetter {
            location: location.into(),
            reason: String::new(),
            raw: String::new(),
        };
        assert_eq!(at("sensors/3/1207").partition(), 3);
        assert_eq!(at("sensors/2/88#row4").partition(), 2);
        assert_eq!(at("/data/7/train.csv:12").partition(), 0);
        assert_eq!(at("train.arrow#row9").partition(), 0);
        assert_eq!(at("train.csv:3").partition(), 0);
    }

    /// Regression (#24): a message value of invalid UTF-8 became up to 3 KiB of replacement
    /// characters although dead letters keep at most 1 KiB.
    #[test]
    fn raw_text_keeps_at_most_1_kib_of_any_bytes() {
        for bytes in [
            vec![0xffu8; 5_000],
            "é".repeat(2_000).into_bytes(),
            b"a".repeat(1_023).into_iter().chain("é".bytes()).collect(),
        ] {
            let raw = raw_text(&bytes);
            assert!(raw.len() <= MAX_RAW, "{} bytes", raw.len());
            assert!(
                raw.len() > MAX_RAW - 4,
                "kept as much as fits: {}",
                raw.len()
            );
        }
        assert_eq!(raw_text(b"1,2,x"), "1,2,x");
        assert_eq!(raw_text(b""), "");
    }
}
