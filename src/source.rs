//! Where the panel's data comes from: one interface, two implementations.
//!
//! - [`Source::Http`]: an endpoint server's metrics feed (snapshot in EMC1 columns,
//!   then JSON pages of changes), with the user's API key if one is set.
//! - [`Source::Demo`]: the Demo endpoint, run by endpoint-sim in this browser. It
//!   answers the same two questions from the same feed code the server uses, so
//!   everything downstream is identical.

use std::cell::RefCell;
use std::rc::Rc;

use endpoint_core::feed::{Changes, Snapshot};
use endpoint_sim::demo::{Demo, DemoConfig};

use crate::api::{self, FetchError};
use crate::view_state::EndpointRef;

/// Most changes asked for in one page (the server's maximum).
pub const CHANGES_LIMIT: usize = 10_000;

/// A snapshot of a million jobs is about 42 MB: give it time.
pub const SNAPSHOT_TIMEOUT_MS: u32 = 60_000;

/// An endpoint server's feed.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSource {
    /// API base URL without a trailing slash; empty means same origin.
    pub api_base: String,
    /// Endpoint id.
    pub id: String,
    /// API key (sent as `Authorization: Bearer`), if any.
    pub key: Option<String>,
}

/// A data source.
#[derive(Debug, Clone)]
pub enum Source {
    /// The endpoint server's metrics feed.
    Http(HttpSource),
    /// The Demo endpoint simulated in this browser.
    Demo(Rc<RefCell<Demo>>),
}

thread_local! {
    static DEMO: RefCell<Option<Rc<RefCell<Demo>>>> = const { RefCell::new(None) };
}

/// Seed of the Demo endpoint: everybody sees the same demo.
const DEMO_SEED: u64 = 20_261_124;

impl Source {
    /// The source for `endpoint`; the Demo endpoint is created once per page (it
    /// plays a day of history first, which takes a moment).
    pub fn for_endpoint(endpoint: &EndpointRef, key: Option<String>, now: i64) -> Source {
        match endpoint {
            EndpointRef::Demo => Source::Demo(DEMO.with(|d| {
                d.borrow_mut()
                    .get_or_insert_with(|| {
                        Rc::new(RefCell::new(Demo::new(
                            DEMO_SEED,
                            now,
                            DemoConfig::default(),
                        )))
                    })
                    .clone()
            })),
            EndpointRef::Http { api_base, id } => Source::Http(HttpSource {
                api_base: api_base.clone(),
                id: id.clone(),
                key,
            }),
        }
    }

    /// The records of `[from, to)` and the cursor to follow changes from.
    pub async fn snapshot(&self, from: i64, to: i64, now: i64) -> Result<Snapshot, FetchError> {
        match self {
            Source::Demo(demo) => {
                crate::time::mark("em-body");
                let mut d = demo.borrow_mut();
                d.advance(now);
                Ok(d.snapshot(from, to))
            }
            Source::Http(h) => {
                let url = format!(
                    "{}/v2/{}/metrics/snapshot?from={from}&to={to}&format=columns",
                    h.api_base, h.id
                );
                let a = api::fetch(
                    &url,
                    h.key.as_deref(),
                    endpoint_core::feed::CONTENT_TYPE,
                    SNAPSHOT_TIMEOUT_MS,
                )
                .await?;
                api::interpret_snapshot(&a)
            }
        }
    }

    /// Changes after `cursor` (at most [`CHANGES_LIMIT`]).
    pub async fn changes(&self, cursor: u64, now: i64) -> Result<Changes, FetchError> {
        match self {
            Source::Demo(demo) => {
                crate::time::mark("em-body");
                let mut d = demo.borrow_mut();
                d.advance(now);
                d.changes_since(cursor, CHANGES_LIMIT)
                    .map_err(|e| FetchError::Http {
                        status: 410,
                        message: format!("cursor {cursor} is older than {}", e.oldest),
                        retry_after_s: None,
                    })
            }
            Source::Http(h) => {
                let url = format!(
                    "{}/v2/{}/metrics/changes?cursor={cursor}&limit={CHANGES_LIMIT}",
                    h.api_base, h.id
                );
                let a =
                    api::fetch(&url, h.key.as_deref(), "application/json", api::TIMEOUT_MS).await?;
                api::interpret_changes(&a)
            }
        }
    }
}
