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
//!
//! **The endpoints are spread over the instances.** Each session also holds a member
//! lock of its own, so `pg_locks` counts the live instances (again with no table to
//! clean up). An instance campaigns only while it leads fewer than its share,
//! `ceil(endpoints / instances)`, and one that leads more than its share (an instance
//! joined) hands one over per round: it stops running it, then unlocks it, so the
//! instance below its share takes it at its next try. The shares add up to at least
//! the number of endpoints, so every endpoint always has a taker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{PgError, PgStore};

/// The lock of endpoint `$1`: a 64-bit hash of a name no other lock uses.
const TRY_LOCK: &str =
    "SELECT pg_try_advisory_lock(hashtextextended('endpoint-server/leader/' || $1, 0))";
/// Hands endpoint `$1` over.
const UNLOCK: &str =
    "SELECT pg_advisory_unlock(hashtextextended('endpoint-server/leader/' || $1, 0))";
/// An instance's member lock: the two-key form (so `pg_locks` tells it from the
/// endpoint locks, which use the one-key form), with this class as the first key.
macro_rules! member_class {
    () => {
        "1701737837"
    };
}
const TRY_MEMBER: &str = concat!("SELECT pg_try_advisory_lock(", member_class!(), ", $1)");
/// The live instances of this database: their member locks.
const MEMBERS: &str = concat!(
    "SELECT count(*) FROM pg_locks
    WHERE locktype = 'advisory' AND objsubid = 2 AND classid = ",
    member_class!(),
    " AND granted
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
);
/// How long a handover waits for the endpoint to stop here before unlocking anyway.
const HANDOVER_WAIT: Duration = Duration::from_secs(20);

/// Which endpoints this instance leads, as it changes.
#[derive(Debug, Clone)]
pub struct Leadership {
    held: BTreeMap<String, watch::Receiver<bool>>,
    /// Bumped each time the endpoint has stopped running here ([`Leadership::stopped`]).
    stops: BTreeMap<String, Arc<watch::Sender<u64>>>,
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

    /// Says that `endpoint`, no longer led, has stopped running here (its workers
    /// too): a handover unlocks it only then.
    pub fn stopped(&self, endpoint: &str) {
        if let Some(s) = self.stops.get(endpoint) {
            s.send_modify(|n| *n += 1);
        }
    }
}

/// One endpoint as the campaign sees it: whether it is led here, and its stops.
struct Seat {
    held: watch::Sender<bool>,
    stops: watch::Receiver<u64>,
}

/// Starts campaigning for `endpoints`, trying every `retry`, on the current runtime.
/// The campaign (and every lock with it) ends when every [`Leadership`] clone and
/// every receiver is dropped.
pub fn campaign(store: PgStore, endpoints: &[String], retry: Duration) -> Leadership {
    let mut seats = BTreeMap::new();
    let (mut held, mut stops) = (BTreeMap::new(), BTreeMap::new());
    for e in endpoints {
        let (tx, rx) = watch::channel(false);
        let (stop_tx, stop_rx) = watch::channel(0);
        seats.insert(
            e.clone(),
            Seat {
                held: tx,
                stops: stop_rx,
            },
        );
        held.insert(e.clone(), rx);
        stops.insert(e.clone(), Arc::new(stop_tx));
    }
    tokio::spawn(async move {
        loop {
            if all_closed(&seats) {
                return;
            }
            match session(&store).await {
                Ok(client) => {
                    if let Err(e) = hold(&client, &seats, retry).await {
                        tracing::warn!(error = %e, "leadership connection lost");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot connect for leadership"),
            }
            for s in seats.values() {
                s.held.send_if_modified(|h| std::mem::replace(h, false));
            }
            if all_closed(&seats) {
                return;
            }
            tokio::time::sleep(retry).await;
        }
    });
    Leadership { held, stops }
}

/// Whether nobody watches any endpoint any more (the campaign then ends).
fn all_closed(seats: &BTreeMap<String, Seat>) -> bool {
    seats.values().all(|s| s.held.is_closed())
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

/// Joins as a member, then every `retry` hands over an endpoint if this instance
/// leads more than its share, or tries the locks not held while it leads fewer, and
/// checks the session, until it fails or nobody watches any more.
async fn hold(
    client: &tokio_postgres::Client,
    seats: &BTreeMap<String, Seat>,
    retry: Duration,
) -> Result<(), PgError> {
    let try_lock = client.prepare(TRY_LOCK).await?;
    let unlock = client.prepare(UNLOCK).await?;
    let members = client.prepare(MEMBERS).await?;
    // A random second key; another instance holding the same one is only a retry.
    while !client
        .query_one(TRY_MEMBER, &[&(uuid::Uuid::new_v4().as_fields().0 as i32)])
        .await?
        .get::<_, bool>(0)
    {}
    loop {
        let live: i64 = client.query_one(&members, &[]).await?.get(0);
        let share = seats.len().div_ceil(live.max(1) as usize);
        let led: Vec<&String> = seats
            .iter()
            .filter(|(_, s)| *s.held.borrow())
            .map(|(e, _)| e)
            .collect();
        if led.len() > share {
            let endpoint = led[led.len() - 1];
            hand_over(client, &unlock, endpoint, &seats[endpoint]).await?;
        } else {
            let mut count = led.len();
            for (endpoint, seat) in seats {
                if count >= share {
                    break;
                }
                if *seat.held.borrow() {
                    continue;
                }
                let got: bool = client.query_one(&try_lock, &[endpoint]).await?.get(0);
                if got {
                    tracing::info!(endpoint, "this instance leads the endpoint");
                    seat.held.send_replace(true);
                    count += 1;
                }
            }
        }
        if all_closed(seats) {
            return Ok(());
        }
        // A session that died shows at the next statement; the held ones need one too.
        client.simple_query("").await?;
        tokio::time::sleep(retry).await;
    }
}

/// Stops leading `endpoint` here, waits until it has stopped running here (at most
/// [`HANDOVER_WAIT`]), then unlocks it for the instance below its share.
async fn hand_over(
    client: &tokio_postgres::Client,
    unlock: &tokio_postgres::Statement,
    endpoint: &str,
    seat: &Seat,
) -> Result<(), PgError> {
    tracing::info!(
        endpoint,
        "handing the endpoint over: this instance leads more than its share"
    );
    let mut stops = seat.stops.clone();
    stops.mark_unchanged();
    seat.held.send_replace(false);
    if tokio::time::timeout(HANDOVER_WAIT, stops.changed())
        .await
        .is_err()
    {
        tracing::warn!(
            endpoint,
            "the endpoint did not stop in time; handing it over anyway"
        );
    }
    client.query_one(unlock, &[&endpoint]).await?;
    Ok(())
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

    /// Whether `fence` is still `endpoint`'s term (no other instance took it since).
    pub async fn holds(&self, endpoint: &str, fence: &super::Fence) -> Result<bool, PgError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                "SELECT 1 FROM leaders WHERE endpoint_id = $1 AND url = $2 AND since = $3",
                &[&endpoint, &fence.url, &fence.since],
            )
            .await?
            .is_some())
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
