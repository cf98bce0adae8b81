//! Workers' facts and log lines: what the server's `/workers` and `/logs` answer for
//! worker processes; the same made up from the feed's records for workers that have
//! no process (the Demo, and endpoints whose workers the server simulates); and the
//! buffer that follows one worker's log live.
//!
//! Made-up facts come from what every source sends anyway: the worker transitions
//! (created, spawned, state, stopped and why), the cold starts (ready, cold start)
//! and the job records (jobs done). Made-up lines read like a `runpod` worker's
//! (`INFO   | <job id> | Started.`), are numbered so they can be followed with a
//! cursor like the server's, and the panel labels them as simulated wherever they
//! show.

use std::collections::{BTreeMap, HashMap, VecDeque};

use endpoint_core::feed::{Changes, Events, Snapshot};
use endpoint_core::{ColdStart, JobStatus, JobStore, WorkerState, WorkerTransition};
use serde::{Deserialize, Serialize};

use crate::feed::api::{Answer, FetchError, json_body};
use crate::feed::poll::PollState;
use crate::view::time::fmt_ms;
use crate::view::url::percent_encode;

/// What is known about one worker (an item of `/workers`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerFacts {
    /// Worker id.
    pub id: String,
    /// Current state; `None` once stopped.
    pub state: Option<WorkerState>,
    /// Which release and worker configuration it runs.
    #[serde(default)]
    pub version: String,
    /// Its GPU slot, if the host has slots.
    pub gpu: Option<String>,
    /// Process id.
    pub pid: Option<u32>,
    /// When it was wanted or spawned, ms since the epoch.
    pub created_at: i64,
    /// When its process was spawned (container start).
    pub spawned_at: Option<i64>,
    /// When it was ready for its first job.
    pub ready_at: Option<i64>,
    /// Spawn to ready, ms.
    pub cold_start_ms: Option<i64>,
    /// Jobs it finished (completed or failed).
    #[serde(default)]
    pub jobs_done: u64,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// Why it was stopped, or what went wrong.
    pub reason: Option<String>,
    /// Its last output lines, when it crashed.
    #[serde(default)]
    pub last_lines: Vec<String>,
}

/// Where a list of worker facts comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The server's worker processes (`/workers`).
    Processes,
    /// The server listed no processes: its workers are simulated (or ended too long
    /// ago to be listed); the facts are derived from the feed.
    SimulatedByServer,
    /// The Demo in this browser: derived from its records.
    Demo,
}

impl Origin {
    /// What the panel says about facts of this origin, if anything.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Origin::Processes => None,
            Origin::SimulatedByServer => Some(
                "The server lists no worker processes for this endpoint: its workers are \
                 simulated by the server (or ended too long ago to be listed). These facts \
                 are derived from the feed's transitions, cold starts and jobs.",
            ),
            Origin::Demo => Some(
                "Simulated: the Demo has no processes. These facts are derived from its \
                 transitions, cold starts and jobs.",
            ),
        }
    }
}

/// The workers of an endpoint and where their facts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerList {
    /// Where they come from.
    pub origin: Origin,
    /// The workers.
    pub workers: Vec<WorkerFacts>,
}

/// The release a simulated worker runs, from its id (`worker-3-r1`: release 1).
fn release_of(id: &str) -> String {
    id.rsplit_once("-r")
        .filter(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        .map(|(_, n)| format!("release {n}"))
        .unwrap_or_default()
}

/// Why a worker last in `state` stopped (the model's rules: outdated workers drain,
/// unhealthy ones are reaped, idle ones scale down).
fn stop_reason(state: Option<WorkerState>) -> &'static str {
    match state {
        Some(WorkerState::Outdated) => "outdated: drained after a release",
        Some(WorkerState::Unhealthy) => "unhealthy: stopped after failing health checks",
        Some(WorkerState::Idle) => "scaled down: idle past the idle timeout",
        Some(WorkerState::Throttled) => "throttled: stopped before a GPU came free",
        Some(WorkerState::Initializing) => "stopped while starting",
        Some(WorkerState::Running) => "stopped while running",
        None => "stopped",
    }
}

