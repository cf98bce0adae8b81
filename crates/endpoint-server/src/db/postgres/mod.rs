//! The PostgreSQL backend: the same records as the SQLite store ([`super::sqlite`]),
//! in a database several instances can share (`serve --db postgres://...`).
//!
//! What is here: a connection pool (`deadpool-postgres` over `tokio-postgres`), the
//! versioned migrations, the writer ([`PgBackend`]: group commits, each one
//! transaction whose statements are pipelined; a `/run` is answered after its commit),
//! and the loads at start; the metrics feed's change sequence ([`feed`]) and each
//! endpoint's leadership ([`leader`]), on which several instances share the database
//! (`crate::cluster`). Each endpoint's queue lives in its leader's memory, as with
//! SQLite, and PostgreSQL keeps every change (docs/architecture.md says why).
//!
//! Migrations are numbered and applied in order, each once, in one transaction that
//! holds a transaction-level advisory lock, so instances starting together never
//! apply one twice; a database migrated by a newer server is refused with both
//! versions named rather than used by a server that does not know its tables.
//!
//! JSON the user sent (input, policy, output) is stored as `json`, not `jsonb`: `json`
//! keeps the text as given (key order, duplicates), so a job reads back exactly as the
//! SQLite store returns it; nothing queries inside it.

