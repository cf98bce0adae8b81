//! The engine: what holds each feed's records, follows the feed and answers the page.
//!
//! The page does not keep the records. It asks [`FeedHost`] to refresh a feed (take
//! a snapshot, or merge the changes since its cursor, then aggregate over the
//! window) and gets the finished numbers; the job list, a job's detail and the
//! workers tab ask for what they draw: the counts and rows in view, one job, the
//! lanes, the derived facts. Each question names its feed, so several panels on one
//! page share one engine.
//!
//! The host runs where the heavy work belongs: in the panel's Web Worker
//! (the `engine` module), or on the page when no worker can run. It does its
//! own IO (the HTTP feed, or the Demo) and is otherwise plain data: the page drops a
//! refresh's future to abandon it, and the records are borrowed only between awaits.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use endpoint_core::query::{Listing, WebhookOutcome, webhook_outcome};
use endpoint_core::{Aggregation, JobStatus, Window};
use serde::{Deserialize, Serialize};

use crate::feed::api::{Answer, FetchError};
use crate::feed::data::{MetricsData, NowCounts};
use crate::feed::messages::{FeedAsk, Follow};
use crate::feed::source::{CHANGES_LIMIT, Source};
use crate::jobs::detail::JobDetail;
use crate::jobs::view::JobsView;
use crate::view::range::{self, MAX_RANGE_MS};
use crate::view::state::EndpointRef;
use crate::workers::facts::{self, WorkerFacts};
use crate::workers::lanes::{self, Lanes};

/// The numbers after a refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refreshed {
    /// Every bucket's numbers, and the window's.
    pub agg: Aggregation,
    /// Jobs queued and running, workers by state, now.
    pub now: NowCounts,
    /// The window aggregated (its bucket width may be the automatic one).
    pub window: Window,
    /// Whether the window moved (a slide, or a new width): the aggregation was
    /// rebuilt from the records held.
    pub slid: bool,
}

/// The job list's numbers: how many jobs it lists, and the chips' counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListSummary {
    /// Jobs listed.
    pub total: usize,
    /// Jobs of each state passing every filter but the state filter.
    pub counts: [u64; 6],
}

/// One row of the job list, as the table draws it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowData {
    /// Its place in the listing.
    pub index: usize,
    /// Job id.
    pub id: String,
    /// State.
    pub status: JobStatus,
    /// Submitted, ms since the epoch.
    pub submitted_at: i64,
    /// Time in queue, ms.
    pub delay: Option<f64>,
    /// Time running, ms.
    pub execution: Option<f64>,
    /// The worker that took it.
    pub worker: Option<String>,
    /// Retries so far.
    pub retries: u8,
    /// How its webhook went.
    pub webhook: WebhookOutcome,
    /// The last HTTP status its webhook got, if any.
    pub webhook_status: Option<u16>,
}

/// One feed's state in the host.
#[derive(Default)]
struct Held {
    follow: Option<Follow>,
    data: Option<MetricsData>,
    listing: Listing,
    /// Why the records were dropped after their numbers were answered (a snapshot
    /// holding a job twice, found when its index was built): the next refresh says so.
    refused: Option<String>,
}

impl Held {
    /// Builds the records' id index if they have none yet; a job held twice drops
    /// them, and the next refresh says why.
    fn index(&mut self) {
        if let Some(d) = self.data.as_mut() {
            if let Err(e) = d.index_ids() {
                self.data = None;
                self.listing = Listing::default();
                self.refused = Some(format!("the snapshot has a {e}"));
            }
            crate::view::time::mark("em-snapshot-indexed");
        }
    }
}

/// Every feed's records, and the answers computed from them.
#[derive(Default)]
pub struct FeedHost {
    feeds: Rc<RefCell<HashMap<u32, Held>>>,
}

impl FeedHost {
    /// An engine with no feed.
    pub fn new() -> Self {
        Self::default()
    }

