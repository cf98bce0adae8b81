//! The binary itself: it refuses to listen beyond loopback without a key, and the key
//! never appears in its logs, even at debug level.

use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_endpoint-server"))
}

#[test]
fn no_key_no_listening_beyond_loopback() {
    let out = bin()
        .args(["serve", "--listen", "0.0.0.0:0", "--in-memory"])
        .env_remove("ENDPOINT_SERVER_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0") && err.contains("API key"),
        "{err}"
    );
}

#[test]
fn invalid_config_is_refused_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("endpoint-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "[[endpoints]]\nid = \"a\"\nmax_wrokers = 3\n").unwrap();
    let out = bin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--in-memory",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_wrokers"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_key_never_reaches_the_logs() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let key = "sekrit-key-4f1a9c";
    let read_key = "read-sekrit-77b2e0";
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_endpoint-server"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--in-memory",
            "--api-key",
            key,
            "--read-key",
            read_key,
        ])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .await
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_string();
    // Accepted, refused (401), and refused for its role (403, the answer names the
    // key's name and role, never the key).
    for (method, path, auth, code) in [
        ("GET", "/v2/local/health", format!("Bearer {key}"), "200"),
        ("GET", "/v2/local/health", "Bearer wrong".into(), "401"),
        ("GET", "/v2/local/health", key.to_string(), "200"),
        (
            "GET",
            "/v2/local/health",
            format!("Bearer {read_key}"),
            "200",
        ),
        (
            "POST",
            "/v2/local/purge-queue",
            format!("Bearer {read_key}"),
            "403",
        ),
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\nauthorization: {auth}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert_eq!(&out[9..12], code, "{method} {path}: {out}");
        assert!(
            !out.contains(key) && !out.contains(read_key),
            "an answer echoed a key: {out}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.start_kill().unwrap();
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();
    assert!(
        logs.contains("request rejected") || logs.contains("started"),
        "debug logs were written: {logs}"
    );
    assert!(
        logs.contains("needs the `operate` role"),
        "the refusal is logged: {logs}"
    );
    assert!(!logs.contains(key), "the key is in the logs:\n{logs}");
    assert!(
        !logs.contains(read_key),
        "the read key is in the logs:\n{logs}"
    );
}
