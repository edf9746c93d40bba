//! Writing generated rows as CSV or Arrow IPC (columns `key, time, label, x0..`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use super::error::DatasetError;
use arrow::array::{
    ArrayRef, Float32Array, Int64Array, RecordBatch, TimestampMillisecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::ipc::writer::FileWriter;

/// One generated sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Unique key.
    pub key: u64,
    /// Event time, Unix ms.
    pub time: u64,
    /// Class label.
    pub label: i64,
    /// Features.
    pub features: Vec<f32>,
}

/// Writes rows as CSV with header `key,time,label,<names>`.
pub fn write_csv(path: &Path, names: &[String], rows: &[Row]) -> Result<(), DatasetError> {
    let ctx = |e: std::io::Error| DatasetError::Data(format!("{}: {e}", path.display()));
    let mut w = BufWriter::new(File::create(path).map_err(ctx)?);
    write!(w, "key,time,label").map_err(ctx)?;
    for n in names {
        write!(w, ",{n}").map_err(ctx)?;
    }
    writeln!(w).map_err(ctx)?;
    for r in rows {
        write!(w, "{},{},{}", r.key, r.time, r.label).map_err(ctx)?;
        for x in &r.features {
            write!(w, ",{x}").map_err(ctx)?;
        }
        writeln!(w).map_err(ctx)?;
    }
    w.flush().map_err(ctx)?;
    Ok(())
}

/// Writes rows as an Arrow IPC file: `key` u64, `time` timestamp(ms, UTC), `label` i64,
/// one f32 column per feature; record batches of 8,192 rows.
pub fn write_arrow(path: &Path, names: &[String], rows: &[Row]) -> Result<(), DatasetError> {
    let mut fields = vec![
        Field::new("key", DataType::UInt64, false),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("label", DataType::Int64, false),
    ];
    fields.extend(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Float32, false)),
    );
    let schema = Arc::new(Schema::new(fields));
    let at = |e: &dyn std::fmt::Display| DatasetError::Data(format!("{}: {e}", path.display()));
    let file = File::create(path).map_err(|e| at(&e))?;
    let mut writer = FileWriter::try_new(BufWriter::new(file), &schema).map_err(|e| at(&e))?;
    for chunk in rows.chunks(8_192) {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from_iter_values(chunk.iter().map(|r| r.key))),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(chunk.iter().map(|r| r.time as i64))
                    .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.label))),
        ];
        for i in 0..names.len() {
            cols.push(Arc::new(Float32Array::from_iter_values(
                chunk.iter().map(|r| r.features[i]),
            )));
        }
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| at(&e))?;
        writer.write(&batch).map_err(|e| at(&e))?;
    }
    writer.finish().map_err(|e| at(&e))?;
    Ok(())
}
