//! The supervisor of a `process` endpoint: it starts worker processes, scales them
//! with the queue, reads their output, watches their health, stops jobs on them,
//! and records everything through the endpoint model (external-workers mode), so
//! real workers produce exactly the records simulated ones do.
//!
//! All of its state sits beside the model under the endpoint's one mutex, so a
//! job-take, a cancel and a crash never see each other half done. Its clock is the
//! endpoint's; a task per endpoint runs [`Endpoint::supervise`] every
//! [`TICK`], and one task per worker waits for the process to exit.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use endpoint_core::WorkerState;
use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

use super::ProcessConfig;
use super::logs::{Stream, job_in_line};
use super::process::{self, Registry, SpawnSpec};
use crate::endpoint::{Endpoint, Inner};

/// How often the supervisor looks at its workers.
pub const TICK: std::time::Duration = std::time::Duration::from_millis(200);
/// Ended workers whose facts are kept for the Workers view.
const ENDED_KEPT: usize = 200;
/// Log lines kept with a crash report.
const CRASH_LINES: usize = 20;
/// How long a worker has to add a job it was handed to its ping list, ms.
pub const HANDOVER_MS: i64 = 1_000;
/// Longest crash-loop backoff, ms.
const MAX_BACKOFF_MS: i64 = 60_000;

/// What is known about one worker (the `/workers` route's items).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerFacts {
    /// Worker id (`RUNPOD_POD_ID`).
    pub id: String,
    /// Current state; None once stopped.
    pub state: Option<WorkerState>,
    /// Which release and worker configuration it runs (changes on `/release`).
    pub version: String,
    /// Its GPU slot (`CUDA_VISIBLE_DEVICES`), if the host has slots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// Process id (also its process group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When it was wanted (throttled) or spawned, ms.
    pub created_at: i64,
    /// When its process was spawned, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spawned_at: Option<i64>,
    /// Its first request, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<i64>,
    /// Spawn -> first request, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold_start_ms: Option<i64>,
    /// Jobs it finished (completed or failed).
    pub jobs_done: u64,
    /// When it ended, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// Its exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Why it was stopped, or what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its last output lines, when it crashed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub last_lines: Vec<String>,
}

/// A job told to stop on a worker, waiting for evidence that it did.
#[derive(Debug, Clone)]
struct StopCheck {
    job: String,
    since: i64,
    /// When the `jobsToStop` answer carrying it was sent.
    delivered: Option<i64>,
}

/// One worker process (or one wanted but throttled).
#[derive(Debug)]
pub(crate) struct Proc {
    facts: WorkerFacts,
    secret: String,
    last_ping: Option<i64>,
    /// When the process was seen stopped (`T` in /proc) first.
    frozen_since: Option<i64>,
    /// Waiting for a GPU slot: not spawned yet.
    throttled: bool,
    /// When we began stopping it (SIGTERM or SIGKILL sent).
    stopping: Option<i64>,
    kill_sent: bool,
    /// It failed (counts towards the crash-loop backoff).
    failed: bool,
    /// Exited; kept as UNHEALTHY until then, ms.
    linger_until: Option<i64>,
    /// Wakes its held job-take and job-stop requests.
    pub(crate) wake: Arc<Notify>,
    /// Job ids for its next job-stop answer.
    to_stop: Vec<String>,
    checks: Vec<StopCheck>,
    home: Option<std::path::PathBuf>,
}

/// The supervisor's state of one endpoint.
#[derive(Debug)]
pub(crate) struct Procs {
    pub(crate) cfg: ProcessConfig,
    min_workers: u32,
    max_workers: u32,
    idle_timeout_ms: i64,
    pub(crate) workers: BTreeMap<String, Proc>,
    gpus_free: Vec<String>,
    failures: u32,
    next_spawn_at: i64,
    generation: u32,
    ended: VecDeque<WorkerFacts>,
    registry: Option<Registry>,
    shutting_down: bool,
    /// `http://host:port` the workers call back on; nothing starts before it is set.
    base_url: Option<String>,
    /// The workers' HOME directories live under this one (removed at the stop).
    homes: std::path::PathBuf,
    /// Size and modification time of the files the command names, last seen.
    code: Option<Vec<(u64, Option<std::time::SystemTime>)>>,
    next_code_check: i64,
}

impl Procs {
    /// The supervisor state for `cfg` (workers start once the base URL is set).
    pub(crate) fn new(
        cfg: ProcessConfig,
        min_workers: u32,
        max_workers: u32,
        idle_timeout_ms: i64,
        registry: Option<Registry>,
    ) -> Self {
        let mut gpus_free = cfg.gpus.clone();
        gpus_free.reverse();
        Procs {
            cfg,
            min_workers,
            max_workers,
            idle_timeout_ms,
            workers: BTreeMap::new(),
            gpus_free,
            failures: 0,
            next_spawn_at: 0,
            generation: 1,
            ended: VecDeque::new(),
            registry,
            shutting_down: false,
            base_url: None,
            code: None,
            next_code_check: 0,
            homes: std::env::temp_dir().join(format!(
                "endpoint-server-{}-{}",
                std::process::id(),
                &random_hex()[..8]
            )),
        }
    }

    /// Worker processes held, and ended workers' facts kept.
    pub(crate) fn held(&self) -> (usize, usize) {
        (self.workers.len(), self.ended.len())
    }

    /// Keeps the facts of an ended worker (the newest [`ENDED_KEPT`]).
    fn keep_ended(&mut self, facts: WorkerFacts) {
        self.ended.push_back(facts);
        while self.ended.len() > ENDED_KEPT {
            self.ended.pop_front();
        }
    }

