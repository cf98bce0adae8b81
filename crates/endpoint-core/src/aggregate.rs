//! The Metrics tab's numbers: records + a window + a bucket width -> per bucket and
//! for the whole window.
//!
//! Which time puts a job in a bucket (see docs/metrics.md):
//!
//! | metric | bucket by |
//! |---|---|
//! | received, retried (jobs retried at least once) | `submittedAt` |
//! | completed, failed, cancelled, timed out | `completedAt` |
//! | execution time (jobs that ran and ended) | `completedAt` |
//! | delay time (jobs that started) | `startedAt` |
//! | cold start time and count | `readyAt` |
//! | webhook sent / success (2xx) / failure, per attempt | the attempt's `at` |
//! | workers by state | time-weighted over the bucket |
//!
//! Incremental use: [`Aggregator::upsert`] puts a record in the store and moves only
//! that job's contributions (counts, and one binary-search insert/remove per metric);
//! nothing is rebuilt. Worker transitions are kept as a list and their per-bucket
//! statistics are recomputed on [`Aggregator::result`] (they are few).

use serde::{Deserialize, Serialize};

use crate::error::RecordError;
use crate::job::{JobRecord, JobStatus};
use crate::quantile::{QuantileError, check_q};
use crate::runs::{Distribution, Runs};
use crate::store::{JobStore, Row, Upsert};
#[cfg(test)]
use crate::worker::WorkerState;
use crate::worker::{ColdStart, WebhookDelivery, WorkerTransition};

/// A time range `[from, to)` cut into buckets of `bucket` ms (the last may be partial).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    /// Start, ms since the epoch (inclusive).
    pub from: i64,
    /// End, ms since the epoch (exclusive).
    pub to: i64,
    /// Bucket width, ms.
    pub bucket: i64,
}

/// Most buckets a window may have (a chart wider than this is unreadable anyway).
pub const MAX_BUCKETS: i64 = 10_000;

/// Why a window or a quantile list was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AggregateError {
    /// `to` must be after `from`.
    #[error("window ends ({to}) before or when it starts ({from})")]
    EmptyWindow {
        /// Start.
        from: i64,
        /// End.
        to: i64,
    },
    /// The bucket width must be positive.
    #[error("bucket width must be at least 1 ms, got {0}")]
    BadBucket(i64),
    /// Too many buckets: widen them.
    #[error("{0} buckets is more than {MAX_BUCKETS}: use wider buckets")]
    TooManyBuckets(i64),
    /// A bad quantile.
    #[error(transparent)]
    Quantile(#[from] QuantileError),
}

impl Window {
    /// A checked window.
    pub fn new(from: i64, to: i64, bucket: i64) -> Result<Self, AggregateError> {
        if to <= from {
            return Err(AggregateError::EmptyWindow { from, to });
        }
        if bucket < 1 {
            return Err(AggregateError::BadBucket(bucket));
        }
        let n = ceil_div(to - from, bucket);
        if n > MAX_BUCKETS {
            return Err(AggregateError::TooManyBuckets(n));
        }
        Ok(Window { from, to, bucket })
    }

    /// Number of buckets.
    pub fn buckets(&self) -> usize {
        ceil_div(self.to - self.from, self.bucket) as usize
    }

    /// The bucket holding instant `t`, if `t` is in the window.
    #[inline]
    pub fn bucket_of(&self, t: i64) -> Option<usize> {
        if t < self.from || t >= self.to {
            None
        } else {
            Some(((t - self.from) / self.bucket) as usize)
        }
    }

    /// `[start, end)` of bucket `i`.
    pub fn bounds(&self, i: usize) -> (i64, i64) {
        let start = self.from + i as i64 * self.bucket;
        (start, (start + self.bucket).min(self.to))
    }
}

/// `a / b` rounded up, for `a >= 0`, `b > 0`.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

