//! The endpoint model in virtual time: scaling, cold starts, execution, timeouts,
//! cancellation, retries, releases, throttled and unhealthy workers.
#![allow(missing_docs)]

use endpoint_core::{JobStatus, WorkerState};
use endpoint_sim::Dist;
use endpoint_sim::model::{Change, JobError, JobSpec, Model, ModelConfig};

fn cfg() -> ModelConfig {
    ModelConfig {
        min_workers: 0,
        max_workers: 2,
        idle_timeout_ms: 5_000,
        cold_start: Dist::Constant(4_000.0),
        execution: Dist::Constant(1_000.0),
        ..ModelConfig::default()
    }
}

fn sleep(ms: u64) -> JobSpec {
    JobSpec {
        sleep_ms: Some(ms),
        ..JobSpec::default()
    }
}

fn status(m: &Model, id: &str) -> JobStatus {
    m.job(id).unwrap().status
}

#[test]
fn cold_start_then_run_then_scale_to_zero() {
    let mut m = Model::new(1, cfg());
    m.start(0);
    assert_eq!(
        m.health().workers.initializing,
        0,
        "min 0: nothing runs before a job"
    );
    m.submit(1_000, "a", sleep(2_000)).unwrap();
    assert_eq!(m.health().workers.initializing, 1);
    m.advance(4_999);
    assert_eq!(status(&m, "a"), JobStatus::InQueue);
    m.advance(5_000); // cold start done at 1_000 + 4_000
    assert_eq!(status(&m, "a"), JobStatus::InProgress);
    let r = m.job("a").unwrap();
    assert_eq!(r.delay_time, Some(4_000.0));
    m.advance(7_000);
    let r = m.job("a").unwrap().clone();
    assert_eq!(r.status, JobStatus::Completed);
    assert_eq!(r.execution_time, Some(2_000.0));
    r.validate().unwrap();
    // Idle for 5 s, then scaled down to zero.
    m.advance(11_999);
    assert_eq!(m.health().workers.idle, 1);
    m.advance(12_000);
    assert_eq!(m.health().workers.idle, 0);
    let changes = m.drain_changes();
    let cold: Vec<_> = changes
        .iter()
        .filter_map(|c| {
            if let Change::ColdStart(c) = c {
                Some(c)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(cold.len(), 1);
    assert_eq!(
        (cold[0].started_at, cold[0].ready_at, cold[0].duration),
        (1_000, 5_000, 4_000.0)
    );
    let states: Vec<_> = changes
        .iter()
        .filter_map(|c| {
            if let Change::Transition(t) = c {
                Some(t.state)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        states,
        [
            Some(WorkerState::Initializing),
            Some(WorkerState::Idle),
            Some(WorkerState::Running),
            Some(WorkerState::Idle),
            None
        ]
    );
}

#[test]
fn scales_up_to_the_maximum_and_queues_the_rest() {
    let mut m = Model::new(2, cfg());
    m.start(0);
    for i in 0..5 {
        m.submit(0, &format!("j{i}"), sleep(1_000)).unwrap();
    }
    let h = m.health();
    assert_eq!(h.workers.initializing, 2, "max_workers = 2");
    assert_eq!(h.jobs.in_queue, 5);
    m.advance(4_000);
    let h = m.health();
    assert_eq!(
        (h.workers.running, h.jobs.in_progress, h.jobs.in_queue),
        (2, 2, 3)
    );
    // 5 jobs of 1 s on 2 workers: done 3 s after the cold start.
    m.advance(7_000);
    assert_eq!(m.health().jobs.completed, 5);
    // FIFO: j0 and j1 started first.
    assert_eq!(m.job("j0").unwrap().started_at, Some(4_000));
    assert_eq!(m.job("j4").unwrap().started_at, Some(6_000));
}

#[test]
fn min_workers_stay_warm() {
    let mut m = Model::new(
        3,
        ModelConfig {
            min_workers: 1,
            ..cfg()
        },
    );
    m.start(0);
    m.advance(100_000);
    assert_eq!(m.health().workers.idle, 1);
    m.submit(100_000, "a", sleep(10)).unwrap();
    assert_eq!(
        status(&m, "a"),
        JobStatus::InProgress,
        "a warm worker takes it at once"
    );
    assert_eq!(m.job("a").unwrap().delay_time, Some(0.0));
}

#[test]
fn execution_timeout_and_ttl_give_timed_out() {
    let mut m = Model::new(
        4,
        ModelConfig {
            max_workers: 1,
            ..cfg()
        },
    );
    m.start(0);
    m.submit(
        0,
        "long",
        JobSpec {
            sleep_ms: Some(60_000),
            execution_timeout_ms: 10_000,
            ..JobSpec::default()
        },
    )
    .unwrap();
    m.submit(
        0,
        "short-ttl",
        JobSpec {
            sleep_ms: Some(10),
            ttl_ms: 8_000,
            ..JobSpec::default()
        },
    )
    .unwrap();
    m.advance(8_000);
    let r = m.job("short-ttl").unwrap();
    assert_eq!(r.status, JobStatus::TimedOut);
    assert!(r.error.as_deref().unwrap().contains("ttl"));
    assert_eq!(r.started_at, None);
    m.advance(14_000); // started at 4_000 + 10 s timeout
    let r = m.job("long").unwrap();
    assert_eq!(r.status, JobStatus::TimedOut);
    assert_eq!(r.execution_time, Some(10_000.0));
    assert_eq!(m.health().workers.idle, 1, "the worker is free again");
}

#[test]
fn cancel_queued_and_running_jobs_frees_the_worker() {
    let mut m = Model::new(
        5,
        ModelConfig {
            max_workers: 1,
            ..cfg()
        },
    );
    m.start(0);
    m.submit(0, "run", sleep(60_000)).unwrap();
    m.submit(0, "wait", sleep(1_000)).unwrap();
    m.advance(5_000);
    assert_eq!(status(&m, "run"), JobStatus::InProgress);
    assert_eq!(
        m.cancel(5_000, "wait").unwrap().status,
        JobStatus::Cancelled
    );
    let r = m.cancel(6_000, "run").unwrap().clone();
    assert_eq!(r.status, JobStatus::Cancelled);
    assert_eq!(r.execution_time, Some(2_000.0));
    assert_eq!(
        m.health().workers.idle,
        1,
        "cancelling stopped the execution"
    );
    m.advance(100_000);
    assert_eq!(
        status(&m, "run"),
        JobStatus::Cancelled,
        "the old run's end is ignored"
    );
    assert_eq!(m.health().jobs.completed, 0);
    assert_eq!(
        m.cancel(100_000, "run").unwrap_err(),
        JobError::WrongState(JobStatus::Cancelled)
    );
    assert_eq!(m.cancel(100_000, "nope").unwrap_err(), JobError::NotFound);
}

#[test]
fn retry_requeues_failed_jobs_only() {
    let mut m = Model::new(6, cfg());
    m.start(0);
    m.submit(
        0,
        "f",
        JobSpec {
            fail: true,
            ..sleep(100)
        },
    )
    .unwrap();
    m.submit(0, "ok", sleep(100)).unwrap();
    m.advance(10_000);
    assert_eq!(status(&m, "f"), JobStatus::Failed);
    assert_eq!(
        m.retry(10_000, "ok").unwrap_err(),
        JobError::WrongState(JobStatus::Completed)
    );
    let r = m.retry(10_000, "f").unwrap();
    assert_eq!((r.status, r.retries), (JobStatus::InQueue, 1));
    assert_eq!(m.health().jobs.retried, 1);
    m.advance(20_000);
    assert_eq!(
        status(&m, "f"),
        JobStatus::Failed,
        "it fails again: input.fail is still set"
    );
    assert_eq!(m.health().jobs.failed, 2);
}

#[test]
fn purge_queue_removes_only_queued_jobs() {
    let mut m = Model::new(
        7,
        ModelConfig {
            max_workers: 1,
            ..cfg()
        },
    );
    m.start(0);
    for i in 0..4 {
        m.submit(0, &format!("j{i}"), sleep(10_000)).unwrap();
    }
    m.advance(5_000);
    assert_eq!(m.purge_queue(5_000), 3);
    assert_eq!(status(&m, "j0"), JobStatus::InProgress);
    assert_eq!(status(&m, "j3"), JobStatus::Cancelled);
    assert_eq!(m.health().jobs.in_queue, 0);
}

#[test]
fn low_priority_jobs_wait_behind_normal_ones() {
    let mut m = Model::new(
        8,
        ModelConfig {
            max_workers: 1,
            ..cfg()
        },
    );
    m.start(0);
    m.submit(
        0,
        "low",
        JobSpec {
            low_priority: true,
            ..sleep(100)
        },
    )
    .unwrap();
    m.submit(1, "normal", sleep(100)).unwrap();
    m.advance(60_000);
    assert!(m.job("normal").unwrap().started_at < m.job("low").unwrap().started_at);
}

#[test]
fn release_marks_busy_workers_outdated_and_replaces_them() {
    let mut m = Model::new(
        9,
        ModelConfig {
            min_workers: 1,
            max_workers: 1,
            ..cfg()
        },
    );
    m.start(0);
    m.submit(0, "a", sleep(10_000)).unwrap();
    m.advance(5_000);
    m.release(5_000);
    let h = m.health();
    assert_eq!((h.workers.outdated, h.workers.initializing), (1, 1));
    m.advance(15_000);
    assert_eq!(
        status(&m, "a"),
        JobStatus::Completed,
        "the outdated worker finished its job"
    );
    let h = m.health();
    assert_eq!((h.workers.outdated, h.workers.idle), (0, 1));
}

#[test]
fn throttled_and_unhealthy_workers() {
    let mut m = Model::new(
        10,
        ModelConfig {
            throttle_rate: 1.0,
            throttle: Dist::Constant(20_000.0),
            unhealthy_rate: 1.0,
            unhealthy: Dist::Constant(30_000.0),
            max_workers: 1,
            ..cfg()
        },
    );
    m.start(0);
    m.submit(0, "a", sleep(100)).unwrap();
    assert_eq!(m.health().workers.throttled, 1);
    m.advance(24_000); // 20 s throttled + 4 s cold start
    assert_eq!(status(&m, "a"), JobStatus::InProgress);
    m.advance(24_100);
    assert_eq!(m.health().workers.unhealthy, 1);
    m.advance(60_000);
    assert_eq!(m.health().workers.unhealthy, 0, "reaped");
}

#[test]
fn simulated_webhooks_retry_twice_ten_seconds_apart() {
    let mut m = Model::new(
        11,
        ModelConfig {
            simulate_webhooks: true,
            webhook_failure_rate: 1.0,
            ..cfg()
        },
    );
    m.start(0);
    m.submit(
        0,
        "a",
        JobSpec {
            webhook: true,
            ..sleep(1_000)
        },
    )
    .unwrap();
    m.advance(100_000);
    let at: Vec<i64> = m
        .drain_changes()
        .into_iter()
        .filter_map(|c| {
            if let Change::Delivery(d) = c {
                Some(d.at)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(at, [5_000, 15_000, 25_000]);
    let w = m.job("a").unwrap().webhook.clone().unwrap();
    assert_eq!(
        (w.attempts, w.delivered, w.last_status),
        (3, false, Some(500))
    );
}

#[test]
fn same_seed_same_history_and_every_record_valid() {
    let run = |seed| {
        let mut m = Model::new(
            seed,
            ModelConfig {
                execution: Dist::LogNormal {
                    median: 1_000.0,
                    sigma: 0.8,
                },
                cold_start: Dist::LogNormal {
                    median: 5_000.0,
                    sigma: 0.5,
                },
                failure_rate: 0.05,
                max_workers: 4,
                ..ModelConfig::default()
            },
        );
        m.start(0);
        let mut traffic = endpoint_sim::Traffic::new(
            seed,
            endpoint_sim::TrafficConfig {
                rate_per_sec: 3.0,
                ..Default::default()
            },
        );
        let mut t = 0.0;
        for i in 0..2_000 {
            t += traffic.next_job().gap_ms;
            m.submit(t as i64, &format!("j{i}"), JobSpec::default())
                .unwrap();
        }
        m.advance(t as i64 + 600_000);
        m.jobs().cloned().collect::<Vec<_>>()
    };
    let a = run(1);
    assert_eq!(a, run(1));
    assert_ne!(a, run(2));
    for r in &a {
        r.validate().unwrap();
        assert!(r.status.is_terminal());
    }
}

#[test]
fn restore_requeues_unfinished_jobs_and_keeps_finished_ones() {
    let mut m = Model::new(
        12,
        ModelConfig {
            max_workers: 1,
            ..cfg()
        },
    );
    m.start(0);
    m.submit(0, "done", sleep(100)).unwrap();
    m.submit(0, "running", sleep(60_000)).unwrap();
    m.submit(0, "queued", sleep(100)).unwrap();
    m.advance(10_000);
    let before: Vec<_> = m.jobs().cloned().collect();
    assert_eq!(
        before.iter().map(|r| r.status).collect::<Vec<_>>(),
        [
            JobStatus::Completed,
            JobStatus::InProgress,
            JobStatus::InQueue
        ]
    );

    // "Crash" at 10 s; a new model comes up at 20 s.
    let mut m2 = Model::new(
        13,
        ModelConfig {
            max_workers: 1,
            ..cfg()
        },
    );
    m2.start(20_000);
    for r in before {
        m2.restore(20_000, r, sleep(100)).unwrap();
    }
    assert_eq!(m2.health().jobs.completed, 1);
    assert_eq!(status(&m2, "running"), JobStatus::InQueue);
    assert_eq!(
        m2.job("running").unwrap().submitted_at,
        0,
        "submission time kept"
    );
    m2.advance(40_000);
    let r = m2.job("running").unwrap();
    assert_eq!(r.status, JobStatus::Completed);
    assert_eq!(
        r.delay_time,
        Some(24_000.0),
        "queued since 0, picked up after the restart's cold start"
    );
    assert_eq!(status(&m2, "queued"), JobStatus::Completed);
    assert_eq!(
        m2.restore(40_000, m2.job("done").unwrap().clone(), sleep(1))
            .unwrap_err(),
        JobError::Duplicate
    );
}

#[test]
fn forget_drops_finished_jobs_only() {
    let mut m = Model::new(
        14,
        ModelConfig {
            max_workers: 1,
            ..cfg()
        },
    );
    m.start(0);
    m.submit(0, "done", sleep(10)).unwrap();
    m.submit(0, "long", sleep(60_000)).unwrap();
    m.advance(5_000);
    assert_eq!(
        m.forget("long").unwrap_err(),
        JobError::WrongState(JobStatus::InProgress)
    );
    assert_eq!(m.forget("done").unwrap().status, JobStatus::Completed);
    assert!(m.job("done").is_none());
    assert_eq!(m.held().ids, 1);
    assert_eq!(m.forget("done").unwrap_err(), JobError::NotFound);
    m.advance(100_000);
    assert_eq!(status(&m, "long"), JobStatus::Completed);
    assert_eq!(m.health().jobs.completed, 2, "counts keep forgotten jobs");
}

/// A server runs for days: the events of jobs long gone (a TTL of 24 h scheduled when
/// each job was queued) must not pile up in the model.
#[test]
fn events_of_ended_jobs_do_not_pile_up() {
    let mut m = Model::new(
        15,
        ModelConfig {
            min_workers: 2,
            ..cfg()
        },
    );
    m.start(0);
    m.advance(10_000);
    // 20,000 jobs of 10 ms, one every 100 ms: each ends well within its 24 h TTL.
    for i in 0..20_000i64 {
        let id = format!("j{i}");
        m.submit(10_000 + i * 100, &id, sleep(10)).unwrap();
        m.advance(10_000 + i * 100 + 50);
        assert_eq!(status(&m, &id), JobStatus::Completed);
        m.forget(&id).unwrap();
    }
    assert_eq!(m.held().ids, 0);
    assert!(
        m.held().events <= 2_048,
        "{} events pending for no live job",
        m.held().events
    );
    // The TTL of a job still queued is kept: it still expires.
    let busy = ModelConfig {
        max_workers: 0,
        ..cfg()
    };
    let mut m = Model::new(16, busy);
    m.start(0);
    let ttl = JobSpec {
        ttl_ms: 60_000,
        ..sleep(10)
    };
    m.submit(0, "waits", ttl).unwrap();
    for i in 0..5_000i64 {
        let id = format!("c{i}");
        m.submit(i, &id, sleep(10)).unwrap();
        m.cancel(i, &id).unwrap();
        m.forget(&id).unwrap();
    }
    m.advance(59_999);
    assert_eq!(status(&m, "waits"), JobStatus::InQueue);
    m.advance(60_000);
    assert_eq!(status(&m, "waits"), JobStatus::TimedOut);
}

/// Neither do the workers that scaled down: each job here starts a worker (a cold
/// start), which stops 5 s after it; the model keeps only the live ones.
#[test]
fn stopped_workers_are_dropped() {
    let mut m = Model::new(17, cfg());
    m.start(0);
    let mut cold = 0;
    for i in 0..2_000i64 {
        let t = i * 60_000;
        m.submit(t, &format!("j{i}"), sleep(10)).unwrap();
        m.advance(t + 30_000);
        cold += m
            .drain_changes()
            .iter()
            .filter(|c| matches!(c, Change::ColdStart(_)))
            .count();
    }
    assert_eq!(cold, 2_000, "every job found the endpoint scaled to zero");
    assert_eq!(m.held().workers, 0);
    assert!(m.held().events <= 2_048, "{}", m.held().events);
    m.submit(2_000 * 60_000, "last", sleep(10)).unwrap();
    assert_eq!(m.held().workers, 1);
    m.advance(2_000 * 60_000 + 10_000);
    assert_eq!(status(&m, "last"), JobStatus::Completed);
    assert_eq!(
        m.job("last").unwrap().worker_id.as_deref(),
        Some("worker-2000-r0"),
        "worker numbers are not reused"
    );
}

fn external() -> Model {
    let mut m = Model::new(
        1,
        ModelConfig {
            min_workers: 2,
            external_workers: true,
            ..cfg()
        },
    );
    m.start(0);
    m
}

#[test]
fn external_workers_are_driven_from_outside() {
    let mut m = external();
    m.advance(500);
    assert_eq!(
        m.health().workers.initializing,
        0,
        "the model starts none itself"
    );
    m.submit(1_000, "a", JobSpec::default()).unwrap();
    m.submit(1_100, "b", JobSpec::default()).unwrap();
    m.advance(100_000);
    assert_eq!(
        status(&m, "a"),
        JobStatus::InQueue,
        "nothing runs without a worker"
    );
    m.add_worker(100_000, "w1", WorkerState::Initializing)
        .unwrap();
    assert_eq!(m.take(100_000, "w1", 1).unwrap(), vec![], "not ready yet");
    assert_eq!(m.worker_ready(102_500, "w1").unwrap(), Some(2_500));
    assert_eq!(m.worker_ready(102_600, "w1").unwrap(), None, "once");
    let cold: Vec<_> = m
        .drain_changes()
        .into_iter()
        .filter_map(|c| match c {
            Change::ColdStart(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(cold.len(), 1);
    assert_eq!((cold[0].started_at, cold[0].ready_at), (100_000, 102_500));
    // A batch take hands out both, oldest first, and both run at once.
    let got = m.take(103_000, "w1", 5).unwrap();
    assert_eq!(
        got.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(got[0].delay_time, Some(102_000.0));
    assert_eq!(m.health().jobs.in_progress, 2);
    assert_eq!(m.worker_state("w1"), Some(WorkerState::Running));
    // A result from another worker, or after the end, is refused.
    m.add_worker(103_000, "w2", WorkerState::Initializing)
        .unwrap();
    assert_eq!(
        m.complete(103_500, "a", "w2", Ok(())).unwrap_err(),
        JobError::WrongState(JobStatus::InProgress)
    );
    let r = m.complete(104_000, "a", "w1", Ok(())).unwrap();
    assert_eq!(
        (r.status, r.execution_time),
        (JobStatus::Completed, Some(1_000.0))
    );
    assert_eq!(
        m.complete(104_100, "a", "w1", Ok(())).unwrap_err(),
        JobError::WrongState(JobStatus::Completed)
    );
    m.complete(104_200, "b", "w1", Err("boom".into())).unwrap();
    assert_eq!(status(&m, "b"), JobStatus::Failed);
    assert_eq!(m.worker_state("w1"), Some(WorkerState::Idle));
    assert_eq!(m.worker_idle_since("w1"), Some(104_200));
    m.advance(10_000_000);
    assert_eq!(
        m.worker_state("w1"),
        Some(WorkerState::Idle),
        "no idle stop by itself"
    );
}

#[test]
fn external_workers_lost_timed_out_and_released() {
    let mut m = external();
    m.add_worker(0, "w1", WorkerState::Initializing).unwrap();
    m.worker_ready(1_000, "w1").unwrap();
    m.submit(2_000, "a", JobSpec::default()).unwrap();
    m.submit(2_100, "late", JobSpec::default()).unwrap();
    m.take(2_200, "w1", 1).unwrap();
    // The worker dies: the job is queued again, ahead of the later one, counted.
    assert_eq!(m.requeue_worker(3_000, "w1").unwrap(), ["a"]);
    let r = m.job("a").unwrap();
    assert_eq!(
        (r.status, r.retries, r.submitted_at),
        (JobStatus::InQueue, 1, 2_000)
    );
    assert_eq!(m.health().jobs.retried, 1);
    m.set_worker_state(3_000, "w1", None).unwrap();
    m.add_worker(3_000, "w2", WorkerState::Throttled).unwrap();
    assert_eq!(
        m.take(3_100, "w2", 1).unwrap(),
        vec![],
        "throttled takes nothing"
    );
    m.set_worker_state(4_000, "w2", Some(WorkerState::Initializing))
        .unwrap();
    assert_eq!(
        m.worker_ready(5_500, "w2").unwrap(),
        Some(1_500),
        "from leaving Throttled"
    );
    let spec = JobSpec {
        execution_timeout_ms: 2_000,
        ..JobSpec::default()
    };
    m.submit(5_600, "t", spec).unwrap();
    let got = m.take(6_000, "w2", 3).unwrap();
    assert_eq!(
        got.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a", "late", "t"]
    );
    m.advance(8_000);
    let t = m.job("t").unwrap();
    assert_eq!(t.status, JobStatus::TimedOut);
    assert_eq!(
        t.worker_id.as_deref(),
        Some("w2"),
        "its worker is named: it must stop it"
    );
    assert!(
        m.complete(8_100, "t", "w2", Ok(())).is_err(),
        "a late result"
    );
    // A release: the busy worker is outdated and gets no more jobs.
    m.release(9_000);
    assert_eq!(m.worker_state("w2"), Some(WorkerState::Outdated));
    m.submit(9_100, "after", JobSpec::default()).unwrap();
    assert_eq!(m.take(9_200, "w2", 1).unwrap(), vec![]);
    m.complete(9_300, "a", "w2", Ok(())).unwrap();
    assert_eq!(
        m.worker_state("w2"),
        Some(WorkerState::Outdated),
        "stays until stopped"
    );
    assert_eq!(m.queued(), 1);
    assert_eq!(m.oldest_wait(10_100), Some(1_000));
}
