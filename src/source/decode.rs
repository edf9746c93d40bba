//! Column mapping and value decoding shared by the file formats.

use crate::config::{ColumnSpec, TimeUnit};

/// Positions of the key, time, label and feature columns in a file's header or schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    /// Key column index, `None` for row numbers.
    pub key: Option<usize>,
    /// Time column index.
    pub time: usize,
    /// Label column index.
    pub label: usize,
    /// Feature column indices, in feature order.
    pub features: Vec<usize>,
    /// Feature column names, in feature order.
    pub feature_names: Vec<String>,
}

impl Columns {
    /// Resolves the configured column names against `names` (header or schema order).
    /// The error names the config key and lists the available columns.
    pub fn resolve(
        spec: &ColumnSpec,
        names: &[String],
        file: &str,
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
        let time_column = spec.time_column.as_deref().ok_or_else(|| {
            (
                "source.time_column".to_string(),
                format!("missing; {file} needs a time column"),
            )
        })?;
        let time = find(time_column, "source.time_column")?;
        let label = find(&spec.label_column, "source.label_column")?;
        let features: Vec<usize> = match &spec.feature_columns {
            Some(cols) => cols
                .iter()
                .map(|c| find(c, "source.feature_columns"))
                .collect::<Result<_, _>>()?,
            None => (0..names.len())
                .filter(|i| Some(*i) != key && *i != time && *i != label)
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
        })
    }
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

/// Parses a label field.
pub fn parse_label(field: &str, num_classes: i64) -> Result<i64, String> {
    let f = field.trim();
    let label = f
        .parse::<i64>()
        .map_err(|_| format!("label `{f}` is not an integer"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
