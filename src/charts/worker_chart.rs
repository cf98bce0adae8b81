//! Workers by state over time, stacked (time-weighted average per bucket).

use std::sync::Arc;

use endpoint_core::{Aggregation, WorkerState};
use leptos::prelude::*;

use crate::charts::chart_card::ChartCard;
use crate::charts::options::{self, Ctx, Drawing, Kind, Series, TipRow, Unit};
use crate::charts::summary_value::{SummaryValue, workers};
use crate::jobs::view::{FocusKind, Pick};

/// Names in [`WorkerState::ALL`]'s order, with their colour.
const STATES: [(&str, usize); 6] = [
    ("running", 1),
    ("idle", 4),
    ("initializing", 0),
    ("throttled", 3),
    ("outdated", 5),
    ("unhealthy", 2),
];

pub(crate) fn build(agg: &Aggregation, ctx: &Ctx) -> Drawing {
    let series: Vec<Series> = STATES
        .iter()
        .enumerate()
        .map(|(i, &(name, color))| Series {
            name,
            color,
            values: agg
                .buckets
                .iter()
                .enumerate()
                .map(|(b, s)| {
                    if options::is_future(&agg.window, b, ctx.now) {
                        None
                    } else {
                        s.workers[i].avg
                    }
                })
                .collect(),
        })
        .collect();
    options::option(agg, ctx, Kind::Stack, Unit::Workers, &series)
}

fn tip(agg: &Aggregation, ctx: &Ctx, i: usize) -> String {
    let Some(b) = agg.buckets.get(i) else {
        return String::new();
    };
    let rows: Vec<TipRow> = STATES
        .iter()
        .enumerate()
        .map(|(s, &(name, color))| TipRow {
            color,
            name: name.into(),
            value: match (b.workers[s].avg, b.workers[s].max) {
                (Some(avg), Some(max)) => format!("{avg:.1} avg, {max} max"),
                _ => "–".into(),
            },
        })
        .collect();
    options::tooltip(agg, ctx, i, &rows, None)
}

/// A click on the worker chart: the jobs running during the bucket.
fn pick(agg: &Aggregation, i: usize, _series: &str) -> Option<Pick> {
    Some(Pick::bucket(FocusKind::Running, &agg.window, i, None))
}

/// Worker states over time, and each state's average over the window.
#[component]
pub fn WorkerChart(
    /// The numbers.
    #[prop(into)]
    data: Signal<Option<Arc<Aggregation>>>,
    /// Time zone, now and colours.
    #[prop(into)]
    ctx: Signal<Ctx>,
) -> impl IntoView {
    debug_assert_eq!(WorkerState::ALL[0], WorkerState::Running);
    let avg = move |i: usize| {
        Signal::derive(move || data.with(|d| d.as_ref().and_then(|a| a.total.workers[i].avg)))
    };
    view! {
        <ChartCard
            title="Worker states"
            description="Stacked area chart of the average number of workers running, idle, initializing, throttled, outdated and unhealthy per bucket; the window averages are listed as text"
            testid="chart-workers"
            data=data
            ctx=ctx
            options=build
            tip=tip
            pick=pick
            stacked=true
        >
            <SummaryValue label="running" testid="workers-avg-running" value=avg(0) format=workers />
            <SummaryValue label="idle" testid="workers-avg-idle" value=avg(1) format=workers />
            <SummaryValue label="initializing" testid="workers-avg-initializing" value=avg(2) format=workers />
            <SummaryValue label="throttled" testid="workers-avg-throttled" value=avg(3) format=workers />
            <SummaryValue label="outdated" testid="workers-avg-outdated" value=avg(4) format=workers />
            <SummaryValue label="unhealthy" testid="workers-avg-unhealthy" value=avg(5) format=workers />
        </ChartCard>
    }
}
