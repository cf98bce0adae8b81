//! The live feed: the poll loop that follows the selected endpoint, and the signals
//! ([`Feed`]) through which every tab reads its records and numbers.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use endpoint_core::Aggregation;
use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::{Either, select};
use leptos::prelude::*;
use leptos::task::spawn_local;
use send_wrapper::SendWrapper;

use crate::feed::api::{FetchError, KeyRole};
use crate::feed::data::{MetricsData, NowCounts};
use crate::feed::poll::PollState;
use crate::feed::source::{CHANGES_LIMIT, Source};
use crate::view::range::{self, MAX_RANGE_MS};
use crate::view::state::{EndpointRef, ViewState};
use crate::view::time::now_ms;

/// The records held for the window (`None` before the first snapshot).
pub type SharedData = Rc<RefCell<Option<MetricsData>>>;

/// What the poll loop shares with the page: the numbers, the records behind them
/// (the job list reads them), the data source (actions go through it), and the state.
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
    /// Bumped whenever the records change (the job list recomputes on it).
    pub version: RwSignal<u64>,
    /// The records. Borrowed only briefly, never across an await.
    pub data: StoredValue<SharedData, LocalStorage>,
    /// The source being followed.
    pub source: StoredValue<Rc<RefCell<Option<Source>>>, LocalStorage>,
    /// Set to ask the poll loop for a refresh now (after a cancel, say).
    pub poke: RwSignal<u32>,
    /// What the key may do on the endpoint (`None` until the server said): actions
    /// are shown only to a key that may take them.
    pub role: RwSignal<Option<KeyRole>>,
}

impl Feed {
    /// Empty signals.
    pub fn new() -> Self {
        Feed {
            agg: RwSignal::new(None),
            now: RwSignal::new(None),
            poll: RwSignal::new(PollState::default()),
            at: RwSignal::new(0),
            version: RwSignal::new(0),
            data: StoredValue::new_local(Rc::default()),
            source: StoredValue::new_local(Rc::default()),
            poke: RwSignal::new(0),
            role: RwSignal::new(None),
        }
    }

    /// Whether the key may act (cancel, retry, purge); false until known.
    pub fn may_operate(&self) -> bool {
        self.role.get() == Some(KeyRole::Operate)
    }

    /// The source being followed, if any.
    pub fn current_source(&self) -> Option<Source> {
        self.source.with_value(|s| s.borrow().clone())
    }

    /// Reads the records, if there are any and they are not being updated.
    pub fn with_data<R>(&self, f: impl FnOnce(&MetricsData) -> R) -> Option<R> {
        self.data
            .with_value(|d| d.try_borrow().ok().and_then(|d| d.as_ref().map(f)))
    }

