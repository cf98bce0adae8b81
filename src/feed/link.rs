//! The page's link to the panel's engine (see the `engine` module): the Web
//! Worker's transport (started beside the bundle, `ready` handshake, answers by id
//! with their bodies transferred), and the fallback to the page when no worker can
//! run. It knows the Demo ([`DemoHost`]) but not the feeds' engine, which the
//! engine module hands it ([`FeedHandler`]), so the feed's sources can ask the Demo
//! through it without an import circle.

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
use crate::feed::demo::{DemoAsk, DemoHost};
use crate::feed::messages::{Ask, Envelope, FeedAsk};

/// Answers a feed's question where the engine runs here: `(feed, question, now)`.
pub type FeedHandler = Rc<dyn Fn(u32, FeedAsk, i64) -> LocalBoxFuture<'static, Answer>>;

/// How long the worker has to load (fetch and compile its wasm, then say it is
/// ready) before the engine runs on the page instead.
pub const READY_TIMEOUT_MS: u32 = 15_000;

/// The worker's script, relative to the bundle.
const LOADER: &str = "engine_loader.js";

thread_local! {
    /// The bundle's URL (embed.js's `data-bundle`), when the panel is mounted into
    /// another page; `None`: the page's own folder.
    static BUNDLE: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The page's link to its engine, started at its first use (in the worker, the
    /// engine itself: see [`run_worker`]).
    static LINK: RefCell<Option<EngineLink>> = const { RefCell::new(None) };
}

/// Where the bundle is (called once at start, from the mount element).
pub fn set_bundle(url: Option<String>) {
    BUNDLE.with(|b| *b.borrow_mut() = url);
}

/// The worker script's URL.
pub fn loader_url() -> String {
    BUNDLE.with(|b| match &*b.borrow() {
        Some(base) => format!("{}/{LOADER}", base.trim_end_matches('/')),
        None => format!("./{LOADER}"),
    })
}

/// The page's engine link (starting the worker at the first call).
pub fn page_link() -> EngineLink {
    LINK.with(|l| l.borrow_mut().get_or_insert_with(EngineLink::start).clone())
}

/// In the worker: the link is the engine here, and the feeds' Demo source asks it.
pub fn install_here() -> EngineLink {
    let link = EngineLink::here(None);
    LINK.with(|l| *l.borrow_mut() = Some(link.clone()));
    link
}

/// The page's link to its engine: through the worker while it runs, else on the
/// page. Cloning shares it.
#[derive(Clone)]
pub struct EngineLink(Rc<Link>);

impl std::fmt::Debug for EngineLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match &*self.0.state.borrow() {
            State::Starting { .. } => "EngineLink(worker starting)",
            State::Ready { .. } => "EngineLink(worker)",
            State::InPage { .. } => "EngineLink(page)",
        })
    }
}

struct Link {
    state: RefCell<State>,
    next_id: Cell<u32>,
    /// Why the worker was given up, once it was.
    gave_up: RefCell<Option<String>>,
    /// The feeds' engine when it runs here (on the page without a worker, or in
    /// the worker itself), handed over by the engine module.
    feeds: RefCell<Option<FeedHandler>>,
}

type Reply = oneshot::Sender<Answer>;

enum State {
    /// The worker is loading: questions wait for its `ready`.
    Starting {
        worker: Running,
        waiting: Vec<(Envelope, Reply)>,
    },
    /// Questions go to the worker; answers come back by id.
    Ready {
        worker: Running,
        pending: HashMap<u32, Reply>,
    },
    /// The engine runs here (the Demo created at its first question).
    InPage {
        demo: Option<Box<DemoHost>>,
        /// The worker had answered before it failed: a cursor the page holds is
        /// the worker's Demo's, which this Demo does not know.
        restarted: bool,
    },
}

