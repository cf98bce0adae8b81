//! `endpoint-server`: a local serverless endpoint speaking RunPod's API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use endpoint_server::auth::{ApiKey, Keys, Role};
use endpoint_server::config::{EndpointConfig, Runtime, ServerConfig};
use endpoint_server::db::{Db, Location};
use endpoint_server::workers::ProcessConfig;
use endpoint_server::workers::process::Registry;
use endpoint_server::{AppState, Clock, Endpoint, traffic};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "A local serverless endpoint speaking RunPod's API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (and optionally the built panel).
    Serve(Box<ServeArgs>),
    /// Send realistic traffic through the HTTP API of a running server.
    Load(LoadArgs),
    /// Write a synthetic history (jobs, worker events, cold starts) ending now into
    /// the database, e.g. a day of a million jobs, so a fresh server has something
    /// to show and the benchmarks something to serve.
    Seed(SeedArgs),
}

#[derive(clap::Args)]
struct SeedArgs {
    /// Where to write: a SQLite file (created if missing) or a `postgres://` URL.
    #[arg(long, env = "ENDPOINT_SERVER_DB", default_value = "endpoint-server.db")]
    db: String,
    /// Endpoint id.
    #[arg(long, default_value = "local")]
    endpoint: String,
    /// Number of jobs.
    #[arg(long, default_value_t = 100_000)]
    jobs: usize,
    /// Time span the jobs are spread over, ending now: 30m, 24h...
    #[arg(long, default_value = "24h", value_parser = endpoint_server::load::parse_duration)]
    span: std::time::Duration,
    /// Number of simulated workers.
    #[arg(long, default_value_t = 40)]
    workers: usize,
    /// Seed of the history.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run the endpoint model in virtual time (queueing, scaling, cold starts decide
    /// the delays) instead of drawing each job independently (faster).
    #[arg(long)]
    model: bool,
}

