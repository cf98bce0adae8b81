//! The selected worker: its facts (from `/workers`, or derived from the feed when it
//! has no process) and its log, followed live.

use std::cell::Cell;
use std::rc::Rc;

use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::{Either, select};
use leptos::html::Div;
use leptos::prelude::*;
use leptos::task::spawn_local;
use send_wrapper::SendWrapper;

use crate::feed::api::read_message;
use crate::feed::live::{Feed, answered};
use crate::view::state::{EndpointRef, Tab, TimeZone, ViewState};
use crate::view::time::{fmt_clock, fmt_count, fmt_datetime, fmt_ms, now_ms};
use crate::workers::facts::{LogFilter, LogFollow, MAX_LINES, Origin, WorkerFacts, WorkerList};
use crate::workers::log_lines::LogLines;

/// How often a followed log is asked for new lines, ms.
pub const LOG_POLL_MS: u32 = 2_000;

/// The facts and live log of the worker named in the view (`?worker=`).
#[component]
pub fn WorkerDetail(
    /// The page's view.
    view: RwSignal<ViewState>,
    /// The feed (source, records).
    feed: Feed,
) -> impl IntoView {
    let tz = Signal::derive(move || view.with(|v| v.tz));
    let worker = Memo::new(move |_| view.with(|v| v.worker.clone().unwrap_or_default()));
    let list = RwSignal::new(None::<WorkerList>);
    let list_error = RwSignal::new(None::<String>);
    let logs = RwSignal::new(LogFollow::default());
    follow(view, feed, list, list_error, logs);

    // The facts shown: the server's, or derived from the feed's records when the
    // server lists no process for this worker.
    let derived = answered(move || {
        let id = worker.get();
        let unlisted = list.with(|l| {
            l.as_ref()
                .is_some_and(|l| !l.workers.iter().any(|w| w.id == id))
        });
        if !unlisted {
            return None;
        }
        feed.version.get();
        let engine = feed.engine();
        Some(async move {
            let all = engine.facts().await.unwrap_or_default();
            let found = all.into_iter().find(|w| w.id == id);
            (id, found)
        })
    });
    let facts = Memo::new(move |_| {
        let id = worker.get();
        let listed = list.with(|l| {
            l.as_ref()
                .map(|l| (l.origin, l.workers.iter().find(|w| w.id == id).cloned()))
        });
        match listed {
            None => None,
            Some((origin, Some(f))) => Some((origin, f, false)),
            Some((origin, None)) => {
                let found = derived.with(|d| {
                    d.as_ref()
                        .filter(|(of, _)| *of == id)
                        .and_then(|(_, f)| f.clone())
                })?;
                Some((origin, found, origin == Origin::Processes))
            }
        }
    });
    let open_job = Callback::new(move |id: String| {
        view.update(|v| {
            v.jobs.job = Some(id);
            v.tab = Tab::Jobs;
        })
    });
    let simulated = move || list.with(|l| l.as_ref().map(|l| l.origin)) == Some(Origin::Demo);
    let server_simulated =
        move || list.with(|l| l.as_ref().map(|l| l.origin)) == Some(Origin::SimulatedByServer);
    let lines = Memo::new(move |_| logs.with(|l| l.lines().iter().cloned().collect::<Vec<_>>()));
    let log_status = move || {
        let refresh_on = view.with(|v| v.refresh.is_some());
        logs.with(|l| log_status_text(l, refresh_on, tz.get()))
    };
    let log_error = move || {
        let w = worker.get();
        logs.with(|l| {
            l.poll.error.as_ref().map(|(_, e)| {
                let msg = read_message(&format!("the logs of worker `{w}`"), e);
                if l.lines().is_empty() {
                    format!("{msg}. Retrying by itself.")
                } else {
                    format!(
                        "{msg}. The lines below are the last ones received; retrying by itself."
                    )
                }
            })
        })
    };
    // Stick to the newest line while the reader is at the bottom.
    let scroller = NodeRef::<Div>::new();
    let stick = RwSignal::new(true);
    Effect::new(move |_| {
        lines.track();
        if stick.get_untracked()
            && let Some(el) = scroller.get()
        {
            el.set_scroll_top(el.scroll_height());
        }
    });
    let on_scroll = move |_| {
        if let Some(el) = scroller.get_untracked() {
            stick.set(el.scroll_height() - el.scroll_top() - el.client_height() < 24);
        }
    };
    let close = move |_| view.update(|v| v.worker = None);
    view! {
        <section class="worker-detail" aria-label="Worker" data-testid="worker-detail">
            <div class="worker-facts card" data-testid="worker-facts">
                <header>
                    <h2>"Worker"</h2>
                    <code class="mono" data-testid="worker-id">{move || worker.get()}</code>
                    <button type="button" class="small close" aria-label="Close the worker" data-testid="worker-close" on:click=close>
                        "×"
                    </button>
                </header>
                {move || list_error.get().map(|e| view! { <p class="worker-error" role="alert" data-testid="worker-facts-error">{e}</p> })}
                {move || match facts.get() {
                    None if list.with(Option::is_none) => view! { <p class="muted">"Loading…"</p> }.into_any(),
                    None => view! {
                        <p class="muted" data-testid="worker-missing">
                            "Nothing is known about this worker: it is not among the server's workers nor in the records of the window."
                        </p>
                    }.into_any(),
                    Some((origin, f, fallback)) => facts_view(origin, f, fallback, tz.get()).into_any(),
                }}
            </div>
            <div class="worker-logs card" data-testid="worker-logs">
                <header>
                    <h2>"Logs"</h2>
                    <span class="muted log-status" data-testid="log-status">{log_status}</span>
                </header>
                <Show when=simulated>
                    <p class="simulated-note" data-testid="simulated-lines">
                        "Simulated lines: the Demo has no processes. These are made up from its records (spawns, cold starts, each job's start, end and error)."
                    </p>
                </Show>
                <Show when=server_simulated>
                    <p class="simulated-note" data-testid="server-simulated">
                        "This endpoint's workers are simulated by the server: they have no process, so they write no lines."
                    </p>
                </Show>
                {move || log_error().map(|e| view! { <p class="worker-error" role="alert" data-testid="log-error">{e}</p> })}
                {move || {
                    let d = logs.with(LogFollow::dropped);
                    (d > 0).then(|| view! {
                        <p class="muted log-dropped" data-testid="log-dropped">
                            {format!("{} older lines not shown (the last {} are kept).", fmt_count(d), fmt_count(MAX_LINES as u64))}
                        </p>
                    })
                }}
                <div class="log-scroll" node_ref=scroller on:scroll=on_scroll>
                    <LogLines lines=lines tz=tz on_job=open_job testid="worker-log-lines" />
                    {move || (logs.with(|l| l.loaded() && l.lines().is_empty())).then(|| view! {
                        <p class="muted log-empty" data-testid="log-empty">"No lines from this worker in the window."</p>
                    })}
                </div>
            </div>
        </section>
    }
}

