//! A card holding one ECharts chart and its whole-window numbers as text.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use endpoint_core::Aggregation;
use leptos::html::Div;
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::charts::echarts;
use crate::charts::options::{Ctx, Drawing};
use crate::jobs::view::Pick;

/// Builds a chart's option from the numbers.
pub type BuildFn = fn(&Aggregation, &Ctx) -> Drawing;
/// Builds the tooltip of bucket `i`.
pub type TipFn = fn(&Aggregation, &Ctx, usize) -> String;
/// The jobs behind a clicked point: (numbers, bucket, nearest series name).
pub type PickFn = fn(&Aggregation, usize, &str) -> Option<Pick>;

/// Where chart clicks go (the page opens the job list with the pick).
#[derive(Clone, Copy)]
pub struct PickTarget(pub Callback<Pick>);

/// The numbers and context the tooltip reads.
type Current = Rc<RefCell<Option<(Arc<Aggregation>, Ctx)>>>;
/// The size observer and its callback (kept alive together).
type Observer = Rc<RefCell<Option<(web_sys::ResizeObserver, Closure<dyn Fn()>)>>>;
/// The visibility observer and its callback (kept alive together).
type InView = Rc<
    RefCell<
        Option<(
            web_sys::IntersectionObserver,
            Closure<dyn Fn(js_sys::Array)>,
        )>,
    >,
>;

/// How far outside the viewport a card still counts as in view, so a chart scrolled
/// towards is usually drawn before it shows.
const IN_VIEW_MARGIN: &str = "200px 0px";

thread_local! {
    /// Charts whose first drawing is scheduled but not done.
    static FIRST_DRAWS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Who waits for them all to be done.
    static FIRST_DRAWN: RefCell<Vec<futures::channel::oneshot::Sender<()>>> =
        const { RefCell::new(Vec::new()) };
}

/// Resolves once no chart has its first drawing still to do (the first render is
/// complete then).
pub async fn first_draws_done() {
    if FIRST_DRAWS.with(|n| n.get()) == 0 {
        return;
    }
    let (tx, rx) = futures::channel::oneshot::channel();
    FIRST_DRAWN.with(|w| w.borrow_mut().push(tx));
    let _ = rx.await;
}

/// One first drawing is done: wakes the waiters when it was the last.
fn first_draw_done() {
    if FIRST_DRAWS.with(|n| {
        n.set(n.get() - 1);
        n.get()
    }) == 0
    {
        for tx in FIRST_DRAWN.with(|w| std::mem::take(&mut *w.borrow_mut())) {
            let _ = tx.send(());
        }
    }
}