#[derive(clap::Args)]
struct LoadArgs {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// Endpoint id.
    #[arg(long, default_value = "local")]
    endpoint: String,
    /// Mean jobs per second (Poisson arrivals).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// How long to send: 500ms, 60s, 5m, 24h.
    #[arg(long, default_value = "60s", value_parser = endpoint_server::load::parse_duration)]
    duration: std::time::Duration,
    /// API key (`Authorization: Bearer <key>`).
    #[arg(long, env = "ENDPOINT_SERVER_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Seed of the traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Instead of the Poisson traffic, a closed loop: this many connections, each
    /// posting one small durable `/run` after another; prints exact latency quantiles
    /// (the benchmark of `/run`'s tail, run on one thread like `wrk -t1`).
    #[arg(long)]
    connections: Option<usize>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// TOML file declaring the endpoints (default: one endpoint, `local`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// API key required on every /v2 request (`Authorization: Bearer <key>`); it may
    /// operate every endpoint. Without any key the server only listens on loopback.
    #[arg(long, env = "ENDPOINT_SERVER_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// A read-only key (metrics, status, health, workers, logs), e.g. for a portal's
    /// viewers. More keys, with roles and endpoints, go in the config's [[keys]].
    #[arg(long, env = "ENDPOINT_SERVER_READ_KEY", hide_env_values = true)]
    read_key: Option<String>,
    /// Override for every endpoint: workers kept warm.
    #[arg(long)]
    min_workers: Option<u32>,
    /// Override for every endpoint: most workers.
    #[arg(long)]
    max_workers: Option<u32>,
    /// Override for every endpoint: min = max = this many workers.
    #[arg(long)]
    workers: Option<u32>,
    /// Override for every endpoint: median cold start, ms.
    #[arg(long)]
    cold_start_ms: Option<f64>,
    /// Submit simulated jobs to every endpoint at this mean rate per second (0 = none).
    #[arg(long, default_value_t = 0.0)]
    traffic_rate: f64,
    /// Seed of the simulated traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serve the built panel (trunk's dist/) from this directory at `/`.
    #[arg(long)]
    panel_dir: Option<PathBuf>,
    /// Where every job and event is stored: a SQLite file (created if missing), or a
    /// PostgreSQL database by URL (`postgres://user:password@host:5432/db`; prefer the
    /// environment variable, so the password is not on the command line). Default:
    /// `db` in the --config file, else endpoint-server.db.
    #[arg(long, env = "ENDPOINT_SERVER_DB")]
    db: Option<String>,
    /// With PostgreSQL: the URL the other instances reach this one at (default
    /// `http://<listen address>`; required when listening on 0.0.0.0).
    #[arg(long)]
    advertise_url: Option<String>,
    /// Where the pids of the worker processes this server started are kept, so a
    /// restart after a crash stops the ones left behind. Default: beside the SQLite
    /// file (`<db>.workers`), or endpoint-server.workers with PostgreSQL (give each
    /// instance on one machine its own).
    #[arg(long)]
    workers_dir: Option<PathBuf>,
    /// Turn off the per-route rate limits (RunPod's: /run 1000, /status 2000, /cancel
    /// 100, /purge-queue 2 per 10 s), e.g. for load tests.
    #[arg(long)]
    no_rate_limits: bool,
    /// A browser origin allowed to call the API (CORS), e.g. http://127.0.0.1:8080.
    /// Repeat for several. None: same-origin only.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Allow webhook targets in private address ranges (loopback, 10/8, 192.168/16...).
    #[arg(long)]
    allow_private_webhooks: bool,
    /// How long a `/run` result stays readable after the job ended (RunPod: 30m).
    #[arg(long, default_value = "30m", value_parser = endpoint_server::load::parse_duration)]
    run_result_retention: std::time::Duration,
    /// How long a `/runsync` result stays readable (RunPod: 1m).
    #[arg(long, default_value = "1m", value_parser = endpoint_server::load::parse_duration)]
    runsync_result_retention: std::time::Duration,
    /// The longest `/runsync` holds a request before answering with the job's current
    /// state (RunPod: 90s). Keep it below the idle timeout of a proxy in front.
    #[arg(long, default_value = "90s", value_parser = endpoint_server::load::parse_duration)]
    runsync_wait: std::time::Duration,
    /// How long job records and events are kept for the metrics.
    #[arg(long, default_value = "7d", value_parser = endpoint_server::load::parse_duration)]
    metrics_retention: std::time::Duration,
    /// Changes the metrics feed keeps per endpoint, so a panel that fell behind catches
    /// up without a new snapshot (a job change is a few hundred bytes: 200,000 is ~50 MB).
    #[arg(long, default_value_t = endpoint_sim::feed::LOG_CAPACITY)]
    change_log: usize,
    /// PEM file of extra certificate authorities trusted for https webhooks (besides
    /// the system's), e.g. a portal's internal CA.
    #[arg(long)]
    webhook_ca: Option<PathBuf>,
    /// Keep everything in memory only (nothing survives a restart).
    #[arg(long, conflicts_with = "db")]
    in_memory: bool,
    /// Try a RunPod handler: adds an endpoint named after the file (`handler.py` in
    /// `my-model/` gives `my-model`) whose jobs run on real worker processes of it,
    /// through the `runpod` SDK. Repeat for several.
    #[arg(long = "handler")]
    handlers: Vec<PathBuf>,
    /// The Python that runs `--handler` files (default: `$VIRTUAL_ENV/bin/python`,
    /// else `python3`); it needs the `runpod` package.
    #[arg(long)]
    python: Option<PathBuf>,
}

/// The endpoint `--handler path` adds: named after the file (or its folder when
/// the file is `handler.py`), real workers, scale to zero.
fn handler_endpoint(
    path: &std::path::Path,
    python: &std::path::Path,
) -> Result<EndpointConfig, String> {
    let path =
        std::fs::canonicalize(path).map_err(|e| format!("--handler {}: {e}", path.display()))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("handler");
    let name = if stem == "handler" {
        path.parent()
            .and_then(|d| d.file_name())
            .and_then(|s| s.to_str())
            .unwrap_or(stem)
    } else {
        stem
    };
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    Ok(EndpointConfig {
        runtime: Runtime::Process,
        max_workers: 2,
        idle_timeout_ms: 60_000,
        process: Some(ProcessConfig {
            command: vec![python.display().to_string(), path.display().to_string()],
            cwd: path.parent().map(|d| d.to_path_buf()),
            ..ProcessConfig::default()
        }),
        ..EndpointConfig::named(&id)
    })
}

/// A program path with a `/` is made absolute (workers run in their own directory);
/// a bare name is left to `PATH`.
fn absolute_program(p: PathBuf) -> PathBuf {
    if p.is_relative() && p.components().count() > 1 {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    } else {
        p
    }
}

