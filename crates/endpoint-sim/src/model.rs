//! A deterministic model of one serverless endpoint: a queue, workers that scale
//! between a minimum and a maximum, cold starts, execution, failures, timeouts,
//! throttled / unhealthy / outdated workers, and (optionally) webhook outcomes.
//!
//! The model is a pure state machine over time in milliseconds. Callers tell it what
//! happened (`submit`, `cancel`, `retry`, `purge_queue`, `release`) at an instant, and
//! move it forward with [`Model::advance`]; it never reads a clock. The server drives it
//! in real time (sleeping until [`Model::next_event_at`]); tests and history
//! generation drive it in virtual time, as fast as the CPU goes. Every change is
//! recorded as a [`Change`] (job records, worker transitions, cold starts, webhook
//! deliveries), drained with [`Model::drain_changes`].
//!
//! ```
//! use endpoint_sim::model::{JobSpec, Model, ModelConfig};
//! use endpoint_core::JobStatus;
//!
//! let mut m = Model::new(1, ModelConfig::default());
//! m.submit(0, "job-1", JobSpec { sleep_ms: Some(1_000), ..JobSpec::default() }).unwrap();
//! m.advance(60_000); // a minute later: cold start, then one second of work
//! assert_eq!(m.job("job-1").unwrap().status, JobStatus::Completed);
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use endpoint_core::{
    ColdStart, Health, HealthJobs, HealthWorkers, JobRecord, JobStatus, WebhookDelivery,
    WebhookSummary, WorkerState, WorkerTransition,
};

use crate::{Dist, Rng};

/// How the endpoint behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Workers kept even when idle.
    pub min_workers: u32,
    /// Most workers at once.
    pub max_workers: u32,
    /// An idle worker above the minimum stops after this long, ms.
    pub idle_timeout_ms: i64,
    /// Container start + model load into VRAM, ms.
    pub cold_start: Dist,
    /// Execution time of jobs whose input does not say (`sleepMs`), ms.
    pub execution: Dist,
    /// Probability that a job fails on its own (besides `fail: true`).
    pub failure_rate: f64,
    /// Probability that a new worker waits for a GPU first (THROTTLED).
    pub throttle_rate: f64,
    /// How long a throttled worker waits, ms.
    pub throttle: Dist,
    /// Probability that a worker turns UNHEALTHY after a job (it is then replaced).
    pub unhealthy_rate: f64,
    /// How long an unhealthy worker lingers before it is stopped, ms.
    pub unhealthy: Dist,
    /// Simulate webhook deliveries (outcomes drawn at random) instead of leaving them
    /// to the caller (the server POSTs for real).
    pub simulate_webhooks: bool,
    /// Probability that a simulated webhook attempt fails.
    pub webhook_failure_rate: f64,
    /// The workers are real processes driven from outside (the server's supervisor):
    /// the model then never starts, stops or runs a worker by itself. It keeps the
    /// queue, TTLs, execution timeouts, counts and records; the caller reports what
    /// the workers did ([`Model::add_worker`], [`Model::worker_ready`],
    /// [`Model::take`], [`Model::complete`], [`Model::requeue_worker`],
    /// [`Model::set_worker_state`]). The cold start, execution and failure
    /// distributions are then unused.
    pub external_workers: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            min_workers: 0,
            max_workers: 3,
            idle_timeout_ms: 5_000,
            cold_start: Dist::LogNormal {
                median: 6_000.0,
                sigma: 0.4,
            },
            execution: Dist::LogNormal {
                median: 1_200.0,
                sigma: 0.6,
            },
            failure_rate: 0.0,
            throttle_rate: 0.0,
            throttle: Dist::LogNormal {
                median: 20_000.0,
                sigma: 0.5,
            },
            unhealthy_rate: 0.0,
            unhealthy: Dist::Constant(30_000.0),
            simulate_webhooks: false,
            webhook_failure_rate: 0.1,
            external_workers: false,
        }
    }
}

/// RunPod's default execution timeout: 10 minutes.
pub const DEFAULT_EXECUTION_TIMEOUT_MS: i64 = 600_000;
/// RunPod's default time-to-live of a job: 24 hours.
pub const DEFAULT_TTL_MS: i64 = 86_400_000;
/// RunPod retries a webhook that does not answer 200 this many more times...
pub const WEBHOOK_RETRIES: u8 = 2;
/// ...this far apart, ms.
pub const WEBHOOK_RETRY_GAP_MS: i64 = 10_000;

/// What a job asks of the endpoint (from its `input` and `policy`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// `input.sleepMs`: run this long; otherwise drawn from the config.
    pub sleep_ms: Option<u64>,
    /// `input.fail`: report an error.
    pub fail: bool,
    /// `policy.executionTimeout`, ms.
    pub execution_timeout_ms: i64,
    /// `policy.ttl`, ms: the job times out if still queued this long after submission.
    pub ttl_ms: i64,
    /// `policy.lowPriority`: queued behind every normal job.
    pub low_priority: bool,
    /// The job has a webhook.
    pub webhook: bool,
}

impl Default for JobSpec {
    fn default() -> Self {
        JobSpec {
            sleep_ms: None,
            fail: false,
            execution_timeout_ms: DEFAULT_EXECUTION_TIMEOUT_MS,
            ttl_ms: DEFAULT_TTL_MS,
            low_priority: false,
            webhook: false,
        }
    }
}

