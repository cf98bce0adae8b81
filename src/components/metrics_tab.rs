//! The Metrics tab: follows the selected endpoint's feed and draws every metric.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use endpoint_core::Aggregation;
use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::{Either, select};
use leptos::prelude::*;
use leptos::task::spawn_local;
use send_wrapper::SendWrapper;

use crate::api::FetchError;
use crate::chart_options::Ctx;
use crate::components::cold_start_count_chart::ColdStartCountChart;
use crate::components::now_strip::NowStrip;
use crate::components::percentile_chart::{Metric, PercentileChart};
use crate::components::requests_chart::RequestsChart;
use crate::components::webhook_chart::WebhookChart;
use crate::components::worker_chart::WorkerChart;
use crate::metrics_data::{MetricsData, NowCounts};
use crate::poll::PollState;
use crate::range::{self, MAX_RANGE_MS};
use crate::source::{CHANGES_LIMIT, Source};
use crate::time::now_ms;
use crate::view_state::{EndpointRef, ViewState};

/// What the tab shares with the page (status line, header).
#[derive(Clone, Copy)]
pub struct Feed {
    /// The numbers on screen.
    pub agg: RwSignal<Option<Arc<Aggregation>>>,
    /// Counts of now.
    pub now: RwSignal<Option<NowCounts>>,
    /// The poll loop's state.
    pub poll: RwSignal<PollState>,
    /// When the numbers were computed (decides the filling bucket).
    pub at: RwSignal<i64>,
}

