//! One serverless endpoint: the endpoint-sim model driven in real time, the inputs
//! and outputs the model does not hold, `/runsync` waiters, and the change log that
//! feeds the metrics.
//!
//! The model is a pure state machine; a driver task per endpoint moves it to "now"
//! whenever its next event is due or a request changed it, then publishes what
//! changed. Time comes from [`Clock`], which follows tokio's clock, so tests can pause
//! and fast-forward it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use endpoint_core::{Health, JobRecord, JobStatus, WorkerTransition};
use endpoint_sim::model::{Change, JobError, JobSpec, Model, ModelConfig};
use serde_json::Value;
use tokio::sync::{Notify, oneshot};
use tokio::time::{Duration, Instant};

use crate::db::{Db, DbError, Outbox, OutboxOp, StoredJob};
use endpoint_sim::feed::{CursorExpired, FeedLog};

/// Milliseconds since the Unix epoch, advancing with tokio's clock (so a paused test
/// runtime controls it).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch_ms: i64,
    base: Instant,
}

impl Clock {
    /// A clock reading the system time now and following tokio's clock from here.
    pub fn system() -> Self {
        let epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Clock {
            epoch_ms,
            base: Instant::now(),
        }
    }

    /// Now, ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.epoch_ms + self.base.elapsed().as_millis() as i64
    }

    /// The tokio instant of epoch time `ms`.
    pub fn instant_of(&self, ms: i64) -> Instant {
        let offset = (ms - self.epoch_ms).max(0) as u64;
        self.base + Duration::from_millis(offset)
    }
}

/// What the server keeps beside the model for one job.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extra {
    pub(crate) input: Value,
    /// Where the result is POSTed when the job ends.
    webhook: Option<String>,
    /// The output was handed out by `/stream`.
    streamed: bool,
    /// The webhook delivery was started.
    webhook_started: bool,
    /// Submitted through `/runsync` (its result is kept 1 min, not 30).
    sync: bool,
    /// Its result expiry is scheduled.
    expiry_scheduled: bool,
    /// A real worker's output (simulated jobs compute theirs in [`view`]).
    pub(crate) output: Option<Value>,
    /// A real worker's last progress update, shown by `/status` while it runs.
    pub(crate) progress: Option<Value>,
    /// A generator handler's chunks, in order.
    pub(crate) chunks: Vec<Value>,
    /// How many chunks `/stream` has handed out.
    chunks_sent: usize,
}

/// How long things are kept (ms), and how many feed changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Result of a `/run` job after it ended (RunPod: 30 min); then `/status` is 404.
    pub run_results_ms: i64,
    /// Result of a `/runsync` job after it ended (RunPod: 1 min).
    pub runsync_results_ms: i64,
    /// Job records and events for the metrics (default 7 days).
    pub metrics_ms: i64,
    /// Changes the metrics feed keeps for `changes?cursor=` (a count, not ms).
    pub change_log: usize,
}

impl Retention {
    /// How often metrics older than the retention are pruned: a 24th of it, between
    /// 10 s and an hour, so what is held stays within ~4 % of the retention (a 7-day
    /// retention is pruned hourly, a 10-minute one every 25 s).
    pub fn prune_every_ms(&self) -> i64 {
        (self.metrics_ms / 24).clamp(10_000, 3_600_000)
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            run_results_ms: 30 * 60_000,
            runsync_results_ms: 60_000,
            metrics_ms: 7 * 86_400_000,
            change_log: endpoint_sim::feed::LOG_CAPACITY,
        }
    }
}

/// How often the driver looks for expired results, ms.
const SWEEP_EVERY_MS: i64 = 5_000;
/// Worker log lines kept per endpoint.
const LOG_LINES: usize = 100_000;

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) model: Model,
    pub(crate) extras: endpoint_sim::JobMap<Extra>,
    waiters: HashMap<String, Vec<oneshot::Sender<JobRecord>>>,
    /// (when, job id): results to drop, soonest first (`/runsync` results expire
    /// before older `/run` ones).
    expiries: std::collections::BinaryHeap<std::cmp::Reverse<(i64, String)>>,
    retention: Retention,
    next_prune: i64,
    /// The metrics feed's data.
    metrics: FeedLog,
    /// The supervisor of a `process` endpoint's workers.
    pub(crate) procs: Option<crate::workers::supervisor::Procs>,
    /// Default execution timeout and ttl of jobs whose policy does not say, ms.
    defaults: (i64, i64),
    /// Webhook outbox changes, stored with this tick's changes (one transaction).
    outbox: Vec<OutboxOp>,
    /// Deliveries owed at start-up, resumed when the driver starts.
    resume: Vec<Outbox>,
}

