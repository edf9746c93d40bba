//! Column mapping and value decoding shared by the file formats.

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float32Type, Float64Type, Int64Type, TimeUnit as ArrowUnit,
    UInt64Type,
};

use super::sample::{Origin, Rows};
use crate::config::{ColumnSpec, TimeUnit};

/// Positions of the key, time, label and feature columns in a file's header or schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    /// Key column index, `None` for row numbers.
    pub key: Option<usize>,
    /// Time column index (`None`: the source supplies times, e.g. Kafka message timestamps).
    pub time: Option<usize>,
    /// Label column index.
    pub label: usize,
    /// Feature column indices, in feature order.
    pub features: Vec<usize>,
    /// Feature column names, in feature order.
    pub feature_names: Vec<String>,
    /// The column marking a row as a deletion (`source.delete_column`).
    pub delete: Option<usize>,
}

impl Columns {
    /// Resolves the configured column names against `names` (header or schema order) of
    /// `file` (a file, or a message); `time_required`: the source has no other event time.
    /// The error names the config key and lists the available columns.
    pub fn resolve(
        spec: &ColumnSpec,
        names: &[String],
        file: &str,
        time_required: bool,
    ) -> Result<Self, (String, String)> {
        let find = |col: &str, key: &str| {
            names.iter().position(|n| n == col).ok_or_else(|| {
                (
                    key.to_string(),
                    format!(
                        "column `{col}` not in {file} (columns: {})",
                        names.join(", ")
                    ),
                )
            })
        };
        let key = spec
            .key_column
            .as_deref()
            .map(|k| find(k, "source.key_column"))
            .transpose()?;
        let time = match spec.time_column.as_deref() {
            Some(t) => Some(find(t, "source.time_column")?),
            None if time_required => {
                return Err((
                    "source.time_column".to_string(),
                    format!("missing; {file} needs a time column"),
                ));
            }
            None => None,
        };
        let label = find(&spec.label_column, "source.label_column")?;
        let delete = spec
            .delete_column
            .as_deref()
            .map(|d| find(d, "source.delete_column"))
            .transpose()?;
        let features: Vec<usize> = match &spec.feature_columns {
            Some(cols) => cols
                .iter()
                .map(|c| find(c, "source.feature_columns"))
                .collect::<Result<_, _>>()?,
            None => (0..names.len())
                .filter(|i| {
                    Some(*i) != key && Some(*i) != time && *i != label && Some(*i) != delete
                })
                .collect(),
        };
        if features.is_empty() {
            return Err((
                "source.feature_columns".into(),
                format!("{file} has no feature columns besides key, time and label"),
            ));
        }
        let feature_names = features.iter().map(|&i| names[i].clone()).collect();
        Ok(Self {
            key,
            time,
            label,
            features,
            feature_names,
            delete,
        })
    }
}

/// Column `i` of `batch` cast to `to`; the error names the column.
fn cast_column(
    batch: &RecordBatch,
    i: usize,
    to: &DataType,
) -> Result<arrow::array::ArrayRef, String> {
    cast(batch.column(i), to)
        .map_err(|e| format!("column `{}`: {e}", batch.schema_ref().field(i).name()))
}

/// A key column: unsigned or signed 64-bit integers as they are (what `sluice produce` and
/// pandas write), any other type cast to `UInt64` once.
enum KeyColumn {
    U64(ArrayRef),
    I64(ArrayRef),
}

impl KeyColumn {
    fn of(batch: &RecordBatch, i: usize) -> Result<Self, String> {
        Ok(match batch.column(i).data_type() {
            DataType::UInt64 => Self::U64(batch.column(i).clone()),
            DataType::Int64 => Self::I64(batch.column(i).clone()),
            _ => Self::U64(cast_column(batch, i, &DataType::UInt64)?),
        })
    }

    /// Row `r`'s key; `None` for a null or a negative one (as a cast to `UInt64` gives).
    fn at(&self, r: usize) -> Option<u64> {
        match self {
            Self::U64(a) => {
                let a = a.as_primitive::<UInt64Type>();
                a.is_valid(r).then(|| a.value(r))
            }
            Self::I64(a) => {
                let a = a.as_primitive::<Int64Type>();
                a.is_valid(r)
                    .then(|| a.value(r))
                    .and_then(|k| u64::try_from(k).ok())
            }
        }
    }
}

