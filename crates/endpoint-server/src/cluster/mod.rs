//! Several instances over one PostgreSQL database (`serve --db postgres://...`): any
//! instance takes any request, and losing an instance loses nothing acknowledged.
//!
//! How the work is shared:
//! - **One leader per endpoint** ([`crate::db::postgres::leader`]): the instance
//!   holding the endpoint's advisory lock runs it exactly as a single server does
//!   (the queue and the model in its memory, every change committed to PostgreSQL
//!   before `/run` answers, the supervisor and its workers, the simulated workers, TTL
//!   and timeout sweeps, webhook deliveries), so nothing runs twice. It opens the
//!   endpoint from the database when it takes it, as a restarted server does: jobs
//!   that were queued or running on a lost leader are queued again (at least once).
//! - **Requests go to the leader** ([`forward`]): an instance that does not lead an
//!   endpoint forwards its requests (workers' included) to the one that does, whose
//!   URL the leader writes into the `leaders` table when it takes the endpoint.
//! - **The metrics feed from the database** ([`mirror`]): every instance follows each
//!   endpoint's change sequence, so every instance serves the same snapshot and the
//!   same changes after a cursor, and a panel behind a load balancer can be answered
//!   by any of them.
//!
//! The endpoints are spread over the live instances: one that leads more than its
//! share hands the extra ones over (see [`crate::db::postgres::leader`]).
//!
//! A leader that loses its database session (not only its process) stops running the
//! endpoint at once; another instance takes it at its next try (every second). Until
//! the old leader notices, its writes of the endpoint are refused: the new leader's
//! row in `leaders` is its fence, checked in every writing transaction.

pub mod forward;
pub mod mirror;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::AppState;
use crate::db::Db;
use crate::db::postgres::feed::Listener;
use crate::db::postgres::leader::{self, Leadership};
use crate::db::postgres::{Fence, PgError, PgStore};
use crate::endpoint::{Clock, Endpoint, Retention};

/// How often an instance tries to take the endpoints it does not lead.
pub const TRY_EVERY: Duration = Duration::from_secs(1);

/// Opens endpoint `id` when this instance takes it: loads it from the database and
/// applies its settings, as `serve` does for each endpoint of a single server.
pub type Opener = Arc<dyn Fn(&str) -> Result<Arc<Endpoint>, String> + Send + Sync>;