fn log_status_text(l: &LogFollow, refresh_on: bool, tz: TimeZone) -> String {
    let when = l
        .poll
        .last_ok_ms
        .map(|t| format!(" · updated {}", fmt_clock(t as i64, tz)))
        .unwrap_or_default();
    let n = l.lines().len();
    let lines = format!("{} lines", fmt_count(n as u64));
    match (l.loaded(), refresh_on) {
        (false, _) => "Loading…".into(),
        (true, true) => format!("{lines} · following live{when}"),
        (true, false) => format!("{lines} · auto-refresh is off{when}"),
    }
}

fn facts_view(origin: Origin, f: WorkerFacts, fallback: bool, tz: TimeZone) -> impl IntoView {
    let t = |ms: Option<i64>| {
        ms.map(|ms| fmt_datetime(ms, tz))
            .unwrap_or_else(|| "—".into())
    };
    let row = |k: &'static str, v: String| view! { <dt>{k}</dt><dd>{v}</dd> };
    let state = f.state.map(|s| {
        let name = crate::workers::lanes::state_name(s);
        (name, format!("badge state-{name}"))
    });
    let end = match (f.exit_code, f.signal) {
        (Some(c), Some(s)) => Some(format!("exit code {c}, signal {s}")),
        (Some(c), None) => Some(format!("exit code {c}")),
        (None, Some(s)) => Some(format!("signal {s}")),
        (None, None) => None,
    };
    let note = if fallback {
        Some(
            "The server no longer lists this worker (it keeps live workers and recently ended ones). These facts are derived from the feed's records.",
        )
    } else {
        origin.note()
    };
    let last_lines = (!f.last_lines.is_empty()).then(|| f.last_lines.join("\n"));
    view! {
        {note.map(|n| view! { <p class="simulated-note" data-testid="facts-note">{n}</p> })}
        <div class="detail-status">
            {match state {
                Some((name, class)) => view! { <span class=class data-testid="worker-state">{name}</span> }.into_any(),
                None => view! { <span class="badge state-stopped" data-testid="worker-state">"stopped"</span> }.into_any(),
            }}
        </div>
        <dl class="facts">
            {row("Version", if f.version.is_empty() { "—".into() } else { f.version.clone() })}
            {f.gpu.clone().map(|g| row("GPU", g))}
            {f.pid.map(|p| row("PID", p.to_string()))}
            {row("Created", fmt_datetime(f.created_at, tz))}
            {row("Started", t(f.spawned_at))}
            {row("Ready", t(f.ready_at))}
            {row("Cold start", f.cold_start_ms.map(|ms| fmt_ms(ms as f64)).unwrap_or_else(|| "—".into()))}
            {row("Jobs done", fmt_count(f.jobs_done))}
            {f.ended_at.map(|e| row("Ended", fmt_datetime(e, tz)))}
            {end.map(|e| view! { <dt>"Exit"</dt><dd data-testid="worker-exit">{e}</dd> })}
            {f.reason.clone().map(|r| view! { <dt>"Reason"</dt><dd data-testid="worker-reason">{r}</dd> })}
        </dl>
        {last_lines.map(|l| view! {
            <h3>"Last lines"</h3>
            <pre class="raw-status" data-testid="worker-last-lines">{l}</pre>
        })}
    }
}

