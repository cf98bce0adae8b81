//! ECharts options for the Metrics tab's charts, built with charming's typed builders
//! from an [`Aggregation`]: no DOM, so the drawing rules are tested natively, and each
//! chart's option is snapshot as JSON (`src/charts/snapshots/`).
//!
//! The rules every chart follows:
//! - one point per bucket on a category axis of bucket starts (in UTC or local time);
//! - a bucket without data is a gap (`"-"`), never a zero: a percentile of no
//!   samples, workers before the first known state, buckets still in the future;
//! - the bucket still filling (the one holding now) is drawn apart: a dashed line
//!   segment, or a faded bar;
//! - colours come from the page's CSS custom properties ([`Palette`]), so a portal's
//!   theme reaches the charts.
//!
//! Where charming has no field for what ECharts takes (a series' `color`, a bar's
//! `barMaxWidth`, a mark area by bucket index, the tooltip's `confine`, the legend's icon and page controls, a cartesian
//! axis line's colour), its type is wrapped in [`With`], which flattens our few extra
//! fields into the same JSON object: still typed, never raw JSON.

use charming::component::{Axis, Grid, Legend, LegendType};
use charming::datatype::{CompositeValue, DataPoint, DataPointItem};
use charming::element::{
    AreaStyle, AxisLabel, AxisPointer, AxisPointerType, AxisTick, AxisType, BorderType, Emphasis,
    EmphasisFocus, Formatter, Icon, ItemStyle, LineStyle, LineStyleType, MarkArea, SplitLine,
    Symbol, TextStyle, Tooltip, Trigger,
};
use charming::series::{Bar, Line};
use endpoint_core::{Aggregation, Distribution, Window};
use serde::Serialize;

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

/// A charming type with the few ECharts fields it lacks, serialized as one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct With<T, M> {
    /// charming's part.
    #[serde(flatten)]
    pub base: T,
    /// Ours.
    #[serde(flatten)]
    pub more: M,
}

/// What a series needs beyond charming's `Line` / `Bar`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesMore {
    /// The series' colour (line, symbols, area, legend icon and tooltip dot).
    pub color: String,
    /// A bar's widest width, px (bars of a short window stay slim).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bar_max_width: Option<f64>,
    /// Shaded spans of buckets (see [`thin_buckets`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark_area: Option<With<MarkArea, Spans>>,
}

/// A mark area's spans by bucket index (charming's `MarkAreaData` takes a category's
/// name, and two buckets can share a label).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spans {
    /// `[[{xAxis: first}, {xAxis: last}], ...]`.
    pub data: Vec<[Edge; 2]>,
}

/// One edge of a span.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    /// The bucket's index on the category axis.
    pub x_axis: usize,
}

/// Shades the runs of buckets whose percentiles rest on fewer than [`LOW_SAMPLES`]
/// samples (but some), so a thin point reads as such without hovering it; the
/// tooltip of such a point says how thin it is. `None` when no bucket is thin.
pub fn thin_buckets(counts: &[u64], palette: &Palette) -> Option<With<MarkArea, Spans>> {
    let thin = |n: u64| n > 0 && n < LOW_SAMPLES;
    let mut data = Vec::new();
    let mut i = 0;
    while i < counts.len() {
        if thin(counts[i]) {
            let start = i;
            while i + 1 < counts.len() && thin(counts[i + 1]) {
                i += 1;
            }
            data.push([Edge { x_axis: start }, Edge { x_axis: i }]);
        }
        i += 1;
    }
    (!data.is_empty()).then(|| With {
        base: MarkArea::new()
            .silent(true)
            .item_style(ItemStyle::new().color(palette.muted.as_str()).opacity(0.1)),
        more: Spans { data },
    })
}

/// What the tooltip needs beyond charming's `Tooltip`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TooltipMore {
    /// Kept inside the chart (a card near the page edge does not clip it).
    pub confine: bool,
    /// Its text.
    pub text_style: TextStyle,
}

/// What the legend needs beyond charming's `Legend`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegendMore {
    /// Every item's icon (charming has it per item only).
    pub icon: Icon,
    /// The size of the scroll legend's page arrows, px.
    pub page_icon_size: f64,
    /// The style of its "1/2" page counter.
    pub page_text_style: TextStyle,
}

