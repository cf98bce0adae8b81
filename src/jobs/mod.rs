//! The job list ("Requests"): its view in the URL ([`view`]: chips, search, sort,
//! the chart point it came from), one job's life ([`detail`]), cancel / retry /
//! purge and what a row says meanwhile ([`actions`]), export ([`export`]); the
//! components: the tab ([`jobs_tab`]), its shared state ([`context`]), the
//! virtualised table ([`job_table`]) and a job's detail ([`job_detail_view`]).

pub mod actions;
pub mod context;
pub mod detail;
pub mod export;
pub mod job_detail_view;
pub mod job_table;
pub mod jobs_tab;
pub mod view;