/// Request counts of a bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    /// Jobs submitted.
    pub received: u64,
    /// Jobs completed.
    pub completed: u64,
    /// Jobs failed.
    pub failed: u64,
    /// Jobs (by submission) that were retried at least once.
    pub retried: u64,
    /// Jobs cancelled.
    pub cancelled: u64,
    /// Jobs timed out.
    pub timed_out: u64,
}

/// Webhook attempts of a bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCounts {
    /// Attempts made.
    pub sent: u64,
    /// Attempts answered 2xx.
    pub success: u64,
    /// Attempts answered otherwise or not at all.
    pub failure: u64,
}

/// Workers in one state over a bucket: time-weighted average and maximum. `None`
/// where no worker state is known (before the first transition).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StateStat {
    /// Time-weighted average number of workers in the state.
    pub avg: Option<f64>,
    /// Most workers in the state at any instant.
    pub max: Option<u32>,
}

/// Everything the Metrics tab shows for one bucket (or the whole window).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketStats {
    /// Start, ms since the epoch.
    pub start: i64,
    /// End (exclusive).
    pub end: i64,
    /// Request counts.
    pub requests: RequestCounts,
    /// Execution time.
    pub execution: Distribution,
    /// Delay time.
    pub delay: Distribution,
    /// Cold start time.
    pub cold_start: Distribution,
    /// Webhook attempts.
    pub webhooks: WebhookCounts,
    /// Workers by state, indexed like [`crate::WorkerState::ALL`].
    pub workers: [StateStat; 6],
}

impl BucketStats {
    /// Cold start count (the cold start distribution's count).
    pub fn cold_starts(&self) -> u64 {
        self.cold_start.count
    }
}

/// The result of an aggregation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Aggregation {
    /// The window.
    pub window: Window,
    /// The quantiles computed, in order (e.g. 0.70, 0.90, 0.98).
    pub quantiles: Vec<f64>,
    /// One entry per bucket.
    pub buckets: Vec<BucketStats>,
    /// The whole window.
    pub total: BucketStats,
}

/// Incremental aggregation of one window.
#[derive(Debug, Clone)]
pub struct Aggregator {
    window: Window,
    qs: Vec<f64>,
    requests: Vec<RequestCounts>,
    execution: Runs,
    delay: Runs,
    cold_start: Runs,
    webhooks: Vec<WebhookCounts>,
    transitions: Vec<Transition>,
    transitions_sorted: bool,
    worker_numbers: std::collections::HashMap<String, u32>,
}

/// A worker transition, compact: the worker as a number, the state as its index
/// (`-1`: stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Transition {
    at: i64,
    worker: u32,
    state: i8,
}

impl Aggregator {
    /// An empty aggregation of `window` at quantiles `qs` (each in [0, 1]).
    pub fn new(window: Window, qs: &[f64]) -> Result<Self, AggregateError> {
        for &q in qs {
            check_q(q)?;
        }
        let n = window.buckets();
        Ok(Aggregator {
            window,
            qs: qs.to_vec(),
            requests: vec![RequestCounts::default(); n],
            execution: Runs::new(n),
            delay: Runs::new(n),
            cold_start: Runs::new(n),
            webhooks: vec![WebhookCounts::default(); n],
            transitions: Vec::new(),
            transitions_sorted: true,
            worker_numbers: Default::default(),
        })
    }

    /// Aggregates every job of `store` in one pass (the fast path for a snapshot).
    pub fn from_store(
        window: Window,
        qs: &[f64],
        store: &JobStore,
    ) -> Result<Self, AggregateError> {
        let mut agg = Aggregator::new(window, qs)?;
        let n = window.buckets();
        // Sized for every job at once: growing by doubling copies each column
        // about twice over, which in wasm (no mremap) is a memcpy each time.
        let mut exec_b = Vec::with_capacity(store.len());
        let mut exec_v = Vec::with_capacity(store.len());
        let mut delay_b = Vec::with_capacity(store.len());
        let mut delay_v = Vec::with_capacity(store.len());
        for row in 0..store.len() as u32 {
            let r = store.row(row);
            agg.count(&r, 1);
            if let Some((b, v)) = agg.execution_sample(&r) {
                exec_b.push(b as u32);
                exec_v.push(v);
            }
            if let Some((b, v)) = agg.delay_sample(&r) {
                delay_b.push(b as u32);
                delay_v.push(v);
            }
        }
        agg.execution = Runs::build(n, &exec_b, &exec_v);
        agg.delay = Runs::build(n, &delay_b, &delay_v);
        Ok(agg)
    }

