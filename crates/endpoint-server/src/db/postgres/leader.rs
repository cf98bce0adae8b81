//! One leader per endpoint among the instances over one database: the instance that
//! holds the endpoint's session advisory lock runs what must run once (the
//! supervisor and its workers, the simulated workers, TTL and timeout sweeps, webhook
//! deliveries).
//!
//! Each instance keeps one connection of its own for its locks and, every `retry`,
//! tries `pg_try_advisory_lock` for each endpoint it does not hold. PostgreSQL
//! releases a session's locks the moment the session ends, so when the leader's
//! process dies (its socket closes) another instance takes the endpoint at its next
//! try. A leader whose machine vanishes without closing its socket is found by TCP
//! keepalives, which this session asks the server to send every second after two idle
//! seconds (given up after three unanswered: about 5 s). No lease to expire by
//! clocks, no table to clean up.
//!
//! An instance that loses its connection stops leading at once (it reports every
//! endpoint as lost before reconnecting), because another instance may take them.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::watch;

use super::{PgError, PgStore};

/// The lock of endpoint `$1`: a 64-bit hash of a name no other lock uses.
const TRY_LOCK: &str =
    "SELECT pg_try_advisory_lock(hashtextextended('endpoint-server/leader/' || $1, 0))";

/// Which endpoints this instance leads, as it changes.
#[derive(Debug, Clone)]
pub struct Leadership {
    held: BTreeMap<String, watch::Receiver<bool>>,
}

impl Leadership {
    /// True while this instance leads `endpoint`; changes when it takes or loses it.
    pub fn watch(&self, endpoint: &str) -> Option<watch::Receiver<bool>> {
        self.held.get(endpoint).cloned()
    }

    /// True if this instance leads `endpoint` now.
    pub fn leads(&self, endpoint: &str) -> bool {
        self.held.get(endpoint).is_some_and(|w| *w.borrow())
    }
}

/// Starts campaigning for `endpoints`, trying every `retry`, on the current runtime.
/// The campaign (and every lock with it) ends when every [`Leadership`] clone and
/// every receiver is dropped.
pub fn campaign(store: PgStore, endpoints: &[String], retry: Duration) -> Leadership {
    let mut senders = BTreeMap::new();
    let mut held = BTreeMap::new();
    for e in endpoints {
        let (tx, rx) = watch::channel(false);
        senders.insert(e.clone(), tx);
        held.insert(e.clone(), rx);
    }
    tokio::spawn(async move {
        let lost = |senders: &BTreeMap<String, watch::Sender<bool>>| {
            for tx in senders.values() {
                tx.send_if_modified(|h| std::mem::replace(h, false));
            }
        };
        loop {
            if senders.values().all(|tx| tx.is_closed()) {
                return;
            }
            match session(&store).await {
                Ok(client) => {
                    if let Err(e) = hold(&client, &senders, retry).await {
                        tracing::warn!(error = %e, "leadership connection lost");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot connect for leadership"),
            }
            lost(&senders);
            if senders.values().all(|tx| tx.is_closed()) {
                return;
            }
            tokio::time::sleep(retry).await;
        }
    });
    Leadership { held }
}

/// A session of its own, whose socket the server probes when idle.
async fn session(store: &PgStore) -> Result<tokio_postgres::Client, PgError> {
    let mut cfg = store.config.clone();
    cfg.options("-c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3")
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(2))
        .application_name("endpoint-server leadership");
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "leadership connection ended");
        }
    });
    Ok(client)
}

/// Tries the locks not held every `retry`, and checks the session, until it fails
/// or nobody watches any more.
async fn hold(
    client: &tokio_postgres::Client,
    senders: &BTreeMap<String, watch::Sender<bool>>,
    retry: Duration,
) -> Result<(), PgError> {
    let try_lock = client.prepare(TRY_LOCK).await?;
    loop {
        for (endpoint, tx) in senders {
            if *tx.borrow() {
                continue;
            }
            let got: bool = client.query_one(&try_lock, &[endpoint]).await?.get(0);
            if got {
                tracing::info!(endpoint, "this instance leads the endpoint");
                tx.send_replace(true);
            }
        }
        if senders.values().all(|tx| tx.is_closed()) {
            return Ok(());
        }
        // A session that died shows at the next statement; the held ones need one too.
        client.simple_query("").await?;
        tokio::time::sleep(retry).await;
    }
}

impl PgStore {
    /// Records that the instance at `url` leads `endpoint` (its lock is held: only the
    /// holder writes this row).
    pub async fn set_leader(&self, endpoint: &str, url: &str, since: i64) -> Result<(), PgError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO leaders (endpoint_id, url, since) VALUES ($1, $2, $3)
                 ON CONFLICT (endpoint_id) DO UPDATE SET url = excluded.url, since = excluded.since",
                &[&endpoint, &url, &since],
            )
            .await?;
        Ok(())
    }

    /// The URL of the instance that last took `endpoint` (it may have died since).
    pub async fn leader_url(&self, endpoint: &str) -> Result<Option<String>, PgError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                "SELECT url FROM leaders WHERE endpoint_id = $1",
                &[&endpoint],
            )
            .await?
            .map(|r| r.get(0)))
    }
}
