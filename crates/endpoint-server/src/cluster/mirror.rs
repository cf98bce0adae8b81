//! An endpoint's metrics feed as every instance serves it in a cluster: the records
//! stored in PostgreSQL, kept current by following the endpoint's change sequence
//! ([`crate::db::postgres::feed`]). Its cursor is the sequence's number, so a panel
//! can move from one instance to another (behind a load balancer) and ask the next
//! one for the changes after the cursor the last one gave it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use endpoint_core::JobStore;
use endpoint_core::feed::{Changes, Events};
use endpoint_sim::feed::{CursorExpired, FeedLog};
use endpoint_sim::model::Change;
use tokio::sync::watch;

use crate::db::postgres::feed::{self, Listener, Tail};
use crate::db::postgres::{PgError, PgStore};
use crate::endpoint::{Clock, Retention, publish};

/// How long a request for changes after a cursor this instance has not reached yet
/// (another instance gave it) waits for this one to catch up.
const CATCH_UP: Duration = Duration::from_secs(2);

/// One endpoint's feed, mirrored from the database.
#[derive(Debug)]
pub struct Mirror {
    feed: Mutex<FeedLog>,
    /// The cursor reached, for requests that wait for it.
    reached: watch::Sender<u64>,
}

impl Mirror {
    /// Loads the endpoint's records as of one change, then follows the sequence from
    /// there (a task on the current runtime, until the mirror is dropped).
    pub async fn start(
        store: PgStore,
        listener: &Listener,
        id: &str,
        retention: Retention,
    ) -> Result<Arc<Mirror>, PgError> {
        let (log, head) = load(&store, id, retention).await?;
        let mirror = Arc::new(Mirror {
            feed: Mutex::new(log),
            reached: watch::channel(head).0,
        });
        let weak = Arc::downgrade(&mirror);
        let (listener, id) = (listener.clone(), id.to_string());
        tokio::spawn(async move {
            let mut after = head;
            'follow: loop {
                let mut tail = feed::follow(
                    store.clone(),
                    &listener,
                    id.clone(),
                    after as i64,
                    Duration::from_secs(5),
                );
                let mut pruned_at = Clock::system().now_ms();
                while let Some(item) = tail.recv().await {
                    let Some(m) = weak.upgrade() else {
                        return;
                    };
                    match item {
                        Tail::Changes(rows) => {
                            let mut log = m.lock();
                            for (seq, change) in rows {
                                publish(&mut log, change);
                                after = u64::try_from(seq).unwrap_or(after);
                            }
                            let now = Clock::system().now_ms();
                            if now - pruned_at > retention.prune_every_ms() {
                                log.prune(now - retention.metrics_ms);
                                pruned_at = now;
                            }
                            drop(log);
                            m.reached.send_replace(after);
                        }
                        Tail::Gap { next, .. } => {
                            // Fell behind what the database keeps: start again from
                            // the stored records.
                            tracing::warn!(endpoint = %id, next, "the feed fell behind the change sequence: reloading");
                            loop {
                                match load(&store, &id, retention).await {
                                    Ok((log, head)) => {
                                        *m.lock() = log;
                                        after = head;
                                        m.reached.send_replace(head);
                                        continue 'follow;
                                    }
                                    Err(e) => {
                                        tracing::warn!(endpoint = %id, error = %e, "cannot reload the feed");
                                        tokio::time::sleep(Duration::from_secs(1)).await;
                                    }
                                }
                            }
                        }
                    }
                }
                return;
            }
        });
        Ok(mirror)
    }

    fn lock(&self) -> MutexGuard<'_, FeedLog> {
        self.feed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes after `cursor` (at most `limit`), and the cursor to ask from next. A
    /// cursor ahead of this instance (given by a more current one) waits briefly for
    /// it; if this instance is still behind, the answer is empty and keeps the cursor.
    pub async fn changes_since(&self, cursor: u64, limit: usize) -> Result<Changes, CursorExpired> {
        let mut reached = self.reached.subscribe();
        let _ = tokio::time::timeout(CATCH_UP, reached.wait_for(|&c| c >= cursor)).await;
        let log = self.lock();
        if cursor > log.cursor() {
            return Ok(Changes {
                cursor,
                ..Changes::default()
            });
        }
        log.changes_since(cursor, limit)
    }

    /// The window `[from, to)`, as [`crate::Endpoint::snapshot`] gives it.
    pub fn snapshot<T>(
        &self,
        from: i64,
        to: i64,
        encode: impl FnOnce(&JobStore, &[u32], u64, Events) -> T,
    ) -> T {
        let log = self.lock();
        let (rows, events) = log.window(from, to);
        encode(log.store(), &rows, log.cursor(), events)
    }
}

/// The endpoint's stored records as a feed whose cursor is the sequence's `head`.
async fn load(store: &PgStore, id: &str, retention: Retention) -> Result<(FeedLog, u64), PgError> {
    let stored = store.load_feed(id).await?;
    let mut log = FeedLog::default();
    log.set_log_capacity(retention.change_log);
    for t in stored.transitions {
        publish(&mut log, Change::Transition(t));
    }
    for c in stored.cold_starts {
        publish(&mut log, Change::ColdStart(c));
    }
    for d in stored.deliveries {
        publish(&mut log, Change::Delivery(d));
    }
    for r in &stored.jobs {
        if let Err(e) = log.load(r) {
            tracing::error!(endpoint = %id, job = %r.id, error = %e, "stored record rejected by the metrics store");
        }
    }
    let head = u64::try_from(stored.head).unwrap_or(0);
    log.start_at(head);
    Ok((log, head))
}
