//! Webhook attempts per bucket: sent, success, failure.

use std::sync::Arc;

use endpoint_core::Aggregation;
use leptos::prelude::*;

use crate::charts::chart_card::ChartCard;
use crate::charts::options::{self, CountSeries, Ctx, Drawing, Kind};
use crate::charts::summary_value::{SummaryValue, count};
use crate::jobs::view::{FocusKind, Pick};

const SERIES: [CountSeries; 3] = [
    ("sent", 0, |b| b.webhooks.sent),
    ("success", 1, |b| b.webhooks.success),
    ("failure", 2, |b| b.webhooks.failure),
];

pub(crate) fn build(agg: &Aggregation, ctx: &Ctx) -> Drawing {
    options::counts_option(agg, ctx, Kind::Bar, &SERIES)
}

fn tip(agg: &Aggregation, ctx: &Ctx, i: usize) -> String {
    options::counts_tooltip(agg, ctx, i, &SERIES)
}

/// A click on a webhook point: the jobs whose attempts (all, delivered or failed) fell
/// in the bucket.
fn pick(agg: &Aggregation, i: usize, series: &str) -> Option<Pick> {
    let kind = match series {
        "success" => FocusKind::WebhookOk,
        "failure" => FocusKind::WebhookFailed,
        _ => FocusKind::WebhookSent,
    };
    Some(Pick::bucket(kind, &agg.window, i, None))
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
    let total = move |i: usize| {
        Signal::derive(move || data.with(|d| d.as_ref().map(|a| SERIES[i].2(&a.total) as f64)))
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
            pick=pick
        >
            <SummaryValue label="sent" testid="webhook-sent" value=total(0) format=count />
            <SummaryValue label="success" testid="webhook-success" value=total(1) format=count />
            <SummaryValue label="failure" testid="webhook-failure" value=total(2) format=count />
        </ChartCard>
    }
}
