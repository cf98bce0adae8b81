//! ECharts options for the Metrics tab's charts, built as JSON from an
//! [`Aggregation`]: no DOM, so the drawing rules are tested natively.
//!
//! The rules every chart follows:
//! - one point per bucket on a category axis of bucket starts (in UTC or local time);
//! - a bucket without data is a gap (`"-"`), never a zero: a percentile of no
//!   samples, workers before the first known state, buckets still in the future;
//! - the bucket still filling (the one holding now) is drawn apart: a dashed line
//!   segment, or a faded bar;
//! - colours come from the page's CSS custom properties ([`Palette`]), so a portal's
//!   theme reaches the charts.

use endpoint_core::{Aggregation, Distribution, Window};
use serde_json::{Value, json};

use crate::view::state::TimeZone;
use crate::view::time::{fmt_axis, fmt_count, fmt_datetime, fmt_ms};

/// Below this many samples a percentile point gets a warning in its tooltip.
pub const LOW_SAMPLES: u64 = 5;

/// Chart colours, read from CSS custom properties (`--em-chart-*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Palette {
    /// Text.
    pub text: String,
    /// Axis labels, secondary text.
    pub muted: String,
    /// Grid lines.
    pub grid: String,
    /// Tooltip background.
    pub surface: String,
    /// Font family.
    pub font: String,
    /// Series colours, in order.
    pub series: Vec<String>,
}

impl Default for Palette {
    fn default() -> Self {
        Palette {
            text: "#1b1f24".into(),
            muted: "#5b6570".into(),
            grid: "#e3e6ea".into(),
            surface: "#ffffff".into(),
            font: "system-ui, sans-serif".into(),
            series: [
                "#5b3fd6", "#17813c", "#c0262d", "#a35c00", "#0f6fb8", "#7a4b94",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl Palette {
    /// The `i`-th series colour (cycling).
    pub fn color(&self, i: usize) -> &str {
        &self.series[i % self.series.len().max(1)]
    }
}

/// What every chart needs besides its numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Ctx {
    /// Time zone of labels.
    pub tz: TimeZone,
    /// Now, ms since the epoch (decides the filling bucket and future gaps).
    pub now: i64,
    /// Colours.
    pub palette: Palette,
}

/// How a chart draws its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Lines.
    Line,
    /// Grouped bars.
    Bar,
    /// Stacked areas.
    Stack,
}

/// The y axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// A duration (values in ms; drawn in ms or s depending on size).
    Duration,
    /// An average number of workers.
    Workers,
}

/// One series: a name, a colour index and one value per bucket (`None`: gap).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: &'static str,
    /// Index into the palette.
    pub color: usize,
    /// One value per bucket.
    pub values: Vec<Option<f64>>,
}

/// The bucket holding `now`, if the window has it.
pub fn filling_bucket(w: &Window, now: i64) -> Option<usize> {
    w.bucket_of(now)
}

/// Whether bucket `i` starts after now (no data can be there yet).
pub fn is_future(w: &Window, i: usize, now: i64) -> bool {
    w.bounds(i).0 > now
}

/// Counts per bucket, with future buckets as gaps.
pub fn counts(
    agg: &Aggregation,
    now: i64,
    f: impl Fn(&endpoint_core::BucketStats) -> u64,
) -> Vec<Option<f64>> {
    agg.buckets
        .iter()
        .enumerate()
        .map(|(i, b)| (!is_future(&agg.window, i, now)).then(|| f(b) as f64))
        .collect()
}

/// Quantile `q` (index into the aggregation's quantiles) per bucket.
pub fn quantile(
    agg: &Aggregation,
    q: usize,
    f: impl Fn(&endpoint_core::BucketStats) -> &Distribution,
) -> Vec<Option<f64>> {
    agg.buckets
        .iter()
        .map(|b| f(b).quantiles.get(q).copied().flatten())
        .collect()
}

fn point(v: Option<f64>, scale: f64) -> Value {
    match v {
        Some(x) => json!((x / scale * 1000.0).round() / 1000.0),
        None => json!("-"),
    }
}

