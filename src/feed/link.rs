//! The page's link to the panel's engine (see the `engine` module): the transport
//! of its messages, and where the engine runs.
//!
//! - **In its Web Worker** (`engine_loader.js` beside the bundle): questions go by
//!   `postMessage`, answers come back by id with their bodies transferred, after a
//!   `ready` handshake (a message posted before the worker's wasm runs is lost).
//! - **On the page, from the same wasm**, when no worker can run (a policy without
//!   `worker-src`, a failed load, no `ready` within [`READY_TIMEOUT_MS`], or the
//!   worker died): the page loads the engine's own `engine.js` and `engine_bg.wasm`
//!   as a script and talks to it through a `MessageChannel`, with the same
//!   messages. So the page's wasm carries none of the engine's code (the feed's
//!   decoding, the aggregation, the Demo), and the engine is the same build either
//!   way.
//! - **Here** (in the worker itself, and in tests): the link answers with the
//!   handlers it was given ([`DemoHandler`], [`FeedHandler`]), so the feeds' Demo
//!   source asks its own engine's Demo.
//!
//! Questions asked while the engine starts wait for it; those in flight when a
//! worker fails are asked again of the engine on the page. When neither can run,
//! every question is answered 503 with the reason, and the page says it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use js_sys::{Object, Reflect, Uint8Array};
use serde::Serialize as _;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::MessageEvent;

use crate::feed::api::Answer;
use crate::feed::demo::DemoAsk;
use crate::feed::messages::{Ask, Envelope, FeedAsk};

/// Answers a feed's question where the engine runs here: `(feed, question, now)`.
pub type FeedHandler = Rc<dyn Fn(u32, FeedAsk, i64) -> LocalBoxFuture<'static, Answer>>;

/// Answers the Demo's question where the engine runs here: `(question, now)`.
pub type DemoHandler = Rc<dyn Fn(&DemoAsk, i64) -> Answer>;

/// How long the engine has to load (fetch and compile its wasm, then say it is
/// ready), in its worker or on the page, before it is given up there.
pub const READY_TIMEOUT_MS: u32 = 15_000;

/// The worker's script, relative to the bundle.
const LOADER: &str = "engine_loader.js";
/// The engine's glue (wasm-bindgen's `no-modules` output) and its wasm, loaded on
/// the page when no worker can run.
const GLUE: &str = "engine.js";
const WASM: &str = "engine_bg.wasm";

thread_local! {
    /// The bundle's URL (embed.js's `data-bundle`), when the panel is mounted into
    /// another page; `None`: the page's own folder.
    static BUNDLE: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The page's link to its engine, started at its first use (in the worker, the
    /// engine itself: see [`install_here`]).
    static LINK: RefCell<Option<EngineLink>> = const { RefCell::new(None) };
}

#[wasm_bindgen]
extern "C" {
    /// `wasm_bindgen(...)` of the engine's `engine.js` (a global of that script):
    /// loads and starts the engine's wasm.
    #[wasm_bindgen(js_name = wasm_bindgen, catch)]
    fn engine_init(options: &JsValue) -> Result<js_sys::Promise, JsValue>;
    /// The engine's `run_here(port)` (`src/bin/engine.rs`): serves the page on `port`.
    #[wasm_bindgen(js_namespace = wasm_bindgen, js_name = run_here, catch)]
    fn engine_run_here(port: &web_sys::MessagePort) -> Result<(), JsValue>;
}

/// Where the bundle is (called once at start, from the mount element).
pub fn set_bundle(url: Option<String>) {
    BUNDLE.with(|b| *b.borrow_mut() = url);
}

/// The URL of the bundle's file `name`.
pub fn bundle_file(name: &str) -> String {
    BUNDLE.with(|b| match &*b.borrow() {
        Some(base) => format!("{}/{name}", base.trim_end_matches('/')),
        None => format!("./{name}"),
    })
}

/// The worker script's URL.
fn loader_url() -> String {
    bundle_file(LOADER)
}

/// The global under which engine-start.js leaves the worker it started.
const EARLY_ENGINE: &str = "emEngine";

/// The page's engine link (starting the worker at the first call).
pub fn page_link() -> EngineLink {
    LINK.with(|l| l.borrow_mut().get_or_insert_with(EngineLink::start).clone())
}

/// Where the engine itself runs: the link is the engine here, and the feeds' Demo
/// source asks it.
pub fn install_here(demo: DemoHandler) -> EngineLink {
    let link = EngineLink::here(demo);
    LINK.with(|l| *l.borrow_mut() = Some(link.clone()));
    link
}

