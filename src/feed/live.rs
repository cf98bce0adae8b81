//! The live feed: the poll loop that follows the selected endpoint, and the signals
//! ([`Feed`]) through which every tab reads its records and numbers.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use endpoint_core::{Aggregation, Window};
use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use futures::future::{Either, select};
use leptos::prelude::*;
use leptos::task::spawn_local;
use send_wrapper::SendWrapper;

use crate::feed::api::{FetchError, KeyRole};
use crate::feed::data::NowCounts;
use crate::feed::engine::Engine;
use crate::feed::host::Refreshed;
use crate::feed::messages::Follow;
use crate::feed::poll::PollState;
use crate::feed::source::Source;
use crate::view::state::{EndpointRef, ViewState};
use crate::view::time::now_ms;

/// What the poll loop shares with the page: the numbers, the engine that holds the
/// records behind them (the job list and the workers tab ask it), the data source
/// (actions go through it), and the state.
#[derive(Clone, Copy)]
pub struct Feed {
    /// The numbers on screen.
    pub agg: RwSignal<Option<Arc<Aggregation>>>,
    /// Counts of now.
    pub now: RwSignal<Option<NowCounts>>,
    /// The window the numbers are over (`None` before the first snapshot).
    pub window: RwSignal<Option<Window>>,
    /// The poll loop's state.
    pub poll: RwSignal<PollState>,
    /// When the numbers were computed (decides the filling bucket).
    pub at: RwSignal<i64>,
    /// Bumped whenever the records change (the job list asks again on it).
    pub version: RwSignal<u64>,
    /// The engine's handle on this feed's records.
    pub engine: StoredValue<Engine, LocalStorage>,
    /// The source being followed.
    pub source: StoredValue<Rc<RefCell<Option<Source>>>, LocalStorage>,
    /// Set to ask the poll loop for a refresh now (after a cancel, say).
    pub poke: RwSignal<u32>,
    /// What the key may do on the endpoint (`None` until the server said): actions
    /// are shown only to a key that may take them.
    pub role: RwSignal<Option<KeyRole>>,
}

/// The first refresh of the page's feed, asked for before the app mounts
/// ([`head_start`]): the feed's engine, what it follows, and its answer to come.
struct HeadStart {
    engine: Engine,
    follow: Follow,
    answer: oneshot::Receiver<Result<Option<Refreshed>, FetchError>>,
}

thread_local! {
    static HEAD_START: RefCell<Option<HeadStart>> = const { RefCell::new(None) };
}

/// What the poll loop follows for `v` with the endpoint's `key`.
fn follow_of(v: &ViewState, key: Option<String>) -> Follow {
    Follow {
        endpoint: absolute(&v.endpoint),
        key,
        range: v.range,
        bucket: v.bucket,
    }
}

/// Asks the engine for the first refresh of `view` now, before the app mounts, so
/// that the snapshot's download, decode and aggregation run while the page builds
/// itself (docs/benchmarks.md, "Where the first render's time goes"). The app's
/// feed ([`Feed::new`]) takes that engine, and its poll loop the answer, if the view
/// is still the same by then; else the answer is dropped.
pub fn head_start(view: &ViewState) {
    let engine = Engine::new();
    let follow = follow_of(view, crate::settings::store::api_key(&view.endpoint));
    let (tx, answer) = oneshot::channel();
    let (e, f) = (engine.clone(), follow.clone());
    // Not Leptos's executor: this runs before the mount sets it up.
    wasm_bindgen_futures::spawn_local(async move {
        let _ = tx.send(e.refresh(&f).await);
    });
    HEAD_START.with(|h| {
        *h.borrow_mut() = Some(HeadStart {
            engine,
            follow,
            answer,
        })
    });
}

impl Feed {
    /// Empty signals, and a new feed in the page's engine (the one whose first
    /// refresh [`head_start`] asked for, if any).
    pub fn new() -> Self {
        let engine = HEAD_START.with(|h| h.borrow().as_ref().map(|h| h.engine.clone()));
        Self::with_engine(engine.unwrap_or_default())
    }

