//! Queue and worker counts over time, drawn by ECharts through charming.

use std::cell::RefCell;
use std::rc::Rc;

use charming::component::{Axis, Grid, Legend};
use charming::element::{AxisType, Tooltip, Trigger};
use charming::series::Line;
use charming::{Chart, Echarts, WasmRenderer};
use leptos::prelude::*;

use crate::history::{HealthHistory, Series};

/// DOM id of the chart's container (charming's renderer finds it by id).
pub const CHART_ID: &str = "health-chart";

/// One ECharts instance, created on the first data and updated in place after that.
#[component]
pub fn HealthChart(
    /// The samples to draw.
    #[prop(into)]
    history: Signal<HealthHistory>,
) -> impl IntoView {
    let instance: Rc<RefCell<Option<Echarts>>> = Rc::default();
    let problem = RwSignal::new(None::<String>);
    {
        let instance = Rc::clone(&instance);
        Effect::new(move |_| {
            let chart = build_chart(&history.with(HealthHistory::series));
            let mut slot = instance.borrow_mut();
            if let Some(echarts) = slot.as_ref() {
                WasmRenderer::update(echarts, &chart);
                return;
            }
            if !echarts_loaded() {
                problem.set(Some(
                    "Charts are unavailable: ECharts did not load (the numbers above stay live)."
                        .into(),
                ));
                return;
            }
            match WasmRenderer::new_opt(None, None).render(CHART_ID, &chart) {
                Ok(echarts) => *slot = Some(echarts),
                Err(e) => problem.set(Some(format!("Charts are unavailable: {e:?}"))),
            }
        });
    }
    let handle = window_event_listener(leptos::ev::resize, move |_| {
        if let Some(echarts) = instance.borrow().as_ref() {
            echarts.resize(wasm_bindgen::JsValue::UNDEFINED);
        }
    });
    on_cleanup(move || handle.remove());
    view! {
        <figure class="card chart-card">
            <figcaption>"Queue and workers"</figcaption>
            <div
                id=CHART_ID
                class="chart"
                role="img"
                aria-label="Line chart of jobs in queue, jobs in progress, workers running and workers idle over time; the same numbers are listed above as text"
            ></div>
            {move || problem.get().map(|p| view! { <p class="chart-problem" role="alert">{p}</p> })}
        </figure>
    }
}

/// Whether the page loaded the global `echarts` that charming's renderer calls.
fn echarts_loaded() -> bool {
    js_sys::Reflect::get(
        &js_sys::global(),
        &wasm_bindgen::JsValue::from_str("echarts"),
    )
    .map(|v| !v.is_undefined())
    .unwrap_or(false)
}

/// The chart's option: one line per series on a time axis.
fn build_chart(series: &[Series]) -> Chart {
    let mut chart = Chart::new()
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(Legend::new().top("0"))
        .grid(Grid::new().left("48").right("24").top("40").bottom("32"))
        .x_axis(Axis::new().type_(AxisType::Time))
        .y_axis(Axis::new().type_(AxisType::Value).min_interval(1));
    for s in series {
        chart = chart.series(
            Line::new()
                .name(s.name)
                .show_symbol(false)
                .data(s.points.iter().map(|p| vec![p[0], p[1]]).collect()),
        );
    }
    chart
}
