//! Requests over time: received, completed, failed, retried, cancelled, timed out.

use std::sync::Arc;

use endpoint_core::aggregate::RequestCounts;
use endpoint_core::{Aggregation, BucketStats};
use leptos::prelude::*;
use serde_json::Value;

use crate::chart_options::{self, Ctx, Kind, Series, TipRow, Unit};
use crate::components::chart_card::ChartCard;
use crate::components::summary_value::{SummaryValue, count};

type Pick = fn(&RequestCounts) -> u64;

/// The series: name, colour, field.
const SERIES: [(&str, usize, Pick); 6] = [
    ("received", 0, |r| r.received),
    ("completed", 1, |r| r.completed),
    ("failed", 2, |r| r.failed),
    ("retried", 3, |r| r.retried),
    ("cancelled", 5, |r| r.cancelled),
    ("timed out", 4, |r| r.timed_out),
];

fn build(agg: &Aggregation, ctx: &Ctx) -> Value {
    let series: Vec<Series> = SERIES
        .iter()
        .map(|&(name, color, pick)| Series {
            name,
            color,
            values: chart_options::counts(agg, ctx.now, |b: &BucketStats| pick(&b.requests)),
        })
        .collect();
    chart_options::option(agg, ctx, Kind::Line, Unit::Count, &series)
}

fn tip(agg: &Aggregation, ctx: &Ctx, i: usize) -> String {
    let Some(b) = agg.buckets.get(i) else {
        return String::new();
    };
    let rows: Vec<TipRow> = SERIES
        .iter()
        .map(|&(name, color, pick)| TipRow {
            color: ctx.palette.color(color).to_string(),
            name: name.into(),
            value: crate::time::fmt_count(pick(&b.requests)),
        })
        .collect();
    chart_options::tooltip(agg, ctx, i, &rows, None)
}

/// The requests chart and its window totals.
#[component]
pub fn RequestsChart(
    /// The numbers.
    #[prop(into)]
    data: Signal<Option<Arc<Aggregation>>>,
    /// Time zone, now and colours.
    #[prop(into)]
    ctx: Signal<Ctx>,
) -> impl IntoView {
    let total = move |pick: Pick| {
        Signal::derive(move || data.with(|d| d.as_ref().map(|a| pick(&a.total.requests) as f64)))
    };
    view! {
        <ChartCard
            title="Requests"
            description="Line chart of jobs received, completed, failed, retried, cancelled and timed out per bucket; the window totals are listed as text"
            testid="chart-requests"
            data=data
            ctx=ctx
            options=build
            tip=tip
        >
            <SummaryValue label="received" testid="total-received" value=total(SERIES[0].2) format=count />
            <SummaryValue label="completed" testid="total-completed" value=total(SERIES[1].2) format=count />
            <SummaryValue label="failed" testid="total-failed" value=total(SERIES[2].2) format=count />
            <SummaryValue label="retried" testid="total-retried" value=total(SERIES[3].2) format=count />
            <SummaryValue label="cancelled" testid="total-cancelled" value=total(SERIES[4].2) format=count />
            <SummaryValue label="timed out" testid="total-timed-out" value=total(SERIES[5].2) format=count />
        </ChartCard>
    }
}
