//! The job list's questions: which jobs match a filter, in which order, and how many
//! of each state there are, answered straight from the [`JobStore`] columns.
//!
//! A [`Filter`] picks jobs by time ([`Span`]: overlapping the window, or a bucket of
//! one metric), state, id prefix and duration thresholds; [`list`] returns their row
//! numbers sorted by any [`Column`], plus the count of each state among the jobs that
//! pass every other filter (the status chips). The spans use the same times the
//! aggregation puts jobs in buckets by (docs/metrics.md), so "the jobs at or above
//! the P98 of this bucket" are exactly the samples behind that point.
//!
//! ```
//! use endpoint_core::{JobRecord, JobStatus, JobStore};
//! use endpoint_core::query::{list, Column, Filter, Sort, Span};
//!
//! let mut store = JobStore::default();
//! for (i, delay) in [100, 900, 400].into_iter().enumerate() {
//!     let submitted = 1_000 * i as i64;
//!     store.upsert(&JobRecord {
//!         status: JobStatus::InProgress,
//!         started_at: Some(submitted + delay),
//!         worker_id: Some("w1".into()),
//!         ..JobRecord::queued(format!("job-{i}"), submitted)
//!     }).unwrap();
//! }
//! // Jobs that started in [0, 10 s) and waited at least 400 ms, longest wait first.
//! let filter = Filter { min_delay: Some(400.0), ..Filter::new(Span::Started { from: 0, to: 10_000 }) };
//! let l = list(&store, &filter, Sort { column: Column::Delay, descending: true });
//! let ids: Vec<String> = l.rows.iter().map(|&r| store.id(r)).collect();
//! assert_eq!(ids, ["job-1", "job-2"]);
//! assert_eq!(l.counts[1], 2, "two IN_PROGRESS jobs pass the other filters");
//! ```

use crate::job::JobStatus;
use crate::store::{F_TEXT_ID, JobStore, Row};
use crate::worker::{ColdStart, WebhookDelivery};

/// A column of the job list (each one sortable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// Job id.
    Id,
    /// State.
    Status,
    /// Submission time.
    Submitted,
    /// Time in queue.
    Delay,
    /// Time running.
    Execution,
    /// The worker that ran it.
    Worker,
    /// `/retry` count.
    Retries,
    /// Webhook outcome ([`WebhookOutcome`]).
    Webhook,
}

impl Column {
    /// Every column, in the order the list shows them.
    pub const ALL: [Column; 8] = [
        Column::Id,
        Column::Status,
        Column::Submitted,
        Column::Delay,
        Column::Execution,
        Column::Worker,
        Column::Retries,
        Column::Webhook,
    ];

    /// Short name (used in URLs): `id`, `status`, `submitted`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Status => "status",
            Column::Submitted => "submitted",
            Column::Delay => "delay",
            Column::Execution => "execution",
            Column::Worker => "worker",
            Column::Retries => "retries",
            Column::Webhook => "webhook",
        }
    }

    /// The column named `s` (see [`Column::as_str`]).
    pub fn parse(s: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The column.
    pub column: Column,
    /// Largest (latest, last) first.
    pub descending: bool,
}

impl Default for Sort {
    /// Newest first.
    fn default() -> Self {
        Sort {
            column: Column::Submitted,
            descending: true,
        }
    }
}

/// Which time puts a job in the list. Ranges are `[from, to)`, ms since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Jobs whose life overlaps the range: submitted before `to`, and not ended
    /// before `from` (what a window snapshot holds).
    Overlaps {
        /// Start.
        from: i64,
        /// End.
        to: i64,
    },
    /// Submitted in the range (requests received, retried).
    Submitted {
        /// Start.
        from: i64,
        /// End.
        to: i64,
    },
    /// Picked up by a worker in the range (delay time).
    Started {
        /// Start.
        from: i64,
        /// End.
        to: i64,
    },
    /// Reached a terminal state in the range (completed, failed, ..., execution time).
    Ended {
        /// Start.
        from: i64,
        /// End.
        to: i64,
    },
    /// Running on a worker at some instant of the range (worker states).
    Running {
        /// Start.
        from: i64,
        /// End.
        to: i64,
    },
}

