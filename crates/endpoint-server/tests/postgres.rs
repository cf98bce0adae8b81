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
