//! Rows as Arrow IPC stream messages (`sluice produce --format arrow`): rows of one partition,
//! in time order, become one message of up to `--batch-rows` rows under one schema inferred
//! from the whole dataset. `source::kafka::ArrowDecoder` reads them back.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::writer::StreamWriter;
use serde_json::Value;

use super::rows::Row;

/// Column types for `rows`: Int64 when every value is an integer that fits, Float64 when every
/// value is a number, else Utf8 (values as text). Missing and null values are nulls.
pub fn infer_schema<'a>(rows: impl IntoIterator<Item = &'a Row>) -> SchemaRef {
    let mut names: Vec<&String> = Vec::new();
    let mut types: Vec<DataType> = Vec::new();
    for r in rows {
        for (k, v) in r {
            let i = match names.iter().position(|n| *n == k) {
                Some(i) => i,
                None => {
                    names.push(k);
                    types.push(DataType::Null);
                    names.len() - 1
                }
            };
            let t = match v {
                Value::Null => continue,
                Value::Number(n) if n.is_i64() => DataType::Int64,
                Value::Number(_) => DataType::Float64,
                _ => DataType::Utf8,
            };
            types[i] = match (&types[i], t) {
                (DataType::Null, t) => t,
                (DataType::Utf8, _) | (_, DataType::Utf8) => DataType::Utf8,
                (a, b) if *a == b => b,
                _ => DataType::Float64,
            };
        }
    }
    let fields: Vec<Field> = names
        .into_iter()
        .zip(types)
        .map(|(n, t)| {
            let t = if t == DataType::Null {
                DataType::Utf8
            } else {
                t
            };
            Field::new(n, t, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// One Arrow IPC stream message holding `rows` under `schema` (from [`infer_schema`]).
pub fn encode(rows: &[&Row], schema: &SchemaRef) -> Vec<u8> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let values = rows
                .iter()
                .map(|r| r.get(f.name()).filter(|v| !v.is_null()));
            match f.data_type() {
                DataType::Int64 => {
                    let mut b = Int64Builder::with_capacity(rows.len());
                    values.for_each(|v| b.append_option(v.and_then(Value::as_i64)));
                    Arc::new(b.finish()) as ArrayRef
                }
                DataType::Float64 => {
                    let mut b = Float64Builder::with_capacity(rows.len());
                    values.for_each(|v| b.append_option(v.and_then(Value::as_f64)));
                    Arc::new(b.finish())
                }
                _ => {
                    let mut b = StringBuilder::new();
                    values.for_each(|v| {
                        b.append_option(v.map(|v| match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        }))
                    });
                    Arc::new(b.finish())
                }
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .expect("columns built from the schema's own fields");
    let mut buf = Vec::new();
    let mut w = StreamWriter::try_new(&mut buf, schema).expect("writing to memory");
    w.write(&batch).expect("writing to memory");
    w.finish().expect("writing to memory");
    drop(w);
    buf
}
