//! Times and durations as the panel writes them, in UTC or in the browser's zone.
//!
//! Calendar arithmetic is done here (no date library); only the local zone's offset
//! comes from the browser (`Date.getTimezoneOffset`), so everything else is tested
//! natively.

/// How times are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeZone {
    /// The browser's time zone.
    #[default]
    Local,
    /// UTC.
    Utc,
}

impl TimeZone {
    /// URL name.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeZone::Local => "local",
            TimeZone::Utc => "utc",
        }
    }

    /// Reads [`TimeZone::as_str`]'s names.
    pub fn parse(s: &str) -> Result<TimeZone, String> {
        match s {
            "local" => Ok(TimeZone::Local),
            "utc" => Ok(TimeZone::Utc),
            _ => Err("use utc or local".into()),
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The `performance` of the page or of the worker this runs in.
fn performance() -> Option<web_sys::Performance> {
    use wasm_bindgen::JsCast;
    // Natively (the engine's tests) there is no browser to time.
    if !cfg!(target_arch = "wasm32") {
        return None;
    }
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .filter(|p| p.is_object())
        .map(|p| p.unchecked_into())
}

/// `performance.mark(name)`: the benchmarks read these marks (docs/benchmarks.md), on
/// the page and in the engine's worker.
pub fn mark(name: &str) {
    if let Some(p) = performance() {
        let _ = p.mark(name);
    }
}

/// `performance.measure(name, start_mark)`; with no start mark, from the page's start.
pub fn measure(name: &str, start_mark: Option<&str>) {
    if let Some(p) = performance() {
        let _ = match start_mark {
            Some(s) => p.measure_with_start_mark(name, s),
            None => p.measure(name),
        };
    }
}

/// Offset of `tz` from UTC at instant `ms`, in ms.
pub fn offset_ms(ms: i64, tz: TimeZone) -> i64 {
    match tz {
        TimeZone::Utc => 0,
        TimeZone::Local => local_offset_ms(ms),
    }
}

#[cfg(target_arch = "wasm32")]
fn local_offset_ms(ms: i64) -> i64 {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    -(d.get_timezone_offset() * 60_000.0) as i64
}

#[cfg(not(target_arch = "wasm32"))]
fn local_offset_ms(_ms: i64) -> i64 {
    0
}

/// Year, month (1-12), day, hour, minute, second, ms of a UTC instant.
pub fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = in_day / 1000;
    (
        y,
        m,
        d,
        (s / 3600) as u32,
        (s / 60 % 60) as u32,
        (s % 60) as u32,
        (in_day % 1000) as u32,
    )
}

/// Days since the epoch of a civil date (inverse of [`civil`]'s date part).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `14:05:09`.
pub fn fmt_clock(ms: i64, tz: TimeZone) -> String {
    let (_, _, _, h, mi, s, _) = civil(ms + offset_ms(ms, tz));
    format!("{h:02}:{mi:02}:{s:02}")
}

/// `14:05:09.250`.
pub fn fmt_clock_ms(ms: i64, tz: TimeZone) -> String {
    format!("{}.{:03}", fmt_clock(ms, tz), ms.rem_euclid(1_000))
}

/// `Nov 24 14:05:09.250`: a job's time in the list.
pub fn fmt_short(ms: i64, tz: TimeZone) -> String {
    let (_, mo, d, _, _, _, _) = civil(ms + offset_ms(ms, tz));
    format!("{} {d} {}", MONTHS[mo as usize - 1], fmt_clock_ms(ms, tz))
}

/// A bucket start as an axis label: `14:05`, `14:05:30` for sub-minute buckets, and
/// `Nov 24 14:05` when the window spans more than a day.
pub fn fmt_axis(ms: i64, tz: TimeZone, bucket_ms: i64, span_ms: i64) -> String {
    let (_, mo, d, h, mi, s, _) = civil(ms + offset_ms(ms, tz));
    let time = if bucket_ms < 60_000 {
        format!("{h:02}:{mi:02}:{s:02}")
    } else {
        format!("{h:02}:{mi:02}")
    };
    if span_ms > 86_400_000 {
        format!("{} {d} {time}", MONTHS[mo as usize - 1])
    } else {
        time
    }
}

/// `2026-11-24 14:05:09 UTC` (or the local zone's offset, `+01:00`).
pub fn fmt_datetime(ms: i64, tz: TimeZone) -> String {
    let off = offset_ms(ms, tz);
    let (y, mo, d, h, mi, s, _) = civil(ms + off);
    let zone = match tz {
        TimeZone::Utc => "UTC".to_string(),
        TimeZone::Local => {
            let sign = if off < 0 { '-' } else { '+' };
            let m = off.abs() / 60_000;
            format!("{sign}{:02}:{:02}", m / 60, m % 60)
        }
    };
    format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} {zone}")
}

