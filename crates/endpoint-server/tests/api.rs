//! The HTTP API: router tests with `oneshot` (time paused where jobs run), and a real
//! server on port 0.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use endpoint_core::Health;
use endpoint_server::{AppState, Clock, Endpoint, app};
use endpoint_sim::Dist;
use endpoint_sim::model::ModelConfig;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

async fn call_with(
    state: &AppState,
    method: &str,
    uri: &str,
    body: Option<&str>,
    auth: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let req = req
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v)
}

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, Value) {
    call_with(state, method, uri, body, None).await
}

/// One endpoint `local` with `max` workers, 1 s cold starts, 0 warm.
fn state(max: u32) -> AppState {
    let cfg = ModelConfig {
        max_workers: max,
        cold_start: Dist::Constant(1_000.0),
        execution: Dist::Constant(500.0),
        idle_timeout_ms: 60_000,
        ..ModelConfig::default()
    };
    let st = AppState::new([Endpoint::new("local", cfg, 7, Clock::system())]);
    st.spawn_drivers();
    st
}

async fn run(st: &AppState, input: Value) -> String {
    let (code, v) = call(
        st,
        "POST",
        "/v2/local/run",
        Some(&json!({ "input": input }).to_string()),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "IN_QUEUE");
    v["id"].as_str().unwrap().to_string()
}

async fn status(st: &AppState, id: &str) -> Value {
    let (code, v) = call(st, "GET", &format!("/v2/local/status/{id}"), None).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    v
}