/// The key and time columns of an Arrow record batch, converted once: what a sample and a
/// delete record both need.
struct KeyTimes {
    keys: Option<KeyColumn>,
    times: Option<Times>,
}

impl KeyTimes {
    fn of(batch: &RecordBatch, c: &Columns, spec: &ColumnSpec) -> Result<Self, String> {
        let keys = c.key.map(|i| KeyColumn::of(batch, i)).transpose()?;
        let times = match c.time {
            Some(i) => Some(
                arrow_times(batch.column(i), spec.time_unit)
                    .map_err(|e| format!("column `{}`: {e}", batch.schema_ref().field(i).name()))?,
            ),
            None => None,
        };
        Ok(Self { keys, times })
    }

    /// Row `r`'s key (`key_of(r)` without a key column) and time (`time` without a time
    /// column; an error when `None`).
    fn at(
        &self,
        r: usize,
        key_of: &dyn Fn(usize) -> u64,
        time: Option<u64>,
    ) -> Result<(u64, u64), String> {
        let key = match &self.keys {
            Some(k) => k.at(r).ok_or("key is null or not an unsigned integer")?,
            None => key_of(r),
        };
        let time = match &self.times {
            Some(t) => t.at(r)?,
            None => time.ok_or("message has no timestamp")?,
        };
        Ok((key, time))
    }
}

/// Decodes rows `rows` of an Arrow record batch whose schema `c` was resolved against into
/// `out`, the features column by column; sample `r` was read at `origin_of(r)`. Rows without a
/// key column get `key_of(row)`; without a time column, `time` (an error when `None`).
/// `Err`: a column cannot be converted (names the column; `out` and `bad` may hold part of the
/// batch). A row that cannot be decoded is left out and reported in `bad` as (row, why), in
/// row order.
#[allow(clippy::too_many_arguments)]
pub fn arrow_rows(
    batch: &RecordBatch,
    c: &Columns,
    spec: &ColumnSpec,
    rows: impl Iterator<Item = usize>,
    key_of: &dyn Fn(usize) -> u64,
    time: Option<u64>,
    origin_of: &dyn Fn(usize) -> Origin,
    out: &mut Rows,
    bad: &mut Vec<(usize, String)>,
) -> Result<(), String> {
    let key_times = KeyTimes::of(batch, c, spec)?;
    let labels = cast_column(batch, c.label, &DataType::Int64)?;
    let labels = labels.as_primitive::<Int64Type>();
    // Float32 and Float64 columns are read as they are (a Float64 value converted as it is
    // copied, as a cast would); any other type is cast to Float32 once.
    let feats = c
        .features
        .iter()
        .map(|&i| match batch.column(i).data_type() {
            DataType::Float32 | DataType::Float64 => Ok(batch.column(i).clone()),
            _ => cast_column(batch, i, &DataType::Float32),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (base, bad_from) = (out.len(), bad.len());
    // Keys, times and labels row by row; the rows kept, by their place in `out`.
    let mut kept = Vec::new();
    for r in rows {
        let decoded = key_times.at(r, key_of, time).and_then(|(key, time)| {
            if labels.is_null(r) {
                return Err("label is null".to_string());
            }
            Ok((key, time, check_label(labels.value(r), spec.num_classes)?))
        });
        match decoded {
            Ok((key, time, label)) => {
                out.keys.push(key);
                out.times.push(time);
                out.labels.push(label);
                out.origins.push(origin_of(r));
                kept.push(r);
            }
            Err(reason) => bad.push((r, reason)),
        }
    }
    // Then the features, one column at a time; a row's first bad feature names it.
    let dim = feats.len();
    out.features.resize((base + kept.len()) * dim, 0.0);
    let mut failed: Vec<Option<String>> = Vec::new();
    for (j, (f, name)) in feats.iter().zip(&c.feature_names).enumerate() {
        let column = FeatureColumn {
            kept: &kept,
            to: &mut out.features[base * dim..],
            dim,
            j,
            name,
            failed: &mut failed,
        };
        match f.data_type() {
            DataType::Float64 => column.copy(f.as_primitive::<Float64Type>(), |v| v as f32),
            _ => column.copy(f.as_primitive::<Float32Type>(), |v| v),
        }
    }
    if !failed.is_empty() {
        let mut w = base;
        for (i, why) in failed.into_iter().enumerate() {
            match why {
                Some(reason) => bad.push((kept[i], reason)),
                None => {
                    if w != base + i {
                        out.move_down(base + i, w);
                    }
                    w += 1;
                }
            }
        }
        out.truncate(w);
    }
    bad[bad_from..].sort_by_key(|(r, _)| *r);
    Ok(())
}

/// Where one feature column of a batch goes: feature `j` of each kept row's `dim`-wide stride
/// in `to`; a row's first bad value is recorded in `failed` (sized on the first).
struct FeatureColumn<'a> {
    kept: &'a [usize],
    to: &'a mut [f32],
    dim: usize,
    j: usize,
    name: &'a str,
    failed: &'a mut Vec<Option<String>>,
}

impl FeatureColumn<'_> {
    fn copy<T: ArrowPrimitiveType>(self, f: &PrimitiveArray<T>, as_f32: impl Fn(T::Native) -> f32) {
        let (values, nulls) = (f.values(), f.null_count() > 0);
        for (i, &r) in self.kept.iter().enumerate() {
            let v = as_f32(values[r]);
            self.to[i * self.dim + self.j] = v;
            let why = if nulls && f.is_null(r) {
                Some(format!("feature `{}` is null", self.name))
            } else {
                check_feature(v, self.name).err()
            };
            if let Some(why) = why {
                if self.failed.is_empty() {
                    self.failed.resize(self.kept.len(), None);
                }
                self.failed[i].get_or_insert(why);
            }
        }
    }
}

