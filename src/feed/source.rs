//! Where the panel's data comes from: one interface, two implementations.
//!
//! - [`Source::Http`]: an endpoint server's metrics feed (snapshot in EMC2 columns,
//!   then JSON pages of changes), with the user's API key if one is set.
//! - [`Source::Demo`]: the Demo endpoint, run by endpoint-sim in this browser (in the
//!   panel's Web Worker, asked through [`crate::feed::link`]). It answers the same questions as a
//!   server, in the server's terms ([`crate::feed::demo`]), and its answers are read
//!   by the same code, so everything downstream is identical.

use endpoint_core::JobStatus;
use endpoint_core::feed::{Changes, Snapshot};

use crate::feed::api::{self, FetchError};
use crate::feed::demo::DemoAsk;
use crate::feed::link::EngineLink;
use crate::view::state::EndpointRef;
use crate::workers::facts::{self, LogFilter, LogPage, Origin, WorkerList};

pub use crate::feed::api::CHANGES_LIMIT;

/// A snapshot of a million jobs is about 42 MB: give it time.
pub const SNAPSHOT_TIMEOUT_MS: u32 = 60_000;

/// An endpoint server's feed.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSource {
    /// API base URL without a trailing slash; empty means same origin.
    pub api_base: String,
    /// Endpoint id.
    pub id: String,
    /// API key (sent as `Authorization: Bearer`), if any.
    pub key: Option<String>,
}

impl HttpSource {
    /// `{api_base}/v2/{id}/{path}`.
    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.api_base, self.id)
    }

    /// `{api_base}/v2/{id}/{op}/{job}`.
    fn job_url(&self, op: &str, job: &str) -> String {
        self.url(&format!("{op}/{}", crate::view::url::percent_encode(job)))
    }

    /// POSTs RunPod's `/{op}/{job}` (cancel, retry).
    async fn post_job(&self, op: &str, job: &str) -> Result<api::Answer, FetchError> {
        api::post(&self.job_url(op, job), self.key.as_deref(), api::TIMEOUT_MS).await
    }
}

/// A data source.
#[derive(Debug, Clone)]
pub enum Source {
    /// The endpoint server's metrics feed.
    Http(HttpSource),
    /// The Demo endpoint simulated in this browser.
    Demo(EngineLink),
}

impl Source {
    /// The source for `endpoint`; the Demo endpoint is created once per page (it
    /// plays a day of history first, in the worker, at its first question).
    pub fn for_endpoint(endpoint: &EndpointRef, key: Option<String>) -> Source {
        match endpoint {
            EndpointRef::Demo => Source::Demo(crate::feed::link::page_link()),
            EndpointRef::Http { api_base, id } => Source::Http(HttpSource {
                api_base: api_base.clone(),
                id: id.clone(),
                key,
            }),
        }
    }

    /// Whether this is the source of `endpoint` (the poll loop swaps sources when
    /// the endpoint changes; a reader checks it has the new one).
    pub fn is_for(&self, endpoint: &EndpointRef) -> bool {
        match (self, endpoint) {
            (Source::Demo(_), EndpointRef::Demo) => true,
            (Source::Http(h), EndpointRef::Http { api_base, id }) => {
                h.api_base == *api_base && h.id == *id
            }
            _ => false,
        }
    }

    /// The records of `[from, to)` and the cursor to follow changes from.
    pub async fn snapshot(&self, from: i64, to: i64, now: i64) -> Result<Snapshot, FetchError> {
        match self {
            Source::Demo(demo) => {
                api::interpret_snapshot(&demo.ask_demo(DemoAsk::Snapshot { from, to }, now).await)
            }
            Source::Http(h) => {
                let url = h.url(&format!(
                    "metrics/snapshot?from={from}&to={to}&format=columns"
                ));
                let a = api::fetch(
                    &url,
                    h.key.as_deref(),
                    endpoint_core::feed::CONTENT_TYPE,
                    SNAPSHOT_TIMEOUT_MS,
                )
                .await?;
                crate::view::time::mark("em-snapshot-fetched");
                api::interpret_snapshot(&a)
            }
        }
    }

    /// Changes after `cursor` (at most [`CHANGES_LIMIT`]).
    pub async fn changes(&self, cursor: u64, now: i64) -> Result<Changes, FetchError> {
        match self {
            Source::Demo(demo) => {
                api::interpret_changes(&demo.ask_demo(DemoAsk::Changes { cursor }, now).await)
            }
            Source::Http(h) => {
                let url = h.url(&format!(
                    "metrics/changes?cursor={cursor}&limit={CHANGES_LIMIT}"
                ));
                let a =
                    api::fetch(&url, h.key.as_deref(), "application/json", api::TIMEOUT_MS).await?;
                api::interpret_changes(&a)
            }
        }
    }
}

