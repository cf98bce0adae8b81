//! Real workers: an endpoint whose jobs are run by worker processes executing the
//! user's RunPod handler through the unmodified `runpod` worker SDK.
//!
//! - [`api`]: the worker-facing routes of RunPod's protocol under `/v2/{endpoint}/`
//!   (`job-take`, `job-take-batch`, `job-stop`, `job-done`, `job-stream`, `ping`),
//!   each opened only by the calling worker's own secret.
//! - [`supervisor`]: starts, scales, watches and stops the processes, and turns what
//!   they do into the endpoint model's records (the same records, transitions and
//!   cold starts as the simulated runtime, so the panel needs no special case).
//! - [`process`]: process groups, signals, `/proc`, and the registry that finds the
//!   workers a killed server left behind.
//! - [`logs`]: every worker's stdout and stderr, line by line, tied to jobs.
//!
//! What is measured, and from what evidence:
//! - cold start: spawn -> the worker's first request (a ping or a job-take);
//! - delay: submission -> the job-take answer that carried the job;
//! - execution: that answer -> the final job-done;
//! - states: `initializing` (spawned, no request yet), `idle` (polling, nothing to
//!   do), `running` (holds a job), `throttled` (wanted, no GPU slot free),
//!   `outdated` (after a release: drained, then replaced), `unhealthy` (missed pings,
//!   an unhealthy ping, a stopped process, an exit during start, a crash).

pub mod api;
pub mod logs;
pub mod process;
pub mod supervisor;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// How the number of workers follows the queue (RunPod's two scaler types).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Scaler {
    /// Add a worker when a job has waited longer than `scaler_value` seconds.
    #[default]
    QueueDelay,
    /// About one worker per `scaler_value` jobs queued or running.
    RequestCount,
}

/// The worker processes of a `process` endpoint (`[endpoints.process]` in the TOML).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    /// Program and arguments, e.g. `["python", "handler.py"]`.
    pub command: Vec<String>,
    /// Working directory of the workers (default: the server's).
    pub cwd: Option<PathBuf>,
    /// Extra environment of the workers (nothing else of the server's is passed but
    /// `PATH`).
    pub env: BTreeMap<String, String>,
    /// Scaler type.
    pub scaler: Scaler,
    /// Scaler value: seconds of queue delay, or jobs per worker.
    pub scaler_value: f64,
    /// Jobs one worker is given at once (its handler sets its own concurrency with
    /// `concurrency_modifier`; it is told this value as `WORKER_CONCURRENCY`).
    pub concurrency: u32,
    /// The host's GPU slots, one worker each, handed over as `CUDA_VISIBLE_DEVICES`.
    /// Empty: no GPU limit (a CPU host), workers are limited by `max_workers` only.
    pub gpus: Vec<String>,
    /// `RUNPOD_PING_INTERVAL`, ms (at least 1000).
    pub ping_interval_ms: u64,
    /// A worker that has not pinged for this many intervals is unhealthy.
    pub missed_pings: u32,
    /// How long job-take and job-stop are held before "nothing" (204), ms (the SDK
    /// gives up after 90 s; keep it well below).
    pub hold_ms: u64,
    /// SIGTERM -> SIGKILL of the whole process group, ms.
    pub stop_grace_ms: u64,
    /// A job told to stop (cancel, timeout) that its worker has not let go of after
    /// this long, ms, has a sync handler that cannot be interrupted: the worker is
    /// killed and replaced.
    pub cancel_grace_ms: u64,
    /// A worker that has made no request this long after its spawn is unhealthy, ms.
    pub startup_timeout_ms: u64,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            command: Vec::new(),
            cwd: None,
            env: BTreeMap::new(),
            scaler: Scaler::QueueDelay,
            scaler_value: 4.0,
            concurrency: 1,
            gpus: Vec::new(),
            ping_interval_ms: 10_000,
            missed_pings: 3,
            hold_ms: 20_000,
            stop_grace_ms: 10_000,
            cancel_grace_ms: 3_000,
            startup_timeout_ms: 600_000,
        }
    }
}

impl ProcessConfig {
    /// Checks the values; the error starts with the field's name.
    pub fn check(&self) -> Result<(), String> {
        if self.command.is_empty() || self.command[0].is_empty() {
            return Err(
                "command: give the program and its arguments, e.g. [\"python\", \"handler.py\"]"
                    .into(),
            );
        }
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        if self.scaler_value.is_nan() || self.scaler_value <= 0.0 {
            return Err("scaler_value must be above 0".into());
        }
        if self.ping_interval_ms < 1_000 {
            return Err("ping_interval_ms must be at least 1000 (the SDK crashes below)".into());
        }
        if self.hold_ms == 0 || self.hold_ms > 60_000 {
            return Err(
                "hold_ms must be between 1 and 60000 (the SDK abandons a poll after 90 s)".into(),
            );
        }
        if self.missed_pings == 0 {
            return Err("missed_pings must be at least 1".into());
        }
        for k in self.env.keys() {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(format!("env: `{k}` is not a variable name"));
            }
        }
        Ok(())
    }
}