    /// The window.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Puts `record` in `store` and updates the aggregation by that one job (its old
    /// contributions out, the new ones in). Invalid records change nothing.
    pub fn upsert(
        &mut self,
        store: &mut JobStore,
        record: &JobRecord,
    ) -> Result<Upsert, RecordError> {
        let change = store.upsert(record)?;
        self.apply(store, change);
        Ok(change)
    }

    /// Applies a change already made to `store` (see [`JobStore::upsert`]).
    pub fn apply(&mut self, store: &JobStore, change: Upsert) {
        let (row, old) = match change {
            Upsert::Inserted(row) => (row, None),
            Upsert::Updated { row, old } => (row, Some(old)),
        };
        if let Some(old) = old {
            self.count(&old, -1);
            if let Some((b, v)) = self.execution_sample(&old) {
                self.execution.remove(b, v);
            }
            if let Some((b, v)) = self.delay_sample(&old) {
                self.delay.remove(b, v);
            }
        }
        let new = store.row(row);
        self.count(&new, 1);
        if let Some((b, v)) = self.execution_sample(&new) {
            self.execution.insert(b, v);
        }
        if let Some((b, v)) = self.delay_sample(&new) {
            self.delay.insert(b, v);
        }
    }

    /// Adds a cold start (bucketed by `readyAt`).
    pub fn add_cold_start(&mut self, c: &ColdStart) -> Result<(), RecordError> {
        let d = c.validate()?;
        if let Some(b) = self.window.bucket_of(c.ready_at) {
            self.cold_start.insert(b, d);
        }
        Ok(())
    }

    /// Adds a webhook attempt (bucketed by its `at`).
    pub fn add_delivery(&mut self, d: &WebhookDelivery) {
        if let Some(b) = self.window.bucket_of(d.at) {
            let w = &mut self.webhooks[b];
            w.sent += 1;
            if d.succeeded() {
                w.success += 1;
            } else {
                w.failure += 1;
            }
        }
    }

    /// Adds worker state transitions (any order).
    pub fn add_transitions(&mut self, ts: &[WorkerTransition]) {
        self.transitions.reserve(ts.len());
        for t in ts {
            let next = self.worker_numbers.len() as u32;
            let worker = match self.worker_numbers.get(t.worker_id.as_str()) {
                Some(&n) => n,
                None => {
                    self.worker_numbers.insert(t.worker_id.clone(), next);
                    next
                }
            };
            let state = t.state.map_or(-1, |s| s.index() as i8);
            if self.transitions.last().is_some_and(|l| l.at > t.at) {
                self.transitions_sorted = false;
            }
            self.transitions.push(Transition {
                at: t.at,
                worker,
                state,
            });
        }
    }

    fn count(&mut self, r: &Row, sign: i64) {
        let add = |x: &mut u64| *x = x.wrapping_add_signed(sign);
        if let Some(b) = self.window.bucket_of(r.submitted_at) {
            let c = &mut self.requests[b];
            add(&mut c.received);
            if r.retries > 0 {
                add(&mut c.retried);
            }
        }
        if let Some(b) = r.completed_at().and_then(|t| self.window.bucket_of(t)) {
            let c = &mut self.requests[b];
            match r.status {
                JobStatus::Completed => add(&mut c.completed),
                JobStatus::Failed => add(&mut c.failed),
                JobStatus::Cancelled => add(&mut c.cancelled),
                JobStatus::TimedOut => add(&mut c.timed_out),
                JobStatus::InQueue | JobStatus::InProgress => {}
            }
        }
    }

