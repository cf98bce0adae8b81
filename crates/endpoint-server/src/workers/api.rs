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
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::supervisor::WorkerRefusal;
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
    let ep = state.endpoint(endpoint_id)?;
    let auth = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    match ep.check_worker(worker, auth) {
        Ok(()) => Ok(Arc::clone(ep)),
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

/// The query the SDK adds to job-take.
#[derive(Debug, Deserialize)]
pub struct TakeQuery {
    /// Jobs wanted (job-take-batch).
    pub batch_size: Option<usize>,
}

async fn job_take(
    State(state): State<AppState>,
    Path((endpoint_id, worker)): Path<(String, String)>,
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
    let n = q.batch_size.unwrap_or(1).clamp(1, 1024);
    Ok(take(ep, worker, n, true).await)
}

/// Holds the request until jobs are queued (or the hold ends, or the worker is
/// being stopped: then 204 at once, so no job goes to a worker that is leaving).
async fn take(ep: Arc<Endpoint>, worker: String, n: usize, batch: bool) -> Response {
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
        match ep.take_for(&worker, n) {
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
    let hold = std::time::Duration::from_millis(ep.hold_ms());
    let deadline = tokio::time::Instant::now() + hold;
    let Some(wake) = ep.worker_wake(&worker) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    loop {
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match ep.stops_for(&worker) {
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

/// `isStream` on job-done: true marks the end of a generator's stream.
#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    /// `true` | `false`.
    #[serde(rename = "isStream")]
    pub is_stream: Option<String>,
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
    body: Bytes,
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
    let output = v.get("output").cloned();
    if v.get("status").and_then(Value::as_str) == Some("IN_PROGRESS") {
        ep.worker_partial(&worker, &job_id, output.unwrap_or(Value::Null), false);
        return Ok(StatusCode::OK);
    }
    let stream_end = q.is_stream.as_deref() == Some("true");
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
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let ep = authorized(&state, &endpoint_id, &worker, &headers)?;
    let v = parse_body(&body)?;
    let chunk = v.get("output").cloned().unwrap_or(Value::Null);
    ep.worker_partial(&worker, &job_id, chunk, true);
    Ok(StatusCode::OK)
}

/// The ping's query: the SDK's job list and version, or a fitness failure.
#[derive(Debug, Deserialize)]
pub struct PingQuery {
    /// `unhealthy` when a fitness check failed (the worker exits right after).
    pub status: Option<String>,
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
    let unhealthy = (q.status.as_deref() == Some("unhealthy")).then(|| {
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