/// What happened to a job the panel asked to cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// It is CANCELLED now.
    Yes,
    /// It had already finished in this state (it could not be cancelled).
    AlreadyFinished(JobStatus),
}

impl Source {
    /// `/cancel/{id}`: a job that finished meanwhile answers with its final state.
    pub async fn cancel(&self, id: &str) -> Result<Cancelled, FetchError> {
        let status = match self {
            Source::Demo(demo) => {
                let ask = DemoAsk::Cancel { job: id.into() };
                api::interpret_id_status(&demo.ask_demo(ask, now()).await)?
            }
            Source::Http(h) => api::interpret_id_status(&h.post_job("cancel", id).await?)?,
        };
        Ok(match status {
            JobStatus::Cancelled => Cancelled::Yes,
            s => Cancelled::AlreadyFinished(s),
        })
    }

    /// `/retry/{id}` (FAILED or TIMED_OUT jobs): the job's state after it.
    pub async fn retry(&self, id: &str) -> Result<JobStatus, FetchError> {
        match self {
            Source::Demo(demo) => {
                let ask = DemoAsk::Retry { job: id.into() };
                api::interpret_id_status(&demo.ask_demo(ask, now()).await)
            }
            Source::Http(h) => api::interpret_id_status(&h.post_job("retry", id).await?),
        }
    }

    /// `/purge-queue`: how many queued jobs were removed.
    pub async fn purge_queue(&self) -> Result<u64, FetchError> {
        match self {
            Source::Demo(demo) => {
                api::interpret_purge(&demo.ask_demo(DemoAsk::PurgeQueue, now()).await)
            }
            Source::Http(h) => {
                let a = api::post(&h.url("purge-queue"), h.key.as_deref(), api::TIMEOUT_MS).await?;
                api::interpret_purge(&a)
            }
        }
    }

    /// What the key may do here (`/access`); the Demo's user may do everything.
    pub async fn access(&self) -> Result<api::KeyRole, FetchError> {
        match self {
            Source::Demo(_) => Ok(api::KeyRole::Operate),
            Source::Http(h) => {
                let a = api::fetch(
                    &h.url("access"),
                    h.key.as_deref(),
                    "application/json",
                    api::TIMEOUT_MS,
                )
                .await?;
                api::interpret_access(&a)
            }
        }
    }

    /// `/status/{id}`, pretty-printed (the detail view's raw JSON).
    pub async fn status_json(&self, id: &str) -> Result<String, FetchError> {
        match self {
            Source::Demo(demo) => {
                let ask = DemoAsk::Status { job: id.into() };
                api::interpret_status(&demo.ask_demo(ask, now()).await)
            }
            Source::Http(h) => {
                let a = api::fetch(
                    &h.job_url("status", id),
                    h.key.as_deref(),
                    "application/json",
                    api::TIMEOUT_MS,
                )
                .await?;
                api::interpret_status(&a)
            }
        }
    }
}

impl Source {
    /// The endpoint's workers and their facts. The server lists its worker
    /// processes (none for simulated workers, which the panel then derives from the
    /// feed); the Demo, which has no processes, derives them from its records.
    pub async fn workers(&self) -> Result<WorkerList, FetchError> {
        match self {
            Source::Demo(demo) => Ok(WorkerList {
                origin: Origin::Demo,
                workers: facts::interpret_workers(&demo.ask_demo(DemoAsk::Workers, now()).await)?,
            }),
            Source::Http(h) => {
                let a = api::fetch(
                    &h.url("workers"),
                    h.key.as_deref(),
                    "application/json",
                    api::TIMEOUT_MS,
                )
                .await?;
                let workers = facts::interpret_workers(&a)?;
                let origin = if workers.is_empty() {
                    Origin::SimulatedByServer
                } else {
                    Origin::Processes
                };
                Ok(WorkerList { origin, workers })
            }
        }
    }

    /// Log lines (`/logs`): a worker's or a job's, the newest, or after a cursor
    /// (following). The Demo makes them up from its records, numbered the same way.
    pub async fn logs(&self, filter: &LogFilter) -> Result<LogPage, FetchError> {
        match self {
            Source::Demo(demo) => {
                let ask = DemoAsk::Logs {
                    filter: filter.clone(),
                };
                facts::interpret_logs(&demo.ask_demo(ask, now()).await)
            }
            Source::Http(h) => {
                let a = api::fetch(
                    &h.url(&format!("logs?{}", filter.query())),
                    h.key.as_deref(),
                    "application/json",
                    api::TIMEOUT_MS,
                )
                .await?;
                facts::interpret_logs(&a)
            }
        }
    }
}

/// The page's time, ms since the epoch.
fn now() -> i64 {
    crate::view::time::now_ms() as i64
}
