//! Talking to the endpoint: one request, one typed outcome.
//!
//! [`interpret`] turns a status code and a body into a [`Health`] or a [`FetchError`]
//! without any IO, so every failure message is tested natively; [`fetch_health`] adds
//! the network, a timeout and cancellation.

use endpoint_core::Health;

/// Why a request did not produce data. The `Display` text is what the panel shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The request never got an answer (server down, DNS, CORS, connection reset).
    Network(String),
    /// No answer within the timeout.
    Timeout {
        /// The timeout, in ms.
        ms: u32,
    },
    /// The server answered with an error status.
    Http {
        /// The HTTP status code.
        status: u16,
        /// The server's `error` field, or the start of its body.
        message: String,
    },
    /// The server answered 200 with a body that is not the expected JSON.
    BadBody(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Network(e) => write!(f, "Cannot reach the endpoint server ({e})"),
            FetchError::Timeout { ms } => {
                write!(
                    f,
                    "The endpoint server did not answer within {} s",
                    ms / 1000
                )
            }
            FetchError::Http { status, message } => {
                let what = match status {
                    401 => "API key missing or not accepted",
                    403 => "this API key may not read this endpoint",
                    404 => "no such endpoint",
                    429 => "rate limited by the server",
                    500..=599 => "server error",
                    _ => "request refused",
                };
                if message.is_empty() {
                    write!(f, "HTTP {status}: {what}")
                } else {
                    write!(f, "HTTP {status}: {what}: {message}")
                }
            }
            FetchError::BadBody(e) => {
                write!(f, "The server sent a response the panel cannot read: {e}")
            }
        }
    }
}

/// Interprets one HTTP answer to `/health`.
pub fn interpret(status: u16, body: &str) -> Result<Health, FetchError> {
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect::<String>().trim().to_owned());
        return Err(FetchError::Http { status, message });
    }
    serde_json::from_str(body).map_err(|e| FetchError::BadBody(e.to_string()))
}

/// How long one poll may take before it is abandoned.
pub const TIMEOUT_MS: u32 = 10_000;

/// GETs `url` and interprets the answer; gives up after [`TIMEOUT_MS`].
///
/// The request is aborted (not just ignored) when it times out or when the returned
/// future is dropped, so an abandoned poll never keeps a connection busy.
pub async fn fetch_health(url: &str) -> Result<Health, FetchError> {
    use futures::future::{Either, select};

    let controller = web_sys::AbortController::new().ok();
    let _abort_on_drop = AbortOnDrop(controller.clone());
    let signal = controller.as_ref().map(|c| c.signal());
    let request = async {
        let resp = gloo_net::http::Request::get(url)
            .abort_signal(signal.as_ref())
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Network(short(&e.to_string())))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| FetchError::Network(short(&e.to_string())))?;
        interpret(status, &body)
    };
    let timeout = gloo_timers::future::TimeoutFuture::new(TIMEOUT_MS);
    futures::pin_mut!(request);
    match select(request, timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(FetchError::Timeout { ms: TIMEOUT_MS }),
    }
}

struct AbortOnDrop(Option<web_sys::AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.abort();
        }
    }
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.len() > 160 {
        let cut = (0..=160)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}…", &s[..cut])
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_body_parses() {
        let h = interpret(200, r#"{"jobs":{"inQueue":4},"workers":{"idle":2}}"#).unwrap();
        assert_eq!(h.jobs.in_queue, 4);
        assert_eq!(h.workers.idle, 2);
    }

    #[test]
    fn error_status_uses_the_servers_message() {
        let e = interpret(404, r#"{"error":"no endpoint named `x`"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "HTTP 404: no such endpoint: no endpoint named `x`"
        );
        let e = interpret(502, "<html>Bad Gateway</html>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "HTTP 502: server error: <html>Bad Gateway</html>"
        );
        let e = interpret(401, "").unwrap_err();
        assert_eq!(e.to_string(), "HTTP 401: API key missing or not accepted");
        let e = interpret(429, "").unwrap_err();
        assert!(e.to_string().contains("rate limited"));
    }

    #[test]
    fn malformed_or_truncated_json_is_a_bad_body() {
        let e = interpret(200, r#"{"jobs":{"inQueue":4"#).unwrap_err();
        assert!(matches!(e, FetchError::BadBody(_)));
        assert!(
            e.to_string()
                .starts_with("The server sent a response the panel cannot read")
        );
        let e = interpret(200, r#"{"jobs":{"inQueue":-1},"workers":{}}"#).unwrap_err();
        assert!(e.to_string().contains("invalid value"), "{e}");
    }

    #[test]
    fn long_messages_are_shortened_on_a_char_boundary() {
        let s = "é".repeat(200);
        let out = short(&s);
        assert!(out.ends_with('…'));
        assert!(out.len() <= 164);
    }
}
