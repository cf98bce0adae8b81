//! The metrics feed's window snapshot, in a columnar binary encoding ("EMC2").
//!
//! A snapshot carries the jobs of a window as the columns of a [`JobStore`], so the
//! panel decodes a million jobs by copying arrays instead of parsing a million JSON
//! objects (see docs/benchmarks.md for the measurement that chose it), and the
//! window's worker transitions, cold starts and webhook deliveries as columns too: a
//! day of forty workers is some 200,000 transitions, which as JSON were a quarter of
//! the body and most of its decoding time (EMC2 carried them so).
//!
//! Layout, little-endian:
//!
//! ```text
//! "EMC2" | cursor u64 | from i64 | to i64 | n u32
//! strings: count u32, then (len u32, utf-8 bytes)*
//!          (worker ids, messages, text ids, then the deliveries' text job ids and errors)
//! ids [u128; n] | submitted [i64; n] | delay [u32; n] | execution [u32; n]
//! worker [u32; n] (string index, u32::MAX = none) | webhook status [u16; n]
//! status [u8; n] | retries [u8; n] | webhook attempts [u8; n] | flags [u8; n]
//! text ids, errors, webhook errors: each count u32, then (row u32, string u32)*
//! transitions: t u32 | worker [u32; t] (string) | state [u8; t] (255 = stopped) | at [i64; t]
//! cold starts: c u32 | worker [u32; c] (string) | started [i64; c] | ready [i64; c]
//!              | duration [f64; c]
//! deliveries: d u32 | job [u128; d] (as ids) | attempt [u8; d] | at [i64; d]
//!             | status [u16; d] (0 = no answer)
//! deliveries' text job ids, then their errors: each count u32, then (delivery u32, string u32)*
//! ```
//!
//! Decoding checks every length, index and value and fails with a [`FeedError`] that
//! says what was wrong; it never panics on bad input.

use serde::{Deserialize, Serialize};

use crate::job::JobStatus;
use crate::store::{F_TEXT_ID, JobStore, format_uuid, id_key};
use crate::worker::{ColdStart, WebhookDelivery, WorkerState, WorkerTransition};

const MAGIC: &[u8; 4] = b"EMC2";

/// A transition's state code for "the worker stopped".
const STOPPED: u8 = u8::MAX;

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
    /// Not an EMC2 snapshot: the wrong content type, an error page, or a server of
    /// another version (EMC2 was the encoding before 2026-12-06); serve the panel
    /// built with the server.
    #[error("not a metrics snapshot in the EMC2 format (a server of another version?)")]
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
    /// A count and as many (item, string) pairs, each item below `items` and each
    /// string below `strings`.
    fn pairs(
        &mut self,
        items: usize,
        strings: usize,
        what: &'static str,
    ) -> Result<Vec<(u32, u32)>, FeedError> {
        let count = self.u32(what)? as usize;
        let flat = self.col::<u32, 4>(
            count.checked_mul(2).ok_or(FeedError::Truncated(what))?,
            what,
            u32::from_le_bytes,
        )?;
        let v: Vec<(u32, u32)> = flat.chunks_exact(2).map(|c| (c[0], c[1])).collect();
        if let Some(&(item, s)) = v
            .iter()
            .find(|&&(item, s)| item as usize >= items || s as usize >= strings)
        {
            return Err(FeedError::Invalid(format!("{what} ({item}, {s})")));
        }
        Ok(v)
    }
}

