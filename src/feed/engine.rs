//! The panel's Web Worker, "engine" (`src/bin/engine.rs`, built by trunk beside the
//! page's wasm: index.html): the work that would stall the page runs there, and the
//! page gets the answers. It holds each feed's records and does the feed's IO,
//! decoding, merging and aggregation ([`FeedHost`]), answers the job list's and the
//! workers tab's questions with the rows in view, and runs the Demo endpoint
//! ([`DemoHost`]), which the page asks what it would ask a server.
//!
//! - **One link per page** ([`EngineLink`]): every panel on the page asks through
//!   it, each feed by its number ([`Engine`]).
//! - **Found beside the bundle**, not the page: `engine_loader.js` next to
//!   `metrics-panel.js` (embed.js's `data-bundle`, or the page's own folder).
//! - **Under a strict CSP** a worker's script falls under `worker-src`, which falls
//!   back to `script-src 'self'` (docs/embedding.md).
//! - **When no worker can run** (a policy without `worker-src`, a failed load, no
//!   answer within [`READY_TIMEOUT_MS`]), or when it dies, the same engine runs on
//!   the page instead, with a warning in the console and a note on the page: slower,
//!   never broken. Its first refresh takes a new snapshot (see the `link` module).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::oneshot;
use js_sys::{Object, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::MessageEvent;

use crate::feed::api::{Answer, FetchError};
use crate::feed::data::MetricsData;
use crate::feed::demo::DemoHost;
use crate::feed::host::{FeedHost, ListSummary, Refreshed, RowData, read_reply};
use crate::feed::link::{self, DemoHandler, EngineLink, FeedHandler};
use crate::feed::messages::{Ask, Envelope, FeedAsk, Follow};
use crate::jobs::detail::JobDetail;
use crate::jobs::view::JobsView;
use crate::view::state::EndpointRef;
use crate::workers::facts::WorkerFacts;
use crate::workers::lanes::Lanes;

use crate::feed::link::page_link;
pub use crate::feed::link::{READY_TIMEOUT_MS, set_bundle};

thread_local! {
    /// The last feed number given out.
    static FEEDS: Cell<u32> = const { Cell::new(0) };
}

/// The feeds' engine `host`, for a link on which it runs here.
fn feed_handler(host: FeedHost) -> FeedHandler {
    let host = Rc::new(host);
    Rc::new(move |feed, ask, now| {
        let host = host.clone();
        Box::pin(async move { host.answer(feed, &ask, now).await })
    })
}

/// The Demo `demo` (or one created at the first question), for a link on which
/// the engine runs here.
fn demo_handler(demo: Option<DemoHost>) -> DemoHandler {
    let demo = RefCell::new(demo);
    Rc::new(move |ask, now| {
        demo.borrow_mut()
            .get_or_insert_with(|| DemoHost::new(now))
            .answer(ask, now)
    })
}

/// A link whose engine is here, with the Demo `host` (tests: the page's own
/// engine, without a worker).
pub fn demo_here(host: DemoHost) -> EngineLink {
    EngineLink::here(demo_handler(Some(host)))
}

/// The page's handle on one feed in the engine: every question about the records
/// goes through it and is answered asynchronously, wherever the engine runs.
#[derive(Clone)]
pub struct Engine {
    feed: u32,
    link: EngineLink,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine(feed {})", self.feed)
    }
}

impl Engine {
    /// A new feed in the page's engine.
    pub fn new() -> Engine {
        Engine {
            feed: next_feed(),
            link: page_link(),
        }
    }

    /// A feed whose engine, here on the page, already holds `data` for `endpoint`
    /// (tests).
    pub fn with_records(endpoint: EndpointRef, data: MetricsData) -> Engine {
        let feed = next_feed();
        let link = EngineLink::here(demo_handler(None));
        link.serve_feeds(|| feed_handler(FeedHost::with_records(feed, endpoint, data)));
        Engine { feed, link }
    }

