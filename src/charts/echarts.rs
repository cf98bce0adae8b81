//! The few ECharts calls the panel makes, bound directly: our own thin runtime for the
//! options charming builds ([`crate::charts::options`]).
//!
//! Not charming's `WasmRenderer`: it finds its element by a DOM id, hides the
//! `setOption` merge options, has no events and no dispose, and its serializer turns
//! maps into JS `Map`s, which ECharts ignores. Here a chart is mounted on a Leptos
//! `NodeRef`, options go through serde-wasm-bindgen's `json_compatible` serializer
//! (plain objects, no JSON text), the tooltip formatter is a Rust closure handed to
//! ECharts as charming's `JsFunction`, and every call that could throw is caught, so a
//! missing or broken ECharts shows a message instead of stopping the panel.

use charming::element::{Formatter, JsFunction};
use leptos::html::Div;
use leptos::prelude::{GetUntracked, NodeRef};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::charts::options::{ChartOption, Drawing, Drawn};

#[wasm_bindgen]
extern "C" {
    /// One chart instance (`echarts.init(...)`).
    pub type Instance;

    #[wasm_bindgen(catch, js_namespace = echarts, js_name = init)]
    fn init_js(
        el: &web_sys::HtmlElement,
        theme: &JsValue,
        opts: &JsValue,
    ) -> Result<Instance, JsValue>;

    #[wasm_bindgen(catch, method, js_name = setOption)]
    fn set_option_js(this: &Instance, option: &JsValue, opts: &JsValue) -> Result<(), JsValue>;

    #[wasm_bindgen(catch, method)]
    fn resize(this: &Instance) -> Result<(), JsValue>;

    #[wasm_bindgen(catch, method)]
    fn dispose(this: &Instance) -> Result<(), JsValue>;

    #[wasm_bindgen(catch, method, js_name = convertFromPixel)]
    fn convert_from_pixel(
        this: &Instance,
        finder: &JsValue,
        point: &JsValue,
    ) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(catch, method, js_name = containPixel)]
    fn contain_pixel(this: &Instance, finder: &JsValue, point: &JsValue) -> Result<bool, JsValue>;

    /// The chart's zrender instance (clicks anywhere on the canvas).
    type Zr;

    #[wasm_bindgen(catch, method, js_name = getZr)]
    fn get_zr(this: &Instance) -> Result<Zr, JsValue>;

    #[wasm_bindgen(method, js_name = on)]
    fn zr_on(this: &Zr, event: &str, handler: &js_sys::Function);
}

/// A click on a chart: the bucket under it and the series whose point at that bucket
/// is nearest the click (vertically).
#[derive(Debug, Clone, PartialEq)]
pub struct Click {
    /// The bucket (category index).
    pub bucket: usize,
    /// The nearest series' name, if any series has a value there.
    pub series: Option<String>,
}

/// Each series' name and values, as last drawn (what a click is matched against).
type DrawnNow = std::rc::Rc<std::cell::RefCell<Vec<Drawn>>>;

/// The series nearest `y` at `bucket` (stacked series compare their stacked tops).
pub fn nearest_series(series: &[Drawn], bucket: usize, y: f64, stacked: bool) -> Option<String> {
    let mut top = 0.0;
    let mut best: Option<(f64, &str)> = None;
    for (name, data) in series {
        let Some(v) = data.get(bucket).copied().flatten() else {
            continue;
        };
        let at = if stacked {
            top += v;
            top
        } else {
            v
        };
        let d = (at - y).abs();
        if best.is_none_or(|(b, _)| d < b) {
            best = Some((d, name));
        }
    }
    best.map(|(_, n)| n.to_string())
}

/// Why no chart can be created when [`loaded`] is false.
pub const NOT_LOADED: &str = "ECharts did not load";

/// Whether the page loaded the global `echarts`.
pub fn loaded() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("echarts"))
        .map(|v| !v.is_undefined())
        .unwrap_or(false)
}

