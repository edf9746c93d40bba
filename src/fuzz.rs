//! Entry points of the fuzz targets (`fuzz/`, `cargo fuzz`) and of the corpus replay test
//! (`tests/fuzz_corpus.rs`): each feeds arbitrary bytes to one decoder as Sluice does and checks
//! what must hold for any input. A panic, or a broken invariant (an `assert!` here), is a bug.
//!
//! | target | input | decoder |
//! |---|---|---|
//! | `json_message` | a Kafka message value | [`JsonDecoder`] (fast path and full parse) |
//! | `arrow_message` | a Kafka message value | [`ArrowDecoder`] (IPC stream) |
//! | `csv_file` | a dataset file | [`FileSource`] with `format = "csv"` |
//! | `arrow_file` | a dataset file | [`FileSource`] with `format = "arrow"` (IPC file) |
//! | `config` | a pipeline config | [`crate::config::parse`] |

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{ColumnSpec, FileFormat, TimeUnit};
use crate::source::FileSource;
use crate::source::kafka::{ArrowDecoder, JsonDecoder, MessageMeta};
use crate::source::{Rows, Sample};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (`fuzz/fuzz_targets/<name>.rs`, `fuzz/corpus/<name>/`).
pub const TARGETS: [(&str, Target); 5] = [
    ("json_message", json_message),
    ("arrow_message", arrow_message),
    ("csv_file", csv_file),
    ("arrow_file", arrow_file),
    ("config", config),
];

const CLASSES: i64 = 3;

/// Columns `key`, `time`, `label` and features `x0`, `x1` (as the seeds have them).
pub fn columns() -> ColumnSpec {
    ColumnSpec {
        key_column: Some("key".into()),
        time_column: Some("time".into()),
        time_unit: TimeUnit::Ms,
        label_column: "label".into(),
        feature_columns: Some(vec!["x0".into(), "x1".into()]),
        num_classes: CLASSES,
        max_future_ms: None,
        repeated_fields_last_wins: false,
        delete_column: None,
    }
}

fn meta() -> MessageMeta<'static> {
    MessageMeta {
        key: Some(b"17"),
        timestamp_ms: Some(1_000),
        partition: 0,
        offset: 42,
    }
}

/// What every decoded sample satisfies: the configured width, finite features, a label in
/// range.
fn check(s: &Sample, dim: usize) {
    assert_eq!(s.features.len(), dim, "{s:?}");
    assert!(s.features.iter().all(|f| f.is_finite()), "{s:?}");
    assert!((0..CLASSES).contains(&s.label), "{s:?}");
}

/// A JSON message value: a sample or an error saying why.
pub fn json_message(data: &[u8]) {
    let d = JsonDecoder::new(&columns());
    match d.decode(Some(data), &meta()) {
        Ok(s) => check(&s, 2),
        Err(reason) => assert!(!reason.is_empty()),
    }
}

/// An Arrow IPC stream message value: its rows, each a sample or a reason; or, for a broken
/// message, an error and no rows at all.
pub fn arrow_message(data: &[u8]) {
    let mut d = ArrowDecoder::new(&columns());
    let (mut out, mut bad) = (Rows::new(2), Vec::new());
    match d.decode(Some(data), &meta(), &mut out, &mut bad) {
        Ok(()) => {
            out.samples().for_each(|s| check(&s, 2));
            assert!(bad.iter().all(|(_, reason)| !reason.is_empty()));
        }
        Err(reason) => {
            assert!(out.is_empty() && bad.is_empty() && !reason.is_empty());
        }
    }
}

/// A CSV dataset file.
pub fn csv_file(data: &[u8]) {
    file(data, FileFormat::Csv, "csv");
}

/// An Arrow IPC dataset file.
pub fn arrow_file(data: &[u8]) {
    file(data, FileFormat::Arrow, "arrow");
}

/// Reads `data` as a dataset file, as each of 2 workers: samples sorted by (time, key), dead
/// letters naming the file; a file that cannot be read at all is an error naming it.
fn file(data: &[u8], format: FileFormat, ext: &str) {
    let path = scratch(ext);
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(data))
        .expect("writing the scratch file");
    read_file(&path, format);
    let _ = std::fs::remove_file(&path);
}

fn read_file(path: &Path, format: FileFormat) {
    let name = &path.display().to_string();
    let source = match FileSource::open(path, format, &columns(), Path::new("fuzz.toml")) {
        Ok(s) => s,
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains(name) || e.contains("fuzz.toml"), "{e}");
            return;
        }
    };
    for worker in 0..2 {
        let mut dead = |d: crate::source::DeadLetter| {
            assert!(d.location.starts_with(name), "{d:?}");
            assert!(!d.reason.is_empty(), "{d:?}");
            assert!(d.raw.len() <= 1024, "{}", d.raw.len());
        };
        match source.read_share(worker, 2, &mut dead) {
            Ok(samples) => {
                samples.iter().for_each(|s| check(s, 2));
                assert!(
                    samples
                        .windows(2)
                        .all(|w| (w[0].time, w[0].key) <= (w[1].time, w[1].key))
                );
            }
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains(name), "{e}");
            }
        }
    }
}

/// A scratch file of this process and thread (tests run targets in several threads).
fn scratch(ext: &str) -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id()).replace(['(', ')'], "");
    std::env::temp_dir().join(format!("sluice-fuzz-{}-{thread}.{ext}", std::process::id()))
}

/// A pipeline config: a spec, or errors that each name a key (or the file) and say why.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz/config.toml");
    match crate::config::parse(text, path) {
        Ok(spec) => assert!(!spec.name.is_empty()),
        Err(errors) => {
            assert!(!errors.errors.is_empty());
            for e in &errors.errors {
                assert!(!e.message.is_empty(), "{e:?}");
            }
        }
    }
}