    #[inline]
    fn execution_sample(&self, r: &Row) -> Option<(usize, u32)> {
        if !r.started || !r.status.is_terminal() {
            return None;
        }
        Some((self.window.bucket_of(r.completed_at()?)?, r.execution?))
    }

    #[inline]
    fn delay_sample(&self, r: &Row) -> Option<(usize, u32)> {
        Some((self.window.bucket_of(r.started_at()?)?, r.delay?))
    }

    /// The numbers of every bucket and of the whole window.
    pub fn result(&mut self) -> Aggregation {
        if !self.transitions_sorted {
            // Stable: transitions at the same instant keep their arrival order.
            self.transitions.sort_by_key(|t| t.at);
            self.transitions_sorted = true;
        }
        let (workers, workers_total) =
            worker_stats(&self.transitions, &self.window, self.worker_numbers.len());
        let qs = &self.qs;
        let buckets: Vec<BucketStats> = (0..self.window.buckets())
            .map(|b| {
                let (start, end) = self.window.bounds(b);
                BucketStats {
                    start,
                    end,
                    requests: self.requests[b],
                    execution: self.execution.bucket_stats(b, qs),
                    delay: self.delay.bucket_stats(b, qs),
                    cold_start: self.cold_start.bucket_stats(b, qs),
                    webhooks: self.webhooks[b],
                    workers: workers[b],
                }
            })
            .collect();
        let mut requests = RequestCounts::default();
        let mut webhooks = WebhookCounts::default();
        for b in &buckets {
            let r = &b.requests;
            requests.received += r.received;
            requests.completed += r.completed;
            requests.failed += r.failed;
            requests.retried += r.retried;
            requests.cancelled += r.cancelled;
            requests.timed_out += r.timed_out;
            webhooks.sent += b.webhooks.sent;
            webhooks.success += b.webhooks.success;
            webhooks.failure += b.webhooks.failure;
        }
        let total = BucketStats {
            start: self.window.from,
            end: self.window.to,
            requests,
            execution: self.execution.total_stats(qs),
            delay: self.delay.total_stats(qs),
            cold_start: self.cold_start.total_stats(qs),
            webhooks,
            workers: workers_total,
        };
        Aggregation {
            window: self.window,
            quantiles: self.qs.clone(),
            buckets,
            total,
        }
    }

    /// Bytes held by the aggregation (not counting the store).
    pub fn memory_bytes(&self) -> usize {
        self.execution.memory_bytes()
            + self.delay.memory_bytes()
            + self.cold_start.memory_bytes()
            + self.requests.capacity() * std::mem::size_of::<RequestCounts>()
            + self.webhooks.capacity() * std::mem::size_of::<WebhookCounts>()
            + self.transitions.capacity() * std::mem::size_of::<Transition>()
    }
}

