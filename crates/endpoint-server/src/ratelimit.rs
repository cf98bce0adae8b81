//! Per-endpoint, per-route rate limits, as RunPod documents them: `/run` (and
//! `/runsync`) 1000 per 10 s, `/status` (and `/stream`) 2000 per 10 s, `/cancel` (and
//! `/retry`) 100 per 10 s, `/purge-queue` 2 per 10 s. Past the limit the answer is
//! `429` with a JSON error and `Retry-After`.
//!
//! Each (endpoint, route) has a token bucket that holds the limit and refills it
//! evenly over the period, so a burst of the full limit passes and the average rate
//! is held. Limits are configurable (the load benchmarks raise them).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::time::{Duration, Instant};

/// The rate-limited route groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/run`, `/runsync`.
    Run,
    /// `/status`, `/stream`.
    Status,
    /// `/cancel`, `/retry`.
    Cancel,
    /// `/purge-queue`.
    PurgeQueue,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Run => "/run",
            Route::Status => "/status",
            Route::Cancel => "/cancel",
            Route::PurgeQueue => "/purge-queue",
        }
    }
}

/// Requests allowed per period, per route group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// `/run` + `/runsync`.
    pub run: u32,
    /// `/status` + `/stream`.
    pub status: u32,
    /// `/cancel` + `/retry`.
    pub cancel: u32,
    /// `/purge-queue`.
    pub purge_queue: u32,
    /// The period the counts are over.
    pub period: Duration,
}

impl Limits {
    /// RunPod's documented limits.
    pub const RUNPOD: Limits = Limits {
        run: 1000,
        status: 2000,
        cancel: 100,
        purge_queue: 2,
        period: Duration::from_secs(10),
    };

    fn of(&self, r: Route) -> u32 {
        match r {
            Route::Run => self.run,
            Route::Status => self.status,
            Route::Cancel => self.cancel,
            Route::PurgeQueue => self.purge_queue,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Refused: how long until a request would pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Limited {
    /// The route group's path.
    pub route: &'static str,
    /// The limit.
    pub limit: u32,
    /// The period, seconds.
    pub period_secs: u64,
    /// Seconds until one request would pass (at least 1).
    pub retry_after_secs: u64,
}

/// The buckets of every endpoint and route.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Option<Limits>,
    buckets: Mutex<HashMap<(String, Route), Bucket>>,
}

impl RateLimiter {
    /// A limiter with `limits`; `None` turns limiting off.
    pub fn new(limits: Option<Limits>) -> Self {
        RateLimiter {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `route` on `endpoint`, or says how long to wait.
    pub fn check(&self, endpoint: &str, route: Route) -> Result<(), Limited> {
        let Some(limits) = self.limits else {
            return Ok(());
        };
        let cap = f64::from(limits.of(route));
        let per_sec = cap / limits.period.as_secs_f64();
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets
            .entry((endpoint.to_string(), route))
            .or_insert(Bucket {
                tokens: cap,
                last: now,
            });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * per_sec).min(cap);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / per_sec;
            Err(Limited {
                route: route.name(),
                limit: limits.of(route),
                period_secs: limits.period.as_secs(),
                retry_after_secs: wait.ceil().max(1.0) as u64,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_the_limit_passes_then_the_rate_is_held() {
        let rl = RateLimiter::new(Some(Limits::RUNPOD));
        for _ in 0..2 {
            rl.check("e", Route::PurgeQueue).unwrap();
        }
        let e = rl.check("e", Route::PurgeQueue).unwrap_err();
        assert_eq!((e.limit, e.period_secs, e.retry_after_secs), (2, 10, 5));
        // Other endpoints and routes have their own buckets.
        rl.check("other", Route::PurgeQueue).unwrap();
        rl.check("e", Route::Run).unwrap();
        tokio::time::advance(Duration::from_secs(5)).await;
        rl.check("e", Route::PurgeQueue).unwrap();
        assert!(rl.check("e", Route::PurgeQueue).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn off_means_off() {
        let rl = RateLimiter::new(None);
        for _ in 0..10_000 {
            rl.check("e", Route::PurgeQueue).unwrap();
        }
    }
}
