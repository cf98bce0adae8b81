//! The body of `GET /v2/{endpoint_id}/health`, in RunPod's shape.

use serde::{Deserialize, Serialize};

/// Job and worker counts of one endpoint at one moment.
///
/// RunPod answers `{"jobs": {...}, "workers": {...}}`; fields a server leaves out
/// read as 0, so older and newer servers both parse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Job counters.
    pub jobs: HealthJobs,
    /// Workers by state.
    pub workers: HealthWorkers,
}

/// Job counters of [`Health`]: cumulative for finished jobs, current for the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthJobs {
    /// Jobs completed since the endpoint started.
    pub completed: u64,
    /// Jobs failed since the endpoint started.
    pub failed: u64,
    /// Jobs a worker is running now.
    pub in_progress: u64,
    /// Jobs waiting for a worker now.
    pub in_queue: u64,
    /// Jobs re-queued through `/retry` since the endpoint started.
    pub retried: u64,
}

/// Workers by state, as [`Health`] reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthWorkers {
    /// Ready and waiting for a job.
    pub idle: u64,
    /// Starting: container start, model load.
    pub initializing: u64,
    /// Running a job.
    pub running: u64,
    /// Held back by the platform (no GPU available).
    pub throttled: u64,
    /// Running an older release; drained after their current job.
    pub outdated: u64,
    /// Failed health checks.
    pub unhealthy: u64,
}

impl HealthWorkers {
    /// All workers, whatever their state.
    pub fn total(&self) -> u64 {
        self.idle
            + self.initializing
            + self.running
            + self.throttled
            + self.outdated
            + self.unhealthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_runpod_shape() {
        let h = Health {
            jobs: HealthJobs {
                completed: 1,
                failed: 2,
                in_progress: 3,
                in_queue: 4,
                retried: 5,
            },
            workers: HealthWorkers {
                idle: 6,
                running: 7,
                ..Default::default()
            },
        };
        let v: serde_json::Value = serde_json::to_value(&h).unwrap();
        assert_eq!(v["jobs"]["inProgress"], 3);
        assert_eq!(v["jobs"]["inQueue"], 4);
        assert_eq!(v["jobs"]["retried"], 5);
        assert_eq!(v["workers"]["idle"], 6);
        assert_eq!(v["workers"]["running"], 7);
        assert_eq!(h.workers.total(), 13);
    }

    #[test]
    fn missing_fields_read_as_zero() {
        let h: Health = serde_json::from_str(r#"{"jobs":{"inQueue":2},"workers":{}}"#).unwrap();
        assert_eq!(h.jobs.in_queue, 2);
        assert_eq!(h.jobs.completed, 0);
        assert_eq!(h.workers.total(), 0);
    }

    #[test]
    fn wrong_types_are_rejected() {
        let err = serde_json::from_str::<Health>(r#"{"jobs":{"inQueue":"many"},"workers":{}}"#)
            .unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }
}
