//! The SQLite backend, the embedded default: one file in WAL mode.
//!
//! One writer thread owns the connection and commits in groups: whatever arrived while
//! the previous transaction committed goes into the next one, so many concurrent
//! `/run` calls share one fsync-free WAL commit instead of queueing behind each other.
//! A `/run` is acknowledged only after the transaction holding its job committed, so an
//! acknowledged job survives `kill -9` of the server (WAL with `synchronous = NORMAL`
//! is durable against process crashes; an OS crash may lose the last commits).
//!
//! Checkpoints (copying the WAL back into the database file) are off the commit path:
//! the writer's connection never checkpoints (`wal_autocheckpoint = 0`), and a
//! checkpointer thread with its own connection runs a `PASSIVE` checkpoint every
//! [`CHECKPOINT_EVERY`], which waits for no one and blocks no writer; the writer
//! itself only finishes a WAL reset between commits ([`checkpointer`]). SQLite's own
//! automatic checkpoint runs inside the commit that crosses 1,000 WAL pages, and that
//! commit, with every `/run` grouped into it, waited for it: the p99 of `/run` under
//! load (docs/benchmarks.md).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use endpoint_core::{ColdStart, JobRecord, WebhookDelivery, WebhookSummary, WorkerTransition};
use endpoint_sim::model::Change;
use rusqlite::{Connection, params};
use serde_json::Value;

use super::{Cmd, DbError, Outbox, OutboxOp, StoredJob, next_batch, parse_status, state_name};

/// The schema, version 1.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    endpoint_id     TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    submitted_at    BIGINT  NOT NULL,
    started_at      BIGINT,
    completed_at    BIGINT,
    delay_ms        BIGINT,
    execution_ms    BIGINT,
    worker_id       TEXT,
    retries         INTEGER NOT NULL DEFAULT 0,
    webhook_summary TEXT,
    error           TEXT,
    input           TEXT    NOT NULL,
    webhook_url     TEXT,
    policy          TEXT,
    output          TEXT,              -- a real worker's output (JSON)
    PRIMARY KEY (endpoint_id, id)
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (endpoint_id, submitted_at);
CREATE TABLE IF NOT EXISTS worker_events (
    seq          INTEGER PRIMARY KEY,
    endpoint_id  TEXT    NOT NULL,
    kind         TEXT    NOT NULL,  -- 'transition' | 'cold_start'
    worker_id    TEXT    NOT NULL,
    at           BIGINT  NOT NULL,  -- transition time, or readyAt of a cold start
    state        TEXT,              -- transition: new state, NULL = stopped
    started_at   BIGINT,            -- cold start: container start
    duration_ms  DOUBLE PRECISION   -- cold start: readyAt - startedAt
);
CREATE INDEX IF NOT EXISTS worker_events_by_time ON worker_events (endpoint_id, at);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    seq          INTEGER PRIMARY KEY,
    endpoint_id  TEXT    NOT NULL,
    job_id       TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    at           BIGINT  NOT NULL,
    http_status  INTEGER,
    error        TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_time ON webhook_deliveries (endpoint_id, at);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    endpoint_id  TEXT    NOT NULL,
    job_id       TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    payload      TEXT    NOT NULL,  -- the /status body posted
    attempts     INTEGER NOT NULL,  -- attempts made and recorded
    due_at       BIGINT  NOT NULL,  -- when the next attempt is due
    PRIMARY KEY (endpoint_id, job_id)
);
";

/// How often the checkpointer copies the WAL into the database file.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The SQLite side of a [`super::Db`]: the file, and what its threads share.
#[derive(Debug)]
pub(super) struct Sqlite {
    path: PathBuf,
    /// Dropped with the last handle: the checkpointer then stops.
    _checkpointer: mpsc::Sender<()>,
    wal: Arc<Wal>,
}

/// What the writer and the checkpointer share about the WAL (see [`checkpointer`]).
#[derive(Debug)]
struct Wal {
    /// A WAL longer than this many pages is started again from its beginning.
    reset_pages: i64,
    /// Set by the checkpointer: the writer finishes a reset after its next commit.
    reset: AtomicBool,
    /// Resets the writer finished.
    writer_resets: AtomicU64,
    /// `RESTART` checkpoints the checkpointer fell back to.
    restarts: AtomicU64,
}