/// A cartesian axis line's colour (charming's `AxisLine` carries a gauge's colour
/// stops instead).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AxisMore {
    /// The axis line.
    pub axis_line: AxisLineColor,
}

/// `axisLine: {lineStyle: {color}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AxisLineColor {
    /// Its style.
    pub line_style: LineStyle,
}

/// A series: a line or bars (boxed: charming's `Line` is 5 KB). Not charming's
/// `Series` enum: serializing that links the code of every series type charming knows
/// (3D bars, sankeys, maps...) into the wasm.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ChartSeries {
    /// Lines and stacked areas.
    Line(Box<Line>),
    /// Bars.
    Bar(Box<Bar>),
}

/// A chart's whole option as ECharts receives it, made of charming's component types.
/// Not charming's `Chart`: its serializer reaches every component and series type
/// charming has, about 90 KB of gzipped wasm the panel never uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartOption {
    /// Always off: live refreshes redraw in place.
    pub animation: bool,
    /// The chart's default text.
    pub text_style: TextStyle,
    /// Where the plot sits in the card.
    pub grid: Grid,
    /// The legend.
    pub legend: With<Legend, LegendMore>,
    /// The tooltip (its formatter is set by the binding: a Rust closure).
    pub tooltip: With<Tooltip, TooltipMore>,
    /// The x axis: bucket starts.
    pub x_axis: With<Axis, AxisMore>,
    /// The y axis: the values.
    pub y_axis: Axis,
    /// The series.
    pub series: Vec<With<ChartSeries, SeriesMore>>,
}

impl ChartOption {
    /// The option with `formatter` as its tooltip's formatter.
    pub fn with_formatter(mut self, formatter: Formatter) -> Self {
        let tip = std::mem::replace(&mut self.tooltip.base, Tooltip::new());
        self.tooltip.base = tip.formatter(formatter);
        self
    }
}

/// One series as drawn: its name and its values in the axis' unit (what a click is
/// matched against).
pub type Drawn = (String, Vec<Option<f64>>);

/// A chart's option and the values it draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawing {
    /// The option.
    pub option: ChartOption,
    /// Each series' values as drawn.
    pub drawn: Vec<Drawn>,
}

/// A value in the axis' unit, rounded to 3 decimals.
fn scaled(v: Option<f64>, scale: f64) -> Option<f64> {
    v.map(|x| (x / scale * 1000.0).round() / 1000.0)
}

/// A point, or a gap (`"-"`).
fn point(v: Option<f64>) -> DataPoint {
    match v {
        Some(x) => DataPoint::from(x),
        None => DataPoint::from("-"),
    }
}

