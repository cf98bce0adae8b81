//! The worker-facing half of RunPod's protocol, as the `runpod` SDK (1.12) speaks
//! it (see RUNPOD_WORKER_PROTOCOL.md): every route names the calling worker in its
//! path, and only that worker's own secret (sent verbatim, or as `Bearer`) opens it.
//! Client API keys never do.
//!
//! job-take and job-stop are long-polled: held until there is something, or for
//! `hold_ms`, then 204, so an idle worker never spins. Result posts are parsed as
//! JSON whatever their Content-Type (the SDK labels them form-urlencoded) and always
//! answered 2xx quickly once read, a late one included (it is discarded and noted).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::supervisor::WorkerRefusal;
use crate::extract::{Body, Path, Query};
use crate::{AppError, AppState, Endpoint};

/// Largest result a worker may post, MB (RunPod's runsync payload limit).
pub const RESULT_LIMIT_MB: usize = 20;

/// The worker routes (state is attached by [`crate::app`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/{endpoint_id}/job-take/{worker}", get(job_take))
        .route(
            "/v2/{endpoint_id}/job-take-batch/{worker}",
            get(job_take_batch),
        )
        .route("/v2/{endpoint_id}/job-stop/{worker}", get(job_stop))
        .route(
            "/v2/{endpoint_id}/job-done/{worker}/{job_id}",
            post(job_done).layer(DefaultBodyLimit::max(RESULT_LIMIT_MB * 1024 * 1024)),
        )
        .route(
            "/v2/{endpoint_id}/job-stream/{worker}/{job_id}",
            post(job_stream).layer(DefaultBodyLimit::max(RESULT_LIMIT_MB * 1024 * 1024)),
        )
        .route("/v2/{endpoint_id}/ping/{worker}", get(ping))
}

/// The endpoint, after checking that `worker` of it presented its secret.
fn authorized(
    state: &AppState,
    endpoint_id: &str,
    worker: &str,
    headers: &HeaderMap,
) -> Result<Arc<Endpoint>, AppError> {
    let auth = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if auth.is_none() {
        // No credentials: nothing is said about what exists.
        return Err(AppError::Unauthorized(
            "worker routes need the worker's own secret in `Authorization`",
        ));
    }
    let ep = state.endpoint(endpoint_id)?;
    match ep.check_worker(worker, auth) {
        Ok(()) => Ok(ep),
        Err(WorkerRefusal::NotProcess) => Err(AppError::NotFound(format!(
            "endpoint `{endpoint_id}` runs simulated workers: it has no worker routes"
        ))),
        Err(WorkerRefusal::Unknown) => Err(AppError::NotFound(format!(
            "no live worker `{worker}` on endpoint `{endpoint_id}`"
        ))),
        Err(WorkerRefusal::BadSecret) => {
            match crate::auth::presented(headers).and_then(|k| state.keys.find(k)) {
                Some(key) => Err(AppError::Forbidden(format!(
                    "the key `{}` is an API key with the `{}` role; worker routes need the `worker` role: the worker's own secret",
                    key.name,
                    key.role.as_str()
                ))),
                None => Err(AppError::Unauthorized(
                    "worker secret not accepted (the worker routes take only the worker's own secret)",
                )),
            }
        }
    }
}

/// `0` or `1`: what the SDK sends as `job_in_progress`.
#[derive(Debug, Deserialize)]
pub enum Bit {
    /// `0`.
    #[serde(rename = "0")]
    Zero,
    /// `1`.
    #[serde(rename = "1")]
    One,
}

/// The query the SDK adds to job-take.
#[derive(Debug, Deserialize)]
pub struct TakeQuery {
    /// Jobs wanted (job-take-batch), 1 to 1024.
    pub batch_size: Option<usize>,
    /// Whether the worker is busy with a job (informative; checked, not used).
    pub job_in_progress: Option<Bit>,
}

async fn job_take(
    State(state): State<AppState>,
    Path((endpoint_id, worker)): Path<(String, String)>,
    Query(_): Query<TakeQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ep = authorized(&state, &endpoint_id, &worker, &headers)?;
    Ok(take(ep, worker, 1, false).await)
}

async fn job_take_batch(
    State(state): State<AppState>,
    Path((endpoint_id, worker)): Path<(String, String)>,
    Query(q): Query<TakeQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ep = authorized(&state, &endpoint_id, &worker, &headers)?;
    let n = crate::extract::bounded("batch_size", q.batch_size, 1, 1024)?.unwrap_or(1);
    Ok(take(ep, worker, n, true).await)
}

/// Holds the request until jobs are queued (or the hold ends, or the worker is
/// being stopped: then 204 at once, so no job goes to a worker that is leaving).
async fn take(ep: Arc<Endpoint>, worker: String, n: usize, batch: bool) -> Response {
    let arrived = ep.clock().now_ms();
    let hold = std::time::Duration::from_millis(ep.hold_ms());
    let deadline = tokio::time::Instant::now() + hold;
    let Some(wake) = ep.worker_wake(&worker) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    loop {
        let ready = ep.jobs_ready().notified();
        let woken = wake.notified();
        tokio::pin!(ready, woken);
        ready.as_mut().enable();
        woken.as_mut().enable();
        match ep.take_for(&worker, n, arrived) {
            Err(()) => return StatusCode::NO_CONTENT.into_response(),
            Ok(jobs) if !jobs.is_empty() => {
                let items: Vec<Value> = jobs
                    .into_iter()
                    .map(|(id, input)| serde_json::json!({ "id": id, "input": input }))
                    .collect();
                return if batch {
                    Json(Value::Array(items)).into_response()
                } else {
                    Json(items.into_iter().next().expect("one")).into_response()
                };
            }
            Ok(_) => {}
        }
        tokio::select! {
            () = &mut ready => {}
            () = &mut woken => {}
            () = tokio::time::sleep_until(deadline) => return StatusCode::NO_CONTENT.into_response(),
        }
    }
}

