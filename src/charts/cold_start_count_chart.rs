//! Cold starts per bucket.

use std::sync::Arc;

use endpoint_core::Aggregation;
use leptos::prelude::*;

use crate::charts::chart_card::ChartCard;
use crate::charts::options::{self, CountSeries, Ctx, Drawing, Kind};
use crate::charts::summary_value::{SummaryValue, count};
use crate::jobs::view::{FocusKind, Pick};

const SERIES: [CountSeries; 1] = [("cold starts", 4, |b| b.cold_starts())];

pub(crate) fn build(agg: &Aggregation, ctx: &Ctx) -> Drawing {
    options::counts_option(agg, ctx, Kind::Bar, &SERIES)
}

fn tip(agg: &Aggregation, ctx: &Ctx, i: usize) -> String {
    options::counts_tooltip(agg, ctx, i, &SERIES)
}

/// A click on a cold start count: the jobs that waited on those cold starts.
fn pick(agg: &Aggregation, i: usize, _series: &str) -> Option<Pick> {
    Some(Pick::bucket(FocusKind::ColdStart, &agg.window, i, None))
}

/// Cold start count per bucket and for the window.
#[component]
pub fn ColdStartCountChart(
    /// The numbers.
    #[prop(into)]
    data: Signal<Option<Arc<Aggregation>>>,
    /// Time zone, now and colours.
    #[prop(into)]
    ctx: Signal<Ctx>,
) -> impl IntoView {
    let total =
        Signal::derive(move || data.with(|d| d.as_ref().map(|a| a.total.cold_starts() as f64)));
    view! {
        <ChartCard
            title="Cold start count"
            description="Bar chart of worker cold starts per bucket; the window total is listed as text"
            testid="chart-cold-start-count"
            data=data
            ctx=ctx
            options=build
            tip=tip
            pick=pick
        >
            <SummaryValue label="cold starts" testid="cold-start-count" value=total format=count />
        </ChartCard>
    }
}
