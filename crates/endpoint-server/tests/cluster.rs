//! Several instances of the real binary over one throwaway PostgreSQL (issue 15): any
//! instance takes any request, both serve the same metrics feed, and when the
//! leading instance is killed with `kill -9` under load, the other takes the endpoint
//! over and no acknowledged job is lost.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::postgres::Postgres;
use common::request;
use serde_json::Value;

fn start(url: &str) -> (common::Server, SocketAddr) {
    common::start(
        [
            "--db",
            url,
            "--workers",
            "4",
            "--cold-start-ms",
            "50",
            "--no-rate-limits",
        ],
        None,
    )
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// `/run` through `addr`: the job's id once acknowledged, else None (refused, an
/// error answer, or no answer: the instance was killed).
fn run(addr: SocketAddr, sleep_ms: u64) -> Option<String> {
    let body = format!(r#"{{"input":{{"sleepMs":{sleep_ms}}}}}"#);
    match common::try_request(addr, "POST", "/v2/local/run", &body) {
        Ok((200, b)) => Some(json(&b)["id"].as_str().unwrap().to_string()),
        _ => None,
    }
}

fn status(addr: SocketAddr, id: &str) -> (u16, String) {
    let (code, b) = request(addr, "GET", &format!("/v2/local/status/{id}"), "");
    let s = if code == 200 {
        json(&b)["status"].as_str().unwrap_or("").to_string()
    } else {
        b
    };
    (code, s)
}

/// Waits until `done`, at most `secs`.
fn wait(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < end, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The metrics snapshot of one window as JSON, through `addr`.
fn snapshot(addr: SocketAddr, from: i64, to: i64) -> Value {
    let (code, b) = request(
        addr,
        "GET",
        &format!("/v2/local/metrics/snapshot?format=json&from={from}&to={to}"),
        "",
    );
    assert_eq!(code, 200, "{b}");
    json(&b)
}

#[test]
fn two_instances_share_the_work_and_survive_losing_the_leader() {
    let pg = Postgres::start();
    let (mut a, a_addr) = start(&pg.url);
    // The first instance takes the endpoint (its health answers from its own model).
    wait("A leads", 20, || {
        request(a_addr, "GET", "/v2/local/health", "").0 == 200
    });
    let (_b, b_addr) = start(&pg.url);

    // Any instance takes any request: B forwards to A, and reads through either agree.
    let mut ids = Vec::new();
    for i in 0..20 {
        let addr = if i % 2 == 0 { a_addr } else { b_addr };
        ids.push(run(addr, 5).expect("run accepted"));
    }
    wait("the jobs complete", 60, || {
        ids.iter().all(|id| status(b_addr, id).1 == "COMPLETED")
    });
    for id in &ids {
        assert_eq!(status(a_addr, id), status(b_addr, id));
    }

    // The same feed through both: once both have followed the sequence to the same
    // change, the same snapshot, and the same changes after an earlier cursor.
    let now = common_now();
    let (from, to) = (now - 3_600_000, now + 3_600_000);
    let mut same = None;
    wait("both mirrors at one cursor", 20, || {
        let (sa, sb) = (snapshot(a_addr, from, to), snapshot(b_addr, from, to));
        let equal = sa["cursor"] == sb["cursor"];
        if equal {
            same = Some((sa, sb));
        }
        equal
    });
    let (sa, sb) = same.unwrap();
    assert_eq!(sa, sb, "the two instances serve different snapshots");
    assert!(sa["jobs"].as_array().unwrap().len() >= ids.len());
    let cursor = sa["cursor"].as_u64().unwrap();
    assert!(cursor > 10, "cursor {cursor}");
    let changes = |addr| {
        let (code, b) = request(
            addr,
            "GET",
            &format!("/v2/local/metrics/changes?cursor={}", cursor - 10),
            "",
        );
        assert_eq!(code, 200, "{b}");
        json(&b)
    };
    assert_eq!(changes(a_addr), changes(b_addr));

    // Kill -9 the leader while clients send to both instances.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop_at = Instant::now() + Duration::from_millis(3_000);
    let clients: Vec<_> = (0..6u64)
        .map(|c| {
            let acked = acked.clone();
            std::thread::spawn(move || {
                let mut i = 0;
                while Instant::now() < stop_at && i < 150 {
                    i += 1;
                    let addr = if c % 2 == 0 { a_addr } else { b_addr };
                    if let Some(id) = run(addr, (c * 7 + i) % 20) {
                        acked.lock().unwrap().push(id);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1_000));
    a.kill_9();
    let killed = Instant::now();
    // B takes the endpoint over: a run through B is answered again.
    wait("B answers /run after the kill", 30, || {
        run(b_addr, 1).is_some()
    });
    println!("B took over {:?} after the kill", killed.elapsed());
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 50, "only {} acknowledged", acked.len());
    for id in &acked {
        let (code, body) = status(b_addr, id);
        assert_eq!(code, 200, "acknowledged job {id} is lost: {body}");
    }
    wait("every acknowledged job completes", 90, || {
        acked.iter().all(|id| status(b_addr, id).1 == "COMPLETED")
    });
    println!(
        "{} acknowledged jobs, all completed after the takeover",
        acked.len()
    );
}

fn common_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
