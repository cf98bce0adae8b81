//! Worker logs: every line a worker process writes to stdout or stderr, with the
//! time it arrived and, where it can be told, the job it belongs to; plus the
//! supervisor's own notes (spawns, exits, crashes, discarded results) as `system`
//! lines. Bounded by count and by the metrics retention.
//!
//! A line belongs to a job when the `runpod` SDK names it (`INFO   | <job id> | ...`,
//! or a JSON line with `requestId`), or, with no id on the line, when its worker runs
//! exactly one job at that moment (so a handler's own `print` is tied to its job).

use std::collections::VecDeque;

use serde::Serialize;

/// Longest line kept, bytes; longer ones are cut (and say so).
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// The worker's standard output.
    Stdout,
    /// The worker's standard error.
    Stderr,
    /// The supervisor, about the worker.
    System,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// Position in the endpoint's log (a cursor: ask for lines after it).
    pub seq: u64,
    /// When the server read it, ms since the epoch.
    pub at: i64,
    /// The worker.
    pub worker_id: String,
    /// The job it belongs to, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// stdout, stderr or system.
    pub stream: Stream,
    /// The text, without the line end.
    pub text: String,
}

/// Which lines to list.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only this worker's.
    pub worker: Option<String>,
    /// Only this job's.
    pub job: Option<String>,
    /// Only lines after this cursor.
    pub after: Option<u64>,
    /// Only lines at or after this time, ms.
    pub since: Option<i64>,
    /// At most this many (the newest of them when `after` is not set).
    pub limit: usize,
}

/// The log of one endpoint.
#[derive(Debug)]
pub struct LogStore {
    lines: VecDeque<LogLine>,
    next_seq: u64,
    max_lines: usize,
}

impl LogStore {
    /// An empty log keeping at most `max_lines` lines.
    pub fn new(max_lines: usize) -> Self {
        LogStore {
            lines: VecDeque::new(),
            next_seq: 1,
            max_lines: max_lines.max(1),
        }
    }

    /// Appends a line; returns its cursor.
    pub fn push(
        &mut self,
        at: i64,
        worker_id: &str,
        job_id: Option<String>,
        stream: Stream,
        mut text: String,
    ) -> u64 {
        if text.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" [line cut at 16 KiB]");
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.lines.push_back(LogLine {
            seq,
            at,
            worker_id: worker_id.to_string(),
            job_id,
            stream,
            text,
        });
        while self.lines.len() > self.max_lines {
            self.lines.pop_front();
        }
        seq
    }

    /// Lines held, and the bytes of their texts and ids.
    pub fn held(&self) -> (usize, usize) {
        let bytes = self
            .lines
            .iter()
            .map(|l| {
                std::mem::size_of::<LogLine>()
                    + l.text.capacity()
                    + l.worker_id.capacity()
                    + l.job_id.as_ref().map_or(0, String::capacity)
            })
            .sum();
        (self.lines.len(), bytes)
    }

    /// Drops lines older than `before` (the metrics retention).
    pub fn prune(&mut self, before: i64) {
        while self.lines.front().is_some_and(|l| l.at < before) {
            self.lines.pop_front();
        }
    }

    /// The lines passing `f`, oldest first, and the cursor to ask from next.
    pub fn list(&self, f: &LogFilter) -> (Vec<LogLine>, u64) {
        let pass = |l: &&LogLine| {
            f.after.is_none_or(|a| l.seq > a)
                && f.since.is_none_or(|s| l.at >= s)
                && f.worker.as_deref().is_none_or(|w| l.worker_id == w)
                && f.job
                    .as_deref()
                    .is_none_or(|j| l.job_id.as_deref() == Some(j))
        };
        let limit = f.limit.max(1);
        let mut out: Vec<LogLine> = if f.after.is_some() {
            // Following: the oldest lines after the cursor first.
            self.lines
                .iter()
                .filter(pass)
                .take(limit)
                .cloned()
                .collect()
        } else {
            // A first look: the newest lines.
            let mut v: Vec<LogLine> = self
                .lines
                .iter()
                .rev()
                .filter(pass)
                .take(limit)
                .cloned()
                .collect();
            v.reverse();
            v
        };
        out.shrink_to_fit();
        let next = out
            .last()
            .map(|l| l.seq)
            .unwrap_or_else(|| f.after.unwrap_or(self.next_seq - 1).min(self.next_seq - 1));
        (out, next)
    }

    /// The last `n` lines of a worker, for a crash report.
    pub fn tail(&self, worker_id: &str, n: usize) -> Vec<String> {
        let mut v: Vec<String> = self
            .lines
            .iter()
            .rev()
            .filter(|l| l.worker_id == worker_id && l.stream != Stream::System)
            .take(n)
            .map(|l| l.text.clone())
            .collect();
        v.reverse();
        v
    }
}

