//! Durable storage: every job, worker event and webhook delivery, in SQLite (the
//! embedded default, [`sqlite`]) or PostgreSQL ([`postgres`], for a deployment that
//! outgrows one machine), behind one handle, [`Db`].
//!
//! The server talks to either the same way: a job is stored and acknowledged only once
//! committed (`/run` answers after that), changes (job updates, worker events, webhook
//! attempts, the outbox) are recorded in order without waiting, and everything
//! retained is loaded at start. Each backend has one writer that commits in groups:
//! whatever arrived while the previous transaction committed goes into the next one,
//! so many concurrent `/run` calls share one commit.
//!
//! The schema is the same in both (portable SQL; upserts with `ON CONFLICT`); only
//! their types differ (`json` and `BIGSERIAL` in PostgreSQL). Where the stores live is
//! a [`Location`]: a file path, or a `postgres://` URL.

pub mod postgres;
mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use endpoint_core::{JobRecord, JobStatus, WorkerState};
use endpoint_sim::model::Change;
use serde_json::Value;
use tokio::sync::oneshot;

pub use sqlite::{CHECKPOINT_EVERY, SCHEMA};

/// Where the records are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by URL (`postgres://user:password@host:port/db`).
    Postgres(String),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL is PostgreSQL; anything else a file path.
    pub fn parse(s: &str) -> Self {
        let t = s.trim();
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            Location::Postgres(t.to_string())
        } else {
            Location::Sqlite(PathBuf::from(s))
        }
    }
}

impl std::fmt::Display for Location {
    /// The path, or the URL without its password (for logs and errors).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "SQLite {}", p.display()),
            Location::Postgres(url) => write!(f, "PostgreSQL {}", postgres::redacted(url)),
        }
    }
}

/// A webhook delivery still owed: stored in the transaction that stores the job's end,
/// advanced in the one that records each attempt, deleted in the one that records the
/// last. So after a crash the outbox holds exactly the deliveries whose next attempt
/// was not recorded: they are resumed at [`Outbox::due_at`], and an attempt sent but
/// not yet recorded at the crash is sent again (at least once; recorded once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    /// The job.
    pub job_id: String,
    /// Where it is posted.
    pub url: String,
    /// The body posted (the job's `/status` body when it ended).
    pub payload: String,
    /// Attempts made and recorded so far.
    pub attempts: u8,
    /// When the next attempt is due, ms since the epoch.
    pub due_at: i64,
}

/// A change of the webhook outbox, committed with the job changes sent beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxOp {
    /// A delivery is owed (the job ended).
    Owe(Outbox),
    /// Attempt `attempts` was made and failed; the next is due at `due_at`.
    Retry {
        /// The job.
        job_id: String,
        /// Attempts made.
        attempts: u8,
        /// When the next attempt is due.
        due_at: i64,
    },
    /// Nothing more is owed: delivered, or the last retry failed.
    Settle {
        /// The job.
        job_id: String,
    },
}

/// A job as stored: its record and what the model needs to run it again.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    /// The record.
    pub record: JobRecord,
    /// The request's input.
    pub input: Value,
    /// The request's webhook URL.
    pub webhook_url: Option<String>,
    /// The request's policy, as JSON.
    pub policy: Option<Value>,
    /// A real worker's output, once it ended.
    pub output: Option<Value>,
}

/// What the backend's writer is sent, in order.
pub(crate) enum Cmd {
    Insert {
        endpoint: String,
        job: Box<StoredJob>,
        ack: oneshot::Sender<Result<(), String>>,
    },
    Changes {
        endpoint: String,
        changes: Vec<Change>,
        outbox: Vec<OutboxOp>,
    },
    Flush(oneshot::Sender<()>),
    Output {
        endpoint: String,
        id: String,
        output: Value,
    },
    Prune {
        endpoint: String,
        before: i64,
    },
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cmd")
    }
}

impl Cmd {
    /// The endpoint it writes for (none for a flush).
    pub(crate) fn endpoint(&self) -> Option<&str> {
        match self {
            Cmd::Insert { endpoint, .. }
            | Cmd::Changes { endpoint, .. }
            | Cmd::Output { endpoint, .. }
            | Cmd::Prune { endpoint, .. } => Some(endpoint),
            Cmd::Flush(_) => None,
        }
    }

