//! The PostgreSQL the scale-out tests run against (issue 15): a real cluster from
//! Debian's packages, started unprivileged in a temporary directory. This file checks
//! the harness itself, the backend against the SQLite store, and the server binary
//! choosing PostgreSQL (tests/crash.rs runs its kill -9 tests on both backends).

mod common;

use common::postgres::Postgres;

/// It starts as a user other than root, answers SQL (including the `SKIP LOCKED`
/// claim the queue will use), and is gone with its directory after drop.
#[test]
fn a_throwaway_cluster_runs_unprivileged_and_is_removed() {
    let pg = Postgres::start();
    assert_ne!(pg.server_uid(), 0, "PostgreSQL must not run as root");
    let status = std::fs::read_to_string(format!("/proc/{}/status", pg.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        !uid_line.split_whitespace().skip(1).any(|u| u == "0"),
        "{uid_line}"
    );

    pg.psql("CREATE TABLE q (id int PRIMARY KEY, taken boolean NOT NULL DEFAULT false)")
        .unwrap();
    pg.psql("INSERT INTO q (id) SELECT generate_series(1, 5)")
        .unwrap();
    let claimed = pg
        .psql(
            "UPDATE q SET taken = true WHERE id IN
               (SELECT id FROM q WHERE NOT taken ORDER BY id LIMIT 2 FOR UPDATE SKIP LOCKED)
             RETURNING id",
        )
        .unwrap();
    assert_eq!(claimed.lines().collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(
        pg.psql("SELECT count(*) FROM q WHERE NOT taken").unwrap(),
        "3"
    );
    assert!(
        pg.psql("SELECT * FROM missing")
            .unwrap_err()
            .contains("missing")
    );

    let (port, url, dir) = (pg.port, pg.url.clone(), pg.dir().to_path_buf());
    assert!(dir.join("data/PG_VERSION").exists());
    drop(pg);
    assert!(!dir.exists(), "{} left after drop", dir.display());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still listening on {port} after drop ({url})"
    );
}

fn job(id: &str, at: i64) -> endpoint_server::db::StoredJob {
    endpoint_server::db::StoredJob {
        record: endpoint_core::JobRecord::queued(id.to_string(), at),
        // Keys out of alphabetical order and a nested array: `json` keeps them as sent.
        input: serde_json::json!({"prompt": "hi", "n": [1, 2.5, null], "a": {"z": true}}),
        webhook_url: None,
        policy: None,
        output: None,
    }
}

/// The backend migrates a fresh database once (concurrent starts included), refuses
/// a newer schema, and stores and loads jobs exactly as the SQLite store does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_backend_migrates_once_and_round_trips_jobs_like_sqlite() {
    use endpoint_server::db::postgres::{MIGRATIONS, PgError, PgStore};
    let pg = Postgres::start();
    let store = PgStore::connect(&pg.url, 4).unwrap();
    assert_eq!(store.version().await.unwrap(), 0);
    let all: Vec<i32> = (1..=MIGRATIONS.len() as i32).collect();
    assert_eq!(store.migrate().await.unwrap(), all);
    assert_eq!(store.migrate().await.unwrap(), Vec::<i32>::new());
    assert_eq!(store.version().await.unwrap(), MIGRATIONS.len() as i32);

    // Two instances starting together on a fresh database: each migration once.
    pg.psql("CREATE DATABASE second").unwrap();
    let url2 = pg.url.replace("/postgres", "/second");
    let (a, b) = (
        PgStore::connect(&url2, 2).unwrap(),
        PgStore::connect(&url2, 2).unwrap(),
    );
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let mut applied = [ra.unwrap(), rb.unwrap()];
    applied.sort();
    assert_eq!(applied, [Vec::new(), all.clone()]);

    // A job of every shape, through both stores.
    let mut full = job("full", 2_000);
    full.record.status = endpoint_core::JobStatus::Completed;
    full.record.started_at = Some(2_500);
    full.record.completed_at = Some(4_000);
    full.record.delay_time = Some(500.0);
    full.record.execution_time = Some(1_500.0);
    full.record.worker_id = Some("w1".into());
    full.record.retries = 2;
    full.record.webhook = Some(endpoint_core::WebhookSummary {
        attempts: 3,
        last_status: Some(502),
        last_error: None,
        delivered: false,
    });
    full.record.error = Some("boom".into());
    full.webhook_url = Some("https://example.com/hook".into());
    full.policy = Some(serde_json::json!({"ttl": 60_000, "executionTimeout": 1_000}));
    let jobs = [job("late", 3_000), full, job("early", 1_000)];
    let dir = common::temp_dir("pg-parity");
    let sqlite = endpoint_server::db::Db::open(dir.join("e.db")).unwrap();
    for j in &jobs {
        store.insert_job("ep", j).await.unwrap();
        sqlite.insert_job("ep", j.clone()).await.unwrap().unwrap();
    }
    store.insert_job("other", &jobs[0]).await.unwrap();
    let from_pg = store.load_jobs("ep").await.unwrap();
    let from_sqlite = sqlite.load_jobs("ep").unwrap();
    assert_eq!(
        from_pg
            .iter()
            .map(|j| j.record.id.as_str())
            .collect::<Vec<_>>(),
        ["early", "full", "late"]
    );
    assert_eq!(from_pg, from_sqlite);
    assert_eq!(from_pg[1], jobs[1]);
    assert_eq!(
        pg.psql("SELECT input FROM jobs WHERE id = 'early'")
            .unwrap(),
        r#"{"a":{"z":true},"n":[1,2.5,null],"prompt":"hi"}"#,
        "input stored as the JSON text sent"
    );

    // An output (a real worker's) reads back; a duplicate id is refused, naming why.
    let mut done = job("with-output", 5_000);
    done.output = Some(serde_json::json!(["chunk", {"k": 1}]));
    store.insert_job("ep", &done).await.unwrap();
    assert_eq!(store.load_jobs("ep").await.unwrap()[3], done);
    let dup = store.insert_job("ep", &jobs[0]).await.unwrap_err();
    assert!(dup.to_string().contains("duplicate key"), "{dup}");

    // A database migrated by a newer server is refused with both versions.
    pg.psql("INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')")
        .unwrap();
    match store.migrate().await {
        Err(e @ PgError::Newer { found: 99, .. }) => {
            assert!(e.to_string().contains("version 99"), "{e}")
        }
        other => panic!("a newer schema was not refused: {other:?}"),
    }

    // A server that is not there: a clear error, not a hang.
    let port = pg.port;
    drop(pg);
    let gone =
        PgStore::connect(&format!("postgres://endpoint@127.0.0.1:{port}/postgres"), 1).unwrap();
    let err = gone.load_jobs("ep").await.unwrap_err();
    assert!(matches!(err, PgError::Pool(_)), "{err:?}");
    drop(sqlite);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        PgStore::connect("mysql://nope", 1)
            .unwrap_err()
            .to_string()
            .contains("not a PostgreSQL URL")
    );
}