    /// Whether `other` is a handle on the same feed.
    pub fn same_feed(&self, other: &Engine) -> bool {
        self.feed == other.feed
    }

    async fn ask<T: serde::de::DeserializeOwned>(&self, ask: FeedAsk) -> Result<T, String> {
        let now = crate::view::time::now_ms() as i64;
        let ask = Ask::Feed {
            feed: self.feed,
            ask,
        };
        read_reply(&self.link.ask(ask, now).await)
    }

    /// [`Engine::ask`] for a reader: a failure is logged and reads as `T::default()`
    /// (nothing to show), and the next question tries again.
    async fn read<T: serde::de::DeserializeOwned + Default>(&self, ask: FeedAsk) -> T {
        self.ask(ask).await.unwrap_or_else(|e| {
            leptos::logging::warn!("{e}");
            T::default()
        })
    }

    /// Refreshes the feed for `follow` at the page's time (see
    /// [`FeedHost::refresh`]); dropping the future abandons it.
    pub async fn refresh(&self, follow: &Follow) -> Result<Option<Refreshed>, FetchError> {
        let ask = FeedAsk::Refresh {
            follow: follow.clone(),
        };
        self.ask(ask)
            .await
            .unwrap_or_else(|e| Err(FetchError::Engine(e)))
    }

    /// The job list of `query`: its size and the chips' counts.
    pub async fn list(&self, query: &JobsView) -> Option<ListSummary> {
        self.read(FeedAsk::List {
            query: query.params(),
        })
        .await
    }

    /// Rows `first..first + count` of the last list.
    pub async fn rows(&self, first: usize, count: usize) -> Vec<RowData> {
        self.read(FeedAsk::Rows { first, count }).await
    }

    /// The ids of every job in the last list.
    pub async fn ids(&self) -> Vec<String> {
        self.read(FeedAsk::Ids).await
    }

    /// Those of `ids` that are queued or running.
    pub async fn unfinished(&self, ids: Vec<String>) -> Vec<String> {
        self.read(FeedAsk::Unfinished { ids }).await
    }

    /// The last list as JSON (`json`) or CSV.
    pub async fn export(&self, json: bool) -> Option<String> {
        self.read(FeedAsk::Export { json }).await
    }

    /// Everything held about job `id`.
    pub async fn detail(&self, id: String) -> Option<JobDetail> {
        self.read(FeedAsk::Detail { id }).await
    }

    /// The workers' lanes over the window, ending at `now`.
    pub async fn lanes(&self, now: i64) -> Option<Lanes> {
        self.read(FeedAsk::Lanes { now }).await
    }

    /// Facts about every worker, derived from the records.
    pub async fn facts(&self) -> Option<Vec<WorkerFacts>> {
        self.read(FeedAsk::Facts).await
    }

