//! Acting on jobs: cancel (one or many), retry, purge the queue, and what each row
//! says meanwhile.
//!
//! Bulk cancel sends one request at a time and respects the server's rate limit: a
//! 429 waits the `Retry-After` the server gave and sends the same job again, so 500
//! jobs against RunPod's 100 per 10 s take about 50 s and all of them get an answer.
//! An error that would fail every remaining request too (key, server down) stops the
//! run and says which jobs were not sent.

use std::collections::HashMap;
use std::future::Future;

use endpoint_core::JobStatus;

use crate::feed::api::{FetchError, action_message};
use crate::feed::source::Cancelled;

/// What a row shows about an action on its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowAction {
    /// Cancel sent, no answer yet ("cancelling…").
    Cancelling,
    /// Retry sent, no answer yet.
    Retrying,
    /// Answered: the state the server reported (shown until the feed catches up) and
    /// what to say.
    Done {
        /// The job's state according to the answer.
        status: JobStatus,
        /// E.g. "cancelled", "could not be cancelled: it had already COMPLETED".
        message: String,
    },
    /// Refused or failed, with the cause.
    Failed(String),
}

impl RowAction {
    /// Whether a request for the job is in flight (a second click sends nothing).
    pub fn pending(&self) -> bool {
        matches!(self, RowAction::Cancelling | RowAction::Retrying)
    }
}

/// The row state after a cancel answered.
pub fn cancel_outcome(id: &str, r: &Result<Cancelled, FetchError>) -> RowAction {
    match r {
        Ok(Cancelled::Yes) => RowAction::Done {
            status: JobStatus::Cancelled,
            message: "cancelled".into(),
        },
        Ok(Cancelled::AlreadyFinished(s)) => RowAction::Done {
            status: *s,
            message: format!("could not be cancelled: it had already {}", past(*s)),
        },
        Err(e) => RowAction::Failed(action_message("cancel", Some(id), e)),
    }
}

/// The row state after a retry answered.
pub fn retry_outcome(id: &str, r: &Result<JobStatus, FetchError>) -> RowAction {
    match r {
        Ok(s) => RowAction::Done {
            status: *s,
            message: "retried: queued again".into(),
        },
        Err(e) => RowAction::Failed(action_message("retry", Some(id), e)),
    }
}

fn past(s: JobStatus) -> String {
    match s {
        JobStatus::Completed => "completed".into(),
        JobStatus::Failed => "failed".into(),
        JobStatus::Cancelled => "been cancelled".into(),
        JobStatus::TimedOut => "timed out".into(),
        other => format!("become {other}"),
    }
}

/// Progress of a bulk cancel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkProgress {
    /// Jobs answered so far.
    pub done: usize,
    /// Jobs in the run.
    pub total: usize,
    /// Seconds the server asked to wait (rate limit), while waiting.
    pub waiting_s: Option<u32>,
    /// Finished: the summary.
    pub summary: Option<String>,
}

impl BulkProgress {
    /// What the progress line says.
    pub fn text(&self) -> String {
        if let Some(s) = &self.summary {
            return s.clone();
        }
        let mut t = format!("Cancelling {} of {}…", self.done + 1, self.total);
        if let Some(w) = self.waiting_s {
            t.push_str(&format!(
                " (rate limited by the server: waiting {w} s, then going on)"
            ));
        }
        t
    }
}

/// Whether an error would fail every following request too.
fn stops_the_run(e: &FetchError) -> bool {
    match e {
        FetchError::Http { status, .. } => matches!(status, 401 | 403 | 500..=599),
        FetchError::Network(_) | FetchError::Timeout { .. } | FetchError::Engine(_) => true,
        FetchError::BadBody(_) | FetchError::Invalid(_) => false,
    }
}

/// Most waits on one job before giving up on it (each at least 1 s).
const MAX_WAITS: u32 = 30;