impl Span {
    /// Whether the job of `row` falls in the span.
    #[inline]
    pub fn contains(&self, r: &Row) -> bool {
        let inside = |t: Option<i64>, from: i64, to: i64| t.is_some_and(|t| t >= from && t < to);
        match *self {
            Span::Overlaps { from, to } => {
                r.submitted_at < to && r.completed_at().is_none_or(|c| c >= from)
            }
            Span::Submitted { from, to } => inside(Some(r.submitted_at), from, to),
            Span::Started { from, to } => inside(r.started_at(), from, to),
            Span::Ended { from, to } => inside(r.completed_at(), from, to),
            Span::Running { from, to } => {
                r.started_at().is_some_and(|s| s < to) && r.completed_at().is_none_or(|c| c > from)
            }
        }
    }

    /// `(from, to)`.
    pub fn bounds(&self) -> (i64, i64) {
        match *self {
            Span::Overlaps { from, to }
            | Span::Submitted { from, to }
            | Span::Started { from, to }
            | Span::Ended { from, to }
            | Span::Running { from, to } => (from, to),
        }
    }
}

/// A set of job states, as a bit mask over [`JobStatus::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusSet(pub u8);

impl StatusSet {
    /// Every state.
    pub const ALL: StatusSet = StatusSet(0b11_1111);
    /// No state.
    pub const NONE: StatusSet = StatusSet(0);

    /// Just `s`.
    pub fn only(s: JobStatus) -> StatusSet {
        StatusSet(1 << status_index(s))
    }

    /// Whether `s` is in the set.
    #[inline]
    pub fn contains(self, s: JobStatus) -> bool {
        self.0 & (1 << status_index(s)) != 0
    }

    /// The set with `s` added or removed.
    pub fn toggled(self, s: JobStatus) -> StatusSet {
        StatusSet(self.0 ^ (1 << status_index(s)))
    }

    /// The states in the set, in [`JobStatus::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = JobStatus> {
        JobStatus::ALL
            .into_iter()
            .filter(move |s| self.contains(*s))
    }
}

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet::ALL
    }
}

/// Position of `s` in [`JobStatus::ALL`] (the chips' order and the counts' index).
#[inline]
pub fn status_index(s: JobStatus) -> usize {
    match s {
        JobStatus::InQueue => 0,
        JobStatus::InProgress => 1,
        JobStatus::Completed => 2,
        JobStatus::Failed => 3,
        JobStatus::Cancelled => 4,
        JobStatus::TimedOut => 5,
    }
}

/// Which jobs to list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// The time that puts a job in the list; `None` lists every job held.
    pub span: Option<Span>,
    /// States shown.
    pub statuses: StatusSet,
    /// Id or id prefix (UUIDs: any case, with or without the dashes); empty: any.
    pub id_prefix: String,
    /// Only jobs that waited at least this long, ms (so they started).
    pub min_delay: Option<f64>,
    /// Only jobs that ran and ended having run at least this long, ms.
    pub min_execution: Option<f64>,
    /// Only jobs retried at least once.
    pub retried_only: bool,
    /// Only these rows (sorted ascending): jobs picked through events, such as the
    /// ones that waited on a cold start or whose webhook was posted in a bucket.
    pub rows: Option<Vec<u32>>,
}

impl Filter {
    /// Every state, no threshold, jobs in `span`.
    pub fn new(span: Span) -> Filter {
        Filter {
            span: Some(span),
            ..Filter::default()
        }
    }
}

/// What [`list`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// Matching rows, sorted.
    pub rows: Vec<u32>,
    /// Jobs of each state (indexed like [`JobStatus::ALL`]) passing every filter but
    /// the state filter: the numbers on the status chips.
    pub counts: [u64; 6],
}

/// How a job's webhook went, in the order the list sorts them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum WebhookOutcome {
    /// The job has no webhook.
    None,
    /// Not posted yet (the job has not ended).
    Pending,
    /// An attempt was answered 2xx.
    Delivered,
    /// Every attempt so far failed.
    Failing,
}

/// A parsed id prefix: UUID rows compare 128-bit values, text ids compare text.
enum Prefix<'a> {
    Any,
    /// The first `nibbles` hex digits of a UUID equal `value`; text ids start with `text`.
    Hex {
        value: u128,
        nibbles: u32,
        text: &'a str,
    },
    /// Only text ids can match.
    Text(&'a str),
}

