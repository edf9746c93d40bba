//! Arrow IPC message values: each message is an Arrow IPC *stream* (its schema, then one or more
//! record batches) and every row becomes a sample. Columns are found by name in the message's
//! own schema, so producers may add, drop or reorder other columns between messages; the
//! resolution is cached while the schema stays the same.
//!
//! The encoder `sluice produce --format arrow` uses is `crate::produce::encode`.

use std::io::Cursor;

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;

use super::json::MessageMeta;
use crate::config::ColumnSpec;
use crate::source::decode::{self, Columns};
use crate::source::{Origin, Rows};

/// Decodes Arrow IPC stream values.
#[derive(Clone, Debug)]
pub struct ArrowDecoder {
    spec: ColumnSpec,
    features: Vec<String>,
    cached: Option<(SchemaRef, Columns)>,
}

impl ArrowDecoder {
    /// A decoder for `columns`; `key_column` and `feature_columns` must be set (validated by
    /// the config: a message holds many rows, so they cannot share the message key).
    pub fn new(columns: &ColumnSpec) -> Self {
        Self {
            features: columns.feature_columns.clone().unwrap_or_default(),
            spec: columns.clone(),
            cached: None,
        }
    }

    /// The columns it decodes.
    pub fn columns(&self) -> &ColumnSpec {
        &self.spec
    }

    /// Feature names, in input order.
    pub fn feature_names(&self) -> &[String] {
        &self.features
    }

    /// Decodes every row of a message into `out`. A row that cannot be decoded is reported in
    /// `bad` as (row, reason) and the other rows go on; `Err` when the whole message is not a
    /// usable Arrow stream (then nothing of it is in `out` or `bad`).
    pub fn decode(
        &mut self,
        value: Option<&[u8]>,
        m: &MessageMeta<'_>,
        out: &mut Rows,
        bad: &mut Vec<(usize, String)>,
    ) -> Result<(), String> {
        let (n_out, n_bad) = (out.len(), bad.len());
        // ~7% of random byte flips or truncations of a valid message made the Arrow reader
        // panic; see `contain_arrow_panic`.
        let result =
            decode::contain_arrow_panic("stream", || self.decode_stream(value, m, out, bad));
        if result.is_err() {
            // A reader that panicked may have cached the broken message's schema.
            self.cached = None;
            // The whole message goes to the dead-letter topic: none of its rows train, even
            // those of batches before the broken one.
            out.truncate(n_out);
            bad.truncate(n_bad);
        }
        result
    }

