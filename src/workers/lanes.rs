//! One lane per worker across a window: the worker's states as segments and the jobs
//! it ran as blocks on top, computed from the records the panel holds (the job store
//! and the worker transitions), with no IO and no DOM.
//!
//! A lane is bounded whatever the traffic: job blocks closer than
//! [`MERGE_FRACTION`] of the window merge into one block (which counts its jobs and
//! opens the most telling of them), state segments shorter than that merge into their
//! neighbours (the state that lasted longest inside wins), and a lane that still has
//! more than [`MAX_ITEMS`] of either is merged coarser until it has not.
//! At most [`MAX_LANES`] lanes are kept: the workers active most recently.
//!
//! ```
//! use endpoint_core::{JobRecord, JobStatus, JobStore, WorkerState, WorkerTransition};
//! use endpoint_core::feed::Events;
//! use metrics_panel::workers::lanes::lanes;
//!
//! let mut store = JobStore::default();
//! store.upsert(&JobRecord {
//!     status: JobStatus::Completed,
//!     started_at: Some(4_000),
//!     completed_at: Some(6_000),
//!     delay_time: Some(3_000.0),
//!     execution_time: Some(2_000.0),
//!     worker_id: Some("w1".into()),
//!     ..JobRecord::queued("j1", 1_000)
//! }).unwrap();
//! let t = |state, at| WorkerTransition { worker_id: "w1".into(), state, at };
//! let events = Events {
//!     transitions: vec![
//!         t(Some(WorkerState::Initializing), 1_000),
//!         t(Some(WorkerState::Idle), 3_500),
//!         t(Some(WorkerState::Running), 4_000),
//!         t(Some(WorkerState::Idle), 6_000),
//!     ],
//!     ..Events::default()
//! };
//! let l = lanes(&store, &events, 0, 10_000, 8_000);
//! assert_eq!(l.lanes.len(), 1);
//! assert_eq!(l.lanes[0].segments.len(), 4);
//! assert_eq!(l.lanes[0].jobs[0].job, "j1");
//! ```

use std::collections::HashMap;

use endpoint_core::feed::Events;
use endpoint_core::{JobStatus, JobStore, WorkerState};

/// Most lanes drawn; the rest are counted in [`Lanes::hidden`].
pub const MAX_LANES: usize = 80;

/// Items closer than this fraction of the window merge (0.2 %: a few pixels).
pub const MERGE_FRACTION: f64 = 0.002;

/// Most job blocks, and most state segments, in one lane.
pub const MAX_ITEMS: usize = 300;

/// A worker in one state over `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// The state.
    pub state: WorkerState,
    /// Start, ms since the epoch.
    pub from: i64,
    /// End (exclusive).
    pub to: i64,
}

/// One job, or several close together, on a worker over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobBlock {
    /// Start (the first job's start), ms since the epoch.
    pub from: i64,
    /// End (the last job's end, or now for a running one).
    pub to: i64,
    /// The job a click opens: the first that failed or timed out, else the longest.
    pub job: String,
    /// Its state.
    pub status: JobStatus,
    /// Jobs in the block.
    pub count: u32,
    /// Of which failed or timed out.
    pub failed: u32,
}

/// One worker's lane.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lane {
    /// The worker.
    pub worker: String,
    /// Its state at the end of the lane (`None`: stopped).
    pub state: Option<WorkerState>,
    /// When it first shows in the window.
    pub first: i64,
    /// When it was last active (its stop, its last job's end, or the lane's end).
    pub last_active: i64,
    /// Its states, in time order, not overlapping.
    pub segments: Vec<Segment>,
    /// Its jobs, in time order.
    pub jobs: Vec<JobBlock>,
    /// Jobs it ran in the window (before merging).
    pub job_count: u32,
}

