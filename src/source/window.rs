//! The event-time window of a replay (`sluice run --replay-from / --replay-until`).

use serde::{Deserialize, Serialize};

use crate::calendar::format_time;

/// Samples at `from <= time < until` (event time, Unix ms) are read; an end not given is open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// First event time read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    /// First event time not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
}

impl Window {
    /// A window; `Err` names the options when it is empty (`until <= from`).
    pub fn new(from: Option<u64>, until: Option<u64>) -> Result<Self, String> {
        let w = Self { from, until };
        if let (Some(f), Some(u)) = (from, until)
            && u <= f
        {
            return Err(format!(
                "--replay-until ({}) must be after --replay-from ({})",
                format_time(u),
                format_time(f)
            ));
        }
        Ok(w)
    }

    /// Neither end given: everything is read.
    pub fn is_unbounded(&self) -> bool {
        self.from.is_none() && self.until.is_none()
    }

    /// Whether a sample at `time` is read.
    pub fn contains(&self, time: u64) -> bool {
        self.from.is_none_or(|f| time >= f) && self.until.is_none_or(|u| time < u)
    }

    /// Whether a sample at `time` is at or after the window's end.
    pub fn is_past(&self, time: u64) -> bool {
        self.until.is_some_and(|u| time >= u)
    }

    /// Whether data spanning `[first, last]` has a sample time in the window.
    pub fn overlaps(&self, first: u64, last: u64) -> bool {
        self.from.is_none_or(|f| last >= f) && self.until.is_none_or(|u| first < u)
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = |t: Option<u64>| t.map_or_else(|| "…".to_string(), format_time);
        write!(f, "[{}, {})", end(self.from), end(self.until))
    }
}

/// The latest event time a sample read now may have: `max_future_ms` past the wall clock
/// (`u64::MAX`: no bound).
pub fn ceiling(max_future_ms: Option<u64>) -> u64 {
    max_future_ms.map_or(u64::MAX, |m| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        now.saturating_add(m)
    })
}

/// Why a sample at `time` after `ceiling` is dead-lettered.
pub fn future_reason(which: &str, time: u64, ceiling: u64) -> String {
    format!(
        "future: {which}event time {time} ({}) is after {ceiling} ({}), the wall clock plus \
         source.max_future",
        crate::calendar::format_time(time),
        crate::calendar::format_time(ceiling)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reads_from_its_start_up_to_but_not_including_its_end() {
        let w = Window::new(Some(10), Some(20)).unwrap();
        assert!(!w.contains(9) && w.contains(10) && w.contains(19) && !w.contains(20));
        assert!(!w.is_past(19) && w.is_past(20));
        assert!(w.overlaps(0, 10) && w.overlaps(19, 30) && w.overlaps(0, 100));
        assert!(!w.overlaps(0, 9) && !w.overlaps(20, 30));
        let open = Window::default();
        assert!(open.is_unbounded() && open.contains(0) && open.contains(u64::MAX));
        assert!(open.overlaps(5, 5) && !open.is_past(u64::MAX));
        let from = Window::new(Some(10), None).unwrap();
        assert!(!from.is_unbounded() && from.contains(u64::MAX) && !from.contains(9));
        let e = Window::new(Some(20), Some(20)).unwrap_err();
        assert!(
            e.contains("--replay-until") && e.contains("1970-01-01T00:00:00.020Z"),
            "{e}"
        );
        assert_eq!(
            Window::new(Some(0), Some(86_400_000)).unwrap().to_string(),
            "[1970-01-01T00:00:00.000Z, 1970-01-02T00:00:00.000Z)"
        );
        assert_eq!(
            Window::new(None, Some(0)).unwrap().to_string(),
            "[…, 1970-01-01T00:00:00.000Z)"
        );
    }
}
