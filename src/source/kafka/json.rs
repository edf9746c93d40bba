//! Decoding JSON message values into samples, by the field names of `[source]`.

use serde_json::Value;

use crate::config::{ColumnSpec, TimeUnit};
use crate::source::decode;
use crate::source::{Origin, Rows, Sample};

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

    /// The columns it decodes.
    pub fn columns(&self) -> &ColumnSpec {
        &self.columns
    }

    /// Feature names, in input order.
    pub fn feature_names(&self) -> &[String] {
        &self.features
    }

    /// Decodes a message into `out`, read at `origin`; the error says what is wrong with it
    /// (then `out` is as it was).
    ///
    /// Fast path: one pass over the object picking the configured fields straight into `out`'s
    /// feature buffer, no `Value` tree and no allocation. Anything unusual (a missing or
    /// mistyped field, escaped keys, invalid JSON) falls back to the full parse, which names
    /// the problem.
    pub fn decode_into(
        &self,
        value: Option<&[u8]>,
        m: &MessageMeta<'_>,
        origin: Origin,
        out: &mut Rows,
    ) -> Result<(), String> {
        if let Some(v) = value {
            let n = out.features.len();
            out.features.resize(n + self.features.len(), f32::NAN);
            if let Some((key, time, label)) = self.decode_fast(v, m, &mut out.features[n..]) {
                out.keys.push(key);
                out.times.push(time);
                out.labels.push(label);
                out.origins.push(origin);
                return Ok(());
            }
            out.features.truncate(n);
        }
        let s = self.decode_full(value, m)?;
        out.push(s.key, s.time, s.label, &s.features, origin);
        Ok(())
    }

    /// Decodes a message on its own (see [`decode_into`](Self::decode_into)).
    pub fn decode(&self, value: Option<&[u8]>, m: &MessageMeta<'_>) -> Result<Sample, String> {
        let mut rows = Rows::new(self.features.len());
        self.decode_into(value, m, Origin::default(), &mut rows)?;
        Ok(rows.sample(0))
    }

    /// The fast path: key, time and label, with the features written to `features` (all NaN).
    fn decode_fast(
        &self,
        value: &[u8],
        m: &MessageMeta<'_>,
        features: &mut [f32],
    ) -> Option<(u64, u64, i64)> {
        let fields = self.scan(value, features)?;
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
            (Some(_), Some(Num::Int(t))) => match c.time_unit {
                TimeUnit::Ms => t,
                TimeUnit::S => decode::time_ms(t as f64, c.time_unit).ok()?,
            },
            (Some(_), Some(Num::Float(t))) => decode::time_ms(t, c.time_unit).ok()?,
            (Some(_), None) => return None,
            (None, _) => u64::try_from(m.timestamp_ms?).ok()?,
        };
        let label = match fields.label? {
            Num::Int(l) => decode::check_label(i64::try_from(l).ok()?, c.num_classes).ok()?,
            Num::Float(x) => decode::check_label(decode::integral(x)?, c.num_classes).ok()?,
        };
        if fields.found != self.features.len() || features.iter().any(|x| !x.is_finite()) {
            return None;
        }
        Some((key, time, label))
    }

    /// One pass over a flat JSON object picking the configured fields; `None` for anything the
    /// full parse must look at (escapes or non-ASCII text, nested values, a negative or
    /// non-numeric key or label, invalid JSON), so both paths accept and produce the same.
    fn scan(&self, v: &[u8], features: &mut [f32]) -> Option<Fast> {
        let c = &self.columns;
        let mut out = Fast {
            key: None,
            time: None,
            label: None,
            found: 0,
        };
        let mut r = Scanner { v, i: 0 };
        r.expect(b'{')?;
        // Producers write fields in a fixed order: guess the next feature first.
        let mut guess = 0;
        if r.peek_ws()? == b'}' {
            r.i += 1;
        } else {
            loop {
                let k = r.key()?;
                // A field read twice: the full parse names it (or takes the last value).
                if c.key_column.as_deref().is_some_and(|x| x.as_bytes() == k) {
                    if out.key.is_some() {
                        return None;
                    }
                    out.key = match r.number()? {
                        Num::Int(k) => Some(k),
                        // `5.0`: an integral key, as the full parse takes it.
                        Num::Float(x) => Some(u64::try_from(decode::integral(x)?).ok()?),
                    };
                } else if c.time_column.as_deref().is_some_and(|x| x.as_bytes() == k) {
                    if out.time.is_some() {
                        return None;
                    }
                    out.time = Some(r.number()?);
                } else if c.label_column.as_bytes() == k {
                    if out.label.is_some() {
                        return None;
                    }
                    out.label = Some(r.number()?);
                } else if let Some(i) = self
                    .features
                    .get(guess)
                    .filter(|f| f.as_bytes() == k)
                    .map(|_| guess)
                    .or_else(|| self.features.iter().position(|f| f.as_bytes() == k))
                {
                    let x = r.number()?.as_f64();
                    if !features[i].is_nan() {
                        return None;
                    }
                    out.found += 1;
                    features[i] = x as f32;
                    guess = i + 1;
                } else {
                    r.skip_value()?;
                }
                match r.next_ws()? {
                    b',' => {}
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        while r.i < v.len() {
            if !v[r.i].is_ascii_whitespace() {
                return None;
            }
            r.i += 1;
        }
        Some(out)
    }

    fn decode_full(&self, value: Option<&[u8]>, m: &MessageMeta<'_>) -> Result<Sample, String> {
        let value = value.ok_or("message has no value")?;
        let v: Value = serde_json::from_slice(value).map_err(|e| format!("invalid JSON: {e}"))?;
        let obj = v.as_object().ok_or("value is not a JSON object")?;
        let c = &self.columns;
        if !c.repeated_fields_last_wins
            && let Some(name) = self.repeated_field(value)
        {
            return Err(format!(
                "field `{name}` is written twice (source.repeated_fields = \"last_wins\" takes \
                 the last)"
            ));
        }
        let key = match &c.key_column {
            Some(k) => {
                let f = obj
                    .get(k)
                    .ok_or_else(|| format!("missing key field `{k}`"))?;
                // An unsigned integer, as a number (`5`, `5.0`) or a string (`"5"`, `"5.0"`).
                f.as_u64()
                    .or_else(|| {
                        let k = f.as_f64().and_then(decode::integral)?;
                        u64::try_from(k).ok()
                    })
                    .or_else(|| f.as_str().and_then(decode::parse_key))
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
        // An integer, as a number (`1`, `1.0`) or a string (`"1"`, `"1.0"`).
        let label = l
            .as_i64()
            .or_else(|| l.as_f64().and_then(decode::integral))
            .or_else(|| l.as_str().and_then(decode::parse_integral))
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
            origin: Origin::default(),
        })
    }
}

/// Fields picked by the fast path.
#[derive(Debug)]
struct Fast {
    key: Option<u64>,
    time: Option<Num>,
    label: Option<Num>,
    found: usize,
}

/// A JSON number: a non-negative integer literal that fits u64, or anything else as f64.
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(u64),
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(x) => x,
        }
    }
}

