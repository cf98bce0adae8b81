//! The Workers tab: a lane per worker ([`lanes`], IO-free), the workers' facts and
//! log lines ([`facts`]: from the server's `/workers` and `/logs`, or derived from
//! the feed); the components: the tab ([`workers_tab`]), the selected worker
//! ([`worker_detail`]) and a log ([`log_lines`]).

pub mod facts;
pub mod lanes;
pub mod log_lines;
pub mod worker_detail;
pub mod workers_tab;