thread_local! {
    /// The load [`load`] started: true once the script ran, false if it failed.
    static LOADING: std::cell::RefCell<Option<futures::future::Shared<futures::future::LocalBoxFuture<'static, bool>>>> =
        const { std::cell::RefCell::new(None) };
}

/// Starts loading ECharts from `url` unless the page has it or is loading it. The
/// panel's own page loads it this way once the first snapshot is asked for, so that
/// evaluating its 580 KB of script does not hold up the page's start (and with it
/// that question): the charts need it only when the first numbers arrive
/// (docs/benchmarks.md). A portal's embed.js loads it before the panel starts.
pub fn load(url: &str) {
    if loaded() || LOADING.with(|l| l.borrow().is_some()) {
        return;
    }
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(script) = doc.create_element("script") else {
        return;
    };
    let (tx, rx) = futures::channel::oneshot::channel::<bool>();
    let tx = std::rc::Rc::new(std::cell::RefCell::new(Some(tx)));
    let settle = |ok: bool| {
        let tx = tx.clone();
        Closure::once_into_js(move || {
            if let Some(tx) = tx.borrow_mut().take() {
                let _ = tx.send(ok);
            }
        })
    };
    let _ = js_sys::Reflect::set(&script, &"onload".into(), &settle(true));
    let _ = js_sys::Reflect::set(&script, &"onerror".into(), &settle(false));
    let _ = script.set_attribute("src", url);
    let Some(head) = doc.head() else {
        return;
    };
    if head.append_child(&script).is_err() {
        return;
    }
    let done: futures::future::LocalBoxFuture<'static, bool> =
        Box::pin(async move { rx.await.unwrap_or(false) });
    LOADING.with(|l| *l.borrow_mut() = Some(futures::FutureExt::shared(done)));
}

/// Whether ECharts is being loaded by [`load`] (a chart then waits for it).
pub fn loading() -> bool {
    !loaded() && LOADING.with(|l| l.borrow().is_some())
}

/// Whether ECharts is there, once a load [`load`] started has ended.
pub async fn ready() -> bool {
    if let Some(done) = LOADING.with(|l| l.borrow().clone()) {
        done.await;
    }
    loaded()
}

fn describe(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            js_sys::Reflect::get(e, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "unknown error".into())
}

/// A chart in an element.
pub struct Chart {
    instance: Instance,
    /// The tooltip formatter, kept alive while the chart is.
    _formatter: Closure<dyn Fn(JsValue) -> String>,
    /// The same function, as the option carries it.
    formatter: JsFunction,
    drawn: DrawnNow,
    on_click: Option<Closure<dyn Fn(JsValue)>>,
    /// The option last set: an unchanged chart is not updated again.
    last: std::cell::RefCell<Option<ChartOption>>,
}