/// One chart: created on the first data, updated in place after that, resized with
/// its container, disposed when the card goes away. The summary (children) carries
/// the numbers as text, readable without hovering.
#[component]
pub fn ChartCard(
    /// Title.
    title: &'static str,
    /// What the chart shows, for screen readers.
    description: &'static str,
    /// `data-testid` of the card.
    testid: &'static str,
    /// The numbers (`None` until the first data).
    #[prop(into)]
    data: Signal<Option<Arc<Aggregation>>>,
    /// Time zone, now and colours.
    #[prop(into)]
    ctx: Signal<Ctx>,
    /// The option builder.
    options: BuildFn,
    /// The tooltip builder.
    tip: TipFn,
    /// What a click on a point opens in the job list.
    #[prop(optional)]
    pick: Option<PickFn>,
    /// Whether the series are stacked (clicks compare stacked tops).
    #[prop(optional)]
    stacked: bool,
    /// The whole-window numbers.
    children: Children,
) -> impl IntoView {
    let el = NodeRef::<Div>::new();
    let target = use_context::<PickTarget>();
    let problem = RwSignal::new(None::<String>);
    // What the tooltip reads: the latest numbers and context.
    let current: Current = Rc::default();
    let chart: Rc<RefCell<Option<echarts::Chart>>> = Rc::default();
    let observer: Observer = Rc::default();
    // Says why the chart cannot be drawn.
    let unavailable = move |why: &str| {
        problem.try_set(Some(format!(
            "Chart unavailable: {why} (the numbers above stay live)."
        )));
    };
    // Creates the chart (ECharts init, events, size observer); false if it cannot.
    let mount = {
        let (current, chart, observer) = (current.clone(), chart.clone(), observer.clone());
        move || -> bool {
            let Some(Some(div)) = el.try_get_untracked() else {
                return false;
            };
            let cur = current.clone();
            let tooltip = move |i: usize| {
                cur.borrow()
                    .as_ref()
                    .map(|(a, c)| tip(a, c, i))
                    .unwrap_or_default()
            };
            match echarts::Chart::mount(&el, tooltip) {
                Ok(mut c) => {
                    if let (Some(pick), Some(PickTarget(go))) = (pick, target) {
                        let cur = current.clone();
                        c.on_click(stacked, move |click| {
                            let chosen = cur.borrow().as_ref().and_then(|(a, _)| {
                                pick(a, click.bucket, click.series.as_deref().unwrap_or(""))
                            });
                            if let Some(p) = chosen {
                                go.run(p);
                            }
                        });
                    }
                    *chart.borrow_mut() = Some(c);
                    observe_size(&div, chart.clone(), &observer);
                    true
                }
                Err(e) => {
                    unavailable(&e);
                    false
                }
            }
        }
    };
    // Draws the latest numbers.
    let draw = {
        let (current, chart) = (current.clone(), chart.clone());
        move || {
            let option = current.borrow().as_ref().map(|(a, c)| options(a, c));
            if let (Some(c), Some(option)) = (chart.borrow().as_ref(), option)
                && let Err(e) = c.set_option(option)
            {
                problem.try_set(Some(format!("Chart could not be drawn: {e}")));
            }
        }
    };
    let lazy = Rc::new(Lazy {
        current: current.clone(),
        chart: chart.clone(),
        mount: Box::new(mount),
        draw: Box::new(draw),
        shown: Cell::new(None),
        stale: Cell::new(false),
        first_pending: Cell::new(false),
        mounting: Cell::new(false),
        gave_up: Cell::new(false),
        alive: Cell::new(true),
    });
    let in_view: InView = Rc::default();
    {
        let (lazy, in_view) = (lazy.clone(), in_view.clone());
        // The element is set once, when the card mounts.
        Effect::new(move |_| {
            if let Some(div) = el.get() {
                observe_view(&div, lazy.clone(), &in_view);
            }
        });
    }
    {
        let lazy = lazy.clone();
        Effect::new(move |_| {
            let (Some(agg), Some(_)) = (data.get(), el.get()) else {
                return;
            };
            let first = lazy.current.borrow().is_none();
            *lazy.current.borrow_mut() = Some((agg, ctx.get()));
            lazy.stale.set(true);
            if first {
                if !echarts::loaded() && !echarts::loading() {
                    // Said at once, on screen or not: nothing will draw.
                    unavailable(echarts::NOT_LOADED);
                    lazy.gave_up.set(true);
                    return;
                }
                FIRST_DRAWS.with(|n| n.set(n.get() + 1));
                lazy.first_pending.set(true);
            }
            lazy.update();
        });
    }
    let cleanup = SendWrapper::new((lazy, observer, in_view));
    on_cleanup(move || {
        let (lazy, observer, in_view) = cleanup.take();
        lazy.alive.set(false);
        lazy.first_settled();
        if let Some((o, _)) = observer.borrow_mut().take() {
            o.disconnect();
        }
        if let Some((o, _)) = in_view.borrow_mut().take() {
            o.disconnect();
        }
        lazy.chart.borrow_mut().take();
    });
    view! {
        <figure class="card chart-card" data-testid=testid>
            <figcaption>
                <h2>{title}</h2>
                <div class="summary">{children()}</div>
            </figcaption>
            <div
                node_ref=el
                class="chart"
                class:clickable=pick.is_some()
                role="img"
                aria-label=description
                title=pick.map(|_| "Click a point to list the jobs behind it")
            ></div>
            {move || problem.get().map(|p| view! { <p class="chart-problem" role="alert">{p}</p> })}
        </figure>
    }
}