/// Every lane of a window.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Lanes {
    /// Window start, ms since the epoch.
    pub from: i64,
    /// Window end (exclusive).
    pub to: i64,
    /// Where the lanes end: now, or the window's end if that is earlier.
    pub end: i64,
    /// The lanes shown, ordered by when the worker first shows.
    pub lanes: Vec<Lane>,
    /// Workers active in the window but not shown (beyond [`MAX_LANES`]).
    pub hidden: usize,
}

impl Lanes {
    /// Where `t` sits in the window, in percent (clamped to 0..=100).
    pub fn pct(&self, t: i64) -> f64 {
        pct(self.from, self.to, t)
    }

    /// Left edge and width, in percent, of `[from, to)`.
    pub fn place(&self, from: i64, to: i64) -> (f64, f64) {
        place((self.from, self.to), from, to)
    }
}

/// Where `t` sits in `[from, to)`, in percent (clamped to 0..=100).
pub fn pct(from: i64, to: i64, t: i64) -> f64 {
    let span = (to - from).max(1) as f64;
    ((t - from) as f64 / span * 100.0).clamp(0.0, 100.0)
}

/// Left edge and width, in percent of `window`, of `[from, to)`.
pub fn place(window: (i64, i64), from: i64, to: i64) -> (f64, f64) {
    let left = pct(window.0, window.1, from);
    (left, (pct(window.0, window.1, to) - left).max(0.0))
}

/// A state's name on screen and in CSS classes (`state-idle`).
pub fn state_name(s: WorkerState) -> &'static str {
    match s {
        WorkerState::Initializing => "initializing",
        WorkerState::Idle => "idle",
        WorkerState::Running => "running",
        WorkerState::Throttled => "throttled",
        WorkerState::Outdated => "outdated",
        WorkerState::Unhealthy => "unhealthy",
    }
}

/// How much a state stands out when a merged segment must pick one (ties only).
fn salience(s: WorkerState) -> u8 {
    match s {
        WorkerState::Unhealthy => 5,
        WorkerState::Throttled => 4,
        WorkerState::Outdated => 3,
        WorkerState::Initializing => 2,
        WorkerState::Running => 1,
        WorkerState::Idle => 0,
    }
}

