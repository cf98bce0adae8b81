//! Talking to an endpoint server's metrics feed: one request, one typed outcome.
//!
//! The `interpret_*` functions turn a status code and a body into data or a
//! [`FetchError`] without any IO, so every failure message is tested natively;
//! [`fetch`] adds the network, the API key, a timeout and cancellation.

use endpoint_core::feed::{self, Changes, Snapshot};
use endpoint_core::{JobStatus, RecordError};

/// Why a request did not produce data. The `Display` text is what the panel shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
        /// `Retry-After`, in seconds, when the server sent one (429, 503).
        retry_after_s: Option<u32>,
    },
    /// The server answered 200 with a body that is not what the feed sends.
    BadBody(String),
    /// A record in the answer fails validation (named job, field and value).
    Invalid(String),
    /// The panel's engine (its Web Worker) failed to answer.
    Engine(String),
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
            FetchError::Http {
                status,
                message,
                retry_after_s,
            } => {
                let what = match status {
                    401 => "API key missing or not accepted (set it in Settings)",
                    403 => "this API key may not read this endpoint",
                    404 => "no such endpoint",
                    410 => "the change feed moved on",
                    429 => "rate limited by the server",
                    500..=599 => "server error",
                    _ => "request refused",
                };
                write!(f, "HTTP {status}: {what}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                if let Some(s) = retry_after_s {
                    write!(f, " (server asks to wait {s} s)")?;
                }
                Ok(())
            }
            FetchError::BadBody(e) => {
                write!(f, "The server sent a response the panel cannot read: {e}")
            }
            FetchError::Invalid(e) => write!(f, "The server sent an invalid record: {e}"),
            FetchError::Engine(e) => write!(f, "The panel's engine failed: {e}"),
        }
    }
}

impl FetchError {
    /// The wait the server asked for, in ms.
    pub fn retry_after_ms(&self) -> Option<u32> {
        match self {
            FetchError::Http {
                retry_after_s: Some(s),
                ..
            } => Some(s.saturating_mul(1000)),
            _ => None,
        }
    }
}

impl From<RecordError> for FetchError {
    fn from(e: RecordError) -> Self {
        FetchError::Invalid(e.to_string())
    }
}

/// Most changes asked for in one page (the server's maximum).
pub const CHANGES_LIMIT: usize = 10_000;

/// One HTTP answer, before interpretation.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: String,
    /// `Retry-After` in seconds, if any.
    pub retry_after_s: Option<u32>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A JSON answer, as the server sends (the Demo and the panel's engine answer
    /// the same way).
    pub fn json(status: u16, v: &impl serde::Serialize) -> Answer {
        Answer {
            status,
            content_type: "application/json".into(),
            retry_after_s: None,
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }

    /// An error answer with the server's `{"error": ...}` body.
    pub fn error(status: u16, message: impl Into<String>) -> Answer {
        Answer::json(status, &serde_json::json!({ "error": message.into() }))
    }

    /// What a non-2xx answer says went wrong: its `error` field, else its start.
    pub fn error_message(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| short(&text))
    }
}

/// The error for a non-2xx answer: the server's `error` field, else the body's start.
fn http_error(a: &Answer) -> FetchError {
    FetchError::Http {
        status: a.status,
        message: a.error_message(),
        retry_after_s: a.retry_after_s,
    }
}

fn is_ok(a: &Answer) -> bool {
    (200..300).contains(&a.status)
}

/// Interprets an answer to `/metrics/snapshot` (EMC2 columns).
pub fn interpret_snapshot(a: &Answer) -> Result<Snapshot, FetchError> {
    if !is_ok(a) {
        return Err(http_error(a));
    }
    if !a.content_type.starts_with(feed::CONTENT_TYPE) {
        return Err(FetchError::BadBody(format!(
            "expected a metrics snapshot ({}), got `{}`",
            feed::CONTENT_TYPE,
            short(&a.content_type)
        )));
    }
    // The id index is built after the first numbers are out (FeedHost).
    let snap = feed::decode_unindexed(&a.body).map_err(|e| FetchError::BadBody(e.to_string()))?;
    for c in &snap.events.cold_starts {
        c.validate()?;
    }
    Ok(snap)
}

