//! A dataset file (CSV or Arrow IPC) replayed as a stream.
//!
//! Each timely worker reads the file and keeps the rows whose number `r` has
//! `r % peers == worker` (its *share*), decodes them, and sorts them by (event time, key): the
//! replay is ordered by event time whatever the file's order. Rows that cannot be decoded become
//! [`DeadLetter`]s (reported by the worker that owns the row, so exactly once) and the rest go on.
//! Keys default to the row number (0-based, header excluded).

use std::fs::File;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arrow::ipc::reader::FileReader;

use super::decode::{self, Columns};
use super::interface::{Batch, Progress, ReadPlan, Share, Source};
use super::restart::PartitionMarks;
use super::sample::{DeadLetter, Deletion, Origin, Rows, Sample, raw_text};
use super::window::{Window, ceiling, future_reason};
use crate::config::{ColumnSpec, FileFormat};

/// Errors opening or reading a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The data does not match the config (missing column, empty file): a usage error.
    #[error("{file}: {key}: {message}")]
    Config {
        /// Config file whose key is at fault.
        file: PathBuf,
        /// Key path (`source.time_column`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Reading failed.
    #[error("{path}: {message}")]
    Read {
        /// The data file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A Kafka client failed.
    #[error(transparent)]
    Kafka(#[from] super::kafka::admin::KafkaError),
    /// A stream source stopped reading.
    #[error("{name}: {message}")]
    Stream {
        /// The source's name (see [`Source::name`]).
        name: String,
        /// What failed.
        message: String,
    },
}

/// An opened dataset file: its columns resolved against the config.
#[derive(Clone, Debug)]
pub struct FileSource {
    path: PathBuf,
    format: FileFormat,
    spec: ColumnSpec,
    columns: Columns,
    names: Vec<String>,
}

impl FileSource {
    /// Opens `path`, reads its header or schema and resolves the configured columns.
    /// `config` is the config file, named in errors about its keys.
    pub fn open(
        path: &Path,
        format: FileFormat,
        spec: &ColumnSpec,
        config: &Path,
    ) -> Result<Self, SourceError> {
        let names = match format {
            FileFormat::Json => {
                return Err(SourceError::Config {
                    file: config.to_path_buf(),
                    key: "source.format".into(),
                    message: "files are `csv` or `arrow`".into(),
                });
            }
            FileFormat::Csv => {
                let mut reader = csv_reader(path)?;
                let header = reader.headers().map_err(|e| read_err(path, e))?;
                header
                    .iter()
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            }
            FileFormat::Arrow => {
                let reader = arrow_reader(path)?;
                reader
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            }
        };
        let file = path.display().to_string();
        let columns = Columns::resolve(spec, &names, &file, true).map_err(|(key, message)| {
            SourceError::Config {
                file: config.to_path_buf(),
                key,
                message,
            }
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            format,
            spec: spec.clone(),
            columns,
            names,
        })
    }

    /// Number of features per sample.
    pub fn dim(&self) -> usize {
        self.columns.features.len()
    }

    /// Feature column names, in feature order.
    pub fn feature_names(&self) -> &[String] {
        &self.columns.feature_names
    }

    /// The data file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads this worker's share of the rows, sorted by (time, key). Undecodable rows of the
    /// share are passed to `dead`.
    pub fn read_share(
        &self,
        worker: usize,
        peers: usize,
        dead: &mut dyn FnMut(DeadLetter),
    ) -> Result<Vec<Sample>, SourceError> {
        Ok(self.read_rows(worker, peers, dead)?.0)
    }

    /// As [`read_share`](Self::read_share), with the share's delete records
    /// (`source.delete_column`), sorted by (time, key).
    pub fn read_rows(
        &self,
        worker: usize,
        peers: usize,
        dead: &mut dyn FnMut(DeadLetter),
    ) -> Result<(Vec<Sample>, Vec<Deletion>), SourceError> {
        let mut deletions = Vec::new();
        let mut out = match self.format {
            FileFormat::Csv => self.read_csv((worker, peers), usize::MAX, dead, &mut deletions)?,
            FileFormat::Arrow => {
                self.read_arrow((worker, peers), usize::MAX, dead, &mut deletions)?
            }
            FileFormat::Json => unreachable!("open() rejects json files"),
        };
        out.sort_by_key(|s| (s.time, s.key));
        deletions.sort_by_key(|d| (d.time, d.key));
        Ok((out, deletions))
    }

    /// Decodes the first `rows` rows (an Arrow file: the record batches that begin within
    /// them), as a run would: the samples and the dead letters they gave.
    pub fn read_head(&self, rows: usize) -> Result<(Vec<Sample>, Vec<DeadLetter>), SourceError> {
        let mut dead = Vec::new();
        let samples = match self.format {
            FileFormat::Csv => {
                self.read_csv((0, 1), rows, &mut |d| dead.push(d), &mut Vec::new())?
            }
            FileFormat::Arrow => {
                self.read_arrow((0, 1), rows, &mut |d| dead.push(d), &mut Vec::new())?
            }
            FileFormat::Json => unreachable!("open() rejects json files"),
        };
        Ok((samples, dead))
    }

    /// The least and greatest event time of the decodable rows (`None`: no such row). A CSV
    /// file is read for its time column only.
    pub fn time_range(&self) -> Result<Option<(u64, u64)>, SourceError> {
        let mut range: Option<(u64, u64)> = None;
        let mut add = |t: u64| {
            range = Some(range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
        };
        match self.format {
            FileFormat::Csv => {
                let path = &self.path;
                let time = self.columns.time.expect("files resolve a time column");
                let mut reader = csv_reader(path)?;
                let mut record = csv::ByteRecord::new();
                loop {
                    match reader.read_byte_record(&mut record) {
                        Ok(false) => break,
                        Ok(true) => {}
                        Err(e) if e.is_io_error() => return Err(read_err(path, e)),
                        Err(_) => continue,
                    }
                    if record.len() != self.names.len() {
                        continue;
                    }
                    if let Some(t) = std::str::from_utf8(&record[time])
                        .ok()
                        .and_then(|f| decode::parse_time(f, self.spec.time_unit).ok())
                    {
                        add(t);
                    }
                }
            }
            FileFormat::Arrow => self
                .read_arrow((0, 1), usize::MAX, &mut |_| {}, &mut Vec::new())?
                .iter()
                .for_each(|s| add(s.time)),
            FileFormat::Json => unreachable!("open() rejects json files"),
        }
        Ok(range)
    }

    /// Worker `worker` of `peers`'s rows among the first `limit`; delete records go to
    /// `deletions`.
    fn read_csv(
        &self,
        (worker, peers): (usize, usize),
        limit: usize,
        dead: &mut dyn FnMut(DeadLetter),
        deletions: &mut Vec<Deletion>,
    ) -> Result<Vec<Sample>, SourceError> {
        let path = &self.path;
        let mut reader = csv_reader(path)?;
        let mut record = csv::ByteRecord::new();
        let mut out = Vec::new();
        let mut row = 0usize;
        let width = self.names.len();
        while row < limit {
            let more = match reader.read_byte_record(&mut record) {
                Ok(more) => more,
                Err(e) if e.is_io_error() => return Err(read_err(path, e)),
                Err(e) => {
                    // Malformed CSV (e.g. bad quoting): the reader resynchronises on the next line.
                    if row % peers == worker {
                        let line = e.position().map_or(0, |p| p.line());
                        dead(DeadLetter {
                            location: format!("{}:{line}", path.display()),
                            reason: e.to_string(),
                            raw: String::new(),
                        });
                    }
                    row += 1;
                    continue;
                }
            };
            if !more {
                break;
            }
            let r = row;
            row += 1;
            if r % peers != worker {
                continue;
            }
            let line = record.position().map_or(0, |p| p.line());
            let decoded = if record.len() != width {
                Err(format!("expected {width} fields, found {}", record.len()))
            } else {
                match self.csv_deletion(&record, r) {
                    Ok(Some(mut d)) => {
                        d.origin.offset = line as i64;
                        deletions.push(d);
                        continue;
                    }
                    Ok(None) => self.decode_csv(&record, r),
                    Err(e) => Err(e),
                }
            };
            match decoded {
                Ok(mut s) => {
                    s.origin.offset = line as i64;
                    out.push(s);
                }
                Err(reason) => {
                    let raw = raw_text(&record.iter().collect::<Vec<_>>().join(&b","[..]));
                    dead(DeadLetter {
                        location: format!("{}:{line}", path.display()),
                        reason,
                        raw,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The deletion a row marks in its delete column (`None`: a sample, or no delete
    /// column): `1`, `true`, `yes` or `delete` deletes, `0`, `false`, `no` or empty does not.
    fn csv_deletion(
        &self,
        record: &csv::ByteRecord,
        row: usize,
    ) -> Result<Option<Deletion>, String> {
        let Some(i) = self.columns.delete else {
            return Ok(None);
        };
        if !decode::parse_delete_flag(self.csv_field(record, i)?, &self.names[i])? {
            return Ok(None);
        }
        let (key, time) = self.csv_key_time(record, row)?;
        Ok(Some(Deletion {
            key,
            time,
            origin: Origin::default(),
        }))
    }

    /// Field `i` of `record` as text.
    fn csv_field<'r>(&self, record: &'r csv::ByteRecord, i: usize) -> Result<&'r str, String> {
        std::str::from_utf8(&record[i])
            .map_err(|_| format!("column `{}` is not UTF-8", self.names[i]))
    }

    /// The key (the row number without a key column) and event time of row `row`: what a
    /// sample and a delete record both need.
    fn csv_key_time(&self, record: &csv::ByteRecord, row: usize) -> Result<(u64, u64), String> {
        let c = &self.columns;
        let key = match c.key {
            Some(i) => {
                let f = self.csv_field(record, i)?.trim();
                decode::parse_key(f)
                    .ok_or_else(|| format!("key `{f}` is not an unsigned integer"))?
            }
            None => row as u64,
        };
        let time = decode::parse_time(
            self.csv_field(record, c.time.expect("files resolve a time column"))?,
            self.spec.time_unit,
        )?;
        Ok((key, time))
    }

    fn decode_csv(&self, record: &csv::ByteRecord, row: usize) -> Result<Sample, String> {
        let c = &self.columns;
        let field = |i: usize| self.csv_field(record, i);
        let (key, time) = self.csv_key_time(record, row)?;
        let label = decode::parse_label(field(c.label)?, self.spec.num_classes)?;
        let mut features = Vec::with_capacity(c.features.len());
        for (&i, name) in c.features.iter().zip(&c.feature_names) {
            features.push(decode::parse_feature(field(i)?, name)?);
        }
        Ok(Sample {
            key,
            time,
            label,
            features,
            origin: Origin::default(),
        })
    }

    /// Worker `share.0` of `share.1`'s rows among the record batches that begin within the
    /// first `limit` rows; delete records go to `deletions`. A corrupt file is an error naming
    /// it, also where the Arrow reader panics.
    fn read_arrow(
        &self,
        share: (usize, usize),
        limit: usize,
        dead: &mut dyn FnMut(DeadLetter),
        deletions: &mut Vec<Deletion>,
    ) -> Result<Vec<Sample>, SourceError> {
        let path = &self.path;
        let reader = arrow_reader(path)?;
        let mut out = Vec::new();
        decode::contain_arrow_panic("file", || {
            Ok(self.read_batches(reader, share, limit, dead, (&mut out, deletions)))
        })
        .map_err(|e| read_err(path, e))??;
        Ok(out)
    }

    fn read_batches(
        &self,
        reader: FileReader<File>,
        (worker, peers): (usize, usize),
        limit: usize,
        dead: &mut dyn FnMut(DeadLetter),
        (out, deletions): (&mut Vec<Sample>, &mut Vec<Deletion>),
    ) -> Result<(), SourceError> {
        let path = &self.path;
        let mut base = 0usize;
        for batch in reader {
            if base >= limit {
                break;
            }
            let batch = batch.map_err(|e| read_err(path, e))?;
            let n = batch.num_rows();
            let first = (worker + peers - base % peers) % peers;
            let key_of = |r| (base + r) as u64;
            let (rows, deleted) = decode::arrow_deletions(
                &batch,
                &self.columns,
                &self.spec,
                (first..n).step_by(peers),
                &key_of,
            )
            .map_err(|e| read_err(path, e))?;
            for (r, decoded) in deleted {
                let origin = Origin {
                    offset: (base + r) as i64,
                    ..Origin::default()
                };
                match decoded {
                    Ok((key, time)) => deletions.push(Deletion { key, time, origin }),
                    Err(reason) => dead(DeadLetter {
                        location: self.locate(origin),
                        reason,
                        raw: String::new(),
                    }),
                }
            }
            let (mut rows_out, mut bad) = (Rows::new(self.columns.features.len()), Vec::new());
            let origin_of = |r: usize| Origin {
                offset: (base + r) as i64,
                ..Origin::default()
            };
            decode::arrow_rows(
                &batch,
                &self.columns,
                &self.spec,
                rows.into_iter(),
                &key_of,
                None,
                &origin_of,
                &mut rows_out,
                &mut bad,
            )
            .map_err(|e| read_err(path, e))?;
            out.extend(rows_out.samples());
            for (r, reason) in bad {
                dead(DeadLetter {
                    location: format!("{}#row{}", path.display(), base + r),
                    reason,
                    raw: String::new(),
                });
            }
            base += n;
        }
        Ok(())
    }
}

impl Source for FileSource {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn feature_names(&self) -> &[String] {
        FileSource::feature_names(self)
    }

    fn locate(&self, origin: Origin) -> String {
        match self.format {
            FileFormat::Arrow => format!("{}#row{}", self.path.display(), origin.offset),
            _ => format!("{}:{}", self.path.display(), origin.offset),
        }
    }

    /// Reads the worker's rows (those in the plan's window) at once, sorted by position; the
    /// share hands them out in chunks.
    fn open_share(
        &self,
        worker: usize,
        peers: usize,
        plan: ReadPlan<'_>,
        batch: usize,
    ) -> Result<Box<dyn Share>, SourceError> {
        let reading = Instant::now();
        let mut dead = Vec::new();
        let (mut rows, mut deletions) = self.read_rows(worker, peers, &mut |d| dead.push(d))?;
        deletions.retain(|d| plan.window.contains(d.time));
        let ceiling = ceiling(self.spec.max_future_ms);
        rows.retain(|s| {
            if s.time > ceiling {
                dead.push(DeadLetter {
                    location: self.locate(s.origin),
                    reason: future_reason("", s.time, ceiling),
                    raw: String::new(),
                });
                return false;
            }
            plan.window.contains(s.time)
        });
        Ok(Box::new(FileShare {
            dim: self.feature_names().len(),
            remaining: (rows.len() + deletions.len()) as u64,
            rows: rows.into_iter().peekable(),
            deletions: deletions.into_iter().peekable(),
            dead,
            busy: reading.elapsed(),
            batch: batch.max(1),
            done: false,
        }))
    }

    fn restartable(&self) -> bool {
        false
    }

    fn follows(&self, _window: &Window) -> bool {
        false
    }

    fn check_window(&self, window: &Window, _follow: bool) -> Result<Option<String>, SourceError> {
        let why = match self.time_range()? {
            Some((first, last)) if window.overlaps(first, last) => return Ok(None),
            Some((first, last)) => format!(
                "its event times span {} to {}",
                crate::calendar::format_time(first),
                crate::calendar::format_time(last)
            ),
            None => "it holds no samples".into(),
        };
        Ok(Some(format!(
            "the replay window {window} is outside the data of {}: {why}",
            self.path.display()
        )))
    }

    fn lag(&self, progress: Progress) -> Option<BTreeMap<i32, u64>> {
        Some(BTreeMap::from([(
            0,
            progress.total.saturating_sub(progress.read),
        )]))
    }

    fn commit(&self, _offsets: &BTreeMap<i32, i64>) -> Result<(), SourceError> {
        Ok(())
    }
}

/// A worker's rows of a file, sorted by position, handed out a chunk per poll. A chunk goes
/// out at its least event time (`from`); advancing per chunk, not per sample, keeps progress
/// tracking cheap.
struct FileShare {
    rows: std::iter::Peekable<std::vec::IntoIter<Sample>>,
    /// Features per sample.
    dim: usize,
    /// Delete records, by time: each goes out with the chunk before the first sample after it.
    deletions: std::iter::Peekable<std::vec::IntoIter<Deletion>>,
    remaining: u64,
    /// Undecodable rows, and the time reading took: in the first batch.
    dead: Vec<DeadLetter>,
    busy: Duration,
    batch: usize,
    done: bool,
}

impl Share for FileShare {
    fn poll(&mut self, _timeout: Duration) -> Result<Option<Batch>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let from = self.rows.peek().map(|s| s.time);
        let samples = Rows::of(self.dim, self.rows.by_ref().take(self.batch));
        let next = self.rows.peek().map(|s| s.time);
        let deletions: Vec<Deletion> = match next {
            Some(next) => {
                std::iter::from_fn(|| self.deletions.next_if(|d| d.time < next)).collect()
            }
            None => self.deletions.by_ref().collect(),
        };
        let watermark = next.and(from);
        self.done = watermark.is_none();
        Ok(Some(Batch {
            consumed: (samples.len() + deletions.len()) as u64,
            samples,
            restored: Vec::new(),
            dead: std::mem::take(&mut self.dead),
            deletions,
            busy: std::mem::take(&mut self.busy),
            from,
            watermark,
        }))
    }

    fn remaining(&self) -> Option<u64> {
        Some(self.remaining)
    }

    fn restart_offsets(&mut self, _t: u64) -> Vec<(i32, PartitionMarks)> {
        Vec::new()
    }

    fn forget_before(&mut self, _t: u64) {}

    fn covered(&self) -> Vec<(i32, i64, i64)> {
        Vec::new()
    }
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> SourceError {
    SourceError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn csv_reader(path: &Path) -> Result<csv::Reader<File>, SourceError> {
    let file = File::open(path).map_err(|e| read_err(path, e))?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(file))
}

fn arrow_reader(path: &Path) -> Result<FileReader<File>, SourceError> {
    let mut file = File::open(path).map_err(|e| read_err(path, e))?;
    check_arrow_blocks(&mut file)
        .map_err(|e| read_err(path, format!("not an Arrow IPC file: {e}")))?;
    decode::contain_arrow_panic("file", || {
        FileReader::try_new(file, None).map_err(|e| format!("not an Arrow IPC file: {e}"))
    })
    .map_err(|e| read_err(path, e))
}

/// Checks that every block the footer of an Arrow IPC file lists lies inside the file. The
/// reader allocates each block's declared size before reading it, so a corrupt footer (2.4 KB
/// found by `fuzz/run.sh`'s `arrow_file` target) made it allocate gigabytes and die of memory.
/// Files too short to have a footer are left to the reader, which says why.
fn check_arrow_blocks(file: &mut File) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len < 18 {
        return Ok(());
    }
    let mut tail = [0u8; 10];
    file.seek(SeekFrom::End(-10))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| e.to_string())?;
    let footer_len =
        arrow::ipc::reader::read_footer_length(tail).map_err(|e| e.to_string())? as u64;
    if footer_len + 10 > len {
        return Err(format!(
            "its footer ({footer_len} bytes) is longer than the file ({len} bytes)"
        ));
    }
    let mut footer = vec![0u8; footer_len as usize];
    file.seek(SeekFrom::End(-10 - footer_len as i64))
        .and_then(|_| file.read_exact(&mut footer))
        .map_err(|e| e.to_string())?;
    let footer = arrow::ipc::root_as_footer(&footer).map_err(|e| format!("its footer: {e}"))?;
    let blocks = footer.recordBatches().into_iter().flatten();
    for block in blocks.chain(footer.dictionaries().into_iter().flatten()) {
        let (offset, meta, body) = (block.offset(), block.metaDataLength(), block.bodyLength());
        let end = i128::from(offset) + i128::from(meta) + i128::from(body);
        if offset < 0 || meta < 0 || body < 0 || end > i128::from(len) {
            return Err(format!(
                "a block at offset {offset} of {meta} + {body} bytes lies outside the file \
                 ({len} bytes)"
            ));
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Ok(())
}