/// A row number with the key and time of the delete record it holds, or why it could not be
/// decoded.
pub type DeleteRow = (usize, Result<(u64, u64), String>);

/// Splits `rows` of an Arrow record batch by its delete column (`c.delete`; booleans,
/// numbers or strings, read as [`parse_delete_flag`] reads a CSV field): the rows that hold
/// samples, and the delete records with their key and time (`key_of(row)` without a key
/// column). A row whose flag is not one is a delete row with the error.
pub fn arrow_deletions(
    batch: &RecordBatch,
    c: &Columns,
    spec: &ColumnSpec,
    rows: impl Iterator<Item = usize>,
    key_of: &dyn Fn(usize) -> u64,
) -> Result<(Vec<usize>, Vec<DeleteRow>), String> {
    let Some(d) = c.delete else {
        return Ok((rows.collect(), Vec::new()));
    };
    let name = batch.schema_ref().field(d).name().clone();
    let flags = cast_column(batch, d, &DataType::Utf8)?;
    let flags = flags.as_string::<i32>();
    let key_times = KeyTimes::of(batch, c, spec)?;
    let (mut samples, mut deletions) = (Vec::new(), Vec::new());
    for r in rows {
        let flag = if flags.is_null(r) { "" } else { flags.value(r) };
        match parse_delete_flag(flag, &name) {
            Ok(false) => samples.push(r),
            Ok(true) => deletions.push((r, key_times.at(r, key_of, None))),
            Err(e) => deletions.push((r, Err(e))),
        }
    }
    Ok((samples, deletions))
}

/// A delete column's value: `1`, `true`, `yes` or `delete` (any case) marks a delete record,
/// `0`, `false`, `no` or empty a sample (`1.0` and `0.0` too: a pandas integer column with a
/// missing value is written as floats); anything else is an error naming `column`.
pub fn parse_delete_flag(flag: &str, column: &str) -> Result<bool, String> {
    let flag = flag.trim().to_ascii_lowercase();
    match flag.as_str() {
        "" | "0" | "false" | "no" => Ok(false),
        "1" | "true" | "yes" | "delete" => Ok(true),
        _ => match parse_integral(&flag) {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err(format!(
                "delete column `{column}` = `{flag}`: expected 1, true, yes or delete (or 0, \
             false, no or empty)"
            )),
        },
    }
}

/// An Arrow time column's event times in ms, and the rows that have none (sparse: most
/// batches have no bad time).
struct Times {
    ms: Vec<u64>,
    bad: Vec<(usize, String)>,
}

impl Times {
    /// Each row of `v` in ms by `ms`; a null is a bad row.
    fn of<T: ArrowPrimitiveType>(
        v: &PrimitiveArray<T>,
        ms: impl Fn(T::Native) -> Result<u64, String>,
    ) -> Self {
        let mut times = Self {
            ms: Vec::with_capacity(v.len()),
            bad: Vec::new(),
        };
        for r in 0..v.len() {
            let t = if v.is_valid(r) {
                ms(v.value(r))
            } else {
                Err("time is null".to_string())
            };
            times.ms.push(*t.as_ref().unwrap_or(&0));
            if let Err(e) = t {
                times.bad.push((r, e));
            }
        }
        times
    }