/// Facts about every worker in `store` and `events`, derived from their transitions
/// (created, spawned, state, end and why), cold starts (ready, cold start) and jobs
/// (jobs done). Live workers first, newest first; then stopped ones, last stopped first.
pub fn derive_facts(store: &JobStore, events: &Events) -> Vec<WorkerFacts> {
    let mut by = BTreeMap::new();
    take_events(&mut by, &events.transitions, &events.cold_starts);
    for row in 0..store.len() as u32 {
        let Some(w) = store.worker_name(row) else {
            continue;
        };
        let r = store.row(row);
        let f = entry(&mut by, w, r.started_at().unwrap_or(r.submitted_at));
        if matches!(r.status, JobStatus::Completed | JobStatus::Failed) {
            f.jobs_done += 1;
        }
    }
    sorted(by.into_values())
}

/// The facts of worker `id`, created (as first seen at `at`) if new.
fn entry<'a>(by: &'a mut BTreeMap<String, WorkerFacts>, id: &str, at: i64) -> &'a mut WorkerFacts {
    by.entry(id.to_string()).or_insert_with(|| WorkerFacts {
        id: id.to_string(),
        version: release_of(id),
        created_at: at,
        ..WorkerFacts::default()
    })
}

/// Takes transitions (in time order once sorted here) and cold starts into the facts.
fn take_events(
    by: &mut BTreeMap<String, WorkerFacts>,
    transitions: &[WorkerTransition],
    cold_starts: &[ColdStart],
) {
    let mut order: Vec<&WorkerTransition> = transitions.iter().collect();
    order.sort_by_key(|t| t.at);
    for t in order {
        let f = entry(by, &t.worker_id, t.at);
        f.created_at = f.created_at.min(t.at);
        if t.state == Some(WorkerState::Initializing) && f.spawned_at.is_none() {
            f.spawned_at = Some(t.at);
        }
        match t.state {
            None => {
                f.ended_at = Some(t.at);
                f.reason = Some(stop_reason(f.state).to_string());
            }
            Some(_) => {
                f.ended_at = None;
                f.reason = None;
            }
        }
        f.state = t.state;
    }
    for c in cold_starts {
        let f = entry(by, &c.worker_id, c.started_at);
        f.created_at = f.created_at.min(c.started_at);
        f.spawned_at = Some(f.spawned_at.map_or(c.started_at, |s| s.min(c.started_at)));
        f.ready_at = Some(c.ready_at);
        f.cold_start_ms = Some(c.duration.round() as i64);
    }
}

/// Live workers first, newest first; then stopped ones, last stopped first.
fn sorted(facts: impl Iterator<Item = WorkerFacts>) -> Vec<WorkerFacts> {
    let mut out: Vec<WorkerFacts> = facts.collect();
    out.sort_by(|a, b| {
        let key = |f: &WorkerFacts| {
            (
                f.state.is_none(),
                std::cmp::Reverse(f.ended_at.unwrap_or(f.created_at)),
            )
        };
        key(a).cmp(&key(b)).then(a.id.cmp(&b.id))
    });
    out
}

/// A finished job's record may come again (a webhook attempt updates it); the same
/// job ending at the same time is counted once if it comes again within this long.
const RECOUNT_AFTER_MS: i64 = 10 * 60_000;

/// Worker facts kept up to date from a change feed (the Demo's): one pass over the
/// records at the start, then only each page of changes, as [`derive_facts`] would
/// give them from all the records.
#[derive(Debug, Clone, Default)]
pub struct FactsFollow {
    by: BTreeMap<String, WorkerFacts>,
    /// Jobs counted as done lately, with the end they were counted for.
    counted: HashMap<String, i64>,
    cursor: u64,
}

impl FactsFollow {
    /// The facts of a snapshot (all the history wanted), followed from its cursor.
    pub fn from_snapshot(snap: &Snapshot) -> Self {
        let mut by = BTreeMap::new();
        take_events(&mut by, &snap.events.transitions, &snap.events.cold_starts);
        let mut counted = HashMap::new();
        let latest = (0..snap.jobs.len() as u32)
            .filter_map(|r| snap.jobs.row(r).completed_at())
            .max()
            .unwrap_or(0);
        for row in 0..snap.jobs.len() as u32 {
            let Some(w) = snap.jobs.worker_name(row) else {
                continue;
            };
            let r = snap.jobs.row(row);
            let f = entry(&mut by, w, r.started_at().unwrap_or(r.submitted_at));
            if matches!(r.status, JobStatus::Completed | JobStatus::Failed) {
                f.jobs_done += 1;
                if let Some(end) = r.completed_at().filter(|&e| e >= latest - RECOUNT_AFTER_MS) {
                    counted.insert(snap.jobs.id(row), end);
                }
            }
        }
        FactsFollow {
            by,
            counted,
            cursor: snap.cursor,
        }
    }