/// Cancels `ids` one after the other. `cancel` sends one request, `sleep(ms)` waits,
/// `row` reports each job's state, `progress` the run's.
pub async fn bulk_cancel<C, CF, S, SF>(
    ids: Vec<String>,
    cancel: C,
    sleep: S,
    mut row: impl FnMut(&str, RowAction),
    mut progress: impl FnMut(BulkProgress),
) where
    C: Fn(String) -> CF,
    CF: Future<Output = Result<Cancelled, FetchError>>,
    S: Fn(u32) -> SF,
    SF: Future<Output = ()>,
{
    let total = ids.len();
    let mut p = BulkProgress {
        total,
        ..BulkProgress::default()
    };
    for id in &ids {
        row(id, RowAction::Cancelling);
    }
    progress(p.clone());
    let mut tally: HashMap<&'static str, usize> = HashMap::new();
    let mut stopped: Option<String> = None;
    for (i, id) in ids.iter().enumerate() {
        if let Some(why) = &stopped {
            row(id, RowAction::Failed(format!("not sent: {why}")));
            continue;
        }
        let mut waits = 0;
        let result = loop {
            let r = cancel(id.clone()).await;
            match &r {
                Err(FetchError::Http {
                    status: 429,
                    retry_after_s,
                    ..
                }) if waits < MAX_WAITS => {
                    waits += 1;
                    let s = retry_after_s.unwrap_or(1).max(1);
                    p.waiting_s = Some(s);
                    progress(p.clone());
                    sleep(s * 1_000).await;
                    p.waiting_s = None;
                    progress(p.clone());
                }
                _ => break r,
            }
        };
        let outcome = cancel_outcome(id, &result);
        *tally
            .entry(match &outcome {
                RowAction::Done {
                    status: JobStatus::Cancelled,
                    ..
                } => "cancelled",
                RowAction::Done { .. } => "finished",
                _ => "failed",
            })
            .or_default() += 1;
        if let (Err(e), RowAction::Failed(msg)) = (&result, &outcome)
            && stops_the_run(e)
        {
            stopped = Some(format!("stopped after job {} of {total}: {msg}", i + 1));
        }
        row(id, outcome);
        p.done = i + 1;
        progress(p.clone());
    }
    let n = |k| tally.get(k).copied().unwrap_or(0);
    let mut summary = format!("Cancelled {} of {total} jobs", n("cancelled"));
    if n("finished") > 0 {
        summary.push_str(&format!(
            "; {} had already finished and could not be cancelled",
            n("finished")
        ));
    }
    if n("failed") > 0 {
        summary.push_str(&format!("; {} failed", n("failed")));
    }
    if let Some(why) = stopped {
        summary.push_str(&format!(" ({why})"));
    }
    summary.push('.');
    p.waiting_s = None;
    p.summary = Some(summary);
    progress(p);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// What a run reported: row states, progress, waits (ms), requests sent.
    type Run = (
        Vec<(String, RowAction)>,
        Vec<BulkProgress>,
        Vec<u32>,
        Vec<String>,
    );

    fn run(ids: &[&str], answers: impl Fn(&str, usize) -> Result<Cancelled, FetchError>) -> Run {
        let rows = RefCell::new(Vec::new());
        let progress = RefCell::new(Vec::new());
        let sleeps = RefCell::new(Vec::new());
        let sent = RefCell::new(Vec::new());
        futures::executor::block_on(bulk_cancel(
            ids.iter().map(|s| s.to_string()).collect(),
            |id: String| {
                let n = sent.borrow().iter().filter(|x| **x == id).count();
                sent.borrow_mut().push(id.clone());
                let r = answers(&id, n);
                async move { r }
            },
            |ms| {
                sleeps.borrow_mut().push(ms);
                async {}
            },
            |id, a| rows.borrow_mut().push((id.to_string(), a)),
            |p| progress.borrow_mut().push(p),
        ));
        (
            rows.into_inner(),
            progress.into_inner(),
            sleeps.into_inner(),
            sent.into_inner(),
        )
    }

    fn limited(s: u32) -> FetchError {
        FetchError::Http {
            status: 429,
            message: "rate limit of /cancel exceeded".into(),
            retry_after_s: Some(s),
        }
    }

    #[test]
    fn rate_limits_are_waited_out_and_every_job_gets_an_answer() {
        // The third request and the first retry of it are rate limited.
        let (rows, progress, sleeps, sent) = run(&["a", "b", "c", "d"], |id, n| {
            if id == "c" && n < 2 {
                Err(limited(2))
            } else if id == "d" {
                Ok(Cancelled::AlreadyFinished(JobStatus::Completed))
            } else {
                Ok(Cancelled::Yes)
            }
        });
        assert_eq!(
            sent,
            ["a", "b", "c", "c", "c", "d"],
            "c sent again after each wait"
        );
        assert_eq!(sleeps, [2_000, 2_000]);
        assert!(rows[..4].iter().all(|(_, a)| *a == RowAction::Cancelling));
        let last: HashMap<_, _> = rows.into_iter().collect();
        assert_eq!(
            last["d"],
            RowAction::Done {
                status: JobStatus::Completed,
                message: "could not be cancelled: it had already completed".into()
            }
        );
        assert!(progress.iter().any(|p| p.waiting_s == Some(2)
            && p.text()
                == "Cancelling 3 of 4… (rate limited by the server: waiting 2 s, then going on)"));
        assert_eq!(
            progress.last().unwrap().text(),
            "Cancelled 3 of 4 jobs; 1 had already finished and could not be cancelled."
        );
    }

    #[test]
    fn an_error_for_every_request_stops_the_run_and_says_so() {
        let (rows, progress, _, sent) = run(&["a", "b", "c"], |id, _| {
            if id == "a" {
                Ok(Cancelled::Yes)
            } else {
                Err(FetchError::Http {
                    status: 401,
                    message: String::new(),
                    retry_after_s: None,
                })
            }
        });
        assert_eq!(sent, ["a", "b"], "nothing sent after the key was refused");
        let last: HashMap<_, _> = rows.into_iter().collect();
        assert!(matches!(&last["b"], RowAction::Failed(m) if m.contains("API key")));
        assert!(
            matches!(&last["c"], RowAction::Failed(m) if m.starts_with("not sent: stopped after job 2 of 3"))
        );
        let s = progress.last().unwrap().text();
        assert!(
            s.starts_with("Cancelled 1 of 3 jobs; 1 failed (stopped after job 2 of 3"),
            "{s}"
        );
    }

    #[test]
    fn an_unknown_job_does_not_stop_the_others() {
        let (rows, _, _, sent) = run(&["x", "y"], |id, _| {
            if id == "x" {
                Err(FetchError::Http {
                    status: 404,
                    message: "no job `x`".into(),
                    retry_after_s: None,
                })
            } else {
                Ok(Cancelled::Yes)
            }
        });
        assert_eq!(sent, ["x", "y"]);
        let last: HashMap<_, _> = rows.into_iter().collect();
        assert!(matches!(&last["x"], RowAction::Failed(m) if m.contains("does not know this job")));
        assert!(matches!(
            &last["y"],
            RowAction::Done {
                status: JobStatus::Cancelled,
                ..
            }
        ));
    }
}
