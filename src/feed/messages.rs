//! What the page and the panel's engine say to each other: a question ([`Ask`]) in
//! an [`Envelope`] with its time, for the Demo endpoint or about one feed's records
//! ([`FeedAsk`]). The answers are `api::Answer`s: the Demo's read as a server's, the
//! feeds' as JSON (`host::read_reply`). Plain data, so every message crosses the
//! worker boundary through serde and is tested natively.

use serde::{Deserialize, Serialize};

use crate::feed::demo::DemoAsk;
use crate::view::range::Range;
use crate::view::state::EndpointRef;

/// What a feed follows: the endpoint, its key, and the window the page wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Follow {
    /// The endpoint.
    pub endpoint: EndpointRef,
    /// Its API key, if one is set.
    pub key: Option<String>,
    /// The time range.
    pub range: Range,
    /// The bucket width override (`None`: chosen from the data).
    pub bucket: Option<i64>,
}

/// A question about one feed, as it travels to the engine (in the worker, or on
/// the page: the same messages either way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum FeedAsk {
    /// `FeedHost::refresh`: answers `Result<Option<Refreshed>, FetchError>`.
    Refresh {
        /// What to follow.
        follow: Follow,
    },
    /// `FeedHost::list`, the query as the job list's URL parameters.
    List {
        /// `JobsView::params`.
        query: Vec<String>,
    },
    /// `FeedHost::rows`.
    Rows {
        /// First row.
        first: usize,
        /// How many.
        count: usize,
    },
    /// `FeedHost::ids`.
    Ids,
    /// `FeedHost::unfinished`.
    Unfinished {
        /// The ids to look at.
        ids: Vec<String>,
    },
    /// `FeedHost::export`.
    Export {
        /// JSON, else CSV.
        json: bool,
    },
    /// `FeedHost::detail`.
    Detail {
        /// The job.
        id: String,
    },
    /// `FeedHost::lanes`.
    Lanes {
        /// Where the lanes end: the time the numbers on screen were computed.
        now: i64,
    },
    /// `FeedHost::facts`.
    Facts,
    /// `FeedHost::forget`.
    Forget,
}

/// A question to the engine: for the Demo endpoint, or about one feed's records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "camelCase")]
pub enum Ask {
    /// What the panel asks an endpoint server, asked of the Demo.
    Demo {
        /// The question.
        ask: DemoAsk,
    },
    /// A question about the records of feed `feed`.
    Feed {
        /// Which feed (one per panel).
        feed: u32,
        /// The question.
        ask: FeedAsk,
    },
}

/// One question with the time it is asked at (the Demo's clock follows the page's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Matches the answer to the question.
    pub id: u32,
    /// The page's time, ms since the epoch.
    pub now: i64,
    /// The question.
    pub ask: Ask,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::facts::LogFilter;

    #[test]
    fn an_envelope_survives_json() {
        for ask in [
            Ask::Demo {
                ask: DemoAsk::Logs {
                    filter: LogFilter {
                        job: Some("j".into()),
                        cursor: Some(12),
                        ..LogFilter::default()
                    },
                },
            },
            Ask::Feed {
                feed: 3,
                ask: FeedAsk::Refresh {
                    follow: Follow {
                        endpoint: EndpointRef::Http {
                            api_base: "https://x.example".into(),
                            id: "ep".into(),
                        },
                        key: Some("k".into()),
                        range: crate::view::range::Range::Last(3_600_000),
                        bucket: None,
                    },
                },
            },
            Ask::Feed {
                feed: 3,
                ask: FeedAsk::Rows {
                    first: 5,
                    count: 40,
                },
            },
        ] {
            let e = Envelope { id: 7, now: 1, ask };
            let back: Envelope = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
            assert_eq!(back, e);
        }
    }
}
