//! What a metrics feed serves for one endpoint: every retained job in endpoint-core's
//! columnar [`JobStore`] (about 47 bytes a job), the worker events and webhook
//! deliveries, and a bounded log of recent changes numbered by cursor.
//!
//! The endpoint-server keeps one per endpoint, and so does the panel's in-browser
//! Demo endpoint ([`crate::demo`]): both answer "snapshot of a window" and "changes
//! since cursor" from the same code, so the Demo behaves exactly like the server.

use std::collections::{HashMap, VecDeque};

use endpoint_core::feed::{Changes, Events, Snapshot};
use endpoint_core::{JobRecord, JobStore, RecordError};

use crate::model::Change;

/// Changes kept for `changes?cursor=`: a client further behind takes a new snapshot.
pub const LOG_CAPACITY: usize = 200_000;

/// A cursor older than the retained changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorExpired {
    /// The oldest cursor still served.
    pub oldest: u64,
}

/// The feed's data for one endpoint.
#[derive(Debug)]
pub struct FeedLog {
    store: JobStore,
    events: Events,
    log: VecDeque<Change>,
    /// Cursor of the first change in `log` (changes before it were dropped).
    first: u64,
    /// Changes kept in `log` ([`LOG_CAPACITY`] unless set).
    capacity: usize,
}

impl Default for FeedLog {
    fn default() -> Self {
        FeedLog {
            store: JobStore::default(),
            events: Events::default(),
            log: VecDeque::new(),
            first: 0,
            capacity: LOG_CAPACITY,
        }
    }
}

