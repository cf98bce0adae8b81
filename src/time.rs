//! Clock helpers backed by the browser (`Date`): display in local time, and now.

/// `HH:MM:SS` in the browser's local time zone.
pub fn clock(ms_since_epoch: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms_since_epoch));
    format!(
        "{:02}:{:02}:{:02}",
        d.get_hours(),
        d.get_minutes(),
        d.get_seconds()
    )
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}