/// Something that changed, for the store and the metrics feed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A job's record, after the change.
    Job(JobRecord),
    /// A worker entered a state (or stopped).
    Transition(WorkerTransition),
    /// A worker finished its cold start.
    ColdStart(ColdStart),
    /// A (simulated) webhook attempt.
    Delivery(WebhookDelivery),
}

/// Why an operation on a job was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// No job with this id.
    NotFound,
    /// The id is already used.
    Duplicate,
    /// The job is in a state the operation does not apply to; its state is attached.
    WrongState(JobStatus),
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::NotFound => write!(f, "no such job"),
            JobError::Duplicate => write!(f, "a job with this id exists"),
            JobError::WrongState(s) => write!(f, "the job is {s}"),
        }
    }
}

impl std::error::Error for JobError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// Worker finished waiting for a GPU.
    ThrottleEnd { worker: usize },
    /// Worker finished its cold start.
    Ready { worker: usize },
    /// A job's run ends (if `run` is still the job's current run).
    JobEnd { job: usize, run: u32 },
    /// A job's execution timeout (same guard).
    JobTimeout { job: usize, run: u32 },
    /// A queued job's ttl (if it is still queued in this queueing).
    TtlExpire { job: usize, run: u32 },
    /// An idle worker may stop (if still idle since `since`).
    IdleCheck { worker: usize, since: i64 },
    /// An unhealthy worker is stopped.
    Reap { worker: usize },
    /// A simulated webhook attempt.
    Webhook { job: usize, attempt: u8 },
}

#[derive(Debug, Clone)]
struct Job {
    record: JobRecord,
    spec: JobSpec,
    /// Bumped on every (re)queue and run, to invalidate stale events.
    run: u32,
    worker: Option<usize>,
}

#[derive(Debug, Clone)]
struct Worker {
    id: String,
    /// None = stopped.
    state: Option<WorkerState>,
    /// The jobs it runs (at most one for simulated workers).
    jobs: Vec<usize>,
    cold_start_began: i64,
    idle_since: i64,
    outdated: bool,
}

/// A record back in the queue: no run, no end, no worker, no error.
fn reset_to_queued(r: &mut JobRecord) {
    r.status = JobStatus::InQueue;
    r.started_at = None;
    r.completed_at = None;
    r.delay_time = None;
    r.execution_time = None;
    r.worker_id = None;
    r.error = None;
}

/// The jobs the model still holds, by number (numbers are never reused, so events of
/// a forgotten job find nothing).
#[derive(Debug, Clone, Default)]
struct Jobs {
    map: std::collections::BTreeMap<usize, Job>,
    next: usize,
}

impl Jobs {
    /// The number the next job gets.
    fn len(&self) -> usize {
        self.next
    }
    fn push(&mut self, job: Job) {
        self.map.insert(self.next, job);
        self.next += 1;
    }
    fn iter(&self) -> impl Iterator<Item = &Job> {
        self.map.values()
    }
    fn contains(&self, j: usize) -> bool {
        self.map.contains_key(&j)
    }
    fn remove(&mut self, j: usize) -> Option<Job> {
        self.map.remove(&j)
    }
    /// Whether `e` is a job's event that can never act again: its job is forgotten,
    /// or ran on (`run` only grows), or (a TTL) is no longer queued in that queueing.
    /// The handler ignores such events; this lets the heap drop them early.
    fn is_dead(&self, e: &Event) -> bool {
        match *e {
            Event::JobEnd { job, run } | Event::JobTimeout { job, run } => {
                self.map.get(&job).is_none_or(|j| j.run != run)
            }
            Event::TtlExpire { job, run } => self
                .map
                .get(&job)
                .is_none_or(|j| j.run != run || j.record.status != JobStatus::InQueue),
            Event::Webhook { job, .. } => !self.map.contains_key(&job),
            Event::ThrottleEnd { .. }
            | Event::Ready { .. }
            | Event::IdleCheck { .. }
            | Event::Reap { .. } => false,
        }
    }
}

/// The event heap is first compacted at this size (then whenever it doubles).
const EVENTS_COMPACT_MIN: usize = 1024;

impl std::ops::Index<usize> for Jobs {
    type Output = Job;
    fn index(&self, j: usize) -> &Job {
        &self.map[&j]
    }
}

impl std::ops::IndexMut<usize> for Jobs {
    fn index_mut(&mut self, j: usize) -> &mut Job {
        self.map.get_mut(&j).expect("a job the model holds")
    }
}

/// The workers that have not stopped, by number (numbers are never reused: an event
/// of a stopped worker finds nothing). A stopped worker is dropped at once, so a
/// server that scales up and down for days holds only its live workers.
#[derive(Debug, Clone, Default)]
struct Workers {
    map: std::collections::BTreeMap<usize, Worker>,
    next: usize,
}

