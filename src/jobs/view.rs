//! The job list's view: status chips, id search, sort, the chart point it was opened
//! from, and the job whose detail is open. All of it lives in the URL beside the rest
//! of the view (`?tab=jobs&status=FAILED,TIMED_OUT&q=6f1c&sort=-delay&focus=...&job=...`),
//! so a link to "the jobs behind this P98 spike" can be shared.

use endpoint_core::feed::Events;
use endpoint_core::query::{self, Column, Filter, Sort, Span, StatusSet};
use endpoint_core::{JobStatus, JobStore, Window};

use crate::view::time::TimeZone;
use crate::view::time::{fmt_clock, fmt_ms};
use crate::view::url::percent_encode;

/// Which jobs a chart point stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FocusKind {
    /// Submitted in the bucket (requests received).
    Received,
    /// Submitted in the bucket and retried at least once.
    Retried,
    /// Ended in the bucket (completed, failed, cancelled, timed out: the state chips
    /// say which).
    Ended,
    /// Ran and ended in the bucket (execution time), at or above `min`.
    Execution,
    /// Picked up in the bucket (delay time), having waited at least `min`.
    Delay,
    /// Waited on a cold start that ended in the bucket (lasting at least `min`).
    ColdStart,
    /// A webhook attempt in the bucket.
    WebhookSent,
    /// A webhook attempt answered 2xx in the bucket.
    WebhookOk,
    /// A webhook attempt failed in the bucket.
    WebhookFailed,
    /// Running at some instant of the bucket (worker states).
    Running,
}

impl FocusKind {
    const ALL: [FocusKind; 10] = [
        FocusKind::Received,
        FocusKind::Retried,
        FocusKind::Ended,
        FocusKind::Execution,
        FocusKind::Delay,
        FocusKind::ColdStart,
        FocusKind::WebhookSent,
        FocusKind::WebhookOk,
        FocusKind::WebhookFailed,
        FocusKind::Running,
    ];

    /// URL name.
    pub fn as_str(self) -> &'static str {
        match self {
            FocusKind::Received => "received",
            FocusKind::Retried => "retried",
            FocusKind::Ended => "ended",
            FocusKind::Execution => "execution",
            FocusKind::Delay => "delay",
            FocusKind::ColdStart => "cold-start",
            FocusKind::WebhookSent => "webhook",
            FocusKind::WebhookOk => "webhook-ok",
            FocusKind::WebhookFailed => "webhook-failed",
            FocusKind::Running => "running",
        }
    }
}

/// A chart point: which jobs, in which bucket `[from, to)`, at or above which value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Focus {
    /// Which jobs.
    pub kind: FocusKind,
    /// Bucket start, ms since the epoch.
    pub from: i64,
    /// Bucket end (exclusive).
    pub to: i64,
    /// Threshold, ms (percentile points): jobs at or above it.
    pub min: Option<f64>,
}

impl Focus {
    /// `kind,from,to[,min]`.
    pub fn to_param(&self) -> String {
        let mut s = format!("{},{},{}", self.kind.as_str(), self.from, self.to);
        if let Some(m) = self.min {
            s.push_str(&format!(",{m}"));
        }
        s
    }

    /// Reads [`Focus::to_param`]'s form.
    pub fn parse(s: &str) -> Result<Focus, String> {
        let parts: Vec<&str> = s.split(',').collect();
        if !(3..=4).contains(&parts.len()) {
            return Err("expected kind,from,to[,min]".into());
        }
        let kind = FocusKind::ALL
            .into_iter()
            .find(|k| k.as_str() == parts[0])
            .ok_or_else(|| format!("unknown kind `{}`", parts[0]))?;
        let int = |p: &str| {
            p.parse::<i64>()
                .map_err(|_| format!("`{p}` is not a time in ms"))
        };
        let (from, to) = (int(parts[1])?, int(parts[2])?);
        if to <= from {
            return Err("the bucket ends before it starts".into());
        }
        let min = match parts.get(3) {
            Some(p) => Some(
                p.parse::<f64>()
                    .ok()
                    .filter(|m| m.is_finite() && *m >= 0.0)
                    .ok_or_else(|| format!("`{p}` is not a duration in ms"))?,
            ),
            None => None,
        };
        Ok(Focus {
            kind,
            from,
            to,
            min,
        })
    }

