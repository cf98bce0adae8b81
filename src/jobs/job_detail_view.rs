//! One job: its facts, a waterfall of its life (queue, the cold start it waited on,
//! run, end, webhook attempts), its actions, and the raw `/status` JSON.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::feed::live::answered;
use crate::jobs::context::JobsCtx;
use crate::jobs::detail::{JobDetail, StepKind};
use crate::view::state::{EndpointRef, TimeZone};
use crate::view::time::{fmt_datetime, fmt_ms};
use crate::workers::facts::{LogFilter, LogLine, MAX_LIMIT};
use crate::workers::log_lines::LogLines;

/// The detail of the job named in the view (`?job=`).
#[component]
pub fn JobDetailView(
    /// The job list's shared state.
    ctx: JobsCtx,
    /// Time zone of times.
    tz: Signal<TimeZone>,
) -> impl IntoView {
    let view = ctx.view;
    let id = Memo::new(move |_| view.with(|v| v.jobs.job.clone().unwrap_or_default()));
    let asked = answered(move || {
        ctx.feed.version.get();
        let id = id.get();
        let engine = ctx.feed.engine();
        Some(async move { (id.clone(), engine.detail(id).await) })
    });
    // The answer for the job open now (not one asked for the job before).
    let detail = Memo::new(move |_| {
        let id = id.get();
        asked.with(|a| {
            a.as_ref()
                .filter(|(of, _)| *of == id)
                .and_then(|(_, d)| d.clone())
        })
    });
    // Whether the engine answered for the job open now.
    let known = move || asked.with(|a| a.as_ref().is_some_and(|(of, _)| *of == id.get()));
    // The raw status, fetched when the job opens and after each change of its state.
    let raw = RwSignal::new(None::<Result<String, String>>);
    let raw_key = Memo::new(move |_| {
        (
            id.get(),
            detail.with(|d| d.as_ref().map(|d| d.record.status)),
        )
    });
    Effect::new(move |_| {
        let (id, _) = raw_key.get();
        let Some(src) = ctx.feed.current_source() else {
            return;
        };
        spawn_local(async move {
            let r = src
                .status_json(&id)
                .await
                .map_err(|e| crate::feed::api::action_message("read the status of", Some(&id), &e));
            if ctx
                .view
                .with_untracked(|v| v.jobs.job.as_deref() == Some(id.as_str()))
            {
                raw.set(Some(r));
            }
        });
    });
    // The job's own log lines, likewise; the last good ones stay when a read fails.
    let log_lines = RwSignal::new(None::<Vec<LogLine>>);
    let log_error = RwSignal::new(None::<String>);
    let logs_key = Memo::new(move |_| {
        let (id, status) = raw_key.get();
        let since = detail.with(|d| d.as_ref().map(|d| d.record.submitted_at));
        (id, status, since)
    });
    let logs_of = Memo::new(move |_| id.get());
    Effect::new(move |_| {
        logs_of.track();
        log_lines.set(None);
        log_error.set(None);
    });
    Effect::new(move |_| {
        let (id, _, since) = logs_key.get();
        let Some(src) = ctx.feed.current_source() else {
            return;
        };
        spawn_local(async move {
            let filter = LogFilter {
                job: Some(id.clone()),
                since,
                limit: Some(MAX_LIMIT),
                ..LogFilter::default()
            };
            let r = src.logs(&filter).await;
            if ctx
                .view
                .with_untracked(|v| v.jobs.job.as_deref() != Some(id.as_str()))
            {
                return;
            }
            match r {
                Ok(page) => {
                    log_lines.set(Some(page.lines));
                    log_error.set(None);
                }
                Err(e) => log_error.set(Some(crate::feed::api::read_message(
                    &format!("the logs of job `{id}`"),
                    &e,
                ))),
            }
        });
    });
    let is_demo = move || view.with(|v| v.endpoint == EndpointRef::Demo);
    let lines = Signal::derive(move || log_lines.get().unwrap_or_default());
    let close = move |_| view.update(|v| v.jobs.job = None);
    let copied = RwSignal::new(false);
    let copy = move |_| {
        let text = id.get_untracked();
        let clip = window().navigator().clipboard();
        let _ = clip.write_text(&text);
        copied.set(true);
    };
    view! {
        <aside class="job-detail card" aria-label="Job detail" data-testid="job-detail">
            <header>
                <h2>"Job"</h2>
                <code class="mono" data-testid="detail-id">{move || id.get()}</code>
                <button type="button" class="small" data-testid="copy-id" on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy id" }}
                </button>
                <button type="button" class="small close" aria-label="Close the detail" data-testid="detail-close" on:click=close>
                    "×"
                </button>
            </header>
            {move || match detail.get() {
                None if !known() => view! {
                    <p class="muted" data-testid="detail-loading">"Reading the job…"</p>
                }.into_any(),
                None => view! {
                    <p class="muted" data-testid="detail-missing">
                        "This job is not among the records of the window (it may be older, or not arrived yet)."
                    </p>
                }.into_any(),
                Some(d) => facts(ctx, d, tz.get()).into_any(),
            }}
            <h3>"Logs"</h3>
            <div class="job-logs" data-testid="job-logs">
                <Show when=is_demo>
                    <p class="simulated-note" data-testid="job-logs-simulated">
                        "Simulated lines: the Demo has no processes; these are made up from the job's record."
                    </p>
                </Show>
                {move || log_error.get().map(|e| view! { <p class="worker-error" role="alert" data-testid="job-logs-error">{e}</p> })}
                {move || match log_lines.with(|l| l.as_ref().map(Vec::is_empty)) {
                    None if log_error.with(Option::is_none) => Some(view! { <p class="muted">"Loading…"</p> }.into_any()),
                    Some(true) => Some(view! {
                        <p class="muted" data-testid="job-logs-empty">"No log lines for this job (yet)."</p>
                    }.into_any()),
                    _ => None,
                }}
                <LogLines lines=lines tz=tz testid="job-log-lines" />
            </div>
            <h3>"Raw status"</h3>
            <pre class="raw-status" data-testid="raw-status">
                {move || match raw.get() {
                    None => "Loading…".to_string(),
                    Some(Ok(s)) => s,
                    Some(Err(e)) => e,
                }}
            </pre>
        </aside>
    }
}

