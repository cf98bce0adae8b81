//! The HTTP API: router tests with `oneshot`, and a real server on port 0.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use endpoint_core::Health;
use endpoint_server::{AppState, Endpoint, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v)
}

fn state(workers: usize) -> AppState {
    let ep = Endpoint::new("local", workers);
    AppState::new(ep)
}

#[tokio::test]
async fn health_counts_jobs_submitted_through_run() {
    let st = state(0); // no workers: everything stays queued
    for _ in 0..3 {
        let (code, v) = call(
            &st,
            "POST",
            "/v2/local/run",
            Some(r#"{"input":{"sleepMs":10}}"#),
        )
        .await;
        assert_eq!(code, StatusCode::OK, "{v}");
        assert_eq!(v["status"], "IN_QUEUE");
        assert!(v["id"].as_str().is_some_and(|s| s.len() >= 32));
    }
    let (code, v) = call(&st, "GET", "/v2/local/health", None).await;
    assert_eq!(code, StatusCode::OK);
    let h: Health = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(h.jobs.in_queue, 3);
    assert_eq!(h.jobs.completed, 0);
    // RunPod's exact key spelling.
    assert_eq!(v["jobs"]["inQueue"], 3);
    assert!(v["workers"].get("idle").is_some());
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_cause() {
    let st = state(0);
    let (code, v) = call(&st, "POST", "/v2/local/run", Some(r#"{"inptu":{}}"#)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("inptu"), "{v}");

    let (code, v) = call(&st, "POST", "/v2/local/run", Some(r#"{}"#)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("input"), "{v}");

    let (code, v) = call(&st, "POST", "/v2/local/run", Some(r#"{"input": 3}"#)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("input"), "{v}");

    let (code, v) = call(&st, "POST", "/v2/local/run", Some(r#"{"input": {"#)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(!v["error"].as_str().unwrap().is_empty());

    // Nothing was queued by the rejected requests.
    let (_, v) = call(&st, "GET", "/v2/local/health", None).await;
    assert_eq!(v["jobs"]["inQueue"], 0);
}

#[tokio::test]
async fn oversized_run_body_gets_413() {
    let st = state(0);
    let big = format!(
        r#"{{"input":{{"blob":"{}"}}}}"#,
        "x".repeat(10 * 1024 * 1024 + 1)
    );
    let (code, v) = call(&st, "POST", "/v2/local/run", Some(&big)).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(v["error"].as_str().unwrap().contains("10 MB"));
}

#[tokio::test]
async fn unknown_endpoint_and_job_get_404() {
    let st = state(0);
    let (code, v) = call(&st, "GET", "/v2/nope/health", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("nope"));
    let (code, v) = call(&st, "GET", "/v2/local/status/abc", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("abc"));
}

#[tokio::test(start_paused = true)]
async fn status_reports_runpod_fields_through_the_job_life() {
    let st = state(1);
    st.endpoint.start_workers();
    let (_, v) = call(
        &st,
        "POST",
        "/v2/local/run",
        Some(r#"{"input":{"sleepMs":500}}"#),
    )
    .await;
    let id = v["id"].as_str().unwrap().to_string();
    tokio::task::yield_now().await;
    let (_, v) = call(&st, "GET", &format!("/v2/local/status/{id}"), None).await;
    assert_eq!(v["status"], "IN_PROGRESS");
    assert_eq!(v["workerId"], "local-worker-0");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let (code, v) = call(&st, "POST", &format!("/v2/local/status/{id}"), None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(v["executionTime"], 500);
    assert_eq!(v["output"], json!({"sleptMs": 500}));
    assert!(v.get("error").is_none());
}

/// A minimal HTTP/1.1 exchange over a real socket (no client library needed).
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let code = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (code, body)
}

#[tokio::test]
async fn real_server_on_port_0_runs_jobs_and_shuts_down_gracefully() {
    let st = state(2);
    st.endpoint.start_workers();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(endpoint_server::run(listener, st, async {
        let _ = stop_rx.await;
    }));

    for _ in 0..4 {
        let (code, body) = http(addr, "POST", "/v2/local/run", r#"{"input":{"sleepMs":20}}"#).await;
        assert_eq!(code, 200, "{body}");
    }
    let mut done = 0;
    for _ in 0..100 {
        let (_, body) = http(addr, "GET", "/v2/local/health", "").await;
        let h: Health = serde_json::from_str(&body).unwrap();
        done = h.jobs.completed;
        if done == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(done, 4);

    stop_tx.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("server stops after the shutdown signal")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