/// The option of a chart over `agg`'s window.
pub fn option(agg: &Aggregation, ctx: &Ctx, kind: Kind, unit: Unit, series: &[Series]) -> Value {
    let w = &agg.window;
    let span = w.to - w.from;
    let labels: Vec<String> = (0..w.buckets())
        .map(|i| fmt_axis(w.bounds(i).0, ctx.tz, w.bucket, span))
        .collect();
    let filling = filling_bucket(w, ctx.now);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let (scale, axis_name) = match unit {
        Unit::Count => (1.0, "jobs"),
        Unit::Workers => (1.0, "workers"),
        Unit::Duration if max >= 2_000.0 => (1_000.0, "seconds"),
        Unit::Duration => (1.0, "ms"),
    };
    let p = &ctx.palette;
    let mut out_series = Vec::new();
    for s in series {
        let color = p.color(s.color);
        match kind {
            Kind::Line | Kind::Stack => {
                // The filling bucket is left out of the solid line and drawn dashed
                // from the last complete bucket.
                let solid: Vec<Value> = s
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| point(if Some(i) == filling { None } else { *v }, scale))
                    .collect();
                // Isolated points between gaps are invisible without a symbol.
                let sparse = s.values.iter().filter(|v| v.is_none()).count() * 4 > s.values.len();
                let mut line = json!({
                    "name": s.name, "type": "line", "data": solid, "showSymbol": sparse,
                    "symbolSize": 4, "connectNulls": false, "color": color,
                    "lineStyle": {"width": 1.6}, "emphasis": {"focus": "series"},
                });
                if kind == Kind::Stack {
                    line["stack"] = json!("workers");
                    line["areaStyle"] = json!({"opacity": 0.55});
                    line["lineStyle"] = json!({"width": 0.8});
                }
                out_series.push(line);
                if let Some(f) = filling {
                    let dashed: Vec<Value> = s
                        .values
                        .iter()
                        .enumerate()
                        .map(|(i, v)| point(if i == f || i + 1 == f { *v } else { None }, scale))
                        .collect();
                    let mut d = json!({
                        "name": s.name, "type": "line", "data": dashed, "showSymbol": true,
                        "symbol": "emptyCircle", "symbolSize": 4, "connectNulls": false,
                        "color": color, "lineStyle": {"width": 1.4, "type": "dashed"},
                    });
                    if kind == Kind::Stack {
                        d["stack"] = json!("workers-filling");
                    }
                    out_series.push(d);
                }
            }
            Kind::Bar => {
                let data: Vec<Value> = s
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let y = point(*v, scale);
                        if Some(i) == filling {
                            json!({"value": y, "itemStyle": {"opacity": 0.4, "borderColor": color, "borderType": "dashed", "borderWidth": 1}})
                        } else {
                            y
                        }
                    })
                    .collect();
                out_series.push(json!({
                    "name": s.name, "type": "bar", "data": data, "color": color,
                    "barMaxWidth": 14, "emphasis": {"focus": "series"},
                }));
            }
        }
    }
    let axis_label = json!({"color": p.muted, "fontFamily": p.font, "fontSize": 11});
    json!({
        "animation": false,
        "textStyle": {"fontFamily": p.font, "color": p.text},
        "grid": {"left": 52, "right": 16, "top": 54, "bottom": 28},
        // One line, however wide the font (Firefox's is wider and taller): a legend
        // that wrapped ran into the y axis' name below it; the grid starts low enough
        // for the name to sit clear of the legend in both browsers.
        "legend": {
            "type": "scroll", "top": 0, "left": 0, "right": 0, "icon": "roundRect",
            "itemWidth": 12, "itemHeight": 8, "pageIconSize": 10,
            "pageTextStyle": {"color": p.muted},
            "textStyle": {"color": p.text, "fontSize": 12},
            "data": series.iter().map(|s| s.name).collect::<Vec<_>>(),
        },
        "tooltip": {
            "trigger": "axis", "confine": true,
            "backgroundColor": p.surface, "borderColor": p.grid,
            "textStyle": {"color": p.text, "fontSize": 12},
            "axisPointer": {"type": if kind == Kind::Bar { "shadow" } else { "line" }},
        },
        "xAxis": {
            "type": "category", "data": labels, "boundaryGap": kind == Kind::Bar,
            "axisLabel": axis_label, "axisLine": {"lineStyle": {"color": p.grid}},
            "axisTick": {"show": false},
        },
        "yAxis": {
            "type": "value", "name": axis_name, "min": 0,
            "minInterval": if unit == Unit::Count { 1 } else { 0 },
            "nameGap": 14, "nameTextStyle": {"color": p.muted, "fontSize": 11, "align": "left"},
            "axisLabel": axis_label,
            "splitLine": {"lineStyle": {"color": p.grid}},
        },
        "series": out_series,
    })
}