    /// A host whose feed `feed` already holds `data` (tests; a panel mounted with
    /// records).
    pub fn with_records(feed: u32, endpoint: EndpointRef, data: MetricsData) -> Self {
        let host = FeedHost::new();
        let w = data.window();
        let held = Held {
            follow: Some(Follow {
                endpoint,
                key: None,
                range: range::Range::Last(w.to - w.from),
                bucket: Some(w.bucket),
            }),
            data: Some(data),
            ..Held::default()
        };
        host.feeds.borrow_mut().insert(feed, held);
        host
    }

    /// Refreshes `feed` for `follow` at `now`: a snapshot when there is no data for
    /// the window yet (or the endpoint or key changed), otherwise the changes since
    /// the last cursor (every page of them), then the window moved to now. `None`
    /// when the records were dropped meanwhile. A cursor the feed no longer has
    /// (410) drops the records, so the next refresh takes a new snapshot.
    pub async fn refresh(
        &self,
        feed: u32,
        follow: &Follow,
        now: i64,
    ) -> Result<Option<Refreshed>, FetchError> {
        if let Some(why) = self.with(feed, |h| h.refused.take()) {
            return Err(FetchError::Invalid(why));
        }
        let src = self.source_for(feed, follow);
        let r = self.step(feed, &src, follow, now).await;
        if let Err(FetchError::Http { status: 410, .. }) = &r {
            self.with(feed, |h| h.data = None);
        }
        let slid = r?;
        Ok(self.with(feed, |h| {
            h.data.as_mut().map(|d| Refreshed {
                agg: d.result(),
                now: d.now(),
                window: d.window(),
                slid,
            })
        }))
    }

    /// Forgets `feed` (its panel is gone).
    pub fn forget(&self, feed: u32) {
        self.feeds.borrow_mut().remove(&feed);
    }

    /// Lists the jobs of `query` over the window, keeping the listing for
    /// [`FeedHost::rows`], [`FeedHost::ids`] and [`FeedHost::export`].
    pub fn list(&self, feed: u32, query: &JobsView) -> Option<ListSummary> {
        self.with(feed, |h| {
            let d = h.data.as_ref()?;
            h.listing = d.list(query);
            Some(ListSummary {
                total: h.listing.rows.len(),
                counts: h.listing.counts,
            })
        })
    }

    /// Rows `first..first + count` of the last listing.
    pub fn rows(&self, feed: u32, first: usize, count: usize) -> Vec<RowData> {
        self.with(feed, |h| {
            let Some(d) = h.data.as_ref() else {
                return Vec::new();
            };
            let s = d.store();
            let end = first.saturating_add(count).min(h.listing.rows.len());
            let slice = h.listing.rows.get(first..end).unwrap_or(&[]);
            slice
                .iter()
                .enumerate()
                .filter(|(_, r)| (**r as usize) < s.len())
                .map(|(k, &r)| {
                    let rec = s.record(r);
                    RowData {
                        webhook: webhook_outcome(s, r),
                        webhook_status: rec.webhook.as_ref().and_then(|w| w.last_status),
                        index: first + k,
                        id: rec.id,
                        status: rec.status,
                        submitted_at: rec.submitted_at,
                        delay: rec.delay_time,
                        execution: rec.execution_time,
                        worker: rec.worker_id,
                        retries: rec.retries,
                    }
                })
                .collect()
        })
    }

    /// The ids of every job in the last listing (select all).
    pub fn ids(&self, feed: u32) -> Vec<String> {
        self.with(feed, |h| {
            let Some(d) = h.data.as_ref() else {
                return Vec::new();
            };
            let s = d.store();
            h.listing
                .rows
                .iter()
                .filter(|r| (**r as usize) < s.len())
                .map(|&r| s.id(r))
                .collect()
        })
    }