impl Chart {
    /// Creates a chart in the element of `node` (canvas renderer); `tooltip(index)`
    /// gives the HTML of the tooltip for a data index.
    pub fn mount(
        node: &NodeRef<Div>,
        tooltip: impl Fn(usize) -> String + 'static,
    ) -> Result<Chart, String> {
        if !loaded() {
            return Err(NOT_LOADED.into());
        }
        let Some(el) = node.get_untracked() else {
            return Err("the chart's element is not on the page".into());
        };
        let opts = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&opts, &"renderer".into(), &"canvas".into());
        let instance = init_js(&el, &JsValue::NULL, &opts).map_err(|e| describe(&e))?;
        let closure = Closure::<dyn Fn(JsValue) -> String>::new(move |params: JsValue| {
            let first = if js_sys::Array::is_array(&params) {
                js_sys::Array::from(&params).get(0)
            } else {
                params
            };
            js_sys::Reflect::get(&first, &"dataIndex".into())
                .ok()
                .and_then(|v| v.as_f64())
                .map(|i| tooltip(i as usize))
                .unwrap_or_default()
        });
        // charming's JsFunction is a js_sys::Function that serde-wasm-bindgen passes
        // through as it is; it is made from the closure's function, not from source
        // text (which a strict CSP forbids).
        let formatter: JsFunction =
            serde_wasm_bindgen::from_value(closure.as_ref().clone()).map_err(|e| e.to_string())?;
        Ok(Chart {
            instance,
            _formatter: closure,
            formatter,
            drawn: Default::default(),
            on_click: None,
            last: Default::default(),
        })
    }

    /// Replaces the chart's option (series, axes, colours), keeping the instance.
    pub fn set_option(&self, drawing: Drawing) -> Result<(), String> {
        // The formatter is the same function every time, so an option that compares
        // equal with it attached is the one on screen.
        let option = drawing
            .option
            .with_formatter(Formatter::Function(self.formatter.clone()));
        if self.last.borrow().as_ref() == Some(&option) {
            return Ok(());
        }
        let js = option
            .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(|e| e.to_string())?;
        let opts = js_sys::Object::new();
        // Series come and go (the filling bucket's dashed twin): replace the series
        // list, merge the rest (axes, legend, grid are updated, not rebuilt; the
        // legend keeps what the user toggled).
        let _ = js_sys::Reflect::set(
            &opts,
            &"replaceMerge".into(),
            &js_sys::Array::of1(&"series".into()),
        );
        // Update now (not on the next frame), so a refresh's cost is measured where it
        // happens; ECharts still paints on the next animation frame.
        let _ = js_sys::Reflect::set(&opts, &"lazyUpdate".into(), &JsValue::FALSE);
        self.instance
            .set_option_js(&js, &opts)
            .map_err(|e| describe(&e))?;
        *self.drawn.borrow_mut() = drawing.drawn;
        *self.last.borrow_mut() = Some(option);
        Ok(())
    }

    /// Calls `f` on a click inside the plot area, with the bucket under the pointer
    /// and the series nearest to it. Clicks anywhere in the plot count (not only on
    /// the small symbols), so a point is easy to hit.
    pub fn on_click(&mut self, stacked: bool, f: impl Fn(Click) + 'static) {
        let Ok(zr) = self.instance.get_zr() else {
            return;
        };
        // The extern type has no Clone of its own: clone the JsValue and re-type it.
        let instance: Instance = JsValue::clone(&self.instance).unchecked_into();
        let drawn = self.drawn.clone();
        let handler = Closure::<dyn Fn(JsValue)>::new(move |ev: JsValue| {
            let num = |k: &str| {
                js_sys::Reflect::get(&ev, &k.into())
                    .ok()
                    .and_then(|v| v.as_f64())
            };
            let (Some(x), Some(y)) = (num("offsetX"), num("offsetY")) else {
                return;
            };
            let inst = &instance;
            let finder = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&finder, &"gridIndex".into(), &0.into());
            let point = js_sys::Array::of2(&x.into(), &y.into());
            if !inst.contain_pixel(&finder, &point).unwrap_or(false) {
                return;
            }
            let Ok(v) = inst.convert_from_pixel(&finder, &point) else {
                return;
            };
            let v = js_sys::Array::from(&v);
            let (Some(b), Some(val)) = (v.get(0).as_f64(), v.get(1).as_f64()) else {
                return;
            };
            if b < 0.0 {
                return;
            }
            let bucket = b.round() as usize;
            let series = nearest_series(&drawn.borrow(), bucket, val, stacked);
            f(Click { bucket, series });
        });
        zr.zr_on("click", handler.as_ref().unchecked_ref());
        self.on_click = Some(handler);
    }

    /// Fits the chart to its element's new size.
    pub fn resize(&self) {
        let _ = self.instance.resize();
    }
}

impl Drop for Chart {
    fn drop(&mut self) {
        let _ = self.instance.dispose();
    }
}
