//! Jobs on the wire: their states and the record the metrics are computed from.

use serde::{Deserialize, Serialize};

use crate::error::RecordError;

/// The state of one job.
///
/// Serialised in RunPod's SCREAMING_SNAKE_CASE (`"IN_QUEUE"`, ...). RunPod's docs also
/// call a picked-up job `RUNNING`; that spelling is accepted when reading and written
/// back as `IN_PROGRESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Waiting for a worker.
    InQueue,
    /// A worker picked it up and is running it.
    #[serde(alias = "RUNNING")]
    InProgress,
    /// Finished with an output.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled through `/cancel/{job_id}` before it completed.
    Cancelled,
    /// Expired in the queue (ttl) or ran past its execution timeout.
    TimedOut,
}

impl JobStatus {
    /// Every state, in the order the panel lists them.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::InQueue,
        JobStatus::InProgress,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::TimedOut,
    ];

    /// True once the job can no longer change state (except through `/retry`).
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobStatus::InQueue | JobStatus::InProgress)
    }

    /// Whether `/retry` accepts a job in this state (FAILED or TIMED_OUT only).
    pub fn is_retryable(self) -> bool {
        matches!(self, JobStatus::Failed | JobStatus::TimedOut)
    }

    /// The wire spelling, e.g. `"IN_QUEUE"`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::InQueue => "IN_QUEUE",
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelled => "CANCELLED",
            JobStatus::TimedOut => "TIMED_OUT",
        }
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a job's webhook, in short (every attempt is also a
/// [`crate::WebhookDelivery`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSummary {
    /// POST attempts made so far (RunPod: 1 + up to 2 retries).
    pub attempts: u8,
    /// HTTP status of the last attempt, when it got an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Transport error of the last attempt (timeout, refused, ...), when it got none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// True once an attempt was answered with a 2xx status.
    pub delivered: bool,
}

/// One job as the metrics see it. Times are milliseconds: instants since the Unix
/// epoch (`...At`), durations as RunPod reports them (`delayTime`, `executionTime`).
///
/// RunPod's relations hold: `delayTime = startedAt - submittedAt` (time in queue) and
/// `executionTime = completedAt - startedAt`. A job that ended without starting
/// (cancelled or expired in the queue) has `completedAt` and no `startedAt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// The job id returned by `/run`.
    pub id: String,
    /// Current state.
    pub status: JobStatus,
    /// When `/run` accepted it.
    pub submitted_at: i64,
    /// When a worker picked it up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// When it reached a terminal state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<i64>,
    /// Time in queue, ms (until start, or until it ended if it never started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_time: Option<f64>,
    /// Time running on the worker, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_time: Option<f64>,
    /// The worker that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// Times it was re-queued through `/retry`.
    #[serde(default)]
    pub retries: u8,
    /// Webhook outcome, when the job has a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSummary>,
    /// The worker's error message (FAILED) or why it ended (TIMED_OUT, CANCELLED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Longest duration a record may carry: `u32::MAX` ms, about 49.7 days.
pub const MAX_DURATION_MS: f64 = u32::MAX as f64;

impl JobRecord {
    /// A queued job: the minimal valid record.
    pub fn queued(id: impl Into<String>, submitted_at: i64) -> Self {
        JobRecord {
            id: id.into(),
            status: JobStatus::InQueue,
            submitted_at,
            started_at: None,
            completed_at: None,
            delay_time: None,
            execution_time: None,
            worker_id: None,
            retries: 0,
            webhook: None,
            error: None,
        }
    }

    /// Checks the record and returns its delay and execution time in whole ms
    /// (rounded), derived from the timestamps when the durations are absent.
    ///
    /// Rejected: an empty id; NaN, infinite, negative or too long durations; a start
    /// before submission or a completion before the start (or before submission);
    /// a terminal state without `completedAt`; IN_PROGRESS without `startedAt`.
    pub fn validate(&self) -> Result<ValidTimes, RecordError> {
        if self.id.is_empty() {
            return Err(RecordError::EmptyId);
        }
        let dur = |field: &'static str, v: Option<f64>| -> Result<Option<u32>, RecordError> {
            match v {
                None => Ok(None),
                Some(x) if x.is_nan() => Err(RecordError::NotANumber {
                    id: self.id.clone(),
                    field,
                }),
                Some(x) if x.is_infinite() => Err(RecordError::Infinite {
                    id: self.id.clone(),
                    field,
                }),
                Some(x) if x < 0.0 => Err(RecordError::Negative {
                    id: self.id.clone(),
                    field,
                    value: x,
                }),
                Some(x) if x > MAX_DURATION_MS => Err(RecordError::TooLong {
                    id: self.id.clone(),
                    field,
                    value: x,
                }),
                Some(x) => Ok(Some(x.round() as u32)),
            }
        };
        let delay = dur("delayTime", self.delay_time)?;
        let execution = dur("executionTime", self.execution_time)?;
        if let Some(s) = self.started_at
            && s < self.submitted_at
        {
            return Err(RecordError::OutOfOrder {
                id: self.id.clone(),
                earlier: "submittedAt",
                later: "startedAt",
            });
        }
        if let Some(c) = self.completed_at {
            let (field, t) = match self.started_at {
                Some(s) => ("startedAt", s),
                None => ("submittedAt", self.submitted_at),
            };
            if c < t {
                return Err(RecordError::OutOfOrder {
                    id: self.id.clone(),
                    earlier: field,
                    later: "completedAt",
                });
            }
        }
        if self.status.is_terminal() && self.completed_at.is_none() {
            return Err(RecordError::Missing {
                id: self.id.clone(),
                field: "completedAt",
                status: self.status,
            });
        }
        if self.status == JobStatus::InProgress && self.started_at.is_none() {
            return Err(RecordError::Missing {
                id: self.id.clone(),
                field: "startedAt",
                status: self.status,
            });
        }
        let clamp = |ms: i64| ms.clamp(0, u32::MAX as i64) as u32;
        let delay = delay.or_else(|| {
            let end = self.started_at.or(self.completed_at)?;
            Some(clamp(end - self.submitted_at))
        });
        let execution = execution.or_else(|| Some(clamp(self.completed_at? - self.started_at?)));
        Ok(ValidTimes { delay, execution })
    }
}

