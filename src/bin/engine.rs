//! The panel's engine (`metrics_panel::feed::engine`): trunk builds it beside the
//! page's wasm (index.html) as `engine.js`, `engine_bg.wasm` and `engine_loader.js`.
//! In its Web Worker it serves the page at once; loaded on the page (when no worker
//! can run) it waits for the page's link to call `run_here`. Natively it does
//! nothing.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::prelude::*;

fn main() {
    #[cfg(target_arch = "wasm32")]
    {
        console_error_panic_hook::set_once();
        metrics_panel::feed::engine::run_worker();
    }
}

/// Serves the page on `port` (the engine loaded on the page itself). Defined here,
/// not in the library, so that only the engine's wasm exports it (and carries the
/// engine), not the page's.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
pub fn run_here(port: web_sys::MessagePort) {
    metrics_panel::feed::engine::run_here(port);
}
