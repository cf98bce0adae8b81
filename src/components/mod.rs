//! The panel's components, one public component per file.

pub mod app;
pub mod health_chart;
pub mod health_panel;
pub mod health_summary;
pub mod status_line;
