//! The panel's Web Worker (`metrics_panel::feed::engine`): trunk builds it beside the
//! page's wasm (index.html) as `engine.js`, `engine_bg.wasm` and `engine_loader.js`.
//! Natively it does nothing.

fn main() {
    #[cfg(target_arch = "wasm32")]
    {
        console_error_panic_hook::set_once();
        metrics_panel::feed::engine::run_worker();
    }
}
