//! Live / stale indicator with the last update time and the current error.

use leptos::prelude::*;

use crate::feed::poll::PollState;
use crate::view::state::TimeZone;
use crate::view::time::fmt_clock;

/// One line saying whether the numbers are live, when they were last updated, and
/// what went wrong if they are stale.
#[component]
pub fn StatusLine(
    /// The poll loop's state.
    #[prop(into)]
    state: Signal<PollState>,
    /// Time zone of the update time.
    #[prop(into, optional)]
    tz: Signal<TimeZone>,
    /// True when auto-refresh is off: the numbers are not live, they stay as last read.
    #[prop(into, optional)]
    paused: Signal<bool>,
    /// Where the numbers are computed (`worker`, `starting`, `page`), and why on the
    /// page when a worker was meant to do it.
    #[prop(into, optional)]
    engine: Signal<(&'static str, Option<String>)>,
) -> impl IntoView {
    let phase = move || {
        state.with(|s| match (s.last_ok_ms, s.is_stale()) {
            (_, true) => ("status status-stale", "Stale", ""),
            (Some(_), false) if paused.get() => (
                "status status-paused",
                "Paused",
                "Auto-refresh is off: the numbers change when the view does (or pick a refresh interval)",
            ),
            (Some(_), false) => ("status status-live", "Live", ""),
            (None, false) => ("status status-loading", "Loading…", ""),
        })
    };
    let class = move || phase().0;
    let label = move || phase().1;
    let title = move || Some(phase().2).filter(|t| !t.is_empty());
    let updated = move || {
        let tz = tz.get();
        state.with(|s| {
            s.last_ok_ms
                .map(|t| format!("updated {}", fmt_clock(t as i64, tz)))
                .unwrap_or_else(|| "no data yet".into())
        })
    };
    let error = move || state.with(|s| s.error.as_ref().map(|(_, e)| e.to_string()));
    view! {
        <div class=class data-testid="poll-status" role="status" aria-live="polite" data-engine=move || engine.with(|e| e.0)>
            <span class="status-dot" aria-hidden="true"></span>
            <span class="status-label" data-testid="poll-state" title=title>
                {label}
            </span>
            <span class="status-updated" data-testid="poll-updated">{updated}</span>
            {move || {
                error()
                    .map(|e| {
                        view! {
                            <span class="status-error" data-testid="poll-error">
                                {e}
                                " — showing the last good data; retrying automatically"
                            </span>
                        }
                    })
            }}
            {move || {
                engine.with(|(_, why)| why.clone()).map(|why| view! {
                    <span class="status-engine muted" data-testid="engine-fallback"
                        title="The panel decodes and aggregates in a background worker; without one the page does it, and may pause while it does.">
                        "computing on this page (its background worker " {why} ")"
                    </span>
                })
            }}
        </div>
    }
}
