//! US domestic flights of 2001 (Bureau of Transportation Statistics on-time data) as shipped by
//! the npm package `vega-datasets` 3.2.1 (`data/flights-3m.parquet`: 3,000,000 flights with
//! `date` (timestamp, µs, local time of departure), `delay` (minutes), `distance` (miles),
//! `origin`, `destination`).
//!
//! Label: delayed by more than 15 minutes (the BTS definition of a delayed flight). Features
//! (37): hour of day and day of week as (sin, cos) pairs; log distance standardised over the
//! file; origin and destination one-hot over the 15 busiest airports of the file, plus
//! "other". The stream is the file sorted by departure time, thinned to `rows` by taking every
//! `k`-th flight so that it always spans the whole time range. Key: the flight's index in the
//! sorted file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::DatasetError;
use super::parquet::{int64s, read_columns, strings};
use super::rainfall::datasets_dir;
use super::write::Row;
use crate::calendar::civil_from_days;

/// The file's path below the datasets directory (`scripts/setup.sh --datasets` puts it there).
pub const FILE: &str = "vega-datasets-3.2.1/data/flights-3m.parquet";

/// What installs it.
pub const SETUP: &str = "scripts/setup.sh --datasets (which runs `npm pack \
                         vega-datasets@3.2.1` and unpacks data/flights-3m.parquet)";

/// Airports with their own one-hot column (the rest share "other").
pub const TOP_AIRPORTS: usize = 15;

/// Delay (minutes) above which a flight counts as delayed.
pub const DELAYED_MIN: i64 = 15;

/// The parquet file: `<source>/flights-3m.parquet` when `--source` is given, else in the
/// datasets directory.
pub fn source_file(source: Option<&Path>) -> PathBuf {
    match source {
        Some(dir) => dir.join("flights-3m.parquet"),
        None => datasets_dir().join(FILE),
    }
}

/// The busiest `TOP_AIRPORTS` airports of `codes` (ties by name), most flights first.
fn busiest(codes: &[String]) -> Vec<String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for c in codes {
        *count.entry(c).or_default() += 1;
    }
    let mut by: Vec<(&str, usize)> = count.into_iter().collect();
    by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    by.into_iter()
        .take(TOP_AIRPORTS)
        .map(|(c, _)| c.to_string())
        .collect()
}

/// What the stream was built from, for the drift notes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FlightsInfo {
    /// Flights in the file.
    pub flights: usize,
    /// Every `stride`-th flight was taken.
    pub stride: usize,
    /// The one-hot origin airports, in column order.
    pub origins: Vec<String>,
    /// The one-hot destination airports, in column order.
    pub destinations: Vec<String>,
    /// Share of delayed flights per calendar month of the stream (`YYYY-MM` → share).
    pub delayed_by_month: Vec<(String, f64)>,
}

/// Reads `rows` flights (at most the file's) spread evenly over the file.
pub fn read(path: &Path, rows: usize) -> Result<(Vec<Row>, FlightsInfo), DatasetError> {
    let cols = read_columns(
        path,
        &["date", "delay", "distance", "origin", "destination"],
        SETUP,
    )?;
    let date = int64s(path, "date", &cols[0])?;
    let delay = int64s(path, "delay", &cols[1])?;
    let distance = int64s(path, "distance", &cols[2])?;
    let origin = strings(path, "origin", &cols[3])?;
    let destination = strings(path, "destination", &cols[4])?;
    let n = date.len();
    if let Some(i) = (0..n).find(|&i| date[i] < 0) {
        return Err(DatasetError::Data(format!(
            "{}: row {}: date before 1970",
            path.display(),
            i + 1
        )));
    }
    if let Some(i) = (0..n).find(|&i| distance[i] <= 0) {
        return Err(DatasetError::Data(format!(
            "{}: row {}: distance {} is not positive",
            path.display(),
            i + 1,
            distance[i]
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| date[i]);
    let rows = rows.min(n);
    let stride = (n / rows.max(1)).max(1);
    let origins = busiest(&origin);
    let destinations = busiest(&destination);
    let log_d: Vec<f64> = distance.iter().map(|&d| (d as f64).ln()).collect();
    let mean = log_d.iter().sum::<f64>() / n as f64;
    let sd = (log_d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    let one_hot = |top: &[String], code: &str, out: &mut Vec<f32>| {
        let at = top.iter().position(|c| c == code).unwrap_or(top.len());
        out.extend((0..=TOP_AIRPORTS).map(|k| if k == at { 1.0 } else { 0.0 }));
    };
    let tau = std::f64::consts::TAU;
    let mut out = Vec::with_capacity(rows);
    let mut months: Vec<(String, usize, usize)> = Vec::new();
    for (k, &i) in order.iter().step_by(stride).take(rows).enumerate() {
        let ms = date[i] / 1000;
        let days = ms.div_euclid(86_400_000);
        let hour = ms.rem_euclid(86_400_000) as f64 / 3_600_000.0;
        // 1970-01-01 was a Thursday: Monday = 0.
        let weekday = (days + 3).rem_euclid(7) as f64;
        let mut f = Vec::with_capacity(5 + 2 * (TOP_AIRPORTS + 1));
        f.push((tau * hour / 24.0).sin() as f32);
        f.push((tau * hour / 24.0).cos() as f32);
        f.push((tau * weekday / 7.0).sin() as f32);
        f.push((tau * weekday / 7.0).cos() as f32);
        f.push(((log_d[i] - mean) / sd) as f32);
        one_hot(&origins, &origin[i], &mut f);
        one_hot(&destinations, &destination[i], &mut f);
        let label = i64::from(delay[i] > DELAYED_MIN);
        let (y, m, _) = civil_from_days(days);
        let month = format!("{y:04}-{m:02}");
        match months.last_mut() {
            Some((last, delayed, all)) if *last == month => {
                *delayed += label as usize;
                *all += 1;
            }
            _ => months.push((month, label as usize, 1)),
        }
        out.push(Row {
            key: k as u64 * stride as u64,
            time: ms as u64,
            label,
            features: f,
        });
    }
    let info = FlightsInfo {
        flights: n,
        stride,
        origins,
        destinations,
        delayed_by_month: months
            .into_iter()
            .map(|(m, d, a)| (m, d as f64 / a as f64))
            .collect(),
    };
    Ok((out, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_airports_come_first_and_ties_go_by_name() {
        let codes: Vec<String> = ["B", "A", "B", "C", "A", "B"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(busiest(&codes), ["B", "A", "C"]);
    }
}