/// Scans ASCII digits from `*i`, accumulating the first 19 into `acc` and counting all in `n`;
/// false when there was none.
fn digits(v: &[u8], i: &mut usize, acc: &mut u64, n: &mut u32) -> bool {
    let s = *i;
    while let Some(d) = v.get(*i).filter(|b| b.is_ascii_digit()) {
        if *n < 19 {
            *acc = *acc * 10 + u64::from(d - b'0');
        }
        *n += 1;
        *i += 1;
    }
    *i > s
}

/// Powers of ten that f64 holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A cursor over a JSON text for [`JsonDecoder::scan`]; every method returns `None` where the
/// text is not what a plain JSON object holds.
struct Scanner<'a> {
    v: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    /// The next non-whitespace byte, not consumed.
    fn peek_ws(&mut self) -> Option<u8> {
        while let Some(b) = self.v.get(self.i) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(*b);
            }
            self.i += 1;
        }
        None
    }

    fn next_ws(&mut self) -> Option<u8> {
        let b = self.peek_ws()?;
        self.i += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.next_ws()? == b).then_some(())
    }

    /// `"key":` in printable ASCII without escapes; the key's bytes.
    fn key(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.i;
        let len = self.v[start..].iter().position(|b| *b == b'"')?;
        let k = &self.v[start..start + len];
        if k.iter().any(|b| *b == b'\\' || !(0x20..0x80).contains(b)) {
            return None;
        }
        self.i = start + len + 1;
        self.expect(b':')?;
        Some(k)
    }

    /// A number in strict JSON grammar, converted exactly: integers and short decimals
    /// (mantissa < 2^53, power of ten within ±22) by one correctly rounded float operation,
    /// everything else by the standard library's parser.
    fn number(&mut self) -> Option<Num> {
        self.peek_ws()?;
        let v = self.v;
        let start = self.i;
        let mut i = start;
        // Digits accumulate while they cannot overflow u64 (19 digits).
        let (mut mant, mut ndigits) = (0u64, 0u32);
        let negative = v.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        let int_start = i;
        if !digits(v, &mut i, &mut mant, &mut ndigits)
            || (v[int_start] == b'0' && i - int_start > 1)
        {
            return None;
        }
        let mut integer = !negative;
        let frac_start = i + 1;
        let mut frac_digits = 0;
        if v.get(i) == Some(&b'.') {
            i += 1;
            integer = false;
            if !digits(v, &mut i, &mut mant, &mut ndigits) {
                return None;
            }
            frac_digits = (i - frac_start) as i64;
        }
        let mut exp = 0i64;
        if matches!(v.get(i), Some(b'e' | b'E')) {
            i += 1;
            integer = false;
            let neg_exp = v.get(i) == Some(&b'-');
            if matches!(v.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let (mut e, mut n) = (0u64, 0u32);
            if !digits(v, &mut i, &mut e, &mut n) {
                return None;
            }
            exp = if n <= 6 { e as i64 } else { i64::MAX / 2 };
            if neg_exp {
                exp = -exp;
            }
        }
        let significant = ndigits;
        self.i = i;
        if significant <= 19 {
            if integer {
                return Some(Num::Int(mant));
            }
            let e10 = exp - frac_digits;
            if mant < (1 << 53) && (-22..=22).contains(&e10) {
                // Both operands are exact, so one IEEE operation rounds correctly.
                let x = mant as f64;
                let x = if e10 < 0 {
                    x / POW10[(-e10) as usize]
                } else {
                    x * POW10[e10 as usize]
                };
                return Some(Num::Float(if negative { -x } else { x }));
            }
        }
        // ASCII digits and signs only, so valid UTF-8.
        let text = std::str::from_utf8(&v[start..i]).ok()?;
        if integer && let Ok(n) = text.parse::<u64>() {
            return Some(Num::Int(n));
        }
        // Like serde_json, a number beyond f64's range is invalid JSON.
        text.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Num::Float)
    }

    /// Skips a scalar value: a plain string (printable ASCII, no escapes), a number or a
    /// literal. Nested objects and arrays are left to the full parse, which validates them.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek_ws()? {
            b'"' => {
                self.i += 1;
                let len = self.v[self.i..]
                    .iter()
                    .position(|b| *b == b'"' || *b == b'\\' || !(0x20..0x80).contains(b))?;
                self.i += len;
                (self.next_ws()? == b'"').then_some(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(|_| ()),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.v[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }
}

impl JsonDecoder {
    /// The first field Sluice reads (key, time, label, a feature) that `value`, a JSON object,
    /// writes twice.
    fn repeated_field(&self, value: &[u8]) -> Option<String> {
        let c = &self.columns;
        let read = |name: &str| {
            c.key_column.as_deref() == Some(name)
                || c.time_column.as_deref() == Some(name)
                || c.label_column == name
                || self.features.iter().any(|f| f == name)
        };
        let mut de = serde_json::Deserializer::from_slice(value);
        serde::Deserializer::deserialize_map(&mut de, Repeated { read: &read }).ok()?
    }
}

/// Visits a JSON object's fields, values ignored: the first field `read` accepts that comes
/// twice.
struct Repeated<'a> {
    read: &'a dyn Fn(&str) -> bool,
}