    /// Those of `ids` that are queued or running (what a bulk cancel may cancel).
    pub fn unfinished(&self, feed: u32, ids: &[String]) -> Vec<String> {
        self.with(feed, |h| {
            let Some(d) = h.data.as_ref() else {
                return Vec::new();
            };
            let s = d.store();
            ids.iter()
                .filter(|id| s.find(id).is_some_and(|r| !s.row(r).status.is_terminal()))
                .cloned()
                .collect()
        })
    }

    /// The last listing as CSV, or as JSON.
    pub fn export(&self, feed: u32, json: bool) -> Option<String> {
        self.with(feed, |h| {
            let d = h.data.as_ref()?;
            Some(if json {
                crate::jobs::export::json(d.store(), &h.listing.rows)
            } else {
                crate::jobs::export::csv(d.store(), &h.listing.rows)
            })
        })
    }

    /// Everything held about job `id`.
    pub fn detail(&self, feed: u32, id: &str) -> Option<JobDetail> {
        self.with(feed, |h| h.data.as_ref()?.detail(id))
    }

    /// The workers' lanes over the window, at `now`.
    pub fn lanes(&self, feed: u32, now: i64) -> Option<Lanes> {
        self.with(feed, |h| {
            let d = h.data.as_ref()?;
            let w = d.window();
            Some(lanes::lanes(d.store(), d.events(), w.from, w.to, now))
        })
    }

    /// Facts about every worker, derived from the records.
    pub fn facts(&self, feed: u32) -> Option<Vec<WorkerFacts>> {
        self.with(feed, |h| {
            let d = h.data.as_ref()?;
            Some(facts::derive_facts(d.store(), d.events()))
        })
    }

    /// Answers `ask` about `feed` at `now`, the reply written as JSON in an
    /// [`Answer`] (read back by [`read_reply`]; a reply that cannot be written is an
    /// empty body, which does not read).
    pub async fn answer(&self, feed: u32, ask: &FeedAsk, now: i64) -> Answer {
        match ask {
            FeedAsk::Refresh { follow } => {
                Answer::json(200, &self.refresh(feed, follow, now).await)
            }
            FeedAsk::List { query } => {
                Answer::json(200, &self.list(feed, &JobsView::from_params(query)))
            }
            FeedAsk::Rows { first, count } => Answer::json(200, &self.rows(feed, *first, *count)),
            FeedAsk::Ids => Answer::json(200, &self.ids(feed)),
            FeedAsk::Unfinished { ids } => Answer::json(200, &self.unfinished(feed, ids)),
            FeedAsk::Export { json: as_json } => Answer::json(200, &self.export(feed, *as_json)),
            FeedAsk::Detail { id } => Answer::json(200, &self.detail(feed, id)),
            FeedAsk::Lanes { now } => Answer::json(200, &self.lanes(feed, *now)),
            FeedAsk::Facts => Answer::json(200, &self.facts(feed)),
            FeedAsk::Forget => {
                self.forget(feed);
                Answer::json(200, &())
            }
        }
    }

