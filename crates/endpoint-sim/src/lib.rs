//! # endpoint-sim
//!
//! A seeded, deterministic model of a serverless GPU endpoint. The same seed gives the
//! same traffic on every platform (native and wasm32), because the generator is a
//! self-contained SplitMix64 and the distributions are computed from it with plain
//! `f64` arithmetic.
//!
//! What is here so far: the random source ([`Rng`]), the distributions job traffic is
//! drawn from ([`Dist`]) and a traffic model ([`Traffic`]) that yields the gaps
//! between arrivals and each job's input (`sleepMs`, `fail`). The endpoint-server's
//! load generator uses it; the worker/autoscaling model grows here next.
//!
//! ```
//! use endpoint_sim::{Traffic, TrafficConfig};
//!
//! let mut a = Traffic::new(7, TrafficConfig::default());
//! let mut b = Traffic::new(7, TrafficConfig::default());
//! assert_eq!(a.next_job(), b.next_job()); // same seed, same traffic
//! ```

pub mod demo;
pub mod feed;
pub mod model;
pub mod synthetic;

/// A map keyed by job id, for the per-job tables of the model and the server.
///
/// `griddle` moves a table's entries into its grown copy a few at a time on later
/// inserts instead of all at once: a `std` map of 200,000 jobs pauses every insert
/// behind its resize for hundreds of ms (fresh pages faulted in under the endpoint
/// lock), which was most of `/run`'s p99 at 32 connections (docs/benchmarks.md).
/// std's `RandomState` keeps the hashing DoS-resistant without another RNG.
pub type JobMap<V> = griddle::HashMap<String, V, std::collections::hash_map::RandomState>;

/// SplitMix64: tiny, fast, and identical on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal deviate (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        // 1 - u keeps the logarithm's argument in (0, 1].
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// A distribution of non-negative durations or gaps, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// Always this value.
    Constant(f64),
    /// Lognormal with this median and shape (sigma of the underlying normal).
    LogNormal {
        /// The median, in ms.
        median: f64,
        /// Spread; 0.5 is moderate, 1.0 is a long tail.
        sigma: f64,
    },
    /// Exponential with this mean (the gaps of a Poisson process).
    Exponential {
        /// The mean, in ms.
        mean: f64,
    },
}

impl Dist {
    /// One sample; never negative.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        match *self {
            Dist::Constant(v) => v.max(0.0),
            Dist::LogNormal { median, sigma } => median.max(0.0) * (sigma * rng.normal()).exp(),
            Dist::Exponential { mean } => -mean.max(0.0) * (1.0 - rng.next_f64()).ln(),
        }
    }
}

/// Shape of the generated traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficConfig {
    /// Mean arrivals per second (a Poisson process).
    pub rate_per_sec: f64,
    /// How long each job runs on its worker.
    pub execution: Dist,
    /// Probability that a job is asked to fail.
    pub failure_rate: f64,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            rate_per_sec: 1.0,
            execution: Dist::LogNormal {
                median: 1200.0,
                sigma: 0.6,
            },
            failure_rate: 0.05,
        }
    }
}

/// One generated job: when it arrives (ms after the previous one) and its input.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedJob {
    /// Milliseconds since the previous arrival.
    pub gap_ms: f64,
    /// `input.sleepMs`: how long the worker runs it.
    pub sleep_ms: u64,
    /// `input.fail`: whether the worker reports an error.
    pub fail: bool,
}

/// A deterministic stream of jobs.
#[derive(Debug, Clone)]
pub struct Traffic {
    rng: Rng,
    config: TrafficConfig,
}

impl Traffic {
    /// Traffic determined entirely by `seed` and `config`.
    pub fn new(seed: u64, config: TrafficConfig) -> Self {
        Traffic {
            rng: Rng::new(seed),
            config,
        }
    }

    /// The next job.
    pub fn next_job(&mut self) -> GeneratedJob {
        let rate = self.config.rate_per_sec.max(1e-9);
        let gap_ms = Dist::Exponential {
            mean: 1000.0 / rate,
        }
        .sample(&mut self.rng);
        let sleep_ms = self.config.execution.sample(&mut self.rng).round() as u64;
        let fail = self.rng.next_f64() < self.config.failure_rate;
        GeneratedJob {
            gap_ms,
            sleep_ms,
            fail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let mut a = Traffic::new(1, TrafficConfig::default());
        let mut b = Traffic::new(1, TrafficConfig::default());
        let mut c = Traffic::new(2, TrafficConfig::default());
        let xs: Vec<_> = (0..100).map(|_| a.next_job()).collect();
        let ys: Vec<_> = (0..100).map(|_| b.next_job()).collect();
        let zs: Vec<_> = (0..100).map(|_| c.next_job()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn uniform_is_in_unit_interval_and_centred() {
        let mut r = Rng::new(42);
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        let mean = sum / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    }

    #[test]
    fn lognormal_median_and_exponential_mean_match_their_parameters() {
        let mut r = Rng::new(3);
        let d = Dist::LogNormal {
            median: 1000.0,
            sigma: 0.8,
        };
        let mut xs: Vec<f64> = (0..50_001).map(|_| d.sample(&mut r)).collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[25_000];
        assert!((median - 1000.0).abs() < 30.0, "median {median}");
        assert!(xs[0] >= 0.0);

        let e = Dist::Exponential { mean: 250.0 };
        let mean = (0..100_000).map(|_| e.sample(&mut r)).sum::<f64>() / 100_000.0;
        assert!((mean - 250.0).abs() < 5.0, "mean {mean}");
    }

    #[test]
    fn arrival_rate_and_failure_rate_match_the_config() {
        let cfg = TrafficConfig {
            rate_per_sec: 4.0,
            failure_rate: 0.2,
            ..TrafficConfig::default()
        };
        let mut t = Traffic::new(9, cfg);
        let jobs: Vec<_> = (0..20_000).map(|_| t.next_job()).collect();
        let secs = jobs.iter().map(|j| j.gap_ms).sum::<f64>() / 1000.0;
        let rate = jobs.len() as f64 / secs;
        assert!((rate - 4.0).abs() < 0.15, "rate {rate}");
        let failed = jobs.iter().filter(|j| j.fail).count() as f64 / jobs.len() as f64;
        assert!((failed - 0.2).abs() < 0.02, "failure rate {failed}");
    }
}