/// Interprets an answer to `/metrics/changes`. Its records are validated where they
/// are applied ([`crate::feed::data::MetricsData::merge`], all or nothing).
pub fn interpret_changes(a: &Answer) -> Result<Changes, FetchError> {
    json_body(a)
}

/// A 2xx answer's JSON body as `T`; otherwise the error the status or body gives.
pub fn json_body<T: serde::de::DeserializeOwned>(a: &Answer) -> Result<T, FetchError> {
    if !is_ok(a) {
        return Err(http_error(a));
    }
    serde_json::from_slice(&a.body).map_err(|e| FetchError::BadBody(e.to_string()))
}

/// Interprets an answer to `/cancel/{id}` or `/retry/{id}` (`{"id", "status"}`): the
/// job's state after the operation.
pub fn interpret_id_status(a: &Answer) -> Result<JobStatus, FetchError> {
    #[derive(serde::Deserialize)]
    struct IdStatus {
        status: JobStatus,
    }
    json_body::<IdStatus>(a).map(|x| x.status)
}

/// Interprets an answer to `/purge-queue` (`{"removed": N, "status": "completed"}`).
pub fn interpret_purge(a: &Answer) -> Result<u64, FetchError> {
    #[derive(serde::Deserialize)]
    struct Purged {
        removed: u64,
    }
    json_body::<Purged>(a).map(|x| x.removed)
}

/// What the panel's key may do on its endpoint (the server's `/access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// Read the metrics, jobs, workers and logs; no actions.
    Read,
    /// Also cancel, retry and purge.
    Operate,
}

/// Interprets an answer to `/access` (`{"key", "role"}`). A server from before key
/// roles has no such route and answers a bare 404: its one key may do everything.
pub fn interpret_access(a: &Answer) -> Result<KeyRole, FetchError> {
    #[derive(serde::Deserialize)]
    struct Access {
        role: KeyRole,
    }
    if a.status == 404
        && matches!(http_error(a), FetchError::Http { message, .. } if message.is_empty())
    {
        return Ok(KeyRole::Operate);
    }
    json_body::<Access>(a).map(|x| x.role)
}

/// Interprets an answer to `/status/{id}`: the JSON, pretty-printed for reading.
pub fn interpret_status(a: &Answer) -> Result<String, FetchError> {
    let v: serde_json::Value = json_body(a)?;
    if v.get("id").is_none() || v.get("status").is_none() {
        return Err(FetchError::BadBody(
            "a job status needs `id` and `status`".into(),
        ));
    }
    Ok(serde_json::to_string_pretty(&v).unwrap_or_default())
}

/// What a failed read says: `what` is what was read ("the logs of worker `w`"). A
/// bare 404 is what a server without the worker routes answers, so it says that too.
pub fn read_message(what: &str, e: &FetchError) -> String {
    match e {
        FetchError::Http {
            status: 404,
            message,
            ..
        } if message.is_empty() => format!(
            "Could not read {what}: HTTP 404 (no such endpoint, or an endpoint server without worker logs)"
        ),
        other => format!("Could not read {what}: {other}"),
    }
}