/// Time-weighted average and maximum of workers per state, per bucket and over the
/// window. `ts` must be sorted by time. A worker counts in the state of its latest
/// transition; time before the first transition is unknown and not averaged.
fn worker_stats(
    ts: &[Transition],
    w: &Window,
    workers: usize,
) -> (Vec<[StateStat; 6]>, [StateStat; 6]) {
    let n = w.buckets();
    let mut integral = vec![[0f64; 6]; n];
    let mut known = vec![0f64; n];
    let mut maxes = vec![[None::<u32>; 6]; n];
    let mut current = vec![-1i8; workers];
    let mut counts = [0u32; 6];
    let mut i = 0;
    // Apply everything before the window: it sets the state at `from`.
    while i < ts.len() && ts[i].at <= w.from {
        apply_transition(&mut current, &mut counts, &ts[i]);
        i += 1;
    }
    let mut t = if i > 0 {
        w.from
    } else {
        ts.get(i).map_or(w.to, |x| x.at.max(w.from))
    };
    let mut started = i > 0;
    loop {
        let next = ts.get(i).map_or(w.to, |x| x.at.min(w.to));
        if started && next > t {
            // Constant counts on [t, next): spread over the buckets it covers.
            let mut s = t;
            while s < next {
                let b = w.bucket_of(s).expect("s is inside the window");
                let (_, bend) = w.bounds(b);
                let e = bend.min(next);
                let dt = (e - s) as f64;
                known[b] += dt;
                for k in 0..6 {
                    integral[b][k] += f64::from(counts[k]) * dt;
                    maxes[b][k] = Some(maxes[b][k].map_or(counts[k], |m| m.max(counts[k])));
                }
                s = e;
            }
        }
        if i >= ts.len() || ts[i].at >= w.to {
            break;
        }
        // Apply every transition at this instant before measuring again.
        let at = ts[i].at;
        while i < ts.len() && ts[i].at == at {
            apply_transition(&mut current, &mut counts, &ts[i]);
            i += 1;
        }
        // The instant itself counts for the maximum even if the next change is at once.
        if let Some(b) = w.bucket_of(at) {
            for k in 0..6 {
                maxes[b][k] = Some(maxes[b][k].map_or(counts[k], |m| m.max(counts[k])));
            }
        }
        t = at;
        started = true;
    }
    let mut per_bucket = vec![[StateStat::default(); 6]; n];
    let mut tot_int = [0f64; 6];
    let mut tot_known = 0f64;
    let mut tot_max = [None::<u32>; 6];
    for b in 0..n {
        tot_known += known[b];
        for k in 0..6 {
            tot_int[k] += integral[b][k];
            if let Some(m) = maxes[b][k] {
                tot_max[k] = Some(tot_max[k].map_or(m, |x: u32| x.max(m)));
            }
            per_bucket[b][k] = StateStat {
                avg: (known[b] > 0.0).then(|| integral[b][k] / known[b]),
                max: maxes[b][k],
            };
        }
    }
    let total = std::array::from_fn(|k| StateStat {
        avg: (tot_known > 0.0).then(|| tot_int[k] / tot_known),
        max: tot_max[k],
    });
    (per_bucket, total)
}