/// Follows the selected worker: its facts whenever the feed changed, its log every
/// [`LOG_POLL_MS`] while auto-refresh is on. One request at a time; a change of
/// worker, endpoint or refresh wakes it and drops (aborts) what is in flight;
/// failures keep the lines and back off like the feed; it stops with its component.
fn follow(
    view: RwSignal<ViewState>,
    feed: Feed,
    list: RwSignal<Option<WorkerList>>,
    list_error: RwSignal<Option<String>>,
    logs: RwSignal<LogFollow>,
) {
    let (tx, mut rx) = mpsc::unbounded::<()>();
    let key = Memo::new(move |_| {
        view.with(|v| (v.endpoint.clone(), v.worker.clone(), v.refresh.is_some()))
    });
    Effect::new(move |_| {
        key.track();
        let _ = tx.unbounded_send(());
    });
    let alive = Rc::new(Cell::new(true));
    let flag = SendWrapper::new(alive.clone());
    on_cleanup(move || flag.set(false));
    spawn_local(async move {
        let mut current: Option<(EndpointRef, String)> = None;
        let mut facts_version = None;
        while alive.get() {
            while rx.try_recv().is_ok() {}
            let (endpoint, worker, refresh_on) = key.get_untracked();
            let Some(worker) = worker else {
                if rx.next().await.is_none() {
                    break;
                }
                continue;
            };
            let k = (endpoint.clone(), worker.clone());
            if current.as_ref() != Some(&k) {
                logs.set(LogFollow::default());
                list.set(None);
                list_error.set(None);
                facts_version = None;
                current = Some(k);
            }
            // The poll loop swaps the source when the endpoint changes: wait for it.
            let Some(src) = feed.current_source().filter(|s| s.is_for(&endpoint)) else {
                let _ = select(gloo_timers::future::TimeoutFuture::new(100), rx.next()).await;
                continue;
            };
            let since = feed
                .window
                .get_untracked()
                .map(|w| w.from)
                .unwrap_or_else(|| now_ms() as i64 - view.with_untracked(|v| v.range.span()));
            let base = LogFilter {
                worker: Some(worker.clone()),
                since: Some(since),
                ..LogFilter::default()
            };
            let asked = logs.with_untracked(|l| l.next_request(&base));
            let version = feed.version.get_untracked();
            let want_facts = facts_version != Some(version);
            let work = async {
                let mut facts_ok = false;
                if want_facts {
                    match src.workers().await {
                        Ok(l) => {
                            list.set(Some(l));
                            list_error.set(None);
                            facts_ok = true;
                        }
                        Err(e) => list_error.set(Some(read_message(
                            &format!("the facts of worker `{worker}`"),
                            &e,
                        ))),
                    }
                    // Let the facts draw before the lines (a first look draws hundreds).
                    gloo_timers::future::TimeoutFuture::new(0).await;
                }
                (facts_ok, src.logs(&asked).await)
            };
            let outcome = {
                futures::pin_mut!(work);
                match select(work, rx.next()).await {
                    Either::Left((r, _)) => Some(r),
                    Either::Right(_) => None,
                }
            };
            let Some((facts_ok, lines)) = outcome else {
                continue;
            };
            if !alive.get() {
                break;
            }
            let now = now_ms();
            if facts_ok {
                facts_version = Some(version);
            }
            let more = match lines {
                Ok(page) => logs
                    .try_update(|l| l.apply(&asked, page, now))
                    .unwrap_or(false),
                Err(e) => {
                    logs.update(|l| l.fail(e, now));
                    false
                }
            };
            if more {
                continue;
            }
            let delay =
                logs.with_untracked(|l| l.poll.next_delay_ms(refresh_on.then_some(LOG_POLL_MS)));
            match delay {
                Some(ms) => {
                    let _ = select(gloo_timers::future::TimeoutFuture::new(ms), rx.next()).await;
                }
                None => {
                    if rx.next().await.is_none() {
                        break;
                    }
                }
            }
        }
    });
}