/// A serverless endpoint shared by the HTTP handlers and its driver task.
#[derive(Debug)]
pub struct Endpoint {
    id: String,
    clock: Clock,
    inner: Mutex<Inner>,
    wake: Notify,
    db: Option<Db>,
    /// Itself, to hand to the webhook deliveries it starts.
    this: std::sync::Weak<Endpoint>,
    allow_private_webhooks: std::sync::atomic::AtomicBool,
    /// Set when this server stopped running the endpoint (a cluster's lead moved):
    /// its webhook deliveries stop before their next attempt.
    closed: std::sync::atomic::AtomicBool,
    /// endpoint-sim's simulated workers run its jobs (fixed by its model config).
    simulated: bool,
    /// The webhook client (built on first use; see [`Endpoint::set_webhook_ca`]).
    webhook_client: Mutex<Option<crate::webhook::WebhookClient>>,
    /// Gap between webhook attempts, ms (RunPod: 10 s).
    webhook_retry_gap_ms: std::sync::atomic::AtomicU64,
    /// Woken when jobs are queued (held job-takes look again).
    jobs_ready: Notify,
    /// Worker logs (its own lock: output lines must not wait for the model).
    logs: Mutex<crate::workers::logs::LogStore>,
}

/// A job as `/status` shows it: the record plus the output the server computed.
#[derive(Debug, Clone)]
pub struct JobView {
    /// The record.
    pub record: JobRecord,
    /// The output, once COMPLETED.
    pub output: Option<Value>,
}

impl Endpoint {
    /// An endpoint running `config`, seeded with `seed`. Call [`Endpoint::spawn_driver`]
    /// inside a tokio runtime to make it run.
    pub fn new(id: impl Into<String>, config: ModelConfig, seed: u64, clock: Clock) -> Arc<Self> {
        Self::build(id.into(), config, seed, clock, None)
    }

    fn build(
        id: String,
        config: ModelConfig,
        seed: u64,
        clock: Clock,
        db: Option<Db>,
    ) -> Arc<Self> {
        let simulated = !config.external_workers;
        let mut model = Model::new(seed, config);
        model.start(clock.now_ms());
        Arc::new_cyclic(|this| Endpoint {
            this: this.clone(),
            allow_private_webhooks: Default::default(),
            closed: Default::default(),
            simulated,
            webhook_client: Mutex::new(None),
            webhook_retry_gap_ms: std::sync::atomic::AtomicU64::new(
                endpoint_sim::model::WEBHOOK_RETRY_GAP_MS as u64,
            ),
            id,
            clock,
            inner: Mutex::new(Inner {
                model,
                extras: Default::default(),
                waiters: HashMap::new(),
                expiries: Default::default(),
                retention: Retention::default(),
                next_prune: clock.now_ms() + Retention::default().prune_every_ms(),
                metrics: FeedLog::default(),
                procs: None,
                defaults: (
                    endpoint_sim::model::DEFAULT_EXECUTION_TIMEOUT_MS,
                    endpoint_sim::model::DEFAULT_TTL_MS,
                ),
                outbox: Vec::new(),
                resume: Vec::new(),
            }),
            wake: Notify::new(),
            jobs_ready: Notify::new(),
            logs: Mutex::new(crate::workers::logs::LogStore::new(LOG_LINES)),
            db,
        })
    }