/// The page's link to its engine. Cloning shares it.
#[derive(Clone)]
pub struct EngineLink(Rc<Link>);

impl std::fmt::Debug for EngineLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EngineLink({})", self.runs_in())
    }
}

struct Link {
    state: RefCell<State>,
    next_id: Cell<u32>,
    /// Why the worker was given up, once it was.
    gave_up: RefCell<Option<String>>,
}

type Reply = oneshot::Sender<Answer>;

/// Where the engine is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Worker,
    Page,
}

enum State {
    /// The engine is loading: questions wait for its `ready`. A worker's are posted
    /// at once (`posted`): its loader keeps them until the engine listens, so the
    /// first snapshot does not wait for the `ready` to cross a busy main thread.
    Starting {
        place: Place,
        running: Running,
        waiting: Vec<(Envelope, Reply, bool)>,
    },
    /// Questions go to the engine; answers come back by id.
    Ready {
        place: Place,
        running: Running,
        pending: HashMap<u32, Reply>,
    },
    /// The engine is here: the handlers answer.
    Here {
        demo: DemoHandler,
        feeds: Option<FeedHandler>,
    },
    /// Neither a worker nor the page could run the engine.
    Broken { why: String },
}

/// A started engine and the handlers that must live as long as it does.
struct Running {
    to: Target,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _others: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

/// Where the questions are posted.
enum Target {
    Worker(web_sys::Worker),
    Port(web_sys::MessagePort),
}

impl Target {
    fn post(&self, msg: &JsValue) -> Result<(), JsValue> {
        match self {
            Target::Worker(w) => w.post_message(msg),
            Target::Port(p) => p.post_message(msg),
        }
    }

    fn stop(&self) {
        match self {
            Target::Worker(w) => w.terminate(),
            Target::Port(p) => p.close(),
        }
    }
}

impl EngineLink {
    /// Starts the engine in its worker (or, where none can start, on the page).
    pub fn start() -> EngineLink {
        let link = EngineLink(Rc::new(Link {
            state: RefCell::new(State::Broken {
                why: "not started".into(),
            }),
            next_id: Cell::new(1),
            gave_up: RefCell::default(),
        }));
        match start_worker(Rc::downgrade(&link.0)) {
            Ok(running) => link.0.starting(Place::Worker, running),
            Err(why) => link.0.fail(&why),
        }
        link
    }

    /// The engine here, answering the Demo's questions with `demo` (the worker
    /// itself; tests).
    pub fn here(demo: DemoHandler) -> EngineLink {
        EngineLink(Rc::new(Link {
            state: RefCell::new(State::Here { demo, feeds: None }),
            next_id: Cell::new(1),
            gave_up: RefCell::default(),
        }))
    }

    /// Hands the link here the feeds' engine (kept if it has one; a link to a
    /// worker or to the page's engine has its own).
    pub fn serve_feeds(&self, feeds: impl FnOnce() -> FeedHandler) {
        if let State::Here {
            feeds: f @ None, ..
        } = &mut *self.0.state.borrow_mut()
        {
            *f = Some(feeds());
        }
    }

    /// Answers `env` here (the engine's side of the link).
    pub fn answer_here<'a>(&'a self, env: &'a Envelope) -> LocalBoxFuture<'a, Answer> {
        Box::pin(async move {
            let (demo, feeds) = match &*self.0.state.borrow() {
                State::Here { demo, feeds } => (demo.clone(), feeds.clone()),
                _ => return unavailable("the engine does not run here"),
            };
            match &env.ask {
                Ask::Demo { ask } => demo(ask, env.now),
                Ask::Feed { feed, ask } => match feeds {
                    Some(f) => f(*feed, ask.clone(), env.now).await,
                    None => unavailable("no engine for the feeds runs here"),
                },
            }
        })
    }

    /// Where the engine runs, in a word: `worker`, `starting`, `page` or `none`.
    pub fn runs_in(&self) -> &'static str {
        match &*self.0.state.borrow() {
            State::Starting {
                place: Place::Worker,
                ..
            } => "starting",
            State::Ready {
                place: Place::Worker,
                ..
            } => "worker",
            State::Starting { .. } | State::Ready { .. } | State::Here { .. } => "page",
            State::Broken { .. } => "none",
        }
    }

    /// Why the worker was given up, if it was.
    pub fn gave_up(&self) -> Option<String> {
        self.0.gave_up.borrow().clone()
    }

