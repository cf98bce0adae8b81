//! The job list ("Requests"): status chips, id search, the chart point it came
//! from, bulk actions, export; the virtualised table and the open job's detail.

use std::collections::{HashMap, HashSet};

use endpoint_core::JobStatus;
use endpoint_core::query::{StatusSet, status_index};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::embed::config::Features;
use crate::feed::host::ListSummary;
use crate::feed::live::{Feed, answered};
use crate::jobs::actions::{self};
use crate::jobs::context::{Confirm, JobsCtx};
use crate::jobs::job_detail_view::JobDetailView;
use crate::jobs::job_table::JobTable;
use crate::view::state::{TimeZone, ViewState};
use crate::view::time::fmt_count;

/// The job list tab.
#[component]
pub fn JobsTab(
    /// The page's view.
    view: RwSignal<ViewState>,
    /// The feed.
    feed: Feed,
) -> impl IntoView {
    let ctx = JobsCtx {
        view,
        feed,
        selected: RwSignal::new(HashSet::new()),
        actions: RwSignal::new(HashMap::new()),
        confirm: RwSignal::new(None),
        notice: RwSignal::new(None),
        bulk: RwSignal::new(None),
        features: use_context::<Features>().unwrap_or_default(),
    };
    // Only the list's own filters (not the open job, the theme or the tab) recompute it.
    let query = Memo::new(move |_| {
        view.with(|v| {
            let mut j = v.jobs.clone();
            j.job = None;
            j
        })
    });
    // The engine lists the jobs (off the main thread where it can); the page gets
    // the counts, then the table asks for the rows in view.
    let listing = answered(move || {
        feed.version.get();
        let q = query.get();
        let engine = feed.engine();
        Some(async move {
            crate::view::time::mark("em-list-start");
            let l = engine.list(&q).await;
            crate::view::time::measure("em-list", Some("em-list-start"));
            l
        })
    });
    let listing = Signal::derive(move || listing.get().flatten());
    let tz = Signal::derive(move || view.with(|v| v.tz));
    let count = move || listing.with(|l| l.map_or(0, |l| l.total));
    view! {
        <section class="jobs" aria-label="Jobs" data-testid="jobs">
            <Toolbar ctx=ctx listing=listing tz=tz />
            <p class="job-count" data-testid="job-count" data-value=move || count().to_string()>
                {move || match listing.with(|l| l.is_some()) {
                    true => format!("{} jobs", fmt_count(count() as u64)),
                    false => "Loading jobs…".to_string(),
                }}
            </p>
            {move || ctx.bulk.get().map(|p| view! {
                <p class="bulk-progress" role="status" data-testid="bulk-progress">{p.text()}</p>
            })}
            {move || ctx.notice.get().map(|n| view! {
                <p class="job-notice" role="status" data-testid="job-notice">{n}</p>
            })}
            <ConfirmBar ctx=ctx />
            <div class="jobs-body">
                <JobTable ctx=ctx listing=listing tz=tz />
                <Show when=move || view.with(|v| v.jobs.job.is_some())>
                    <JobDetailView ctx=ctx tz=tz />
                </Show>
            </div>
        </section>
    }
}

