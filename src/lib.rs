//! # metrics-panel
//!
//! The Metrics tab of a serverless GPU endpoint, as a Leptos client-side app compiled
//! to WebAssembly. The folders are the features; in each, the logic lives in plain
//! modules tested without a DOM, and the components (one public component per file)
//! only wire it to the page:
//!
//! - [`feed`]: where the records come from (the HTTP metrics feed or the in-browser
//!   Demo), the records held for the window, and the live loop every tab reads.
//! - [`charts`]: the Metrics tab; what each chart draws, and the ECharts binding.
//! - [`jobs`]: the job list ("Requests"): filters, a job's life, actions, export.
//! - [`workers`]: the Workers tab: a lane per worker, facts, logs.
//! - [`view`]: the view and its URL, ranges and buckets, times, the toolbar.
//! - [`settings`]: endpoints and keys in the browser's storage.
//! - [`embed`]: config.json and running inside a portal.
//! - [`app`]: the page that puts them together.
//!
//! Dependencies point one way: `view` (and `feed`'s IO-free parts) at the bottom,
//! the features above them, `app` on top.

pub mod app;
pub mod charts;
pub mod embed;
pub mod feed;
pub mod jobs;
pub mod settings;
pub mod view;
pub mod workers;

pub use app::App;

/// Starts the panel: finds (or makes) its element, reads config.json, then mounts
/// the app there, or the error screen naming the bad field.
pub fn start() {
    use leptos::prelude::*;
    view::time::mark("em-start");
    let root = embed::mount_root();
    feed::engine::set_bundle(root.get_attribute("data-bundle"));
    // Leptos's executor is set up by mount_to, which comes after config.json.
    wasm_bindgen_futures::spawn_local(async move {
        let url = embed::config_url(&root);
        let loaded = embed::load_config(&url).await;
        view::time::mark("em-config");
        let el = root.clone();
        match loaded {
            Ok(config) => {
                // The first snapshot is asked for now, and downloads while the page
                // mounts.
                feed::live::head_start(&app::initial_view(&config, &root).0);
                // Then ECharts, which the charts need only when the numbers arrive.
                charts::echarts::load(&feed::link::bundle_file("echarts.js"));
                // Let the question go out before the mount (a long task) holds the
                // main thread (a worker the link had to start needs it too).
                gloo_timers::future::TimeoutFuture::new(0).await;
                leptos::mount::mount_to(root, move || view! { <App config=config root=el /> })
                    .forget();
                view::time::mark("em-mounted");
            }
            Err(error) => {
                feed::link::drop_early_engine();
                leptos::mount::mount_to(root, move || {
                    view! { <embed::config_error::ConfigErrorScreen error=error url=url /> }
                })
                .forget()
            }
        }
    });
}
