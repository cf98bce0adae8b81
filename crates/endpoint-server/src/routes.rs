//! RunPod's queue API under `/v2/{endpoint_id}/`, and the metrics feed.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use endpoint_core::{Health, JobStatus};
use endpoint_sim::model::JobError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Duration;

use crate::endpoint::{JobView, Policy};
use crate::extract::{INT64_MAX, Path, Query, bounded};
use crate::ratelimit::Route;
use crate::{AppError, AppState};

impl AppState {
    /// The endpoint `id`, after taking one request of `route` from its rate limit.
    fn limited(&self, id: &str, route: Route) -> Result<std::sync::Arc<crate::Endpoint>, AppError> {
        let e = self.endpoint(id)?;
        self.limiter
            .check(id, route)
            .map_err(AppError::RateLimited)?;
        Ok(e)
    }
}

/// RunPod's payload limit for `/run`, MB.
pub const RUN_LIMIT_MB: usize = 10;
/// RunPod's payload limit for `/runsync`, MB.
pub const RUNSYNC_LIMIT_MB: usize = 20;
/// How long `/runsync` waits for the result before answering with the current state
/// (RunPod's 90 s; `--runsync-wait` changes it).
pub const RUNSYNC_WAIT: Duration = Duration::from_secs(90);

/// The routes a `read` key opens (state is attached by [`crate::app`]).
pub fn read_api() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/{endpoint_id}/status/{job_id}",
            get(job_status).post(job_status),
        )
        .route("/v2/{endpoint_id}/health", get(health))
        .route("/v2/{endpoint_id}/metrics/changes", get(changes))
        .route("/v2/{endpoint_id}/metrics/snapshot", get(snapshot))
        .route("/v2/{endpoint_id}/workers", get(workers))
        .route("/v2/{endpoint_id}/logs", get(logs))
        .route("/v2/{endpoint_id}/access", get(access))
}

/// The routes that need the `operate` role: they change jobs or workers (`/stream`
/// too: it hands each chunk out once).
pub fn operate_api() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/{endpoint_id}/run",
            post(run_job).layer(DefaultBodyLimit::max(RUN_LIMIT_MB * 1024 * 1024)),
        )
        .route(
            "/v2/{endpoint_id}/runsync",
            post(run_sync).layer(DefaultBodyLimit::max(RUNSYNC_LIMIT_MB * 1024 * 1024)),
        )
        .route(
            "/v2/{endpoint_id}/stream/{job_id}",
            get(job_stream).post(job_stream),
        )
        .route(
            "/v2/{endpoint_id}/cancel/{job_id}",
            post(cancel_job).get(cancel_job),
        )
        .route("/v2/{endpoint_id}/retry/{job_id}", post(retry_job))
        .route("/v2/{endpoint_id}/purge-queue", post(purge_queue))
        .route("/v2/{endpoint_id}/release", post(release))
}

/// Not RunPod's: what the caller's key may do on this endpoint, so a panel shows only
/// the actions it can take: `{"key": name or null, "role": "read" | "operate"}`.
async fn access(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    axum::Extension(access): axum::Extension<crate::auth::Access>,
) -> Result<Json<crate::auth::Access>, AppError> {
    // In a cluster every instance answers for every endpoint it knows, led here or not.
    if !state
        .cluster
        .as_ref()
        .is_some_and(|c| c.knows(&endpoint_id))
    {
        state.endpoint(&endpoint_id)?;
    }
    Ok(Json(access))
}

/// Not RunPod's: the workers of the endpoint (live, then recently ended) with their
/// facts. Empty for simulated endpoints.
async fn workers(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let e = state.endpoint(&endpoint_id)?;
    Ok(Json(serde_json::json!({ "workers": e.worker_facts() })))
}

/// `?worker=&job=&since=&cursor=&limit=` of the worker logs.
#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    /// Only this worker's lines.
    pub worker: Option<String>,
    /// Only this job's lines.
    pub job: Option<String>,
    /// Only lines at or after this time, ms since the epoch.
    pub since: Option<i64>,
    /// Only lines after this cursor (the `cursor` of an earlier answer): follow.
    pub cursor: Option<u64>,
    /// Most lines (default 500, at most 5000).
    pub limit: Option<usize>,
}