    /// Where the engine runs, for the page: "in a background worker", or on the
    /// page and why.
    pub fn runs_where(&self) -> String {
        let why = self.gave_up();
        match (self.runs_in(), why) {
            ("starting", _) => "starting its background worker".into(),
            ("worker", _) => "in a background worker".into(),
            ("none", _) => match &*self.0.state.borrow() {
                State::Broken { why } => format!("nowhere: {why}"),
                _ => "nowhere".into(),
            },
            (_, Some(why)) => format!("on this page (its background worker {why})"),
            (_, None) => "on this page".into(),
        }
    }

    /// Asks the Demo `ask` at the page's time `now`; the answer reads as a server's.
    pub async fn ask_demo(&self, ask: DemoAsk, now: i64) -> Answer {
        self.ask(Ask::Demo { ask }, now).await
    }

    /// Asks the engine `ask` at the page's time `now`.
    pub async fn ask(&self, ask: Ask, now: i64) -> Answer {
        let id = self.0.next_id.get();
        self.0.next_id.set(id.wrapping_add(1));
        let env = Envelope { id, now, ask };
        // A question in flight when its engine fails is asked again of the next
        // one; each failure moves on (worker, page, none), so this ends.
        loop {
            let (tx, rx) = oneshot::channel();
            let next = match &mut *self.0.state.borrow_mut() {
                State::Starting {
                    waiting,
                    place,
                    running,
                } => {
                    let posted = *place == Place::Worker && post(&running.to, &env).is_ok();
                    waiting.push((env.clone(), tx, posted));
                    Ok(Some(rx))
                }
                State::Ready {
                    running, pending, ..
                } => match post(&running.to, &env) {
                    Ok(()) => {
                        pending.insert(id, tx);
                        Ok(Some(rx))
                    }
                    Err(why) => Err(why),
                },
                State::Here { .. } => Ok(None),
                State::Broken { why } => return unavailable(why),
            };
            match next {
                Ok(Some(rx)) => {
                    if let Ok(answer) = rx.await {
                        return answer;
                    }
                }
                Ok(None) => return self.answer_here(&env).await,
                Err(why) => self.0.fail(&why),
            }
        }
    }
}

impl Link {
    /// `running` is loading at `place`: questions wait for its `ready`, for
    /// [`READY_TIMEOUT_MS`] at most.
    fn starting(self: &Rc<Self>, place: Place, running: Running) {
        // Questions that waited for an engine that failed wait for this one.
        let waiting = match std::mem::replace(
            &mut *self.state.borrow_mut(),
            State::Broken {
                why: "restarting".into(),
            },
        ) {
            State::Starting { waiting, .. } => waiting,
            _ => Vec::new(),
        };
        *self.state.borrow_mut() = State::Starting {
            place,
            running,
            waiting,
        };
        let weak = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(READY_TIMEOUT_MS).await;
            if let Some(link) = weak.upgrade()
                && matches!(&*link.state.borrow(), State::Starting { place: p, .. } if *p == place)
            {
                link.fail(&format!("did not start within {READY_TIMEOUT_MS} ms"));
            }
        });
    }

    /// The engine said it is ready: the questions that waited go to it.
    fn ready(self: &Rc<Self>) {
        let mut state = self.state.borrow_mut();
        let State::Starting { .. } = &*state else {
            return;
        };
        let State::Starting {
            place,
            running,
            waiting,
        } = std::mem::replace(
            &mut *state,
            State::Broken {
                why: "starting".into(),
            },
        )
        else {
            unreachable!("matched above")
        };
        let mut pending = HashMap::new();
        let mut failed = None;
        for (env, tx, posted) in waiting {
            if posted {
                pending.insert(env.id, tx);
                continue;
            }
            match post(&running.to, &env) {
                Ok(()) => {
                    pending.insert(env.id, tx);
                }
                Err(why) => failed = Some(why),
            }
        }
        *state = State::Ready {
            place,
            running,
            pending,
        };
        drop(state);
        if let Some(why) = failed {
            self.fail(&why);
        }
    }

    /// An answer from the engine.
    fn answered(&self, id: u32, answer: Answer) {
        if let State::Ready { pending, .. } = &mut *self.state.borrow_mut()
            && let Some(tx) = pending.remove(&id)
        {
            let _ = tx.send(answer);
        }
    }

    /// The engine cannot be used where it is: a worker's is started on the page
    /// instead; the page's is given up. Questions waiting for it are asked again
    /// (their senders are dropped).
    fn fail(self: &Rc<Self>, why: &str) {
        let old = std::mem::replace(
            &mut *self.state.borrow_mut(),
            State::Broken { why: why.into() },
        );
        let (place, running, waiting) = match old {
            State::Starting {
                place,
                running,
                waiting,
            } => (place, Some(running), waiting),
            State::Ready { place, running, .. } => (place, Some(running), Vec::new()),
            State::Broken { .. } if self.gave_up.borrow().is_none() => {
                (Place::Worker, None, Vec::new())
            }
            other => {
                // Here, or already given up everywhere: keep it.
                *self.state.borrow_mut() = other;
                return;
            }
        };
        if let Some(r) = running {
            r.to.stop();
        }
        drop(waiting);
        match place {
            Place::Worker => {
                *self.gave_up.borrow_mut() = Some(why.to_string());
                leptos::logging::warn!(
                    "the panel's engine runs on this page (slower): its Web Worker {why}"
                );
                match start_on_page(Rc::downgrade(self)) {
                    Ok(running) => self.starting(Place::Page, running),
                    Err(e) => self.broken(&e),
                }
            }
            Place::Page => self.broken(why),
        }
    }

    fn broken(&self, why: &str) {
        let why = format!("the panel's engine could not start on this page either: {why}");
        leptos::logging::error!("{why}");
        *self.state.borrow_mut() = State::Broken { why };
    }
}