    /// Builds `feed`'s id index once this answer is out: in the worker, while the
    /// page draws the numbers. (Until then a lookup by id scans, and a merge builds
    /// it first.)
    fn index_later(&self, feed: u32) {
        let feeds = self.feeds.clone();
        let index = move || {
            if let Some(h) = feeds.borrow_mut().get_mut(&feed) {
                h.index();
            }
        };
        #[cfg(target_arch = "wasm32")]
        wasm_bindgen_futures::spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(0).await;
            index();
        });
        #[cfg(not(target_arch = "wasm32"))]
        index();
    }

    fn with<R>(&self, feed: u32, f: impl FnOnce(&mut Held) -> R) -> R {
        f(self.feeds.borrow_mut().entry(feed).or_default())
    }

    /// The source for `follow`; a new endpoint drops the records held.
    fn source_for(&self, feed: u32, follow: &Follow) -> Source {
        self.with(feed, |h| {
            if h.follow
                .as_ref()
                .is_none_or(|f| f.endpoint != follow.endpoint)
            {
                h.data = None;
                h.listing = Listing::default();
            }
            h.follow = Some(follow.clone());
        });
        Source::for_endpoint(&follow.endpoint, follow.key.clone())
    }

    async fn step(
        &self,
        feed: u32,
        src: &Source,
        v: &Follow,
        now: i64,
    ) -> Result<bool, FetchError> {
        let held = self.with(feed, |h| {
            h.data
                .as_ref()
                .map(|d| (d.store().len(), d.window().bucket))
        });
        let window = match held {
            Some((jobs, width)) => {
                range::window_at(v.range, Some(bucket_for(v, jobs, Some(width))), now)
            }
            None => range::window_at(v.range, v.bucket, now),
        };
        let cursor = self.with(feed, |h| {
            h.data
                .as_ref()
                .filter(|d| d.covers(&window))
                .map(|d| d.cursor())
        });
        match cursor {
            Some(mut cursor) => {
                loop {
                    let ch = src.changes(cursor, now).await?;
                    let full = ch.len() >= CHANGES_LIMIT;
                    let merged = self.with(feed, |h| {
                        h.data.as_mut().map(|d| d.merge(&ch).map(|()| d.cursor()))
                    });
                    match merged {
                        None => return Ok(false),
                        Some(r) => cursor = r?,
                    }
                    if !full {
                        break;
                    }
                }
                Ok(self.with(feed, |h| {
                    h.data.as_mut().is_some_and(|d| d.set_window(window))
                }))
            }
            None => {
                // One bucket earlier than this width needs: the automatic width
                // chosen from the snapshot's jobs may align the window a little
                // earlier.
                let from = (window.from - window.bucket).max(window.to - MAX_RANGE_MS);
                crate::view::time::mark("em-snapshot-start");
                let snap = src.snapshot(from, window.to, now).await?;
                crate::view::time::mark("em-snapshot-decoded");
                let window =
                    range::window_at(v.range, Some(bucket_for(v, snap.jobs.len(), None)), now);
                let data = MetricsData::from_snapshot(snap, window, now);
                crate::view::time::mark("em-snapshot-aggregated");
                self.with(feed, |h| h.data = Some(data));
                self.index_later(feed);
                Ok(false)
            }
        }
    }
}

/// Reads the engine's reply to a question: what [`FeedHost::answer`] wrote, or why
/// there is none (the engine failed, or its message does not read).
pub fn read_reply<T: serde::de::DeserializeOwned>(a: &Answer) -> Result<T, String> {
    if a.status != 200 {
        return Err(format!(
            "the engine answered {}: {}",
            a.status,
            a.error_message()
        ));
    }
    serde_json::from_slice(&a.body).map_err(|e| format!("the engine's answer does not read: {e}"))
}

