//! The current counts as text: readable without hovering the chart, and what tests read.

use endpoint_core::Health;
use leptos::prelude::*;

/// Tiles with the latest `/health` numbers; dashes until the first answer.
#[component]
pub fn HealthSummary(
    /// The latest counts, `None` before the first successful poll.
    #[prop(into)]
    health: Signal<Option<Health>>,
) -> impl IntoView {
    type Pick = fn(&Health) -> u64;
    let tiles: [(&'static str, &'static str, Pick); 7] = [
        ("stat-in-queue", "In queue", |h| h.jobs.in_queue),
        ("stat-in-progress", "In progress", |h| h.jobs.in_progress),
        ("stat-completed", "Completed", |h| h.jobs.completed),
        ("stat-failed", "Failed", |h| h.jobs.failed),
        ("stat-retried", "Retried", |h| h.jobs.retried),
        ("stat-workers-running", "Workers running", |h| {
            h.workers.running
        }),
        ("stat-workers-idle", "Workers idle", |h| h.workers.idle),
    ];
    view! {
        <dl class="stats" aria-label="Current job and worker counts">
            {tiles
                .into_iter()
                .map(|(testid, label, pick)| {
                    let value = move || {
                        health.with(|h| h.as_ref().map_or_else(|| "–".to_string(), |h| pick(h).to_string()))
                    };
                    view! {
                        <div class="stat">
                            <dt>{label}</dt>
                            <dd data-testid=testid>{value}</dd>
                        </div>
                    }
                })
                .collect_view()}
        </dl>
    }
}
