//! P70 / P90 / P98 of a duration over time: execution, delay or cold start time.

use std::sync::Arc;

use endpoint_core::{Aggregation, BucketStats, Distribution};
use leptos::prelude::*;

use crate::charts::chart_card::{BuildFn, ChartCard, PickFn, TipFn};
use crate::charts::options::{self, Ctx, Drawing, Kind, Series, TipRow, Unit};
use crate::charts::summary_value::{SummaryValue, count, duration};
use crate::jobs::view::{FocusKind, Pick};

/// Which duration a percentile chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Execution time (jobs that ran and ended, by end).
    Execution,
    /// Delay time (time in queue, by start).
    Delay,
    /// Cold start time (by the worker's ready time).
    ColdStart,
}

const NAMES: [&str; 3] = ["P70", "P90", "P98"];
const COLORS: [usize; 3] = [1, 0, 2];

fn dist<const M: u8>(b: &BucketStats) -> &Distribution {
    match M {
        0 => &b.execution,
        1 => &b.delay,
        _ => &b.cold_start,
    }
}

pub(crate) fn build<const M: u8>(agg: &Aggregation, ctx: &Ctx) -> Drawing {
    let series: Vec<Series> = (0..3)
        .map(|q| Series {
            name: NAMES[q],
            color: COLORS[q],
            values: options::quantile(agg, q, dist::<M>),
        })
        .collect();
    let mut d = options::option(agg, ctx, Kind::Line, Unit::Duration, &series);
    let counts: Vec<u64> = agg.buckets.iter().map(|b| dist::<M>(b).count).collect();
    if let Some(first) = d.option.series.first_mut() {
        first.more.mark_area = options::thin_buckets(&counts, &ctx.palette);
    }
    d
}

fn tip<const M: u8>(agg: &Aggregation, ctx: &Ctx, i: usize) -> String {
    let Some(b) = agg.buckets.get(i) else {
        return String::new();
    };
    let d = dist::<M>(b);
    let rows: Vec<TipRow> = (0..3)
        .map(|q| TipRow {
            color: COLORS[q],
            name: NAMES[q].into(),
            value: options::ms_or_dash(d.quantiles.get(q).copied().flatten()),
        })
        .collect();
    options::tooltip(agg, ctx, i, &rows, Some(d.count))
}

/// A click on a percentile point: the jobs of the bucket at or above its value (the
/// jobs behind a P98 spike).
fn pick<const M: u8>(agg: &Aggregation, i: usize, series: &str) -> Option<Pick> {
    let q = NAMES.iter().position(|n| *n == series)?;
    let v = dist::<M>(agg.buckets.get(i)?)
        .quantiles
        .get(q)
        .copied()
        .flatten()?;
    let kind = match M {
        0 => FocusKind::Execution,
        1 => FocusKind::Delay,
        _ => FocusKind::ColdStart,
    };
    Some(Pick::bucket(kind, &agg.window, i, Some(v)))
}

struct Spec {
    title: &'static str,
    description: &'static str,
    testid: &'static str,
    ids: [&'static str; 4],
    build: BuildFn,
    tip: TipFn,
    pick: fn(&BucketStats) -> &Distribution,
    click: PickFn,
}

fn spec(m: Metric) -> Spec {
    match m {
        Metric::Execution => Spec {
            title: "Execution time",
            description: "Line chart of the 70th, 90th and 98th percentile of job execution time per bucket, buckets of fewer than 5 samples shaded; the window percentiles are listed as text",
            testid: "chart-execution",
            ids: [
                "execution-p70",
                "execution-p90",
                "execution-p98",
                "execution-count",
            ],
            build: build::<0>,
            tip: tip::<0>,
            pick: dist::<0>,
            click: pick::<0>,
        },
        Metric::Delay => Spec {
            title: "Delay time",
            description: "Line chart of the 70th, 90th and 98th percentile of the time jobs waited in queue per bucket, buckets of fewer than 5 samples shaded; the window percentiles are listed as text",
            testid: "chart-delay",
            ids: ["delay-p70", "delay-p90", "delay-p98", "delay-count"],
            build: build::<1>,
            tip: tip::<1>,
            pick: dist::<1>,
            click: pick::<1>,
        },
        Metric::ColdStart => Spec {
            title: "Cold start time",
            description: "Line chart of the 70th, 90th and 98th percentile of worker cold start time per bucket, buckets of fewer than 5 samples shaded; the window percentiles are listed as text",
            testid: "chart-cold-start",
            ids: [
                "cold-start-p70",
                "cold-start-p90",
                "cold-start-p98",
                "cold-start-samples",
            ],
            build: build::<2>,
            tip: tip::<2>,
            pick: dist::<2>,
            click: pick::<2>,
        },
    }
}

/// A percentile chart and its window P70 / P90 / P98.
#[component]
pub fn PercentileChart(
    /// Which duration.
    metric: Metric,
    /// The numbers.
    #[prop(into)]
    data: Signal<Option<Arc<Aggregation>>>,
    /// Time zone, now and colours.
    #[prop(into)]
    ctx: Signal<Ctx>,
) -> impl IntoView {
    let s = spec(metric);
    let pick = s.pick;
    let q = move |i: usize| {
        Signal::derive(move || {
            data.with(|d| {
                d.as_ref()
                    .and_then(|a| pick(&a.total).quantiles.get(i).copied().flatten())
            })
        })
    };
    let n = Signal::derive(move || data.with(|d| d.as_ref().map(|a| pick(&a.total).count as f64)));
    view! {
        <ChartCard
            title=s.title
            description=s.description
            testid=s.testid
            data=data
            ctx=ctx
            options=s.build
            tip=s.tip
            pick=s.click
        >
            <SummaryValue label="P70" testid=s.ids[0] value=q(0) format=duration />
            <SummaryValue label="P90" testid=s.ids[1] value=q(1) format=duration />
            <SummaryValue label="P98" testid=s.ids[2] value=q(2) format=duration />
            <SummaryValue label="samples" testid=s.ids[3] value=n format=count />
        </ChartCard>
    }
}
