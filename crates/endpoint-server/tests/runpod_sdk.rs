//! RunPod's official Python SDK (`runpod` on PyPI, installed by `cargo xtask setup`
//! into `.venv/`) as a real client of a real server on port 0.

use std::path::PathBuf;
use std::sync::Arc;

use endpoint_server::{AppState, Clock, Endpoint};
use endpoint_sim::Dist;
use endpoint_sim::model::ModelConfig;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runpod_python_sdk_works_against_the_server() {
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask setup` (it installs e2e/requirements.txt into .venv)",
        python.display()
    );
    let cfg = ModelConfig {
        min_workers: 1,
        max_workers: 2,
        cold_start: Dist::Constant(100.0),
        ..ModelConfig::default()
    };
    let mut state = AppState::new([Endpoint::new("local", cfg, 5, Clock::system())]);
    state.keys = Arc::new(endpoint_server::auth::Keys::operate("sdk-test-key"));
    state.spawn_drivers();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(endpoint_server::run(listener, state, async {
        let _ = stop_rx.await;
    }));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/runpod_client.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .env("RUNPOD_ENDPOINT_BASE_URL", format!("http://{addr}/v2"))
        .env("RUNPOD_TEST_API_KEY", "sdk-test-key")
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(
        out.status.success(),
        "runpod client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
}