impl Feed {
    /// Empty signals.
    pub fn new() -> Self {
        Feed {
            agg: RwSignal::new(None),
            now: RwSignal::new(None),
            poll: RwSignal::new(PollState::default()),
            at: RwSignal::new(0),
        }
    }
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts the poll loop for `view` into `feed`; stops when the owner is cleaned up.
///
/// One request at a time: the next starts only after the previous one answered (or
/// timed out) and the refresh interval elapsed, so a slow server never gets a pile of
/// requests. A change of view wakes the loop at once (dropping, and so aborting, a
/// request in flight). Failures keep the last good data on screen, marked stale, and
/// are retried with backoff (longer if the server sends `Retry-After`).
pub fn follow(view: RwSignal<ViewState>, key_version: Signal<u32>, feed: Feed) {
    let (tx, mut rx) = mpsc::unbounded::<()>();
    Effect::new(move |_| {
        view.with(|v| (v.endpoint.clone(), v.range, v.bucket, v.refresh));
        key_version.get();
        let _ = tx.unbounded_send(());
    });
    let alive = Rc::new(Cell::new(true));
    let alive_flag = SendWrapper::new(alive.clone());
    on_cleanup(move || alive_flag.set(false));
    spawn_local(async move {
        let mut source: Option<(EndpointRef, Option<String>, Source)> = None;
        let mut data: Option<MetricsData> = None;
        let mut first_render = true;
        // Let the page paint before the Demo plays its day of history.
        gloo_timers::future::TimeoutFuture::new(20).await;
        while alive.get() {
            while rx.try_recv().is_ok() {}
            let v = view.get_untracked();
            let key = crate::settings::api_key(&v.endpoint);
            let same_endpoint = source.as_ref().is_some_and(|(e, _, _)| *e == v.endpoint);
            if !same_endpoint {
                data = None;
                feed.agg.set(None);
                feed.now.set(None);
                feed.poll.set(PollState::default());
            }
            if !same_endpoint || source.as_ref().is_some_and(|(_, k, _)| *k != key) {
                let src = Source::for_endpoint(&v.endpoint, key.clone(), now_ms() as i64);
                source = Some((v.endpoint.clone(), key, src));
            }
            let Some((_, _, src)) = source.as_ref() else {
                break;
            };
            let outcome = {
                let step = refresh(src, &mut data, &v);
                futures::pin_mut!(step);
                match select(step, rx.next()).await {
                    Either::Left((r, _)) => Some(r),
                    Either::Right(_) => None,
                }
            };
            // The view changed meanwhile: start over with it.
            let Some(result) = outcome else { continue };
            if !alive.get() {
                break;
            }
            let now = now_ms();
            match result {
                Ok(()) => {
                    if let Some(d) = data.as_mut() {
                        let agg = Arc::new(d.result());
                        crate::time::measure("em-aggregate", Some("em-body"));
                        feed.at.set(now as i64);
                        feed.agg.set(Some(agg));
                        feed.now.set(Some(d.now()));
                    }
                    feed.poll.update(|p| p.record_ok(now));
                    // Let the effects (text, charts' setOption) run, then measure the
                    // main-thread work since the answer's body arrived.
                    leptos::task::tick().await;
                    crate::time::measure("em-refresh", Some("em-body"));
                    if std::mem::take(&mut first_render) {
                        crate::time::measure("em-first-render", None);
                    }
                }
                Err(FetchError::Http { status: 410, .. }) => {
                    // The feed moved past our cursor: take a new snapshot now.
                    data = None;
                    continue;
                }
                Err(e) => feed.poll.update(|p| p.record_err(now, e)),
            }
            let delay = feed.poll.with_untracked(|p| p.next_delay_ms(v.refresh));
            match delay {
                Some(ms) => {
                    let _ = select(gloo_timers::future::TimeoutFuture::new(ms), rx.next()).await;
                }
                None => {
                    rx.next().await;
                }
            }
        }
    });
}

/// One refresh: a snapshot when there is no data for the window yet, otherwise the
/// changes since the last cursor (every page of them), then the window moved to now.
async fn refresh(
    src: &Source,
    data: &mut Option<MetricsData>,
    v: &ViewState,
) -> Result<(), FetchError> {
    let now = now_ms() as i64;
    let window = range::window_at(v.range, v.bucket, now);
    match data {
        Some(d) if d.covers(&window) => {
            loop {
                let ch = src.changes(d.cursor(), now).await?;
                let full = ch.len() >= CHANGES_LIMIT;
                d.merge(&ch)?;
                if !full {
                    break;
                }
            }
            if d.set_window(window) {
                crate::time::mark("em-slide");
                // A rebuild (tens of ms at a million jobs): give the browser the main
                // thread before the charts update, so neither makes one long task.
                gloo_timers::future::TimeoutFuture::new(0).await;
            }
        }
        _ => {
            let from = window.from.max(window.to - MAX_RANGE_MS);
            let snap = src.snapshot(from, window.to, now).await?;
            *data = Some(MetricsData::from_snapshot(snap, window, now));
        }
    }
    Ok(())
}

/// The charts of the Metrics tab.
#[component]
pub fn MetricsTab(
    /// The feed's signals.
    feed: Feed,
    /// Time zone, now and colours.
    #[prop(into)]
    ctx: Signal<Ctx>,
) -> impl IntoView {
    let data: Signal<Option<Arc<Aggregation>>> = feed.agg.into();
    let window = move || {
        data.with(|d| {
            d.as_ref().map(|a| {
                (
                    a.window.from.to_string(),
                    a.window.to.to_string(),
                    a.window.bucket.to_string(),
                )
            })
        })
    };
    view! {
        <section
            class="metrics"
            aria-label="Metrics"
            data-testid="metrics"
            data-from=move || window().map(|w| w.0)
            data-to=move || window().map(|w| w.1)
            data-bucket=move || window().map(|w| w.2)
        >
            <NowStrip now=feed.now />
            <div class="charts">
                <RequestsChart data=data ctx=ctx />
                <PercentileChart metric=Metric::Execution data=data ctx=ctx />
                <PercentileChart metric=Metric::Delay data=data ctx=ctx />
                <PercentileChart metric=Metric::ColdStart data=data ctx=ctx />
                <ColdStartCountChart data=data ctx=ctx />
                <WebhookChart data=data ctx=ctx />
                <WorkerChart data=data ctx=ctx />
            </div>
        </section>
    }
}
