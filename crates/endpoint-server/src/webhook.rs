//! Webhook delivery, as RunPod does it: when a job ends, its result (the `/status`
//! body) is POSTed to the job's `webhook` URL; an attempt that is not answered 200 is
//! retried up to 2 more times, 10 s apart. Every attempt is recorded (status code or
//! transport error) in the job's webhook summary and as a delivery event.
//!
//! Deliveries are durable: what is owed is stored with the job's end and each attempt
//! with the outbox's next due time ([`crate::db::Outbox`]), so a restart resumes every
//! delivery where it stopped (at least once: an attempt sent but not yet recorded at a
//! crash is sent again, and recorded once).
//!
//! In a cluster only the endpoint's leader sends, and it asks the database before each
//! attempt whether it still is ([`crate::db::Db::still_leads`]): a new leader resumes
//! the delivery from the outbox, and an old one that has not noticed sends nothing.
//!
//! Targets in private address ranges (loopback, RFC 1918, link-local, unique local,
//! CGNAT) are refused unless the configuration allows them, both when the job is
//! submitted and again before each attempt (the name may resolve elsewhere by then).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::db::Outbox;

use endpoint_sim::model::WEBHOOK_RETRIES;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::Endpoint;

/// The HTTP(S) client webhooks are sent with.
pub type WebhookClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client trusting the system's certificate authorities plus `extra_ca` (PEM
/// certificates of an internal CA, for portals whose receivers use one).
pub fn client(extra_ca: &[u8]) -> Result<WebhookClient, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A certificate the system ships but rustls cannot parse is skipped, not fatal.
        let _ = roots.add(cert);
    }
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(extra_ca) {
        let cert = cert.map_err(|e| format!("webhook CA: not a PEM certificate ({e})"))?;
        roots.add(cert).map_err(|e| format!("webhook CA: {e}"))?;
        added += 1;
    }
    if !extra_ca.is_empty() && added == 0 {
        return Err("webhook CA: the file holds no PEM certificate".into());
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// True for addresses a webhook must not reach unless allowed.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1])) // CGNAT 100.64/10
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// The parts of a webhook URL a delivery needs.
struct Target<'a> {
    host: &'a str,
    port: u16,
}

/// Checks a webhook URL's form, with no network and no DNS: http(s), a host, and
/// (unless `allow_private`) not a private address written out (`127.0.0.1`, `[::1]`,
/// `10.0.0.5`, `localhost`). This is what `/run` checks, so job intake does not depend
/// on DNS; what a name resolves to is checked at each delivery ([`check_target`]).
pub fn check_form(url: &str, allow_private: bool) -> Result<(), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| format!("`{url}` is not a valid URL"))?;
    form(url, &uri, allow_private).map(|_| ())
}

