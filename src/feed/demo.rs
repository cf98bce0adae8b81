//! The Demo endpoint as a server in the browser: it takes the questions the panel
//! asks an endpoint server ([`DemoAsk`]) and answers them as the server would, in
//! HTTP terms ([`Answer`]: status, content type, body), so the panel reads the Demo
//! through the same interpretation as any endpoint (EMC2 snapshot, JSON changes,
//! RunPod's `/cancel` and `/status` bodies, `/workers`, `/logs`).
//!
//! [`DemoHost`] holds the Demo (endpoint-sim's model playing a day of history, then
//! following the clock) and runs in the panel's Web Worker (the `engine` module),
//! or on the page when no worker can be started. No IO: tested natively.

use endpoint_core::JobRecord;
use endpoint_sim::demo::{Demo, DemoConfig};
use endpoint_sim::model::JobError;
use serde::{Deserialize, Serialize};

use crate::feed::api::{Answer, CHANGES_LIMIT};
use crate::workers::facts::{self, FactsFollow, LogFilter};

/// Seed of the Demo endpoint: everybody sees the same demo.
pub const DEMO_SEED: u64 = 20_261_124;

/// How far back the Demo's made-up worker facts look (its whole history).
const DEMO_FACTS_MS: i64 = 25 * 3_600_000;

/// Where the Demo's made-up lines are looked for when the filter gives no time.
const DEMO_LOGS_MS: i64 = 3_600_000;

/// A question to the Demo endpoint: one of the server routes the panel uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum DemoAsk {
    /// `/metrics/snapshot?from&to` (EMC2 columns), after moving the Demo to `now`.
    Snapshot {
        /// Window start.
        from: i64,
        /// Window end (exclusive).
        to: i64,
    },
    /// `/metrics/changes?cursor` (at most [`CHANGES_LIMIT`]), after moving to `now`.
    Changes {
        /// The cursor to read after.
        cursor: u64,
    },
    /// `/cancel/{job}`.
    Cancel {
        /// The job.
        job: String,
    },
    /// `/retry/{job}`.
    Retry {
        /// The job.
        job: String,
    },
    /// `/purge-queue`.
    PurgeQueue,
    /// `/status/{job}`.
    Status {
        /// The job.
        job: String,
    },
    /// `/workers`: facts derived from the Demo's records.
    Workers,
    /// `/logs`: lines made up from the Demo's records.
    Logs {
        /// Which lines.
        filter: LogFilter,
    },
}

/// The Demo endpoint and what it keeps to answer quickly.
pub struct DemoHost {
    demo: Demo,
    /// Worker facts followed through the Demo's changes (a pass over its whole
    /// history takes tens of ms; a page of changes, next to nothing).
    facts: Option<FactsFollow>,
}

impl DemoHost {
    /// The Demo endpoint at `now`: plays its day of history first (a moment).
    pub fn new(now: i64) -> Self {
        Self::from_demo(Demo::new(DEMO_SEED, now, DemoConfig::default()))
    }

    /// Serves `demo` (tests give a smaller one).
    pub fn from_demo(demo: Demo) -> Self {
        DemoHost { demo, facts: None }
    }

    /// The Demo itself.
    pub fn demo(&self) -> &Demo {
        &self.demo
    }

