//! The Workers tab: one lane per worker across the window (its states, the jobs it
//! ran on top), and the selected worker's facts and live logs.

use std::sync::Arc;

use endpoint_core::JobStatus;
use leptos::prelude::*;

use crate::feed::live::{Feed, answered};
use crate::view::state::{Tab, TimeZone, ViewState};
use crate::view::time::{fmt_axis, fmt_clock, fmt_count, fmt_ms, now_ms};
use crate::workers::lanes::{self, JobBlock, Lane, Lanes, MAX_LANES, Segment, state_name};
use crate::workers::worker_detail::WorkerDetail;

/// Ticks on the time axis (both ends included).
const TICKS: i64 = 6;

/// The Workers tab.
#[component]
pub fn WorkersTab(
    /// The page's view (the selected worker lives in it).
    view: RwSignal<ViewState>,
    /// The feed (records, source).
    feed: Feed,
) -> impl IntoView {
    let tz = Signal::derive(move || view.with(|v| v.tz));
    let asked = answered(move || {
        feed.version.get();
        let at = feed.at.get();
        let now = if at > 0 { at } else { now_ms() as i64 };
        let engine = feed.engine();
        Some(async move {
            crate::view::time::mark("em-lanes-start");
            let l = engine.lanes(now).await;
            crate::view::time::measure("em-lanes", Some("em-lanes-start"));
            l.map(Arc::new)
        })
    });
    let lanes: Memo<Option<Arc<Lanes>>> = Memo::new(move |_| asked.get().flatten());
    let names = Memo::new(move |_| {
        lanes.with(|l| {
            l.as_ref()
                .map(|l| l.lanes.iter().map(|x| x.worker.clone()).collect::<Vec<_>>())
                .unwrap_or_default()
        })
    });
    let ctx = LaneCtx {
        view,
        lanes,
        tz,
        open_job: Callback::new(move |id: String| {
            view.update(|v| {
                v.jobs.job = Some(id);
                v.tab = Tab::Jobs;
            })
        }),
    };
    let summary = move || {
        lanes.with(|l| match l {
            None => "Loading workers…".to_string(),
            Some(l) => summary_text(l),
        })
    };
    let shown = move || lanes.with(|l| l.as_ref().map_or(0, |l| l.lanes.len()));
    let hidden = move || lanes.with(|l| l.as_ref().map_or(0, |l| l.hidden));
    let selected = move || view.with(|v| v.worker.is_some());
    view! {
        <section class="workers" aria-label="Workers" data-testid="workers-tab">
            <div class="workers-head">
                <p class="worker-count" data-testid="worker-count" data-value=move || shown().to_string() data-hidden=move || hidden().to_string()>
                    {summary}
                </p>
                <Legend />
            </div>
            <Show when=move || !selected()>
                <p class="muted workers-hint">"Click a worker's name for its facts and live logs, or a job for its detail."</p>
            </Show>
            <div class="lanes card" class:with-detail=selected data-testid="lanes">
                <Axis lanes=lanes tz=tz />
                {move || (lanes.with(|l| l.as_ref().is_some_and(|l| l.lanes.is_empty()))).then(|| view! {
                    <p class="muted lanes-empty" data-testid="lanes-empty">"No worker was active in this window."</p>
                })}
                <For
                    each=move || names.get()
                    key=|w: &String| w.clone()
                    children=move |w: String| view! { <LaneRow ctx=ctx worker=w /> }
                />
            </div>
            <Show when=selected>
                <WorkerDetail view=view feed=feed />
            </Show>
        </section>
    }
}

/// What every lane reads.
#[derive(Clone, Copy)]
struct LaneCtx {
    view: RwSignal<ViewState>,
    lanes: Memo<Option<Arc<Lanes>>>,
    tz: Signal<TimeZone>,
    open_job: Callback<String>,
}

fn summary_text(l: &Lanes) -> String {
    let jobs: u64 = l.lanes.iter().map(|x| u64::from(x.job_count)).sum();
    let total = l.lanes.len() + l.hidden;
    let mut s = format!(
        "{} workers active in the window, {} jobs run",
        fmt_count(total as u64),
        fmt_count(jobs)
    );
    if l.hidden > 0 {
        s.push_str(&format!(
            "; showing the {MAX_LANES} most recently active, {} more hidden",
            fmt_count(l.hidden as u64)
        ));
    }
    s.push('.');
    s
}

/// The states' colours and the jobs'.
#[component]
fn Legend() -> impl IntoView {
    let states = endpoint_core::WorkerState::ALL.map(state_name);
    view! {
        <ul class="lane-legend" aria-label="Legend">
            {states
                .into_iter()
                .map(|s| view! { <li><span class=format!("swatch seg state-{s}")></span>{s}</li> })
                .collect_view()}
            <li><span class="swatch job-block status-completed"></span>"job"</li>
            <li><span class="swatch job-block status-failed"></span>"failed"</li>
            <li><span class="swatch job-block status-in_progress"></span>"running job"</li>
        </ul>
    }
}

