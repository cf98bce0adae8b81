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
    // What a panel asks first is answered by either instance.
    assert_eq!(request(b_addr, "GET", "/v2/local/access", "").0, 200);

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

    // No job ran twice except by the documented at-least-once rule: a run lost with
    // the leader is counted in the job's retries. Every run is a distinct start in the
    // change sequence (each record a job went through, in order, as stored).
    let bodies = pg
        .psql("SELECT body::text FROM feed_changes WHERE endpoint_id = 'local' AND kind = 'job' ORDER BY seq")
        .unwrap();
    let mut runs: std::collections::HashMap<String, (std::collections::BTreeSet<i64>, u64)> =
        Default::default();
    for line in bodies.lines() {
        let r = json(line);
        let e = runs
            .entry(r["id"].as_str().unwrap().to_string())
            .or_default();
        if let Some(t) = r["startedAt"].as_i64() {
            e.0.insert(t);
        }
        e.1 = r["retries"].as_u64().unwrap_or(0);
    }
    let mut rerun = 0;
    for id in &acked {
        let (starts, retries) = &runs[id];
        assert!(!starts.is_empty(), "job {id} never started");
        assert!(
            starts.len() as u64 <= retries + 1,
            "job {id} ran {} times with {retries} retries counted",
            starts.len()
        );
        rerun += usize::from(starts.len() > 1);
    }
    println!("{rerun} acknowledged jobs ran again after the takeover, each counted in retries");
}

/// Two endpoints over two instances: the first to start leads both, hands one over
/// when the second joins (each then leads one), and leads both again when the other
/// is killed; requests through either instance reach each endpoint throughout.
#[test]
fn the_endpoints_are_spread_over_the_instances() {
    let pg = Postgres::start();
    let dir = common::temp_dir("spread");
    let config = dir.join("two.toml");
    std::fs::write(
        &config,
        "[[endpoints]]\nid = \"one\"\nmin_workers = 1\ncold_start_median_ms = 50\n\n\
         [[endpoints]]\nid = \"two\"\nmin_workers = 1\ncold_start_median_ms = 50\n",
    )
    .unwrap();
    let start = || {
        common::start(
            [
                "--db".as_ref(),
                pg.url.as_ref(),
                "--config".as_ref(),
                config.as_os_str(),
                "--no-rate-limits".as_ref(),
            ],
            None::<&std::path::Path>,
        )
    };
    // Who leads what, as the leaders record it: (endpoint, url) in endpoint order.
    let leaders = || -> Vec<(String, String)> {
        pg.psql("SELECT endpoint_id || ' ' || url FROM leaders ORDER BY endpoint_id")
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(e, u)| (e.to_string(), u.to_string()))
            .collect()
    };
    let led_by = |urls: [&str; 2]| {
        leaders()
            == [
                ("one".to_string(), urls[0].to_string()),
                ("two".to_string(), urls[1].to_string()),
            ]
    };
    let completes = |via: SocketAddr, endpoint: &str| {
        let (code, b) = request(
            via,
            "POST",
            &format!("/v2/{endpoint}/runsync"),
            r#"{"input":{"sleepMs":5}}"#,
        );
        assert_eq!(code, 200, "{b}");
        assert_eq!(json(&b)["status"], "COMPLETED", "{b}");
    };
    let (mut a, a_addr) = start();
    let a_url = format!("http://{a_addr}");
    wait("A leads both endpoints", 20, || led_by([&a_url, &a_url]));
    let (mut b, b_addr) = start();
    let b_url = format!("http://{b_addr}");
    // A hands the second endpoint over to B.
    wait("each instance leads one endpoint", 30, || {
        led_by([&a_url, &b_url])
    });
    // And keeps it that way: no flapping.
    std::thread::sleep(Duration::from_secs(3));
    assert!(led_by([&a_url, &b_url]), "{:?}", leaders());
    for via in [a_addr, b_addr] {
        for endpoint in ["one", "two"] {
            completes(via, endpoint);
        }
    }
    // Losing B: A leads both again, and serves both.
    b.kill_9();
    wait("A leads both endpoints after B is killed", 20, || {
        led_by([&a_url, &a_url])
    });
    completes(a_addr, "two");
    assert!(a.stop(), "SIGTERM: A exits successfully");
    let _ = std::fs::remove_dir_all(&dir);
}