pub mod feed;
pub mod leader;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use endpoint_core::{
    ColdStart, JobRecord, WebhookDelivery, WebhookSummary, WorkerState, WorkerTransition,
};
use endpoint_sim::model::Change;
use serde_json::Value;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use super::{Cmd, DbError, Outbox, OutboxOp, StoredJob, next_batch, parse_status, state_name};

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`. Append only; never
/// edit one that shipped.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "jobs, worker events, webhook deliveries and the webhook outbox",
        "
CREATE TABLE jobs (
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
    webhook_summary JSON,
    error           TEXT,
    input           JSON    NOT NULL,
    webhook_url     TEXT,
    policy          JSON,
    output          JSON,
    seq             BIGSERIAL,
    PRIMARY KEY (endpoint_id, id)
);
CREATE INDEX jobs_by_time ON jobs (endpoint_id, submitted_at);
CREATE TABLE worker_events (
    seq          BIGSERIAL PRIMARY KEY,
    endpoint_id  TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    worker_id    TEXT    NOT NULL,
    at           BIGINT  NOT NULL,
    state        TEXT,
    started_at   BIGINT,
    duration_ms  DOUBLE PRECISION
);
CREATE INDEX worker_events_by_time ON worker_events (endpoint_id, at);
CREATE TABLE webhook_deliveries (
    seq          BIGSERIAL PRIMARY KEY,
    endpoint_id  TEXT    NOT NULL,
    job_id       TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    at           BIGINT  NOT NULL,
    http_status  INTEGER,
    error        TEXT
);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (endpoint_id, at);
CREATE TABLE webhook_outbox (
    endpoint_id  TEXT    NOT NULL,
    job_id       TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    due_at       BIGINT  NOT NULL,
    PRIMARY KEY (endpoint_id, job_id)
);
",
    ),
    (
        "the metrics feed's change sequence, and where each endpoint's leader is",
        "
CREATE TABLE leaders (
    endpoint_id  TEXT    PRIMARY KEY,
    url          TEXT    NOT NULL,
    since        BIGINT  NOT NULL
);
CREATE TABLE feed_heads (
    endpoint_id  TEXT    PRIMARY KEY,
    seq          BIGINT  NOT NULL
);
CREATE TABLE feed_changes (
    endpoint_id  TEXT    NOT NULL,
    seq          BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    body         JSON    NOT NULL,
    PRIMARY KEY (endpoint_id, seq)
);
",
    ),
];

/// One bound statement parameter.
type Param = Box<dyn ToSql + Sync + Send>;

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Inserts jobs given as one array per column (`$1` to `$16`, see [`Rows::job_columns`]).
macro_rules! insert_jobs {
    () => {
        "INSERT INTO jobs (endpoint_id, id, status, submitted_at, started_at,
        completed_at, delay_ms, execution_ms, worker_id, retries, webhook_summary, error, input,
        webhook_url, policy, output)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[],
        $6::int8[], $7::int8[], $8::int8[], $9::text[], $10::int4[], $11::json[], $12::text[],
        $13::json[], $14::text[], $15::json[], $16::json[])"
    };
}

/// One upsert for new jobs and for updates of a whole group, as the SQLite writer has
/// one: the request's input, webhook URL and policy are written with the job and never
/// changed afterwards. Each job appears once in a group (its last record).
const UPSERT_JOBS: &str = concat!(
    insert_jobs!(),
    "
     ON CONFLICT (endpoint_id, id) DO UPDATE SET
        status = excluded.status, submitted_at = excluded.submitted_at,
        started_at = excluded.started_at, completed_at = excluded.completed_at,
        delay_ms = excluded.delay_ms, execution_ms = excluded.execution_ms,
        worker_id = excluded.worker_id, retries = excluded.retries,
        webhook_summary = excluded.webhook_summary, error = excluded.error"
);
/// A group's worker events (transitions and cold starts), in order.
const EVENTS: &str =
    "INSERT INTO worker_events (endpoint_id, kind, worker_id, at, state, started_at, duration_ms)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[],
        $6::int8[], $7::float8[])";
/// A group's webhook attempts, in order.
const DELIVERIES: &str =
    "INSERT INTO webhook_deliveries (endpoint_id, job_id, attempt, at, http_status, error)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::int8[], $5::int4[],
        $6::text[])";
const OWE: &str = "INSERT INTO webhook_outbox (endpoint_id, job_id, url, payload, attempts, due_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (endpoint_id, job_id) DO UPDATE SET
        url = excluded.url, payload = excluded.payload,
        attempts = excluded.attempts, due_at = excluded.due_at";
const RETRY: &str =
    "UPDATE webhook_outbox SET attempts = $3, due_at = $4 WHERE endpoint_id = $1 AND job_id = $2";
const SETTLE: &str = "DELETE FROM webhook_outbox WHERE endpoint_id = $1 AND job_id = $2";
const OUTPUT: &str = "UPDATE jobs SET output = $3 WHERE endpoint_id = $1 AND id = $2";
/// Share-locks endpoint `$1`'s row in `leaders` if it still names this instance's
/// term (URL `$2`, taken at `$3`).
const FENCE: &str =
    "SELECT 1 FROM leaders WHERE endpoint_id = $1 AND url = $2 AND since = $3 FOR SHARE";

/// The term of this instance's lead of an endpoint: its row in `leaders` when it took
/// the endpoint. Writes of the endpoint are refused once the row says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// This instance's URL.
    pub url: String,
    /// When it took the endpoint, ms since the epoch.
    pub since: i64,
}

/// What pruning deletes, in order (each with `$1` the endpoint and `$2` the cut).
const PRUNE: [&str; 4] = [
    "DELETE FROM jobs WHERE endpoint_id = $1 AND completed_at IS NOT NULL AND completed_at < $2",
    "DELETE FROM worker_events WHERE endpoint_id = $1 AND kind = 'cold_start' AND at < $2",
    // Keep each worker's last transition: it says whether the worker is alive.
    "DELETE FROM worker_events WHERE endpoint_id = $1 AND kind = 'transition' AND at < $2
       AND seq NOT IN (SELECT MAX(seq) FROM worker_events
                       WHERE endpoint_id = $1 AND kind = 'transition' GROUP BY worker_id)",
    "DELETE FROM webhook_deliveries WHERE endpoint_id = $1 AND at < $2",
];

/// One array parameter: `f` of each row.
fn col<R, T: ToSql + Sync + Send + 'static>(rows: &[R], f: impl Fn(&R) -> T) -> Param {
    Box::new(rows.iter().map(f).collect::<Vec<T>>())
}

/// A worker event as written (a transition or a cold start).
struct EventRow<'a> {
    endpoint: &'a str,
    kind: &'static str,
    worker: &'a str,
    at: i64,
    state: Option<&'static str>,
    started_at: Option<i64>,
    duration: Option<f64>,
}

/// What one group commit writes, gathered so each kind of row goes in one statement
/// (a statement per row costs PostgreSQL a round of parse, plan and execute each).
/// It borrows the group's commands: rows are copied once, into the statements' arrays.
#[derive(Default)]
struct Rows<'a> {
    /// Jobs by (endpoint, id), each once: its last record in the group, and the
    /// request's fields if the group inserts it.
    jobs: Vec<(&'a str, &'a JobRecord, Option<&'a StoredJob>)>,
    job_index: HashMap<(&'a str, &'a str), usize>,
    /// Worker events in order.
    events: Vec<EventRow<'a>>,
    /// Webhook attempts in order.
    deliveries: Vec<(&'a str, &'a WebhookDelivery)>,
    /// The rest, in order (the outbox, outputs, pruning).
    other: Vec<(&'static str, Vec<Param>)>,
}

impl<'a> Rows<'a> {
    fn job(&mut self, endpoint: &'a str, record: &'a JobRecord, request: Option<&'a StoredJob>) {
        match self.job_index.get(&(endpoint, record.id.as_str())) {
            Some(&i) => {
                self.jobs[i].1 = record;
                if request.is_some() {
                    self.jobs[i].2 = request;
                }
            }
            None => {
                self.job_index
                    .insert((endpoint, record.id.as_str()), self.jobs.len());
                self.jobs.push((endpoint, record, request));
            }
        }
    }

    /// Gathers what `cmd` writes.
    fn add(&mut self, cmd: &'a Cmd) {
        let text = |s: &str| Box::new(s.to_string()) as Param;
        match cmd {
            Cmd::Insert { endpoint, job, .. } => self.job(endpoint, &job.record, Some(job)),
            Cmd::Changes {
                endpoint,
                changes,
                outbox,
            } => {
                for op in outbox {
                    match op {
                        OutboxOp::Owe(o) => self.other.push((
                            OWE,
                            vec![
                                text(endpoint),
                                text(&o.job_id),
                                text(&o.url),
                                text(&o.payload),
                                Box::new(i32::from(o.attempts)),
                                Box::new(o.due_at),
                            ],
                        )),
                        OutboxOp::Retry {
                            job_id,
                            attempts,
                            due_at,
                        } => self.other.push((
                            RETRY,
                            vec![
                                text(endpoint),
                                text(job_id),
                                Box::new(i32::from(*attempts)),
                                Box::new(*due_at),
                            ],
                        )),
                        OutboxOp::Settle { job_id } => {
                            self.other
                                .push((SETTLE, vec![text(endpoint), text(job_id)]));
                        }
                    }
                }
                for c in changes {
                    match c {
                        Change::Job(r) => self.job(endpoint, r, None),
                        Change::Transition(t) => self.events.push(EventRow {
                            endpoint,
                            kind: "transition",
                            worker: &t.worker_id,
                            at: t.at,
                            state: t.state.map(state_name),
                            started_at: None,
                            duration: None,
                        }),
                        Change::ColdStart(c) => self.events.push(EventRow {
                            endpoint,
                            kind: "cold_start",
                            worker: &c.worker_id,
                            at: c.ready_at,
                            state: None,
                            started_at: Some(c.started_at),
                            duration: Some(c.duration),
                        }),
                        Change::Delivery(d) => self.deliveries.push((endpoint, d)),
                    }
                }
            }
            Cmd::Output {
                endpoint,
                id,
                output,
            } => self.other.push((
                OUTPUT,
                vec![text(endpoint), text(id), Box::new(output.clone())],
            )),
            Cmd::Prune { endpoint, before } => {
                for sql in PRUNE {
                    self.other
                        .push((sql, vec![text(endpoint), Box::new(*before)]));
                }
                self.other.push((
                    feed::TRIM,
                    vec![text(endpoint), Box::new(feed::KEEP as i64)],
                ));
            }
            Cmd::Flush(_) => {}
        }
    }

    /// The jobs as one array per column, in `insert_jobs!`'s order.
    fn job_columns(&self) -> Vec<Param> {
        let ms = |v: Option<f64>| v.map(|x| x.round() as i64);
        let j = &self.jobs;
        // An update of a job this store never saw keeps an empty input, as SQLite's
        // does.
        let empty = serde_json::json!({});
        vec![
            col(j, |(e, _, _)| e.to_string()),
            col(j, |(_, r, _)| r.id.clone()),
            col(j, |(_, r, _)| r.status.as_str()),
            col(j, |(_, r, _)| r.submitted_at),
            col(j, |(_, r, _)| r.started_at),
            col(j, |(_, r, _)| r.completed_at),
            col(j, |(_, r, _)| ms(r.delay_time)),
            col(j, |(_, r, _)| ms(r.execution_time)),
            col(j, |(_, r, _)| r.worker_id.clone()),
            col(j, |(_, r, _)| i32::from(r.retries)),
            col(j, |(_, r, _)| {
                r.webhook
                    .as_ref()
                    .map(|w| serde_json::to_value(w).unwrap_or(Value::Null))
            }),
            col(j, |(_, r, _)| r.error.clone()),
            col(j, |(_, _, q)| q.map_or(empty.clone(), |q| q.input.clone())),
            col(j, |(_, _, q)| q.and_then(|q| q.webhook_url.clone())),
            col(j, |(_, _, q)| q.and_then(|q| q.policy.clone())),
            col(j, |(_, _, q)| q.and_then(|q| q.output.clone())),
        ]
    }

    /// The statements, in the order they run: jobs, events, deliveries, the rest.
    fn statements(self) -> Vec<(&'static str, Vec<Param>)> {
        let mut out: Vec<(&'static str, Vec<Param>)> = Vec::new();
        if !self.jobs.is_empty() {
            out.push((UPSERT_JOBS, self.job_columns()));
        }
        if !self.events.is_empty() {
            let e = &self.events;
            out.push((
                EVENTS,
                vec![
                    col(e, |r| r.endpoint.to_string()),
                    col(e, |r| r.kind),
                    col(e, |r| r.worker.to_string()),
                    col(e, |r| r.at),
                    col(e, |r| r.state),
                    col(e, |r| r.started_at),
                    col(e, |r| r.duration),
                ],
            ));
        }
        if !self.deliveries.is_empty() {
            let d = &self.deliveries;
            out.push((
                DELIVERIES,
                vec![
                    col(d, |(e, _)| e.to_string()),
                    col(d, |(_, d)| d.job_id.clone()),
                    col(d, |(_, d)| i32::from(d.attempt)),
                    col(d, |(_, d)| d.at),
                    col(d, |(_, d)| d.status.map(i32::from)),
                    col(d, |(_, d)| d.error.clone()),
                ],
            ));
        }
        out.extend(self.other);
        out
    }
}

/// The advisory lock key migrations hold (any fixed number; "EMPG" in ASCII).
const MIGRATION_LOCK: i64 = 0x454d_5047;

/// Why PostgreSQL could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL or pool settings are not usable.
    #[error("PostgreSQL settings: {0}")]
    Config(String),
    /// No connection from the pool (server down, refused, authentication), with the
    /// causes underneath.
    #[error("PostgreSQL connection: {0}")]
    Pool(String),
    /// A statement failed: the server's message (and detail), or the client's error.
    #[error("PostgreSQL: {0}")]
    Sql(String),
    /// The database was migrated by a newer server.
    #[error(
        "the database's schema is at version {found}, newer than this server's {known}: run a newer endpoint-server"
    )]
    Newer {
        /// The highest version applied.
        found: i32,
        /// The highest version this build has.
        known: i32,
    },
    /// Another instance took these endpoints: this instance's writes of them are
    /// refused (it stops running them as soon as it sees it lost the lead).
    #[error("this instance no longer leads endpoint(s) {0:?}: their writes are refused")]
    Fenced(Vec<String>),
    /// A stored value does not read back (hand-edited row, other writer).
    #[error("PostgreSQL row of job {job}: {what}")]
    Row {
        /// The job.
        job: String,
        /// What is wrong.
        what: String,
    },
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        // tokio-postgres's own Display of a server error is only "db error".
        PgError::Sql(match e.as_db_error() {
            Some(db) => match db.detail() {
                Some(d) => format!("{} ({d})", db.message()),
                None => db.message().to_string(),
            },
            None => with_causes(&e),
        })
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        PgError::Pool(with_causes(&e))
    }
}

/// An error and its sources, "a: b: c" (tokio-postgres keeps "Connection refused"
/// in a source, not in its own message).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

/// A pool of connections to one database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: Pool,
    /// For the connections kept outside the pool (LISTEN, leadership locks).
    config: tokio_postgres::Config,
}

impl PgStore {
    /// A pool for `url` (`postgres://user@host:port/db`), `size` connections at most.
    /// Connects lazily: the first operation reports a server that cannot be reached.
    pub fn connect(url: &str, size: usize) -> Result<Self, PgError> {
        let cfg: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            PgError::Config(format!("{url:?} is not a PostgreSQL URL: {e}"))
        })?;
        let mgr = Manager::from_config(
            cfg.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(size.max(1))
            .build()
            .map_err(|e| PgError::Config(e.to_string()))?;
        Ok(Self { pool, config: cfg })
    }

    /// Applies the migrations this database lacks; returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i32>, PgError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let found: i32 = tx
            .query_one(
                "SELECT COALESCE(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        let known = MIGRATIONS.len() as i32;
        if found > known {
            return Err(PgError::Newer { found, known });
        }
        let mut applied = Vec::new();
        for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let version = i as i32 + 1;
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&version, name],
            )
            .await?;
            applied.push(version);
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// The schema version of the database (0 before the first migration).
    pub async fn version(&self) -> Result<i32, PgError> {
        let client = self.pool.get().await?;
        let exists: bool = client
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .await?
            .get(0);
        if !exists {
            return Ok(0);
        }
        Ok(client
            .query_one(
                "SELECT COALESCE(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0))
    }

    /// Stores a new job; returns once it is committed. A job id the endpoint already
    /// has is refused (updates come through [`PgStore::record`]).
    pub async fn insert_job(&self, endpoint: &str, job: &StoredJob) -> Result<(), PgError> {
        let mut rows = Rows::default();
        rows.job(endpoint, &job.record, Some(job));
        let params = rows.job_columns();
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(insert_jobs!()).await?;
        client.execute(&stmt, &refs(&params)).await?;
        Ok(())
    }

    /// Records changes (job updates, worker events, deliveries) and the webhook
    /// outbox's changes in one transaction, as [`super::Db::record`] does; returns
    /// once committed.
    pub async fn record(
        &self,
        endpoint: &str,
        changes: &[Change],
        outbox: &[OutboxOp],
    ) -> Result<(), PgError> {
        self.commit(&[Cmd::Changes {
            endpoint: endpoint.to_string(),
            changes: changes.to_vec(),
            outbox: outbox.to_vec(),
        }])
        .await
    }

    /// Stores a real worker's output of job `id`.
    pub async fn set_output(
        &self,
        endpoint: &str,
        id: &str,
        output: &Value,
    ) -> Result<(), PgError> {
        self.commit(&[Cmd::Output {
            endpoint: endpoint.to_string(),
            id: id.to_string(),
            output: output.clone(),
        }])
        .await
    }

    /// Deletes what the metrics retention let go, as [`super::Db::prune`] does:
    /// jobs that ended before `before`, events and deliveries before it, except each
    /// worker's last transition (it says whether the worker is alive).
    pub async fn prune(&self, endpoint: &str, before: i64) -> Result<(), PgError> {
        self.commit(&[Cmd::Prune {
            endpoint: endpoint.to_string(),
            before,
        }])
        .await
    }

    /// Writes a group of commands in one transaction. The statements are pipelined
    /// (all sent, then all answers read), so a group of a thousand `/run`s costs about
    /// one round trip and one commit, not a thousand.
    ///
    /// The changes also go into each endpoint's change sequence (see [`feed`]),
    /// numbered in the same transaction, and a notification wakes the instances that
    /// follow it once the transaction commits.
    pub(crate) async fn commit(&self, batch: &[Cmd]) -> Result<(), PgError> {
        self.commit_fenced(batch, &HashMap::new()).await
    }

    /// [`PgStore::commit`], refused for the endpoints whose `fences` no longer match
    /// the `leaders` table ([`PgError::Fenced`] names them; nothing of the group is
    /// written then). The `leaders` rows checked stay share-locked until the commit, so
    /// a new leader's takeover (which rewrites its row) waits for this group, and every
    /// group after it sees the new row.
    pub(crate) async fn commit_fenced(
        &self,
        batch: &[Cmd],
        fences: &HashMap<String, Fence>,
    ) -> Result<(), PgError> {
        let mut checks: Vec<(&str, &Fence)> = Vec::new();
        for cmd in batch {
            if let Some(e) = cmd.endpoint()
                && let Some(f) = fences.get(e)
                && !checks.iter().any(|(c, _)| *c == e)
            {
                checks.push((e, f));
            }
        }
        checks.sort_by_key(|(e, _)| *e);
        let mut rows = Rows::default();
        for cmd in batch {
            rows.add(cmd);
        }
        // The change sequence first, so heads are locked in one order by every writer
        // (and held until the commit).
        let mut stmts = feed::Appends::of(batch).statements();
        stmts.extend(rows.statements());
        if stmts.is_empty() {
            return Ok(());
        }
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let mut prepared = std::collections::HashMap::new();
        for (sql, _) in &stmts {
            if !prepared.contains_key(sql) {
                prepared.insert(*sql, tx.prepare_cached(sql).await?);
            }
        }
        let fence = tx.prepare_cached(FENCE).await?;
        let params: Vec<_> = stmts.iter().map(|(_, p)| refs(p)).collect();
        let check_params: Vec<[&(dyn ToSql + Sync); 3]> = checks
            .iter()
            .map(|(e, f)| [e as &(dyn ToSql + Sync), &f.url, &f.since])
            .collect();
        // First the fences (locking their rows), then the writes, all pipelined.
        let (held, _) = futures::future::try_join(
            futures::future::try_join_all(check_params.iter().map(|p| tx.query(&fence, p))),
            futures::future::try_join_all(
                stmts
                    .iter()
                    .zip(&params)
                    .map(|((sql, _), p)| tx.execute(&prepared[sql], p)),
            ),
        )
        .await?;
        let lost: Vec<String> = checks
            .iter()
            .zip(&held)
            .filter(|(_, rows)| rows.is_empty())
            .map(|((e, _), _)| e.to_string())
            .collect();
        if !lost.is_empty() {
            // Dropping the transaction rolls it back.
            return Err(PgError::Fenced(lost));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every recorded webhook attempt of `endpoint`, in time order.
    pub async fn load_deliveries(&self, endpoint: &str) -> Result<Vec<WebhookDelivery>, PgError> {
        let client = self.pool.get().await?;
        let client: &tokio_postgres::Client = &client;
        Self::deliveries_in(client, endpoint).await
    }

    pub(crate) async fn deliveries_in(
        client: &impl tokio_postgres::GenericClient,
        endpoint: &str,
    ) -> Result<Vec<WebhookDelivery>, PgError> {
        let rows = client
            .query(
                "SELECT job_id, attempt, at, http_status, error FROM webhook_deliveries
                 WHERE endpoint_id = $1 ORDER BY at, seq",
                &[&endpoint],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(WebhookDelivery {
                    job_id: row.try_get(0)?,
                    attempt: row.try_get::<_, i32>(1)?.clamp(0, 255) as u8,
                    at: row.try_get(2)?,
                    status: row
                        .try_get::<_, Option<i32>>(3)?
                        .and_then(|s| u16::try_from(s).ok()),
                    error: row.try_get(4)?,
                })
            })
            .collect()
    }

    /// The webhook deliveries `endpoint` still owes, soonest due first.
    pub async fn load_outbox(&self, endpoint: &str) -> Result<Vec<Outbox>, PgError> {
        let client = self.pool.get().await?;
        let client: &tokio_postgres::Client = &client;
        Self::outbox_in(client, endpoint).await
    }

    pub(crate) async fn outbox_in(
        client: &impl tokio_postgres::GenericClient,
        endpoint: &str,
    ) -> Result<Vec<Outbox>, PgError> {
        let rows = client
            .query(
                "SELECT job_id, url, payload, attempts, due_at FROM webhook_outbox
                 WHERE endpoint_id = $1 ORDER BY due_at, job_id",
                &[&endpoint],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Outbox {
                    job_id: row.try_get(0)?,
                    url: row.try_get(1)?,
                    payload: row.try_get(2)?,
                    attempts: row.try_get::<_, i32>(3)?.clamp(0, 255) as u8,
                    due_at: row.try_get(4)?,
                })
            })
            .collect()
    }

    /// Worker transitions and cold starts of `endpoint`, in time order.
    pub async fn load_events(
        &self,
        endpoint: &str,
    ) -> Result<(Vec<WorkerTransition>, Vec<ColdStart>), PgError> {
        let client = self.pool.get().await?;
        let client: &tokio_postgres::Client = &client;
        Self::events_in(client, endpoint).await
    }

    pub(crate) async fn events_in(
        client: &impl tokio_postgres::GenericClient,
        endpoint: &str,
    ) -> Result<(Vec<WorkerTransition>, Vec<ColdStart>), PgError> {
        let rows = client
            .query(
                "SELECT kind, worker_id, at, state, started_at, duration_ms FROM worker_events
                 WHERE endpoint_id = $1 ORDER BY at, seq",
                &[&endpoint],
            )
            .await?;
        let mut transitions = Vec::new();
        let mut cold_starts = Vec::new();
        for row in &rows {
            let kind: String = row.try_get(0)?;
            let worker_id: String = row.try_get(1)?;
            let at: i64 = row.try_get(2)?;
            if kind == "transition" {
                let state: Option<String> = row.try_get(3)?;
                let state = state
                    .and_then(|s| serde_json::from_value::<WorkerState>(Value::String(s)).ok());
                transitions.push(WorkerTransition {
                    worker_id,
                    state,
                    at,
                });
            } else {
                cold_starts.push(ColdStart {
                    worker_id,
                    started_at: row.try_get::<_, Option<i64>>(4)?.unwrap_or(at),
                    ready_at: at,
                    duration: row.try_get::<_, Option<f64>>(5)?.unwrap_or(0.0),
                });
            }
        }
        Ok((transitions, cold_starts))
    }

    /// Every stored job of `endpoint`, in submission order.
    pub async fn load_jobs(&self, endpoint: &str) -> Result<Vec<StoredJob>, PgError> {
        let client = self.pool.get().await?;
        let client: &tokio_postgres::Client = &client;
        Self::jobs_in(client, endpoint, true).await
    }

    /// The jobs of `endpoint` in submission order, read as a stream (a million rows
    /// are not held twice); without the request's input, policy and output unless
    /// `with_request` (the metrics need only the records).
    pub(crate) async fn jobs_in(
        client: &impl tokio_postgres::GenericClient,
        endpoint: &str,
        with_request: bool,
    ) -> Result<Vec<StoredJob>, PgError> {
        use futures::TryStreamExt;
        let sql = if with_request {
            "SELECT id, status, submitted_at, started_at, completed_at, delay_ms, execution_ms,
                    worker_id, retries, webhook_summary, error, input, webhook_url, policy, output
             FROM jobs WHERE endpoint_id = $1 ORDER BY submitted_at, seq"
        } else {
            "SELECT id, status, submitted_at, started_at, completed_at, delay_ms, execution_ms,
                    worker_id, retries, webhook_summary, error, '{}'::json, NULL::text,
                    NULL::json, NULL::json
             FROM jobs WHERE endpoint_id = $1 ORDER BY submitted_at, seq"
        };
        let rows = client.query_raw(sql, [endpoint]).await?;
        futures::pin_mut!(rows);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await? {
            out.push(stored_job(&row)?);
        }
        Ok(out)
    }
}

