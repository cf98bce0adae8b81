//! Any instance takes any request: a request for an endpoint this instance does not
//! lead goes to the instance that does (its URL is in the `leaders` table), and the
//! answer comes back as it is, streamed (long polls and `/stream` included). The
//! metrics feed and `/access` are answered here, from the mirror.
//!
//! The body is read first (within the route's size limit), so a request that could
//! not reach a leader (it died, or leadership is moving) is sent again to the next one
//! for up to [`WAIT_FOR_LEADER`]; it is never sent twice to a leader that answered. A
//! request cut off after it reached a leader that then died is answered 502: as with
//! any HTTP API, the client retries (RunPod's clients do).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::AppState;

/// Set on a forwarded request: the instance it reaches must answer it itself.
pub const FORWARDED: &str = "x-endpoint-server-forwarded";

/// How long a request waits for an endpoint to have a reachable leader.
pub const WAIT_FOR_LEADER: Duration = Duration::from_secs(15);

/// The largest body forwarded (`/runsync`'s 20 MB limit, with room for JSON framing).
const MAX_BODY: usize = 21 * 1024 * 1024;

/// The HTTP client that forwards (plain HTTP between instances, kept-alive).
pub fn client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// The endpoint of `/v2/{endpoint}/{rest}` and whether `rest` is answered by every
/// instance (the metrics feed, `/access`).
fn route_of(path: &str) -> Option<(&str, bool)> {
    let rest = path.strip_prefix("/v2/")?;
    let (endpoint, rest) = rest.split_once('/')?;
    let here = rest.starts_with("metrics/") || rest == "access";
    Some((endpoint, here))
}

/// The middleware: forwards what this instance does not lead.
pub async fn forward(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(cluster) = state.cluster.clone() else {
        return next.run(req).await;
    };
    let path = req.uri().path().to_string();
    let Some((endpoint, here)) = route_of(&path) else {
        return next.run(req).await;
    };
    if here || !cluster.knows(endpoint) || state.local(endpoint).is_some() {
        return next.run(req).await;
    }
    if req.headers().contains_key(FORWARDED) {
        // Sent here as the leader, which this instance no longer (or not yet) is.
        return unavailable(&format!(
            "this instance does not lead endpoint `{endpoint}` (leadership is moving): retry"
        ));
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return crate::AppError::PayloadTooLarge {
                limit_mb: crate::routes::RUNSYNC_LIMIT_MB,
            }
            .into_response();
        }
    };
    let deadline = Instant::now() + WAIT_FOR_LEADER;
    let mut last_error = String::from("no instance has taken it yet");
    // The cached leader first; after a failed try, the database's word.
    let mut fresh = false;
    loop {
        if state.local(endpoint).is_some() {
            // This instance took the endpoint meanwhile.
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
        }
        let asked = cluster.leader_url(endpoint, fresh).await;
        fresh = true;
        match asked {
            Ok(Some(url)) if url != cluster.advertise() => {
                let mut out = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
                let pq = parts
                    .uri
                    .path_and_query()
                    .map_or(path.as_str(), |p| p.as_str());
                match format!("{}{pq}", url.trim_end_matches('/')).parse() {
                    Ok(uri) => *out.uri_mut() = uri,
                    Err(e) => {
                        tracing::error!(url, error = %e, "a leader's URL does not parse");
                        return unavailable(&format!("the leader's URL {url:?} is not usable"));
                    }
                }
                out.headers_mut().remove(axum::http::header::HOST);
                out.headers_mut()
                    .insert(FORWARDED, HeaderValue::from_static("1"));
                match cluster.client().request(out).await {
                    Ok(resp) if is_moving(&resp) => {
                        last_error = format!("{url} no longer leads it");
                    }
                    Ok(resp) => return resp.map(Body::new),
                    Err(e) if e.is_connect() => last_error = format!("{url}: {e}"),
                    Err(e) => {
                        tracing::warn!(endpoint, url, error = %e, "forwarded request failed");
                        return (
                            StatusCode::BAD_GATEWAY,
                            axum::Json(serde_json::json!({
                                "error": format!("the instance leading endpoint `{endpoint}` failed while answering: {e}; retry")
                            })),
                        )
                            .into_response();
                    }
                }
            }
            Ok(_) => {}
            Err(e) => last_error = e.to_string(),
        }
        if Instant::now() >= deadline {
            return unavailable(&format!(
                "no reachable instance leads endpoint `{endpoint}` ({last_error}): retry"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// True for the answer of an instance that was asked as the leader and is not.
fn is_moving<B>(resp: &axum::http::Response<B>) -> bool {
    resp.status() == StatusCode::SERVICE_UNAVAILABLE && resp.headers().contains_key(FORWARDED)
}

/// 503 with `Retry-After: 1`, marked so a forwarding instance tries the next leader.
fn unavailable(message: &str) -> Response {
    let mut r = (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "1")],
        axum::Json(serde_json::json!({ "error": message })),
    )
        .into_response();
    r.headers_mut()
        .insert(FORWARDED, HeaderValue::from_static("1"));
    r
}

#[cfg(test)]
mod tests {
    use super::route_of;

    #[test]
    fn routes_answered_everywhere_are_the_feed_and_access() {
        assert_eq!(route_of("/v2/local/metrics/changes"), Some(("local", true)));
        assert_eq!(route_of("/v2/local/access"), Some(("local", true)));
        assert_eq!(route_of("/v2/local/run"), Some(("local", false)));
        assert_eq!(route_of("/v2/e/job-take/w1"), Some(("e", false)));
        assert_eq!(route_of("/openapi.json"), None);
        assert_eq!(route_of("/v2/local"), None);
    }
}
