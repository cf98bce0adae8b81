//! One serverless endpoint: its job queue, its jobs and its workers.
//!
//! Jobs wait in a FIFO queue; a fixed pool of simulated workers (tokio tasks) takes
//! them one at a time and "runs" each for `input.sleepMs` milliseconds, then reports
//! COMPLETED, or FAILED when `input.fail` is true. Autoscaling, cold starts and
//! durability come with the full worker model (endpoint-sim) and the SQLite store.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use endpoint_core::{Health, HealthJobs, HealthWorkers, JobStatus};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

/// What a job's `input` may ask of a simulated worker.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimInput {
    /// How long the worker runs the job, in ms (0 when absent).
    #[serde(default)]
    pub sleep_ms: u64,
    /// Report an error instead of an output.
    #[serde(default)]
    pub fail: bool,
}

/// One job as the endpoint holds it.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job id returned by `/run`.
    pub id: String,
    /// Current state.
    pub status: JobStatus,
    /// The request's `input`, kept verbatim.
    pub input: Value,
    /// When `/run` accepted it.
    pub submitted_at: Instant,
    /// When a worker picked it up.
    pub started_at: Option<Instant>,
    /// When it reached a terminal state.
    pub finished_at: Option<Instant>,
    /// The worker's output (COMPLETED).
    pub output: Option<Value>,
    /// The worker's error (FAILED).
    pub error: Option<String>,
    /// The worker that ran it.
    pub worker_id: Option<String>,
}

impl Job {
    /// Time spent in the queue, in ms (so far, if still queued).
    pub fn delay_ms(&self, now: Instant) -> u64 {
        let until = self.started_at.unwrap_or(now);
        until
            .saturating_duration_since(self.submitted_at)
            .as_millis() as u64
    }

    /// Time spent running, in ms (so far, if still running); 0 before it starts.
    pub fn execution_ms(&self, now: Instant) -> u64 {
        match self.started_at {
            Some(s) => self
                .finished_at
                .unwrap_or(now)
                .saturating_duration_since(s)
                .as_millis() as u64,
            None => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkerState {
    Idle,
    Running,
}

#[derive(Debug, Default)]
struct Inner {
    jobs: HashMap<String, Job>,
    queue: VecDeque<String>,
    completed: u64,
    failed: u64,
    retried: u64,
    workers: Vec<WorkerState>,
}

/// A serverless endpoint: shared by the HTTP handlers and the worker tasks.
#[derive(Debug)]
pub struct Endpoint {
    id: String,
    inner: Mutex<Inner>,
    work_available: Notify,
}

impl Endpoint {
    /// An endpoint with `workers` idle workers; call [`Endpoint::start_workers`] to run them.
    pub fn new(id: impl Into<String>, workers: usize) -> Arc<Self> {
        Arc::new(Endpoint {
            id: id.into(),
            inner: Mutex::new(Inner {
                workers: vec![WorkerState::Idle; workers],
                ..Inner::default()
            }),
            work_available: Notify::new(),
        })
    }

    /// The endpoint id used in `/v2/{endpoint_id}/...`.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A worker task that panicked must not take the endpoint down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a job and returns its id.
    pub fn submit(&self, input: Value) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let job = Job {
            id: id.clone(),
            status: JobStatus::InQueue,
            input,
            submitted_at: Instant::now(),
            started_at: None,
            finished_at: None,
            output: None,
            error: None,
            worker_id: None,
        };
        {
            let mut inner = self.lock();
            inner.jobs.insert(id.clone(), job);
            inner.queue.push_back(id.clone());
        }
        self.work_available.notify_one();
        id
    }

    /// A snapshot of one job.
    pub fn job(&self, id: &str) -> Option<Job> {
        self.lock().jobs.get(id).cloned()
    }

    /// Counts in RunPod's `/health` shape.
    pub fn health(&self) -> Health {
        let inner = self.lock();
        let running = inner
            .workers
            .iter()
            .filter(|w| **w == WorkerState::Running)
            .count() as u64;
        Health {
            jobs: HealthJobs {
                completed: inner.completed,
                failed: inner.failed,
                in_progress: inner
                    .jobs
                    .values()
                    .filter(|j| j.status == JobStatus::InProgress)
                    .count() as u64,
                in_queue: inner.queue.len() as u64,
                retried: inner.retried,
            },
            workers: HealthWorkers {
                idle: inner.workers.len() as u64 - running,
                running,
                ..HealthWorkers::default()
            },
        }
    }

    /// Spawns one tokio task per worker; they stop when `shutdown` resolves.
    pub fn start_workers(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let n = self.lock().workers.len();
        (0..n)
            .map(|w| {
                let ep = Arc::clone(self);
                tokio::spawn(async move { ep.worker_loop(w).await })
            })
            .collect()
    }

    async fn next_job(&self, worker: usize) -> (String, SimInput) {
        loop {
            {
                let mut inner = self.lock();
                if let Some(id) = inner.queue.pop_front() {
                    inner.workers[worker] = WorkerState::Running;
                    if let Some(job) = inner.jobs.get_mut(&id) {
                        job.status = JobStatus::InProgress;
                        job.started_at = Some(Instant::now());
                        job.worker_id = Some(worker_id(&self.id, worker));
                        let input = serde_json::from_value(job.input.clone()).unwrap_or_default();
                        return (id, input);
                    }
                }
            }
            // notify_one stores a permit when no worker waits, so no wake-up is lost
            // between the check above and this await.
            self.work_available.notified().await;
        }
    }

    async fn worker_loop(&self, worker: usize) {
        loop {
            let (id, input) = self.next_job(worker).await;
            tokio::time::sleep(Duration::from_millis(input.sleep_ms)).await;
            let mut inner = self.lock();
            if let Some(job) = inner.jobs.get_mut(&id) {
                job.finished_at = Some(Instant::now());
                if input.fail {
                    job.status = JobStatus::Failed;
                    job.error = Some("simulated failure (input.fail = true)".into());
                    inner.failed += 1;
                } else {
                    job.status = JobStatus::Completed;
                    job.output = Some(serde_json::json!({ "sleptMs": input.sleep_ms }));
                    inner.completed += 1;
                }
            }
            inner.workers[worker] = WorkerState::Idle;
        }
    }
}

fn worker_id(endpoint: &str, worker: usize) -> String {
    format!("{endpoint}-worker-{worker}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test(start_paused = true)]
    async fn jobs_flow_through_queue_and_workers() {
        let ep = Endpoint::new("t", 2);
        ep.start_workers();
        let ids: Vec<_> = (0..5)
            .map(|i| ep.submit(json!({"sleepMs": 1000, "fail": i == 4})))
            .collect();
        tokio::task::yield_now().await;
        let h = ep.health();
        assert_eq!(h.jobs.in_queue, 3);
        assert_eq!(h.jobs.in_progress, 2);
        assert_eq!(h.workers.running, 2);
        assert_eq!(h.workers.idle, 0);

        // Two at a time, one second each: all five done after three seconds.
        tokio::time::sleep(Duration::from_millis(3001)).await;
        let h = ep.health();
        assert_eq!((h.jobs.completed, h.jobs.failed), (4, 1));
        assert_eq!((h.jobs.in_queue, h.jobs.in_progress), (0, 0));
        assert_eq!((h.workers.idle, h.workers.running), (2, 0));

        let last = ep.job(&ids[4]).unwrap();
        assert_eq!(last.status, JobStatus::Failed);
        assert_eq!(last.delay_ms(Instant::now()), 2000);
        assert_eq!(last.execution_ms(Instant::now()), 1000);
        assert!(last.error.unwrap().contains("simulated failure"));
    }
}
