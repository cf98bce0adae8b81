//! Workers and webhooks on the wire: state transitions, cold starts, deliveries.

use serde::{Deserialize, Serialize};

use crate::error::RecordError;

/// The state of one worker, as RunPod names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkerState {
    /// Starting: container start, model load into VRAM.
    Initializing,
    /// Ready, waiting for a job.
    Idle,
    /// Running a job.
    Running,
    /// Held back by the platform (no GPU available).
    Throttled,
    /// Running an older release; drained after its current job.
    Outdated,
    /// Failing health checks.
    Unhealthy,
}

impl WorkerState {
    /// Every state, in the order the worker chart stacks them.
    pub const ALL: [WorkerState; 6] = [
        WorkerState::Running,
        WorkerState::Idle,
        WorkerState::Initializing,
        WorkerState::Throttled,
        WorkerState::Outdated,
        WorkerState::Unhealthy,
    ];

    /// Position in [`WorkerState::ALL`].
    pub fn index(self) -> usize {
        match self {
            WorkerState::Running => 0,
            WorkerState::Idle => 1,
            WorkerState::Initializing => 2,
            WorkerState::Throttled => 3,
            WorkerState::Outdated => 4,
            WorkerState::Unhealthy => 5,
        }
    }
}

/// A worker entered `state` at `at` (ms since the epoch). `state: None` means the
/// worker stopped (scaled down) and counts in no state from then on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerTransition {
    /// The worker.
    pub worker_id: String,
    /// Its new state; `None` when it stopped.
    pub state: Option<WorkerState>,
    /// When, ms since the epoch.
    pub at: i64,
}

/// One cold start: a worker from container start to ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColdStart {
    /// The worker.
    pub worker_id: String,
    /// Container start, ms since the epoch.
    pub started_at: i64,
    /// Ready to take jobs (model in VRAM), ms since the epoch.
    pub ready_at: i64,
    /// `readyAt - startedAt`, ms.
    pub duration: f64,
}

impl ColdStart {
    /// The duration in whole ms, checked like a job's durations.
    pub fn validate(&self) -> Result<u32, RecordError> {
        let what = || {
            format!(
                "cold start of worker `{}` at {}",
                self.worker_id, self.started_at
            )
        };
        if self.ready_at < self.started_at {
            return Err(RecordError::BadEvent {
                what: what(),
                detail: "readyAt is before startedAt".into(),
            });
        }
        let d = self.duration;
        if !(0.0..=crate::job::MAX_DURATION_MS).contains(&d) {
            return Err(RecordError::BadEvent {
                what: what(),
                detail: format!("duration {d} is not a number of ms between 0 and 49 days"),
            });
        }
        Ok(d.round() as u32)
    }
}

/// One webhook POST attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// The job whose result was posted.
    pub job_id: String,
    /// 1 for the first attempt, then 2 and 3 for RunPod's retries.
    pub attempt: u8,
    /// When the attempt ended, ms since the epoch.
    pub at: i64,
    /// The HTTP status answered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The transport error (timeout, refused, TLS), if there was no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl WebhookDelivery {
    /// A delivery succeeded when it was answered 200: RunPod retries any other
    /// answer, a 204 included, so counting it a success would show a delivery as done
    /// while it is being retried.
    pub fn succeeded(&self) -> bool {
        self.status == Some(200)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_states_on_the_wire() {
        let t = WorkerTransition {
            worker_id: "w".into(),
            state: Some(WorkerState::Initializing),
            at: 5,
        };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"workerId": "w", "state": "INITIALIZING", "at": 5})
        );
        let states: Vec<usize> = WorkerState::ALL.iter().map(|s| s.index()).collect();
        assert_eq!(states, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn cold_start_validation() {
        let c = ColdStart {
            worker_id: "w".into(),
            started_at: 10,
            ready_at: 4_010,
            duration: 4_000.4,
        };
        assert_eq!(c.validate().unwrap(), 4_000);
        let bad = ColdStart {
            ready_at: 5,
            ..c.clone()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("readyAt is before startedAt")
        );
        let bad = ColdStart {
            duration: f64::NAN,
            ..c
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("duration NaN")
        );
    }

    #[test]
    fn delivery_success_is_2xx() {
        let d = WebhookDelivery {
            job_id: "j".into(),
            attempt: 1,
            at: 0,
            status: Some(200),
            error: None,
        };
        assert!(d.succeeded());
        assert!(
            !WebhookDelivery {
                status: Some(500),
                ..d.clone()
            }
            .succeeded()
        );
        assert!(
            !WebhookDelivery {
                status: None,
                error: Some("timeout".into()),
                ..d
            }
            .succeeded()
        );
    }
}