/// A card's chart and what it knows between renders, shared by the data effect, the
/// scheduled first drawing and the visibility observer.
///
/// Only a card in (or near) the viewport draws: ECharts' setOption and painting are
/// most of a refresh's main-thread time (docs/benchmarks.md), and at 1400x900 about
/// half the cards are out of view. A card out of view keeps the latest numbers (its
/// summary text stays live) and draws them when it scrolls into view.
struct Lazy {
    current: Current,
    chart: Rc<RefCell<Option<echarts::Chart>>>,
    /// Creates the chart; false if it cannot (the card says why).
    mount: Box<dyn Fn() -> bool>,
    /// Sets the chart's option from `current`.
    draw: Box<dyn Fn()>,
    /// Whether the card is in view; `None` until the observer's first report.
    shown: Cell<Option<bool>>,
    /// The latest numbers are not drawn.
    stale: Cell<bool>,
    /// This card's first drawing counts toward the first render and is not settled.
    first_pending: Cell<bool>,
    /// A first drawing is scheduled.
    mounting: Cell<bool>,
    /// The chart cannot be created (no ECharts, or ECharts threw): no more tries.
    gave_up: Cell<bool>,
    /// False once the card is gone.
    alive: Cell<bool>,
}

impl Lazy {
    /// Draws the latest numbers if the card is in view; otherwise leaves them stale
    /// until it is.
    fn update(self: &Rc<Self>) {
        if self.current.borrow().is_none() || self.gave_up.get() {
            return;
        }
        match self.shown.get() {
            Some(true) if self.chart.borrow().is_some() => {
                (self.draw)();
                self.stale.set(false);
            }
            Some(true) => {
                if self.mounting.replace(true) {
                    return;
                }
                // The first drawing of every chart at once is one long task (ECharts
                // creates a canvas per chart): each chart draws in a task of its own,
                // and the page says it rendered once all in view have
                // (first_draws_done).
                let me = self.clone();
                leptos::task::spawn_local(async move {
                    gloo_timers::future::TimeoutFuture::new(0).await;
                    // ECharts may still be loading (echarts::load); if it does not
                    // load, the chart's mount says so.
                    echarts::ready().await;
                    me.mounting.set(false);
                    if me.alive.get() {
                        if (me.mount)() {
                            (me.draw)();
                            me.stale.set(false);
                        } else {
                            me.gave_up.set(true);
                        }
                    }
                    me.first_settled();
                });
            }
            // Out of view: nothing to draw for the first render either.
            Some(false) => self.first_settled(),
            None => {}
        }
    }

    /// The visibility observer's report.
    fn seen(self: &Rc<Self>, shown: bool) {
        self.shown.set(Some(shown));
        if !shown || self.stale.get() || self.chart.borrow().is_none() {
            self.update();
        }
    }

    /// This card no longer holds up the first render.
    fn first_settled(&self) {
        if self.first_pending.replace(false) {
            first_draw_done();
        }
    }
}

/// Tells `lazy` whenever its card enters or leaves the viewport (with
/// [`IN_VIEW_MARGIN`]). Where IntersectionObserver is missing, the card counts as
/// always in view.
fn observe_view(div: &web_sys::HtmlDivElement, lazy: Rc<Lazy>, slot: &InView) {
    let me = lazy.clone();
    let cb = Closure::<dyn Fn(js_sys::Array)>::new(move |entries: js_sys::Array| {
        let last: Option<web_sys::IntersectionObserverEntry> =
            entries.iter().last().and_then(|e| e.dyn_into().ok());
        if let Some(entry) = last {
            me.seen(entry.is_intersecting());
        }
    });
    let init = web_sys::IntersectionObserverInit::new();
    init.set_root_margin(IN_VIEW_MARGIN);
    match web_sys::IntersectionObserver::new_with_options(cb.as_ref().unchecked_ref(), &init) {
        Ok(o) => {
            o.observe(div);
            *slot.borrow_mut() = Some((o, cb));
        }
        Err(_) => lazy.seen(true),
    }
}

/// Resizes the chart whenever its container changes size (window, grid, sidebar).
fn observe_size(
    div: &web_sys::HtmlDivElement,
    chart: Rc<RefCell<Option<echarts::Chart>>>,
    slot: &Observer,
) {
    let cb = Closure::<dyn Fn()>::new(move || {
        if let Ok(c) = chart.try_borrow()
            && let Some(c) = c.as_ref()
        {
            c.resize();
        }
    });
    if let Ok(o) = web_sys::ResizeObserver::new(cb.as_ref().unchecked_ref()) {
        o.observe(div);
        *slot.borrow_mut() = Some((o, cb));
    }
}