impl Workers {
    /// Adds a worker; returns its number.
    fn push(&mut self, worker: Worker) -> usize {
        let w = self.next;
        self.map.insert(w, worker);
        self.next += 1;
        w
    }
    /// The number the next worker gets.
    fn next(&self) -> usize {
        self.next
    }
    fn get_mut(&mut self, w: usize) -> Option<&mut Worker> {
        self.map.get_mut(&w)
    }
    fn contains(&self, w: usize) -> bool {
        self.map.contains_key(&w)
    }
    fn remove(&mut self, w: usize) -> Option<Worker> {
        self.map.remove(&w)
    }
    /// Live workers, by number.
    fn iter(&self) -> impl Iterator<Item = &Worker> {
        self.map.values()
    }
    fn numbers(&self) -> Vec<usize> {
        self.map.keys().copied().collect()
    }
    /// The first idle, current worker.
    fn idle(&self) -> Option<usize> {
        self.map
            .iter()
            .find(|(_, w)| w.state == Some(WorkerState::Idle) && !w.outdated)
            .map(|(&n, _)| n)
    }
}

impl std::ops::Index<usize> for Workers {
    type Output = Worker;
    fn index(&self, w: usize) -> &Worker {
        &self.map[&w]
    }
}

impl std::ops::IndexMut<usize> for Workers {
    fn index_mut(&mut self, w: usize) -> &mut Worker {
        self.map.get_mut(&w).expect("a live worker")
    }
}

/// What a [`Model`] holds, counted (see [`Model::held`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelHeld {
    /// Jobs held (unfinished, or finished and not yet forgotten).
    pub jobs: usize,
    /// Entries of the job-id index.
    pub ids: usize,
    /// Pending internal events (live or not yet dropped).
    pub events: usize,
    /// Jobs in the queues.
    pub queued: usize,
    /// Workers held (stopped ones are dropped).
    pub workers: usize,
    /// External worker ids indexed.
    pub worker_ids: usize,
}

/// The endpoint model.
#[derive(Debug, Clone)]
pub struct Model {
    cfg: ModelConfig,
    rng: Rng,
    now: i64,
    seq: u64,
    events: BinaryHeap<Reverse<(i64, u64, Event)>>,
    /// Above this many pending events, the dead ones are dropped (see [`Model::at`]).
    events_compact_at: usize,
    jobs: Jobs,
    by_id: crate::JobMap<usize>,
    queue: VecDeque<usize>,
    low_queue: VecDeque<usize>,
    workers: Workers,
    /// External workers by id.
    worker_ids: HashMap<String, usize>,
    changes: Vec<Change>,
    completed: u64,
    failed: u64,
    retried: u64,
    release: u32,
}

impl Model {
    /// A model with `cfg`, its randomness fixed by `seed`. Minimum workers start
    /// their cold start at time 0.
    pub fn new(seed: u64, cfg: ModelConfig) -> Self {
        Model {
            cfg,
            rng: Rng::new(seed),
            now: 0,
            seq: 0,
            events: BinaryHeap::new(),
            events_compact_at: EVENTS_COMPACT_MIN,
            jobs: Jobs::default(),
            by_id: Default::default(),
            queue: VecDeque::new(),
            low_queue: VecDeque::new(),
            workers: Workers::default(),
            worker_ids: HashMap::new(),
            changes: Vec::new(),
            completed: 0,
            failed: 0,
            retried: 0,
            release: 0,
        }
    }