/// The lanes of `[from, to)` at `now`, from the jobs in `store` and the worker
/// transitions in `events`. One pass over the store, then per-worker work.
pub fn lanes(store: &JobStore, events: &Events, from: i64, to: i64, now: i64) -> Lanes {
    let end = now.min(to).max(from);
    let min = ((to - from).max(1) as f64 * MERGE_FRACTION).ceil() as i64;

    // Each worker's transitions, in time order (the feed sends them in order; a sort
    // keeps that and fixes any page that arrived out of order).
    let mut by_worker: HashMap<&str, Vec<(i64, Option<WorkerState>)>> = HashMap::new();
    for t in &events.transitions {
        by_worker
            .entry(t.worker_id.as_str())
            .or_default()
            .push((t.at, t.state));
    }
    // Each worker's jobs in the window: (start, end, row).
    let mut jobs: HashMap<&str, Vec<(i64, i64, u32)>> = HashMap::new();
    for row in 0..store.len() as u32 {
        let r = store.row(row);
        let Some(start) = r.started_at() else {
            continue;
        };
        let stop = r.completed_at().unwrap_or(end);
        if start >= end.max(from + 1) || stop < from {
            continue;
        }
        let Some(w) = store.worker_name(row) else {
            continue;
        };
        jobs.entry(w)
            .or_default()
            .push((start.max(from), stop.min(end).max(start.max(from)), row));
    }

    let mut names: Vec<&str> = by_worker.keys().chain(jobs.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    let mut all: Vec<Lane> = Vec::new();
    for name in names {
        let mut ts = by_worker.remove(name).unwrap_or_default();
        ts.sort_by_key(|t| t.0);
        let (segments, state, last_change) = segments_of(&ts, from, end);
        let mut js = jobs.remove(name).unwrap_or_default();
        js.sort_by_key(|j| (j.0, j.1));
        if segments.is_empty() && js.is_empty() {
            continue;
        }
        let first = segments
            .first()
            .map(|s| s.from)
            .into_iter()
            .chain(js.first().map(|j| j.0))
            .min()
            .unwrap_or(from);
        let last_job = js.iter().map(|j| j.1).max();
        let last_active = if state.is_some() {
            end
        } else {
            last_change
                .into_iter()
                .chain(last_job)
                .max()
                .unwrap_or(first)
        };
        let job_count = js.len() as u32;
        all.push(Lane {
            worker: name.to_string(),
            state,
            first,
            last_active,
            segments: bounded(min, |m| merge_segments(&segments, m)),
            jobs: merge_jobs(store, &js, from, to, min),
            job_count,
        });
    }
    let total = all.len();
    all.sort_by(|a, b| {
        b.last_active
            .cmp(&a.last_active)
            .then(a.worker.cmp(&b.worker))
    });
    all.truncate(MAX_LANES);
    all.sort_by(|a, b| a.first.cmp(&b.first).then(a.worker.cmp(&b.worker)));
    Lanes {
        from,
        to,
        end,
        hidden: total - all.len(),
        lanes: all,
    }
}

/// A worker's segments within `[from, end)`, its state at `end`, and the time of its
/// last transition before `end`.
fn segments_of(
    ts: &[(i64, Option<WorkerState>)],
    from: i64,
    end: i64,
) -> (Vec<Segment>, Option<WorkerState>, Option<i64>) {
    let mut out = Vec::new();
    let mut cur: Option<(WorkerState, i64)> = None;
    let mut last = None;
    let push = |state: WorkerState, a: i64, b: i64, out: &mut Vec<Segment>| {
        let (a, b) = (a.max(from), b.min(end));
        if b > a {
            out.push(Segment {
                state,
                from: a,
                to: b,
            });
        }
    };
    for &(at, state) in ts {
        if at >= end {
            break;
        }
        if let Some((s, since)) = cur {
            push(s, since, at, &mut out);
        }
        cur = state.map(|s| (s, at));
        last = Some(at);
    }
    if let Some((s, since)) = cur {
        push(s, since, end, &mut out);
    }
    (out, cur.map(|c| c.0), last)
}

/// Runs `merge` with the merge distance doubled until it gives at most
/// [`MAX_ITEMS`] items (segments: each merged cell is at least that long).
fn bounded<T>(min: i64, merge: impl Fn(i64) -> Vec<T>) -> Vec<T> {
    let mut m = min.max(1);
    loop {
        let v = merge(m);
        if v.len() <= MAX_ITEMS {
            return v;
        }
        m *= 2;
    }
}

/// Segments shorter than `min` merge with their followers into a cell at least `min`
/// long; the cell takes the state that lasted longest inside it; neighbouring cells
/// in the same state join.
fn merge_segments(segs: &[Segment], min: i64) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut i = 0;
    while i < segs.len() {
        let (start, mut stop) = (segs[i].from, segs[i].to);
        let mut time = [0i64; 6];
        time[segs[i].state.index()] += stop - start;
        let mut j = i + 1;
        while stop - start < min && j < segs.len() && segs[j].from - stop < min {
            time[segs[j].state.index()] += segs[j].to - segs[j].from;
            stop = segs[j].to;
            j += 1;
        }
        let state = WorkerState::ALL
            .into_iter()
            .max_by_key(|s| (time[s.index()], salience(*s)))
            .unwrap_or(WorkerState::Idle);
        match out.last_mut() {
            Some(last) if last.state == state && last.to == start => last.to = stop,
            _ => out.push(Segment {
                state,
                from: start,
                to: stop,
            }),
        }
        i = j;
    }
    out
}

