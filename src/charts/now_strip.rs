//! What the endpoint is doing right now: queue, running jobs, workers by state.

use leptos::prelude::*;

use crate::feed::data::NowCounts;
use crate::view::time::fmt_count;

/// Worker states in [`endpoint_core::WorkerState::ALL`]'s order: label, test id.
const WORKERS: [(&str, &str); 6] = [
    ("running", "stat-workers-running"),
    ("idle", "stat-workers-idle"),
    ("initializing", "stat-workers-initializing"),
    ("throttled", "stat-workers-throttled"),
    ("outdated", "stat-workers-outdated"),
    ("unhealthy", "stat-workers-unhealthy"),
];

/// Counts of now, from the newest records.
#[component]
pub fn NowStrip(
    /// The counts (`None` before the first data).
    #[prop(into)]
    now: Signal<Option<NowCounts>>,
) -> impl IntoView {
    let show = move |f: fn(&NowCounts) -> u64| {
        move || {
            now.with(|n| {
                n.as_ref()
                    .map_or_else(|| "–".to_string(), |n| fmt_count(f(n)))
            })
        }
    };
    let workers = WORKERS
        .iter()
        .enumerate()
        .map(|(i, &(label, testid))| {
            let value = move || {
                now.with(|n| {
                    n.as_ref()
                        .map_or_else(|| "–".to_string(), |n| n.workers[i].to_string())
                })
            };
            view! {
                <div class="now-worker">
                    <span class="now-label">{label}</span>
                    <span class="now-value" data-testid=testid>{value}</span>
                </div>
            }
        })
        .collect_view();
    view! {
        <section class="now card" aria-label="Now">
            <div class="now-jobs">
                <div class="now-big">
                    <span class="now-label">"in queue"</span>
                    <span class="now-value" data-testid="stat-in-queue">{show(|n| n.in_queue)}</span>
                </div>
                <div class="now-big">
                    <span class="now-label">"in progress"</span>
                    <span class="now-value" data-testid="stat-in-progress">{show(|n| n.in_progress)}</span>
                </div>
            </div>
            <div class="now-workers" aria-label="Workers now">
                <span class="now-title">"workers now"</span>
                {workers}
            </div>
        </section>
    }
}
