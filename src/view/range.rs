//! The time range a view covers and how it is cut into buckets.
//!
//! A live range ("last 1 h") ends at the end of the bucket holding now, so every
//! bucket has the same width and only the newest one is still filling; a custom range
//! is taken as given. The bucket width is chosen from round values so that a chart
//! has about 60 to 300 points, unless the user overrides it.

use endpoint_core::Window;
use endpoint_core::aggregate::MAX_BUCKETS;

const S: i64 = 1_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const D: i64 = 24 * H;

/// The preset ranges: URL name, label, length.
pub const PRESETS: [(&str, &str, i64); 5] = [
    ("15m", "15 min", 15 * M),
    ("1h", "1 hour", H),
    ("6h", "6 hours", 6 * H),
    ("24h", "24 hours", D),
    ("7d", "7 days", 7 * D),
];

/// Round bucket widths, ms.
pub const BUCKET_WIDTHS: [i64; 18] = [
    S,
    2 * S,
    5 * S,
    10 * S,
    15 * S,
    30 * S,
    M,
    2 * M,
    5 * M,
    10 * M,
    15 * M,
    30 * M,
    H,
    2 * H,
    3 * H,
    6 * H,
    12 * H,
    D,
];

/// Most points a chart gets from the automatic bucket width.
pub const MAX_POINTS: i64 = 300;

/// Longest range the feed serves (its retention).
pub const MAX_RANGE_MS: i64 = 7 * D;

/// What the user picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Range {
    /// The last `ms`, following now.
    Last(i64),
    /// A fixed `[from, to)`, ms since the epoch.
    Custom {
        /// Start.
        from: i64,
        /// End.
        to: i64,
    },
}

impl Default for Range {
    fn default() -> Self {
        Range::Last(H)
    }
}

impl Range {
    /// Its length, ms.
    pub fn span(&self) -> i64 {
        match *self {
            Range::Last(ms) => ms,
            Range::Custom { from, to } => to - from,
        }
    }

    /// True for a range that follows now.
    pub fn is_live(&self) -> bool {
        matches!(self, Range::Last(_))
    }

    /// The URL form: a preset name (`1h`), any duration (`90m`), or `from..to` in ms.
    pub fn to_param(&self) -> String {
        match *self {
            Range::Last(ms) => format_duration(ms),
            Range::Custom { from, to } => format!("{from}..{to}"),
        }
    }

    /// Reads [`Range::to_param`]'s form.
    pub fn parse(s: &str) -> Result<Range, String> {
        let range = if let Some((a, b)) = s.split_once("..") {
            let from: i64 = a
                .parse()
                .map_err(|_| format!("`{a}` is not a time in ms"))?;
            let to: i64 = b
                .parse()
                .map_err(|_| format!("`{b}` is not a time in ms"))?;
            if to <= from {
                return Err("the range ends before it starts".into());
            }
            Range::Custom { from, to }
        } else {
            Range::Last(parse_duration(s)?)
        };
        if range.span() > MAX_RANGE_MS {
            return Err("ranges are at most 7 days (the metrics retention)".into());
        }
        if range.span() < 10 * S {
            return Err("ranges are at least 10 s".into());
        }
        Ok(range)
    }
}

/// The smallest round width that gives at most [`MAX_POINTS`] buckets over `span`.
pub fn auto_bucket(span: i64) -> i64 {
    BUCKET_WIDTHS
        .iter()
        .copied()
        .find(|&w| span / w <= MAX_POINTS)
        .unwrap_or(D)
}

/// Fewest points the automatic width gives, when the data is too sparse for more.
pub const MIN_POINTS: i64 = 60;

/// Jobs a bucket should hold for its percentiles to mean something: with 20, P70 and
/// P90 interpolate between real neighbours and P98 lies between the two largest.
pub const MIN_SAMPLES: f64 = 20.0;