/// This instance's part in the cluster.
pub struct Cluster {
    store: PgStore,
    advertise: String,
    mirrors: HashMap<String, Arc<mirror::Mirror>>,
    leadership: Leadership,
    client: Client<HttpConnector, Body>,
    /// The leaders' URLs as last read, until a request to one fails.
    leaders: std::sync::Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("advertise", &self.advertise)
            .field("endpoints", &self.mirrors.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Cluster {
    /// Joins the cluster on database `url` as the instance reachable at `advertise`
    /// (`http://host:port`, as the other instances reach it): mirrors each endpoint's
    /// feed and campaigns for their leadership. Nothing is led yet: [`Cluster::lead`].
    pub async fn join(
        url: &str,
        advertise: String,
        endpoints: &[String],
        retention: Retention,
        try_every: Duration,
    ) -> Result<Arc<Cluster>, PgError> {
        let store = PgStore::connect(url, 8)?;
        let listener = Listener::start(&store).await?;
        let mut mirrors = HashMap::new();
        for id in endpoints {
            let m = mirror::Mirror::start(store.clone(), &listener, id, retention).await?;
            mirrors.insert(id.clone(), m);
        }
        let leadership = leader::campaign(store.clone(), endpoints, try_every);
        Ok(Arc::new(Cluster {
            store,
            advertise,
            mirrors,
            leadership,
            client: forward::client(),
            leaders: Default::default(),
        }))
    }

    /// True for an endpoint of the cluster's configuration.
    pub fn knows(&self, id: &str) -> bool {
        self.mirrors.contains_key(id)
    }

    /// The endpoint's feed as this instance serves it.
    pub fn mirror(&self, id: &str) -> Option<&Arc<mirror::Mirror>> {
        self.mirrors.get(id)
    }

    /// This instance's URL, as the others reach it.
    pub fn advertise(&self) -> &str {
        &self.advertise
    }

    /// The client requests are forwarded with.
    pub fn client(&self) -> &Client<HttpConnector, Body> {
        &self.client
    }

    /// The URL of the instance that last took `id`: as last read, unless `fresh`.
    pub async fn leader_url(&self, id: &str, fresh: bool) -> Result<Option<String>, PgError> {
        let cached = || {
            let map = self.leaders.lock().unwrap_or_else(|e| e.into_inner());
            map.get(id).cloned()
        };
        if !fresh && let Some(url) = cached() {
            return Ok(Some(url));
        }
        let url = self.store.leader_url(id).await?;
        let mut map = self.leaders.lock().unwrap_or_else(|e| e.into_inner());
        match &url {
            Some(u) => map.insert(id.to_string(), u.clone()),
            None => map.remove(id),
        };
        Ok(url)
    }

    /// From now on, runs each endpoint while this instance leads it: opens it with
    /// `open`, starts its driver, its workers (calling back on `base_url`) and
    /// `traffic` (seed, jobs a second) if any, serves it, and tells the others; stops
    /// all of that when the lead is lost.
    ///
    /// On taking an endpoint, this instance first records itself as its leader, which
    /// also fences out the previous leader's writes (`db` refuses writes of an
    /// endpoint whose `leaders` row names another term), then opens it from what the
    /// database holds after that point.
    pub fn lead(
        self: &Arc<Self>,
        state: AppState,
        db: Db,
        open: Opener,
        base_url: String,
        traffic: Option<(u64, f64)>,
    ) {
        for (i, id) in self.mirrors.keys().enumerate() {
            let Some(mut held) = self.leadership.watch(id) else {
                continue;
            };
            let (cluster, state, db, open, base_url, id) = (
                self.clone(),
                state.clone(),
                db.clone(),
                open.clone(),
                base_url.clone(),
                id.clone(),
            );
            tokio::spawn(async move {
                loop {
                    if held.wait_for(|&h| h).await.is_err() {
                        return;
                    }
                    let since = Clock::system().now_ms();
                    while let Err(e) = cluster
                        .store
                        .set_leader(&id, &cluster.advertise, since)
                        .await
                    {
                        tracing::warn!(endpoint = %id, error = %e, "cannot record this instance as the leader");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    db.fence(
                        &id,
                        Fence {
                            url: cluster.advertise.clone(),
                            since,
                        },
                    );
                    let opened = {
                        let (open, id) = (open.clone(), id.clone());
                        tokio::task::spawn_blocking(move || open(&id)).await
                    };
                    let ep = match opened {
                        Ok(Ok(ep)) => ep,
                        Ok(Err(e)) => {
                            tracing::error!(endpoint = %id, error = %e, "cannot open the endpoint this instance leads; trying again");
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            continue;
                        }
                        Err(e) => {
                            tracing::error!(endpoint = %id, error = %e, "opening the endpoint panicked");
                            return;
                        }
                    };
                    let driver = ep.spawn_driver();
                    ep.start_workers(&base_url);
                    let load = traffic.map(|(seed, rate)| {
                        crate::traffic::spawn(ep.clone(), seed + i as u64, rate)
                    });
                    state
                        .endpoints
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id.clone(), ep.clone());
                    tracing::info!(endpoint = %id, url = %cluster.advertise, "leading the endpoint");
                    let _ = held.wait_for(|&h| !h).await;
                    tracing::warn!(endpoint = %id, "lost the lead of the endpoint: stopping it here");
                    state
                        .endpoints
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&id);
                    ep.close();
                    driver.abort();
                    if let Some(l) = load {
                        l.abort();
                    }
                    ep.stop_workers().await;
                    cluster.leadership.stopped(&id);
                }
            });
        }
    }
}
