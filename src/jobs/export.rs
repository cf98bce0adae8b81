//! The job list as a file: CSV (one row per job, times in ISO 8601 UTC) and JSON (the
//! records as the feed sends them).

use endpoint_core::JobStore;
use endpoint_core::query::{WebhookOutcome, webhook_outcome};

use crate::view::time::civil;

/// CSV of `rows`, with a header line; RFC 4180 quoting.
pub fn csv(store: &JobStore, rows: &[u32]) -> String {
    let mut out = String::from(
        "id,status,submittedAt,startedAt,completedAt,delayTime,executionTime,workerId,retries,webhook,webhookAttempts,webhookLastStatus,error\r\n",
    );
    let time = |t: Option<i64>| t.map(iso).unwrap_or_default();
    let num = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
    for &row in rows {
        let r = store.record(row);
        let web = r.webhook.as_ref();
        let outcome = match webhook_outcome(store, row) {
            WebhookOutcome::None => "",
            WebhookOutcome::Pending => "pending",
            WebhookOutcome::Delivered => "delivered",
            WebhookOutcome::Failing => "failing",
        };
        let fields = [
            field(&r.id),
            r.status.as_str().to_string(),
            time(Some(r.submitted_at)),
            time(r.started_at),
            time(r.completed_at),
            num(r.delay_time),
            num(r.execution_time),
            field(r.worker_id.as_deref().unwrap_or("")),
            r.retries.to_string(),
            outcome.to_string(),
            web.map(|w| w.attempts.to_string()).unwrap_or_default(),
            web.and_then(|w| w.last_status)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            field(r.error.as_deref().unwrap_or("")),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// JSON array of the records of `rows` (endpoint-core's `JobRecord`, as the feed).
pub fn json(store: &JobStore, rows: &[u32]) -> String {
    let records: Vec<_> = rows.iter().map(|&r| store.record(r)).collect();
    serde_json::to_string_pretty(&records).unwrap_or_else(|_| "[]".into())
}

/// `2026-11-24T14:05:09.250Z`.
pub fn iso(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// One CSV field: quoted when it holds a comma, quote or line break; text a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endpoint_core::{JobRecord, JobStatus, WebhookSummary};

    fn store() -> JobStore {
        let mut s = JobStore::default();
        s.upsert(&JobRecord {
            status: JobStatus::Failed,
            started_at: Some(1_700_000_001_500),
            completed_at: Some(1_700_000_004_000),
            worker_id: Some("w-1".into()),
            error: Some("bad input: \"x\", line 2\n=SUM(A1)".into()),
            webhook: Some(WebhookSummary {
                attempts: 3,
                last_status: Some(500),
                last_error: None,
                delivered: false,
            }),
            ..JobRecord::queued("j1", 1_700_000_001_000)
        })
        .unwrap();
        s.upsert(&JobRecord::queued("=cmd", 1_700_000_002_000))
            .unwrap();
        s
    }

    #[test]
    fn csv_has_a_header_iso_times_and_quoted_fields() {
        let s = store();
        let text = csv(&s, &[0, 1]);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert!(lines[0].starts_with("id,status,submittedAt,"));
        assert_eq!(
            lines[1],
            "j1,FAILED,2023-11-14T22:13:21.000Z,2023-11-14T22:13:21.500Z,2023-11-14T22:13:24.000Z,500,2500,w-1,0,failing,3,500,\"bad input: \"\"x\"\", line 2\n=SUM(A1)\""
        );
        assert_eq!(
            lines[2],
            "'=cmd,IN_QUEUE,2023-11-14T22:13:22.000Z,,,,,,0,,,,"
        );
        assert_eq!(csv(&s, &[]).lines().count(), 1, "header only");
    }

    #[test]
    fn json_is_the_feed_records() {
        let s = store();
        let v: Vec<JobRecord> = serde_json::from_str(&json(&s, &[1, 0])).unwrap();
        assert_eq!(v, [s.record(1), s.record(0)]);
    }
}
