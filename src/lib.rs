//! # metrics-panel
//!
//! The Metrics tab of a serverless GPU endpoint, as a Leptos client-side app compiled
//! to WebAssembly. Logic lives in plain modules that are tested without a DOM:
//! [`view_state`] (the URL), [`range`] (windows and buckets), [`source`] (HTTP feed or
//! in-browser Demo), [`api`] (requests and their failures), [`metrics_data`] (records
//! and endpoint-core's aggregation), [`chart_options`] (what the charts draw);
//! [`components`] only wires them to the page.

pub mod api;
pub mod chart_options;
pub mod components;
pub mod echarts;
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

pub use components::app::App;
