//! The Metrics tab's charts: what each chart draws ([`options`], tested natively),
//! the binding to ECharts that draws it ([`echarts`]), and the components: the tab
//! ([`metrics_tab`]), a card per chart ([`chart_card`]) and one file per chart.

pub mod chart_card;
pub mod cold_start_count_chart;
pub mod echarts;
pub mod metrics_tab;
pub mod now_strip;
pub mod options;
pub mod percentile_chart;
pub mod requests_chart;
pub mod summary_value;
pub mod webhook_chart;
pub mod worker_chart;