/// The option of a chart over `agg`'s window.
pub fn option(agg: &Aggregation, ctx: &Ctx, kind: Kind, unit: Unit, series: &[Series]) -> Drawing {
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
    let more = |color: &str, bar_max_width| SeriesMore {
        color: color.to_string(),
        bar_max_width,
        mark_area: None,
    };
    let mut out_series = Vec::new();
    let mut drawn = Vec::new();
    for s in series {
        let color = p.color(s.color);
        let values: Vec<Option<f64>> = s.values.iter().map(|v| scaled(*v, scale)).collect();
        match kind {
            Kind::Line | Kind::Stack => {
                // The filling bucket is left out of the solid line and drawn dashed
                // from the last complete bucket.
                let solid: Vec<Option<f64>> = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| if Some(i) == filling { None } else { *v })
                    .collect();
                // Isolated points between gaps are invisible without a symbol.
                let sparse = values.iter().filter(|v| v.is_none()).count() * 4 > values.len();
                let mut line = Line::new()
                    .name(s.name)
                    .data(solid.iter().map(|v| point(*v)).collect())
                    .show_symbol(sparse)
                    .symbol_size(4)
                    .connect_nulls(false)
                    .emphasis(Emphasis::new().focus(EmphasisFocus::Series));
                line = if kind == Kind::Stack {
                    line.stack("workers")
                        .area_style(AreaStyle::new().opacity(0.55))
                        .line_style(LineStyle::new().width(0.8))
                } else {
                    line.line_style(LineStyle::new().width(1.6))
                };
                out_series.push(With {
                    base: ChartSeries::Line(Box::new(line)),
                    more: more(color, None),
                });
                drawn.push((s.name.to_string(), solid));
                if let Some(f) = filling {
                    let dashed: Vec<Option<f64>> = values
                        .iter()
                        .enumerate()
                        .map(|(i, v)| if i == f || i + 1 == f { *v } else { None })
                        .collect();
                    let mut d = Line::new()
                        .name(s.name)
                        .data(dashed.iter().map(|v| point(*v)).collect())
                        .show_symbol(true)
                        .symbol(Symbol::Custom("emptyCircle".into()))
                        .symbol_size(4)
                        .connect_nulls(false)
                        .line_style(LineStyle::new().width(1.4).type_(LineStyleType::Dashed));
                    if kind == Kind::Stack {
                        d = d.stack("workers-filling");
                    }
                    out_series.push(With {
                        base: ChartSeries::Line(Box::new(d)),
                        more: more(color, None),
                    });
                    drawn.push((s.name.to_string(), dashed));
                }
            }
            Kind::Bar => {
                let data: Vec<DataPoint> = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        if Some(i) == filling {
                            let value = v.map_or(CompositeValue::from("-"), CompositeValue::from);
                            DataPointItem::new(value)
                                .item_style(
                                    ItemStyle::new()
                                        .opacity(0.4)
                                        .border_color(color)
                                        .border_type(BorderType::Dashed)
                                        .border_width(1),
                                )
                                .into()
                        } else {
                            point(*v)
                        }
                    })
                    .collect();
                let bar = Bar::new()
                    .name(s.name)
                    .data(data)
                    .emphasis(Emphasis::new().focus(EmphasisFocus::Series));
                out_series.push(With {
                    base: ChartSeries::Bar(Box::new(bar)),
                    more: more(color, Some(14.0)),
                });
                drawn.push((s.name.to_string(), values));
            }
        }
    }
    let axis_label = || {
        AxisLabel::new()
            .color(p.muted.as_str())
            .font_family(p.font.as_str())
            .font_size(11)
    };
    let option = ChartOption {
        animation: false,
        // One line of legend, however wide the font (Firefox's is wider and taller):
        // the grid starts low enough for the y axis' name to sit clear of it in both
        // browsers.
        grid: Grid::new().left(52).right(16).top(54).bottom(28),
        y_axis: Axis::new()
            .type_(AxisType::Value)
            .name(axis_name)
            .min(0)
            .min_interval(if unit == Unit::Count { 1.0 } else { 0.0 })
            .name_gap(14)
            .name_text_style(
                TextStyle::new()
                    .color(p.muted.as_str())
                    .font_size(11)
                    .align("left"),
            )
            .axis_label(axis_label())
            .split_line(SplitLine::new().line_style(LineStyle::new().color(p.grid.as_str()))),
        text_style: TextStyle::new()
            .font_family(p.font.as_str())
            .color(p.text.as_str()),
        legend: With {
            // A scroll legend is always one line: a legend that wrapped ran into the y
            // axis' name below it.
            base: Legend::new()
                .type_(LegendType::Scroll)
                .top(0)
                .left(0)
                .right(0)
                .item_width(12)
                .item_height(8)
                .text_style(TextStyle::new().color(p.text.as_str()).font_size(12))
                .data(series.iter().map(|s| s.name).collect()),
            more: LegendMore {
                icon: Icon::RoundRect,
                page_icon_size: 10.0,
                page_text_style: TextStyle::new().color(p.muted.as_str()),
            },
        },
        tooltip: With {
            base: Tooltip::new()
                .trigger(Trigger::Axis)
                .background_color(p.surface.as_str())
                .border_color(p.grid.as_str())
                .axis_pointer(AxisPointer::new().type_(if kind == Kind::Bar {
                    AxisPointerType::Shadow
                } else {
                    AxisPointerType::Line
                })),
            more: TooltipMore {
                confine: true,
                text_style: TextStyle::new().color(p.text.as_str()).font_size(12),
            },
        },
        x_axis: With {
            base: Axis::new()
                .type_(AxisType::Category)
                .data(labels)
                .boundary_gap(kind == Kind::Bar)
                .axis_label(axis_label())
                .axis_tick(AxisTick::new().show(false)),
            more: AxisMore {
                axis_line: AxisLineColor {
                    line_style: LineStyle::new().color(p.grid.as_str()),
                },
            },
        },
        series: out_series,
    };
    Drawing { option, drawn }
}

