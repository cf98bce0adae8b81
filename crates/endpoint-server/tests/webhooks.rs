//! Webhooks against a real receiver: RunPod's retries, every attempt recorded, and
//! private targets refused unless allowed.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use endpoint_core::WebhookSummary;
use endpoint_server::{AppState, Clock, Endpoint, app};
use endpoint_sim::Dist;
use endpoint_sim::model::ModelConfig;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A receiver that answers the given codes in turn and keeps what it got.
async fn receiver(codes: Vec<u16>) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let g = got.clone();
    let codes = Arc::new(Mutex::new(codes.into_iter()));
    let router = Router::new().route(
        "/hook",
        post(move |body: Bytes| {
            let (g, codes) = (g.clone(), codes.clone());
            async move {
                g.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                let code = codes.lock().unwrap().next().unwrap_or(200);
                StatusCode::from_u16(code).unwrap()
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

fn state(allow_private: bool) -> AppState {
    let cfg = ModelConfig {
        min_workers: 1,
        max_workers: 1,
        cold_start: Dist::Constant(10.0),
        ..ModelConfig::default()
    };
    let ep = Endpoint::new("local", cfg, 1, Clock::system());
    ep.set_allow_private_webhooks(allow_private);
    ep.set_webhook_retry_gap(Duration::from_millis(200));
    let st = AppState::new([ep]);
    st.spawn_drivers();
    st
}

/// The job's webhook summary once its three attempts are recorded (within 5 s).
async fn three_attempts(ep: &Endpoint, id: &str) -> WebhookSummary {
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(w) = ep.job(id).unwrap().record.webhook
            && w.attempts == 3
        {
            return w;
        }
    }
    panic!(
        "three attempts within 5 s: {:?}",
        ep.job(id).unwrap().record.webhook
    )
}

async fn post_json(st: &AppState, uri: &str, body: String) -> (StatusCode, serde_json::Value) {
    let req = axum::http::Request::post(uri)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    let resp = app(st.clone()).oneshot(req).await.unwrap();
    let code = resp.status();
    let b = resp.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&b).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_two_retries_and_every_attempt_is_recorded() {
    let (url, got) = receiver(vec![500, 503, 200]).await;
    let st = state(true);
    let (code, v) = post_json(
        &st,
        "/v2/local/run",
        format!(r#"{{"input":{{"sleepMs":50,"tag":"w"}},"webhook":"{url}"}}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let ep = st.local("local").unwrap();
    let mut summary = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = ep.job(&id).unwrap().record;
        if r.webhook.as_ref().is_some_and(|w| w.attempts == 3) {
            summary = r.webhook;
            break;
        }
    }
    let w = summary.expect("three attempts within 5 s");
    assert!(w.delivered);
    assert_eq!(w.last_status, Some(200));
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    assert_eq!(bodies[0]["id"], id.as_str());
    assert_eq!(bodies[0]["status"], "COMPLETED");
    assert_eq!(bodies[0]["output"]["input"]["tag"], "w");
    // Every attempt is in the metrics feed.
    let changes = ep.changes_since(0, 10_000).unwrap();
    let codes: Vec<Option<u16>> = changes.deliveries.iter().map(|d| d.status).collect();
    assert_eq!(codes, [Some(500), Some(503), Some(200)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_is_recorded_as_transport_errors() {
    let st = state(true);
    // Port 9 on loopback: nothing listens, the connection is refused.
    let (_, v) = post_json(
        &st,
        "/v2/local/run",
        r#"{"input":{"sleepMs":10},"webhook":"http://127.0.0.1:9/h"}"#.into(),
    )
    .await;
    let id = v["id"].as_str().unwrap().to_string();
    let ep = st.local("local").unwrap();
    let w = three_attempts(&ep, &id).await;
    assert_eq!((w.attempts, w.delivered, w.last_status), (3, false, None));
    assert!(w.last_error.unwrap().contains("transport error"));
}

#[tokio::test]
async fn private_targets_are_refused_unless_allowed() {
    let st = state(false);
    let (code, v) = post_json(
        &st,
        "/v2/local/run",
        r#"{"input":{},"webhook":"http://127.0.0.1:8080/h"}"#.into(),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("field `webhook`") && msg.contains("`127.0.0.1` is a private address"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_does_not_resolve_is_accepted_and_its_attempts_are_recorded_and_retried() {
    // `.invalid` never resolves (RFC 2606): /run must not ask DNS, the delivery must.
    let st = state(false);
    let (code, v) = post_json(
        &st,
        "/v2/local/run",
        r#"{"input":{"sleepMs":10},"webhook":"https://hooks.example.invalid/h"}"#.into(),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let ep = st.local("local").unwrap();
    let w = three_attempts(&ep, &id).await;
    assert_eq!((w.attempts, w.delivered, w.last_status), (3, false, None));
    let e = w.last_error.unwrap();
    assert!(
        e.contains("`hooks.example.invalid` does not resolve"),
        "{e}"
    );
    let changes = ep.changes_since(0, 10_000).unwrap();
    assert_eq!(changes.deliveries.len(), 3, "every attempt recorded once");
}

/// An https receiver with a fresh self-signed certificate for 127.0.0.1: answers 200
/// and keeps the bodies. Returns its URL, the certificate (PEM) and the bodies.
async fn tls_receiver() -> (String, String, Arc<Mutex<Vec<serde_json::Value>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_pem = ck.cert.pem();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let cfg = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let (acceptor, g) = (acceptor.clone(), g.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then the body by content-length.
                loop {
                    let n = tls.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let len: usize = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= head_end + 4 + len {
                            let body = &buf[head_end + 4..head_end + 4 + len];
                            g.lock()
                                .unwrap()
                                .push(serde_json::from_slice(body).unwrap());
                            break;
                        }
                    }
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://{addr}/hook"), cert_pem, got)
}

async fn wait_attempts(ep: &Endpoint, id: &str, n: u8) -> endpoint_core::WebhookSummary {
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(w) = ep.job(id).unwrap().record.webhook
            && w.attempts >= n
        {
            return w;
        }
    }
    panic!("fewer than {n} attempts within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_targets_are_delivered_with_a_trusted_ca_and_refused_without() {
    let (url, ca, got) = tls_receiver().await;

    // Trusting the receiver's certificate: delivered on the first attempt.
    let st = state(true);
    st.local("local")
        .unwrap()
        .set_webhook_ca(ca.as_bytes())
        .unwrap();
    let (_, v) = post_json(
        &st,
        "/v2/local/run",
        format!(r#"{{"input":{{"sleepMs":10}},"webhook":"{url}"}}"#),
    )
    .await;
    let id = v["id"].as_str().unwrap().to_string();
    let w = wait_attempts(&st.local("local").unwrap(), &id, 1).await;
    assert_eq!(
        (w.attempts, w.delivered, w.last_status),
        (1, true, Some(200))
    );
    assert_eq!(got.lock().unwrap()[0]["id"], id.as_str());

    // Without it, the certificate is rejected and each attempt says so.
    let st = state(true);
    let (_, v) = post_json(
        &st,
        "/v2/local/run",
        format!(r#"{{"input":{{"sleepMs":10}},"webhook":"{url}"}}"#),
    )
    .await;
    let id = v["id"].as_str().unwrap().to_string();
    let w = wait_attempts(&st.local("local").unwrap(), &id, 3).await;
    assert!(!w.delivered);
    let err = w.last_error.unwrap();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert_eq!(got.lock().unwrap().len(), 1, "nothing reached the receiver");

    // A bad CA file is a clear error.
    let e = st
        .local("local")
        .unwrap()
        .set_webhook_ca(b"not a certificate")
        .unwrap_err();
    assert!(e.contains("webhook CA"), "{e}");
}

/// Issue 15: an old leader that has not noticed another instance took its endpoint
/// (a pause, a partition) sends no webhook attempt beside the new leader, which
/// resumes the delivery from the outbox and sends the retry itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_leader_sends_no_attempt_once_another_took_the_endpoint() {
    use endpoint_server::db::postgres::{Fence, PgStore};
    use endpoint_server::db::{Db, Location};
    use endpoint_server::endpoint::Retention;
    let pg = common::postgres::Postgres::start();
    let store = PgStore::connect(&pg.url, 2).unwrap();
    store.migrate().await.unwrap();
    let term = |url: &str, since| Fence {
        url: url.to_string(),
        since,
    };
    let open = |url: &str, since| {
        let db = Db::open_at(&Location::Postgres(pg.url.clone())).unwrap();
        db.fence("ep", term(url, since));
        let cfg = ModelConfig {
            min_workers: 1,
            max_workers: 1,
            cold_start: Dist::Constant(10.0),
            ..ModelConfig::default()
        };
        let ep = Endpoint::open(
            "ep",
            cfg,
            1,
            Clock::system(),
            db.clone(),
            Retention::default(),
        )
        .unwrap();
        ep.set_allow_private_webhooks(true);
        ep.set_webhook_retry_gap(Duration::from_millis(1_500));
        (ep, db)
    };
    let (url, got) = receiver(vec![500, 200]).await;
    store.set_leader("ep", "http://a", 1).await.unwrap();
    let (a, a_db) = open("http://a", 1);
    let st = AppState::new([a.clone()]);
    st.spawn_drivers();
    let (code, v) = post_json(
        &st,
        "/v2/ep/run",
        format!(r#"{{"input":{{"sleepMs":10}},"webhook":"{url}"}}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    // A's first attempt (500) is sent and stored with the retry it owes.
    let mut stored = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        a_db.flush().await.unwrap();
        let outbox = store.load_outbox("ep").await.unwrap();
        if outbox.iter().any(|o| o.job_id == id && o.attempts == 1) {
            stored = true;
            break;
        }
    }
    assert!(stored, "A's first attempt stored within 5 s");
    assert_eq!(got.lock().unwrap().len(), 1);

    // B takes the endpoint; A is not told (its lock session would say so).
    store.set_leader("ep", "http://b", 2).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        got.lock().unwrap().len(),
        1,
        "A sent its retry although B leads the endpoint"
    );
    assert!(!a.is_closed(), "A was not told: only the database says");

    // B resumes the delivery from the outbox: the retry is sent, once, and recorded.
    let (b, _b_db) = open("http://b", 2);
    b.spawn_driver();
    let mut summary = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(w) = b.job(&id).and_then(|j| j.record.webhook)
            && w.attempts == 2
        {
            summary = Some(w);
            break;
        }
    }
    let w = summary.expect("B records the retry within 5 s");
    assert!(w.delivered);
    assert_eq!(w.last_status, Some(200));
    assert_eq!(got.lock().unwrap().len(), 2);
}
