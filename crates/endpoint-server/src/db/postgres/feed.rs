//! The metrics feed's change sequence in PostgreSQL: every change an endpoint
//! records (job updates, worker events, webhook attempts) also gets a number in that
//! endpoint's sequence, in the transaction that stores it, so every instance that
//! follows the sequence sees the same changes in the same order, and a panel's cursor
//! means the same on every instance.
//!
//! Numbers are taken from one row per endpoint (`feed_heads`), bumped in the writing
//! transaction and locked until it commits. So the numbers are gapless and appear in
//! the order they were taken: a transaction that took 13 to 15 waited for the one that
//! took 10 to 12 to commit, so a reader that sees 13 sees 10 to 12 as well. (A
//! `BIGSERIAL` would not do: its numbers are taken at insert and can commit out of
//! order, so a reader could pass 10 before it becomes visible.) The cost is that
//! writers of one endpoint commit one after another; each writer commits a whole group
//! at a time, so that is a few hundred commits a second, not a limit on jobs.
//!
//! After the commit, `NOTIFY endpoint_feed` with the endpoint's id wakes the
//! followers ([`Listener`], [`follow`]); a slow fallback read covers a notification
//! lost while the listening connection was down.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use endpoint_core::{ColdStart, JobRecord, WebhookDelivery, WorkerTransition};
use endpoint_sim::model::Change;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;

use super::{Param, PgError, PgStore};
use crate::db::Cmd;

/// The notification channel; the payload is the endpoint id.
pub const CHANNEL: &str = "endpoint_feed";

/// Changes kept per endpoint (older ones are trimmed with the hourly prune); as many
/// as the server's in-memory change log keeps by default.
pub const KEEP: usize = endpoint_sim::feed::LOG_CAPACITY;

/// Deletes an endpoint's changes older than the newest `$2`.
pub(crate) const TRIM: &str = "DELETE FROM feed_changes WHERE endpoint_id = $1
       AND seq <= (SELECT seq FROM feed_heads WHERE endpoint_id = $1) - $2";

/// Numbers endpoint `$1`'s changes (kinds `$2`, bodies `$3`) after its head and
/// stores them, in one statement: the head row is bumped by their count (and stays
/// locked until the commit) and the changes take the numbers it went past.
const APPEND: &str = "WITH head AS (
        INSERT INTO feed_heads (endpoint_id, seq) VALUES ($1, cardinality($2::text[]))
        ON CONFLICT (endpoint_id) DO UPDATE SET seq = feed_heads.seq + excluded.seq
        RETURNING seq)
     INSERT INTO feed_changes (endpoint_id, seq, kind, body)
     SELECT $1, head.seq - cardinality($2::text[]) + t.ord, t.kind, t.body
     FROM head, unnest($2::text[], $3::json[]) WITH ORDINALITY AS t(kind, body, ord)";

/// Wakes the followers of endpoint `$2` (on [`CHANNEL`], `$1`) when the transaction
/// commits.
const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// A change as stored: its kind and its record as JSON (the wire types' own form).
pub fn encode(change: &Change) -> (&'static str, Value) {
    let json = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
    match change {
        Change::Job(r) => ("job", json(serde_json::to_value(r))),
        Change::Transition(t) => ("transition", json(serde_json::to_value(t))),
        Change::ColdStart(c) => ("cold_start", json(serde_json::to_value(c))),
        Change::Delivery(d) => ("delivery", json(serde_json::to_value(d))),
    }
}

/// The change [`encode`] stored.
pub fn decode(kind: &str, body: Value) -> Result<Change, String> {
    let e = |e: serde_json::Error| format!("{kind}: {e}");
    Ok(match kind {
        "job" => Change::Job(serde_json::from_value::<JobRecord>(body).map_err(e)?),
        "transition" => {
            Change::Transition(serde_json::from_value::<WorkerTransition>(body).map_err(e)?)
        }
        "cold_start" => Change::ColdStart(serde_json::from_value::<ColdStart>(body).map_err(e)?),
        "delivery" => Change::Delivery(serde_json::from_value::<WebhookDelivery>(body).map_err(e)?),
        other => return Err(format!("unknown change kind {other:?}")),
    })
}

