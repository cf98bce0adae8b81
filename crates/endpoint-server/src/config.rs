//! The server's configuration file (TOML): which endpoints it serves and how their
//! simulated workers behave. Without a file there is one endpoint, `local`.
//!
//! ```toml
//! [[endpoints]]
//! id = "local"
//! min_workers = 0
//! max_workers = 3
//! idle_timeout_ms = 5000
//! cold_start_median_ms = 6000
//! cold_start_sigma = 0.4
//! execution_median_ms = 1200
//! execution_sigma = 0.6
//! failure_rate = 0.02
//! throttle_rate = 0.0
//! unhealthy_rate = 0.0
//! ```

use endpoint_sim::Dist;
use endpoint_sim::model::ModelConfig;
use serde::Deserialize;

/// The whole file. Server settings sit at the top level; command-line flags and the
/// environment override them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// API key every `/v2` request must carry (prefer `ENDPOINT_SERVER_API_KEY`, so the
    /// key is not in a file).
    #[serde(default)]
    pub api_key: Option<String>,
    /// Browser origins allowed to call the API (CORS).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Apply RunPod's per-route rate limits (default true).
    #[serde(default = "yes")]
    pub rate_limits: bool,
    /// Allow webhook targets in private address ranges (default false).
    #[serde(default)]
    pub allow_private_webhooks: bool,
    /// The endpoints served under `/v2/{id}/`.
    #[serde(default = "default_endpoints")]
    pub endpoints: Vec<EndpointConfig>,
}

fn yes() -> bool {
    true
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            api_key: None,
            cors_origins: Vec::new(),
            rate_limits: true,
            allow_private_webhooks: false,
            endpoints: default_endpoints(),
        }
    }
}

fn default_endpoints() -> Vec<EndpointConfig> {
    vec![EndpointConfig::named("local")]
}

/// One endpoint and its simulated workers.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointConfig {
    /// The id in `/v2/{id}/`: letters, digits, `-`, `_`.
    pub id: String,
    /// Workers kept warm.
    pub min_workers: u32,
    /// Most workers at once.
    pub max_workers: u32,
    /// Idle workers above the minimum stop after this long, ms.
    pub idle_timeout_ms: i64,
    /// Median cold start, ms (lognormal).
    pub cold_start_median_ms: f64,
    /// Spread of cold starts (sigma of the underlying normal).
    pub cold_start_sigma: f64,
    /// Median execution of jobs without `input.sleepMs`, ms (lognormal).
    pub execution_median_ms: f64,
    /// Spread of execution times.
    pub execution_sigma: f64,
    /// Probability that a job fails by itself.
    pub failure_rate: f64,
    /// Probability that a new worker is throttled first.
    pub throttle_rate: f64,
    /// Probability that a worker turns unhealthy after a job.
    pub unhealthy_rate: f64,
    /// Seed of the endpoint's randomness.
    pub seed: u64,
}

impl EndpointConfig {
    /// The defaults, named `id`.
    pub fn named(id: &str) -> Self {
        EndpointConfig {
            id: id.to_string(),
            ..EndpointConfig::default()
        }
    }

    /// The model configuration.
    pub fn model(&self) -> ModelConfig {
        ModelConfig {
            min_workers: self.min_workers,
            max_workers: self.max_workers,
            idle_timeout_ms: self.idle_timeout_ms,
            cold_start: Dist::LogNormal {
                median: self.cold_start_median_ms,
                sigma: self.cold_start_sigma,
            },
            execution: Dist::LogNormal {
                median: self.execution_median_ms,
                sigma: self.execution_sigma,
            },
            failure_rate: self.failure_rate,
            throttle_rate: self.throttle_rate,
            unhealthy_rate: self.unhealthy_rate,
            ..ModelConfig::default()
        }
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            id: "local".into(),
            min_workers: 0,
            max_workers: 3,
            idle_timeout_ms: 5_000,
            cold_start_median_ms: 6_000.0,
            cold_start_sigma: 0.4,
            execution_median_ms: 1_200.0,
            execution_sigma: 0.6,
            failure_rate: 0.0,
            throttle_rate: 0.0,
            unhealthy_rate: 0.0,
            seed: 1,
        }
    }
}

impl ServerConfig {
    /// Parses and checks a config file's text; errors name the field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let cfg: ServerConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Checks every endpoint; the error names the endpoint and the field.
    pub fn check(&self) -> Result<(), String> {
        if self.endpoints.is_empty() {
            return Err("`endpoints` is empty: declare at least one [[endpoints]]".into());
        }
        let mut seen = std::collections::HashSet::new();
        for e in &self.endpoints {
            let valid = !e.id.is_empty()
                && e.id.len() <= 64
                && e.id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(format!(
                    "endpoints.id `{}`: use 1 to 64 letters, digits, `-` or `_`",
                    e.id
                ));
            }
            if !seen.insert(&e.id) {
                return Err(format!("endpoints.id `{}` is declared twice", e.id));
            }
            if e.min_workers > e.max_workers {
                // max_workers = 0 is allowed: a paused endpoint that only queues.
                return Err(format!(
                    "endpoint `{}`: min_workers is above max_workers",
                    e.id
                ));
            }
            for (name, p) in [
                ("failure_rate", e.failure_rate),
                ("throttle_rate", e.throttle_rate),
                ("unhealthy_rate", e.unhealthy_rate),
            ] {
                if !(0.0..=1.0).contains(&p) {
                    return Err(format!(
                        "endpoint `{}`: {name} must be between 0 and 1",
                        e.id
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_one_local_endpoint() {
        let c = ServerConfig::parse("").unwrap();
        assert_eq!(c.endpoints, vec![EndpointConfig::named("local")]);
    }

    #[test]
    fn several_endpoints_with_overrides() {
        let c = ServerConfig::parse(
            "[[endpoints]]\nid = \"a\"\nmax_workers = 8\n[[endpoints]]\nid = \"b\"\nmin_workers = 1\n",
        )
        .unwrap();
        assert_eq!(c.endpoints.len(), 2);
        assert_eq!(c.endpoints[0].model().max_workers, 8);
        assert_eq!(c.endpoints[1].min_workers, 1);
    }

    #[test]
    fn server_settings_at_the_top_level() {
        let c = ServerConfig::parse(
            "api_key = \"k\"\ncors_origins = [\"http://portal\"]\nrate_limits = false\nallow_private_webhooks = true\n",
        )
        .unwrap();
        assert_eq!(c.api_key.as_deref(), Some("k"));
        assert_eq!(c.cors_origins, ["http://portal"]);
        assert!(!c.rate_limits && c.allow_private_webhooks);
        assert!(ServerConfig::default().rate_limits);
    }

    #[test]
    fn errors_name_the_field() {
        let e = ServerConfig::parse("[[endpoints]]\nid = \"a\"\nmax_wrokers = 2\n").unwrap_err();
        assert!(e.contains("max_wrokers"), "{e}");
        let e = ServerConfig::parse("[[endpoints]]\nid = \"a/b\"\n").unwrap_err();
        assert!(e.contains("endpoints.id"), "{e}");
        let e = ServerConfig::parse("[[endpoints]]\nid = \"a\"\n[[endpoints]]\nid = \"a\"\n")
            .unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = ServerConfig::parse("[[endpoints]]\nid = \"a\"\nfailure_rate = 2.0\n").unwrap_err();
        assert!(e.contains("failure_rate"), "{e}");
    }
}
