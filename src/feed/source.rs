//! Where the panel's data comes from: one interface, two implementations.
//!
//! - [`Source::Http`]: an endpoint server's metrics feed (snapshot in EMC1 columns,
//!   then JSON pages of changes), with the user's API key if one is set.
//! - [`Source::Demo`]: the Demo endpoint, run by endpoint-sim in this browser. It
//!   answers the same two questions from the same feed code the server uses, so
//!   everything downstream is identical.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use endpoint_core::feed::{Changes, Snapshot};
use endpoint_core::{JobRecord, JobStatus};
use endpoint_sim::demo::{Demo, DemoConfig};
use endpoint_sim::model::JobError;

use crate::feed::api::{self, FetchError};
use crate::view::state::EndpointRef;
use crate::workers::facts::{self, FactsFollow, LogFilter, LogPage, Origin, WorkerList};

/// Most changes asked for in one page (the server's maximum).
pub const CHANGES_LIMIT: usize = 10_000;

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
    Demo(Rc<RefCell<Demo>>),
}

thread_local! {
    static DEMO: RefCell<Option<Rc<RefCell<Demo>>>> = const { RefCell::new(None) };
    /// The Demo's worker facts, followed through its change feed (a pass over its
    /// whole history takes tens of ms; a page of changes, next to nothing).
    static DEMO_FACTS: RefCell<Option<(Weak<RefCell<Demo>>, FactsFollow)>> =
        const { RefCell::new(None) };
}

/// The Demo's worker facts, derived from its records: built from its history once,
/// then kept up to date from its changes.
fn demo_facts(demo: &Rc<RefCell<Demo>>) -> Vec<facts::WorkerFacts> {
    let d = demo.borrow();
    DEMO_FACTS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let current = cache
            .as_mut()
            .filter(|(of, _)| of.upgrade().is_some_and(|o| Rc::ptr_eq(&o, demo)))
            .map(|(_, f)| f);
        let followed = current.and_then(|f| {
            loop {
                let ch = d.changes_since(f.cursor(), CHANGES_LIMIT).ok()?;
                let more = ch.len() >= CHANGES_LIMIT;
                f.apply(&ch);
                if !more {
                    f.forget_before(d.retained_from());
                    return Some(f.list());
                }
            }
        });
        followed.unwrap_or_else(|| {
            let now = d.now();
            let f = FactsFollow::from_snapshot(&d.snapshot(now - DEMO_FACTS_MS, now + 1));
            let list = f.list();
            *cache = Some((Rc::downgrade(demo), f));
            list
        })
    })
}

/// How far back the Demo's made-up worker facts look (its whole history).
const DEMO_FACTS_MS: i64 = 25 * 3_600_000;

/// Where the Demo's made-up lines are looked for when the filter gives no time.
const DEMO_LOGS_MS: i64 = 3_600_000;

/// Seed of the Demo endpoint: everybody sees the same demo.
const DEMO_SEED: u64 = 20_261_124;

impl Source {
    /// The source for `endpoint`; the Demo endpoint is created once per page (it
    /// plays a day of history first, which takes a moment).
    pub fn for_endpoint(endpoint: &EndpointRef, key: Option<String>, now: i64) -> Source {
        match endpoint {
            EndpointRef::Demo => Source::Demo(DEMO.with(|d| {
                d.borrow_mut()
                    .get_or_insert_with(|| {
                        Rc::new(RefCell::new(Demo::new(
                            DEMO_SEED,
                            now,
                            DemoConfig::default(),
                        )))
                    })
                    .clone()
            })),
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
                crate::view::time::mark("em-body");
                let mut d = demo.borrow_mut();
                d.advance(now);
                Ok(d.snapshot(from, to))
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
                api::interpret_snapshot(&a)
            }
        }
    }

    /// Changes after `cursor` (at most [`CHANGES_LIMIT`]).
    pub async fn changes(&self, cursor: u64, now: i64) -> Result<Changes, FetchError> {
        match self {
            Source::Demo(demo) => {
                crate::view::time::mark("em-body");
                let mut d = demo.borrow_mut();
                d.advance(now);
                d.changes_since(cursor, CHANGES_LIMIT)
                    .map_err(|e| FetchError::Http {
                        status: 410,
                        message: format!("cursor {cursor} is older than {}", e.oldest),
                        retry_after_s: None,
                    })
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
            Source::Demo(demo) => match demo.borrow_mut().cancel(id) {
                Ok(r) => r.status,
                // Finished meanwhile: its real final state, as the server answers.
                Err(JobError::WrongState(s)) => s,
                Err(e) => demo_error(id, e)?,
            },
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
            Source::Demo(demo) => match demo.borrow_mut().retry(id) {
                Ok(_) => Ok(JobStatus::InQueue),
                Err(e) => demo_error(id, e),
            },
            Source::Http(h) => api::interpret_id_status(&h.post_job("retry", id).await?),
        }
    }

    /// `/purge-queue`: how many queued jobs were removed.
    pub async fn purge_queue(&self) -> Result<u64, FetchError> {
        match self {
            Source::Demo(demo) => Ok(demo.borrow_mut().purge_queue() as u64),
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
                let d = demo.borrow();
                let r = d.job(id).ok_or_else(|| not_found(id))?;
                Ok(serde_json::to_string_pretty(&demo_status(r)).unwrap_or_default())
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
                workers: demo_facts(demo),
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
                let d = demo.borrow();
                let now = d.now();
                // Only the records the lines can come from: after the cursor, or
                // since the time asked, or the last hour.
                let from = filter
                    .cursor
                    .map(facts::simulated_cursor_time)
                    .into_iter()
                    .chain(filter.since)
                    .max()
                    .unwrap_or(now - DEMO_LOGS_MS)
                    .min(now);
                // A job's lines come from its record alone, which a snapshot of the
                // instant it was submitted (`since`) holds.
                let to = match (&filter.job, filter.since) {
                    (Some(_), Some(s)) if filter.cursor.is_none() => s + 1,
                    _ => now + 1,
                };
                let snap = d.snapshot(from, to.max(from + 1));
                Ok(facts::simulated_lines(
                    &snap.jobs,
                    &snap.events,
                    filter,
                    now,
                ))
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

fn not_found(id: &str) -> FetchError {
    FetchError::Http {
        status: 404,
        message: format!("no job `{id}`"),
        retry_after_s: None,
    }
}

/// The Demo's refusals, as the server would answer them.
fn demo_error<T>(id: &str, e: JobError) -> Result<T, FetchError> {
    match e {
        JobError::WrongState(s) => Err(FetchError::Http {
            status: 409,
            message: format!("job `{id}` is {s}"),
            retry_after_s: None,
        }),
        _ => Err(not_found(id)),
    }
}

/// RunPod's `/status` body for a Demo job (the Demo keeps no outputs).
fn demo_status(r: &JobRecord) -> serde_json::Value {
    let mut v = serde_json::json!({"id": r.id, "status": r.status, "retries": r.retries});
    if let Some(d) = r.delay_time {
        v["delayTime"] = serde_json::json!(d as u64);
    }
    if let Some(x) = r.execution_time {
        v["executionTime"] = serde_json::json!(x as u64);
    }
    if let Some(e) = &r.error {
        v["error"] = serde_json::json!(e);
    }
    if let Some(w) = &r.worker_id {
        v["workerId"] = serde_json::json!(w);
    }
    v
}