async fn job_stop(
    State(state): State<AppState>,
    Path((endpoint_id, worker)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ep = authorized(&state, &endpoint_id, &worker, &headers)?;
    let arrived = ep.clock().now_ms();
    let hold = std::time::Duration::from_millis(ep.hold_ms());
    let deadline = tokio::time::Instant::now() + hold;
    let Some(wake) = ep.worker_wake(&worker) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    loop {
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match ep.stops_for(&worker, arrived) {
            Err(()) => return Ok(StatusCode::NO_CONTENT.into_response()),
            Ok(ids) if !ids.is_empty() => {
                return Ok(Json(serde_json::json!({ "jobsToStop": ids })).into_response());
            }
            Ok(_) => {}
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep_until(deadline) => return Ok(StatusCode::NO_CONTENT.into_response()),
        }
    }
}

/// `true` or `false`, as the SDK spells them in a query.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub enum TrueFalse {
    /// `true`.
    #[serde(rename = "true")]
    True,
    /// `false`.
    #[serde(rename = "false")]
    False,
}

/// `isStream` on job-done: true marks the end of a generator's stream.
#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    /// `true` | `false`.
    #[serde(rename = "isStream")]
    pub is_stream: Option<TrueFalse>,
}

fn parse_body(body: &Bytes) -> Result<Value, AppError> {
    serde_json::from_slice(body)
        .map_err(|e| AppError::BadRequest(format!("the result body is not JSON: {e}")))
}

/// A truthy `error` (the SDK's rule: a result with one is a failure).
fn error_of(v: &Value) -> Option<String> {
    match v.get("error")? {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

async fn job_done(
    State(state): State<AppState>,
    Path((endpoint_id, worker, job_id)): Path<(String, String, String)>,
    Query(q): Query<DoneQuery>,
    headers: HeaderMap,
    Body(body): Body<RESULT_LIMIT_MB>,
) -> Result<StatusCode, AppError> {
    let ep = authorized(&state, &endpoint_id, &worker, &headers)?;
    let v = parse_body(&body).inspect_err(|e| {
        ep.note(&worker, Some(&job_id), format!("result refused: {e}"));
    })?;
    if !v.is_object() {
        ep.note(
            &worker,
            Some(&job_id),
            "result refused: not a JSON object".into(),
        );
        return Err(AppError::BadRequest(
            "the result body must be a JSON object".into(),
        ));
    }
    let wrong = if v.get("stopPod").is_some_and(|s| !s.is_boolean()) {
        Some("field `stopPod` must be true or false")
    } else if v.get("status").is_some_and(|s| !s.is_string()) {
        Some("field `status` must be a string (`IN_PROGRESS` for a progress update)")
    } else {
        None
    };
    if let Some(e) = wrong {
        ep.note(&worker, Some(&job_id), format!("result refused: {e}"));
        return Err(AppError::BadRequest(e.into()));
    }
    let output = v.get("output").cloned();
    if v.get("status").and_then(Value::as_str) == Some("IN_PROGRESS") {
        ep.worker_partial(&worker, &job_id, output.unwrap_or(Value::Null), false);
        return Ok(StatusCode::OK);
    }
    let stream_end = q.is_stream == Some(TrueFalse::True);
    let stop_pod = v.get("stopPod").and_then(Value::as_bool).unwrap_or(false);
    let outcome = match error_of(&v) {
        Some(e) => Err(e),
        None => Ok(()),
    };
    ep.worker_result(&worker, &job_id, outcome, output, stream_end, stop_pod);
    Ok(StatusCode::OK)
}

async fn job_stream(
    State(state): State<AppState>,
    Path((endpoint_id, worker, job_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    Body(body): Body<RESULT_LIMIT_MB>,
) -> Result<StatusCode, AppError> {
    let ep = authorized(&state, &endpoint_id, &worker, &headers)?;
    let v = parse_body(&body)?;
    let Some(chunk) = v.get("output").cloned() else {
        ep.note(
            &worker,
            Some(&job_id),
            "stream chunk refused: no `output`".into(),
        );
        return Err(AppError::BadRequest(
            "a stream chunk is `{\"output\": ...}`: field `output` is missing".into(),
        ));
    };
    ep.worker_partial(&worker, &job_id, chunk, true);
    Ok(StatusCode::OK)
}

/// A ping's `status`: only ever `unhealthy`.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub enum PingStatus {
    /// A fitness check failed.
    #[serde(rename = "unhealthy")]
    Unhealthy,
}

/// The ping's query: the SDK's job list and version, or a fitness failure.
#[derive(Debug, Deserialize)]
pub struct PingQuery {
    /// `unhealthy` when a fitness check failed (the worker exits right after).
    pub status: Option<PingStatus>,
    /// The failed check.
    pub check: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
    /// The jobs the worker holds, comma-separated (absent: none).
    pub job_id: Option<String>,
}

async fn ping(
    State(state): State<AppState>,
    Path((endpoint_id, worker)): Path<(String, String)>,
    Query(q): Query<PingQuery>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let ep = authorized(&state, &endpoint_id, &worker, &headers)?;
    let unhealthy = (q.status == Some(PingStatus::Unhealthy)).then(|| {
        format!(
            "fitness check {} failed: {}",
            q.check.as_deref().unwrap_or("?"),
            q.reason.as_deref().unwrap_or("no reason given")
        )
    });
    let held: Vec<String> = q
        .job_id
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    ep.ping(&worker, unhealthy, &held);
    Ok(StatusCode::OK)
}