/// A count series: legend name, palette index, and the count of a bucket.
pub type CountSeries = (&'static str, usize, fn(&endpoint_core::BucketStats) -> u64);

/// The option of a chart of counts (future buckets are gaps).
pub fn counts_option(agg: &Aggregation, ctx: &Ctx, kind: Kind, series: &[CountSeries]) -> Value {
    let series: Vec<Series> = series
        .iter()
        .map(|&(name, color, pick)| Series {
            name,
            color,
            values: counts(agg, ctx.now, pick),
        })
        .collect();
    option(agg, ctx, kind, Unit::Count, &series)
}

/// The tooltip of bucket `i` of a chart of counts.
pub fn counts_tooltip(agg: &Aggregation, ctx: &Ctx, i: usize, series: &[CountSeries]) -> String {
    let Some(b) = agg.buckets.get(i) else {
        return String::new();
    };
    let rows: Vec<TipRow> = series
        .iter()
        .map(|&(name, color, pick)| TipRow {
            color,
            name: name.into(),
            value: fmt_count(pick(b)),
        })
        .collect();
    tooltip(agg, ctx, i, &rows, None)
}

/// One line of a tooltip: colour, name, value.
#[derive(Debug, Clone, PartialEq)]
pub struct TipRow {
    /// Series colour: its index in the palette (drawn with a class, `em-swatch-N`,
    /// not an inline style, so a strict CSP allows it).
    pub color: usize,
    /// Name.
    pub name: String,
    /// Value as shown.
    pub value: String,
}

/// A tooltip: the bucket's time span, one line per series, and notes (a low sample
/// count, a bucket still filling, a future bucket).
pub fn tooltip(
    agg: &Aggregation,
    ctx: &Ctx,
    i: usize,
    rows: &[TipRow],
    samples: Option<u64>,
) -> String {
    let w = &agg.window;
    if i >= w.buckets() {
        return String::new();
    }
    let (start, end) = w.bounds(i);
    let mut html = format!(
        "<div class=\"tip-time\">{} → {}</div>",
        fmt_datetime(start, ctx.tz),
        crate::view::time::fmt_clock(end, ctx.tz)
    );
    for r in rows {
        html.push_str(&format!(
            "<div class=\"tip-row\"><span class=\"tip-dot em-swatch-{}\"></span>{} <b>{}</b></div>",
            r.color % 6,
            escape(&r.name),
            escape(&r.value)
        ));
    }
    if let Some(n) = samples {
        if n > 0 && n < LOW_SAMPLES {
            html.push_str(&format!(
                "<div class=\"tip-warn\">⚠ only {n} sample{}: percentiles this thin are unreliable</div>",
                if n == 1 { "" } else { "s" }
            ));
        } else {
            html.push_str(&format!(
                "<div class=\"tip-note\">{} samples</div>",
                fmt_count(n)
            ));
        }
    }
    if is_future(w, i, ctx.now) {
        html.push_str("<div class=\"tip-note\">in the future: no data yet</div>");
    } else if filling_bucket(w, ctx.now) == Some(i) {
        html.push_str("<div class=\"tip-note\">still filling: numbers will change</div>");
    }
    html
}

/// A duration or a dash.
pub fn ms_or_dash(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), fmt_ms)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use endpoint_core::{Aggregator, JobRecord, JobStatus, JobStore};

    const T0: i64 = 1_795_958_400_000; // 2026-11-29 13:20 UTC

    fn agg() -> Aggregation {
        // Buckets of 1 min over 5 min; jobs finish in buckets 0 (2 of them) and 2.
        let w = Window::new(T0, T0 + 300_000, 60_000).unwrap();
        let mut store = JobStore::default();
        for (id, end, exec) in [
            ("a", 10_000, 100.0),
            ("b", 20_000, 300.0),
            ("c", 130_000, 5_000.0),
        ] {
            let mut r = JobRecord::queued(id, T0 + end - 6_000);
            r.status = JobStatus::Completed;
            r.started_at = Some(T0 + end - exec as i64);
            r.delay_time = Some((6_000 - exec as i64) as f64);
            r.execution_time = Some(exec);
            r.completed_at = Some(T0 + end);
            store.upsert(&r).unwrap();
        }
        Aggregator::from_store(w, &[0.7, 0.9, 0.98], &store)
            .unwrap()
            .result()
    }

    fn ctx(now: i64) -> Ctx {
        Ctx {
            tz: TimeZone::Utc,
            now,
            palette: Palette::default(),
        }
    }

    #[test]
    fn empty_buckets_are_gaps_and_the_filling_bucket_is_dashed() {
        let a = agg();
        let now = T0 + 150_000; // in bucket 2
        let p70 = quantile(&a, 0, |b| &b.execution);
        assert_eq!(p70[1], None, "no job ended in bucket 1");
        let o = option(
            &a,
            &ctx(now),
            Kind::Line,
            Unit::Duration,
            &[Series {
                name: "P70",
                color: 0,
                values: p70,
            }],
        );
        let s = o["series"].as_array().unwrap();
        assert_eq!(s.len(), 2, "solid + dashed filling segment");
        assert_eq!(s[0]["data"][1], "-", "gap, not zero");
        assert_eq!(
            s[0]["data"][2], "-",
            "the filling bucket is not on the solid line"
        );
        assert_eq!(s[1]["lineStyle"]["type"], "dashed");
        assert_eq!(s[1]["data"][2], 5.0, "drawn in seconds (max >= 2 s)");
        assert_eq!(o["yAxis"]["name"], "seconds");
        assert_eq!(o["xAxis"]["data"][0], "13:20");
        // Counts: future buckets are gaps, past empty buckets are real zeros.
        let done = counts(&a, now, |b| b.requests.completed);
        assert_eq!(done, vec![Some(2.0), Some(0.0), Some(1.0), None, None]);
        let o = option(
            &a,
            &ctx(now),
            Kind::Bar,
            Unit::Count,
            &[Series {
                name: "completed",
                color: 1,
                values: done,
            }],
        );
        assert_eq!(o["series"][0]["data"][2]["itemStyle"]["opacity"], 0.4);
        assert_eq!(o["series"][0]["data"][3], "-");
    }

    #[test]
    fn tooltips_warn_on_few_samples_and_name_the_filling_bucket() {
        let a = agg();
        let c = ctx(T0 + 150_000);
        let row = TipRow {
            color: 2,
            name: "P98".into(),
            value: "5.00 s".into(),
        };
        let t = tooltip(&a, &c, 2, std::slice::from_ref(&row), Some(1));
        assert!(t.contains("2026-11-29 13:22:00 UTC → 13:23:00"), "{t}");
        assert!(t.contains("only 1 sample:"), "{t}");
        assert!(t.contains("still filling"), "{t}");
        let t = tooltip(&a, &c, 0, &[row], Some(40));
        assert!(!t.contains("unreliable") && t.contains("40 samples"), "{t}");
        assert!(tooltip(&a, &c, 4, &[], None).contains("in the future"));
        assert_eq!(tooltip(&a, &c, 99, &[], None), "");
    }
}
