//! The view and its URL: everything a view is ([`state`], read from and written to
//! the page URL), time ranges and buckets ([`range`]), times as the panel writes
//! them ([`time`]), the URL's encoding ([`url`]); the components: the toolbar
//! ([`controls`]) and the live / stale line ([`status_line`]).

pub mod controls;
pub mod range;
pub mod state;
pub mod status_line;
pub mod time;
pub mod url;
