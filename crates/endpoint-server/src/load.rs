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

/// What [`closed`] sends: `connections` clients, each on its own keep-alive connection,
/// posting one durable `/run` after another for `duration` (the wrk-style closed loop
/// that issue 14's "/run p99 at 32 connections" is stated in).
#[derive(Debug, Clone)]
pub struct ClosedConfig {
    /// Base URL of the server, `http://host:port` (plain HTTP).
    pub url: String,
    /// Endpoint id.
    pub endpoint: String,
    /// Concurrent connections, one request in flight on each.
    pub connections: usize,
    /// How long to send.
    pub duration: Duration,
    /// API key, if the server wants one.
    pub api_key: Option<String>,
}

/// What [`closed`] measured: every request's latency, exact (no histogram buckets).
#[derive(Debug, Clone, Default)]
pub struct ClosedReport {
    /// Latency of each answered request in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Answers that were not 200.
    pub non_200: u64,
    /// Requests that failed at the connection level.
    pub errors: u64,
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
}

impl ClosedReport {
    /// The exact `q`-quantile in milliseconds, by the project's one percentile
    /// definition (`endpoint_core::quantile`); `None` with no requests or a bad `q`.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        endpoint_core::quantile::quantile_sorted(&self.latencies_us, q)
            .ok()
            .flatten()
            .map(|us| us / 1000.0)
    }

    /// Answers per second.
    pub fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Mean requests in flight implied by the figures (Little's law): with a closed loop
    /// it must come out at the number of connections, which is how a reader checks that
    /// the latencies are real (wrk's, on this machine, imply more; docs/benchmarks.md).
    pub fn in_flight(&self) -> f64 {
        let total_us: f64 = self.latencies_us.iter().map(|&u| f64::from(u)).sum();
        total_us / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The same requests as if each client had kept sending at its usual pace through a
    /// pause (HdrHistogram's coordinated-omission correction, with the median latency as
    /// the expected interval): a request that took `L` also stands for the ones that
    /// would have waited `L - i`, `L - 2i`, ... A closed loop sends nothing during a
    /// stall, so its plain quantiles under-count stalls; this view counts them.
    pub fn corrected(&self) -> ClosedReport {
        let Some(&interval) = self.latencies_us.get(self.latencies_us.len() / 2) else {
            return self.clone();
        };
        let interval = interval.max(1);
        let mut all = self.latencies_us.clone();
        for &l in &self.latencies_us {
            let mut missed = l.saturating_sub(interval);
            while missed >= interval {
                all.push(missed);
                missed -= interval;
            }
        }
        all.sort_unstable();
        ClosedReport {
            latencies_us: all,
            ..self.clone()
        }
    }

    /// One line: rate, p50, p90, p99, p99.9, max, the in-flight check, and p99 / p99.9
    /// corrected for coordinated omission.
    pub fn summary(&self) -> String {
        let q = |q| {
            self.quantile_ms(q)
                .map_or("-".into(), |v| format!("{v:.2}"))
        };
        let c = self.corrected();
        let cq = |q| c.quantile_ms(q).map_or("-".into(), |v| format!("{v:.2}"));
        format!(
            "{} requests in {:.1} s = {:.0} req/s; ms p50 {} p90 {} p99 {} p99.9 {} max {}; \
             in flight {:.1}; non-200 {}; errors {}; corrected for coordinated omission: \
             p99 {} p99.9 {}",
            self.latencies_us.len(),
            self.elapsed.as_secs_f64(),
            self.rate(),
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            q(1.0),
            self.in_flight(),
            self.non_200,
            self.errors,
            cq(0.99),
            cq(0.999)
        )
    }
}

/// Runs the closed loop of `cfg` and returns every latency. Each client owns one HTTP/1.1
/// connection (`hyper::client::conn`, no pool in between), so "32 connections" means
/// exactly 32 requests in flight; time is taken around each request with `Instant`.
pub async fn closed(cfg: ClosedConfig) -> Result<ClosedReport, String> {
    let authority = cfg
        .url
        .trim_end_matches('/')
        .strip_prefix("http://")
        .ok_or_else(|| format!("{}: the closed loop speaks plain http:// only", cfg.url))?
        .to_owned();
    let uri = format!("/v2/{}/run", cfg.endpoint);
    let body = Bytes::from_static(br#"{"input":{"sleepMs":1}}"#);
    let start = std::time::Instant::now();
    let deadline = start + cfg.duration;
    let mut tasks = Vec::with_capacity(cfg.connections);
    for _ in 0..cfg.connections {
        let (authority, uri, body, key) = (
            authority.clone(),
            uri.clone(),
            body.clone(),
            cfg.api_key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&authority)
                .await
                .map_err(|e| format!("connect {authority}: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| format!("handshake {authority}: {e}"))?;
            tokio::spawn(conn);
            let mut out = ClosedReport::default();
            while std::time::Instant::now() < deadline {
                let mut req = hyper::Request::post(&uri)
                    .header("host", &authority)
                    .header("content-type", "application/json");
                if let Some(k) = &key {
                    req = req.header("authorization", format!("Bearer {k}"));
                }
                let req = req
                    .body(Full::new(body.clone()))
                    .map_err(|e| e.to_string())?;
                let t = std::time::Instant::now();
                let answer = match sender.send_request(req).await {
                    Ok(resp) => {
                        let ok = resp.status() == hyper::StatusCode::OK;
                        resp.into_body().collect().await.map(|_| ok)
                    }
                    Err(e) => Err(e),
                };
                match answer {
                    Ok(ok) => {
                        let us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                        out.latencies_us.push(us);
                        out.non_200 += u64::from(!ok);
                    }
                    // A dropped connection ends this client: counted, not retried, so
                    // the figures never hide a server that closes connections.
                    Err(_) => {
                        out.errors += 1;
                        break;
                    }
                }
            }
            Ok::<_, String>(out)
        }));
    }
    let mut all = ClosedReport::default();
    for t in tasks {
        let r = t.await.map_err(|e| e.to_string())??;
        all.latencies_us.extend(r.latencies_us);
        all.non_200 += r.non_200;
        all.errors += r.errors;
    }
    all.elapsed = start.elapsed();
    all.latencies_us.sort_unstable();
    Ok(all)
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

    #[test]
    fn closed_report_quantiles_follow_the_project_definition() {
        let r = ClosedReport {
            latencies_us: (1..=1000).map(|i| i * 1000).collect(),
            elapsed: Duration::from_secs(10),
            ..ClosedReport::default()
        };
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-6);
        assert!(close(r.quantile_ms(0.5), 500.5));
        assert!(close(r.quantile_ms(0.99), 990.01));
        assert_eq!(r.quantile_ms(1.0), Some(1000.0));
        assert_eq!(r.quantile_ms(0.0), Some(1.0));
        assert_eq!(ClosedReport::default().quantile_ms(0.5), None);
        // 1000 requests averaging 500.5 ms over 10 s: 50.05 in flight.
        assert!((r.in_flight() - 50.05).abs() < 1e-9);
        assert!((r.rate() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn coordinated_omission_correction_adds_the_requests_a_pause_held_back() {
        // 99 requests of 1 ms and one of 10 ms: the pause stands for 9 more (9, 8, .. 1 ms).
        let mut latencies_us = vec![1000; 99];
        latencies_us.push(10_000);
        let r = ClosedReport {
            latencies_us,
            elapsed: Duration::from_secs(1),
            ..ClosedReport::default()
        };
        let c = r.corrected();
        assert_eq!(c.latencies_us.len(), 109);
        assert_eq!(
            &c.latencies_us[100..],
            &[2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000]
        );
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-6);
        assert!(close(r.quantile_ms(0.99), 1.09));
        assert!(close(c.quantile_ms(0.99), 8.92));
    }
}