fn facts(ctx: JobsCtx, d: JobDetail, tz: TimeZone) -> impl IntoView {
    let r = d.record.clone();
    let steps = d.timeline();
    let start = r.submitted_at;
    let end = steps
        .iter()
        .map(|s| s.end.unwrap_or(s.at))
        .chain(steps.iter().map(|s| s.at))
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let first = steps.iter().map(|s| s.at).min().unwrap_or(start).min(start);
    let span = (end - first).max(1) as f64;
    let pct = |t: i64| ((t - first) as f64 / span * 100.0).clamp(0.0, 100.0);
    let webhook = match &r.webhook {
        None => "none".to_string(),
        Some(w) if w.delivered => format!("delivered ({} attempts)", w.attempts),
        Some(w) if w.attempts == 0 => "pending".to_string(),
        Some(w) => format!(
            "failing: {} ({} attempts)",
            w.last_status
                .map(|s| format!("HTTP {s}"))
                .or(w.last_error.clone())
                .unwrap_or_default(),
            w.attempts
        ),
    };
    let status = r.status;
    let id = r.id.clone();
    let id_retry = r.id.clone();
    let row = |k: &'static str, v: String| view! { <dt>{k}</dt><dd>{v}</dd> };
    view! {
        <div class="detail-status">
            <span class=format!("badge status-{}", status.as_str().to_lowercase()) data-testid="detail-status">
                {status.as_str()}
            </span>
            {move || ctx.can_cancel(status).then(|| {
                let id = id.clone();
                view! {
                    <button type="button" class="small danger" data-testid="detail-cancel"
                        on:click=move |_| ctx.ask_cancel(id.clone(), status)>"Cancel"</button>
                }
            })}
            {move || ctx.can_retry(status).then(|| {
                let id = id_retry.clone();
                view! {
                    <button type="button" class="small" data-testid="detail-retry"
                        on:click=move |_| ctx.ask_retry(id.clone())>"Retry"</button>
                }
            })}
        </div>
        <dl class="facts">
            {row("Submitted", fmt_datetime(r.submitted_at, tz))}
            {row("Delay", r.delay_time.map(fmt_ms).unwrap_or_else(|| "—".into()))}
            {row("Execution", r.execution_time.map(fmt_ms).unwrap_or_else(|| "—".into()))}
            {row("Worker", r.worker_id.clone().unwrap_or_else(|| "—".into()))}
            {row("Retries", r.retries.to_string())}
            {row("Webhook", webhook)}
            {r.error.clone().map(|e| view! { <dt>"Error"</dt><dd class="error-text" data-testid="detail-error">{e}</dd> })}
        </dl>
        <h3>"Timeline"</h3>
        <ol class="timeline" data-testid="timeline">
            {steps
                .into_iter()
                .map(|s| {
                    let kind = match s.kind {
                        StepKind::Queued => "queued".to_string(),
                        StepKind::ColdStart => "cold-start".into(),
                        StepKind::Running => "running".into(),
                        StepKind::Finished(st) => format!("finished status-{}", st.as_str().to_lowercase()),
                        StepKind::Webhook { ok: true } => "webhook ok".into(),
                        StepKind::Webhook { ok: false } => "webhook failed".into(),
                    };
                    let left = pct(s.at);
                    let width = s.end.map_or(0.0, |e| (pct(e) - left).max(0.6));
                    let when = s.when(start, tz);
                    view! {
                        <li class=format!("step {kind}") data-testid="step" data-kind=kind.clone()>
                            <div class="step-text">
                                <strong>{s.title.clone()}</strong>
                                <span class="muted">{when}</span>
                                {(!s.note.is_empty()).then(|| view! { <span class="step-note">{s.note.clone()}</span> })}
                            </div>
                            <div class="step-track" aria-hidden="true">
                                <span
                                    class="step-bar"
                                    style:left=format!("{left:.2}%")
                                    style:width=format!("{width:.2}%")
                                ></span>
                            </div>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
}