    /// What the focus chip says, e.g. "delay ≥ 1.2 s, started 13:20:00–13:20:15".
    pub fn label(&self, tz: TimeZone) -> String {
        let span = format!("{}–{}", fmt_clock(self.from, tz), fmt_clock(self.to, tz));
        let min = |what: &str| match self.min {
            Some(m) => format!("{what} ≥ {}", fmt_ms(m)),
            None => what.to_string(),
        };
        match self.kind {
            FocusKind::Received => format!("submitted {span}"),
            FocusKind::Retried => format!("retried, submitted {span}"),
            FocusKind::Ended => format!("ended {span}"),
            FocusKind::Execution => format!("{}, ended {span}", min("execution")),
            FocusKind::Delay => format!("{}, started {span}", min("delay")),
            FocusKind::ColdStart => format!("waited on a {}, ready {span}", min("cold start")),
            FocusKind::WebhookSent => format!("webhook posted {span}"),
            FocusKind::WebhookOk => format!("webhook delivered {span}"),
            FocusKind::WebhookFailed => format!("webhook attempt failed {span}"),
            FocusKind::Running => format!("running {span}"),
        }
    }
}

/// What a click on a chart point opens: the list focused on that point, with the
/// states it counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pick {
    /// The point.
    pub focus: Focus,
    /// The states shown.
    pub statuses: StatusSet,
}

impl Pick {
    /// The point of `kind` in bucket `i` of `window`, all states.
    pub fn bucket(kind: FocusKind, window: &Window, i: usize, min: Option<f64>) -> Pick {
        let (from, to) = window.bounds(i);
        Pick {
            focus: Focus {
                kind,
                from,
                to,
                min,
            },
            statuses: StatusSet::ALL,
        }
    }
}

/// The job list's part of the view.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobsView {
    /// States shown (the chips).
    pub statuses: StatusSet,
    /// Id or id prefix.
    pub search: String,
    /// Sort order.
    pub sort: Sort,
    /// The chart point the list was opened from.
    pub focus: Option<Focus>,
    /// The job whose detail is open.
    pub job: Option<String>,
}

impl JobsView {
    /// Reads one URL parameter if it is the job list's: `None` if not, else whether
    /// its value was understood.
    pub fn read_param(&mut self, key: &str, value: &str) -> Option<Result<(), String>> {
        let r = match key {
            "status" => parse_statuses(value).map(|s| self.statuses = s),
            "q" => {
                self.search = value.to_string();
                Ok(())
            }
            "sort" => {
                let (descending, name) = match value.strip_prefix('-') {
                    Some(n) => (true, n),
                    None => (false, value),
                };
                Column::parse(name)
                    .map(|column| self.sort = Sort { column, descending })
                    .ok_or_else(|| {
                        "use id, status, submitted, delay, execution, worker, retries or webhook, with - for descending".to_string()
                    })
            }
            "focus" => Focus::parse(value).map(|f| self.focus = Some(f)),
            "job" if !value.is_empty() => {
                self.job = Some(value.to_string());
                Ok(())
            }
            _ => return None,
        };
        Some(r)
    }

    /// The view written by [`JobsView::params`] (how the job list's query travels
    /// to the engine); a parameter that is not understood is left at its default.
    pub fn from_params(params: &[String]) -> JobsView {
        let mut v = JobsView::default();
        for p in params {
            let (key, value) = p.split_once('=').unwrap_or((p, ""));
            let _ = v.read_param(key, &crate::view::url::percent_decode(value));
        }
        v
    }

    /// The URL parameters that differ from the defaults.
    pub fn params(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.statuses != StatusSet::ALL {
            let names: Vec<&str> = self.statuses.iter().map(JobStatus::as_str).collect();
            p.push(format!("status={}", names.join(",")));
        }
        if !self.search.is_empty() {
            p.push(format!("q={}", percent_encode(&self.search)));
        }
        if self.sort != Sort::default() {
            let dash = if self.sort.descending { "-" } else { "" };
            p.push(format!("sort={dash}{}", self.sort.column.as_str()));
        }
        if let Some(f) = &self.focus {
            p.push(format!("focus={}", percent_encode(&f.to_param())));
        }
        if let Some(j) = &self.job {
            p.push(format!("job={}", percent_encode(j)));
        }
        p
    }