impl<'a> Prefix<'a> {
    fn parse(s: &'a str) -> Prefix<'a> {
        let s = s.trim();
        if s.is_empty() {
            return Prefix::Any;
        }
        let mut value: u128 = 0;
        let mut nibbles = 0u32;
        for c in s.chars() {
            if c == '-' {
                continue;
            }
            match c.to_digit(16) {
                Some(d) if nibbles < 32 => {
                    value = (value << 4) | u128::from(d);
                    nibbles += 1;
                }
                _ => return Prefix::Text(s),
            }
        }
        if nibbles == 0 {
            return Prefix::Text(s);
        }
        Prefix::Hex {
            value,
            nibbles,
            text: s,
        }
    }

    #[inline]
    fn matches(&self, store: &JobStore, row: u32) -> bool {
        let i = row as usize;
        let text_id = store.flags[i] & F_TEXT_ID != 0;
        match self {
            Prefix::Any => true,
            Prefix::Hex {
                value,
                nibbles,
                text,
            } => {
                if text_id {
                    store
                        .text_ids
                        .get(&row)
                        .is_some_and(|t| starts_with_ci(t, text))
                } else {
                    store.ids[i] >> (128 - 4 * nibbles) == *value
                }
            }
            Prefix::Text(t) => {
                text_id
                    && store
                        .text_ids
                        .get(&row)
                        .is_some_and(|x| starts_with_ci(x, t))
            }
        }
    }
}

/// `s` starts with `p`, ignoring ASCII case (search is forgiving).
fn starts_with_ci(s: &str, p: &str) -> bool {
    s.len() >= p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
}

/// The jobs of `store` matching `filter`, sorted by `sort` (ties: newest submission
/// first, then row), and the state counts for the chips.
///
/// One pass over the columns plus one sort of the matches: about 10 ms for 100,000
/// jobs in the browser (docs/benchmarks.md).
pub fn list(store: &JobStore, filter: &Filter, sort: Sort) -> Listing {
    let prefix = Prefix::parse(&filter.id_prefix);
    let mut counts = [0u64; 6];
    let mut rows = Vec::new();
    let mut consider = |row: u32| {
        let r = store.row(row);
        if let Some(span) = &filter.span
            && !span.contains(&r)
        {
            return;
        }
        if filter.retried_only && r.retries == 0 {
            return;
        }
        if let Some(min) = filter.min_delay
            && !(r.started && r.delay.is_some_and(|d| f64::from(d) >= min))
        {
            return;
        }
        if let Some(min) = filter.min_execution
            && !(r.started
                && r.status.is_terminal()
                && r.execution.is_some_and(|e| f64::from(e) >= min))
        {
            return;
        }
        if !prefix.matches(store, row) {
            return;
        }
        counts[status_index(r.status)] += 1;
        if filter.statuses.contains(r.status) {
            rows.push(row);
        }
    };
    match &filter.rows {
        Some(only) => only
            .iter()
            .copied()
            .filter(|&r| (r as usize) < store.len())
            .for_each(&mut consider),
        None => (0..store.len() as u32).for_each(&mut consider),
    }
    sort_rows(store, &mut rows, sort);
    Listing { rows, counts }
}

/// Sorts `rows` by `sort`; jobs without a value in the column (no delay yet, no
/// worker) come last in either direction.
///
/// Each row gets a pair of integer keys (the column's value, then newest submission
/// and the row number as tie-breaks) and the pairs are sorted: integer comparisons
/// only, which keeps 100,000 rows near 10 ms in wasm whatever the column.
pub fn sort_rows(store: &JobStore, rows: &mut [u32], sort: Sort) {
    if sort.column == Column::Id
        && rows
            .iter()
            .any(|&r| store.flags[r as usize] & F_TEXT_ID != 0)
    {
        // Text ids (not endpoint-server's UUIDs): compare the text.
        rows.sort_unstable_by(|a, b| {
            let o = store.id(*a).cmp(&store.id(*b));
            if sort.descending { o.reverse() } else { o }.then(a.cmp(b))
        });
        return;
    }
    let first = rows
        .iter()
        .map(|&r| store.submitted[r as usize])
        .min()
        .unwrap_or(0);
    // Ties: newest submission first, then row order.
    let tie = |i: usize| {
        let rel = (store.submitted[i] - first).clamp(0, i64::from(u32::MAX)) as u64;
        ((u64::from(u32::MAX) - rel) << 32) | i as u64
    };
    // Primary key: a missing value sorts last both ways (bit 32), the direction flips
    // the value only.
    let key = |v: Option<u32>| match v {
        None => 1u64 << 32,
        Some(x) if sort.descending => u64::from(u32::MAX - x),
        Some(x) => u64::from(x),
    };
    let opt = |v: u32| (v != u32::MAX).then_some(v);
    let put = |rows: &mut [u32], order: &mut dyn Iterator<Item = u32>| {
        for (slot, r) in rows.iter_mut().zip(order) {
            *slot = r;
        }
    };
    match sort.column {
        Column::Id => {
            let mut keyed: Vec<(u128, u32)> = rows
                .iter()
                .map(|&r| {
                    let id = store.ids[r as usize];
                    (if sort.descending { !id } else { id }, r)
                })
                .collect();
            keyed.sort_unstable();
            put(rows, &mut keyed.into_iter().map(|(_, r)| r));
        }
        Column::Submitted => {
            let last = rows
                .iter()
                .map(|&r| store.submitted[r as usize])
                .max()
                .unwrap_or(0);
            if last - first <= i64::from(u32::MAX) {
                // The common case (the newest first, the default view): the time since
                // the earliest and the row packed into one u64, so the sort compares
                // single integers (the wasm/native gap of 128-bit keys, measured).
                let mut keyed: Vec<u64> = rows
                    .iter()
                    .map(|&r| {
                        let rel = (store.submitted[r as usize] - first) as u64;
                        let rel = if sort.descending {
                            u64::from(u32::MAX) - rel
                        } else {
                            rel
                        };
                        (rel << 32) | u64::from(r)
                    })
                    .collect();
                keyed.sort_unstable();
                put(rows, &mut keyed.into_iter().map(|k| k as u32));
            } else {
                let mut keyed: Vec<(u64, u32)> = rows
                    .iter()
                    .map(|&r| {
                        let t = (store.submitted[r as usize] as u64) ^ (1 << 63);
                        (if sort.descending { !t } else { t }, r)
                    })
                    .collect();
                keyed.sort_unstable();
                put(rows, &mut keyed.into_iter().map(|(_, r)| r));
            }
        }
        _ => {
            let rank = (sort.column == Column::Worker).then(|| worker_ranks(store));
            let mut keyed: Vec<(u64, u64)> =
                rows.iter()
                    .map(|&r| {
                        let i = r as usize;
                        let v = match sort.column {
                            Column::Status => Some(u32::from(store.status[i])),
                            Column::Retries => Some(u32::from(store.retries[i])),
                            Column::Delay => opt(store.delay[i]),
                            Column::Execution => opt(store.execution[i]),
                            Column::Webhook => Some(webhook_outcome(store, r) as u32),
                            Column::Worker => opt(store.worker[i])
                                .map(|w| rank.as_ref().map_or(0, |k| k[w as usize])),
                            Column::Id | Column::Submitted => unreachable!("sorted above"),
                        };
                        (key(v), tie(i))
                    })
                    .collect();
            keyed.sort_unstable();
            put(
                rows,
                &mut keyed.into_iter().map(|(_, t)| (t & 0xffff_ffff) as u32),
            );
        }
    }
}

/// Each worker number's rank in name order.
fn worker_ranks(store: &JobStore) -> Vec<u32> {
    let names = &store.workers.texts;
    let mut order: Vec<u32> = (0..names.len() as u32).collect();
    order.sort_unstable_by(|a, b| names[*a as usize].cmp(&names[*b as usize]));
    let mut rank = vec![0u32; names.len()];
    for (r, w) in order.into_iter().enumerate() {
        rank[w as usize] = r as u32;
    }
    rank
}

/// The webhook outcome of `row`.
pub fn webhook_outcome(store: &JobStore, row: u32) -> WebhookOutcome {
    use crate::store::{F_DELIVERED, F_WEBHOOK};
    let i = row as usize;
    let f = store.flags[i];
    if f & F_WEBHOOK == 0 {
        WebhookOutcome::None
    } else if f & F_DELIVERED != 0 {
        WebhookOutcome::Delivered
    } else if store.webhook_attempts[i] == 0 {
        WebhookOutcome::Pending
    } else {
        WebhookOutcome::Failing
    }
}

/// The cold start a job waited on: the cold start of the worker that picked it up,
/// ending (ready) while the job was queued. A job that found a warm worker waited on
/// none.
pub fn cold_start_waited_on<'a>(
    store: &JobStore,
    row: u32,
    cold_starts: &'a [ColdStart],
) -> Option<&'a ColdStart> {
    let r = store.row(row);
    let started = r.started_at()?;
    let worker = store.worker_name(row)?;
    cold_starts
        .iter()
        .filter(|c| c.worker_id == worker && c.ready_at <= started && c.ready_at >= r.submitted_at)
        .max_by_key(|c| c.ready_at)
}

