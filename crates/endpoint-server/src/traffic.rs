//! Simulated traffic for `cargo xtask serve`: jobs submitted at a Poisson rate with
//! lognormal run times, drawn from endpoint-sim so a seed replays the same stream.

use std::sync::Arc;

use endpoint_sim::{Traffic, TrafficConfig};
use tokio::time::Duration;

use crate::Endpoint;

/// Submits generated jobs to `endpoint` until the task is dropped or aborted.
pub fn spawn(endpoint: Arc<Endpoint>, seed: u64, rate_per_sec: f64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut traffic = Traffic::new(
            seed,
            TrafficConfig {
                rate_per_sec,
                ..TrafficConfig::default()
            },
        );
        loop {
            let job = traffic.next_job();
            tokio::time::sleep(Duration::from_secs_f64(job.gap_ms / 1000.0)).await;
            endpoint.submit(serde_json::json!({ "sleepMs": job.sleep_ms, "fail": job.fail }));
        }
    })
}