    /// The answer the server would give to `ask` at `now`.
    pub fn answer(&mut self, ask: &DemoAsk, now: i64) -> Answer {
        match ask {
            DemoAsk::Snapshot { from, to } => {
                self.demo.advance(now);
                Answer {
                    status: 200,
                    content_type: endpoint_core::feed::CONTENT_TYPE.into(),
                    retry_after_s: None,
                    body: self.demo.snapshot_columns(*from, *to),
                }
            }
            DemoAsk::Changes { cursor } => {
                self.demo.advance(now);
                match self.demo.changes_since(*cursor, CHANGES_LIMIT) {
                    Ok(ch) => Answer::json(200, &ch),
                    Err(e) => {
                        Answer::error(410, format!("cursor {cursor} is older than {}", e.oldest))
                    }
                }
            }
            DemoAsk::Cancel { job } => match self.demo.cancel(job) {
                Ok(r) => id_status(job, r.status),
                // Finished meanwhile: its real final state, as the server answers.
                Err(JobError::WrongState(s)) => id_status(job, s),
                Err(_) => not_found(job),
            },
            DemoAsk::Retry { job } => match self.demo.retry(job) {
                Ok(r) => id_status(job, r.status),
                Err(JobError::WrongState(s)) => Answer::error(409, format!("job `{job}` is {s}")),
                Err(_) => not_found(job),
            },
            DemoAsk::PurgeQueue => Answer::json(
                200,
                &serde_json::json!({"removed": self.demo.purge_queue(), "status": "completed"}),
            ),
            DemoAsk::Status { job } => match self.demo.job(job) {
                Some(r) => Answer::json(200, &status_body(r)),
                None => not_found(job),
            },
            DemoAsk::Workers => Answer::json(200, &serde_json::json!({"workers": self.facts()})),
            DemoAsk::Logs { filter } => Answer::json(200, &self.logs(filter)),
        }
    }

    /// The Demo's worker facts, derived from its records: built from its history
    /// once, then kept up to date from its changes.
    fn facts(&mut self) -> Vec<facts::WorkerFacts> {
        let d = &self.demo;
        let followed = self.facts.as_mut().and_then(|f| {
            loop {
                let ch = d.changes_since(f.cursor(), CHANGES_LIMIT).ok()?;
                let more = ch.len() >= CHANGES_LIMIT;
                f.apply(&ch);
                if !more {
                    f.forget_before(d.retained_from());
                    return Some(f.list());
                }
            }
        });
        followed.unwrap_or_else(|| {
            let now = d.now();
            let f = FactsFollow::from_snapshot(&d.snapshot(now - DEMO_FACTS_MS, now + 1));
            let list = f.list();
            self.facts = Some(f);
            list
        })
    }

    /// Log lines made up from the Demo's records, numbered as the server's.
    fn logs(&self, filter: &LogFilter) -> facts::LogPage {
        let d = &self.demo;
        let now = d.now();
        // Only the records the lines can come from: after the cursor, or since the
        // time asked, or the last hour.
        let from = filter
            .cursor
            .map(facts::simulated_cursor_time)
            .into_iter()
            .chain(filter.since)
            .max()
            .unwrap_or(now - DEMO_LOGS_MS)
            .min(now);
        // A job's lines come from its record alone, which a snapshot of the instant
        // it was submitted (`since`) holds.
        let to = match (&filter.job, filter.since) {
            (Some(_), Some(s)) if filter.cursor.is_none() => s + 1,
            _ => now + 1,
        };
        let snap = d.snapshot(from, to.max(from + 1));
        facts::simulated_lines(&snap.jobs, &snap.events, filter, now)
    }
}

fn not_found(job: &str) -> Answer {
    Answer::error(404, format!("no job `{job}`"))
}

fn id_status(job: &str, status: endpoint_core::JobStatus) -> Answer {
    Answer::json(200, &serde_json::json!({"id": job, "status": status}))
}

