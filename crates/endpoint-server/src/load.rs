//! `endpoint-server load`: realistic traffic through the public HTTP API, so whatever
//! serves it (this server, or anything RunPod-compatible) is exercised end to end.
//!
//! Jobs arrive as a Poisson process at `--rate` per second with lognormal run times
//! (endpoint-sim's traffic model, seeded); about a fifth of them are followed by a
//! status poll and 2 % are cancelled a moment later. Every answer is counted by
//! status code; a summary is printed every 10 s and at the end.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use endpoint_sim::{Rng, Traffic, TrafficConfig};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8000`.
    pub url: String,
    /// Endpoint id.
    pub endpoint: String,
    /// Mean jobs per second.
    pub rate: f64,
    /// How long to send.
    pub duration: Duration,
    /// API key, if the server wants one.
    pub api_key: Option<String>,
    /// Seed of the traffic.
    pub seed: u64,
}

/// Answers by operation and status code.
pub type Counts = BTreeMap<(&'static str, u16), u64>;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Parses `500ms`, `30s`, `5m`, `24h`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}`: expected a number and a unit (ms, s, m, h)"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        u => return Err(format!("`{s}`: unknown unit `{u}` (use ms, s, m, h, d)")),
    })
}

async fn send(
    client: &HttpClient,
    cfg: &LoadConfig,
    path: &str,
    body: Option<String>,
) -> Result<(u16, Bytes), String> {
    let uri = format!(
        "{}/v2/{}/{path}",
        cfg.url.trim_end_matches('/'),
        cfg.endpoint
    );
    let mut req = hyper::Request::builder()
        .method(if body.is_some() || path.starts_with("cancel") {
            "POST"
        } else {
            "GET"
        })
        .uri(&uri)
        .header("content-type", "application/json");
    if let Some(k) = &cfg.api_key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| format!("{uri}: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, bytes))
}

/// Sends traffic for `cfg.duration`; returns the answers counted.
pub async fn run(cfg: LoadConfig) -> Counts {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let counts: Arc<Mutex<Counts>> = Arc::default();
    let mut traffic = Traffic::new(
        cfg.seed,
        TrafficConfig {
            rate_per_sec: cfg.rate,
            ..TrafficConfig::default()
        },
    );
    let mut rng = Rng::new(cfg.seed ^ 0x5eed);
    let start = tokio::time::Instant::now();
    let mut next_report = Duration::from_secs(10);
    let cfg = Arc::new(cfg);
    let mut at = Duration::ZERO;
    loop {
        let job = traffic.next_job();
        at += Duration::from_secs_f64(job.gap_ms / 1000.0);
        if at >= cfg.duration {
            break;
        }
        tokio::time::sleep_until(start + at).await;
        if at >= next_report {
            report(&counts.lock().unwrap_or_else(|e| e.into_inner()), at);
            next_report += Duration::from_secs(10);
        }
        let poll = rng.next_f64() < 0.2;
        let cancel = rng.next_f64() < 0.02;
        let (client, cfg, counts) = (client.clone(), cfg.clone(), counts.clone());
        tokio::spawn(async move {
            let count = |op: &'static str, code: u16| {
                *counts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry((op, code))
                    .or_default() += 1;
            };
            let body =
                serde_json::json!({ "input": { "sleepMs": job.sleep_ms, "fail": job.fail } })
                    .to_string();
            let id = match send(&client, &cfg, "run", Some(body)).await {
                Ok((code, bytes)) => {
                    count("run", code);
                    serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| v["id"].as_str().map(str::to_owned))
                }
                Err(e) => {
                    count("run", 0);
                    tracing::warn!(error = %e, "run failed");
                    None
                }
            };
            let Some(id) = id else { return };
            if poll || cancel {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            if poll {
                let code = send(&client, &cfg, &format!("status/{id}"), None)
                    .await
                    .map_or(0, |r| r.0);
                count("status", code);
            }
            if cancel {
                let code = send(&client, &cfg, &format!("cancel/{id}"), None)
                    .await
                    .map_or(0, |r| r.0);
                count("cancel", code);
            }
        });
    }
    // Let the last requests finish.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let c = counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
    report(&c, cfg.duration);
    c
}

fn report(c: &Counts, at: Duration) {
    let parts: Vec<String> = c
        .iter()
        .map(|((op, code), n)| {
            if *code == 0 {
                format!("{op} error: {n}")
            } else {
                format!("{op} {code}: {n}")
            }
        })
        .collect();
    println!("load t={:>5.0}s  {}", at.as_secs_f64(), parts.join(", "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("3w").unwrap_err().contains("unknown unit"));
    }
}