/// Answer of `/logs`.
#[derive(Debug, Serialize)]
pub struct LogsResponse {
    /// The lines, oldest first.
    pub lines: Vec<crate::workers::logs::LogLine>,
    /// Ask with `cursor=` this to get only newer lines.
    pub cursor: u64,
}

async fn logs(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Json<LogsResponse>, AppError> {
    let e = state.endpoint(&endpoint_id)?;
    let filter = crate::workers::logs::LogFilter {
        worker: q.worker,
        job: q.job,
        after: bounded("cursor", q.cursor, 0, INT64_MAX)?,
        since: q.since,
        limit: bounded("limit", q.limit, 1, 5000)?.unwrap_or(500),
    };
    let (lines, cursor) = e.logs().list(&filter);
    Ok(Json(LogsResponse { lines, cursor }))
}

/// The body of `/run` and `/runsync`, as RunPod defines it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Handed to the worker verbatim; must be a JSON object.
    pub input: Value,
    /// URL POSTed with the result on completion.
    #[serde(default)]
    pub webhook: Option<String>,
    /// Timeouts and priority.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// The policy as given, stored with the job.
    #[serde(skip)]
    pub policy_json: Option<Value>,
}

/// `{"id", "status"}`: the answer of `/run`, `/cancel`, `/retry`.
#[derive(Debug, Serialize, Deserialize)]
pub struct IdStatus {
    /// The job id.
    pub id: String,
    /// Its state after the operation.
    pub status: JobStatus,
}

/// Answer of `/status/{job_id}`, in RunPod's shape (times in ms).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    /// The job id.
    pub id: String,
    /// Current state.
    pub status: JobStatus,
    /// Time in queue, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_time: Option<u64>,
    /// Time running, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_time: Option<u64>,
    /// The worker's output, once COMPLETED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The worker's error, once FAILED (or why it ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The worker that picked it up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// Times re-queued through `/retry`.
    pub retries: u8,
}

impl From<JobView> for StatusResponse {
    fn from(v: JobView) -> Self {
        let r = v.record;
        StatusResponse {
            id: r.id,
            status: r.status,
            delay_time: r.delay_time.map(|d| d as u64),
            execution_time: r.execution_time.map(|d| d as u64),
            output: v.output,
            error: r.error,
            worker_id: r.worker_id,
            retries: r.retries,
        }
    }
}

fn parse_run(
    body: Result<Json<RunRequest>, JsonRejection>,
    limit_mb: usize,
) -> Result<RunRequest, AppError> {
    let Json(req) = body.map_err(|r| AppError::from_json_rejection(r, limit_mb))?;
    if !req.input.is_object() {
        return Err(AppError::BadRequest(
            "field `input` must be a JSON object".into(),
        ));
    }
    if let Some(w) = &req.webhook
        && !(w.starts_with("http://") || w.starts_with("https://"))
    {
        return Err(AppError::BadRequest(
            "field `webhook` must be an http(s) URL".into(),
        ));
    }
    Ok(req)
}

/// The two input fields that steer a simulated worker; a real worker's input is its
/// handler's business.
fn check_simulated_input(input: &Value) -> Result<(), AppError> {
    if let Some(v) = input.get("sleepMs")
        && crate::endpoint::whole_number(v).is_none()
    {
        return Err(AppError::BadRequest(
            "field `input.sleepMs` must be a whole number of milliseconds".into(),
        ));
    }
    if let Some(v) = input.get("fail")
        && !v.is_boolean()
    {
        return Err(AppError::BadRequest(
            "field `input.fail` must be true or false".into(),
        ));
    }
    Ok(())
}

/// The webhook URL's form only: what its host resolves to is checked at each delivery
/// attempt, so a DNS outage does not stop job intake.
fn check_webhook(endpoint: &crate::Endpoint, req: &RunRequest) -> Result<(), AppError> {
    if let Some(url) = &req.webhook {
        crate::webhook::check_form(url, endpoint.allows_private_webhooks())
            .map_err(|e| AppError::BadRequest(format!("field `webhook`: {e}")))?;
    }
    Ok(())
}

