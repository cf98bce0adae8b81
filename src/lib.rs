//! # metrics-panel
//!
//! The Metrics tab of a serverless GPU endpoint, as a Leptos client-side app compiled
//! to WebAssembly. Logic lives in plain modules that are tested without a DOM:
//! [`view_state`] (the URL), [`range`] (windows and buckets), [`source`] (HTTP feed or
//! in-browser Demo), [`api`] (requests and their failures), [`metrics_data`] (records
//! and endpoint-core's aggregation), [`chart_options`] (what the charts draw),
//! [`worker_lanes`] (one lane per worker) and [`workers`] (worker facts and logs);
//! [`components`] only wires them to the page.

pub mod api;
pub mod chart_options;
pub mod components;
pub mod config;
pub mod echarts;
pub mod embed;
pub mod export;
pub mod job_actions;
pub mod job_detail;
pub mod job_view;
pub mod metrics_data;
pub mod poll;
pub mod range;
pub mod settings;
pub mod source;
pub mod time;
pub mod view_state;
pub mod worker_lanes;
pub mod workers;

pub use components::app::App;

/// Starts the panel: finds (or makes) its element, reads config.json, then mounts
/// the app there, or the error screen naming the bad field.
pub fn start() {
    use leptos::prelude::*;
    let root = embed::mount_root();
    // Leptos's executor is set up by mount_to, which comes after config.json.
    wasm_bindgen_futures::spawn_local(async move {
        let url = embed::config_url(&root);
        let loaded = embed::load_config(&url).await;
        let el = root.clone();
        match loaded {
            Ok(config) => {
                leptos::mount::mount_to(root, move || view! { <App config=config root=el /> })
                    .forget()
            }
            Err(error) => leptos::mount::mount_to(root, move || {
                view! { <components::config_error::ConfigErrorScreen error=error url=url /> }
            })
            .forget(),
        }
    });
}