/// The changes of one group commit, per endpoint in order, sorted by endpoint.
pub(crate) struct Appends(BTreeMap<String, (Vec<&'static str>, Vec<Value>)>);

impl Appends {
    /// What `batch` adds to each endpoint's sequence.
    pub(crate) fn of(batch: &[Cmd]) -> Self {
        let mut per: BTreeMap<String, (Vec<&'static str>, Vec<Value>)> = BTreeMap::new();
        for cmd in batch {
            if let Cmd::Changes {
                endpoint, changes, ..
            } = cmd
                && !changes.is_empty()
            {
                let (kinds, bodies) = per.entry(endpoint.clone()).or_default();
                for c in changes {
                    let (k, b) = encode(c);
                    kinds.push(k);
                    bodies.push(b);
                }
            }
        }
        Appends(per)
    }

    /// The statements that number and store the changes and notify (delivered at
    /// commit), endpoints in sorted order, so two writers lock heads in one order.
    pub(crate) fn statements(self) -> Vec<(&'static str, Vec<Param>)> {
        let mut out: Vec<(&'static str, Vec<Param>)> = Vec::new();
        for (endpoint, (kinds, bodies)) in self.0 {
            out.push((
                APPEND,
                vec![
                    Box::new(endpoint.clone()),
                    Box::new(kinds),
                    Box::new(bodies),
                ],
            ));
            out.push((NOTIFY, vec![Box::new(CHANNEL), Box::new(endpoint)]));
        }
        out
    }
}

/// What a follower starts from: everything stored for an endpoint, as of change
/// `head` (read in one snapshot of the database, so nothing after `head` is in it).
#[derive(Debug, Default)]
pub struct Stored {
    /// The last change the records include.
    pub head: i64,
    /// Every job.
    pub jobs: Vec<JobRecord>,
    /// Worker transitions, in time order.
    pub transitions: Vec<WorkerTransition>,
    /// Cold starts, in time order.
    pub cold_starts: Vec<ColdStart>,
    /// Webhook attempts, in time order.
    pub deliveries: Vec<WebhookDelivery>,
}

impl PgStore {
    /// Everything stored for `endpoint` and the number of the last change it includes,
    /// from one repeatable-read snapshot.
    pub async fn load_feed(&self, endpoint: &str) -> Result<Stored, PgError> {
        let mut client = self.pool.get().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let head = tx
            .query_opt(
                "SELECT seq FROM feed_heads WHERE endpoint_id = $1",
                &[&endpoint],
            )
            .await?
            .map_or(0, |r| r.get(0));
        let t: &tokio_postgres::Transaction<'_> = &tx;
        let jobs = Self::jobs_in(t, endpoint, false).await?;
        let (transitions, cold_starts) = Self::events_in(t, endpoint).await?;
        let deliveries = Self::deliveries_in(t, endpoint).await?;
        tx.commit().await?;
        Ok(Stored {
            head,
            jobs: jobs.into_iter().map(|j| j.record).collect(),
            transitions,
            cold_starts,
            deliveries,
        })
    }

    /// The number of the last change of `endpoint` (0 before the first).
    pub async fn feed_head(&self, endpoint: &str) -> Result<i64, PgError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT seq FROM feed_heads WHERE endpoint_id = $1",
                &[&endpoint],
            )
            .await?;
        Ok(row.map_or(0, |r| r.get(0)))
    }

    /// Up to `limit` changes of `endpoint` numbered after `after`, in order.
    pub async fn feed_after(
        &self,
        endpoint: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Change)>, PgError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT seq, kind, body FROM feed_changes
                 WHERE endpoint_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&endpoint, &after, &limit],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get(0)?;
                let kind: String = row.try_get(1)?;
                let change = decode(&kind, row.try_get(2)?).map_err(|what| PgError::Row {
                    job: format!("feed change {seq} of {endpoint}"),
                    what,
                })?;
                Ok((seq, change))
            })
            .collect()
    }
}

/// Wakes the followers of an endpoint's sequence when another change was committed:
/// one connection per instance LISTENs for all endpoints (reconnecting when it drops,
/// and then waking everyone, as notifications may have been missed meanwhile).
#[derive(Clone, Debug, Default)]
pub struct Listener {
    /// Per endpoint, a counter bumped on each notification.
    wakes: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
}