fn form<'a>(url: &str, uri: &'a hyper::Uri, allow_private: bool) -> Result<Target<'a>, String> {
    let scheme = uri.scheme_str().unwrap_or("");
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{url}` must start with http:// or https://"));
    }
    let host = uri.host().ok_or_else(|| format!("`{url}` has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    if !allow_private {
        let literal = host.parse::<IpAddr>().ok();
        let local = host.eq_ignore_ascii_case("localhost")
            || host.to_ascii_lowercase().ends_with(".localhost");
        if local || literal.is_some_and(is_private) {
            return Err(format!(
                "`{host}` is a private address (allow private webhook targets in the server config to use it)"
            ));
        }
    }
    Ok(Target { host, port })
}

/// Checks a webhook URL before an attempt: its form, and (unless `allow_private`) no
/// private address among what the host resolves to now. The error names the problem;
/// a delivery records it as a failed attempt and retries.
pub async fn check_target(url: &str, allow_private: bool) -> Result<(), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| format!("`{url}` is not a valid URL"))?;
    let Target { host, port } = form(url, &uri, allow_private)?;
    if allow_private {
        return Ok(());
    }
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("`{host}` does not resolve: {e}"))?;
    for a in addrs {
        if is_private(a.ip()) {
            return Err(format!(
                "`{host}` resolves to the private address {} (allow private webhook targets in the server config to use it)",
                a.ip()
            ));
        }
    }
    Ok(())
}

/// True when an attempt's answer ends the delivery: RunPod retries anything but 200.
pub fn accepted(status: Option<u16>) -> bool {
    status == Some(200)
}

/// The longest a delivery can take from its first attempt to its last (every attempt
/// timing out, RunPod's gaps between them), ms.
pub fn longest_delivery_ms() -> i64 {
    let attempts = 1 + i64::from(WEBHOOK_RETRIES);
    attempts * ATTEMPT_TIMEOUT.as_millis() as i64
        + i64::from(WEBHOOK_RETRIES) * endpoint_sim::model::WEBHOOK_RETRY_GAP_MS
}

/// Sends an owed delivery's remaining attempts, each when due, recording every one
/// (the endpoint stores the attempt and the outbox's next due time together and says
/// when the next attempt is due, if any).
pub async fn deliver(
    client: WebhookClient,
    endpoint: Arc<Endpoint>,
    owed: Outbox,
    allow_private: bool,
) {
    let body = Bytes::from(owed.payload);
    let mut due = owed.due_at;
    for attempt in (owed.attempts + 1)..=(1 + WEBHOOK_RETRIES) {
        tokio::time::sleep_until(endpoint.clock().instant_of(due)).await;
        if !may_send(&endpoint, &owed.job_id).await {
            // Another instance leads the endpoint now and resumes from the outbox.
            return;
        }
        let (status, error) =
            match attempt_once(&client, &owed.url, body.clone(), allow_private).await {
                Ok(code) => (Some(code), None),
                Err(e) => (None, Some(e)),
            };
        match endpoint.record_webhook(&owed.job_id, attempt, status, error) {
            Some(next) => due = next,
            None => return,
        }
    }
}

/// Whether this instance may send an attempt now: the endpoint is open here and, in
/// a cluster, the database still names this instance its leader. Another instance
/// that took the endpoint resumes the delivery from the outbox, so an old leader that
/// has not noticed its loss yet (a pause, a partition) sends nothing beside it; only
/// an attempt already in flight at the takeover can be sent twice (at least once).
/// While the database cannot say, the attempt waits.
async fn may_send(endpoint: &Endpoint, job_id: &str) -> bool {
    loop {
        if endpoint.is_closed() {
            return false;
        }
        match endpoint.still_leads().await {
            Ok(leads) => {
                if !leads {
                    tracing::info!(endpoint = %endpoint.id(), job = %job_id,
                        "webhook attempt left to the endpoint's new leader");
                }
                return leads;
            }
            Err(e) => {
                tracing::warn!(endpoint = %endpoint.id(), job = %job_id, error = %e,
                    "webhook attempt waits: cannot tell whether this instance still leads");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn attempt_once(
    client: &WebhookClient,
    url: &str,
    body: Bytes,
    allow_private: bool,
) -> Result<u16, String> {
    check_target(url, allow_private).await?;
    let req = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(req)).await {
        Ok(Ok(resp)) => Ok(resp.status().as_u16()),
        Ok(Err(e)) => Err(format!("transport error: {}", chain(&e))),
        Err(_) => Err(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())),
    }
}

/// An error with its causes (hyper's own message is just "client error (Connect)").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "100.128.0.1",
            "2001:4860:4860::8888",
            "172.32.0.1",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_form_is_checked_without_dns() {
        // A name that cannot resolve is accepted: it is looked up at delivery.
        assert_eq!(check_form("https://hooks.example.invalid/h", false), Ok(()));
        for url in [
            "http://127.0.0.1:9/h",
            "http://[::1]/h",
            "http://10.1.2.3/h",
            "http://LOCALHOST:8080/h",
            "http://api.localhost/h",
        ] {
            let e = check_form(url, false).unwrap_err();
            assert!(e.contains("is a private address"), "{url}: {e}");
            assert_eq!(check_form(url, true), Ok(()), "{url}");
        }
        assert!(
            check_form("ftp://x/h", true)
                .unwrap_err()
                .contains("http://")
        );
        assert!(check_form("http:///h", true).is_err());
    }

    #[tokio::test]
    async fn targets_are_checked() {
        assert!(
            check_target("http://127.0.0.1:9/h", false)
                .await
                .unwrap_err()
                .contains("private address")
        );
        let e = check_target("http://hooks.example.invalid/h", false)
            .await
            .unwrap_err();
        assert!(e.contains("does not resolve"), "{e}");
        assert!(check_target("http://127.0.0.1:9/h", true).await.is_ok());
        assert!(
            check_target("ftp://x/h", true)
                .await
                .unwrap_err()
                .contains("http://")
        );
        assert!(
            check_target("not a url", true)
                .await
                .unwrap_err()
                .contains("not a valid URL")
        );
    }
}