/// Durations of a validated record, in whole ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidTimes {
    /// Time in queue.
    pub delay: Option<u32>,
    /// Time running.
    pub execution: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in JobStatus::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<JobStatus>(&json).unwrap(), s);
        }
    }

    #[test]
    fn running_is_an_alias_of_in_progress() {
        let s: JobStatus = serde_json::from_str("\"RUNNING\"").unwrap();
        assert_eq!(s, JobStatus::InProgress);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"IN_PROGRESS\"");
    }

    #[test]
    fn only_failed_and_timed_out_are_retryable() {
        let r: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_retryable())
            .collect();
        assert_eq!(r, [JobStatus::Failed, JobStatus::TimedOut]);
    }

    #[test]
    fn terminal_states() {
        let terminal: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                JobStatus::Completed,
                JobStatus::Failed,
                JobStatus::Cancelled,
                JobStatus::TimedOut
            ]
        );
    }

    fn done(id: &str) -> JobRecord {
        JobRecord {
            status: JobStatus::Completed,
            started_at: Some(1_500),
            completed_at: Some(4_000),
            delay_time: Some(500.0),
            execution_time: Some(2_500.0),
            worker_id: Some("w1".into()),
            ..JobRecord::queued(id, 1_000)
        }
    }

    #[test]
    fn record_json_uses_runpod_names() {
        let v = serde_json::to_value(done("j1")).unwrap();
        for key in [
            "id",
            "status",
            "submittedAt",
            "startedAt",
            "completedAt",
            "delayTime",
            "executionTime",
            "workerId",
            "retries",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        let back: JobRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, done("j1"));
    }

    #[test]
    fn valid_record_gives_whole_ms() {
        let mut r = done("a");
        r.execution_time = Some(2_499.6);
        assert_eq!(
            r.validate().unwrap(),
            ValidTimes {
                delay: Some(500),
                execution: Some(2_500)
            }
        );
        // Durations missing: derived from the timestamps.
        r.delay_time = None;
        r.execution_time = None;
        assert_eq!(
            r.validate().unwrap(),
            ValidTimes {
                delay: Some(500),
                execution: Some(2_500)
            }
        );
        // Cancelled in the queue: delay until it ended, no execution.
        let c = JobRecord {
            status: JobStatus::Cancelled,
            completed_at: Some(1_700),
            ..JobRecord::queued("c", 1_000)
        };
        assert_eq!(
            c.validate().unwrap(),
            ValidTimes {
                delay: Some(700),
                execution: None
            }
        );
    }

    #[test]
    fn bad_durations_are_rejected_with_a_message_naming_them() {
        let cases: [(f64, &str); 4] = [
            (f64::NAN, "executionTime of job `x` is NaN"),
            (f64::INFINITY, "executionTime of job `x` is infinite"),
            (-3.0, "executionTime of job `x` is negative (-3 ms)"),
            (1e12, "executionTime of job `x` is 1000000000000 ms"),
        ];
        for (v, msg) in cases {
            let mut r = done("x");
            r.execution_time = Some(v);
            let e = r.validate().unwrap_err();
            assert!(e.to_string().starts_with(msg), "{e}");
        }
    }

    #[test]
    fn timestamps_out_of_order_are_rejected() {
        let mut r = done("x");
        r.completed_at = Some(1_400);
        let e = r.validate().unwrap_err();
        assert_eq!(e.to_string(), "job `x`: completedAt is before startedAt");
        let mut r = done("x");
        r.started_at = Some(900);
        let e = r.validate().unwrap_err();
        assert_eq!(e.to_string(), "job `x`: startedAt is before submittedAt");
        let r = JobRecord {
            status: JobStatus::Failed,
            ..JobRecord::queued("x", 5)
        };
        assert!(
            r.validate()
                .unwrap_err()
                .to_string()
                .contains("FAILED without completedAt")
        );
        let r = JobRecord {
            id: String::new(),
            ..done("x")
        };
        assert_eq!(r.validate().unwrap_err(), RecordError::EmptyId);
    }

    #[test]
    fn unknown_state_is_rejected() {
        assert!(serde_json::from_str::<JobStatus>("\"DONE\"").is_err());
    }
}
