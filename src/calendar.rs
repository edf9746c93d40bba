//! Civil dates ↔ days since 1970-01-01 (proleptic Gregorian, UTC), Howard Hinnant's
//! algorithms: run directory names, the packaged datasets' dates, and event times given on
//! the command line (`sluice run --replay-from`).

/// Days from 1970-01-01 to a date (negative before 1970).
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count from 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Parses an event time for the command line: Unix milliseconds (`1700000000000`), a date
/// (`2024-03-01`, midnight UTC) or a date and UTC time (`2024-03-01T12:30`, `…T12:30:05`,
/// `…T12:30:05.250`, an optional trailing `Z`; a space may replace the `T`).
pub fn parse_time(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "`{text}` is not an event time: give Unix milliseconds, YYYY-MM-DD or \
             YYYY-MM-DDTHH:MM[:SS[.mmm]][Z] (UTC)"
        )
    };
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| bad());
    }
    let t = t.strip_suffix('Z').unwrap_or(t);
    let (date, clock) = match t.split_once(['T', ' ']) {
        Some((d, c)) => (d, Some(c)),
        None => (t, None),
    };
    let num = |s: &str, digits: std::ops::RangeInclusive<usize>| -> Result<u32, String> {
        if !digits.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let mut ymd = date.split('-');
    let (Some(y), Some(m), Some(d), None) = (ymd.next(), ymd.next(), ymd.next(), ymd.next()) else {
        return Err(bad());
    };
    let (y, m, d) = (num(y, 4..=4)?, num(m, 2..=2)?, num(d, 2..=2)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y as i32, m) || y < 1970 {
        return Err(bad());
    }
    let mut ms = 0u64;
    if let Some(clock) = clock {
        let (hms, frac) = match clock.split_once('.') {
            Some((hms, f)) => (hms, Some(f)),
            None => (clock, None),
        };
        let mut parts = hms.split(':');
        let (Some(h), Some(min)) = (parts.next(), parts.next()) else {
            return Err(bad());
        };
        let sec = parts.next();
        if parts.next().is_some() || (frac.is_some() && sec.is_none()) {
            return Err(bad());
        }
        let (h, min) = (num(h, 2..=2)?, num(min, 2..=2)?);
        let sec = sec.map(|s| num(s, 2..=2)).transpose()?.unwrap_or(0);
        if h > 23 || min > 59 || sec > 59 {
            return Err(bad());
        }
        let frac = match frac {
            Some(f) => num(f, 1..=3)? * 10u32.pow(3 - f.len() as u32),
            None => 0,
        };
        ms = ((u64::from(h) * 60 + u64::from(min)) * 60 + u64::from(sec)) * 1000 + u64::from(frac);
    }
    Ok(days_from_civil(y as i32, m, d) as u64 * 86_400_000 + ms)
}

/// An event time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_time(ms: u64) -> String {
    let (days, rem) = (ms / 86_400_000, ms % 86_400_000);
    let (y, m, d) = civil_from_days(days as i64);
    let s = rem / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        rem % 1000
    )
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    (next - days_from_civil(y, m, 1)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_parse_from_milliseconds_dates_and_clock_times() {
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("0"), Ok(0));
        assert_eq!(parse_time("2024-01-01"), Ok(19_723 * 86_400_000));
        let noon = 19_723 * 86_400_000 + 12 * 3_600_000 + 30 * 60_000;
        assert_eq!(parse_time("2024-01-01T12:30"), Ok(noon));
        assert_eq!(parse_time("2024-01-01 12:30Z"), Ok(noon));
        assert_eq!(parse_time("2024-01-01T12:30:05"), Ok(noon + 5_000));
        assert_eq!(parse_time("2024-01-01T12:30:05.25Z"), Ok(noon + 5_250));
        assert_eq!(parse_time("2024-02-29"), Ok(19_782 * 86_400_000));
        for bad in [
            "",
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01",
            "2024-01-01T25:00",
            "2024-01-01T12",
            "2024-01-01T12:30:05.1234",
            "2024-01-01T12:30.5",
            "yesterday",
            "-5",
            "1e9",
            "2024-01-01T12:30:05+02:00",
        ] {
            let e = parse_time(bad).unwrap_err();
            assert!(
                e.contains(&format!("`{bad}`")) && e.contains("YYYY-MM-DD"),
                "{bad}: {e}"
            );
        }
        for t in [0, 1_700_000_000_123, noon] {
            assert_eq!(parse_time(&format_time(t)), Ok(t), "{}", format_time(t));
        }
        assert_eq!(format_time(noon + 5_250), "2024-01-01T12:30:05.250Z");
    }

    #[test]
    fn civil_dates_and_day_counts_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_322), (2000, 12, 31));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for days in [-719_468, -65_000, -1, 0, 11_323, 20_000, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y as i32, m, d), days, "{days}");
        }
    }
}
