//! The PostgreSQL the scale-out tests run against (issue 15): a real cluster from
//! Debian's packages, started unprivileged in a temporary directory. This file checks
//! the harness itself; the backend's tests build on it.

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
    use endpoint_server::postgres::{MIGRATIONS, PgError, PgStore};
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