/// The automatic width for `span` holding `jobs`: the finest round width that
/// expects at least [`MIN_SAMPLES`] jobs per bucket, between [`MAX_POINTS`] and
/// [`MIN_POINTS`] points (sparser data gets the coarsest, denser the finest).
///
/// `current` is the width on screen: it is kept while it is still reasonable (its
/// buckets hold at least 70 % of [`MIN_SAMPLES`], and a finer width would hold less
/// than 130 %), so a rate near a threshold does not make the charts flip back and
/// forth between two widths.
pub fn auto_bucket_for(span: i64, jobs: u64, current: Option<i64>) -> i64 {
    let lo = auto_bucket(span);
    if jobs == 0 || span <= 0 {
        return lo;
    }
    let hi = BUCKET_WIDTHS
        .iter()
        .rev()
        .copied()
        .find(|&w| span / w >= MIN_POINTS)
        .unwrap_or(lo)
        .max(lo);
    let per = |w: i64| jobs as f64 * w as f64 / span as f64;
    let ideal = BUCKET_WIDTHS
        .iter()
        .copied()
        .filter(|&w| (lo..=hi).contains(&w))
        .find(|&w| per(w) >= MIN_SAMPLES)
        .unwrap_or(hi);
    if let Some(c) = current.filter(|c| (lo..=hi).contains(c) && BUCKET_WIDTHS.contains(c)) {
        let keep = match c.cmp(&ideal) {
            std::cmp::Ordering::Less => per(c) >= 0.7 * MIN_SAMPLES,
            std::cmp::Ordering::Greater => per(ideal) < 1.3 * MIN_SAMPLES,
            std::cmp::Ordering::Equal => true,
        };
        if keep {
            return c;
        }
    }
    ideal
}

/// The window for `range` at `now`, with `bucket` (or the automatic width). Widths
/// that would give more than endpoint-core's maximum of buckets are widened.
pub fn window_at(range: Range, bucket: Option<i64>, now: i64) -> Window {
    let span = range.span().max(1);
    let mut width = bucket.unwrap_or_else(|| auto_bucket(span)).max(1);
    while span / width >= MAX_BUCKETS {
        width *= 2;
    }
    let (from, to) = match range {
        Range::Last(_) => {
            let to = (now.div_euclid(width) + 1) * width;
            let n = (span + width - 1) / width;
            (to - n * width, to)
        }
        Range::Custom { from, to } => (from, to),
    };
    // Checked above: positive width, from < to, not too many buckets.
    Window::new(from, to, width).unwrap_or_else(|_| Window {
        from,
        to: from + width,
        bucket: width,
    })
}

/// `90m`, `1h`, `7d`, `500ms`, `30s` -> ms.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{s}` needs a unit (ms, s, m, h, d)"))?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| format!("`{s}` is not a duration"))?;
    let unit = match unit {
        "ms" => 1,
        "s" => S,
        "m" => M,
        "h" => H,
        "d" => D,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (ms, s, m, h, d)")),
    };
    n.checked_mul(unit)
        .filter(|&ms| ms > 0)
        .ok_or_else(|| format!("`{s}` is not a positive duration"))
}

/// The shortest exact form: `1h`, `90m`, `1500ms`.
pub fn format_duration(ms: i64) -> String {
    for (unit, name) in [(D, "d"), (H, "h"), (M, "m"), (S, "s")] {
        if ms % unit == 0 {
            return format!("{}{name}", ms / unit);
        }
    }
    format!("{ms}ms")
}

