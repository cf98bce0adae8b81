//! The panel's components, one public component per file.

pub mod app;
pub mod chart_card;
pub mod cold_start_count_chart;
pub mod config_error;
pub mod controls;
pub mod job_detail_view;
pub mod job_table;
pub mod jobs_tab;
pub mod log_lines;
pub mod metrics_tab;
pub mod now_strip;
pub mod percentile_chart;
pub mod requests_chart;
pub mod settings_view;
pub mod status_line;
pub mod summary_value;
pub mod webhook_chart;
pub mod worker_chart;
pub mod worker_detail;
pub mod workers_tab;
