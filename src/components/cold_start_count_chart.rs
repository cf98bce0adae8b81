//! Cold starts per bucket.

use std::sync::Arc;

use endpoint_core::Aggregation;
use leptos::prelude::*;
use serde_json::Value;

use crate::chart_options::{self, Ctx, Kind, Series, TipRow, Unit};
use crate::components::chart_card::ChartCard;
use crate::components::summary_value::{SummaryValue, count};

fn build(agg: &Aggregation, ctx: &Ctx) -> Value {
    let values = chart_options::counts(agg, ctx.now, |b| b.cold_starts());
    let series = [Series {
        name: "cold starts",
        color: 4,
        values,
    }];
    chart_options::option(agg, ctx, Kind::Bar, Unit::Count, &series)
}

fn tip(agg: &Aggregation, ctx: &Ctx, i: usize) -> String {
    let Some(b) = agg.buckets.get(i) else {
        return String::new();
    };
    let rows = [TipRow {
        color: ctx.palette.color(4).to_string(),
        name: "cold starts".into(),
        value: crate::time::fmt_count(b.cold_starts()),
    }];
    chart_options::tooltip(agg, ctx, i, &rows, None)
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
        >
            <SummaryValue label="cold starts" testid="cold-start-count" value=total format=count />
        </ChartCard>
    }
}
