//! # endpoint-core
//!
//! The wire types of a RunPod-style serverless endpoint and the metrics math behind
//! the Metrics tab, in pure Rust with no IO, so the server (native) and the panel
//! (wasm32) share one definition of the wire format and of every number it shows.
//!
//! ## A tour
//!
//! - **Records** ([`job`], [`worker`]): a [`JobRecord`] is one job as `/status`
//!   tells it, with its times ([`JobStatus`] is RunPod's six states; `RUNNING` is read
//!   as `IN_PROGRESS`); [`WorkerTransition`], [`ColdStart`] and [`WebhookDelivery`]
//!   are the events beside the jobs. Every record checks itself
//!   ([`JobRecord::validate`], [`RecordError`] naming the field and the fix).
//! - **Storage** ([`store`]): a [`JobStore`] holds jobs in columns (~47 bytes a job,
//!   UUID ids as 16 bytes), upserts by id in O(1), and hands out [`store::Row`] views
//!   without building a record per row.
//! - **The feed** ([`feed`]): a [`feed::Snapshot`] of a window (jobs + events, sent
//!   in the compact EMC2 columns by [`feed::encode`] / [`feed::decode`]) and then
//!   [`feed::Changes`] after a cursor, which is how the panel follows the server.
//! - **Percentiles** ([`quantile`]): the one definition (linear interpolation between
//!   closest ranks, numpy's default); `Ok(None)` for no data, an error for a bad q.
//! - **Aggregation** ([`aggregate`], [`runs`]): a [`Window`] (from, to, bucket width)
//!   and an [`Aggregator`] that turns a store and its events into an
//!   [`Aggregation`]: per bucket and for the whole window, request counts, exact
//!   execution / delay / cold-start [`Distribution`]s, webhook counts and
//!   time-weighted worker states. Built in one pass ([`Aggregator::from_store`]),
//!   then kept up to date one job at a time ([`Aggregator::upsert`]).
//! - **Job queries** ([`query`]): the job list's filter, sort and status-chip counts
//!   read straight from the columns ([`query::list`]), and "the jobs behind this
//!   point" of a chart, with the very times the aggregation buckets by.
//! - **Health** ([`health`]): RunPod's `/health` body.
//!
//! ## From records to the numbers of a chart
//!
//! ```
//! use endpoint_core::{Aggregator, JobRecord, JobStatus, JobStore, Window};
//!
//! let mut store = JobStore::default();
//! for (i, exec) in [1_200u32, 800, 3_000, 950].into_iter().enumerate() {
//!     let at = 1_000 + i as i64 * 10_000;
//!     store.upsert(&JobRecord {
//!         status: JobStatus::Completed,
//!         started_at: Some(at + 40),
//!         completed_at: Some(at + 40 + i64::from(exec)),
//!         execution_time: Some(f64::from(exec)),
//!         delay_time: Some(40.0),
//!         ..JobRecord::queued(format!("job-{i}"), at)
//!     }).unwrap();
//! }
//! // One minute cut into two 30 s buckets; P70, P90 and P98 of every duration.
//! let window = Window::new(0, 60_000, 30_000).unwrap();
//! let mut agg = Aggregator::from_store(window, &[0.7, 0.9, 0.98], &store).unwrap();
//! let result = agg.result();
//! assert_eq!(result.total.requests.completed, 4);
//! assert_eq!(result.total.execution.count, 4);
//! // Exact, from the samples: the P70 of [800, 950, 1200, 3000] is at rank
//! // 3 * 0.7 = 2.1, so 1200 + 0.1 * (3000 - 1200), as numpy computes it.
//! let p70 = result.total.execution.quantiles[0].unwrap();
//! assert!((p70 - 1_380.0).abs() < 1e-9, "{p70}");
//! assert_eq!(result.buckets[0].execution.count, 3);
//! ```
//!
//! ## Health, as RunPod sends it
//!
//! ```
//! use endpoint_core::{Health, JobStatus};
//!
//! let h: Health = serde_json::from_str(
//!     r#"{"jobs":{"completed":3,"failed":1,"inProgress":2,"inQueue":5,"retried":0},
//!         "workers":{"idle":1,"running":2}}"#,
//! ).unwrap();
//! assert_eq!(h.jobs.in_queue, 5);
//! assert_eq!(h.workers.running, 2);
//! assert!(JobStatus::Completed.is_terminal());
//! ```

pub mod aggregate;
pub mod error;
pub mod feed;
pub mod health;
pub mod job;
pub mod quantile;
pub mod query;
pub mod runs;
pub mod store;
pub mod worker;

pub use aggregate::{Aggregation, Aggregator, BucketStats, Window};
pub use error::RecordError;
pub use health::{Health, HealthJobs, HealthWorkers};
pub use job::{JobRecord, JobStatus, WebhookSummary};
pub use runs::Distribution;
pub use store::JobStore;
pub use worker::{ColdStart, WebhookDelivery, WorkerState, WorkerTransition};
