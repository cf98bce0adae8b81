//! The Metrics tab: draws every metric of the feed.

use std::sync::Arc;

use endpoint_core::Aggregation;
use leptos::prelude::*;

use crate::charts::cold_start_count_chart::ColdStartCountChart;
use crate::charts::now_strip::NowStrip;
use crate::charts::options::Ctx;
use crate::charts::percentile_chart::{Metric, PercentileChart};
use crate::charts::requests_chart::RequestsChart;
use crate::charts::webhook_chart::WebhookChart;
use crate::charts::worker_chart::WorkerChart;
use crate::feed::live::Feed;

/// The charts of the Metrics tab.
#[component]
pub fn MetricsTab(
    /// The feed's signals.
    feed: Feed,
    /// Time zone, now and colours.
    #[prop(into)]
    ctx: Signal<Ctx>,
) -> impl IntoView {
    let data: Signal<Option<Arc<Aggregation>>> = feed.agg.into();
    let window = move || {
        data.with(|d| {
            d.as_ref().map(|a| {
                (
                    a.window.from.to_string(),
                    a.window.to.to_string(),
                    a.window.bucket.to_string(),
                )
            })
        })
    };
    view! {
        <section
            class="metrics"
            aria-label="Metrics"
            data-testid="metrics"
            data-from=move || window().map(|w| w.0)
            data-to=move || window().map(|w| w.1)
            data-bucket=move || window().map(|w| w.2)
        >
            <NowStrip now=feed.now />
            <div class="charts">
                <RequestsChart data=data ctx=ctx />
                <PercentileChart metric=Metric::Execution data=data ctx=ctx />
                <PercentileChart metric=Metric::Delay data=data ctx=ctx />
                <PercentileChart metric=Metric::ColdStart data=data ctx=ctx />
                <ColdStartCountChart data=data ctx=ctx />
                <WebhookChart data=data ctx=ctx />
                <WorkerChart data=data ctx=ctx />
            </div>
        </section>
    }
}