    /// The cursor to ask for changes from.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Takes a page of changes.
    pub fn apply(&mut self, ch: &Changes) {
        take_events(&mut self.by, &ch.transitions, &ch.cold_starts);
        let mut latest = i64::MIN;
        for j in &ch.jobs {
            let Some(w) = &j.worker_id else {
                continue;
            };
            let f = entry(&mut self.by, w, j.started_at.unwrap_or(j.submitted_at));
            if !matches!(j.status, JobStatus::Completed | JobStatus::Failed) {
                continue;
            }
            let Some(end) = j.completed_at else {
                continue;
            };
            latest = latest.max(end);
            if self.counted.get(&j.id) != Some(&end) {
                f.jobs_done += 1;
                self.counted.insert(j.id.clone(), end);
            }
        }
        if latest > i64::MIN {
            self.counted
                .retain(|_, &mut end| end >= latest - RECOUNT_AFTER_MS);
        }
        self.cursor = ch.cursor;
    }

    /// Forgets the workers that were gone before `before` (out of the retention),
    /// so following a feed for days holds no more than its retention's workers.
    pub fn forget_before(&mut self, before: i64) {
        self.by
            .retain(|_, f| f.state.is_some() || f.ended_at.is_none_or(|e| e >= before));
    }

    /// Every worker's facts, ordered as [`derive_facts`] orders them.
    pub fn list(&self) -> Vec<WorkerFacts> {
        sorted(self.by.values().cloned())
    }
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// The worker's standard output.
    Stdout,
    /// The worker's standard error.
    Stderr,
    /// The supervisor, about the worker.
    System,
}

impl LogStream {
    /// Its name on the wire and on screen.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
            LogStream::System => "system",
        }
    }
}

/// One log line (an item of `/logs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// Position in the endpoint's log (ask for lines after it).
    pub seq: u64,
    /// When the server read it, ms since the epoch.
    pub at: i64,
    /// The worker.
    pub worker_id: String,
    /// The job it belongs to, when known.
    #[serde(default)]
    pub job_id: Option<String>,
    /// stdout, stderr or system.
    pub stream: LogStream,
    /// The text.
    pub text: String,
}

/// An answer of `/logs`: lines oldest first, and the cursor to follow from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogPage {
    /// The lines, oldest first.
    pub lines: Vec<LogLine>,
    /// Ask with this cursor to get only newer lines.
    pub cursor: u64,
}

/// Which lines to ask `/logs` for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogFilter {
    /// Only this worker's.
    pub worker: Option<String>,
    /// Only this job's.
    pub job: Option<String>,
    /// Only lines at or after this time, ms since the epoch.
    pub since: Option<i64>,
    /// Only lines after this cursor, oldest first (following); without it, the newest.
    pub cursor: Option<u64>,
    /// Most lines (the server's default is 500, its maximum 5,000).
    pub limit: Option<usize>,
}

/// The server's default page.
pub const DEFAULT_LIMIT: usize = 500;
/// The server's largest page.
pub const MAX_LIMIT: usize = 5_000;

impl LogFilter {
    /// The query string of `/logs` (without `?`).
    pub fn query(&self) -> String {
        let mut p = Vec::new();
        if let Some(w) = &self.worker {
            p.push(format!("worker={}", percent_encode(w)));
        }
        if let Some(j) = &self.job {
            p.push(format!("job={}", percent_encode(j)));
        }
        if let Some(s) = self.since {
            p.push(format!("since={s}"));
        }
        if let Some(c) = self.cursor {
            p.push(format!("cursor={c}"));
        }
        if let Some(l) = self.limit {
            p.push(format!("limit={l}"));
        }
        p.join("&")
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }
}