async fn pass(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test]
async fn health_counts_jobs_submitted_through_run() {
    let st = state(0); // paused endpoint: everything stays queued
    for _ in 0..3 {
        run(&st, json!({"sleepMs": 10})).await;
    }
    let (code, v) = call(&st, "GET", "/v2/local/health", None).await;
    assert_eq!(code, StatusCode::OK);
    let h: Health = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(h.jobs.in_queue, 3);
    assert_eq!(v["jobs"]["inQueue"], 3);
    assert!(v["workers"].get("idle").is_some());
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_field() {
    let st = state(0);
    let cases = [
        (r#"{"inptu":{}}"#, "inptu"),
        (r#"{}"#, "input"),
        (r#"{"input": 3}"#, "input"),
        (r#"{"input": {"sleepMs": "slow"}}"#, "input.sleepMs"),
        (r#"{"input": {}, "webhook": "ftp://x"}"#, "webhook"),
        (r#"{"input": {}, "policy": {"ttl": -1}}"#, "ttl"),
        (
            r#"{"input": {}, "policy": {"executionTimout": 5}}"#,
            "executionTimout",
        ),
        (r#"{"input": {"#, "EOF"),
    ];
    for (body, field) in cases {
        let (code, v) = call(&st, "POST", "/v2/local/run", Some(body)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(field), "{body}: {msg}");
    }
    let (_, v) = call(&st, "GET", "/v2/local/health", None).await;
    assert_eq!(
        v["jobs"]["inQueue"], 0,
        "nothing was queued by rejected requests"
    );
}

#[tokio::test]
async fn payload_limits_are_runpods() {
    let st = state(0);
    let body = |mb: usize| {
        format!(
            r#"{{"input":{{"blob":"{}"}}}}"#,
            "x".repeat(mb * 1024 * 1024)
        )
    };
    let (code, v) = call(&st, "POST", "/v2/local/run", Some(&body(11))).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["error"].as_str().unwrap().contains("10 MB"));
    let (code, v) = call(&st, "POST", "/v2/local/runsync?wait=10", Some(&body(15))).await;
    assert_eq!(code, StatusCode::OK, "15 MB fits runsync's 20 MB: {v}");
    let (code, _) = call(&st, "POST", "/v2/local/runsync", Some(&body(21))).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_endpoint_and_job_get_404() {
    let st = state(0);
    for (m, uri, needle) in [
        ("GET", "/v2/nope/health", "nope"),
        ("GET", "/v2/local/status/abc", "abc"),
        ("POST", "/v2/local/cancel/abc", "abc"),
        ("POST", "/v2/local/retry/abc", "abc"),
        ("GET", "/v2/local/stream/abc", "abc"),
    ] {
        let (code, v) = call(&st, m, uri, None).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{uri}");
        assert!(v["error"].as_str().unwrap().contains(needle), "{uri}: {v}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_job_goes_through_cold_start_run_and_completion() {
    let st = state(1);
    let id = run(&st, json!({"sleepMs": 500, "tag": "t1"})).await;
    let v = status(&st, &id).await;
    assert_eq!(v["status"], "IN_QUEUE");
    pass(1_100).await; // cold start is 1 s
    let v = status(&st, &id).await;
    assert_eq!(v["status"], "IN_PROGRESS");
    assert_eq!(v["delayTime"], 1_000);
    assert!(v["workerId"].as_str().unwrap().starts_with("worker-"));
    pass(500).await;
    let v = status(&st, &id).await;
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(v["executionTime"], 500);
    assert_eq!(v["output"]["input"]["tag"], "t1");
    assert!(v.get("error").is_none());
    let (_, s) = call(&st, "POST", &format!("/v2/local/stream/{id}"), None).await;
    assert_eq!(s["status"], "COMPLETED");
    assert_eq!(s["stream"][0]["output"]["input"]["tag"], "t1");
    // Handed out once: the next poll is final with an empty stream (the client stops).
    let (_, s) = call(&st, "GET", &format!("/v2/local/stream/{id}"), None).await;
    assert_eq!(s, json!({"status": "COMPLETED", "stream": []}));
}

#[tokio::test(start_paused = true)]
async fn runsync_waits_for_the_result_or_answers_the_current_state() {
    let st = state(1);
    let (code, v) = call(
        &st,
        "POST",
        "/v2/local/runsync",
        Some(r#"{"input":{"sleepMs":300}}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(v["executionTime"], 300);
    let (_, v) = call(
        &st,
        "POST",
        "/v2/local/runsync?wait=100",
        Some(r#"{"input":{"sleepMs":60000}}"#),
    )
    .await;
    assert_eq!(v["status"], "IN_PROGRESS", "{v}");
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_queued_and_running_jobs_and_reports_finished_ones() {
    let st = state(1);
    let running = run(&st, json!({"sleepMs": 60_000})).await;
    let queued = run(&st, json!({"sleepMs": 10})).await;
    pass(1_500).await;
    assert_eq!(status(&st, &running).await["status"], "IN_PROGRESS");
    let (code, v) = call(&st, "POST", &format!("/v2/local/cancel/{queued}"), None).await;
    assert_eq!(
        (code, v["status"].as_str()),
        (StatusCode::OK, Some("CANCELLED"))
    );
    let (_, v) = call(&st, "POST", &format!("/v2/local/cancel/{running}"), None).await;
    assert_eq!(v["status"], "CANCELLED");
    let (code, _) = call(&st, "GET", &format!("/v2/local/stream/{running}"), None).await;
    assert_eq!(
        code,
        StatusCode::GONE,
        "a cancelled job's stream ends with an error, not a loop"
    );
    let (_, h) = call(&st, "GET", "/v2/local/health", None).await;
    assert_eq!(h["workers"]["running"], 0, "the worker stopped running it");
    assert_eq!(h["workers"]["idle"], 1);
    // Already finished: the real final state comes back.
    let done = run(&st, json!({"sleepMs": 10})).await;
    pass(100).await;
    let (code, v) = call(&st, "POST", &format!("/v2/local/cancel/{done}"), None).await;
    assert_eq!(
        (code, v["status"].as_str()),
        (StatusCode::OK, Some("COMPLETED"))
    );
}

#[tokio::test(start_paused = true)]
async fn retry_only_failed_or_timed_out_and_purge_queue() {
    let st = state(1);
    let failed = run(&st, json!({"sleepMs": 10, "fail": true})).await;
    pass(1_200).await;
    assert_eq!(status(&st, &failed).await["status"], "FAILED");
    let (code, v) = call(&st, "POST", &format!("/v2/local/retry/{failed}"), None).await;
    assert_eq!(
        (code, v["status"].as_str()),
        (StatusCode::OK, Some("IN_QUEUE"))
    );
    pass(100).await;
    let v = status(&st, &failed).await;
    assert_eq!(v["retries"], 1);
    let (_, h) = call(&st, "GET", "/v2/local/health", None).await;
    assert_eq!(h["jobs"]["retried"], 1);
    let ok = run(&st, json!({"sleepMs": 10})).await;
    pass(100).await;
    let (code, v) = call(&st, "POST", &format!("/v2/local/retry/{ok}"), None).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("only FAILED or TIMED_OUT")
    );

    let blocker = run(&st, json!({"sleepMs": 60_000})).await;
    pass(10).await;
    for _ in 0..4 {
        run(&st, json!({"sleepMs": 10})).await;
    }
    let (code, v) = call(&st, "POST", "/v2/local/purge-queue", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v, json!({"removed": 4, "status": "completed"}));
    assert_eq!(
        status(&st, &blocker).await["status"],
        "IN_PROGRESS",
        "running jobs stay"
    );
}

#[tokio::test(start_paused = true)]
async fn policy_timeouts_give_timed_out() {
    let st = state(1);
    let slow = run_with(
        &st,
        r#"{"input":{"sleepMs":60000},"policy":{"executionTimeout":2000}}"#,
    )
    .await;
    let expiring = run_with(&st, r#"{"input":{"sleepMs":10},"policy":{"ttl":500}}"#).await;
    pass(3_500).await;
    let v = status(&st, &slow).await;
    assert_eq!(
        (v["status"].as_str(), v["executionTime"].as_u64()),
        (Some("TIMED_OUT"), Some(2_000))
    );
    assert_eq!(status(&st, &expiring).await["status"], "TIMED_OUT");
}

async fn run_with(st: &AppState, body: &str) -> String {
    let (code, v) = call(st, "POST", "/v2/local/run", Some(body)).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn api_key_bearer_or_bare() {
    let mut st = state(0);
    st.keys = std::sync::Arc::new(endpoint_server::auth::Keys::operate("s3cret-key"));
    let (code, v) = call(&st, "GET", "/v2/local/health", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("Bearer"));
    let (code, v) = call_with(&st, "GET", "/v2/local/health", None, Some("Bearer wrong")).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(
        !v.to_string().contains("s3cret"),
        "the key never appears in answers"
    );
    let (code, _) = call_with(
        &st,
        "GET",
        "/v2/local/health",
        None,
        Some("Bearer s3cret-key"),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = call_with(&st, "GET", "/v2/local/health", None, Some("s3cret-key")).await;
    assert_eq!(code, StatusCode::OK, "RunPod's bare-key form");
}

/// Every API route under each kind of key: none and unknown are 401; a `read` key
/// opens the read routes and is 403 on the others, naming the role needed; an
/// `operate` key opens them all; a key for another endpoint is 403 everywhere here.
/// `/access` tells each key its role.
#[tokio::test]
async fn every_route_takes_the_roles_it_documents() {
    use endpoint_server::auth::{ApiKey, Keys, Role};
    let mut st = state(0);
    let key = |name: &str, secret: &str, role, endpoints: Option<Vec<String>>| ApiKey {
        name: name.into(),
        secret: secret.into(),
        role,
        endpoints,
    };
    st.keys = std::sync::Arc::new(Keys::new([
        key("viewers", "viewer-key-1", Role::Read, None),
        key("ops", "operator-key-1", Role::Operate, None),
        key(
            "b-ops",
            "b-operator-key",
            Role::Operate,
            Some(vec!["b".into()]),
        ),
    ]));
    let (_, doc) = call(&st, "GET", "/openapi.json", None).await;
    let job = r#"{"input":{}}"#;
    let routes: [(&str, &str, Option<&str>, Role); 20] = [
        ("GET", "/v2/local/status/nope", None, Role::Read),
        ("POST", "/v2/local/status/nope", None, Role::Read),
        ("GET", "/v2/local/health", None, Role::Read),
        ("GET", "/v2/local/metrics/snapshot", None, Role::Read),
        (
            "GET",
            "/v2/local/metrics/changes?cursor=0",
            None,
            Role::Read,
        ),
        ("GET", "/v2/local/workers", None, Role::Read),
        ("GET", "/v2/local/logs", None, Role::Read),
        ("GET", "/v2/local/access", None, Role::Read),
        ("POST", "/v2/local/run", Some(job), Role::Operate),
        (
            "POST",
            "/v2/local/runsync?wait=10",
            Some(job),
            Role::Operate,
        ),
        ("GET", "/v2/local/stream/nope", None, Role::Operate),
        ("POST", "/v2/local/stream/nope", None, Role::Operate),
        ("POST", "/v2/local/cancel/nope", None, Role::Operate),
        ("GET", "/v2/local/cancel/nope", None, Role::Operate),
        ("POST", "/v2/local/retry/nope", None, Role::Operate),
        ("POST", "/v2/local/purge-queue", None, Role::Operate),
        ("POST", "/v2/local/release", None, Role::Operate),
        // An unknown endpoint is refused by the key check first for a scoped key.
        ("GET", "/v2/nowhere/health", None, Role::Read),
        ("POST", "/v2/nowhere/run", Some(job), Role::Operate),
        ("GET", "/v2/local/status/nope?x=1", None, Role::Read),
    ];
    for (method, uri, body, needs) in routes {
        let at = format!("{method} {uri}");
        if let Some(rest) = uri.strip_prefix("/v2/local/") {
            // The description says the role the route takes.
            let template = format!("/v2/{{endpoint_id}}/{}", rest.split('?').next().unwrap())
                .replace("/nope", "/{job_id}");
            let documented = &doc["paths"][&template][method.to_lowercase()]["x-role"];
            let role = if needs == Role::Read {
                "read"
            } else {
                "operate"
            };
            assert_eq!(documented, role, "{at}: x-role of {template}");
        }
        let (code, v) = call_with(&st, method, uri, body, None).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{at} without a key: {v}");
        let (code, v) = call_with(&st, method, uri, body, Some("Bearer wrong-key-1")).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{at} with a wrong key: {v}");
        let (code, v) = call_with(&st, method, uri, body, Some("Bearer viewer-key-1")).await;
        if needs == Role::Operate {
            assert_eq!(code, StatusCode::FORBIDDEN, "{at} with the read key: {v}");
            let msg = v["error"].as_str().unwrap();
            assert!(
                msg.contains("`viewers` has the `read` role")
                    && msg.contains("needs the `operate` role"),
                "{at}: {msg}"
            );
        } else {
            assert!(
                code != StatusCode::UNAUTHORIZED && code != StatusCode::FORBIDDEN,
                "{at} with the read key: {code} {v}"
            );
        }
        let (code, v) = call_with(&st, method, uri, body, Some("operator-key-1")).await;
        assert!(
            code != StatusCode::UNAUTHORIZED && code != StatusCode::FORBIDDEN,
            "{at} with the operate key: {code} {v}"
        );
        let (code, v) = call_with(&st, method, uri, body, Some("Bearer b-operator-key")).await;
        assert_eq!(
            code,
            StatusCode::FORBIDDEN,
            "{at} with endpoint b's key: {v}"
        );
        assert!(
            v["error"].as_str().unwrap().contains("is not for endpoint"),
            "{at}: {v}"
        );
        assert!(!v.to_string().contains("key-1"), "a key in an answer: {v}");
    }
    for (auth, name, role) in [
        ("Bearer viewer-key-1", "viewers", "read"),
        ("operator-key-1", "ops", "operate"),
    ] {
        let (code, v) = call_with(&st, "GET", "/v2/local/access", None, Some(auth)).await;
        assert_eq!(code, StatusCode::OK, "{v}");
        assert_eq!(v, json!({"key": name, "role": role}));
    }
    // Without keys (loopback only) everyone may operate, and /access says so.
    let open = state(0);
    let (code, v) = call(&open, "GET", "/v2/local/access", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v, json!({"key": null, "role": "operate"}));
}

#[tokio::test(start_paused = true)]
async fn change_feed_pages_by_cursor_and_an_empty_poll_is_small() {
    let st = state(1);
    let id = run(&st, json!({"sleepMs": 200})).await;
    pass(1_500).await;
    let (_, v) = call(&st, "GET", "/v2/local/metrics/changes?cursor=0", None).await;
    let jobs = v["jobs"].as_array().unwrap();
    let states: Vec<&str> = jobs
        .iter()
        .filter(|j| j["id"] == id.as_str())
        .map(|j| j["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]);
    assert_eq!(v["coldStarts"].as_array().unwrap().len(), 1);
    assert!(!v["transitions"].as_array().unwrap().is_empty());
    let cursor = v["cursor"].as_u64().unwrap();
    let (_, page) = call(
        &st,
        "GET",
        "/v2/local/metrics/changes?cursor=0&limit=2",
        None,
    )
    .await;
    assert_eq!(page["cursor"], 2);
    let (_, empty) = call(
        &st,
        "GET",
        &format!("/v2/local/metrics/changes?cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(empty["cursor"].as_u64(), Some(cursor));
    assert!(empty.to_string().len() < 1024, "{empty}");
}

#[tokio::test]
async fn several_endpoints_are_independent() {
    let clock = Clock::system();
    let paused = ModelConfig {
        max_workers: 0,
        ..ModelConfig::default()
    };
    let st = AppState::new([
        Endpoint::new("a", paused.clone(), 1, clock),
        Endpoint::new("b", paused, 2, clock),
    ]);
    st.spawn_drivers();
    call(&st, "POST", "/v2/a/run", Some(r#"{"input":{}}"#)).await;
    let (_, a) = call(&st, "GET", "/v2/a/health", None).await;
    let (_, b) = call(&st, "GET", "/v2/b/health", None).await;
    assert_eq!(
        (a["jobs"]["inQueue"].as_u64(), b["jobs"]["inQueue"].as_u64()),
        (Some(1), Some(0))
    );
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
    let cfg = ModelConfig {
        min_workers: 2,
        max_workers: 2,
        cold_start: Dist::Constant(10.0),
        ..ModelConfig::default()
    };
    let st = AppState::new([Endpoint::new("local", cfg, 3, Clock::system())]);
    st.spawn_drivers();
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
    for _ in 0..200 {
        let (_, body) = http(addr, "GET", "/v2/local/health", "").await;
        let h: Health = serde_json::from_str(&body).unwrap();
        done = h.jobs.completed;
        if done == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(done, 4);
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops after the shutdown signal")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

async fn call_raw(state: &AppState, uri: &str) -> (StatusCode, String, Vec<u8>) {
    let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, ct, bytes)
}

#[tokio::test(start_paused = true)]
async fn snapshot_in_columns_and_json_agree_and_follow_the_window() {
    let st = state(1);
    let t0 = st.local("local").unwrap().clock().now_ms();
    let a = run(&st, json!({"sleepMs": 100})).await;
    pass(2_000).await;
    let b = run(&st, json!({"sleepMs": 100, "fail": true})).await;
    pass(2_000).await;
    let now = st.local("local").unwrap().clock().now_ms();

    let (code, ct, bytes) = call_raw(
        &st,
        &format!("/v2/local/metrics/snapshot?from={t0}&to={}", now + 1),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ct, endpoint_core::feed::CONTENT_TYPE);
    let snap = endpoint_core::feed::decode(&bytes).unwrap();
    assert_eq!(snap.jobs.len(), 2);
    let (_, j) = call(
        &st,
        "GET",
        &format!(
            "/v2/local/metrics/snapshot?from={t0}&to={}&format=json",
            now + 1
        ),
        None,
    )
    .await;
    let jobs: Vec<endpoint_core::JobRecord> = serde_json::from_value(j["jobs"].clone()).unwrap();
    for r in &jobs {
        let row = snap.jobs.find(&r.id).unwrap();
        assert_eq!(&snap.jobs.record(row), r);
    }
    assert_eq!(
        jobs.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
        ["COMPLETED", "FAILED"]
    );
    assert_eq!(snap.events.cold_starts.len(), 1);
    assert!(!snap.events.transitions.is_empty());
    assert_eq!(j["cursor"].as_u64(), Some(snap.cursor));
    // Only the second job's life overlaps the last two seconds.
    let (_, j) = call(
        &st,
        "GET",
        &format!(
            "/v2/local/metrics/snapshot?from={}&to={}&format=json",
            now - 1_900,
            now + 1
        ),
        None,
    )
    .await;
    let ids: Vec<&str> = j["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.as_str()]);
    assert_ne!(a, b);
    // Bad parameters name the problem.
    let (code, v) = call(&st, "GET", "/v2/local/metrics/snapshot?from=10&to=5", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("before"));
    let (code, v) = call(&st, "GET", "/v2/local/metrics/snapshot?format=xml", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("format"));
    let (code, _) = call(
        &st,
        "GET",
        "/v2/local/metrics/snapshot?from=0&to=999999999999",
        None,
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "longer than the retention");
}

#[tokio::test(start_paused = true)]
async fn rate_limits_answer_429_with_retry_after() {
    let st = state(0);
    for _ in 0..2 {
        let (code, _) = call(&st, "POST", "/v2/local/purge-queue", None).await;
        assert_eq!(code, StatusCode::OK);
    }
    let req = Request::builder()
        .method("POST")
        .uri("/v2/local/purge-queue")
        .body(Body::empty())
        .unwrap();
    let resp = app(st.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("/purge-queue"), "{v}");
    // Health is not limited; the limit refills with time.
    assert_eq!(
        call(&st, "GET", "/v2/local/health", None).await.0,
        StatusCode::OK
    );
    pass(5_000).await;
    assert_eq!(
        call(&st, "POST", "/v2/local/purge-queue", None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn cors_allows_only_the_listed_origins() {
    let mut st = state(0);
    st.cors_origins = vec!["http://portal.example".into()];
    let preflight = |origin: &'static str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/v2/local/health")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .body(Body::empty())
            .unwrap()
    };
    let ok = app(st.clone())
        .oneshot(preflight("http://portal.example"))
        .await
        .unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://portal.example"
    );
    let other = app(st.clone())
        .oneshot(preflight("http://evil.example"))
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn openapi_is_public_and_describes_every_route() {
    let mut st = state(0);
    st.keys = std::sync::Arc::new(endpoint_server::auth::Keys::operate("k"));
    let (code, doc) = call(&st, "GET", "/openapi.json", None).await;
    assert_eq!(code, StatusCode::OK, "no key needed for the description");
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "run",
        "runsync",
        "status/{job_id}",
        "stream/{job_id}",
        "cancel/{job_id}",
        "retry/{job_id}",
        "purge-queue",
        "health",
        "metrics/changes",
        "metrics/snapshot",
        "release",
        "workers",
        "logs",
        "access",
        "job-take/{worker}",
        "job-take-batch/{worker}",
        "job-stop/{worker}",
        "job-done/{worker}/{job_id}",
        "job-stream/{worker}/{job_id}",
        "ping/{worker}",
    ] {
        assert!(
            paths.contains_key(&format!("/v2/{{endpoint_id}}/{p}")),
            "missing {p}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn results_expire_like_runpods_while_metrics_keep_the_jobs() {
    let st = state(1);
    let run_id = run(&st, json!({"sleepMs": 100})).await;
    let (_, v) = call(
        &st,
        "POST",
        "/v2/local/runsync",
        Some(r#"{"input":{"sleepMs":100}}"#),
    )
    .await;
    let sync_id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["status"], "COMPLETED");
    pass(61_000).await;
    assert_eq!(
        status(&st, &run_id).await["status"],
        "COMPLETED",
        "a /run result lives 30 min"
    );
    let (code, _) = call(&st, "GET", &format!("/v2/local/status/{sync_id}"), None).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "a /runsync result lives 1 min");
    pass(30 * 60_000).await;
    let (code, _) = call(&st, "GET", &format!("/v2/local/status/{run_id}"), None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    // The metrics still have both jobs.
    let (_, snap) = call(&st, "GET", "/v2/local/metrics/snapshot?format=json", None).await;
    let ids: Vec<&str> = snap["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&run_id.as_str()) && ids.contains(&sync_id.as_str()),
        "{ids:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_release_makes_busy_workers_outdated() {
    let st = state(1);
    let id = run(&st, json!({"sleepMs": 5_000})).await;
    pass(1_500).await;
    let (code, h) = call(&st, "POST", "/v2/local/release", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(h["workers"]["outdated"], 1, "{h}");
    pass(5_000).await;
    assert_eq!(
        status(&st, &id).await["status"],
        "COMPLETED",
        "the outdated worker finished its job"
    );
    let (_, h) = call(&st, "GET", "/v2/local/health", None).await;
    assert_eq!(h["workers"]["outdated"], 0);
}

/// Metrics older than the retention leave the feed soon after they age out: within a
/// 24th of the retention (here 60 s, so every 10 s), not at the next hourly prune.
#[tokio::test(start_paused = true)]
async fn metrics_past_a_short_retention_are_pruned_soon_after() {
    let cfg = ModelConfig {
        min_workers: 1,
        max_workers: 1,
        cold_start: Dist::Constant(10.0),
        ..ModelConfig::default()
    };
    let clock = Clock::system();
    let ep = Endpoint::new("local", cfg, 9, clock);
    ep.set_retention(endpoint_server::endpoint::Retention {
        metrics_ms: 60_000,
        ..Default::default()
    });
    let st = AppState::new([ep]);
    st.spawn_drivers();
    let (_, v) = call(
        &st,
        "POST",
        "/v2/local/run",
        Some(r#"{"input":{"sleepMs":5}}"#),
    )
    .await;
    let id = v["id"].as_str().unwrap().to_string();
    let held = async || {
        let now = clock.now_ms();
        let path = format!(
            "/v2/local/metrics/snapshot?format=json&from={}&to={}",
            now - 3_600_000,
            now + 1_000
        );
        let (code, v) = call(&st, "GET", &path, None).await;
        assert_eq!(code, StatusCode::OK, "{v}");
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == id.as_str())
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, v) = call(&st, "GET", &format!("/v2/local/status/{id}"), None).await;
    assert_eq!(v["status"], "COMPLETED", "{v}");
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert!(held().await, "kept while within the retention");
    // 60 s of retention, pruned every 10 s (the sweep runs every 5 s).
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert!(
        !held().await,
        "still held 80 s after it ended, past a 60 s retention"
    );
}
