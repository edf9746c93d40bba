//! Replays the committed fuzz inputs (fuzz/{seeds,corpus,regressions}/<target>/)
//! through the fuzz targets' bodies (`sluice::fuzz`), so CI on stable catches a regression on
//! any input a fuzzer once found interesting or crashing. The fuzzers themselves run with
//! `fuzz/run.sh` (nightly, cargo-fuzz).

use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["seeds", "corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn every_committed_fuzz_input_is_handled_without_a_panic() {
    for (target, body) in sluice::fuzz::TARGETS {
        let inputs = inputs(target);
        assert!(!inputs.is_empty(), "no corpus for {target}");
        for (name, data) in &inputs {
            let run = std::panic::catch_unwind(|| body(data));
            assert!(run.is_ok(), "{target} panicked on {name}");
        }
        eprintln!("{target}: {} inputs", inputs.len());
    }
}

/// The seeds are real inputs: they decode to samples (so the fuzzers start from the paths that
/// matter, not from errors at the first byte).
#[test]
fn the_seeds_decode() {
    use sluice::config::FileFormat;
    use sluice::source::kafka::{ArrowDecoder, JsonDecoder, MessageMeta};
    let columns = sluice::fuzz::columns();
    let meta = MessageMeta {
        key: None,
        timestamp_ms: None,
        partition: 0,
        offset: 0,
    };
    let seed_path = |target: &str, name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target)
            .join(name)
    };
    let seed = |target: &str, name: &str| std::fs::read(seed_path(target, name)).unwrap();
    let s = JsonDecoder::new(&columns)
        .decode(Some(&seed("json_message", "plain.json")), &meta)
        .unwrap();
    assert_eq!(
        (s.key, s.time, s.label, s.features),
        (1, 1000, 2, vec![0.5, -1.25])
    );
    let (mut out, mut bad) = (sluice::source::Rows::new(2), Vec::new());
    ArrowDecoder::new(&columns)
        .decode(
            Some(&seed("arrow_message", "rows-12.bin")),
            &meta,
            &mut out,
            &mut bad,
        )
        .unwrap();
    assert_eq!((out.len(), bad.len()), (12, 0));
    let mut files = Vec::new();
    for (target, name, format) in [
        ("csv_file", "hyperplane.csv", FileFormat::Csv),
        ("arrow_file", "hyperplane.arrow", FileFormat::Arrow),
    ] {
        let source = sluice::source::FileSource::open(
            &seed_path(target, name),
            format,
            &columns,
            Path::new("x.toml"),
        )
        .unwrap();
        let samples = source.read_share(0, 1, &mut |d| panic!("{d:?}")).unwrap();
        // Where each was read differs by format (a CSV line, an Arrow row).
        let rows: Vec<_> = samples
            .into_iter()
            .map(|s| (s.key, s.time, s.label, s.features))
            .collect();
        files.push(rows);
    }
    // The same rows in both formats.
    assert!(!files[0].is_empty());
    assert_eq!(files[0], files[1]);
    let text = String::from_utf8(seed("config", "quickstart.toml")).unwrap();
    let spec = sluice::config::parse(
        &text,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/quickstart.toml"),
    );
    assert!(spec.is_ok(), "{spec:?}");
}
