//! One job's whole life, as the detail view draws it: queued, the cold start it
//! waited on (if any), running, finished, then each webhook attempt with its answer.

use endpoint_core::feed::Events;
use endpoint_core::query::cold_start_waited_on;
use endpoint_core::{ColdStart, JobRecord, JobStatus, JobStore, WebhookDelivery};

use crate::view::state::TimeZone;
use crate::view::time::{fmt_clock_ms, fmt_ms};

/// What the panel holds about one job.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobDetail {
    /// The record.
    pub record: JobRecord,
    /// The cold start it waited on.
    pub cold_start: Option<ColdStart>,
    /// Its webhook attempts, in order.
    pub deliveries: Vec<WebhookDelivery>,
}

impl JobDetail {
    /// The detail of row `row`.
    pub fn of(store: &JobStore, events: &Events, row: u32) -> JobDetail {
        let record = store.record(row);
        let mut deliveries: Vec<WebhookDelivery> = events
            .deliveries
            .iter()
            .filter(|d| d.job_id == record.id)
            .cloned()
            .collect();
        deliveries.sort_by_key(|d| (d.at, d.attempt));
        JobDetail {
            cold_start: cold_start_waited_on(store, row, &events.cold_starts).cloned(),
            record,
            deliveries,
        }
    }

    /// The timeline, in time order.
    pub fn timeline(&self) -> Vec<Step> {
        let r = &self.record;
        let mut steps = vec![Step {
            kind: StepKind::Queued,
            at: r.submitted_at,
            end: r.started_at.or(r.completed_at),
            title: "Queued".into(),
            note: String::new(),
        }];
        if let Some(c) = &self.cold_start {
            steps.push(Step {
                kind: StepKind::ColdStart,
                at: c.started_at,
                end: Some(c.ready_at),
                title: format!("Cold start of worker {}", c.worker_id),
                note: format!("{} (container start to ready)", fmt_ms(c.duration)),
            });
        }
        if let Some(s) = r.started_at {
            let worker = r.worker_id.as_deref().unwrap_or("a worker");
            steps.push(Step {
                kind: StepKind::Running,
                at: s,
                end: r.completed_at,
                title: format!("Running on {worker}"),
                note: match r.delay_time {
                    Some(d) => format!("after {} in queue", fmt_ms(d)),
                    None => String::new(),
                },
            });
        }
        if let Some(c) = r.completed_at {
            let note = match (r.status, r.execution_time, &r.error) {
                (_, _, Some(e)) => e.clone(),
                (_, Some(x), None) => format!("after {} running", fmt_ms(x)),
                (JobStatus::Cancelled, None, None) => "before a worker picked it up".into(),
                _ => String::new(),
            };
            steps.push(Step {
                kind: StepKind::Finished(r.status),
                at: c,
                end: None,
                title: title_case(r.status),
                note,
            });
        }
        for d in &self.deliveries {
            let outcome = match (d.status, &d.error) {
                (Some(s), _) => format!("HTTP {s}"),
                (None, Some(e)) => e.clone(),
                (None, None) => "no answer".into(),
            };
            steps.push(Step {
                kind: StepKind::Webhook { ok: d.succeeded() },
                at: d.at,
                end: None,
                title: format!("Webhook attempt {}", d.attempt),
                note: outcome,
            });
        }
        // The cold start began before the job was queued sometimes (a worker starting
        // for an earlier job): keep time order.
        steps.sort_by_key(|s| s.at);
        steps
    }
}

/// What a step of the timeline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Waiting in the queue.
    Queued,
    /// The worker's cold start the job waited on.
    ColdStart,
    /// On a worker.
    Running,
    /// Reached its final state.
    Finished(JobStatus),
    /// A webhook POST.
    Webhook {
        /// Answered 2xx.
        ok: bool,
    },
}

/// One step of a job's life.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What.
    pub kind: StepKind,
    /// When it began, ms since the epoch.
    pub at: i64,
    /// When it ended, for steps that last.
    pub end: Option<i64>,
    /// Heading, e.g. "Running on w-3".
    pub title: String,
    /// Detail, e.g. "HTTP 500" or the error message.
    pub note: String,
}

impl Step {
    /// `13:20:01.250 (+1.25 s)`: the time and the offset from the submission.
    pub fn when(&self, submitted: i64, tz: TimeZone) -> String {
        let offset = self.at - submitted;
        let sign = if offset < 0 { "−" } else { "+" };
        format!(
            "{} ({sign}{})",
            fmt_clock_ms(self.at, tz),
            fmt_ms(offset.unsigned_abs() as f64)
        )
    }
}

fn title_case(s: JobStatus) -> String {
    match s {
        JobStatus::InQueue => "In queue",
        JobStatus::InProgress => "In progress",
        JobStatus::Completed => "Completed",
        JobStatus::Failed => "Failed",
        JobStatus::Cancelled => "Cancelled",
        JobStatus::TimedOut => "Timed out",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Events {
        Events {
            transitions: vec![],
            cold_starts: vec![ColdStart {
                worker_id: "w1".into(),
                started_at: 1_500,
                ready_at: 4_500,
                duration: 3_000.0,
            }],
            deliveries: vec![
                WebhookDelivery {
                    job_id: "j".into(),
                    attempt: 2,
                    at: 20_000,
                    status: Some(200),
                    error: None,
                },
                WebhookDelivery {
                    job_id: "j".into(),
                    attempt: 1,
                    at: 10_000,
                    status: None,
                    error: Some("connection refused".into()),
                },
                WebhookDelivery {
                    job_id: "other".into(),
                    attempt: 1,
                    at: 10_000,
                    status: Some(200),
                    error: None,
                },
            ],
        }
    }

    #[test]
    fn timeline_goes_queue_cold_start_run_end_webhooks() {
        let mut s = JobStore::default();
        s.upsert(&JobRecord {
            status: JobStatus::Failed,
            started_at: Some(5_000),
            completed_at: Some(9_000),
            worker_id: Some("w1".into()),
            error: Some("CUDA out of memory".into()),
            ..JobRecord::queued("j", 1_000)
        })
        .unwrap();
        let d = JobDetail::of(&s, &events(), 0);
        let steps = d.timeline();
        let titles: Vec<&str> = steps.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Queued",
                "Cold start of worker w1",
                "Running on w1",
                "Failed",
                "Webhook attempt 1",
                "Webhook attempt 2"
            ]
        );
        assert_eq!(steps[0].end, Some(5_000));
        assert_eq!(steps[1].note, "3.00 s (container start to ready)");
        assert_eq!(steps[2].note, "after 4.00 s in queue");
        assert_eq!(steps[3].note, "CUDA out of memory");
        assert_eq!(steps[4].note, "connection refused");
        assert_eq!(steps[4].kind, StepKind::Webhook { ok: false });
        assert_eq!(steps[5].note, "HTTP 200");
        assert_eq!(steps[5].kind, StepKind::Webhook { ok: true });
        assert_eq!(
            steps[5].when(1_000, TimeZone::Utc),
            "00:00:20.000 (+19.0 s)"
        );
    }

    #[test]
    fn a_job_cancelled_in_the_queue_has_two_steps() {
        let mut s = JobStore::default();
        s.upsert(&JobRecord {
            status: JobStatus::Cancelled,
            completed_at: Some(3_000),
            ..JobRecord::queued("c", 1_000)
        })
        .unwrap();
        let steps = JobDetail::of(&s, &events(), 0).timeline();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].end, Some(3_000));
        assert_eq!(steps[1].title, "Cancelled");
        assert_eq!(steps[1].note, "before a worker picked it up");
    }
}
