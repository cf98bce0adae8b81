//! axum's `Path` and `Query` extractors, answering a malformed path or query string
//! as every other refusal is answered: 400 with `{"error": "..."}` naming the cause
//! (axum's own rejections are plain text, which the API does not document).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::AppError;

/// Path parameters; a malformed one (not UTF-8, not of the parameter's type) is 400.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|r| AppError::BadRequest(r.body_text()))
    }
}

/// The query string; a parameter that does not parse as its type is 400, naming it.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|r| AppError::BadRequest(r.body_text()))
    }
}

/// The largest value of a parameter documented as `int64`.
pub const INT64_MAX: u64 = i64::MAX as u64;

/// Query parameter `name`, refused with 400 unless within `lo..=hi` (the range the
/// API documents for it).
pub fn bounded<T>(name: &str, value: Option<T>, lo: T, hi: T) -> Result<Option<T>, AppError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    match value {
        Some(v) if v < lo || v > hi => Err(AppError::BadRequest(format!(
            "query parameter `{name}` must be between {lo} and {hi}, not {v}"
        ))),
        v => Ok(v),
    }
}

/// A raw request body of at most `MB` megabytes (the route's `DefaultBodyLimit`);
/// beyond it 413 with `{"error": ...}` naming the limit.
#[derive(Debug)]
pub struct Body<const MB: usize>(pub axum::body::Bytes);

impl<S, const MB: usize> axum::extract::FromRequest<S> for Body<MB>
where
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, AppError> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|r| {
                if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge { limit_mb: MB }
                } else {
                    AppError::BadRequest(r.body_text())
                }
            })
    }
}
