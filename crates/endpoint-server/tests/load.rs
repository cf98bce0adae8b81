//! The load generator against a real server on port 0: jobs arrive through HTTP.

use std::time::Duration;

use endpoint_server::load::{LoadConfig, run};
use endpoint_server::{AppState, Clock, Endpoint};
use endpoint_sim::Dist;
use endpoint_sim::model::ModelConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_sends_jobs_through_the_api() {
    let cfg = ModelConfig {
        max_workers: 4,
        cold_start: Dist::Constant(50.0),
        ..ModelConfig::default()
    };
    let mut st = AppState::new([Endpoint::new("local", cfg, 1, Clock::system())]);
    st.keys = std::sync::Arc::new(endpoint_server::auth::Keys::operate("load-key"));
    st.spawn_drivers();
    let ep = st.local("local").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(endpoint_server::run(listener, st, std::future::pending()));

    let counts = run(LoadConfig {
        url: format!("http://{addr}"),
        endpoint: "local".into(),
        rate: 100.0,
        duration: Duration::from_secs(2),
        api_key: Some("load-key".into()),
        seed: 3,
    })
    .await;
    let accepted = counts.get(&("run", 200)).copied().unwrap_or(0);
    assert!(
        (150..=260).contains(&accepted),
        "accepted {accepted}: {counts:?}"
    );
    assert!(
        counts.get(&("status", 200)).copied().unwrap_or(0) > 10,
        "{counts:?}"
    );
    let h = ep.health();
    let seen = h.jobs.completed + h.jobs.failed + h.jobs.in_progress + h.jobs.in_queue;
    assert!(seen > 100, "{h:?}");

    // A wrong key: nothing accepted, every answer a 401.
    let counts = run(LoadConfig {
        url: format!("http://{addr}"),
        endpoint: "local".into(),
        rate: 20.0,
        duration: Duration::from_millis(500),
        api_key: Some("nope".into()),
        seed: 4,
    })
    .await;
    assert!(
        counts.keys().all(|(op, code)| *op == "run" && *code == 401),
        "{counts:?}"
    );
}
