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
) -> impl IntoView {
    let class = move || {
        state.with(|s| match (s.last_ok_ms, s.is_stale()) {
            (_, true) => "status status-stale",
            (Some(_), false) => "status status-live",
            (None, false) => "status status-loading",
        })
    };
    let label = move || {
        state.with(|s| match (s.last_ok_ms, s.is_stale()) {
            (_, true) => "Stale",
            (Some(_), false) => "Live",
            (None, false) => "Loading…",
        })
    };
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
        <div class=class data-testid="poll-status" role="status" aria-live="polite">
            <span class="status-dot" aria-hidden="true"></span>
            <span class="status-label" data-testid="poll-state">{label}</span>
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
        </div>
    }
}
