//! The metrics feed's window snapshot, in a columnar binary encoding ("EMC1").
//!
//! A snapshot carries the jobs of a window as the columns of a [`JobStore`], so the
//! panel decodes a million jobs by copying arrays instead of parsing a million JSON
//! objects (see docs/benchmarks.md for the measurement that chose it), plus the
//! window's worker transitions, cold starts and webhook deliveries (few; JSON).
//!
//! Layout, little-endian:
//!
//! ```text
//! "EMC1" | cursor u64 | from i64 | to i64 | n u32
//! strings: count u32, then (len u32, utf-8 bytes)*      worker ids, messages, text ids
//! ids [u128; n] | submitted [i64; n] | delay [u32; n] | execution [u32; n]
//! worker [u32; n] (string index, u32::MAX = none) | webhook status [u16; n]
//! status [u8; n] | retries [u8; n] | webhook attempts [u8; n] | flags [u8; n]
//! text ids, errors, webhook errors: each count u32, then (row u32, string u32)*
//! events: len u32, JSON {"transitions": [...], "coldStarts": [...], "deliveries": [...]}
//! ```
//!
//! Decoding checks every length, index and value and fails with a [`FeedError`] that
//! says what was wrong; it never panics on bad input.

use serde::{Deserialize, Serialize};

use crate::job::JobStatus;
use crate::store::{F_TEXT_ID, JobStore};
use crate::worker::{ColdStart, WebhookDelivery, WorkerTransition};

const MAGIC: &[u8; 4] = b"EMC1";

/// The media type of the encoding.
pub const CONTENT_TYPE: &str = "application/vnd.endpoint-metrics.columns";

/// A decoded snapshot.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Cursor of the change feed at the time of the snapshot: ask for changes from here.
    pub cursor: u64,
    /// Window start, ms since the epoch.
    pub from: i64,
    /// Window end (exclusive).
    pub to: i64,
    /// The jobs.
    pub jobs: JobStore,
    /// Worker events and deliveries.
    pub events: Events,
}

/// The small event lists of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Events {
    /// Worker state transitions.
    pub transitions: Vec<WorkerTransition>,
    /// Cold starts.
    pub cold_starts: Vec<ColdStart>,
    /// Webhook attempts.
    pub deliveries: Vec<WebhookDelivery>,
}

impl Events {
    /// Drops what happened before `t`, except each live worker's last transition
    /// before it (its state at `t`, which time-weighted worker counts start from). A
    /// worker that was gone by `t` leaves nothing behind, so what is held stays
    /// bounded however many workers came and went.
    pub fn prune_before(&mut self, t: i64) {
        let mut last: std::collections::HashMap<&str, usize> = Default::default();
        for (i, tr) in self.transitions.iter().enumerate() {
            if tr.at < t {
                last.insert(tr.worker_id.as_str(), i);
            }
        }
        let mut keep = vec![false; self.transitions.len()];
        for i in last.into_values() {
            keep[i] = self.transitions[i].state.is_some();
        }
        let mut i = 0;
        self.transitions.retain(|tr| {
            let k = tr.at >= t || keep[i];
            i += 1;
            k
        });
        self.cold_starts.retain(|c| c.ready_at >= t);
        self.deliveries.retain(|d| d.at >= t);
    }
}

/// One page of the change feed (`GET /v2/{id}/metrics/changes?cursor=`): everything
/// that changed after the cursor asked from, grouped by kind, in order within a kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// Ask from here next time.
    pub cursor: u64,
    /// Job records after their change.
    pub jobs: Vec<crate::JobRecord>,
    /// Worker state transitions.
    pub transitions: Vec<WorkerTransition>,
    /// Cold starts.
    pub cold_starts: Vec<ColdStart>,
    /// Webhook attempts.
    pub deliveries: Vec<WebhookDelivery>,
}