impl Listener {
    /// Starts listening (the first connection is made before this returns, so a
    /// database that cannot be reached is reported here).
    pub async fn start(store: &PgStore) -> Result<Listener, PgError> {
        let listener = Listener::default();
        let first = listen(store).await?;
        let (l, store) = (listener.clone(), store.clone());
        tokio::spawn(async move {
            let mut notes = Some(first);
            loop {
                if let Some(mut rx) = notes.take() {
                    while let Some(endpoint) = rx.recv().await {
                        l.wake(Some(&endpoint));
                    }
                    tracing::warn!("the feed's LISTEN connection dropped; reconnecting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                match listen(&store).await {
                    Ok(rx) => {
                        notes = Some(rx);
                        l.wake(None);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot LISTEN for feed changes"),
                }
            }
        });
        Ok(listener)
    }

    /// Woken (its value changes) on each notification for `endpoint`.
    pub fn subscribe(&self, endpoint: &str) -> watch::Receiver<u64> {
        let mut wakes = self.wakes.lock().unwrap_or_else(|e| e.into_inner());
        wakes
            .entry(endpoint.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes the followers of `endpoint`, or of every endpoint.
    fn wake(&self, endpoint: Option<&str>) {
        let wakes = self.wakes.lock().unwrap_or_else(|e| e.into_inner());
        for (id, tx) in wakes.iter() {
            if endpoint.is_none_or(|e| e == id) {
                tx.send_modify(|n| *n += 1);
            }
        }
    }
}

/// A connection that LISTENs; yields the endpoint of each notification until it drops.
async fn listen(store: &PgStore) -> Result<mpsc::UnboundedReceiver<String>, PgError> {
    let (client, mut conn) = store.config.connect(tokio_postgres::NoTls).await?;
    let client = Arc::new(client);
    let (tx, rx) = mpsc::unbounded_channel();
    let keep = client.clone();
    tokio::spawn(async move {
        // The connection lives while this task holds its client; it ends when the
        // connection fails or nobody reads the notifications any more.
        let _client = keep;
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            if let AsyncMessage::Notification(n) = m
                && tx.send(n.payload().to_string()).is_err()
            {
                break;
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok(rx)
}

/// What a follower receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Tail {
    /// The next changes, numbered, in order and without gaps.
    Changes(Vec<(i64, Change)>),
    /// The changes after `after` were trimmed before they were read (the follower fell
    /// more than [`KEEP`] behind): it must start again from the stored records; the
    /// sequence goes on from `next`.
    Gap {
        /// The last change the follower had.
        after: i64,
        /// The first change still stored.
        next: i64,
    },
}

/// Follows `endpoint`'s sequence from after change `after`: reads what is there, then
/// waits for a notification (or `fallback`, in case one was lost) and reads again.
/// Read errors are logged and retried each second. Ends when the receiver is dropped.
pub fn follow(
    store: PgStore,
    listener: &Listener,
    endpoint: String,
    mut after: i64,
    fallback: Duration,
) -> mpsc::Receiver<Tail> {
    let (tx, rx) = mpsc::channel(16);
    let mut wake = listener.subscribe(&endpoint);
    tokio::spawn(async move {
        const PAGE: i64 = 10_000;
        loop {
            wake.borrow_and_update();
            let rows = match store.feed_after(&endpoint, after, PAGE).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(endpoint, error = %e, "cannot read the feed's changes");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = tx.closed() => return,
                    }
                }
            };
            let full = rows.len() as i64 == PAGE;
            if let (Some(&(first, _)), Some(&(last, _))) = (rows.first(), rows.last()) {
                let item = if first == after + 1 {
                    after = last;
                    Tail::Changes(rows)
                } else {
                    let gap = Tail::Gap { after, next: first };
                    after = first - 1;
                    gap
                };
                if tx.send(item).await.is_err() {
                    return;
                }
                if full {
                    continue;
                }
            }
            tokio::select! {
                _ = wake.changed() => {}
                _ = tokio::time::sleep(fallback) => {}
                _ = tx.closed() => return,
            }
        }
    });
    rx
}