    /// The endpoint-core filter for this view over `window`: the jobs whose life
    /// overlaps the window, or the jobs behind the focused chart point.
    pub fn filter(&self, window: &Window, store: &JobStore, events: &Events) -> Filter {
        let mut f = Filter {
            statuses: self.statuses,
            id_prefix: self.search.trim().to_string(),
            ..Filter::new(Span::Overlaps {
                from: window.from,
                to: window.to,
            })
        };
        let Some(focus) = self.focus else {
            return f;
        };
        let (from, to) = (focus.from, focus.to);
        let inside = |t: i64| t >= from && t < to;
        f.span = Some(match focus.kind {
            FocusKind::Received | FocusKind::Retried => Span::Submitted { from, to },
            FocusKind::Ended | FocusKind::Execution => Span::Ended { from, to },
            FocusKind::Delay => Span::Started { from, to },
            FocusKind::Running => Span::Running { from, to },
            FocusKind::ColdStart
            | FocusKind::WebhookSent
            | FocusKind::WebhookOk
            | FocusKind::WebhookFailed => {
                // Picked through the events: every job held is a candidate.
                f.span = None;
                f.rows = Some(match focus.kind {
                    FocusKind::ColdStart => {
                        let min = focus.min.unwrap_or(0.0);
                        query::rows_waiting_on(
                            store,
                            events
                                .cold_starts
                                .iter()
                                .filter(|c| inside(c.ready_at) && c.duration.round() >= min),
                        )
                    }
                    kind => query::rows_of_deliveries(
                        store,
                        events.deliveries.iter().filter(|d| {
                            inside(d.at)
                                && match kind {
                                    FocusKind::WebhookOk => d.succeeded(),
                                    FocusKind::WebhookFailed => !d.succeeded(),
                                    _ => true,
                                }
                        }),
                    ),
                });
                return f;
            }
        });
        f.retried_only = focus.kind == FocusKind::Retried;
        match focus.kind {
            FocusKind::Execution => f.min_execution = Some(focus.min.unwrap_or(0.0)),
            FocusKind::Delay => f.min_delay = Some(focus.min.unwrap_or(0.0)),
            _ => {}
        }
        f
    }
}