impl Changes {
    /// Number of changes in the page.
    pub fn len(&self) -> usize {
        self.jobs.len() + self.transitions.len() + self.cold_starts.len() + self.deliveries.len()
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a snapshot could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// Not an EMC1 snapshot (wrong content type or an error page?).
    #[error("not a metrics snapshot (expected the EMC1 format)")]
    BadMagic,
    /// The body ended early: the download was cut.
    #[error("snapshot truncated while reading {0}")]
    Truncated(&'static str),
    /// A value is out of range.
    #[error("snapshot has an invalid {0}")]
    Invalid(String),
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FeedError> {
        let end = self.at.checked_add(n).ok_or(FeedError::Truncated(what))?;
        let s = self.b.get(self.at..end).ok_or(FeedError::Truncated(what))?;
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, FeedError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, FeedError> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    fn col<T, const W: usize>(
        &mut self,
        n: usize,
        what: &'static str,
        f: impl Fn([u8; W]) -> T,
    ) -> Result<Vec<T>, FeedError> {
        let bytes = self.take(n.checked_mul(W).ok_or(FeedError::Truncated(what))?, what)?;
        Ok(bytes
            .chunks_exact(W)
            .map(|c| f(c.try_into().expect("W bytes")))
            .collect())
    }
}

/// Encodes rows `rows` of `store` (e.g. the jobs of a window) with the events.
pub fn encode(
    store: &JobStore,
    rows: &[u32],
    cursor: u64,
    from: i64,
    to: i64,
    events: &Events,
) -> Vec<u8> {
    let n = rows.len();
    let mut out = Vec::with_capacity(64 + n * 46);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&cursor.to_le_bytes());
    out.extend_from_slice(&from.to_le_bytes());
    out.extend_from_slice(&to.to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());

    // One string table: worker names, then messages, then text ids.
    let mut strings: Vec<&str> = Vec::new();
    let worker_base = 0u32;
    strings.extend(store.workers.texts.iter().map(String::as_str));
    let message_base = strings.len() as u32;
    strings.extend(store.messages.texts.iter().map(String::as_str));
    let mut text_ids = Vec::new();
    let mut errors = Vec::new();
    let mut webhook_errors = Vec::new();
    for (i, &r) in rows.iter().enumerate() {
        if store.flags[r as usize] & F_TEXT_ID != 0
            && let Some(t) = store.text_ids.get(&r)
        {
            text_ids.push((i as u32, strings.len() as u32));
            strings.push(t);
        }
        if let Some(&m) = store.errors.get(&r) {
            errors.push((i as u32, message_base + m));
        }
        if let Some(&m) = store.webhook_errors.get(&r) {
            webhook_errors.push((i as u32, message_base + m));
        }
    }
    out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    for s in &strings {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    for &r in rows {
        out.extend_from_slice(&store.ids[r as usize].to_le_bytes());
    }
    for &r in rows {
        out.extend_from_slice(&store.submitted[r as usize].to_le_bytes());
    }
    for &r in rows {
        out.extend_from_slice(&store.delay[r as usize].to_le_bytes());
    }
    for &r in rows {
        out.extend_from_slice(&store.execution[r as usize].to_le_bytes());
    }
    for &r in rows {
        let w = store.worker[r as usize];
        let w = if w == u32::MAX { w } else { worker_base + w };
        out.extend_from_slice(&w.to_le_bytes());
    }
    for &r in rows {
        out.extend_from_slice(&store.webhook_status[r as usize].to_le_bytes());
    }
    out.extend(rows.iter().map(|&r| store.status[r as usize]));
    out.extend(rows.iter().map(|&r| store.retries[r as usize]));
    out.extend(rows.iter().map(|&r| store.webhook_attempts[r as usize]));
    out.extend(rows.iter().map(|&r| store.flags[r as usize]));
    for pairs in [&text_ids, &errors, &webhook_errors] {
        out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
        for (row, s) in pairs.iter() {
            out.extend_from_slice(&row.to_le_bytes());
            out.extend_from_slice(&s.to_le_bytes());
        }
    }
    let ev = serde_json::to_vec(events).unwrap_or_else(|_| b"{}".to_vec());
    out.extend_from_slice(&(ev.len() as u32).to_le_bytes());
    out.extend_from_slice(&ev);
    out
}

/// Decodes a snapshot into a ready [`JobStore`] (index built, strings interned).
pub fn decode(bytes: &[u8]) -> Result<Snapshot, FeedError> {
    let mut r = Reader { b: bytes, at: 0 };
    if r.take(4, "header")? != MAGIC {
        return Err(FeedError::BadMagic);
    }
    let cursor = r.u64("header")?;
    let from = r.u64("header")? as i64;
    let to = r.u64("header")? as i64;
    let n = r.u32("header")? as usize;
    let n_strings = r.u32("string table")? as usize;
    // Each string takes at least 4 bytes and each job 42: refuse counts the body
    // cannot hold before allocating for them.
    if n_strings > bytes.len() / 4 || n > bytes.len() / 42 {
        return Err(FeedError::Truncated("string table"));
    }
    let mut strings = Vec::with_capacity(n_strings);
    for _ in 0..n_strings {
        let len = r.u32("string table")? as usize;
        let s = std::str::from_utf8(r.take(len, "string table")?)
            .map_err(|_| FeedError::Invalid("string (not UTF-8)".into()))?;
        strings.push(s);
    }
    let ids = r.col::<u128, 16>(n, "ids", u128::from_le_bytes)?;
    let submitted = r.col::<i64, 8>(n, "submitted", i64::from_le_bytes)?;
    let delay = r.col::<u32, 4>(n, "delay", u32::from_le_bytes)?;
    let execution = r.col::<u32, 4>(n, "execution", u32::from_le_bytes)?;
    let worker = r.col::<u32, 4>(n, "worker", u32::from_le_bytes)?;
    let webhook_status = r.col::<u16, 2>(n, "webhook status", u16::from_le_bytes)?;
    let status = r.take(n, "status")?.to_vec();
    let retries = r.take(n, "retries")?.to_vec();
    let webhook_attempts = r.take(n, "webhook attempts")?.to_vec();
    let flags = r.take(n, "flags")?.to_vec();
    if let Some(bad) = status.iter().find(|&&s| s as usize >= JobStatus::ALL.len()) {
        return Err(FeedError::Invalid(format!("job status code {bad}")));
    }
    let mut pairs = || -> Result<Vec<(u32, u32)>, FeedError> {
        let count = r.u32("row references")? as usize;
        let flat = r.col::<u32, 4>(
            count
                .checked_mul(2)
                .ok_or(FeedError::Truncated("row references"))?,
            "row references",
            u32::from_le_bytes,
        )?;
        let v: Vec<(u32, u32)> = flat.chunks_exact(2).map(|c| (c[0], c[1])).collect();
        if let Some(&(row, s)) = v
            .iter()
            .find(|&&(row, s)| row as usize >= n || s as usize >= n_strings)
        {
            return Err(FeedError::Invalid(format!("row reference ({row}, {s})")));
        }
        Ok(v)
    };
    let text_ids = pairs()?;
    let errors = pairs()?;
    let webhook_errors = pairs()?;
    let ev_len = r.u32("events")? as usize;
    let events: Events = serde_json::from_slice(r.take(ev_len, "events")?)
        .map_err(|e| FeedError::Invalid(format!("events ({e})")))?;

    // Build the store: columns moved in, strings interned, index built.
    let mut store = JobStore::with_capacity(n);
    let mut worker_map = vec![u32::MAX; n_strings];
    let mut worker_col = worker;
    for w in worker_col.iter_mut() {
        if *w == u32::MAX {
            continue;
        }
        let Some(slot) = worker_map.get_mut(*w as usize) else {
            return Err(FeedError::Invalid(format!("worker reference {w}")));
        };
        if *slot == u32::MAX {
            *slot = store.workers.intern(strings[*w as usize]);
        }
        *w = *slot;
    }
    store.ids = ids;
    store.submitted = submitted;
    store.delay = delay;
    store.execution = execution;
    store.worker = worker_col;
    store.webhook_status = webhook_status;
    store.status = status;
    store.retries = retries;
    store.webhook_attempts = webhook_attempts;
    store.flags = flags;
    for (row, s) in text_ids {
        store.text_ids.insert(row, strings[s as usize].to_string());
    }
    for (row, s) in errors {
        let m = store.messages.intern(strings[s as usize]);
        store.errors.insert(row, m);
    }
    for (row, s) in webhook_errors {
        let m = store.messages.intern(strings[s as usize]);
        store.webhook_errors.insert(row, m);
    }
    for row in 0..n as u32 {
        let key = store.ids[row as usize];
        let text = (store.flags[row as usize] & F_TEXT_ID != 0)
            .then(|| store.text_ids.get(&row).cloned())
            .flatten();
        let dup = store.find_key(key, text.as_deref());
        if dup.is_some() {
            return Err(FeedError::Invalid(format!(
                "duplicate job id `{}`",
                store.id(row)
            )));
        }
        let ids = &store.ids;
        store.index.insert(key, row, |x| ids[x as usize]);
    }
    Ok(Snapshot {
        cursor,
        from,
        to,
        jobs: store,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobRecord, WebhookSummary};
    use crate::worker::WorkerState;

    fn sample() -> (JobStore, Events) {
        let mut s = JobStore::default();
        for i in 0..50u64 {
            let id = if i % 10 == 3 {
                format!("text-id-{i}")
            } else {
                format!("00000000-0000-4000-8000-{i:012x}")
            };
            let mut r = JobRecord::queued(id, 1_000 + i as i64);
            if i % 2 == 0 {
                r.status = if i % 4 == 0 {
                    JobStatus::Completed
                } else {
                    JobStatus::Failed
                };
                r.started_at = Some(1_100 + i as i64);
                r.completed_at = Some(2_000 + i as i64 * 3);
                r.worker_id = Some(format!("w{}", i % 3));
                r.error = (i % 4 == 2).then(|| "CUDA out of memory".to_string());
                r.webhook = Some(WebhookSummary {
                    attempts: 2,
                    last_status: Some(502),
                    last_error: None,
                    delivered: false,
                });
            }
            s.upsert(&r).unwrap();
        }
        let events = Events {
            transitions: vec![WorkerTransition {
                worker_id: "w1".into(),
                state: Some(WorkerState::Idle),
                at: 5,
            }],
            cold_starts: vec![ColdStart {
                worker_id: "w1".into(),
                started_at: 1,
                ready_at: 5,
                duration: 4.0,
            }],
            deliveries: vec![],
        };
        (s, events)
    }

    #[test]
    fn round_trip_keeps_every_record() {
        let (store, events) = sample();
        let rows: Vec<u32> = (0..store.len() as u32).collect();
        let bytes = encode(&store, &rows, 77, 0, 10_000, &events);
        let snap = decode(&bytes).unwrap();
        assert_eq!((snap.cursor, snap.from, snap.to), (77, 0, 10_000));
        assert_eq!(snap.events, events);
        assert_eq!(snap.jobs.len(), store.len());
        for row in 0..store.len() as u32 {
            assert_eq!(snap.jobs.record(row), store.record(row), "row {row}");
            assert_eq!(snap.jobs.find(&store.id(row)), Some(row));
        }
        // A subset of rows, e.g. one window.
        let some = [4u32, 13, 40];
        let snap = decode(&encode(&store, &some, 1, 0, 1, &Events::default())).unwrap();
        assert_eq!(snap.jobs.len(), 3);
        assert_eq!(snap.jobs.record(1), store.record(13));
    }

    #[test]
    fn minimal_jobs_without_strings_round_trip() {
        // 42 bytes a job, no string table: the size checks must not refuse it.
        let mut s = JobStore::default();
        for i in 0..1_000u64 {
            s.upsert(&JobRecord::queued(
                format!("00000000-0000-4000-8000-{i:012x}"),
                i as i64,
            ))
            .unwrap();
        }
        let rows: Vec<u32> = (0..1_000).collect();
        let snap = decode(&encode(&s, &rows, 0, 0, 1, &Events::default())).unwrap();
        assert_eq!(snap.jobs.len(), 1_000);
        assert_eq!(snap.jobs.record(999), s.record(999));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let (store, events) = sample();
        let rows: Vec<u32> = (0..store.len() as u32).collect();
        let bytes = encode(&store, &rows, 1, 0, 1, &events);
        for cut in 0..bytes.len() {
            let e = decode(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(
                    e,
                    FeedError::Truncated(_) | FeedError::BadMagic | FeedError::Invalid(_)
                ),
                "cut {cut}: {e}"
            );
        }
        assert_eq!(
            decode(b"{\"error\":\"x\"}").unwrap_err(),
            FeedError::BadMagic
        );
    }

    #[test]
    fn corrupt_values_are_named() {
        let (store, _) = sample();
        let rows: Vec<u32> = (0..store.len() as u32).collect();
        let mut bytes = encode(&store, &rows, 1, 0, 1, &Events::default());
        // Find the status column: right after the u16 webhook column. Corrupt one status.
        let n = store.len();
        let header = 4 + 8 + 8 + 8 + 4;
        let strings_len: usize = {
            let mut at = header;
            let count = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            at += 4;
            for _ in 0..count {
                let l = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
                at += 4 + l;
            }
            at - header
        };
        let status_at = header + strings_len + n * (16 + 8 + 4 + 4 + 4 + 2);
        bytes[status_at] = 9;
        let e = decode(&bytes).unwrap_err();
        assert_eq!(e.to_string(), "snapshot has an invalid job status code 9");
    }
}