/// Changes, events, deliveries, the outbox, outputs and pruning: the same calls on
/// both stores leave the same records (and pruning keeps each worker's last state).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_backend_records_and_prunes_like_sqlite() {
    use endpoint_core::{ColdStart, JobStatus, WebhookDelivery, WorkerState, WorkerTransition};
    use endpoint_server::db::postgres::PgStore;
    use endpoint_server::db::{Db, Outbox, OutboxOp};
    use endpoint_sim::model::Change;
    let pg = Postgres::start();
    let store = PgStore::connect(&pg.url, 2).unwrap();
    store.migrate().await.unwrap();
    let dir = common::temp_dir("pg-record");
    let sqlite = Db::open(dir.join("e.db")).unwrap();

    let t = |w: &str, s: Option<WorkerState>, at| {
        Change::Transition(WorkerTransition {
            worker_id: w.into(),
            state: s,
            at,
        })
    };
    let delivery = |attempt, at, status, error: Option<&str>| {
        Change::Delivery(WebhookDelivery {
            job_id: "j1".into(),
            attempt,
            at,
            status,
            error: error.map(str::to_string),
        })
    };
    let mut running = job("j1", 1_000).record;
    running.status = JobStatus::InProgress;
    running.started_at = Some(1_200);
    running.delay_time = Some(200.0);
    running.worker_id = Some("w1".into());
    let mut done = running.clone();
    done.status = JobStatus::Completed;
    done.completed_at = Some(3_000);
    done.execution_time = Some(1_800.4);
    done.webhook = Some(endpoint_core::WebhookSummary {
        attempts: 1,
        last_status: Some(502),
        last_error: None,
        delivered: false,
    });
    let owe = |id: &str, due| {
        OutboxOp::Owe(Outbox {
            job_id: id.into(),
            url: "https://example.com/h".into(),
            payload: format!("{{\"id\":\"{id}\"}}"),
            attempts: 1,
            due_at: due,
        })
    };
    let batches: Vec<(Vec<Change>, Vec<OutboxOp>)> = vec![
        (
            vec![
                t("w2", Some(WorkerState::Idle), 500),
                t("w1", Some(WorkerState::Initializing), 900),
                Change::ColdStart(ColdStart {
                    worker_id: "w1".into(),
                    started_at: 900,
                    ready_at: 1_100,
                    duration: 200.5,
                }),
                Change::Job(running),
                t("w1", Some(WorkerState::Running), 1_200),
            ],
            vec![],
        ),
        (
            vec![
                Change::Job(done),
                t("w1", Some(WorkerState::Idle), 3_000),
                delivery(1, 3_100, Some(502), None),
            ],
            vec![owe("j1", 13_100), owe("j2", 9_000)],
        ),
        (
            vec![
                delivery(2, 13_100, None, Some("timed out")),
                t("w3", None, 2_000),
            ],
            vec![
                OutboxOp::Retry {
                    job_id: "j1".into(),
                    attempts: 2,
                    due_at: 23_100,
                },
                OutboxOp::Settle {
                    job_id: "j2".into(),
                },
            ],
        ),
    ];
    for j in [job("j1", 1_000), job("j2", 1_500)] {
        store.insert_job("ep", &j).await.unwrap();
        sqlite.insert_job("ep", j).await.unwrap().unwrap();
    }
    for (changes, outbox) in batches {
        store.record("ep", &changes, &outbox).await.unwrap();
        sqlite.record("ep", changes, outbox);
    }
    let out = serde_json::json!({"text": "done", "tokens": 12});
    store.set_output("ep", "j1", &out).await.unwrap();
    sqlite.set_output("ep", "j1", &out);
    sqlite.flush().await.unwrap();

    let (jobs, (transitions, colds)) = same(&store, &sqlite, "recorded").await;
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].record.status, JobStatus::Completed);
    assert_eq!(jobs[0].record.execution_time, Some(1_800.0), "ms, rounded");
    assert_eq!(jobs[0].output.as_ref(), Some(&out));
    assert_eq!(
        jobs[0].input,
        job("j1", 0).input,
        "an update keeps the input"
    );
    assert_eq!(transitions.len(), 5);
    assert_eq!(colds.len(), 1);
    let outbox = store.load_outbox("ep").await.unwrap();
    assert_eq!(
        outbox
            .iter()
            .map(|o| (o.job_id.as_str(), o.attempts, o.due_at))
            .collect::<Vec<_>>(),
        [("j1", 2, 23_100)]
    );
    assert_eq!(store.load_deliveries("ep").await.unwrap().len(), 2);

    store.prune("ep", 3_050).await.unwrap();
    sqlite.prune("ep", 3_050);
    sqlite.flush().await.unwrap();
    let (jobs, (transitions, colds)) = same(&store, &sqlite, "pruned").await;
    assert_eq!(
        jobs.iter()
            .map(|j| j.record.id.as_str())
            .collect::<Vec<_>>(),
        ["j2"],
        "the job that ended before the cut is gone, the queued one stays"
    );
    assert!(colds.is_empty());
    assert_eq!(
        transitions
            .iter()
            .map(|t| (t.worker_id.as_str(), t.at))
            .collect::<Vec<_>>(),
        [("w2", 500), ("w3", 2_000), ("w1", 3_000)],
        "each worker's last transition is kept"
    );
    drop(sqlite);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Loads everything from both stores, asserts they agree, returns PostgreSQL's.
