//! The panel's copy of an endpoint's records for the window on screen, and the
//! numbers endpoint-core computes from them.
//!
//! A snapshot fills it once; each refresh merges only the changes since the last
//! cursor (each job's old contribution out, the new one in, nothing rebuilt). When a
//! live window slides to a new bucket, or the bucket width changes, the aggregation
//! is rebuilt from the store in one pass (about 50 ms for a million jobs) without
//! asking the server again; only a window reaching further back than the data needs
//! a new snapshot.

use std::collections::HashMap;

use endpoint_core::feed::{Changes, Events, Snapshot};
use endpoint_core::query::Listing;
use endpoint_core::{
    Aggregation, Aggregator, JobStatus, JobStore, RecordError, Window, WorkerState,
};

use crate::jobs::detail::JobDetail;
use crate::jobs::view::JobsView;

/// The percentiles every chart shows.
pub const QUANTILES: [f64; 3] = [0.70, 0.90, 0.98];

/// Stores above this size are compacted when most of their rows fell out of the window.
const COMPACT_ABOVE: usize = 20_000;

/// What is happening right now (from the newest records, not from a bucket).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NowCounts {
    /// Jobs waiting for a worker.
    pub in_queue: u64,
    /// Jobs running.
    pub in_progress: u64,
    /// Workers in each state, indexed like [`WorkerState::ALL`].
    pub workers: [u32; 6],
}

/// The records of one endpoint and their aggregation over a window.
#[derive(Debug)]
pub struct MetricsData {
    store: JobStore,
    events: Events,
    cursor: u64,
    /// Records are complete from here on (the snapshot's start)...
    covered_from: i64,
    /// ...up to here (the snapshot's end)...
    covered_to: i64,
    /// ...or up to now and on, when the snapshot reached past the time it was taken
    /// (the change feed then brings everything after).
    live: bool,
    window: Window,
    agg: Aggregator,
    in_queue: u64,
    in_progress: u64,
    worker_state: HashMap<String, WorkerState>,
}

impl MetricsData {
    /// Takes a snapshot made at `now` and aggregates it over `window`.
    pub fn from_snapshot(snap: Snapshot, window: Window, now: i64) -> Self {
        let mut d = MetricsData {
            agg: Aggregator::new(window, &QUANTILES).expect("valid quantiles"),
            store: snap.jobs,
            events: Events::default(),
            cursor: snap.cursor,
            covered_from: snap.from,
            covered_to: snap.to,
            live: snap.to > now,
            window,
            in_queue: 0,
            in_progress: 0,
            worker_state: HashMap::new(),
        };
        for row in 0..d.store.len() as u32 {
            d.count_status(d.store.row(row).status, 1);
        }
        d.take_transitions(&snap.events.transitions);
        d.events = snap.events;
        d.rebuild();
        d
    }

    /// Builds the store's id index if it was decoded without it; a job held twice
    /// refuses the records (see `JobStore::index_ids`).
    pub fn index_ids(&mut self) -> Result<(), endpoint_core::RecordError> {
        self.store.index_ids()
    }

    /// The change-feed cursor to ask from next.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The window aggregated.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Whether `window` can be served from the records held (else take a snapshot).
    pub fn covers(&self, window: &Window) -> bool {
        window.from >= self.covered_from && (self.live || window.to <= self.covered_to)
    }

    /// Merges a page of changes, all or nothing: a record that fails validation
    /// refuses the whole page with the cause, and the cursor stays put, so nothing is
    /// skipped or applied twice.
    pub fn merge(&mut self, ch: &Changes) -> Result<(), RecordError> {
        // All or nothing: check every record before touching anything.
        for j in &ch.jobs {
            j.validate()?;
        }
        for c in &ch.cold_starts {
            c.validate()?;
        }
        for j in &ch.jobs {
            let change = self.store.upsert(j)?;
            if let endpoint_core::store::Upsert::Updated { old, .. } = change {
                self.count_status(old.status, -1);
            }
            self.count_status(j.status, 1);
            self.agg.apply(&self.store, change);
        }
        for c in &ch.cold_starts {
            self.agg.add_cold_start(c)?;
        }
        for d in &ch.deliveries {
            self.agg.add_delivery(d);
        }
        self.agg.add_transitions(&ch.transitions);
        self.take_transitions(&ch.transitions);
        self.events.cold_starts.extend_from_slice(&ch.cold_starts);
        self.events.deliveries.extend_from_slice(&ch.deliveries);
        self.events.transitions.extend_from_slice(&ch.transitions);
        self.cursor = ch.cursor;
        Ok(())
    }

    /// Moves to `window` (a slide, or a new bucket width): rebuilds the aggregation
    /// from the records held, and says so. Does nothing if the window is unchanged.
    pub fn set_window(&mut self, window: Window) -> bool {
        if window == self.window {
            return false;
        }
        self.window = window;
        self.compact();
        self.rebuild();
        true
    }

    /// The job records held.
    pub fn store(&self) -> &JobStore {
        &self.store
    }

    /// The worker events, cold starts and webhook attempts held.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The job list for `view` over the window aggregated.
    pub fn list(&self, view: &JobsView) -> Listing {
        let filter = view.filter(&self.window, &self.store, &self.events);
        endpoint_core::query::list(&self.store, &filter, view.sort)
    }

    /// Everything held about job `id`.
    pub fn detail(&self, id: &str) -> Option<JobDetail> {
        let row = self.store.find(id)?;
        Some(JobDetail::of(&self.store, &self.events, row))
    }

    /// The numbers of every bucket and of the whole window.
    pub fn result(&mut self) -> Aggregation {
        self.agg.result()
    }