/// What a failed job action says: `what` is the action ("cancel", "retry", "purge the
/// queue"), `job` the job it was for.
pub fn action_message(what: &str, job: Option<&str>, e: &FetchError) -> String {
    let target = match job {
        Some(id) => format!("{what} job `{id}`"),
        None => what.to_string(),
    };
    let server = |m: &String| {
        if m.is_empty() {
            String::new()
        } else {
            format!(" ({m})")
        }
    };
    match e {
        FetchError::Http {
            status: 401,
            message,
            ..
        } => format!(
            "Could not {target}: the API key is missing or not accepted (set it in Settings){}",
            server(message)
        ),
        FetchError::Http {
            status: 403,
            message,
            ..
        } => format!(
            "Could not {target}: this API key may not act on this endpoint{}",
            server(message)
        ),
        FetchError::Http {
            status: 404,
            message,
            ..
        } => match job {
            Some(_) => format!(
                "Could not {target}: the server does not know this job (its record may have expired){}",
                server(message)
            ),
            None => format!("Could not {target}: no such endpoint{}", server(message)),
        },
        FetchError::Http {
            status: 429,
            message,
            retry_after_s,
        } => {
            let wait = retry_after_s.map_or(String::new(), |s| format!("; try again in {s} s"));
            format!(
                "Could not {target}: rate limited by the server{}{wait}",
                server(message)
            )
        }
        FetchError::Http {
            status: s @ 500..=599,
            message,
            ..
        } => format!(
            "Could not {target}: server error, HTTP {s}{}",
            server(message)
        ),
        FetchError::Http {
            status, message, ..
        } => format!("Could not {target}: HTTP {status}{}", server(message)),
        other => format!("Could not {target}: {other}"),
    }
}

/// How long one request may take before it is abandoned.
pub const TIMEOUT_MS: u32 = 10_000;

/// GETs `url` (with `Authorization: Bearer key` when a key is given); gives up after
/// `timeout_ms`.
///
/// The request is aborted (not just ignored) when it times out or when the returned
/// future is dropped, so an abandoned poll never keeps a connection busy.
pub async fn fetch(
    url: &str,
    key: Option<&str>,
    accept: &str,
    timeout_ms: u32,
) -> Result<Answer, FetchError> {
    request(false, url, key, accept, timeout_ms).await
}

/// POSTs to `url` with an empty body (RunPod's `/cancel`, `/retry`, `/purge-queue`),
/// like [`fetch`] otherwise.
pub async fn post(url: &str, key: Option<&str>, timeout_ms: u32) -> Result<Answer, FetchError> {
    request(true, url, key, "application/json", timeout_ms).await
}