impl FeedLog {
    /// Keeps the last `capacity` changes (at least one): fewer bound the memory (a
    /// job change is a few hundred bytes), more let a client further behind catch up
    /// without a new snapshot. Changes over the new capacity are dropped now.
    pub fn set_log_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        while self.log.len() > self.capacity {
            self.log.pop_front();
            self.first += 1;
        }
    }

    /// Numbers the changes from here on after `cursor` (the next one applied is
    /// `cursor + 1`), dropping the changes logged so far: a feed that mirrors a
    /// numbered sequence kept elsewhere (the server's change sequence in PostgreSQL)
    /// answers with that sequence's numbers.
    pub fn start_at(&mut self, cursor: u64) {
        self.log.clear();
        self.first = cursor;
    }

    /// Takes one change into the store, the events and the log. A job record the
    /// store refuses is not logged either (clients would refuse it too).
    pub fn apply(&mut self, change: Change) -> Result<(), RecordError> {
        match &change {
            Change::Job(r) => {
                self.store.upsert(r)?;
            }
            Change::Transition(t) => self.events.transitions.push(t.clone()),
            Change::ColdStart(c) => self.events.cold_starts.push(c.clone()),
            Change::Delivery(d) => self.events.deliveries.push(d.clone()),
        }
        if self.log.len() >= self.capacity {
            self.log.pop_front();
            self.first += 1;
        }
        self.log.push_back(change);
        Ok(())
    }

    /// Takes a stored record into the store without logging it as a change (restart:
    /// clients start from a snapshot anyway).
    pub fn load(&mut self, record: &JobRecord) -> Result<(), RecordError> {
        self.store.upsert(record).map(|_| ())
    }

    /// The cursor after the last change.
    pub fn cursor(&self) -> u64 {
        self.first + self.log.len() as u64
    }

    /// Changes after `cursor`, at most `limit`, grouped by kind, with the cursor to
    /// ask from next.
    pub fn changes_since(&self, cursor: u64, limit: usize) -> Result<Changes, CursorExpired> {
        if cursor < self.first {
            return Err(CursorExpired { oldest: self.first });
        }
        let start = ((cursor - self.first) as usize).min(self.log.len());
        let end = (start + limit).min(self.log.len());
        let mut out = Changes {
            cursor: self.first + end as u64,
            ..Changes::default()
        };
        for c in self.log.range(start..end) {
            match c {
                Change::Job(r) => out.jobs.push(r.clone()),
                Change::Transition(t) => out.transitions.push(t.clone()),
                Change::ColdStart(c) => out.cold_starts.push(c.clone()),
                Change::Delivery(d) => out.deliveries.push(d.clone()),
            }
        }
        Ok(out)
    }

    /// The window `[from, to)` as a decoded snapshot (what a client gets after
    /// decoding the server's EMC2 answer), without the bytes in between.
    pub fn snapshot(&self, from: i64, to: i64) -> Snapshot {
        let (rows, events) = self.window(from, to);
        let jobs = self.store.select(&rows);
        Snapshot {
            cursor: self.cursor(),
            from,
            to,
            jobs,
            events,
        }
    }

    /// The window `[from, to)` as the server's snapshot answer: EMC2 columns
    /// ([`endpoint_core::feed::encode`]), the bytes a client decodes.
    pub fn snapshot_columns(&self, from: i64, to: i64) -> Vec<u8> {
        let (rows, events) = self.window(from, to);
        endpoint_core::feed::encode(&self.store, &rows, self.cursor(), from, to, &events)
    }

    /// The jobs store (all retained jobs).
    pub fn store(&self) -> &JobStore {
        &self.store
    }

    /// The worker events, cold starts and webhook attempts held.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Changes held in the log (at most its capacity).
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// The rows and events that matter for the window `[from, to)`: jobs whose life
    /// (submission to end, or to now if unfinished) overlaps it; each worker's last
    /// transition before `from` (its state at the start) and every transition, cold
    /// start and delivery inside.
    pub fn window(&self, from: i64, to: i64) -> (Vec<u32>, Events) {
        let rows: Vec<u32> = (0..self.store.len() as u32)
            .filter(|&row| {
                let r = self.store.row(row);
                let end = if r.status.is_terminal() {
                    r.completed_at().unwrap_or(r.submitted_at)
                } else {
                    i64::MAX
                };
                r.submitted_at < to && end >= from
            })
            .collect();
        let mut before: HashMap<&str, usize> = HashMap::new();
        let mut inside = Vec::new();
        for (i, t) in self.events.transitions.iter().enumerate() {
            if t.at < from {
                before.insert(t.worker_id.as_str(), i);
            } else if t.at < to {
                inside.push(i);
            }
        }
        let mut idx: Vec<usize> = before.into_values().collect();
        idx.sort_unstable();
        idx.extend(inside);
        let events = Events {
            transitions: idx
                .into_iter()
                .map(|i| self.events.transitions[i].clone())
                .collect(),
            cold_starts: self
                .events
                .cold_starts
                .iter()
                .filter(|c| c.ready_at >= from && c.ready_at < to)
                .cloned()
                .collect(),
            deliveries: self
                .events
                .deliveries
                .iter()
                .filter(|d| d.at >= from && d.at < to)
                .cloned()
                .collect(),
        };
        (rows, events)
    }

    /// Drops jobs that ended before `before` (and unfinished ones submitted before it)
    /// and events before it, keeping each worker's state at `before`. The store is
    /// rebuilt: the server runs this every 24th of its retention, not per change.
    pub fn prune(&mut self, before: i64) {
        let keep: Vec<u32> = (0..self.store.len() as u32)
            .filter(|&row| {
                let r = self.store.row(row);
                r.completed_at().unwrap_or(i64::MAX).max(r.submitted_at) >= before
            })
            .collect();
        if keep.len() < self.store.len() {
            self.store = self.store.select(&keep);
        }
        self.events.prune_before(before);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endpoint_core::{JobStatus, WorkerState, WorkerTransition};

    impl FeedLog {
        pub(crate) fn apply_ok(&mut self, c: Change) {
            self.apply(c).expect("valid change");
        }
    }

    #[test]
    fn the_log_is_bounded_and_old_cursors_expire() {
        let mut m = FeedLog::default();
        for i in 0..(LOG_CAPACITY + 10) {
            m.apply_ok(Change::Transition(WorkerTransition {
                worker_id: "w".into(),
                state: None,
                at: i as i64,
            }));
        }
        assert_eq!(m.cursor(), (LOG_CAPACITY + 10) as u64);
        assert_eq!(m.changes_since(5, 10), Err(CursorExpired { oldest: 10 }));
        let c = m.changes_since(m.cursor() - 3, 100).unwrap();
        assert_eq!((c.len(), c.cursor), (3, m.cursor()));

        // A smaller capacity drops the oldest changes at once and keeps the cursor.
        let end = m.cursor();
        m.set_log_capacity(4);
        assert_eq!(m.cursor(), end);
        assert_eq!(
            m.changes_since(end - 5, 10),
            Err(CursorExpired { oldest: end - 4 })
        );
        m.apply_ok(Change::Transition(WorkerTransition {
            worker_id: "w".into(),
            state: None,
            at: 0,
        }));
        assert_eq!(m.changes_since(end - 3, 10).unwrap().len(), 4);
        assert!(m.changes_since(end - 4, 10).is_err());
    }

    /// A feed started at another sequence's number answers with that numbering.
    #[test]
    fn start_at_numbers_from_the_given_cursor() {
        let mut m = FeedLog::default();
        let t = |at| {
            Change::Transition(WorkerTransition {
                worker_id: "w".into(),
                state: None,
                at,
            })
        };
        m.apply_ok(t(1));
        m.start_at(41);
        assert_eq!(m.cursor(), 41);
        assert_eq!(m.changes_since(40, 10), Err(CursorExpired { oldest: 41 }));
        m.apply_ok(t(2));
        let c = m.changes_since(41, 10).unwrap();
        assert_eq!(
            (c.cursor, c.transitions.len(), c.transitions[0].at),
            (42, 1, 2)
        );
        assert_eq!(
            m.events().transitions.len(),
            2,
            "the data stays; only the log restarts"
        );
    }

    #[test]
    fn window_selects_overlapping_jobs_and_the_state_at_its_start() {
        let mut m = FeedLog::default();
        let t = |w: &str, s, at| {
            Change::Transition(WorkerTransition {
                worker_id: w.into(),
                state: s,
                at,
            })
        };
        m.apply_ok(t("a", Some(WorkerState::Idle), 10));
        m.apply_ok(t("a", Some(WorkerState::Running), 50));
        m.apply_ok(t("b", Some(WorkerState::Idle), 60));
        m.apply_ok(t("a", Some(WorkerState::Idle), 150));
        m.apply_ok(t("a", None, 250));
        let done = |id: &str, sub, end| JobRecord {
            status: JobStatus::Completed,
            started_at: Some(sub),
            completed_at: Some(end),
            ..JobRecord::queued(id, sub)
        };
        m.apply_ok(Change::Job(done("early", 0, 90)));
        m.apply_ok(Change::Job(done("across", 50, 150)));
        m.apply_ok(Change::Job(done("late", 300, 310)));
        m.apply_ok(Change::Job(JobRecord::queued("waiting", 20)));
        let (rows, ev) = m.window(100, 200);
        let ids: Vec<String> = rows.iter().map(|&r| m.store().id(r)).collect();
        assert_eq!(ids, ["across", "waiting"]);
        let at: Vec<i64> = ev.transitions.iter().map(|t| t.at).collect();
        assert_eq!(
            at,
            [50, 60, 150],
            "a's and b's state at 100, then what changed inside"
        );
    }
}