    /// Answers the ones waiting for the commit of the batch this was in.
    fn settle(self, result: &Result<(), String>) {
        match self {
            Cmd::Insert { ack, .. } => {
                let _ = ack.send(result.clone());
            }
            Cmd::Flush(ack) => {
                let _ = ack.send(());
            }
            Cmd::Changes { .. } | Cmd::Prune { .. } | Cmd::Output { .. } => {}
        }
    }
}

/// Takes the next group to commit: the first command and whatever else is waiting
/// (bounded, to keep latency low); `None` once every handle is gone.
fn next_batch(rx: &mpsc::Receiver<Cmd>) -> Option<Vec<Cmd>> {
    let first = rx.recv().ok()?;
    let mut batch = vec![first];
    while batch.len() < 4096 {
        match rx.try_recv() {
            Ok(c) => batch.push(c),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Handle to the storage's writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    tx: mpsc::Sender<Cmd>,
    backend: Arc<Backend>,
}

#[derive(Debug)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(Box<postgres::PgBackend>),
}

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite refused (file not writable, corrupt, locked by another server...).
    #[error("database {path}: {source}")]
    Sqlite {
        /// The file.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// PostgreSQL refused or could not be reached.
    #[error("database {location}: {source}")]
    Postgres {
        /// The URL, without its password.
        location: String,
        /// What went wrong.
        source: postgres::PgError,
    },
    /// The writer thread stopped (it logs why).
    #[error("the database writer stopped")]
    WriterGone,
}

impl Db {
    /// Opens (or creates) the SQLite database at `path` and starts its writer thread.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, DbError> {
        Self::open_with(path.into(), sqlite::WAL_RESET_PAGES)
    }

    /// SQLite with a WAL reset threshold of `reset_pages` (tests use a small one).
    pub(crate) fn open_with(path: PathBuf, reset_pages: i64) -> Result<Self, DbError> {
        let (s, tx) = sqlite::Sqlite::start(path, reset_pages)?;
        Ok(Db {
            tx,
            backend: Arc::new(Backend::Sqlite(s)),
        })
    }

    /// Opens the store at `location`: a SQLite file, or a PostgreSQL database (connected
    /// and migrated before this returns, so a wrong URL or a refused login is reported
    /// at start, not at the first `/run`).
    pub fn open_at(location: &Location) -> Result<Self, DbError> {
        match location {
            Location::Sqlite(path) => Self::open(path.clone()),
            Location::Postgres(url) => {
                let (p, tx) = postgres::PgBackend::start(url)?;
                Ok(Db {
                    tx,
                    backend: Arc::new(Backend::Postgres(Box::new(p))),
                })
            }
        }
    }

    /// Where the records are kept.
    pub fn location(&self) -> Location {
        match &*self.backend {
            Backend::Sqlite(s) => Location::Sqlite(s.path().to_path_buf()),
            Backend::Postgres(p) => Location::Postgres(p.url().to_string()),
        }
    }

    /// In a cluster: from now on, writes of `endpoint` go in only while `fence` is its
    /// row in the `leaders` table (a write after another instance took the endpoint is
    /// refused). Nothing on SQLite, which has one server.
    pub fn fence(&self, endpoint: &str, fence: postgres::Fence) {
        if let Backend::Postgres(p) = &*self.backend {
            p.fence(endpoint, fence);
        }
    }

    /// In a cluster: whether this instance still holds its term of `endpoint` (see
    /// [`Db::fence`]); a webhook attempt is sent only then, so an old leader that has
    /// not noticed its loss sends nothing beside the new one. Always true on SQLite.
    pub async fn still_leads(&self, endpoint: &str) -> Result<bool, DbError> {
        match &*self.backend {
            Backend::Sqlite(_) => Ok(true),
            Backend::Postgres(p) => p.still_leads(endpoint).await,
        }
    }

    /// The SQLite file, when the store is one.
    pub fn path(&self) -> Option<&Path> {
        match &*self.backend {
            Backend::Sqlite(s) => Some(s.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// SQLite's WAL resets so far: finished by the writer between commits, and
    /// `RESTART` checkpoints (the fallback that blocks commits). (0, 0) on PostgreSQL.
    pub fn wal_resets(&self) -> (u64, u64) {
        match &*self.backend {
            Backend::Sqlite(s) => s.wal_resets(),
            Backend::Postgres(_) => (0, 0),
        }
    }

    /// Stores a new job; resolves once it is committed.
    pub fn insert_job(
        &self,
        endpoint: &str,
        job: StoredJob,
    ) -> oneshot::Receiver<Result<(), String>> {
        let (ack, rx) = oneshot::channel();
        let _ = self.tx.send(Cmd::Insert {
            endpoint: endpoint.to_string(),
            job: Box::new(job),
            ack,
        });
        rx
    }

    /// Records changes (job updates, worker events, deliveries); not acknowledged.
    pub fn record_changes(&self, endpoint: &str, changes: Vec<Change>) {
        self.record(endpoint, changes, Vec::new());
    }

    /// Records changes and the webhook outbox's changes in one transaction; not
    /// acknowledged.
    pub fn record(&self, endpoint: &str, changes: Vec<Change>, outbox: Vec<OutboxOp>) {
        if !changes.is_empty() || !outbox.is_empty() {
            let _ = self.tx.send(Cmd::Changes {
                endpoint: endpoint.to_string(),
                changes,
                outbox,
            });
        }
    }

    /// Stores a real worker's output of job `id`; not acknowledged.
    pub fn set_output(&self, endpoint: &str, id: &str, output: &Value) {
        let _ = self.tx.send(Cmd::Output {
            endpoint: endpoint.to_string(),
            id: id.to_string(),
            output: output.clone(),
        });
    }

    /// Deletes what the metrics retention let go: jobs that ended before `before` and
    /// events before it.
    pub fn prune(&self, endpoint: &str, before: i64) {
        let _ = self.tx.send(Cmd::Prune {
            endpoint: endpoint.to_string(),
            before,
        });
    }

    /// Resolves when everything sent before is committed.
    pub async fn flush(&self) -> Result<(), DbError> {
        let (ack, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Flush(ack))
            .map_err(|_| DbError::WriterGone)?;
        rx.await.map_err(|_| DbError::WriterGone)
    }

    /// Every stored job of `endpoint`, in submission order.
    pub fn load_jobs(&self, endpoint: &str) -> Result<Vec<StoredJob>, DbError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.load_jobs(endpoint),
            Backend::Postgres(p) => p.load_jobs(endpoint),
        }
    }

    /// Every recorded webhook attempt of `endpoint`, in time order.
    pub fn load_deliveries(
        &self,
        endpoint: &str,
    ) -> Result<Vec<endpoint_core::WebhookDelivery>, DbError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.load_deliveries(endpoint),
            Backend::Postgres(p) => p.load_deliveries(endpoint),
        }
    }

    /// The webhook deliveries `endpoint` still owes, soonest due first.
    pub fn load_outbox(&self, endpoint: &str) -> Result<Vec<Outbox>, DbError> {
        match &*self.backend {
            Backend::Sqlite(s) => s.load_outbox(endpoint),
            Backend::Postgres(p) => p.load_outbox(endpoint),
        }
    }

    /// Worker transitions and cold starts of `endpoint`, in time order.
    pub fn load_events(
        &self,
        endpoint: &str,
    ) -> Result<
        (
            Vec<endpoint_core::WorkerTransition>,
            Vec<endpoint_core::ColdStart>,
        ),
        DbError,
    > {
        match &*self.backend {
            Backend::Sqlite(s) => s.load_events(endpoint),
            Backend::Postgres(p) => p.load_events(endpoint),
        }
    }
}

pub(crate) fn parse_status(s: &str) -> JobStatus {
    serde_json::from_value(Value::String(s.to_string())).unwrap_or(JobStatus::Failed)
}

pub(crate) fn state_name(s: WorkerState) -> &'static str {
    match s {
        WorkerState::Initializing => "INITIALIZING",
        WorkerState::Idle => "IDLE",
        WorkerState::Running => "RUNNING",
        WorkerState::Throttled => "THROTTLED",
        WorkerState::Outdated => "OUTDATED",
        WorkerState::Unhealthy => "UNHEALTHY",
    }
}