/// The events' columns, their strings looked up in `strings`.
fn decode_events(r: &mut Reader<'_>, strings: &[&str]) -> Result<Events, FeedError> {
    let name = |i: u32, what: &str| -> Result<String, FeedError> {
        strings
            .get(i as usize)
            .map(|s| s.to_string())
            .ok_or_else(|| FeedError::Invalid(format!("{what} reference {i}")))
    };
    let t = r.u32("transitions")? as usize;
    let workers = r.col::<u32, 4>(t, "transitions", u32::from_le_bytes)?;
    let states = r.take(t, "transitions")?;
    let at = r.col::<i64, 8>(t, "transitions", i64::from_le_bytes)?;
    let mut transitions = Vec::with_capacity(t);
    for i in 0..t {
        let state = match states[i] {
            STOPPED => None,
            c => Some(
                *WorkerState::ALL
                    .get(c as usize)
                    .ok_or_else(|| FeedError::Invalid(format!("worker state code {c}")))?,
            ),
        };
        transitions.push(WorkerTransition {
            worker_id: name(workers[i], "transition worker")?,
            state,
            at: at[i],
        });
    }
    let c = r.u32("cold starts")? as usize;
    let workers = r.col::<u32, 4>(c, "cold starts", u32::from_le_bytes)?;
    let started = r.col::<i64, 8>(c, "cold starts", i64::from_le_bytes)?;
    let ready = r.col::<i64, 8>(c, "cold starts", i64::from_le_bytes)?;
    let duration = r.col::<f64, 8>(c, "cold starts", f64::from_le_bytes)?;
    let mut cold_starts = Vec::with_capacity(c);
    for i in 0..c {
        if !duration[i].is_finite() {
            return Err(FeedError::Invalid(format!(
                "cold start duration {}",
                duration[i]
            )));
        }
        cold_starts.push(ColdStart {
            worker_id: name(workers[i], "cold start worker")?,
            started_at: started[i],
            ready_at: ready[i],
            duration: duration[i],
        });
    }
    let d = r.u32("deliveries")? as usize;
    let keys = r.col::<u128, 16>(d, "deliveries", u128::from_le_bytes)?;
    let attempts = r.take(d, "deliveries")?;
    let at = r.col::<i64, 8>(d, "deliveries", i64::from_le_bytes)?;
    let status = r.col::<u16, 2>(d, "deliveries", u16::from_le_bytes)?;
    let text_ids = r.pairs(d, strings.len(), "delivery references")?;
    let errors = r.pairs(d, strings.len(), "delivery references")?;
    let mut deliveries: Vec<WebhookDelivery> = (0..d)
        .map(|i| WebhookDelivery {
            job_id: String::new(),
            attempt: attempts[i],
            at: at[i],
            status: (status[i] != 0).then_some(status[i]),
            error: None,
        })
        .collect();
    for (i, s) in text_ids {
        deliveries[i as usize].job_id = strings[s as usize].to_string();
    }
    for (dl, key) in deliveries.iter_mut().zip(keys) {
        if dl.job_id.is_empty() {
            dl.job_id = format_uuid(key);
        }
    }
    for (i, s) in errors {
        deliveries[i as usize].error = Some(strings[s as usize].to_string());
    }
    Ok(Events {
        transitions,
        cold_starts,
        deliveries,
    })
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

    // One string table: worker names, then messages, then text ids, then what the
    // events add (their workers not in the jobs' table, the deliveries' text job ids
    // and errors, each once).
    let mut table = Strings::default();
    for w in &store.workers.texts {
        table.intern(w);
    }
    let message_base = table.list.len() as u32;
    for m in &store.messages.texts {
        table.list.push(m);
    }
    let mut text_ids = Vec::new();
    let mut errors = Vec::new();
    let mut webhook_errors = Vec::new();
    for (i, &r) in rows.iter().enumerate() {
        if store.flags[r as usize] & F_TEXT_ID != 0
            && let Some(t) = store.text_ids.get(&r)
        {
            text_ids.push((i as u32, table.intern(t)));
        }
        if let Some(&m) = store.errors.get(&r) {
            errors.push((i as u32, message_base + m));
        }
        if let Some(&m) = store.webhook_errors.get(&r) {
            webhook_errors.push((i as u32, message_base + m));
        }
    }
    let tr_workers: Vec<u32> = events
        .transitions
        .iter()
        .map(|t| table.intern(&t.worker_id))
        .collect();
    let cs_workers: Vec<u32> = events
        .cold_starts
        .iter()
        .map(|c| table.intern(&c.worker_id))
        .collect();
    let mut dl_keys = Vec::with_capacity(events.deliveries.len());
    let mut dl_text_ids = Vec::new();
    let mut dl_errors = Vec::new();
    for (i, d) in events.deliveries.iter().enumerate() {
        let (key, is_text) = id_key(&d.job_id);
        if is_text {
            dl_text_ids.push((i as u32, table.intern(&d.job_id)));
            dl_keys.push(0);
        } else {
            dl_keys.push(key);
        }
        if let Some(e) = &d.error {
            dl_errors.push((i as u32, table.intern(e)));
        }
    }
    let strings = table.list;
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
        // The jobs' worker names are the table's first strings, in their order.
        out.extend_from_slice(&store.worker[r as usize].to_le_bytes());
    }
    for &r in rows {
        out.extend_from_slice(&store.webhook_status[r as usize].to_le_bytes());
    }
    out.extend(rows.iter().map(|&r| store.status[r as usize]));
    out.extend(rows.iter().map(|&r| store.retries[r as usize]));
    out.extend(rows.iter().map(|&r| store.webhook_attempts[r as usize]));
    out.extend(rows.iter().map(|&r| store.flags[r as usize]));
    let pairs = |out: &mut Vec<u8>, pairs: &[(u32, u32)]| {
        out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
        for (row, s) in pairs {
            out.extend_from_slice(&row.to_le_bytes());
            out.extend_from_slice(&s.to_le_bytes());
        }
    };
    for p in [&text_ids, &errors, &webhook_errors] {
        pairs(&mut out, p);
    }
    let count = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&(n as u32).to_le_bytes());
    let tr = &events.transitions;
    count(&mut out, tr.len());
    column(&mut out, tr_workers.iter().map(|w| w.to_le_bytes()));
    column(
        &mut out,
        tr.iter()
            .map(|t| [t.state.map_or(STOPPED, |s| s.index() as u8)]),
    );
    column(&mut out, tr.iter().map(|t| t.at.to_le_bytes()));
    let cs = &events.cold_starts;
    count(&mut out, cs.len());
    column(&mut out, cs_workers.iter().map(|w| w.to_le_bytes()));
    column(&mut out, cs.iter().map(|c| c.started_at.to_le_bytes()));
    column(&mut out, cs.iter().map(|c| c.ready_at.to_le_bytes()));
    column(&mut out, cs.iter().map(|c| c.duration.to_le_bytes()));
    let dl = &events.deliveries;
    count(&mut out, dl.len());
    column(&mut out, dl_keys.iter().map(|k| k.to_le_bytes()));
    column(&mut out, dl.iter().map(|d| [d.attempt]));
    column(&mut out, dl.iter().map(|d| d.at.to_le_bytes()));
    column(
        &mut out,
        dl.iter().map(|d| d.status.unwrap_or(0).to_le_bytes()),
    );
    pairs(&mut out, &dl_text_ids);
    pairs(&mut out, &dl_errors);
    out
}