    fn at(&self, r: usize) -> Result<u64, String> {
        if !self.bad.is_empty()
            && let Ok(i) = self.bad.binary_search_by_key(&r, |(b, _)| *b)
        {
            return Err(self.bad[i].1.clone());
        }
        Ok(self.ms[r])
    }
}

/// Event times of an Arrow column in ms: timestamps by their own unit, numbers by `unit`;
/// nulls and out-of-range values are per-row errors. Int64 and Float64 columns are read as
/// they are, other types cast to one of them.
fn arrow_times(col: &ArrayRef, unit: TimeUnit) -> Result<Times, String> {
    let per_ms = match col.data_type() {
        DataType::Timestamp(ArrowUnit::Second, _) => Some(1e-3),
        DataType::Timestamp(ArrowUnit::Millisecond, _) => Some(1.0),
        DataType::Timestamp(ArrowUnit::Microsecond, _) => Some(1e3),
        DataType::Timestamp(ArrowUnit::Nanosecond, _) => Some(1e6),
        _ => None,
    };
    let values = match (per_ms, col.data_type()) {
        (None, DataType::Int64 | DataType::Float64) => col.clone(),
        (None, _) => cast(col, &DataType::Float64).map_err(|e| e.to_string())?,
        (Some(_), _) => cast(col, &DataType::Int64).map_err(|e| e.to_string())?,
    };
    let ms = |v: f64| match per_ms {
        Some(div) => time_ms(v / div, TimeUnit::Ms),
        None => time_ms(v, unit),
    };
    Ok(match values.data_type() {
        DataType::Int64 => Times::of(values.as_primitive::<Int64Type>(), |v| ms(v as f64)),
        _ => Times::of(values.as_primitive::<Float64Type>(), ms),
    })
}

/// Converts a time value in the configured unit to Unix milliseconds.
pub fn time_ms(value: f64, unit: TimeUnit) -> Result<u64, String> {
    let ms = match unit {
        TimeUnit::Ms => value,
        TimeUnit::S => value * 1000.0,
    };
    if !ms.is_finite() || ms < 0.0 || ms > u64::MAX as f64 {
        return Err(format!("time {value} out of range"));
    }
    Ok(ms as u64)
}

/// Parses a time field: an integer, or a decimal number (fractional seconds).
pub fn parse_time(field: &str, unit: TimeUnit) -> Result<u64, String> {
    let f = field.trim();
    if let Ok(i) = f.parse::<i64>() {
        if i < 0 {
            return Err(format!("negative time `{f}`"));
        }
        return time_ms(i as f64, unit).map(|ms| match unit {
            TimeUnit::Ms => i as u64,
            TimeUnit::S => ms,
        });
    }
    let v: f64 = f
        .parse()
        .map_err(|_| format!("time `{f}` is not a number"))?;
    time_ms(v, unit)
}

/// Checks a label against `0..num_classes`.
pub fn check_label(label: i64, num_classes: i64) -> Result<i64, String> {
    if (0..num_classes).contains(&label) {
        Ok(label)
    } else {
        Err(format!("label {label} outside 0..{num_classes}"))
    }
}

/// `v` as an integer when it is one (`1.0`, `-3.0`: what pandas writes for integer columns
/// with a missing value somewhere), else `None` (`1.5`, NaN, beyond `i64`).
pub fn integral(v: f64) -> Option<i64> {
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.2e18).then_some(v as i64)
}

/// An integer written as an integer or as an integral decimal (`"1"`, `"1.0"`).
pub fn parse_integral(field: &str) -> Option<i64> {
    let f = field.trim();
    f.parse::<i64>()
        .ok()
        .or_else(|| f.parse::<f64>().ok().and_then(integral))
}

/// A key written as text: an unsigned integer (all of `u64`), or an integral decimal (`5.0`).
pub fn parse_key(field: &str) -> Option<u64> {
    let f = field.trim();
    f.parse::<u64>()
        .ok()
        .or_else(|| parse_integral(f).and_then(|k| u64::try_from(k).ok()))
}

