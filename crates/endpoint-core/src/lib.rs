//! # endpoint-core
//!
//! The wire types of a RunPod-style serverless endpoint and the metrics math behind
//! the Metrics tab, in pure Rust with no IO, so the server (native) and the panel
//! (wasm32) share one definition of the wire format.
//!
//! What is here so far:
//! - [`JobStatus`]: the six job states RunPod reports, with `RUNNING` accepted as an
//!   alias of `IN_PROGRESS`.
//! - [`Health`]: the body of `GET /v2/{endpoint_id}/health`, in RunPod's shape.
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