/// Appends a column: each value's little-endian bytes.
fn column<const W: usize>(out: &mut Vec<u8>, values: impl Iterator<Item = [u8; W]>) {
    for v in values {
        out.extend_from_slice(&v);
    }
}

/// The string table as it is written: each string's index is its place in `list`;
/// `intern` finds one written before (worker names, the events' strings).
#[derive(Default)]
struct Strings<'a> {
    list: Vec<&'a str>,
    found: std::collections::HashMap<&'a str, u32>,
}

impl<'a> Strings<'a> {
    fn intern(&mut self, s: &'a str) -> u32 {
        if let Some(&i) = self.found.get(s) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(s);
        self.found.insert(s, i);
        i
    }
}

/// Decodes a snapshot into a ready [`JobStore`] (index built, strings interned).
pub fn decode(bytes: &[u8]) -> Result<Snapshot, FeedError> {
    let mut snap = decode_unindexed(bytes)?;
    snap.jobs
        .index_ids()
        .map_err(|e| FeedError::Invalid(e.to_string()))?;
    Ok(snap)
}

/// [`decode`] without building the store's id index, which is most of the work at a
/// million jobs: aggregating needs no index, so the panel answers first and calls
/// [`JobStore::index_ids`] after (a job held twice is refused then).
pub fn decode_unindexed(bytes: &[u8]) -> Result<Snapshot, FeedError> {
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
    let text_ids = r.pairs(n, n_strings, "row references")?;
    let errors = r.pairs(n, n_strings, "row references")?;
    let webhook_errors = r.pairs(n, n_strings, "row references")?;
    let events = decode_events(&mut r, &strings)?;
    if r.at != bytes.len() {
        return Err(FeedError::Invalid(format!(
            "length ({} bytes after the deliveries)",
            bytes.len() - r.at
        )));
    }

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
    store.unindexed = n > 0;
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
    use crate::store::Upsert;
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
        // Every kind of event: a worker that ran no job of the window (w9), one that
        // stopped, deliveries of UUID and text ids, answered and not.
        let events = Events {
            transitions: vec![
                WorkerTransition {
                    worker_id: "w1".into(),
                    state: Some(WorkerState::Idle),
                    at: 5,
                },
                WorkerTransition {
                    worker_id: "w9".into(),
                    state: Some(WorkerState::Unhealthy),
                    at: 6,
                },
                WorkerTransition {
                    worker_id: "w1".into(),
                    state: None,
                    at: 7,
                },
            ],
            cold_starts: vec![ColdStart {
                worker_id: "w9".into(),
                started_at: 1,
                ready_at: 5,
                duration: 4.0,
            }],
            deliveries: vec![
                WebhookDelivery {
                    job_id: "00000000-0000-4000-8000-000000000002".into(),
                    attempt: 1,
                    at: 9,
                    status: Some(200),
                    error: None,
                },
                WebhookDelivery {
                    job_id: "text-id-3".into(),
                    attempt: 3,
                    at: 10,
                    status: None,
                    error: Some("connection refused".into()),
                },
            ],
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

    #[test]
    fn a_job_twice_is_refused_by_its_id() {
        let (store, _) = sample();
        let none = Events::default();
        // Rows 0 and 3 have a UUID and a text id; 13 (text) and 23 differ from both.
        for (rows, id) in [
            (vec![0u32, 1, 0], "00000000-0000-4000-8000-000000000000"),
            (vec![3u32, 13, 23, 3], "text-id-3"),
        ] {
            let e = decode(&encode(&store, &rows, 1, 0, 1, &none)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("snapshot has an invalid duplicate job id `{id}`")
            );
        }
        let snap = decode(&encode(&store, &[3, 13, 23, 0], 1, 0, 1, &none)).unwrap();
        assert_eq!(snap.jobs.find("text-id-13"), Some(1));
    }

    #[test]
    fn a_store_decoded_without_its_index_finds_updates_and_refuses_like_one_with_it() {
        let (store, _) = sample();
        let none = Events::default();
        let rows: Vec<u32> = (0..store.len() as u32).collect();
        let mut snap = decode_unindexed(&encode(&store, &rows, 1, 0, 1, &none)).unwrap();
        assert!(!snap.jobs.is_indexed());
        // Found by a scan meanwhile.
        assert_eq!(snap.jobs.find("text-id-13"), Some(13));
        assert_eq!(
            snap.jobs.find("00000000-0000-4000-8000-000000000004"),
            Some(4)
        );
        assert_eq!(snap.jobs.find("nope"), None);
        // An upsert builds the index first: a known id is updated, not added.
        let mut r = store.record(4);
        r.retries = 2;
        assert!(matches!(
            snap.jobs.upsert(&r).unwrap(),
            Upsert::Updated { row: 4, .. }
        ));
        assert!(snap.jobs.is_indexed());
        assert_eq!(snap.jobs.len(), store.len());
        assert_eq!(snap.jobs.find("text-id-13"), Some(13));
        // A job twice decodes, and is refused when the index is built.
        let mut dup = decode_unindexed(&encode(&store, &[3, 13, 3], 1, 0, 1, &none)).unwrap();
        assert_eq!(
            dup.jobs.index_ids().unwrap_err().to_string(),
            "duplicate job id `text-id-3`"
        );
        assert!(!dup.jobs.is_indexed());
        assert!(dup.jobs.upsert(&store.record(0)).is_err());
    }

    #[test]
    fn corrupt_events_are_named() {
        let (store, events) = sample();
        let rows: Vec<u32> = (0..store.len() as u32).collect();
        let bytes = encode(&store, &rows, 1, 0, 1, &events);
        // The deliveries' columns and references are the body's last bytes: two
        // (delivery, string) pairs after two counts, before them the statuses, times,
        // attempts and keys of two deliveries; before them the cold start, and
        // before it the three transitions' times, then states.
        let pairs = 4 + 8 + 4 + 8;
        let deliveries = 4 + 2 * (16 + 1 + 8 + 2);
        let cold = 4 + 4 + 8 + 8 + 8;
        let states_at = bytes.len() - pairs - deliveries - cold - 3 * 8 - 3;
        let mut bad = bytes.clone();
        bad[states_at + 1] = 6;
        assert_eq!(
            decode(&bad).unwrap_err().to_string(),
            "snapshot has an invalid worker state code 6"
        );
        let duration_at = bytes.len() - pairs - deliveries - 8;
        let mut bad = bytes.clone();
        bad[duration_at..duration_at + 8].copy_from_slice(&f64::NAN.to_le_bytes());
        assert_eq!(
            decode(&bad).unwrap_err().to_string(),
            "snapshot has an invalid cold start duration NaN"
        );
        let mut bad = bytes.clone();
        bad.extend_from_slice(b"more");
        assert_eq!(
            decode(&bad).unwrap_err().to_string(),
            "snapshot has an invalid length (4 bytes after the deliveries)"
        );
        // The honest body, for contrast.
        assert_eq!(decode(&bytes).unwrap().events, events);
    }
}
