//! The few ECharts calls the panel makes, bound directly.
//!
//! Options are built in Rust as JSON ([`crate::chart_options`]); what JSON cannot
//! carry (the tooltip formatter) is attached as Rust closures. Every
//! call that could throw is caught, so a missing or broken ECharts shows a message
//! instead of stopping the panel.

use wasm_bindgen::prelude::*;

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
}

/// Whether the page loaded the global `echarts`.
pub fn loaded() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("echarts"))
        .map(|v| !v.is_undefined())
        .unwrap_or(false)
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
    formatter: Closure<dyn Fn(JsValue) -> String>,
    /// The option last set, as JSON: an unchanged chart is not updated again.
    last: std::cell::RefCell<String>,
}

impl Chart {
    /// Creates a chart in `el` (canvas renderer); `tooltip(index)` gives the HTML of
    /// the tooltip for a data index.
    pub fn new(
        el: &web_sys::HtmlElement,
        tooltip: impl Fn(usize) -> String + 'static,
    ) -> Result<Chart, String> {
        if !loaded() {
            return Err("ECharts did not load".into());
        }
        let opts = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&opts, &"renderer".into(), &"canvas".into());
        let instance = init_js(el, &JsValue::NULL, &opts).map_err(|e| describe(&e))?;
        let formatter = Closure::<dyn Fn(JsValue) -> String>::new(move |params: JsValue| {
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
        Ok(Chart {
            instance,
            formatter,
            last: Default::default(),
        })
    }

    /// Replaces the chart's option (series, axes, colours), keeping the instance.
    pub fn set_option(&self, option: &serde_json::Value) -> Result<(), String> {
        let text = option.to_string();
        if *self.last.borrow() == text {
            return Ok(());
        }
        let js = js_sys::JSON::parse(&text).map_err(|e| describe(&e))?;
        if let Ok(tooltip) = js_sys::Reflect::get(&js, &"tooltip".into())
            && tooltip.is_object()
        {
            let _ = js_sys::Reflect::set(
                &tooltip,
                &"formatter".into(),
                self.formatter.as_ref().unchecked_ref(),
            );
        }
        let opts = js_sys::Object::new();
        // Series come and go (the filling bucket's dashed twin): replace the series
        // list, merge the rest (axes, legend, grid are updated, not rebuilt).
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
        *self.last.borrow_mut() = text;
        Ok(())
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
