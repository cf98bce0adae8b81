//! Real workers: the unmodified `runpod` SDK (installed by `cargo xtask setup` into
//! `.venv/`) running the handlers of `examples/workers/` as processes supervised by
//! a real server on port 0. No fake workers: every number checked here was measured
//! from what the processes did. Every test ends by checking that none of the
//! processes it caused is left.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use endpoint_server::config::{EndpointConfig, Runtime};
use endpoint_server::workers::ProcessConfig;
use endpoint_server::{AppState, Clock, Endpoint};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask setup` (it installs examples/workers/requirements.txt into .venv)",
        p.display()
    );
    p
}

/// A server with one real-worker endpoint `w` running `examples/workers/<example>`.
struct Bench {
    addr: SocketAddr,
    state: AppState,
    ep: Arc<Endpoint>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pids: std::sync::Mutex<Vec<u32>>,
}

impl Drop for Bench {
    fn drop(&mut self) {
        // A failed assertion must not leave processes behind.
        self.ep.kill_workers_now();
    }
}

async fn bench(
    example: &str,
    tweak: impl FnOnce(&mut EndpointConfig, &mut ProcessConfig),
) -> Bench {
    let mut p = ProcessConfig {
        command: vec![python().display().to_string(), "handler.py".into()],
        cwd: Some(root().join("examples/workers").join(example)),
        ping_interval_ms: 1_000,
        hold_ms: 5_000,
        stop_grace_ms: 3_000,
        ..ProcessConfig::default()
    };
    let mut e = EndpointConfig {
        runtime: Runtime::Process,
        min_workers: 0,
        max_workers: 1,
        idle_timeout_ms: 30_000,
        ..EndpointConfig::named("w")
    };
    tweak(&mut e, &mut p);
    e.process = Some(p.clone());
    let ep = Endpoint::new("w", e.model(), 1, Clock::system());
    ep.set_process(p, None).unwrap();
    ep.set_job_defaults(e.execution_timeout_ms, e.ttl_ms);
    let mut state = AppState::new([ep.clone()]);
    // A client key: it must not open the worker routes (and worker secrets not these).
    state.keys = Arc::new(endpoint_server::auth::Keys::new([
        endpoint_server::auth::ApiKey {
            name: "client".into(),
            secret: "client-key".into(),
            role: endpoint_server::auth::Role::Operate,
            endpoints: None,
        },
        endpoint_server::auth::ApiKey {
            name: "viewers".into(),
            secret: "viewer-key".into(),
            role: endpoint_server::auth::Role::Read,
            endpoints: None,
        },
    ]));
    state.limiter = Arc::new(endpoint_server::ratelimit::RateLimiter::new(None));
    state.spawn_drivers();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(endpoint_server::run(listener, state.clone(), async {
        let _ = rx.await;
    }));
    state.start_workers(&format!("http://{addr}"));
    Bench {
        addr,
        state,
        ep,
        stop: Some(tx),
        server: Some(server),
        pids: Default::default(),
    }
}

impl Bench {
    async fn http(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        http(self.addr, method, path, body, Some("Bearer client-key")).await
    }

    async fn run(&self, input: Value) -> String {
        self.run_with(json!({ "input": input })).await
    }

    async fn run_with(&self, body: Value) -> String {
        let (code, v) = self.http("POST", "/v2/w/run", &body.to_string()).await;
        assert_eq!(code, 200, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    async fn status(&self, id: &str) -> Value {
        let (code, v) = self.http("GET", &format!("/v2/w/status/{id}"), "").await;
        assert_eq!(code, 200, "{v}");
        v
    }

    /// Polls `/status` until `pred` holds (at most `secs`).
    async fn until(&self, id: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.status(id).await;
            if pred(&v) {
                return v;
            }
            assert!(Instant::now() < end, "job {id} never got there: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn ended(&self, id: &str, secs: u64) -> Value {
        self.until(id, secs, |v| {
            !matches!(v["status"].as_str(), Some("IN_QUEUE" | "IN_PROGRESS"))
        })
        .await
    }

    fn workers(&self) -> Vec<Value> {
        let facts = self.ep.worker_facts();
        let v = serde_json::to_value(facts).unwrap();
        let out: Vec<Value> = v.as_array().unwrap().clone();
        let mut pids = self.pids.lock().unwrap();
        for w in &out {
            if let Some(p) = w["pid"].as_u64()
                && !pids.contains(&(p as u32))
            {
                pids.push(p as u32);
            }
        }
        out
    }

    /// Waits until `pred` holds over the workers' facts.
    async fn workers_until(
        &self,
        secs: u64,
        what: &str,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let w = self.workers();
            if pred(&w) {
                return w;
            }
            assert!(Instant::now() < end, "workers never {what}: {w:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for a worker that made its first request; returns the workers.
    async fn ready(&self) -> Vec<Value> {
        self.workers_until(20, "got ready", |w| w.iter().any(|w| w["readyAt"].is_i64()))
            .await
    }

    /// Whether the feed has a transition into `state` in the last hour.
    fn saw_state(&self, state: &str) -> bool {
        self.snapshot_json()["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["state"] == state)
    }

    /// Waits (10 s at most) for a line of job `id`'s log that contains `needle`.
    async fn log_until(&self, id: &str, needle: &str, what: &str) {
        self.log_until_any(id, &[needle], what).await;
    }

    /// Waits (10 s at most) for a line of job `id`'s log that contains one of
    /// `needles`; returns that needle.
    async fn log_until_any<'a>(&self, id: &str, needles: &[&'a str], what: &str) -> &'a str {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.logs(&format!("job={id}")).await;
            let found = needles.iter().find(|n| {
                lines
                    .iter()
                    .any(|l| l["text"].as_str().unwrap().contains(**n))
            });
            if let Some(n) = found {
                return n;
            }
            assert!(Instant::now() < end, "{what}: {lines:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn logs(&self, query: &str) -> Vec<Value> {
        let (code, v) = self.http("GET", &format!("/v2/w/logs?{query}"), "").await;
        assert_eq!(code, 200, "{v}");
        v["lines"].as_array().unwrap().clone()
    }

    fn snapshot_json(&self) -> Value {
        let now = self.ep.clock().now_ms();
        self.ep
            .snapshot(now - 3_600_000, now + 1, |store, rows, _c, ev| {
                json!({
                    "jobs": rows.iter().map(|&r| store.record(r)).collect::<Vec<_>>(),
                    "coldStarts": ev.cold_starts,
                    "transitions": ev.transitions,
                })
            })
    }

    /// Stops the server and its workers, then checks that no process is left.
    async fn finish(mut self) {
        self.workers();
        self.state.stop_workers().await;
        let _ = self.stop.take().unwrap().send(());
        let _ = self.server.take().unwrap().await;
        let pids = self.pids.lock().unwrap().clone();
        assert_no_processes(&pids).await;
    }
}

/// Every process group in `pgids` is gone (the SDK's ping child included).
async fn assert_no_processes(pgids: &[u32]) {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = pgids
            .iter()
            .copied()
            .filter(|&g| endpoint_server::workers::process::group_alive(g))
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < end,
            "processes left behind: groups {alive:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    auth: Option<&str>,
) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|a| format!("authorization: {a}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let code = out[9..12].parse().unwrap();
    let text = out.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        code,
        serde_json::from_str(text).unwrap_or(Value::String(text.into())),
    )
}

fn ms(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or_else(|| panic!("no {k} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_delay_execution_output_progress_and_logs_are_measured() {
    let b = bench("echo", |_, p| {
        p.env.insert("STARTUP_SLEEP".into(), "2".into());
    })
    .await;
    let t0 = Instant::now();
    let id = b
        .run(json!({ "sleep": 1.0, "progress": 2, "tag": "first" }))
        .await;
    // Progress updates show in /status while it runs.
    let p = b
        .until(&id, 30, |v| {
            v["output"].as_str().is_some_and(|s| s.starts_with("step"))
        })
        .await;
    assert_eq!(p["status"], "IN_PROGRESS", "{p}");
    let v = b.ended(&id, 30).await;
    let wall = t0.elapsed().as_millis() as i64;
    assert_eq!(v["status"], "COMPLETED", "{v}");
    assert_eq!(
        v["output"]["echo"]["tag"], "first",
        "the handler's own output: {v}"
    );
    let w = &b.workers()[0];
    let cold = ms(w, "coldStartMs");
    // The handler sleeps 2 s at import; Python + `import runpod` add about 1.5 s.
    assert!((2_000..9_000).contains(&cold), "cold start {cold} ms: {w}");
    // The job waited for that cold start, then ran 1 s + 2 progress steps of 0.3 s.
    let delay = ms(&v, "delayTime");
    let exec = ms(&v, "executionTime");
    assert!(
        delay >= cold - 50 && delay <= cold + 1_500,
        "delay {delay} vs cold start {cold}"
    );
    assert!((1_600..3_500).contains(&exec), "execution {exec} ms");
    assert!(
        delay + exec <= wall + 50,
        "delay {delay} + execution {exec} within the wall time {wall}"
    );
    assert_eq!(v["workerId"], w["id"]);

    // A second job on the warm worker waits only for the hand-over.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let id2 = b.run(json!({ "sleep": 0.2 })).await;
    let v2 = b.ended(&id2, 20).await;
    assert_eq!(v2["status"], "COMPLETED");
    assert!(ms(&v2, "delayTime") < 300, "warm delay {v2}");
    assert!((200..1_000).contains(&ms(&v2, "executionTime")), "{v2}");

    // The feed carries the measured cold start, the records and the states.
    let snap = b.snapshot_json();
    let cs = snap["coldStarts"].as_array().unwrap();
    assert_eq!(cs.len(), 1, "{snap}");
    assert_eq!(cs[0]["duration"].as_f64().unwrap() as i64, cold);
    let states: Vec<&str> = snap["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["state"].as_str())
        .collect();
    for s in ["INITIALIZING", "IDLE", "RUNNING"] {
        assert!(states.contains(&s), "{s} missing in {states:?}");
    }
    // The job's own log lines: the handler's print and the SDK's lines.
    let lines = b.logs(&format!("job={id}")).await;
    let texts: Vec<&str> = lines.iter().filter_map(|l| l["text"].as_str()).collect();
    assert!(
        texts.iter().any(|t| t.contains("echo handler got")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("Started")), "{texts:?}");
    assert!(
        lines
            .iter()
            .any(|l| l["stream"] == "stderr" && l["text"].as_str().unwrap().contains("on stderr")),
        "the handler's stderr is tied to its job too: {lines:?}"
    );
    let all = b
        .logs(&format!("worker={}", w["id"].as_str().unwrap()))
        .await;
    assert!(
        all.iter()
            .any(|l| l["stream"] == "system" && l["text"].as_str().unwrap().contains("ready")),
        "{all:?}"
    );
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_routes_take_only_the_workers_own_secret_and_keys_their_roles() {
    let b = bench("echo", |_, _| {}).await;
    let id = b.run(json!({})).await;
    b.ended(&id, 20).await;
    let w = &b.workers()[0];
    let (w, pid) = (
        w["id"].as_str().unwrap().to_string(),
        w["pid"].as_u64().unwrap(),
    );
    // The worker's secret, as its process got it (RUNPOD_AI_API_KEY).
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let secret = environ
        .split(|b| *b == 0)
        .find_map(|v| v.strip_prefix(b"RUNPOD_AI_API_KEY="))
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
        .expect("the worker's environment holds its secret");
    for auth in [None, Some("wrong")] {
        let (code, v) = http(b.addr, "GET", &format!("/v2/w/ping/{w}"), "", auth).await;
        assert_eq!(code, 401, "{auth:?}: {v}");
    }
    // API keys of either role are known, and refused for want of the worker role.
    for (auth, role) in [
        ("Bearer client-key", "operate"),
        ("client-key", "operate"),
        ("Bearer viewer-key", "read"),
    ] {
        for path in [
            format!("/v2/w/ping/{w}"),
            format!("/v2/w/job-take/{w}"),
            format!("/v2/w/job-stop/{w}"),
        ] {
            let (code, v) = http(b.addr, "GET", &path, "", Some(auth)).await;
            assert_eq!(code, 403, "{path} {auth}: {v}");
            let msg = v["error"].as_str().unwrap();
            assert!(
                msg.contains(&format!("`{role}` role")) && msg.contains("`worker` role"),
                "{msg}"
            );
        }
        let (code, v) = http(
            b.addr,
            "POST",
            &format!("/v2/w/job-done/{w}/{id}"),
            "{}",
            Some(auth),
        )
        .await;
        assert_eq!(code, 403, "job-done {auth}: {v}");
    }
    let (code, v) = http(b.addr, "GET", &format!("/v2/w/ping/{w}"), "", Some(&secret)).await;
    assert_eq!(code, 200, "the worker's own secret opens its routes: {v}");
    let (code, _) = http(b.addr, "GET", "/v2/w/ping/nobody", "", Some("x")).await;
    assert_eq!(code, 404);
    // And a client route does not take a worker's secret: it is known, and refused.
    for (method, path) in [("GET", "/v2/w/health"), ("POST", "/v2/w/run")] {
        let (code, v) = http(b.addr, method, path, r#"{"input":{}}"#, Some(&secret)).await;
        assert_eq!(code, 403, "{path}: {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(&format!("secret of worker `{w}`")), "{msg}");
        assert!(!msg.contains(&secret), "the secret in an answer");
    }
    // The read key reads here and may not act.
    let (code, _) = http(b.addr, "GET", "/v2/w/health", "", Some("viewer-key")).await;
    assert_eq!(code, 200);
    let (code, v) = http(
        b.addr,
        "POST",
        "/v2/w/run",
        r#"{"input":{}}"#,
        Some("viewer-key"),
    )
    .await;
    assert_eq!(code, 403, "{v}");
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_streams_its_chunks_in_order() {
    let b = bench("stream", |_, _| {}).await;
    let id = b.run(json!({ "chunks": 5, "gap": 0.2 })).await;
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, v) = b.http("GET", &format!("/v2/w/stream/{id}"), "").await;
        assert_eq!(code, 200, "{v}");
        for c in v["stream"].as_array().unwrap() {
            got.push(c["output"]["chunk"].as_i64().unwrap());
        }
        if v["status"] == "COMPLETED" {
            break;
        }
        assert!(Instant::now() < end, "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got, [0, 1, 2, 3, 4]);
    let v = b.status(&id).await;
    let chunks: Vec<i64> = v["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chunk"].as_i64().unwrap())
        .collect();
    assert_eq!(chunks, [0, 1, 2, 3, 4], "{v}");
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_worker_runs_jobs_concurrently_and_a_cancel_stops_one() {
    let b = bench("concurrent", |_, p| p.concurrency = 3).await;
    let ids = [
        b.run(json!({ "sleep": 1.5 })).await,
        b.run(json!({ "sleep": 1.5 })).await,
        b.run(json!({ "sleep": 1.5 })).await,
    ];
    let mut starts = Vec::new();
    let mut workers = Vec::new();
    for id in &ids {
        let v = b.ended(id, 30).await;
        assert_eq!(v["status"], "COMPLETED", "{v}");
        workers.push(v["workerId"].clone());
    }
    let snap = b.snapshot_json();
    for j in snap["jobs"].as_array().unwrap() {
        starts.push(ms(j, "startedAt"));
    }
    assert!(
        workers.iter().all(|w| *w == workers[0]),
        "one worker: {workers:?}"
    );
    let spread = starts.iter().max().unwrap() - starts.iter().min().unwrap();
    assert!(spread < 1_000, "the three ran at once (starts {starts:?})");

    // Cancel a running async job: the handler is interrupted, the worker stays.
    let pid = b.workers()[0]["pid"].as_u64().unwrap();
    let id = b.run(json!({ "sleep": 30 })).await;
    b.until(&id, 20, |v| v["status"] == "IN_PROGRESS").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (code, v) = b.http("POST", &format!("/v2/w/cancel/{id}"), "").await;
    assert_eq!((code, v["status"].as_str()), (200, Some("CANCELLED")));
    b.log_until(
        &id,
        "stopped before the end",
        "the handler was not interrupted",
    )
    .await;
    // Still the same process, and it takes the next job.
    let next = b.run(json!({ "sleep": 0.1 })).await;
    let v = b.ended(&next, 20).await;
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(b.workers()[0]["pid"].as_u64().unwrap(), pid);
    assert_eq!(b.status(&id).await["status"], "CANCELLED");
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_handler_that_ignores_the_stop_is_killed_and_a_late_result_is_discarded() {
    let b = bench("echo", |_, p| p.cancel_grace_ms = 2_500).await;
    // 1. It finishes within the grace: a late result is discarded, the worker kept.
    // Each job is cancelled once its handler has started (its first log line): a job
    // taken but not yet started when the stop arrives is dropped by the SDK before it
    // runs, so nothing would be late or stuck (the CI failure of 2026-12-06).
    let id = b.run(json!({ "sleep": 1.5 })).await;
    b.until(&id, 20, |v| v["status"] == "IN_PROGRESS").await;
    b.log_until(&id, "echo handler got", "the handler never started")
        .await;
    let (_, v) = b.http("POST", &format!("/v2/w/cancel/{id}"), "").await;
    assert_eq!(v["status"], "CANCELLED");
    // The SDK reads the stop once the sync handler has returned: it posts the result
    // (late: discarded, and noted), or, when it reads the stop while the result is
    // being posted, drops it ("Job stopped."). Either way nothing changes the job.
    b.log_until_any(
        &id,
        &["late result discarded", "Job stopped."],
        "neither a late result nor the stop noted",
    )
    .await;
    let v = b.status(&id).await;
    assert_eq!(
        v["status"], "CANCELLED",
        "the late result did not change it: {v}"
    );
    assert!(v.get("output").is_none(), "{v}");
    // 2. It keeps running past the grace: the worker is killed, the work stops.
    let id = b.run(json!({ "sleep": 60 })).await;
    let v = b.until(&id, 20, |v| v["status"] == "IN_PROGRESS").await;
    b.log_until(&id, "echo handler got", "the handler never started")
        .await;
    // The worker running it (under load the scaler may have started another one).
    let first = b
        .workers()
        .into_iter()
        .find(|w| w["id"] == v["workerId"])
        .unwrap_or_else(|| panic!("no worker runs {v}"));
    let (_, v) = b.http("POST", &format!("/v2/w/cancel/{id}"), "").await;
    assert_eq!(v["status"], "CANCELLED");
    let w = b
        .workers_until(15, "killed the stuck worker", |w| {
            w.iter()
                .any(|w| w["id"] == first["id"] && w["endedAt"].is_i64())
        })
        .await;
    let dead = w.iter().find(|w| w["id"] == first["id"]).unwrap();
    assert!(
        dead["reason"].as_str().unwrap().contains("did not stop"),
        "{dead}"
    );
    assert_no_processes(&[first["pid"].as_u64().unwrap() as u32]).await;
    // The next job runs on a fresh worker.
    let next = b.run(json!({})).await;
    let v = b.ended(&next, 30).await;
    assert_eq!(v["status"], "COMPLETED");
    assert_ne!(v["workerId"], first["id"]);
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_timeout_and_ttl() {
    let b = bench("echo", |_, p| p.cancel_grace_ms = 1_000).await;
    let slow = b
        .run_with(json!({ "input": { "sleep": 30 }, "policy": { "executionTimeout": 1500 } }))
        .await;
    b.until(&slow, 20, |v| v["status"] == "IN_PROGRESS").await;
    // Queued behind it with a 1 s ttl: it expires before the worker is free.
    let short = b
        .run_with(json!({ "input": {}, "policy": { "ttl": 1000 } }))
        .await;
    let v = b.ended(&short, 10).await;
    assert_eq!(v["status"], "TIMED_OUT", "{v}");
    let v = b.ended(&slow, 10).await;
    assert_eq!(v["status"], "TIMED_OUT", "{v}");
    let exec = ms(&v, "executionTime");
    assert!((1_500..2_500).contains(&exec), "{v}");
    // The sync handler could not be stopped: its worker was replaced.
    b.workers_until(10, "recycled the timed-out worker", |w| {
        w.iter().any(|w| {
            w["reason"]
                .as_str()
                .is_some_and(|r| r.contains("did not stop"))
        })
    })
    .await;
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_is_killed_ends_on_another_worker() {
    let b = bench("echo", |e, _| e.max_workers = 2).await;
    let id = b.run(json!({ "sleep": 3 })).await;
    let v = b.until(&id, 20, |v| v["status"] == "IN_PROGRESS").await;
    let victim = v["workerId"].as_str().unwrap().to_string();
    let pid = b
        .workers()
        .iter()
        .find(|w| w["id"] == victim.as_str())
        .unwrap()["pid"]
        .as_u64()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let v = b.ended(&id, 40).await;
    assert_eq!(v["status"], "COMPLETED", "{v}");
    assert_ne!(v["workerId"].as_str().unwrap(), victim);
    assert_eq!(v["retries"], 1, "the lost run is counted: {v}");
    let w = b.workers();
    let dead = w.iter().find(|w| w["id"] == victim.as_str()).unwrap();
    assert_eq!(dead["signal"], 9, "{dead}");
    assert!(
        dead["reason"].as_str().unwrap().contains("crashed"),
        "{dead}"
    );
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_backs_off_and_says_why() {
    let b = bench("fails", |e, p| {
        e.min_workers = 1;
        p.env.insert("EXIT_AT_START".into(), "3".into());
    })
    .await;
    let w = b
        .workers_until(60, "crashed three times", |w| {
            w.iter().filter(|w| w["exitCode"] == 3).count() >= 3
        })
        .await;
    let mut crashes: Vec<&Value> = w.iter().filter(|w| w["exitCode"] == 3).collect();
    crashes.sort_by_key(|w| ms(w, "createdAt"));
    for c in &crashes {
        assert_eq!(c["reason"], "exited during start (exit code 3)", "{c}");
        let lines: Vec<&str> = c["lastLines"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l.as_str())
            .collect();
        assert!(
            lines.iter().any(|l| l.contains("failing at start-up")),
            "{lines:?}"
        );
    }
    // 1 s, then 2 s between attempts (plus the start-up time of each).
    let gaps: Vec<i64> = crashes
        .windows(2)
        .map(|p| ms(p[1], "createdAt") - ms(p[0], "endedAt"))
        .collect();
    assert!(
        gaps[0] >= 900 && gaps[1] >= 1_900 && gaps[1] > gaps[0],
        "backoff gaps {gaps:?}: {crashes:#?}"
    );
    assert!(
        b.saw_state("UNHEALTHY"),
        "no UNHEALTHY transition in the feed"
    );
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_worker_is_unhealthy_and_replaced() {
    let b = bench("echo", |e, _| e.min_workers = 1).await;
    let w = b.ready().await;
    let first = w[0].clone();
    let pid = first["pid"].as_u64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let w = b
        .workers_until(20, "replaced the frozen one", |w| {
            w.iter()
                .any(|x| x["id"] != first["id"] && x["readyAt"].is_i64())
        })
        .await;
    let old = w.iter().find(|x| x["id"] == first["id"]).unwrap();
    assert!(old["reason"].as_str().unwrap().contains("stopped"), "{old}");
    let id = b.run(json!({})).await;
    assert_eq!(b.ended(&id, 20).await["status"], "COMPLETED");
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_up_by_queue_delay_and_down_to_zero_after_the_idle_timeout() {
    let b = bench("echo", |e, p| {
        e.max_workers = 3;
        e.idle_timeout_ms = 1_500;
        p.scaler_value = 1.0;
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(b.run(json!({ "sleep": 2 })).await);
    }
    for id in &ids {
        assert_eq!(b.ended(id, 60).await["status"], "COMPLETED");
    }
    let used: std::collections::BTreeSet<String> = {
        let mut s = std::collections::BTreeSet::new();
        for id in &ids {
            s.insert(b.status(id).await["workerId"].as_str().unwrap().to_string());
        }
        s
    };
    assert!(used.len() >= 2, "the queue delay added workers: {used:?}");
    let w = b
        .workers_until(20, "scaled to zero", |w| {
            w.iter().all(|w| w["endedAt"].is_i64())
        })
        .await;
    assert!(
        w.iter()
            .all(|w| w["reason"].as_str().unwrap().contains("idle")),
        "{w:#?}"
    );
    let (_, h) = b.http("GET", "/v2/w/health", "").await;
    assert_eq!(h["workers"]["idle"], 0, "{h}");
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_drains_outdated_workers_and_replaces_them() {
    let b = bench("echo", |e, _| e.min_workers = 1).await;
    let w = b.ready().await;
    let old = w[0]["id"].clone();
    let id = b.run(json!({ "sleep": 2 })).await;
    b.until(&id, 10, |v| v["status"] == "IN_PROGRESS").await;
    let (code, h) = b.http("POST", "/v2/w/release", "").await;
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["workers"]["outdated"], 1, "{h}");
    // The outdated worker finishes its job, then goes; a new version replaces it.
    assert_eq!(b.ended(&id, 20).await["status"], "COMPLETED");
    let w = b
        .workers_until(20, "replaced the outdated worker", |w| {
            w.iter().any(|x| x["id"] == old && x["endedAt"].is_i64())
                && w.iter().any(|x| x["id"] != old && x["readyAt"].is_i64())
        })
        .await;
    let new = w
        .iter()
        .find(|x| x["id"] != old && x["endedAt"].is_null())
        .unwrap();
    assert!(new["version"].as_str().unwrap().starts_with("r2-"), "{new}");
    assert!(
        b.saw_state("OUTDATED"),
        "no OUTDATED transition in the feed"
    );
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_worker_recycles_the_worker() {
    let b = bench("echo", |_, _| {}).await;
    let a = b.run(json!({ "refresh": true })).await;
    let va = b.ended(&a, 30).await;
    assert_eq!(va["status"], "COMPLETED");
    let bb = b.run(json!({})).await;
    let vb = b.ended(&bb, 30).await;
    assert_ne!(
        va["workerId"], vb["workerId"],
        "a fresh worker after stopPod"
    );
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_runpod_client_against_real_workers() {
    let b = bench("echo", |e, _| e.max_workers = 2).await;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/runpod_real_workers.py");
    let out = tokio::process::Command::new(python())
        .arg(&script)
        .env("RUNPOD_ENDPOINT_BASE_URL", format!("http://{}/v2", b.addr))
        .env("RUNPOD_TEST_API_KEY", "client-key")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("checks passed"), "{stdout}");
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_the_worker_never_received_is_queued_again() {
    let b = bench("echo", |_, p| {
        p.command = vec![
            python().display().to_string(),
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/python/forgetful_worker.py")
                .display()
                .to_string(),
        ];
    })
    .await;
    let id = b.run(json!({ "n": 1 })).await;
    b.until(&id, 20, |v| v["status"] == "IN_PROGRESS").await;
    let v = b.ended(&id, 20).await;
    assert_eq!(v["status"], "COMPLETED", "{v}");
    assert_eq!(v["output"]["by"], "forgetful");
    assert_eq!(v["retries"], 1, "the lost hand-over is counted: {v}");
    let lines = b.logs(&format!("job={id}")).await;
    assert!(
        lines
            .iter()
            .any(|l| l["text"].as_str().unwrap().contains("never reached it")),
        "{lines:?}"
    );
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_handler_replaces_the_workers() {
    let dir = std::env::temp_dir().join(format!("em-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        root().join("examples/workers/echo/handler.py"),
        dir.join("handler.py"),
    )
    .unwrap();
    let d = dir.clone();
    let b = bench("echo", move |e, p| {
        e.min_workers = 1;
        p.cwd = Some(d);
    })
    .await;
    let w = b.ready().await;
    let old = w[0]["id"].clone();
    assert!(w[0]["version"].as_str().unwrap().starts_with("r1-"));
    // A developer saves a change.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut code = std::fs::read_to_string(dir.join("handler.py")).unwrap();
    code.push_str("\n# edited\n");
    std::fs::write(dir.join("handler.py"), code).unwrap();
    let w = b
        .workers_until(30, "replaced the outdated worker", |w| {
            w.iter().any(|x| x["id"] == old && x["endedAt"].is_i64())
                && w.iter().any(|x| {
                    x["version"].as_str().unwrap().starts_with("r2-") && x["readyAt"].is_i64()
                })
        })
        .await;
    let gone = w.iter().find(|x| x["id"] == old).unwrap();
    assert!(
        gone["reason"].as_str().unwrap().contains("outdated"),
        "{gone}"
    );
    b.finish().await;
    let _ = std::fs::remove_dir_all(&dir);
}
