//! The API fuzzed against its own contract: schemathesis (PyPI, pinned in
//! e2e/requirements.txt and installed by `cargo xtask setup` into `.venv/`) reads the
//! live server's `/openapi.json` and sends it generated requests, valid and invalid,
//! on every documented operation: client routes with an operate key, worker routes
//! with a real worker's own secret and id. Every check is on: no 5xx, every status,
//! content type and body as documented, schema-violating requests refused, valid ones
//! accepted, nothing slower than the request timeout.

mod common;

use std::time::{Duration, Instant};

/// Operations in the served /openapi.json.
fn documented_operations(addr: std::net::SocketAddr) -> usize {
    let (code, body) = common::request(addr, "GET", "/openapi.json", "");
    assert_eq!(code, 200, "GET /openapi.json: {body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p.as_object().unwrap().keys())
        .filter(|m| ["get", "post", "put", "delete", "patch"].contains(&m.as_str()))
        .count()
}

/// The number before `word` in schemathesis' summary (`1234 generated`).
fn count_before(text: &str, word: &str) -> Option<usize> {
    let at = text.rfind(&format!(" {word}"))?;
    let digits: String = text[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.chars().rev().collect::<String>().parse().ok()
}

#[test]
fn the_api_keeps_its_contract_under_schemathesis() {
    let schemathesis = common::venv_bin("schemathesis");
    let dir = common::temp_dir("schemathesis");
    let worker_file = dir.join("worker.txt");
    // `proc`: one real worker process whose id and secret the fuzzer borrows, so the
    // worker routes are exercised past their authentication. It only sleeps: the
    // fuzzer itself is the worker (takes jobs, pings, posts results).
    let config = format!(
        "[[endpoints]]\nid = \"local\"\nmin_workers = 1\nmax_workers = 20\n\
         cold_start_median_ms = 20\nexecution_median_ms = 30\n\n\
         [[endpoints]]\nid = \"proc\"\nruntime = \"process\"\nmin_workers = 1\nmax_workers = 1\n\
         [endpoints.process]\n\
         command = [\"sh\", \"-c\", \"printf '%s %s' \\\"$RUNPOD_POD_ID\\\" \\\"$RUNPOD_AI_API_KEY\\\" > \\\"$OUT.tmp\\\" && mv \\\"$OUT.tmp\\\" \\\"$OUT\\\" && exec sleep 600\"]\n\
         env = {{ OUT = {:?} }}\n\
         ping_interval_ms = 60000\nmissed_pings = 10\nhold_ms = 50\n",
        worker_file.display().to_string()
    );
    std::fs::write(dir.join("server.toml"), config).unwrap();
    let key = "fuzz-operate-key-5d1c";
    let (mut server, addr) = common::start(
        [
            "--in-memory".as_ref(),
            "--no-rate-limits".as_ref(),
            // A /runsync held for its full 90 s is no hang, but would eat the budget.
            "--runsync-wait".as_ref(),
            "1s".as_ref(),
            "--api-key".as_ref(),
            key.as_ref(),
            "--config".as_ref(),
            dir.join("server.toml").as_os_str(),
        ],
        Some(&dir.join("server.log")),
    );
    let end = Instant::now() + Duration::from_secs(20);
    let worker = loop {
        if let Ok(s) = std::fs::read_to_string(&worker_file) {
            break s;
        }
        assert!(Instant::now() < end, "the worker never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (worker_id, secret) = worker.split_once(' ').expect("id and secret");
    let operations = documented_operations(addr);
    std::fs::write(
        dir.join("schemathesis.toml"),
        format!(
            "color = false\nworkers = 1\nrequest-timeout = 20\nseed = {seed}\n\
             headers = {{ Authorization = \"Bearer {key}\" }}\n\
             parameters = {{ endpoint_id = \"local\" }}\n\
             [generation]\nmax-examples = 40\n\
             [checks]\nenabled = true\n\
             positive_data_acceptance = {{ expected-statuses = [\"2xx\", 401, 403, 404, 409, 410, 429] }}\n\
             [[operations]]\ninclude-path-regex = \"/(job-take|job-take-batch|job-stop|job-done|job-stream|ping)/\"\n\
             headers = {{ Authorization = \"{secret}\" }}\n\
             parameters = {{ endpoint_id = \"proc\", worker = \"{worker_id}\" }}\n\
             {snapshot}",
            // Valid requests may still meet the state of the server: 409 (retry of a
            // job that did not fail), 410 (stream of a cancelled job). And a snapshot's
            // `from` must be before `to`, at most 7 days apart: a rule across two
            // parameters, which a schema cannot state, so a 400 there is right.
            snapshot = "[[operations]]\ninclude-name = \"GET /v2/{endpoint_id}/metrics/snapshot\"\n\
             checks = { positive_data_acceptance = { expected-statuses = [\"2xx\", 400, 401, 403, 404, 429] } }\n",
            seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| "7".into()),
        ),
    )
    .unwrap();
    let out = std::process::Command::new(&schemathesis)
        .arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .args(["run", &format!("http://{addr}/openapi.json")])
        .current_dir(&dir)
        .output()
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let alive = matches!(server.0.try_wait(), Ok(None));
    let stopped = server.stop();
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    assert!(alive, "the server died under the fuzzer:\n{log}");
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    let generated = count_before(&stdout, "generated").expect("a summary with the case count");
    assert!(
        generated >= 1_000,
        "only {generated} cases were generated:\n{stdout}"
    );
    let tested = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .expect("a summary with the operations tested");
    assert_eq!(
        tested, operations,
        "every documented operation is fuzzed:\n{stdout}"
    );
    assert!(stopped, "the server did not stop cleanly:\n{log}");
    // The phases and their times, for the CI log.
    for l in stdout
        .lines()
        .filter(|l| l.contains(" (in ") || l.contains("generated"))
    {
        println!("schemathesis: {}", l.trim());
    }
    println!("schemathesis: {generated} cases on {tested} operations");
    let _ = std::fs::remove_dir_all(&dir);
}