/// Kinds of made-up lines, in the order they are told at one instant (a job ends
/// before its worker stops; a worker is ready before its next job starts). A line's
/// cursor is `at * KINDS + kind`: made-up lines can be followed like the server's.
const KINDS: u64 = 8;
const K_ERROR: u64 = 0;
const K_FINISHED: u64 = 1;
const K_STATE: u64 = 2;
const K_STOPPED: u64 = 3;
const K_SPAWN: u64 = 4;
const K_READY: u64 = 5;
const K_STARTED: u64 = 6;

fn seq(at: i64, kind: u64) -> u64 {
    (at.max(0) as u64) * KINDS + kind
}

/// Lines a worker would plausibly have written, made up from the records of
/// `store` and `events` (for workers without a process), answering `f` as `/logs`
/// would: the newest `limit` lines, or with a cursor the oldest after it. `now` is
/// the time of the records: with no line to give, the cursor moves up to it.
pub fn simulated_lines(store: &JobStore, events: &Events, f: &LogFilter, now: i64) -> LogPage {
    let worker_ok = |w: &str| f.worker.as_deref().is_none_or(|x| x == w);
    let mut lines: Vec<LogLine> = Vec::new();
    let mut add = |at: i64, kind: u64, worker: &str, job: Option<String>, stream, text| {
        lines.push(LogLine {
            seq: seq(at, kind),
            at,
            worker_id: worker.to_string(),
            job_id: job,
            stream,
            text,
        })
    };
    // Worker lines (not for a job's log).
    if f.job.is_none() {
        let mut order: Vec<usize> = (0..events.transitions.len())
            .filter(|&i| worker_ok(&events.transitions[i].worker_id))
            .collect();
        order.sort_by_key(|&i| events.transitions[i].at);
        let mut last: BTreeMap<&str, Option<WorkerState>> = BTreeMap::new();
        for i in order {
            let t = &events.transitions[i];
            let before = last.insert(t.worker_id.as_str(), t.state).flatten();
            let w = t.worker_id.as_str();
            let (kind, stream, text) = match t.state {
                Some(WorkerState::Initializing) => (
                    K_SPAWN,
                    LogStream::System,
                    format!("worker {w} spawned: starting the container, loading the model"),
                ),
                Some(WorkerState::Throttled) => (
                    K_STATE,
                    LogStream::System,
                    "throttled: no GPU free, waiting for one".to_string(),
                ),
                Some(WorkerState::Outdated) => (
                    K_STATE,
                    LogStream::System,
                    "a new release is out: outdated, drains after its current job".to_string(),
                ),
                Some(WorkerState::Unhealthy) => (
                    K_STATE,
                    LogStream::System,
                    "health check failed: marked unhealthy".to_string(),
                ),
                None => (
                    K_STOPPED,
                    LogStream::System,
                    format!("worker stopped ({})", stop_reason(before)),
                ),
                Some(WorkerState::Idle | WorkerState::Running) => continue,
            };
            add(t.at, kind, w, None, stream, text);
        }
        for c in events
            .cold_starts
            .iter()
            .filter(|c| worker_ok(&c.worker_id))
        {
            add(
                c.ready_at,
                K_READY,
                &c.worker_id,
                None,
                LogStream::Stdout,
                format!(
                    "INFO   | worker is ready after {} (cold start)",
                    fmt_ms(c.duration)
                ),
            );
        }
    }
    // Job lines.
    let rows: Vec<u32> = match &f.job {
        Some(id) => store.find(id).into_iter().collect(),
        None => (0..store.len() as u32).collect(),
    };
    for row in rows {
        let Some(w) = store.worker_name(row) else {
            continue;
        };
        if !worker_ok(w) {
            continue;
        }
        let r = store.row(row);
        let Some(start) = r.started_at() else {
            continue;
        };
        let id = store.id(row);
        let job = || Some(id.clone());
        add(
            start,
            K_STARTED,
            w,
            job(),
            LogStream::Stdout,
            format!("INFO   | {id} | Started."),
        );
        let Some(end) = r.completed_at() else {
            continue;
        };
        let error = || store.record(row).error.unwrap_or_default();
        match r.status {
            JobStatus::Completed => add(
                end,
                K_FINISHED,
                w,
                job(),
                LogStream::Stdout,
                format!("INFO   | {id} | Finished."),
            ),
            JobStatus::Failed => {
                add(
                    end,
                    K_ERROR,
                    w,
                    job(),
                    LogStream::Stderr,
                    format!("ERROR  | {id} | {}", error()),
                );
                add(
                    end,
                    K_FINISHED,
                    w,
                    job(),
                    LogStream::Stdout,
                    format!("INFO   | {id} | Finished."),
                );
            }
            JobStatus::TimedOut => add(
                end,
                K_FINISHED,
                w,
                job(),
                LogStream::System,
                format!(
                    "job {id} timed out ({}); the worker was told to stop it",
                    error()
                ),
            ),
            JobStatus::Cancelled => add(
                end,
                K_FINISHED,
                w,
                job(),
                LogStream::System,
                format!("job {id} cancelled; the worker was told to stop it"),
            ),
            JobStatus::InQueue | JobStatus::InProgress => {}
        }
    }
    lines.retain(|l| {
        f.since.is_none_or(|s| l.at >= s) && f.cursor.is_none_or(|c| l.seq > c) && l.at <= now
    });
    lines.sort_by_key(|l| l.seq);
    let limit = f.limit();
    if f.cursor.is_some() {
        lines.truncate(limit);
    } else if lines.len() > limit {
        lines.drain(..lines.len() - limit);
    }
    let cursor = match lines.last() {
        Some(l) => l.seq,
        // Nothing new: up to just before now (a line at now may still come).
        None => f.cursor.unwrap_or(0).max(seq(now, 0).saturating_sub(1)),
    };
    LogPage { lines, cursor }
}

