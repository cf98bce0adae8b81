//! The PostgreSQL backend (issue 15, first increment): the same records as the SQLite
//! store of [`crate::db`], in a database that several instances share.
//!
//! What is here: a connection pool (`deadpool-postgres` over `tokio-postgres`), the
//! versioned migrations, and the job operations (store a job, committed before it is
//! acknowledged; load an endpoint's jobs). The server does not use it yet: the
//! remaining operations (changes, events, deliveries, the outbox), the queue in the
//! database and leadership follow, as docs/architecture.md lays out.
//!
//! Migrations are numbered and applied in order, each once, in one transaction that
//! holds a transaction-level advisory lock, so instances starting together never
//! apply one twice; a database migrated by a newer server is refused with both
//! versions named rather than used by a server that does not know its tables.
//!
//! JSON the user sent (input, policy, output) is stored as `json`, not `jsonb`: `json`
//! keeps the text as given (key order, duplicates), so a job reads back exactly as the
//! SQLite store returns it; nothing queries inside it.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use endpoint_core::{JobRecord, WebhookSummary};
use serde_json::Value;
use tokio_postgres::NoTls;

use crate::db::{StoredJob, parse_status};

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`. Append only; never
/// edit one that shipped.
pub const MIGRATIONS: &[(&str, &str)] = &[(
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
)];

/// The advisory lock key migrations hold (any fixed number; "EMPG" in ASCII).
const MIGRATION_LOCK: i64 = 0x454d_5047;

/// Why PostgreSQL could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL or pool settings are not usable.
    #[error("PostgreSQL settings: {0}")]
    Config(String),
    /// No connection from the pool (server down, refused, authentication).
    #[error("PostgreSQL connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
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
            None => e.to_string(),
        })
    }
}

/// A pool of connections to one database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// A pool for `url` (`postgres://user@host:port/db`), `size` connections at most.
    /// Connects lazily: the first operation reports a server that cannot be reached.
    pub fn connect(url: &str, size: usize) -> Result<Self, PgError> {
        let cfg: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            PgError::Config(format!("{url:?} is not a PostgreSQL URL: {e}"))
        })?;
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(size.max(1))
            .build()
            .map_err(|e| PgError::Config(e.to_string()))?;
        Ok(Self { pool })
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
    /// has is refused (the SQLite store's upsert is for the one writer's updates).
    pub async fn insert_job(&self, endpoint: &str, job: &StoredJob) -> Result<(), PgError> {
        let client = self.pool.get().await?;
        let r = &job.record;
        let ms = |v: Option<f64>| v.map(|x| x.round() as i64);
        let webhook = r
            .webhook
            .as_ref()
            .map(|w| serde_json::to_value(w).unwrap_or(Value::Null));
        let stmt = client
            .prepare_cached(
                "INSERT INTO jobs (endpoint_id, id, status, submitted_at, started_at, completed_at,
                                   delay_ms, execution_ms, worker_id, retries, webhook_summary, error,
                                   input, webhook_url, policy, output)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .await?;
        client
            .execute(
                &stmt,
                &[
                    &endpoint,
                    &r.id,
                    &r.status.as_str(),
                    &r.submitted_at,
                    &r.started_at,
                    &r.completed_at,
                    &ms(r.delay_time),
                    &ms(r.execution_time),
                    &r.worker_id,
                    &i32::from(r.retries),
                    &webhook,
                    &r.error,
                    &job.input,
                    &job.webhook_url,
                    &job.policy,
                    &job.output,
                ],
            )
            .await?;
        Ok(())
    }

    /// Every stored job of `endpoint`, in submission order.
    pub async fn load_jobs(&self, endpoint: &str) -> Result<Vec<StoredJob>, PgError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT id, status, submitted_at, started_at, completed_at, delay_ms, execution_ms,
                        worker_id, retries, webhook_summary, error, input, webhook_url, policy, output
                 FROM jobs WHERE endpoint_id = $1 ORDER BY submitted_at, seq",
                &[&endpoint],
            )
            .await?;
        rows.iter()
            .map(|row| {
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
            })
            .collect()
    }
}
