//! The server binary with real workers, killed with `kill -9` mid-job: the workers
//! it leaves are found and stopped by the next start, and the job that was running
//! still ends (at least once). A graceful stop (SIGTERM) leaves no process behind.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

fn start(config: &Path, db: &Path, log: &Path) -> (common::Server, SocketAddr) {
    common::start(
        [
            "--config".as_ref(),
            config.as_os_str(),
            "--db".as_ref(),
            db.as_os_str(),
        ],
        Some(log),
    )
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let code = out[9..12].parse().unwrap();
    let text = out.split("\r\n\r\n").nth(1).unwrap_or("");
    (code, serde_json::from_str(text).unwrap_or(Value::Null))
}

async fn wait_for(secs: u64, what: &str, mut f: impl AsyncFnMut() -> Option<Value>) -> Value {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn alive(pgid: u32) -> bool {
    endpoint_server::workers::process::group_alive(pgid)
}

async fn gone(pgids: &[u32], secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if pgids.iter().all(|&g| !alive(g)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_server_loses_no_job_and_leaves_no_worker() {
    let dir = common::temp_dir("wcrash");
    let config = dir.join("server.toml");
    common::write_echo_config(&config, 3000);
    let db = dir.join("jobs.db");
    let (mut server, addr) = start(&config, &db, &dir.join("first.log"));
    let first_server = server.0.id();
    let workers = async |addr| {
        let (code, v) = http(addr, "GET", "/v2/w/workers", "").await;
        assert_eq!(code, 200);
        v["workers"].as_array().unwrap().clone()
    };
    let w = wait_for(30, "a ready worker", async || {
        let w = workers(addr).await;
        w.iter()
            .any(|w| w["readyAt"].is_i64())
            .then_some(Value::Array(w))
    })
    .await;
    let first_pid = w[0]["pid"].as_u64().unwrap() as u32;
    let (_, v) = http(
        addr,
        "POST",
        "/v2/w/run",
        &json!({"input": {"sleep": 4}}).to_string(),
    )
    .await;
    let id = v["id"].as_str().unwrap().to_string();
    wait_for(20, "the job running", async || {
        let (_, v) = http(addr, "GET", &format!("/v2/w/status/{id}"), "").await;
        (v["status"] == "IN_PROGRESS").then_some(v)
    })
    .await;
    // kill -9: the worker is orphaned, still running its job.
    server.0.kill().unwrap();
    // Its workers' home folders stay behind (kill -9); not what this test is about.
    common::remove_worker_homes(first_server);
    server.0.wait().unwrap();
    assert!(
        alive(first_pid),
        "the worker outlived the killed server (as it would)"
    );
    assert!(
        db.with_extension("db.workers")
            .join(w[0]["id"].as_str().unwrap())
            .exists(),
        "the registry names it"
    );
    // The next start stops it (its handler still sleeps: left alone it would live
    // on for seconds) and runs the job again.
    let log = dir.join("second.log");
    let (mut server, addr) = start(&config, &db, &log);
    assert!(
        gone(&[first_pid], 1).await,
        "the left-over worker was stopped"
    );
    // The server kills first and says so after: give the line a moment to be written.
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        if said.contains("stopped workers left running by an earlier server") {
            break;
        }
        assert!(Instant::now() < end, "{said}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let v = wait_for(40, "the job to end after the restart", async || {
        let (code, v) = http(addr, "GET", &format!("/v2/w/status/{id}"), "").await;
        (code == 200 && v["status"] == "COMPLETED").then_some(v)
    })
    .await;
    assert_eq!(v["output"]["echo"]["sleep"], 4, "{v}");
    assert!(v["workerId"] != w[0]["id"], "{v}");
    assert_eq!(
        v["retries"], 1,
        "the run lost with the server is counted: {v}"
    );
    let now = workers(addr).await;
    let pids: Vec<u32> = now
        .iter()
        .filter_map(|w| w["pid"].as_u64())
        .map(|p| p as u32)
        .collect();
    assert!(!pids.is_empty());
    // A graceful stop takes the workers with it.
    assert!(server.stop(), "SIGTERM: the server exits successfully");
    assert!(
        gone(&pids, 5).await,
        "workers left after SIGTERM of the server: {pids:?}"
    );
    // The handler's output is stored with the job: a restart still shows it.
    let (server, addr) = start(&config, &db, &dir.join("third.log"));
    let (code, v) = http(addr, "GET", &format!("/v2/w/status/{id}"), "").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["output"]["echo"]["sleep"], 4,
        "output kept over a restart: {v}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