/// Parses a label field: an integer, or an integral decimal (`1.0`).
pub fn parse_label(field: &str, num_classes: i64) -> Result<i64, String> {
    let f = field.trim();
    let label = parse_integral(f).ok_or_else(|| format!("label `{f}` is not an integer"))?;
    check_label(label, num_classes)
}

/// Checks a feature value is finite.
pub fn check_feature(value: f32, name: &str) -> Result<f32, String> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("feature `{name}` is {value}"))
    }
}

/// Parses a feature field.
pub fn parse_feature(field: &str, name: &str) -> Result<f32, String> {
    let f = field.trim();
    let v = f
        .parse::<f32>()
        .map_err(|_| format!("feature `{name}` = `{f}` is not a number"))?;
    check_feature(v, name)
}

thread_local! {
    /// Whether this thread is inside [`contain_arrow_panic`].
    static CONTAINING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, an Arrow IPC read of a `what` (`stream`, `file`), turning a panic of the Arrow
/// reader into an error. arrow-ipc (60) slices each buffer at the offset and length the input
/// declares, and arrow-buffer panics when they lie beyond the data instead of returning an
/// error (found by mutating valid messages and by `fuzz/run.sh`'s `arrow_file` target). A
/// malformed message must be dead-lettered and a malformed file must be a clear error, not a
/// crash of the run.
///
/// A contained panic prints nothing: the error (a dead letter, or the run's error) carries its
/// message. Panics elsewhere print as before.
pub fn contain_arrow_panic<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINING.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = CONTAINING.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CONTAINING.with(|c| c.set(outer));
    result.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown");
        Err(format!(
            "not a valid Arrow IPC {what} (the Arrow reader panicked: {why})"
        ))
    })
}