/// Jobs (sorted by start) closer than `min` and of the same kind (ended well, running,
/// failed) merge into one block, so a failure is never hidden in a block of good jobs
/// nor painted over them; if that still leaves more than [`MAX_ITEMS`], blocks starting
/// in the same of [`MAX_ITEMS`] equal cells of the lane merge whatever their kind
/// (doubling `min` would chain evenly spaced jobs into one).
fn merge_jobs(
    store: &JobStore,
    js: &[(i64, i64, u32)],
    from: i64,
    to: i64,
    min: i64,
) -> Vec<JobBlock> {
    /// Blocks being merged: span, kind, the job a click opens and how telling it is.
    struct Group {
        from: i64,
        to: i64,
        kind: u8,
        best: (u32, (u8, i64)),
        count: u32,
        failed: u32,
    }
    impl Group {
        fn join(&mut self, g: Group) {
            self.to = self.to.max(g.to);
            if g.best.1 > self.best.1 {
                self.best = g.best;
            }
            self.count += g.count;
            self.failed += g.failed;
        }
    }
    let mut groups: Vec<Group> = Vec::new();
    for &(a, b, row) in js {
        let kind = match store.row(row).status {
            JobStatus::Failed | JobStatus::TimedOut => 2,
            JobStatus::InProgress => 1,
            _ => 0,
        };
        let g = Group {
            from: a,
            to: b,
            kind,
            best: (row, (kind, b - a)),
            count: 1,
            failed: u32::from(kind == 2),
        };
        match groups.last_mut() {
            Some(last) if last.kind == kind && a - last.to < min => last.join(g),
            _ => groups.push(g),
        }
    }
    if groups.len() > MAX_ITEMS {
        let cell = ((to - from).max(1) as f64 / MAX_ITEMS as f64).ceil() as i64;
        let mut binned: Vec<Group> = Vec::new();
        for g in groups {
            match binned.last_mut() {
                Some(last) if (last.from - from) / cell == (g.from - from) / cell => last.join(g),
                _ => binned.push(g),
            }
        }
        groups = binned;
    }
    groups
        .into_iter()
        .map(|g| JobBlock {
            from: g.from,
            to: g.to,
            job: store.id(g.best.0),
            status: store.row(g.best.0).status,
            count: g.count,
            failed: g.failed,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use endpoint_core::{JobRecord, WorkerTransition};

    fn job(id: &str, worker: &str, start: i64, end: Option<i64>, status: JobStatus) -> JobRecord {
        JobRecord {
            status,
            started_at: Some(start),
            completed_at: end,
            delay_time: Some(10.0),
            execution_time: end.map(|e| (e - start) as f64),
            worker_id: Some(worker.into()),
            error: (status == JobStatus::Failed).then(|| "boom".into()),
            ..JobRecord::queued(id, start - 10)
        }
    }

    fn t(w: &str, state: Option<WorkerState>, at: i64) -> WorkerTransition {
        WorkerTransition {
            worker_id: w.into(),
            state,
            at,
        }
    }

    use WorkerState::*;

    #[test]
    fn states_become_segments_clipped_to_the_window_and_now() {
        let events = Events {
            transitions: vec![
                // Before the window: its state at the start.
                t("w1", Some(Initializing), -5_000),
                t("w1", Some(Idle), 2_000),
                t("w1", Some(Running), 3_000),
                t("w1", Some(Idle), 5_000),
                t("w2", Some(Throttled), 4_000),
                t("w2", None, 6_000),
                // A worker that stopped before the window shows no lane.
                t("w0", Some(Idle), -9_000),
                t("w0", None, -8_000),
            ],
            ..Events::default()
        };
        let l = lanes(&JobStore::default(), &events, 0, 100_000, 10_000);
        assert_eq!(l.end, 10_000);
        assert_eq!(l.lanes.len(), 2);
        let w1 = &l.lanes[0];
        assert_eq!(w1.worker, "w1");
        assert_eq!(
            w1.segments,
            [
                Segment {
                    state: Initializing,
                    from: 0,
                    to: 2_000
                },
                Segment {
                    state: Idle,
                    from: 2_000,
                    to: 3_000
                },
                Segment {
                    state: Running,
                    from: 3_000,
                    to: 5_000
                },
                Segment {
                    state: Idle,
                    from: 5_000,
                    to: 10_000
                },
            ]
        );
        assert_eq!((w1.state, w1.last_active), (Some(Idle), 10_000));
        let w2 = &l.lanes[1];
        assert_eq!(w2.segments.len(), 1);
        assert_eq!((w2.state, w2.last_active, w2.first), (None, 6_000, 4_000));
        let (left, width) = l.place(2_000, 3_000);
        assert!((left - 2.0).abs() < 1e-9 && (width - 1.0).abs() < 1e-9);
    }

    #[test]
    fn jobs_are_blocks_running_ones_end_now_and_close_ones_merge() {
        let mut s = JobStore::default();
        for r in [
            job("a", "w1", 1_000, Some(20_000), JobStatus::Completed),
            // 100 ms after a: closer than 0.2 % of 100 s (200 ms): merged with a.
            job("b", "w1", 20_100, Some(21_000), JobStatus::Completed),
            // As close, but failed: a block of its own, never hidden among good jobs.
            job("f", "w1", 21_100, Some(21_500), JobStatus::Failed),
            job("c", "w1", 40_000, Some(41_000), JobStatus::Completed),
            job("d", "w1", 60_000, None, JobStatus::InProgress),
            // Never started: no block.
            JobRecord::queued("q", 5_000),
            // Ended before the window.
            job("old", "w1", -9_000, Some(-8_000), JobStatus::Completed),
        ] {
            s.upsert(&r).unwrap();
        }
        let l = lanes(&s, &Events::default(), 0, 100_000, 70_000);
        assert_eq!(l.lanes.len(), 1);
        let b = &l.lanes[0].jobs;
        assert_eq!(l.lanes[0].job_count, 5);
        assert_eq!(b.len(), 4, "{b:?}");
        // The merged block opens its longest job.
        assert_eq!(
            (
                b[0].from,
                b[0].to,
                b[0].count,
                b[0].failed,
                b[0].job.as_str()
            ),
            (1_000, 21_000, 2, 0, "a")
        );
        assert_eq!(
            (b[1].job.as_str(), b[1].status, b[1].failed),
            ("f", JobStatus::Failed, 1)
        );
        assert_eq!((b[2].job.as_str(), b[2].count), ("c", 1));
        // Running: until now.
        assert_eq!((b[3].from, b[3].to), (60_000, 70_000));
        assert_eq!(b[3].status, JobStatus::InProgress);
        // A worker that only shows through its jobs still gets a lane, and it is
        // active as long as it runs.
        assert_eq!(l.lanes[0].last_active, 70_000);
    }

    #[test]
    fn a_busy_lane_stays_small() {
        // 20,000 jobs of 100 ms every 150 ms over 50 minutes, with a transition per job.
        let mut s = JobStore::default();
        let mut ts = Vec::new();
        for i in 0..20_000i64 {
            let start = i * 150;
            // Every 7th fails: kinds alternate, so the cells must do the bounding.
            let status = if i % 7 == 0 {
                JobStatus::Failed
            } else {
                JobStatus::Completed
            };
            s.upsert(&job(
                &format!("j{i}"),
                "w",
                start,
                Some(start + 100),
                status,
            ))
            .unwrap();
            ts.push(t("w", Some(Running), start));
            ts.push(t("w", Some(Idle), start + 100));
        }
        let events = Events {
            transitions: ts,
            ..Events::default()
        };
        let span = 3_000_000;
        let l = lanes(&s, &events, 0, span, span);
        let lane = &l.lanes[0];
        assert_eq!(lane.job_count, 20_000);
        assert!(lane.jobs.len() <= MAX_ITEMS, "{}", lane.jobs.len());
        assert_eq!(lane.jobs.iter().map(|b| b.count).sum::<u32>(), 20_000);
        assert_eq!(lane.jobs.iter().map(|b| b.failed).sum::<u32>(), 2_858);
        // Each cell holds a failure, which is what it opens.
        assert!(lane.jobs.iter().all(|b| b.status == JobStatus::Failed));
        assert!(lane.segments.len() <= MAX_ITEMS, "{}", lane.segments.len());
        // Running 2/3 of the time: the merged cells say running.
        assert!(lane.segments.iter().all(|s| s.state == Running));
        // Segments still cover the lane without overlap.
        assert!(lane.segments.windows(2).all(|w| w[0].to <= w[1].from));
        // Jobs with gaps wider than the merge distance (6 s here) stay apart, up to
        // the cap: 454 short jobs 6.6 s apart are too many, so the distance doubles.
        let mut s = JobStore::default();
        for i in 0..454i64 {
            let start = i * 6_600;
            s.upsert(&job(
                &format!("k{i}"),
                "w",
                start,
                Some(start + 10),
                JobStatus::Completed,
            ))
            .unwrap();
        }
        let l = lanes(&s, &Events::default(), 0, span, span);
        let n = l.lanes[0].jobs.len();
        assert!(n <= MAX_ITEMS && n > 200, "{n}");
        assert_eq!(l.lanes[0].jobs.iter().map(|b| b.count).sum::<u32>(), 454);
    }

    #[test]
    fn a_short_unhealthy_spell_survives_a_tie_and_tiny_states_merge() {
        let segs = [
            Segment {
                state: Idle,
                from: 0,
                to: 50,
            },
            Segment {
                state: Unhealthy,
                from: 50,
                to: 100,
            },
            Segment {
                state: Idle,
                from: 100,
                to: 1_000,
            },
        ];
        let m = merge_segments(&segs, 100);
        assert_eq!(
            m,
            [
                Segment {
                    state: Unhealthy,
                    from: 0,
                    to: 100
                },
                Segment {
                    state: Idle,
                    from: 100,
                    to: 1_000
                }
            ]
        );
    }

    #[test]
    fn lanes_are_capped_to_the_most_recently_active() {
        let mut ts = Vec::new();
        for i in 0..(MAX_LANES as i64 + 20) {
            let w = format!("w{i:03}");
            ts.push(t(&w, Some(Idle), i * 100));
            ts.push(t(&w, None, i * 100 + 50));
        }
        let events = Events {
            transitions: ts,
            ..Events::default()
        };
        let l = lanes(&JobStore::default(), &events, 0, 100_000, 100_000);
        assert_eq!(l.lanes.len(), MAX_LANES);
        assert_eq!(l.hidden, 20);
        // The 20 oldest are the hidden ones; the rest are in order of appearance.
        assert_eq!(l.lanes[0].worker, "w020");
        assert!(l.lanes.windows(2).all(|w| w[0].first <= w[1].first));
    }

    #[test]
    fn the_demo_gives_lanes_with_states_and_jobs() {
        use endpoint_sim::demo::{Demo, DemoConfig};
        let now = 1_800_000_000_000;
        let demo = Demo::new(
            7,
            now,
            DemoConfig {
                history_ms: 2 * 3_600_000,
                ..DemoConfig::default()
            },
        );
        let snap = demo.snapshot(now - 3_600_000, now + 1);
        let l = lanes(&snap.jobs, &snap.events, now - 3_600_000, now + 15_000, now);
        assert!(!l.lanes.is_empty());
        assert!(l.lanes.iter().any(|l| !l.jobs.is_empty()));
        assert!(l.lanes.iter().all(|l| !l.segments.is_empty()));
        let jobs: u32 = l.lanes.iter().map(|l| l.job_count).sum();
        assert!(jobs > 500, "{jobs}");
        for lane in &l.lanes {
            assert!(lane.segments.len() <= MAX_ITEMS && lane.jobs.len() <= MAX_ITEMS);
            for b in &lane.jobs {
                assert!(snap.jobs.find(&b.job).is_some());
                assert!(b.from <= b.to && b.from >= l.from && b.to <= l.end);
            }
        }
    }
}