async fn request(
    post: bool,
    url: &str,
    key: Option<&str>,
    accept: &str,
    timeout_ms: u32,
) -> Result<Answer, FetchError> {
    use futures::future::{Either, select};
    let controller = web_sys::AbortController::new().ok();
    let _abort_on_drop = AbortOnDrop(controller.clone());
    let signal = controller.as_ref().map(|c| c.signal());
    let request = async {
        let builder = if post {
            gloo_net::http::Request::post(url)
        } else {
            gloo_net::http::Request::get(url)
        };
        let mut req = builder
            .abort_signal(signal.as_ref())
            .header("Accept", accept);
        if let Some(k) = key.filter(|k| !k.is_empty()) {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| FetchError::Network(short(&e.to_string())))?;
        let headers = resp.headers();
        let content_type = headers.get("content-type").unwrap_or_default();
        let retry_after_s = headers
            .get("retry-after")
            .and_then(|v| v.trim().parse().ok());
        let status = resp.status();
        let body = resp
            .binary()
            .await
            .map_err(|e| FetchError::Network(short(&e.to_string())))?;
        // From here on the work is the panel's: benchmarks measure from this mark.
        crate::view::time::mark("em-body");
        Ok(Answer {
            status,
            content_type,
            retry_after_s,
            body,
        })
    };
    let timeout = gloo_timers::future::TimeoutFuture::new(timeout_ms);
    futures::pin_mut!(request);
    match select(request, timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(FetchError::Timeout { ms: timeout_ms }),
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

/// At most 160 bytes, cut on a character boundary.
pub fn short(s: &str) -> String {
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
    use crate::workers::facts::{LogStream, interpret_logs, interpret_workers};
    use endpoint_core::{JobRecord, JobStore};

    /// Hostile change pages: every truncation, every byte replaced by a few others,
    /// nesting past serde_json's limit, an oversized body. Always a named error (or,
    /// when the corruption still reads as a page, a page), never a panic.
    #[test]
    fn hostile_change_pages_are_refused_clearly() {
        let mut r = JobRecord::queued("job-1", 1_000);
        r.error = Some("CUDA out of memory".into());
        let page = Changes {
            cursor: 9,
            jobs: vec![r],
            transitions: vec![endpoint_core::WorkerTransition {
                worker_id: "w1".into(),
                state: Some(endpoint_core::WorkerState::Idle),
                at: 5,
            }],
            cold_starts: vec![],
            deliveries: vec![],
        };
        let body = serde_json::to_vec(&page).unwrap();
        let with = |b: &[u8]| {
            interpret_changes(&Answer {
                status: 200,
                content_type: "application/json".into(),
                retry_after_s: None,
                body: b.to_vec(),
            })
        };
        assert_eq!(with(&body).unwrap(), page);
        for cut in 0..body.len() {
            let e = with(&body[..cut]).unwrap_err();
            assert!(
                matches!(&e, FetchError::BadBody(m) if !m.is_empty()),
                "cut at {cut}: {e:?}"
            );
        }
        for at in 0..body.len() {
            for v in [b'"', b'{', b']', b'9', b'-', 0xff, 0] {
                let mut bad = body.clone();
                bad[at] = v;
                if let Err(e) = with(&bad) {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        // 100,000 levels deep: refused at the first level, no stack overflow.
        let deep = "[".repeat(100_000);
        let e = with(deep.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("invalid type: sequence"), "{e}");
        let mut huge =
            br#"{"cursor":1,"jobs":[],"transitions":[],"coldStarts":[],"deliveries":[],"x":""#
                .to_vec();
        huge.extend(std::iter::repeat_n(b'a', 8 << 20));
        assert!(with(&huge).is_err(), "an unterminated 8 MB string");
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            content_type: "application/json".into(),
            retry_after_s: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn changes_parse_and_invalid_records_are_named() {
        let ok = answer(
            200,
            r#"{"cursor":7,"jobs":[{"id":"a","status":"IN_QUEUE","submittedAt":5}],"transitions":[],"coldStarts":[],"deliveries":[]}"#,
        );
        let ch = interpret_changes(&ok).unwrap();
        assert_eq!((ch.cursor, ch.jobs.len()), (7, 1));
        let bad = answer(
            200,
            r#"{"cursor":7,"jobs":[{"id":"a","status":"COMPLETED","submittedAt":5,"startedAt":9,"completedAt":20,"delayTime":-3}],"transitions":[],"coldStarts":[],"deliveries":[]}"#,
        );
        // Parsed here, refused where it is applied, named as the panel shows it.
        let ch = interpret_changes(&bad).unwrap();
        let w = endpoint_core::Window::new(0, 60_000, 1_000).unwrap();
        let mut d = crate::feed::data::MetricsData::from_snapshot(Default::default(), w, 0);
        let e = FetchError::from(d.merge(&ch).unwrap_err());
        assert!(matches!(e, FetchError::Invalid(_)));
        let s = e.to_string();
        assert!(
            s.starts_with("The server sent an invalid record: delayTime of job `a` is negative"),
            "{s}"
        );
    }

    #[test]
    fn action_answers_and_their_failures() {
        assert_eq!(
            interpret_access(&answer(200, r#"{"key":"viewers","role":"read"}"#)),
            Ok(KeyRole::Read)
        );
        assert_eq!(
            interpret_access(&answer(200, r#"{"key":null,"role":"operate"}"#)),
            Ok(KeyRole::Operate)
        );
        assert_eq!(
            interpret_access(&answer(404, "")),
            Ok(KeyRole::Operate),
            "a server from before roles"
        );
        assert!(interpret_access(&answer(404, r#"{"error":"no endpoint named `x`"}"#)).is_err());
        assert!(interpret_access(&answer(401, r#"{"error":"API key not accepted"}"#)).is_err());
        assert!(interpret_access(&answer(200, r#"{"role":"admin"}"#)).is_err());
        let ok = answer(200, r#"{"id":"j","status":"CANCELLED"}"#);
        assert_eq!(interpret_id_status(&ok), Ok(JobStatus::Cancelled));
        let done = answer(200, r#"{"id":"j","status":"COMPLETED"}"#);
        assert_eq!(interpret_id_status(&done), Ok(JobStatus::Completed));
        assert!(matches!(
            interpret_id_status(&answer(200, "{}")),
            Err(FetchError::BadBody(_))
        ));
        assert_eq!(
            interpret_purge(&answer(200, r#"{"removed":7,"status":"completed"}"#)),
            Ok(7)
        );
        let st = interpret_status(&answer(
            200,
            r#"{"id":"j","status":"IN_QUEUE","retries":0}"#,
        ))
        .unwrap();
        assert!(st.contains("\n  \"status\": \"IN_QUEUE\""), "{st}");
        assert!(interpret_status(&answer(200, r#"{"x":1}"#)).is_err());

        let msg = |status: u16, body: &str, retry: Option<u32>| {
            let mut a = answer(status, body);
            a.retry_after_s = retry;
            action_message("cancel", Some("j"), &interpret_id_status(&a).unwrap_err())
        };
        assert_eq!(
            msg(401, r#"{"error":"missing API key"}"#, None),
            "Could not cancel job `j`: the API key is missing or not accepted (set it in Settings) (missing API key)"
        );
        assert_eq!(
            msg(404, r#"{"error":"no job `j`"}"#, None),
            "Could not cancel job `j`: the server does not know this job (its record may have expired) (no job `j`)"
        );
        assert_eq!(
            msg(
                429,
                r#"{"error":"rate limit of /cancel exceeded"}"#,
                Some(4)
            ),
            "Could not cancel job `j`: rate limited by the server (rate limit of /cancel exceeded); try again in 4 s"
        );
        assert_eq!(
            msg(503, "<html>busy</html>", None),
            "Could not cancel job `j`: server error, HTTP 503 (<html>busy</html>)"
        );
        assert_eq!(
            action_message(
                "purge the queue",
                None,
                &FetchError::Network("refused".into())
            ),
            "Could not purge the queue: Cannot reach the endpoint server (refused)"
        );
    }

    #[test]
    fn error_status_uses_the_servers_message_and_retry_after() {
        let e =
            interpret_changes(&answer(404, r#"{"error":"no endpoint named `x`"}"#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "HTTP 404: no such endpoint: no endpoint named `x`"
        );
        let e = interpret_changes(&answer(502, "<html>Bad Gateway</html>")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "HTTP 502: server error: <html>Bad Gateway</html>"
        );
        let e = interpret_changes(&answer(401, "")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "HTTP 401: API key missing or not accepted (set it in Settings)"
        );
        let mut a = answer(429, r#"{"error":"slow down"}"#);
        a.retry_after_s = Some(3);
        let e = interpret_changes(&a).unwrap_err();
        assert_eq!(
            e.to_string(),
            "HTTP 429: rate limited by the server: slow down (server asks to wait 3 s)"
        );
        assert_eq!(e.retry_after_ms(), Some(3_000));
        let e = interpret_snapshot(&answer(403, "")).unwrap_err();
        assert!(e.to_string().starts_with("HTTP 403: this API key may not"));
    }

    #[test]
    fn malformed_or_truncated_bodies_are_named() {
        let e = interpret_changes(&answer(200, r#"{"cursor":7,"jobs":[{"id""#)).unwrap_err();
        assert!(matches!(e, FetchError::BadBody(_)));
        assert!(
            e.to_string()
                .starts_with("The server sent a response the panel cannot read: EOF"),
            "{e}"
        );
        // A snapshot answered as JSON (a proxy's error page, say).
        let e = interpret_snapshot(&answer(200, "{}")).unwrap_err();
        assert!(e.to_string().contains("expected a metrics snapshot"), "{e}");
        // A cut EMC2 body.
        let mut store = JobStore::default();
        store.upsert(&JobRecord::queued("a", 1)).unwrap();
        let bytes = feed::encode(&store, &[0], 1, 0, 10, &Default::default());
        let mut a = answer(200, "");
        a.content_type = feed::CONTENT_TYPE.into();
        a.body = bytes[..bytes.len() - 5].to_vec();
        let e = interpret_snapshot(&a).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        a.body = bytes;
        assert_eq!(interpret_snapshot(&a).unwrap().jobs.len(), 1);
    }

    #[test]
    fn workers_and_logs_answers_and_their_failures() {
        let w = interpret_workers(&answer(
            200,
            r#"{"workers":[{"id":"w1","state":"IDLE","version":"v3","gpu":"0","pid":4242,
                "createdAt":1000,"spawnedAt":1000,"readyAt":4000,"coldStartMs":3000,"jobsDone":7},
               {"id":"w0","state":null,"version":"v3","createdAt":10,"jobsDone":0,"endedAt":900,
                "exitCode":1,"reason":"crashed","lastLines":["Traceback","KeyError: 'x'"]}]}"#,
        ))
        .unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].state, Some(endpoint_core::WorkerState::Idle));
        assert_eq!(
            (w[0].pid, w[0].cold_start_ms, w[0].jobs_done),
            (Some(4242), Some(3000), 7)
        );
        assert_eq!((w[1].state, w[1].exit_code), (None, Some(1)));
        assert_eq!(w[1].last_lines.len(), 2);
        assert_eq!(
            interpret_workers(&answer(200, r#"{"workers":[]}"#)),
            Ok(vec![])
        );
        assert!(matches!(
            interpret_workers(&answer(200, r#"{"items":[]}"#)),
            Err(FetchError::BadBody(_))
        ));

        let page = interpret_logs(&answer(
            200,
            r#"{"lines":[{"seq":5,"at":1000,"workerId":"w1","jobId":"j","stream":"stdout","text":"INFO   | j | Started."},
                         {"seq":6,"at":1001,"workerId":"w1","stream":"system","text":"spawned"}],"cursor":6}"#,
        ))
        .unwrap();
        assert_eq!(page.cursor, 6);
        assert_eq!(page.lines[0].job_id.as_deref(), Some("j"));
        assert_eq!(page.lines[1].stream, LogStream::System);
        let e = interpret_logs(&answer(
            200,
            r#"{"lines":[{"seq":5,"at":1,"workerId":"w","stream":"tty","text":""}],"cursor":5}"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("unknown variant `tty`"), "{e}");

        let msg = |status: u16, body: &str| {
            read_message(
                "the logs of worker `w1`",
                &interpret_logs(&answer(status, body)).unwrap_err(),
            )
        };
        assert_eq!(
            msg(404, ""),
            "Could not read the logs of worker `w1`: HTTP 404 (no such endpoint, or an endpoint server without worker logs)"
        );
        assert_eq!(
            msg(404, r#"{"error":"no endpoint named `x`"}"#),
            "Could not read the logs of worker `w1`: HTTP 404: no such endpoint: no endpoint named `x`"
        );
        assert_eq!(
            msg(401, r#"{"error":"missing API key"}"#),
            "Could not read the logs of worker `w1`: HTTP 401: API key missing or not accepted (set it in Settings): missing API key"
        );
        assert_eq!(
            read_message("the workers", &FetchError::Network("refused".into())),
            "Could not read the workers: Cannot reach the endpoint server (refused)"
        );
    }

    #[test]
    fn long_messages_are_shortened_on_a_char_boundary() {
        let s = "é".repeat(200);
        let out = short(&s);
        assert!(out.ends_with('…'));
        assert!(out.len() <= 164);
    }
}