fn apply_transition(current: &mut [i8], counts: &mut [u32; 6], t: &Transition) {
    let prev = std::mem::replace(&mut current[t.worker as usize], t.state);
    if prev >= 0 {
        counts[prev as usize] -= 1;
    }
    if t.state >= 0 {
        counts[t.state as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win() -> Window {
        Window::new(0, 10_000, 1_000).unwrap()
    }

    fn job(
        id: &str,
        status: JobStatus,
        sub: i64,
        start: Option<i64>,
        end: Option<i64>,
    ) -> JobRecord {
        JobRecord {
            status,
            started_at: start,
            completed_at: end,
            ..JobRecord::queued(id, sub)
        }
    }

    #[test]
    fn window_checks() {
        assert_eq!(win().buckets(), 10);
        assert_eq!(Window::new(0, 10_500, 1_000).unwrap().buckets(), 11);
        assert_eq!(
            Window::new(0, 10_500, 1_000).unwrap().bounds(10),
            (10_000, 10_500)
        );
        assert!(matches!(
            Window::new(5, 5, 1),
            Err(AggregateError::EmptyWindow { .. })
        ));
        assert!(matches!(
            Window::new(0, 5, 0),
            Err(AggregateError::BadBucket(0))
        ));
        assert!(
            Window::new(0, 1_000_000, 1)
                .unwrap_err()
                .to_string()
                .contains("use wider buckets")
        );
        assert!(matches!(
            Aggregator::new(win(), &[0.5, 90.0]),
            Err(AggregateError::Quantile(_))
        ));
    }

    #[test]
    fn counts_land_in_the_bucket_of_their_event() {
        let mut store = JobStore::default();
        let mut agg = Aggregator::new(win(), &[0.5]).unwrap();
        agg.upsert(
            &mut store,
            &job("a", JobStatus::Completed, 500, Some(1_500), Some(3_500)),
        )
        .unwrap();
        agg.upsert(
            &mut store,
            &job("b", JobStatus::Failed, 600, Some(700), Some(900)),
        )
        .unwrap();
        agg.upsert(
            &mut store,
            &job("c", JobStatus::Cancelled, 2_000, None, Some(2_100)),
        )
        .unwrap();
        agg.upsert(&mut store, &job("d", JobStatus::InQueue, 9_999, None, None))
            .unwrap();
        agg.upsert(
            &mut store,
            &JobRecord {
                retries: 1,
                ..job("e", JobStatus::TimedOut, 4_000, None, Some(20_000))
            },
        )
        .unwrap();
        let r = agg.result();
        assert_eq!(
            r.buckets[0].requests,
            RequestCounts {
                received: 2,
                failed: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            r.buckets[2].requests,
            RequestCounts {
                received: 1,
                cancelled: 1,
                ..Default::default()
            }
        );
        assert_eq!(r.buckets[3].requests.completed, 1);
        assert_eq!(
            r.buckets[4].requests,
            RequestCounts {
                received: 1,
                retried: 1,
                ..Default::default()
            }
        );
        assert_eq!(r.buckets[9].requests.received, 1);
        assert_eq!(r.total.requests.received, 5);
        assert_eq!(r.total.requests.timed_out, 0, "timed out after the window");
        // Execution by completion, delay by start.
        assert_eq!(r.buckets[3].execution.quantiles, vec![Some(2_000.0)]);
        assert_eq!(r.buckets[0].execution.quantiles, vec![Some(200.0)]);
        assert_eq!(r.buckets[1].delay.quantiles, vec![Some(1_000.0)]);
        assert_eq!(r.buckets[0].delay.quantiles, vec![Some(100.0)]);
        // Empty buckets are None, not 0 or NaN.
        assert_eq!(r.buckets[5].execution, Distribution::empty(1));
        assert_eq!(r.total.delay.count, 2);
    }

    #[test]
    fn updates_move_a_job_between_buckets_and_states() {
        let mut store = JobStore::default();
        let mut agg = Aggregator::new(win(), &[0.5]).unwrap();
        agg.upsert(&mut store, &job("a", JobStatus::InQueue, 100, None, None))
            .unwrap();
        agg.upsert(
            &mut store,
            &job("a", JobStatus::InProgress, 100, Some(1_100), None),
        )
        .unwrap();
        let r = agg.result();
        assert_eq!(r.buckets[1].delay.count, 1);
        assert_eq!(r.total.execution.count, 0);
        agg.upsert(
            &mut store,
            &job("a", JobStatus::Completed, 100, Some(1_100), Some(5_100)),
        )
        .unwrap();
        let r = agg.result();
        assert_eq!(r.total.requests.received, 1);
        assert_eq!(r.total.requests.completed, 1);
        assert_eq!(r.buckets[5].execution.quantiles, vec![Some(4_000.0)]);
        assert_eq!(
            r.total.delay.count, 1,
            "the delay sample moved, not duplicated"
        );
        // Out-of-order update (an older state arrives late) is applied as given.
        agg.upsert(
            &mut store,
            &job("a", JobStatus::InProgress, 100, Some(1_100), None),
        )
        .unwrap();
        let r = agg.result();
        assert_eq!(r.total.requests.completed, 0);
        assert_eq!(r.total.execution.count, 0);
    }

    #[test]
    fn incremental_equals_bulk() {
        let mut store = JobStore::default();
        let mut inc = Aggregator::new(win(), &[0.7, 0.9, 0.98]).unwrap();
        for i in 0..500i64 {
            let sub = (i * 7919) % 10_000;
            let start = sub + (i * 31) % 900;
            let end = start + (i * 97) % 3_000;
            let status = [
                JobStatus::Completed,
                JobStatus::Failed,
                JobStatus::InProgress,
            ][i as usize % 3];
            let end = status.is_terminal().then_some(end);
            inc.upsert(
                &mut store,
                &job(&format!("j{i}"), JobStatus::InQueue, sub, None, None),
            )
            .unwrap();
            inc.upsert(
                &mut store,
                &job(&format!("j{i}"), status, sub, Some(start), end),
            )
            .unwrap();
        }
        let bulk = Aggregator::from_store(win(), &[0.7, 0.9, 0.98], &store)
            .unwrap()
            .result();
        assert_eq!(inc.result(), bulk);
    }

    #[test]
    fn cold_starts_and_webhooks() {
        let mut agg = Aggregator::new(win(), &[0.5]).unwrap();
        for (ready, d) in [(1_500, 4_000.0), (1_600, 6_000.0), (50_000, 1.0)] {
            agg.add_cold_start(&ColdStart {
                worker_id: "w".into(),
                started_at: ready - d as i64,
                ready_at: ready,
                duration: d,
            })
            .unwrap();
        }
        assert!(
            agg.add_cold_start(&ColdStart {
                worker_id: "w".into(),
                started_at: 0,
                ready_at: 1,
                duration: -1.0
            })
            .is_err()
        );
        for (at, status) in [
            (100, Some(200)),
            (200, Some(500)),
            (300, None),
            (2_000, Some(204)),
        ] {
            agg.add_delivery(&WebhookDelivery {
                job_id: "j".into(),
                attempt: 1,
                at,
                status,
                error: None,
            });
        }
        let r = agg.result();
        assert_eq!(r.buckets[1].cold_starts(), 2);
        assert_eq!(r.buckets[1].cold_start.quantiles, vec![Some(5_000.0)]);
        assert_eq!(r.total.cold_starts(), 2);
        assert_eq!(
            r.buckets[0].webhooks,
            WebhookCounts {
                sent: 3,
                success: 1,
                failure: 2
            }
        );
        assert_eq!(
            r.total.webhooks,
            // The 204 is a failure: RunPod retries anything but 200.
            WebhookCounts {
                sent: 4,
                success: 1,
                failure: 3
            }
        );
    }

    #[test]
    fn worker_states_are_time_weighted() {
        let mut agg = Aggregator::new(win(), &[]).unwrap();
        let t = |w: &str, s: Option<WorkerState>, at| WorkerTransition {
            worker_id: w.into(),
            state: s,
            at,
        };
        agg.add_transitions(&[
            t("a", Some(WorkerState::Running), 1_500),
            t("a", Some(WorkerState::Initializing), -5_000),
            t("a", Some(WorkerState::Idle), 1_000),
            t("b", Some(WorkerState::Running), 1_250),
            t("b", None, 1_750),
        ]);
        let r = agg.result();
        let run = WorkerState::Running.index();
        let idle = WorkerState::Idle.index();
        // Bucket 0: a initializing the whole time.
        assert_eq!(
            r.buckets[0].workers[WorkerState::Initializing.index()].avg,
            Some(1.0)
        );
        // Bucket 1: a idle 500 ms then running 500 ms; b running 1250..1750.
        assert_eq!(r.buckets[1].workers[idle].avg, Some(0.5));
        assert_eq!(r.buckets[1].workers[run].avg, Some(1.0));
        assert_eq!(r.buckets[1].workers[run].max, Some(2));
        // Later buckets: a keeps running.
        assert_eq!(r.buckets[9].workers[run].avg, Some(1.0));
        assert_eq!(r.total.workers[run].max, Some(2));
        // No transition at all: unknown, not zero.
        let mut none = Aggregator::new(win(), &[]).unwrap();
        assert_eq!(
            none.result().buckets[0].workers[run],
            StateStat {
                avg: None,
                max: None
            }
        );
    }
}
