//! # metrics-panel
//!
//! The Metrics tab of a serverless GPU endpoint, as a Leptos client-side app compiled
//! to WebAssembly. Logic lives in plain modules ([`config`], [`api`], [`history`]) that
//! are tested without a DOM; [`components`] only wires them to the page.

pub mod api;
pub mod components;
pub mod config;
pub mod history;
pub mod poll;
pub mod time;

pub use components::app::App;