fn default_python() -> PathBuf {
    match std::env::var_os("VIRTUAL_ENV") {
        Some(v) => PathBuf::from(v).join("bin/python"),
        None => PathBuf::from("python3"),
    }
}

#[tokio::main]
async fn main() {
    // Logs go to stderr; stdout carries only the "listening on" line tests read.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("endpoint_server=info,tower_http=warn")),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => {
            if let Err(e) = serve(*args).await {
                eprintln!("endpoint-server: {e}");
                std::process::exit(2);
            }
        }
        Command::Seed(a) => {
            if let Err(e) = seed(a).await {
                eprintln!("endpoint-server seed: {e}");
                std::process::exit(2);
            }
        }
        Command::Load(a) if a.connections.is_some() => {
            let cfg = endpoint_server::load::ClosedConfig {
                url: a.url,
                endpoint: a.endpoint,
                connections: a.connections.unwrap_or(1).max(1),
                duration: a.duration,
                api_key: a.api_key,
            };
            // One thread, as `wrk -t1`: the generator must not take both cores from the
            // server it measures.
            let report = tokio::task::spawn_blocking(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?
                    .block_on(endpoint_server::load::closed(cfg))
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            match report {
                Ok(r) if !r.latencies_us.is_empty() => println!("{}", r.summary()),
                Ok(_) => {
                    eprintln!("endpoint-server load: no request was answered");
                    std::process::exit(1);
                }
                Err(e) => {
                    eprintln!("endpoint-server load: {e}");
                    std::process::exit(1);
                }
            }
        }
        Command::Load(a) => {
            let counts = endpoint_server::load::run(endpoint_server::load::LoadConfig {
                url: a.url,
                endpoint: a.endpoint,
                rate: a.rate,
                duration: a.duration,
                api_key: a.api_key,
                seed: a.seed,
            })
            .await;
            if counts.keys().all(|(op, code)| *op != "run" || *code != 200) {
                eprintln!("endpoint-server load: no job was accepted");
                std::process::exit(1);
            }
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            ServerConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None if !args.handlers.is_empty() => ServerConfig {
            endpoints: Vec::new(),
            ..ServerConfig::default()
        },
        None => ServerConfig::default(),
    };
    let python = absolute_program(args.python.clone().unwrap_or_else(default_python));
    for h in &args.handlers {
        config.endpoints.push(handler_endpoint(h, &python)?);
    }
    for e in &mut config.endpoints {
        if let Some(n) = args.workers {
            e.min_workers = n;
            e.max_workers = n;
        }
        if let Some(n) = args.min_workers {
            e.min_workers = n;
        }
        if let Some(n) = args.max_workers {
            e.max_workers = n;
        }
        if let Some(ms) = args.cold_start_ms {
            e.cold_start_median_ms = ms;
        }
        if e.runtime == Runtime::Process {
            // Relative working directories are the config file's.
            if let (Some(p), Some(cfg)) = (e.process.as_mut(), args.config.as_ref())
                && let Some(cwd) = p.cwd.as_mut()
                && cwd.is_relative()
                && let Some(dir) = cfg.parent()
            {
                *cwd = dir.join(&*cwd);
            }
        }
    }
    config.check()?;
    let mut keys = Vec::new();
    let given = |k: Option<String>| k.map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
    if let Some(k) = given(args.api_key.clone().or(config.api_key.clone())) {
        keys.push(ApiKey {
            name: "api-key".into(),
            secret: k,
            role: Role::Operate,
            endpoints: None,
        });
    }
    if let Some(k) = given(args.read_key.clone()) {
        keys.push(ApiKey {
            name: "read-key".into(),
            secret: k,
            role: Role::Read,
            endpoints: None,
        });
    }
    keys.extend(
        config
            .api_keys(|var| std::env::var(var).ok())
            .map_err(|e| format!("config: {e}"))?,
    );
    let keys = Keys::new(keys);
    if keys.is_open() && !args.listen.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {}: no API key is configured (--api-key or ENDPOINT_SERVER_API_KEY), so only loopback addresses are allowed",
            args.listen
        ));
    }
    let clock = Clock::system();
    let location = (!args.in_memory).then(|| {
        Location::parse(
            &args
                .db
                .clone()
                .or(config.db.clone())
                .unwrap_or_else(|| "endpoint-server.db".into()),
        )
    });
    let db = match &location {
        Some(l) => Some(Db::open_at(l).map_err(|e| e.to_string())?),
        None => None,
    };
    let retention = endpoint_server::endpoint::Retention {
        run_results_ms: args.run_result_retention.as_millis() as i64,
        runsync_results_ms: args.runsync_result_retention.as_millis() as i64,
        metrics_ms: args.metrics_retention.as_millis() as i64,
        change_log: args.change_log,
    };
    let webhook_ca = match &args.webhook_ca {
        Some(path) => Some((
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            path.clone(),
        )),
        None => None,
    };
    let registry = db.as_ref().map(|db| match (&args.workers_dir, db.path()) {
        (Some(dir), _) => Registry::new(dir),
        (None, Some(path)) => Registry::beside(path),
        (None, None) => Registry::new("endpoint-server.workers"),
    });
    let allow_private = args.allow_private_webhooks || config.allow_private_webhooks;
    // What serving an endpoint takes, here at start or, in a cluster, when this
    // instance takes the endpoint's lead.
    let open = {
        let (endpoints, db) = (config.endpoints.clone(), db.clone());
        move |id: &str| -> Result<Arc<Endpoint>, String> {
            let e = endpoints
                .iter()
                .find(|e| e.id == id)
                .ok_or_else(|| format!("no endpoint `{id}` in the configuration"))?;
            let ep = match &db {
                Some(db) => Endpoint::open(
                    e.id.clone(),
                    e.model(),
                    e.seed,
                    clock,
                    db.clone(),
                    retention,
                )
                .map_err(|e| e.to_string())?,
                None => Endpoint::new(e.id.clone(), e.model(), e.seed, clock),
            };
            ep.set_allow_private_webhooks(allow_private);
            ep.set_job_defaults(e.execution_timeout_ms, e.ttl_ms);
            if let Some(p) = &e.process {
                ep.set_process(p.clone(), registry.clone())
                    .map_err(|m| format!("endpoint `{}`: process.{m}", e.id))?;
            }
            ep.set_retention(retention);
            if let Some((pem, path)) = &webhook_ca {
                ep.set_webhook_ca(pem)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Ok(ep)
        }
    };
    let ids: Vec<String> = config.endpoints.iter().map(|e| e.id.clone()).collect();
    // Over PostgreSQL the endpoints are led by whichever instance holds their lock
    // (this one alone, or one of several): opened when taken (cluster::Cluster::lead).
    let clustered = matches!(location, Some(Location::Postgres(_)));
    let mut endpoints: Vec<Arc<Endpoint>> = Vec::new();
    if !clustered {
        for id in &ids {
            endpoints.push(open(id)?);
        }
    }
    match &db {
        Some(db) => tracing::info!(database = %db.location(), "jobs are stored"),
        None => tracing::warn!("--in-memory: nothing survives a restart"),
    }
    let mut state = AppState::new(endpoints.clone());
    state.panel_dir = args.panel_dir;
    state.keys = Arc::new(keys);
    state.runsync_wait = args.runsync_wait;
    state.cors_origins = if args.cors_origins.is_empty() {
        config.cors_origins.clone()
    } else {
        args.cors_origins
    };
    if args.no_rate_limits || !config.rate_limits {
        state.limiter = Arc::new(endpoint_server::ratelimit::RateLimiter::new(None));
    }
    state.spawn_drivers();
    if args.traffic_rate > 0.0 {
        for (i, e) in endpoints.iter().enumerate() {
            traffic::spawn(e.clone(), args.seed + i as u64, args.traffic_rate);
        }
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(Location::Postgres(url)) = &location {
        let advertise = match &args.advertise_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None if addr.ip().is_unspecified() => {
                return Err(format!(
                    "listening on {addr} over PostgreSQL: give --advertise-url, the URL the other instances reach this one at"
                ));
            }
            None => format!("http://{addr}"),
        };
        let cluster = endpoint_server::cluster::Cluster::join(
            url,
            advertise,
            &ids,
            retention,
            endpoint_server::cluster::TRY_EVERY,
        )
        .await
        .map_err(|e| {
            format!(
                "database {}: {e}",
                location.as_ref().map_or(String::new(), |l| l.to_string())
            )
        })?;
        state.cluster = Some(cluster.clone());
        let traffic = (args.traffic_rate > 0.0).then_some((args.seed, args.traffic_rate));
        cluster.lead(
            state.clone(),
            db.clone().expect("a PostgreSQL location opens a database"),
            Arc::new(open),
            format!("http://{addr}"),
            traffic,
        );
    }
    // Tests read this line to find the port.
    println!("listening on http://{addr}");
    tracing::info!(%addr, endpoints = ?ids, keys = state.keys.len(), "endpoint-server started");
    state.start_workers(&format!("http://{addr}"));
    let workers = state.clone();
    // Workers stop first (their held polls end at once), then the server drains.
    let shutdown = async move {
        shutdown_signal().await;
        tracing::info!("stopping workers");
        workers.stop_workers().await;
    };
    let served = endpoint_server::run(listener, state.clone(), shutdown).await;
    // Whatever happened, no worker outlives the server.
    state.stop_workers().await;
    served.map_err(|e| e.to_string())?;
    tracing::info!("endpoint-server stopped");
    Ok(())
}