    /// Signals over the feed `engine` (holding records already, in tests).
    pub fn with_engine(engine: Engine) -> Self {
        Feed {
            agg: RwSignal::new(None),
            now: RwSignal::new(None),
            window: RwSignal::new(None),
            poll: RwSignal::new(PollState::default()),
            at: RwSignal::new(0),
            version: RwSignal::new(0),
            engine: StoredValue::new_local(engine),
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

    /// The engine's handle on this feed.
    pub fn engine(&self) -> Engine {
        self.engine.get_value()
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
    let engine = feed.engine();
    let shared_source = feed.source.get_value();
    let alive = Rc::new(Cell::new(true));
    let alive_flag = SendWrapper::new(alive.clone());
    let forget = SendWrapper::new(engine.clone());
    on_cleanup(move || {
        alive_flag.set(false);
        forget.forget();
    });
    // The first refresh asked for before the mount, if it is this feed's.
    let mut head = HEAD_START
        .with(|h| h.borrow_mut().take())
        .filter(|h| h.engine.same_feed(&engine));
    spawn_local(async move {
        let mut source: Option<(EndpointRef, Option<String>, Source)> = None;
        let mut first_render = true;
        if head.is_none() {
            // Let the page paint before the Demo plays its day of history.
            gloo_timers::future::TimeoutFuture::new(20).await;
        }
        while alive.get() {
            while rx.try_recv().is_ok() {}
            let v = view.get_untracked();
            let key = crate::settings::store::api_key(&v.endpoint);
            let same_endpoint = source.as_ref().is_some_and(|(e, _, _)| *e == v.endpoint);
            if !same_endpoint {
                feed.version.update(|v| *v += 1);
                feed.agg.set(None);
                feed.window.set(None);
                feed.now.set(None);
                feed.poll.set(PollState::default());
            }
            if !same_endpoint || source.as_ref().is_some_and(|(_, k, _)| *k != key) {
                feed.role.set(None);
                let src = Source::for_endpoint(&v.endpoint, key.clone());
                *shared_source.borrow_mut() = Some(src.clone());
                source = Some((v.endpoint.clone(), key.clone(), src));
            }
            if source.is_none() {
                break;
            }
            let follow = follow_of(&v, key.clone());
            let outcome = {
                let ahead = head.take().filter(|h| h.follow == follow);
                let step = async {
                    match ahead {
                        Some(HeadStart { answer, .. }) => match answer.await {
                            Ok(r) => r,
                            // Its task was dropped: ask again.
                            Err(_) => engine.refresh(&follow).await,
                        },
                        None => engine.refresh(&follow).await,
                    }
                };
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
                Ok(fresh) => {
                    crate::view::time::mark("em-body");
                    if let Some(r) = fresh {
                        if r.slid {
                            crate::view::time::mark("em-slide");
                            // A rebuild on the page (no worker) took tens of ms: let
                            // the browser have the main thread before the charts
                            // update, so neither makes one long task.
                            gloo_timers::future::TimeoutFuture::new(0).await;
                        }
                        feed.at.set(now as i64);
                        feed.window.set(Some(r.window));
                        feed.agg.set(Some(Arc::new(r.agg)));
                        feed.now.set(Some(r.now));
                        feed.version.update(|v| *v += 1);
                        crate::view::time::measure("em-aggregate", Some("em-body"));
                    }
                    feed.poll.update(|p| p.record_ok(now));
                    // Let the effects (text, charts' setOption) run, then measure the
                    // main-thread work since the answer's body arrived.
                    leptos::task::tick().await;
                    crate::view::time::measure("em-refresh", Some("em-body"));
                    if std::mem::take(&mut first_render) {
                        // The charts draw their first time in tasks of their own.
                        crate::charts::chart_card::first_draws_done().await;
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
                    // The feed moved past our cursor: the engine dropped the
                    // records, so the next refresh (now) takes a new snapshot.
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

/// What the engine answers to `ask`, asked again whenever `ask` reads a signal that
/// changed; the last answer stays until the next one arrives (no flicker while the
/// engine works), and an answer overtaken by a newer question is dropped. `ask`
/// returns `None` for "nothing to ask now".
pub fn answered<T, F>(ask: impl Fn() -> Option<F> + 'static) -> ReadSignal<Option<T>>
where
    T: Send + Sync + 'static,
    F: Future<Output = T> + 'static,
{
    use std::sync::atomic::{AtomicU64, Ordering};
    let out = RwSignal::new(None);
    let asked = Arc::new(AtomicU64::new(0));
    Effect::new(move |_| {
        let Some(fut) = ask() else { return };
        let n = asked.fetch_add(1, Ordering::Relaxed) + 1;
        let asked = asked.clone();
        spawn_local(async move {
            let v = fut.await;
            if asked.load(Ordering::Relaxed) == n {
                out.try_set(Some(v));
            }
        });
    });
    out.read_only()
}

/// `endpoint` with a relative API base made absolute against the page: the engine
/// may run in a worker, whose relative URLs would resolve against its own script
/// (beside the bundle), not the page. An empty base (same origin) stays empty.
fn absolute(endpoint: &EndpointRef) -> EndpointRef {
    match endpoint {
        EndpointRef::Http { api_base, id } if !api_base.is_empty() => {
            let base = web_sys::window()
                .and_then(|w| w.location().href().ok())
                .and_then(|page| web_sys::Url::new_with_base(api_base, &page).ok())
                .map(|u| u.href().trim_end_matches('/').to_string())
                .unwrap_or_else(|| api_base.clone());
            EndpointRef::Http {
                api_base: base,
                id: id.clone(),
            }
        }
        e => e.clone(),
    }
}
