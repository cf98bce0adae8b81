//! The server's configuration file (TOML): which endpoints it serves and how their
//! simulated workers behave, and who may call them. Without a file there is one
//! endpoint, `local`.
//!
//! ```toml
//! # API keys with roles (see `auth`): `read` sees, `operate` also acts. Prefer
//! # `key_env` (the key is read from that environment variable) to `key`.
//! [[keys]]
//! name = "portal-viewers"
//! role = "read"
//! key_env = "VIEWERS_KEY"
//! endpoints = ["local"]           # optional: only these endpoints
//!
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
//!
//! # Real workers: your RunPod handler, run by the unmodified `runpod` SDK
//! [[endpoints]]
//! id = "echo"
//! runtime = "process"
//! min_workers = 0
//! max_workers = 2
//! idle_timeout_ms = 5000
//! execution_timeout_ms = 600000   # default policy.executionTimeout
//! ttl_ms = 86400000               # default policy.ttl
//! [endpoints.process]
//! command = ["python", "handler.py"]
//! cwd = "examples/workers/echo"
//! env = { MODEL_NAME = "tiny" }
//! scaler = "queue_delay"          # or "request_count"
//! scaler_value = 4                # seconds waited / jobs per worker
//! concurrency = 1                 # jobs a worker takes at once
//! gpus = ["0", "1"]               # capacity: one slot each (CUDA_VISIBLE_DEVICES)
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
    /// Where jobs and events are stored: a SQLite file or a `postgres://` URL
    /// (`--db` and `ENDPOINT_SERVER_DB` take precedence).
    #[serde(default)]
    pub db: Option<String>,
    /// Browser origins allowed to call the API (CORS).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Apply RunPod's per-route rate limits (default true).
    #[serde(default = "yes")]
    pub rate_limits: bool,
    /// Allow webhook targets in private address ranges (default false).
    #[serde(default)]
    pub allow_private_webhooks: bool,
    /// API keys with roles, besides `api_key` (which may operate everything).
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
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
            db: None,
            cors_origins: Vec::new(),
            rate_limits: true,
            allow_private_webhooks: false,
            keys: Vec::new(),
            endpoints: default_endpoints(),
        }
    }
}

