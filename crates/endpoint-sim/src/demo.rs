//! The Demo endpoint: the endpoint model, fed by seeded traffic, serving the same
//! metrics feed as the server ([`FeedLog`]), all in memory. The panel runs it in the
//! browser so that `trunk serve` alone (or a static deployment) shows a live panel.
//!
//! On creation it plays a day (configurable) of history in virtual time, so the
//! charts are full at once; after that [`Demo::advance`] moves it to the wall clock
//! and the traffic keeps coming. Traffic follows a daily wave, some jobs carry a
//! (simulated) webhook, workers get throttled or turn unhealthy now and then, and a
//! release halfway through the history shows outdated workers.
//!
//! ```
//! use endpoint_sim::demo::{Demo, DemoConfig};
//!
//! let now = 1_700_000_000_000;
//! let cfg = DemoConfig { history_ms: 3_600_000, ..DemoConfig::default() };
//! let mut demo = Demo::new(7, now, cfg);
//! let snap = demo.snapshot(now - 3_600_000, now);
//! assert!(snap.jobs.len() > 500);
//! demo.advance(now + 60_000);
//! let changes = demo.changes_since(snap.cursor, 10_000).unwrap();
//! assert!(!changes.jobs.is_empty());
//! ```

use endpoint_core::feed::{Changes, Snapshot};
use endpoint_core::{Health, JobRecord};

use crate::feed::{CursorExpired, FeedLog};
use crate::model::{JobError, JobSpec, Model, ModelConfig};
use crate::{Dist, Rng, Traffic, TrafficConfig};

/// How busy the Demo endpoint is.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Mean arrivals per second, averaged over the daily wave.
    pub rate_per_sec: f64,
    /// History played at start, ms before now.
    pub history_ms: i64,
    /// Most workers.
    pub max_workers: u32,
    /// How long records are kept: older jobs and events are forgotten, as the server
    /// forgets what falls out of its metrics retention, so a Demo left running for
    /// days holds as much as it did after its first hour. At least `history_ms`.
    pub retention_ms: i64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            rate_per_sec: 0.4,
            history_ms: 86_400_000,
            max_workers: 6,
            retention_ms: 86_400_000,
        }
    }
}

/// Period of the traffic wave: a day.
const DAY_MS: f64 = 86_400_000.0;

/// An in-memory endpoint with its metrics feed.
#[derive(Debug)]
pub struct Demo {
    model: Model,
    log: FeedLog,
    traffic: Traffic,
    rng: Rng,
    /// When the next job arrives (virtual ms).
    next_arrival: f64,
    released_at: Option<i64>,
    release_due: i64,
    retention_ms: i64,
    next_prune: i64,
}

/// How often the Demo forgets what fell out of its retention (virtual ms): often
/// enough that it never holds more than a few minutes beyond it.
const PRUNE_EVERY_MS: i64 = 10 * 60_000;

impl Demo {
    /// A Demo endpoint whose history ends at `now`; `seed` fixes everything.
    pub fn new(seed: u64, now: i64, cfg: DemoConfig) -> Self {
        let model_cfg = ModelConfig {
            min_workers: 1,
            max_workers: cfg.max_workers,
            idle_timeout_ms: 30_000,
            failure_rate: 0.02,
            throttle_rate: 0.05,
            unhealthy_rate: 0.002,
            simulate_webhooks: true,
            webhook_failure_rate: 0.08,
            ..ModelConfig::default()
        };
        let start = now - cfg.history_ms;
        let mut model = Model::new(seed, model_cfg);
        model.start(start);
        let traffic = Traffic::new(
            seed ^ 0x5eed,
            TrafficConfig {
                rate_per_sec: cfg.rate_per_sec,
                execution: Dist::LogNormal {
                    median: 2_500.0,
                    sigma: 0.8,
                },
                failure_rate: 0.03,
            },
        );
        let mut demo = Demo {
            model,
            log: FeedLog::default(),
            traffic,
            rng: Rng::new(seed ^ 0xd3),
            next_arrival: start as f64,
            released_at: None,
            release_due: start + cfg.history_ms / 2,
            retention_ms: cfg.retention_ms.max(cfg.history_ms),
            next_prune: now + PRUNE_EVERY_MS,
        };
        demo.schedule_next();
        demo.advance(now);
        demo
    }

