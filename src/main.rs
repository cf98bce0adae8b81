//! Entry point of the panel: [`metrics_panel::start`] mounts it (into the page's
//! `#endpoint-metrics` element, or a new one) once config.json is read.

fn main() {
    console_error_panic_hook::set_once();
    metrics_panel::start();
}