    /// Asks the poll loop to refresh now.
    pub fn refresh_now(&self) {
        self.poke.update(|p| *p = p.wrapping_add(1));
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
    // Only what the feed depends on wakes it (not the tab, the theme or the job
    // list's filters).
    let wanted =
        Memo::new(move |_| view.with(|v| (v.endpoint.clone(), v.range, v.bucket, v.refresh)));
    Effect::new(move |_| {
        wanted.track();
        key_version.get();
        feed.poke.get();
        let _ = tx.unbounded_send(());
    });
    let shared = feed.data.get_value();
    let shared_source = feed.source.get_value();
    let alive = Rc::new(Cell::new(true));
    let alive_flag = SendWrapper::new(alive.clone());
    on_cleanup(move || alive_flag.set(false));
    spawn_local(async move {
        let mut source: Option<(EndpointRef, Option<String>, Source)> = None;
        let mut first_render = true;
        // Let the page paint before the Demo plays its day of history.
        gloo_timers::future::TimeoutFuture::new(20).await;
        while alive.get() {
            while rx.try_recv().is_ok() {}
            let v = view.get_untracked();
            let key = crate::settings::store::api_key(&v.endpoint);
            let same_endpoint = source.as_ref().is_some_and(|(e, _, _)| *e == v.endpoint);
            if !same_endpoint {
                *shared.borrow_mut() = None;
                feed.version.update(|v| *v += 1);
                feed.agg.set(None);
                feed.now.set(None);
                feed.poll.set(PollState::default());
            }
            if !same_endpoint || source.as_ref().is_some_and(|(_, k, _)| *k != key) {
                feed.role.set(None);
                let src = Source::for_endpoint(&v.endpoint, key.clone());
                *shared_source.borrow_mut() = Some(src.clone());
                source = Some((v.endpoint.clone(), key, src));
            }
            let Some((_, _, src)) = source.as_ref() else {
                break;
            };
            let outcome = {
                let step = refresh(src, &shared, &v, feed.version);
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
                    let fresh = shared
                        .borrow_mut()
                        .as_mut()
                        .map(|d| (Arc::new(d.result()), d.now()));
                    if let Some((agg, counts)) = fresh {
                        crate::view::time::measure("em-aggregate", Some("em-body"));
                        feed.at.set(now as i64);
                        feed.agg.set(Some(agg));
                        feed.now.set(Some(counts));
                        feed.version.update(|v| *v += 1);
                    }
                    feed.poll.update(|p| p.record_ok(now));
                    // Let the effects (text, charts' setOption) run, then measure the
                    // main-thread work since the answer's body arrived.
                    leptos::task::tick().await;
                    crate::view::time::measure("em-refresh", Some("em-body"));
                    if std::mem::take(&mut first_render) {
                        crate::view::time::measure("em-first-render", None);
                    }
                    // Once per source (and after a failure), after the numbers are on
                    // screen: what the key may do decides which actions are shown.
                    if feed.role.get_untracked().is_none()
                        && let Some((_, _, src)) = source.as_ref()
                    {
                        match src.access().await {
                            Ok(role) => feed.role.set(Some(role)),
                            Err(e) => {
                                leptos::logging::warn!("cannot learn what the key may do: {e}")
                            }
                        }
                    }
                }
                Err(FetchError::Http { status: 410, .. }) => {
                    // The feed moved past our cursor: take a new snapshot now.
                    *shared.borrow_mut() = None;
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
///
/// The records are borrowed only between awaits, so the job list can read them
/// while a request is in flight. Row numbers change only when the records are
/// replaced or compacted, and `version` is bumped right then.
async fn refresh(
    src: &Source,
    shared: &SharedData,
    v: &ViewState,
    version: RwSignal<u64>,
) -> Result<(), FetchError> {
    let now = now_ms() as i64;
    let held = shared
        .borrow()
        .as_ref()
        .map(|d| (d.store().len(), d.window().bucket));
    let window = match held {
        Some((jobs, width)) => {
            range::window_at(v.range, Some(bucket_for(v, jobs, Some(width))), now)
        }
        None => range::window_at(v.range, v.bucket, now),
    };
    let cursor = shared
        .borrow()
        .as_ref()
        .filter(|d| d.covers(&window))
        .map(|d| d.cursor());
    match cursor {
        Some(mut cursor) => {
            loop {
                let ch = src.changes(cursor, now).await?;
                let full = ch.len() >= CHANGES_LIMIT;
                let mut held = shared.borrow_mut();
                let Some(d) = held.as_mut() else {
                    return Ok(());
                };
                d.merge(&ch)?;
                cursor = d.cursor();
                if !full {
                    break;
                }
            }
            let slid = shared
                .borrow_mut()
                .as_mut()
                .is_some_and(|d| d.set_window(window));
            if slid {
                version.update(|v| *v += 1);
                crate::view::time::mark("em-slide");
                // A rebuild (tens of ms at a million jobs): give the browser the main
                // thread before the charts update, so neither makes one long task.
                gloo_timers::future::TimeoutFuture::new(0).await;
            }
        }
        None => {
            // One bucket earlier than this width needs: the automatic width chosen
            // from the snapshot's jobs may align the window a little earlier.
            let from = (window.from - window.bucket).max(window.to - MAX_RANGE_MS);
            let snap = src.snapshot(from, window.to, now).await?;
            let window = range::window_at(v.range, Some(bucket_for(v, snap.jobs.len(), None)), now);
            *shared.borrow_mut() = Some(MetricsData::from_snapshot(snap, window, now));
            version.update(|v| *v += 1);
        }
    }
    Ok(())
}

/// The bucket width for `v`: the user's, or the automatic one for the `jobs` held
/// (keeping `current` while it still gives readable percentiles).
fn bucket_for(v: &ViewState, jobs: usize, current: Option<i64>) -> i64 {
    v.bucket
        .unwrap_or_else(|| range::auto_bucket_for(v.range.span(), jobs as u64, current))
}
