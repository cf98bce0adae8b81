//! Webhook attempts per bucket: sent, success, failure.

use std::sync::Arc;

use endpoint_core::Aggregation;
use endpoint_core::aggregate::WebhookCounts;
use leptos::prelude::*;
use serde_json::Value;

use crate::chart_options::{self, Ctx, Kind, Series, TipRow, Unit};
use crate::components::chart_card::ChartCard;
use crate::components::summary_value::{SummaryValue, count};

type Pick = fn(&WebhookCounts) -> u64;

const SERIES: [(&str, usize, Pick); 3] = [
    ("sent", 0, |w| w.sent),
    ("success", 1, |w| w.success),
    ("failure", 2, |w| w.failure),
];

fn build(agg: &Aggregation, ctx: &Ctx) -> Value {
    let series: Vec<Series> = SERIES
        .iter()
        .map(|&(name, color, pick)| Series {
            name,
            color,
            values: chart_options::counts(agg, ctx.now, |b| pick(&b.webhooks)),
        })
        .collect();
    chart_options::option(agg, ctx, Kind::Bar, Unit::Count, &series)
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
            value: crate::time::fmt_count(pick(&b.webhooks)),
        })
        .collect();
    chart_options::tooltip(agg, ctx, i, &rows, None)
}

/// Webhook responses per bucket and for the window.
#[component]
pub fn WebhookChart(
    /// The numbers.
    #[prop(into)]
    data: Signal<Option<Arc<Aggregation>>>,
    /// Time zone, now and colours.
    #[prop(into)]
    ctx: Signal<Ctx>,
) -> impl IntoView {
    let total = move |pick: Pick| {
        Signal::derive(move || data.with(|d| d.as_ref().map(|a| pick(&a.total.webhooks) as f64)))
    };
    view! {
        <ChartCard
            title="Webhook responses"
            description="Bar chart of webhook attempts sent, answered with success and failed per bucket; the window totals are listed as text"
            testid="chart-webhooks"
            data=data
            ctx=ctx
            options=build
            tip=tip
        >
            <SummaryValue label="sent" testid="webhook-sent" value=total(SERIES[0].2) format=count />
            <SummaryValue label="success" testid="webhook-success" value=total(SERIES[1].2) format=count />
            <SummaryValue label="failure" testid="webhook-failure" value=total(SERIES[2].2) format=count />
        </ChartCard>
    }
}
