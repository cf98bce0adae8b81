//! The job table: virtualised (only the rows in view, plus a margin, are in the DOM),
//! so 100,000 jobs scroll like 100. Rows are fixed height; the scroll position and
//! the selection (by job id) survive every refresh.

use endpoint_core::JobStatus;
use endpoint_core::query::{Column, Sort, WebhookOutcome};
use leptos::html::Div;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::feed::host::{ListSummary, RowData};
use crate::feed::live::answered;
use crate::jobs::actions::RowAction;
use crate::jobs::context::JobsCtx;
use crate::view::state::TimeZone;
use crate::view::time::{fmt_ms, fmt_short};

/// Row height, px (the CSS uses the same).
pub const ROW_PX: i32 = 34;
/// Tallest view drawn: without the stylesheet the scroller is unbounded, and this
/// keeps a 100,000-job list from drawing every row.
const MAX_VIEW_PX: i32 = 4_000;
/// Rows drawn above and below the visible ones.
const MARGIN_ROWS: i32 = 10;

/// A row as drawn; also its key, so a row still in view after a scroll step (or
/// unchanged by a refresh) keeps its DOM nodes.
#[derive(Clone, PartialEq, Eq, Hash)]
struct RowView {
    index: usize,
    id: String,
    status: JobStatus,
    submitted: String,
    delay: String,
    execution: String,
    worker: String,
    retries: u8,
    webhook: (&'static str, String),
}

impl RowView {
    fn of(r: &RowData, tz: TimeZone) -> RowView {
        let webhook = match (r.webhook, r.webhook_status) {
            (WebhookOutcome::None, _) => ("none", "—".to_string()),
            (WebhookOutcome::Pending, _) => ("pending", "pending".into()),
            (WebhookOutcome::Delivered, _) => ("ok", "delivered".into()),
            (WebhookOutcome::Failing, Some(code)) => ("failing", format!("failing ({code})")),
            (WebhookOutcome::Failing, None) => ("failing", "failing".into()),
        };
        RowView {
            index: r.index,
            id: r.id.clone(),
            status: r.status,
            submitted: fmt_short(r.submitted_at, tz),
            delay: r.delay.map(fmt_ms).unwrap_or_else(|| "—".into()),
            execution: r.execution.map(fmt_ms).unwrap_or_else(|| "—".into()),
            worker: r.worker.clone().unwrap_or_else(|| "—".into()),
            retries: r.retries,
            webhook,
        }
    }
}

fn headers() -> [(Column, &'static str); 8] {
    [
        (Column::Id, "Id"),
        (Column::Status, "Status"),
        (Column::Submitted, "Submitted"),
        (Column::Delay, "Delay"),
        (Column::Execution, "Execution"),
        (Column::Worker, "Worker"),
        (Column::Retries, "Retries"),
        (Column::Webhook, "Webhook"),
    ]
}

/// Largest first for times, durations and counts; A to Z for the rest.
fn first_direction(c: Column) -> bool {
    matches!(
        c,
        Column::Submitted | Column::Delay | Column::Execution | Column::Retries | Column::Webhook
    )
}

/// The virtualised table of the listing.
#[component]
pub fn JobTable(
    /// The job list's shared state.
    ctx: JobsCtx,
    /// How many jobs are listed (the engine holds the list).
    listing: Signal<Option<ListSummary>>,
    /// Time zone of times.
    tz: Signal<TimeZone>,
) -> impl IntoView {
    let view = ctx.view;
    let scroller = NodeRef::<Div>::new();
    let scroll_top = RwSignal::new(0i32);
    let height = RwSignal::new(600i32);
    let total = move || listing.with(|l| l.map_or(0, |l| l.total));
    let span = Memo::new(move |_| {
        let first = (scroll_top.get() / ROW_PX - MARGIN_ROWS).max(0) as usize;
        let count = (height.get() / ROW_PX + 2 * MARGIN_ROWS) as usize;
        (first, count)
    });
    Effect::new(move |_| {
        if let Some(el) = scroller.get() {
            height.set(el.client_height().clamp(ROW_PX, MAX_VIEW_PX));
        }
    });
    // The rows in view, asked of the engine whenever the list or the scroll moves.
    let data = answered(move || {
        let (first, count) = span.get();
        listing.track();
        let engine = ctx.feed.engine();
        Some(async move { engine.rows(first, count).await })
    });
    let rows = Memo::new(move |_| {
        let tz = tz.get();
        data.with(|d| {
            d.as_deref()
                .unwrap_or_default()
                .iter()
                .map(|r| RowView::of(r, tz))
                .collect::<Vec<_>>()
        })
    });
    let sort = move || view.with(|v| v.jobs.sort);
    let header_cells = headers()
        .into_iter()
        .map(|(c, label)| {
            let aria = move || {
                let s = sort();
                if s.column != c {
                    "none"
                } else if s.descending {
                    "descending"
                } else {
                    "ascending"
                }
            };
            view! {
                <div role="columnheader" class=format!("cell col-{}", c.as_str()) aria-sort=aria>
                    <button
                        type="button"
                        data-testid=format!("sort-{}", c.as_str())
                        on:click=move |_| view.update(|v| {
                            v.jobs.sort = if v.jobs.sort.column == c {
                                Sort { column: c, descending: !v.jobs.sort.descending }
                            } else {
                                Sort { column: c, descending: first_direction(c) }
                            };
                        })
                    >
                        {label}
                        <span class="sort-mark" aria-hidden="true">
                            {move || match aria() {
                                "descending" => "▼",
                                "ascending" => "▲",
                                _ => "",
                            }}
                        </span>
                    </button>
                </div>
            }
        })
        .collect_view();
    let all_selected = move || {
        let n = total();
        n > 0 && ctx.selected.with(|s| s.len() >= n)
    };
    let select_all = move |on: bool| {
        if !on {
            ctx.selected.set(Default::default());
            return;
        }
        let engine = ctx.feed.engine();
        spawn_local(async move {
            let ids = engine.ids().await;
            ctx.selected.set(ids.into_iter().collect());
        });
    };
    view! {
        <div
            class="job-table"
            role="table"
            aria-label="Jobs in the window"
            aria-rowcount=move || (total() + 1).to_string()
            data-testid="job-table"
        >
            <div class="job-row job-head" role="row">
                <div role="columnheader" class="cell col-select">
                    <input
                        type="checkbox"
                        aria-label="Select every job listed"
                        data-testid="select-all"
                        // Selection only serves the bulk cancel: without it, no boxes
                        // (hidden, not removed, so the columns keep their place).
                        style:visibility=move || if ctx.can_bulk_cancel() { "visible" } else { "hidden" }
                        prop:disabled=move || !ctx.can_bulk_cancel()
                        prop:checked=all_selected
                        on:change=move |ev| select_all(event_target_checked(&ev))
                    />
                </div>
                {header_cells}
                <div role="columnheader" class="cell col-actions">"Actions"</div>
            </div>
            <div
                class="job-scroll"
                node_ref=scroller
                data-testid="job-scroll"
                on:scroll=move |_| {
                    if let Some(el) = scroller.get_untracked() {
                        scroll_top.set(el.scroll_top());
                        height.set(el.client_height().clamp(ROW_PX, MAX_VIEW_PX));
                    }
                }
            >
                <div class="job-spacer" style:height=move || format!("{}px", total() as i32 * ROW_PX)>
                    <div
                        class="job-window"
                        style:transform=move || format!("translateY({}px)", span.get().0 as i32 * ROW_PX)
                    >
                        <For each=move || rows.get() key=|r: &RowView| r.clone() children=move |r| row_view(ctx, r) />
                    </div>
                </div>
                <Show when=move || listing.with(|l| l.is_some_and(|l| l.total == 0))>
                    <p class="job-empty" data-testid="job-empty">
                        "No job matches. Widen the range, clear the search or turn more states on."
                    </p>
                </Show>
            </div>
        </div>
    }
}

fn row_view(ctx: JobsCtx, r: RowView) -> impl IntoView {
    let view = ctx.view;
    let id = r.id.clone();
    // Signals (Copy), so each of the row's closures can read them.
    let action = {
        let id = id.clone();
        Signal::derive(move || ctx.actions.with(|a| a.get(&id).cloned()))
    };
    // Until the feed catches up, the state the server answered with is shown.
    let status = r.status;
    let shown = Signal::derive(move || match action.get() {
        Some(RowAction::Done { status: s, .. }) if !status.is_terminal() => s,
        _ => status,
    });
    let selected = {
        let id = id.clone();
        Signal::derive(move || ctx.selected.with(|s| s.contains(&id)))
    };
    let open = {
        let id = id.clone();
        Signal::derive(move || view.with(|v| v.jobs.job.as_deref() == Some(id.as_str())))
    };
    let note = move || match action.get() {
        Some(RowAction::Cancelling) => Some("cancelling…".to_string()),
        Some(RowAction::Retrying) => Some("retrying…".to_string()),
        Some(RowAction::Done { message, .. }) => Some(message),
        Some(RowAction::Failed(m)) => Some(m),
        None => None,
    };
    let pending = Signal::derive(move || action.get().is_some_and(|a| a.pending()));
    let status_class = move || format!("badge status-{}", shown.get().as_str().to_lowercase());
    let (id_sel, id_open, id_cancel, id_retry) = (id.clone(), id.clone(), id.clone(), id.clone());
    view! {
        <div
            class="job-row"
            class:selected=selected
            class:open=open
            role="row"
            aria-rowindex=(r.index + 2).to_string()
            data-testid="job-row"
            data-id=id.clone()
            data-status=move || shown.get().as_str()
        >
            <div role="cell" class="cell col-select">
                <input
                    type="checkbox"
                    aria-label=format!("Select job {id}")
                    data-testid="job-select"
                    style:visibility=move || if ctx.can_bulk_cancel() { "visible" } else { "hidden" }
                    prop:disabled=move || !ctx.can_bulk_cancel()
                    prop:checked=selected
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        ctx.selected.update(|s| {
                            if on {
                                s.insert(id_sel.clone());
                            } else {
                                s.remove(&id_sel);
                            }
                        });
                    }
                />
            </div>
            <div role="cell" class="cell col-id">
                <button
                    type="button"
                    class="link mono"
                    title="Open the job's detail"
                    data-testid="job-open"
                    on:click=move |_| view.update(|v| v.jobs.job = Some(id_open.clone()))
                >
                    {r.id.clone()}
                </button>
            </div>
            <div role="cell" class="cell col-status">
                <span class=status_class>{move || shown.get().as_str()}</span>
                {move || note().map(|n| {
                    let title = n.clone();
                    view! { <span class="row-note" data-testid="job-note" title=title>{n}</span> }
                })}
            </div>
            <div role="cell" class="cell col-submitted">{r.submitted}</div>
            <div role="cell" class="cell col-delay num">{r.delay}</div>
            <div role="cell" class="cell col-execution num">{r.execution}</div>
            <div role="cell" class="cell col-worker mono">{r.worker}</div>
            <div role="cell" class="cell col-retries num">{r.retries}</div>
            <div role="cell" class=format!("cell col-webhook webhook-{}", r.webhook.0)>{r.webhook.1}</div>
            <div role="cell" class="cell col-actions">
                {move || ctx.can_cancel(shown.get()).then(|| {
                    let id = id_cancel.clone();
                    let status = shown.get();
                    view! {
                        <button
                            type="button"
                            class="small danger"
                            data-testid="job-cancel"
                            disabled=pending
                            on:click=move |_| ctx.ask_cancel(id.clone(), status)
                        >
                            "Cancel"
                        </button>
                    }
                })}
                {move || ctx.can_retry(shown.get()).then(|| {
                    let id = id_retry.clone();
                    view! {
                        <button
                            type="button"
                            class="small"
                            data-testid="job-retry"
                            disabled=pending
                            on:click=move |_| ctx.ask_retry(id.clone())
                        >
                            "Retry"
                        </button>
                    }
                })}
            </div>
        </div>
    }
}