/// The time a made-up line's cursor stands for (where the Demo looks from).
pub fn simulated_cursor_time(cursor: u64) -> i64 {
    (cursor / KINDS) as i64
}

/// Most lines kept on screen while following.
pub const MAX_LINES: usize = 2_000;
/// Lines asked for in a first look.
pub const FIRST_LINES: usize = 300;
/// Lines asked for at once while following.
pub const PAGE_LINES: usize = 1_000;

/// One log followed live: the lines held (at most [`MAX_LINES`], the oldest dropped
/// first), the cursor to ask from, and the poll state (errors keep the lines).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFollow {
    lines: VecDeque<LogLine>,
    cursor: Option<u64>,
    dropped: u64,
    /// Last success, current error, backoff.
    pub poll: PollState,
}

impl LogFollow {
    /// The next request: `base` (worker or job, `since` for the first look) with the
    /// cursor once there is one.
    pub fn next_request(&self, base: &LogFilter) -> LogFilter {
        match self.cursor {
            Some(c) => LogFilter {
                cursor: Some(c),
                since: None,
                limit: Some(PAGE_LINES),
                ..base.clone()
            },
            // A first look: the newest lines, not too many (drawing a thousand lines
            // at once holds the page up for a few hundred ms).
            None => LogFilter {
                limit: Some(FIRST_LINES),
                ..base.clone()
            },
        }
    }

    /// Takes an answer to [`LogFollow::next_request`] at `now_ms`. Returns true when
    /// the page was full (more lines are waiting: ask again at once).
    pub fn apply(&mut self, asked: &LogFilter, page: LogPage, now_ms: f64) -> bool {
        self.poll.record_ok(now_ms);
        if asked.cursor.is_some_and(|c| page.cursor < c) {
            // The cursor went back: the server's log started over (a restart).
            // Look again from scratch.
            self.lines.clear();
            self.cursor = None;
            return true;
        }
        // Only a page after a cursor can have more behind it (a first look gives the
        // newest lines).
        let full =
            asked.cursor.is_some() && page.lines.len() >= asked.limit.unwrap_or(DEFAULT_LIMIT);
        for l in page.lines {
            if self.lines.back().is_none_or(|b| l.seq > b.seq) {
                self.lines.push_back(l);
            }
        }
        while self.lines.len() > MAX_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.cursor = Some(page.cursor.max(self.cursor.unwrap_or(0)));
        full
    }

    /// Records a failed request at `now_ms`; the lines stay.
    pub fn fail(&mut self, e: FetchError, now_ms: f64) {
        self.poll.record_err(now_ms, e);
    }

    /// The lines held, oldest first.
    pub fn lines(&self) -> &VecDeque<LogLine> {
        &self.lines
    }

