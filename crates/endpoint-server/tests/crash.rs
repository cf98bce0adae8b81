//! Durability: `kill -9` the real server binary while clients submit jobs, restart it
//! on the same database, and find every acknowledged job again; the jobs that were
//! queued or running at the crash run to completion after the restart. And a webhook
//! delivery killed between its first failed attempt and its retry is resumed on
//! schedule after the restart, with every attempt recorded once. Each on both
//! backends: a SQLite file, and a throwaway PostgreSQL cluster.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

use common::postgres::Postgres;

fn start(db: &str) -> (common::Server, SocketAddr) {
    start_with(db, &[])
}

/// The server on `db`: a SQLite file's path or a `postgres://` URL.
fn start_with(db: &str, extra: &[&str]) -> (common::Server, SocketAddr) {
    let mut args = vec![
        "--workers",
        "4",
        "--cold-start-ms",
        "50",
        // The clients below send far more than RunPod's 1000 /run per 10 s.
        "--no-rate-limits",
        "--db",
        db,
    ];
    args.extend_from_slice(extra);
    common::start(args, None)
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    let code = out.get(9..12)?.parse().ok()?;
    Some((code, out.split("\r\n\r\n").nth(1).unwrap_or("").to_string()))
}

fn status_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["status"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_job_survives_kill_9() {
    let dir = common::temp_dir("crash");
    acknowledged_jobs_survive_kill_9(dir.join("crash.db").to_str().unwrap()).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_job_survives_kill_9_on_postgres() {
    let pg = Postgres::start();
    acknowledged_jobs_survive_kill_9(&pg.url).await;
}

async fn acknowledged_jobs_survive_kill_9(db: &str) {
    let (mut server, addr) = start(db);

    // Eight clients submit as fast as they can; a job counts once /run answered 200.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop_at = Instant::now() + Duration::from_millis(1_500);
    let mut clients = Vec::new();
    for c in 0..8u64 {
        let acked = acked.clone();
        clients.push(tokio::spawn(async move {
            let mut i = 0u64;
            // Paced and bounded, so the jobs can all run afterwards in a few seconds.
            while Instant::now() < stop_at && i < 300 {
                let body = format!(r#"{{"input":{{"sleepMs":{}}}}}"#, (c * 131 + i * 17) % 20);
                i += 1;
                tokio::time::sleep(Duration::from_millis(3)).await;
                if let Some((200, b)) = http(addr, "POST", "/v2/local/run", &body).await {
                    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
                    acked
                        .lock()
                        .unwrap()
                        .push(v["id"].as_str().unwrap().to_string());
                }
            }
        }));
    }
    // Kill -9 while the clients are still sending.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    server.kill_9();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50,
        "only {} jobs were acknowledged before the kill",
        acked.len()
    );

    let (mut server, addr) = start(db);
    let mut unfinished = 0;
    for id in &acked {
        let (code, body) = http(addr, "GET", &format!("/v2/local/status/{id}"), "")
            .await
            .unwrap();
        assert_eq!(
            code, 200,
            "acknowledged job {id} is missing after the crash: {body}"
        );
        if !matches!(status_of(&body).as_str(), "COMPLETED") {
            unfinished += 1;
        }
    }
    // Whatever was queued or running at the crash is queued again and completes.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut left = 0;
        for id in &acked {
            let (_, body) = http(addr, "GET", &format!("/v2/local/status/{id}"), "")
                .await
                .unwrap();
            if status_of(&body) != "COMPLETED" {
                left += 1;
            }
        }
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} of {unfinished} re-queued jobs did not complete"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The metrics feed after the restart holds every acknowledged job too.
    let (code, snap) = http(addr, "GET", "/v2/local/metrics/snapshot?format=json", "")
        .await
        .unwrap();
    assert_eq!(code, 200);
    let snap: serde_json::Value = serde_json::from_str(&snap).unwrap();
    let in_snapshot: std::collections::HashSet<&str> = snap["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert!(
        acked.iter().all(|id| in_snapshot.contains(id.as_str())),
        "snapshot misses acknowledged jobs"
    );
    let (_, h) = http(addr, "GET", "/v2/local/health", "").await.unwrap();
    let h: serde_json::Value = serde_json::from_str(&h).unwrap();
    // Jobs stored but not acknowledged (the kill cut the answer) are legitimately
    // there too: at most one in flight per client.
    let completed = h["jobs"]["completed"].as_u64().unwrap();
    let acked_n = acked.len() as u64;
    assert!(
        (acked_n..=acked_n + 8).contains(&completed),
        "{completed} completed for {acked_n} acknowledged: {h}"
    );
    server.kill_9();
    println!(
        "{} acknowledged jobs survived kill -9 ({db}); {unfinished} were re-queued",
        acked.len()
    );
}

/// What a receiver got: when, and the body.
type Got = Arc<Mutex<Vec<(Instant, serde_json::Value)>>>;

/// A webhook receiver answering 500 to the first attempt and 200 afterwards.
async fn receiver() -> (String, Got) {
    use axum::{body::Bytes, http::StatusCode, routing::post};
    let got: Got = Arc::default();
    let g = got.clone();
    let router = axum::Router::new().route(
        "/hook",
        post(move |body: Bytes| {
            let g = g.clone();
            async move {
                let mut g = g.lock().unwrap();
                g.push((Instant::now(), serde_json::from_slice(&body).unwrap()));
                if g.len() == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

/// The job's record and its delivery attempts (attempt, status) in the metrics feed.
async fn deliveries(addr: SocketAddr, id: &str) -> (serde_json::Value, Vec<(u64, Option<u64>)>) {
    let (code, snap) = http(addr, "GET", "/v2/local/metrics/snapshot?format=json", "")
        .await
        .unwrap();
    assert_eq!(code, 200, "{snap}");
    let snap: serde_json::Value = serde_json::from_str(&snap).unwrap();
    let job = snap["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id)
        .cloned()
        .unwrap_or_default();
    let attempts = snap["deliveries"]
        .as_array()
        .unwrap_or_else(|| panic!("no deliveries in the snapshot: {snap}"))
        .iter()
        .filter(|d| d["jobId"] == id)
        .map(|d| (d["attempt"].as_u64().unwrap(), d["status"].as_u64()))
        .collect();
    (job, attempts)
}

async fn wait_for(what: &str, secs: u64, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done().await {
        assert!(Instant::now() < deadline, "{what} within {secs} s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_retry_survives_kill_9() {
    let dir = common::temp_dir("crash-hook");
    webhook_retry_survives_kill_9(dir.join("crash.db").to_str().unwrap()).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_retry_survives_kill_9_on_postgres() {
    let pg = Postgres::start();
    webhook_retry_survives_kill_9(&pg.url).await;
}

async fn webhook_retry_survives_kill_9(db: &str) {
    let (url, got) = receiver().await;
    let args = ["--allow-private-webhooks"];
    let (mut server, addr) = start_with(db, &args);

    let body = format!(r#"{{"input":{{"sleepMs":10}},"webhook":"{url}"}}"#);
    let (code, b) = http(addr, "POST", "/v2/local/run", &body).await.unwrap();
    assert_eq!(code, 200, "{b}");
    let id = serde_json::from_str::<serde_json::Value>(&b).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The first attempt is answered 500 and recorded; RunPod's retry is due 10 s later.
    wait_for("the first attempt recorded", 20, async || {
        deliveries(addr, &id).await.1 == [(1, Some(500))]
    })
    .await;
    // Recorded in memory; give the group commit a moment to store it, then kill.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill_9();
    let first = got.lock().unwrap()[0].clone();

    let (mut server, addr) = start_with(db, &args);
    wait_for("the retry sent after the restart", 30, async || {
        got.lock().unwrap().len() >= 2
    })
    .await;
    let second = got.lock().unwrap()[1].clone();
    let gap = second.0 - first.0;
    assert!(
        gap >= Duration::from_millis(9_500),
        "the retry came {gap:?} after the first attempt: the 10 s schedule was lost"
    );
    assert_eq!(second.1, first.1, "the retry posts the same result");
    assert_eq!(first.1["id"], id.as_str());
    assert_eq!(first.1["status"], "COMPLETED");
    wait_for("the retry recorded", 10, async || {
        deliveries(addr, &id).await.1.len() == 2
    })
    .await;
    let (job, attempts) = deliveries(addr, &id).await;
    assert_eq!(attempts, [(1, Some(500)), (2, Some(200))], "history: {job}");
    assert_eq!(job["webhook"]["attempts"], 2, "{job}");
    assert_eq!(job["webhook"]["delivered"], true, "{job}");

    // Delivered means settled: another crash and restart sends nothing again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill_9();
    let (mut server, addr) = start_with(db, &args);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        got.lock().unwrap().len(),
        2,
        "a settled delivery was sent again"
    );
    assert_eq!(deliveries(addr, &id).await.1.len(), 2);
    server.kill_9();
}