/// A count series: legend name, palette index, and the count of a bucket.
pub type CountSeries = (&'static str, usize, fn(&endpoint_core::BucketStats) -> u64);

/// The option of a chart of counts (future buckets are gaps).
pub fn counts_option(agg: &Aggregation, ctx: &Ctx, kind: Kind, series: &[CountSeries]) -> Drawing {
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

    /// The option as ECharts would receive it (natively, through serde_json).
    fn json(d: Drawing) -> serde_json::Value {
        serde_json::to_value(&d.option).unwrap()
    }

    /// Each chart's whole option over the fixture, as JSON: a change to what ECharts
    /// is given shows in review (`cargo insta review`, or `INSTA_UPDATE=always`).
    #[test]
    fn every_charts_option_matches_its_snapshot() {
        use crate::charts::{
            cold_start_count_chart, percentile_chart, requests_chart, webhook_chart, worker_chart,
        };
        let a = agg();
        let c = ctx(T0 + 150_000);
        insta::assert_json_snapshot!("execution", json(percentile_chart::build::<0>(&a, &c)));
        insta::assert_json_snapshot!("requests", json(requests_chart::build(&a, &c)));
        insta::assert_json_snapshot!("webhooks", json(webhook_chart::build(&a, &c)));
        insta::assert_json_snapshot!(
            "cold_start_count",
            json(cold_start_count_chart::build(&a, &c))
        );
        insta::assert_json_snapshot!("workers", json(worker_chart::build(&a, &c)));
    }

    #[test]
    fn runs_of_thin_buckets_are_shaded_as_one_span_each() {
        let spans = |counts: &[u64]| -> Vec<(usize, usize)> {
            thin_buckets(counts, &Palette::default())
                .map(|m| {
                    m.more
                        .data
                        .iter()
                        .map(|[a, b]| (a.x_axis, b.x_axis))
                        .collect()
                })
                .unwrap_or_default()
        };
        // Empty buckets are gaps, not thin; 5 samples are enough.
        assert_eq!(spans(&[0, 3, 4, 10, 1, 0, 2]), vec![(1, 2), (4, 4), (6, 6)]);
        assert_eq!(spans(&[0, 5, 9, 0]), vec![]);
        assert_eq!(spans(&[1, 1, 1]), vec![(0, 2)]);
        let a = agg();
        let o = json(crate::charts::percentile_chart::build::<0>(
            &a,
            &ctx(T0 + 150_000),
        ));
        // Buckets 0 (2 jobs) and 2 (1 job) are thin, on the first series only.
        assert_eq!(
            o["series"][0]["markArea"]["data"],
            serde_json::json!([[{"xAxis": 0}, {"xAxis": 0}], [{"xAxis": 2}, {"xAxis": 2}]])
        );
        assert_eq!(o["series"][1].get("markArea"), None);
    }

    #[test]
    fn the_drawn_values_are_the_points_in_the_axis_unit() {
        let a = agg();
        let d = crate::charts::percentile_chart::build::<0>(&a, &ctx(T0 + 150_000));
        // P70 solid line, its dashed filling twin, P90, ..., in seconds.
        assert_eq!(d.drawn.len(), 6);
        assert_eq!(d.drawn[0].0, "P70");
        assert_eq!(
            d.drawn[1].1[2],
            Some(5.0),
            "the filling bucket, on the dashed twin"
        );
        let o = json(d);
        assert_eq!(o["series"][1]["data"][2], 5.0);
        assert_eq!(o["series"][0]["color"], Palette::default().series[1]);
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
        let o = json(option(
            &a,
            &ctx(now),
            Kind::Line,
            Unit::Duration,
            &[Series {
                name: "P70",
                color: 0,
                values: p70,
            }],
        ));
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
        let o = json(option(
            &a,
            &ctx(now),
            Kind::Bar,
            Unit::Count,
            &[Series {
                name: "completed",
                color: 1,
                values: done,
            }],
        ));
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
