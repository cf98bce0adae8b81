//! Job states, as RunPod names them on the wire.

use serde::{Deserialize, Serialize};

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

    #[test]
    fn unknown_state_is_rejected() {
        assert!(serde_json::from_str::<JobStatus>("\"DONE\"").is_err());
    }
}