/// A row of `jobs` (the columns [`PgStore::jobs_in`] selects) as a stored job.
fn stored_job(row: &tokio_postgres::Row) -> Result<StoredJob, PgError> {
    let id: String = row.try_get(0)?;
    let status: String = row.try_get(1)?;
    let webhook: Option<Value> = row.try_get(9)?;
    let webhook = webhook
        .map(serde_json::from_value::<WebhookSummary>)
        .transpose()
        .map_err(|e| PgError::Row {
            job: id.clone(),
            what: format!("webhook_summary: {e}"),
        })?;
    Ok(StoredJob {
        record: JobRecord {
            status: parse_status(&status),
            submitted_at: row.try_get(2)?,
            started_at: row.try_get(3)?,
            completed_at: row.try_get(4)?,
            delay_time: row.try_get::<_, Option<i64>>(5)?.map(|v| v as f64),
            execution_time: row.try_get::<_, Option<i64>>(6)?.map(|v| v as f64),
            worker_id: row.try_get(7)?,
            retries: row.try_get::<_, i32>(8)?.clamp(0, 255) as u8,
            webhook,
            error: row.try_get(10)?,
            id,
        },
        input: row.try_get(11)?,
        webhook_url: row.try_get(12)?,
        policy: row.try_get(13)?,
        output: row.try_get(14)?,
    })
}