    fn version(&self) -> String {
        format!("r{}-{:08x}", self.generation, config_hash(&self.cfg))
    }

    fn live(&self) -> impl Iterator<Item = (&String, &Proc)> {
        self.workers
            .iter()
            .filter(|(_, p)| p.stopping.is_none() && p.linger_until.is_none())
    }
}

/// The crash-loop wait after `failures` consecutive failures (1 or more), ms: 1 s,
/// 2 s, 4 s ... up to [`MAX_BACKOFF_MS`].
fn backoff_ms(failures: u32) -> i64 {
    (1000i64 << failures.saturating_sub(1).min(6)).min(MAX_BACKOFF_MS)
}

/// How often the handler's files are looked at, ms.
const CODE_CHECK_MS: i64 = 2_000;

/// Size and modification time of each file the command names (e.g. `handler.py`,
/// relative to the working directory): when they change, the workers are outdated.
fn code_fingerprint(cfg: &ProcessConfig) -> Vec<(u64, Option<std::time::SystemTime>)> {
    cfg.command
        .iter()
        .skip(1)
        .filter_map(|a| {
            let p = std::path::Path::new(a);
            let p = match &cfg.cwd {
                Some(d) if p.is_relative() => d.join(p),
                _ => p.to_path_buf(),
            };
            let m = std::fs::metadata(p).ok().filter(|m| m.is_file())?;
            Some((m.len(), m.modified().ok()))
        })
        .collect()
}