#[cfg(test)]
mod prune_tests {
    use super::*;
    use endpoint_core::{JobStatus, WorkerState, WorkerTransition};

    #[test]
    fn prune_drops_old_jobs_and_events_but_keeps_current_worker_states() {
        let mut m = FeedLog::default();
        let done = |id: &str, end| JobRecord {
            status: JobStatus::Completed,
            started_at: Some(end - 10),
            completed_at: Some(end),
            ..JobRecord::queued(id, end - 20)
        };
        m.apply_ok(Change::Job(done("old", 100)));
        m.apply_ok(Change::Job(done("new", 1_000)));
        m.apply_ok(Change::Job(JobRecord::queued("waiting-long", 50)));
        let t = |w: &str, at| {
            Change::Transition(WorkerTransition {
                worker_id: w.into(),
                state: Some(WorkerState::Idle),
                at,
            })
        };
        m.apply_ok(t("a", 10));
        m.apply_ok(t("a", 20));
        m.apply_ok(t("b", 900));
        m.prune(500);
        let ids: Vec<String> = (0..m.store().len() as u32)
            .map(|r| m.store().id(r))
            .collect();
        assert_eq!(ids, ["new", "waiting-long"]);
        let (_, ev) = m.window(0, 2_000);
        assert_eq!(
            ev.transitions.iter().map(|t| t.at).collect::<Vec<_>>(),
            [20, 900]
        );
    }
}