    /// Starts the minimum workers at `now` (call once when the endpoint comes up).
    pub fn start(&mut self, now: i64) {
        self.advance(now);
        while !self.cfg.external_workers && self.active_workers() < self.cfg.min_workers as usize {
            self.spawn_worker();
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The model's current time.
    pub fn now(&self) -> i64 {
        self.now
    }

    fn at(&mut self, t: i64, e: Event) {
        self.seq += 1;
        self.events.push(Reverse((t, self.seq, e)));
        // Every job schedules its TTL (24 h by default) when it is queued, and most
        // jobs leave the queue long before: without this, a day of jobs would stay in
        // the heap after they ended (and were forgotten). Dropping the events that can
        // no longer do anything whenever the heap doubles keeps it within twice its
        // live events, at an amortized O(1) per event.
        if self.events.len() >= self.events_compact_at {
            let before = self.events.len();
            self.events
                .retain(|Reverse((_, _, e))| !self.jobs.is_dead(e));
            self.events_compact_at = (2 * self.events.len()).max(EVENTS_COMPACT_MIN);
            if self.events.len() < before / 2 {
                self.events.shrink_to(self.events_compact_at);
            }
        }
    }

    /// How much the model holds, counted (the server logs it beside its memory use,
    /// so a count that grows with the traffic shows).
    pub fn held(&self) -> ModelHeld {
        ModelHeld {
            jobs: self.jobs.map.len(),
            ids: self.by_id.len(),
            events: self.events.len(),
            queued: self.queue.len() + self.low_queue.len(),
            workers: self.workers.map.len(),
            worker_ids: self.worker_ids.len(),
        }
    }

    /// When the next internal event happens, if any.
    pub fn next_event_at(&self) -> Option<i64> {
        self.events.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Processes every event up to and including `to` (time never runs backwards:
    /// an earlier `to` only processes nothing).
    pub fn advance(&mut self, to: i64) {
        while let Some(&Reverse((t, _, e))) = self.events.peek() {
            if t > to {
                break;
            }
            self.events.pop();
            self.now = self.now.max(t);
            self.handle(e);
        }
        self.now = self.now.max(to);
    }

    /// Everything that changed since the last call.
    pub fn drain_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// The record of one job.
    pub fn job(&self, id: &str) -> Option<&JobRecord> {
        self.by_id.get(id).map(|&j| &self.jobs[j].record)
    }

    /// Every job, in submission order.
    pub fn jobs(&self) -> impl Iterator<Item = &JobRecord> {
        self.jobs.iter().map(|j| &j.record)
    }

    /// Counts in RunPod's `/health` shape.
    pub fn health(&self) -> Health {
        let mut w = HealthWorkers::default();
        for worker in self.workers.iter() {
            match worker.state {
                Some(WorkerState::Idle) => w.idle += 1,
                Some(WorkerState::Running) => w.running += 1,
                Some(WorkerState::Initializing) => w.initializing += 1,
                Some(WorkerState::Throttled) => w.throttled += 1,
                Some(WorkerState::Outdated) => w.outdated += 1,
                Some(WorkerState::Unhealthy) => w.unhealthy += 1,
                None => {}
            }
        }
        Health {
            jobs: HealthJobs {
                completed: self.completed,
                failed: self.failed,
                in_progress: self.workers.iter().map(|w| w.jobs.len()).sum::<usize>() as u64,
                in_queue: (self.queue.len() + self.low_queue.len()) as u64,
                retried: self.retried,
            },
            workers: w,
        }
    }

    /// Accepts a job at `now`.
    pub fn submit(&mut self, now: i64, id: &str, spec: JobSpec) -> Result<&JobRecord, JobError> {
        self.advance(now);
        if self.by_id.contains_key(id) {
            return Err(JobError::Duplicate);
        }
        let j = self.jobs.len();
        let mut record = JobRecord::queued(id, self.now);
        if spec.webhook {
            record.webhook = Some(WebhookSummary::default());
        }
        self.jobs.push(Job {
            record,
            spec,
            run: 0,
            worker: None,
        });
        self.by_id.insert(id.to_string(), j);
        self.enqueue(j);
        Ok(&self.jobs[j].record)
    }

    fn enqueue(&mut self, j: usize) {
        let job = &mut self.jobs[j];
        job.run += 1;
        let run = job.run;
        let ttl_at = job.record.submitted_at.saturating_add(job.spec.ttl_ms);
        if job.spec.low_priority {
            self.low_queue.push_back(j);
        } else {
            self.queue.push_back(j);
        }
        self.emit_job(j);
        self.at(ttl_at.max(self.now), Event::TtlExpire { job: j, run });
        self.dispatch();
    }

    /// Brings back a job stored before a restart, at `now`. Terminal jobs are kept as
    /// they were (for `/status` and the counts). Jobs that were queued, or running on a
    /// worker lost with the process, are queued again with their original submission
    /// time (so their delay includes the downtime): at-least-once, as RunPod re-queues
    /// the jobs of a lost worker; a lost run counts in `retries`. Their records change;
    /// the change is reported.
    pub fn restore(
        &mut self,
        now: i64,
        mut record: JobRecord,
        spec: JobSpec,
    ) -> Result<&JobRecord, JobError> {
        self.advance(now);
        if self.by_id.contains_key(&record.id) {
            return Err(JobError::Duplicate);
        }
        let j = self.jobs.len();
        self.by_id.insert(record.id.clone(), j);
        if record.status.is_terminal() {
            match record.status {
                JobStatus::Completed => self.completed += 1,
                JobStatus::Failed => self.failed += 1,
                _ => {}
            }
            self.retried += u64::from(record.retries);
            self.jobs.push(Job {
                record,
                spec,
                run: 0,
                worker: None,
            });
            return Ok(&self.jobs[j].record);
        }
        if record.status == JobStatus::InProgress {
            // Its run was lost with the process: counted, as for a lost worker.
            record.retries = record.retries.saturating_add(1);
        }
        self.retried += u64::from(record.retries);
        reset_to_queued(&mut record);
        self.jobs.push(Job {
            record,
            spec,
            run: 0,
            worker: None,
        });
        self.enqueue(j);
        Ok(&self.jobs[j].record)
    }

    /// Records one real webhook attempt for job `id` (made by the caller, e.g. the
    /// server's HTTP client): updates the job's webhook summary and reports a
    /// [`Change::Delivery`] and the job's new record.
    pub fn record_webhook(
        &mut self,
        now: i64,
        id: &str,
        attempt: u8,
        status: Option<u16>,
        error: Option<String>,
    ) -> Result<(), JobError> {
        self.advance(now);
        let j = *self.by_id.get(id).ok_or(JobError::NotFound)?;
        // RunPod retries any answer but 200 (see `WebhookDelivery::succeeded`).
        let ok = status == Some(200);
        self.changes.push(Change::Delivery(WebhookDelivery {
            job_id: id.to_string(),
            attempt,
            at: self.now,
            status,
            error: error.clone(),
        }));
        let summary = self.jobs[j]
            .record
            .webhook
            .get_or_insert_with(WebhookSummary::default);
        summary.attempts = attempt;
        summary.last_status = status;
        summary.last_error = error;
        summary.delivered = ok;
        self.emit_job(j);
        Ok(())
    }

    /// Counts a finished job that is not held any more (its result expired before a
    /// restart) in the `/health` totals.
    pub fn count_finished(&mut self, record: &JobRecord) {
        match record.status {
            JobStatus::Completed => self.completed += 1,
            JobStatus::Failed => self.failed += 1,
            _ => {}
        }
        self.retried += u64::from(record.retries);
    }

    /// Drops a finished job (its result retention ran out): `job` no longer finds it
    /// and its memory is freed. Unfinished jobs are kept.
    pub fn forget(&mut self, id: &str) -> Result<JobRecord, JobError> {
        let j = *self.by_id.get(id).ok_or(JobError::NotFound)?;
        let status = self.jobs[j].record.status;
        if !status.is_terminal() {
            return Err(JobError::WrongState(status));
        }
        self.by_id.remove(id);
        Ok(self.jobs.remove(j).expect("held").record)
    }

    /// Cancels a queued or running job (a running one stops on its worker at once).
    pub fn cancel(&mut self, now: i64, id: &str) -> Result<&JobRecord, JobError> {
        self.advance(now);
        let j = *self.by_id.get(id).ok_or(JobError::NotFound)?;
        match self.jobs[j].record.status {
            JobStatus::InQueue => {
                self.queue.retain(|&x| x != j);
                self.low_queue.retain(|&x| x != j);
                self.finish(
                    j,
                    JobStatus::Cancelled,
                    Some("cancelled while queued".into()),
                );
            }
            JobStatus::InProgress => {
                self.finish(
                    j,
                    JobStatus::Cancelled,
                    Some("cancelled while running".into()),
                );
            }
            s => return Err(JobError::WrongState(s)),
        }
        Ok(&self.jobs[j].record)
    }

    /// Re-queues a FAILED or TIMED_OUT job (RunPod's `/retry`).
    pub fn retry(&mut self, now: i64, id: &str) -> Result<&JobRecord, JobError> {
        self.advance(now);
        let j = *self.by_id.get(id).ok_or(JobError::NotFound)?;
        let status = self.jobs[j].record.status;
        if !status.is_retryable() {
            return Err(JobError::WrongState(status));
        }
        let now = self.now;
        let r = &mut self.jobs[j].record;
        reset_to_queued(r);
        r.retries = r.retries.saturating_add(1);
        // The retried job queues anew: its times restart from now.
        r.submitted_at = now;
        self.retried += 1;
        self.enqueue(j);
        Ok(&self.jobs[j].record)
    }

    /// Removes every queued job (RunPod's `/purge-queue`); returns how many.
    pub fn purge_queue(&mut self, now: i64) -> usize {
        self.advance(now);
        let queued: Vec<usize> = self
            .queue
            .drain(..)
            .chain(self.low_queue.drain(..))
            .collect();
        for &j in &queued {
            self.finish(
                j,
                JobStatus::Cancelled,
                Some("removed by purge-queue".into()),
            );
        }
        queued.len()
    }

    /// A rolling release at `now`: every current worker becomes OUTDATED and stops
    /// after its current job; new workers replace them as the queue needs.
    pub fn release(&mut self, now: i64) {
        self.advance(now);
        self.release += 1;
        for w in self.workers.numbers() {
            if self.workers[w].state.is_none() || self.workers[w].outdated {
                continue;
            }
            self.workers[w].outdated = true;
            if !self.workers[w].jobs.is_empty() || self.cfg.external_workers {
                // A real worker is stopped by its supervisor, which drains it first.
                self.set_worker(w, Some(WorkerState::Outdated));
            } else {
                self.set_worker(w, None);
            }
        }
        while !self.cfg.external_workers && self.active_workers() < self.cfg.min_workers as usize {
            self.spawn_worker();
        }
        self.dispatch();
    }

    /// External workers: a worker process `id` was started at `now`, waiting for a
    /// GPU slot (`Throttled`) or starting (`Initializing`, its cold start begins).
    pub fn add_worker(&mut self, now: i64, id: &str, state: WorkerState) -> Result<(), JobError> {
        self.advance(now);
        if self.worker_ids.contains_key(id) {
            return Err(JobError::Duplicate);
        }
        let w = self.workers.push(Worker {
            id: id.to_string(),
            state: None,
            jobs: Vec::new(),
            cold_start_began: self.now,
            idle_since: self.now,
            outdated: false,
        });
        self.worker_ids.insert(id.to_string(), w);
        self.set_worker(w, Some(state));
        Ok(())
    }

    /// External workers: worker `id` entered `state` at `now` (`None`: it stopped;
    /// its jobs must have been re-queued or ended before). Leaving `Throttled` for
    /// `Initializing` starts its cold start.
    pub fn set_worker_state(
        &mut self,
        now: i64,
        id: &str,
        state: Option<WorkerState>,
    ) -> Result<(), JobError> {
        self.advance(now);
        let w = *self.worker_ids.get(id).ok_or(JobError::NotFound)?;
        if state == Some(WorkerState::Initializing)
            && self.workers[w].state != Some(WorkerState::Initializing)
        {
            self.workers[w].cold_start_began = self.now;
        }
        if state == Some(WorkerState::Outdated) {
            self.workers[w].outdated = true;
        }
        // A stopped worker is dropped (and unknown from now on).
        self.set_worker(w, state);
        Ok(())
    }

    /// External workers: worker `id` made its first request at `now`: its cold start
    /// (from [`Model::add_worker`], or from leaving `Throttled`) ends and it is idle.
    /// Returns the cold start's length, ms (None if it was not initializing).
    pub fn worker_ready(&mut self, now: i64, id: &str) -> Result<Option<i64>, JobError> {
        self.advance(now);
        let w = *self.worker_ids.get(id).ok_or(JobError::NotFound)?;
        if self.workers[w].state != Some(WorkerState::Initializing) {
            return Ok(None);
        }
        let began = self.workers[w].cold_start_began;
        self.changes.push(Change::ColdStart(ColdStart {
            worker_id: id.to_string(),
            started_at: began,
            ready_at: self.now,
            duration: (self.now - began) as f64,
        }));
        self.workers[w].idle_since = self.now;
        self.set_worker(w, Some(WorkerState::Idle));
        Ok(Some(self.now - began))
    }

    /// External workers: hands up to `n` queued jobs (normal before low priority,
    /// oldest first) to worker `id` at `now`; they are IN_PROGRESS from here, their
    /// delay ends and their execution timeout starts. Outdated, unhealthy and
    /// throttled workers get nothing.
    pub fn take(&mut self, now: i64, id: &str, n: usize) -> Result<Vec<JobRecord>, JobError> {
        self.advance(now);
        let w = *self.worker_ids.get(id).ok_or(JobError::NotFound)?;
        if !matches!(
            self.workers[w].state,
            Some(WorkerState::Idle | WorkerState::Running)
        ) || self.workers[w].outdated
        {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        while out.len() < n {
            let Some(j) = self
                .queue
                .pop_front()
                .or_else(|| self.low_queue.pop_front())
            else {
                break;
            };
            self.start_job(j, w);
            out.push(self.jobs[j].record.clone());
        }
        Ok(out)
    }

    /// External workers: job `job_id` ended on worker `worker_id` at `now`, with
    /// `Ok(())` (COMPLETED) or the worker's error (FAILED). A result for a job that
    /// is not running on that worker any more (cancelled, timed out, re-queued) is
    /// refused with the job's state: the caller discards it.
    pub fn complete(
        &mut self,
        now: i64,
        job_id: &str,
        worker_id: &str,
        outcome: Result<(), String>,
    ) -> Result<&JobRecord, JobError> {
        self.advance(now);
        let j = *self.by_id.get(job_id).ok_or(JobError::NotFound)?;
        let w = self.worker_ids.get(worker_id).copied();
        let job = &self.jobs[j];
        if job.record.status != JobStatus::InProgress || job.worker.is_none() || job.worker != w {
            return Err(JobError::WrongState(job.record.status));
        }
        match outcome {
            Ok(()) => self.finish(j, JobStatus::Completed, None),
            Err(e) => self.finish(j, JobStatus::Failed, Some(e)),
        }
        Ok(&self.jobs[j].record)
    }

    /// External workers: worker `id` was lost (it died, hung or was stopped) at
    /// `now`; the jobs it ran are queued again with `retries` counted, keeping their
    /// submission time (at least once). Returns their ids. The worker's own state is
    /// left to [`Model::set_worker_state`].
    pub fn requeue_worker(&mut self, now: i64, id: &str) -> Result<Vec<String>, JobError> {
        self.advance(now);
        let w = *self.worker_ids.get(id).ok_or(JobError::NotFound)?;
        let jobs = std::mem::take(&mut self.workers[w].jobs);
        Ok(jobs.into_iter().map(|j| self.requeue_lost(j)).collect())
    }

    /// External workers: job `job_id`, handed to worker `worker_id`, never reached
    /// it (the answer that carried it was lost): it is queued again like the jobs of
    /// a lost worker. Refused when it is not running on that worker.
    pub fn requeue_job(&mut self, now: i64, job_id: &str, worker_id: &str) -> Result<(), JobError> {
        self.advance(now);
        let j = *self.by_id.get(job_id).ok_or(JobError::NotFound)?;
        let w = self.worker_ids.get(worker_id).copied();
        if self.jobs[j].record.status != JobStatus::InProgress
            || self.jobs[j].worker != w
            || w.is_none()
        {
            return Err(JobError::WrongState(self.jobs[j].record.status));
        }
        let w = w.expect("checked");
        self.workers[w].jobs.retain(|&x| x != j);
        self.requeue_lost(j);
        self.after_job(w);
        Ok(())
    }

    /// Queues job `j` again after its run was lost: `retries` counted, its
    /// submission time kept, ahead of the jobs that arrived after it.
    fn requeue_lost(&mut self, j: usize) -> String {
        let job = &mut self.jobs[j];
        job.worker = None;
        let r = &mut job.record;
        reset_to_queued(r);
        r.retries = r.retries.saturating_add(1);
        self.retried += 1;
        let id = r.id.clone();
        self.enqueue(j);
        if let Some(p) = self.queue.iter().rposition(|&x| x == j) {
            self.queue.remove(p);
            self.queue.push_front(j);
        }
        id
    }

    /// External workers: the ids of the jobs running on worker `id`.
    pub fn worker_jobs(&self, id: &str) -> Vec<String> {
        self.worker_ids
            .get(id)
            .map(|&w| {
                self.workers[w]
                    .jobs
                    .iter()
                    .map(|&j| self.jobs[j].record.id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// External workers: the state of worker `id` (None: unknown or stopped).
    pub fn worker_state(&self, id: &str) -> Option<WorkerState> {
        self.worker_ids.get(id).and_then(|&w| self.workers[w].state)
    }

    /// External workers: since when worker `id` is idle (None: it is not idle).
    pub fn worker_idle_since(&self, id: &str) -> Option<i64> {
        let &w = self.worker_ids.get(id)?;
        (self.workers[w].state == Some(WorkerState::Idle)).then_some(self.workers[w].idle_since)
    }

    /// Jobs waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.len() + self.low_queue.len()
    }

    /// How long the oldest queued job has waited at `now`, ms (None: empty queue).
    pub fn oldest_wait(&self, now: i64) -> Option<i64> {
        self.queue
            .iter()
            .chain(self.low_queue.iter())
            .map(|&j| now - self.jobs[j].record.submitted_at)
            .max()
    }

    fn active_workers(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.state.is_some() && !w.outdated)
            .count()
    }

    fn spawn_worker(&mut self) -> usize {
        let id = format!("worker-{}-r{}", self.workers.next(), self.release);
        let w = self.workers.push(Worker {
            id,
            state: None,
            jobs: Vec::new(),
            cold_start_began: self.now,
            idle_since: self.now,
            outdated: false,
        });
        if self.rng.next_f64() < self.cfg.throttle_rate {
            self.set_worker(w, Some(WorkerState::Throttled));
            let d = self.cfg.throttle.sample(&mut self.rng).round() as i64;
            self.at(self.now + d, Event::ThrottleEnd { worker: w });
        } else {
            self.begin_cold_start(w);
        }
        w
    }

    fn begin_cold_start(&mut self, w: usize) {
        self.workers[w].cold_start_began = self.now;
        self.set_worker(w, Some(WorkerState::Initializing));
        let d = self.cfg.cold_start.sample(&mut self.rng).round() as i64;
        self.at(self.now + d, Event::Ready { worker: w });
    }

    fn set_worker(&mut self, w: usize, state: Option<WorkerState>) {
        if self.workers[w].state == state {
            return;
        }
        self.workers[w].state = state;
        self.changes.push(Change::Transition(WorkerTransition {
            worker_id: self.workers[w].id.clone(),
            state,
            at: self.now,
        }));
        if state.is_none()
            && let Some(gone) = self.workers.remove(w)
            && self.worker_ids.get(&gone.id) == Some(&w)
        {
            self.worker_ids.remove(&gone.id);
        }
    }

    fn emit_job(&mut self, j: usize) {
        self.changes.push(Change::Job(self.jobs[j].record.clone()));
    }

    /// Gives queued jobs to idle workers, and starts workers for the rest.
    fn dispatch(&mut self) {
        if self.cfg.external_workers {
            // Real workers ask for jobs (`take`); their supervisor scales them.
            return;
        }
        while let Some(&j) = self.queue.front().or(self.low_queue.front()) {
            let Some(w) = self.workers.idle() else { break };
            if self.queue.front() == Some(&j) {
                self.queue.pop_front();
            } else {
                self.low_queue.pop_front();
            }
            self.start_job(j, w);
        }
        // Scale up: one starting worker per waiting job, up to the maximum.
        let waiting = self.queue.len() + self.low_queue.len();
        let starting = self
            .workers
            .iter()
            .filter(|w| {
                matches!(
                    w.state,
                    Some(WorkerState::Initializing | WorkerState::Throttled)
                )
            })
            .count();
        let mut need = waiting.saturating_sub(starting);
        while need > 0 && self.active_workers() < self.cfg.max_workers as usize {
            self.spawn_worker();
            need -= 1;
        }
    }

    fn start_job(&mut self, j: usize, w: usize) {
        let now = self.now;
        let job = &mut self.jobs[j];
        job.run += 1;
        job.worker = Some(w);
        let run = job.run;
        let r = &mut job.record;
        r.status = JobStatus::InProgress;
        r.started_at = Some(now);
        r.delay_time = Some((now - r.submitted_at) as f64);
        r.worker_id = Some(self.workers[w].id.clone());
        let spec = job.spec.clone();
        self.workers[w].jobs.push(j);
        if self.workers[w].state != Some(WorkerState::Outdated) {
            self.set_worker(w, Some(WorkerState::Running));
        }
        if self.cfg.external_workers {
            // The worker reports the end; the model only enforces the timeout.
            self.at(
                now.saturating_add(spec.execution_timeout_ms),
                Event::JobTimeout { job: j, run },
            );
            self.emit_job(j);
            return;
        }
        let d = match spec.sleep_ms {
            Some(ms) => ms as i64,
            None => self.cfg.execution.sample(&mut self.rng).round() as i64,
        };
        if d >= spec.execution_timeout_ms {
            self.at(
                now + spec.execution_timeout_ms,
                Event::JobTimeout { job: j, run },
            );
        } else {
            self.at(now + d, Event::JobEnd { job: j, run });
        }
        self.emit_job(j);
    }

    /// Moves a job to a terminal state and frees its worker.
    fn finish(&mut self, j: usize, status: JobStatus, error: Option<String>) {
        let now = self.now;
        let job = &mut self.jobs[j];
        job.run += 1; // invalidates pending JobEnd / JobTimeout / TtlExpire
        let worker = job.worker.take();
        let r = &mut job.record;
        r.status = status;
        r.completed_at = Some(now);
        match r.started_at {
            Some(s) => r.execution_time = Some((now - s) as f64),
            None => r.delay_time = Some((now - r.submitted_at) as f64),
        }
        r.error = error;
        let webhook = job.spec.webhook;
        match status {
            JobStatus::Completed => self.completed += 1,
            JobStatus::Failed => self.failed += 1,
            _ => {}
        }
        self.emit_job(j);
        if webhook && self.cfg.simulate_webhooks {
            self.at(now, Event::Webhook { job: j, attempt: 1 });
        }
        if let Some(w) = worker
            && let Some(worker) = self.workers.get_mut(w)
        {
            worker.jobs.retain(|&x| x != j);
            self.after_job(w);
        }
    }

    fn after_job(&mut self, w: usize) {
        if self.cfg.external_workers {
            // Its supervisor stops outdated and unhealthy workers; a running one with
            // nothing left to do is idle.
            if self.workers[w].jobs.is_empty()
                && self.workers[w].state == Some(WorkerState::Running)
            {
                self.workers[w].idle_since = self.now;
                self.set_worker(w, Some(WorkerState::Idle));
            }
            return;
        }
        if self.workers[w].outdated {
            self.set_worker(w, None);
        } else if self.rng.next_f64() < self.cfg.unhealthy_rate {
            self.set_worker(w, Some(WorkerState::Unhealthy));
            let d = self.cfg.unhealthy.sample(&mut self.rng).round() as i64;
            self.at(self.now + d, Event::Reap { worker: w });
        } else {
            self.become_idle(w);
        }
        self.dispatch();
    }

    fn become_idle(&mut self, w: usize) {
        self.workers[w].idle_since = self.now;
        self.set_worker(w, Some(WorkerState::Idle));
        let since = self.now;
        self.at(
            self.now + self.cfg.idle_timeout_ms,
            Event::IdleCheck { worker: w, since },
        );
    }

    fn handle(&mut self, e: Event) {
        // Events of a forgotten job have nothing left to do.
        if let Event::JobEnd { job, .. }
        | Event::JobTimeout { job, .. }
        | Event::TtlExpire { job, .. }
        | Event::Webhook { job, .. } = e
            && !self.jobs.contains(job)
        {
            return;
        }
        // So have the events of a stopped worker.
        if let Event::ThrottleEnd { worker }
        | Event::Ready { worker }
        | Event::IdleCheck { worker, .. }
        | Event::Reap { worker } = e
            && !self.workers.contains(worker)
        {
            return;
        }
        match e {
            Event::ThrottleEnd { worker } => {
                if self.workers[worker].state == Some(WorkerState::Throttled) {
                    self.begin_cold_start(worker);
                }
            }
            Event::Ready { worker } => {
                if self.workers[worker].state != Some(WorkerState::Initializing) {
                    return;
                }
                let began = self.workers[worker].cold_start_began;
                self.changes.push(Change::ColdStart(ColdStart {
                    worker_id: self.workers[worker].id.clone(),
                    started_at: began,
                    ready_at: self.now,
                    duration: (self.now - began) as f64,
                }));
                self.become_idle(worker);
                self.dispatch();
            }
            Event::JobEnd { job, run } => {
                if self.jobs[job].run != run {
                    return;
                }
                let fail = self.jobs[job].spec.fail || self.rng.next_f64() < self.cfg.failure_rate;
                if fail {
                    self.finish(job, JobStatus::Failed, Some("simulated failure".into()));
                } else {
                    self.finish(job, JobStatus::Completed, None);
                }
            }
            Event::JobTimeout { job, run } => {
                if self.jobs[job].run == run {
                    self.finish(
                        job,
                        JobStatus::TimedOut,
                        Some("execution timeout exceeded".into()),
                    );
                }
            }
            Event::TtlExpire { job, run } => {
                if self.jobs[job].run == run && self.jobs[job].record.status == JobStatus::InQueue {
                    self.queue.retain(|&x| x != job);
                    self.low_queue.retain(|&x| x != job);
                    self.finish(
                        job,
                        JobStatus::TimedOut,
                        Some("ttl expired while queued".into()),
                    );
                }
            }
            Event::IdleCheck { worker, since } => {
                let w = &self.workers[worker];
                if w.state == Some(WorkerState::Idle)
                    && w.idle_since == since
                    && self.active_workers() > self.cfg.min_workers as usize
                {
                    self.set_worker(worker, None);
                }
            }
            Event::Reap { worker } => {
                if self.workers[worker].state == Some(WorkerState::Unhealthy) {
                    self.set_worker(worker, None);
                    while self.active_workers() < self.cfg.min_workers as usize {
                        self.spawn_worker();
                    }
                    self.dispatch();
                }
            }
            Event::Webhook { job, attempt } => {
                let ok = self.rng.next_f64() >= self.cfg.webhook_failure_rate;
                let status = if ok { 200 } else { 500 };
                let id = self.jobs[job].record.id.clone();
                self.changes.push(Change::Delivery(WebhookDelivery {
                    job_id: id,
                    attempt,
                    at: self.now,
                    status: Some(status),
                    error: None,
                }));
                if let Some(s) = self.jobs[job].record.webhook.as_mut() {
                    s.attempts = attempt;
                    s.last_status = Some(status);
                    s.delivered = ok;
                }
                self.emit_job(job);
                if !ok && attempt <= WEBHOOK_RETRIES {
                    self.at(
                        self.now + WEBHOOK_RETRY_GAP_MS,
                        Event::Webhook {
                            job,
                            attempt: attempt + 1,
                        },
                    );
                }
            }
        }
    }
}