    /// An endpoint whose jobs and events are stored in `db`, with the jobs stored
    /// there before brought back: finished ones as they were; queued and running ones
    /// queued again (see [`Model::restore`]); workers that were alive are recorded as
    /// stopped at this restart.
    pub fn open(
        id: impl Into<String>,
        config: ModelConfig,
        seed: u64,
        clock: Clock,
        db: Db,
        retention: Retention,
    ) -> Result<Arc<Self>, DbError> {
        let id = id.into();
        let stored = db.load_jobs(&id)?;
        let (events, cold_starts) = db.load_events(&id)?;
        let deliveries = db.load_deliveries(&id)?;
        let owed = db.load_outbox(&id)?;
        let owing: std::collections::HashSet<&str> =
            owed.iter().map(|o| o.job_id.as_str()).collect();
        // Workers whose last transition left them in a state were alive at the stop.
        let mut last: HashMap<&str, bool> = HashMap::new();
        for t in &events {
            last.insert(t.worker_id.as_str(), t.state.is_some());
        }
        let mut live: Vec<String> = last
            .into_iter()
            .filter(|(_, alive)| *alive)
            .map(|(w, _)| w.to_string())
            .collect();
        live.sort();
        let ep = Self::build(id, config, seed, clock, Some(db));
        ep.set_retention(retention);
        {
            let mut inner = ep.lock();
            let now = clock.now_ms();
            let stops: Vec<Change> = live
                .into_iter()
                .map(|w| {
                    Change::Transition(WorkerTransition {
                        worker_id: w,
                        state: None,
                        at: now,
                    })
                })
                .collect();
            for t in &events {
                publish(&mut inner.metrics, Change::Transition(t.clone()));
            }
            for c in &cold_starts {
                publish(&mut inner.metrics, Change::ColdStart(c.clone()));
            }
            for d in deliveries {
                publish(&mut inner.metrics, Change::Delivery(d));
            }
            for c in &stops {
                publish(&mut inner.metrics, c.clone());
            }
            if let Some(db) = &ep.db {
                db.record_changes(&ep.id, stops);
            }
            for job in stored {
                let policy: Option<Policy> = job
                    .policy
                    .as_ref()
                    .and_then(|p| serde_json::from_value(p.clone()).ok());
                let spec = spec_from(&job.input, policy.as_ref(), job.webhook_url.is_some());
                let id = job.record.id.clone();
                let ended = job.record.status.is_terminal();
                if ended {
                    // Unfinished ones enter the metrics through the restore's changes.
                    if let Err(e) = inner.metrics.load(&job.record) {
                        tracing::error!(job = %job.record.id, error = %e, "stored record rejected by the metrics store");
                    }
                    let mut expires = job.record.completed_at.unwrap_or(job.record.submitted_at)
                        + inner.retention.run_results_ms;
                    if owing.contains(id.as_str()) {
                        // Kept until its owed delivery can have made every attempt.
                        expires = expires.max(now + crate::webhook::longest_delivery_ms());
                    }
                    if expires <= now {
                        // Its result has expired: only the metrics and the counts keep it.
                        inner.model.count_finished(&job.record);
                        continue;
                    }
                    inner
                        .expiries
                        .push(std::cmp::Reverse((expires, id.clone())));
                }
                // Jobs that had ended keep their webhook history; unfinished ones will
                // deliver when they end.
                if inner.model.restore(now, job.record, spec).is_ok() {
                    inner.extras.insert(
                        id,
                        Extra {
                            input: job.input,
                            webhook: job.webhook_url,
                            webhook_started: ended,
                            expiry_scheduled: ended,
                            output: job.output,
                            ..Extra::default()
                        },
                    );
                }
            }
            // A delivery of a job no longer stored (pruned) is owed to no one.
            let (resume, orphans): (Vec<Outbox>, Vec<Outbox>) = owed
                .into_iter()
                .partition(|o| inner.model.job(&o.job_id).is_some());
            inner.outbox.extend(
                orphans
                    .into_iter()
                    .map(|o| OutboxOp::Settle { job_id: o.job_id }),
            );
            inner.resume = resume;
            ep.tick(&mut inner);
        }
        Ok(ep)
    }

    /// The endpoint id used in `/v2/{endpoint_id}/...`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Runs this endpoint's jobs on real worker processes (its model must have
    /// been made with `external_workers`). `registry`: where live workers are recorded
    /// so a later start can stop what a killed server left.
    pub fn set_process(
        &self,
        cfg: crate::workers::ProcessConfig,
        registry: Option<crate::workers::process::Registry>,
    ) -> Result<(), String> {
        cfg.check()?;
        let mut inner = self.lock();
        let m = inner.model.config().clone();
        if !m.external_workers {
            return Err("the endpoint's model was not made for external workers".into());
        }
        inner.procs = Some(crate::workers::supervisor::Procs::new(
            cfg,
            m.min_workers,
            m.max_workers,
            m.idle_timeout_ms,
            registry,
        ));
        Ok(())
    }

