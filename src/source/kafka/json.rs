//! Decoding JSON message values into samples, by the field names of `[source]`.

use serde_json::Value;

use crate::config::{ColumnSpec, TimeUnit};
use crate::source::Sample;
use crate::source::decode;

/// Decodes one JSON object per message.
#[derive(Clone, Debug)]
pub struct JsonDecoder {
    columns: ColumnSpec,
    features: Vec<String>,
}

/// What the decoder needs besides the value.
pub struct MessageMeta<'a> {
    /// Message key.
    pub key: Option<&'a [u8]>,
    /// Message timestamp (ms), if any.
    pub timestamp_ms: Option<i64>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

impl JsonDecoder {
    /// A decoder for `columns`; `feature_columns` must be set (validated by the config).
    pub fn new(columns: &ColumnSpec) -> Self {
        Self {
            features: columns.feature_columns.clone().unwrap_or_default(),
            columns: columns.clone(),
        }
    }

    /// Feature names, in input order.
    pub fn feature_names(&self) -> &[String] {
        &self.features
    }

    /// Decodes a message; the error says what is wrong with it.
    pub fn decode(&self, value: Option<&[u8]>, m: &MessageMeta<'_>) -> Result<Sample, String> {
        let value = value.ok_or("message has no value")?;
        let v: Value = serde_json::from_slice(value).map_err(|e| format!("invalid JSON: {e}"))?;
        let obj = v.as_object().ok_or("value is not a JSON object")?;
        let c = &self.columns;
        let key = match &c.key_column {
            Some(k) => {
                let f = obj
                    .get(k)
                    .ok_or_else(|| format!("missing key field `{k}`"))?;
                f.as_u64()
                    .or_else(|| f.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| format!("key `{f}` is not an unsigned integer"))?
            }
            None => match m.key {
                Some(k) => message_key(k)?,
                None => ((m.partition as u64) << 48) | (m.offset as u64 & 0xFFFF_FFFF_FFFF),
            },
        };
        let time = match &c.time_column {
            Some(t) => {
                let f = obj
                    .get(t)
                    .ok_or_else(|| format!("missing time field `{t}`"))?;
                match f {
                    Value::Number(n) => {
                        let v = n.as_f64().ok_or("time is not a number")?;
                        if let Some(i) = n.as_u64() {
                            match c.time_unit {
                                TimeUnit::Ms => i,
                                TimeUnit::S => decode::time_ms(v, c.time_unit)?,
                            }
                        } else {
                            decode::time_ms(v, c.time_unit)?
                        }
                    }
                    Value::String(s) => decode::parse_time(s, c.time_unit)?,
                    other => return Err(format!("time `{other}` is not a number")),
                }
            }
            None => {
                let ts = m.timestamp_ms.ok_or("message has no timestamp")?;
                if ts < 0 {
                    return Err(format!("negative message timestamp {ts}"));
                }
                ts as u64
            }
        };
        let l = obj
            .get(&c.label_column)
            .ok_or_else(|| format!("missing label field `{}`", c.label_column))?;
        let label = l
            .as_i64()
            .ok_or_else(|| format!("label `{l}` is not an integer"))?;
        let label = decode::check_label(label, c.num_classes)?;
        let mut features = Vec::with_capacity(self.features.len());
        for name in &self.features {
            let f = obj
                .get(name)
                .ok_or_else(|| format!("missing feature field `{name}`"))?;
            let x = f
                .as_f64()
                .ok_or_else(|| format!("feature `{name}` = `{f}` is not a number"))?;
            features.push(decode::check_feature(x as f32, name)?);
        }
        Ok(Sample {
            key,
            time,
            label,
            features,
        })
    }
}

/// A message key as a sample key: decimal text, or 8 bytes big-endian.
fn message_key(k: &[u8]) -> Result<u64, String> {
    if let Ok(s) = std::str::from_utf8(k)
        && let Ok(v) = s.trim().parse::<u64>()
    {
        return Ok(v);
    }
    if let Ok(b) = <[u8; 8]>::try_from(k) {
        return Ok(u64::from_be_bytes(b));
    }
    Err(format!(
        "message key {:?} is neither a decimal u64 nor 8 bytes",
        String::from_utf8_lossy(k)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(key: Option<&str>, time: Option<&str>) -> ColumnSpec {
        ColumnSpec {
            key_column: key.map(String::from),
            time_column: time.map(String::from),
            time_unit: TimeUnit::Ms,
            label_column: "label".into(),
            feature_columns: Some(vec!["a".into(), "b".into()]),
            num_classes: 2,
        }
    }

    fn meta(key: Option<&[u8]>) -> MessageMeta<'_> {
        MessageMeta {
            key,
            timestamp_ms: Some(99),
            partition: 2,
            offset: 7,
        }
    }

    #[test]
    fn decodes_fields_keys_and_times() {
        let d = JsonDecoder::new(&columns(Some("k"), Some("t")));
        let s = d
            .decode(
                Some(br#"{"k": 5, "t": 1000, "label": 1, "a": 0.5, "b": 2}"#),
                &meta(None),
            )
            .unwrap();
        assert_eq!(
            s,
            Sample {
                key: 5,
                time: 1000,
                label: 1,
                features: vec![0.5, 2.0]
            }
        );
        // No key field: message key; no time field: message timestamp; no key: partition/offset.
        let d = JsonDecoder::new(&columns(None, None));
        let v = br#"{"label": 0, "a": 1, "b": 1}"#;
        assert_eq!(d.decode(Some(v), &meta(Some(b"42"))).unwrap().key, 42);
        assert_eq!(
            d.decode(Some(v), &meta(Some(&7u64.to_be_bytes())))
                .unwrap()
                .key,
            7
        );
        let s = d.decode(Some(v), &meta(None)).unwrap();
        assert_eq!((s.key, s.time), ((2u64 << 48) | 7, 99));
    }

    #[test]
    fn rejects_bad_messages_with_reasons() {
        let d = JsonDecoder::new(&columns(Some("k"), Some("t")));
        let bad = |v: &[u8]| d.decode(Some(v), &meta(None)).unwrap_err();
        assert!(bad(b"{not json").starts_with("invalid JSON"));
        assert_eq!(bad(b"[1,2]"), "value is not a JSON object");
        assert_eq!(
            bad(br#"{"t": 1, "label": 1, "a": 1, "b": 1}"#),
            "missing key field `k`"
        );
        assert_eq!(
            bad(br#"{"k": 1, "t": 1, "label": 3, "a": 1, "b": 1}"#),
            "label 3 outside 0..2"
        );
        assert_eq!(
            bad(br#"{"k": 1, "t": 1, "label": "x", "a": 1, "b": 1}"#),
            "label `\"x\"` is not an integer"
        );
        assert_eq!(
            bad(br#"{"k": 1, "t": 1, "label": 1, "a": null, "b": 1}"#),
            "feature `a` = `null` is not a number"
        );
        assert_eq!(
            bad(br#"{"k": 1, "t": 1, "label": 1, "a": 1}"#),
            "missing feature field `b`"
        );
        assert_eq!(
            d.decode(None, &meta(None)).unwrap_err(),
            "message has no value"
        );
    }
}