/// `url` without its password, for logs and errors (`postgres://user@host:port/db`).
pub fn redacted(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(cfg) => {
            let hosts: Vec<String> = cfg
                .get_hosts()
                .iter()
                .zip(cfg.get_ports().iter().chain(std::iter::repeat(&5432)))
                .map(|(h, port)| match h {
                    tokio_postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
                    tokio_postgres::config::Host::Unix(p) => format!("{}:{port}", p.display()),
                })
                .collect();
            format!(
                "postgres://{}@{}/{}",
                cfg.get_user().unwrap_or(""),
                hosts.join(","),
                cfg.get_dbname().unwrap_or("")
            )
        }
        Err(_) => "postgres://(unreadable URL)".to_string(),
    }
}

/// How many connections the server's pool opens at most: the writer's and the
/// start-up loads'; more once requests read the database (the queue in the database).
const POOL_SIZE: usize = 4;

/// This instance's terms of the endpoints it leads (or led), by endpoint: replaced as a
/// whole when one changes (rarely), so the writer takes it per group by a pointer copy.
type Fences = Arc<Mutex<Arc<HashMap<String, Fence>>>>;

/// The PostgreSQL side of a [`super::Db`]: the pool, and the runtime its connections
/// and the writer's transactions run on.
///
/// The runtime is the backend's own (one worker thread), not the server's: the
/// [`super::Db`] handle is synchronous (SQLite's writer is a thread), so it can be
/// used from inside and outside a tokio runtime alike, and the start-up loads block
/// their caller on a channel instead of nesting a `block_on` in the server's runtime.
/// The writer thread owns the runtime and drops it when the last handle is gone.
#[derive(Debug)]
pub(crate) struct PgBackend {
    store: PgStore,
    url: String,
    rt: tokio::runtime::Handle,
    /// This instance's terms of the endpoints it leads (or led), checked by the writer.
    fences: Fences,
}