/// An answer saying the engine cannot answer, and why.
fn unavailable(why: &str) -> Answer {
    Answer::error(503, why)
}

/// What the engine's messages do to the link: `ready`, or an answer.
fn on_message(link: Weak<Link>) -> Closure<dyn FnMut(MessageEvent)> {
    Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let Some(link) = link.upgrade() else {
            return;
        };
        let data = e.data();
        if Reflect::get(&data, &"ready".into()).is_ok_and(|v| v.is_truthy()) {
            link.ready();
            return;
        }
        match answer_from_js(&data) {
            Some((id, answer)) => link.answered(id, answer),
            None => link.fail("sent a message that is not an answer"),
        }
    })
}

/// The engine's worker engine-start.js started with the page, if any: the worker,
/// what it said before the link listened, and how it failed if it did.
struct Early {
    worker: web_sys::Worker,
    messages: js_sys::Array,
    error: Option<String>,
}

/// Takes the worker engine-start.js started (the global `emEngine`), if there is one.
fn take_early() -> Option<Early> {
    let global = js_sys::global();
    let early = Reflect::get(&global, &EARLY_ENGINE.into()).ok()?;
    let _ = Reflect::delete_property(global.unchecked_ref::<Object>(), &EARLY_ENGINE.into());
    let field = |name: &str| Reflect::get(&early, &name.into()).ok();
    Some(Early {
        worker: field("worker")?.dyn_into().ok()?,
        messages: field("messages")?.dyn_into().ok()?,
        error: field("error").and_then(|e| e.as_string()),
    })
}

/// Hands `messages` (message events kept before anyone listened), in order, to the
/// message handler `hear` (both ends of the link keep such messages).
pub(crate) fn replay(hear: &js_sys::Function, messages: &js_sys::Array) {
    for m in messages.iter() {
        let _ = hear.call1(&JsValue::NULL, &m);
    }
}

/// Stops the worker engine-start.js started, if no link took it (the panel did not
/// start: its config.json was refused).
pub fn drop_early_engine() {
    if let Some(e) = take_early() {
        e.worker.terminate();
    }
}

/// Starts the worker with its handlers (which hold the link weakly): the one
/// engine-start.js started with the page if there is one, else a new one.
fn start_worker(link: Weak<Link>) -> Result<Running, String> {
    let url = loader_url();
    let (worker, said) = match take_early() {
        Some(Early {
            worker,
            error: Some(why),
            ..
        }) => {
            worker.terminate();
            return Err(format!("failed: {why}"));
        }
        Some(e) => (e.worker, e.messages),
        None => (
            web_sys::Worker::new(&url)
                .map_err(|e| format!("could not be created from {url}: {}", js_text(&e)))?,
            js_sys::Array::new(),
        ),
    };
    let on_message = on_message(link.clone());
    if said.length() > 0 {
        // Heard once the link is starting (the engine's `ready` among them).
        let hear: js_sys::Function = on_message.as_ref().clone().unchecked_into();
        wasm_bindgen_futures::spawn_local(async move { replay(&hear, &said) });
    }
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
        let what = e
            .dyn_ref::<web_sys::ErrorEvent>()
            .map(|e| e.message())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("could not load {url}"));
        if let Some(link) = link.upgrade() {
            link.fail(&format!("failed: {what}"));
        }
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    worker.set_onmessageerror(Some(on_error.as_ref().unchecked_ref()));
    Ok(Running {
        to: Target::Worker(worker),
        _on_message: on_message,
        _others: vec![on_error],
    })
}

