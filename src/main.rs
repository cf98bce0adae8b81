//! Entry point of the panel: mounts [`metrics_panel::App`] on the page body.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(metrics_panel::App);
}