/// The value of an `<input type="datetime-local">` for `ms` in `tz`.
pub fn to_input(ms: i64, tz: TimeZone) -> String {
    let (y, mo, d, h, mi, _, _) = civil(ms + offset_ms(ms, tz));
    format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}")
}

/// Reads `YYYY-MM-DDTHH:MM` (seconds optional) as a time in `tz`.
pub fn from_input(s: &str, tz: TimeZone) -> Option<i64> {
    let (date, time) = s.trim().split_once('T')?;
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let mo: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    let mut tp = time.split(':');
    let h: u32 = tp.next()?.parse().ok()?;
    let mi: u32 = tp.next()?.parse().ok()?;
    let s: u32 = tp.next().map_or(Some(0), |x| x.parse().ok())?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let wall = days_from_civil(y, mo, d) * 86_400_000 + i64::from(h * 3600 + mi * 60 + s) * 1000;
    // The offset at the wall time is close enough to the offset at the instant,
    // except within an hour of a DST change.
    Some(wall - offset_ms(wall, tz))
}

/// A duration for people: `850 ms`, `1.23 s`, `12.4 s`, `2 min 05 s`.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "–".into();
    }
    if ms < 1_000.0 {
        format!("{ms:.0} ms")
    } else if ms < 10_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as i64;
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// A count with thousands separators: `1,234,567`.
pub fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0, 0));
        // 2026-11-29 14:05:09.250 UTC
        let t = 1_795_961_109_250;
        assert_eq!(civil(t), (2026, 11, 29, 14, 5, 9, 250));
        assert_eq!(civil(951_782_400_000).1, 2, "2000-02-29");
        assert_eq!(civil(-1), (1969, 12, 31, 23, 59, 59, 999));
        assert_eq!(fmt_datetime(t, TimeZone::Utc), "2026-11-29 14:05:09 UTC");
        assert_eq!(fmt_clock(t, TimeZone::Utc), "14:05:09");
        assert_eq!(fmt_axis(t, TimeZone::Utc, 300_000, 3_600_000), "14:05");
        assert_eq!(fmt_axis(t, TimeZone::Utc, 5_000, 900_000), "14:05:09");
        assert_eq!(
            fmt_axis(t, TimeZone::Utc, 3_600_000, 7 * 86_400_000),
            "Nov 29 14:05"
        );
    }

    #[test]
    fn datetime_inputs_round_trip() {
        let t = 1_795_961_100_000; // 14:05:00
        assert_eq!(to_input(t, TimeZone::Utc), "2026-11-29T14:05");
        assert_eq!(from_input("2026-11-29T14:05", TimeZone::Utc), Some(t));
        assert_eq!(from_input("2026-11-29T14:05:00", TimeZone::Utc), Some(t));
        assert_eq!(from_input("2026-13-29T14:05", TimeZone::Utc), None);
        assert_eq!(from_input("yesterday", TimeZone::Utc), None);
        for ms in [0, 951_782_400_000, 4_102_444_800_000] {
            assert_eq!(
                from_input(&to_input(ms, TimeZone::Utc), TimeZone::Utc),
                Some(ms)
            );
        }
    }

    #[test]
    fn durations_and_counts() {
        assert_eq!(fmt_ms(850.4), "850 ms");
        assert_eq!(fmt_ms(1_234.0), "1.23 s");
        assert_eq!(fmt_ms(12_400.0), "12.4 s");
        assert_eq!(fmt_ms(125_000.0), "2 min 05 s");
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        assert_eq!(fmt_count(100), "100");
    }
}