    /// Whether endpoint-sim's simulated workers run its jobs (not worker processes).
    pub fn simulated(&self) -> bool {
        self.simulated
    }

    /// Sets the default execution timeout and ttl of jobs whose policy does not say.
    pub fn set_job_defaults(&self, execution_timeout_ms: i64, ttl_ms: i64) {
        self.lock().defaults = (execution_timeout_ms, ttl_ms);
    }

    /// What a job of this endpoint asks for: its `input` and `policy`, with the
    /// endpoint's defaults where the policy is silent.
    pub fn spec_for(&self, input: &Value, policy: Option<&Policy>, has_webhook: bool) -> JobSpec {
        let (timeout, ttl) = self.lock().defaults;
        let mut spec = spec_from(input, policy, has_webhook);
        if policy.and_then(|p| p.execution_timeout).is_none() {
            spec.execution_timeout_ms = timeout;
        }
        if policy.and_then(|p| p.ttl).is_none() {
            spec.ttl_ms = ttl;
        }
        spec
    }

    /// The worker log.
    pub fn logs(&self) -> MutexGuard<'_, crate::workers::logs::LogStore> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The database, if the endpoint has one.
    pub(crate) fn db(&self) -> Option<&Db> {
        self.db.as_ref()
    }

    /// Woken when jobs are queued.
    pub(crate) fn jobs_ready(&self) -> &Notify {
        &self.jobs_ready
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking handler must not take the endpoint down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the model to now and publishes what changed. Returns the next event time.
    pub(crate) fn tick(&self, inner: &mut Inner) -> Option<i64> {
        inner.model.advance(self.clock.now_ms());
        let changes = inner.model.drain_changes();
        self.after_changes(inner, &changes);
        for c in &changes {
            if let Change::Job(r) = c
                && r.status.is_terminal()
            {
                if let Some(ws) = inner.waiters.remove(&r.id) {
                    for w in ws {
                        let _ = w.send(r.clone());
                    }
                }
                self.start_webhook(inner, r);
                let retention = inner.retention;
                if let Some(extra) = inner.extras.get_mut(&r.id)
                    && !extra.expiry_scheduled
                {
                    extra.expiry_scheduled = true;
                    let keep = if extra.sync {
                        retention.runsync_results_ms
                    } else {
                        retention.run_results_ms
                    };
                    let at = r.completed_at.unwrap_or(r.submitted_at) + keep;
                    inner.expiries.push(std::cmp::Reverse((at, r.id.clone())));
                }
            }
        }
        self.sweep(inner);
        let outbox = std::mem::take(&mut inner.outbox);
        if let Some(db) = &self.db {
            // A job's end and the delivery it owes are stored in one transaction.
            db.record(&self.id, changes.clone(), outbox);
        }
        for c in changes {
            publish(&mut inner.metrics, c);
        }
        inner.model.next_event_at()
    }

    /// Starts the webhook delivery of a job that just ended (once; not for CANCELLED),
    /// and owes it in the outbox stored with the job's end.
    fn start_webhook(&self, inner: &mut Inner, r: &JobRecord) {
        if r.status == JobStatus::Cancelled {
            return;
        }
        let Some(extra) = inner.extras.get_mut(&r.id) else {
            return;
        };
        let Some(url) = extra.webhook.clone() else {
            return;
        };
        if extra.webhook_started {
            return;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        extra.webhook_started = true;
        let owed = Outbox {
            job_id: r.id.clone(),
            url,
            payload: status_json(&view(inner, r.clone())).to_string(),
            attempts: 0,
            due_at: self.clock.now_ms(),
        };
        inner.outbox.push(OutboxOp::Owe(owed.clone()));
        self.send_webhook(owed);
    }

    /// Sends an owed delivery's next attempts (a task of its own).
    fn send_webhook(&self, owed: Outbox) {
        let (Some(this), Ok(rt)) = (self.this.upgrade(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let allow = self
            .allow_private_webhooks
            .load(std::sync::atomic::Ordering::Relaxed);
        let client = {
            let mut slot = self
                .webhook_client
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                match crate::webhook::client(&[]) {
                    Ok(c) => *slot = Some(c),
                    Err(e) => tracing::error!(error = %e, "cannot build the webhook client"),
                }
            }
            slot.clone()
        };
        let Some(client) = client else { return };
        rt.spawn(crate::webhook::deliver(client, this, owed, allow));
    }

    /// Marks the endpoint as no longer run here (another instance leads it now): its
    /// webhook deliveries stop before their next attempt, which the new leader makes
    /// from the stored outbox.
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this instance may send the endpoint's webhook attempts now: it still
    /// leads the endpoint in the database (always, without a cluster).
    pub async fn still_leads(&self) -> Result<bool, DbError> {
        match &self.db {
            Some(db) => db.still_leads(&self.id).await,
            None => Ok(true),
        }
    }

    /// True once [`Endpoint::close`]d.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Allows webhook targets in private address ranges (tests, local setups).
    pub fn set_allow_private_webhooks(&self, allow: bool) {
        self.allow_private_webhooks
            .store(allow, std::sync::atomic::Ordering::Relaxed);
    }

    /// Trusts the PEM certificates in `pem` (an internal CA) for https webhooks, on top
    /// of the system's authorities.
    pub fn set_webhook_ca(&self, pem: &[u8]) -> Result<(), String> {
        let c = crate::webhook::client(pem)?;
        *self
            .webhook_client
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(c);
        Ok(())
    }

    /// Sets the gap between webhook attempts (RunPod: 10 s; tests shorten it).
    pub fn set_webhook_retry_gap(&self, gap: Duration) {
        self.webhook_retry_gap_ms
            .store(gap.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether private webhook targets are allowed.
    pub fn allows_private_webhooks(&self) -> bool {
        self.allow_private_webhooks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records webhook attempt `attempt` of job `id`, with the outbox's change in the
    /// same transaction; returns when the next attempt is due (ms since the epoch), or
    /// `None` when nothing more is owed (answered 200, or the last retry failed).
    pub fn record_webhook(
        &self,
        id: &str,
        attempt: u8,
        status: Option<u16>,
        error: Option<String>,
    ) -> Option<i64> {
        let mut inner = self.lock();
        let now = self.clock.now_ms();
        let gap = self
            .webhook_retry_gap_ms
            .load(std::sync::atomic::Ordering::Relaxed) as i64;
        let next = (!crate::webhook::accepted(status)
            && attempt <= endpoint_sim::model::WEBHOOK_RETRIES)
            .then_some(now + gap);
        let job_id = id.to_string();
        inner.outbox.push(match next {
            Some(due_at) => OutboxOp::Retry {
                job_id,
                attempts: attempt,
                due_at,
            },
            None => OutboxOp::Settle { job_id },
        });
        if let Err(e) = inner.model.record_webhook(now, id, attempt, status, error) {
            tracing::warn!(job = %id, error = ?e, "webhook attempt of a job no longer held");
        }
        self.tick(&mut inner);
        next
    }

    /// Drops results whose retention ran out, and prunes old metrics (see
    /// [`Retention::prune_every_ms`]).
    fn sweep(&self, inner: &mut Inner) {
        let now = self.clock.now_ms();
        while inner
            .expiries
            .peek()
            .is_some_and(|std::cmp::Reverse((at, _))| *at <= now)
        {
            let std::cmp::Reverse((_, id)) = inner.expiries.pop().expect("checked");
            // A job retried meanwhile is not finished: it gets a new expiry when it ends.
            match inner.model.job(&id).map(|r| r.status.is_terminal()) {
                Some(true) => {
                    let _ = inner.model.forget(&id);
                    inner.extras.remove(&id);
                }
                _ => {
                    if let Some(e) = inner.extras.get_mut(&id) {
                        e.expiry_scheduled = false;
                    }
                }
            }
        }
        if now >= inner.next_prune {
            inner.next_prune = now + inner.retention.prune_every_ms();
            let before = now - inner.retention.metrics_ms;
            inner.metrics.prune(before);
            self.logs().prune(before);
            if let Some(db) = &self.db {
                db.prune(&self.id, before);
            }
            self.report_held(inner);
        }
    }

    /// Logs what the endpoint holds, counted, after each prune: every count here is
    /// bounded by a retention or a capacity, so one that keeps growing is a leak (the
    /// soak benchmark reads these lines beside the process's RSS).
    fn report_held(&self, inner: &Inner) {
        let m = inner.model.held();
        let store = inner.metrics.store();
        let events = inner.metrics.events();
        let (log_lines, log_bytes) = self.logs().held();
        let (workers, ended) = inner
            .procs
            .as_ref()
            .map_or((0, 0), crate::workers::supervisor::Procs::held);
        tracing::info!(
            endpoint = %self.id,
            model_jobs = m.jobs,
            model_ids = m.ids,
            model_events = m.events,
            model_queued = m.queued,
            model_workers = m.workers,
            model_worker_ids = m.worker_ids,
            extras = inner.extras.len(),
            expiries = inner.expiries.len(),
            waiters = inner.waiters.len(),
            store_rows = store.len(),
            store_kb = store.memory_bytes() / 1024,
            transitions = events.transitions.len(),
            cold_starts = events.cold_starts.len(),
            deliveries = events.deliveries.len(),
            change_log = inner.metrics.log_len(),
            log_lines,
            log_kb = log_bytes / 1024,
            procs = workers,
            procs_ended = ended,
            "held"
        );
    }

    /// Sets the retention of results and metrics.
    pub fn set_retention(&self, retention: Retention) {
        let mut inner = self.lock();
        inner.retention = retention;
        inner.next_prune = inner
            .next_prune
            .min(self.clock.now_ms() + retention.prune_every_ms());
        inner.metrics.set_log_capacity(retention.change_log);
    }

    /// Runs the model in real time until the runtime shuts down.
    pub fn spawn_driver(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        // Deliveries a previous run owed go on where they stopped.
        let resume = std::mem::take(&mut self.lock().resume);
        if !resume.is_empty() {
            tracing::info!(endpoint = %self.id, owed = resume.len(), "resuming webhook deliveries");
        }
        for owed in resume {
            self.send_webhook(owed);
        }
        let ep = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let next = {
                    let mut inner = ep.lock();
                    ep.tick(&mut inner)
                };
                // Wake for the next model event, and at least every few seconds to
                // drop expired results.
                let sweep_at = ep.clock.now_ms() + SWEEP_EVERY_MS;
                let t = next.map_or(sweep_at, |t| t.min(sweep_at));
                tokio::select! {
                    () = tokio::time::sleep_until(ep.clock.instant_of(t)) => {}
                    () = ep.wake.notified() => {}
                }
            }
        })
    }

    /// Queues a job; returns its record once it is stored (when the endpoint has a
    /// database), or the storage error (the job is then cancelled, never run).
    pub async fn submit(
        &self,
        input: Value,
        webhook: Option<String>,
        policy: Option<Value>,
        spec: JobSpec,
        sync: bool,
    ) -> Result<JobRecord, String> {
        // A time-ordered UUID (v7): the jobs table's primary-key index then grows at its
        // right edge, so a group commit of N new jobs dirties a few index pages instead
        // of N random ones (less WAL, shorter checkpoint stalls; docs/benchmarks.md).
        let id = uuid::Uuid::now_v7().to_string();
        let (record, stored) = {
            let mut inner = self.lock();
            let now = self.clock.now_ms();
            let record = inner
                .model
                .submit(now, &id, spec)
                .expect("a fresh uuid is never a duplicate")
                .clone();
            // The insert is queued before this tick's updates of the same job.
            let stored = self.db.as_ref().map(|db| {
                db.insert_job(
                    &self.id,
                    StoredJob {
                        record: record.clone(),
                        input: input.clone(),
                        webhook_url: webhook.clone(),
                        policy,
                        output: None,
                    },
                )
            });
            inner.extras.insert(
                id.clone(),
                Extra {
                    input,
                    webhook,
                    sync,
                    ..Extra::default()
                },
            );
            self.tick(&mut inner);
            (record, stored)
        };
        self.wake.notify_one();
        if let Some(ack) = stored {
            let outcome = ack
                .await
                .unwrap_or_else(|_| Err("the database writer stopped".into()));
            if let Err(e) = outcome {
                let _ = self.cancel(&id);
                return Err(e);
            }
        }
        Ok(record)
    }

    /// Waits until job `id` is terminal, at most `timeout`; returns its view then (or
    /// its current view when the time is up).
    pub async fn wait(&self, id: &str, timeout: Duration) -> Option<JobView> {
        let rx = {
            let mut inner = self.lock();
            let record = inner.model.job(id)?.clone();
            if record.status.is_terminal() {
                return Some(view(&inner, record));
            }
            let (tx, rx) = oneshot::channel();
            inner.waiters.entry(id.to_string()).or_default().push(tx);
            rx
        };
        let _ = tokio::time::timeout(timeout, rx).await;
        self.job(id)
    }

    /// A job's current view.
    pub fn job(&self, id: &str) -> Option<JobView> {
        let mut inner = self.lock();
        self.tick(&mut inner);
        let record = inner.model.job(id)?.clone();
        Some(view(&inner, record))
    }

    /// The job's state and its output chunks not handed out before (see `/stream`):
    /// a generator's chunks as they come, or else the whole output once completed.
    pub fn take_stream(&self, id: &str) -> Option<(JobStatus, Vec<Value>)> {
        let mut inner = self.lock();
        self.tick(&mut inner);
        let record = inner.model.job(id)?.clone();
        let status = record.status;
        let v = view(&inner, record);
        let extra = inner.extras.get_mut(id)?;
        if !extra.chunks.is_empty() {
            let new = extra.chunks[extra.chunks_sent..].to_vec();
            extra.chunks_sent = extra.chunks.len();
            extra.streamed = true;
            return Some((status, new));
        }
        if let Some(out) = v.output
            && status == JobStatus::Completed
            && !extra.streamed
        {
            extra.streamed = true;
            return Some((status, vec![out]));
        }
        Some((status, Vec::new()))
    }

    /// Cancels a queued or running job.
    pub fn cancel(&self, id: &str) -> Result<JobRecord, JobError> {
        self.operate(|m, now| m.cancel(now, id).cloned())
    }

    /// Re-queues a FAILED or TIMED_OUT job.
    pub fn retry(&self, id: &str) -> Result<JobRecord, JobError> {
        self.operate(|m, now| m.retry(now, id).cloned())
    }

    /// A rolling release: current workers turn OUTDATED and stop after their job.
    pub fn release(&self) {
        let mut inner = self.lock();
        self.release_in(&mut inner);
        self.tick(&mut inner);
        drop(inner);
        self.wake.notify_one();
    }

    /// [`Endpoint::release`] under the lock already held (the supervisor releases
    /// when the handler's code changes).
    pub(crate) fn release_in(&self, inner: &mut Inner) {
        inner.model.release(self.clock.now_ms());
        self.release_workers(inner);
    }

    /// Removes every queued job; returns how many.
    pub fn purge_queue(&self) -> usize {
        self.operate(|m, now| m.purge_queue(now))
    }

    /// Applies one operation to the model at now, publishes what changed, and wakes
    /// the driver (the next event may have moved).
    fn operate<T>(&self, op: impl FnOnce(&mut Model, i64) -> T) -> T {
        let out = {
            let mut inner = self.lock();
            let now = self.clock.now_ms();
            let out = op(&mut inner.model, now);
            self.tick(&mut inner);
            out
        };
        self.wake.notify_one();
        out
    }

    /// Counts in RunPod's `/health` shape.
    pub fn health(&self) -> Health {
        let mut inner = self.lock();
        self.tick(&mut inner);
        inner.model.health()
    }

    /// Changes after `cursor` (at most `limit`), and the cursor to ask from next.
    pub fn changes_since(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<endpoint_core::feed::Changes, CursorExpired> {
        let mut inner = self.lock();
        self.tick(&mut inner);
        inner.metrics.changes_since(cursor, limit)
    }

    /// The window `[from, to)` encoded as an EMC2 snapshot (or as JSON parts).
    pub fn snapshot<T>(
        &self,
        from: i64,
        to: i64,
        encode: impl FnOnce(&endpoint_core::JobStore, &[u32], u64, endpoint_core::feed::Events) -> T,
    ) -> T {
        let mut inner = self.lock();
        self.tick(&mut inner);
        let (rows, events) = inner.metrics.window(from, to);
        let cursor = inner.metrics.cursor();
        encode(inner.metrics.store(), &rows, cursor, events)
    }
}

/// Publishes a change to the metrics feed. The model only produces valid records; if
/// one is refused anyway, say so and keep going.
pub(crate) fn publish(metrics: &mut FeedLog, change: Change) {
    if let Err(e) = metrics.apply(change) {
        tracing::error!(error = %e, "record rejected by the metrics store");
    }
}

/// The `/status` body of a job (also the webhook payload).
pub fn status_json(v: &JobView) -> Value {
    let r = &v.record;
    let mut o = serde_json::json!({ "id": r.id, "status": r.status, "retries": r.retries });
    let m = o.as_object_mut().expect("an object");
    if let Some(d) = r.delay_time {
        m.insert("delayTime".into(), (d as u64).into());
    }
    if let Some(d) = r.execution_time {
        m.insert("executionTime".into(), (d as u64).into());
    }
    if let Some(out) = &v.output {
        m.insert("output".into(), out.clone());
    }
    if let Some(e) = &r.error {
        m.insert("error".into(), e.clone().into());
    }
    if let Some(w) = &r.worker_id {
        m.insert("workerId".into(), w.clone().into());
    }
    o
}

fn view(inner: &Inner, record: JobRecord) -> JobView {
    if inner.procs.is_some() {
        // A real worker's output; while it runs, its last progress update.
        let extra = inner.extras.get(&record.id);
        let output = match record.status {
            JobStatus::Completed | JobStatus::Failed => extra.and_then(|e| e.output.clone()),
            JobStatus::InProgress => extra.and_then(|e| e.progress.clone()),
            _ => None,
        };
        return JobView { record, output };
    }
    let output = (record.status == JobStatus::Completed).then(|| {
        let input = inner
            .extras
            .get(&record.id)
            .map(|e| e.input.clone())
            .unwrap_or(Value::Null);
        serde_json::json!({
            "executionTime": record.execution_time,
            "input": input,
        })
    });
    JobView { record, output }
}

/// Reads what a simulated worker does with a job from its `input` and `policy`.
pub fn spec_from(input: &Value, policy: Option<&Policy>, has_webhook: bool) -> JobSpec {
    let mut spec = JobSpec {
        sleep_ms: input.get("sleepMs").and_then(whole_number),
        fail: input.get("fail").and_then(Value::as_bool).unwrap_or(false),
        webhook: has_webhook,
        ..JobSpec::default()
    };
    if let Some(p) = policy {
        if let Some(t) = p.execution_timeout {
            spec.execution_timeout_ms = t as i64;
        }
        if let Some(t) = p.ttl {
            spec.ttl_ms = t as i64;
        }
        spec.low_priority = p.low_priority.unwrap_or(false);
    }
    spec
}

/// A whole number from 0 to int64's maximum, as JSON Schema's `integer` is: `1500`
/// and `1500.0` alike (Python's json writes whole floats that way).
pub fn whole_number(v: &Value) -> Option<u64> {
    const MAX: u64 = i64::MAX as u64;
    match v.as_u64() {
        Some(u) => (u <= MAX).then_some(u),
        None => v
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < MAX as f64)
            .map(|f| f as u64),
    }
}

/// An optional [`whole_number`] of ms; `null` is the same as absent.
fn whole_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => whole_number(&v).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a whole number of ms from 0 to {}, got {v}",
                i64::MAX
            ))
        }),
    }
}

/// RunPod's `policy` object. A field given as `null` is the same as absent.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// Longest run, ms (default 600000).
    #[serde(
        default,
        deserialize_with = "whole_ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub execution_timeout: Option<u64>,
    /// Longest life in the queue, ms (default 86400000).
    #[serde(
        default,
        deserialize_with = "whole_ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl: Option<u64>,
    /// Queue behind normal jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low_priority: Option<bool>,
}