    /// Traffic follows a daily wave between 0.4x and 1.6x the mean rate.
    fn schedule_next(&mut self) {
        let job_gap = self.traffic.next_job().gap_ms;
        let phase = (self.next_arrival / DAY_MS) * std::f64::consts::TAU;
        let factor = 1.0 + 0.6 * phase.sin();
        self.next_arrival += job_gap / factor;
    }

    /// Moves the endpoint to `now`: submits every job that arrives by then and
    /// publishes what changed. Time never runs backwards.
    pub fn advance(&mut self, now: i64) {
        while (self.next_arrival as i64) <= now {
            let at = self.next_arrival as i64;
            if self.released_at.is_none() && at >= self.release_due {
                self.model.advance(at);
                self.model.release(at);
                self.released_at = Some(at);
            }
            let job = self.traffic.next_job();
            let id = endpoint_core::store::format_uuid(
                (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64()),
            );
            let spec = JobSpec {
                sleep_ms: Some(job.sleep_ms),
                fail: job.fail,
                webhook: self.rng.next_f64() < 0.3,
                low_priority: self.rng.next_f64() < 0.05,
                ..JobSpec::default()
            };
            // Ids are random 128-bit values: a clash is not a case to handle.
            let _ = self.model.submit(at, &id, spec);
            self.publish();
            self.schedule_next();
        }
        self.model.advance(now);
        self.publish();
        if now >= self.next_prune {
            self.next_prune = now + PRUNE_EVERY_MS;
            self.log.prune(now - self.retention_ms);
        }
    }

    /// The oldest time the Demo still holds records from.
    pub fn retained_from(&self) -> i64 {
        self.model.now() - self.retention_ms
    }

    /// Job records and events held (what its memory grows with).
    pub fn held(&self) -> (usize, usize) {
        let events = self.log.events();
        (
            self.log.store().len(),
            events.transitions.len() + events.cold_starts.len() + events.deliveries.len(),
        )
    }

    fn publish(&mut self) {
        for c in self.model.drain_changes() {
            // The model only produces valid records.
            let _ = self.log.apply(c);
        }
    }

    /// The model's current time.
    pub fn now(&self) -> i64 {
        self.model.now()
    }

    /// The window `[from, to)` as the server's snapshot would give it.
    pub fn snapshot(&self, from: i64, to: i64) -> Snapshot {
        self.log.snapshot(from, to)
    }

    /// Keeps at most `capacity` changes to answer cursors from (older cursors are
    /// told to take a new snapshot, as the server's are).
    pub fn set_log_capacity(&mut self, capacity: usize) {
        self.log.set_log_capacity(capacity);
    }

    /// The window `[from, to)` as the server's snapshot answer (EMC2 columns).
    pub fn snapshot_columns(&self, from: i64, to: i64) -> Vec<u8> {
        self.log.snapshot_columns(from, to)
    }

    /// Changes after `cursor` (at most `limit`).
    pub fn changes_since(&self, cursor: u64, limit: usize) -> Result<Changes, CursorExpired> {
        self.log.changes_since(cursor, limit)
    }

    /// Counts in RunPod's `/health` shape.
    pub fn health(&self) -> Health {
        self.model.health()
    }

    /// A job's current record.
    pub fn job(&self, id: &str) -> Option<&JobRecord> {
        self.model.job(id)
    }

    /// Cancels a job at the model's current time (as `/cancel`).
    pub fn cancel(&mut self, id: &str) -> Result<JobRecord, JobError> {
        let now = self.model.now();
        let r = self.model.cancel(now, id).cloned();
        self.publish();
        r
    }

    /// Retries a FAILED or TIMED_OUT job (as `/retry`).
    pub fn retry(&mut self, id: &str) -> Result<JobRecord, JobError> {
        let now = self.model.now();
        let r = self.model.retry(now, id).cloned();
        self.publish();
        r
    }