impl<'de> serde::de::Visitor<'de> for Repeated<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Reads to the end: the deserializer checks the object is closed after this returns.
        let (mut seen, mut first) = (std::collections::HashSet::new(), None);
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            map.next_value::<serde::de::IgnoredAny>()?;
            if first.is_none() && (self.read)(&name) && !seen.insert(name.clone()) {
                first = Some(name.into_owned());
            }
        }
        Ok(first)
    }
}

/// A message key as a sample key: decimal text, or 8 bytes big-endian.
pub(super) fn message_key(k: &[u8]) -> Result<u64, String> {
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

    impl JsonDecoder {
        /// The fast path's sample, if it takes `v`.
        fn fast(&self, v: &[u8], m: &MessageMeta<'_>) -> Option<Sample> {
            let mut features = vec![f32::NAN; self.features.len()];
            let (key, time, label) = self.decode_fast(v, m, &mut features)?;
            Some(Sample {
                key,
                time,
                label,
                features,
                origin: Origin::default(),
            })
        }
    }

    use decode::test_columns as columns;

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
                features: vec![0.5, 2.0],
                origin: Origin::default(),
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
            &br#"{"k": 5, "t": 1000, "label": 1, "a": 0.5, "b": 2, "x": "s", "y": null, "z": true}"#[..],
            br#"{"b": -3.25e-2, "a": 1e3, "label": 0, "t": 7, "k": 18446744073709551615}"#,
        ] {
            let fast = d
                .fast(v, &meta(None))
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

    /// Random messages from valid and broken fragments: whenever the fast path answers, the
    /// full parse gives the same sample, and it never accepts what the full parse rejects.
    #[test]
    fn fast_path_never_disagrees_with_full_parse() {
        use rand::{Rng, SeedableRng};
        let d = JsonDecoder::new(&columns(Some("k"), Some("t")));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let numbers = [
            "0",
            "7",
            "-3",
            "1.5",
            "-0.25e2",
            "1e400",
            "01",
            "1.",
            ".5",
            "2E+3",
            "-",
            "1e",
            "18446744073709551616",
            "9007199254740993",
            " 4 ",
            "\"5\"",
            "null",
            "true",
        ];
        let others = [
            "\"x\"",
            "\"a\\\"b\"",
            "\"é\"",
            "[1, {\"x\": null}]",
            "{}",
            "[1,,2]",
            "nul",
            "falsey",
        ];
        let names = ["k", "t", "label", "a", "b", "c", "\\u0061", "k"];
        let (mut fast, mut agreed) = (0, 0);
        for _ in 0..20_000 {
            let mut fields: Vec<String> = Vec::new();
            for (i, name) in ["k", "t", "label", "a", "b"].iter().enumerate() {
                if rng.random_bool(0.95) {
                    let v = if rng.random_bool(0.85) {
                        ["5", "1000", "1", "0.5", "-2e-3"][i]
                    } else {
                        numbers[rng.random_range(0..numbers.len())]
                    };
                    fields.push(format!("\"{name}\":{v}"));
                }
            }
            if rng.random_bool(0.3) {
                let n = names[rng.random_range(0..names.len())];
                let all: Vec<&str> = numbers.iter().chain(&others).copied().collect();
                let v = all[rng.random_range(0..all.len())];
                let at = rng.random_range(0..=fields.len());
                fields.insert(at, format!("\"{n}\": {v}"));
            }
            if rng.random_bool(0.5) {
                let i = rng.random_range(0..fields.len().max(1));
                let j = rng.random_range(0..fields.len().max(1));
                if i < fields.len() && j < fields.len() {
                    fields.swap(i, j);
                }
            }
            let sep = [",", ", ", " ,\n", ",,"][rng.random_range(0..4)];
            let mut text = format!("{{{}}}", fields.join(sep));
            if rng.random_bool(0.05) {
                text.pop();
            }
            if rng.random_bool(0.05) {
                text.push_str(" x");
            }
            let m = meta(None);
            let full = d.decode_full(Some(text.as_bytes()), &m);
            if let Some(s) = d.fast(text.as_bytes(), &m) {
                fast += 1;
                assert_eq!(Ok(s), full, "fast path disagrees on {text}");
            }
            agreed += full.is_ok() as usize;
        }
        // The fast path takes almost every valid message.
        assert!(
            fast * 10 >= agreed * 9,
            "fast path took {fast} of {agreed} valid messages"
        );
        // (A field Sluice reads written twice is refused: most of the 30% with an extra field.)
        assert!(agreed > 4_000 && agreed < 19_000, "{agreed} valid of 20000");
    }

    /// The scanner's number conversion is bit-exact against the standard library's parser.
    #[test]
    fn numbers_convert_exactly() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..200_000 {
            let digits: String = (0..rng.random_range(1..22))
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            let digits = digits.trim_start_matches('0');
            let digits = if digits.is_empty() { "0" } else { digits };
            let mut text = String::new();
            if rng.random_bool(0.3) {
                text.push('-');
            }
            let point = rng.random_range(0..=digits.len());
            if point == 0 || point == digits.len() {
                text.push_str(digits);
            } else {
                text.push_str(&digits[..point]);
                text.push('.');
                text.push_str(&digits[point..]);
            }
            if rng.random_bool(0.3) {
                text.push_str(&format!("e{}", rng.random_range(-40..40)));
            }
            let got = Scanner {
                v: text.as_bytes(),
                i: 0,
            }
            .number()
            .unwrap_or_else(|| panic!("{text} rejected"));
            match got {
                Num::Int(n) => assert_eq!(Ok(n), text.parse::<u64>(), "{text}"),
                Num::Float(x) => {
                    let want: f64 = text.parse().unwrap();
                    assert_eq!(x.to_bits(), want.to_bits(), "{text}");
                }
            }
        }
    }

    /// Regression (#24): pandas writes integer columns as `1.0` (and other producers as
    /// strings); labels `1.0`, `"1"` and key `5.0` were dead-lettered while key `"123"` was
    /// taken. Integral values in any of these forms decode; anything else is still rejected.
    #[test]
    fn integral_labels_and_keys_decode_in_any_numeric_form() {
        let d = JsonDecoder::new(&columns(Some("k"), Some("t")));
        for (k, label) in [
            ("5", "1.0"),
            ("5.0", "1"),
            ("\"5\"", "\"1\""),
            ("\"5.0\"", "\"1.0\""),
            ("5", "1e0"),
        ] {
            let v = format!(r#"{{"k": {k}, "t": 1000, "label": {label}, "a": 0.5, "b": 2}}"#);
            let s = d
                .decode(Some(v.as_bytes()), &meta(None))
                .unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!((s.key, s.label), (5, 1), "{v}");
        }
        let bad = |k: &str, label: &str| {
            let v = format!(r#"{{"k": {k}, "t": 1000, "label": {label}, "a": 0.5, "b": 2}}"#);
            d.decode(Some(v.as_bytes()), &meta(None)).unwrap_err()
        };
        assert_eq!(bad("5", "1.5"), "label `1.5` is not an integer");
        assert_eq!(bad("5", "\"1.5\""), "label `\"1.5\"` is not an integer");
        assert_eq!(bad("-5.0", "1"), "key `-5.0` is not an unsigned integer");
        assert_eq!(
            bad("\"-5\"", "1"),
            "key `\"-5\"` is not an unsigned integer"
        );
        assert_eq!(bad("5.5", "1"), "key `5.5` is not an unsigned integer");
        assert_eq!(bad("5", "2.0"), "label 2 outside 0..2");
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
    /// Regression (#24): an object writing the label twice trained on its last value,
    /// silently. A field Sluice reads written twice is now refused (by the fast path and the
    /// full parse alike), unless `repeated_fields = "last_wins"`; other fields may repeat.
    #[test]
    fn a_field_written_twice_is_refused_unless_last_wins() {
        let d = JsonDecoder::new(&columns(Some("k"), Some("t")));
        for (value, field) in [
            (r#"{"k":1,"t":5,"label":0,"label":1,"a":1,"b":2}"#, "label"),
            (r#"{"k":1,"t":5,"label":0,"a":1,"b":2,"a":3}"#, "a"),
            (r#"{"k":1,"k":2,"t":5,"label":0,"a":1,"b":2}"#, "k"),
            (r#"{"k":1,"t":5,"t":6,"label":0,"a":1,"b":2}"#, "t"),
            (r#"{"k":1,"t":5,"label":0,"a":1,"b":"2","b":2}"#, "b"),
        ] {
            let e = d.decode(Some(value.as_bytes()), &meta(None)).unwrap_err();
            assert!(
                e.starts_with(&format!("field `{field}` is written twice")),
                "{value}: {e}"
            );
        }
        let s = d
            .decode(
                Some(br#"{"k":1,"t":5,"note":"x","label":0,"a":1,"b":2,"note":"y"}"#),
                &meta(None),
            )
            .unwrap();
        assert_eq!(s.label, 0);
        let last = JsonDecoder::new(&ColumnSpec {
            repeated_fields_last_wins: true,
            ..columns(Some("k"), Some("t"))
        });
        let s = last
            .decode(
                Some(br#"{"k":1,"t":5,"label":0,"label":1,"a":1,"b":2}"#),
                &meta(None),
            )
            .unwrap();
        assert_eq!((s.label, s.features), (1, vec![1.0, 2.0]));
    }
}
