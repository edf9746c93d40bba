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
    ///
    /// Fast path: one pass over the object picking the configured fields, no `Value` tree and
    /// no allocation but the feature vector. Anything unusual (a missing or mistyped field,
    /// escaped keys, invalid JSON) falls back to the full parse, which names the problem.
    pub fn decode(&self, value: Option<&[u8]>, m: &MessageMeta<'_>) -> Result<Sample, String> {
        if let Some(v) = value
            && let Some(s) = self.decode_fast(v, m)
        {
            return Ok(s);
        }
        self.decode_full(value, m)
    }

    fn decode_fast(&self, value: &[u8], m: &MessageMeta<'_>) -> Option<Sample> {
        let mut de = serde_json::Deserializer::from_slice(value);
        let fields = serde::de::DeserializeSeed::deserialize(FastSeed(self), &mut de).ok()?;
        de.end().ok()?;
        let c = &self.columns;
        let key = match (c.key_column.is_some(), fields.key) {
            (true, Some(k)) => k,
            (true, None) => return None,
            (false, _) => match m.key {
                Some(k) => message_key(k).ok()?,
                None => ((m.partition as u64) << 48) | (m.offset as u64 & 0xFFFF_FFFF_FFFF),
            },
        };
        let time = match (&c.time_column, fields.time) {
            (Some(_), Some(t)) => {
                match (c.time_unit, t.fract() == 0.0 && (0.0..9.0e15).contains(&t)) {
                    (TimeUnit::Ms, true) => t as u64,
                    _ => decode::time_ms(t, c.time_unit).ok()?,
                }
            }
            (Some(_), None) => return None,
            (None, _) => u64::try_from(m.timestamp_ms?).ok()?,
        };
        let label = decode::check_label(fields.label?, c.num_classes).ok()?;
        if fields.found != self.features.len() || fields.features.iter().any(|x| !x.is_finite()) {
            return None;
        }
        Some(Sample {
            key,
            time,
            label,
            features: fields.features,
        })
    }

    fn decode_full(&self, value: Option<&[u8]>, m: &MessageMeta<'_>) -> Result<Sample, String> {
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

/// Fields picked by the fast path.
struct Fast {
    key: Option<u64>,
    time: Option<f64>,
    label: Option<i64>,
    features: Vec<f32>,
    found: usize,
}

struct FastSeed<'a>(&'a JsonDecoder);

impl<'de> serde::de::DeserializeSeed<'de> for FastSeed<'_> {
    type Value = Fast;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Fast, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FastSeed<'_> {
    type Value = Fast;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Fast, A::Error> {
        let d = self.0;
        let c = &d.columns;
        let mut out = Fast {
            key: None,
            time: None,
            label: None,
            features: vec![f32::NAN; d.features.len()],
            found: 0,
        };
        // Borrowed keys (no allocation); a key that cannot be borrowed fails and the full
        // parse takes over.
        while let Some(k) = map.next_key::<&'de str>()? {
            if c.key_column.as_deref() == Some(k) {
                out.key = Some(map.next_value()?);
            } else if c.time_column.as_deref() == Some(k) {
                out.time = Some(map.next_value()?);
            } else if c.label_column == k {
                out.label = Some(map.next_value()?);
            } else if let Some(i) = d.features.iter().position(|f| f == k) {
                let x: f64 = map.next_value()?;
                if out.features[i].is_nan() {
                    out.found += 1;
                }
                out.features[i] = x as f32;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(out)
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
    fn fast_and_full_paths_agree() {
        let d = JsonDecoder::new(&columns(Some("k"), Some("t")));
        for v in [
            &br#"{"k": 5, "t": 1000, "label": 1, "a": 0.5, "b": 2, "extra": [1, {"x": null}]}"#[..],
            br#"{"b": -3.25e-2, "a": 1e3, "label": 0, "t": 7, "k": 18446744073709551615}"#,
        ] {
            let fast = d
                .decode_fast(v, &meta(None))
                .expect("fast path takes plain objects");
            assert_eq!(fast, d.decode_full(Some(v), &meta(None)).unwrap());
        }
        // Escaped keys: whichever path takes them, the result is the same.
        let v = br#"{"k": 5, "t": 1000, "label": 1, "a": 0.5, "b": 2}"#;
        assert_eq!(
            d.decode(Some(v), &meta(None)).unwrap(),
            d.decode_full(Some(v), &meta(None)).unwrap()
        );
        assert_eq!(d.decode(Some(v), &meta(None)).unwrap().key, 5);
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
