//! Requests over time: received, completed, failed, retried, cancelled, timed out.

use std::sync::Arc;

use endpoint_core::Aggregation;
use leptos::prelude::*;

use crate::charts::chart_card::ChartCard;
use crate::charts::options::{self, CountSeries, Ctx, Drawing, Kind};
use crate::charts::summary_value::{SummaryValue, count};
use crate::jobs::view::{FocusKind, Pick};
use endpoint_core::JobStatus;
use endpoint_core::query::StatusSet;

/// The series: name, colour, count.
const SERIES: [CountSeries; 6] = [
    ("received", 0, |b| b.requests.received),
    ("completed", 1, |b| b.requests.completed),
    ("failed", 2, |b| b.requests.failed),
    ("retried", 3, |b| b.requests.retried),
    ("cancelled", 5, |b| b.requests.cancelled),
    ("timed out", 4, |b| b.requests.timed_out),
];

pub(crate) fn build(agg: &Aggregation, ctx: &Ctx) -> Drawing {
    options::counts_option(agg, ctx, Kind::Line, &SERIES)
}

fn tip(agg: &Aggregation, ctx: &Ctx, i: usize) -> String {
    options::counts_tooltip(agg, ctx, i, &SERIES)
}

/// A click on a requests point: the jobs received (or ended in that state) in the bucket.
fn pick(agg: &Aggregation, i: usize, series: &str) -> Option<Pick> {
    let ended = |s: JobStatus| {
        let mut p = Pick::bucket(FocusKind::Ended, &agg.window, i, None);
        p.statuses = StatusSet::only(s);
        p
    };
    Some(match series {
        "received" => Pick::bucket(FocusKind::Received, &agg.window, i, None),
        "retried" => Pick::bucket(FocusKind::Retried, &agg.window, i, None),
        "completed" => ended(JobStatus::Completed),
        "failed" => ended(JobStatus::Failed),
        "cancelled" => ended(JobStatus::Cancelled),
        "timed out" => ended(JobStatus::TimedOut),
        _ => return None,
    })
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
    let total = move |i: usize| {
        Signal::derive(move || data.with(|d| d.as_ref().map(|a| SERIES[i].2(&a.total) as f64)))
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
            pick=pick
        >
            <SummaryValue label="received" testid="total-received" value=total(0) format=count />
            <SummaryValue label="completed" testid="total-completed" value=total(1) format=count />
            <SummaryValue label="failed" testid="total-failed" value=total(2) format=count />
            <SummaryValue label="retried" testid="total-retried" value=total(3) format=count />
            <SummaryValue label="cancelled" testid="total-cancelled" value=total(4) format=count />
            <SummaryValue label="timed out" testid="total-timed-out" value=total(5) format=count />
        </ChartCard>
    }
}