/// The common part of `/run` and `/runsync`: checks, then the job stored and queued.
async fn accept(
    endpoint: &crate::Endpoint,
    body: Result<Json<RunRequest>, JsonRejection>,
    limit_mb: usize,
    sync: bool,
) -> Result<endpoint_core::JobRecord, AppError> {
    let req = parse_run(body, limit_mb)?;
    if endpoint.simulated() {
        check_simulated_input(&req.input)?;
    }
    check_webhook(endpoint, &req)?;
    let spec = endpoint.spec_for(&req.input, req.policy.as_ref(), req.webhook.is_some());
    endpoint
        .submit(req.input, req.webhook, req.policy_json, spec, sync)
        .await
        .map_err(AppError::Unavailable)
}

async fn run_job(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    body: Result<Json<RunRequest>, JsonRejection>,
) -> Result<Json<IdStatus>, AppError> {
    let endpoint = state.limited(&endpoint_id, Route::Run)?;
    let r = accept(&endpoint, body, RUN_LIMIT_MB, false).await?;
    // RunPod answers IN_QUEUE even when a warm worker picks the job up at once.
    Ok(Json(IdStatus {
        id: r.id,
        status: JobStatus::InQueue,
    }))
}

/// `?wait=ms` for `/runsync`; capped at the server's `--runsync-wait` (90 s).
#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    /// How long to wait for the result, ms.
    pub wait: Option<u64>,
}

async fn run_sync(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    Query(q): Query<WaitQuery>,
    body: Result<Json<RunRequest>, JsonRejection>,
) -> Result<Json<StatusResponse>, AppError> {
    let endpoint = state.limited(&endpoint_id, Route::Run)?;
    let wait = bounded("wait", q.wait, 0, INT64_MAX)?.map_or(state.runsync_wait, |ms| {
        Duration::from_millis(ms).min(state.runsync_wait)
    });
    let r = accept(&endpoint, body, RUNSYNC_LIMIT_MB, true).await?;
    let view = endpoint
        .wait(&r.id, wait)
        .await
        .ok_or_else(|| AppError::UnknownJob(r.id.clone()))?;
    Ok(Json(view.into()))
}

async fn job_status(
    State(state): State<AppState>,
    Path((endpoint_id, job_id)): Path<(String, String)>,
) -> Result<Json<StatusResponse>, AppError> {
    let endpoint = state.limited(&endpoint_id, Route::Status)?;
    let view = endpoint.job(&job_id).ok_or(AppError::UnknownJob(job_id))?;
    Ok(Json(view.into()))
}

/// RunPod's stream answer: the status and the output chunks not delivered yet (our
/// simulated workers produce one chunk: the output, once completed). Chunks are
/// handed out once: RunPod's client polls until the job is final and a poll brings
/// no chunk, so repeating them would make it loop forever.
#[derive(Debug, Serialize, Deserialize)]
pub struct StreamResponse {
    /// Current state.
    pub status: JobStatus,
    /// Output chunks, `[{"output": ...}]`; always present, possibly empty.
    pub stream: Vec<Value>,
}

async fn job_stream(
    State(state): State<AppState>,
    Path((endpoint_id, job_id)): Path<(String, String)>,
) -> Result<Json<StreamResponse>, AppError> {
    let endpoint = state.limited(&endpoint_id, Route::Status)?;
    let (status, chunks) = endpoint
        .take_stream(&job_id)
        .ok_or_else(|| AppError::UnknownJob(job_id.clone()))?;
    if status == JobStatus::Cancelled {
        // RunPod's client does not treat CANCELLED as final on /stream and would poll
        // forever; an error status ends its loop with a clear message instead.
        return Err(AppError::Gone(format!(
            "job `{job_id}` was cancelled: its stream has ended"
        )));
    }
    let stream = chunks
        .into_iter()
        .map(|o| serde_json::json!({ "output": o }))
        .collect();
    Ok(Json(StreamResponse { status, stream }))
}