impl PgBackend {
    /// Connects, applies the migrations the database lacks, and starts the writer;
    /// returns the writer's queue.
    pub(super) fn start(url: &str) -> Result<(Self, std::sync::mpsc::Sender<Cmd>), DbError> {
        let err = |source| DbError::Postgres {
            location: redacted(url),
            source,
        };
        let store = PgStore::connect(url, POOL_SIZE).map_err(err)?;
        let (tx, rx) = std::sync::mpsc::channel::<Cmd>();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (writer_store, shown) = (store.clone(), redacted(url));
        let fences: Fences = Arc::default();
        let writer_fences = fences.clone();
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("db-postgres")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(rt.handle().clone()));
                while let Some(mut batch) = next_batch(&rx) {
                    let fences = writer_fences
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone();
                    let mut result = rt.block_on(writer_store.commit_fenced(&batch, &fences));
                    if let Err(PgError::Fenced(lost)) = &result {
                        // Those endpoints' commands fail; the others' go in again.
                        tracing::warn!(database = %shown, endpoints = ?lost, "writes of endpoints led elsewhere now refused");
                        let refused = Err(PgError::Fenced(lost.clone()).to_string());
                        let (out, keep): (Vec<Cmd>, Vec<Cmd>) = batch
                            .into_iter()
                            .partition(|c| c.endpoint().is_some_and(|e| lost.iter().any(|l| l == e)));
                        for cmd in out {
                            cmd.settle(&refused);
                        }
                        batch = keep;
                        result = rt.block_on(writer_store.commit_fenced(&batch, &fences));
                    }
                    let result = result.map_err(|e| {
                        tracing::error!(database = %shown, error = %e, "database write failed");
                        e.to_string()
                    });
                    for cmd in batch {
                        cmd.settle(&result);
                    }
                }
                // Every handle is gone: the runtime ends here, on its own thread.
                rt.shutdown_background();
            })
            .map_err(|_| DbError::WriterGone)?;
        let rt = handle_rx
            .recv()
            .map_err(|_| DbError::WriterGone)?
            .map_err(|e| err(PgError::Config(format!("runtime: {e}"))))?;
        let backend = PgBackend {
            store,
            url: url.to_string(),
            rt,
            fences,
        };
        let applied = backend.call(|s| async move { s.migrate().await })?;
        if !applied.is_empty() {
            tracing::info!(database = %redacted(url), versions = ?applied, "migrated");
        }
        Ok((backend, tx))
    }

    /// From now on, writes of `endpoint` go in only while `fence` is its term.
    pub(super) fn fence(&self, endpoint: &str, fence: Fence) {
        let mut now = self.fences.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = HashMap::clone(&now);
        next.insert(endpoint.to_string(), fence);
        *now = Arc::new(next);
    }

    /// Whether this instance still holds its term of `endpoint` (true when it holds
    /// none: a single server). Asked on the backend's runtime, from any runtime.
    pub(super) fn still_leads(
        &self,
        endpoint: &str,
    ) -> impl std::future::Future<Output = Result<bool, DbError>> + use<> {
        let fence = self
            .fences
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(endpoint)
            .cloned();
        let asked = fence.map(|fence| {
            let (store, e) = (self.store.clone(), endpoint.to_string());
            self.rt.spawn(async move { store.holds(&e, &fence).await })
        });
        let location = redacted(&self.url);
        async move {
            let Some(asked) = asked else { return Ok(true) };
            asked
                .await
                .map_err(|_| DbError::WriterGone)?
                .map_err(|source| DbError::Postgres { location, source })
        }
    }

    /// The URL it was opened with.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// Runs `op` on the backend's runtime and waits for it (from any thread, inside a
    /// tokio runtime or not).
    fn call<T, F>(&self, op: impl FnOnce(PgStore) -> F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, PgError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let fut = op(self.store.clone());
        self.rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| DbError::WriterGone)?
            .map_err(|source| DbError::Postgres {
                location: redacted(&self.url),
                source,
            })
    }

    pub(super) fn load_jobs(&self, endpoint: &str) -> Result<Vec<StoredJob>, DbError> {
        let e = endpoint.to_string();
        self.call(|s| async move { s.load_jobs(&e).await })
    }

    pub(super) fn load_deliveries(&self, endpoint: &str) -> Result<Vec<WebhookDelivery>, DbError> {
        let e = endpoint.to_string();
        self.call(|s| async move { s.load_deliveries(&e).await })
    }

    pub(super) fn load_outbox(&self, endpoint: &str) -> Result<Vec<Outbox>, DbError> {
        let e = endpoint.to_string();
        self.call(|s| async move { s.load_outbox(&e).await })
    }

    pub(super) fn load_events(
        &self,
        endpoint: &str,
    ) -> Result<(Vec<WorkerTransition>, Vec<ColdStart>), DbError> {
        let e = endpoint.to_string();
        self.call(|s| async move { s.load_events(&e).await })
    }
}