/// RunPod's official Python client (`runpod` from .venv) against each of two
/// instances: run, status, output, stream, run_sync, cancel, health, purge_queue and a
/// refused key, through the leader and through the instance that forwards to it.
#[test]
fn the_runpod_client_works_against_each_instance() {
    let pg = Postgres::start();
    let dir = common::temp_dir("cluster-sdk");
    let cfg = dir.join("server.toml");
    std::fs::write(
        &cfg,
        "[[endpoints]]\nid = \"local\"\nmin_workers = 1\nmax_workers = 2\n\
         cold_start_median_ms = 100\ncold_start_sigma = 0.0\nseed = 5\n",
    )
    .unwrap();
    let args = |_: ()| {
        [
            "--db",
            pg.url.as_str(),
            "--config",
            cfg.to_str().unwrap(),
            "--api-key",
            "sdk-test-key",
        ]
    };
    let (_a, a_addr) = common::start(args(()), None);
    let (_b, b_addr) = common::start(args(()), None);
    let script = common::root().join("crates/endpoint-server/tests/python/runpod_client.py");
    for (name, addr) in [("A (leader)", a_addr), ("B (forwards)", b_addr)] {
        let out = std::process::Command::new(common::venv_bin("python"))
            .arg(&script)
            .env("RUNPOD_ENDPOINT_BASE_URL", format!("http://{addr}/v2"))
            .env("RUNPOD_TEST_API_KEY", "sdk-test-key")
            .output()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("checks passed"),
            "runpod client against {name}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Real workers (the echo handler under the runpod SDK) run on the leader and take
/// jobs sent to either instance; when the leader is killed, the other instance takes
/// the endpoint and its own worker takes jobs again. The killed leader's worker is
/// left on the machine (as after any kill -9) until its instance starts again: here
/// the test stops it through that instance's registry.
#[test]
fn real_workers_run_on_the_leader_and_come_back_after_a_failover() {
    use endpoint_server::workers::process::Registry;
    let pg = Postgres::start();
    let dir = common::temp_dir("cluster-workers");
    let cfg = dir.join("server.toml");
    common::write_echo_config(&cfg, 2000);
    let start = |name: &str| {
        let workers = dir.join(format!("{name}.workers"));
        let log = dir.join(format!("{name}.log"));
        let (server, addr) = common::start(
            [
                "--db",
                pg.url.as_str(),
                "--config",
                cfg.to_str().unwrap(),
                "--workers-dir",
                workers.to_str().unwrap(),
            ],
            Some(&log),
        );
        (server, addr, workers)
    };
    let (mut a, a_addr, a_workers) = start("a");
    let a_pid = a.0.id();
    wait("A leads", 20, || {
        request(a_addr, "GET", "/v2/w/health", "").0 == 200
    });
    let (mut b, b_addr, _) = start("b");
    let runsync = |addr, tag: &str| {
        let body = format!(r#"{{"input":{{"tag":"{tag}"}}}}"#);
        match common::try_request(addr, "POST", "/v2/w/runsync", &body) {
            Ok((200, b)) => {
                let v = json(&b);
                (v["status"] == "COMPLETED").then_some(v)
            }
            _ => None,
        }
    };
    // Through B, forwarded to A, run by A's real worker.
    let mut done = None;
    wait("a job through B on A's worker", 60, || {
        done = runsync(b_addr, "via-b");
        done.is_some()
    });
    let v = done.unwrap();
    assert_eq!(v["output"]["echo"]["tag"], "via-b", "{v}");
    let first_worker = v["workerId"].as_str().unwrap().to_string();
    let a_pids: Vec<u64> = json(&request(a_addr, "GET", "/v2/w/workers", "").1)["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["pid"].as_u64())
        .collect();
    assert!(!a_pids.is_empty());

    a.kill_9();
    let killed = Instant::now();
    let mut after = None;
    wait("a job through B after the failover", 60, || {
        after = runsync(b_addr, "after");
        after.is_some()
    });
    println!(
        "a real worker of B completed a job {:?} after kill -9 of A",
        killed.elapsed()
    );
    let v = after.unwrap();
    assert_eq!(v["output"]["echo"]["tag"], "after", "{v}");
    assert_ne!(
        v["workerId"].as_str().unwrap(),
        first_worker,
        "B's own worker"
    );
    // A's worker was orphaned by the kill (it dies on its own once it writes to the
    // dead server's pipe); whatever of its process group is left, its instance's
    // registry stops, as A's next start would.
    Registry::new(&a_workers).reap_leftovers();
    for &pgid in &a_pids {
        wait("A's worker group gone", 10, || !group_alive(pgid));
    }
    // And the workers' home folders the killed server could not remove.
    common::remove_worker_homes(a_pid);
    assert!(b.stop(), "B stops cleanly (its workers with it)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// True while a process of process group `pgid` is alive (not a zombie).
fn group_alive(pgid: u64) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .any(|stat| {
            // pid (comm) state ppid pgrp ...: comm may hold spaces, so after the ')'.
            let rest: Vec<&str> = stat
                .rsplit_once(')')
                .map_or(vec![], |(_, r)| r.split_whitespace().collect());
            rest.first() != Some(&"Z") && rest.get(2) == Some(&pgid.to_string().as_str())
        })
}

fn common_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One instance of deploy/compose.yaml: its command line, its environment and the
/// URL its health check asks.
#[derive(Debug, Default)]
struct ComposeService {
    command: Vec<String>,
    env: Vec<(String, String)>,
    health_url: Option<String>,
}

/// The services of a compose file that run `image` (read line by line: the file is
/// ours and kept plain, one `command:` line, `environment:` as a map).
fn compose_services(text: &str, image: &str) -> Vec<(String, ComposeService)> {
    let mut services: Vec<(String, ComposeService, bool)> = Vec::new();
    let mut in_services = false;
    let mut in_env = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_services = trimmed == "services:";
            continue;
        }
        if !in_services {
            continue;
        }
        if indent == 2 {
            let name = trimmed.trim_end_matches(':').to_string();
            services.push((name, ComposeService::default(), false));
            in_env = false;
            continue;
        }
        let Some((_, svc, runs_image)) = services.last_mut() else {
            continue;
        };
        if indent == 4 {
            in_env = trimmed == "environment:";
            if let Some(img) = trimmed.strip_prefix("image:") {
                *runs_image = img.trim() == image;
            } else if let Some(cmd) = trimmed.strip_prefix("command:") {
                svc.command = cmd.split_whitespace().map(String::from).collect();
            }
        } else if indent == 6 && in_env {
            let (k, v) = trimmed.split_once(':').expect("KEY: value");
            svc.env.push((k.trim().to_string(), v.trim().to_string()));
        } else if indent == 6 && trimmed.starts_with("test:") {
            svc.health_url = trimmed
                .split('"')
                .find(|part| part.starts_with("http://"))
                .map(String::from);
        }
    }
    services
        .into_iter()
        .filter(|(_, _, runs)| *runs)
        .map(|(name, svc, _)| (name, svc))
        .collect()
}

/// deploy/compose.yaml, run as written as far as this machine can (it has no
/// container runtime): each endpoint-server service's command, environment, config
/// file and health check, with local addresses for the compose network's host names
/// and a throwaway PostgreSQL for `db`. Both instances answer their health check, the
/// read-only key reads and may not run, and a job sent through either is run by the
/// leader (so `--advertise-url` is what the instances reach each other at).
#[test]
fn the_compose_file_runs_as_written() {
    let root = common::root();
    let text = std::fs::read_to_string(root.join("deploy/compose.yaml")).unwrap();
    let services = compose_services(&text, "endpoint-server");
    let names: Vec<&str> = services.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "b"], "the instances of deploy/compose.yaml");
    let pg = Postgres::start();
    let dir = common::temp_dir("compose");
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let ports: Vec<u16> = services.iter().map(|_| free_port()).collect();
    let (operate, read) = ("compose-operate-key", "compose-read-key");
    let mut running = Vec::new();
    for (i, (name, svc)) in services.iter().enumerate() {
        let local = |arg: &str| {
            let mut arg = arg.replace("0.0.0.0:8000", &format!("127.0.0.1:{}", ports[i]));
            for (j, (other, _)) in services.iter().enumerate() {
                arg = arg.replace(
                    &format!("http://{other}:8000"),
                    &format!("http://127.0.0.1:{}", ports[j]),
                );
            }
            let config = root.join("deploy/endpoints.toml");
            arg.replace(
                "/etc/endpoint-server/endpoints.toml",
                config.to_str().unwrap(),
            )
        };
        let args: Vec<String> = svc.command.iter().map(|a| local(a)).collect();
        for a in &args {
            let names_a_host = services
                .iter()
                .any(|(other, _)| a.contains(&format!("://{other}:")));
            assert!(
                !a.contains("0.0.0.0") && !a.starts_with("/etc/") && !names_a_host,
                "{name}: `{a}` names something this test does not map"
            );
        }
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_endpoint-server"));
        cmd.args(&args).current_dir(&dir).env_clear();
        for (k, v) in &svc.env {
            let value = match k.as_str() {
                "ENDPOINT_SERVER_DB" => {
                    assert!(v.starts_with("postgres://") && v.contains("@db:"), "{v}");
                    pg.url.clone()
                }
                "ENDPOINT_SERVER_API_KEY" => operate.to_string(),
                "ENDPOINT_SERVER_READ_KEY" => read.to_string(),
                other => panic!("{name}: the test does not know {other}"),
            };
            cmd.env(k, value);
        }
        let (server, addr) = common::spawn(cmd, Some(&dir.join(format!("{name}.log"))));
        assert_eq!(
            addr.port(),
            ports[i],
            "{name} listens where its command says"
        );
        let health = svc.health_url.as_deref().expect("a health check");
        let path = &health[health["http://".len()..].find('/').unwrap() + "http://".len()..];
        running.push((name.clone(), server, addr, path.to_string()));
    }
    let key_request = |addr, method, path: &str, body, key| {
        common::request_with_key(addr, method, path, body, Some(key))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    };
    for (name, _, addr, health) in &running {
        let (code, _) = request(*addr, "GET", health, "");
        assert_eq!(code, 200, "{name}'s health check");
    }
    let (_, _, b_addr, _) = &running[1];
    wait("an instance leads `sim`", 20, || {
        key_request(*b_addr, "GET", "/v2/sim/health", "", read).0 == 200
    });
    let (code, body) = key_request(*b_addr, "POST", "/v2/sim/run", r#"{"input":{}}"#, read);
    assert_eq!(code, 403, "the read key may not run: {body}");
    // Through both: one of them forwards to the other, at its advertised URL.
    for (name, _, addr, _) in &running {
        let (code, body) = key_request(
            *addr,
            "POST",
            "/v2/sim/runsync",
            r#"{"input":{"sleepMs":5}}"#,
            operate,
        );
        assert_eq!(code, 200, "through {name}: {body}");
        assert_eq!(json(&body)["status"], "COMPLETED", "through {name}: {body}");
    }
    for (name, mut server, _, _) in running {
        assert!(server.stop(), "{name} stops on SIGTERM");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