/// A stable hash of what a worker runs (command, directory, environment).
fn config_hash(cfg: &ProcessConfig) -> u32 {
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    let mut h: u32 = 0x811c_9dc5;
    let mut eat = |s: &str| {
        for b in s.bytes().chain([0]) {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    for c in &cfg.command {
        eat(c);
    }
    eat(&cfg
        .cwd
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default());
    for (k, v) in &cfg.env {
        eat(k);
        eat(v);
    }
    h
}

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Why a worker request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum WorkerRefusal {
    /// Not a process endpoint.
    NotProcess,
    /// No such worker (never started, or ended).
    Unknown,
    /// The secret did not match.
    BadSecret,
}

impl Endpoint {
    /// Whether this endpoint runs real worker processes.
    pub fn is_process(&self) -> bool {
        self.lock().procs.is_some()
    }

    /// Starts the supervisor: workers call back on `base_url` (`http://host:port`).
    /// Stops what a killed earlier server left running first.
    pub fn start_workers(self: &Arc<Self>, base_url: &str) {
        {
            let mut inner = self.lock();
            let Some(procs) = inner.procs.as_mut() else {
                return;
            };
            procs.base_url = Some(base_url.trim_end_matches('/').to_string());
            if let Some(reg) = &procs.registry {
                let left = reg.reap_leftovers();
                if !left.is_empty() {
                    tracing::warn!(endpoint = %self.id(), workers = ?left, "stopped workers left running by an earlier server");
                }
            }
        }
        let ep = Arc::clone(self);
        tokio::spawn(async move {
            let mut t = tokio::time::interval(TICK);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                t.tick().await;
                {
                    let mut inner = ep.lock();
                    if inner.procs.as_ref().is_none_or(|p| p.shutting_down) {
                        break;
                    }
                    ep.supervise(&mut inner);
                    ep.tick(&mut inner);
                }
            }
        });
    }

    /// Stops every worker (SIGTERM to each group; SIGKILL after the grace) and waits
    /// for them, at most the grace plus a second. New workers are not started after.
    pub async fn stop_workers(&self) {
        let grace = {
            let mut inner = self.lock();
            let now = self.clock().now_ms();
            let Some(procs) = inner.procs.as_mut() else {
                return;
            };
            procs.shutting_down = true;
            let ids: Vec<String> = procs.workers.keys().cloned().collect();
            for id in ids {
                self.stop(&mut inner, &id, "the server is shutting down", false, now);
            }
            inner.procs.as_ref().map_or(0, |p| p.cfg.stop_grace_ms)
        };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(grace);
        loop {
            let left: Vec<u32> = {
                let inner = self.lock();
                inner.procs.as_ref().map_or(Vec::new(), |p| {
                    p.workers
                        .values()
                        .filter(|w| w.linger_until.is_none())
                        .filter_map(|w| w.facts.pid)
                        .collect()
                })
            };
            if left.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                for pgid in left {
                    process::signal_group(pgid, Signal::SIGKILL);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.remove_homes();
    }

    /// Removes the workers' HOME directories.
    fn remove_homes(&self) {
        if let Some(p) = self.lock().procs.as_ref() {
            let _ = std::fs::remove_dir_all(&p.homes);
        }
    }

    /// Kills every worker's process group at once (SIGKILL), without waiting: for
    /// tests' guards and last-resort cleanup.
    pub fn kill_workers_now(&self) {
        let inner = self.lock();
        if let Some(p) = inner.procs.as_ref() {
            for w in p.workers.values() {
                if let Some(pid) = w.facts.pid {
                    process::signal_group(pid, Signal::SIGKILL);
                }
            }
            let _ = std::fs::remove_dir_all(&p.homes);
        }
    }

    /// The workers: live ones first (by id), then the most recently ended.
    pub fn worker_facts(&self) -> Vec<WorkerFacts> {
        let inner = self.lock();
        let Some(p) = inner.procs.as_ref() else {
            return Vec::new();
        };
        let mut out: Vec<WorkerFacts> = p
            .workers
            .values()
            .map(|w| {
                let mut f = w.facts.clone();
                f.state = inner.model.worker_state(&f.id);
                f
            })
            .collect();
        out.extend(p.ended.iter().rev().cloned());
        out
    }

    /// Checks a worker request's secret (`Authorization`, verbatim or `Bearer`).
    pub fn check_worker(
        &self,
        worker: &str,
        authorization: Option<&str>,
    ) -> Result<(), WorkerRefusal> {
        let inner = self.lock();
        let procs = inner.procs.as_ref().ok_or(WorkerRefusal::NotProcess)?;
        let w = procs.workers.get(worker).ok_or(WorkerRefusal::Unknown)?;
        let given = authorization.unwrap_or("").trim();
        let given = given
            .strip_prefix("Bearer ")
            .map(str::trim)
            .unwrap_or(given);
        if crate::auth::same_secret(given, &w.secret) {
            Ok(())
        } else {
            Err(WorkerRefusal::BadSecret)
        }
    }

    /// The live worker whose secret `given` is, if any (compared with every worker's
    /// secret in constant time), so an API route can say why it refuses a worker's
    /// secret.
    pub fn worker_with_secret(&self, given: &str) -> Option<String> {
        let inner = self.lock();
        let procs = inner.procs.as_ref()?;
        let mut found = None;
        for (id, w) in &procs.workers {
            if crate::auth::same_secret(given, &w.secret) {
                found = Some(id.clone());
            }
        }
        found
    }

    /// A request from `worker` is handled at `now`: its first one ends its cold start.
    /// `loop_sent` is when a request from the worker's event loop arrived (a held
    /// job-take is handled again each time it wakes, long after it arrived), `None`
    /// for pings (they come from a separate process, so they say nothing about the
    /// event loop).
    pub(crate) fn worker_seen(
        &self,
        inner: &mut Inner,
        worker: &str,
        loop_sent: Option<i64>,
        now: i64,
    ) {
        let cold = match inner.model.worker_ready(now, worker) {
            Ok(Some(ms)) => Some(ms),
            _ => None,
        };
        let Some(p) = inner.procs.as_mut().and_then(|p| p.workers.get_mut(worker)) else {
            return;
        };
        if let Some(ms) = cold {
            p.facts.ready_at = Some(now);
            p.facts.cold_start_ms = Some(ms);
        }
        if let Some(sent) = loop_sent {
            // The loop sent a request after a stop was delivered: it is running again,
            // so the stop was processed. A request held since before the delivery (a
            // job-take woken by the same notification) proves nothing: a sync handler
            // may still be blocking the loop.
            p.checks.retain(|c| c.delivered.is_none_or(|d| d >= sent));
        }
        if let Some(ms) = cold {
            self.note(
                worker,
                None,
                format!("ready: first request {ms} ms after spawn"),
            );
        }
    }

    /// A system line in the worker's log.
    pub(crate) fn note(&self, worker: &str, job: Option<&str>, text: String) {
        let now = self.clock().now_ms();
        self.logs()
            .push(now, worker, job.map(str::to_string), Stream::System, text);
    }

    /// Jobs for `worker`'s job-take that arrived at `arrived` (ms): up to `want`,
    /// within its concurrency. Err when it must get nothing (stopping, outdated, gone).
    pub(crate) fn take_for(
        &self,
        worker: &str,
        want: usize,
        arrived: i64,
    ) -> Result<Vec<(String, serde_json::Value)>, ()> {
        let mut inner = self.lock();
        let now = self.clock().now_ms();
        self.worker_seen(&mut inner, worker, Some(arrived), now);
        let (conc, stopping) = {
            let Some(p) = inner
                .procs
                .as_ref()
                .and_then(|p| Some((p.cfg.concurrency, p.workers.get(worker)?)))
            else {
                return Err(());
            };
            (
                p.0 as usize,
                p.1.stopping.is_some() || p.1.linger_until.is_some(),
            )
        };
        if stopping {
            return Err(());
        }
        let held = inner.model.worker_jobs(worker).len();
        let n = want.max(1).min(conc.saturating_sub(held));
        if n == 0 {
            return Ok(Vec::new());
        }
        let jobs = inner.model.take(now, worker, n).map_err(|_| ())?;
        let out: Vec<(String, serde_json::Value)> = jobs
            .into_iter()
            .map(|r| {
                let input = inner
                    .extras
                    .get(&r.id)
                    .map(|e| e.input.clone())
                    .unwrap_or(serde_json::Value::Null);
                (r.id, input)
            })
            .collect();
        self.tick(&mut inner);
        Ok(out)
    }

    /// The stop list for `worker`'s job-stop that arrived at `arrived` (ms), and
    /// whether it must be told nothing more (stopping).
    pub(crate) fn stops_for(&self, worker: &str, arrived: i64) -> Result<Vec<String>, ()> {
        let mut inner = self.lock();
        let now = self.clock().now_ms();
        self.worker_seen(&mut inner, worker, Some(arrived), now);
        let p = inner
            .procs
            .as_mut()
            .and_then(|p| p.workers.get_mut(worker))
            .ok_or(())?;
        if p.stopping.is_some() || p.linger_until.is_some() {
            return Err(());
        }
        let out = std::mem::take(&mut p.to_stop);
        for c in &mut p.checks {
            if out.contains(&c.job) {
                c.delivered = Some(now);
            }
        }
        Ok(out)
    }

    /// The wake-up of `worker`'s held requests.
    pub(crate) fn worker_wake(&self, worker: &str) -> Option<Arc<Notify>> {
        let inner = self.lock();
        inner
            .procs
            .as_ref()
            .and_then(|p| p.workers.get(worker))
            .map(|w| Arc::clone(&w.wake))
    }

    /// How long worker requests are held, ms.
    pub(crate) fn hold_ms(&self) -> u64 {
        self.lock().procs.as_ref().map_or(20_000, |p| p.cfg.hold_ms)
    }

    /// A ping from `worker`; `unhealthy` is the SDK's fitness-failure report.
    ///
    /// `held` is the ping's job list. A job handed to the worker that a ping lists
    /// not, although the ping was built well after the hand-over, never reached the
    /// worker (the answer that carried it was lost) and is queued again. The SDK
    /// sends a ping only after the previous one finished, so a ping that follows one
    /// that arrived more than [`HANDOVER_MS`] after the hand-over was built after it.
    pub(crate) fn ping(&self, worker: &str, unhealthy: Option<String>, held: &[String]) {
        let mut inner = self.lock();
        let now = self.clock().now_ms();
        self.worker_seen(&mut inner, worker, None, now);
        let previous = inner
            .procs
            .as_mut()
            .and_then(|p| p.workers.get_mut(worker))
            .and_then(|p| p.last_ping.replace(now));
        if unhealthy.is_none()
            && let Some(prev) = previous
        {
            let lost: Vec<String> = inner
                .model
                .worker_jobs(worker)
                .into_iter()
                .filter(|j| !held.contains(j))
                .filter(|j| {
                    inner
                        .model
                        .job(j)
                        .and_then(|r| r.started_at)
                        .is_some_and(|t| prev > t + HANDOVER_MS)
                })
                .collect();
            for j in lost {
                if inner.model.requeue_job(now, &j, worker).is_ok() {
                    self.note(
                        worker,
                        Some(&j),
                        "queued again: its worker's pings do not list it (the job-take answer never reached it)".into(),
                    );
                }
            }
        }
        if let Some(reason) = unhealthy {
            self.unhealthy(&mut inner, worker, &reason, now);
        }
        self.tick(&mut inner);
    }

    /// Records a finished job from `worker` (see [`Endpoint::job_done`]); a result for
    /// a job it no longer holds is discarded and noted.
    pub(crate) fn worker_result(
        &self,
        worker: &str,
        job: &str,
        outcome: Result<(), String>,
        output: Option<serde_json::Value>,
        stream_end: bool,
        stop_pod: bool,
    ) {
        let mut inner = self.lock();
        let now = self.clock().now_ms();
        self.worker_seen(&mut inner, worker, Some(now), now);
        let failed = outcome.is_err();
        match inner.model.complete(now, job, worker, outcome) {
            Ok(_) => {
                if let Some(e) = inner.extras.get_mut(job) {
                    let chunks = e.chunks.clone();
                    e.output = match output {
                        // A generator's end: its chunks are the output unless it
                        // returned the aggregate itself.
                        Some(serde_json::Value::Array(a))
                            if stream_end && a.is_empty() && !chunks.is_empty() =>
                        {
                            Some(serde_json::Value::Array(chunks))
                        }
                        None if stream_end && !chunks.is_empty() => {
                            Some(serde_json::Value::Array(chunks))
                        }
                        o => o,
                    };
                    e.progress = None;
                    if let (Some(db), Some(out)) = (self.db(), e.output.as_ref()) {
                        db.set_output(self.id(), job, out);
                    }
                }
                if let Some(procs) = inner.procs.as_mut() {
                    if !failed {
                        procs.failures = 0;
                    }
                    if let Some(p) = procs.workers.get_mut(worker) {
                        p.facts.jobs_done += 1;
                    }
                }
            }
            Err(e) => {
                self.note(worker, Some(job), format!("late result discarded: {e}"));
            }
        }
        if stop_pod {
            self.stop(
                &mut inner,
                worker,
                "stopPod: the handler asked for a fresh worker (refresh_worker)",
                false,
                now,
            );
        }
        self.tick(&mut inner);
    }

    /// A progress update (`status: IN_PROGRESS`) or stream chunk of a running job.
    pub(crate) fn worker_partial(
        &self,
        worker: &str,
        job: &str,
        value: serde_json::Value,
        chunk: bool,
    ) {
        let mut inner = self.lock();
        let now = self.clock().now_ms();
        self.worker_seen(&mut inner, worker, Some(now), now);
        let running_here = inner.model.worker_jobs(worker).iter().any(|j| j == job);
        if !running_here {
            drop(inner);
            let what = if chunk {
                "stream chunk"
            } else {
                "progress update"
            };
            self.note(
                worker,
                Some(job),
                format!("late {what} discarded: the job is not running on this worker"),
            );
            return;
        }
        if let Some(e) = inner.extras.get_mut(job) {
            if chunk {
                e.chunks.push(value);
            } else {
                e.progress = Some(value);
            }
        }
    }

    /// One supervision round: health, stops, idle timeouts, drains, throttled
    /// workers, then scaling.
    pub(crate) fn supervise(self: &Arc<Self>, inner: &mut Inner) {
        let now = self.clock().now_ms();
        let Some(procs) = inner.procs.as_ref() else {
            return;
        };
        if procs.base_url.is_none() {
            return;
        }
        if now >= procs.next_code_check {
            let code = code_fingerprint(&procs.cfg);
            let procs = inner.procs.as_mut().expect("checked");
            procs.next_code_check = now + CODE_CHECK_MS;
            let changed = procs.code.as_ref().is_some_and(|c| *c != code);
            procs.code = Some(code);
            if changed {
                // The handler's code changed on disk: a release, as POST /release.
                self.release_in(inner);
                self.note(
                    "supervisor",
                    None,
                    "the handler's files changed: release, workers replaced".into(),
                );
            }
        }
        let Some(procs) = inner.procs.as_ref() else {
            return;
        };
        let cfg = procs.cfg.clone();
        let idle_timeout = procs.idle_timeout_ms;
        let ids: Vec<String> = procs.workers.keys().cloned().collect();
        for id in ids {
            let Some(p) = inner.procs.as_ref().and_then(|p| p.workers.get(&id)) else {
                continue;
            };
            if let Some(until) = p.linger_until {
                if now >= until {
                    let _ = inner.model.set_worker_state(now, &id, None);
                    if let Some(procs) = inner.procs.as_mut()
                        && let Some(p) = procs.workers.remove(&id)
                    {
                        let mut facts = p.facts;
                        facts.state = None;
                        procs.keep_ended(facts);
                    }
                }
                continue;
            }
            if let Some(since) = p.stopping {
                if !p.kill_sent && now - since >= cfg.stop_grace_ms as i64 {
                    if let Some(pid) = p.facts.pid {
                        process::signal_group(pid, Signal::SIGKILL);
                    }
                    if let Some(p) = inner.procs.as_mut().and_then(|x| x.workers.get_mut(&id)) {
                        p.kill_sent = true;
                    }
                    self.note(
                        &id,
                        None,
                        format!(
                            "did not exit {} ms after SIGTERM: SIGKILL",
                            cfg.stop_grace_ms
                        ),
                    );
                }
                continue;
            }
            let state = inner.model.worker_state(&id);
            let pid = p.facts.pid;
            if p.throttled {
                let has_gpu = inner
                    .procs
                    .as_ref()
                    .is_some_and(|x| !x.gpus_free.is_empty());
                if has_gpu {
                    self.launch(inner, &id, now);
                }
                continue;
            }
            // Health, from evidence.
            if let Some(ready) = p.facts.ready_at {
                let last = p.last_ping.unwrap_or(ready).max(ready);
                let limit = cfg.ping_interval_ms as i64 * i64::from(cfg.missed_pings);
                if now - last > limit {
                    let reason = format!(
                        "no ping for {} s ({} missed intervals)",
                        (now - last) / 1000,
                        cfg.missed_pings
                    );
                    self.unhealthy(inner, &id, &reason, now);
                    continue;
                }
            } else if now - p.facts.spawned_at.unwrap_or(now) > cfg.startup_timeout_ms as i64 {
                let reason = format!(
                    "no request within {} s of its start",
                    cfg.startup_timeout_ms / 1000
                );
                self.unhealthy(inner, &id, &reason, now);
                continue;
            }
            let frozen = pid.and_then(process::proc_state) == Some('T');
            let frozen_since = {
                let p = inner
                    .procs
                    .as_mut()
                    .and_then(|x| x.workers.get_mut(&id))
                    .expect("listed");
                if frozen {
                    Some(*p.frozen_since.get_or_insert(now))
                } else {
                    p.frozen_since = None;
                    None
                }
            };
            if let Some(since) = frozen_since
                && now - since >= cfg.ping_interval_ms.min(5_000) as i64
            {
                self.unhealthy(
                    inner,
                    &id,
                    "its process is stopped (SIGSTOP or a debugger)",
                    now,
                );
                continue;
            }
            // Jobs told to stop that the worker still holds on to.
            let stuck = inner
                .procs
                .as_ref()
                .and_then(|x| x.workers.get(&id))
                .and_then(|p| {
                    p.checks
                        .iter()
                        .find(|c| now - c.since >= cfg.cancel_grace_ms as i64)
                })
                .map(|c| c.job.clone());
            if let Some(job) = stuck {
                let reason = format!(
                    "job {job} did not stop within {} ms of its stop signal (a sync handler cannot be interrupted): worker killed",
                    cfg.cancel_grace_ms
                );
                self.stop(inner, &id, &reason, true, now);
                continue;
            }
            let live = inner.procs.as_ref().map_or(0, |x| x.live().count());
            let min = inner.procs.as_ref().map_or(0, |x| x.min_workers) as usize;
            match state {
                Some(WorkerState::Idle) => {
                    let since = inner.model.worker_idle_since(&id).unwrap_or(now);
                    if now - since >= idle_timeout && live > min {
                        let reason = format!("idle for {} s (idle timeout)", idle_timeout / 1000);
                        self.stop(inner, &id, &reason, false, now);
                    }
                }
                Some(WorkerState::Outdated) if inner.model.worker_jobs(&id).is_empty() => {
                    self.stop(
                        inner,
                        &id,
                        "outdated by a release: drained, replaced",
                        false,
                        now,
                    );
                }
                _ => {}
            }
        }
        self.scale(inner, now);
    }

    /// Starts workers while the scaler wants more (one per backoff period during a
    /// crash loop).
    fn scale(self: &Arc<Self>, inner: &mut Inner, now: i64) {
        let Some(procs) = inner.procs.as_ref() else {
            return;
        };
        if procs.shutting_down {
            return;
        }
        let live: Vec<&String> = procs
            .live()
            .filter(|(id, _)| inner.model.worker_state(id) != Some(WorkerState::Outdated))
            .map(|(id, _)| id)
            .collect();
        let n_live = live.len();
        let starting = live
            .iter()
            .filter(|id| {
                matches!(
                    inner.model.worker_state(id),
                    Some(WorkerState::Initializing | WorkerState::Throttled)
                )
            })
            .count();
        let queued = inner.model.queued();
        let running = inner.model.health().jobs.in_progress as usize;
        let want = match procs.cfg.scaler {
            super::Scaler::QueueDelay => {
                let waited = inner.model.oldest_wait(now).unwrap_or(0);
                let late = waited >= (procs.cfg.scaler_value * 1000.0) as i64;
                if queued > 0 && starting < queued && (n_live == 0 || (late && starting == 0)) {
                    n_live + 1
                } else {
                    n_live
                }
            }
            super::Scaler::RequestCount => {
                ((queued + running) as f64 / procs.cfg.scaler_value).ceil() as usize
            }
        };
        let want = want
            .max(procs.min_workers as usize)
            .min(procs.max_workers as usize);
        let mut to_start = want.saturating_sub(n_live);
        while to_start > 0 {
            let Some(procs) = inner.procs.as_mut() else {
                return;
            };
            if now < procs.next_spawn_at {
                return;
            }
            if procs.failures > 0 {
                // Crash loop: one attempt per backoff period.
                let backoff = backoff_ms(procs.failures);
                procs.next_spawn_at = now + backoff;
            }
            let id = format!("w{}-{}", procs.generation, &random_hex()[..8]);
            let version = procs.version();
            procs.workers.insert(
                id.clone(),
                Proc {
                    facts: WorkerFacts {
                        id: id.clone(),
                        state: None,
                        version,
                        gpu: None,
                        pid: None,
                        created_at: now,
                        spawned_at: None,
                        ready_at: None,
                        cold_start_ms: None,
                        jobs_done: 0,
                        ended_at: None,
                        exit_code: None,
                        signal: None,
                        reason: None,
                        last_lines: Vec::new(),
                    },
                    secret: random_hex(),
                    last_ping: None,
                    frozen_since: None,
                    throttled: true,
                    stopping: None,
                    kill_sent: false,
                    failed: false,
                    linger_until: None,
                    wake: Arc::new(Notify::new()),
                    to_stop: Vec::new(),
                    checks: Vec::new(),
                    home: None,
                },
            );
            let has_slot = procs.cfg.gpus.is_empty() || !procs.gpus_free.is_empty();
            if has_slot {
                let _ = inner.model.add_worker(now, &id, WorkerState::Initializing);
                self.launch(inner, &id, now);
            } else {
                let _ = inner.model.add_worker(now, &id, WorkerState::Throttled);
                self.note(&id, None, "throttled: every GPU slot is taken".into());
            }
            to_start -= 1;
        }
    }

    /// Spawns the process of worker `id` (it holds a GPU slot from here).
    fn launch(self: &Arc<Self>, inner: &mut Inner, id: &str, now: i64) {
        let Some(procs) = inner.procs.as_mut() else {
            return;
        };
        let base = procs.base_url.clone().unwrap_or_default();
        let gpu = if procs.cfg.gpus.is_empty() {
            None
        } else {
            match procs.gpus_free.pop() {
                Some(g) => Some(g),
                None => return,
            }
        };
        let cfg = procs.cfg.clone();
        let homes = procs.homes.clone();
        let Some(p) = procs.workers.get_mut(id) else {
            return;
        };
        let was_throttled =
            p.throttled && inner.model.worker_state(id) == Some(WorkerState::Throttled);
        p.throttled = false;
        p.facts.gpu = gpu.clone();
        p.facts.spawned_at = Some(now);
        let home = homes.join(id);
        let _ = std::fs::create_dir_all(&home);
        p.home = Some(home.clone());
        let ep = self.id().to_string();
        let q = format!("gpu={}", gpu.as_deref().unwrap_or("local"));
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        );
        env.insert("HOME".into(), home.display().to_string());
        env.insert("PYTHONUNBUFFERED".into(), "1".into());
        env.insert("LANG".into(), "C.UTF-8".into());
        env.insert(
            "RUNPOD_WEBHOOK_GET_JOB".into(),
            format!("{base}/v2/{ep}/job-take/{id}?{q}"),
        );
        env.insert(
            "RUNPOD_WEBHOOK_POST_OUTPUT".into(),
            format!("{base}/v2/{ep}/job-done/{id}/$ID?{q}"),
        );
        env.insert(
            "RUNPOD_WEBHOOK_POST_STREAM".into(),
            format!("{base}/v2/{ep}/job-stream/{id}/$ID?{q}"),
        );
        env.insert(
            "RUNPOD_WEBHOOK_PING".into(),
            format!("{base}/v2/{ep}/ping/{id}?{q}"),
        );
        env.insert("RUNPOD_POD_ID".into(), id.to_string());
        env.insert("RUNPOD_AI_API_KEY".into(), p.secret.clone());
        env.insert(
            "RUNPOD_PING_INTERVAL".into(),
            cfg.ping_interval_ms.to_string(),
        );
        env.insert("RUNPOD_SKIP_AUTO_SYSTEM_CHECKS".into(), "true".into());
        env.insert("RUNPOD_SKIP_GPU_CHECK".into(), "true".into());
        env.insert("RUNPOD_LOG_LEVEL".into(), "INFO".into());
        env.insert("WORKER_CONCURRENCY".into(), cfg.concurrency.to_string());
        if let Some(g) = &gpu {
            env.insert("CUDA_VISIBLE_DEVICES".into(), g.clone());
        }
        for (k, v) in &cfg.env {
            env.insert(k.clone(), v.clone());
        }
        env.insert(process::WORKER_ENV.into(), id.to_string());
        let spec = SpawnSpec {
            command: cfg.command.clone(),
            cwd: cfg.cwd.clone(),
            env,
        };
        if was_throttled {
            let _ = inner
                .model
                .set_worker_state(now, id, Some(WorkerState::Initializing));
        }
        match process::spawn(&spec) {
            Ok(mut child) => {
                let pid = child.id().unwrap_or(0);
                if let Some(p) = inner.procs.as_mut().and_then(|x| x.workers.get_mut(id)) {
                    p.facts.pid = Some(pid);
                }
                if let Some(reg) = inner.procs.as_ref().and_then(|x| x.registry.as_ref()) {
                    reg.add(id, pid);
                }
                self.note(
                    id,
                    None,
                    format!(
                        "spawned pid {pid}: {}{}",
                        cfg.command.join(" "),
                        gpu.as_ref()
                            .map(|g| format!(" on GPU {g}"))
                            .unwrap_or_default()
                    ),
                );
                let sdk: Arc<std::sync::Mutex<BTreeSet<String>>> = Arc::default();
                for (out, stream) in
                    [
                        (
                            child.stdout.take().map(|o| {
                                Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>
                            }),
                            Stream::Stdout,
                        ),
                        (
                            child.stderr.take().map(|o| {
                                Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>
                            }),
                            Stream::Stderr,
                        ),
                    ]
                {
                    if let Some(out) = out {
                        tokio::spawn(read_lines(
                            Arc::clone(self),
                            id.to_string(),
                            out,
                            stream,
                            Arc::clone(&sdk),
                        ));
                    }
                }
                let ep = Arc::clone(self);
                let wid = id.to_string();
                tokio::spawn(async move {
                    let status = child.wait().await;
                    ep.on_exit(&wid, status.ok());
                });
            }
            Err(e) => {
                let reason = format!("cannot start `{}`: {e}", cfg.command.join(" "));
                self.note(id, None, reason.clone());
                if let Some(p) = inner.procs.as_mut().and_then(|x| x.workers.get_mut(id)) {
                    p.facts.reason = Some(reason);
                    p.failed = true;
                }
                self.finish_worker(inner, id, now);
            }
        }
    }

    /// The process of worker `id` exited.
    fn on_exit(&self, id: &str, status: Option<std::process::ExitStatus>) {
        use std::os::unix::process::ExitStatusExt;
        let mut inner = self.lock();
        let now = self.clock().now_ms();
        let Some(p) = inner.procs.as_mut().and_then(|x| x.workers.get_mut(id)) else {
            return;
        };
        // The SDK's ping process survives its parent: take the whole group.
        if let Some(pid) = p.facts.pid {
            process::signal_group(pid, Signal::SIGKILL);
        }
        let code = status.and_then(|s| s.code());
        let signal = status.and_then(|s| s.signal());
        p.facts.exit_code = code;
        p.facts.signal = signal;
        let asked = p.stopping.is_some();
        if !asked {
            p.failed = true;
            let what = if p.facts.ready_at.is_some() {
                "crashed"
            } else {
                "exited during start"
            };
            let how = match (code, signal) {
                (Some(c), _) => format!("exit code {c}"),
                (_, Some(s)) => format!("signal {s}"),
                _ => "unknown status".into(),
            };
            p.facts.reason = Some(format!("{what} ({how})"));
        }
        let how = match (code, signal) {
            (Some(c), _) => format!("exited with code {c}"),
            (_, Some(s)) => format!("killed by signal {s}"),
            _ => "exited".into(),
        };
        let why = p.facts.reason.clone().unwrap_or_default();
        drop(inner);
        self.note(id, None, format!("{how}: {why}"));
        let mut inner = self.lock();
        self.finish_worker(&mut inner, id, now);
        self.tick(&mut inner);
    }

    /// Ends worker `id`: its jobs are queued again, its slot freed, its facts kept;
    /// a failed one stays UNHEALTHY through the crash-loop backoff.
    fn finish_worker(&self, inner: &mut Inner, id: &str, now: i64) {
        let requeued = inner.model.requeue_worker(now, id).unwrap_or_default();
        for job in &requeued {
            self.note(
                id,
                Some(job),
                "queued again: its worker ended before the result".into(),
            );
        }
        let tail = self.logs().tail(id, CRASH_LINES);
        let Some(procs) = inner.procs.as_mut() else {
            return;
        };
        let Some(p) = procs.workers.get_mut(id) else {
            return;
        };
        if let Some(g) = p.facts.gpu.clone() {
            procs.gpus_free.push(g);
        }
        let p = procs.workers.get_mut(id).expect("just seen");
        if let Some(reg) = &procs.registry {
            reg.remove(id);
        }
        if let Some(h) = p.home.take() {
            let _ = std::fs::remove_dir_all(h);
        }
        p.facts.ended_at = Some(now);
        let failed = p.failed;
        if failed {
            p.facts.last_lines = tail;
        }
        let mut facts = p.facts.clone();
        facts.state = None;
        if failed {
            procs.failures += 1;
            let backoff = backoff_ms(procs.failures);
            procs.next_spawn_at = procs.next_spawn_at.max(now + backoff);
            let p = procs.workers.get_mut(id).expect("just seen");
            p.linger_until = Some(now + backoff);
            let _ = inner
                .model
                .set_worker_state(now, id, Some(WorkerState::Unhealthy));
        } else {
            procs.workers.remove(id);
            let _ = inner.model.set_worker_state(now, id, None);
        }
        if !failed {
            inner.procs.as_mut().expect("checked").keep_ended(facts);
        }
    }

    /// Marks worker `id` unhealthy for `reason`, queues its jobs again and kills it.
    fn unhealthy(&self, inner: &mut Inner, id: &str, reason: &str, now: i64) {
        let Some(p) = inner.procs.as_mut().and_then(|x| x.workers.get_mut(id)) else {
            return;
        };
        if p.stopping.is_some() {
            return;
        }
        p.failed = true;
        p.facts.reason = Some(format!("unhealthy: {reason}"));
        let _ = inner
            .model
            .set_worker_state(now, id, Some(WorkerState::Unhealthy));
        let requeued = inner.model.requeue_worker(now, id).unwrap_or_default();
        for job in &requeued {
            self.note(
                id,
                Some(job),
                "queued again: its worker is unhealthy".into(),
            );
        }
        self.note(id, None, format!("unhealthy: {reason}"));
        self.stop(inner, id, &format!("unhealthy: {reason}"), true, now);
    }

    /// Stops worker `id`: its held requests are answered at once with nothing, then
    /// SIGTERM (or SIGKILL when `kill`) goes to its whole process group.
    fn stop(&self, inner: &mut Inner, id: &str, reason: &str, kill: bool, now: i64) {
        let Some(p) = inner.procs.as_mut().and_then(|x| x.workers.get_mut(id)) else {
            return;
        };
        if p.stopping.is_some() || p.linger_until.is_some() {
            return;
        }
        p.stopping = Some(now);
        p.kill_sent = kill;
        if p.facts.reason.is_none() {
            p.facts.reason = Some(reason.to_string());
        }
        p.wake.notify_waiters();
        let pid = p.facts.pid;
        let throttled = p.throttled;
        match pid {
            Some(pid) => process::signal_group(
                pid,
                if kill {
                    Signal::SIGKILL
                } else {
                    Signal::SIGTERM
                },
            ),
            None if throttled => {
                // Never spawned.
                self.finish_worker(inner, id, now);
                return;
            }
            None => {}
        }
        self.note(
            id,
            None,
            format!(
                "stopping ({}): {reason}",
                if kill { "SIGKILL" } else { "SIGTERM" }
            ),
        );
    }

    /// After the model moved: tells workers to stop the jobs that ended under them
    /// (cancelled, timed out), and wakes job-takes when jobs are queued.
    pub(crate) fn after_changes(&self, inner: &mut Inner, changes: &[endpoint_sim::model::Change]) {
        use endpoint_core::JobStatus;
        use endpoint_sim::model::Change;
        let Some(procs) = inner.procs.as_mut() else {
            return;
        };
        let now = self.clock().now_ms();
        let mut queued = false;
        for c in changes {
            let Change::Job(r) = c else { continue };
            match r.status {
                JobStatus::InQueue => queued = true,
                JobStatus::Cancelled | JobStatus::TimedOut if r.started_at.is_some() => {
                    if let Some(w) = r.worker_id.as_ref().and_then(|w| procs.workers.get_mut(w))
                        && w.stopping.is_none()
                    {
                        w.to_stop.push(r.id.clone());
                        w.checks.push(StopCheck {
                            job: r.id.clone(),
                            since: now,
                            delivered: None,
                        });
                        w.wake.notify_waiters();
                    }
                }
                _ => {}
            }
        }
        if queued {
            self.jobs_ready().notify_waiters();
        }
    }

    /// A release: every current worker turns OUTDATED, finishes its jobs and is
    /// replaced by workers of the new version.
    pub(crate) fn release_workers(&self, inner: &mut Inner) {
        let now = self.clock().now_ms();
        let Some(procs) = inner.procs.as_mut() else {
            return;
        };
        procs.generation += 1;
        let throttled: Vec<String> = procs
            .workers
            .iter()
            .filter(|(_, p)| p.throttled)
            .map(|(id, _)| id.clone())
            .collect();
        for id in throttled {
            self.stop(
                inner,
                &id,
                "outdated by a release before it started",
                false,
                now,
            );
        }
    }
}

/// Reads one output stream of worker `id` into the endpoint's log, line by line.
/// A line that names no job belongs to the one job the worker runs, if it runs
/// exactly one (so a handler's own prints and stderr are tied to their job): the
/// jobs the model says it holds, and those the SDK said it started and has not
/// finished (`sdk`, shared by both streams; it still names a cancelled job until the
/// SDK says it stopped).
async fn read_lines(
    ep: Arc<Endpoint>,
    id: String,
    out: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    stream: Stream,
    sdk: Arc<std::sync::Mutex<BTreeSet<String>>>,
) {
    let mut lines = BufReader::new(out).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => {
                ep.note(&id, None, format!("cannot read its {stream:?}: {e}"));
                break;
            }
        };
        let named = job_in_line(&line);
        let mut running = {
            let mut sdk = sdk.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(j) = &named {
                if line.contains("| Started.") {
                    sdk.insert(j.clone());
                } else if line.contains("| Finished") || line.contains("| Job stopped") {
                    sdk.remove(j);
                }
            }
            sdk.clone()
        };
        let job = named.or_else(|| {
            running.extend(ep.lock().model.worker_jobs(&id));
            (running.len() == 1).then(|| running.pop_first()).flatten()
        });
        let now = ep.clock().now_ms();
        ep.logs().push(now, &id, job, stream, line);
    }
}