async fn cancel_job(
    State(state): State<AppState>,
    Path((endpoint_id, job_id)): Path<(String, String)>,
) -> Result<Json<IdStatus>, AppError> {
    let endpoint = state.limited(&endpoint_id, Route::Cancel)?;
    match endpoint.cancel(&job_id) {
        Ok(r) => Ok(Json(IdStatus {
            id: r.id,
            status: r.status,
        })),
        Err(JobError::NotFound) => Err(AppError::UnknownJob(job_id)),
        // Finished meanwhile: answer with its real final state so the caller can say so.
        Err(JobError::WrongState(status)) => Ok(Json(IdStatus { id: job_id, status })),
        Err(JobError::Duplicate) => unreachable!("cancel never creates a job"),
    }
}

async fn retry_job(
    State(state): State<AppState>,
    Path((endpoint_id, job_id)): Path<(String, String)>,
) -> Result<Json<IdStatus>, AppError> {
    let endpoint = state.limited(&endpoint_id, Route::Cancel)?;
    match endpoint.retry(&job_id) {
        // Re-queued; as for /run, the answer is IN_QUEUE even if a worker took it at once.
        Ok(r) => Ok(Json(IdStatus {
            id: r.id,
            status: JobStatus::InQueue,
        })),
        Err(JobError::NotFound) => Err(AppError::UnknownJob(job_id)),
        Err(JobError::WrongState(status)) => Err(AppError::Conflict(format!(
            "job `{job_id}` is {status}: only FAILED or TIMED_OUT jobs can be retried"
        ))),
        Err(JobError::Duplicate) => unreachable!("retry never creates a job"),
    }
}

/// Answer of `/purge-queue`, as RunPod documents it.
#[derive(Debug, Serialize, Deserialize)]
pub struct PurgeResponse {
    /// Jobs removed from the queue.
    pub removed: usize,
    /// Always `completed`.
    pub status: String,
}

async fn purge_queue(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
) -> Result<Json<PurgeResponse>, AppError> {
    let removed = state
        .limited(&endpoint_id, Route::PurgeQueue)?
        .purge_queue();
    Ok(Json(PurgeResponse {
        removed,
        status: "completed".into(),
    }))
}

/// Not RunPod's: starts a rolling release of the simulated workers (they turn
/// OUTDATED and are replaced), as deploying a new image would.
async fn release(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
) -> Result<Json<Health>, AppError> {
    let e = state.limited(&endpoint_id, Route::PurgeQueue)?;
    e.release();
    Ok(Json(e.health()))
}

async fn health(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
) -> Result<Json<Health>, AppError> {
    Ok(Json(state.endpoint(&endpoint_id)?.health()))
}

/// `?cursor=N&limit=M` of the change feed.
#[derive(Debug, Deserialize)]
pub struct ChangesQuery {
    /// Changes after this one (0: from the start).
    #[serde(default)]
    pub cursor: u64,
    /// Most changes in one answer (default and maximum 10000).
    pub limit: Option<usize>,
}

/// Where an endpoint's metrics feed is read: the endpoint itself, or, in a cluster,
/// the mirror of the database's change sequence (the same on every instance).
enum Feed {
    Here(std::sync::Arc<crate::Endpoint>),
    Mirror(std::sync::Arc<crate::cluster::mirror::Mirror>),
}

impl Feed {
    fn of(state: &AppState, id: &str) -> Result<Feed, AppError> {
        match &state.cluster {
            Some(c) => c
                .mirror(id)
                .cloned()
                .map(Feed::Mirror)
                .ok_or_else(|| AppError::UnknownEndpoint(id.to_string())),
            None => state.endpoint(id).map(Feed::Here),
        }
    }

    fn now_ms(&self) -> i64 {
        match self {
            Feed::Here(e) => e.clock().now_ms(),
            Feed::Mirror(_) => crate::Clock::system().now_ms(),
        }
    }

    fn snapshot<T>(
        &self,
        from: i64,
        to: i64,
        encode: impl FnOnce(&endpoint_core::JobStore, &[u32], u64, endpoint_core::feed::Events) -> T,
    ) -> T {
        match self {
            Feed::Here(e) => e.snapshot(from, to, encode),
            Feed::Mirror(m) => m.snapshot(from, to, encode),
        }
    }
}

