//! # endpoint-server
//!
//! A local serverless endpoint that speaks RunPod's queue API under
//! `/v2/{endpoint_id}/`, runs jobs on simulated workers and (optionally) serves the
//! built panel from the same origin.
//!
//! - [`app`] builds the router from an [`AppState`]; tests drive it with `oneshot`.
//! - [`run`] serves a bound listener until a shutdown future resolves.
//!
//! Routes so far: `POST /v2/{id}/run`, `GET|POST /v2/{id}/status/{job_id}`,
//! `GET /v2/{id}/health`.

pub mod endpoint;
pub mod error;
pub mod traffic;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use endpoint_core::Health;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower_http::services::{ServeDir, ServeFile};

pub use endpoint::Endpoint;
pub use error::AppError;

/// RunPod's payload limit for `/run`.
pub const RUN_LIMIT_MB: usize = 10;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The endpoint served under `/v2/{endpoint_id}/`.
    pub endpoint: Arc<Endpoint>,
    /// Directory of the built panel (trunk's `dist/`), served at `/` when set.
    pub panel_dir: Option<PathBuf>,
}

impl AppState {
    /// State for one endpoint and no panel.
    pub fn new(endpoint: Arc<Endpoint>) -> Self {
        AppState {
            endpoint,
            panel_dir: None,
        }
    }

    fn endpoint(&self, id: &str) -> Result<&Endpoint, AppError> {
        if self.endpoint.id() == id {
            Ok(&self.endpoint)
        } else {
            Err(AppError::UnknownEndpoint(id.to_string()))
        }
    }
}

/// The body of `/run`, as RunPod defines it (`webhook` and `policy` come later).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Handed to the worker verbatim.
    pub input: Value,
    /// Accepted for compatibility; delivery comes with the webhook issue.
    #[serde(default)]
    pub webhook: Option<String>,
    /// Accepted for compatibility; enforced with the worker model.
    #[serde(default)]
    pub policy: Option<Value>,
}

/// Answer of `/run`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunResponse {
    /// The new job's id.
    pub id: String,
    /// Always `IN_QUEUE` for a fresh job.
    pub status: endpoint_core::JobStatus,
}

/// Answer of `/status/{job_id}`, in RunPod's shape (times in ms).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    /// The job id.
    pub id: String,
    /// Current state.
    pub status: endpoint_core::JobStatus,
    /// Time in queue, ms.
    pub delay_time: u64,
    /// Time running, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_time: Option<u64>,
    /// The worker's output, once COMPLETED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The worker's error, once FAILED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The worker that picked it up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
}

/// The router: RunPod's API under `/v2/{endpoint_id}/`, plus the panel when configured.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/v2/{endpoint_id}/run",
            post(run_job).layer(DefaultBodyLimit::max(RUN_LIMIT_MB * 1024 * 1024)),
        )
        .route(
            "/v2/{endpoint_id}/status/{job_id}",
            get(job_status).post(job_status),
        )
        .route("/v2/{endpoint_id}/health", get(health));
    let router = match &state.panel_dir {
        Some(dir) => api.fallback_service(
            ServeDir::new(dir).not_found_service(ServeFile::new(dir.join("index.html"))),
        ),
        None => api,
    };
    router
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

async fn run_job(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    body: Result<Json<RunRequest>, JsonRejection>,
) -> Result<Json<RunResponse>, AppError> {
    let endpoint = state.endpoint(&endpoint_id)?;
    let Json(req) = body.map_err(|r| AppError::from_json_rejection(r, RUN_LIMIT_MB))?;
    if !req.input.is_object() {
        return Err(AppError::BadRequest(
            "field `input` must be a JSON object".into(),
        ));
    }
    let id = endpoint.submit(req.input);
    Ok(Json(RunResponse {
        id,
        status: endpoint_core::JobStatus::InQueue,
    }))
}

async fn job_status(
    State(state): State<AppState>,
    Path((endpoint_id, job_id)): Path<(String, String)>,
) -> Result<Json<StatusResponse>, AppError> {
    let endpoint = state.endpoint(&endpoint_id)?;
    let job = endpoint
        .job(&job_id)
        .ok_or_else(|| AppError::UnknownJob(job_id.clone()))?;
    let now = Instant::now();
    Ok(Json(StatusResponse {
        id: job.id.clone(),
        status: job.status,
        delay_time: job.delay_ms(now),
        execution_time: job.started_at.map(|_| job.execution_ms(now)),
        output: job.output.clone(),
        error: job.error.clone(),
        worker_id: job.worker_id.clone(),
    }))
}

async fn health(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
) -> Result<Json<Health>, AppError> {
    Ok(Json(state.endpoint(&endpoint_id)?.health()))
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains open requests.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
