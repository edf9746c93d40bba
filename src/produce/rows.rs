//! The rows `sluice produce` publishes: a CSV or Arrow IPC file read as JSON objects, numbers
//! as numbers (a bundled dataset's rows come from `crate::datasets::rows`).

use std::path::Path;

use serde_json::{Map, Value};

use super::error::ProduceError;
use crate::config::FileFormat;

/// A row: its columns as JSON values.
pub type Row = Map<String, Value>;

/// Reads every row of a CSV or Arrow IPC file as JSON objects (numbers parsed as numbers).
pub fn read_rows(path: &Path) -> Result<Vec<Row>, ProduceError> {
    let ctx = |e: &dyn std::fmt::Display| ProduceError::Read {
        path: path.into(),
        message: e.to_string(),
    };
    match FileFormat::infer(path) {
        Some(FileFormat::Csv) => {
            let mut r = csv::Reader::from_path(path).map_err(|e| ctx(&e))?;
            let header: Vec<String> = r
                .headers()
                .map_err(|e| ctx(&e))?
                .iter()
                .map(|h| h.trim().to_string())
                .collect();
            let mut rows = Vec::new();
            for rec in r.records() {
                let rec = rec.map_err(|e| ctx(&e))?;
                rows.push(
                    header
                        .iter()
                        .cloned()
                        .zip(rec.iter().map(json_value))
                        .collect(),
                );
            }
            Ok(rows)
        }
        Some(FileFormat::Arrow) => {
            use arrow::util::display::{ArrayFormatter, FormatOptions};
            let file = std::fs::File::open(path).map_err(|e| ctx(&e))?;
            let reader =
                arrow::ipc::reader::FileReader::try_new(file, None).map_err(|e| ctx(&e))?;
            let schema = reader.schema();
            let mut rows = Vec::new();
            let opts = FormatOptions::default();
            for batch in reader {
                let batch = batch.map_err(|e| ctx(&e))?;
                let cols: Vec<_> = batch
                    .columns()
                    .iter()
                    .map(|c| {
                        // Timestamps as epoch numbers, not dates.
                        let c = match c.data_type() {
                            arrow::datatypes::DataType::Timestamp(_, _) => {
                                arrow::compute::cast(c, &arrow::datatypes::DataType::Int64)
                            }
                            _ => Ok(c.clone()),
                        };
                        c.map_err(|e| ctx(&e))
                    })
                    .collect::<Result<_, _>>()?;
                let fmts: Vec<_> = cols
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
                    .collect::<Result<_, _>>()
                    .map_err(|e| ctx(&e))?;
                for i in 0..batch.num_rows() {
                    rows.push(
                        schema
                            .fields()
                            .iter()
                            .zip(&fmts)
                            .map(|(f, fm)| (f.name().clone(), json_value(&fm.value(i).to_string())))
                            .collect(),
                    );
                }
            }
            Ok(rows)
        }
        _ => Err(ProduceError::Read {
            path: path.into(),
            message: "expected a .csv or .arrow file".into(),
        }),
    }
}

fn json_value(field: &str) -> Value {
    let f = field.trim();
    if let Ok(i) = f.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(x) = f.parse::<f64>()
        && x.is_finite()
    {
        return Value::from(x);
    }
    Value::from(f)
}
