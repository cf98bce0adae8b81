//! Polls `/health` and shows the counts as text and as a chart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::fetch_health;
use crate::components::health_chart::HealthChart;
use crate::components::health_summary::HealthSummary;
use crate::components::status_line::StatusLine;
use crate::config::PanelConfig;
use crate::history::HealthHistory;
use crate::poll::PollState;
use crate::time::now_ms;

/// Samples kept for the chart: ten minutes at the default 2 s refresh.
const HISTORY_CAPACITY: usize = 300;

/// The live queue-and-workers view of one endpoint.
///
/// One poll at a time: the next request starts only after the previous one answered
/// (or timed out) and the refresh interval elapsed, so a slow server never gets a
/// pile of requests. Failures keep the last good data on screen, marked stale, and
/// are retried with backoff.
#[component]
pub fn HealthPanel(
    /// Where to poll and how often.
    config: PanelConfig,
) -> impl IntoView {
    let history = RwSignal::new(HealthHistory::new(HISTORY_CAPACITY));
    let state = RwSignal::new(PollState::default());
    let alive = Arc::new(AtomicBool::new(true));
    {
        let alive = Arc::clone(&alive);
        on_cleanup(move || alive.store(false, Ordering::Relaxed));
    }
    let url = config.health_url();
    let refresh = config.refresh_ms;
    spawn_local(async move {
        while alive.load(Ordering::Relaxed) {
            let result = fetch_health(&url).await;
            if !alive.load(Ordering::Relaxed) {
                break;
            }
            let now = now_ms();
            match result {
                Ok(h) => {
                    history.update(|hist| hist.push(now, h));
                    state.update(|s| s.record_ok(now));
                }
                Err(e) => state.update(|s| s.record_err(now, e)),
            }
            match state.with_untracked(|s| s.next_delay_ms(refresh)) {
                Some(ms) => gloo_timers::future::TimeoutFuture::new(ms).await,
                None => break,
            }
        }
    });
    let latest = Signal::derive(move || history.with(|h| h.latest().map(|s| s.health.clone())));
    view! {
        <section class="panel" aria-label="Queue and workers">
            <StatusLine state=state />
            <HealthSummary health=latest />
            <HealthChart history=history />
        </section>
    }
}