    /// Removes every queued job (as `/purge-queue`); returns how many.
    pub fn purge_queue(&mut self) -> usize {
        let now = self.model.now();
        let n = self.model.purge_queue(now);
        self.publish();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endpoint_core::{Aggregator, Window};

    const NOW: i64 = 1_800_000_000_000;

    fn small() -> DemoConfig {
        DemoConfig {
            history_ms: 6 * 3_600_000,
            ..DemoConfig::default()
        }
    }

    #[test]
    fn a_demo_left_running_holds_what_it_held_after_its_first_hour() {
        let cfg = DemoConfig {
            history_ms: 3_600_000,
            retention_ms: 3_600_000,
            ..DemoConfig::default()
        };
        let mut demo = Demo::new(3, NOW, cfg);
        let hour = 3_600_000;
        demo.advance(NOW + hour);
        let (jobs1, events1) = demo.held();
        assert!(jobs1 > 500 && events1 > 100, "{jobs1} {events1}");
        // A day later (the same hour of the daily wave), played in steps as the panel does.
        for step in 1..=24 * 60 {
            demo.advance(NOW + hour + step * 60_000);
        }
        let (jobs25, events25) = demo.held();
        let within = |a: usize, b: usize| (b as f64 - a as f64).abs() <= 0.1 * a as f64;
        assert!(within(jobs1, jobs25), "jobs {jobs1} -> {jobs25}");
        assert!(within(events1, events25), "events {events1} -> {events25}");
        // What is held starts at the retention.
        let snap = demo.snapshot(i64::MIN, i64::MAX);
        let oldest = (0..snap.jobs.len() as u32)
            .map(|r| snap.jobs.row(r).submitted_at)
            .min()
            .unwrap();
        assert!(
            oldest >= demo.retained_from() - 2 * PRUNE_EVERY_MS - 600_000,
            "{oldest}"
        );
    }

    #[test]
    fn the_history_fills_every_metric_of_the_tab() {
        let demo = Demo::new(1, NOW, small());
        let from = NOW - small().history_ms;
        let snap = demo.snapshot(from, NOW);
        let w = Window::new(from, NOW, 300_000).unwrap();
        let mut agg = Aggregator::from_store(w, &[0.7, 0.9, 0.98], &snap.jobs).unwrap();
        for c in &snap.events.cold_starts {
            agg.add_cold_start(c).unwrap();
        }
        for d in &snap.events.deliveries {
            agg.add_delivery(d);
        }
        agg.add_transitions(&snap.events.transitions);
        let t = agg.result().total;
        // 0.4/s over 6 h on a wave: thousands of jobs.
        assert!(t.requests.received > 4_000, "{:?}", t.requests);
        assert!(t.requests.completed > 3_000);
        assert!(t.requests.failed > 0);
        assert!(t.execution.count > 3_000 && t.delay.count > 3_000);
        assert!(t.cold_start.count > 0, "cold starts");
        assert!(t.webhooks.sent > 500 && t.webhooks.failure > 0);
        for (i, s) in t.workers.iter().enumerate() {
            // initializing, idle, running, throttled, outdated, unhealthy all appear.
            assert!(s.max.unwrap_or(0) > 0, "worker state {i} never seen");
        }
    }

    #[test]
    fn same_seed_same_demo_and_live_changes_follow_the_snapshot() {
        let a = Demo::new(5, NOW, small());
        let mut b = Demo::new(5, NOW, small());
        let (sa, sb) = (
            a.snapshot(NOW - 3_600_000, NOW),
            b.snapshot(NOW - 3_600_000, NOW),
        );
        assert_eq!(sa.jobs.len(), sb.jobs.len());
        assert_eq!(sa.cursor, sb.cursor);
        b.advance(NOW + 120_000);
        let ch = b.changes_since(sb.cursor, 100_000).unwrap();
        assert!(
            ch.jobs.iter().any(|j| j.submitted_at >= NOW),
            "new jobs arrive"
        );
        assert!(ch.jobs.iter().all(|j| j.submitted_at <= NOW + 120_000));
        assert!(ch.cursor > sb.cursor);
        assert!(
            b.changes_since(ch.cursor, 10).unwrap().is_empty(),
            "nothing after the end"
        );
    }

    #[test]
    fn cancel_and_purge_act_on_the_demo_endpoint() {
        let mut d = Demo::new(9, NOW, small());
        let queued = d.health().jobs.in_queue;
        let n = d.purge_queue();
        assert_eq!(n as u64, queued);
        assert_eq!(d.health().jobs.in_queue, 0);
        d.advance(NOW + 600_000);
        let id = d.snapshot(NOW, NOW + 600_001).jobs.id(0);
        assert!(d.cancel(&id).is_ok() || d.job(&id).unwrap().status.is_terminal());
        assert!(matches!(d.cancel("no-such-job"), Err(JobError::NotFound)));
    }
}