/// RunPod's `/status` body for a Demo job (the Demo keeps no outputs).
fn status_body(r: &JobRecord) -> serde_json::Value {
    let mut v = serde_json::json!({"id": r.id, "status": r.status, "retries": r.retries});
    if let Some(d) = r.delay_time {
        v["delayTime"] = serde_json::json!(d as u64);
    }
    if let Some(x) = r.execution_time {
        v["executionTime"] = serde_json::json!(x as u64);
    }
    if let Some(e) = &r.error {
        v["error"] = serde_json::json!(e);
    }
    if let Some(w) = &r.worker_id {
        v["workerId"] = serde_json::json!(w);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::api;
    use endpoint_core::JobStatus;

    const NOW: i64 = 1_795_958_400_000;

    fn host() -> DemoHost {
        DemoHost::from_demo(Demo::new(
            3,
            NOW,
            DemoConfig {
                history_ms: 3_600_000,
                ..DemoConfig::default()
            },
        ))
    }

    #[test]
    fn the_snapshot_and_changes_read_as_the_servers_do() {
        let mut h = host();
        let a = h.answer(
            &DemoAsk::Snapshot {
                from: NOW - 3_600_000,
                to: NOW + 1,
            },
            NOW,
        );
        let snap = api::interpret_snapshot(&a).unwrap();
        let direct = h.demo().snapshot(NOW - 3_600_000, NOW + 1);
        assert!(snap.jobs.len() > 100, "{}", snap.jobs.len());
        assert_eq!(snap.jobs.len(), direct.jobs.len());
        assert_eq!(snap.cursor, direct.cursor);
        assert_eq!(snap.events.transitions, direct.events.transitions);
        // A minute later, the changes after that cursor.
        let a = h.answer(
            &DemoAsk::Changes {
                cursor: snap.cursor,
            },
            NOW + 60_000,
        );
        let ch = api::interpret_changes(&a).unwrap();
        assert!(!ch.is_empty(), "a minute of Demo traffic");
        assert_eq!(ch.cursor, h.demo().snapshot(NOW, NOW + 1).cursor);
    }

    #[test]
    fn an_expired_cursor_is_410_as_on_the_server() {
        let mut demo = Demo::new(
            3,
            NOW,
            DemoConfig {
                history_ms: 3_600_000,
                ..DemoConfig::default()
            },
        );
        demo.set_log_capacity(100);
        let mut h = DemoHost::from_demo(demo);
        let a = h.answer(&DemoAsk::Changes { cursor: 0 }, NOW);
        let e = api::interpret_changes(&a).unwrap_err();
        assert!(
            matches!(&e, api::FetchError::Http { status: 410, message, .. } if message.starts_with("cursor 0 is older than")),
            "{e:?}"
        );
    }

    #[test]
    fn actions_answer_runpods_bodies() {
        let mut h = host();
        let snap = h.demo().snapshot(NOW - 3_600_000, NOW + 1);
        let row = |s: JobStatus| {
            (0..snap.jobs.len() as u32)
                .map(|r| snap.jobs.record(r))
                .find(|j| j.status == s)
                .unwrap_or_else(|| panic!("a {s} job"))
                .id
        };
        let (done, queued) = (row(JobStatus::Completed), row(JobStatus::InQueue));
        let cancel = |h: &mut DemoHost, job: &str| {
            api::interpret_id_status(&h.answer(&DemoAsk::Cancel { job: job.into() }, NOW))
        };
        assert_eq!(cancel(&mut h, &queued).unwrap(), JobStatus::Cancelled);
        assert_eq!(cancel(&mut h, &done).unwrap(), JobStatus::Completed);
        let e = cancel(&mut h, "nope").unwrap_err();
        assert!(
            matches!(e, api::FetchError::Http { status: 404, .. }),
            "{e:?}"
        );
        let retry = h.answer(&DemoAsk::Retry { job: done.clone() }, NOW);
        let e = api::interpret_id_status(&retry).unwrap_err();
        assert!(
            matches!(e, api::FetchError::Http { status: 409, .. }),
            "{e:?}"
        );
        let status = api::interpret_status(&h.answer(&DemoAsk::Status { job: done.clone() }, NOW));
        assert!(status.unwrap().contains("\"COMPLETED\""));
        assert!(api::interpret_purge(&h.answer(&DemoAsk::PurgeQueue, NOW)).is_ok());
    }

    #[test]
    fn workers_and_logs_read_as_the_servers_do() {
        let mut h = host();
        let workers = facts::interpret_workers(&h.answer(&DemoAsk::Workers, NOW)).unwrap();
        let snap = h.demo().snapshot(NOW - DEMO_FACTS_MS, NOW + 1);
        assert_eq!(workers, facts::derive_facts(&snap.jobs, &snap.events));
        assert!(!workers.is_empty());
        let filter = LogFilter {
            worker: Some(workers[0].id.clone()),
            ..LogFilter::default()
        };
        let page = facts::interpret_logs(&h.answer(&DemoAsk::Logs { filter }, NOW)).unwrap();
        assert!(!page.lines.is_empty());
        assert!(page.lines.iter().all(|l| l.worker_id == workers[0].id));
    }
}