fn open(path: &Path) -> Result<Connection, DbError> {
    let err = |source| DbError::Sqlite {
        path: path.display().to_string(),
        source,
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    conn.pragma_update(None, "busy_timeout", 5_000)
        .map_err(err)?;
    conn.execute_batch(SCHEMA).map_err(err)?;
    // Version 2 added jobs.output; a version 1 file gets the column.
    let has_output = conn
        .prepare("SELECT 1 FROM pragma_table_info('jobs') WHERE name = 'output'")
        .and_then(|mut s| s.exists([]))
        .map_err(err)?;
    if !has_output {
        conn.execute_batch("ALTER TABLE jobs ADD COLUMN output TEXT")
            .map_err(err)?;
    }
    Ok(conn)
}

impl Sqlite {
    /// Opens (or creates) the database at `path` and starts its writer and
    /// checkpointer threads; returns the writer's queue.
    pub(super) fn start(
        path: PathBuf,
        reset_pages: i64,
    ) -> Result<(Self, mpsc::Sender<Cmd>), DbError> {
        let conn = open(&path)?;
        let (tx, rx) = mpsc::channel();
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(|source| DbError::Sqlite {
                path: path.display().to_string(),
                source,
            })?;
        let checkpoints = open(&path)?;
        let wal = Arc::new(Wal {
            reset_pages,
            reset: AtomicBool::new(false),
            writer_resets: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
        });
        let (p, r) = (path.clone(), wal.clone());
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || writer(conn, rx, r, p))
            .map_err(|_| DbError::WriterGone)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let (p, w) = (path.clone(), wal.clone());
        std::thread::Builder::new()
            .name("db-checkpointer".into())
            .spawn(move || checkpointer(checkpoints, stopped, w, p))
            .map_err(|_| DbError::WriterGone)?;
        Ok((
            Sqlite {
                path,
                _checkpointer: stop,
                wal,
            },
            tx,
        ))
    }

    /// WAL resets so far: finished by the writer between commits, and `RESTART`
    /// checkpoints (the fallback that blocks commits).
    pub(super) fn wal_resets(&self) -> (u64, u64) {
        (
            self.wal.writer_resets.load(Ordering::Relaxed),
            self.wal.restarts.load(Ordering::Relaxed),
        )
    }

    /// The database file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// A read connection of its own (loads happen at start-up, beside the writer).
    fn reader(&self) -> Result<Connection, DbError> {
        open(&self.path)
    }

    /// SQLite's error, with the file it is about.
    fn err(&self, source: rusqlite::Error) -> DbError {
        DbError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Every stored job of `endpoint`, in submission order (a separate read connection).
    pub(super) fn load_jobs(&self, endpoint: &str) -> Result<Vec<StoredJob>, DbError> {
        let conn = self.reader()?;
        let err = |source| self.err(source);
        let mut stmt = conn
            .prepare(
                "SELECT id, status, submitted_at, started_at, completed_at, delay_ms, execution_ms,
                        worker_id, retries, webhook_summary, error, input, webhook_url, policy, output
                 FROM jobs WHERE endpoint_id = ?1 ORDER BY submitted_at, rowid",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![endpoint], |row| {
                let status: String = row.get(1)?;
                let webhook: Option<String> = row.get(9)?;
                let input: String = row.get(11)?;
                let policy: Option<String> = row.get(13)?;
                let output: Option<String> = row.get(14)?;
                Ok(StoredJob {
                    record: JobRecord {
                        id: row.get(0)?,
                        status: parse_status(&status),
                        submitted_at: row.get(2)?,
                        started_at: row.get(3)?,
                        completed_at: row.get(4)?,
                        delay_time: row.get::<_, Option<i64>>(5)?.map(|v| v as f64),
                        execution_time: row.get::<_, Option<i64>>(6)?.map(|v| v as f64),
                        worker_id: row.get(7)?,
                        retries: row.get::<_, i64>(8)?.clamp(0, 255) as u8,
                        webhook: webhook
                            .and_then(|w| serde_json::from_str::<WebhookSummary>(&w).ok()),
                        error: row.get(10)?,
                    },
                    input: serde_json::from_str(&input).unwrap_or(Value::Null),
                    webhook_url: row.get(12)?,
                    policy: policy.and_then(|p| serde_json::from_str(&p).ok()),
                    output: output.and_then(|o| serde_json::from_str(&o).ok()),
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// Every recorded webhook attempt of `endpoint`, in time order.
    pub(super) fn load_deliveries(&self, endpoint: &str) -> Result<Vec<WebhookDelivery>, DbError> {
        let conn = self.reader()?;
        let err = |source| self.err(source);
        let mut stmt = conn
            .prepare(
                "SELECT job_id, attempt, at, http_status, error FROM webhook_deliveries
                 WHERE endpoint_id = ?1 ORDER BY at, seq",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![endpoint], |row| {
                Ok(WebhookDelivery {
                    job_id: row.get(0)?,
                    attempt: row.get::<_, i64>(1)?.clamp(0, 255) as u8,
                    at: row.get(2)?,
                    status: row
                        .get::<_, Option<i64>>(3)?
                        .and_then(|s| u16::try_from(s).ok()),
                    error: row.get(4)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// The webhook deliveries `endpoint` still owes, soonest due first.
    pub(super) fn load_outbox(&self, endpoint: &str) -> Result<Vec<Outbox>, DbError> {
        let conn = self.reader()?;
        let err = |source| self.err(source);
        let mut stmt = conn
            .prepare(
                "SELECT job_id, url, payload, attempts, due_at FROM webhook_outbox
                 WHERE endpoint_id = ?1 ORDER BY due_at, job_id",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![endpoint], |row| {
                Ok(Outbox {
                    job_id: row.get(0)?,
                    url: row.get(1)?,
                    payload: row.get(2)?,
                    attempts: row.get::<_, i64>(3)?.clamp(0, 255) as u8,
                    due_at: row.get(4)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// Worker transitions and cold starts of `endpoint`, in time order.
    pub(super) fn load_events(
        &self,
        endpoint: &str,
    ) -> Result<(Vec<WorkerTransition>, Vec<ColdStart>), DbError> {
        let conn = self.reader()?;
        let err = |source| self.err(source);
        let mut stmt = conn
            .prepare(
                "SELECT kind, worker_id, at, state, started_at, duration_ms FROM worker_events
                 WHERE endpoint_id = ?1 ORDER BY at, seq",
            )
            .map_err(err)?;
        let mut rows = stmt.query(params![endpoint]).map_err(err)?;
        let mut transitions = Vec::new();
        let mut cold_starts = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let kind: String = row.get(0).map_err(err)?;
            let worker_id: String = row.get(1).map_err(err)?;
            let at: i64 = row.get(2).map_err(err)?;
            if kind == "transition" {
                let state: Option<String> = row.get(3).map_err(err)?;
                let state = state.and_then(|s| serde_json::from_value(Value::String(s)).ok());
                transitions.push(WorkerTransition {
                    worker_id,
                    state,
                    at,
                });
            } else {
                cold_starts.push(ColdStart {
                    worker_id,
                    started_at: row.get::<_, Option<i64>>(4).map_err(err)?.unwrap_or(at),
                    ready_at: at,
                    duration: row.get::<_, Option<f64>>(5).map_err(err)?.unwrap_or(0.0),
                });
            }
        }
        Ok((transitions, cold_starts))
    }
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Cmd>, wal: Arc<Wal>, path: PathBuf) {
    while let Some(batch) = next_batch(&rx) {
        let result = commit(&mut conn, &batch).map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "database write failed");
            e.to_string()
        });
        for cmd in batch {
            cmd.settle(&result);
        }
        // After the acknowledgements: this batch's callers do not wait for it.
        if wal.reset.swap(false, Ordering::Acquire) && finish_reset(&conn) {
            wal.writer_resets.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A WAL longer than this (4 KB pages, so 64 MB) is started again from its beginning.
/// At 25,000 durable `/run` a second that is about every 2 s.
pub(super) const WAL_RESET_PAGES: i64 = 16_384;

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] until every [`Db`]
/// handle is gone. `PASSIVE`: it copies what no reader still needs and never waits,
/// so the writer is never held up.
///
/// The WAL starts again from its beginning only when a checkpoint copied everything
/// before the next commit. Under continuous commits a checkpoint from this thread never
/// does (each ends behind the frames written meanwhile), and the WAL would grow without
/// end. A `RESTART` checkpoint resets it but blocks commits while it copies and syncs
/// (12-26 ms measured, every ~2 s at 25,000 /run a second: the p99 once pauses are
/// counted, docs/benchmarks.md). Instead, once the log is long, this thread copies
/// until little is left and asks the writer to finish (`reset`): the writer runs one
/// more `PASSIVE` between two group commits, when nothing else writes, so it copies
/// only the last few milliseconds of frames and its next commit restarts the WAL.
/// `RESTART` remains for when the writer could not (a reader holding an old snapshot).
fn checkpointer(conn: Connection, stop: mpsc::Receiver<()>, wal: Arc<Wal>, path: PathBuf) {
    let passive = || {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        })
    };
    // The writer's count of finished resets when this thread last asked for one.
    let mut asked: Option<u64> = None;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let finished = wal.writer_resets.load(Ordering::Relaxed);
        let failed = asked.take().is_some_and(|n| n == finished);
        match passive() {
            Ok((log, _)) if failed && log > wal.reset_pages => {
                tracing::debug!(
                    log,
                    "the writer could not reset the WAL (a reader?): restart checkpoint"
                );
                let _ = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
                wal.restarts.fetch_add(1, Ordering::Relaxed);
            }
            Ok((log, mut done)) if log > wal.reset_pages => {
                // Each pass copies what the previous one left, so the rest shrinks to
                // what a few milliseconds of commits write.
                let mut last = log;
                for _ in 0..3 {
                    match passive() {
                        Ok((l, d)) if l >= last => (last, done) = (l, d),
                        _ => break,
                    }
                }
                tracing::debug!(log = last, left = last - done, "WAL long: writer resets it");
                asked = Some(finished);
                wal.reset.store(true, Ordering::Release);
            }
            Ok((log, done)) => tracing::trace!(log, done, "checkpoint"),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "checkpoint failed"),
        }
    }
}

/// The writer's part of a WAL reset (see [`checkpointer`]): between two group commits,
/// copy the frames the checkpointer left, so the next commit starts the WAL again.
/// False if it could not copy them all (a reader still uses them).
fn finish_reset(conn: &Connection) -> bool {
    let t = std::time::Instant::now();
    let r = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    tracing::debug!(result = ?r, ms = t.elapsed().as_secs_f64() * 1e3, "writer checkpoint");
    matches!(r, Ok((log, done)) if done == log)
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn commit(conn: &mut Connection, batch: &[Cmd]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        // One upsert for new jobs and for updates: the request's input, webhook URL and
        // policy are written with the job and never changed afterwards.
        let mut upsert = tx.prepare_cached(
            "INSERT INTO jobs (endpoint_id, id, status, submitted_at, started_at, completed_at, delay_ms,
                               execution_ms, worker_id, retries, webhook_summary, error, input, webhook_url, policy)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
             ON CONFLICT (endpoint_id, id) DO UPDATE SET
                status = excluded.status, submitted_at = excluded.submitted_at,
                started_at = excluded.started_at, completed_at = excluded.completed_at,
                delay_ms = excluded.delay_ms, execution_ms = excluded.execution_ms,
                worker_id = excluded.worker_id, retries = excluded.retries,
                webhook_summary = excluded.webhook_summary, error = excluded.error",
        )?;
        let mut transition = tx.prepare_cached(
            "INSERT INTO worker_events (endpoint_id, kind, worker_id, at, state) VALUES (?1, 'transition', ?2, ?3, ?4)",
        )?;
        let mut cold = tx.prepare_cached(
            "INSERT INTO worker_events (endpoint_id, kind, worker_id, at, started_at, duration_ms)
             VALUES (?1, 'cold_start', ?2, ?3, ?4, ?5)",
        )?;
        let mut delivery = tx.prepare_cached(
            "INSERT INTO webhook_deliveries (endpoint_id, job_id, attempt, at, http_status, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut owe = tx.prepare_cached(
            "INSERT INTO webhook_outbox (endpoint_id, job_id, url, payload, attempts, due_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (endpoint_id, job_id) DO UPDATE SET
                url = excluded.url, payload = excluded.payload,
                attempts = excluded.attempts, due_at = excluded.due_at",
        )?;
        let mut retry = tx.prepare_cached(
            "UPDATE webhook_outbox SET attempts = ?3, due_at = ?4 WHERE endpoint_id = ?1 AND job_id = ?2",
        )?;
        let mut settle =
            tx.prepare_cached("DELETE FROM webhook_outbox WHERE endpoint_id = ?1 AND job_id = ?2")?;
        let ms = |v: Option<f64>| v.map(|x| x.round() as i64);
        let mut write_job = |endpoint: &str, r: &JobRecord, request: Option<&StoredJob>| {
            upsert.execute(params![
                endpoint,
                r.id,
                r.status.as_str(),
                r.submitted_at,
                r.started_at,
                r.completed_at,
                ms(r.delay_time),
                ms(r.execution_time),
                r.worker_id,
                r.retries,
                r.webhook.as_ref().map(json),
                r.error,
                request.map_or_else(|| "{}".to_string(), |j| json(&j.input)),
                request.and_then(|j| j.webhook_url.clone()),
                request.and_then(|j| j.policy.as_ref().map(json)),
            ])
        };
        for cmd in batch {
            match cmd {
                Cmd::Insert { endpoint, job, .. } => {
                    write_job(endpoint, &job.record, Some(job))?;
                }
                Cmd::Changes {
                    endpoint,
                    changes,
                    outbox,
                } => {
                    for op in outbox {
                        match op {
                            OutboxOp::Owe(o) => {
                                owe.execute(params![
                                    endpoint, o.job_id, o.url, o.payload, o.attempts, o.due_at
                                ])?;
                            }
                            OutboxOp::Retry {
                                job_id,
                                attempts,
                                due_at,
                            } => {
                                retry.execute(params![endpoint, job_id, attempts, due_at])?;
                            }
                            OutboxOp::Settle { job_id } => {
                                settle.execute(params![endpoint, job_id])?;
                            }
                        }
                    }
                    for c in changes {
                        match c {
                            Change::Job(r) => {
                                write_job(endpoint, r, None)?;
                            }
                            Change::Transition(t) => {
                                transition.execute(params![
                                    endpoint,
                                    t.worker_id,
                                    t.at,
                                    t.state.map(state_name)
                                ])?;
                            }
                            Change::ColdStart(c) => {
                                cold.execute(params![
                                    endpoint,
                                    c.worker_id,
                                    c.ready_at,
                                    c.started_at,
                                    c.duration
                                ])?;
                            }
                            Change::Delivery(d) => {
                                delivery.execute(params![
                                    endpoint, d.job_id, d.attempt, d.at, d.status, d.error
                                ])?;
                            }
                        }
                    }
                }
                Cmd::Flush(_) => {}
                Cmd::Output {
                    endpoint,
                    id,
                    output,
                } => {
                    tx.execute(
                        "UPDATE jobs SET output = ?3 WHERE endpoint_id = ?1 AND id = ?2",
                        params![endpoint, id, json(output)],
                    )?;
                }
                Cmd::Prune { endpoint, before } => {
                    tx.execute(
                        "DELETE FROM jobs WHERE endpoint_id = ?1 AND completed_at IS NOT NULL AND completed_at < ?2",
                        params![endpoint, before],
                    )?;
                    tx.execute(
                        "DELETE FROM worker_events WHERE endpoint_id = ?1 AND kind = 'cold_start' AND at < ?2",
                        params![endpoint, before],
                    )?;
                    // Keep each worker's last transition: it says whether the worker is alive.
                    tx.execute(
                        "DELETE FROM worker_events WHERE endpoint_id = ?1 AND kind = 'transition' AND at < ?2
                           AND seq NOT IN (SELECT MAX(seq) FROM worker_events
                                           WHERE endpoint_id = ?1 AND kind = 'transition' GROUP BY worker_id)",
                        params![endpoint, before],
                    )?;
                    tx.execute(
                        "DELETE FROM webhook_deliveries WHERE endpoint_id = ?1 AND at < ?2",
                        params![endpoint, before],
                    )?;
                }
            }
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use endpoint_core::{JobStatus, WorkerState};

    fn temp_db(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("endpoint-server-db-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("endpoint.db")
    }

    /// The checkpointer keeps the WAL small while the writer never checkpoints: 4
    /// rounds of 4 MB of jobs, a pause of two [`CHECKPOINT_EVERY`] after each.
    /// Without the checkpointer the WAL holds all 16 MB.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_checkpointed_off_the_commit_path() {
        let path = temp_db("checkpoint");
        let db = Db::open(&path).unwrap();
        let pad = "x".repeat(4_000);
        let mut written = 0;
        for round in 0..4 {
            let mut acks = Vec::new();
            for i in 0..1_000 {
                let job = StoredJob {
                    record: JobRecord::queued(format!("j{round}-{i}"), 1_000),
                    input: serde_json::json!({"pad": pad}),
                    webhook_url: None,
                    policy: None,
                    output: None,
                };
                written += pad.len();
                acks.push(db.insert_job("local", job));
            }
            for a in acks {
                a.await.unwrap().unwrap();
            }
            tokio::time::sleep(CHECKPOINT_EVERY * 2).await;
        }
        let wal = std::fs::metadata(path.with_extension("db-wal"))
            .unwrap()
            .len() as usize;
        assert!(
            wal < written / 2,
            "WAL {wal} bytes after {written} bytes written"
        );
        drop(db);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// Under commits that never pause, no checkpoint from the checkpointer's thread
    /// ends with the WAL all copied, so it would never start again from its beginning:
    /// the writer finishes the resets between commits, and the RESTART fallback (which
    /// blocks commits) is not needed. A 1 MB threshold here instead of 64 MB.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn continuous_commits_reset_the_wal_from_the_writer() {
        let path = temp_db("continuous");
        let db = Db::open_with(path.clone(), 256).unwrap();
        let pad = "x".repeat(200);
        let mut i = 0;
        let start = std::time::Instant::now();
        while start.elapsed() < CHECKPOINT_EVERY * 6 {
            let mut acks = Vec::new();
            for _ in 0..32 {
                i += 1;
                let job = StoredJob {
                    record: JobRecord::queued(format!("j{i}"), 1_000),
                    input: serde_json::json!({"pad": pad}),
                    webhook_url: None,
                    policy: None,
                    output: None,
                };
                acks.push(db.insert_job("local", job));
            }
            for a in acks {
                a.await.unwrap().unwrap();
            }
        }
        let (writer_resets, restarts) = db.wal_resets();
        assert!(
            writer_resets >= 2 && restarts == 0,
            "{writer_resets} writer resets, {restarts} restarts ({i} jobs)"
        );
        drop(db);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn insert_update_and_load_round_trip() {
        let path = temp_db("roundtrip");
        let db = Db::open(&path).unwrap();
        let mut r = JobRecord::queued("j1", 1_000);
        db.insert_job(
            "local",
            StoredJob {
                record: r.clone(),
                input: serde_json::json!({"sleepMs": 5}),
                webhook_url: Some("https://example.com/h".into()),
                policy: Some(serde_json::json!({"ttl": 5})),
                output: None,
            },
        )
        .await
        .unwrap()
        .unwrap();
        r.status = JobStatus::Completed;
        r.started_at = Some(1_100);
        r.completed_at = Some(1_200);
        r.delay_time = Some(100.0);
        r.execution_time = Some(100.0);
        r.worker_id = Some("w".into());
        r.webhook = Some(WebhookSummary {
            attempts: 1,
            last_status: Some(200),
            last_error: None,
            delivered: true,
        });
        db.record_changes(
            "local",
            vec![
                Change::Job(r.clone()),
                Change::Transition(WorkerTransition {
                    worker_id: "w".into(),
                    state: Some(WorkerState::Idle),
                    at: 5,
                }),
                Change::Transition(WorkerTransition {
                    worker_id: "x".into(),
                    state: None,
                    at: 6,
                }),
            ],
        );
        db.flush().await.unwrap();
        // A fresh handle on the same file sees everything.
        let db2 = Db::open(&path).unwrap();
        let jobs = db2.load_jobs("local").unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].record, r);
        assert_eq!(jobs[0].input["sleepMs"], 5);
        assert_eq!(
            jobs[0].webhook_url.as_deref(),
            Some("https://example.com/h")
        );
        let (transitions, _) = db2.load_events("local").unwrap();
        assert_eq!(transitions.len(), 2);
        assert_eq!(transitions[1].state, None);
        assert!(db2.load_jobs("other").unwrap().is_empty());
        drop((db, db2));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn an_unwritable_path_is_a_clear_error() {
        let e = Db::open("/proc/definitely/not/here.db").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("database /proc/definitely/not/here.db"),
            "{e}"
        );
    }
}