async fn seed(a: SeedArgs) -> Result<(), String> {
    let start = std::time::Instant::now();
    let location = Location::parse(&a.db);
    let db = Db::open_at(&location).map_err(|e| e.to_string())?;
    let span = a.span.as_millis() as i64;
    let now = Clock::system().now_ms();
    let h = if a.model {
        model_history(&a, now - span, now)
    } else {
        endpoint_sim::synthetic::history(a.seed, a.jobs, now - span, span, a.workers)
    };
    let n = h.jobs.len();
    for record in h.jobs {
        // Acknowledgements are not awaited one by one: flush() below waits for all.
        drop(db.insert_job(
            &a.endpoint,
            endpoint_server::db::StoredJob {
                record,
                input: serde_json::json!({}),
                webhook_url: None,
                policy: None,
                output: None,
            },
        ));
    }
    let mut events: Vec<endpoint_sim::model::Change> = Vec::new();
    events.extend(
        h.transitions
            .into_iter()
            .map(endpoint_sim::model::Change::Transition),
    );
    events.extend(
        h.cold_starts
            .into_iter()
            .map(endpoint_sim::model::Change::ColdStart),
    );
    let n_events = events.len();
    db.record_changes(&a.endpoint, events);
    db.flush().await.map_err(|e| e.to_string())?;
    println!(
        "seeded {n} jobs and {n_events} worker events over {} into {} in {:.1} s",
        humanize(a.span),
        location,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A history made by the endpoint model in virtual time: Poisson arrivals spread so
/// that `a.jobs` arrive over the span, on up to `a.workers` workers.
fn model_history(a: &SeedArgs, from: i64, to: i64) -> endpoint_sim::synthetic::History {
    use endpoint_sim::model::{JobSpec, Model};
    let mut cfg = endpoint_server::config::EndpointConfig::named(&a.endpoint).model();
    cfg.max_workers = a.workers as u32;
    cfg.failure_rate = 0.03;
    cfg.throttle_rate = 0.02;
    cfg.unhealthy_rate = 0.001;
    let mut m = Model::new(a.seed, cfg);
    m.start(from);
    let rate = a.jobs as f64 / ((to - from) as f64 / 1000.0);
    let mut traffic = endpoint_sim::Traffic::new(
        a.seed,
        endpoint_sim::TrafficConfig {
            rate_per_sec: rate,
            ..Default::default()
        },
    );
    let mut h = endpoint_sim::synthetic::History::default();
    let mut t = from as f64;
    let mut rng = endpoint_sim::Rng::new(a.seed ^ 0x1d);
    for _ in 0..a.jobs {
        let job = traffic.next_job();
        t += job.gap_ms;
        if t as i64 >= to {
            break;
        }
        let id = endpoint_core::store::format_uuid(
            (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()),
        );
        let spec = JobSpec {
            sleep_ms: Some(job.sleep_ms),
            fail: job.fail,
            ..JobSpec::default()
        };
        let _ = m.submit(t as i64, &id, spec);
        keep_worker_events(&mut m, &mut h);
    }
    m.advance(to);
    keep_worker_events(&mut m, &mut h);
    h.jobs = m.jobs().cloned().collect();
    h
}

/// Moves the model's worker events into the history; job records are taken at the end.
fn keep_worker_events(
    m: &mut endpoint_sim::model::Model,
    h: &mut endpoint_sim::synthetic::History,
) {
    use endpoint_sim::model::Change;
    for c in m.drain_changes() {
        match c {
            Change::Transition(x) => h.transitions.push(x),
            Change::ColdStart(x) => h.cold_starts.push(x),
            Change::Job(_) | Change::Delivery(_) => {}
        }
    }
}

fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else {
        format!("{} s", s)
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