/// The decoders' tests' columns: key `key`, time `time` (ms), label `label`, features `a`
/// and `b`, two classes.
#[cfg(test)]
pub(crate) fn test_columns(key: Option<&str>, time: Option<&str>) -> ColumnSpec {
    ColumnSpec {
        key_column: key.map(String::from),
        time_column: time.map(String::from),
        time_unit: TimeUnit::Ms,
        label_column: "label".into(),
        feature_columns: Some(vec!["a".into(), "b".into()]),
        num_classes: 2,
        max_future_ms: None,
        repeated_fields_last_wins: false,
        delete_column: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever types a producer sends, rows decode as casts to UInt64 keys, millisecond
    /// times and Float32 features would give them: Int64, UInt64 and (cast) Int32 keys,
    /// Int64, Float64 and Timestamp times, Float64, Float32 and (cast) Int32 or text features.
    /// Negative or null keys, null or negative times and infinite features are per-row errors.
    #[test]
    fn every_column_type_decodes_as_its_cast_would() {
        use arrow::array::{
            Float32Array, Float64Array, Int32Array, Int64Array, StringArray,
            TimestampMillisecondArray, UInt64Array,
        };
        use std::sync::Arc;
        let spec = test_columns(Some("k"), Some("t"));
        let c = Columns {
            key: Some(0),
            time: Some(1),
            label: 2,
            features: vec![3, 4],
            feature_names: vec!["a".into(), "b".into()],
            delete: None,
        };
        let times = [Some(10), Some(11), None, Some(-1), Some(14), Some(15)];
        let b = [1, 2, 3, 4, 5, 6];
        let batches: [Vec<ArrayRef>; 3] = [
            vec![
                Arc::new(Int64Array::from(vec![1, -2, 3, 4, 5, 6])),
                Arc::new(Int64Array::from(times.to_vec())),
                Arc::new(Int64Array::from(vec![0, 1, 0, 1, 0, 1])),
                Arc::new(Float64Array::from(vec![0.5, 0.5, 0.5, 0.5, 1e300, 2.0])),
                Arc::new(Int32Array::from(b.to_vec())),
            ],
            vec![
                Arc::new(UInt64Array::from(vec![
                    Some(1),
                    None,
                    Some(3),
                    Some(4),
                    Some(5),
                    Some(6),
                ])),
                Arc::new(Float64Array::from(
                    times
                        .iter()
                        .map(|t| t.map(|t| t as f64))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Int32Array::from(vec![0, 1, 0, 1, 0, 1])),
                Arc::new(Float32Array::from(vec![
                    0.5,
                    0.5,
                    0.5,
                    0.5,
                    f32::INFINITY,
                    2.0,
                ])),
                Arc::new(Float64Array::from(
                    b.iter().map(|&b| b as f64).collect::<Vec<_>>(),
                )),
            ],
            vec![
                Arc::new(Int32Array::from(vec![1, -2, 3, 4, 5, 6])),
                Arc::new(TimestampMillisecondArray::from(times.to_vec())),
                Arc::new(Int64Array::from(vec![0, 1, 0, 1, 0, 1])),
                Arc::new(Float64Array::from(vec![0.5, 0.5, 0.5, 0.5, 1e300, 2.0])),
                Arc::new(StringArray::from(
                    b.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
                )),
            ],
        ];
        for columns in batches {
            let types: Vec<DataType> = columns.iter().map(|c| c.data_type().clone()).collect();
            let batch =
                RecordBatch::try_from_iter(["k", "t", "label", "a", "b"].into_iter().zip(columns))
                    .unwrap();
            let (mut out, mut bad) = (Rows::new(2), Vec::new());
            let origin_of = |r: usize| Origin {
                partition: 0,
                row: r as u32,
                offset: 0,
            };
            arrow_rows(
                &batch,
                &c,
                &spec,
                0..6,
                &|_| 0,
                None,
                &origin_of,
                &mut out,
                &mut bad,
            )
            .unwrap();
            assert_eq!(out.keys, [1, 6], "{types:?}");
            assert_eq!(out.times, [10, 15], "{types:?}");
            assert_eq!(out.labels, [0, 1], "{types:?}");
            assert_eq!(out.features, [0.5, 1.0, 2.0, 6.0], "{types:?}");
            assert_eq!(
                bad,
                [
                    (1, "key is null or not an unsigned integer".to_string()),
                    (2, "time is null".to_string()),
                    (3, "time -1 out of range".to_string()),
                    (4, "feature `a` is inf".to_string()),
                ],
                "{types:?}"
            );
        }
    }

    /// A delete flag reads as CSV writes it and as pandas does (`1.0`); anything else names
    /// the column.
    #[test]
    fn delete_flags_parse_words_numbers_and_integral_floats() {
        for yes in ["1", "true", "TRUE", " yes", "delete", "1.0"] {
            assert_eq!(parse_delete_flag(yes, "d"), Ok(true), "{yes}");
        }
        for no in ["", "0", "false", "No", "0.0"] {
            assert_eq!(parse_delete_flag(no, "d"), Ok(false), "{no}");
        }
        let e = parse_delete_flag("2", "gone").unwrap_err();
        assert!(e.starts_with("delete column `gone` = `2`"), "{e}");
    }

    /// Regression (#24): a CSV whose labels pandas wrote as `0.0`/`1.0` gave 0 samples, every
    /// row dead-lettered.
    #[test]
    fn csv_labels_written_as_integral_decimals_parse() {
        assert_eq!(parse_label("1.0", 2), Ok(1));
        assert_eq!(parse_label(" 0.0 ", 2), Ok(0));
        assert_eq!(parse_label("1", 2), Ok(1));
        assert_eq!(
            parse_label("1.5", 2),
            Err("label `1.5` is not an integer".into())
        );
        assert_eq!(
            parse_label("nan", 2),
            Err("label `nan` is not an integer".into())
        );
        assert_eq!(parse_label("2.0", 2), Err("label 2 outside 0..2".into()));
        assert_eq!(integral(1e300), None);
    }

    #[test]
    fn time_units() {
        assert_eq!(parse_time("1500", TimeUnit::Ms), Ok(1500));
        assert_eq!(parse_time("2", TimeUnit::S), Ok(2000));
        assert_eq!(parse_time("2.5", TimeUnit::S), Ok(2500));
        assert!(parse_time("-1", TimeUnit::Ms).is_err());
        assert!(parse_time("abc", TimeUnit::Ms).is_err());
    }

    #[test]
    fn labels_and_features() {
        assert_eq!(parse_label("1", 2), Ok(1));
        assert!(parse_label("2", 2).unwrap_err().contains("outside 0..2"));
        assert!(parse_label("x", 2).is_err());
        assert_eq!(parse_feature(" 0.5 ", "a"), Ok(0.5));
        assert!(
            parse_feature("NaN", "a")
                .unwrap_err()
                .contains("feature `a` is NaN")
        );
        assert!(parse_feature("", "a").is_err());
    }
}