    /// Lines dropped from the top to stay within [`MAX_LINES`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether an answer has arrived yet.
    pub fn loaded(&self) -> bool {
        self.poll.last_ok_ms.is_some()
    }
}

/// Interprets an answer to `/workers` (`{"workers": [...]}`).
pub fn interpret_workers(a: &Answer) -> Result<Vec<WorkerFacts>, FetchError> {
    #[derive(serde::Deserialize)]
    struct Workers {
        workers: Vec<WorkerFacts>,
    }
    json_body::<Workers>(a).map(|w| w.workers)
}

/// Interprets an answer to `/logs` (`{"lines": [...], "cursor": N}`).
pub fn interpret_logs(a: &Answer) -> Result<LogPage, FetchError> {
    json_body(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use endpoint_core::{ColdStart, JobRecord, WorkerTransition};

    fn fixture() -> (JobStore, Events) {
        let mut s = JobStore::default();
        let done = |id: &str, start: i64, end: i64, status: JobStatus| JobRecord {
            status,
            started_at: Some(start),
            completed_at: Some(end),
            delay_time: Some(100.0),
            execution_time: Some((end - start) as f64),
            worker_id: Some("worker-0-r1".into()),
            error: (status != JobStatus::Completed).then(|| "simulated failure".into()),
            ..JobRecord::queued(id, start - 100)
        };
        for r in [
            done("j1", 5_000, 6_000, JobStatus::Completed),
            done("j2", 6_000, 7_500, JobStatus::Failed),
            JobRecord {
                status: JobStatus::InProgress,
                started_at: Some(9_000),
                delay_time: Some(100.0),
                worker_id: Some("worker-0-r1".into()),
                ..JobRecord::queued("j3", 8_900)
            },
        ] {
            s.upsert(&r).unwrap();
        }
        let t = |w: &str, state, at| WorkerTransition {
            worker_id: w.into(),
            state,
            at,
        };
        let events = Events {
            transitions: vec![
                t("worker-0-r1", Some(WorkerState::Initializing), 1_000),
                t("worker-0-r1", Some(WorkerState::Idle), 4_000),
                t("worker-0-r1", Some(WorkerState::Running), 5_000),
                t("other", Some(WorkerState::Throttled), 2_000),
                t("other", Some(WorkerState::Initializing), 3_000),
                t("other", Some(WorkerState::Idle), 3_500),
                t("other", None, 8_000),
            ],
            cold_starts: vec![
                ColdStart {
                    worker_id: "worker-0-r1".into(),
                    started_at: 1_000,
                    ready_at: 4_000,
                    duration: 3_000.0,
                },
                ColdStart {
                    worker_id: "other".into(),
                    started_at: 3_000,
                    ready_at: 3_500,
                    duration: 500.0,
                },
            ],
            deliveries: vec![],
        };
        (s, events)
    }

    #[test]
    fn facts_are_derived_from_transitions_cold_starts_and_jobs() {
        let (s, e) = fixture();
        let f = derive_facts(&s, &e);
        assert_eq!(f.len(), 2);
        // Live first.
        let w = &f[0];
        assert_eq!(w.id, "worker-0-r1");
        assert_eq!(w.state, Some(WorkerState::Running));
        assert_eq!(w.version, "release 1");
        assert_eq!(
            (w.created_at, w.spawned_at, w.ready_at, w.cold_start_ms),
            (1_000, Some(1_000), Some(4_000), Some(3_000))
        );
        assert_eq!(
            w.jobs_done, 2,
            "completed and failed count, running does not"
        );
        assert_eq!((w.ended_at, w.reason.as_deref()), (None, None));
        let o = &f[1];
        assert_eq!(o.id, "other");
        assert_eq!(o.version, "");
        assert_eq!((o.created_at, o.spawned_at), (2_000, Some(3_000)));
        assert_eq!(o.ended_at, Some(8_000));
        assert_eq!(
            o.reason.as_deref(),
            Some("scaled down: idle past the idle timeout")
        );
        assert_eq!(o.state, None);
    }

    #[test]
    fn made_up_lines_read_like_a_worker_and_follow_with_a_cursor() {
        let (s, e) = fixture();
        let f = LogFilter {
            worker: Some("worker-0-r1".into()),
            ..LogFilter::default()
        };
        let page = simulated_lines(&s, &e, &f, 10_000);
        let texts: Vec<&str> = page.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "worker worker-0-r1 spawned: starting the container, loading the model",
                "INFO   | worker is ready after 3.00 s (cold start)",
                "INFO   | j1 | Started.",
                // j1 ends and j2 starts at the same instant: the end first.
                "INFO   | j1 | Finished.",
                "INFO   | j2 | Started.",
                "ERROR  | j2 | simulated failure",
                "INFO   | j2 | Finished.",
                "INFO   | j3 | Started.",
            ]
        );
        assert!(page.lines.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(page.lines[0].stream, LogStream::System);
        assert_eq!(page.lines[5].stream, LogStream::Stderr);
        assert_eq!(page.lines[5].job_id.as_deref(), Some("j2"));
        assert_eq!(page.cursor, page.lines[7].seq);
        // Following: nothing new, the cursor stays put (or moves up to now).
        let again = simulated_lines(
            &s,
            &e,
            &LogFilter {
                cursor: Some(page.cursor),
                ..f.clone()
            },
            10_000,
        );
        assert!(again.lines.is_empty());
        assert!(again.cursor >= page.cursor);
        // The newest `limit`, or after a cursor the oldest.
        let newest = simulated_lines(
            &s,
            &e,
            &LogFilter {
                limit: Some(2),
                ..f.clone()
            },
            10_000,
        );
        assert_eq!(newest.lines.len(), 2);
        assert_eq!(newest.lines[1].text, "INFO   | j3 | Started.");
        let after = simulated_lines(
            &s,
            &e,
            &LogFilter {
                limit: Some(2),
                cursor: Some(page.lines[2].seq),
                ..f.clone()
            },
            10_000,
        );
        assert_eq!(after.lines[0].text, "INFO   | j1 | Finished.");
        assert_eq!(after.cursor, after.lines[1].seq);
        // A job's own lines; a stopped worker's reason.
        let job = simulated_lines(
            &s,
            &e,
            &LogFilter {
                job: Some("j2".into()),
                ..LogFilter::default()
            },
            10_000,
        );
        assert_eq!(job.lines.len(), 3);
        assert!(job.lines.iter().all(|l| l.job_id.as_deref() == Some("j2")));
        let other = simulated_lines(
            &s,
            &e,
            &LogFilter {
                worker: Some("other".into()),
                since: Some(3_000),
                ..LogFilter::default()
            },
            10_000,
        );
        let texts: Vec<&str> = other.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "worker other spawned: starting the container, loading the model",
                "INFO   | worker is ready after 500 ms (cold start)",
                "worker stopped (scaled down: idle past the idle timeout)",
            ]
        );
    }

    #[test]
    fn the_demo_makes_up_lines_for_every_job_it_ran() {
        use endpoint_sim::demo::{Demo, DemoConfig};
        let now = 1_800_000_000_000;
        let demo = Demo::new(
            7,
            now,
            DemoConfig {
                history_ms: 3_600_000,
                ..DemoConfig::default()
            },
        );
        let snap = demo.snapshot(now - 3_600_000, now + 1);
        let facts = derive_facts(&snap.jobs, &snap.events);
        assert!(!facts.is_empty());
        let busiest = facts.iter().max_by_key(|f| f.jobs_done).unwrap();
        assert!(busiest.jobs_done > 10);
        let page = simulated_lines(
            &snap.jobs,
            &snap.events,
            &LogFilter {
                worker: Some(busiest.id.clone()),
                limit: Some(MAX_LIMIT),
                ..LogFilter::default()
            },
            now,
        );
        let finished = page
            .lines
            .iter()
            .filter(|l| l.text.ends_with("| Finished."))
            .count() as u64;
        assert_eq!(finished, busiest.jobs_done);
        assert!(page.lines.iter().all(|l| l.worker_id == busiest.id));
    }

    #[test]
    fn following_the_demos_changes_gives_the_facts_of_all_its_records() {
        use endpoint_sim::demo::{Demo, DemoConfig};
        let now = 1_800_000_000_000;
        let mut demo = Demo::new(
            5,
            now,
            DemoConfig {
                history_ms: 2 * 3_600_000,
                ..DemoConfig::default()
            },
        );
        let all = |d: &Demo| d.snapshot(now - 10 * 3_600_000, d.now() + 1);
        let mut f = FactsFollow::from_snapshot(&all(&demo));
        assert_eq!(f.list(), derive_facts(&all(&demo).jobs, &all(&demo).events));
        for step in 1..=20 {
            demo.advance(now + step * 30_000);
            // Small pages: a job's records (queued, running, ended, webhook) spread
            // over several.
            loop {
                let ch = demo.changes_since(f.cursor(), 7).unwrap();
                let more = ch.len() >= 7;
                f.apply(&ch);
                if !more {
                    break;
                }
            }
        }
        let snap = all(&demo);
        let want = derive_facts(&snap.jobs, &snap.events);
        assert_eq!(f.list(), want);
        assert!(want.iter().map(|w| w.jobs_done).sum::<u64>() > 1_000);
        // Forgetting what left the retention keeps the live workers and the recent.
        let gone = want.iter().filter(|w| w.state.is_none()).count();
        assert!(gone > 3, "{gone}");
        f.forget_before(i64::MIN);
        assert_eq!(f.list(), want);
        let cut = now - 3_600_000;
        f.forget_before(cut);
        let before = want.len();
        let kept: Vec<WorkerFacts> = want
            .into_iter()
            .filter(|w| w.state.is_some() || w.ended_at.unwrap() >= cut)
            .collect();
        assert!(kept.len() < before, "{} of {before}", kept.len());
        assert_eq!(f.list(), kept);
    }

    fn line(seq: u64) -> LogLine {
        LogLine {
            seq,
            at: seq as i64,
            worker_id: "w".into(),
            job_id: None,
            stream: LogStream::Stdout,
            text: format!("line {seq}"),
        }
    }

    #[test]
    fn following_keeps_at_most_max_lines_and_the_last_good_lines_on_errors() {
        let base = LogFilter {
            worker: Some("w".into()),
            since: Some(5),
            ..LogFilter::default()
        };
        let mut f = LogFollow::default();
        let first = f.next_request(&base);
        assert_eq!(first.query(), "worker=w&since=5&limit=300");
        let full = f.apply(
            &first,
            LogPage {
                lines: (701..=1_000).map(line).collect(),
                cursor: 1_000,
            },
            1.0,
        );
        assert!(!full, "a first look has the newest lines");
        let next = f.next_request(&base);
        assert_eq!(next.query(), "worker=w&cursor=1000&limit=1000");
        // Overlapping lines are not shown twice; a full page asks again at once.
        let full = f.apply(
            &next,
            LogPage {
                lines: (990..=3_000).map(line).collect(),
                cursor: 3_000,
            },
            2.0,
        );
        assert!(full);
        assert_eq!(f.lines().len(), MAX_LINES);
        assert_eq!(f.lines().front().unwrap().seq, 1_001);
        assert_eq!(f.lines().back().unwrap().seq, 3_000);
        assert_eq!(f.dropped(), 300);
        // An error keeps the lines and says why; the next success clears it.
        f.fail(
            FetchError::Http {
                status: 401,
                message: String::new(),
                retry_after_s: None,
            },
            3.0,
        );
        assert_eq!(f.lines().len(), MAX_LINES);
        assert!(f.poll.is_stale());
        let asked = f.next_request(&base);
        assert_eq!(asked.cursor, Some(3_000), "the cursor survives the error");
        f.apply(
            &asked,
            LogPage {
                lines: vec![line(3_001)],
                cursor: 3_001,
            },
            4.0,
        );
        assert!(!f.poll.is_stale());
        assert_eq!(f.lines().back().unwrap().seq, 3_001);
        // The server restarted: its cursor went back; start over.
        let asked = f.next_request(&base);
        assert!(f.apply(
            &asked,
            LogPage {
                lines: vec![],
                cursor: 3,
            },
            5.0
        ));
        assert!(f.lines().is_empty());
        assert_eq!(f.next_request(&base).cursor, None);
    }

    #[test]
    fn filters_are_encoded() {
        let f = LogFilter {
            worker: Some("w 1".into()),
            job: Some("a&b".into()),
            since: Some(7),
            cursor: Some(9),
            limit: Some(20),
        };
        assert_eq!(
            f.query(),
            "worker=w%201&job=a%26b&since=7&cursor=9&limit=20"
        );
        assert_eq!(LogFilter::default().query(), "");
    }
}
