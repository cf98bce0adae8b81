//! A card holding one ECharts chart and its whole-window numbers as text.

use std::cell::RefCell;
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
    // Creates the chart (ECharts init, events, size observer); false if it cannot.
    let mount = {
        let (current, chart, observer) = (current.clone(), chart.clone(), observer.clone());
        Rc::new(move || -> bool {
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
                    problem.try_set(Some(format!(
                        "Chart unavailable: {e} (the numbers above stay live)."
                    )));
                    false
                }
            }
        })
    };
    // Draws the latest numbers.
    let draw = {
        let (current, chart) = (current.clone(), chart.clone());
        Rc::new(move || {
            let option = current.borrow().as_ref().map(|(a, c)| options(a, c));
            if let (Some(c), Some(option)) = (chart.borrow().as_ref(), option)
                && let Err(e) = c.set_option(option)
            {
                problem.try_set(Some(format!("Chart could not be drawn: {e}")));
            }
        })
    };
    // False once the card is gone (a first drawing scheduled before then is dropped).
    let alive = Rc::new(std::cell::Cell::new(true));
    {
        let (current, chart) = (current.clone(), chart.clone());
        let first = Rc::new(std::cell::Cell::new(true));
        let alive = alive.clone();
        Effect::new(move |_| {
            let (Some(agg), Some(_)) = (data.get(), el.get()) else {
                return;
            };
            *current.borrow_mut() = Some((agg, ctx.get()));
            if chart.borrow().is_some() {
                draw();
            } else if first.replace(false) {
                // The first drawing of every chart at once is one long task (ECharts
                // creates seven canvases): each chart draws in a task of its own,
                // and the page says it rendered once all have (first_draws_done).
                let (mount, draw, alive) = (mount.clone(), draw.clone(), alive.clone());
                FIRST_DRAWS.with(|n| n.set(n.get() + 1));
                leptos::task::spawn_local(async move {
                    gloo_timers::future::TimeoutFuture::new(0).await;
                    if alive.get() && mount() {
                        draw();
                    }
                    first_draw_done();
                });
            }
        });
    }
    let cleanup = SendWrapper::new((chart, observer, alive));
    on_cleanup(move || {
        let (chart, observer, alive) = cleanup.take();
        alive.set(false);
        if let Some((o, _)) = observer.borrow_mut().take() {
            o.disconnect();
        }
        chart.borrow_mut().take();
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