/// Starts the engine on the page: its script, then its wasm, then `run_here` on
/// one end of a channel whose other end is ours.
fn start_on_page(link: Weak<Link>) -> Result<Running, String> {
    let channel = web_sys::MessageChannel::new().map_err(|e| js_text(&e))?;
    let ours = channel.port1();
    let theirs = channel.port2();
    let on_message = on_message(link.clone());
    ours.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let script: web_sys::HtmlScriptElement = document
        .create_element("script")
        .map_err(|e| js_text(&e))?
        .unchecked_into();
    let glue = bundle_file(GLUE);
    let wasm = bundle_file(WASM);
    let failed = link.clone();
    let on_load = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        let fail = |why: String| {
            if let Some(link) = failed.upgrade() {
                link.fail(&why);
            }
        };
        let options = Object::new();
        let _ = Reflect::set(&options, &"module_or_path".into(), &wasm.as_str().into());
        let started = match engine_init(&options) {
            Ok(p) => p,
            Err(e) => return fail(format!("could not start {GLUE}: {}", js_text(&e))),
        };
        let theirs = theirs.clone();
        let failed = failed.clone();
        let wasm = wasm.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let r = match wasm_bindgen_futures::JsFuture::from(started).await {
                Ok(_) => engine_run_here(&theirs)
                    .map_err(|e| format!("could not serve the page: {}", js_text(&e))),
                Err(e) => Err(format!("could not load {wasm}: {}", js_text(&e))),
            };
            if let (Err(why), Some(link)) = (r, failed.upgrade()) {
                link.fail(&why);
            }
        });
    });
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new({
        let glue = glue.clone();
        move |_| {
            if let Some(link) = link.upgrade() {
                link.fail(&format!("could not load {glue}"));
            }
        }
    });
    script.set_onload(Some(on_load.as_ref().unchecked_ref()));
    script.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    script.set_src(&glue);
    let parent = document
        .head()
        .map(web_sys::Node::from)
        .or_else(|| document.body().map(web_sys::Node::from))
        .ok_or("no document head")?;
    parent.append_child(&script).map_err(|e| js_text(&e))?;
    Ok(Running {
        to: Target::Port(ours),
        _on_message: on_message,
        _others: vec![on_load, on_error],
    })
}

/// Sends a question to the engine.
fn post(to: &Target, env: &Envelope) -> Result<(), String> {
    let msg = env
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| format!("could not be asked: {e}"))?;
    to.post(&msg)
        .map_err(|e| format!("could not be asked: {}", js_text(&e)))
}

/// `{id, status, contentType, retryAfter, body}` (the body's buffer transferred).
pub fn answer_to_js(id: u32, a: &Answer) -> (JsValue, js_sys::Array) {
    let o = Object::new();
    let body = Uint8Array::from(a.body.as_slice());
    let set = |k: &str, v: JsValue| {
        let _ = Reflect::set(&o, &k.into(), &v);
    };
    set("id", id.into());
    set("status", a.status.into());
    set("contentType", a.content_type.as_str().into());
    set(
        "retryAfter",
        a.retry_after_s.map_or(JsValue::NULL, JsValue::from),
    );
    set("body", body.clone().into());
    (o.into(), js_sys::Array::of1(&body.buffer()))
}

/// The answer in a message from the engine, if it is one.
fn answer_from_js(v: &JsValue) -> Option<(u32, Answer)> {
    let get = |k: &str| Reflect::get(v, &k.into()).ok();
    let id = get("id")?.as_f64()? as u32;
    let status = get("status")?.as_f64()? as u16;
    let content_type = get("contentType")?.as_string()?;
    let retry_after_s = get("retryAfter").and_then(|r| r.as_f64()).map(|s| s as u32);
    let body = get("body")?.dyn_into::<Uint8Array>().ok()?.to_vec();
    Some((
        id,
        Answer {
            status,
            content_type,
            retry_after_s,
            body,
        },
    ))
}

fn js_text(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .unwrap_or_else(|| format!("{v:?}"))
}