async fn same(
    store: &endpoint_server::db::postgres::PgStore,
    sqlite: &endpoint_server::db::Db,
    what: &str,
) -> (
    Vec<endpoint_server::db::StoredJob>,
    (
        Vec<endpoint_core::WorkerTransition>,
        Vec<endpoint_core::ColdStart>,
    ),
) {
    let pg_jobs = store.load_jobs("ep").await.unwrap();
    assert_eq!(pg_jobs, sqlite.load_jobs("ep").unwrap(), "{what}: jobs");
    assert_eq!(
        store.load_deliveries("ep").await.unwrap(),
        sqlite.load_deliveries("ep").unwrap(),
        "{what}: deliveries"
    );
    assert_eq!(
        store.load_outbox("ep").await.unwrap(),
        sqlite.load_outbox("ep").unwrap(),
        "{what}: outbox"
    );
    let events = store.load_events("ep").await.unwrap();
    assert_eq!(events, sqlite.load_events("ep").unwrap(), "{what}: events");
    (pg_jobs, events)
}

/// `db = "postgres://..."` in the config file puts the server on PostgreSQL: a job
/// run through the API is in the database, and a restarted server (on the same
/// database, migrated already) still answers its status.
#[test]
fn the_config_file_puts_the_server_on_postgres() {
    let pg = Postgres::start();
    let dir = common::temp_dir("pg-config");
    let cfg = dir.join("server.toml");
    std::fs::write(
        &cfg,
        format!("db = \"{}\"\n[[endpoints]]\nid = \"local\"\n", pg.url),
    )
    .unwrap();
    let config = ["--config", cfg.to_str().unwrap()];
    let (mut server, addr) = common::start(config, None);
    let (code, body) = common::request(addr, "POST", "/v2/local/run", r#"{"input":{"k":1}}"#);
    assert_eq!(code, 200, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(server.stop(), "the server stops cleanly");
    let rows = pg
        .psql(&format!(
            "SELECT input::text FROM jobs WHERE endpoint_id = 'local' AND id = '{id}'"
        ))
        .unwrap();
    assert_eq!(rows, r#"{"k":1}"#, "the job is in PostgreSQL");
    let (_server, addr) = common::start(config, None);
    let (code, body) = common::request(addr, "GET", &format!("/v2/local/status/{id}"), "");
    assert_eq!(code, 200, "after a restart: {body}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A database that cannot be reached stops `serve` at start with the URL named, its
/// password left out (`ENDPOINT_SERVER_DB`, as a deployment would pass it).
#[test]
fn an_unreachable_postgres_is_a_clear_error_at_start() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_endpoint-server"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env(
            "ENDPOINT_SERVER_DB",
            format!("postgres://app:s3cret@127.0.0.1:{port}/metrics"),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("database postgres://app@127.0.0.1:{port}/metrics"))
            && err.contains("Connection refused"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "the password leaked: {err}");
}

/// The metrics feed's change sequence: two writers (two instances) recording at the
/// same time leave one sequence, numbered 1..N without a gap, each writer's changes in
/// its own order, each once; a follower reads it all, and a change committed later
/// reaches it through the notification (its fallback read is a minute away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_leave_one_gapless_change_sequence() {
    use endpoint_core::{WorkerState, WorkerTransition};
    use endpoint_server::db::postgres::PgStore;
    use endpoint_server::db::postgres::feed::{self, Tail};
    use endpoint_server::db::{Db, Location};
    use endpoint_sim::model::Change;
    let pg = Postgres::start();
    let location = Location::Postgres(pg.url.clone());
    let (a, b) = (
        Db::open_at(&location).unwrap(),
        Db::open_at(&location).unwrap(),
    );
    let change = |w: &str, at: i64| {
        Change::Transition(WorkerTransition {
            worker_id: w.to_string(),
            state: Some(WorkerState::Idle),
            at,
        })
    };
    const ROUNDS: i64 = 40;
    let writes: Vec<_> = [("a", a.clone()), ("b", b.clone())]
        .into_iter()
        .map(|(name, db)| {
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    // Three changes a call, as a tick records a few at a time.
                    let changes = (0..3).map(|k| change(name, i * 3 + k)).collect();
                    db.record_changes("ep", changes);
                    if i % 7 == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                }
            })
        })
        .collect();
    for w in writes {
        w.join().unwrap();
    }
    a.flush().await.unwrap();
    b.flush().await.unwrap();
    let total = 2 * 3 * ROUNDS;

    let store = PgStore::connect(&pg.url, 2).unwrap();
    assert_eq!(store.feed_head("ep").await.unwrap(), total);
    let listener = feed::Listener::start(&store).await.unwrap();
    let minute = std::time::Duration::from_secs(60);
    let mut tail = feed::follow(store.clone(), &listener, "ep".into(), 0, minute);
    let mut seen: Vec<(i64, Change)> = Vec::new();
    while (seen.len() as i64) < total {
        match tail.recv().await.unwrap() {
            Tail::Changes(rows) => seen.extend(rows),
            gap => panic!("unexpected {gap:?}"),
        }
    }
    assert_eq!(
        seen.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>(),
        "numbered without a gap"
    );
    for name in ["a", "b"] {
        let ats: Vec<i64> = seen
            .iter()
            .filter_map(|(_, c)| match c {
                Change::Transition(t) if t.worker_id == name => Some(t.at),
                _ => None,
            })
            .collect();
        assert_eq!(
            ats,
            (0..3 * ROUNDS).collect::<Vec<_>>(),
            "writer {name}: its changes once each, in its order"
        );
    }

    // Woken by the notification, not by the fallback read a minute later.
    a.record_changes("ep", vec![change("late", 1)]);
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), tail.recv())
        .await
        .expect("the notification woke the follower")
        .unwrap();
    assert_eq!(got, Tail::Changes(vec![(total + 1, change("late", 1))]));

    // Pruning trims the sequence to the newest feed::KEEP; a follower from before is
    // told it missed changes.
    pg.psql(&format!(
        "DELETE FROM feed_changes WHERE endpoint_id = 'ep' AND seq <= {}",
        total / 2
    ))
    .unwrap();
    let mut late = feed::follow(store.clone(), &listener, "ep".into(), 3, minute);
    assert_eq!(
        late.recv().await.unwrap(),
        Tail::Gap {
            after: 3,
            next: total / 2 + 1
        }
    );
}