/// One `[[keys]]` entry.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Shown in answers and logs instead of the key.
    pub name: String,
    /// `read` or `operate`.
    pub role: crate::auth::Role,
    /// The key itself (prefer `key_env`, so the key is not in a file).
    #[serde(default)]
    pub key: Option<String>,
    /// The environment variable holding the key.
    #[serde(default)]
    pub key_env: Option<String>,
    /// The endpoints it opens (default: all).
    #[serde(default)]
    pub endpoints: Option<Vec<String>>,
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("key_env", &self.key_env)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// The `[[keys]]`, their secrets read (from `env` for `key_env`), checked: a name
    /// given once, exactly one of `key` and `key_env`, a set variable, known endpoints.
    pub fn api_keys(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<crate::auth::ApiKey>, String> {
        let mut names = std::collections::HashSet::new();
        let mut out = Vec::new();
        for k in &self.keys {
            let at = format!("keys `{}`", k.name);
            if k.name.is_empty() || !names.insert(k.name.as_str()) {
                return Err(format!("{at}: each key needs a name of its own"));
            }
            let secret = match (&k.key, &k.key_env) {
                (Some(s), None) => s.clone(),
                (None, Some(var)) => env(var).ok_or_else(|| {
                    format!("{at}: the environment variable `{var}` (key_env) is not set")
                })?,
                _ => return Err(format!("{at}: give exactly one of `key` and `key_env`")),
            };
            if secret.trim().len() < 8 {
                return Err(format!("{at}: the key is shorter than 8 characters"));
            }
            if let Some(list) = &k.endpoints {
                for e in list {
                    if !self.endpoints.iter().any(|d| &d.id == e) {
                        return Err(format!("{at}: no endpoint `{e}` is declared"));
                    }
                }
            }
            out.push(crate::auth::ApiKey {
                name: k.name.clone(),
                secret: secret.trim().to_string(),
                role: k.role,
                endpoints: k.endpoints.clone(),
            });
        }
        Ok(out)
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
    /// Who runs the jobs: `simulated` (endpoint-sim's model, the default) or
    /// `process` (real worker processes, configured in `process`).
    pub runtime: Runtime,
    /// Default `policy.executionTimeout` of the endpoint's jobs, ms (RunPod: 10 min).
    pub execution_timeout_ms: i64,
    /// Default `policy.ttl` of the endpoint's jobs, ms (RunPod: 24 h).
    pub ttl_ms: i64,
    /// The worker processes of a `process` endpoint.
    pub process: Option<crate::workers::ProcessConfig>,
}

/// Who runs an endpoint's jobs.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    /// endpoint-sim's model: simulated workers, cold starts and run times.
    #[default]
    Simulated,
    /// Real worker processes running a RunPod handler through the `runpod` SDK.
    Process,
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
            external_workers: self.runtime == Runtime::Process,
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
            runtime: Runtime::Simulated,
            execution_timeout_ms: endpoint_sim::model::DEFAULT_EXECUTION_TIMEOUT_MS,
            ttl_ms: endpoint_sim::model::DEFAULT_TTL_MS,
            process: None,
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
            if e.execution_timeout_ms <= 0 || e.ttl_ms <= 0 {
                return Err(format!(
                    "endpoint `{}`: execution_timeout_ms and ttl_ms must be above 0",
                    e.id
                ));
            }
            match (e.runtime, &e.process) {
                (Runtime::Process, None) => {
                    return Err(format!(
                        "endpoint `{}`: runtime = \"process\" needs an [endpoints.process] table with `command`",
                        e.id
                    ));
                }
                (Runtime::Process, Some(p)) => {
                    p.check()
                        .map_err(|m| format!("endpoint `{}`: process.{m}", e.id))?;
                }
                (Runtime::Simulated, Some(_)) => {
                    return Err(format!(
                        "endpoint `{}`: [endpoints.process] is set but runtime is not \"process\"",
                        e.id
                    ));
                }
                (Runtime::Simulated, None) => {}
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
    fn keys_with_roles() {
        let c = ServerConfig::parse(
            "[[keys]]\nname = \"viewers\"\nrole = \"read\"\nkey_env = \"VIEW_KEY\"\nendpoints = [\"local\"]\n\
             [[keys]]\nname = \"ops\"\nrole = \"operate\"\nkey = \"ops-key-1234\"\n",
        )
        .unwrap();
        let env = |v: &str| (v == "VIEW_KEY").then(|| "viewer-key-1234".to_string());
        let keys = c.api_keys(env).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].secret, "viewer-key-1234");
        assert_eq!(keys[0].role, crate::auth::Role::Read);
        assert_eq!(keys[1].role, crate::auth::Role::Operate);
        assert!(!format!("{c:?}").contains("ops-key-1234"), "a key in Debug");
        // Each mistake is named.
        for (toml, needle) in [
            (
                "[[keys]]\nname = \"a\"\nrole = \"read\"\n",
                "exactly one of",
            ),
            (
                "[[keys]]\nname = \"a\"\nrole = \"read\"\nkey_env = \"NOPE\"\n",
                "`NOPE`",
            ),
            (
                "[[keys]]\nname = \"a\"\nrole = \"read\"\nkey = \"short\"\n",
                "shorter than 8",
            ),
            (
                "[[keys]]\nname = \"a\"\nrole = \"read\"\nkey = \"long-enough\"\nendpoints = [\"x\"]\n",
                "no endpoint `x`",
            ),
            (
                "[[keys]]\nname = \"a\"\nrole = \"read\"\nkey = \"long-enough\"\n[[keys]]\nname = \"a\"\nrole = \"read\"\nkey = \"long-enough2\"\n",
                "a name of its own",
            ),
        ] {
            let e = ServerConfig::parse(toml)
                .unwrap()
                .api_keys(env)
                .unwrap_err();
            assert!(e.contains(needle), "{toml}: {e}");
        }
        let e = ServerConfig::parse(
            "[[keys]]\nname = \"a\"\nrole = \"admin\"\nkey = \"long-enough\"\n",
        )
        .unwrap_err();
        assert!(e.contains("admin"), "{e}");
    }

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

    #[test]
    fn a_process_endpoint() {
        let c = ServerConfig::parse(
            "[[endpoints]]\nid = \"echo\"\nruntime = \"process\"\nmax_workers = 2\nexecution_timeout_ms = 5000\n\
             [endpoints.process]\ncommand = [\"python\", \"handler.py\"]\ncwd = \"w\"\nenv = { A = \"1\" }\n\
             scaler = \"request_count\"\nscaler_value = 3\nconcurrency = 4\ngpus = [\"0\", \"1\"]\n",
        )
        .unwrap();
        let e = &c.endpoints[0];
        assert_eq!(e.runtime, Runtime::Process);
        assert!(e.model().external_workers);
        assert_eq!(e.execution_timeout_ms, 5000);
        let p = e.process.as_ref().unwrap();
        assert_eq!(p.command, ["python", "handler.py"]);
        assert_eq!(p.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(p.scaler, crate::workers::Scaler::RequestCount);
        assert_eq!((p.scaler_value, p.concurrency), (3.0, 4));
        assert_eq!(p.gpus, ["0", "1"]);
    }

    #[test]
    fn process_errors_name_the_field() {
        let e =
            ServerConfig::parse("[[endpoints]]\nid = \"a\"\nruntime = \"process\"\n").unwrap_err();
        assert!(e.contains("[endpoints.process]"), "{e}");
        let e = ServerConfig::parse(
            "[[endpoints]]\nid = \"a\"\nruntime = \"process\"\n[endpoints.process]\ncommand = []\n",
        )
        .unwrap_err();
        assert!(e.contains("process.command"), "{e}");
        let e = ServerConfig::parse(
            "[[endpoints]]\nid = \"a\"\nruntime = \"process\"\n[endpoints.process]\ncommand = [\"x\"]\nconcurrency = 0\n",
        )
        .unwrap_err();
        assert!(e.contains("process.concurrency"), "{e}");
        let e = ServerConfig::parse(
            "[[endpoints]]\nid = \"a\"\n[endpoints.process]\ncommand = [\"x\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("runtime"), "{e}");
    }
}