/// The rows of the jobs that waited on one of `cold_starts` (each cold start's worker
/// picked them up first after it was ready, and they were queued before that), sorted.
pub fn rows_waiting_on<'a>(
    store: &JobStore,
    cold_starts: impl IntoIterator<Item = &'a ColdStart>,
) -> Vec<u32> {
    use std::collections::HashMap;
    /// A ready time, and the first job (start, row) the worker took at or after it.
    type Ready = (i64, Option<(i64, u32)>);
    let mut ready: HashMap<u32, Vec<Ready>> = HashMap::new();
    for c in cold_starts {
        if let Some(w) = store.worker_number(&c.worker_id) {
            ready.entry(w).or_default().push((c.ready_at, None));
        }
    }
    for v in ready.values_mut() {
        v.sort_unstable_by_key(|x| x.0);
    }
    for row in 0..store.len() as u32 {
        let w = store.worker[row as usize];
        let Some(list) = ready.get_mut(&w) else {
            continue;
        };
        let Some(started) = store.row(row).started_at() else {
            continue;
        };
        // The latest ready time at or before the start.
        let k = list.partition_point(|x| x.0 <= started);
        if k == 0 {
            continue;
        }
        let slot = &mut list[k - 1];
        if slot.1.is_none_or(|(s, _)| started < s) {
            slot.1 = Some((started, row));
        }
    }
    let mut rows: Vec<u32> = ready
        .values()
        .flatten()
        .filter_map(|&(ready_at, first)| {
            let (_, row) = first?;
            (store.submitted[row as usize] <= ready_at).then_some(row)
        })
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// The rows of the jobs named by `deliveries` (webhook attempts), sorted.
pub fn rows_of_deliveries<'a>(
    store: &JobStore,
    deliveries: impl IntoIterator<Item = &'a WebhookDelivery>,
) -> Vec<u32> {
    let mut rows: Vec<u32> = deliveries
        .into_iter()
        .filter_map(|d| store.find(&d.job_id))
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobRecord, WebhookSummary};

    fn uuid(n: u128) -> String {
        crate::store::format_uuid(n)
    }

    /// A job submitted at `t`, waiting `delay`, running `exec` (None: still running),
    /// on worker `w`.
    fn job(id: &str, t: i64, delay: i64, exec: Option<i64>, status: JobStatus) -> JobRecord {
        JobRecord {
            status,
            started_at: Some(t + delay),
            completed_at: exec.map(|e| t + delay + e),
            worker_id: Some(format!("w{}", t % 3)),
            ..JobRecord::queued(id, t)
        }
    }

    fn ids(store: &JobStore, rows: &[u32]) -> Vec<String> {
        rows.iter().map(|&r| store.id(r)).collect()
    }

    fn sample() -> JobStore {
        let mut s = JobStore::default();
        let recs = [
            job("a", 0, 100, Some(50), JobStatus::Completed),
            job("b", 10, 300, Some(500), JobStatus::Failed),
            job("c", 20, 200, None, JobStatus::InProgress),
            JobRecord::queued("d", 30),
            JobRecord {
                status: JobStatus::Cancelled,
                completed_at: Some(1_000),
                retries: 2,
                ..JobRecord::queued("e", 40)
            },
        ];
        for r in &recs {
            s.upsert(r).unwrap();
        }
        s
    }

    #[test]
    fn spans_use_the_aggregation_times() {
        let s = sample();
        let all = |span| {
            let l = list(&s, &Filter::new(span), Sort::default());
            let mut v = ids(&s, &l.rows);
            v.sort();
            v
        };
        assert_eq!(all(Span::Submitted { from: 10, to: 31 }), ["b", "c", "d"]);
        // a starts at 100, b at 310, c at 220.
        assert_eq!(all(Span::Started { from: 100, to: 310 }), ["a", "c"]);
        // a ends at 150, b at 810, e (cancelled in queue) at 1000.
        assert_eq!(
            all(Span::Ended {
                from: 150,
                to: 1_000
            }),
            ["a", "b"]
        );
        assert_eq!(
            all(Span::Ended {
                from: 151,
                to: 1_001
            }),
            ["b", "e"]
        );
        // Running at some instant of [400, 500): b (310..810) and c (220..).
        assert_eq!(all(Span::Running { from: 400, to: 500 }), ["b", "c"]);
        // Life overlapping [900, 2000): b ended at 810, so c, d (unfinished) and e.
        assert_eq!(
            all(Span::Overlaps {
                from: 900,
                to: 2_000
            }),
            ["c", "d", "e"]
        );
    }

    #[test]
    fn state_filter_keeps_the_chip_counts() {
        let s = sample();
        let f = Filter {
            statuses: StatusSet::only(JobStatus::Failed).toggled(JobStatus::InQueue),
            ..Filter::default()
        };
        let l = list(&s, &f, Sort::default());
        assert_eq!(ids(&s, &l.rows), ["d", "b"], "newest first");
        assert_eq!(l.counts, [1, 1, 1, 1, 1, 0]);
        let none = list(
            &s,
            &Filter {
                statuses: StatusSet::NONE,
                ..Filter::default()
            },
            Sort::default(),
        );
        assert!(none.rows.is_empty());
        assert_eq!(none.counts.iter().sum::<u64>(), 5);
    }

    #[test]
    fn thresholds_are_at_or_above() {
        let s = sample();
        let f = Filter {
            min_delay: Some(200.0),
            ..Filter::default()
        };
        let mut v = ids(&s, &list(&s, &f, Sort::default()).rows);
        v.sort();
        // e never started: its 960 ms in queue is not a delay sample.
        assert_eq!(v, ["b", "c"]);
        let f = Filter {
            min_execution: Some(50.0),
            ..Filter::default()
        };
        // c is still running: no execution sample yet.
        assert_eq!(ids(&s, &list(&s, &f, Sort::default()).rows), ["b", "a"]);
        let f = Filter {
            min_execution: Some(50.5),
            ..Filter::default()
        };
        assert_eq!(ids(&s, &list(&s, &f, Sort::default()).rows), ["b"]);
        let f = Filter {
            retried_only: true,
            ..Filter::default()
        };
        assert_eq!(ids(&s, &list(&s, &f, Sort::default()).rows), ["e"]);
    }

    #[test]
    fn id_prefix_matches_uuids_in_any_case_and_text_ids() {
        let mut s = JobStore::default();
        let a = 0x6f1c1f3e_3b0a_4c5e_9a57_8f0a2f9c1d20u128;
        let b = 0x6f1d0000_0000_0000_0000_000000000000u128;
        for id in [uuid(a), uuid(b), "6f1c-text".into(), "other".into()] {
            s.upsert(&JobRecord::queued(id, 5)).unwrap();
        }
        let find = |p: &str| {
            let f = Filter {
                id_prefix: p.into(),
                ..Filter::default()
            };
            let mut v = ids(&s, &list(&s, &f, Sort::default()).rows);
            v.sort();
            v
        };
        assert_eq!(find(""), find("  ").clone());
        assert_eq!(find("").len(), 4);
        assert_eq!(find("6F1C"), ["6f1c-text".to_string(), uuid(a)]);
        assert_eq!(find("6f1c1f3e-3b"), [uuid(a)]);
        assert_eq!(find("6f1c1f3e3b0a"), [uuid(a)], "dashes are optional");
        assert_eq!(find(&uuid(a)), [uuid(a)], "the full id");
        assert_eq!(find("6f1"), ["6f1c-text".to_string(), uuid(a), uuid(b)]);
        assert_eq!(find("oth"), ["other"]);
        assert!(find("zz").is_empty());
        assert!(
            find(&format!("{}0", uuid(a))).is_empty(),
            "longer than an id"
        );
    }

    #[test]
    fn submission_order_holds_for_ties_and_for_spans_past_32_bits_of_ms() {
        let day = 86_400_000i64;
        for span in [10, 60 * day] {
            let mut s = JobStore::default();
            // Rows in insertion order: b and c submitted at the same instant.
            for (id, t) in [("a", 1), ("b", span / 2), ("c", span / 2), ("d", span)] {
                s.upsert(&JobRecord::queued(id, t)).unwrap();
            }
            let order = |descending| {
                let mut rows: Vec<u32> = vec![3, 1, 0, 2];
                sort_rows(
                    &s,
                    &mut rows,
                    Sort {
                        column: Column::Submitted,
                        descending,
                    },
                );
                ids(&s, &rows).join("")
            };
            // Equal times keep row order in either direction.
            assert_eq!(order(false), "abcd", "span {span}");
            assert_eq!(order(true), "dbca", "span {span}");
        }
    }

    #[test]
    fn every_column_sorts_both_ways_with_missing_values_last() {
        let mut s = sample();
        s.upsert(&JobRecord {
            webhook: Some(WebhookSummary {
                attempts: 1,
                last_status: Some(200),
                last_error: None,
                delivered: true,
            }),
            ..job("a", 0, 100, Some(50), JobStatus::Completed)
        })
        .unwrap();
        s.upsert(&JobRecord {
            webhook: Some(WebhookSummary {
                attempts: 3,
                last_status: Some(500),
                last_error: None,
                delivered: false,
            }),
            ..job("b", 10, 300, Some(500), JobStatus::Failed)
        })
        .unwrap();
        let order = |c: Column, descending: bool| {
            let l = list(
                &s,
                &Filter::default(),
                Sort {
                    column: c,
                    descending,
                },
            );
            ids(&s, &l.rows).join("")
        };
        assert_eq!(order(Column::Submitted, false), "abcde");
        assert_eq!(order(Column::Submitted, true), "edcba");
        assert_eq!(order(Column::Id, false), "abcde");
        assert_eq!(order(Column::Id, true), "edcba");
        // d (queued) has no delay yet and comes last both ways; e's 960 ms is its
        // time in queue until it was cancelled.
        assert_eq!(order(Column::Delay, false), "acbed");
        assert_eq!(order(Column::Delay, true), "ebcad");
        assert_eq!(order(Column::Execution, false), "abedc");
        assert_eq!(order(Column::Execution, true), "baedc");
        // Workers: a w0, b w1, c w2; d and e none.
        assert_eq!(order(Column::Worker, false), "abced");
        assert_eq!(order(Column::Worker, true), "cbaed");
        // ALL order: IN_QUEUE d, IN_PROGRESS c, COMPLETED a, FAILED b, CANCELLED e.
        assert_eq!(order(Column::Status, false), "dcabe");
        assert_eq!(order(Column::Retries, true), "edcba");
        // No webhook (ties newest first), then delivered, then failing.
        assert_eq!(order(Column::Webhook, false), "edcab");
        assert_eq!(webhook_outcome(&s, 1), WebhookOutcome::Failing);
        for c in Column::ALL {
            assert_eq!(Column::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn cold_starts_are_matched_to_the_jobs_that_waited_on_them() {
        let mut s = JobStore::default();
        let run = |id: &str, t: i64, start: i64, w: &str| JobRecord {
            status: JobStatus::InProgress,
            started_at: Some(start),
            worker_id: Some(w.into()),
            ..JobRecord::queued(id, t)
        };
        // w1 is ready at 500: j1 (queued at 100) waited on it, j2 came after (warm).
        // w2 is ready at 900 but its first job was submitted at 950: warm, no wait.
        for r in [
            run("j1", 100, 500, "w1"),
            run("j2", 600, 700, "w1"),
            run("j3", 950, 960, "w2"),
        ] {
            s.upsert(&r).unwrap();
        }
        let cs = |w: &str, ready: i64| ColdStart {
            worker_id: w.into(),
            started_at: ready - 300,
            ready_at: ready,
            duration: 300.0,
        };
        let colds = [cs("w1", 500), cs("w2", 900), cs("w9", 100)];
        assert_eq!(ids(&s, &rows_waiting_on(&s, &colds)), ["j1"]);
        assert_eq!(cold_start_waited_on(&s, 0, &colds), Some(&colds[0]));
        assert_eq!(cold_start_waited_on(&s, 1, &colds), None);
        assert_eq!(cold_start_waited_on(&s, 2, &colds), None);
        let d = |id: &str| WebhookDelivery {
            job_id: id.into(),
            attempt: 1,
            at: 5,
            status: Some(200),
            error: None,
        };
        let ds = [d("j3"), d("j1"), d("j3"), d("nope")];
        assert_eq!(ids(&s, &rows_of_deliveries(&s, &ds)), ["j1", "j3"]);
    }

    #[test]
    fn restricting_to_rows_ignores_rows_out_of_range() {
        let s = sample();
        let f = Filter {
            rows: Some(vec![1, 3, 99]),
            ..Filter::default()
        };
        assert_eq!(ids(&s, &list(&s, &f, Sort::default()).rows), ["d", "b"]);
    }
}
