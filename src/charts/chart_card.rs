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
    {
        let (current, chart, observer) = (current.clone(), chart.clone(), observer.clone());
        Effect::new(move |_| {
            let (Some(agg), Some(div)) = (data.get(), el.get()) else {
                return;
            };
            let c = ctx.get();
            let option = options(&agg, &c);
            *current.borrow_mut() = Some((agg, c));
            let mut slot = chart.borrow_mut();
            if slot.is_none() {
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
                        *slot = Some(c);
                    }
                    Err(e) => {
                        problem.set(Some(format!(
                            "Chart unavailable: {e} (the numbers above stay live)."
                        )));
                        return;
                    }
                }
                observe_size(&div, chart.clone(), &observer);
            }
            if let Some(c) = slot.as_ref()
                && let Err(e) = c.set_option(option)
            {
                problem.set(Some(format!("Chart could not be drawn: {e}")));
            }
        });
    }
    let cleanup = SendWrapper::new((chart, observer));
    on_cleanup(move || {
        let (chart, observer) = cleanup.take();
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