    /// Jobs queued and running, and workers by state, now.
    pub fn now(&self) -> NowCounts {
        let mut workers = [0u32; 6];
        for s in self.worker_state.values() {
            workers[s.index()] += 1;
        }
        NowCounts {
            in_queue: self.in_queue,
            in_progress: self.in_progress,
            workers,
        }
    }

    fn count_status(&mut self, s: JobStatus, sign: i64) {
        let slot = match s {
            JobStatus::InQueue => &mut self.in_queue,
            JobStatus::InProgress => &mut self.in_progress,
            _ => return,
        };
        *slot = slot.saturating_add_signed(sign);
    }

    fn take_transitions(&mut self, ts: &[endpoint_core::WorkerTransition]) {
        for t in ts {
            match t.state {
                Some(s) => {
                    self.worker_state.insert(t.worker_id.clone(), s);
                }
                None => {
                    self.worker_state.remove(&t.worker_id);
                }
            }
        }
    }

    fn rebuild(&mut self) {
        let mut agg =
            Aggregator::from_store(self.window, &QUANTILES, &self.store).expect("valid quantiles");
        for c in &self.events.cold_starts {
            // Validated when they arrived.
            let _ = agg.add_cold_start(c);
        }
        for d in &self.events.deliveries {
            agg.add_delivery(d);
        }
        agg.add_transitions(&self.events.transitions);
        self.agg = agg;
    }

    /// Drops records and events that ended before the window (keeping unfinished
    /// jobs and each worker's latest state), when they are most of a large store.
    fn compact(&mut self) {
        let from = self.window.from;
        let keep = |r: &endpoint_core::store::Row| {
            !r.status.is_terminal() || r.completed_at().unwrap_or(i64::MAX) >= from
        };
        if self.store.len() > COMPACT_ABOVE {
            let rows: Vec<u32> = (0..self.store.len() as u32)
                .filter(|&row| keep(&self.store.row(row)))
                .collect();
            if rows.len() * 2 < self.store.len() {
                self.store = self.store.select(&rows);
            }
        }
        self.events.prune_before(from);
        self.covered_from = self.covered_from.max(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endpoint_sim::demo::{Demo, DemoConfig};

    const NOW: i64 = 1_800_000_000_000;
    const H: i64 = 3_600_000;

    fn demo() -> Demo {
        Demo::new(
            3,
            NOW,
            DemoConfig {
                history_ms: 3 * H,
                ..DemoConfig::default()
            },
        )
    }

    fn fresh(demo: &Demo, w: Window) -> Aggregation {
        MetricsData::from_snapshot(demo.snapshot(w.from, w.to), w, demo.now()).result()
    }

    #[test]
    fn merging_changes_gives_what_a_fresh_snapshot_gives() {
        let mut demo = demo();
        let w = Window::new(NOW - H, NOW + 10 * 60_000, 60_000).unwrap();
        let mut d = MetricsData::from_snapshot(demo.snapshot(w.from, w.to), w, NOW);
        for step in 1..=10 {
            demo.advance(NOW + step * 60_000);
            let ch = demo.changes_since(d.cursor(), 100_000).unwrap();
            d.merge(&ch).unwrap();
        }
        assert_eq!(d.result(), fresh(&demo, w));
        let h = demo.health();
        let now = d.now();
        assert_eq!(now.in_queue, h.jobs.in_queue);
        assert_eq!(now.in_progress, h.jobs.in_progress);
        assert_eq!(
            now.workers[WorkerState::Running.index()] as u64,
            h.workers.running
        );
        assert_eq!(
            now.workers[WorkerState::Idle.index()] as u64,
            h.workers.idle
        );
    }

    #[test]
    fn sliding_the_window_rebuilds_from_the_records_held() {
        let mut demo = demo();
        // A live window: it ends after now, so the change feed brings the rest.
        let w1 = Window::new(NOW - 2 * H, NOW + 300_000, 300_000).unwrap();
        let mut d = MetricsData::from_snapshot(demo.snapshot(w1.from, w1.to), w1, NOW);
        demo.advance(NOW + 30 * 60_000);
        d.merge(&demo.changes_since(d.cursor(), 100_000).unwrap())
            .unwrap();
        let w2 = Window::new(NOW - H, NOW + 30 * 60_000, 60_000).unwrap();
        assert!(d.covers(&w2));
        d.set_window(w2);
        let (got, want) = (d.result(), fresh(&demo, w2));
        for (i, (g, w)) in got.buckets.iter().zip(&want.buckets).enumerate() {
            assert_eq!(g.requests, w.requests, "bucket {i}");
            assert_eq!(g.execution, w.execution, "bucket {i}");
            assert_eq!(g.delay, w.delay, "bucket {i}");
            assert_eq!(g.cold_start, w.cold_start, "bucket {i}");
            assert_eq!(g.webhooks, w.webhooks, "bucket {i}");
            assert_eq!(g.workers, w.workers, "bucket {i}");
        }
        assert_eq!(got, want);
        let earlier = Window::new(NOW - 3 * H, NOW, 300_000).unwrap();
        assert!(!d.covers(&earlier), "older data needs a snapshot");
    }

    #[test]
    fn a_bad_record_stops_the_merge_and_keeps_the_cursor() {
        let demo = demo();
        let w = Window::new(NOW - H, NOW, 60_000).unwrap();
        let mut d = MetricsData::from_snapshot(demo.snapshot(w.from, w.to), w, NOW);
        let before = d.cursor();
        let mut bad = endpoint_core::JobRecord::queued("x", NOW - 10);
        bad.status = JobStatus::Completed;
        let ch = Changes {
            cursor: before + 5,
            jobs: vec![bad],
            ..Changes::default()
        };
        let e = d.merge(&ch).unwrap_err();
        assert!(e.to_string().contains("job `x`"), "{e}");
        assert_eq!(d.cursor(), before);
    }
}