/// The job id a `runpod` SDK log line names: `LEVEL  | <id> | message` (the SDK's
/// plain format) or a JSON line with `"requestId"` (when `RUNPOD_ENDPOINT_ID` is set).
pub fn job_in_line(line: &str) -> Option<String> {
    let t = line.trim_start();
    if t.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(t).ok()?;
        return v
            .get("requestId")
            .and_then(|r| r.as_str())
            .filter(|r| !r.is_empty() && *r != "None")
            .map(str::to_string);
    }
    let mut parts = t.splitn(3, '|');
    let level = parts.next()?.trim();
    let id = parts.next()?.trim();
    parts.next()?;
    let is_level = matches!(level, "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR");
    let plausible = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (is_level && plausible).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_lines_name_their_job() {
        assert_eq!(
            job_in_line("INFO   | 3f2c-11 | Started.").as_deref(),
            Some("3f2c-11")
        );
        assert_eq!(
            job_in_line(r#"{"requestId": "abc", "message": "x", "level": "INFO"}"#).as_deref(),
            Some("abc")
        );
        assert_eq!(
            job_in_line("--- Starting Serverless Worker |  Version 1.12.0 ---"),
            None
        );
        assert_eq!(job_in_line("INFO   | Jobs in progress: 1"), None);
        assert_eq!(job_in_line("hello | world | x"), None);
        assert_eq!(job_in_line(r#"{"requestId": null}"#), None);
    }

    #[test]
    fn bounded_filtered_and_followed() {
        let mut s = LogStore::new(3);
        for i in 0..5 {
            let job = (i % 2 == 0).then(|| "j".to_string());
            s.push(i * 10, "w1", job, Stream::Stdout, format!("line {i}"));
        }
        s.push(60, "w2", None, Stream::System, "exit".into());
        // Only the newest 3 are kept.
        let (all, next) = s.list(&LogFilter {
            limit: 100,
            ..Default::default()
        });
        assert_eq!(all.iter().map(|l| l.seq).collect::<Vec<_>>(), [4, 5, 6]);
        assert_eq!(next, 6);
        let (j, _) = s.list(&LogFilter {
            job: Some("j".into()),
            limit: 100,
            ..Default::default()
        });
        assert_eq!(
            j.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["line 4"]
        );
        let (w, _) = s.list(&LogFilter {
            worker: Some("w2".into()),
            limit: 100,
            ..Default::default()
        });
        assert_eq!(w.len(), 1);
        let (after, next) = s.list(&LogFilter {
            after: Some(4),
            limit: 1,
            ..Default::default()
        });
        assert_eq!((after[0].seq, next), (5, 5));
        let (none, next) = s.list(&LogFilter {
            after: Some(6),
            limit: 10,
            ..Default::default()
        });
        assert!(none.is_empty());
        assert_eq!(next, 6);
        let (since, _) = s.list(&LogFilter {
            since: Some(45),
            limit: 10,
            ..Default::default()
        });
        assert_eq!(since.len(), 1);
        s.prune(50);
        assert_eq!(s.tail("w1", 5), Vec::<String>::new());
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let mut s = LogStore::new(10);
        s.push(0, "w", None, Stream::Stdout, "é".repeat(MAX_LINE_BYTES));
        let (l, _) = s.list(&LogFilter {
            limit: 1,
            ..Default::default()
        });
        assert!(l[0].text.len() <= MAX_LINE_BYTES + 32);
        assert!(l[0].text.ends_with("[line cut at 16 KiB]"));
    }
}