/// One leader per endpoint: the first instance takes both endpoints, the second none;
/// when the leader's session ends (as when its process dies) the other instance takes
/// them at its next try, and the old leader reports them lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_when_the_leaders_session_ends() {
    use endpoint_server::db::postgres::PgStore;
    use endpoint_server::db::postgres::leader::{Leadership, campaign};
    use std::time::{Duration, Instant};
    let pg = Postgres::start();
    let store = PgStore::connect(&pg.url, 2).unwrap();
    let endpoints = ["e1".to_string(), "e2".to_string()];
    let retry = Duration::from_millis(200);
    let until = async |what: &str, done: &dyn Fn() -> bool| {
        let end = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < end, "{what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // What a server does with a lead it loses: stops the endpoint, then says so (a
    // handover waits for it). Aborted with the instance.
    let serve = |l: &Leadership| -> Vec<tokio::task::JoinHandle<()>> {
        endpoints
            .iter()
            .map(|e| {
                let (mut held, l, e) = (l.watch(e).unwrap(), l.clone(), e.clone());
                tokio::spawn(async move {
                    while held.wait_for(|&h| h).await.is_ok() {
                        if held.wait_for(|&h| !h).await.is_err() {
                            return;
                        }
                        l.stopped(&e);
                    }
                })
            })
            .collect()
    };
    let a = campaign(store.clone(), &endpoints, retry);
    serve(&a);
    until("A leads both", &|| a.leads("e1") && a.leads("e2")).await;
    // B joins: A hands one endpoint over (its share is now one of two).
    let b = campaign(store.clone(), &endpoints, retry);
    let b_tasks = serve(&b);
    let split = || {
        endpoints.iter().all(|e| a.leads(e) != b.leads(e))
            && endpoints.iter().filter(|e| a.leads(e)).count() == 1
    };
    until("each leads one", &split).await;
    tokio::time::sleep(retry * 5).await;
    assert!(split(), "the split did not hold");
    let (mine, theirs) = if a.leads("e1") {
        ("e1", "e2")
    } else {
        ("e2", "e1")
    };

    // A's session ends (its locks with it): found by the lock of the endpoint it leads.
    let ended = pg
        .psql(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks
             WHERE locktype = 'advisory' AND objsubid = 1 AND granted
               AND ((classid::bigint << 32) | objid::bigint)
                   = hashtextextended('endpoint-server/leader/{mine}', 0)"
        ))
        .unwrap();
    assert_eq!(ended, "1", "one session holds A's lock");
    let moved = Instant::now();
    until("B takes A's endpoint", &|| b.leads(mine)).await;
    println!("leadership moved in {:?}", moved.elapsed());
    assert!(b.leads(theirs), "B kept its own");
    until("A knows it lost it", &|| !a.leads(mine)).await;
    // A is back (reconnected): the endpoints are split again, each led once.
    until("each leads one again", &split).await;

    // B goes away entirely: A takes both.
    b_tasks.iter().for_each(|t| t.abort());
    drop(b);
    until("A leads both again", &|| a.leads("e1") && a.leads("e2")).await;
}