/// A started worker and the handlers that must live as long as it does.
struct Running {
    worker: web_sys::Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl EngineLink {
    /// Starts the worker (or, where none can start, the engine on the page).
    pub fn start() -> EngineLink {
        let link = EngineLink::here(None);
        match start_worker(Rc::downgrade(&link.0)) {
            Ok(worker) => {
                *link.0.state.borrow_mut() = State::Starting {
                    worker,
                    waiting: Vec::new(),
                };
                let weak = Rc::downgrade(&link.0);
                wasm_bindgen_futures::spawn_local(async move {
                    gloo_timers::future::TimeoutFuture::new(READY_TIMEOUT_MS).await;
                    if let Some(link) = weak.upgrade()
                        && matches!(&*link.state.borrow(), State::Starting { .. })
                    {
                        link.fail(&format!("did not start within {READY_TIMEOUT_MS} ms"));
                    }
                });
            }
            Err(why) => link.0.fail(&why),
        }
        link
    }

    /// The engine here, without a worker: the Demo `demo` if given, else one
    /// created at the first question (tests, the fallback, and the worker itself).
    pub fn here(demo: Option<DemoHost>) -> EngineLink {
        EngineLink(Rc::new(Link {
            state: RefCell::new(State::InPage {
                demo: demo.map(Box::new),
                restarted: false,
            }),
            next_id: Cell::new(1),
            gave_up: RefCell::default(),
            feeds: RefCell::new(None),
        }))
    }

    /// The Demo `host` on the page, without a worker (tests).
    pub fn in_page(host: DemoHost) -> EngineLink {
        EngineLink::here(Some(host))
    }

    /// Hands the link the feeds' engine for when it runs here (kept if it has one).
    pub fn serve_feeds(&self, feeds: impl FnOnce() -> FeedHandler) {
        let mut f = self.0.feeds.borrow_mut();
        if f.is_none() {
            *f = Some(feeds());
        }
    }

    /// Answers `env` here (the worker's side of the link).
    pub fn answer_here<'a>(&'a self, env: &'a Envelope) -> LocalBoxFuture<'a, Answer> {
        self.0.answer_here(env)
    }

    /// Whether the engine runs in the worker (false while it loads or after it failed).
    pub fn in_worker(&self) -> bool {
        matches!(&*self.0.state.borrow(), State::Ready { .. })
    }

    /// Where the engine runs, for the page: "in a background worker", or on the
    /// page and why.
    pub fn runs_where(&self) -> String {
        match (&*self.0.state.borrow(), &*self.0.gave_up.borrow()) {
            (State::Starting { .. }, _) => "starting its background worker".into(),
            (State::Ready { .. }, _) => "in a background worker".into(),
            (State::InPage { .. }, Some(why)) => {
                format!("on this page (its background worker {why})")
            }
            (State::InPage { .. }, None) => "on this page".into(),
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
        let (tx, rx) = oneshot::channel();
        // The sender goes to the worker's queue, or is dropped here: then the
        // question is answered on the page.
        {
            let tx = tx;
            let mut state = self.0.state.borrow_mut();
            match &mut *state {
                State::Starting { waiting, .. } => waiting.push((env.clone(), tx)),
                State::Ready { worker, pending } => match post(&worker.worker, &env) {
                    Ok(()) => {
                        pending.insert(id, tx);
                    }
                    Err(why) => {
                        drop(state);
                        self.0.fail(&why);
                    }
                },
                State::InPage { .. } => {}
            }
        }
        match rx.await {
            Ok(a) => a,
            // Not sent, or the worker failed meanwhile: the engine is here now.
            Err(oneshot::Canceled) => self.0.answer_here(&env).await,
        }
    }
}

impl Link {
    /// The worker said it is ready: the questions that waited go to it.
    fn ready(&self) {
        let mut state = self.state.borrow_mut();
        let State::Starting { .. } = &*state else {
            return;
        };
        let State::Starting { worker, waiting } = std::mem::replace(
            &mut *state,
            State::InPage {
                demo: None,
                restarted: false,
            },
        ) else {
            unreachable!("matched above")
        };
        let mut pending = HashMap::new();
        let mut failed = None;
        for (env, tx) in waiting {
            match post(&worker.worker, &env) {
                Ok(()) => {
                    pending.insert(env.id, tx);
                }
                Err(why) => failed = Some(why),
            }
        }
        *state = State::Ready { worker, pending };
        drop(state);
        if let Some(why) = failed {
            self.fail(&why);
        }
    }

    /// An answer from the worker.
    fn answered(&self, id: u32, answer: Answer) {
        if let State::Ready { pending, .. } = &mut *self.state.borrow_mut()
            && let Some(tx) = pending.remove(&id)
        {
            let _ = tx.send(answer);
        }
    }

    /// The worker cannot be used: the engine runs on the page from now on.
    /// Questions waiting for the worker are answered here (their senders are
    /// dropped).
    fn fail(&self, why: &str) {
        let old = std::mem::replace(
            &mut *self.state.borrow_mut(),
            State::InPage {
                demo: None,
                restarted: false,
            },
        );
        let restarted = match old {
            State::Starting { worker, .. } => {
                worker.worker.terminate();
                false
            }
            State::Ready { worker, .. } => {
                worker.worker.terminate();
                true
            }
            State::InPage { demo, restarted } => {
                // Already here: keep it.
                *self.state.borrow_mut() = State::InPage { demo, restarted };
                return;
            }
        };
        *self.state.borrow_mut() = State::InPage {
            demo: None,
            restarted,
        };
        *self.gave_up.borrow_mut() = Some(why.to_string());
        leptos::logging::warn!(
            "the panel's engine runs on this page (slower): its Web Worker {why}"
        );
    }

    /// Answers `env` here: the Demo's questions at once, the feeds' when their
    /// engine is done (the records are borrowed only between its awaits). Boxed: a
    /// feed's refresh asks the Demo through this same link.
    fn answer_here<'a>(&'a self, env: &'a Envelope) -> LocalBoxFuture<'a, Answer> {
        Box::pin(async move {
            match &env.ask {
                Ask::Demo { ask } => self.answer_demo(ask, env.now),
                Ask::Feed { feed, ask } => {
                    let feeds = self.feeds.borrow().clone();
                    match feeds {
                        Some(f) => f(*feed, ask.clone(), env.now).await,
                        None => Answer {
                            status: 503,
                            content_type: "text/plain".into(),
                            retry_after_s: None,
                            body: b"no engine for the feeds runs here".to_vec(),
                        },
                    }
                }
            }
        })
    }

    fn answer_demo(&self, ask: &DemoAsk, now: i64) -> Answer {
        let mut state = self.state.borrow_mut();
        let State::InPage { demo, restarted } = &mut *state else {
            unreachable!("answered here only once the worker is gone")
        };
        if std::mem::take(restarted) && matches!(ask, DemoAsk::Changes { .. }) {
            return gone_answer();
        }
        demo.get_or_insert_with(|| Box::new(DemoHost::new(now)))
            .answer(ask, now)
    }
}

/// What a restarted Demo answers a cursor of the one before it.
fn gone_answer() -> Answer {
    Answer {
        status: 410,
        content_type: "application/json".into(),
        retry_after_s: None,
        body: br#"{"error":"the Demo restarted on this page: take a new snapshot"}"#.to_vec(),
    }
}

/// Starts the worker with its handlers (which hold the link weakly).
fn start_worker(link: Weak<Link>) -> Result<Running, String> {
    let url = loader_url();
    let worker = web_sys::Worker::new(&url)
        .map_err(|e| format!("could not be created from {url}: {}", js_text(&e)))?;
    let on_link = link.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let Some(link) = on_link.upgrade() else {
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
    });
    let url_for_error = url.clone();
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
        let what = e
            .dyn_ref::<web_sys::ErrorEvent>()
            .map(|e| e.message())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("could not load {url_for_error}"));
        if let Some(link) = link.upgrade() {
            link.fail(&format!("failed: {what}"));
        }
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    worker.set_onmessageerror(Some(on_error.as_ref().unchecked_ref()));
    Ok(Running {
        worker,
        _on_message: on_message,
        _on_error: on_error,
    })
}

/// Sends a question to the worker.
fn post(worker: &web_sys::Worker, env: &Envelope) -> Result<(), String> {
    let msg = env
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| format!("could not be asked: {e}"))?;
    worker
        .post_message(&msg)
        .map_err(|e| format!("could not be asked: {}", js_text(&e)))
}

/// `{id, status, contentType, retryAfter, body}` (the body's buffer transferred).
fn answer_to_js(id: u32, a: &Answer) -> (JsValue, js_sys::Array) {
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

/// The answer in a message from the worker, if it is one.
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

/// Posts `answer` to question `id` back to the page.
pub fn send(scope: &web_sys::DedicatedWorkerGlobalScope, id: u32, answer: &Answer) {
    let (msg, transfer) = answer_to_js(id, answer);
    if let Err(e) = scope.post_message_with_transfer(&msg, &transfer) {
        web_sys::console::error_1(&e);
    }
}
