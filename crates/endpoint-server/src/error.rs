//! The one error type of the HTTP API: a status code and a JSON body `{"error": "..."}`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered to a client. Internal causes are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than the route accepts.
    #[error("request body is larger than the {limit_mb} MB this route accepts")]
    PayloadTooLarge {
        /// The limit, in MB.
        limit_mb: usize,
    },
    /// No endpoint with this id.
    #[error("no endpoint named `{0}`")]
    UnknownEndpoint(String),
    /// Something else that does not exist; the message says what.
    #[error("{0}")]
    NotFound(String),
    /// No job with this id (or it expired).
    #[error("no job with id `{0}`")]
    UnknownJob(String),
    /// No or wrong API key.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A known key without the role (or the endpoint) the route needs; the message
    /// names the key, its role and the role needed.
    #[error("{0}")]
    Forbidden(String),
    /// The job is in a state the operation does not apply to.
    #[error("{0}")]
    Conflict(String),
    /// The resource ended (a cancelled job's stream).
    #[error("{0}")]
    Gone(String),
    /// Too many requests on this route.
    #[error("rate limit of {} exceeded ({} requests per {} s): retry in {} s", .0.route, .0.limit, .0.period_secs, .0.retry_after_secs)]
    RateLimited(crate::ratelimit::Limited),
    /// The job could not be stored durably; it was not accepted.
    #[error("the job could not be stored, try again: {0}")]
    Unavailable(String),
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnknownEndpoint(_) | AppError::UnknownJob(_) | AppError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Maps axum's JSON rejection to our error, keeping serde's field-naming message.
    pub fn from_json_rejection(rejection: JsonRejection, limit_mb: usize) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return AppError::PayloadTooLarge { limit_mb };
        }
        AppError::BadRequest(rejection.body_text())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        tracing::debug!(%status, error = %self, "request rejected");
        let body = Json(serde_json::json!({ "error": self.to_string() }));
        if let AppError::RateLimited(l) = &self {
            let retry = l.retry_after_secs.to_string();
            return (status, [(axum::http::header::RETRY_AFTER, retry)], body).into_response();
        }
        (status, body).into_response()
    }
}