    fn decode_stream(
        &mut self,
        value: Option<&[u8]>,
        m: &MessageMeta<'_>,
        out: &mut Rows,
        bad: &mut Vec<(usize, String)>,
    ) -> Result<(), String> {
        let value = value.ok_or("message has no value")?;
        let reader = StreamReader::try_new(Cursor::new(value), None)
            .map_err(|e| format!("not an Arrow IPC stream: {e}"))?;
        let schema = reader.schema();
        let columns = match &self.cached {
            Some((s, c)) if *s == schema || **s == *schema => c.clone(),
            _ => {
                let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
                let c = Columns::resolve(&self.spec, &names, "the message", false)
                    .map_err(|(key, message)| format!("{key}: {message}"))?;
                self.cached = Some((schema.clone(), c.clone()));
                c
            }
        };
        let time = m.timestamp_ms.and_then(|t| u64::try_from(t).ok());
        let mut base = 0;
        for batch in reader {
            let batch = batch.map_err(|e| format!("Arrow batch after row {base}: {e}"))?;
            let n = batch.num_rows();
            let origin_of = |r: usize| Origin {
                partition: m.partition,
                row: (base + r) as u32,
                offset: m.offset,
            };
            let from = bad.len();
            decode::arrow_rows(
                &batch,
                &columns,
                &self.spec,
                0..n,
                &|_| 0,
                time,
                &origin_of,
                out,
                bad,
            )?;
            for (r, _) in &mut bad[from..] {
                *r += base;
            }
            base += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::produce::{Row, encode, infer_schema};
    use crate::source::Sample;
    use arrow::datatypes::DataType;
    use serde_json::Value;

    fn spec() -> ColumnSpec {
        decode::test_columns(Some("k"), Some("t"))
    }

    fn meta() -> MessageMeta<'static> {
        MessageMeta {
            key: None,
            timestamp_ms: Some(5),
            partition: 0,
            offset: 3,
        }
    }

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    /// Regression: arrow-ipc panicked on messages whose buffer offsets lie beyond the body
    /// (byte flips and truncations of a valid message); they must come back as errors.
    #[test]
    fn mutated_messages_are_errors_not_panics() {
        use rand::{Rng, SeedableRng};
        let rows: Vec<Row> = (0..50)
            .map(|i| row(serde_json::json!({"k": i, "t": i * 10, "label": i % 2, "a": i as f64 / 3.0, "b": 1.5})))
            .collect();
        let refs: Vec<&Row> = rows.iter().collect();
        let valid = encode(&refs, &infer_schema(&rows));
        let mut d = ArrowDecoder::new(&spec());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (mut errors, mut contained) = (0, 0);
        for _ in 0..3000 {
            let mut v = valid.clone();
            if rng.random_bool(0.5) {
                v.truncate(rng.random_range(0..valid.len()));
            } else {
                for _ in 0..rng.random_range(1..8) {
                    let i = rng.random_range(0..v.len());
                    v[i] = rng.random();
                }
            }
            let (mut out, mut bad) = (Rows::new(2), Vec::new());
            if let Err(e) = d.decode(Some(&v), &meta(), &mut out, &mut bad) {
                assert!(out.is_empty() && bad.is_empty(), "{e}");
                errors += 1;
                contained += usize::from(e.contains("the Arrow reader panicked"));
            }
        }
        assert!(
            errors > 100 && contained > 0,
            "{errors} errors, {contained} panics"
        );
        // The decoder still works after a contained panic.
        let (mut out, mut bad) = (Rows::new(2), Vec::new());
        d.decode(Some(&valid), &meta(), &mut out, &mut bad).unwrap();
        assert_eq!((out.len(), bad.len()), (50, 0));
    }

    #[test]
    fn rows_round_trip_and_bad_rows_are_reported_alone() {
        let rows = vec![
            row(serde_json::json!({"k": 1, "t": 1000, "label": 0, "a": 0.5, "b": 2, "note": "x"})),
            row(serde_json::json!({"k": 2, "t": 1001, "label": 1, "a": -1.25, "b": 3.5})),
            row(serde_json::json!({"k": 3, "t": 1002, "label": 7, "a": 0.0, "b": 1.0})),
            row(serde_json::json!({"k": 4, "t": 1003, "label": 1, "b": 1.0})),
        ];
        let schema = infer_schema(&rows);
        let type_of = |n: &str| schema.field_with_name(n).unwrap().data_type().clone();
        // `b` mixes integers and decimals: Float64; `note` is text.
        for (n, t) in [
            ("k", DataType::Int64),
            ("t", DataType::Int64),
            ("label", DataType::Int64),
            ("a", DataType::Float64),
            ("b", DataType::Float64),
            ("note", DataType::Utf8),
        ] {
            assert_eq!(type_of(n), t, "{n}");
        }
        let value = encode(&rows.iter().collect::<Vec<_>>(), &schema);
        let mut d = ArrowDecoder::new(&spec());
        let (mut out, mut bad) = (Rows::new(2), Vec::new());
        d.decode(Some(&value), &meta(), &mut out, &mut bad).unwrap();
        assert_eq!(
            out.samples().collect::<Vec<_>>(),
            vec![
                Sample {
                    key: 1,
                    time: 1000,
                    label: 0,
                    features: vec![0.5, 2.0],
                    origin: Origin {
                        partition: 0,
                        row: 0,
                        offset: 3
                    },
                },
                Sample {
                    key: 2,
                    time: 1001,
                    label: 1,
                    features: vec![-1.25, 3.5],
                    origin: Origin {
                        partition: 0,
                        row: 1,
                        offset: 3
                    },
                }
            ]
        );
        assert_eq!(
            bad,
            vec![
                (2, "label 7 outside 0..2".to_string()),
                (3, "feature `a` is null".to_string())
            ]
        );
    }

    /// Features are decoded a column at a time: a row whose feature is null or not finite
    /// leaves a gap the rows after it close, and each bad row is named by its first bad field.
    #[test]
    fn bad_rows_amid_good_ones_leave_no_gap() {
        let rows: Vec<Row> = (0..8)
            .map(|i| {
                let a = match i {
                    1 => serde_json::json!(null),
                    4 => serde_json::json!(1e300),
                    _ => serde_json::json!(i as f64 / 4.0),
                };
                let b = if i == 4 || i == 6 {
                    serde_json::json!(null)
                } else {
                    serde_json::json!(i)
                };
                let label = if i == 6 { 9 } else { i % 2 };
                row(serde_json::json!({"k": i, "t": 100 + i, "label": label, "a": a, "b": b}))
            })
            .collect();
        let value = encode(&rows.iter().collect::<Vec<_>>(), &infer_schema(&rows));
        let mut d = ArrowDecoder::new(&spec());
        let (mut out, mut bad) = (Rows::new(2), Vec::new());
        d.decode(Some(&value), &meta(), &mut out, &mut bad).unwrap();
        assert_eq!(out.keys, [0, 2, 3, 5, 7]);
        assert_eq!(out.times, [100, 102, 103, 105, 107]);
        assert_eq!(out.labels, [0, 0, 1, 1, 1]);
        assert_eq!(
            out.features,
            [0.0, 0.0, 0.5, 2.0, 0.75, 3.0, 1.25, 5.0, 1.75, 7.0]
        );
        let rows_of: Vec<u32> = out.origins.iter().map(|o| o.row).collect();
        assert_eq!(rows_of, [0, 2, 3, 5, 7]);
        assert_eq!(
            bad,
            [
                (1, "feature `a` is null".to_string()),
                (4, "feature `a` is inf".to_string()),
                (6, "label 9 outside 0..2".to_string()),
            ]
        );
    }

    #[test]
    fn schema_changes_between_messages_and_missing_columns() {
        let mut d = ArrowDecoder::new(&spec());
        let (mut out, mut bad) = (Rows::new(2), Vec::new());
        for v in [
            serde_json::json!({"k": 1, "t": 10, "label": 0, "a": 1.0, "b": 2.0}),
            serde_json::json!({"b": 4.0, "extra": 1, "a": 3.0, "label": 1, "t": 11, "k": 2}),
        ] {
            let rows = vec![row(v)];
            let value = encode(&rows.iter().collect::<Vec<_>>(), &infer_schema(&rows));
            d.decode(Some(&value), &meta(), &mut out, &mut bad).unwrap();
        }
        assert!(bad.is_empty());
        assert_eq!(out.features_of(1), [3.0, 4.0]);
        assert_eq!((out.keys[1], out.times[1]), (2, 11));

        let rows = vec![row(
            serde_json::json!({"k": 1, "t": 10, "label": 0, "a": 1.0}),
        )];
        let value = encode(&rows.iter().collect::<Vec<_>>(), &infer_schema(&rows));
        let err = d
            .decode(Some(&value), &meta(), &mut out, &mut bad)
            .unwrap_err();
        assert!(
            err.starts_with("source.feature_columns: column `b` not in the message"),
            "{err}"
        );
        let err = d
            .decode(Some(b"{\"k\": 1}"), &meta(), &mut out, &mut bad)
            .unwrap_err();
        assert!(err.starts_with("not an Arrow IPC stream"), "{err}");
        assert_eq!(
            d.decode(None, &meta(), &mut out, &mut bad).unwrap_err(),
            "message has no value"
        );
    }

    #[test]
    fn message_timestamp_when_no_time_column() {
        let mut s = spec();
        s.time_column = None;
        let mut d = ArrowDecoder::new(&s);
        let rows = vec![row(
            serde_json::json!({"k": 1, "label": 0, "a": 1.0, "b": 2.0}),
        )];
        let value = encode(&rows.iter().collect::<Vec<_>>(), &infer_schema(&rows));
        let (mut out, mut bad) = (Rows::new(2), Vec::new());
        d.decode(Some(&value), &meta(), &mut out, &mut bad).unwrap();
        assert_eq!(out.times[0], 5);
    }
}