/// `IN_QUEUE,FAILED` (or `none`) -> a set.
fn parse_statuses(s: &str) -> Result<StatusSet, String> {
    if s == "none" {
        return Ok(StatusSet::NONE);
    }
    let mut set = StatusSet::NONE;
    for name in s.split(',').filter(|n| !n.is_empty()) {
        let status: JobStatus = serde_json::from_value(serde_json::Value::String(name.into()))
            .map_err(|_| format!("unknown state `{name}`"))?;
        set = StatusSet(set.0 | StatusSet::only(status).0);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use endpoint_core::{ColdStart, JobRecord, WebhookDelivery};

    #[test]
    fn jobs_view_round_trips_through_params() {
        let v = JobsView {
            statuses: StatusSet::only(JobStatus::Failed).toggled(JobStatus::TimedOut),
            search: "6f1c 1".into(),
            sort: Sort {
                column: Column::Delay,
                descending: true,
            },
            focus: Some(Focus {
                kind: FocusKind::Delay,
                from: 1_000,
                to: 16_000,
                min: Some(395.81),
            }),
            job: Some("abc".into()),
        };
        let params = v.params();
        assert_eq!(
            params,
            [
                "status=FAILED,TIMED_OUT",
                "q=6f1c%201",
                "sort=-delay",
                "focus=delay%2C1000%2C16000%2C395.81",
                "job=abc"
            ]
        );
        let mut back = JobsView::default();
        for p in &params {
            let (k, val) = p.split_once('=').unwrap();
            let val = crate::view::url::percent_decode(val);
            assert_eq!(back.read_param(k, &val), Some(Ok(())), "{p}");
        }
        assert_eq!(back, v);
        assert!(
            JobsView::default().params().is_empty(),
            "defaults stay out of the URL"
        );
    }

    #[test]
    fn bad_params_are_named() {
        let mut v = JobsView::default();
        assert!(
            v.read_param("status", "DONE")
                .unwrap()
                .unwrap_err()
                .contains("DONE")
        );
        assert!(v.read_param("sort", "-size").unwrap().is_err());
        assert!(
            v.read_param("focus", "delay,5,1")
                .unwrap()
                .unwrap_err()
                .contains("before")
        );
        assert!(v.read_param("focus", "delay,1,5,-3").unwrap().is_err());
        assert!(
            v.read_param("focus", "p99,1,5")
                .unwrap()
                .unwrap_err()
                .contains("p99")
        );
        assert_eq!(v.read_param("range", "1h"), None, "not the list's");
        assert_eq!(v, JobsView::default(), "nothing changed by bad values");
        assert_eq!(v.read_param("status", "none"), Some(Ok(())));
        assert_eq!(v.statuses, StatusSet::NONE);
    }

    /// A store and events: j0 waited on w1's cold start (ready at 5 000), j1 found w1
    /// warm; j0's webhook failed once then was delivered.
    fn fixture() -> (JobStore, Events) {
        let mut s = JobStore::default();
        for r in [
            JobRecord {
                status: JobStatus::Completed,
                started_at: Some(5_000),
                completed_at: Some(8_000),
                worker_id: Some("w1".into()),
                ..JobRecord::queued("j0", 1_000)
            },
            JobRecord {
                status: JobStatus::Completed,
                started_at: Some(9_000),
                completed_at: Some(9_500),
                worker_id: Some("w1".into()),
                ..JobRecord::queued("j1", 8_500)
            },
        ] {
            s.upsert(&r).unwrap();
        }
        let events = Events {
            transitions: vec![],
            cold_starts: vec![ColdStart {
                worker_id: "w1".into(),
                started_at: 2_000,
                ready_at: 5_000,
                duration: 3_000.0,
            }],
            deliveries: vec![
                WebhookDelivery {
                    job_id: "j0".into(),
                    attempt: 1,
                    at: 8_100,
                    status: Some(500),
                    error: None,
                },
                WebhookDelivery {
                    job_id: "j0".into(),
                    attempt: 2,
                    at: 18_100,
                    status: Some(200),
                    error: None,
                },
            ],
        };
        (s, events)
    }

    fn listed(v: &JobsView) -> Vec<String> {
        let (s, e) = fixture();
        let w = Window::new(0, 60_000, 10_000).unwrap();
        let l = query::list(&s, &v.filter(&w, &s, &e), Sort::default());
        l.rows.iter().map(|&r| s.id(r)).collect()
    }

    fn focus(kind: FocusKind, from: i64, to: i64, min: Option<f64>) -> JobsView {
        JobsView {
            focus: Some(Focus {
                kind,
                from,
                to,
                min,
            }),
            ..JobsView::default()
        }
    }

    #[test]
    fn each_focus_lists_the_jobs_behind_its_point() {
        assert_eq!(listed(&JobsView::default()), ["j1", "j0"]);
        assert_eq!(listed(&focus(FocusKind::Received, 0, 2_000, None)), ["j0"]);
        assert_eq!(
            listed(&focus(FocusKind::Delay, 0, 10_000, Some(500.0))),
            ["j1", "j0"]
        );
        assert_eq!(
            listed(&focus(FocusKind::Delay, 0, 10_000, Some(501.0))),
            ["j0"]
        );
        assert_eq!(
            listed(&focus(FocusKind::Execution, 0, 10_000, Some(3_000.0))),
            ["j0"]
        );
        assert_eq!(
            listed(&focus(FocusKind::ColdStart, 0, 10_000, Some(3_000.0))),
            ["j0"]
        );
        assert!(listed(&focus(FocusKind::ColdStart, 0, 10_000, Some(3_001.0))).is_empty());
        assert!(listed(&focus(FocusKind::ColdStart, 10_000, 20_000, None)).is_empty());
        assert_eq!(
            listed(&focus(FocusKind::WebhookFailed, 0, 10_000, None)),
            ["j0"]
        );
        assert!(listed(&focus(FocusKind::WebhookOk, 0, 10_000, None)).is_empty());
        assert_eq!(
            listed(&focus(FocusKind::WebhookOk, 10_000, 20_000, None)),
            ["j0"]
        );
        assert_eq!(
            listed(&focus(FocusKind::Running, 8_600, 8_700, None)),
            Vec::<String>::new()
        );
        assert_eq!(
            listed(&focus(FocusKind::Running, 7_000, 9_100, None)),
            ["j1", "j0"]
        );
        assert!(listed(&focus(FocusKind::Retried, 0, 60_000, None)).is_empty());
    }

    #[test]
    fn focus_labels_say_what_and_when() {
        let f = Focus {
            kind: FocusKind::Delay,
            from: 0,
            to: 15_000,
            min: Some(1_234.0),
        };
        assert_eq!(
            f.label(TimeZone::Utc),
            "delay ≥ 1.23 s, started 00:00:00–00:00:15"
        );
        assert_eq!(Focus::parse(&f.to_param()), Ok(f));
    }
}