/// Times along the lanes.
#[component]
fn Axis(lanes: Memo<Option<Arc<Lanes>>>, tz: Signal<TimeZone>) -> impl IntoView {
    let ticks = move || {
        let tz = tz.get();
        lanes.with(|l| {
            let Some(l) = l else { return Vec::new() };
            let span = l.to - l.from;
            let mut v: Vec<(f64, String, &'static str)> = (0..TICKS)
                .map(|i| {
                    let t = l.from + span * i / (TICKS - 1);
                    let class = match i {
                        0 => "tick first",
                        i if i == TICKS - 1 => "tick last",
                        _ => "tick",
                    };
                    (l.pct(t), fmt_axis(t, tz, span / (TICKS - 1), span), class)
                })
                .collect();
            // "now" when it is away from the last tick (a live window ends just after it).
            if (l.to - l.end) * 16 > span {
                v.push((l.pct(l.end), "now".into(), "tick now"));
            }
            v
        })
    };
    view! {
        <div class="lane lane-axis" aria-hidden="true">
            <span class="lane-name"></span>
            <div class="lane-track axis-track">
                {move || ticks()
                    .into_iter()
                    .map(|(left, label, class)| view! {
                        <span class=class style:left=format!("{left:.3}%")>{label}</span>
                    })
                    .collect_view()}
            </div>
        </div>
    }
}

/// One worker's lane: its name (selects it), its states, its jobs (open them).
#[component]
fn LaneRow(ctx: LaneCtx, worker: String) -> impl IntoView {
    let id = worker.clone();
    // Only this lane's changes redraw it.
    let lane = Memo::new(move |_| {
        ctx.lanes.with(|l| {
            l.as_ref().and_then(|l| {
                l.lanes
                    .iter()
                    .find(|x| x.worker == id)
                    .map(|x| (x.clone(), l.from, l.to))
            })
        })
    });
    let name = worker.clone();
    let is_selected = Memo::new(move |_| {
        ctx.view
            .with(|v| v.worker.as_deref() == Some(name.as_str()))
    });
    let pick = worker.clone();
    let select = move |_| ctx.view.update(|v| v.worker = Some(pick.clone()));
    let state = move || {
        lane.with(|l| {
            l.as_ref()
                .map(|(l, _, _)| l.state.map_or("stopped", state_name))
                .unwrap_or("stopped")
        })
    };
    let title = worker.clone();
    let data_worker = worker.clone();
    view! {
        <div class="lane" class:selected=is_selected data-testid="worker-lane" data-worker=data_worker>
            <button
                type="button"
                class="lane-name"
                data-testid="worker-name"
                aria-pressed=move || is_selected.get().to_string()
                title=format!("{title}: facts and logs")
                on:click=select
            >
                <span class=move || format!("dot state-{}", state())></span>
                <span class="lane-id">{worker}</span>
            </button>
            <div class="lane-track">
                {move || lane.get().map(|(l, from, to)| track(ctx, l, from, to))}
            </div>
        </div>
    }
}

fn track(ctx: LaneCtx, lane: Lane, from: i64, to: i64) -> impl IntoView {
    let geo = (from, to);
    let tz = ctx.tz.get();
    let segments = lane
        .segments
        .into_iter()
        .map(|s| segment(geo, s, tz))
        .collect_view();
    // Failed and running jobs last, so they are drawn over the blocks beside them.
    let mut blocks = lane.jobs;
    blocks.sort_by_key(|b| match b.status {
        JobStatus::Failed | JobStatus::TimedOut => 2,
        JobStatus::InProgress => 1,
        _ => 0,
    });
    let jobs = blocks
        .into_iter()
        .map(|b| job_block(geo, b, tz, ctx.open_job))
        .collect_view();
    (segments, jobs)
}

fn segment(geo: (i64, i64), s: Segment, tz: TimeZone) -> impl IntoView {
    let (left, width) = lanes::place(geo, s.from, s.to);
    let name = state_name(s.state);
    let title = format!(
        "{name} {}–{} ({})",
        fmt_clock(s.from, tz),
        fmt_clock(s.to, tz),
        fmt_ms((s.to - s.from) as f64)
    );
    view! {
        <span
            class=format!("seg state-{name}")
            data-testid="worker-segment"
            data-state=name
            title=title
            style:left=format!("{left:.3}%")
            style:width=format!("{width:.3}%")
        ></span>
    }
}

fn job_block(geo: (i64, i64), b: JobBlock, tz: TimeZone, open: Callback<String>) -> impl IntoView {
    let (left, width) = lanes::place(geo, b.from, b.to);
    let status = b.status.as_str();
    let class = format!(
        "job-block status-{}{}",
        status.to_lowercase(),
        if b.count > 1 { " multi" } else { "" }
    );
    let span = format!("{}–{}", fmt_clock(b.from, tz), fmt_clock(b.to, tz));
    let title = if b.count == 1 {
        format!(
            "Job {} · {status} · {span} ({})",
            b.job,
            fmt_ms((b.to - b.from) as f64)
        )
    } else {
        let failed = if b.failed > 0 {
            format!(", {} failed", b.failed)
        } else {
            String::new()
        };
        format!(
            "{} jobs{failed} · {span} · opens {} ({status})",
            b.count, b.job
        )
    };
    let id = b.job.clone();
    view! {
        <button
            type="button"
            class=class
            data-testid="worker-job"
            data-job=b.job.clone()
            data-count=b.count.to_string()
            title=title.clone()
            aria-label=title
            style:left=format!("{left:.3}%")
            style:width=format!("{width:.3}%")
            on:click=move |_| open.run(id.clone())
        ></button>
    }
}
