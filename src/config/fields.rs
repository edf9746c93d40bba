//! Helpers every section's checks share: recording an error at its key path, deserialising a
//! section so that every bad key is reported, and the small value checks (positive counts,
//! time spans, topic names). A leaf: it imports nothing from the sections.

use serde::de::DeserializeOwned;
use toml::Value;

use super::error::ConfigError;

/// Records a problem at `key`.
pub(super) fn err(
    errors: &mut Vec<ConfigError>,
    key: impl Into<String>,
    message: impl Into<String>,
) {
    errors.push(ConfigError {
        key: key.into(),
        message: message.into(),
    });
}

/// Deserialises one section; on error records it, removes the offending key and retries, so
/// every bad key of the section is reported.
pub(super) fn section<T: DeserializeOwned>(
    mut value: Value,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    if !value.is_table() {
        err(errors, prefix, "expected a table");
        return None;
    }
    let mut failed = false;
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(v) => return (!failed).then_some(v),
            Err(e) => {
                let message = e.inner().to_string();
                // A key removed after an earlier error may now be reported missing: stop.
                if failed && message.starts_with("missing field") {
                    return None;
                }
                failed = true;
                let mut segments: Vec<String> = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                        serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                        _ => None,
                    })
                    .collect();
                if let Some(field) = unknown_field(&message)
                    && segments.last().map(String::as_str) != Some(field)
                {
                    segments.push(field.to_string());
                }
                let key = std::iter::once(prefix.to_string())
                    .chain(segments.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(".");
                err(errors, key, message);
                if segments.is_empty() || !remove(&mut value, &segments) {
                    return None;
                }
            }
        }
    }
    None
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn remove(value: &mut Value, path: &[String]) -> bool {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cur = value;
    for seg in parents {
        cur = match cur {
            Value::Table(t) => match t.get_mut(seg) {
                Some(v) => v,
                None => return false,
            },
            Value::Array(a) => match seg.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match cur {
        Value::Table(t) => t.remove(last).is_some(),
        // Removing an element would renumber the rest; replace it with a neutral value
        // of the wrong type is worse, so stop reporting inside arrays.
        _ => false,
    }
}

/// `<n><s|m|h|d|w|y>` (Modyn's time grammar; a year is 365 days) in milliseconds.
pub fn parse_span(text: &str) -> Result<u64, String> {
    let bad = || format!("expected <n><s|m|h|d|w|y> with n > 0 (e.g. \"1h\"), found `{text}`");
    let t = text.trim();
    let unit = t.chars().last().ok_or_else(bad)?;
    let secs: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'y' => 365 * 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = t[..t.len() - 1].parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    n.checked_mul(secs * 1000).ok_or_else(bad)
}

/// `v` as a count when it is > 0.
pub(super) fn positive(v: i64) -> Option<u64> {
    (v > 0).then_some(v as u64)
}

/// Checks that an optional integer is > 0, applying `default` when absent.
pub(super) fn positive_or(
    v: Option<i64>,
    default: u64,
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<u64> {
    match v {
        None => Some(default),
        Some(v) => {
            let p = positive(v);
            if p.is_none() {
                err(errors, key, "expected an integer > 0");
            }
            p
        }
    }
}

/// Whether `t` is a valid Kafka topic name.
pub(super) fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 249
        && t != "."
        && t != ".."
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
