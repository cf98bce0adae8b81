//! A synthetic history of an endpoint: many jobs, the worker transitions and cold
//! starts around them, drawn from seeded distributions. Used by the benchmarks
//! (a day of a million jobs in about a second) and by tests that need volume.
//!
//! It is statistical, not a simulation: each job's delay and execution are drawn
//! independently. The worker model that makes delays follow from queueing and
//! scaling is [`crate::Traffic`]'s sibling to come (issue 4).

use endpoint_core::{ColdStart, JobRecord, JobStatus, WorkerState, WorkerTransition};

use crate::{Dist, Rng};

/// Jobs and worker events of a time span.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Job records, in submission order.
    pub jobs: Vec<JobRecord>,
    /// Worker state transitions, in time order.
    pub transitions: Vec<WorkerTransition>,
    /// Cold starts, in time order.
    pub cold_starts: Vec<ColdStart>,
}

/// `n` jobs submitted uniformly over `[from, from + span)` (ms), with lognormal delay
/// (median 300 ms) and execution (median 1.2 s); 90 % complete, 5 % fail, 2 % are
/// cancelled, 1 % time out, and the newest ones are still queued or running. Workers
/// (`workers` of them) cycle through initializing, idle and running, with cold starts.
pub fn history(seed: u64, n: usize, from: i64, span: i64, workers: usize) -> History {
    let mut rng = Rng::new(seed);
    let delay = Dist::LogNormal {
        median: 300.0,
        sigma: 1.0,
    };
    let exec = Dist::LogNormal {
        median: 1_200.0,
        sigma: 0.7,
    };
    let end = from + span;
    let mut jobs = Vec::with_capacity(n);
    let mut subs: Vec<i64> = (0..n)
        .map(|_| from + (rng.next_f64() * span as f64) as i64)
        .collect();
    subs.sort_unstable();
    for (i, &sub) in subs.iter().enumerate() {
        let id = uuid(&mut rng);
        let d = delay.sample(&mut rng).round() as i64;
        let x = exec.sample(&mut rng).round() as i64;
        let roll = rng.next_f64();
        let worker = format!("worker-{}", rng.next_u64() % workers.max(1) as u64);
        let mut r = JobRecord::queued(id, sub);
        r.retries = u8::from(roll > 0.995);
        let started = sub + d;
        let completed = started + x;
        if completed >= end || i + 50 > n && roll < 0.5 {
            // Still running or queued at the end of the span.
            if started < end {
                r.status = JobStatus::InProgress;
                r.started_at = Some(started);
                r.delay_time = Some(d as f64);
                r.worker_id = Some(worker);
            }
        } else if roll < 0.02 {
            r.status = JobStatus::Cancelled;
            r.completed_at = Some(started);
            r.delay_time = Some(d as f64);
        } else if roll < 0.03 {
            r.status = JobStatus::TimedOut;
            r.completed_at = Some(started);
            r.delay_time = Some(d as f64);
        } else {
            r.status = if roll < 0.08 {
                JobStatus::Failed
            } else {
                JobStatus::Completed
            };
            r.started_at = Some(started);
            r.completed_at = Some(completed);
            r.delay_time = Some(d as f64);
            r.execution_time = Some(x as f64);
            r.worker_id = Some(worker);
            if r.status == JobStatus::Failed {
                r.error = Some("simulated failure".into());
            }
        }
        jobs.push(r);
    }
    let (transitions, cold_starts) = worker_events(&mut rng, from, end, workers);
    History {
        jobs,
        transitions,
        cold_starts,
    }
}

fn worker_events(
    rng: &mut Rng,
    from: i64,
    end: i64,
    workers: usize,
) -> (Vec<WorkerTransition>, Vec<ColdStart>) {
    let cold = Dist::LogNormal {
        median: 8_000.0,
        sigma: 0.5,
    };
    let mut transitions = Vec::new();
    let mut cold_starts = Vec::new();
    for w in 0..workers {
        let id = format!("worker-{w}");
        let mut t = from + (rng.next_f64() * 60_000.0) as i64;
        while t < end {
            let c = cold.sample(rng).round() as i64;
            transitions.push(WorkerTransition {
                worker_id: id.clone(),
                state: Some(WorkerState::Initializing),
                at: t,
            });
            let ready = t + c;
            cold_starts.push(ColdStart {
                worker_id: id.clone(),
                started_at: t,
                ready_at: ready,
                duration: c as f64,
            });
            t = ready;
            // Alternate idle and running for a while, then scale down.
            let lifetime = t + 600_000 + (rng.next_f64() * 3_000_000.0) as i64;
            while t < lifetime.min(end) {
                let state = if rng.next_f64() < 0.7 {
                    WorkerState::Running
                } else {
                    WorkerState::Idle
                };
                transitions.push(WorkerTransition {
                    worker_id: id.clone(),
                    state: Some(state),
                    at: t,
                });
                t += 5_000 + (rng.next_f64() * 55_000.0) as i64;
            }
            transitions.push(WorkerTransition {
                worker_id: id.clone(),
                state: None,
                at: t,
            });
            t += (rng.next_f64() * 600_000.0) as i64;
        }
    }
    transitions.sort_by_key(|x| x.at);
    cold_starts.sort_by_key(|x| x.ready_at);
    (transitions, cold_starts)
}

fn uuid(rng: &mut Rng) -> String {
    endpoint_core::store::format_uuid(
        (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_record_is_valid_and_deterministic() {
        let a = history(5, 20_000, 0, 86_400_000, 8);
        let b = history(5, 20_000, 0, 86_400_000, 8);
        assert_eq!(a.jobs, b.jobs);
        assert_eq!(a.transitions, b.transitions);
        for r in &a.jobs {
            r.validate().unwrap();
        }
        for c in &a.cold_starts {
            c.validate().unwrap();
        }
        let completed = a
            .jobs
            .iter()
            .filter(|j| j.status == JobStatus::Completed)
            .count();
        assert!(completed > 17_000 && completed < 18_600, "{completed}");
        assert!(a.cold_starts.len() > 8, "{}", a.cold_starts.len());
        assert!(a.transitions.windows(2).all(|w| w[0].at <= w[1].at));
    }
}