async fn changes(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    Query(q): Query<ChangesQuery>,
) -> Result<Json<endpoint_core::feed::Changes>, AppError> {
    bounded("cursor", Some(q.cursor), 0, INT64_MAX)?;
    let limit = bounded("limit", q.limit, 1, 10_000)?.unwrap_or(10_000);
    let out = match Feed::of(&state, &endpoint_id)? {
        Feed::Here(e) => e.changes_since(q.cursor, limit),
        Feed::Mirror(m) => m.changes_since(q.cursor, limit).await,
    }
    .map_err(|e| {
        AppError::Gone(format!(
            "cursor {} is older than the retained changes (oldest {}): take a new snapshot",
            q.cursor, e.oldest
        ))
    })?;
    Ok(Json(out))
}

/// `?from=&to=&format=` of a snapshot.
#[derive(Debug, Deserialize)]
pub struct SnapshotQuery {
    /// Window start, ms since the epoch (default: 24 h before `to`).
    pub from: Option<i64>,
    /// Window end, ms since the epoch (default: now).
    pub to: Option<i64>,
    /// `columns` (default, EMC2 binary) or `json`.
    pub format: Option<String>,
}

/// The JSON form of a snapshot (for people and tools; the panel uses EMC2).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotJson {
    /// Ask the change feed from here.
    pub cursor: u64,
    /// The window.
    pub window: WindowJson,
    /// Jobs whose life overlaps the window.
    pub jobs: Vec<endpoint_core::JobRecord>,
    /// Each worker's state at the start and the transitions inside.
    pub transitions: Vec<endpoint_core::WorkerTransition>,
    /// Cold starts ready inside the window.
    pub cold_starts: Vec<endpoint_core::ColdStart>,
    /// Webhook attempts inside the window.
    pub deliveries: Vec<endpoint_core::WebhookDelivery>,
}

/// `{from, to}` in ms.
#[derive(Debug, Serialize, Deserialize)]
pub struct WindowJson {
    /// Start.
    pub from: i64,
    /// End (exclusive).
    pub to: i64,
}

/// Longest window a snapshot covers: the metrics retention, 7 days.
pub const MAX_WINDOW_MS: i64 = 7 * 86_400_000;

async fn snapshot(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    Query(q): Query<SnapshotQuery>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let endpoint = Feed::of(&state, &endpoint_id)?;
    let to = bounded("to", q.to, 0, i64::MAX)?.unwrap_or_else(|| endpoint.now_ms());
    let from = bounded("from", q.from, 0, i64::MAX)?.unwrap_or(to.saturating_sub(86_400_000));
    if from >= to {
        return Err(AppError::BadRequest(format!(
            "`from` ({from}) must be before `to` ({to})"
        )));
    }
    if to - from > MAX_WINDOW_MS {
        return Err(AppError::BadRequest(
            "the window is longer than the 7-day retention: narrow `from`/`to`".into(),
        ));
    }
    match q.format.as_deref().unwrap_or("columns") {
        "columns" => {
            let bytes = endpoint.snapshot(from, to, |store, rows, cursor, events| {
                endpoint_core::feed::encode(store, rows, cursor, from, to, &events)
            });
            Ok((
                [(
                    axum::http::header::CONTENT_TYPE,
                    endpoint_core::feed::CONTENT_TYPE,
                )],
                bytes,
            )
                .into_response())
        }
        "json" => {
            let body = endpoint.snapshot(from, to, |store, rows, cursor, events| SnapshotJson {
                cursor,
                window: WindowJson { from, to },
                jobs: rows.iter().map(|&r| store.record(r)).collect(),
                transitions: events.transitions,
                cold_starts: events.cold_starts,
                deliveries: events.deliveries,
            });
            Ok(Json(body).into_response())
        }
        other => Err(AppError::BadRequest(format!(
            "field `format`: `{other}` is not `columns` or `json`"
        ))),
    }
}