/// Fencing: once another instance recorded itself as an endpoint's leader, the old
/// leader's writes of that endpoint are refused (its acknowledgements fail, nothing
/// lands), while its writes of other endpoints, even in the same group, go in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_leaders_writes_are_refused_once_another_took_the_endpoint() {
    use endpoint_core::{WorkerState, WorkerTransition};
    use endpoint_server::db::postgres::{Fence, PgStore};
    use endpoint_server::db::{Db, Location};
    use endpoint_sim::model::Change;
    let pg = Postgres::start();
    let a = Db::open_at(&Location::Postgres(pg.url.clone())).unwrap();
    let store = PgStore::connect(&pg.url, 2).unwrap();
    let term = |url: &str, since| Fence {
        url: url.to_string(),
        since,
    };
    store.set_leader("ep", "http://a", 1).await.unwrap();
    a.fence("ep", term("http://a", 1));
    a.insert_job("ep", job("j1", 1_000)).await.unwrap().unwrap();

    // B takes the endpoint (what its takeover writes before it opens the endpoint).
    store.set_leader("ep", "http://b", 2).await.unwrap();
    let refused = a.insert_job("ep", job("j2", 2_000));
    // In the same group: another endpoint's job, not fenced.
    let other = a.insert_job("other", job("j3", 3_000));
    a.record_changes(
        "ep",
        vec![Change::Transition(WorkerTransition {
            worker_id: "w".into(),
            state: Some(WorkerState::Idle),
            at: 5,
        })],
    );
    let err = refused.await.unwrap().unwrap_err();
    assert!(
        err.contains("no longer leads") && err.contains("ep"),
        "{err}"
    );
    other.await.unwrap().unwrap();
    a.flush().await.unwrap();
    let ids = |jobs: Vec<endpoint_server::db::StoredJob>| {
        jobs.into_iter().map(|j| j.record.id).collect::<Vec<_>>()
    };
    assert_eq!(ids(store.load_jobs("ep").await.unwrap()), ["j1"]);
    assert_eq!(ids(store.load_jobs("other").await.unwrap()), ["j3"]);
    assert!(store.load_events("ep").await.unwrap().0.is_empty());
    assert_eq!(
        store.feed_head("ep").await.unwrap(),
        0,
        "nothing in the sequence"
    );

    // B's own writes, under its term, go in.
    let b = Db::open_at(&Location::Postgres(pg.url.clone())).unwrap();
    b.fence("ep", term("http://b", 2));
    b.insert_job("ep", job("j4", 4_000)).await.unwrap().unwrap();
    assert_eq!(ids(store.load_jobs("ep").await.unwrap()), ["j1", "j4"]);
}
