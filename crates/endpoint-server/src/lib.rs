//! # endpoint-server
//!
//! A local serverless endpoint that speaks RunPod's queue API under
//! `/v2/{endpoint_id}/`, runs jobs on the simulated workers of endpoint-sim's model,
//! and (optionally) serves the built panel from the same origin.
//!
//! - [`app`] builds the router from an [`AppState`]; tests drive it with `oneshot`.
//! - [`run`] serves a bound listener until a shutdown future resolves.
//! - [`config`] reads the TOML file that declares the endpoints.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod db;
pub mod endpoint;
pub mod error;
pub mod extract;
pub mod load;
pub mod ratelimit;
pub mod routes;
pub mod traffic;
pub mod webhook;
pub mod workers;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::middleware;
use tokio::net::TcpListener;
use tower_http::services::{ServeDir, ServeFile};

pub use endpoint::{Clock, Endpoint};
pub use error::AppError;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The endpoints this instance runs, by id: all of them, or, in a cluster, the ones
    /// it leads now ([`cluster`]).
    pub endpoints: Arc<RwLock<HashMap<String, Arc<Endpoint>>>>,
    /// Set when several instances share a PostgreSQL database ([`cluster`]).
    pub cluster: Option<Arc<cluster::Cluster>>,
    /// Directory of the built panel (trunk's `dist/`), served at `/` when set.
    pub panel_dir: Option<PathBuf>,
    /// The API keys and their roles ([`auth`]); none leaves the API open (the
    /// server then only listens on loopback).
    pub keys: Arc<auth::Keys>,
    /// Per-route rate limits (RunPod's by default).
    pub limiter: Arc<ratelimit::RateLimiter>,
    /// Browser origins allowed to call the API (CORS); empty = same origin only.
    pub cors_origins: Vec<String>,
    /// The longest `/runsync` holds a request for its result (RunPod: 90 s); keep it
    /// below the idle timeout of any proxy in front.
    pub runsync_wait: std::time::Duration,
}

impl AppState {
    /// State for these endpoints, no panel, no key.
    pub fn new(endpoints: impl IntoIterator<Item = Arc<Endpoint>>) -> Self {
        AppState {
            endpoints: Arc::new(RwLock::new(
                endpoints
                    .into_iter()
                    .map(|e| (e.id().to_string(), e))
                    .collect(),
            )),
            cluster: None,
            panel_dir: None,
            keys: Arc::default(),
            limiter: Arc::new(ratelimit::RateLimiter::new(Some(ratelimit::Limits::RUNPOD))),
            cors_origins: Vec::new(),
            runsync_wait: routes::RUNSYNC_WAIT,
        }
    }

    /// The endpoint `id`, or the 404 error naming it.
    pub fn endpoint(&self, id: &str) -> Result<Arc<Endpoint>, AppError> {
        self.local(id)
            .ok_or_else(|| AppError::UnknownEndpoint(id.to_string()))
    }

    /// The endpoint `id` if this instance runs it.
    pub fn local(&self, id: &str) -> Option<Arc<Endpoint>> {
        self.endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// The endpoints this instance runs now.
    pub fn running(&self) -> Vec<Arc<Endpoint>> {
        let map = self.endpoints.read().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }

    /// Starts every endpoint's driver task.
    pub fn spawn_drivers(&self) {
        for e in self.running() {
            e.spawn_driver();
        }
    }

    /// Starts the supervisors of the `process` endpoints; their workers call back on
    /// `base_url` (`http://127.0.0.1:PORT`, where this server listens).
    pub fn start_workers(&self, base_url: &str) {
        for e in self.running() {
            e.start_workers(base_url);
        }
    }

    /// Stops every worker process of every endpoint and waits for them (bounded by
    /// each endpoint's stop grace).
    pub async fn stop_workers(&self) {
        for e in self.running() {
            e.stop_workers().await;
        }
    }
}

/// The router: RunPod's API under `/v2/{endpoint_id}/`, plus the panel when configured.
pub fn app(state: AppState) -> Router {
    let api = routes::read_api()
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_read,
        ))
        .merge(
            routes::operate_api().route_layer(middleware::from_fn_with_state(
                state.clone(),
                auth::require_operate,
            )),
        )
        // Worker routes check the calling worker's own secret, never the API key.
        .merge(workers::api::routes())
        // In a cluster, what another instance leads goes there (before auth: the
        // leader checks the key).
        .layer(middleware::from_fn_with_state(
            state.clone(),
            cluster::forward::forward,
        ))
        // The API's description is public, like RunPod's docs.
        .route("/openapi.json", axum::routing::get(openapi));
    let router = match &state.panel_dir {
        Some(dir) => api.fallback_service(
            ServeDir::new(dir).not_found_service(ServeFile::new(dir.join("index.html"))),
        ),
        None => api,
    };
    let cors = cors_layer(&state.cors_origins);
    router
        .with_state(state)
        .layer(cors)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// CORS for the listed panel origins only (none: no cross-origin access at all).
fn cors_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderValue, Method, header};
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(list)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(600))
}

/// The OpenAPI 3.1 document of the API (crates/endpoint-server/src/openapi.json).
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
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