/// The bucket width for `v`: the user's, or the automatic one for the `jobs` held
/// (keeping `current` while it still gives readable percentiles).
fn bucket_for(v: &Follow, jobs: usize, current: Option<i64>) -> i64 {
    v.bucket
        .unwrap_or_else(|| range::auto_bucket_for(v.range.span(), jobs as u64, current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use endpoint_sim::demo::{Demo, DemoConfig};

    const NOW: i64 = 1_800_000_000_000;
    const H: i64 = 3_600_000;

    fn data() -> MetricsData {
        let demo = Demo::new(
            5,
            NOW,
            DemoConfig {
                history_ms: 2 * H,
                ..DemoConfig::default()
            },
        );
        let w = Window::new(NOW - H, NOW + 60_000, 60_000).unwrap();
        MetricsData::from_snapshot(demo.snapshot(w.from, w.to), w, NOW)
    }

    #[test]
    fn a_snapshot_holding_a_job_twice_is_refused_once_its_index_is_built() {
        use endpoint_core::feed::{Events, decode_unindexed, encode};
        let w = Window::new(NOW - H, NOW + 60_000, 60_000).unwrap();
        let store = data().store().clone();
        let held = |rows: &[u32]| {
            let bytes = encode(&store, rows, 1, w.from, w.to, &Events::default());
            let snap = decode_unindexed(&bytes).unwrap();
            // The numbers are computed before the index is built.
            FeedHost::with_records(
                7,
                EndpointRef::Demo,
                MetricsData::from_snapshot(snap, w, NOW),
            )
        };
        let query = JobsView::default();
        // Every job once: indexed, kept.
        let host = held(&[0, 1, 2]);
        host.with(7, |h| h.index());
        assert!(host.with(7, |h| h.data.as_ref().unwrap().store().is_indexed()));
        assert_eq!(host.list(7, &query).map(|s| s.total), Some(3));
        // A job twice: the records are dropped, and the next refresh says why
        // (before any IO).
        let host = held(&[0, 1, 0]);
        assert_eq!(host.list(7, &query).map(|s| s.total), Some(3));
        host.with(7, |h| h.index());
        assert_eq!(host.list(7, &query), None);
        let follow = host.with(7, |h| h.follow.clone()).unwrap();
        let r = futures::executor::block_on(host.refresh(7, &follow, NOW));
        assert_eq!(
            r.unwrap_err().to_string(),
            format!(
                "The server sent an invalid record: the snapshot has a duplicate job id `{}`",
                store.id(0)
            )
        );
    }

    #[test]
    fn the_readers_answer_what_the_records_say() {
        let want = data();
        let host = FeedHost::with_records(7, EndpointRef::Demo, data());
        let query = JobsView::default();
        let listing = want.list(&query);
        let summary = host.list(7, &query).expect("records held");
        assert_eq!(summary.total, listing.rows.len());
        assert_eq!(summary.counts, listing.counts);
        assert!(summary.total > 100, "{summary:?}");
        // Rows in view: the listing's, in its order, numbered from `first`.
        let rows = host.rows(7, 10, 5);
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let expected: Vec<String> = listing.rows[10..15]
            .iter()
            .map(|&r| want.store().id(r))
            .collect();
        assert_eq!(ids, expected);
        assert_eq!(rows[0].index, 10);
        let rec = want.store().record(listing.rows[10]);
        assert_eq!(rows[0].status, rec.status);
        assert_eq!(rows[0].execution, rec.execution_time);
        // Past the end: only what there is.
        assert_eq!(host.rows(7, summary.total - 2, 10).len(), 2);
        assert_eq!(host.ids(7).len(), summary.total);
        // Unfinished: the queued and running ones of those asked.
        let all = host.ids(7);
        let open = host.unfinished(7, &all);
        let expect_open = listing
            .rows
            .iter()
            .filter(|&&r| !want.store().row(r).status.is_terminal())
            .count();
        assert_eq!(open.len(), expect_open);
        assert!(host.export(7, false).unwrap().lines().count() == summary.total + 1);
        let d = host.detail(7, &ids[0]).expect("held");
        assert_eq!(d.record.id, ids[0]);
        assert_eq!(host.detail(7, "no-such-job"), None);
        assert!(!host.lanes(7, NOW).unwrap().lanes.is_empty());
        assert!(!host.facts(7).unwrap().is_empty());
        // Another feed holds nothing; a forgotten one neither.
        assert_eq!(host.list(8, &query), None);
        assert!(host.rows(8, 0, 10).is_empty());
        host.forget(7);
        assert_eq!(host.list(7, &query), None);
    }

    #[test]
    fn a_narrower_query_lists_fewer_and_rows_follow_it() {
        let host = FeedHost::with_records(1, EndpointRef::Demo, data());
        let all = host.list(1, &JobsView::default()).unwrap();
        let failed = JobsView {
            statuses: endpoint_core::query::StatusSet::only(JobStatus::Failed),
            ..JobsView::default()
        };
        let some = host.list(1, &failed).unwrap();
        assert_eq!(some.total as u64, all.counts[3]);
        assert!(some.total < all.total);
        assert!(
            host.rows(1, 0, 1000)
                .iter()
                .all(|r| r.status == JobStatus::Failed)
        );
    }
}