/// Chips, search, focus, bulk actions and export.
#[component]
fn Toolbar(
    ctx: JobsCtx,
    listing: Signal<Option<ListSummary>>,
    tz: Signal<TimeZone>,
) -> impl IntoView {
    let view = ctx.view;
    let statuses = move || view.with(|v| v.jobs.statuses);
    let chips = JobStatus::ALL
        .into_iter()
        .map(|s| {
            let n = move || listing.with(|l| l.map_or(0, |l| l.counts[status_index(s)]));
            view! {
                <button
                    type="button"
                    class=format!("chip status-{}", s.as_str().to_lowercase())
                    aria-pressed=move || statuses().contains(s).to_string()
                    data-testid=format!("chip-{}", s.as_str())
                    data-count=move || n().to_string()
                    on:click=move |_| view.update(|v| v.jobs.statuses = v.jobs.statuses.toggled(s))
                >
                    {s.as_str()} " " <span class="chip-count">{move || fmt_count(n())}</span>
                </button>
            }
        })
        .collect_view();
    let focus = move || view.with(|v| v.jobs.focus);
    let selected_count = move || ctx.selected.with(HashSet::len);
    let bulk_cancel = move |_| {
        let selected: Vec<String> = ctx.selected.get_untracked().into_iter().collect();
        let engine = ctx.feed.engine();
        spawn_local(async move {
            let n_selected = selected.len();
            let ids = engine.unfinished(selected).await;
            if ids.is_empty() {
                ctx.notice.set(Some(
                    "None of the selected jobs is queued or running: nothing to cancel.".into(),
                ));
                return;
            }
            let n = ids.len();
            let skipped = n_selected - n;
            let note = if skipped > 0 {
                format!(" ({skipped} selected jobs have already finished and are left alone.)")
            } else {
                String::new()
            };
            ctx.confirm.set(Some(Confirm {
                text: format!("Cancel {n} jobs?{note}"),
                yes: format!("Cancel {n} jobs"),
                action: Callback::new(move |_| run_bulk(ctx, ids.clone())),
            }));
        });
    };
    let purge = move |_| {
        let queued = ctx.feed.now.with(|n| n.map_or(0, |n| n.in_queue));
        ctx.confirm.set(Some(Confirm {
            text: format!(
                "Purge the queue? This removes all {} queued jobs (as of the last refresh); running jobs are not affected.",
                fmt_count(queued)
            ),
            yes: format!("Remove {} queued jobs", fmt_count(queued)),
            action: Callback::new(move |_| {
                let Some(src) = ctx.feed.current_source() else {
                    return;
                };
                spawn_local(async move {
                    let msg = match src.purge_queue().await {
                        Ok(n) => format!("Purged the queue: {} jobs removed.", fmt_count(n)),
                        Err(e) => crate::feed::api::action_message("purge the queue", None, &e),
                    };
                    ctx.notice.set(Some(msg));
                    ctx.feed.refresh_now();
                });
            }),
        }));
    };
    let export = move |json: bool| {
        let engine = ctx.feed.engine();
        spawn_local(async move {
            let Some(text) = engine.export(json).await else {
                return;
            };
            let (name, mime) = if json {
                ("jobs.json", "application/json")
            } else {
                ("jobs.csv", "text/csv")
            };
            if let Err(e) = download(name, mime, &text) {
                ctx.notice.set(Some(format!("Export failed: {e}")));
            }
        });
    };
    view! {
        <div class="job-toolbar">
            <div class="chips" role="group" aria-label="Filter by state">
                {chips}
                <button
                    type="button"
                    class="chip-all"
                    data-testid="chip-all"
                    on:click=move |_| view.update(|v| v.jobs.statuses = StatusSet::ALL)
                >
                    "all states"
                </button>
            </div>
            <label class="job-search">
                "Job id"
                <input
                    type="search"
                    placeholder="id or prefix"
                    data-testid="job-search"
                    prop:value=move || view.with(|v| v.jobs.search.clone())
                    on:input=move |ev| view.update(|v| v.jobs.search = event_target_value(&ev))
                />
            </label>
            {move || focus().map(|f| view! {
                <span class="focus-chip" data-testid="focus">
                    <span data-testid="focus-label">{f.label(tz.get())}</span>
                    <button
                        type="button"
                        aria-label="Show the whole window again"
                        data-testid="focus-clear"
                        on:click=move |_| view.update(|v| v.jobs.focus = None)
                    >
                        "×"
                    </button>
                </span>
            })}
            <div class="job-buttons">
                {move || ctx.can_bulk_cancel().then(|| view! {
                    <button
                        type="button"
                        data-testid="bulk-cancel"
                        disabled=move || selected_count() == 0 || ctx.bulk.with(|b| b.as_ref().is_some_and(|b| b.summary.is_none()))
                        on:click=bulk_cancel
                    >
                        {move || format!("Cancel selected ({})", selected_count())}
                    </button>
                    <button
                        type="button"
                        data-testid="clear-selection"
                        disabled=move || selected_count() == 0
                        on:click=move |_| ctx.selected.set(HashSet::new())
                    >
                        "Clear selection"
                    </button>
                })}
                {move || ctx.can_purge().then(|| view! {
                    <button type="button" class="danger" data-testid="purge-queue" on:click=purge>
                        "Purge queue…"
                    </button>
                })}
                {move || ctx.read_only().then(|| view! {
                    <span class="read-only-note" data-testid="read-only"
                        title="The server's /access says this API key has the read role: cancel, retry and purge need an operate key.">
                        "Read-only key: no actions"
                    </span>
                })}
                {ctx.features.export.then(|| view! {
                    <button type="button" data-testid="export-csv" on:click=move |_| export(false)>
                        "Export CSV"
                    </button>
                    <button type="button" data-testid="export-json" on:click=move |_| export(true)>
                        "Export JSON"
                    </button>
                })}
            </div>
        </div>
    }
}

fn run_bulk(ctx: JobsCtx, ids: Vec<String>) {
    let Some(src) = ctx.feed.current_source() else {
        return;
    };
    spawn_local(async move {
        actions::bulk_cancel(
            ids,
            |id| {
                let src = src.clone();
                async move { src.cancel(&id).await }
            },
            gloo_timers::future::TimeoutFuture::new,
            |id, a| ctx.actions.update(|m| drop(m.insert(id.to_string(), a))),
            |p| ctx.bulk.set(Some(p)),
        )
        .await;
        ctx.selected.set(HashSet::new());
        ctx.feed.refresh_now();
    });
}

/// The confirmation bar: a question, yes, and no (Escape says no).
#[component]
fn ConfirmBar(ctx: JobsCtx) -> impl IntoView {
    let yes_ref = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if ctx.confirm.with(Option::is_some)
            && let Some(b) = yes_ref.get()
        {
            let _ = b.focus();
        }
    });
    move || {
        ctx.confirm.get().map(|c| {
            let action = c.action;
            view! {
                <div
                    class="confirm"
                    role="alertdialog"
                    aria-label="Confirm"
                    data-testid="confirm"
                    on:keydown=move |ev| {
                        if ev.key() == "Escape" {
                            ctx.confirm.set(None);
                        }
                    }
                >
                    <p data-testid="confirm-text">{c.text.clone()}</p>
                    <button
                        type="button"
                        class="danger"
                        node_ref=yes_ref
                        data-testid="confirm-yes"
                        on:click=move |_| {
                            ctx.confirm.set(None);
                            action.run(());
                        }
                    >
                        {c.yes.clone()}
                    </button>
                    <button type="button" data-testid="confirm-no" on:click=move |_| ctx.confirm.set(None)>
                        "Keep"
                    </button>
                </div>
            }
        })
    }
}

/// Offers `text` as a file download.
fn download(name: &str, mime: &str, text: &str) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts)
        .map_err(|_| "the browser refused to make the file".to_string())?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| "the browser refused to make the file".to_string())?;
    let a: web_sys::HtmlAnchorElement = document()
        .create_element("a")
        .map_err(|_| "no document".to_string())?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // The download reads the URL after this task: free it a little later.
    gloo_timers::callback::Timeout::new(30_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}