    /// Drops the feed's records (its panel is gone).
    pub fn forget(&self) {
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let () = this.read(FeedAsk::Forget).await;
        });
    }

    /// Where the engine runs, in a word: `worker`, `starting`, `page` or `none`.
    pub fn runs_in(&self) -> &'static str {
        self.link.runs_in()
    }

    /// Why the engine runs on the page although the page asked for a worker (the
    /// worker could not start, or died), if it does.
    pub fn gave_up(&self) -> Option<String> {
        self.link.gave_up()
    }

    /// Where the engine runs, for the page: "in a background worker", or on the
    /// page and why.
    pub fn runs_where(&self) -> String {
        self.link.runs_where()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

fn next_feed() -> u32 {
    FEEDS.with(|n| {
        n.set(n.get().wrapping_add(1));
        n.get()
    })
}

/// Where the engine answers the page: its worker's scope, or its end of a channel
/// when it runs on the page.
enum Page {
    Scope(web_sys::DedicatedWorkerGlobalScope),
    Port(web_sys::MessagePort),
}

impl Page {
    fn post(&self, msg: &JsValue, transfer: &js_sys::Array) -> Result<(), JsValue> {
        match self {
            Page::Scope(s) => s.post_message_with_transfer(msg, transfer),
            Page::Port(p) => p.post_message_with_transferable(msg, transfer),
        }
    }

    fn listen(&self, f: &Closure<dyn FnMut(MessageEvent)>) {
        match self {
            Page::Scope(s) => s.set_onmessage(Some(f.as_ref().unchecked_ref())),
            Page::Port(p) => p.set_onmessage(Some(f.as_ref().unchecked_ref())),
        }
    }

    /// Posts `answer` to question `id`, its body transferred.
    fn answer(&self, id: u32, answer: &Answer) {
        let (msg, transfer) = link::answer_to_js(id, answer);
        if let Err(e) = self.post(&msg, &transfer) {
            web_sys::console::error_1(&e);
        }
    }
}

/// The engine's side in its worker (`src/bin/engine.rs`'s `main`); does nothing
/// anywhere else (the same wasm loaded on the page waits for [`run_here`]).
pub fn run_worker() {
    if let Some(scope) = js_sys::global().dyn_ref::<web_sys::DedicatedWorkerGlobalScope>() {
        serve(Page::Scope(scope.clone()));
    }
}

/// The engine's side on the page, answering on `port` (`src/bin/engine.rs`'s
/// `run_here`, called by the page's link when no worker can run).
pub fn run_here(port: web_sys::MessagePort) {
    serve(Page::Port(port));
}

/// The worker global's array of the messages that came before the engine listened.
const EARLY: &str = "emEarly";

/// The engine itself: it answers the page's questions (the Demo's at once, the
/// feeds' when their IO is done), and says it is ready. A feed's new refresh
/// abandons the one before it (the page has stopped waiting for that one: the view
/// changed).
fn serve(page: Page) {
    let page = Rc::new(page);
    // The link here is the engine itself: the feeds' Demo source is its own Demo.
    let link = link::install_here(demo_handler(None));
    link.serve_feeds(|| feed_handler(FeedHost::new()));
    let refreshing: Rc<RefCell<HashMap<u32, oneshot::Sender<()>>>> = Rc::default();
    let reply = page.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let data = e.data();
        let env = match serde_wasm_bindgen::from_value::<Envelope>(data.clone()) {
            Ok(env) => env,
            Err(err) => {
                let id = Reflect::get(&data, &"id".into())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0) as u32;
                let answer = Answer::error(400, format!("not a question for the engine: {err}"));
                reply.answer(id, &answer);
                return;
            }
        };
        let superseded = match &env.ask {
            Ask::Feed {
                feed,
                ask: FeedAsk::Refresh { .. },
            } => {
                let (tx, rx) = oneshot::channel::<()>();
                // Dropping the one before wakes it, abandoned.
                refreshing.borrow_mut().insert(*feed, tx);
                Some(rx)
            }
            _ => None,
        };
        let link = link.clone();
        let reply = reply.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let work = link.answer_here(&env);
            let answer = match superseded {
                None => work.await,
                Some(rx) => {
                    futures::pin_mut!(work);
                    match futures::future::select(work, rx).await {
                        futures::future::Either::Left((a, _)) => a,
                        futures::future::Either::Right(_) => {
                            Answer::error(409, "abandoned: a newer refresh of this feed came")
                        }
                    }
                }
            };
            reply.answer(env.id, &answer);
        });
    });
    page.listen(&on_message);
    // What the page posted before the engine listened, kept by the worker's loader
    // (tools/extract-boot-script.mjs writes it), in order.
    if let Page::Scope(scope) = &*page {
        let early = Reflect::get(scope, &EARLY.into()).unwrap_or_default();
        let _ = Reflect::delete_property(scope, &EARLY.into());
        if js_sys::Array::is_array(&early) {
            link::replay(on_message.as_ref().unchecked_ref(), &early.unchecked_into());
        }
    }
    on_message.forget();
    let ready = Object::new();
    let _ = Reflect::set(&ready, &"ready".into(), &true.into());
    let _ = page.post(&ready.into(), &js_sys::Array::new());
}
