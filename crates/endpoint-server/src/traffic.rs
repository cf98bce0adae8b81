//! Simulated traffic inside the server (`serve --traffic-rate`): jobs submitted at a
//! Poisson rate with lognormal run times, drawn from endpoint-sim so a seed replays
//! the same stream. (`endpoint-server load` sends traffic through the HTTP API instead.)

use std::sync::Arc;

use endpoint_sim::model::JobSpec;
use endpoint_sim::{Traffic, TrafficConfig};
use tokio::time::Duration;

use crate::Endpoint;

/// Submits generated jobs to `endpoint` until the task is aborted.
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
            let input = serde_json::json!({ "sleepMs": job.sleep_ms, "fail": job.fail });
            let spec = JobSpec {
                sleep_ms: Some(job.sleep_ms),
                fail: job.fail,
                ..JobSpec::default()
            };
            if let Err(e) = endpoint.submit(input, None, None, spec, false).await {
                tracing::warn!(error = %e, "simulated job not accepted");
            }
        }
    })
}
