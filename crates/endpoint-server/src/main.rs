//! `endpoint-server`: a local serverless endpoint speaking RunPod's API.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use endpoint_server::{AppState, Endpoint, traffic};
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
    Serve {
        /// Address to listen on; port 0 picks a free port (printed at start).
        #[arg(long, default_value = "127.0.0.1:8000")]
        listen: SocketAddr,
        /// The endpoint id served under /v2/{endpoint_id}/.
        #[arg(long, default_value = "local")]
        endpoint_id: String,
        /// Number of simulated workers.
        #[arg(long, default_value_t = 3)]
        workers: usize,
        /// Submit simulated jobs at this mean rate per second (0 = none).
        #[arg(long, default_value_t = 0.0)]
        traffic_rate: f64,
        /// Seed of the simulated traffic.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Serve the built panel (trunk's dist/) from this directory at `/`.
        #[arg(long)]
        panel_dir: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("endpoint_server=info,tower_http=warn")),
        )
        .init();
    let Command::Serve {
        listen,
        endpoint_id,
        workers,
        traffic_rate,
        seed,
        panel_dir,
    } = Cli::parse().command;

    if !listen.ip().is_loopback() {
        // Until API keys exist (the server issue), nothing but loopback is safe.
        eprintln!(
            "refusing to listen on {listen}: no API key is configured, so only loopback addresses are allowed"
        );
        std::process::exit(2);
    }
    let endpoint = Endpoint::new(endpoint_id, workers);
    endpoint.start_workers();
    if traffic_rate > 0.0 {
        traffic::spawn(endpoint.clone(), seed, traffic_rate);
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    // Tests read this line to find the port.
    println!("listening on http://{addr}");
    tracing::info!(%addr, endpoint = endpoint.id(), workers, traffic_rate, "endpoint-server started");
    let state = AppState {
        endpoint,
        panel_dir,
    };
    endpoint_server::run(listener, state, shutdown_signal()).await?;
    tracing::info!("endpoint-server stopped");
    Ok(())
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
