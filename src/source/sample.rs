//! Decoded samples and undecodable input.

use serde::{Deserialize, Serialize};
use sluice_dataflows::{Key, SampleMeta, Time};

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
