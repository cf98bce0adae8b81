//! The job list ("Requests"): status chips, id search, the chart point it came
//! from, bulk actions, export; the virtualised table and the open job's detail.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use endpoint_core::JobStatus;
use endpoint_core::query::{Listing, StatusSet, status_index};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::job_detail_view::JobDetailView;
use crate::components::job_table::JobTable;
use crate::components::metrics_tab::Feed;
use crate::config::Features;
use crate::job_actions::{self, BulkProgress, RowAction};
use crate::source::Source;
use crate::time::fmt_count;
use crate::view_state::{TimeZone, ViewState};

/// A question waiting for the user's yes.
#[derive(Clone)]
pub struct Confirm {
    /// The question.
    pub text: String,
    /// The button that says yes, e.g. "Cancel 50 jobs".
    pub yes: String,
    /// What yes does.
    pub action: Callback<()>,
}

/// What the job list's parts share.
#[derive(Clone, Copy)]
pub struct JobsCtx {
    /// The page's view (filters, sort, open job live in it).
    pub view: RwSignal<ViewState>,
    /// The feed (records, source).
    pub feed: Feed,
    /// Selected job ids.
    pub selected: RwSignal<HashSet<String>>,
    /// Each job's action state.
    pub actions: RwSignal<HashMap<String, RowAction>>,
    /// The question on screen.
    pub confirm: RwSignal<Option<Confirm>>,
    /// The last message about an action.
    pub notice: RwSignal<Option<String>>,
    /// A bulk cancel's progress.
    pub bulk: RwSignal<Option<BulkProgress>>,
    /// Which actions are shown (config.json `features`).
    pub features: Features,
}

impl JobsCtx {
    /// Cancels job `id` (after the confirmation); a second call while the first is in
    /// flight sends nothing.
    pub fn cancel(self, id: String) {
        self.act(id, RowAction::Cancelling, |src, id| async move {
            job_actions::cancel_outcome(&id, &src.cancel(&id).await)
        });
    }

    /// Retries job `id` (FAILED or TIMED_OUT), likewise.
    pub fn retry(self, id: String) {
        self.act(id, RowAction::Retrying, |src, id| async move {
            job_actions::retry_outcome(&id, &src.retry(&id).await)
        });
    }

    /// One action on job `id`: the row shows `pending` until `send` gives the
    /// outcome, which the row and the notice then show; the feed refreshes at once.
    fn act<F, Fut>(self, id: String, pending: RowAction, send: F)
    where
        F: FnOnce(Source, String) -> Fut + 'static,
        Fut: std::future::Future<Output = RowAction> + 'static,
    {
        if self
            .actions
            .with_untracked(|a| a.get(&id).is_some_and(RowAction::pending))
        {
            return;
        }
        let Some(src) = self.feed.current_source() else {
            return;
        };
        self.actions.update(|a| drop(a.insert(id.clone(), pending)));
        spawn_local(async move {
            let outcome = send(src, id.clone()).await;
            self.notice.set(Some(match &outcome {
                RowAction::Done { message, .. } => format!("Job {id} {message}."),
                RowAction::Failed(m) => m.clone(),
                _ => String::new(),
            }));
            self.actions.update(|a| drop(a.insert(id, outcome)));
            self.feed.refresh_now();
        });
    }

    /// Whether a job in `status` gets a Cancel button (queued or running, and the
    /// portal allows it).
    pub fn can_cancel(&self, status: JobStatus) -> bool {
        self.features.cancel && !status.is_terminal()
    }

    /// Whether a job in `status` gets a Retry button.
    pub fn can_retry(&self, status: JobStatus) -> bool {
        self.features.retry && status.is_retryable()
    }

    /// Asks, then cancels job `id`.
    pub fn ask_cancel(self, id: String, status: JobStatus) {
        let what = if status == JobStatus::InProgress {
            "It stops on its worker."
        } else {
            "It leaves the queue."
        };
        self.confirm.set(Some(Confirm {
            text: format!("Cancel job {id}? {what}"),
            yes: "Cancel job".into(),
            action: Callback::new(move |_| self.cancel(id.clone())),
        }));
    }

    /// Asks, then retries job `id`.
    pub fn ask_retry(self, id: String) {
        self.confirm.set(Some(Confirm {
            text: format!("Retry job {id}? It is queued again with the same input."),
            yes: "Retry job".into(),
            action: Callback::new(move |_| self.retry(id.clone())),
        }));
    }
}

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
    let listing: Memo<Option<Arc<Listing>>> = Memo::new(move |_| {
        feed.version.get();
        let q = query.get();
        crate::time::mark("em-list-start");
        let l = feed.with_data(|d| d.list(&q));
        crate::time::measure("em-list", Some("em-list-start"));
        l.map(Arc::new)
    });
    let tz = Signal::derive(move || view.with(|v| v.tz));
    let count = move || listing.with(|l| l.as_ref().map_or(0, |l| l.rows.len()));
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
    listing: Memo<Option<Arc<Listing>>>,
    tz: Signal<TimeZone>,
) -> impl IntoView {
    let view = ctx.view;
    let statuses = move || view.with(|v| v.jobs.statuses);
    let chips = JobStatus::ALL
        .into_iter()
        .map(|s| {
            let n = move || listing.with(|l| l.as_ref().map_or(0, |l| l.counts[status_index(s)]));
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
    let cancellable = move || {
        let sel = ctx.selected.get();
        ctx.feed
            .with_data(|d| {
                sel.iter()
                    .filter(|id| {
                        d.store()
                            .find(id)
                            .is_some_and(|r| !d.store().row(r).status.is_terminal())
                    })
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let bulk_cancel = move |_| {
        let ids = cancellable();
        if ids.is_empty() {
            ctx.notice.set(Some(
                "None of the selected jobs is queued or running: nothing to cancel.".into(),
            ));
            return;
        }
        let n = ids.len();
        let skipped = selected_count() - n;
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
                        Err(e) => crate::api::action_message("purge the queue", None, &e),
                    };
                    ctx.notice.set(Some(msg));
                    ctx.feed.refresh_now();
                });
            }),
        }));
    };
    let export = move |json: bool| {
        let text = listing.with_untracked(|l| {
            let rows = l.as_ref().map(|l| l.rows.clone()).unwrap_or_default();
            ctx.feed.with_data(|d| {
                if json {
                    crate::export::json(d.store(), &rows)
                } else {
                    crate::export::csv(d.store(), &rows)
                }
            })
        });
        if let Some(text) = text {
            let (name, mime) = if json {
                ("jobs.json", "application/json")
            } else {
                ("jobs.csv", "text/csv")
            };
            if let Err(e) = download(name, mime, &text) {
                ctx.notice.set(Some(format!("Export failed: {e}")));
            }
        }
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
                {ctx.features.cancel.then(|| view! {
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
                {ctx.features.purge.then(|| view! {
                    <button type="button" class="danger" data-testid="purge-queue" on:click=purge>
                        "Purge queue…"
                    </button>
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
        job_actions::bulk_cancel(
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