/// A human label: `5 min`, `1 h`, `30 s`.
pub fn label_duration(ms: i64) -> String {
    for (unit, name) in [(D, "d"), (H, "h"), (M, "min"), (S, "s")] {
        if ms % unit == 0 {
            return format!("{} {name}", ms / unit);
        }
    }
    format!("{ms} ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_width_follows_the_data_within_60_to_300_points() {
        // No data: the range alone decides (at most 300 points).
        assert_eq!(auto_bucket_for(H, 0, None), 15 * S);
        // The Demo's rate, ~600 jobs an hour: 15 s would leave 2.5 per bucket; the
        // coarsest width that keeps 60 points is 1 min (10 per bucket).
        assert_eq!(auto_bucket_for(H, 600, None), M);
        // 10 jobs a second: 15 s buckets hold 150.
        assert_eq!(auto_bucket_for(H, 36_000, None), 15 * S);
        // 2,400 an hour: 30 s holds exactly 20.
        assert_eq!(auto_bucket_for(H, 2_400, None), 30 * S);
        // A day of a million jobs: 5 min (288 points); a quiet day: 15 min (96 points).
        assert_eq!(auto_bucket_for(D, 1_000_000, None), 5 * M);
        assert_eq!(auto_bucket_for(D, 2_000, None), 15 * M);
        // 7 days: between 1 h (168 points) and 2 h (84 points).
        assert_eq!(auto_bucket_for(7 * D, 100, None), 2 * H);
        assert_eq!(auto_bucket_for(7 * D, 10_000_000, None), H);
        for span in [15 * M, H, 6 * H, D, 7 * D] {
            for jobs in [0, 1, 50, 1_000, 100_000, 60_000_000] {
                let w = auto_bucket_for(span, jobs, None);
                let points = span / w;
                assert!(points <= MAX_POINTS, "{span} {jobs}: {points}");
                assert!(
                    points >= MIN_POINTS || w == auto_bucket(span),
                    "{span} {jobs}: {points}"
                );
            }
        }
    }

    #[test]
    fn automatic_width_holds_near_a_threshold() {
        // 2,400 an hour wants 30 s; at 2,300 (19.2 per 30 s bucket) 30 s stays...
        assert_eq!(auto_bucket_for(H, 2_300, None), M);
        assert_eq!(auto_bucket_for(H, 2_300, Some(30 * S)), 30 * S);
        // ...until the buckets fall under 70 % of 20 (14 per bucket = 1,680 an hour).
        assert_eq!(auto_bucket_for(H, 1_600, Some(30 * S)), M);
        // Coarser on screen: a finer width must hold 130 % of 20 before it is taken.
        assert_eq!(auto_bucket_for(H, 2_500, Some(M)), M);
        assert_eq!(auto_bucket_for(H, 3_200, Some(M)), 30 * S);
        // A width on screen that the span does not allow is not kept.
        assert_eq!(auto_bucket_for(H, 2_300, Some(5 * M)), M);
    }

    #[test]
    fn automatic_buckets_give_60_to_300_points_for_every_preset() {
        for (_, _, span) in PRESETS {
            let n = span / auto_bucket(span);
            assert!((60..=300).contains(&n), "{span}: {n} points");
        }
        assert_eq!(auto_bucket(D), 5 * M);
        assert_eq!(auto_bucket(H), 15 * S);
    }

    #[test]
    fn live_windows_end_with_the_bucket_holding_now() {
        let now = 1_000 * H + 7 * M + 3 * S;
        let w = window_at(Range::Last(H), None, now);
        assert_eq!(w.bucket, 15 * S);
        assert!(w.to > now && w.to - w.bucket <= now, "{w:?}");
        assert_eq!(w.to - w.from, H);
        assert_eq!(w.from % w.bucket, 0);
        let c = window_at(
            Range::Custom {
                from: 10,
                to: 20 * S,
            },
            Some(S),
            now,
        );
        assert_eq!((c.from, c.to, c.bucket), (10, 20 * S, S));
        // An override that would give too many buckets is widened.
        let big = window_at(Range::Last(7 * D), Some(S), now);
        assert!(big.buckets() <= MAX_BUCKETS as usize);
    }

    #[test]
    fn ranges_round_trip_through_the_url() {
        for r in [
            Range::Last(15 * M),
            Range::Last(90 * M),
            Range::Last(7 * D),
            Range::Custom { from: 5, to: H },
        ] {
            assert_eq!(Range::parse(&r.to_param()), Ok(r));
        }
        assert!(Range::parse("8d").unwrap_err().contains("7 days"));
        assert!(Range::parse("1x").unwrap_err().contains("unknown unit"));
        assert!(Range::parse("9..3").is_err());
        assert_eq!(parse_duration("1500ms"), Ok(1500));
        assert_eq!(format_duration(1500), "1500ms");
        assert_eq!(label_duration(5 * M), "5 min");
    }
}
